//! Concurrency: several nodes (each its own store and connection pool, as
//! separate server processes would be) race over the same enrollments.
//! Batch deliveries never hand the same command out twice; exclusive
//! (Apple) deliveries never have two commands of one enrollment in flight.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cloned_ref_to_slice_refs
)]
#![cfg(any(feature = "sqlite", feature = "postgres"))]

use crate::common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{dev, tenant};
use mdmkit_queue::{
    CommandId, CommandState, DeliverOptions, EnrollmentId, NewCommand, QueueStore, Report,
    ReportStatus,
};

const ENROLLMENTS: usize = 4;
const PER_ENROLLMENT: usize = 40;
const NODES: usize = 6;

type Open = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Box<dyn QueueStore>> + Send>>
        + Send
        + Sync,
>;

async fn race(open: Open, exclusive: bool) {
    let t = tenant("race");
    let devs: Vec<EnrollmentId> = (0..ENROLLMENTS)
        .map(|i| dev(&format!("race-{i}")))
        .collect();
    let setup = open().await;
    for _ in 0..PER_ENROLLMENT {
        setup
            .enqueue(&t, &NewCommand::new("Work", vec![0]), &devs)
            .await
            .unwrap();
    }
    let deliveries: Arc<Mutex<Vec<(CommandId, EnrollmentId)>>> = Arc::default();
    let in_flight: Arc<Mutex<HashMap<EnrollmentId, CommandId>>> = Arc::default();
    let mut tasks = Vec::new();
    for node in 0..NODES {
        let open = open.clone();
        let (t, devs) = (t.clone(), devs.clone());
        let (deliveries, in_flight) = (deliveries.clone(), in_flight.clone());
        tasks.push(tokio::spawn(async move {
            let store = open().await;
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut i = node;
            let mut idle_rounds = 0;
            while Instant::now() < deadline && idle_rounds < 3 * ENROLLMENTS {
                i += 1;
                let e = &devs[i % devs.len()];
                let opts = if exclusive {
                    DeliverOptions::single()
                } else {
                    DeliverOptions::batch(3)
                };
                let got = store.deliver(&t, e, &opts).await.unwrap();
                if got.is_empty() {
                    idle_rounds += 1;
                    tokio::task::yield_now().await;
                    continue;
                }
                idle_rounds = 0;
                for c in &got {
                    deliveries.lock().unwrap().push((c.id, e.clone()));
                    if exclusive {
                        let prev = in_flight.lock().unwrap().insert(e.clone(), c.id);
                        if let Some(prev) = prev {
                            // Another node's command is still marked in
                            // flight: legitimate only if its report already
                            // committed (that node has not yet cleared its
                            // mark). Acknowledged is final, so if the store
                            // still shows it delivered now, it was delivered
                            // when this command was handed out.
                            let state = store
                                .list(&t, e)
                                .await
                                .unwrap()
                                .into_iter()
                                .find(|q| q.id == prev)
                                .map(|q| q.state);
                            assert!(
                                matches!(state, None | Some(CommandState::Acknowledged)),
                                "{e}: {c:?} delivered while {prev} was in flight ({state:?})"
                            );
                        }
                    }
                }
                for c in &got {
                    store
                        .report(&t, e, c.id, &Report::new(ReportStatus::Acknowledged))
                        .await
                        .unwrap();
                    // The mark is cleared only once the report committed, so
                    // the whole time the store holds the command in flight
                    // it is marked here.
                    if exclusive {
                        let mut map = in_flight.lock().unwrap();
                        if map.get(e) == Some(&c.id) {
                            map.remove(e);
                        }
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let d = deliveries.lock().unwrap().clone();
    let unique: HashSet<&(CommandId, EnrollmentId)> = d.iter().collect();
    assert_eq!(unique.len(), d.len(), "a command was delivered twice");
    assert_eq!(
        d.len(),
        ENROLLMENTS * PER_ENROLLMENT,
        "not everything was delivered"
    );
    let counts = setup.counts(&t).await.unwrap();
    assert_eq!(
        counts.get(CommandState::Acknowledged),
        (ENROLLMENTS * PER_ENROLLMENT) as u64
    );
}

#[cfg(feature = "postgres")]
fn postgres_nodes() -> Option<Open> {
    use mdmkit_queue::{PostgresOptions, PostgresStore};
    let url = common::postgres_url()?;
    let schema = common::fresh_schema("race");
    Some(Arc::new(move || {
        let opts = PostgresOptions::new(url.clone())
            .with_schema(schema.clone())
            .with_max_connections(2);
        Box::pin(async move {
            Box::new(PostgresStore::open(opts).await.unwrap()) as Box<dyn QueueStore>
        })
    }))
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_batch_nodes_never_double_deliver() {
    if let Some(open) = postgres_nodes() {
        race(open, false).await;
    }
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_exclusive_nodes_keep_one_command_in_flight() {
    if let Some(open) = postgres_nodes() {
        race(open, true).await;
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_processes_sharing_a_file_never_double_deliver() {
    use mdmkit_queue::{SqliteOptions, SqliteStore};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    let open: Open = Arc::new(move || {
        let opts = SqliteOptions::new(&path).with_max_connections(2);
        Box::pin(
            async move { Box::new(SqliteStore::open(opts).await.unwrap()) as Box<dyn QueueStore> },
        )
    });
    race(open.clone(), false).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_exclusive_processes_keep_one_command_in_flight() {
    use mdmkit_queue::{SqliteOptions, SqliteStore};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    let open: Open = Arc::new(move || {
        let opts = SqliteOptions::new(&path).with_max_connections(2);
        Box::pin(
            async move { Box::new(SqliteStore::open(opts).await.unwrap()) as Box<dyn QueueStore> },
        )
    });
    race(open, true).await;
}
