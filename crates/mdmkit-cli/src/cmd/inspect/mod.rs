//! `mdmkit inspect FILE`: detect and decode any supported artefact into one
//! JSON object with a `"kind"` field.
//!
//! Each vendor module offers a detector; the first that recognises the bytes
//! decodes them. A detector returns `None` when the bytes are not its kind,
//! and `Some(Err(..))` when they are but fail to decode. Bytes no detector
//! recognises are refused with [`InspectError::Unrecognised`], which names
//! what every detector looked for.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::error::{CliError, Context};

mod android;
mod apple;
mod windows;

/// The largest input `inspect` reads (the vendor readers apply their own,
/// smaller limits on top: 8 MiB for SyncML, Apple's plist and JSON limits).
const MAX_INPUT: u64 = 16 * 1024 * 1024;

/// Arguments of `mdmkit inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The file to decode (`-` for standard input).
    file: PathBuf,
}

/// Why `mdmkit inspect` fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum InspectError {
    /// The input could not be read.
    #[error("{input}: {source}")]
    Read {
        /// The file, or `standard input`.
        input: String,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The input is larger than [`MAX_INPUT`].
    #[error("{input}: larger than the {limit}-byte limit")]
    TooLarge {
        /// The file, or `standard input`.
        input: String,
        /// The limit.
        limit: u64,
    },
    /// No detector recognised the bytes.
    #[error("{input}: not a supported MDM artefact (tried {tried})")]
    Unrecognised {
        /// The file, or `standard input`.
        input: String,
        /// What each detector looked for.
        tried: String,
    },
    /// A detector recognised the bytes, but they do not decode.
    #[error("{input}: {source}")]
    Decode {
        /// The file, or `standard input`.
        input: String,
        /// The decoder's error, naming the kind and what was wrong where.
        #[source]
        source: CliError,
    },
}

impl From<InspectError> for CliError {
    fn from(e: InspectError) -> Self {
        CliError::new(crate::error::chain(&e))
    }
}

/// A vendor's detector: `None` if the bytes are not its kind of artefact.
struct Detector {
    /// The vendor, as the `tried` list names it.
    vendor: &'static str,
    /// What the detector recognises.
    recognises: &'static str,
    /// The detector.
    detect: fn(&[u8]) -> Option<Result<serde_json::Value, CliError>>,
}

const DETECTORS: &[Detector] = &[
    Detector {
        vendor: "Apple",
        recognises: "a property list (profile, command, check-in message, command report), \
                     a CMS-signed profile, declarative-management JSON (status report, \
                     declaration, tokens, declaration-items)",
        detect: apple::detect,
    },
    Detector {
        vendor: "Windows",
        recognises: "a SyncML message, an MS-MDE2 enrollment SOAP envelope, \
                     a wap-provisioningdoc",
        detect: windows::detect,
    },
    Detector {
        vendor: "Android",
        recognises: "AMAPI Policy, Device or Operation JSON",
        detect: android::detect,
    },
];

/// What every detector looked for, for [`InspectError::Unrecognised`].
fn tried() -> String {
    DETECTORS
        .iter()
        .map(|d| format!("{}: {}", d.vendor, d.recognises))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Reads at most [`MAX_INPUT`] bytes of the file (or of standard input),
/// whatever its metadata claims: a growing file or a pipe is cut off too.
fn read_input(path: &Path, input: &str) -> Result<Vec<u8>, InspectError> {
    let mut buf = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin().take(MAX_INPUT + 1).read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_INPUT + 1).read_to_end(&mut buf))
    };
    read.map_err(|source| InspectError::Read {
        input: input.to_owned(),
        source,
    })?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(InspectError::TooLarge {
            input: input.to_owned(),
            limit: MAX_INPUT,
        });
    }
    Ok(buf)
}

/// Detects and decodes the input.
fn inspect(bytes: &[u8], input: &str) -> Result<serde_json::Value, InspectError> {
    for detector in DETECTORS {
        if let Some(result) = (detector.detect)(bytes) {
            return result.map_err(|source| InspectError::Decode {
                input: input.to_owned(),
                source,
            });
        }
    }
    Err(InspectError::Unrecognised {
        input: input.to_owned(),
        tried: tried(),
    })
}

pub(crate) fn run(args: InspectArgs) -> Result<ExitCode, CliError> {
    let input = if args.file == Path::new("-") {
        "standard input".to_owned()
    } else {
        args.file.display().to_string()
    };
    let bytes = read_input(&args.file, &input)?;
    let value = inspect(&bytes, &input)?;
    let text = serde_json::to_string_pretty(&value).context("encoding JSON")?;
    print_line(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the output; a closed pipe (`| head`) is not an error, and never
/// a panic.
fn print_line(text: &str) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::new(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unrecognised_input_names_what_was_tried() {
        for bytes in [
            &b""[..],
            b"hello",
            b"<html/>",
            b"{\"a\": 1}",
            b"[1, 2]",
            b"\xff\xfe\x00",
        ] {
            let err = inspect(bytes, "x").err();
            assert!(
                matches!(&err, Some(InspectError::Unrecognised { .. })),
                "{err:?}"
            );
        }
        let text = tried();
        for needle in [
            "Apple",
            "Windows",
            "Android",
            "SyncML",
            "declarative-management",
        ] {
            assert!(text.contains(needle), "{text}");
        }
    }
}
