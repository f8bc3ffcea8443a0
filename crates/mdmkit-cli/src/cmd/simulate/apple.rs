//! A simulated Apple device: its identity (a key and a certificate of the
//! tenant CA), its check-in messages and its command reports, built and
//! read with `mdmkit-apple`'s message types, and what it does with the
//! commands it receives (profiles installed and removed, queries answered).

use std::collections::BTreeSet;
use std::time::Instant;

use base64::Engine as _;
use mdmkit::DeviceId;
use mdmkit::apple::{
    Checkin, Command, CommandReport, Dictionary, Format, Limits, SignedProfile, SigningIdentity,
    Value,
};
use mdmkit::identity::{CertificateRequest, IssueRequest, TenantCa};

use super::stats::{Phase, Stats};
use super::{Http, SimError, Timed};

/// A simulated iPad.
pub(crate) struct AppleDevice {
    pub(crate) udid: String,
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
    signer: SigningIdentity,
    /// Identifiers of the profiles installed.
    profiles: BTreeSet<String>,
}

impl AppleDevice {
    /// A device whose certificate the tenant CA issues now (what SCEP
    /// would have given it).
    pub(crate) fn issue(ca: &TenantCa, udid: &str) -> Result<Self, SimError> {
        let key = rcgen::KeyPair::generate().map_err(|e| SimError::Key(e.to_string()))?;
        let csr = rcgen::CertificateParams::new(Vec::<String>::new())
            .and_then(|p| p.serialize_request(&key))
            .map_err(|e| SimError::Key(e.to_string()))?;
        let csr =
            CertificateRequest::parse(csr.der()).map_err(|e| SimError::Identity(e.to_string()))?;
        let device = DeviceId::new(udid).map_err(|e| SimError::Identity(e.to_string()))?;
        let cert = ca
            .issue(&csr, &IssueRequest::new(device))
            .map_err(|e| SimError::Identity(e.to_string()))?;
        Self::from_pem(udid, cert.pem, key.serialize_pem())
    }

    /// A device with an identity from a fleet file.
    pub(crate) fn from_pem(
        udid: &str,
        cert_pem: String,
        key_pem: String,
    ) -> Result<Self, SimError> {
        let signer = SigningIdentity::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())
            .map_err(|e| SimError::Identity(e.to_string()))?;
        Ok(Self {
            udid: udid.to_owned(),
            cert_pem,
            key_pem,
            signer,
            profiles: BTreeSet::new(),
        })
    }

    fn ids(&self, d: &mut Dictionary) {
        d.insert("UDID".into(), Value::String(self.udid.clone()));
    }

    fn checkin(&self, message_type: &str, keys: Vec<(&str, Value)>) -> Result<Vec<u8>, SimError> {
        let mut d = Dictionary::new();
        d.insert("MessageType".into(), Value::String(message_type.into()));
        self.ids(&mut d);
        for (k, v) in keys {
            d.insert(k.into(), v);
        }
        let msg = Checkin::from_dict(d).map_err(|e| SimError::Build(e.to_string()))?;
        Ok(msg.to_bytes(Format::Xml))
    }

    fn serial(&self) -> String {
        let tail: String = self.udid.chars().rev().take(8).collect();
        format!("SIM{}", tail.chars().rev().collect::<String>())
    }

    /// `Authenticate`.
    fn authenticate(&self) -> Result<Vec<u8>, SimError> {
        let s = |v: &str| Value::String(v.to_owned());
        self.checkin(
            "Authenticate",
            vec![
                ("Topic", s("com.apple.mgmt.External.mdmkit-simulate")),
                ("SerialNumber", s(&self.serial())),
                ("Model", s("iPad13,1")),
                ("ModelName", s("iPad")),
                ("ProductName", s("iPad13,1")),
                ("OSVersion", s("17.5")),
                ("BuildVersion", s("21F79")),
                ("DeviceName", s("iPad (simulated)")),
            ],
        )
    }

    /// `TokenUpdate`.
    fn token_update(&self) -> Result<Vec<u8>, SimError> {
        self.checkin(
            "TokenUpdate",
            vec![
                (
                    "Topic",
                    Value::String("com.apple.mgmt.External.mdmkit-simulate".into()),
                ),
                ("Token", Value::Data(self.udid.as_bytes().to_vec())),
                ("PushMagic", Value::String(format!("magic-{}", self.udid))),
            ],
        )
    }

    fn report(
        &self,
        status: &str,
        uuid: Option<&str>,
        result: Dictionary,
    ) -> Result<Vec<u8>, SimError> {
        let mut d = result;
        self.ids(&mut d);
        d.insert("Status".into(), Value::String(status.into()));
        if let Some(u) = uuid {
            d.insert("CommandUUID".into(), Value::String(u.into()));
        }
        let r = CommandReport::from_dict(d).map_err(|e| SimError::Build(e.to_string()))?;
        Ok(r.to_bytes(Format::Xml))
    }

    fn signature(&self, body: &[u8]) -> Result<String, SimError> {
        let der = mdmkit::apple::cms::sign_detached(body, &self.signer)
            .map_err(|e| SimError::Identity(e.to_string()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(der))
    }

    /// A signed PUT; the answer's body when it is a 200.
    async fn put(
        &self,
        http: &Http,
        url: &str,
        body: Vec<u8>,
        timed: Timed,
        stats: &mut Stats,
    ) -> Result<Vec<u8>, SimError> {
        let sig = self.signature(&body)?;
        let req = http
            .client
            .put(url)
            .header("content-type", "application/x-apple-aspen-mdm")
            .header("Mdm-Signature", sig)
            .body(body);
        http.send(req, timed, stats).await
    }

    /// Enrollment: `Authenticate` and `TokenUpdate` at the check-in URL.
    pub(crate) async fn enroll(&self, http: &Http, stats: &mut Stats) -> Result<(), SimError> {
        let url = http.apple_checkin_url();
        let body = self.authenticate()?;
        self.put(
            http,
            &url,
            body,
            Timed::new("apple.authenticate", Phase::Enroll),
            stats,
        )
        .await?;
        let body = self.token_update()?;
        self.put(
            http,
            &url,
            body,
            Timed::new("apple.token_update", Phase::Enroll),
            stats,
        )
        .await?;
        Ok(())
    }

    /// One session on the command channel: `Idle`, then the answer to each
    /// command, until the server answers with an empty body.
    pub(crate) async fn session(&mut self, http: &Http, stats: &mut Stats) -> Result<(), SimError> {
        let url = format!("{}/{}/apple/mdm", http.base, http.tenant);
        let mut body = self.report("Idle", None, Dictionary::new())?;
        let mut kind = "apple.idle";
        for _ in 0..MAX_COMMANDS_PER_SESSION {
            let answer = self
                .put(http, &url, body, Timed::new(kind, Phase::Checkin), stats)
                .await?;
            if answer.is_empty() {
                return Ok(());
            }
            let started = Instant::now();
            let cmd = match Command::from_bytes(&answer, &Limits::DEFAULT) {
                Ok(c) => c,
                Err(e) => {
                    let reason = format!("the command does not parse: {e}");
                    stats.error("apple.command", Phase::Checkin, &reason);
                    return Err(SimError::Answer(reason));
                }
            };
            let (status, result) = self.apply(&cmd);
            stats.ok("apple.apply", Phase::Checkin, started.elapsed());
            kind = match status {
                "Acknowledged" => "apple.acknowledged",
                _ => "apple.error",
            };
            body = self.report(status, Some(cmd.uuid.as_str()), result)?;
        }
        Err(SimError::Answer(format!(
            "more than {MAX_COMMANDS_PER_SESSION} commands in one session"
        )))
    }

    /// What the device does with a command: its status and result keys.
    fn apply(&mut self, cmd: &Command) -> (&'static str, Dictionary) {
        let mut result = Dictionary::new();
        match cmd.request_type.as_str() {
            "InstallProfile" => {
                let payload = match cmd.keys.get("Payload") {
                    Some(Value::Data(d)) => d.as_slice(),
                    _ => return error_report("InstallProfile without a Payload"),
                };
                let profile = SignedProfile::from_bytes(payload, &Limits::DEFAULT)
                    .map(|s| s.profile)
                    .or_else(|_| mdmkit::apple::Profile::from_bytes(payload, &Limits::DEFAULT));
                match profile {
                    Ok(p) => {
                        self.profiles.insert(p.identifier);
                    }
                    Err(e) => return error_report(&format!("the profile does not parse: {e}")),
                }
            }
            "RemoveProfile" => {
                if let Some(Value::String(id)) = cmd.keys.get("Identifier") {
                    self.profiles.remove(id);
                }
            }
            "ProfileList" => {
                let list = self
                    .profiles
                    .iter()
                    .map(|id| {
                        let mut p = Dictionary::new();
                        p.insert("PayloadIdentifier".into(), Value::String(id.clone()));
                        p.insert("PayloadRemovalDisallowed".into(), Value::Boolean(false));
                        p.insert("IsManaged".into(), Value::Boolean(true));
                        Value::Dictionary(p)
                    })
                    .collect();
                result.insert("ProfileList".into(), Value::Array(list));
            }
            "DeviceInformation" => {
                let mut q = Dictionary::new();
                let facts = [
                    ("UDID", self.udid.clone()),
                    ("SerialNumber", self.serial()),
                    ("Model", "iPad13,1".into()),
                    ("ModelName", "iPad".into()),
                    ("ProductName", "iPad13,1".into()),
                    ("OSVersion", "17.5".into()),
                    ("BuildVersion", "21F79".into()),
                    ("DeviceName", "iPad (simulated)".into()),
                ];
                let asked: Vec<String> = match cmd.keys.get("Queries") {
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(|v| v.as_string().map(str::to_owned))
                        .collect(),
                    _ => facts.iter().map(|(k, _)| (*k).to_owned()).collect(),
                };
                for (k, v) in facts {
                    if asked.iter().any(|a| a == k) {
                        q.insert(k.into(), Value::String(v));
                    }
                }
                result.insert("QueryResponses".into(), Value::Dictionary(q));
            }
            _ => {}
        }
        ("Acknowledged", result)
    }
}

/// A session that keeps getting commands is cut after this many.
const MAX_COMMANDS_PER_SESSION: usize = 1000;

fn error_report(reason: &str) -> (&'static str, Dictionary) {
    let mut item = Dictionary::new();
    item.insert("ErrorCode".into(), Value::Integer(1000.into()));
    item.insert(
        "ErrorDomain".into(),
        Value::String("MCProfileErrorDomain".into()),
    );
    item.insert(
        "LocalizedDescription".into(),
        Value::String(reason.to_owned()),
    );
    item.insert(
        "USEnglishDescription".into(),
        Value::String(reason.to_owned()),
    );
    let mut d = Dictionary::new();
    d.insert(
        "ErrorChain".into(),
        Value::Array(vec![Value::Dictionary(item)]),
    );
    ("Error", d)
}
