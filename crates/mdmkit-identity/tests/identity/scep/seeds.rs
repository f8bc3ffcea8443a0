//! Writes the seed corpus of the `identity_scep` fuzz target:
//!
//! ```text
//! cargo test -p mdmkit-identity --test identity scep::seeds -- --ignored --nocapture
//! ```
//!
//! It makes a fresh CA and RA, writes requests encrypted to that RA into
//! `fuzz/corpus/identity_scep/`, and prints the RA's PEM, which goes into
//! `fuzz/fixtures/scep-ra.pem` and `scep-ra.key` so that the fuzz target
//! (and the SCEP bench) decrypt the seeds. A test in the fuzz targets
//! checks that the two agree.

use std::path::Path;

use mdmkit_core::{DeviceId, TenantId};
use mdmkit_identity::scep::{FailInfo, Limits, PkiMessage, RaIdentity};
use mdmkit_identity::{CaBuilder, CertificateRequest, IssueRequest};

use super::client::{self, Cipher, Device, Digest, EnvelopeSpec, RequestSpec};

#[test]
#[ignore = "writes the fuzz seed corpus; run by hand"]
fn write_fuzz_seeds() {
    let ca = CaBuilder::new(TenantId::new("fuzz-tenant").unwrap())
        .days(10950)
        .build()
        .unwrap();
    let ra = RaIdentity::generate(&ca).unwrap();
    let ra_der = ra.certificate_der();
    let device = Device::rsa("SCEP SIGNER");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/identity_scep");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, der: &[u8]| std::fs::write(dir.join(name), der).unwrap();

    let req = |device: &Device, cipher, digest, ty: &str, tid: &str, csr: &[u8]| {
        let envelope = client::envelope(csr, ra_der, &EnvelopeSpec::new(cipher));
        let mut spec = RequestSpec::pkcs_req(tid, digest);
        spec.message_type = ty;
        client::request(device, &envelope, &spec)
    };
    let csr = device.csr(Some("fuzz-challenge"));
    for (name, cipher, digest) in [
        ("pkcsreq-aes256-sha256.der", Cipher::Aes256, Digest::Sha256),
        ("pkcsreq-aes128-sha512.der", Cipher::Aes128, Digest::Sha512),
        ("pkcsreq-des3-sha1.der", Cipher::Des3, Digest::Sha1),
        ("pkcsreq-des-sha1.der", Cipher::Des, Digest::Sha1),
    ] {
        write(name, &req(&device, cipher, digest, "19", name, &csr));
    }
    write(
        "getcrl-aes128-sha256.der",
        &req(
            &device,
            Cipher::Aes128,
            Digest::Sha256,
            "22",
            "getcrl",
            &[0x30, 0x00],
        ),
    );

    let current = ca
        .issue(
            &CertificateRequest::parse(&csr).unwrap(),
            &IssueRequest::new(DeviceId::new("fuzz-device").unwrap()).days(3650),
        )
        .unwrap();
    let renewing = Device::with_cert(
        rcgen::KeyPair::from_pem(&device.key_pem()).unwrap(),
        current.der,
    );
    let renewal = req(
        &renewing,
        Cipher::Aes256,
        Digest::Sha256,
        "17",
        "renewal",
        &renewing.csr(None),
    );
    write("renewalreq-aes256-sha256.der", &renewal);

    let envelope = client::to_ber(
        &client::envelope(&csr, ra_der, &EnvelopeSpec::new(Cipher::Des3)),
        true,
    );
    let ber = client::request(
        &device,
        &envelope,
        &RequestSpec::pkcs_req("ber", Digest::Sha1),
    );
    write("pkcsreq-ber-des3-sha1.ber", &client::to_ber(&ber, false));

    let mut bad = req(
        &device,
        Cipher::Aes256,
        Digest::Sha256,
        "19",
        "bad-signature",
        &csr,
    );
    let last = bad.len() - 1;
    bad[last] ^= 1;
    write("pkcsreq-bad-signature.der", &bad);

    let msg = PkiMessage::parse(&renewal, &Limits::default()).unwrap();
    write(
        "certrep-failure.der",
        &msg.failure(&ra, FailInfo::BadRequest).unwrap(),
    );

    let pem = ra.to_pem();
    println!("{}{}", pem.cert, pem.key);
}
