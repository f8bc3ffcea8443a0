//! The committed generated code matches what the schema generates today.
//! Skipped (passes) when `../shared` is absent, as in a fresh clone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn committed_output_matches_the_schema() {
    let schema = mdmkit_apple_codegen::default_schema_dir();
    if !schema.join("schema.yaml").is_file() {
        eprintln!("skipped: {} is absent", schema.display());
        return;
    }
    let files = mdmkit_apple_codegen::generate(&schema).unwrap();
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
