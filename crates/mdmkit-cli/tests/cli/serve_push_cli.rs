//! `mdmkit serve` wakes devices: a push certificate stored with
//! `mdmkit push-cert set`, three simulated iPads enrolled over HTTP (two at
//! one school, one at another), a Windows PC at the school that reports
//! its WNS channel, and the APNs emulator (HTTP/2 over TLS) and WNS
//! emulator started by this test. A policy change at the school,
//! reconciled through the admin API, pushes exactly that school's iPads
//! and PC; they check in and receive the new settings. `mdmkit status` summarises the pushes; a
//! certificate of another topic is refused, saying how many devices it
//! would strand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::Engine as _;
use mdmkit::apple::apns::emulator::{ApnsEmulator, test_push_certificate};
use mdmkit::windows::wns::emulator::WnsEmulator;

use crate::serve_support::{Ipad, SCHOOL, Server, TENANT, issue, plist, put, tenant_ca};
use crate::support::{copy_dir, mdmkit, region, stderr, stdout};

const TOPIC: &str = "com.apple.mgmt.External.c0ffee00-0000-4000-8000-00000000cafe";
const NEIGHBOUR: &str = "ecole-jean-jaures";

fn token_update(ipad: &Ipad, token: &[u8]) -> String {
    plist(&format!(
        "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{}</string>\
         <key>Topic</key><string>{TOPIC}</string><key>Token</key><data>{}</data>\
         <key>PushMagic</key><string>magic-{}</string>",
        ipad.udid,
        base64::engine::general_purpose::STANDARD.encode(token),
        ipad.udid
    ))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Idle, then acknowledge every command; the request types received.
async fn drain(c: &reqwest::Client, mdm: &str, ipad: &Ipad) -> Vec<String> {
    let mut kinds = Vec::new();
    let mut next = ipad.send(c, mdm, "Idle", None).await;
    while let Some((uuid, kind)) = next {
        kinds.push(kind);
        assert!(kinds.len() < 100, "the queue never drains");
        next = ipad.send(c, mdm, "Acknowledged", Some(&uuid)).await;
    }
    kinds
}

#[test]
fn a_policy_change_at_a_school_wakes_its_ipads_and_pc_through_the_emulators() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let d = dir.to_str().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let emu = rt.block_on(ApnsEmulator::start()).unwrap();
    let wns = rt.block_on(WnsEmulator::start()).unwrap();
    let secret = tmp.path().join("wns.secret");
    std::fs::write(&secret, WnsEmulator::CLIENT_SECRET).unwrap();
    let ca_file = tmp.path().join("apns-ca.pem");
    std::fs::write(&ca_file, emu.root_pem()).unwrap();
    let cert = test_push_certificate(TOPIC, 20);
    let (cert_file, key_file) = (tmp.path().join("push.pem"), tmp.path().join("push.key"));
    std::fs::write(&cert_file, &cert.cert_pem).unwrap();
    std::fs::write(&key_file, &cert.key_pem).unwrap();
    let (c, k) = (cert_file.to_str().unwrap(), key_file.to_str().unwrap());

    // A key that is not the certificate's is refused.
    let other = test_push_certificate(TOPIC, 20);
    let other_key = tmp.path().join("other.key");
    std::fs::write(&other_key, &other.key_pem).unwrap();
    let o = mdmkit(&[
        "push-cert",
        "set",
        d,
        "--cert",
        c,
        "--key",
        other_key.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("does not belong"), "{}", stderr(&o));
    let o = mdmkit(&["push-cert", "set", d, "--cert", c, "--key", k]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(TOPIC), "{}", stdout(&o));

    let enroll_school = crate::serve_support::token(&dir, SCHOOL, "enroll", &[]);
    let enroll_neighbour = crate::serve_support::token(&dir, NEIGHBOUR, "enroll", &[]);
    let operate = crate::serve_support::token(&dir, TENANT, "operate", &[]);
    let pc_token = crate::serve_windows_cli::challenge(&dir, SCHOOL, &[]);
    let wns_token_url = format!("{}/token", wns.url());
    let apns_url = emu.url();
    let server = Server::start(
        &dir,
        &[
            "--apns",
            &apns_url,
            "--apns-ca",
            ca_file.to_str().unwrap(),
            "--push-every",
            "200ms",
            "--push-interval",
            "0s",
            "--trusted-proxy",
            "127.0.0.1",
            "--wns-client-id",
            WnsEmulator::CLIENT_ID,
            "--wns-secret-file",
            secret.to_str().unwrap(),
            "--wns-token-url",
            &wns_token_url,
            "--wns-channel-host",
            "127.0.0.1",
        ],
    );
    let ca = tenant_ca(&dir);
    let ipads = [
        (issue(&ca, "00008101-PUSHSIM000000A"), SCHOOL, [0xa1u8; 8]),
        (issue(&ca, "00008101-PUSHSIM000000B"), SCHOOL, [0xb2u8; 8]),
        (
            issue(&ca, "00008101-PUSHSIM000000C"),
            NEIGHBOUR,
            [0xc3u8; 8],
        ),
    ];
    let base = server.base.clone();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let mdm = format!("{base}/{TENANT}/apple/mdm");
        for (ipad, node, token) in &ipads {
            let bearer = if *node == SCHOOL {
                &enroll_school
            } else {
                &enroll_neighbour
            };
            let checkin = format!("{base}/{TENANT}/apple/checkin?enroll={bearer}");
            let (s, _) = put(&http, &checkin, ipad.authenticate(), Some(ipad)).await;
            assert_eq!(s, 200);
            let (s, _) = put(&http, &checkin, token_update(ipad, token), Some(ipad)).await;
            assert_eq!(s, 200);
            assert!(!drain(&http, &mdm, ipad).await.is_empty());
        }
        assert!(emu.pushes().is_empty());

        // A PC at the school, whose DMClient registered a WNS channel.
        let mut pc = crate::serve_windows_cli::Pc::new("PC-JULES-FERRY-WNS");
        pc.enroll(&http, &base, TENANT, &pc_token).await;
        pc.device.set_node(
            &mdmkit::windows::wns::channel_uri_node("mdmkit"),
            &wns.channel_uri("pc-jf"),
        );
        let url = pc.device.provisioning().unwrap().server_url.clone();
        let open = pc.device.open_session(&url);
        pc.finish(&http, &base, open).await;
        assert!(wns.notified().is_empty());

        // The school's policy changes; an operator reconciles the school.
        let policy = dir.join("policies/ecole-jules-ferry.toml");
        let text = std::fs::read_to_string(&policy).unwrap();
        std::fs::write(
            &policy,
            text.replace("auto_lock_minutes = 2", "auto_lock_minutes = 3"),
        )
        .unwrap();
        let r = http
            .post(format!("{base}/{TENANT}/admin/v1/reconcile"))
            .bearer_auth(&operate)
            .header("content-type", "application/json")
            .body(format!("{{\"node\": \"{SCHOOL}\"}}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

        let pushes = emu.wait_for_pushes(2, Duration::from_secs(20)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let pushes_now = emu.pushes();
        assert_eq!(pushes_now.len(), 2, "{pushes:?}");
        let mut tokens: Vec<String> = pushes_now.iter().map(|p| p.token.clone()).collect();
        tokens.sort();
        assert_eq!(tokens, [hex(&[0xa1; 8]), hex(&[0xb2; 8])]);
        assert!(pushes_now.iter().all(|p| p.status == 200
            && p.topic.as_deref() == Some(TOPIC)
            && p.push_type.as_deref() == Some("mdm")));

        // Woken, the school's iPads check in and get the new passcode
        // profile; the neighbour has nothing.
        for (ipad, _, _) in &ipads[..2] {
            let got = drain(&http, &mdm, ipad).await;
            assert!(got.iter().any(|k| k == "InstallProfile"), "{got:?}");
        }
        assert!(drain(&http, &mdm, &ipads[2].0).await.is_empty());

        // The PC was woken through WNS, and its next session brings the
        // new setting.
        for _ in 0..100 {
            if !wns.notified().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let n = wns.notified();
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!((n[0].channel.as_str(), n[0].status), ("pc-jf", 200));
        // Woken, the PC opens a session and is sent the school's new
        // passcode setting (answered: no longer pending).
        let open = pc.device.open_session(&url);
        pc.finish(&http, &base, open).await;
        let st: serde_json::Value = serde_json::from_str(
            &http
                .get(format!(
                    "{base}/{TENANT}/admin/v1/devices/PC-JULES-FERRY-WNS"
                ))
                .bearer_auth(&operate)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
        .unwrap();
        let passcode = st["status"]["categories"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["category"] == "passcode")
            .unwrap()
            .clone();
        assert_ne!(passcode["state"], "pending", "{passcode}");
        assert!(
            !passcode["commands"].as_array().unwrap().is_empty(),
            "{passcode}"
        );
    });

    let o = mdmkit(&["status", d]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("push certificate: topic {TOPIC}")),
        "{out}"
    );
    assert!(out.contains("EXPIRING within 30 days"), "{out}");
    assert!(
        out.contains("3 Apple devices (0 stranded), 1 Windows channels"),
        "{out}"
    );
    assert!(
        out.contains("3 pushed, 0 awaiting check-in, 0 flagged"),
        "{out}"
    );
    let o = mdmkit(&["status", d, "--expiring", "30d"]);
    assert!(stdout(&o).contains("push certificate"), "{}", stdout(&o));

    // A certificate of another topic would strand all three.
    let renamed = test_push_certificate("com.apple.mgmt.External.other", 365);
    std::fs::write(&cert_file, &renamed.cert_pem).unwrap();
    std::fs::write(&key_file, &renamed.key_pem).unwrap();
    let o = mdmkit(&["push-cert", "set", d, "--cert", c, "--key", k]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("3 enrolled device(s)"),
        "{}",
        stderr(&o)
    );
    let o = mdmkit(&["push-cert", "show", d, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["certificate"]["topic"], TOPIC);
    drop(server);
    drop(emu);
    drop(wns);
}
