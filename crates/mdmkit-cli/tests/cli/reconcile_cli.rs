//! `mdmkit reconcile` and `mdmkit status` on a copy of the example region:
//! idempotent, incremental, journaled, and safe to kill at any moment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mdmkit");
const TENANT: &str = "academie-hauts-de-lys";

fn mdmkit(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = mdmkit(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args)).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() == ".mdmkit" {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn region() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/region"),
        &dir,
    );
    (tmp, dir)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn reconcile_prints_a_plan_then_queues_nothing_the_second_time() {
    let (_tmp, dir) = region();
    let out = mdmkit(&["reconcile", s(&dir)]);
    assert!(out.status.success());
    // Not a terminal: no progress bar on stderr.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("30 devices, 30 changed"), "{text}");
    for kind in ["InstallProfile", "PatchPolicy", "Replace"] {
        assert!(text.contains(kind), "{text}");
    }
    assert!(
        text.contains("settings a platform cannot enforce"),
        "{text}"
    );
    assert!(dir.join(".mdmkit/mdmkit.db").is_file());
    // The store holds payloads with secrets (Wi-Fi keys): its file and the
    // WAL SQLite writes beside it are the owner's only.
    #[cfg(unix)]
    for f in ["mdmkit.db", "mdmkit.db-wal"] {
        use std::os::unix::fs::PermissionsExt as _;
        // (The WAL is gone when the last connection checkpointed it.)
        let Ok(meta) = std::fs::metadata(dir.join(".mdmkit").join(f)) else {
            assert_ne!(f, "mdmkit.db", "no store file");
            continue;
        };
        let mode = meta.permissions().mode();
        assert_eq!(mode & 0o077, 0, "{f} is {mode:o}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join(".mdmkit/.gitignore")).unwrap(),
        "*\n"
    );

    let again = ok(&["reconcile", s(&dir)]);
    assert!(again.contains("nothing to queue"), "{again}");
    let plan = json(&["reconcile", s(&dir), "--json"]);
    assert_eq!(plan["queued"], 0);
    assert_eq!(plan["devices"], 30);
    assert_eq!(plan["changed_devices"], 0);

    let verified = ok(&["audit", "verify", s(&dir)]);
    assert!(verified.starts_with("ok"), "{verified}");
}

/// An integrator follows a run through the stack with `RUST_LOG`: the
/// reconcile span names the tenant and scope, each step logs its counts,
/// the queue and state stores log their writes.
#[test]
fn rust_log_follows_a_reconcile_through_its_steps_and_stores() {
    let (_tmp, dir) = region();
    let out = Command::new(BIN)
        .args(["reconcile", s(&dir)])
        .env("RUST_LOG", "mdmkit=debug")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = String::from_utf8(out.stderr).unwrap();
    for needle in [
        "reconcile{tenant=academie-hauts-de-lys scope=all}",
        "scope resolved devices=30",
        "devices grouped by change changed=30",
        "commands planned",
        "queue.enqueue_batch{tenant=academie-hauts-de-lys commands=",
        "enqueued commands=",
        "state.commit{tenant=academie-hauts-de-lys devices=30",
        "state committed",
        "reconciled devices=30 changed=30",
    ] {
        assert!(log.contains(needle), "no {needle:?} in:\n{log}");
    }
    // Policies carry Wi-Fi keys: none reaches the log.
    assert!(
        !log.contains("Cartable-2025-Estaires") && !log.contains("Lycee-SM-Invites-2025"),
        "{log}"
    );
}

#[test]
fn a_school_change_queues_for_that_school_only_and_status_shows_it() {
    let (_tmp, dir) = region();
    ok(&["reconcile", s(&dir)]);
    let file = dir.join("policies/ecole-jules-ferry.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("[passcode]\n", "[passcode]\nmax_failed_attempts = 7\n"),
    )
    .unwrap();
    let plan = json(&["reconcile", s(&dir), "--json"]);
    let school = json(&["status", s(&dir), "--node", "ecole-jules-ferry", "--json"]);
    let below: BTreeSet<String> = school["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device"].as_str().unwrap().to_owned())
        .collect();
    assert!(!below.is_empty() && below.len() < 30);
    let changed = plan["changed_devices"].as_u64().unwrap();
    assert!(changed > 0 && changed as usize <= below.len(), "{plan}");
    for d in plan["wake"].as_array().unwrap() {
        assert!(below.contains(d.as_str().unwrap()), "{d} woken");
    }
    for d in plan["enqueued"].as_array().unwrap() {
        assert!(d["devices"].as_u64().unwrap() as usize <= below.len());
    }

    let all = json(&["status", s(&dir), "--json"]);
    assert_eq!(all["tenant"], TENANT);
    assert_eq!(all["devices"].as_array().unwrap().len(), 30);
    for d in all["devices"].as_array().unwrap() {
        assert!(!d["categories"].as_array().unwrap().is_empty());
    }
    let text = ok(&["status", s(&dir)]);
    assert!(text.contains("30 devices, 0 compliant"), "{text}");
    let why = ok(&[
        "status",
        s(&dir),
        "--noncompliant",
        "--node",
        "ecole-jules-ferry",
    ]);
    assert!(why.contains("passcode: pending"), "{why}");
    assert!(why.contains("from ecole-jules-ferry"), "{why}");
}

#[test]
fn status_refuses_an_unknown_node_and_reconcile_an_invalid_tree() {
    let (_tmp, dir) = region();
    let out = mdmkit(&["status", s(&dir), "--node", "nowhere"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere"));
    std::fs::write(
        dir.join("policies/broken.toml"),
        "[passcode]\nmin_length = \"six\"\n",
    )
    .unwrap();
    let out = mdmkit(&["reconcile", s(&dir)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.join(".mdmkit/mdmkit.db").exists());
}

#[test]
fn an_unsigned_layer_stops_a_tenant_that_requires_signatures() {
    let (_tmp, dir) = region();
    let tree = dir.join("tree.toml");
    let text = std::fs::read_to_string(&tree).unwrap();
    let key = dir.join("office.key");
    let made = ok(&["policy", "keygen", "--out", s(&key)]);
    let public = made
        .lines()
        .find_map(|l| l.strip_prefix("public_key = \""))
        .map(|l| l.trim_end_matches('"').to_owned())
        .expect("keygen prints the public key");
    let key_id = made
        .lines()
        .find_map(|l| l.strip_prefix("key_id = \""))
        .map(|l| l.trim_end_matches('"').to_owned())
        .unwrap();
    let text = text.replacen("[tenant]\n", "[tenant]\nrequire_signatures = true\n", 1);
    std::fs::write(
        &tree,
        format!(
            "{text}\n[[author]]\nkey = \"{key_id}\"\npublic_key = \"{public}\"\nnode = \"{TENANT}\"\nmay = [\"author\", \"lock\"]\n"
        ),
    )
    .unwrap();
    let out = mdmkit(&["reconcile", s(&dir)]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unsigned") || err.contains("signature"),
        "{err}"
    );

    // Sign every layer: the run goes through and says so.
    for e in std::fs::read_dir(dir.join("policies")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            ok(&[
                "policy",
                "sign",
                "--key",
                s(&key),
                "--key-id",
                &key_id,
                "--tenant",
                s(&dir),
                s(&p),
            ]);
        }
    }
    let text = ok(&["reconcile", s(&dir)]);
    assert!(text.contains("signed layers: 14 of 14"), "{text}");
}

#[test]
fn killing_reconcile_at_any_moment_loses_nothing() {
    let (_tmp, dir) = region();
    // 5,000 more iPads, PCs and tablets: a run long enough for kills to
    // land inside its writes (between the queue's commit and the state's,
    // a window that shrinks as the state commit gets faster).
    let mut devices = std::fs::read_to_string(dir.join("devices.toml")).unwrap();
    for i in 0..5000 {
        let platform = ["apple", "windows", "android"][i % 3];
        devices.push_str(&format!(
            "\n[[device]]\nid = \"kill-{i:04}\"\nnode = \"jules-ferry-cm1\"\nplatform = \"{platform}\"\n\
             os_version = \"18.1\"\nsupervised = true\n"
        ));
    }
    std::fs::write(dir.join("devices.toml"), devices).unwrap();
    let db = dir.join(".mdmkit/mdmkit.db");
    // The store read by Python's sqlite3 (an independent reader): how many
    // commands are stored, and the policy hash the state last committed.
    let read = |sql: &str| -> String {
        if !db.exists() {
            return String::new();
        }
        let out = Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys\n\
                 try: print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone())\n\
                 except sqlite3.OperationalError: print('')",
                db.to_str().unwrap(),
                sql,
            ])
            .output()
            .expect("python3 is needed to read the store independently");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let commands = || read("SELECT COUNT(*) FROM mdmkit_commands");
    let committed = || read("SELECT hash FROM mdmkit_policy WHERE policy = 'securite-socle'");
    // Kills at moments that move to land inside the run's writes: a kill
    // before the run queued anything comes later next time, one after its
    // state was committed comes earlier. Go on until three kills are
    // proven to have landed mid-run (commands queued, state not committed),
    // after at least eight kills.
    let (mut lo, mut hi) = (0u64, 4000u64);
    let mut mid_run = 0;
    let mut round = 0u64;
    while round < 8 || mid_run < 3 {
        assert!(round < 40, "only {mid_run} kills of {round} landed mid-run");
        // A new value each round (never the one before), then a kill.
        let file = dir.join("policies/securite-socle.toml");
        let text = std::fs::read_to_string(&file).unwrap();
        let at = text.find("max_failed_attempts = ").unwrap() + "max_failed_attempts = ".len();
        let end = at + text[at..].find('\n').unwrap();
        let next = format!("{}{}{}", &text[..at], 4 + round % 7, &text[end..]);
        std::fs::write(&file, next).unwrap();
        let delay = (lo + hi) / 2;
        let (commands_before, committed_before) = (commands(), committed());
        let mut child = Command::new(BIN)
            .args(["reconcile", s(&dir)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let started = commands() != commands_before;
        let done = committed() != committed_before;
        if started && !done {
            mid_run += 1;
        } else if done {
            hi = delay.max(lo + 2);
        } else {
            lo = delay;
            hi = hi.max(lo + 50);
        }
        round += 1;
    }
    eprintln!("{mid_run} of {round} kills landed mid-run");
    // The run after the crashes completes the plan; the one after plans
    // nothing.
    ok(&["reconcile", s(&dir)]);
    let plan = json(&["reconcile", s(&dir), "--json"]);
    assert_eq!(plan["queued"], 0, "{plan}");
    // Every pending category points at commands that are in the queue
    // (the queue read by Python, all devices at once).
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys,uuid,json\n\
             rows=sqlite3.connect(sys.argv[1]).execute('SELECT n.device, c.id FROM mdmkit_queue q JOIN mdmkit_queue_enrollments n ON n.id = q.enrollment JOIN mdmkit_commands c ON c.seq = q.seq').fetchall()\n\
             q={}\n\
             for d,c in rows: q.setdefault(d,[]).append(str(uuid.UUID(bytes=bytes(c))))\n\
             print(json.dumps(q))",
            db.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let queue: serde_json::Map<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    let status = json(&["status", s(&dir), "--json"]);
    let devices = status["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 5030);
    for d in devices {
        let id = d["device"].as_str().unwrap();
        let cats = d["categories"].as_array().unwrap();
        assert!(!cats.is_empty(), "{id} lost its state");
        let ids: BTreeSet<&str> = queue
            .get(id)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for c in cats {
            for cmd in c["commands"].as_array().unwrap() {
                assert!(ids.contains(cmd.as_str().unwrap()), "{id}: {cmd} lost");
            }
        }
    }
    // The journal survived the kills (a torn line is cut and recorded).
    let verified = ok(&["audit", "verify", s(&dir)]);
    assert!(verified.starts_with("ok"), "{verified}");
}
