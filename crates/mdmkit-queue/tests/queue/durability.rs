//! Durability: a child process enqueuing, delivering and acknowledging in a
//! loop is killed with SIGKILL at random moments, many times. After every
//! kill the store must still hold every command whose enqueue returned and
//! every acknowledgement whose report returned, and nothing may be in an
//! impossible state.
//!
//! The child is this test binary run again with `--ignored --exact
//! durability_worker` and the store location in `MDMKIT_DURABILITY_WORKER`;
//! it prints one line per call that returned.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cloned_ref_to_slice_refs
)]
#![cfg(any(feature = "sqlite", feature = "postgres"))]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{dev, tenant};
use mdmkit_queue::{
    AnyStore, CommandId, CommandState, EnrollmentId, NewCommand, QueueStore, Reason, Report,
    ReportStatus, StoreLocation,
};

const WORKER_ENV: &str = "MDMKIT_DURABILITY_WORKER";

fn devices() -> Vec<EnrollmentId> {
    (0..3).map(|i| dev(&format!("dev-{i}"))).collect()
}

/// The child: loops until killed.
#[test]
#[ignore = "the child process of the durability tests; runs only when they start it"]
fn durability_worker() {
    let Ok(location) = std::env::var(WORKER_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = AnyStore::open(&StoreLocation::parse(&location).unwrap())
            .await
            .unwrap();
        let t = tenant("durable");
        let devs = devices();
        let mut i = 0u64;
        loop {
            i += 1;
            let targets: Vec<EnrollmentId> = if i.is_multiple_of(5) {
                devs.clone()
            } else {
                vec![devs[(i % 3) as usize].clone()]
            };
            let c = NewCommand::new("Work", i.to_le_bytes().to_vec());
            let q = store.enqueue(&t, &c, &targets).await.unwrap();
            for e in &targets {
                println!("OK enqueue {} {}", q.id, e);
            }
            let e = &devs[(i % 3) as usize];
            if let Some(d) = store.next(&t, e).await.unwrap() {
                println!("OK deliver {} {} {}", d.id, e, d.attempt);
                let status = if i.is_multiple_of(7) {
                    ReportStatus::NotNow
                } else {
                    ReportStatus::Acknowledged
                };
                store
                    .report(&t, e, d.id, &Report::new(status))
                    .await
                    .unwrap();
                if status == ReportStatus::Acknowledged {
                    println!("OK ack {} {}", d.id, e);
                } else {
                    store.idle(&t, e).await.unwrap();
                }
            } else {
                // Something is in flight from before a kill: say Idle.
                store.idle(&t, e).await.unwrap();
            }
        }
    });
}

/// A small xorshift generator: kill times only need to be spread.
struct Rng(u64);
impl Rng {
    fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("durability seed {seed}");
        Rng(seed)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[derive(Default)]
struct Seen {
    enqueued: BTreeSet<(CommandId, String)>,
    delivered: BTreeMap<(CommandId, String), u32>,
    acked: BTreeSet<(CommandId, String)>,
}

fn parse_line(line: &str, seen: &mut Seen) {
    let f: Vec<&str> = line.split_whitespace().collect();
    match f.as_slice() {
        ["OK", "enqueue", id, e] => {
            seen.enqueued.insert((id.parse().unwrap(), e.to_string()));
        }
        ["OK", "deliver", id, e, n] => {
            let k = (id.parse().unwrap(), e.to_string());
            let n: u32 = n.parse().unwrap();
            let v = seen.delivered.entry(k).or_insert(0);
            *v = (*v).max(n);
        }
        ["OK", "ack", id, e] => {
            seen.acked.insert((id.parse().unwrap(), e.to_string()));
        }
        _ => {}
    }
}

async fn check(location: &str, seen: &Seen) -> usize {
    let store = AnyStore::open(&StoreLocation::parse(location).unwrap())
        .await
        .unwrap();
    let t = tenant("durable");
    let mut rows = 0;
    let mut states: BTreeMap<(CommandId, String), (CommandState, u32)> = BTreeMap::new();
    for e in devices() {
        let list = store.list(&t, &e).await.unwrap();
        let hist = store.history(&t, &e, None).await.unwrap();
        for q in &list {
            assert_eq!(
                q.state == CommandState::Delivered,
                q.lease_until.is_some(),
                "impossible lease on {}",
                q.id
            );
            if matches!(q.state, CommandState::Acknowledged | CommandState::NotNow) {
                assert!(q.attempts > 0, "{} answered but never delivered", q.id);
            }
            let last = hist.iter().rev().find(|h| h.command == q.id).unwrap();
            assert_eq!(
                last.to, q.state,
                "history of {} disagrees with its row",
                q.id
            );
            states.insert((q.id, e.to_string()), (q.state, q.attempts));
        }
        for h in &hist {
            if h.to == CommandState::Acknowledged {
                assert_eq!(h.reason, Reason::Reported);
            }
        }
        rows += list.len();
    }
    for k in &seen.enqueued {
        assert!(states.contains_key(k), "enqueued command {k:?} was lost");
    }
    for k in &seen.acked {
        assert_eq!(
            states.get(k).map(|s| s.0),
            Some(CommandState::Acknowledged),
            "acknowledgement of {k:?} was lost"
        );
    }
    for (k, n) in &seen.delivered {
        let (_, attempts) = states.get(k).unwrap();
        assert!(attempts >= n, "delivery {n} of {k:?} was lost");
    }
    rows
}

fn kill_loop(location: &str, rounds: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rng = Rng::new();
    let mut seen = Seen::default();
    let started = Instant::now();
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "durability::durability_worker",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WORKER_ENV, location)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        // Let it open the store first in most rounds; kill during the open
        // in some.
        let wait = if round % 4 == 3 {
            rng.below(60)
        } else {
            150 + rng.below(500)
        };
        std::thread::sleep(Duration::from_millis(wait));
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        assert!(!status.success(), "the worker exited by itself: {status}");
        reader.join().unwrap();
        // A line cut by the kill has no newline and was not yielded whole
        // only if it is the last; partial lines fail to parse and are
        // ignored, which is safe (they claim nothing).
        for l in lines.lock().unwrap().iter() {
            parse_line(l, &mut seen);
        }
        rt.block_on(check(location, &seen));
    }
    let rows = rt.block_on(check(location, &seen));
    eprintln!(
        "durability: {rounds} kills in {:?}; {} enqueues, {} acks seen, {rows} rows",
        started.elapsed(),
        seen.enqueued.len(),
        seen.acked.len()
    );
    assert!(
        !seen.acked.is_empty(),
        "the worker never got to acknowledge anything"
    );
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_keeps_every_returned_call_across_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let location = format!("sqlite:{}", dir.path().join("durable.db").display());
    kill_loop(&location, 30);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_keeps_every_returned_call_across_sigkills() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    // A fresh schema for this run, passed to the child in the URL.
    let schema = common::fresh_schema("durable");
    let sep = if url.contains('?') { '&' } else { '?' };
    let location = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use mdmkit_queue::{PostgresOptions, PostgresStore};
        PostgresStore::open(PostgresOptions::new(url.clone()).with_schema(schema.clone()))
            .await
            .unwrap()
            .close()
            .await;
    });
    kill_loop(&location, 20);
}
