//! The committed generated code is what the generator wrote, and what the
//! schema generates today. Without `../shared` (a fresh clone) the schema
//! cannot be read: then the committed output is checked against its
//! manifest (`generated.sha256`: each file's SHA-256, and the generator's
//! own source, which must not have changed since), never skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mdmkit_apple_codegen::manifest::{self, Manifest};

#[test]
fn committed_output_is_what_the_current_generator_wrote() {
    let text = std::fs::read_to_string(mdmkit_apple_codegen::manifest_path())
        .expect("generated.sha256 is committed with the output");
    let m = Manifest::parse(&text).unwrap();
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        manifest::generator_digest(here).unwrap(),
        m.generator,
        "the generator changed since its output was generated: run \
         `cargo run -p mdmkit-apple-codegen` with ../shared"
    );
    let out = mdmkit_apple_codegen::default_output_dir();
    for (name, sum) in &m.outputs {
        let bytes = std::fs::read(out.join(name)).unwrap_or_default();
        assert_eq!(
            &manifest::file_sha256(&bytes),
            sum,
            "{name} was edited or not regenerated"
        );
    }
    for entry in std::fs::read_dir(&out).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            m.outputs.iter().any(|(n, _)| *n == name),
            "{name} is not in the generator's output"
        );
    }
}

#[test]
fn committed_output_matches_the_schema() {
    let schema = mdmkit_apple_codegen::default_schema_dir();
    if !schema.join("schema.yaml").is_file() {
        // A fresh clone: the manifest test above checks the output.
        eprintln!(
            "{} is absent: checked against generated.sha256 only",
            schema.display()
        );
        return;
    }
    let inputs = mdmkit_apple_codegen::read_schema(&schema).unwrap();
    let files = mdmkit_apple_codegen::generate_from_texts(&inputs).unwrap();
    let text = std::fs::read_to_string(mdmkit_apple_codegen::manifest_path()).unwrap_or_default();
    assert_eq!(
        Manifest::parse(&text).ok(),
        Some(mdmkit_apple_codegen::build_manifest(&inputs, &files).unwrap()),
        "generated.sha256 is stale: run `cargo run -p mdmkit-apple-codegen`"
    );
    let out = mdmkit_apple_codegen::default_output_dir();
    let mut stale = Vec::new();
    for (name, text) in &files {
        let committed = std::fs::read_to_string(out.join(name)).unwrap_or_default();
        if &committed != text {
            stale.push(name.clone());
        }
    }
    let expected: std::collections::BTreeSet<String> =
        files.iter().map(|(n, _)| n.clone()).collect();
    for entry in std::fs::read_dir(&out).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !expected.contains(&name) {
            stale.push(format!("{name} (no longer generated)"));
        }
    }
    assert!(
        stale.is_empty(),
        "generated code is stale: {stale:?}; run `cargo run -p mdmkit-apple-codegen`"
    );
}

#[test]
fn every_schema_file_with_keys_becomes_an_entry() {
    let schema = mdmkit_apple_codegen::default_schema_dir();
    if !schema.join("schema.yaml").is_file() {
        return;
    }
    let texts = mdmkit_apple_codegen::read_schema(&schema).unwrap();
    let model = mdmkit_apple_codegen::model::read(&texts).unwrap();
    // Every file except the schema description itself.
    assert_eq!(model.entries.len(), texts.len() - 1);
}
