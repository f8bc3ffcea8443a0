//! Bounded PEM/DER intake shared by the CSR, certificate and CA loaders.

use crate::error::DecodeError;
use crate::pem;

/// Largest CSR accepted, PEM or DER (real ones are 1 to 4 KiB).
pub(crate) const MAX_CSR_LEN: usize = 64 * 1024;
/// Largest certificate bundle accepted (leaf and intermediates).
pub(crate) const MAX_CERT_LEN: usize = 256 * 1024;
/// Most certificates accepted in one presented bundle.
pub(crate) const MAX_CERTS: usize = 8;

/// Decodes one DER object from DER or PEM input, taking the first PEM block
/// whose label is one of `labels`.
pub(crate) fn one(
    input: &[u8],
    labels: &[&'static str],
    max: usize,
) -> Result<Vec<u8>, DecodeError> {
    let mut all = many(input, labels, max, 1)?;
    Ok(all.swap_remove(0))
}

/// Decodes DER input (one object) or every PEM block labelled with one of
/// `labels`, at most `max_blocks` of them; other PEM blocks are ignored.
/// The PEM is read by [`crate::pem`], the workspace's one decoder.
pub(crate) fn many(
    input: &[u8],
    labels: &[&'static str],
    max: usize,
    max_blocks: usize,
) -> Result<Vec<Vec<u8>>, DecodeError> {
    if input.len() > max {
        return Err(DecodeError::TooLarge {
            len: input.len(),
            max,
        });
    }
    if input.is_empty() {
        return Err(DecodeError::Empty);
    }
    if input[0] == 0x30 {
        return Ok(vec![input.to_vec()]);
    }
    // The number of blocks is bounded by the input's size; `one` takes the
    // first matching block and ignores any others (a chain after it).
    let found = pem::decode_labelled(input, labels, &pem::Limits::new(max, usize::MAX))?;
    if max_blocks > 1 && found.len() > max_blocks {
        return Err(pem::PemError::TooManyBlocks {
            count: found.len(),
            max: max_blocks,
        }
        .into());
    }
    Ok(found.into_iter().map(|b| b.der).collect())
}

/// PEM with LF line endings (the `pem` crate defaults to CRLF).
pub(crate) fn pem_lf(label: &str, der: &[u8]) -> String {
    pem::encode(label, der)
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses lower- or upper-case hex (no separators).
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect()
}

/// The SHA-256 digest of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let big = vec![b'A'; MAX_CSR_LEN + 1];
        assert!(matches!(
            one(&big, &["CERTIFICATE REQUEST"], MAX_CSR_LEN),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn binary_garbage_reports_the_utf8_offset() {
        assert_eq!(
            one(b"ab\xffcd", &["CERTIFICATE"], 100),
            Err(DecodeError::Pem(pem::PemError::NotText { offset: 2 }))
        );
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(
            unhex(&hex(&[0, 1, 0xab, 0xff])).unwrap(),
            vec![0, 1, 0xab, 0xff]
        );
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
