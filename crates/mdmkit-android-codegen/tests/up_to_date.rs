//! The committed generated model is what the generator wrote, and what it
//! makes of the discovery document in `../shared` today. Without
//! `../shared` (a fresh clone) the output is checked against its manifest
//! (`generated.sha256`: each file's SHA-256, and the generator's own
//! source, which must not have changed since), never skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use mdmkit_android_codegen::manifest::{self, Manifest};

#[test]
fn committed_model_is_what_the_current_generator_wrote() {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(mdmkit_android_codegen::manifest_path())
        .expect("generated.sha256 is committed with the output");
    let m = Manifest::parse(&text).unwrap();
    assert_eq!(
        manifest::generator_digest(&here).unwrap(),
        m.generator,
        "the generator changed since its output was generated: run \
         `cargo run -p mdmkit-android-codegen` with ../shared"
    );
    assert!(m.outputs.len() >= 5);
    for (path, sum) in &m.outputs {
        let bytes = std::fs::read(here.join("../mdmkit-android").join(path)).unwrap_or_default();
        assert_eq!(
            &manifest::file_sha256(&bytes),
            sum,
            "{path} was edited or not regenerated"
        );
    }
}

#[test]
fn committed_model_matches_the_discovery_document() {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let discovery = here.join("../../../shared/android-management/androidmanagement.v1.json");
    let Ok(text) = std::fs::read_to_string(&discovery) else {
        // A fresh clone: the manifest test above checks the output.
        eprintln!(
            "{} is absent: checked against generated.sha256 only",
            discovery.display()
        );
        return;
    };
    let files = mdmkit_android_codegen::generate(&text).unwrap();
    assert!(files.len() >= 5);
    let committed =
        std::fs::read_to_string(mdmkit_android_codegen::manifest_path()).unwrap_or_default();
    assert_eq!(
        Manifest::parse(&committed).ok(),
        Some(mdmkit_android_codegen::build_manifest(&text, &files).unwrap()),
        "generated.sha256 is stale: run `cargo run -p mdmkit-android-codegen`"
    );
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
