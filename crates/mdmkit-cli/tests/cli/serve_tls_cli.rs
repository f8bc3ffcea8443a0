//! `mdmkit serve --tls-cert --tls-key` with `curl` as the device's TLS
//! client (an independent TLS stack): the device is identified by its TLS
//! client certificate alone (no `Mdm-Signature`), enrolls, receives its
//! school's policy; a certificate of another CA, no certificate, and a
//! certificate revoked with `mdmkit cert revoke` while the server runs are
//! each a 400, never a 401 or a 500. The server certificate comes from
//! `openssl req`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use mdmkit::apple::Limits;
use mdmkit::identity::{CaBuilder, KeyAlgorithm};

use crate::serve_support::{
    Ipad, SCHOOL, Server, TENANT, assert_verified, issue, tenant_ca, token,
};
use crate::support::{copy_dir, mdmkit, region};

/// A self-signed server certificate for 127.0.0.1, made by `openssl`.
fn server_certificate(dir: &Path) -> (String, String) {
    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=mdmkit test server",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed (scripts/test installs it)");
    assert!(o.status.success(), "{o:?}");
    (
        cert.to_str().unwrap().to_owned(),
        key.to_str().unwrap().to_owned(),
    )
}

/// A device's TLS client: `curl` with its certificate and key, or none.
struct Curl<'a> {
    tmp: &'a Path,
    ca: String,
}

impl Curl<'_> {
    /// PUTs `body` to `url`; the status and the body.
    fn put(&self, url: &str, body: &str, device: Option<&Ipad>) -> (u16, Vec<u8>) {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let input = self.tmp.join(format!("in-{n}"));
        let output = self.tmp.join(format!("out-{n}"));
        std::fs::write(&input, body).unwrap();
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-X", "PUT", "--cacert", &self.ca, "--data-binary"])
            .arg(format!("@{}", input.display()))
            .arg("-o")
            .arg(&output)
            .args(["-w", "%{http_code}"]);
        if let Some(d) = device {
            let cert = self.tmp.join(format!("{}.pem", d.udid));
            let key = self.tmp.join(format!("{}.key", d.udid));
            std::fs::write(&cert, &d.cert_pem).unwrap();
            std::fs::write(&key, &d.key_pem).unwrap();
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let o = cmd
            .arg(url)
            .output()
            .expect("curl is needed (scripts/test installs it)");
        assert!(o.status.success(), "{o:?}");
        let status = String::from_utf8_lossy(&o.stdout).parse().unwrap();
        (status, std::fs::read(output).unwrap_or_default())
    }
}

#[test]
fn a_device_identified_by_its_tls_client_certificate_enrolls_over_https() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let enroll = token(&dir, SCHOOL, "enroll", &[]);
    let (cert, key) = server_certificate(tmp.path());
    let server = Server::start(&dir, &["--tls-cert", &cert, "--tls-key", &key]);
    let base = server.base.replace("http://", "https://");
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let curl = Curl {
        tmp: tmp.path(),
        ca: cert.clone(),
    };
    let ca = tenant_ca(&dir);
    let ipad = issue(&ca, "00008101-TLSCLIENT0000001");
    let checkin = format!("{base}/{TENANT}/apple/checkin");
    let mdm = format!("{base}/{TENANT}/apple/mdm");

    let (s, body) = curl.put(
        &format!("{checkin}?enroll={enroll}"),
        &ipad.authenticate(),
        Some(&ipad),
    );
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    let (s, _) = curl.put(&checkin, &ipad.token_update(), Some(&ipad));
    assert_eq!(s, 200);
    let (mut s, mut body) = curl.put(&mdm, &ipad.report("Idle", None), Some(&ipad));
    let mut n = 0;
    while !body.is_empty() {
        assert_eq!(s, 200);
        let cmd = mdmkit::apple::Command::from_bytes(&body, &Limits::DEFAULT).unwrap();
        n += 1;
        assert!(n < 100, "the queue never drains");
        (s, body) = curl.put(
            &mdm,
            &ipad.report("Acknowledged", Some(cmd.uuid.as_str())),
            Some(&ipad),
        );
    }
    assert_eq!(s, 200);
    assert!(n > 0, "no command was delivered");

    // A certificate of another CA claiming the same UDID; no certificate.
    let other = CaBuilder::new(mdmkit::TenantId::new("elsewhere").unwrap())
        .algorithm(KeyAlgorithm::P256)
        .build()
        .unwrap();
    let stranger = issue(&other, &ipad.udid);
    let (s, _) = curl.put(&mdm, &ipad.report("Idle", None), Some(&stranger));
    assert_eq!(s, 400);
    let (s, _) = curl.put(&mdm, &ipad.report("Idle", None), None);
    assert_eq!(s, 400);

    // Revoked while the server runs: refused within the CA refresh.
    let pem = tmp.path().join("revoked.pem");
    std::fs::write(&pem, &ipad.cert_pem).unwrap();
    let ca_dir = dir.join(".mdmkit/ca");
    let o = mdmkit(&[
        "cert",
        "revoke",
        "--ca",
        ca_dir.to_str().unwrap(),
        pem.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    // The server reads its CA directory again at most once a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (s, body) = curl.put(&mdm, &ipad.report("Idle", None), Some(&ipad));
        if s == 400 {
            break;
        }
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
        assert!(
            std::time::Instant::now() < deadline,
            "the revocation never took effect"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    drop(server);
    assert_verified(&dir, &ipad.udid, &[]);
}
