//! `mdmkit serve` over real HTTP on a loopback port: a simulated iPad
//! enrolls into a school of the example region with a certificate of the
//! tenant's CA (its messages signed with `Mdm-Signature`), receives and
//! acknowledges that school's policy, and shows as compliant in
//! `mdmkit status`; bad input never gets a 401 or a 500; admin tokens see
//! their node only; SIGTERM stops the server cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use mdmkit::DeviceId;
use mdmkit::apple::{Limits, SigningIdentity};
use mdmkit::identity::{CaBuilder, CaDir, CertificateRequest, IssueRequest, KeyAlgorithm};

use crate::support::{copy_dir, mdmkit, region, stdout};

const TENANT: &str = "academie-hauts-de-lys";
const SCHOOL: &str = "ecole-jules-ferry";

/// A running `mdmkit serve`, killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdmkit"))
        .args([
            "serve",
            dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            // Small enough that the oversized request below is written
            // whole before the server answers 413.
            "--body-limit",
            "65536",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{line:?}");
    Server { child, base }
}

/// A simulated iPad: a key, a certificate of the tenant CA naming its
/// UDID, and the signing identity for `Mdm-Signature`.
struct Ipad {
    udid: String,
    signer: SigningIdentity,
}

fn issue(ca: &mdmkit::identity::TenantCa, udid: &str) -> Ipad {
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    let csr = CertificateRequest::parse(csr.as_bytes()).unwrap();
    let cert = ca
        .issue(&csr, &IssueRequest::new(DeviceId::new(udid).unwrap()))
        .unwrap();
    let signer =
        SigningIdentity::from_pem(cert.pem.as_bytes(), key.serialize_pem().as_bytes()).unwrap();
    Ipad {
        udid: udid.to_owned(),
        signer,
    }
}

fn plist(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\"><dict>{body}</dict></plist>\n"
    )
}

impl Ipad {
    fn authenticate(&self) -> String {
        plist(&format!(
            "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{}</string>\
             <key>Topic</key><string>com.apple.mgmt.External.test</string>\
             <key>SerialNumber</key><string>SIM{}</string><key>Model</key><string>iPad13,1</string>\
             <key>ModelName</key><string>iPad</string><key>OSVersion</key><string>17.5</string>\
             <key>ProductName</key><string>iPad13,1</string><key>DeviceName</key><string>iPad sim</string>",
            self.udid,
            &self.udid[..6]
        ))
    }

    fn token_update(&self) -> String {
        plist(&format!(
            "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{}</string>\
             <key>Topic</key><string>com.apple.mgmt.External.test</string>\
             <key>Token</key><data>AAECAwQFBgc=</data><key>PushMagic</key><string>magic-1</string>",
            self.udid
        ))
    }

    fn report(&self, status: &str, uuid: Option<&str>) -> String {
        let uuid = uuid
            .map(|u| format!("<key>CommandUUID</key><string>{u}</string>"))
            .unwrap_or_default();
        plist(&format!(
            "<key>UDID</key><string>{}</string><key>Status</key><string>{status}</string>{uuid}",
            self.udid
        ))
    }

    fn signature(&self, body: &[u8]) -> String {
        let der = mdmkit::apple::cms::sign_detached(body, &self.signer).unwrap();
        base64::engine::general_purpose::STANDARD.encode(der)
    }
}

async fn put(
    client: &reqwest::Client,
    url: &str,
    body: String,
    signer: Option<&Ipad>,
) -> (u16, Vec<u8>) {
    let mut req = client.put(url).body(body.clone());
    if let Some(d) = signer {
        req = req.header("Mdm-Signature", d.signature(body.as_bytes()));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap().to_vec())
}

fn token(dir: &Path, node: &str, role: &str) -> String {
    let o = mdmkit(&[
        "admin",
        "token",
        "create",
        dir.to_str().unwrap(),
        "--node",
        node,
        "--role",
        role,
        "--json",
    ]);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    v["token"].as_str().unwrap().to_owned()
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
    let ca = CaDir::new(dir.join(".mdmkit/ca")).load_ca().unwrap();
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
        let big = "x".repeat(128 * 1024);
        match c
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
            Some(neighbour_read),
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
        // The lock was queued by a region token: the school does not see
        // that admin action, the region does.
        assert!(
            !entries.iter().any(|e| e["event"]["type"] == "admin_action"),
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
    let o = mdmkit(&["status", dir.to_str().unwrap(), "--node", SCHOOL, "--json"]);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let text = v.to_string();
    assert!(text.contains(&ipad.udid), "{text}");
    let dev = find_device(&v, &ipad.udid).expect("the iPad in status");
    assert_eq!(dev["node"], SCHOOL);
    let cats = dev["categories"].as_array().unwrap();
    assert!(!cats.is_empty());
    assert!(cats.iter().any(|c| c["state"] == "verified"), "{dev}");
    assert!(
        cats.iter()
            .all(|c| c["state"] == "verified" || c["state"] == "unsupported"),
        "{dev}"
    );

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
}

async fn get(
    c: &reqwest::Client,
    base: &str,
    path: String,
    token: Option<String>,
) -> (u16, serde_json::Value) {
    let mut r = c.get(format!("{base}/{TENANT}/admin/v1/{path}"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let s = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    (s, serde_json::from_slice(&bytes).unwrap_or_default())
}

fn find_device<'a>(v: &'a serde_json::Value, udid: &str) -> Option<&'a serde_json::Value> {
    let list = v.as_array().or_else(|| v["devices"].as_array())?;
    list.iter().find(|d| d["device"] == udid)
}
