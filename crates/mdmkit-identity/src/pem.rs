//! The one PEM decoder of mdmkit.
//!
//! Every crate of the workspace that reads PEM from outside (certificates
//! and keys an administrator hands over, a device certificate forwarded by
//! a proxy, a root certificate in a policy, a service-account key) reads it
//! here, so that one parser, with one set of limits and one error type,
//! stands between that input and the DER parsers. The framing and base64
//! are the [`pem`](https://docs.rs/pem) crate's; this module adds the
//! bounds (input size, number of blocks), per-block errors that say which
//! block and which line, and the choice of blocks by label.
//!
//! ```
//! use mdmkit_identity::pem::{self, Limits};
//!
//! let text = pem::encode("CERTIFICATE", &[0x30, 0x03, 0x02, 0x01, 0x07]);
//! let blocks = pem::decode_all(text.as_bytes(), &Limits::DEFAULT)?;
//! assert_eq!(blocks[0].label, "CERTIFICATE");
//! assert_eq!(blocks[0].der, [0x30, 0x03, 0x02, 0x01, 0x07]);
//! assert_eq!(
//!     pem::decode_one(text.as_bytes(), "CERTIFICATE", &Limits::DEFAULT)?,
//!     blocks[0].der
//! );
//! # Ok::<(), mdmkit_identity::pem::PemError>(())
//! ```

use std::fmt;

/// Bounds on PEM input, checked before anything is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest input accepted, in bytes.
    pub max_len: usize,
    /// Most blocks accepted (of any label).
    pub max_blocks: usize,
}

impl Limits {
    /// 256 KiB and 16 blocks: a certificate chain with its key, many
    /// times over.
    pub const DEFAULT: Self = Self {
        max_len: 256 * 1024,
        max_blocks: 16,
    };

    /// Bounds of `max_len` bytes and `max_blocks` blocks.
    pub const fn new(max_len: usize, max_blocks: usize) -> Self {
        Self {
            max_len,
            max_blocks,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One decoded PEM block.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Block {
    /// Its label (`CERTIFICATE`, `PRIVATE KEY`, ...).
    pub label: String,
    /// Its content: the DER the base64 body encodes.
    pub der: Vec<u8>,
    /// The line of its `-----BEGIN` (1-based).
    pub line: usize,
}

impl fmt::Debug for Block {
    // The content may be a private key: its length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Block")
            .field("label", &self.label)
            .field("der_len", &self.der.len())
            .field("line", &self.line)
            .finish()
    }
}

/// Why PEM input could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// The input is larger than the limit.
    #[error("PEM input is {len} bytes, at most {max} are accepted")]
    TooLarge {
        /// The input's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input is empty.
    #[error("PEM input is empty")]
    Empty,
    /// The input is not UTF-8 text.
    #[error("PEM input is not text: invalid UTF-8 at byte {offset}")]
    NotText {
        /// Byte offset of the first invalid UTF-8 sequence.
        offset: usize,
    },
    /// The input has no `-----BEGIN` line.
    #[error("no PEM block (no -----BEGIN line)")]
    NoBlock,
    /// A block is broken.
    #[error("PEM block {block} (line {line}): {kind}")]
    Malformed {
        /// Which block (1-based, in input order).
        block: usize,
        /// The line of its `-----BEGIN` (1-based).
        line: usize,
        /// What is wrong with it.
        kind: MalformedKind,
    },
    /// No block has the label looked for.
    #[error("no PEM block labelled {expected} (found: {})", found_list(.found))]
    MissingLabel {
        /// The label, or labels (`PRIVATE KEY or EC PRIVATE KEY`).
        expected: String,
        /// The labels found, in input order.
        found: Vec<String>,
    },
    /// More blocks than the limit.
    #[error("{count} PEM blocks, at most {max} are accepted")]
    TooManyBlocks {
        /// How many blocks the input has (at least; counting stops past the
        /// limit).
        count: usize,
        /// The limit.
        max: usize,
    },
}

fn found_list(found: &[String]) -> String {
    if found.is_empty() {
        "none".to_owned()
    } else {
        found.join(", ")
    }
}

/// What is wrong with one PEM block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedKind {
    /// The `-----BEGIN` line has no closing `-----`, or the block has no
    /// `-----END` line before the next block or the end of the input.
    #[error("no -----END line")]
    NoEnd,
    /// The `-----BEGIN` line has an empty label.
    #[error("empty label")]
    NoLabel,
    /// The `-----END` label differs from the `-----BEGIN` one.
    #[error("BEGIN {begin:?} ends with END {end:?}")]
    MismatchedEnd {
        /// The `BEGIN` label.
        begin: String,
        /// The `END` label.
        end: String,
    },
    /// The body is not base64.
    #[error("invalid base64{}", .offset.map(|o| format!(" at character {o} of the body")).unwrap_or_default())]
    Base64 {
        /// Where in the body (whitespace removed) the first bad
        /// character is, when known.
        offset: Option<usize>,
    },
    /// An encapsulated header line (`Proc-Type: ...`) is malformed.
    #[error("malformed header line")]
    Header,
}

/// Every block of `input`, in order, whatever its label.
pub fn decode_all(input: &[u8], limits: &Limits) -> Result<Vec<Block>, PemError> {
    let text = text(input, limits)?;
    let starts: Vec<usize> = text.match_indices("-----BEGIN ").map(|(i, _)| i).collect();
    if starts.is_empty() {
        return Err(PemError::NoBlock);
    }
    if starts.len() > limits.max_blocks {
        return Err(PemError::TooManyBlocks {
            count: starts.len(),
            max: limits.max_blocks,
        });
    }
    let mut blocks = Vec::with_capacity(starts.len());
    let mut line = 1;
    let mut counted = 0;
    for (i, &start) in starts.iter().enumerate() {
        line += text.as_bytes()[counted..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        counted = start;
        // A block's text runs to the next block's BEGIN: its END must come
        // before it.
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        let malformed = |kind| PemError::Malformed {
            block: i + 1,
            line,
            kind,
        };
        let parsed = ::pem::parse(&text[start..end]).map_err(|e| malformed(kind_of(e)))?;
        blocks.push(Block {
            label: parsed.tag().to_owned(),
            der: parsed.into_contents(),
            line,
        });
    }
    Ok(blocks)
}

/// The blocks of `input` labelled with one of `labels`, in order; the
/// others are decoded (a broken one is an error) and left out. At least
/// one must match.
pub fn decode_labelled(
    input: &[u8],
    labels: &[&str],
    limits: &Limits,
) -> Result<Vec<Block>, PemError> {
    let all = decode_all(input, limits)?;
    let found = labels_of(&all);
    let wanted: Vec<Block> = all
        .into_iter()
        .filter(|b| labels.contains(&b.label.as_str()))
        .collect();
    if wanted.is_empty() {
        return Err(PemError::MissingLabel {
            expected: labels.join(" or "),
            found,
        });
    }
    Ok(wanted)
}

fn labels_of(blocks: &[Block]) -> Vec<String> {
    blocks.iter().map(|b| b.label.clone()).collect()
}

/// The content of the first block of `input` labelled `label`.
pub fn decode_one(input: &[u8], label: &str, limits: &Limits) -> Result<Vec<u8>, PemError> {
    let mut blocks = decode_labelled(input, &[label], limits)?;
    Ok(blocks.swap_remove(0).der)
}

/// The DER of every `CERTIFICATE` block of `input`, in order (a leaf and
/// its chain); at least one.
pub fn certificates(input: &[u8], limits: &Limits) -> Result<Vec<Vec<u8>>, PemError> {
    Ok(decode_labelled(input, &["CERTIFICATE"], limits)?
        .into_iter()
        .map(|b| b.der)
        .collect())
}

/// `der` as a PEM block labelled `label`: 64 characters a line, LF line
/// endings.
pub fn encode(label: &str, der: &[u8]) -> String {
    ::pem::encode_config(
        &::pem::Pem::new(label, der.to_vec()),
        ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
    )
}

/// The encodings of a private key, by PEM label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFormat {
    /// `PRIVATE KEY`: PKCS#8, any algorithm.
    Pkcs8,
    /// `RSA PRIVATE KEY`: PKCS#1.
    Pkcs1,
    /// `EC PRIVATE KEY`: SEC1.
    Sec1,
}

impl KeyFormat {
    /// The PEM labels of private keys, in the order of [`KeyFormat`].
    pub const LABELS: [&'static str; 3] = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"];

    fn of(label: &str) -> Option<Self> {
        match label {
            "PRIVATE KEY" => Some(Self::Pkcs8),
            "RSA PRIVATE KEY" => Some(Self::Pkcs1),
            "EC PRIVATE KEY" => Some(Self::Sec1),
            _ => None,
        }
    }
}

/// A private key read from PEM.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PrivateKey {
    /// Its encoding, from its label.
    pub format: KeyFormat,
    /// Its DER.
    pub der: Vec<u8>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("format", &self.format)
            .field("der", &"<redacted>")
            .finish()
    }
}

/// The first private key of `input` (PKCS#8, PKCS#1 or SEC1, by label).
pub fn private_key(input: &[u8], limits: &Limits) -> Result<PrivateKey, PemError> {
    let blocks = decode_all(input, limits)?;
    let found = labels_of(&blocks);
    blocks
        .into_iter()
        .find_map(|b| KeyFormat::of(&b.label).map(|format| PrivateKey { format, der: b.der }))
        .ok_or_else(|| PemError::MissingLabel {
            expected: KeyFormat::LABELS.join(" or "),
            found,
        })
}

/// For rustls and rcgen, which take keys as `rustls-pki-types` (the
/// ecosystem's DER vocabulary, which rustls re-exports on purpose).
impl From<PrivateKey> for rustls_pki_types::PrivateKeyDer<'static> {
    fn from(key: PrivateKey) -> Self {
        use rustls_pki_types::{PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
        match key.format {
            KeyFormat::Pkcs8 => PrivatePkcs8KeyDer::from(key.der).into(),
            KeyFormat::Pkcs1 => PrivatePkcs1KeyDer::from(key.der).into(),
            KeyFormat::Sec1 => PrivateSec1KeyDer::from(key.der).into(),
        }
    }
}

/// The input as text, within the limits.
fn text<'a>(input: &'a [u8], limits: &Limits) -> Result<&'a str, PemError> {
    if input.len() > limits.max_len {
        return Err(PemError::TooLarge {
            len: input.len(),
            max: limits.max_len,
        });
    }
    if input.is_empty() {
        return Err(PemError::Empty);
    }
    std::str::from_utf8(input).map_err(|e| PemError::NotText {
        offset: e.valid_up_to(),
    })
}

fn kind_of(e: ::pem::PemError) -> MalformedKind {
    use ::pem::PemError as P;
    match e {
        P::MismatchedTags(begin, end) => MalformedKind::MismatchedEnd { begin, end },
        P::MissingBeginTag => MalformedKind::NoLabel,
        P::InvalidData(e) => MalformedKind::Base64 {
            offset: match e {
                base64::DecodeError::InvalidByte(o, _)
                | base64::DecodeError::InvalidLastSymbol { offset: o, .. } => Some(o),
                _ => None,
            },
        },
        P::InvalidHeader(_) => MalformedKind::Header,
        // The text was checked as UTF-8 already; framing without an END
        // line (or an END without its closing dashes) is what remains.
        P::MissingEndTag | P::MalformedFraming | P::MissingData | P::NotUtf8(_) => {
            MalformedKind::NoEnd
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const L: Limits = Limits::DEFAULT;

    fn cert(body: &str) -> String {
        format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n")
    }

    #[test]
    fn blocks_come_back_in_order_with_their_labels_and_lines() {
        let text = format!(
            "comment\n{}{}",
            encode("CERTIFICATE", &[1, 2, 3]),
            encode("PRIVATE KEY", &[4; 100])
        );
        let blocks = decode_all(text.as_bytes(), &L).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            (blocks[0].label.as_str(), blocks[0].line),
            ("CERTIFICATE", 2)
        );
        assert_eq!(blocks[0].der, [1, 2, 3]);
        assert_eq!(
            (blocks[1].label.as_str(), blocks[1].line),
            ("PRIVATE KEY", 5)
        );
        assert_eq!(blocks[1].der, [4; 100]);
    }

    #[test]
    fn a_label_is_chosen_and_others_are_skipped() {
        let text = format!("{}{}", encode("X", &[9]), encode("CERTIFICATE", &[1]));
        assert_eq!(decode_one(text.as_bytes(), "CERTIFICATE", &L).unwrap(), [1]);
        assert_eq!(
            decode_one(text.as_bytes(), "CRL", &L),
            Err(PemError::MissingLabel {
                expected: "CRL".into(),
                found: vec!["X".into(), "CERTIFICATE".into()],
            })
        );
    }

    #[test]
    fn certificates_are_every_certificate_block() {
        let text = format!(
            "{}{}{}",
            encode("CERTIFICATE", &[1]),
            encode("PRIVATE KEY", &[2]),
            encode("CERTIFICATE", &[3])
        );
        assert_eq!(
            certificates(text.as_bytes(), &L).unwrap(),
            [vec![1], vec![3]]
        );
        assert!(matches!(
            certificates(encode("PRIVATE KEY", &[2]).as_bytes(), &L),
            Err(PemError::MissingLabel { .. })
        ));
    }

    #[test]
    fn a_key_is_typed_by_its_label() {
        for (label, format) in [
            ("PRIVATE KEY", KeyFormat::Pkcs8),
            ("RSA PRIVATE KEY", KeyFormat::Pkcs1),
            ("EC PRIVATE KEY", KeyFormat::Sec1),
        ] {
            let text = format!("{}{}", encode("CERTIFICATE", &[1]), encode(label, &[7]));
            let key = private_key(text.as_bytes(), &L).unwrap();
            assert_eq!((key.format, key.der.as_slice()), (format, &[7][..]));
            assert!(
                !format!("{key:?}").contains('7'),
                "the key's DER is redacted"
            );
        }
        assert!(matches!(
            private_key(encode("CERTIFICATE", &[1]).as_bytes(), &L),
            Err(PemError::MissingLabel { .. })
        ));
    }

    #[test]
    fn malformed_input_says_what_and_where() {
        assert_eq!(decode_all(b"", &L), Err(PemError::Empty));
        assert_eq!(
            decode_all(&[b'A'; 11], &Limits::new(10, 1)),
            Err(PemError::TooLarge { len: 11, max: 10 })
        );
        assert_eq!(
            decode_all(b"ab\xffcd", &L),
            Err(PemError::NotText { offset: 2 })
        );
        assert_eq!(decode_all(b"just text", &L), Err(PemError::NoBlock));
        // The second block's body has a bad character.
        let text = format!("{}\n{}", cert("AQID"), cert("AQ*D"));
        assert_eq!(
            decode_all(text.as_bytes(), &L),
            Err(PemError::Malformed {
                block: 2,
                line: 5,
                kind: MalformedKind::Base64 { offset: Some(2) },
            })
        );
        // A block cut short: its END is missing, even though a later block
        // has one.
        let text = format!("-----BEGIN CERTIFICATE-----\nAQID\n{}", cert("AQID"));
        assert_eq!(
            decode_all(text.as_bytes(), &L),
            Err(PemError::Malformed {
                block: 1,
                line: 1,
                kind: MalformedKind::NoEnd,
            })
        );
        assert_eq!(
            decode_all(b"-----BEGIN CERTIFICATE-----\nAQID\n", &L),
            Err(PemError::Malformed {
                block: 1,
                line: 1,
                kind: MalformedKind::NoEnd,
            })
        );
        assert_eq!(
            decode_all(b"-----BEGIN A-----\nAQID\n-----END B-----\n", &L),
            Err(PemError::Malformed {
                block: 1,
                line: 1,
                kind: MalformedKind::MismatchedEnd {
                    begin: "A".into(),
                    end: "B".into(),
                },
            })
        );
        let many = cert("AQID").repeat(3);
        assert_eq!(
            decode_all(many.as_bytes(), &Limits::new(1024, 2)),
            Err(PemError::TooManyBlocks { count: 3, max: 2 })
        );
        // The messages name the block and the line.
        let e = decode_all(format!("x\n\n{}", cert("A*")).as_bytes(), &L).unwrap_err();
        assert_eq!(
            e.to_string(),
            "PEM block 1 (line 3): invalid base64 at character 1 of the body"
        );
    }

    fn label() -> impl Strategy<Value = String> {
        "[A-Z][A-Z0-9 ]{0,20}[A-Z0-9]"
    }

    proptest! {
        /// decode_all(encode(blocks)) == blocks, for any labels and contents.
        #[test]
        fn what_is_encoded_decodes_to_itself(
            blocks in proptest::collection::vec(
                (label(), proptest::collection::vec(any::<u8>(), 1..300)),
                1..6,
            ),
            preamble in "[a-z .\n]{0,40}",
        ) {
            let mut text = preamble.clone();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            for (l, der) in &blocks {
                text.push_str(&encode(l, der));
            }
            let back = decode_all(text.as_bytes(), &L).unwrap();
            let back: Vec<(String, Vec<u8>)> =
                back.into_iter().map(|b| (b.label, b.der)).collect();
            prop_assert_eq!(back, blocks);
        }

        /// Any input decodes or gives a typed error; never a panic.
        #[test]
        fn arbitrary_input_never_panics(input in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode_all(&input, &L);
        }

        /// A body cut anywhere inside its base64 is an error of that
        /// block, never a silent success with other bytes.
        #[test]
        fn a_truncated_block_is_refused(
            der in proptest::collection::vec(any::<u8>(), 10..200),
            cut in 0.0f64..1.0,
        ) {
            let text = encode("CERTIFICATE", &der);
            let end_line = text.find("-----END").unwrap();
            let at = 28 + ((end_line - 28) as f64 * cut) as usize;
            let truncated = &text[..at];
            prop_assert!(
                matches!(
                    decode_all(truncated.as_bytes(), &L),
                    Err(PemError::Malformed { block: 1, line: 1, .. })
                ),
                "{:?}",
                truncated
            );
        }
    }
}
