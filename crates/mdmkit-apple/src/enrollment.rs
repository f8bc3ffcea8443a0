//! The MDM enrollment profile: what an Apple device installs to join the
//! server.
//!
//! It carries two payloads: a SCEP payload (`com.apple.security.scep`),
//! with which the device asks the server's SCEP endpoint for its identity
//! certificate, spending a one-time challenge; and the MDM payload
//! (`com.apple.mdm`), which names that identity
//! (`IdentityCertificateUUID`), the server's URLs, the push topic, and
//! asks the device to sign its messages (`SignMessage`, so that the
//! server can authenticate it without TLS client certificates, as behind
//! a TLS-terminating proxy). Optionally a root payload makes the device
//! trust the server's TLS anchor.
//!
//! ```
//! use mdmkit_apple::enrollment::{EnrollmentProfile, Scep};
//! use mdmkit_apple::Format;
//!
//! let profile = EnrollmentProfile::new(
//!     "https://mdm.example.org/town-7/apple/mdm",
//!     "com.apple.mgmt.External.0123",
//!     Scep::new("https://mdm.example.org/town-7/scep", "0f3c...challenge"),
//! )
//! .check_in_url("https://mdm.example.org/town-7/apple/checkin")
//! .organization("Town 7")
//! .build(&"town-7".parse()?, "com.example.mdm")?;
//! assert!(profile.validate().is_empty());
//! // The MDM payload names the SCEP payload as the device's identity.
//! let scep = profile.payloads.iter().find(|p| p.payload_type == "com.apple.security.scep").unwrap();
//! let mdm = profile.payloads.iter().find(|p| p.payload_type == "com.apple.mdm").unwrap();
//! assert_eq!(mdm.content["IdentityCertificateUUID"].as_string(), Some(scep.uuid.as_str()));
//! let xml = profile.to_bytes(Format::Xml);
//! assert!(std::str::from_utf8(&xml)?.contains("com.apple.mdm"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use mdmkit_core::TenantId;
use plist::{Dictionary, Value};

use crate::error::ProfileError;
use crate::generated::profiles::{MdmPayload, SecurityScepPayload, SecurityScepPayloadContent};
use crate::profile::{Profile, ProfileBuilder, ProfileId};
use crate::typed::PlistDict as _;

/// Every right the MDM protocol defines (`AccessRights` 8191): the
/// server may inspect and manage everything the device allows.
pub const ALL_ACCESS_RIGHTS: i64 = 8191;

/// What mdmkit's server supports beyond the base protocol.
pub const SERVER_CAPABILITIES: &[&str] = &[
    "com.apple.mdm.per-user-connections",
    "com.apple.mdm.bootstraptoken",
];

/// The SCEP payload's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Scep {
    /// The SCEP endpoint (`https://.../{tenant}/scep`).
    pub url: String,
    /// The one-time challenge (the CSR's `challengePassword`).
    pub challenge: String,
    /// The subject the device puts in its request, as
    /// `(attribute, value)` pairs (`("CN", "...")`, `("O", "...")`).
    pub subject: Vec<(String, String)>,
    /// RSA key size the device generates.
    pub key_size: i64,
    /// SHA-256 of the CA (or RA) certificate the device must see in
    /// `GetCACert`, when set.
    pub ca_fingerprint: Option<Vec<u8>>,
    /// The name the SCEP server gives itself (`Name`, sent as the
    /// `message` of `GetCACert`).
    pub name: Option<String>,
}

impl Scep {
    /// SCEP at `url` with `challenge`; a 2048-bit key and the subject
    /// `CN=mdmkit device identity`.
    pub fn new(url: impl Into<String>, challenge: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            challenge: challenge.into(),
            subject: vec![("CN".into(), "mdmkit device identity".into())],
            key_size: 2048,
            ca_fingerprint: None,
            name: None,
        }
    }

    /// Sets the requested subject.
    pub fn subject(mut self, subject: Vec<(String, String)>) -> Self {
        self.subject = subject;
        self
    }

    /// Pins the CA (or RA) certificate by its SHA-256.
    pub fn ca_fingerprint(mut self, sha256: Vec<u8>) -> Self {
        self.ca_fingerprint = Some(sha256);
        self
    }

    fn content(&self) -> Dictionary {
        let c = SecurityScepPayloadContent {
            url: Some(self.url.clone()),
            name: self.name.clone(),
            subject: Some(
                self.subject
                    .iter()
                    .map(|(k, v)| vec![vec![k.clone(), v.clone()]])
                    .collect(),
            ),
            challenge: Some(self.challenge.clone()),
            keysize: Some(self.key_size),
            key_type: Some("RSA".into()),
            // Signing and encryption (1 | 4): the identity signs
            // `Mdm-Signature` and decrypts SCEP replies.
            key_usage: Some(5),
            ca_fingerprint: self.ca_fingerprint.clone(),
            ..SecurityScepPayloadContent::default()
        };
        SecurityScepPayload {
            payload_content: Some(c),
            ..SecurityScepPayload::default()
        }
        .to_dict()
    }
}

/// An MDM enrollment profile, built with [`EnrollmentProfile::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnrollmentProfile {
    /// `ServerURL`: where the device fetches its commands.
    pub server_url: String,
    /// `CheckInURL`: where it checks in (the server URL when absent).
    pub check_in_url: Option<String>,
    /// `Topic`: the push certificate's topic.
    pub topic: String,
    /// How the device gets its identity.
    pub scep: Scep,
    /// `SignMessage`.
    pub sign_message: bool,
    /// `AccessRights`.
    pub access_rights: i64,
    /// `CheckOutWhenRemoved`.
    pub check_out_when_removed: bool,
    /// `PayloadOrganization` and the display name's subject.
    pub organization: Option<String>,
    /// DER certificates installed as trusted roots (the server's TLS
    /// anchor, when it is not publicly trusted).
    pub anchors: Vec<Vec<u8>>,
}

impl EnrollmentProfile {
    /// An enrollment for the server at `server_url` with push `topic`,
    /// the identity from `scep`; signed messages, every access right,
    /// check-out when removed.
    pub fn new(server_url: impl Into<String>, topic: impl Into<String>, scep: Scep) -> Self {
        Self {
            server_url: server_url.into(),
            check_in_url: None,
            topic: topic.into(),
            scep,
            sign_message: true,
            access_rights: ALL_ACCESS_RIGHTS,
            check_out_when_removed: true,
            organization: None,
            anchors: Vec::new(),
        }
    }

    /// Sets `CheckInURL`.
    pub fn check_in_url(mut self, url: impl Into<String>) -> Self {
        self.check_in_url = Some(url.into());
        self
    }

    /// Sets the organization shown on the device.
    pub fn organization(mut self, name: impl Into<String>) -> Self {
        self.organization = Some(name.into());
        self
    }

    /// Installs a trusted root (DER) with the profile.
    pub fn anchor(mut self, der: Vec<u8>) -> Self {
        self.anchors.push(der);
        self
    }

    /// Builds the profile, identified as `<prefix>.<tenant>.enrollment`.
    pub fn build(&self, tenant: &TenantId, prefix: &str) -> Result<Profile, ProfileError> {
        let name = self.organization.as_deref().unwrap_or(tenant.as_str());
        // Everything but the MDM payload: built once alone to learn the
        // SCEP payload's UUID (UUIDs derive from each payload's own keys),
        // then again with the MDM payload that names it.
        let base = || -> Result<ProfileBuilder, ProfileError> {
            let mut b = ProfileBuilder::new(ProfileId::new(prefix, tenant, "enrollment")?)
                .display_name(format!("{name}: device management"))
                .description(format!(
                    "Enrolls this device in the device management of {name}."
                ));
            if let Some(o) = &self.organization {
                b = b.organization(o.clone());
            }
            for (i, der) in self.anchors.iter().enumerate() {
                let mut d = Dictionary::new();
                d.insert("PayloadContent".into(), Value::Data(der.clone()));
                b = b
                    .payload("com.apple.security.root", format!("anchor{i}"), d)
                    .payload_display_name("Server trust anchor");
            }
            Ok(
                b.payload("com.apple.security.scep", "identity", self.scep.content())
                    .payload_display_name("Device identity"),
            )
        };
        let identity = base()?
            .build()?
            .payloads
            .iter()
            .find(|p| p.payload_type == "com.apple.security.scep")
            .map(|p| p.uuid.clone())
            .unwrap_or_default();
        let mdm = MdmPayload {
            identity_certificate_uuid: Some(identity),
            topic: Some(self.topic.clone()),
            server_url: Some(self.server_url.clone()),
            check_in_url: self.check_in_url.clone(),
            sign_message: Some(self.sign_message),
            access_rights: Some(self.access_rights),
            server_capabilities: Some(
                SERVER_CAPABILITIES
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
            ),
            check_out_when_removed: Some(self.check_out_when_removed),
            ..MdmPayload::default()
        };
        base()?
            .typed_payload("mdm", &mdm)
            .payload_display_name("Device management")
            .build()
    }
}
