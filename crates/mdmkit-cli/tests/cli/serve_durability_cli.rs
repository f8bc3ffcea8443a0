//! `kill -9` of `mdmkit serve` between a delivery and its report loses
//! nothing, on the embedded SQLite store and on PostgreSQL: a command
//! delivered before the kill is still answerable after the restart (and
//! not delivered again once answered); a command whose answer the device
//! lost is delivered again, the same UUID, after `Idle`; a command queued
//! through the admin API just before the kill is delivered after it; the
//! device ends verified and the audit journal still verifies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::Path;

use crate::serve_support::{SCHOOL, Server, TENANT, assert_verified, issue, tenant_ca, token};
use crate::support::{copy_dir, mdmkit, region};

#[test]
fn kill_9_between_delivery_and_report_loses_nothing_on_sqlite() {
    kill_9_loses_nothing(&[]);
}

#[test]
fn kill_9_between_delivery_and_report_loses_nothing_on_postgres() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = rt.block_on(crate::serve_support::fresh_postgres_database("kill9"));
    kill_9_loses_nothing(&["--store", &url]);
}

fn kill_9_loses_nothing(store: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let enroll = token(&dir, SCHOOL, "enroll", store);
    let operate = token(&dir, SCHOOL, "operate", store);
    let start = |dir: &Path| Server::start(dir, store);

    let server = start(&dir);
    let ipad = issue(&tenant_ca(&dir), "00008101-DURABLE00000001");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        ipad.enroll(&c, &format!("{}?enroll={enroll}", server.checkin()))
            .await;
        let (first, _) = ipad
            .send(&c, &server.mdm(), "Idle", None)
            .await
            .expect("the school's policy is queued");

        // Killed after delivering `first`, before its report.
        server.kill_9();
        let server = start(&dir);
        let c = reqwest::Client::new();
        let mut delivered = vec![first.clone()];
        let (second, _) = ipad
            .send(&c, &server.mdm(), "Acknowledged", Some(&first))
            .await
            .expect("more than one command for the school");
        assert_ne!(second, first, "an answered command came back");
        delivered.push(second.clone());

        // Killed after delivering `second`; the device lost the answer and
        // says Idle: `second` comes again, nothing is lost.
        server.kill_9();
        let server = start(&dir);
        let c = reqwest::Client::new();
        let (again, _) = ipad
            .send(&c, &server.mdm(), "Idle", None)
            .await
            .expect("the lost command is delivered again");
        assert_eq!(again, second);
        drain(&ipad, &c, &server.mdm(), again, &mut delivered).await;
        let unique: HashSet<_> = delivered.iter().collect();
        assert_eq!(unique.len(), delivered.len(), "{delivered:?}");

        // A command queued by an admin just before a kill is delivered
        // after it.
        let r = c
            .post(format!(
                "{}/{TENANT}/admin/v1/devices/{}/commands",
                server.base, ipad.udid
            ))
            .bearer_auth(&operate)
            .body(r#"{"kind":"DeviceLock","message":"lost"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
        server.kill_9();
        let server = start(&dir);
        let c = reqwest::Client::new();
        let (lock, kind) = ipad
            .send(&c, &server.mdm(), "Idle", None)
            .await
            .expect("the queued lock survived");
        assert_eq!(kind, "DeviceLock");
        assert_eq!(
            ipad.send(&c, &server.mdm(), "Acknowledged", Some(&lock))
                .await,
            None
        );
        server.kill_9();
    });

    assert_verified(&dir, &ipad.udid, store);
    // The journal, cut by three kills, still verifies.
    let o = mdmkit(&["audit", "verify", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{o:?}");
}

/// Acknowledges `uuid` and every command after it until the queue is
/// empty, recording what was delivered.
async fn drain(
    ipad: &crate::serve_support::Ipad,
    c: &reqwest::Client,
    mdm: &str,
    mut uuid: String,
    delivered: &mut Vec<String>,
) {
    while let Some((next, _)) = ipad.send(c, mdm, "Acknowledged", Some(&uuid)).await {
        delivered.push(next.clone());
        assert!(delivered.len() < 100, "the queue never drains");
        uuid = next;
    }
}
