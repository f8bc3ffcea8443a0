//! The committed generated model must match what the generator makes of the
//! discovery document in `../shared` (skipped when that is absent).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

#[test]
fn committed_model_matches_the_discovery_document() {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let discovery = here.join("../../../shared/android-management/androidmanagement.v1.json");
    let Ok(text) = std::fs::read_to_string(&discovery) else {
        eprintln!("skipped: {} is absent", discovery.display());
        return;
    };
    let files = mdmkit_android_codegen::generate(&text).unwrap();
    assert!(files.len() >= 5);
    for file in files {
        let path = here.join("../mdmkit-android").join(file.path);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == file.contents,
            "{} is stale: run `cargo run -p mdmkit-android-codegen`",
            path.display()
        );
    }
}
