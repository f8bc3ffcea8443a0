//! `mdmkit simulate` against a real `mdmkit serve` of the example region
//! on a loopback port (SQLite and PostgreSQL): iPads, Windows PCs and
//! Android tablets (Google played by the simulator, set up with
//! `mdmkit simulate android-setup` before the server starts) enroll into
//! a school, check in until the admin API reports them verified, and
//! `mdmkit status` (another process) agrees; after a change of the root's
//! policy and a reconcile, the same fleet (from its fleet file) checks in
//! again, receives the change and is verified again. The report's counts
//! are the run's; its latencies are not judged (no wall-clock
//! thresholds).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use crate::serve_support::{SCHOOL, Server, TENANT, assert_verified, token};
use crate::support::{copy_dir, mdmkit, region, stderr, stdout};

const APPLE: usize = 3;
const WINDOWS: usize = 3;
const ANDROID: usize = 3;

fn row<'a>(report: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    report["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {report:#}"))
}

fn count(report: &serde_json::Value, kind: &str) -> u64 {
    row(report, kind)["count"].as_u64().unwrap()
}

/// `mdmkit simulate BASE --tenant TENANT EXTRA... --json`: exit status
/// and report.
fn simulate(base: &str, extra: &[&str]) -> (bool, serde_json::Value, String) {
    let mut args = vec!["simulate", base, "--tenant", TENANT, "--json"];
    args.extend_from_slice(extra);
    let o = mdmkit(&args);
    let report = serde_json::from_str(&stdout(&o)).unwrap_or_default();
    (o.status.success(), report, stderr(&o))
}

fn every_message_has_sane_percentiles(report: &serde_json::Value) {
    for r in report["messages"].as_array().unwrap() {
        let (p50, p99, max) = (
            r["p50_ms"].as_f64().unwrap(),
            r["p99_ms"].as_f64().unwrap(),
            r["max_ms"].as_f64().unwrap(),
        );
        assert!(r["count"].as_u64().unwrap() > 0, "{r}");
        assert!(0.0 < p50 && p50 <= p99 && p99 <= max * 1.001, "{r}");
        assert!(r["per_second"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
    }
}

fn fleet_enrolls_checks_in_and_is_verified_after_a_root_change(store: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let admin = token(&dir, TENANT, "operate", store);
    let enroll = token(&dir, SCHOOL, "enroll", store);
    let o = mdmkit(&[
        "simulate",
        "android-setup",
        dir.to_str().unwrap(),
        "--google",
        "127.0.0.1:0",
        "--drain-every",
        "200ms",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let google = dir.join(".mdmkit/simulate-google.json");
    let mut serve_args = vec!["--trusted-proxy", "127.0.0.1"];
    serve_args.extend_from_slice(store);
    let server = Server::start(&dir, &serve_args);
    let ca = dir.join(".mdmkit/ca");
    let fleet = tmp.path().join("fleet.json");
    let (apple, windows, android) = (APPLE.to_string(), WINDOWS.to_string(), ANDROID.to_string());
    let common = [
        "--admin-token",
        &admin,
        "--google",
        google.to_str().unwrap(),
        "--fleet",
        fleet.to_str().unwrap(),
        "--until-verified",
        "--timeout",
        "2m",
        "--concurrency",
        "4",
    ];

    // Enrollment and the first check-in.
    let mut args = common.to_vec();
    args.extend_from_slice(&[
        "--enroll-token",
        &enroll,
        "--ca",
        ca.to_str().unwrap(),
        "--apple",
        &apple,
        "--windows",
        &windows,
        "--android",
        &android,
        "--node",
        SCHOOL,
    ]);
    let (ok, report, err) = simulate(&server.base, &args);
    assert!(ok, "{err}\n{report:#}");
    assert_eq!(report["devices"]["apple"], APPLE);
    assert_eq!(report["devices"]["windows"], WINDOWS);
    assert_eq!(report["devices"]["android"], ANDROID);
    let all = APPLE + WINDOWS + ANDROID;
    assert_eq!(report["enrolled"], all);
    assert_eq!(report["verified"], all);
    assert_eq!(report["errors"], 0);
    assert!(report["verified_after_seconds"].as_f64().is_some());
    for kind in ["apple.authenticate", "apple.token_update", "apple.idle"] {
        assert_eq!(count(&report, kind), APPLE as u64, "{kind}");
    }
    for kind in [
        "windows.discovery_probe",
        "windows.discovery",
        "windows.policy",
        "windows.enrollment",
        "windows.session_open",
    ] {
        assert_eq!(count(&report, kind), WINDOWS as u64, "{kind}");
    }
    assert_eq!(count(&report, "android.enrollment"), ANDROID as u64);
    assert!(count(&report, "android.status_report") >= ANDROID as u64);
    // The school's policy: several commands per iPad, acknowledged; the
    // PCs answered the server's commands in later messages of their
    // sessions.
    assert!(count(&report, "apple.acknowledged") >= 2 * APPLE as u64);
    assert!(count(&report, "windows.session_reply") >= WINDOWS as u64);
    assert_eq!(count(&report, "admin.challenge"), 1);
    every_message_has_sane_percentiles(&report);

    let ids: Vec<String> = (0..APPLE)
        .map(|i| format!("SIM-APPLE-{i:07}"))
        .chain((0..WINDOWS).map(|i| format!("SIM-PC-{i:07}")))
        .chain((0..ANDROID).map(|i| format!("enterprises/LCSIMULATE/devices/sim-tab-{i:07}")))
        .collect();
    for id in &ids {
        assert_verified(&dir, id, store);
    }

    // The root's policy changes; a reconcile queues it for everyone.
    let socle = dir.join("policies/securite-socle.toml");
    let text = std::fs::read_to_string(&socle).unwrap();
    assert!(text.contains("min_length = 6"));
    std::fs::write(&socle, text.replace("min_length = 6", "min_length = 8")).unwrap();
    let mut rec = vec!["reconcile", dir.to_str().unwrap()];
    rec.extend_from_slice(store);
    let o = mdmkit(&rec);
    assert!(o.status.success(), "{}", stderr(&o));

    // The same devices, from the fleet file: no enrollment, the change
    // fetched and answered, verified again.
    let (ok, report, err) = simulate(&server.base, &common);
    assert!(ok, "{err}\n{report:#}");
    assert_eq!(report["enrolled"], all);
    assert_eq!(report["verified"], all);
    let kinds: Vec<&str> = report["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert!(
        !kinds
            .iter()
            .any(|k| k.ends_with("authenticate") || k.ends_with("enrollment")),
        "{kinds:?}"
    );
    assert!(count(&report, "apple.acknowledged") >= APPLE as u64);
    assert!(count(&report, "windows.session_reply") >= WINDOWS as u64);
    assert!(count(&report, "android.status_report") >= ANDROID as u64);
    every_message_has_sane_percentiles(&report);
    for id in &ids {
        assert_verified(&dir, id, store);
    }

    // A paced run for a while: the fleet checks in over and over, in
    // turn, with nothing left to deliver.
    let (ok, report, err) = simulate(
        &server.base,
        &[
            "--admin-token",
            &admin,
            "--google",
            google.to_str().unwrap(),
            "--fleet",
            fleet.to_str().unwrap(),
            "--duration",
            "1s",
            "--rate",
            "20",
        ],
    );
    assert!(ok, "{err}\n{report:#}");
    assert_eq!(report["errors"], 0);
    assert!(report["verified"].is_null());
    assert!(report["sessions"].as_u64().unwrap() >= 1);
    every_message_has_sane_percentiles(&report);
    drop(server);
}

#[test]
fn a_simulated_mixed_fleet_is_verified_before_and_after_a_root_change_on_sqlite() {
    fleet_enrolls_checks_in_and_is_verified_after_a_root_change(&[]);
}

#[test]
fn a_simulated_mixed_fleet_is_verified_before_and_after_a_root_change_on_postgres() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = rt.block_on(crate::serve_support::fresh_postgres_database("simulate"));
    fleet_enrolls_checks_in_and_is_verified_after_a_root_change(&["--store", &url]);
}

#[test]
fn simulate_counts_what_the_server_refuses_and_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let server = Server::start(&dir, &["--trusted-proxy", "127.0.0.1"]);
    let ca = dir.join(".mdmkit/ca");
    // A certificate of this tenant's CA sent to a tenant that does not
    // exist: every Authenticate is refused (404), the run fails, and the
    // report says so.
    let o = mdmkit(&[
        "simulate",
        &server.base,
        "--tenant",
        "no-such-tenant",
        "--ca",
        ca.to_str().unwrap(),
        "--apple",
        "2",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["enrolled"], 0);
    assert_eq!(row(&report, "apple.authenticate")["errors"], 2);
    assert_eq!(row(&report, "apple.authenticate")["count"], 0);
    let first = report["first_errors"][0].as_str().unwrap();
    assert!(first.contains("status 404"), "{first}");
}

#[test]
fn simulate_says_what_each_platform_needs() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = tmp.path().join("fleet.json");
    std::fs::write(&fleet, r#"{"tenant":"elsewhere","devices":[]}"#).unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["--android", "1"], "--google"),
        (&["--apple", "1"], "--ca"),
        (&["--windows", "1"], "--admin-token"),
        (&["--until-verified"], "--admin-token"),
        (
            &["--fleet", fleet.to_str().unwrap(), "--apple", "1"],
            "elsewhere",
        ),
        (
            &["--duration", "1s", "--until-verified"],
            "--until-verified",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["simulate", "http://127.0.0.1:9", "--tenant", TENANT];
        args.extend_from_slice(extra);
        let o = mdmkit(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{extra:?}: {}", stderr(&o));
    }
    // A tenant's real Android settings are never replaced.
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    std::fs::create_dir_all(dir.join(".mdmkit")).unwrap();
    std::fs::write(dir.join(".mdmkit/android.toml"), "enterprise = \"x\"\n").unwrap();
    let o = mdmkit(&["simulate", "android-setup", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("never replaced"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(dir.join(".mdmkit/android.toml")).unwrap(),
        "enterprise = \"x\"\n"
    );
    let o = mdmkit(&["simulate", "https://mdm.example", "--tenant", TENANT]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("http://"), "{}", stderr(&o));
}

/// The fleet file holds private keys: its owner only may read it.
#[cfg(unix)]
#[test]
fn the_fleet_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let enroll = token(&dir, SCHOOL, "enroll", &[]);
    let server = Server::start(&dir, &[]);
    let fleet = tmp.path().join("fleet.json");
    let ca = dir.join(".mdmkit/ca");
    let (ok, report, err) = simulate(
        &server.base,
        &[
            "--enroll-token",
            &enroll,
            "--ca",
            ca.to_str().unwrap(),
            "--apple",
            "1",
            "--fleet",
            fleet.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}\n{report:#}");
    let mode = std::fs::metadata(&fleet).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&fleet).unwrap()).unwrap();
    assert_eq!(v["tenant"], TENANT);
    assert_eq!(v["devices"][0]["platform"], "apple");
    assert!(Path::new(&fleet).exists());
}
