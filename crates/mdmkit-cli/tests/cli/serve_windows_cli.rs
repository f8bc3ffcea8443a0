//! A Windows PC against `mdmkit serve`, over real HTTP on a loopback port:
//! discovery, policy and enrollment with a one-time challenge for a school
//! of the example region, a first OMA-DM session cut by `kill -9` of the
//! server between two of its messages and finished by the restarted
//! server (the session lives in the store), a later session, and the PC
//! verified in `mdmkit status`. A session whose Source is not its
//! certificate's device, and a certificate of another tenant, are refused
//! with a 400. On the embedded SQLite store and on PostgreSQL.
//!
//! The PC reaches the server as through a TLS-terminating proxy: the
//! `https` URLs it is given are called over HTTP on the loopback port, its
//! certificate in the RFC 9440 `Client-Cert` header (`--trusted-proxy
//! 127.0.0.1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use base64::Engine as _;
use mdmkit::windows::device::TestDevice;
use mdmkit::windows::enroll::{Credentials, DiscoverResponse, GetPoliciesRequest, ProtocolVersion};
use mdmkit::windows::syncml::SyncMl;

use crate::serve_support::{SCHOOL, Server, TENANT, assert_verified};
use crate::support::{copy_dir, mdmkit, region, stdout};

const SOAP: &str = "application/soap+xml; charset=utf-8";
const SYNCML: &str = "application/vnd.syncml.dm+xml";
/// The neighbouring tenant served by the same process.
const NEIGHBOUR: &str = "academie-voisine";

pub(crate) fn challenge(dir: &Path, node: &str, store: &[&str]) -> String {
    let mut args = vec![
        "enroll",
        "challenge",
        dir.to_str().unwrap(),
        "--node",
        node,
        "--json",
    ];
    args.extend_from_slice(store);
    let o = mdmkit(&args);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    v["challenge"].as_str().unwrap().to_owned()
}

/// A POST; `https://` URLs go over plain HTTP (the proxy's part).
async fn post(
    c: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: String,
    cert: Option<&[u8]>,
) -> (u16, String) {
    let mut r = c
        .post(url.replacen("https://", "http://", 1))
        .header("content-type", content_type)
        .body(body);
    if let Some(der) = cert {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        r = r.header("client-cert", format!(":{b64}:"));
    }
    let r = r.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.text().await.unwrap())
}

/// The simulated PC, its key and the certificate enrollment gave it.
pub(crate) struct Pc {
    pub(crate) device: TestDevice,
    key: rcgen::KeyPair,
    cert: Option<Vec<u8>>,
}

impl Pc {
    pub(crate) fn new(id: &str) -> Self {
        Self {
            device: TestDevice::new(id),
            key: rcgen::KeyPair::generate().unwrap(),
            cert: None,
        }
    }

    /// Discovery (GET probe, then POST), policy, enrollment.
    pub(crate) async fn enroll(
        &mut self,
        c: &reqwest::Client,
        base: &str,
        tenant: &str,
        token: &str,
    ) {
        let discovery = format!("{base}/{tenant}/windows/EnrollmentServer/Discovery.svc");
        assert_eq!(c.get(&discovery).send().await.unwrap().status(), 200);
        let req = self.device.discovery_request(
            "eleve@example.org",
            ProtocolVersion::new(9, 0),
            &discovery,
        );
        let (s, d) = post(c, &discovery, SOAP, req, None).await;
        assert_eq!(s, 200, "{d}");
        let found = DiscoverResponse::read(d.as_bytes()).unwrap();
        let creds = Credentials::UsernameToken {
            username: "eleve@example.org".into(),
            password: token.into(),
        };
        let get = GetPoliciesRequest::to_xml("urn:uuid:1", &found.policy_service_url, &creds);
        let (s, p) = post(c, &found.policy_service_url, SOAP, get, None).await;
        assert_eq!(s, 200, "{p}");
        let csr = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .serialize_request(&self.key)
            .unwrap()
            .der()
            .to_vec();
        let (_, rst) = self
            .device
            .enrollment_request_with(d.as_bytes(), csr, creds)
            .unwrap();
        let (s, body) = post(c, &found.enrollment_service_url, SOAP, rst, None).await;
        assert_eq!(s, 200, "{body}");
        let doc = self.device.accept_enrollment(body.as_bytes()).unwrap();
        self.cert = Some(doc.client_cert_der.clone());
    }

    /// The management URL on the server at `base`.
    fn mdm(&self, base: &str) -> String {
        let url = &self.device.provisioning().unwrap().server_url;
        let path = url.splitn(4, '/').nth(3).unwrap();
        format!("{base}/{path}")
    }

    /// Sends one message; the server's reply.
    async fn send(&self, c: &reqwest::Client, base: &str, m: &SyncMl) -> SyncMl {
        let (s, body) = post(c, &self.mdm(base), SYNCML, m.to_xml(), self.cert.as_deref()).await;
        assert_eq!(s, 200, "{body}");
        SyncMl::read(body.as_bytes()).unwrap()
    }

    /// Runs a session from `first` to its end; how many messages it took.
    pub(crate) async fn finish(&mut self, c: &reqwest::Client, base: &str, first: SyncMl) -> usize {
        let mut msg = Some(first);
        let mut n = 0;
        while let Some(m) = msg.take() {
            n += 1;
            assert!(n < 100, "the session does not end");
            let reply = self.send(c, base, &m).await;
            msg = self.device.handle(&reply);
        }
        n
    }
}

fn windows_pc_end_to_end(store: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let neighbour = tmp.path().join("voisine");
    copy_dir(&region(), &neighbour);
    let tree = std::fs::read_to_string(neighbour.join("tree.toml")).unwrap();
    std::fs::write(
        neighbour.join("tree.toml"),
        tree.replacen(
            &format!("id = \"{TENANT}\""),
            &format!("id = \"{NEIGHBOUR}\""),
            1,
        ),
    )
    .unwrap();
    let mut extra = vec![neighbour.to_str().unwrap(), "--trusted-proxy", "127.0.0.1"];
    extra.extend_from_slice(store);
    let start = || Server::start(&dir, &extra);

    let server = start();
    let token = challenge(&dir, SCHOOL, store);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pc_id = "PC-JULES-FERRY-01";
    rt.block_on(async {
        let c = reqwest::Client::new();
        let mut pc = Pc::new(pc_id);
        pc.enroll(&c, &server.base, TENANT, &token).await;
        pc.device = pc.device.clone().with_max_msg_size(4096);

        // The first session: the school's policy does not fit one reply.
        let url = pc.device.provisioning().unwrap().server_url.clone();
        let open = pc.device.open_session(&url);
        let reply = pc.send(&c, &server.base, &open).await;
        assert!(
            !reply.final_,
            "the policy fits one message: {}",
            reply.to_xml()
        );
        let next = pc.device.handle(&reply).expect("the PC answers");

        // Killed between two messages of the session; the restarted
        // server continues it from the store.
        server.kill_9();
        let server = start();
        let n = pc.finish(&c, &server.base, next).await;
        assert!(n >= 1);
        assert_eq!(
            pc.device
                .node("./Device/Vendor/MSFT/Policy/Config/DeviceLock/DevicePasswordEnabled"),
            Some("0"),
        );

        // A later session: nothing left, the session ends at once.
        let again = pc.device.open_session(&url);
        assert_eq!(pc.finish(&c, &server.base, again).await, 1);

        // Another PC's certificate with this PC's Source: refused.
        let mut other = Pc::new("PC-JULES-FERRY-02");
        let t2 = challenge(&dir, SCHOOL, store);
        other.enroll(&c, &server.base, TENANT, &t2).await;
        let mut liar = pc.device.clone();
        let hello = liar.open_session(&url);
        let (s, body) = post(
            &c,
            &pc.mdm(&server.base),
            SYNCML,
            hello.to_xml(),
            other.cert.as_deref(),
        )
        .await;
        assert_eq!(s, 400, "{body}");

        // A PC of the neighbouring tenant, at this tenant's endpoint:
        // refused; at its own, served.
        let mut foreign = Pc::new("PC-VOISINE-01");
        let t3 = challenge(&neighbour, NEIGHBOUR, store);
        foreign.enroll(&c, &server.base, NEIGHBOUR, &t3).await;
        let hello = foreign.device.clone().open_session(&url);
        let wrong = format!("{}/{TENANT}/windows/ManagementServer/MDM.svc", server.base);
        let (s, body) = post(&c, &wrong, SYNCML, hello.to_xml(), foreign.cert.as_deref()).await;
        assert_eq!(s, 400, "{body}");
        let own_url = foreign.device.provisioning().unwrap().server_url.clone();
        let hello = foreign.device.open_session(&own_url);
        foreign.finish(&c, &server.base, hello).await;
        drop(server);
    });
    assert_verified(&dir, pc_id, store);
    // The enrollment is in the audit journal, which still verifies.
    let o = mdmkit(&["audit", "verify", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{o:?}");
}

#[test]
fn a_windows_pc_enrolls_and_is_verified_across_a_restart_on_sqlite() {
    windows_pc_end_to_end(&[]);
}

#[test]
fn a_windows_pc_enrolls_and_is_verified_across_a_restart_on_postgres() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = rt.block_on(crate::serve_support::fresh_postgres_database("windows"));
    windows_pc_end_to_end(&["--store", &url]);
}
