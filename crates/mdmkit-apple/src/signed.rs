//! Signed profiles and the `Mdm-Signature` header.

use base64::Engine as _;

use crate::cms::{self, SigningIdentity, Verified};
use crate::error::{CmsError, Error};
use crate::plist_io::{Format, Limits};
use crate::profile::Profile;

/// A verified signed profile.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SignedProfile {
    /// The profile inside.
    pub profile: Profile,
    /// The DER of the certificate that signed it (trust is the caller's).
    pub signer_certificate: Vec<u8>,
    /// The DER of every certificate carried, signer first.
    pub certificates: Vec<Vec<u8>>,
}

impl SignedProfile {
    /// Verifies a signed profile (DER or PEM SignedData) and parses the
    /// profile inside within `limits`.
    pub fn from_bytes(bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        if bytes.len() > limits.max_bytes {
            return Err(crate::error::PlistError::TooLarge {
                len: bytes.len(),
                max: limits.max_bytes,
            }
            .into());
        }
        let Verified {
            content,
            signer_certificate,
            certificates,
        } = cms::verify(bytes)?;
        Ok(Self {
            profile: Profile::from_bytes(&content, limits)?,
            signer_certificate,
            certificates,
        })
    }
}

impl Profile {
    /// Signs the profile's XML encoding; the result is what devices install
    /// (`.mobileconfig`, DER SignedData).
    pub fn sign(&self, identity: &SigningIdentity) -> Result<Vec<u8>, Error> {
        Ok(cms::sign(&self.to_bytes(Format::Xml), identity)?)
    }
}

/// Verifies an `Mdm-Signature` header (base64 of a detached CMS signature)
/// over a request body and returns the signer certificate's DER, for the
/// caller to check against the enrollment (`mdmkit-identity`).
pub fn verify_mdm_signature(header: &str, body: &[u8]) -> Result<Vec<u8>, CmsError> {
    let compact: String = header
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| CmsError::NotBase64)?;
    Ok(cms::verify_detached(&der, body)?.signer_certificate)
}
