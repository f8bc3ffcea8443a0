//! `mdmkit inspect FILE`: detect and decode any supported artefact into one
//! JSON object with a `"kind"` field.
//!
//! Each vendor module offers a detector; the first that recognises the bytes
//! decodes them. A detector returns `None` when the bytes are not its kind,
//! and `Some(Err(..))` when they are but fail to decode.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::error::{CliError, Context};

mod android;
mod apple;
mod windows;

/// The largest file `inspect` reads.
const MAX_INPUT: u64 = 16 * 1024 * 1024;

/// Arguments of `mdmkit inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The file to decode.
    file: PathBuf,
}

/// A detector: `None` if the bytes are not its kind of artefact.
type Detector = fn(&[u8]) -> Option<Result<serde_json::Value, CliError>>;

const DETECTORS: &[Detector] = &[apple::detect, windows::detect, android::detect];

pub(crate) fn run(args: InspectArgs) -> Result<ExitCode, CliError> {
    let shown = args.file.display().to_string();
    let meta = std::fs::metadata(&args.file).context(&shown)?;
    if meta.len() > MAX_INPUT {
        return Err(CliError::new(format!(
            "{shown}: {} bytes is larger than the {MAX_INPUT}-byte limit",
            meta.len()
        )));
    }
    let bytes = std::fs::read(&args.file).context(&shown)?;
    for detect in DETECTORS {
        if let Some(result) = detect(&bytes) {
            let value = result.map_err(|e| CliError::new(format!("{shown}: {e}")))?;
            let text = serde_json::to_string_pretty(&value).context("encoding JSON")?;
            println!("{text}");
            return Ok(ExitCode::SUCCESS);
        }
    }
    Err(CliError::new(format!(
        "{shown}: not a supported MDM artefact"
    )))
}
