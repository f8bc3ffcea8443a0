//! Verifying presented client certificates with rustls-webpki.

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use mdmkit_core::{DeviceId, TenantId};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use time::OffsetDateTime;
use webpki::{
    CertRevocationList, EndEntityCert, KeyUsage, OwnedCertRevocationList, RevocationCheckDepth,
    RevocationOptionsBuilder, UnknownStatusPolicy,
};

use crate::ca::{TenantCa, ca_facts, cert_urns, parse_cert, rfc3339};
use crate::decode;
use crate::error::{CaError, DecodeError, VerifyError};
use crate::serial::{Fingerprint, Serial};
use crate::urn::Urn;

/// Who a verified certificate says the device is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceIdentity {
    /// The tenant, from the device URN (checked against the verifier's).
    pub tenant: TenantId,
    /// The device id, from the device URN.
    pub device_id: DeviceId,
    /// The certificate's serial.
    pub serial: Serial,
    /// SHA-256 of the certificate's DER.
    pub sha256: Fingerprint,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

impl DeviceIdentity {
    /// Whether the certificate ends within `window` of `now` (or already
    /// has): time to send the device a renewal.
    pub fn needs_renewal(&self, now: OffsetDateTime, window: StdDuration) -> bool {
        let window = time::Duration::try_from(window).unwrap_or(time::Duration::MAX);
        now.checked_add(window).is_none_or(|t| t >= self.not_after)
    }
}

/// Verifies device certificates for one tenant: path to the tenant's
/// roots (through its intermediates or ones presented with the
/// certificate), validity at a given time, the clientAuth EKU, revocation
/// by CRL, and the tenant binding of every certificate on the path.
pub struct Verifier {
    tenant: TenantId,
    anchors: Vec<TrustAnchor<'static>>,
    intermediates: Vec<CertificateDer<'static>>,
    crls: Vec<CertRevocationList<'static>>,
    revoked: BTreeSet<Serial>,
    /// subjectKeyIdentifiers of the trusted CAs: a leaf whose
    /// authorityKeyIdentifier is none of them comes from a foreign CA.
    known_skis: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("tenant", &self.tenant)
            .field("anchors", &self.anchors.len())
            .field("intermediates", &self.intermediates.len())
            .field("crls", &self.crls.len())
            .field("revoked", &self.revoked.len())
            .finish()
    }
}

fn tenant_of(der: &[u8], expected: &TenantId) -> Result<(), CaError> {
    let facts = ca_facts(der)?;
    if &facts.tenant != expected {
        return Err(CaError::WrongTenant {
            expected: expected.to_string(),
            found: facts.tenant.to_string(),
        });
    }
    Ok(())
}

impl Verifier {
    /// A verifier for `tenant` that trusts nothing yet.
    pub fn new(tenant: TenantId) -> Self {
        Self {
            tenant,
            anchors: Vec::new(),
            intermediates: Vec::new(),
            crls: Vec::new(),
            revoked: BTreeSet::new(),
            known_skis: Vec::new(),
        }
    }

    /// The tenant this verifier serves.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// Trusts a root CA certificate (PEM or DER) of this tenant.
    pub fn add_root(&mut self, cert: &[u8]) -> Result<&mut Self, CaError> {
        let der = decode::one(cert, &["CERTIFICATE"], decode::MAX_CERT_LEN).map_err(|source| {
            CaError::Decode {
                what: "certificate",
                source,
            }
        })?;
        tenant_of(&der, &self.tenant)?;
        self.known_skis.extend(ski(&der));
        let der = CertificateDer::from(der);
        let anchor = webpki::anchor_from_trusted_cert(&der)
            .map_err(|e| CaError::NotTenantCa {
                reason: e.to_string(),
            })?
            .to_owned();
        self.anchors.push(anchor);
        Ok(self)
    }

    /// Adds an intermediate CA certificate (PEM or DER) of this tenant.
    pub fn add_intermediate(&mut self, cert: &[u8]) -> Result<&mut Self, CaError> {
        let der = decode::one(cert, &["CERTIFICATE"], decode::MAX_CERT_LEN).map_err(|source| {
            CaError::Decode {
                what: "certificate",
                source,
            }
        })?;
        tenant_of(&der, &self.tenant)?;
        self.known_skis.extend(ski(&der));
        self.intermediates.push(CertificateDer::from(der));
        Ok(self)
    }

    /// Adds a CRL (PEM `X509 CRL` or DER) signed by one of this tenant's CAs.
    pub fn add_crl(&mut self, crl: &[u8]) -> Result<&mut Self, CaError> {
        let der = decode::one(crl, &["X509 CRL"], decode::MAX_CERT_LEN * 16).map_err(|source| {
            CaError::Decode {
                what: "CRL",
                source,
            }
        })?;
        let owned = OwnedCertRevocationList::from_der(&der).map_err(|e| CaError::Decode {
            what: "CRL",
            source: DecodeError::Der {
                what: "CRL",
                reason: e.to_string(),
            },
        })?;
        self.crls.push(CertRevocationList::Owned(owned));
        Ok(self)
    }

    /// Refuses `serial` even without a CRL (a revocation ledger's entries).
    pub fn add_revoked_serial(&mut self, serial: Serial) -> &mut Self {
        self.revoked.insert(serial);
        self
    }

    /// Verifies a presented certificate at `now`: PEM (the first
    /// `CERTIFICATE` block is the device's, the rest are intermediates) or
    /// DER.
    pub fn verify(
        &self,
        presented: &[u8],
        now: OffsetDateTime,
    ) -> Result<DeviceIdentity, VerifyError> {
        let mut certs = decode::many(
            presented,
            &["CERTIFICATE"],
            decode::MAX_CERT_LEN,
            decode::MAX_CERTS,
        )?;
        let leaf = certs.remove(0);
        let chain: Vec<&[u8]> = certs.iter().map(Vec::as_slice).collect();
        self.verify_der(&leaf, &chain, now)
    }

    /// Verifies a DER certificate with optional DER intermediates at `now`.
    pub fn verify_der(
        &self,
        leaf: &[u8],
        intermediates: &[&[u8]],
        now: OffsetDateTime,
    ) -> Result<DeviceIdentity, VerifyError> {
        let cert = parse_cert(leaf)?;
        let serial = Serial::from_bytes(cert.raw_serial());
        let leaf_der = CertificateDer::from(leaf);
        let ee = EndEntityCert::try_from(&leaf_der).map_err(map_webpki)?;
        let mut pool: Vec<CertificateDer<'_>> = self.intermediates.clone();
        pool.extend(intermediates.iter().map(|d| CertificateDer::from(*d)));
        let crl_refs: Vec<&CertRevocationList<'_>> = self.crls.iter().collect();
        let revocation = RevocationOptionsBuilder::new(&crl_refs).ok().map(|b| {
            b.with_depth(RevocationCheckDepth::EndEntity)
                .with_status_policy(UnknownStatusPolicy::Allow)
                .build()
        });
        let secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
        let time = UnixTime::since_unix_epoch(StdDuration::from_secs(secs));
        let path = ee
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &self.anchors,
                &pool,
                time,
                KeyUsage::client_auth(),
                revocation,
                None,
            )
            .map_err(|e| match e {
                webpki::Error::CertRevoked => VerifyError::Revoked {
                    serial: serial.to_hex(),
                },
                // Same issuer name, other key: a foreign CA, unless the
                // leaf claims one of our keys (then it was tampered with).
                webpki::Error::InvalidSignatureForPublicKey
                    if aki(&cert).is_some_and(|k| !self.known_skis.contains(&k)) =>
                {
                    VerifyError::UnknownIssuer
                }
                e => map_webpki(e),
            })?;
        for int in path.intermediate_certificates() {
            if let Err(e) = tenant_of(int.der().as_ref(), &self.tenant) {
                return Err(VerifyError::Invalid {
                    reason: format!("intermediate on the path: {e}"),
                });
            }
        }
        let urns = cert_urns(&cert);
        let mut devices = urns.iter().filter_map(|u| match u {
            Urn::Device(t, d) => Some((t, d)),
            _ => None,
        });
        let (tenant, device_id) = devices.next().ok_or_else(|| VerifyError::NoDeviceUrn {
            reason: "no urn:mdmkit:{tenant}:device:{id} subjectAltName".into(),
        })?;
        if devices.next().is_some() {
            return Err(VerifyError::NoDeviceUrn {
                reason: "more than one device URN".into(),
            });
        }

        if tenant != &self.tenant {
            return Err(VerifyError::WrongTenant {
                expected: self.tenant.to_string(),
                found: tenant.to_string(),
            });
        }
        if self.revoked.contains(&serial) {
            return Err(VerifyError::Revoked {
                serial: serial.to_hex(),
            });
        }
        Ok(DeviceIdentity {
            tenant: tenant.clone(),
            device_id: device_id.clone(),
            serial,
            sha256: Fingerprint::of(leaf),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
        })
    }
}

fn key_id_ext(
    cert: &x509_parser::certificate::X509Certificate<'_>,
    authority: bool,
) -> Option<Vec<u8>> {
    use x509_parser::extensions::ParsedExtension;
    cert.iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) if authority => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            ParsedExtension::SubjectKeyIdentifier(k) if !authority => Some(k.0.to_vec()),
            _ => None,
        })
}

fn aki(cert: &x509_parser::certificate::X509Certificate<'_>) -> Option<Vec<u8>> {
    key_id_ext(cert, true)
}

fn ski(der: &[u8]) -> Option<Vec<u8>> {
    key_id_ext(&parse_cert(der).ok()?, false)
}

fn utc(t: UnixTime) -> String {
    let secs = i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(secs)
        .map(rfc3339)
        .unwrap_or_else(|_| secs.to_string())
}

fn map_webpki(e: webpki::Error) -> VerifyError {
    use webpki::Error as E;
    match e {
        E::CertExpired { not_after, .. } => VerifyError::Expired {
            not_after: utc(not_after),
        },
        E::CertNotValidYet { not_before, .. } => VerifyError::NotYetValid {
            not_before: utc(not_before),
        },
        E::UnknownIssuer => VerifyError::UnknownIssuer,
        E::CaUsedAsEndEntity => VerifyError::Invalid {
            reason: "a CA certificate was presented as a device certificate".into(),
        },
        E::InvalidSignatureForPublicKey => VerifyError::BadSignature,
        E::RequiredEkuNotFoundContext(_) => VerifyError::NotForClientAuth,
        #[allow(deprecated)]
        E::RequiredEkuNotFound => VerifyError::NotForClientAuth,
        E::BadDer | E::BadDerTime | E::TrailingData(_) => VerifyError::Decode(DecodeError::Der {
            what: "certificate",
            reason: e.to_string(),
        }),
        e => VerifyError::Invalid {
            reason: e.to_string(),
        },
    }
}

impl TenantCa {
    /// A verifier trusting this CA's root, its intermediate and no CRL yet.
    pub fn verifier(&self) -> Verifier {
        let mut v = Verifier::new(self.tenant.clone());
        // Both certificates were checked when the CA was built or loaded.
        let _ = v.add_root(&self.root.der);
        if let Some(int) = &self.intermediate {
            let _ = v.add_intermediate(&int.der);
        }
        v
    }
}
