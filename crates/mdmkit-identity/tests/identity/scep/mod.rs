//! SCEP (RFC 8894): requests built by a client written for the tests are
//! parsed, decrypted and answered; the answers are read back as a client
//! does and by the real `openssl`; refusals carry the right failInfo; and
//! no input makes the parser panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;
mod flow;
mod openssl;
mod properties;
mod refusals;
mod scepclient;
mod seeds;

use std::sync::OnceLock;

use mdmkit_core::TenantId;
use mdmkit_identity::scep::RaIdentity;
use mdmkit_identity::{CaBuilder, TenantCa};

use client::{Cipher, Device, Digest, EnvelopeSpec, RequestSpec};

/// A tenant CA with an intermediate (P-256, the default), its RA and an
/// RSA device, made once: RSA keys are slow to generate.
pub(crate) struct Fixture {
    pub(crate) ca: TenantCa,
    pub(crate) ra: RaIdentity,
    pub(crate) device: Device,
}

pub(crate) fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let ca = CaBuilder::new(TenantId::new("scep-town").unwrap())
            .intermediate(true)
            .build()
            .unwrap();
        let ra = RaIdentity::generate(&ca).unwrap();
        Fixture {
            ca,
            ra,
            device: Device::rsa("SCEP SIGNER"),
        }
    })
}

/// A second RA of another tenant, for envelopes addressed elsewhere.
pub(crate) fn other_ra() -> &'static RaIdentity {
    static R: OnceLock<RaIdentity> = OnceLock::new();
    R.get_or_init(|| {
        let ca = CaBuilder::new(TenantId::new("elsewhere").unwrap())
            .build()
            .unwrap();
        RaIdentity::generate(&ca).unwrap()
    })
}

/// A PKCSReq with a challenge, from `device` to the fixture's RA.
pub(crate) struct Sent {
    pub(crate) der: Vec<u8>,
    pub(crate) nonce: Vec<u8>,
    pub(crate) csr: Vec<u8>,
}

pub(crate) fn pkcs_req(device: &Device, cipher: Cipher, digest: Digest, tid: &str) -> Sent {
    let f = fixture();
    let csr = device.csr(Some("otp-1234"));
    let envelope = client::envelope(&csr, f.ra.certificate_der(), &EnvelopeSpec::new(cipher));
    let spec = RequestSpec::pkcs_req(tid, digest);
    Sent {
        der: client::request(device, &envelope, &spec),
        nonce: spec.sender_nonce.clone(),
        csr,
    }
}
