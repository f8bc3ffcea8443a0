//! Generates `crates/mdmkit-apple/src/generated/` from Apple's
//! device-management schema (`../shared/apple-device-management`).
//!
//! Run by hand after updating the schema:
//!
//! ```sh
//! cargo run -p mdmkit-apple-codegen
//! ```
//!
//! The output is committed, so building mdmkit-apple never needs the schema;
//! `tests/fresh.rs` fails when the committed output no longer matches what
//! the schema generates.
//!
//! ```
//! let files = mdmkit_apple_codegen::generate_from_texts(&[(
//!     "mdm/commands/x.yaml".into(),
//!     "title: t\npayload:\n  requesttype: X\npayloadkeys:\n- key: A\n  type: <string>\n".into(),
//! )])?;
//! assert!(files.iter().any(|(name, text)| name == "commands.rs" && text.contains("pub struct XCommand")));
//! # Ok::<(), String>(())
//! ```
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

pub mod emit;
pub mod manifest;
pub mod model;
pub mod yaml;

/// The schema directory as seen from the workspace root.
pub fn default_schema_dir() -> PathBuf {
    workspace_root().join("../shared/apple-device-management")
}

/// Where the generated files go.
pub fn default_output_dir() -> PathBuf {
    workspace_root().join("crates/mdmkit-apple/src/generated")
}

/// The manifest of the committed output (`generated.sha256` in this crate).
pub fn manifest_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("generated.sha256")
}

/// The manifest of `outputs` generated from `inputs` by this generator.
pub fn build_manifest(
    inputs: &[(String, String)],
    outputs: &[(String, String)],
) -> Result<manifest::Manifest, String> {
    Ok(manifest::Manifest::new(
        manifest::digest(inputs.iter().map(|(n, t)| (n.as_str(), t.as_bytes()))),
        manifest::generator_digest(Path::new(env!("CARGO_MANIFEST_DIR")))?,
        outputs
            .iter()
            .map(|(n, t)| (n.clone(), manifest::file_sha256(t.as_bytes())))
            .collect(),
    ))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Reads every `.yaml` file under `dir` (relative paths, sorted).
pub fn read_schema(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                let rel = path
                    .strip_prefix(dir)
                    .map_err(|e| e.to_string())?
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{rel}: {e}"))?;
                out.push((rel, text));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Generates the output files from schema texts.
pub fn generate_from_texts(files: &[(String, String)]) -> Result<Vec<(String, String)>, String> {
    let model = model::read(files)?;
    Ok(emit::emit(&model))
}

/// Generates the output files from a schema directory.
pub fn generate(dir: &Path) -> Result<Vec<(String, String)>, String> {
    generate_from_texts(&read_schema(dir)?)
}
