//! The manifest of a generator's committed output (`generated.sha256` in
//! the generator's crate): the SHA-256 of its inputs, of its own source,
//! and of each file it wrote. A fresh clone has no `../shared`, so it
//! cannot regenerate; with the manifest it still checks that the committed
//! files are exactly what the generator wrote, and that the generator was
//! not changed since (which would need a regeneration). Shared by both
//! generators (`#[path]`-included by `mdmkit-android-codegen`).

use std::fmt::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The SHA-256 of named texts, order-independent (sorted by name): each
/// name and text, NUL-separated.
pub fn digest<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut files: Vec<(&str, &[u8])> = files.into_iter().collect();
    files.sort();
    let mut h = Sha256::new();
    for (name, bytes) in files {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(bytes);
        h.update([0]);
    }
    hex(&h.finalize())
}

/// The SHA-256 of one file's bytes.
pub fn file_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The digest of a generator's own source: every `.rs` file under its
/// crate's `src/`.
pub fn generator_digest(crate_dir: &Path) -> Result<String, String> {
    let src = crate_dir.join("src");
    let mut files = Vec::new();
    let entries = std::fs::read_dir(&src).map_err(|e| format!("{}: {e}", src.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            files.push((name, bytes));
        }
    }
    Ok(digest(
        files.iter().map(|(n, b)| (n.as_str(), b.as_slice())),
    ))
}

/// A manifest's content (outputs sorted by path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The digest of the inputs.
    pub inputs: String,
    /// The digest of the generator's source.
    pub generator: String,
    /// Each output: its path (as the generator names it) and SHA-256.
    pub outputs: Vec<(String, String)>,
}

impl Manifest {
    /// A manifest; the outputs are sorted by path.
    pub fn new(inputs: String, generator: String, mut outputs: Vec<(String, String)>) -> Self {
        outputs.sort();
        Self {
            inputs,
            generator,
            outputs,
        }
    }

    /// The text written to `generated.sha256`.
    pub fn to_text(&self, command: &str) -> String {
        let mut s = format!(
            "# Written by `{command}`; checked by its tests (without ../shared too).\n\
             inputs {}\ngenerator {}\n",
            self.inputs, self.generator
        );
        let mut outputs = self.outputs.clone();
        outputs.sort();
        for (path, sum) in outputs {
            let _ = writeln!(s, "output {sum} {path}");
        }
        s
    }

    /// Reads a manifest's text.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut m = Manifest {
            inputs: String::new(),
            generator: String::new(),
            outputs: Vec::new(),
        };
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let mut parts = line.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("inputs"), Some(d), None) => m.inputs = d.to_owned(),
                (Some("generator"), Some(d), None) => m.generator = d.to_owned(),
                (Some("output"), Some(d), Some(p)) => m.outputs.push((p.to_owned(), d.to_owned())),
                _ => return Err(format!("manifest line not understood: {line:?}")),
            }
        }
        if m.inputs.is_empty() || m.generator.is_empty() || m.outputs.is_empty() {
            return Err("manifest incomplete".into());
        }
        Ok(Manifest::new(m.inputs, m.generator, m.outputs))
    }
}
