//! The operator's path (issue 19 must 3): the release `mdmkit` command on a
//! generated region in the tenant directory format, each step beside the
//! raw floor it is bounded by, measured in the same run.
//!
//! The region is `mdmkit_benches::directory` (10 groups of towns, 50 towns,
//! 200 schools, 1,000 classes, the example region's policies; half iPads, a
//! quarter Windows PCs, a quarter Android tablets), written to a temporary
//! directory, with the embedded store (`DIR/.mdmkit/mdmkit.db`, SQLite).
//! The inventory is `devices.json` (the loader's fast path for large
//! fleets) unless `MDMKIT_BENCH_INVENTORY=toml`; after the unchanged run,
//! `policy check` and the unchanged run are measured again with the same
//! devices in the other format, which shows what the inventory's format
//! costs.
//! Each step runs `mdmkit` as an operator does, one process per command,
//! timed from spawn to exit (loading the directory included), with the
//! process's peak resident memory (`VmHWM` of `/proc/PID/status`, sampled
//! every 5 ms while it runs):
//!
//! 1. `policy check DIR`;
//! 2. the first `reconcile DIR`;
//! 3. an unchanged `reconcile DIR`;
//! 4. the root change: one value of `securite-socle` (every device), then
//!    `reconcile DIR`;
//! 5. the school change: one value of one school's own policy, then
//!    `reconcile DIR`;
//! 6. the change of `lycee-sainte-marie`, shared by a quarter of the
//!    schools, then `reconcile DIR`;
//! 7. `status DIR --node CLASS` (one class);
//! 8. `status DIR --noncompliant --node SCHOOL` (one school).
//!
//! The floors, in the same run:
//!
//! - reading every file of the region (the read floor), and reading them
//!   and parsing each file raw into a `toml::Table` or a
//!   `serde_json::Value` (the parse floor:
//!   what any command that loads the directory pays at least); beside
//!   them, not a floor, the facade's own loader (`mdmkit::policy::load_dir`)
//!   in the bench's process, which shows how much of each command is
//!   loading;
//! - for each reconcile that queues commands, a raw SQLite bulk insert of
//!   as many rows as it queued (one row per command: id, tenant, device
//!   id, command number, state, time; no secondary index) in one
//!   transaction, in WAL mode with `synchronous=NORMAL` as `mdmkit
//!   reconcile` opens its store (the insert floor).
//!
//! After the first reconcile it reports the store's size: the file, the
//! queue's tables (commands, queue rows, events, the interned enrollments
//! and supersede keys, with their indexes, from SQLite's `dbstat`) and the
//! bytes per queued command beyond the payload.
//!
//! Run (the bench runs the release binary `target/release/mdmkit`, beside
//! its own executable's `deps/`, and is skipped with a note when it is
//! missing; `MDMKIT_BIN` names another; a stale binary is not detected, so
//! build it first):
//!
//! ```sh
//! cargo build --release -p mdmkit-cli
//! cargo bench -p mdmkit-benches --bench operator
//! # smaller: MDMKIT_BENCH_DEVICES=20000; repeats of the quick steps: MDMKIT_BENCH_REPEAT=3;
//! # keep the region and its store: MDMKIT_BENCH_DIR=/path/to/empty/dir
//! ```
//!
//! The changes are one-shot (each edits the tree once); `check`, the
//! unchanged reconcile, `status`, `noncompliant` and the floors run
//! `MDMKIT_BENCH_REPEAT` times (default 3) and report the median.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mdmkit_benches::directory::{self, Inventory, Region, Shape};
use sqlx::Connection as _;

/// One run of the command.
struct Run {
    wall: Duration,
    /// Peak resident memory in KiB, if it could be read.
    peak_kib: Option<u64>,
    stdout: String,
}

/// Runs `mdmkit ARGS`, timing it and sampling its peak memory; panics with
/// its output when it fails.
fn mdmkit(bin: &Path, args: &[OsString]) -> Run {
    let start = Instant::now();
    let child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(kib) = vm_hwm(&status_file) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let out = child.wait_with_output().unwrap();
    let wall = start.elapsed();
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        panic!(
            "mdmkit {:?} failed ({}):\n{stdout}\n{}",
            args,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let kib = peak.load(Ordering::Relaxed);
    Run {
        wall,
        peak_kib: (kib > 0).then_some(kib),
        stdout,
    }
}

/// `VmHWM` (peak resident set) of a running process, in KiB.
fn vm_hwm(status: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(status).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The release `mdmkit`: `MDMKIT_BIN`, else `mdmkit` in the directory above
/// this bench's executable (`target/release/deps/operator-*`); `None`, with
/// a note, when it is not there.
fn locate_cli() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("MDMKIT_BIN") {
        return Some(bin.into());
    }
    let exe = std::env::current_exe().unwrap();
    let release = exe
        .parent()
        .and_then(Path::parent)
        .expect("the bench runs from target/release/deps");
    let bin = release.join("mdmkit");
    if bin.is_file() {
        Some(bin)
    } else {
        eprintln!(
            "note: {} is missing; skipping the operator bench (run `cargo build --release -p \
             mdmkit-cli` first, or set MDMKIT_BIN)",
            bin.display()
        );
        None
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .replace(['_', ','], "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        Err(_) => default,
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Every file of the region (not its store), for the read and parse floors.
fn region_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                if e.file_name() != ".mdmkit" {
                    stack.push(p);
                }
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Reads every file; with `parse`, parses each TOML file raw.
fn read_floor(files: &[PathBuf], parse: bool) -> u64 {
    let mut bytes = 0u64;
    for f in files {
        let data = std::fs::read(f).unwrap();
        bytes += data.len() as u64;
        if parse && f.extension().is_some_and(|e| e == "toml") {
            let text = std::str::from_utf8(&data).unwrap();
            let table: toml::Table = text
                .parse()
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            std::hint::black_box(table);
        }
        if parse && f.extension().is_some_and(|e| e == "json") {
            let value: serde_json::Value =
                serde_json::from_slice(&data).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            std::hint::black_box(value);
        }
    }
    bytes
}

/// The parse floor of `files` (see [`read_floor`]): the median of `n`
/// runs, with the runs.
fn parse_floor(files: &[PathBuf], n: usize) -> (Duration, Vec<Duration>) {
    let (t, runs, _) = median(n, || {
        let s = Instant::now();
        let b = read_floor(files, true);
        (s.elapsed(), b)
    });
    (t, runs)
}

/// The facade's loader on `dir` in this process (not a floor: where a
/// command's loading goes): the median of `n` runs, with the runs.
fn load_time(dir: &Path, n: usize) -> (Duration, Vec<Duration>) {
    let (t, runs, _) = median(n, || {
        let s = Instant::now();
        let t = mdmkit::policy::load_dir(dir).unwrap();
        let e = s.elapsed();
        drop(t);
        (e, ())
    });
    (t, runs)
}

/// The median of `n` runs of `f`, with the runs.
fn median<T>(n: usize, mut f: impl FnMut() -> (Duration, T)) -> (Duration, Vec<Duration>, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..n.max(1) {
        let (t, v) = f();
        times.push(t);
        last = Some(v);
    }
    let mut sorted = times.clone();
    sorted.sort();
    (sorted[sorted.len() / 2], times, last.unwrap())
}

/// What a reconcile printed.
#[derive(Debug, Default, Clone, Copy)]
struct Planned {
    changed: u64,
    queued: u64,
    payloads: u64,
    superseded: u64,
}

fn parse_plan(stdout: &str) -> Planned {
    let mut p = Planned::default();
    let number_before = |line: &str, word: &str| -> Option<u64> {
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')' || c == ':')
            .filter(|w| !w.is_empty())
            .collect();
        let i = words.iter().position(|w| *w == word)?;
        words.get(i.checked_sub(1)?)?.parse().ok()
    };
    for line in stdout.lines() {
        if line.starts_with("tenant ") {
            p.changed = number_before(line, "changed").unwrap_or(0);
        }
        if let Some(rest) = line.strip_prefix("queued ") {
            p.queued = rest
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            p.payloads = number_before(line, "distinct").unwrap_or(0);
            p.superseded = number_before(line, "superseded").unwrap_or(0);
        }
    }
    p
}

/// The insert floor: `rows` rows into a fresh table of a fresh database, in
/// one transaction, as `mdmkit reconcile` opens its store (WAL,
/// `synchronous=NORMAL`). Returns the time and the file's bytes per row.
fn insert_floor(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    rows: u64,
    ids: &[String],
) -> (Duration, f64) {
    let path = dir.join(format!("floor-{rows}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    // The statements' arguments, built before the clock starts.
    const CHUNK: u64 = 50_000;
    let chunks: Vec<String> = (0..rows.div_ceil(CHUNK))
        .map(|c| {
            let n = CHUNK.min(rows - c * CHUNK);
            let list: Vec<String> = (0..n)
                .map(|i| format!("\"{}\"", ids[((c * CHUNK + i) % ids.len() as u64) as usize]))
                .collect();
            format!("[{}]", list.join(","))
        })
        .collect();
    rt.block_on(async {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
        let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
        sqlx::query(
            "CREATE TABLE raw_queue (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, \
             device TEXT NOT NULL, command INTEGER NOT NULL, state INTEGER NOT NULL, \
             updated INTEGER NOT NULL)",
        )
        .execute(&mut c)
        .await
        .unwrap();
        let start = Instant::now();
        let mut tx = c.begin_with("BEGIN IMMEDIATE").await.unwrap();
        for (k, chunk) in chunks.iter().enumerate() {
            sqlx::query(
                "INSERT INTO raw_queue (tenant, device, command, state, updated) \
                 SELECT ?1, value, ?2 + key % 160, 0, 0 FROM json_each(?3)",
            )
            .bind(directory::TENANT)
            .bind(k as i64)
            .bind(chunk.as_str())
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let t = start.elapsed();
        c.close().await.unwrap();
        let bytes = file_bytes(&path);
        (t, bytes as f64 / rows.max(1) as f64)
    })
}

/// A SQLite file's bytes with its WAL.
fn file_bytes(path: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum()
}

/// The store's size and contents (after the first reconcile, and at the end).
struct StoreSize {
    /// The database file, and its write-ahead log beside it.
    file: u64,
    wal: u64,
    queue_rows: i64,
    commands: i64,
    payload_bytes: i64,
    /// Distinct payloads among the commands.
    distinct_payloads: i64,
    events: i64,
    /// Bytes of each table with its indexes, largest first (empty when
    /// SQLite has no `dbstat`).
    tables: Vec<(String, i64)>,
}

fn store_size(rt: &tokio::runtime::Runtime, db: &Path) -> StoreSize {
    rt.block_on(async {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .read_only(true);
        let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
        let one = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
        let queue_rows = one("SELECT COUNT(*) FROM mdmkit_queue")
            .fetch_one(&mut c)
            .await
            .unwrap();
        let commands = one("SELECT COUNT(*) FROM mdmkit_commands")
            .fetch_one(&mut c)
            .await
            .unwrap();
        let payload_bytes = one("SELECT COALESCE(SUM(length(payload)), 0) FROM mdmkit_commands")
            .fetch_one(&mut c)
            .await
            .unwrap();
        let distinct_payloads = one("SELECT COUNT(DISTINCT payload) FROM mdmkit_commands")
            .fetch_one(&mut c)
            .await
            .unwrap();
        let events = one("SELECT COUNT(*) FROM mdmkit_events")
            .fetch_one(&mut c)
            .await
            .unwrap();
        let tables = sqlx::query_as::<_, (String, i64)>(
            "SELECT m.tbl_name, SUM(d.pgsize) FROM dbstat d JOIN sqlite_master m ON m.name = d.name \
             GROUP BY m.tbl_name ORDER BY 2 DESC",
        )
        .fetch_all(&mut c)
        .await
        .unwrap_or_else(|e| {
            eprintln!("note: no per-table sizes (dbstat): {e}");
            Vec::new()
        });
        c.close().await.unwrap();
        StoreSize {
            file: std::fs::metadata(db).map_or(0, |m| m.len()),
            wal: std::fs::metadata(format!("{}-wal", db.display())).map_or(0, |m| m.len()),
            queue_rows,
            commands,
            payload_bytes,
            distinct_payloads,
            events,
            tables,
        }
    })
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "?".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0))
}

fn spread(times: &[Duration]) -> String {
    if times.len() < 2 {
        return String::new();
    }
    let list: Vec<String> = times.iter().map(|t| secs(*t)).collect();
    format!(" ({})", list.join(", "))
}

/// One line of the table.
struct Line {
    step: String,
    wall: String,
    peak: String,
    what: String,
    floor: String,
    ratio: String,
    target: String,
}

fn bench(_c: &mut Criterion) {
    if let Some(f) = mdmkit_benches::criterion_filter()
        && !"operator".contains(f.as_str())
    {
        return;
    }
    let devices = env_usize("MDMKIT_BENCH_DEVICES", 100_000);
    let repeat = env_usize("MDMKIT_BENCH_REPEAT", 3);
    let inventory = match std::env::var("MDMKIT_BENCH_INVENTORY").as_deref() {
        Ok("toml") => Inventory::Toml,
        Ok("json") | Err(_) => Inventory::Json,
        Ok(other) => panic!("MDMKIT_BENCH_INVENTORY={other:?}: json or toml"),
    };
    let Some(bin) = locate_cli() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = match std::env::var_os("MDMKIT_BENCH_DIR") {
        Some(d) => PathBuf::from(d),
        None => tmp.path().join("region"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let load_before = load_average();
    eprintln!(
        "operator bench: {} ({devices} devices) with {}",
        dir.display(),
        bin.display()
    );

    let start = Instant::now();
    let shape = Shape::with_devices(devices);
    let region: Region = directory::write_with(&dir, &shape, inventory).unwrap();
    let generated = start.elapsed();
    let files = region_files(&dir);
    let ids: Vec<String> = (0..devices.max(1)).map(directory::device_id).collect();
    let d = dir.as_os_str().to_owned();
    let args = |a: &[&str]| -> Vec<OsString> {
        let mut v: Vec<OsString> = a.iter().take(1).map(OsString::from).collect();
        if a.first() == Some(&"policy") {
            v.push(a[1].into());
            v.push(d.clone());
            v.extend(a[2..].iter().map(OsString::from));
        } else {
            v.push(d.clone());
            v.extend(a[1..].iter().map(OsString::from));
        }
        v
    };

    // The floors of loading the directory.
    let (read, read_runs, bytes) = median(repeat, || {
        let s = Instant::now();
        let b = read_floor(&files, false);
        (s.elapsed(), b)
    });
    let (parse, parse_runs) = parse_floor(&files, repeat);
    let (load, load_runs) = load_time(&dir, repeat);

    let mut lines = Vec::new();
    let mut peaks = Vec::new();
    let ratio =
        |t: Duration, floor: Duration| format!("{:.1}×", t.as_secs_f64() / floor.as_secs_f64());

    // 1. check
    let (check, check_runs, run) = median(repeat, || {
        let r = mdmkit(&bin, &args(&["policy", "check"]));
        (r.wall, r)
    });
    peaks.push(run.peak_kib);
    lines.push(Line {
        step: "`policy check`".into(),
        wall: format!("{}{}", secs(check), spread(&check_runs)),
        peak: mib(run.peak_kib),
        what: run
            .stdout
            .lines()
            .last()
            .unwrap_or("")
            .replace(&*dir.to_string_lossy(), "DIR"),
        floor: format!("parse {}", secs(parse)),
        ratio: ratio(check, parse),
        target: String::new(),
    });

    let floor_dir = tempfile::tempdir().unwrap();
    let reconcile = |step: &str, target: (&str, Option<f64>), runs: usize, parse: Duration| {
        let (t, times, r) = median(runs, || {
            let r = mdmkit(&bin, &args(&["reconcile"]));
            (r.wall, r)
        });
        let p = parse_plan(&r.stdout);
        let (floor, what) = if p.queued > 0 {
            let (ins, per_row) = insert_floor(&rt, floor_dir.path(), p.queued, &ids);
            (
                format!(
                    "parse {} + insert {} = {}",
                    secs(parse),
                    secs(ins),
                    secs(parse + ins)
                ),
                (parse + ins, per_row),
            )
        } else {
            (format!("parse {}", secs(parse)), (parse, 0.0))
        };
        let met = match target.1 {
            Some(limit) if t.as_secs_f64() <= limit => " (met)",
            Some(_) => " (**not met**)",
            None => "",
        };
        let line = Line {
            step: step.into(),
            wall: format!("{}{}", secs(t), spread(&times)),
            peak: mib(r.peak_kib),
            what: format!(
                "{} changed, {} queued ({} payloads), {} superseded",
                p.changed, p.queued, p.payloads, p.superseded
            ),
            floor,
            ratio: ratio(t, what.0),
            target: format!("{}{met}", target.0),
        };
        (line, p, r.peak_kib, what.1)
    };

    // 2. first reconcile
    let (line, first, peak, raw_per_row) =
        reconcile("first `reconcile`", ("≤ 20 s", Some(20.0)), 1, parse);
    lines.push(line);
    peaks.push(peak);
    let size = store_size(&rt, &dir.join(".mdmkit").join("mdmkit.db"));

    // 3. unchanged
    let (line, _, peak, _) = reconcile(
        "unchanged `reconcile`",
        ("≤ 1.5 s", Some(1.5)),
        repeat,
        parse,
    );
    lines.push(line);
    peaks.push(peak);

    // The other inventory format, same devices: what loading the
    // inventory costs in each (check and the unchanged run, where loading
    // is most of the time).
    let other = match inventory {
        Inventory::Json => Inventory::Toml,
        Inventory::Toml => Inventory::Json,
    };
    let other_tmp = tempfile::tempdir().unwrap();
    let other_dir = other_tmp.path().join("region");
    directory::write_with(&other_dir, &shape, other).unwrap();
    let aside = dir.join(format!("{}.aside", inventory.file_name()));
    std::fs::rename(dir.join(inventory.file_name()), &aside).unwrap();
    std::fs::copy(
        other_dir.join(other.file_name()),
        dir.join(other.file_name()),
    )
    .unwrap();
    let (other_parse, _) = parse_floor(&region_files(&dir), repeat);
    let (other_load, other_load_runs) = load_time(&dir, repeat);
    let (other_check, other_check_runs, run) = median(repeat, || {
        let r = mdmkit(&bin, &args(&["policy", "check"]));
        (r.wall, r)
    });
    lines.push(Line {
        step: format!("`policy check`, with {} instead", other.file_name()),
        wall: format!("{}{}", secs(other_check), spread(&other_check_runs)),
        peak: mib(run.peak_kib),
        what: format!(
            "`load_dir` in the bench's process: {}{}",
            secs(other_load),
            spread(&other_load_runs)
        ),
        floor: format!("parse {}", secs(other_parse)),
        ratio: ratio(other_check, other_parse),
        target: String::new(),
    });
    let (line, _, _, _) = reconcile(
        &format!("unchanged `reconcile`, with {} instead", other.file_name()),
        ("≤ 1.5 s", Some(1.5)),
        repeat,
        other_parse,
    );
    lines.push(line);
    std::fs::remove_file(dir.join(other.file_name())).unwrap();
    std::fs::rename(&aside, dir.join(inventory.file_name())).unwrap();

    // 4-6. the changes
    region.change_root().unwrap();
    let (line, _, peak, _) = reconcile("root change, `reconcile`", ("≤ 3 s", Some(3.0)), 1, parse);
    lines.push(line);
    peaks.push(peak);
    region.change_school().unwrap();
    let (line, _, peak, _) = reconcile(
        &format!(
            "one school ({}, {} devices), `reconcile`",
            region.school, region.school_devices
        ),
        ("≤ 0.5 s", Some(0.5)),
        1,
        parse,
    );
    lines.push(line);
    peaks.push(peak);
    region.change_shared().unwrap();
    let (line, _, peak, _) = reconcile(
        &format!(
            "policy of a quarter of the schools ({}, {} devices), `reconcile`",
            directory::SHARED_CHANGE.0,
            region.shared_devices
        ),
        ("", None),
        1,
        parse,
    );
    lines.push(line);
    peaks.push(peak);

    // 7-8. questions
    for (step, a) in [
        (
            format!(
                "`status --node {}` ({} devices)",
                region.class, region.class_devices
            ),
            vec!["status", "--node", region.class.as_str()],
        ),
        (
            format!(
                "`status --noncompliant --node {}` ({} devices)",
                region.school, region.school_devices
            ),
            vec!["status", "--noncompliant", "--node", region.school.as_str()],
        ),
    ] {
        let (t, times, r) = median(repeat, || {
            let r = mdmkit(&bin, &args(&a));
            (r.wall, r)
        });
        peaks.push(r.peak_kib);
        lines.push(Line {
            step,
            wall: format!("{}{}", secs(t), spread(&times)),
            peak: mib(r.peak_kib),
            what: format!("{} lines printed", r.stdout.lines().count()),
            floor: format!("parse {}", secs(parse)),
            ratio: ratio(t, parse),
            target: String::new(),
        });
    }
    let load_after = load_average();
    let end = store_size(&rt, &dir.join(".mdmkit").join("mdmkit.db"));

    // The report.
    println!();
    println!(
        "## operator path: {} devices, {} nodes, {} policies ({} files, {:.1} MB; written in {})",
        devices,
        region.shape.nodes(),
        region.policies,
        files.len(),
        bytes as f64 / 1e6,
        secs(generated)
    );
    println!(
        "load average: {load_before} before, {load_after} after; repeats of the quick steps: {repeat}"
    );
    println!();
    println!(
        "- read floor (every file of the region): {}{}",
        secs(read),
        spread(&read_runs)
    );
    println!(
        "- parse floor (read, and each TOML or JSON file parsed raw into a toml::Table or a serde_json::Value): {}{}",
        secs(parse),
        spread(&parse_runs)
    );
    println!(
        "- not a floor, where loading goes: `mdmkit::policy::load_dir` in the bench's process \
         (the typed loader every command starts with): {}{}",
        secs(load),
        spread(&load_runs)
    );
    println!();
    println!(
        "| step | wall (median{}) | peak RSS | what it did | floor (same run) | wall / floor | target (issue 19 must 2, at 100,000 devices) |",
        if repeat > 1 { " of the runs" } else { "" }
    );
    println!("|---|---|---|---|---|---|---|");
    for l in &lines {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            l.step, l.wall, l.peak, l.what, l.floor, l.ratio, l.target
        );
    }
    let max_peak = peaks.iter().flatten().max().copied();
    println!();
    println!(
        "peak RSS of any step: {} (target ≤ 500 MB: {})",
        mib(max_peak),
        match max_peak {
            Some(k) if k * 1024 <= 500_000_000 => "met",
            Some(_) => "not met",
            None => "unknown",
        }
    );
    let queue_side: i64 = size
        .tables
        .iter()
        .filter(|(t, _)| {
            matches!(
                t.as_str(),
                "mdmkit_queue"
                    | "mdmkit_commands"
                    | "mdmkit_events"
                    | "mdmkit_queue_enrollments"
                    | "mdmkit_queue_keys"
            )
        })
        .map(|(_, b)| b)
        .sum();
    let rows = size.queue_rows.max(1) as f64;
    println!(
        "store after the first reconcile: {:.1} MB file ({:.0} bytes per queued command in all) \
         and {:.1} MB of WAL; {} queue rows, {} commands ({:.1} MB of payloads, {} distinct), \
         {} events; first reconcile queued {}",
        size.file as f64 / 1e6,
        size.file as f64 / rows,
        size.wal as f64 / 1e6,
        size.queue_rows,
        size.commands,
        size.payload_bytes as f64 / 1e6,
        size.distinct_payloads,
        size.events,
        first.queued
    );
    if !size.tables.is_empty() {
        let beyond = (queue_side - size.payload_bytes) as f64 / rows;
        println!(
            "queue tables (commands, queue, events, interned enrollments and supersede keys, with \
             indexes): {:.1} MB; beyond the payloads: \
             {beyond:.0} bytes per queued command (target ≤ 150: {}); raw floor table: {raw_per_row:.0} bytes per row",
            queue_side as f64 / 1e6,
            if beyond <= 150.0 { "met" } else { "not met" }
        );
        let list: Vec<String> = size
            .tables
            .iter()
            .map(|(t, b)| format!("{t} {:.1} MB", *b as f64 / 1e6))
            .collect();
        println!("tables with their indexes: {}", list.join(", "));
        if let Some((_, q)) = size.tables.iter().find(|(t, _)| t == "mdmkit_queue") {
            println!(
                "mdmkit_queue alone (rows and index): {:.0} bytes per queued command",
                *q as f64 / rows
            );
        }
    }
    println!(
        "store after every step: {:.1} MB file and {:.1} MB of WAL; {} queue rows, {} commands \
         ({:.1} MB of payloads), {} events",
        end.file as f64 / 1e6,
        end.wal as f64 / 1e6,
        end.queue_rows,
        end.commands,
        end.payload_bytes as f64 / 1e6,
        end.events
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
