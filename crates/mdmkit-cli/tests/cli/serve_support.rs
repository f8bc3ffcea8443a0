//! What the `mdmkit serve` tests share: a server process on a loopback
//! port, a simulated iPad that speaks the Apple protocol over HTTP (its
//! certificate issued by the tenant's CA, its messages signed with
//! `Mdm-Signature`), admin tokens, and a fresh PostgreSQL database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use mdmkit::DeviceId;
use mdmkit::apple::{Limits, SigningIdentity};
use mdmkit::identity::{CaDir, CertificateRequest, IssueRequest, TenantCa};

use crate::support::{mdmkit, stdout};

/// The example region's tenant (and root node).
pub(crate) const TENANT: &str = "academie-hauts-de-lys";
/// A school of the example region.
pub(crate) const SCHOOL: &str = "ecole-jules-ferry";

/// A running `mdmkit serve`, killed on drop.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `mdmkit serve DIR --listen 127.0.0.1:0 EXTRA...`, once it says where
    /// it listens.
    pub(crate) fn start(dir: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mdmkit"))
            .arg("serve")
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
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
        assert!(
            base.starts_with("http://127.0.0.1:") || base.starts_with("https://127.0.0.1:"),
            "{line:?}"
        );
        Self { child, base }
    }

    /// The Apple check-in URL of the example tenant.
    pub(crate) fn checkin(&self) -> String {
        format!("{}/{TENANT}/apple/checkin", self.base)
    }

    /// The Apple command URL of the example tenant.
    pub(crate) fn mdm(&self) -> String {
        format!("{}/{TENANT}/apple/mdm", self.base)
    }

    /// `kill -9`: no drain, no flush, nothing the process could still do.
    pub(crate) fn kill_9(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-KILL", &pid])
                .status()
                .unwrap()
                .success()
        );
        let _ = self.child.wait();
    }
}

/// A simulated iPad: a key, a certificate of the tenant CA naming its
/// UDID, and the signing identity for `Mdm-Signature`.
pub(crate) struct Ipad {
    pub(crate) udid: String,
    /// Its certificate (PEM), for a TLS client.
    pub(crate) cert_pem: String,
    /// Its private key (PEM), for a TLS client.
    pub(crate) key_pem: String,
    signer: SigningIdentity,
}

/// An iPad whose certificate `ca` issued.
pub(crate) fn issue(ca: &TenantCa, udid: &str) -> Ipad {
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
    let key_pem = key.serialize_pem();
    let signer = SigningIdentity::from_pem(cert.pem.as_bytes(), key_pem.as_bytes()).unwrap();
    Ipad {
        udid: udid.to_owned(),
        cert_pem: cert.pem,
        key_pem,
        signer,
    }
}

impl Ipad {
    /// An iPad whose identity (certificate and key, PEM) came from
    /// elsewhere (SCEP).
    pub(crate) fn from_pem(udid: &str, cert_pem: String, key_pem: String) -> Ipad {
        let signer = SigningIdentity::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
        Ipad {
            udid: udid.to_owned(),
            cert_pem,
            key_pem,
            signer,
        }
    }
}

/// The tenant CA that `mdmkit serve` created in `DIR/.mdmkit/ca`.
pub(crate) fn tenant_ca(dir: &Path) -> TenantCa {
    CaDir::new(dir.join(".mdmkit/ca")).load_ca().unwrap()
}

/// An XML plist of one dictionary.
pub(crate) fn plist(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\"><dict>{body}</dict></plist>\n"
    )
}

impl Ipad {
    /// The `Authenticate` check-in message.
    pub(crate) fn authenticate(&self) -> String {
        plist(&format!(
            "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{}</string>\
             <key>Topic</key><string>com.apple.mgmt.External.test</string>\
             <key>SerialNumber</key><string>SIM{}</string><key>Model</key><string>iPad13,1</string>\
             <key>ModelName</key><string>iPad</string><key>OSVersion</key><string>17.5</string>\
             <key>ProductName</key><string>iPad13,1</string><key>DeviceName</key><string>iPad sim</string>",
            self.udid,
            &self.udid[self.udid.len() - 6..]
        ))
    }

    /// The `TokenUpdate` check-in message.
    pub(crate) fn token_update(&self) -> String {
        plist(&format!(
            "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{}</string>\
             <key>Topic</key><string>com.apple.mgmt.External.test</string>\
             <key>Token</key><data>AAECAwQFBgc=</data><key>PushMagic</key><string>magic-1</string>",
            self.udid
        ))
    }

    /// A command report: `Idle`, or a status for a command.
    pub(crate) fn report(&self, status: &str, uuid: Option<&str>) -> String {
        let uuid = uuid
            .map(|u| format!("<key>CommandUUID</key><string>{u}</string>"))
            .unwrap_or_default();
        plist(&format!(
            "<key>UDID</key><string>{}</string><key>Status</key><string>{status}</string>{uuid}",
            self.udid
        ))
    }

    /// The `Mdm-Signature` header for a body.
    pub(crate) fn signature(&self, body: &[u8]) -> String {
        let der = mdmkit::apple::cms::sign_detached(body, &self.signer).unwrap();
        base64::engine::general_purpose::STANDARD.encode(der)
    }

    /// Authenticate and TokenUpdate at a check-in URL (`?enroll=` included
    /// when given).
    pub(crate) async fn enroll(&self, c: &reqwest::Client, checkin: &str) {
        let (s, body) = put(c, checkin, self.authenticate(), Some(self)).await;
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
        let (s, body) = put(c, checkin, self.token_update(), Some(self)).await;
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    }

    /// Sends a report; the answer is the next command (its UUID and request
    /// type), or `None` for an empty 200.
    pub(crate) async fn send(
        &self,
        c: &reqwest::Client,
        mdm: &str,
        status: &str,
        uuid: Option<&str>,
    ) -> Option<(String, String)> {
        let (s, body) = put(c, mdm, self.report(status, uuid), Some(self)).await;
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
        if body.is_empty() {
            return None;
        }
        let cmd = mdmkit::apple::Command::from_bytes(&body, &Limits::DEFAULT).unwrap();
        Some((cmd.uuid.as_str().to_owned(), cmd.request_type.clone()))
    }
}

/// A signed (or unsigned) PUT; the status and the body.
pub(crate) async fn put(
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

/// `mdmkit admin token create DIR --node N --role R [EXTRA...]`: the token.
pub(crate) fn token(dir: &Path, node: &str, role: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "admin",
        "token",
        "create",
        dir.to_str().unwrap(),
        "--node",
        node,
        "--role",
        role,
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = mdmkit(&args);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// A GET of the example tenant's admin API: status and JSON body.
pub(crate) async fn admin_get(
    c: &reqwest::Client,
    base: &str,
    path: &str,
    token: Option<&str>,
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

/// A device's entry in `mdmkit status --json`.
pub(crate) fn find_device<'a>(
    v: &'a serde_json::Value,
    udid: &str,
) -> Option<&'a serde_json::Value> {
    let list = v.as_array().or_else(|| v["devices"].as_array())?;
    list.iter().find(|d| d["device"] == udid)
}

/// The device's categories in `mdmkit status DIR --node SCHOOL --json`
/// (`extra` for `--store`) are all verified (or unsupported), at least one
/// verified.
pub(crate) fn assert_verified(dir: &Path, udid: &str, extra: &[&str]) {
    let mut args = vec!["status", dir.to_str().unwrap(), "--node", SCHOOL, "--json"];
    args.extend_from_slice(extra);
    let o = mdmkit(&args);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let dev = find_device(&v, udid).unwrap_or_else(|| panic!("{udid} not in status: {v}"));
    assert_eq!(dev["node"], SCHOOL);
    let cats = dev["categories"].as_array().unwrap();
    assert!(cats.iter().any(|c| c["state"] == "verified"), "{dev}");
    assert!(
        cats.iter()
            .all(|c| c["state"] == "verified" || c["state"] == "unsupported"),
        "{dev}"
    );
}

/// A database of its own on the throwaway PostgreSQL server, so that tests
/// serving the same example tenant do not meet. A missing server is a
/// failure: run through `scripts/test`.
pub(crate) async fn fresh_postgres_database(tag: &str) -> String {
    use sqlx::Connection as _;
    let url = match std::env::var("MDMKIT_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!(
            "MDMKIT_TEST_POSTGRES_URL is unset: run `./scripts/test` (or \
             `. scripts/lib.sh; start_throwaway_postgres` first)"
        ),
    };
    let name = format!(
        "{tag}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .unwrap();
    let (prefix, _) = url.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}
