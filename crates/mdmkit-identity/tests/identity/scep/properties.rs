//! No input makes the parser panic, and whatever parses after a change to
//! a valid message still carries that message's signed facts.

use std::sync::OnceLock;

use mdmkit_identity::scep::{Limits, PkiMessage};
use proptest::prelude::*;

use super::client::{Cipher, Digest};
use super::{fixture, pkcs_req};

fn valid() -> &'static (Vec<u8>, PkiMessage) {
    static V: OnceLock<(Vec<u8>, PkiMessage)> = OnceLock::new();
    V.get_or_init(|| {
        let f = fixture();
        let der = pkcs_req(&f.device, Cipher::Aes128, Digest::Sha256, "prop").der;
        let msg = PkiMessage::parse(&der, &Limits::default()).unwrap();
        (der, msg)
    })
}

/// The law: a changed message either fails to parse or still says what
/// the signer signed.
fn check(bytes: &[u8]) {
    let (_, original) = valid();
    if let Ok(msg) = PkiMessage::parse(bytes, &Limits::default()) {
        assert_eq!(msg.transaction_id(), original.transaction_id());
        assert_eq!(msg.sender_nonce(), original.sender_nonce());
        assert_eq!(msg.message_type(), original.message_type());
        assert_eq!(msg.envelope_der(), original.envelope_der());
        let _ = msg.decrypt(&fixture().ra);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mdmkit_core::proptest_cases(256)))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = PkiMessage::parse(&bytes, &Limits::default());
    }

    #[test]
    fn arbitrary_bytes_behind_a_signed_data_header_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut der = vec![0x30, 0x82, 0, 0, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x82, 0, 0];
        der.extend_from_slice(&bytes);
        let inner = (bytes.len()) as u16;
        der[17..19].copy_from_slice(&inner.to_be_bytes());
        let outer = (der.len() - 4) as u16;
        der[2..4].copy_from_slice(&outer.to_be_bytes());
        let _ = PkiMessage::parse(&der, &Limits::default());
    }

    #[test]
    fn flipped_bytes_keep_the_signed_facts(at in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let (der, _) = valid();
        let mut bytes = der.clone();
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
        check(&bytes);
    }

    #[test]
    fn cut_or_spliced_messages_keep_the_signed_facts(
        from in any::<prop::sample::Index>(),
        len in 0usize..64,
        insert in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let (der, _) = valid();
        let start = from.index(der.len());
        let end = (start + len).min(der.len());
        let mut bytes = der[..start].to_vec();
        bytes.extend_from_slice(&insert);
        bytes.extend_from_slice(&der[end..]);
        check(&bytes);
    }
}
