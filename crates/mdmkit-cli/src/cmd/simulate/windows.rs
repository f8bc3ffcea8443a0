//! A simulated Windows PC: `mdmkit-windows`'s test device (which applies
//! SyncML commands to a management tree and answers with statuses and
//! results) carried over HTTP, its certificate presented the way a
//! TLS-terminating proxy forwards it (RFC 9440 `Client-Cert`).

use base64::Engine as _;
use mdmkit::windows::device::TestDevice;
use mdmkit::windows::enroll::{Credentials, DiscoverResponse, GetPoliciesRequest, ProtocolVersion};
use mdmkit::windows::syncml::SyncMl;

use super::stats::{Phase, Stats};
use super::{Http, SimError, Timed};

const SOAP: &str = "application/soap+xml; charset=utf-8";
const SYNCML: &str = "application/vnd.syncml.dm+xml";
/// The user who enrolls (OnPremise: the challenge is the password).
const USER: &str = "eleve@example.org";

/// A simulated Windows PC.
pub(crate) struct WindowsDevice {
    pub(crate) device: TestDevice,
    pub(crate) key_pem: String,
    /// The certificate enrollment gave it (DER).
    pub(crate) cert_der: Vec<u8>,
    /// The management URL of its provisioning document.
    pub(crate) server_url: String,
}

/// The path (and query) of an absolute URL, for the server at `base`:
/// the server names itself in its answers by the host it was asked for,
/// over `https`, as a TLS-terminating proxy would show it.
fn on_base(base: &str, url: &str) -> Result<String, SimError> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| SimError::Answer(format!("not an absolute URL: {url:?}")))?;
    let path = rest.find('/').map_or("/", |i| &rest[i..]);
    Ok(format!("{base}{path}"))
}

impl WindowsDevice {
    /// A PC that has not enrolled yet.
    pub(crate) fn new(id: &str) -> Self {
        Self {
            device: TestDevice::new(id),
            key_pem: String::new(),
            cert_der: Vec::new(),
            server_url: String::new(),
        }
    }

    /// A PC enrolled earlier, from a fleet file.
    pub(crate) fn resumed(
        id: &str,
        key_pem: String,
        cert_der: Vec<u8>,
        server_url: String,
        next_session: u64,
    ) -> Self {
        Self {
            device: TestDevice::new(id).resumed(server_url.clone(), next_session),
            key_pem,
            cert_der,
            server_url,
        }
    }

    /// The device id.
    pub(crate) fn id(&self) -> &str {
        self.device.device_id()
    }

    async fn post(
        &self,
        http: &Http,
        url: &str,
        (content_type, body): (&str, String),
        with_cert: bool,
        timed: Timed,
        stats: &mut Stats,
    ) -> Result<Vec<u8>, SimError> {
        let mut req = http
            .client
            .post(url)
            .header("content-type", content_type)
            .body(body);
        if with_cert {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&self.cert_der);
            req = req.header("client-cert", format!(":{b64}:"));
        }
        http.send(req, timed, stats).await
    }

    /// MS-MDE2 enrollment with a one-time (or reusable) challenge:
    /// discovery (GET probe, POST), the certificate policy, the
    /// certificate request; the provisioning document is installed.
    pub(crate) async fn enroll(
        &mut self,
        http: &Http,
        challenge: &str,
        stats: &mut Stats,
    ) -> Result<(), SimError> {
        let discovery = format!(
            "{}/{}/windows/EnrollmentServer/Discovery.svc",
            http.base, http.tenant
        );
        let probe = http.client.get(&discovery);
        http.send(
            probe,
            Timed::new("windows.discovery_probe", Phase::Enroll),
            stats,
        )
        .await?;
        let req = self
            .device
            .discovery_request(USER, ProtocolVersion::new(9, 0), &discovery);
        let found = self
            .post(
                http,
                &discovery,
                (SOAP, req),
                false,
                Timed::new("windows.discovery", Phase::Enroll),
                stats,
            )
            .await?;
        let d = DiscoverResponse::read(&found)
            .map_err(|e| SimError::Answer(format!("discovery: {e}")))?;
        let creds = Credentials::UsernameToken {
            username: USER.into(),
            password: challenge.into(),
        };
        let policy_url = on_base(&http.base, &d.policy_service_url)?;
        let get = GetPoliciesRequest::to_xml("urn:uuid:1", &d.policy_service_url, &creds);
        self.post(
            http,
            &policy_url,
            (SOAP, get),
            false,
            Timed::new("windows.policy", Phase::Enroll),
            stats,
        )
        .await?;
        let key = rcgen::KeyPair::generate().map_err(|e| SimError::Key(e.to_string()))?;
        let csr = rcgen::CertificateParams::new(Vec::<String>::new())
            .and_then(|p| p.serialize_request(&key))
            .map_err(|e| SimError::Key(e.to_string()))?
            .der()
            .to_vec();
        let (_, rst) = self
            .device
            .enrollment_request_with(&found, csr, creds)
            .map_err(|e| SimError::Answer(format!("discovery: {e}")))?;
        let enroll_url = on_base(&http.base, &d.enrollment_service_url)?;
        let answer = self
            .post(
                http,
                &enroll_url,
                (SOAP, rst),
                false,
                Timed::new("windows.enrollment", Phase::Enroll),
                stats,
            )
            .await?;
        let doc = self
            .device
            .accept_enrollment(&answer)
            .map_err(|e| SimError::Answer(format!("enrollment: {e}")))?;
        self.cert_der = doc.client_cert_der.clone();
        self.server_url = doc.server_url.clone();
        self.key_pem = key.serialize_pem();
        Ok(())
    }

    /// One OMA-DM session, from the device's Alert 1201 to the server's
    /// last message.
    pub(crate) async fn session(&mut self, http: &Http, stats: &mut Stats) -> Result<(), SimError> {
        let url = on_base(&http.base, &self.server_url)?;
        let mut msg = Some(self.device.open_session(&self.server_url));
        let mut kind = "windows.session_open";
        let mut n = 0;
        while let Some(m) = msg.take() {
            n += 1;
            if n > MAX_MESSAGES_PER_SESSION {
                return Err(SimError::Answer(format!(
                    "more than {MAX_MESSAGES_PER_SESSION} messages in one session"
                )));
            }
            let answer = self
                .post(
                    http,
                    &url,
                    (SYNCML, m.to_xml()),
                    true,
                    Timed::new(kind, Phase::Checkin),
                    stats,
                )
                .await?;
            let reply = match SyncMl::read(&answer) {
                Ok(r) => r,
                Err(e) => {
                    let reason = format!("the server's SyncML does not parse: {e}");
                    stats.error("windows.syncml", Phase::Checkin, &reason);
                    return Err(SimError::Answer(reason));
                }
            };
            msg = self.device.handle(&reply);
            kind = "windows.session_reply";
        }
        Ok(())
    }
}

/// A session that does not end is cut after this many messages.
const MAX_MESSAGES_PER_SESSION: usize = 1000;
