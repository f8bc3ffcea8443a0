//! The APNs push that wakes a device to fetch its commands: the request
//! as data, Apple's answers as typed outcomes and, behind feature `apns`,
//! a provider that sends them.
//!
//! The request is
//!
//! ```text
//! POST https://api.push.apple.com/3/device/<token as hex>
//! apns-topic: <Topic from TokenUpdate>
//! apns-push-type: mdm
//! apns-priority: 10
//! apns-expiration: <unix seconds>
//!
//! {"mdm":"<PushMagic from TokenUpdate>"}
//! ```
//!
//! sent over HTTP/2 with the MDM push certificate (whose subject UID is the
//! topic) as the TLS client certificate. Every answer becomes an
//! [`Outcome`]: APNs' `reason` strings are parsed once into [`Reason`] and
//! classified ([`Reason::class`]), so callers match on types, never on
//! strings.
//!
//! | feature | module | what |
//! |---|---|---|
//! | `apns` | [`client`], [`certificate`] | the provider (hyper 1, HTTP/2 over rustls with aws-lc-rs) and push certificates |
//! | `apns-emulator` | [`emulator`] | a local APNs over TLS for tests and benches |
//!
//! ```
//! use mdmkit_apple::apns::PushRequest;
//!
//! let push = PushRequest::new("com.apple.mgmt.External.1", "4D1C-77", vec![0xde, 0xad])?;
//! assert_eq!(push.path(), "/3/device/dead");
//! assert_eq!(push.body(), r#"{"mdm":"4D1C-77"}"#);
//! # Ok::<(), mdmkit_apple::apns::PushError>(())
//! ```

use std::time::Duration;

use crate::generated::checkin::TokenUpdate;

mod reason;
pub use reason::{Outcome, OutcomeClass, Reason};

#[cfg(feature = "apns")]
#[cfg_attr(docsrs, doc(cfg(feature = "apns")))]
pub mod certificate;
#[cfg(feature = "apns")]
#[cfg_attr(docsrs, doc(cfg(feature = "apns")))]
pub mod client;
#[cfg(feature = "apns-emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "apns-emulator")))]
pub mod emulator;

/// How long APNs keeps trying to deliver an MDM push by default: a device
/// that is off for longer gets a fresh push after the next change anyway.
pub const DEFAULT_EXPIRATION: Duration = Duration::from_secs(24 * 3600);

/// The APNs gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Gateway {
    /// `api.push.apple.com`, where MDM pushes go.
    #[default]
    Production,
    /// `api.sandbox.push.apple.com`, for development certificates.
    Sandbox,
}

impl Gateway {
    /// The gateway's host name.
    pub fn host(self) -> &'static str {
        match self {
            Self::Production => "api.push.apple.com",
            Self::Sandbox => "api.sandbox.push.apple.com",
        }
    }
}

/// Why a push request cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// A field is missing from the TokenUpdate or empty.
    #[error("{0} is missing or empty")]
    Missing(&'static str),
    /// The topic or push magic has characters that do not belong in an
    /// HTTP header or a JSON string.
    #[error("{0} has characters outside printable ASCII")]
    NotPrintable(&'static str),
}

/// One MDM push.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PushRequest {
    topic: String,
    push_magic: String,
    token: Vec<u8>,
    priority: u8,
    expiration: u64,
}

fn printable(s: &str, what: &'static str) -> Result<(), PushError> {
    if s.is_empty() {
        return Err(PushError::Missing(what));
    }
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        Ok(())
    } else {
        Err(PushError::NotPrintable(what))
    }
}

impl PushRequest {
    /// A push to `token` with the device's `topic` and `push_magic`.
    pub fn new(
        topic: impl Into<String>,
        push_magic: impl Into<String>,
        token: Vec<u8>,
    ) -> Result<Self, PushError> {
        let (topic, push_magic) = (topic.into(), push_magic.into());
        printable(&topic, "Topic")?;
        printable(&push_magic, "PushMagic")?;
        if token.is_empty() {
            return Err(PushError::Missing("Token"));
        }
        Ok(Self {
            topic,
            push_magic,
            token,
            priority: 10,
            expiration: 0,
        })
    }

    /// A push to a token given as hex (as the inventory keeps it).
    pub fn from_hex(
        topic: impl Into<String>,
        push_magic: impl Into<String>,
        token_hex: &str,
    ) -> Result<Self, PushError> {
        let bytes = token_hex.as_bytes();
        if !bytes.len().is_multiple_of(2) {
            return Err(PushError::NotPrintable("Token"));
        }
        let token = bytes
            .chunks(2)
            .map(|c| {
                std::str::from_utf8(c)
                    .ok()
                    .and_then(|t| u8::from_str_radix(t, 16).ok())
                    .ok_or(PushError::NotPrintable("Token"))
            })
            .collect::<Result<Vec<u8>, _>>()?;
        Self::new(topic, push_magic, token)
    }

    /// `apns-priority`: 10 (immediately, the default) or 5 (when power
    /// allows). Any other value becomes 10.
    #[must_use]
    pub fn with_priority(mut self, priority: u8) -> Self {
        self.priority = if priority == 5 { 5 } else { 10 };
        self
    }

    /// `apns-expiration`: the Unix time (seconds) until which APNs keeps
    /// trying; 0 (the default) means deliver now or never.
    #[must_use]
    pub fn with_expiration(mut self, unix_seconds: u64) -> Self {
        self.expiration = unix_seconds;
        self
    }

    /// `apns-priority`.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// `apns-expiration` (Unix seconds, 0: now or never).
    pub fn expiration(&self) -> u64 {
        self.expiration
    }

    /// The push for the device or user that sent this TokenUpdate.
    pub fn from_token_update(t: &TokenUpdate) -> Result<Self, PushError> {
        Self::new(
            t.topic.clone().ok_or(PushError::Missing("Topic"))?,
            t.push_magic
                .clone()
                .ok_or(PushError::Missing("PushMagic"))?,
            t.token.clone().ok_or(PushError::Missing("Token"))?,
        )
    }

    /// The device token as lower-case hex, as APNs wants it in the path.
    pub fn token_hex(&self) -> String {
        use std::fmt::Write as _;
        self.token
            .iter()
            .fold(String::with_capacity(self.token.len() * 2), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
    }

    /// The request path, `/3/device/<token>`.
    pub fn path(&self) -> String {
        format!("/3/device/{}", self.token_hex())
    }

    /// The full URL on a gateway.
    pub fn url(&self, gateway: Gateway) -> String {
        format!("https://{}{}", gateway.host(), self.path())
    }

    /// The request headers.
    pub fn headers(&self) -> [(&'static str, String); 4] {
        [
            ("apns-topic", self.topic.clone()),
            ("apns-push-type", "mdm".to_owned()),
            ("apns-priority", self.priority.to_string()),
            ("apns-expiration", self.expiration.to_string()),
        ]
    }

    /// The JSON body, `{"mdm":"<PushMagic>"}`.
    pub fn body(&self) -> String {
        format!("{{\"mdm\":\"{}\"}}", self.push_magic)
    }

    /// The topic (`apns-topic`).
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The `PushMagic` the device gave, sent back in the body.
    pub fn push_magic(&self) -> &str {
        &self.push_magic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_update_becomes_a_push() {
        let t = TokenUpdate {
            topic: Some("com.apple.mgmt.External.1".into()),
            push_magic: Some("ABC-1".into()),
            token: Some(vec![0x0a, 0xff]),
            ..Default::default()
        };
        let p = PushRequest::from_token_update(&t).unwrap();
        assert_eq!(
            p.url(Gateway::Production),
            "https://api.push.apple.com/3/device/0aff"
        );
        assert_eq!(
            p.headers()[0],
            ("apns-topic", "com.apple.mgmt.External.1".into())
        );
        let body: serde_json::Value = serde_json::from_str(&p.body()).unwrap();
        assert_eq!(body["mdm"], "ABC-1");
        let p = p.with_priority(5).with_expiration(1_700_000_000);
        assert_eq!(p.headers()[2], ("apns-priority", "5".into()));
        assert_eq!(p.headers()[3], ("apns-expiration", "1700000000".into()));
        let h = PushRequest::from_hex("t", "m", "0aff").unwrap();
        assert_eq!(h.token_hex(), "0aff");
        assert!(PushRequest::from_hex("t", "m", "0g").is_err());
    }

    #[test]
    fn injection_through_push_magic_is_refused() {
        assert_eq!(
            PushRequest::new("t", "x\",\"aps\":{", vec![1]),
            Err(PushError::NotPrintable("PushMagic"))
        );
        assert_eq!(
            PushRequest::new("t\r\nX: y", "m", vec![1]),
            Err(PushError::NotPrintable("Topic"))
        );
        assert_eq!(
            PushRequest::from_token_update(&TokenUpdate::default()),
            Err(PushError::Missing("Topic"))
        );
    }
}
