//! `mdmkit enroll challenge|challenges DIR`: a challenge is printed once
//! (64 hex digits; `--json` gives `{"challenge": ...}`), bound to a node
//! that must exist, listed without its secret, on the embedded store and
//! on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use crate::support::{copy_dir, mdmkit, region, stderr, stdout};

const SCHOOL: &str = "ecole-jules-ferry";

fn challenge_and_list(dir: &Path, store: &[&str]) {
    let d = dir.to_str().unwrap();
    let mut args = vec![
        "enroll",
        "challenge",
        d,
        "--node",
        SCHOOL,
        "--device",
        "SER42",
        "--ttl",
        "2h",
        "--json",
    ];
    args.extend_from_slice(store);
    let o = mdmkit(&args);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let secret = v["challenge"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64);
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(v["node"], SCHOOL);
    assert_eq!(v["device"], "SER42");
    assert_eq!(v["reusable"], false);

    // Plain output: the challenge alone on stdout.
    let mut args = vec!["enroll", "challenge", d, "--node", SCHOOL, "--reusable"];
    args.extend_from_slice(store);
    let o = mdmkit(&args);
    assert!(o.status.success(), "{o:?}");
    let plain = stdout(&o);
    assert_eq!(plain.trim().len(), 64, "{plain:?}");
    assert!(stderr(&o).contains("reusable"), "{o:?}");

    let mut args = vec!["enroll", "challenges", d, "--json"];
    args.extend_from_slice(store);
    let o = mdmkit(&args);
    assert!(o.status.success(), "{o:?}");
    let text = stdout(&o);
    assert!(
        !text.contains(&secret) && !text.contains(plain.trim()),
        "{text}"
    );
    let list: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(list.len(), 2);
    assert!(
        list.iter()
            .all(|c| c["node"] == SCHOOL && c["used_at"].is_null())
    );
    assert!(
        list.iter()
            .any(|c| c["device"] == "SER42" && c["reusable"] == false)
    );
}

#[test]
fn a_challenge_is_created_for_a_node_and_listed_without_its_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    challenge_and_list(&dir, &[]);
}

#[test]
fn a_challenge_is_kept_in_postgres_with_store() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = rt.block_on(crate::serve_support::fresh_postgres_database("enroll"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    challenge_and_list(&dir, &["--store", &url]);
    assert!(
        !dir.join(".mdmkit/mdmkit.db").exists(),
        "the embedded store was used"
    );
}

#[test]
fn a_challenge_needs_a_node_of_the_tree_and_a_positive_ttl() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let d = dir.to_str().unwrap();
    let o = mdmkit(&["enroll", "challenge", d, "--node", "nowhere"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("no such node"), "{o:?}");
    assert!(stdout(&o).is_empty());
    for ttl in ["0s", "soon", "-1h"] {
        let o = mdmkit(&["enroll", "challenge", d, "--node", SCHOOL, "--ttl", ttl]);
        assert_eq!(o.status.code(), Some(2), "{ttl}: {o:?}");
    }
}
