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
// seeds encrypted to a fresh RA and prints that RA, which goes in
// fuzz/fixtures/scep-ra.{pem,key} (the SCEP bench reads the same files); a
// test below checks that the seeds decrypt with it. A fuzzing fixture, not
// a secret.
const SCEP_RA_CERT: &str = include_str!("../../fixtures/scep-ra.pem");
const SCEP_RA_KEY: &str = include_str!("../../fixtures/scep-ra.key");

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
