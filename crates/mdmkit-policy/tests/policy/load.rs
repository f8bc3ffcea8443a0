#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The directory loader reports every problem of every file at once, with
//! file, line and path; hostile input gets an error, never a panic.

use std::fs;
use std::path::Path;

use mdmkit_policy::{Error, FileKind, Format, IssueKind, Policy, check_file, load_dir};
use proptest::prelude::*;

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn issues(dir: &Path) -> Vec<String> {
    match load_dir(dir) {
        Err(Error::Invalid(i)) => i.iter().map(|i| i.to_string()).collect(),
        Ok(_) => vec![],
        Err(e) => vec![e.to_string()],
    }
}

#[test]
fn every_problem_of_every_file_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "tree.toml",
        "[tenant]\nid = \"t\"\npolicies = [\"base\", \"ghost\"]\n\n[[node]]\nid = \"a\"\nparent = \"b\"\n\n[[node]]\nid = \"b\"\nparent = \"a\"\n\n[[node]]\nid = \"c\"\n\n[[node]]\nid = \"c\"\n\n[[node]]\nid = \"bad id\"\n",
    );
    write(d, "policies/base.toml", "[passcode]\nmin_length = 10\n");
    write(d, "policies/bad.toml", "[passcode]\nmin_length = 100\n");
    write(d, "policies/dup.json", "{\"policy\": {\"id\": \"base\"}}");
    write(
        d,
        "devices.toml",
        "[[device]]\nid = \"d1\"\nnode = \"c\"\nplatform = \"symbian\"\n\n[[device]]\nid = \"d2\"\nnode = \"nowhere\"\nplatform = \"ios\"\n\n[[device]]\nid = \"d2\"\nnode = \"c\"\nplatform = \"android\"\n",
    );
    let all = issues(d);
    let text = all.join("\n");
    let has = |s: &str| assert!(text.contains(s), "missing {s:?} in:\n{text}");
    has("bad.toml:2: passcode.min_length: 100 is out of range 1 to 64");
    has("dup.json: policy id base is also used by");
    has("tree.toml:3: tenant.policies: policy ghost is not defined in policies/");
    has("node[\"a\"].parent: parent b is part of a cycle");
    has("node[\"b\"].parent: parent a is part of a cycle");
    has("tree.toml:17: node[\"c\"].id: node c is defined twice");
    has("node[\"bad id\"].id: node id has the character ' '");
    has("devices.toml:4: device[\"d1\"].platform: unknown platform \"symbian\"");
    has("devices.toml:8: device[\"d2\"].node: unknown node nowhere");
    has("device[\"d2\"].id: device d2 is listed twice");
    assert_eq!(all.len(), 10, "{text}");
}

#[test]
fn a_directory_without_a_tree_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(issues(dir.path())[0].contains("no tree.toml or tree.json"));
}

#[test]
fn json_tree_and_policies_load_like_toml() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "tree.json",
        r#"{"tenant": {"id": "t", "policies": ["p"]}, "node": [{"id": "school"}]}"#,
    );
    write(
        d,
        "policies/p.json",
        r#"{"restrictions": {"camera": "deny"}}"#,
    );
    write(
        d,
        "devices.json",
        r#"{"device": [{"id": "x", "node": "school", "platform": "windows"}]}"#,
    );
    let t = load_dir(d).unwrap();
    assert!(t.check().is_empty());
    let eff = t.effective(&"x".parse().unwrap()).unwrap();
    assert_eq!(
        eff.settings().restrictions.camera,
        Some(mdmkit_policy::Rule::Deny)
    );
}

#[test]
fn single_files_are_recognised_by_their_top_level_keys() {
    let region = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/region");
    assert_eq!(check_file(&region.join("tree.toml")).0, FileKind::Tree);
    assert_eq!(
        check_file(&region.join("devices.toml")).0,
        FileKind::Devices
    );
    let (kind, issues) = check_file(&region.join("policies/nommage-bailleul.toml"));
    assert_eq!(kind, FileKind::Policy);
    assert!(issues.is_empty());
}

#[test]
fn oversized_and_deeply_nested_documents_are_refused_with_a_limit_issue() {
    let big = format!(
        "[device]\nlock_screen_message = \"{}\"\n",
        "x".repeat(2 << 20)
    );
    let e = Policy::parse(&big, Format::Toml).unwrap_err();
    assert_eq!(e.iter().next().unwrap().kind, IssueKind::Limit);
    let deep = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    assert!(Policy::parse(&deep, Format::Json).is_err());
    let deep = format!("x = {}{}", "{a = ".repeat(10_000), "}".repeat(10_000));
    assert_eq!(
        Policy::parse(&deep, Format::Toml)
            .unwrap_err()
            .iter()
            .next()
            .unwrap()
            .kind,
        IssueKind::Limit
    );
}

proptest! {
    #[test]
    fn arbitrary_text_is_never_a_panic(s in any::<String>()) {
        let _ = Policy::parse(&s, Format::Toml);
        let _ = Policy::parse(&s, Format::Json);
    }

    #[test]
    fn mutated_examples_are_never_a_panic(pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let text = include_str!("../../../../examples/region/policies/wifi-val-de-lys.toml");
        let mut bytes = text.as_bytes().to_vec();
        let i = pos.index(bytes.len());
        if cut { bytes.truncate(i) } else { bytes[i] = byte }
        if let Ok(s) = std::str::from_utf8(&bytes)
            && let Ok(p) = Policy::parse(s, Format::Toml)
        {
            prop_assert_eq!(Policy::from_json(&p.to_json()).unwrap(), p);
        }
    }
}
