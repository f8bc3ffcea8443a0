//! SCEP on `mdmkit serve`, with Debian's `scepclient` (micromdm's, an
//! independent client) as the device: a one-time challenge for a school
//! enrolls once; a replayed or wrong challenge is refused with a SCEP
//! FAILURE, never an HTTP error; the issued certificate verifies with
//! `openssl verify` and `mdmkit cert verify`; a simulated iPad with that
//! identity authenticates, lands under the challenge's school and reaches
//! verified; `scepclient` renews with the issued certificate (no
//! challenge), and from the iPad's next request on the old certificate is
//! refused. Garbage on the PKIOperation route is a 400, never a 500.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;

use crate::serve_support::{Ipad, SCHOOL, Server, TENANT, assert_verified};
use crate::support::{copy_dir, mdmkit, region, stdout};

/// `scepclient` against the server; its output (it logs to stderr).
fn scepclient(
    server: &Server,
    dir: &Path,
    ra_fingerprint: &str,
    challenge: Option<&str>,
) -> Output {
    let mut cmd = Command::new("scepclient");
    cmd.arg("-server-url")
        .arg(format!("{}/{TENANT}/scep", server.base))
        .arg("-private-key")
        .arg(dir.join("key.pem"))
        // The tenant CA is P-256: scepclient must be told to encrypt to
        // the RA only (it would try every certificate of GetCACert).
        .args(["-ca-fingerprint", ra_fingerprint, "-cn", "ipad"]);
    if let Some(c) = challenge {
        cmd.args(["-challenge", c]);
    }
    cmd.output()
        .expect("scepclient is needed (scripts/test installs Debian's scep package)")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn challenge(dir: &Path) -> String {
    let o = mdmkit(&[
        "enroll",
        "challenge",
        dir.to_str().unwrap(),
        "--node",
        SCHOOL,
        "--json",
    ]);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    v["challenge"].as_str().unwrap().to_owned()
}

/// SHA-256 of a PEM certificate's DER, hex.
fn fingerprint(pem_path: &Path) -> String {
    let o = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(pem_path)
        .output()
        .expect("openssl is needed");
    assert!(o.status.success(), "{o:?}");
    let o2 = Command::new("openssl")
        .args(["dgst", "-sha256", "-r"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    o2.stdin.as_ref().unwrap().write_all(&o.stdout).unwrap();
    let out = o2.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn openssl_verify(ca: &Path, cert: &Path) {
    let o = Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(ca)
        .arg(cert)
        .output()
        .expect("openssl is needed");
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn scepclient_enrolls_with_a_one_time_challenge_renews_and_is_refused_on_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let secret = challenge(&dir);
    let server = Server::start(&dir, &[]);
    let ca_dir = dir.join(".mdmkit/ca");
    let ra = fingerprint(&ca_dir.join("scep-ra.pem"));
    let device = tmp.path().join("ipad");
    std::fs::create_dir_all(&device).unwrap();

    // First enrollment.
    let o = scepclient(&server, &device, &ra, Some(&secret));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("SUCCESS"), "{}", text(&o));
    let cert1 = device.join("client.pem");
    openssl_verify(&ca_dir.join("ca.pem"), &cert1);
    let o = mdmkit(&[
        "cert",
        "verify",
        "--ca",
        ca_dir.to_str().unwrap(),
        cert1.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");

    // The same challenge again, from another device: refused, as a SCEP
    // answer (scepclient reads it and reports the failInfo).
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let o = scepclient(&server, &other, &ra, Some(&secret));
    assert!(text(&o).contains("failInfo: badRequest"), "{}", text(&o));
    assert!(!other.join("client.pem").exists());
    let o = scepclient(&server, &other, &ra, Some("not-a-challenge"));
    assert!(text(&o).contains("failInfo: badRequest"), "{}", text(&o));
    assert!(!other.join("client.pem").exists());

    // The iPad authenticates with its SCEP identity: no enrollment token,
    // yet it lands under the challenge's school and gets its policy.
    let key = std::fs::read_to_string(device.join("key.pem")).unwrap();
    let first_pem = std::fs::read_to_string(&cert1).unwrap();
    let ipad = Ipad::from_pem("00008101-SCEPCLIENT000001", first_pem.clone(), key.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        ipad.enroll(&c, &server.checkin()).await;
        let mut next = ipad.send(&c, &server.mdm(), "Idle", None).await;
        let mut n = 0;
        while let Some((uuid, _)) = next {
            n += 1;
            assert!(n < 100, "the queue never drains");
            next = ipad
                .send(&c, &server.mdm(), "Acknowledged", Some(&uuid))
                .await;
        }
        assert!(n > 0, "no policy for the school");

        // GetCACaps, and garbage on the PKIOperation routes: a 400, not a
        // 500 (nothing in it can be answered in SCEP).
        let caps = c
            .get(format!("{}/{TENANT}/scep?operation=GetCACaps", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(caps.status(), 200);
        let caps = caps.text().await.unwrap();
        for cap in [
            "POSTPKIOperation",
            "SCEPStandard",
            "Renewal",
            "SHA-256",
            "AES",
        ] {
            assert!(caps.lines().any(|l| l == cap), "{caps}");
        }
        let garbage = base64::engine::general_purpose::STANDARD.encode(b"not a pkiMessage");
        for r in [
            c.post(format!(
                "{}/{TENANT}/scep?operation=PKIOperation",
                server.base
            ))
            .body("not a pkiMessage"),
            c.get(format!(
                "{}/{TENANT}/scep?operation=PKIOperation&message={garbage}",
                server.base
            )),
            c.get(format!("{}/{TENANT}/scep?operation=Nonsense", server.base)),
        ] {
            assert_eq!(r.send().await.unwrap().status(), 400);
        }
        // A real request (a seed of the fuzz corpus, encrypted to another
        // RA) by GET in both base64 alphabets: read, answered in SCEP.
        let seed = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../fuzz/corpus/identity_scep")
                .read_dir()
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.to_string_lossy().contains("aes256"))
                .min()
                .expect("an AES-256 seed"),
        )
        .unwrap();
        for engine in [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            let msg = engine.encode(&seed).replace('+', "%2B").replace('/', "%2F");
            let r = c
                .get(format!(
                    "{}/{TENANT}/scep?operation=PKIOperation&message={msg}",
                    server.base
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(
                r.headers()["content-type"],
                mdmkit::identity::scep::PKI_MESSAGE_CONTENT_TYPE
            );
        }
    });
    assert_verified(&dir, &ipad.udid, &[]);

    // Renewal: scepclient finds its certificate and sends a RenewalReq
    // signed with it, without a challenge.
    let o = scepclient(&server, &device, &ra, None);
    assert!(o.status.success(), "{}", text(&o));
    let renewed = std::fs::read_to_string(&cert1).unwrap();
    assert_ne!(renewed, first_pem, "no new certificate");
    openssl_verify(&ca_dir.join("ca.pem"), &cert1);
    let renewed_ipad = Ipad::from_pem(&ipad.udid, renewed, key);
    rt.block_on(async {
        let c = reqwest::Client::new();
        // The renewed identity is accepted (the binding follows it)...
        assert_eq!(
            renewed_ipad.send(&c, &server.mdm(), "Idle", None).await,
            None
        );
        // ...and the old one is refused from then on.
        let (s, _) =
            crate::serve_support::put(&c, &server.mdm(), ipad.report("Idle", None), Some(&ipad))
                .await;
        assert_eq!(s, 400);
    });

    // Both certificates expire within 400 days (a year's validity), none
    // within a day; the school's view lists them, a neighbour's does not.
    let expiring = |window: &str, node: &str| {
        let o = mdmkit(&[
            "status",
            dir.to_str().unwrap(),
            "--node",
            node,
            "--expiring",
            window,
            "--json",
        ]);
        assert!(o.status.success(), "{o:?}");
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        v["expiring"].as_array().unwrap().clone()
    };
    let soon = expiring("400d", SCHOOL);
    assert_eq!(soon.len(), 2, "{soon:?}");
    assert!(
        soon.iter()
            .all(|c| c["node"] == SCHOOL && c["expired"] == false)
    );
    assert!(expiring("1d", SCHOOL).is_empty());
    assert!(expiring("400d", "ecole-jean-jaures").is_empty());
}

/// `mdmkit enroll apple`: a signed profile that `openssl cms -verify`
/// accepts against the tenant CA, that Python's `plistlib` reads, whose
/// MDM payload names its SCEP payload, and whose challenge enrolls
/// `scepclient` once.
#[test]
fn the_apple_enrollment_profile_verifies_and_its_challenge_enrolls_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let server = Server::start(&dir, &[]);
    let profile = tmp.path().join("enroll.mobileconfig");
    let o = mdmkit(&[
        "enroll",
        "apple",
        dir.to_str().unwrap(),
        "--node",
        SCHOOL,
        "--server-url",
        &server.base,
        "--topic",
        "com.apple.mgmt.External.test",
        "--out",
        profile.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    let ca_dir = dir.join(".mdmkit/ca");
    let xml = tmp.path().join("enroll.plist");
    let v = Command::new("openssl")
        .args(["cms", "-verify", "-inform", "DER", "-in"])
        .arg(&profile)
        .arg("-CAfile")
        .arg(ca_dir.join("ca.pem"))
        .arg("-out")
        .arg(&xml)
        .output()
        .expect("openssl is needed");
    assert!(v.status.success(), "{}", text(&v));
    let py = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, plistlib, sys\n\
             p = plistlib.load(open(sys.argv[1], 'rb'))\n\
             by = {x['PayloadType']: x for x in p['PayloadContent']}\n\
             scep, mdm = by['com.apple.security.scep'], by['com.apple.mdm']\n\
             assert mdm['IdentityCertificateUUID'] == scep['PayloadUUID'], (mdm, scep)\n\
             print(json.dumps({'url': scep['PayloadContent']['URL'],\n\
                 'challenge': scep['PayloadContent']['Challenge'],\n\
                 'server': mdm['ServerURL'], 'checkin': mdm['CheckInURL'],\n\
                 'sign': mdm['SignMessage'], 'topic': mdm['Topic']}))",
        )
        .arg(&xml)
        .output()
        .expect("python3 is needed");
    assert!(py.status.success(), "{}", text(&py));
    let p: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(p["url"], format!("{}/{TENANT}/scep", server.base));
    assert_eq!(p["server"], server.mdm());
    assert_eq!(p["checkin"], server.checkin());
    assert_eq!(p["sign"], true);
    assert_eq!(p["topic"], "com.apple.mgmt.External.test");

    let ra = fingerprint(&ca_dir.join("scep-ra.pem"));
    let challenge = p["challenge"].as_str().unwrap();
    let first = tmp.path().join("first");
    let second = tmp.path().join("second");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    let o = scepclient(&server, &first, &ra, Some(challenge));
    assert!(o.status.success(), "{}", text(&o));
    assert!(first.join("client.pem").exists());
    let o = scepclient(&server, &second, &ra, Some(challenge));
    assert!(text(&o).contains("failInfo: badRequest"), "{}", text(&o));
    assert!(!second.join("client.pem").exists());
}

/// The challenge of the SCEP payload inside an `InstallProfile` command.
fn renewal_challenge(command: &[u8]) -> (String, String) {
    use mdmkit::apple::Value;
    let limits = mdmkit::apple::Limits::DEFAULT;
    let cmd = mdmkit::apple::Command::from_bytes(command, &limits).unwrap();
    assert_eq!(cmd.request_type, "InstallProfile");
    let Some(Value::Data(bytes)) = cmd.keys.get("Payload") else {
        panic!("InstallProfile without a Payload: {:?}", cmd.keys)
    };
    let profile = mdmkit::apple::Profile::from_bytes(bytes, &limits).unwrap();
    let scep = profile
        .payloads
        .iter()
        .find(|p| p.payload_type == "com.apple.security.scep")
        .expect("a SCEP payload");
    let Some(Value::Dictionary(content)) = scep.content.get("PayloadContent") else {
        panic!("SCEP payload without content: {:?}", scep.content)
    };
    let Some(Value::String(challenge)) = content.get("Challenge") else {
        panic!("SCEP payload without a challenge: {content:?}")
    };
    (profile.identifier, challenge.clone())
}

/// Renewal before expiry through the reconcile loop: once `mdmkit enroll
/// apple` saved the tenant's enrollment settings, `mdmkit reconcile`
/// queues a fresh enrollment profile for an iPad whose SCEP identity
/// expires within the window (once: a second run queues nothing more);
/// the profile's renewal challenge enrolls `scepclient` with a new key; the
/// new certificate keeps the iPad's identity, so its next requests
/// (Authenticate included) re-bind the enrollment without resetting it,
/// the old certificate is refused, and the iPad stays verified.
#[test]
fn the_reconcile_loop_renews_an_expiring_identity_with_a_fresh_enrollment_profile() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let secret = challenge(&dir);
    let server = Server::start(&dir, &[]);
    let ca_dir = dir.join(".mdmkit/ca");
    let ra = fingerprint(&ca_dir.join("scep-ra.pem"));
    let first = tmp.path().join("first");
    std::fs::create_dir_all(&first).unwrap();
    let o = scepclient(&server, &first, &ra, Some(&secret));
    assert!(o.status.success(), "{}", text(&o));
    let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap();
    let ipad = Ipad::from_pem(
        "00008101-RENEWAL000000001",
        read(&first, "client.pem"),
        read(&first, "key.pem"),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = reqwest::Client::new();
    let drain = |who: &Ipad| {
        rt.block_on(async {
            let mut next = who.send(&c, &server.mdm(), "Idle", None).await;
            let mut n = 0;
            while let Some((uuid, _)) = next {
                n += 1;
                assert!(n < 100, "the queue never drains");
                next = who
                    .send(&c, &server.mdm(), "Acknowledged", Some(&uuid))
                    .await;
            }
            n
        })
    };
    rt.block_on(ipad.enroll(&c, &server.checkin()));
    assert!(drain(&ipad) > 0, "no policy for the school");

    let reconcile = |window: &str| {
        let o = mdmkit(&[
            "reconcile",
            dir.to_str().unwrap(),
            "--renew-within",
            window,
            "--json",
        ]);
        assert!(o.status.success(), "{o:?}");
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        v["renewals"].as_array().unwrap().clone()
    };
    // Without the tenant's enrollment settings nothing is renewed.
    assert!(reconcile("400d").is_empty());
    let o = mdmkit(&[
        "enroll",
        "apple",
        dir.to_str().unwrap(),
        "--node",
        SCHOOL,
        "--server-url",
        &server.base,
        "--topic",
        "com.apple.mgmt.External.test",
        "--out",
        tmp.path().join("enroll.mobileconfig").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    // A year's certificate does not expire within 30 days...
    assert!(reconcile("30d").is_empty());
    // ...but within 400: one renewal, once.
    let renewals = reconcile("400d");
    assert_eq!(renewals.len(), 1, "{renewals:?}");
    assert_eq!(renewals[0]["device"], ipad.udid.as_str());
    assert!(
        reconcile("400d").is_empty(),
        "a renewal under way is not queued again"
    );

    // The iPad fetches the profile; it replaces the enrollment profile
    // (same identifier as `mdmkit enroll apple`'s).
    let (status, body) = rt.block_on(crate::serve_support::put(
        &c,
        &server.mdm(),
        ipad.report("Idle", None),
        Some(&ipad),
    ));
    assert_eq!(status, 200);
    let (identifier, renewal_secret) = renewal_challenge(&body);
    assert_eq!(identifier, format!("org.mdmkit.{TENANT}.enrollment"));
    let uuid = mdmkit::apple::Command::from_bytes(&body, &mdmkit::apple::Limits::DEFAULT)
        .unwrap()
        .uuid
        .as_str()
        .to_owned();

    // Its SCEP payload enrolls a new key with the renewal challenge.
    let second = tmp.path().join("second");
    std::fs::create_dir_all(&second).unwrap();
    let o = scepclient(&server, &second, &ra, Some(&renewal_secret));
    assert!(o.status.success(), "{}", text(&o));
    openssl_verify(&ca_dir.join("ca.pem"), &second.join("client.pem"));
    let renewed = Ipad::from_pem(
        &ipad.udid,
        read(&second, "client.pem"),
        read(&second, "key.pem"),
    );
    // The challenge worked once.
    let third = tmp.path().join("third");
    std::fs::create_dir_all(&third).unwrap();
    let o = scepclient(&server, &third, &ra, Some(&renewal_secret));
    assert!(text(&o).contains("failInfo: badRequest"), "{}", text(&o));

    rt.block_on(async {
        // The device re-authenticates with its new identity (as Apple
        // devices do after the profile is replaced): a renewal, not a
        // re-enrollment, so the answer to the profile is still expected.
        renewed.enroll(&c, &server.checkin()).await;
        assert_eq!(
            renewed
                .send(&c, &server.mdm(), "Acknowledged", Some(&uuid))
                .await,
            None
        );
        let (s, _) =
            crate::serve_support::put(&c, &server.mdm(), ipad.report("Idle", None), Some(&ipad))
                .await;
        assert_eq!(s, 400, "the old certificate is refused");
    });
    assert_verified(&dir, &ipad.udid, &[]);
    // The renewed certificate is recorded as renewing the first one.
    let o = mdmkit(&[
        "status",
        dir.to_str().unwrap(),
        "--expiring",
        "400d",
        "--json",
    ]);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let certs = v["expiring"].as_array().unwrap();
    assert_eq!(certs.len(), 2, "{certs:?}");
    assert!(
        certs
            .iter()
            .any(|c| c["renews"] == renewals[0]["certificate"]),
        "{certs:?}"
    );
    assert!(reconcile("1d").is_empty());
}
