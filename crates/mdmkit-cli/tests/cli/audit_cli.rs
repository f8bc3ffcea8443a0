#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `mdmkit audit verify`, run as a user runs it on journals written by the
//! library, intact, tampered, torn and truncated; and two independent
//! checks of the format: Python recomputes the hash chain, the `openssl`
//! binary verifies the checkpoint signatures.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::support::{mdmkit, stderr, stdout};
use mdmkit::audit::{Event, Journal, JournalOptions, load_or_create_key};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A tenant directory with a journal of `n` events (checkpoint every 4,
/// closed); returns the directory and the journal path.
fn tenant(n: u64) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let signer = load_or_create_key(tmp.path()).unwrap();
    let path = mdmkit::audit::journal_path(tmp.path());
    let mut j = Journal::open(
        &path,
        signer,
        JournalOptions::default().with_checkpoint_every(4),
    )
    .unwrap();
    for i in 0..n {
        j.append(Event::CommandAnswered {
            tenant: "region".parse().unwrap(),
            device: "ipad-1".parse().unwrap(),
            command: mdmkit::queue::CommandId::new(),
            status: "error".into(),
            error: Some(format!("refusé «{i}»\tavec \"guillemets\"")),
        })
        .unwrap();
    }
    j.close().unwrap();
    (tmp, path)
}

fn public_key(dir: &Path) -> String {
    fs::read_to_string(dir.join(".mdmkit/audit.pub"))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn an_intact_journal_verifies_from_its_directory_or_its_file() {
    let (tmp, path) = tenant(6);
    let o = mdmkit(&["audit", "verify", s(tmp.path())]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("ok: "), "{out}");
    assert!(
        out.contains("8 entries, 2 checkpoints, signed up to entry 7, unsigned tail 0, head 8 "),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1);

    let o = mdmkit(&["audit", "verify", "--json", s(&path)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["entries"], 8);
    assert_eq!(v["checkpoints"], 2);
    assert_eq!(v["last_signed_seq"], 7);
    assert_eq!(v["head"]["seq"], 8);
}

#[test]
fn an_explicit_key_is_the_strong_check() {
    let (tmp, _) = tenant(3);
    let key = public_key(tmp.path());
    let o = mdmkit(&["audit", "verify", "--key", &key, s(tmp.path())]);
    assert!(o.status.success(), "{}", stderr(&o));
    // An attacker who rewrote the journal with their own key and replaced
    // audit.pub fools the default check, not the explicit key.
    let other = "22".repeat(32);
    let o = mdmkit(&["audit", "verify", "--key", &other, s(tmp.path())]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("line 4: checkpoint signed by unknown key"),
        "{}",
        stderr(&o)
    );
    let o = mdmkit(&["audit", "verify", "--key", "abc", s(tmp.path())]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid --key"), "{}", stderr(&o));
}

#[test]
fn a_tampered_line_fails_with_its_line_number() {
    let (tmp, path) = tenant(6);
    let text = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[2] = lines[2].replace("ipad-1", "ipad-2");
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    let o = mdmkit(&["audit", "verify", s(tmp.path())]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("audit.jsonl: line 3: altered entry"), "{err}");

    let o = mdmkit(&["audit", "verify", "--json", s(tmp.path())]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["ok"].clone(), v["line"].clone()),
        (Value::Bool(false), Value::from(3))
    );
    assert_eq!(v["error"]["kind"], "altered_entry");

    // Deleting a line breaks the sequence.
    let (tmp, path) = tenant(6);
    let text = fs::read_to_string(&path).unwrap();
    let kept: String = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    fs::write(&path, kept).unwrap();
    let o = mdmkit(&["audit", "verify", s(tmp.path())]);
    assert!(
        stderr(&o).contains("line 2: sequence gap: expected entry 2, found 3"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_torn_tail_is_reported_and_an_anchor_catches_truncation() {
    let (tmp, path) = tenant(3);
    let o = mdmkit(&["audit", "verify", "--json", s(tmp.path())]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let anchor = format!(
        "{}:{}",
        v["head"]["seq"],
        v["head"]["hash"].as_str().unwrap()
    );

    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(b"{\"event\":");
    fs::write(&path, &bytes).unwrap();
    let o = mdmkit(&["audit", "verify", s(tmp.path())]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("torn tail of 9 bytes"),
        "{}",
        stdout(&o)
    );

    let o = mdmkit(&["audit", "verify", "--anchor", &anchor, s(tmp.path())]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = fs::read_to_string(&path).unwrap();
    let cut: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    fs::write(&path, cut).unwrap();
    let o = mdmkit(&["audit", "verify", "--anchor", &anchor, s(tmp.path())]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("truncated: the journal ends at entry 3, before the anchored entry 4"),
        "{}",
        stderr(&o)
    );
    let o = mdmkit(&["audit", "verify", "--anchor", "5:xyz", s(tmp.path())]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_missing_journal_is_a_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let o = mdmkit(&["audit", "verify", s(tmp.path())]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no journal here"), "{}", stderr(&o));
}

/// Python recomputes every hash and link with its own JSON encoder:
/// sorted keys, no whitespace, non-ASCII kept as UTF-8.
#[test]
fn python_recomputes_the_hash_chain() {
    if !Command::new("python3")
        .arg("-c")
        .arg("1")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        panic!(
            "python3 is needed for this independent check: run the tests through scripts/test, which installs it"
        );
    }
    let (_tmp, path) = tenant(9);
    let script = r#"
import hashlib, json, sys
prev = "0" * 64
n = 0
for raw in open(sys.argv[1], "rb").read().split(b"\n")[:-1]:
    e = json.loads(raw)
    canon = lambda v: json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert canon(e) == raw, raw
    h = e.pop("hash")
    assert hashlib.sha256(canon(e)).hexdigest() == h
    assert e["prev"] == prev and e["seq"] == n + 1
    prev, n = h, n + 1
print(n)
"#;
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "12");
}

/// The `openssl` binary verifies every checkpoint signature over the
/// documented message: "mdmkit-signed-v1\n" kind "\n" key_id "\n" payload.
#[test]
fn openssl_verifies_the_checkpoint_signatures() {
    if !Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        panic!(
            "openssl is needed for this independent check: run the tests through scripts/test, which installs it"
        );
    }
    let (tmp, path) = tenant(9);
    let key = public_key(tmp.path());
    let mut der = hex("302a300506032b6570032100");
    der.extend(hex(&key));
    let pub_der = tmp.path().join("pub.der");
    fs::write(&pub_der, der).unwrap();
    let mut checked = 0;
    for line in fs::read_to_string(&path).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["event"]["type"] != "checkpoint" {
            continue;
        }
        let env = &v["event"]["signed"];
        let msg = format!(
            "mdmkit-signed-v1\n{}\n{}\n{}",
            env["kind"].as_str().unwrap(),
            env["key_id"].as_str().unwrap(),
            env["payload"].as_str().unwrap()
        );
        let payload: Value = serde_json::from_str(env["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload["head"], v["prev"]);
        let msg_file = tmp.path().join("msg");
        let sig_file = tmp.path().join("sig");
        fs::write(&msg_file, msg).unwrap();
        fs::write(&sig_file, hex(env["signature"].as_str().unwrap())).unwrap();
        let o = Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-rawin"])
            .arg("-inkey")
            .arg(&pub_der)
            .arg("-in")
            .arg(&msg_file)
            .arg("-sigfile")
            .arg(&sig_file)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        checked += 1;
    }
    assert_eq!(checked, 3);
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A journal cut short together with its last checkpoint still chains:
/// `audit verify` catches it with the head `reconcile` recorded in the
/// state store, and with a head exported by `audit head` beforehand.
#[test]
fn a_journal_cut_short_fails_against_the_store_and_an_exported_head() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    super::support::copy_dir(&super::support::region(), &dir);
    let _ = fs::remove_dir_all(dir.join(".mdmkit"));
    let o = mdmkit(&["reconcile", s(&dir)]);
    assert!(o.status.success(), "{}", stderr(&o));

    let o = mdmkit(&["audit", "verify", s(&dir)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let journal = mdmkit::audit::journal_path(&dir);
    let lines = fs::read_to_string(&journal).unwrap().lines().count();
    assert!(
        stdout(&o).contains(&format!("holds the state store's head {lines}")),
        "{}",
        stdout(&o)
    );

    let head_file = tmp.path().join("head.json");
    let o = mdmkit(&["audit", "head", s(&dir), "--out", s(&head_file)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let head: Value = serde_json::from_str(&fs::read_to_string(&head_file).unwrap()).unwrap();
    assert_eq!(head["seq"].as_u64(), Some(lines as u64 - 1));
    // The same head on standard output.
    let o = mdmkit(&["audit", "head", s(&dir)]);
    let printed: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(printed, head);

    // Drop the last three entries, the closing checkpoint among them.
    let text = fs::read_to_string(&journal).unwrap();
    let kept: Vec<&str> = text.lines().take(lines - 3).collect();
    fs::write(&journal, format!("{}\n", kept.join("\n"))).unwrap();

    // The chain alone still verifies: that is what the heads are for.
    let o = mdmkit(&["audit", "verify", "--no-store", s(&dir)]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The state store's head shows the cut...
    let o = mdmkit(&["audit", "verify", s(&dir)]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("truncated"), "{err}");
    assert!(
        err.contains(&format!("the state store recorded entry {lines}")),
        "{err}"
    );
    // ...and so does the exported head, without the store.
    let o = mdmkit(&[
        "audit",
        "verify",
        "--no-store",
        "--head",
        s(&head_file),
        s(&dir),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));

    // A head whose entry was changed is refused for its signature.
    let mut forged = head.clone();
    forged["seq"] = serde_json::json!(2);
    let forged_file = tmp.path().join("forged.json");
    fs::write(&forged_file, forged.to_string()).unwrap();
    let o = mdmkit(&[
        "audit",
        "verify",
        "--no-store",
        "--head",
        s(&forged_file),
        s(&dir),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("signed head"), "{}", stderr(&o));
    // Junk is a one-line error.
    fs::write(&forged_file, "not json").unwrap();
    let o = mdmkit(&["audit", "verify", "--head", s(&forged_file), s(&dir)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("forged.json"), "{}", stderr(&o));
}

/// The journal in PostgreSQL: `reconcile --journal URL` writes the same
/// chain into rows, `audit verify --journal URL` checks it (with the state
/// store's heads), `audit head --journal URL` exports its signed head, and
/// rows deleted off its end are caught.
#[test]
fn a_journal_in_postgres_is_written_verified_and_its_truncation_caught() {
    let url = match std::env::var("MDMKIT_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!("MDMKIT_TEST_POSTGRES_URL is unset: run the tests through scripts/test"),
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    super::support::copy_dir(&super::support::region(), &dir);
    let _ = fs::remove_dir_all(dir.join(".mdmkit"));
    // A tenant of its own in the shared database.
    let tenant = format!(
        "audit-pg-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let tree = fs::read_to_string(dir.join("tree.toml")).unwrap();
    fs::write(
        dir.join("tree.toml"),
        tree.replace("academie-hauts-de-lys", &tenant),
    )
    .unwrap();
    let pg = ["--store", url.as_str(), "--journal", url.as_str()];
    let o = mdmkit(&[&["reconcile", s(&dir)][..], &pg[..]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !mdmkit::audit::journal_path(&dir).exists(),
        "the journal went to PostgreSQL, not to the file"
    );

    let o = mdmkit(&[&["audit", "verify", "--json", s(&dir)][..], &pg[..]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let entries = report["entries"].as_u64().unwrap();
    assert!(entries > 3, "{report}");
    assert_eq!(report["store_head"].as_u64(), Some(entries));
    assert_eq!(report["last_signed_seq"].as_u64(), Some(entries - 1));

    let o = mdmkit(&["audit", "head", "--journal", &url, s(&dir)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let head_file = tmp.path().join("head.json");
    fs::write(&head_file, stdout(&o)).unwrap();

    // A second reconcile with nothing to do adds no entry: same head.
    let o = mdmkit(&[&["reconcile", s(&dir)][..], &pg[..]].concat());
    assert!(o.status.success(), "{}", stderr(&o));

    // Delete the last three rows, the closing checkpoint among them.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query("DELETE FROM mdmkit_audit_journal WHERE tenant = $1 AND seq > $2")
            .bind(&tenant)
            .bind(i64::try_from(entries).unwrap() - 3)
            .execute(&pool)
            .await
            .unwrap();
    });
    let o = mdmkit(&["audit", "verify", "--journal", &url, "--no-store", s(&dir)]);
    assert!(o.status.success(), "the chain alone: {}", stderr(&o));
    let o = mdmkit(&[&["audit", "verify", s(&dir)][..], &pg[..]].concat());
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("truncated"), "{err}");
    assert!(err.contains("postgres journal of audit-pg-"), "{err}");
    let o = mdmkit(&[
        "audit",
        "verify",
        "--journal",
        &url,
        "--no-store",
        "--head",
        s(&head_file),
        s(&dir),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));
}
