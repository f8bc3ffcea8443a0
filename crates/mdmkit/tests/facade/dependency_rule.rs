//! The one-way dependency rule of docs/architecture.md, checked on the real
//! manifests: identity, policy and queue know nothing of vendors or of each
//! other; vendor crates never see each other or the queue; only the facade
//! and the CLI see everything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// What each of our crates may depend on, among our crates.
fn allowed() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("mdmkit-core", &[][..]),
        ("mdmkit-identity", &["mdmkit-core"][..]),
        ("mdmkit-policy", &["mdmkit-core"][..]),
        ("mdmkit-queue", &["mdmkit-core"][..]),
        (
            "mdmkit-apple",
            &["mdmkit-core", "mdmkit-policy", "mdmkit-identity"][..],
        ),
        (
            "mdmkit-windows",
            &["mdmkit-core", "mdmkit-policy", "mdmkit-identity"][..],
        ),
        (
            "mdmkit-android",
            &["mdmkit-core", "mdmkit-policy", "mdmkit-identity"][..],
        ),
        // The server sits on the facade alone (the others through its
        // re-exports); the CLI stays free to see everything.
        ("mdmkit-server", &["mdmkit"][..]),
        ("mdmkit-apple-codegen", &[][..]),
        ("mdmkit-android-codegen", &[][..]),
    ])
}

#[test]
fn dependencies_point_one_way() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = allowed();
    let mut seen = BTreeSet::new();
    for pkg in meta["packages"].as_array().unwrap() {
        let name = pkg["name"].as_str().unwrap();
        let Some(ok) = rules.get(name) else { continue };
        seen.insert(name);
        for dep in pkg["dependencies"].as_array().unwrap() {
            let dep = dep["name"].as_str().unwrap();
            if dep.starts_with("mdmkit") {
                assert!(
                    ok.contains(&dep),
                    "{name} depends on {dep}, which the one-way rule forbids"
                );
            }
        }
    }
    let expected: BTreeSet<_> = rules.keys().copied().collect();
    assert_eq!(
        seen, expected,
        "a crate of the rule table is missing from the workspace"
    );
}
