//! Fuzz target bodies for the mdmkit facade.

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[
    Target {
        name: "facade_audit_verify",
        body: audit_verify,
    },
    Target {
        name: "facade_audit_head",
        body: audit_head,
    },
];

/// The seed of the checkpoint key the committed corpus was written with,
/// so that valid checkpoints reach the signature check.
pub const AUDIT_SEED: [u8; 32] = [5; 32];

/// An audit journal an admin loads is verified without panicking, within
/// its limits; an accepted journal's report is consistent.
pub fn audit_verify(data: &[u8]) {
    use mdmkit::audit::{VerifyOptions, verify_bytes};
    use mdmkit::identity::{EnvelopeSigner, KeyId, Keyring};

    let Ok(id) = KeyId::new("fuzz") else { return };
    let signer = EnvelopeSigner::from_seed(id.clone(), AUDIT_SEED);
    let mut keyring = Keyring::new();
    if keyring.insert(id, signer.public_key()).is_err() {
        return;
    }
    let mut options = VerifyOptions::default();
    options.max_line_bytes = 16 * 1024;
    options.max_file_bytes = 1 << 20;
    if let Ok(report) = verify_bytes(data, &keyring, &options) {
        assert!(report.checkpoints <= report.entries);
        assert!(report.unsigned_tail <= report.entries);
        assert_eq!(report.head.map_or(0, |h| h.seq), report.entries);
        assert!(report.last_signed_seq.is_none_or(|s| s < report.entries));
    }
}

/// A signed head an admin passes back (`audit verify --head FILE`) is read
/// and checked without panicking; an accepted one is written back as text
/// that reads back the same, and a head that verifies names the entry its
/// signature covers.
pub fn audit_head(data: &[u8]) {
    use mdmkit::audit::SignedHead;
    use mdmkit::identity::{EnvelopeSigner, KeyId, Keyring};

    let Ok(head) = SignedHead::from_json(data) else {
        return;
    };
    let Ok(text) = head.to_json() else { return };
    let back = match SignedHead::from_json(text.as_bytes()) {
        Ok(b) => b,
        Err(e) => panic!("a written head does not read back: {e}\n{text}"),
    };
    assert_eq!(back, head);
    assert_eq!(back.to_json().ok().as_deref(), Some(text.as_str()));
    let Ok(id) = KeyId::new("fuzz") else { return };
    let signer = EnvelopeSigner::from_seed(id.clone(), AUDIT_SEED);
    let mut keyring = Keyring::new();
    if keyring.insert(id, signer.public_key()).is_err() {
        return;
    }
    if let Ok(anchor) = head.verify(&keyring) {
        assert_eq!(
            (anchor.seq, anchor.hash.as_str()),
            (head.seq, head.hash.as_str())
        );
    }
}
