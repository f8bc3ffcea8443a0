//! `mdmkit queue ...` from outside: the binary against a temporary SQLite
//! file (and the throwaway PostgreSQL server when `MDMKIT_TEST_POSTGRES_URL`
//! is set).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use serde_json::Value;

struct Cli {
    store: String,
    dir: tempfile::TempDir,
}

impl Cli {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = format!("sqlite:{}", dir.path().join("q.db").display());
        Cli { store, dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut full: Vec<&str> = vec!["queue"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--store", &self.store]);
        Command::new(env!("CARGO_BIN_EXE_mdmkit"))
            .args(&full)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    }

    fn push(&self, device: &str, kind: &str, extra: &[&str]) -> String {
        let payload = self.file(&format!("{kind}.bin"), kind.as_bytes());
        let mut args = vec![
            "push",
            "--tenant",
            "t1",
            "--device",
            device,
            "--kind",
            kind,
            "--payload",
            &payload,
        ];
        args.extend_from_slice(extra);
        let out = self.ok(&args);
        let id = out.trim().to_owned();
        assert_eq!(id.len(), 36, "push prints a uuid, got {out:?}");
        id
    }
}

fn round_trip(cli: &Cli, t: &str) {
    let payload: Vec<u8> = (0..=255u8).collect();
    let file = cli.file("cmd.plist", &payload);
    let id = cli.ok(&[
        "push",
        "--tenant",
        t,
        "--device",
        "ipad-1",
        "--kind",
        "InstallProfile",
        "--payload",
        &file,
    ]);
    let id = id.trim();
    let next = cli.json(&["next", "--tenant", t, "--device", "ipad-1"]);
    assert_eq!(next["id"], id);
    assert_eq!(next["kind"], "InstallProfile");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(next["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, payload);
    let result = cli.file("result.plist", b"<dict/>");
    let r = cli.json(&[
        "report",
        "--tenant",
        t,
        "--device",
        "ipad-1",
        id,
        "--status",
        "acknowledged",
        "--result",
        &result,
    ]);
    assert_eq!(r["state"], "acknowledged");
    let list = cli.json(&["list", "--tenant", t, "--device", "ipad-1"]);
    assert_eq!(list[0]["state"], "acknowledged");
    let stats = cli.json(&["stats", "--tenant", t]);
    assert_eq!(stats["acknowledged"], 1);
    assert_eq!(stats["queued"], 0);
    let out = cli.run(&["next", "--tenant", t, "--device", "ipad-1"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
}

#[test]
fn push_next_report_round_trips_on_sqlite() {
    round_trip(&Cli::sqlite(), "t1");
}

#[test]
fn push_next_report_round_trips_on_postgres() {
    let url = match std::env::var("MDMKIT_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!("MDMKIT_TEST_POSTGRES_URL is unset: run the tests through scripts/test"),
    };
    // The server is shared by the whole run: a tenant of its own isolates
    // this test (tenant isolation is the queue's own guarantee).
    let tenant = format!(
        "cli-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let cli = Cli {
        store: url,
        dir: tempfile::tempdir().unwrap(),
    };
    round_trip(&cli, &tenant);
    let stats = cli.json(&["stats"]);
    assert!(stats["acknowledged"].as_u64().unwrap() >= 1);
}

#[test]
fn next_delivers_one_at_a_time_and_exits_3_when_nothing_is_deliverable() {
    let cli = Cli::sqlite();
    let out = cli.run(&["next", "--tenant", "t1", "--device", "ipad-1"]);
    assert_eq!(out.status.code(), Some(3));
    let a = cli.push("ipad-1", "a", &[]);
    let b = cli.push("ipad-1", "b", &["--priority", "5"]);
    assert_eq!(
        cli.json(&["next", "--tenant", "t1", "--device", "ipad-1"])["id"],
        b
    );
    // Apple semantics: b is in flight, nothing else goes out.
    assert_eq!(
        cli.run(&["next", "--tenant", "t1", "--device", "ipad-1"])
            .status
            .code(),
        Some(3)
    );
    // Windows semantics: a batch does.
    let batch = cli.json(&[
        "next", "--tenant", "t1", "--device", "ipad-1", "--batch", "5",
    ]);
    assert_eq!(batch[0]["id"], a);
}

#[test]
fn notnow_command_waits_for_a_non_notnow_report() {
    let cli = Cli::sqlite();
    let a = cli.push("ipad-1", "a", &[]);
    let b = cli.push("ipad-1", "b", &[]);
    assert_eq!(
        cli.json(&["next", "--tenant", "t1", "--device", "ipad-1"])["id"],
        a
    );
    let r = cli.json(&[
        "report", "--tenant", "t1", "--device", "ipad-1", &a, "--status", "not-now",
    ]);
    assert_eq!(r["state"], "not-now");
    assert_eq!(
        cli.json(&["next", "--tenant", "t1", "--device", "ipad-1"])["id"],
        b
    );
    cli.ok(&[
        "report",
        "--tenant",
        "t1",
        "--device",
        "ipad-1",
        &b,
        "--status",
        "Acknowledged",
    ]);
    let again = cli.json(&["next", "--tenant", "t1", "--device", "ipad-1"]);
    assert_eq!(
        (again["id"].as_str(), again["attempt"].as_u64()),
        (Some(a.as_str()), Some(2))
    );
    let hist = cli.json(&["history", "--tenant", "t1", "--device", "ipad-1", &a]);
    let reasons: Vec<&str> = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["queued", "delivered", "not-now", "queued", "delivered"]
    );
}

#[test]
fn supersede_and_cancel_show_in_list_and_stats() {
    let cli = Cli::sqlite();
    let v1 = cli.push("ipad-1", "v1", &["--supersede", "profile:wifi"]);
    let v2 = cli.push("ipad-1", "v2", &["--supersede", "profile:wifi"]);
    let list = cli.json(&["list", "--tenant", "t1", "--device", "ipad-1"]);
    let states: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [(v1.as_str(), "superseded"), (v2.as_str(), "queued")]
    );
    let c = cli.json(&["cancel", "--tenant", "t1", &v2]);
    assert_eq!(c["cancelled"], 1);
    let stats = cli.json(&["stats", "--tenant", "t1"]);
    assert_eq!(
        (stats["superseded"].as_u64(), stats["cancelled"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        cli.run(&["next", "--tenant", "t1", "--device", "ipad-1"])
            .status
            .code(),
        Some(3)
    );
    // Another tenant sees nothing of it.
    let other = cli.json(&["stats", "--tenant", "t2"]);
    assert_eq!(other["superseded"], 0);
    let out = cli.run(&["cancel", "--tenant", "t2", &v2]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn default_store_is_created_under_dot_mdmkit() {
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("p");
    std::fs::write(&payload, b"x").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mdmkit"))
        .args([
            "queue",
            "push",
            "--tenant",
            "t1",
            "--device",
            "d",
            "--kind",
            "k",
            "--payload",
        ])
        .arg(&payload)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(Path::new(&dir.path().join(".mdmkit/mdmkit.db")).exists());
}

#[test]
fn bad_input_gets_a_one_line_error_and_no_panic() {
    let cli = Cli::sqlite();
    let cases: [(&[&str], i32, &str); 5] = [
        (
            &[
                "push",
                "--tenant",
                "bad tenant",
                "--device",
                "d",
                "--kind",
                "k",
                "--payload",
                "x",
            ],
            2,
            "tenant id",
        ),
        (
            &[
                "push",
                "--tenant",
                "t",
                "--device",
                "d",
                "--kind",
                "k",
                "--payload",
                "/nonexistent/file",
            ],
            1,
            "cannot read the payload",
        ),
        (
            &[
                "report",
                "--tenant",
                "t",
                "--device",
                "d",
                "not-a-uuid",
                "--status",
                "acknowledged",
            ],
            2,
            "uuid",
        ),
        (
            &[
                "report",
                "--tenant",
                "t",
                "--device",
                "d",
                "00000000-0000-0000-0000-000000000000",
                "--status",
                "maybe",
            ],
            2,
            "report status",
        ),
        (
            &[
                "report",
                "--tenant",
                "t",
                "--device",
                "d",
                "00000000-0000-0000-0000-000000000000",
                "--status",
                "error",
            ],
            1,
            "unknown",
        ),
    ];
    for (args, code, needle) in cases {
        let out = cli.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mdmkit"))
        .args(["queue", "stats", "--store", "mysql://x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected sqlite:PATH"));
}
