#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Generated documentation stays in step with the code:
//! `docs/policy.schema.json`, and the merge table and capability matrix of
//! `docs/policy.md`. Regenerate with
//! `MDMKIT_BLESS=1 cargo test -p mdmkit-policy --test docs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use mdmkit_policy::{Policy, catalog, schema};

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn bless() -> bool {
    std::env::var_os("MDMKIT_BLESS").is_some()
}

/// The text between `<!-- BEGIN name -->` and `<!-- END name -->`.
fn section<'a>(doc: &'a str, name: &str) -> (usize, usize, &'a str) {
    let begin = format!("<!-- BEGIN {name} -->\n");
    let end = format!("<!-- END {name} -->");
    let start = doc.find(&begin).unwrap_or_else(|| panic!("no {begin}")) + begin.len();
    let stop = doc[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("no {end}"))
        + start;
    (start, stop, &doc[start..stop])
}

#[test]
fn the_committed_json_schema_is_up_to_date() {
    let path = docs().join("policy.schema.json");
    let fresh = schema::json_schema_text();
    if bless() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is stale: run MDMKIT_BLESS=1 cargo test -p mdmkit-policy --test docs",
        path.display()
    );
}

#[test]
fn the_merge_table_and_capability_matrix_in_the_guide_are_up_to_date() {
    let path = docs().join("policy.md");
    let mut doc = std::fs::read_to_string(&path).unwrap();
    for (name, fresh) in [
        ("merge-table", catalog::render_merge_table()),
        ("capability-matrix", catalog::render_capability_matrix()),
    ] {
        let (start, stop, current) = section(&doc, name);
        if current != fresh {
            assert!(
                bless(),
                "the {name} section of {} is stale: run MDMKIT_BLESS=1 cargo test -p mdmkit-policy --test docs",
                path.display()
            );
            doc.replace_range(start..stop, &fresh);
            std::fs::write(&path, &doc).unwrap();
        }
    }
}

#[test]
fn the_complete_example_in_the_guide_is_a_valid_policy() {
    let doc = std::fs::read_to_string(docs().join("policy.md")).unwrap();
    let (_, _, example) = section(&doc, "example");
    let toml = example
        .trim()
        .strip_prefix("```toml\n")
        .and_then(|s| s.strip_suffix("```"))
        .expect("a ```toml block");
    let p = Policy::from_toml(toml).unwrap_or_else(|e| panic!("{e}"));
    assert!(!p.settings.wifi.is_empty() && !p.settings.apps.is_empty() && !p.locks.is_empty());
}

/// An independent check: Python's `jsonschema` validates every example
/// policy (read with Python's own `tomllib`) against the committed schema.
#[test]
fn python_jsonschema_accepts_the_examples_and_rejects_a_wrong_type() {
    let probe = Command::new("python3")
        .args(["-c", "import jsonschema, tomllib"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        // Never a silent skip: scripts/test installs it.
        panic!(
            "python3 with jsonschema and tomllib is needed for this independent check: \
             run the tests through scripts/test, which installs them"
        );
    }
    let script = r#"
import json, sys, tomllib, glob, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
files = sorted(glob.glob(sys.argv[2] + "/*.toml"))
assert files
for f in files:
    doc = tomllib.load(open(f, "rb"))
    errors = list(v.iter_errors(doc))
    assert not errors, (f, [e.message for e in errors])
bad = {"passcode": {"min_length": "six"}, "restrictions": {"camera": "maybe"}}
assert len(list(v.iter_errors(bad))) == 2
print(len(files))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(docs().join("policy.schema.json"))
        .arg(docs().join("../examples/region/policies"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
