//! Fuzz target bodies for mdmkit-identity.

use std::sync::OnceLock;

use mdmkit_identity::scep::{FailInfo, Limits, PkiMessage, RaIdentity, RaPem};
use mdmkit_identity::time::OffsetDateTime;
use mdmkit_identity::{CertificateRequest, Verifier};

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[
    Target {
        name: "identity_csr",
        body: csr,
    },
    Target {
        name: "identity_cert",
        body: cert,
    },
    Target {
        name: "identity_scep",
        body: scep,
    },
];

/// A certificate signing request (PEM or DER) is refused with an error or
/// accepted; an accepted one re-parses from its DER to the same request.
pub fn csr(data: &[u8]) {
    if let Ok(req) = CertificateRequest::parse(data) {
        match CertificateRequest::parse(req.der()) {
            Ok(again) => {
                assert_eq!(again.der(), req.der());
                assert_eq!(again.key_kind(), req.key_kind());
                assert_eq!(again.challenge_password(), req.challenge_password());
                assert_eq!(again.requested_sans(), req.requested_sans());
            }
            Err(e) => panic!("accepted request does not re-parse: {e}"),
        }
    }
}

// The fixed tenant CA of the seed corpus (tenant `fuzz-tenant`, made with
// `mdmkit ca init --intermediate --days 10950`), its CRL, and the time at
// which the corpus is verified, so seeds stay valid.
const ROOT: &str = r#"-----BEGIN CERTIFICATE-----
MIIByjCCAXCgAwIBAgIRAM65Zrs6W9LPL67xalJuwfMwCgYIKoZIzj0EAwIwLzEU
MBIGA1UECgwLZnV6ei10ZW5hbnQxFzAVBgNVBAMMDm1kbWtpdCByb290IENBMCAX
DTI2MTEyODE1NTI1MloYDzIwNTYxMTIwMTU1NzUyWjAvMRQwEgYDVQQKDAtmdXp6
LXRlbmFudDEXMBUGA1UEAwwObWRta2l0IHJvb3QgQ0EwWTATBgcqhkjOPQIBBggq
hkjOPQMBBwNCAARBUsM4puvx56n80j2orHCKgTcJUafrlD33X87fo++KfYFb55cc
qSExEVzfaDK97vshYm0L0VGdj7VtcDYQSb+ro2swaTAkBgNVHREEHTAbhhl1cm46
bWRta2l0OmZ1enotdGVuYW50OmNhMA4GA1UdDwEB/wQEAwIBhjAdBgNVHQ4EFgQU
kSO07FR7garkSu1bp4iRj5JLqdEwEgYDVR0TAQH/BAgwBgEB/wIBATAKBggqhkjO
PQQDAgNIADBFAiEA9IOsRuPsbsdcjNivyZNFg9lhJeMMe0gUyPsXqhureg8CIB6C
m+OS4PR3ztx3lCmPOZpg6NT9q7I//m0vBxdX3CQ3
-----END CERTIFICATE-----
"#;
const INTERMEDIATE: &str = r#"-----BEGIN CERTIFICATE-----
MIIB8DCCAZagAwIBAgIRAKrj3UvTZ2edxQkg8aGjI+gwCgYIKoZIzj0EAwIwLzEU
MBIGA1UECgwLZnV6ei10ZW5hbnQxFzAVBgNVBAMMDm1kbWtpdCByb290IENBMCAX
DTI2MTEyODE1NTI1MloYDzIwNTYxMTE5MTU1NzUyWjAyMRQwEgYDVQQKDAtmdXp6
LXRlbmFudDEaMBgGA1UEAwwRbWRta2l0IGlzc3VpbmcgQ0EwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAASCe1XJbEc+f5Kr17+ci+ZgR87SsAlSbBa3zw/QD5gX9fgS
TGeAbSaGEjMNAHn9PPgp4TQfuO2b3B2yNC+nQPnMo4GNMIGKMB8GA1UdIwQYMBaA
FJEjtOxUe4Gq5ErtW6eIkY+SS6nRMCQGA1UdEQQdMBuGGXVybjptZG1raXQ6ZnV6
ei10ZW5hbnQ6Y2EwDgYDVR0PAQH/BAQDAgGGMB0GA1UdDgQWBBT4CMfw+sDTzS2V
lDkMQ0nME3WdITASBgNVHRMBAf8ECDAGAQH/AgEAMAoGCCqGSM49BAMCA0gAMEUC
IDcaUMekyyidBVwpd8IfB4WOMYuOB2hKT62C1Y53e0x9AiEA+TqmVZBb29qOtag+
SMqVl+vpokvSb9bK8DPIYbx7AXo=
-----END CERTIFICATE-----
"#;
const CRL: &str = r#"-----BEGIN X509 CRL-----
MIIBDzCBtwIBATAKBggqhkjOPQQDAjAyMRQwEgYDVQQKDAtmdXp6LXRlbmFudDEa
MBgGA1UEAwwRbWRta2l0IGlzc3VpbmcgQ0EXDTI2MTEyODE1NTc1NFoXDTI2MTIy
ODE1NTc1NFowIzAhAhBf59QgYqDDz7JMYLaoRZeLFw0yNjExMjgxNTU3NTRaoC8w
LTAfBgNVHSMEGDAWgBT4CMfw+sDTzS2VlDkMQ0nME3WdITAKBgNVHRQEAwIBATAK
BggqhkjOPQQDAgNHADBEAiBkpAJZwOXDkiPShz2muUHhPwXDFUn8Ewlnl+bHbkXi
yQIgJooXTi52ijBmqZz0bzaD0v8NA2OLabX6NYmFzMZBIyY=
-----END X509 CRL-----
"#;
const AT_UNIX: i64 = 1_893_456_000; // 2030-01-01T00:00:00Z

fn verifier() -> Option<&'static Verifier> {
    static V: OnceLock<Option<Verifier>> = OnceLock::new();
    V.get_or_init(|| {
        let mut v = Verifier::new("fuzz-tenant".parse().ok()?);
        v.add_root(ROOT.as_bytes()).ok()?;
        v.add_intermediate(INTERMEDIATE.as_bytes()).ok()?;
        v.add_crl(CRL.as_bytes()).ok()?;
        Some(v)
    })
    .as_ref()
}

/// A presented certificate (PEM bundle or DER) verifies or is refused with
/// an error; an accepted one names the verifier's tenant and its own
/// fingerprint. The same bytes are also tried as a CA certificate and as a
/// CRL.
pub fn cert(data: &[u8]) {
    let Some(v) = verifier() else {
        panic!("the fixed fuzz CA does not load");
    };
    let Ok(at) = OffsetDateTime::from_unix_timestamp(AT_UNIX) else {
        return;
    };
    if let Ok(id) = v.verify(data, at) {
        assert_eq!(id.tenant.as_str(), "fuzz-tenant");
        assert!(id.not_before <= at && at <= id.not_after);
    }
    if let Ok(tenant) = "fuzz-tenant".parse() {
        let mut other = Verifier::new(tenant);
        let _ = other.add_root(data);
        let _ = other.add_intermediate(data);
        let _ = other.add_crl(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdmkit_identity::VerifyError;

    fn seed(name: &str) -> Vec<u8> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus/identity_cert/");
        std::fs::read(format!("{dir}{name}")).unwrap()
    }

    #[test]
    fn seed_corpus_reaches_success_revocation_and_foreign_issuer_paths() {
        let v = verifier().unwrap();
        let at = OffsetDateTime::from_unix_timestamp(AT_UNIX).unwrap();
        let id = v.verify(&seed("leaf-with-intermediate.pem"), at).unwrap();
        assert_eq!(id.device_id.as_str(), "enterprises/LC0/devices/3a");
        assert!(matches!(
            v.verify(&seed("revoked-leaf.der"), at),
            Err(VerifyError::Revoked { .. })
        ));
        assert_eq!(
            v.verify(&seed("foreign-ca.pem"), at),
            Err(VerifyError::UnknownIssuer)
        );
    }
}

// The SCEP RA of the `identity_scep` seeds (tenant `fuzz-tenant`). The
// ignored test `scep::seeds::write_fuzz_seeds` of mdmkit-identity writes the
// seeds encrypted to a fresh RA and prints that RA, which goes here; a test
// below checks that the seeds decrypt with it. A fuzzing fixture, not a
// secret.
const SCEP_RA_CERT: &str = r#"-----BEGIN CERTIFICATE-----
MIICjDCCAjKgAwIBAgIQWQuEozzheY4d+6gi3dsNXzAKBggqhkjOPQQDAjAvMRQw
EgYDVQQKDAtmdXp6LXRlbmFudDEXMBUGA1UEAwwObWRta2l0IHJvb3QgQ0EwHhcN
MjYxMjAzMTMxNzU1WhcNMjgxMjAyMTMyMjU1WjA0MRQwEgYDVQQKDAtmdXp6LXRl
bmFudDEcMBoGA1UEAwwTZnV6ei10ZW5hbnQgU0NFUCBSQTCCASIwDQYJKoZIhvcN
AQEBBQADggEPADCCAQoCggEBALywUZH6GchI5Z7erOfiW7lubZt5CE4fWWXpiEI8
Qk1fHVWkQSMo9jxnmBcK7PLMuGgsnoDY/G0yY9EdLJJULBc8JPp+1RsuVF8Sm6ZT
p351+1jz3SYhqZ9S9ofS76fzUb4fESBUksFojxOzAGUl7GzI36BVLokgqMeZwJsc
crKSATpcElvOcrtpEqufBjlygL1aQ+TG5GfcntKThGJq3EHjqwe+mZ61M6PIVHIk
dAOV7j4izXdB/ubmD//n+Cij/IZyPJXPq10MNt8n7CeF6g2jFCOSevtdsDT+B0G7
2V59Hd2aGnId/PTxd58LtEjWkAo5YKyFqt09Q4gSVWjxCXsCAwEAAaNgMF4wHwYD
VR0jBBgwFoAU1qk9OKRP40zNBjXRlu/2JiNOClswDgYDVR0PAQH/BAQDAgWgMB0G
A1UdDgQWBBRO4IP7xsX45981Evwz+ID8kjYmNjAMBgNVHRMBAf8EAjAAMAoGCCqG
SM49BAMCA0gAMEUCIQCt4y3VuWcQlsE3FRjCflh97cIkSMpbzACvbk0tzovGxQIg
KH3QdmIcwfhx6o9tdSawtuTvQ2Z4AdP6cVpyVaOfJr4=
-----END CERTIFICATE-----
"#;
const SCEP_RA_KEY: &str = r#"-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQC8sFGR+hnISOWe
3qzn4lu5bm2beQhOH1ll6YhCPEJNXx1VpEEjKPY8Z5gXCuzyzLhoLJ6A2PxtMmPR
HSySVCwXPCT6ftUbLlRfEpumU6d+dftY890mIamfUvaH0u+n81G+HxEgVJLBaI8T
swBlJexsyN+gVS6JIKjHmcCbHHKykgE6XBJbznK7aRKrnwY5coC9WkPkxuRn3J7S
k4RiatxB46sHvpmetTOjyFRyJHQDle4+Is13Qf7m5g//5/goo/yGcjyVz6tdDDbf
J+wnheoNoxQjknr7XbA0/gdBu9lefR3dmhpyHfz08XefC7RI1pAKOWCshardPUOI
ElVo8Ql7AgMBAAECggEAA/ARqIa8KAJhcskGrO/Is0KuaRq3BVsnh4/YM9QQtcJ0
GPfzEtoSSkNtMjnpPpq7VHoHgS/frYjqLV1UmbJfZmK8Cm0M/HxUiKFmSMVt9VH4
AcZUSXnu9/y7jJOAREe4xbHdrruLgbUxaAG9Bd9eb9mNu5ZbgMNP0mgo7VoqiJ1B
jRlx/bDK9t7ekPqDenfnipCOHuMDLjEyeTqQ5M2xtsF10pwcLACu9ninAWGFzJaO
wNf4iv6EtcTM/orRvDViacZJdReSiJ07JA061Tqd+Js/riHT5Lyn8RleFuwhidHh
TrlOjqLq4bPxrXa4VxbFy2MXMd2ZpXuk5/c6Hie5KQKBgQD/TCU4KG7+wXKfp8GM
3zwH7tByJLeRPNKb9Knk7tUda5MT3xnWXy8pNxeS2rboXW4fdYxDThNv+faCe3oU
kqGkoEE48hxRYDPRFNa/0898Xpr9mJ27EPdwalmNhjWCj5/deKpxrpX9bye6JF8e
TGu7FNU8MEu3HONN+bBL81MAwwKBgQC9NT+AbLBla8cf2BHfXc9Mht6YCUIOOwJm
SiYYVc68tnZd1R6noypeXNCsi/evTdEU4Wv1syMyKepf/Pe/fkpTttE7AolwJtqm
8wiDtVC3nRixalk9StxEcSIlthfDXEDS5VX93UqVHAdv1lpqQpZHRjKZvX7Um8dw
snbV0i/I6QKBgFdAMOA2gWizuHb0IGQCz0NuzPKVtd7/SINgZMgHD/LUFxoNf4kS
Us3lNDtOYICdnctGoz9FacM1TJhfluN9EZ1v35qUtDTjihIE6zf4Lcs1kgblp9KN
A+P5lM2XdqY+a8aHPMlJf51z5cHqOE/kklUH07CUWOwmBVFa6nOqn019AoGASDF/
D1NpYuliywW4nA/BPyPe3wf5SlC9s6XrLzHedibwtxDQZ4pcajDj9lJZqWv5sQvq
E4/MiCFyKjntlgVr+tEwuGFZa4+HslfdEdQm/khU2a0Ia9iafwrjypvWKVaT7WRQ
EVNUV9ygAc46JX1OtddVC1BAioL98ERID4HpdbECgYBL4PbrqtewyHxqB8YePB+1
UVg3d5QnJbsI9xY7qQ44SDu8Xl/mg6bWT/63wf8t/gkThTs9UpsLWvzzN1te5zP/
b9ZeAnoCKR4FZ1JEzb+K6evJmMPEraF09+kVOaa/0aGWBRaVcYshIyWsXJXtHghH
PEUW8pLDWJZJYjYjfts7Uw==
-----END PRIVATE KEY-----
"#;

fn scep_ra() -> Option<&'static RaIdentity> {
    static RA: OnceLock<Option<RaIdentity>> = OnceLock::new();
    RA.get_or_init(|| RaIdentity::from_pem(&RaPem::new(SCEP_RA_CERT, SCEP_RA_KEY)).ok())
        .as_ref()
}

/// A SCEP pkiMessage is refused with a typed error or parsed; a parsed one
/// is decrypted with the fixed RA (a request or an error). Every message
/// read far enough to be answered gets a CertRep FAILURE that parses back
/// with its transactionID and, as recipientNonce, its senderNonce.
pub fn scep(data: &[u8]) {
    let Some(ra) = scep_ra() else {
        panic!("the fixed SCEP RA does not load");
    };
    let limits = Limits::default();
    let msg = match PkiMessage::parse(data, &limits) {
        Ok(msg) => {
            let _ = msg.decrypt(ra);
            let _ = msg.content_cipher();
            msg
        }
        Err(e) => {
            let _ = e.fail_info();
            match e.message() {
                Some(msg) => msg.clone(),
                None => return,
            }
        }
    };
    let reply = match msg.failure(ra, FailInfo::BadRequest) {
        Ok(reply) => reply,
        Err(e) => panic!("no failure reply for a parsed message: {e}"),
    };
    match PkiMessage::parse(&reply, &limits) {
        Ok(back) => {
            assert_eq!(back.transaction_id(), msg.transaction_id());
            assert_eq!(back.recipient_nonce(), Some(msg.sender_nonce()));
            assert_eq!(back.fail_info(), Some(FailInfo::BadRequest));
        }
        Err(e) => panic!("our own failure reply does not parse: {e}"),
    }
}

#[cfg(test)]
mod scep_tests {
    use super::*;
    use mdmkit_identity::scep::{
        ContentCipher, DigestAlgorithm, MessageType, PkiStatus, ScepError,
    };

    fn seed(name: &str) -> Vec<u8> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus/identity_scep/");
        std::fs::read(format!("{dir}{name}")).unwrap()
    }

    #[test]
    fn scep_seeds_reach_decryption_renewal_refusal_and_reply_paths() {
        let ra = scep_ra().unwrap();
        let limits = Limits::default();
        for name in [
            "pkcsreq-aes256-sha256.der",
            "pkcsreq-aes128-sha512.der",
            "pkcsreq-des3-sha1.der",
            "pkcsreq-des-sha1.der",
            "pkcsreq-ber-des3-sha1.ber",
        ] {
            let msg = PkiMessage::parse(&seed(name), &limits).unwrap();
            let csr = msg.decrypt(ra).unwrap();
            assert_eq!(csr.challenge_password(), Some("fuzz-challenge"), "{name}");
        }
        // Captured from micromdm's scepclient 2.1 (Debian's `scep`) by the
        // ignored test `scep::scepclient` of mdmkit-identity: SHA-1, DES-CBC.
        let real = PkiMessage::parse(&seed("scepclient-pkcsreq-des-sha1.der"), &limits).unwrap();
        assert_eq!(real.message_type(), MessageType::PkcsReq);
        assert_eq!(real.digest_algorithm(), DigestAlgorithm::Sha1);
        assert_eq!(real.content_cipher().unwrap(), ContentCipher::DesCbc);
        let csr = real.decrypt(ra).unwrap();
        assert_eq!(csr.challenge_password(), Some("otp-scepclient"));

        let renewal = PkiMessage::parse(&seed("renewalreq-aes256-sha256.der"), &limits).unwrap();
        assert_eq!(renewal.message_type(), MessageType::RenewalReq);
        assert!(renewal.decrypt(ra).is_ok());
        let get_crl = PkiMessage::parse(&seed("getcrl-aes128-sha256.der"), &limits).unwrap();
        assert_eq!(get_crl.decrypt_content(ra).unwrap(), [0x30, 0x00]);
        assert!(matches!(
            PkiMessage::parse(&seed("pkcsreq-bad-signature.der"), &limits),
            Err(ScepError::BadSignature { .. })
        ));
        let reply = PkiMessage::parse(&seed("certrep-failure.der"), &limits).unwrap();
        assert_eq!(reply.pki_status(), Some(PkiStatus::Failure));
    }
}
