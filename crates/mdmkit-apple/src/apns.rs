//! The APNs push that wakes a device to fetch its commands, as data.
//!
//! mdmkit does not send it: the integrator owns the HTTP/2 client and the
//! MDM push certificate (whose subject UID is the topic). The request is
//!
//! ```text
//! POST https://api.push.apple.com/3/device/<token as hex>
//! apns-topic: <Topic from TokenUpdate>
//! apns-push-type: mdm
//! apns-priority: 10
//!
//! {"mdm":"<PushMagic from TokenUpdate>"}
//! ```
//!
//! sent over HTTP/2 with the push certificate as the TLS client
//! certificate. A 200 means APNs accepted it; 410 means the token is no
//! longer valid (the device left, wait for a new TokenUpdate).
//!
//! ```
//! use mdmkit_apple::apns::PushRequest;
//!
//! let push = PushRequest::new("com.apple.mgmt.External.1", "4D1C-77", vec![0xde, 0xad])?;
//! assert_eq!(push.path(), "/3/device/dead");
//! assert_eq!(push.body(), r#"{"mdm":"4D1C-77"}"#);
//! # Ok::<(), mdmkit_apple::apns::PushError>(())
//! ```

use crate::generated::checkin::TokenUpdate;

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
        })
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
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("apns-topic", self.topic.clone()),
            ("apns-push-type", "mdm".to_owned()),
            ("apns-priority", "10".to_owned()),
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
