//! Two `mdmkit serve` processes on one PostgreSQL database serve the same
//! tenant: iPads enroll through one and the other, their requests alternate
//! between the two (a load balancer), and every report is sent to both at
//! once (a retrying proxy). Every command is delivered exactly once, every
//! iPad reaches verified, and an admin token created while both run works
//! on either. Both journal into the same PostgreSQL journal (`--journal`):
//! one chain that `audit verify` accepts, read alike by both admin APIs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use crate::serve_support::{
    SCHOOL, Server, admin_get, assert_verified, fresh_postgres_database, issue, tenant_ca, token,
};
use crate::support::{copy_dir, region};

const IPADS: usize = 4;

#[test]
fn two_processes_on_one_postgres_deliver_each_command_once() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = rt.block_on(fresh_postgres_database("cluster"));
    let store = ["--store", url.as_str()];
    let serve = ["--store", url.as_str(), "--journal", url.as_str()];
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let enroll = token(&dir, SCHOOL, "enroll", &store);
    // The first creates the tenant CA; the second starts once it exists
    // (two first starts at once would each create one).
    let a = Server::start(&dir, &serve);
    let b = Server::start(&dir, &serve);
    let ca = tenant_ca(&dir);
    let ipads: Vec<_> = (0..IPADS)
        .map(|i| std::sync::Arc::new(issue(&ca, &format!("00008101-CLUSTER0000000{i}"))))
        .collect();
    let servers = [a.checkin(), b.checkin()];
    let mdm = [a.mdm(), b.mdm()];

    let delivered: Vec<Vec<String>> = rt.block_on(async {
        let mut tasks = Vec::new();
        for (i, ipad) in ipads.iter().cloned().enumerate() {
            let checkin = format!("{}?enroll={enroll}", servers[i % 2]);
            let mdm = mdm.clone();
            tasks.push(tokio::spawn(async move {
                let c = reqwest::Client::new();
                ipad.enroll(&c, &checkin).await;
                let mut seen = Vec::new();
                let mut next = ipad.send(&c, &mdm[i % 2], "Idle", None).await;
                while let Some((uuid, _)) = next {
                    seen.push(uuid.clone());
                    assert!(seen.len() < 100, "the queue never drains");
                    // The same report to both processes at once: at most
                    // one of them hands out the next command.
                    let (x, y) = tokio::join!(
                        ipad.send(&c, &mdm[0], "Acknowledged", Some(&uuid)),
                        ipad.send(&c, &mdm[1], "Acknowledged", Some(&uuid)),
                    );
                    next = match (x, y) {
                        (Some(x), Some(y)) => {
                            panic!("{} got {} and {} at once", ipad.udid, x.0, y.0)
                        }
                        (x, y) => x.or(y),
                    };
                }
                // Drained on both.
                assert_eq!(ipad.send(&c, &mdm[0], "Idle", None).await, None);
                assert_eq!(ipad.send(&c, &mdm[1], "Idle", None).await, None);
                seen
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.unwrap());
        }
        all
    });

    let mut count = HashMap::new();
    for uuid in delivered.iter().flatten() {
        *count.entry(uuid.clone()).or_insert(0) += 1;
    }
    let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    for (ipad, seen) in ipads.iter().zip(&delivered) {
        assert!(!seen.is_empty(), "{} got nothing", ipad.udid);
        assert_verified(&dir, &ipad.udid, &store);
    }

    // A token created while both run is known to both.
    let read = token(&dir, SCHOOL, "read", &store);
    rt.block_on(async {
        let c = reqwest::Client::new();
        for s in [&a, &b] {
            let (status, v) = admin_get(&c, &s.base, "devices", Some(&read)).await;
            assert_eq!(status, 200, "{v}");
            let n = v["devices"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| ipads.iter().any(|i| d["device"] == i.udid))
                .count();
            assert_eq!(n, IPADS, "{v}");
        }
        // One journal: both show the same entries, every enrollment among
        // them, whichever process wrote it.
        let (status, one) = admin_get(&c, &a.base, "audit?limit=1000", Some(&read)).await;
        assert_eq!(status, 200, "{one}");
        let (_, other) = admin_get(&c, &b.base, "audit?limit=1000", Some(&read)).await;
        assert_eq!(one, other);
        let entries = one["entries"].as_array().unwrap();
        for ipad in &ipads {
            assert!(
                entries.iter().any(|e| e.to_string().contains(&ipad.udid)),
                "{} is not in the journal: {one}",
                ipad.udid
            );
        }
    });
    drop((a, b));
    assert!(
        !mdmkit::audit::journal_path(&dir).exists(),
        "the journal went to PostgreSQL"
    );
    let o = crate::support::mdmkit(&[
        "audit",
        "verify",
        dir.to_str().unwrap(),
        "--store",
        &url,
        "--journal",
        &url,
    ]);
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    assert!(
        crate::support::stdout(&o).contains("holds the state store's head"),
        "{}",
        crate::support::stdout(&o)
    );
}
