//! `mdmkit serve` over real HTTP on a loopback port: a simulated iPad
//! enrolls into a school of the example region with a certificate of the
//! tenant's CA (its messages signed with `Mdm-Signature`), receives and
//! acknowledges that school's policy, and shows as compliant in
//! `mdmkit status`; bad input never gets a 401 or a 500; admin tokens see
//! their node only; SIGTERM stops the server cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use mdmkit::apple::Limits;
use mdmkit::identity::{CaBuilder, KeyAlgorithm};

use crate::serve_support::{
    Ipad, SCHOOL, Server, TENANT, admin_get, assert_verified, issue, plist, put, tenant_ca,
};
use crate::support::{copy_dir, region};

fn token(dir: &Path, node: &str, role: &str) -> String {
    crate::serve_support::token(dir, node, role, &[])
}

fn serve(dir: &Path) -> Server {
    // Small enough that the oversized request below is written whole
    // before the server answers 413.
    Server::start(dir, &["--body-limit", "65536"])
}

#[test]
fn an_ipad_enrolls_into_a_school_over_http_and_is_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let enroll = token(&dir, SCHOOL, "enroll");
    let school_read = token(&dir, SCHOOL, "read");
    let neighbour_read = token(&dir, "ecole-jean-jaures", "read");
    let region_operate = token(&dir, TENANT, "operate");
    let server = serve(&dir);
    let ca = tenant_ca(&dir);
    let ipad = issue(&ca, "00008101-SIMULATED0000001");
    let base = server.base.clone();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let checkin = format!("{base}/{TENANT}/apple/checkin?enroll={enroll}");
        let mdm = format!("{base}/{TENANT}/apple/mdm");
        assert_eq!(
            c.get(format!("{base}/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );

        // Enrollment.
        let (s, _) = put(&c, &checkin, ipad.authenticate(), Some(&ipad)).await;
        assert_eq!(s, 200);
        let (s, _) = put(&c, &checkin, ipad.token_update(), Some(&ipad)).await;
        assert_eq!(s, 200);

        // The command channel: the school's policy, acknowledged.
        let mut answered = 0;
        let (mut s, mut body) = put(&c, &mdm, ipad.report("Idle", None), Some(&ipad)).await;
        while !body.is_empty() {
            assert_eq!(s, 200);
            let cmd = mdmkit::apple::Command::from_bytes(&body, &Limits::DEFAULT).unwrap();
            answered += 1;
            assert!(answered < 100, "the queue never drains");
            (s, body) = put(
                &c,
                &mdm,
                ipad.report("Acknowledged", Some(cmd.uuid.as_str())),
                Some(&ipad),
            )
            .await;
        }
        assert_eq!(s, 200);
        assert!(answered > 0, "no command was delivered");

        // The device's own bad input: 400 or 413, never 401 or 500.
        let other_ca = CaBuilder::new(mdmkit::TenantId::new("elsewhere").unwrap())
            .algorithm(KeyAlgorithm::P256)
            .build()
            .unwrap();
        let stranger = issue(&other_ca, "00008101-SIMULATED0000001");
        let impostor = issue(&ca, "00008101-SIMULATED0000002");
        let cases: Vec<(String, Option<&Ipad>, u16)> = vec![
            (ipad.report("Idle", None), None, 400),
            (ipad.report("Idle", None), Some(&stranger), 400),
            (ipad.report("Idle", None), Some(&impostor), 400),
            ("<plist><dict>".into(), Some(&ipad), 400),
            (plist("<key>UDID</key><string>x</string>"), Some(&ipad), 400),
        ];
        for (i, (body, signer, want)) in cases.into_iter().enumerate() {
            let (s, _) = put(&c, &mdm, body, signer).await;
            assert_eq!(s, want, "case {i}");
        }
        // Oversized: a 413, or the connection closed after the 413 while the
        // client was still writing (hyper does not drain a refused body);
        // never anything else.
        // A client of its own: the server closes that connection, and a
        // pooled client could pick the dead connection for the next request.
        let big = "x".repeat(128 * 1024);
        match reqwest::Client::new()
            .put(&mdm)
            .header("Mdm-Signature", ipad.signature(big.as_bytes()))
            .body(big)
            .send()
            .await
        {
            Ok(r) => assert_eq!(r.status(), 413),
            Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
        }
        let bad_sig = c
            .put(&mdm)
            .header("Mdm-Signature", "bm90IGEgc2lnbmF0dXJl")
            .body(ipad.report("Idle", None))
            .send()
            .await
            .unwrap();
        assert_eq!(bad_sig.status(), 400);
        // Still serving, and the device still works.
        let (s, body) = put(&c, &mdm, ipad.report("Idle", None), Some(&ipad)).await;
        assert_eq!((s, body.len()), (200, 0));

        // Admin tokens: the school sees its iPad, the neighbour does not.
        let (s, v) = get(&c, &base, "devices".into(), Some(school_read.clone())).await;
        assert_eq!(s, 200);
        let devices = v["devices"].as_array().unwrap();
        assert!(devices.iter().any(|d| d["device"] == ipad.udid), "{v}");
        let (s, _) = get(
            &c,
            &base,
            format!("devices/{}", ipad.udid),
            Some(school_read.clone()),
        )
        .await;
        assert_eq!(s, 200);
        let (s, _) = get(
            &c,
            &base,
            format!("devices/{}", ipad.udid),
            Some(neighbour_read.clone()),
        )
        .await;
        assert_eq!(s, 404);
        let (s, v) = get(&c, &base, "devices".into(), Some(neighbour_read.clone())).await;
        assert_eq!(s, 200);
        assert!(
            !v["devices"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["device"] == ipad.udid)
        );
        let (s, _) = get(
            &c,
            &base,
            format!("devices?node={SCHOOL}"),
            Some(neighbour_read.clone()),
        )
        .await;
        assert_eq!(s, 404);
        let (s, _) = get(&c, &base, "devices".into(), None).await;
        assert_eq!(s, 401);
        let (s, _) = get(&c, &base, "devices".into(), Some(enroll.clone())).await;
        assert_eq!(s, 403);
        // A read token cannot queue; an operate token can, and it is journaled.
        let lock = c
            .post(format!(
                "{base}/{TENANT}/admin/v1/devices/{}/commands",
                ipad.udid
            ))
            .bearer_auth(&school_read)
            .body(r#"{"kind":"DeviceLock"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(lock.status(), 403);
        let lock = c
            .post(format!(
                "{base}/{TENANT}/admin/v1/devices/{}/commands",
                ipad.udid
            ))
            .bearer_auth(&region_operate)
            .body(r#"{"kind":"DeviceLock","message":"lost"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(lock.status(), 200);
        let (s, body) = put(&c, &mdm, ipad.report("Idle", None), Some(&ipad)).await;
        assert_eq!(s, 200);
        let cmd = mdmkit::apple::Command::from_bytes(&body, &Limits::DEFAULT).unwrap();
        assert_eq!(cmd.request_type, "DeviceLock");
        let (s, v) = get(&c, &base, "audit".into(), Some(school_read.clone())).await;
        assert_eq!(s, 200);
        let entries = v["entries"].as_array().unwrap();
        assert!(
            entries
                .iter()
                .any(|e| e["event"]["type"] == "device_enrolled"),
            "{v}"
        );
        // The lock was queued by a region token on the school's iPad: the
        // school sees that admin action, the neighbouring school does not.
        let lock_action = |e: &serde_json::Value| {
            e["event"]["type"] == "admin_action" && e["event"]["target"] == ipad.udid.as_str()
        };
        assert!(entries.iter().any(lock_action), "{v}");
        let (s, v) = get(&c, &base, "audit".into(), Some(neighbour_read.clone())).await;
        assert_eq!(s, 200);
        assert!(
            !v["entries"].as_array().unwrap().iter().any(lock_action),
            "{v}"
        );
        let (s, v) = get(&c, &base, "audit".into(), Some(region_operate.clone())).await;
        assert_eq!(s, 200);
        let entries = v["entries"].as_array().unwrap();
        assert!(
            entries.iter().any(|e| e["event"]["type"] == "admin_action"),
            "{v}"
        );
    });

    // `mdmkit status` (another process, same store) shows it compliant.
    assert_verified(&dir, &ipad.udid, &[]);

    // SIGTERM: a clean stop.
    let mut server = server;
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // The stop signed the journal's tail and recorded it in the store: the
    // journal verifies with nothing unsigned, holding the store's head.
    let o = crate::support::mdmkit(&["audit", "verify", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    let out = crate::support::stdout(&o);
    assert!(out.contains("unsigned tail 0"), "{out}");
    assert!(out.contains("holds the state store's head"), "{out}");
}

async fn get(
    c: &reqwest::Client,
    base: &str,
    path: String,
    token: Option<String>,
) -> (u16, serde_json::Value) {
    admin_get(c, base, &path, token.as_deref()).await
}

/// After `CheckOut`, the device has left the inventory: an admin command
/// for it is a 404 (it would wait forever, the device fetches nothing any
/// more), and its own requests are 400s until it authenticates again.
#[test]
fn a_checked_out_device_gets_no_admin_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let enroll = token(&dir, SCHOOL, "enroll");
    let operate = token(&dir, SCHOOL, "operate");
    let server = serve(&dir);
    let ipad = issue(&tenant_ca(&dir), "00008101-CHECKOUT00000001");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        ipad.enroll(&c, &format!("{}?enroll={enroll}", server.checkin()))
            .await;
        let lock = || {
            c.post(format!(
                "{}/{TENANT}/admin/v1/devices/{}/commands",
                server.base, ipad.udid
            ))
            .bearer_auth(&operate)
            .body(r#"{"kind":"DeviceLock"}"#)
            .send()
        };
        assert_eq!(lock().await.unwrap().status(), 200);
        let checkout = plist(&format!(
            "<key>MessageType</key><string>CheckOut</string><key>UDID</key><string>{}</string>\
             <key>Topic</key><string>com.apple.mgmt.External.test</string>",
            ipad.udid
        ));
        let (s, _) = put(&c, &server.checkin(), checkout, Some(&ipad)).await;
        assert_eq!(s, 200);
        assert_eq!(lock().await.unwrap().status(), 404);
        let (s, _) = put(&c, &server.mdm(), ipad.report("Idle", None), Some(&ipad)).await;
        assert_eq!(s, 400);
    });
}
