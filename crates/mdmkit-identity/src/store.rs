//! The CA directory: a tenant CA, its revocations and its CRL on disk.
//!
//! | file | content | mode |
//! |---|---|---|
//! | `ca.pem` | root certificate (the trust anchor) | 0644 |
//! | `ca.key` | root private key, PKCS#8 PEM | 0600 |
//! | `intermediate.pem` | issuing intermediate certificate, if any | 0644 |
//! | `intermediate.key` | its private key, PKCS#8 PEM | 0600 |
//! | `revoked.json` | the revocation ledger (source of truth) | 0644 |
//! | `crl.pem` | the latest CRL signed by the issuing CA | 0644 |
//!
//! Verification reads only certificates, the ledger and the CRL, never a
//! key, so a verifying front end can be given a copy without `*.key`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use mdmkit_core::DeviceId;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::ca::{CaPem, TenantCa, cert_urns, parse_cert, rfc3339};
use crate::crl::{Crl, Revocation, RevocationReason};
use crate::decode;
use crate::error::{CaError, Error, StoreError};
use crate::serial::Serial;
use crate::urn::Urn;
use crate::verify::Verifier;

/// How long a CRL written by [`CaDir`] stays current.
pub const CRL_LIFETIME: Duration = Duration::days(30);

/// One entry of the revocation ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LedgerEntry {
    /// The revoked certificate's serial.
    pub serial: Serial,
    /// When, RFC 3339 UTC.
    pub revoked_at: String,
    /// The device the certificate identified, if it had a device URN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
    /// Why.
    #[serde(default)]
    pub reason: RevocationReason,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ledger {
    version: u32,
    crl_number: u64,
    revoked: Vec<LedgerEntry>,
}

/// What [`CaDir::revoke`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokeOutcome {
    /// The serial was added to the ledger and a new CRL written.
    Revoked(Serial),
    /// The serial was already revoked; nothing changed.
    AlreadyRevoked(Serial),
}

/// A CA directory (see the module docs for its layout).
#[derive(Debug, Clone)]
pub struct CaDir {
    path: PathBuf,
}

/// Largest ledger accepted, in bytes.
const MAX_LEDGER_LEN: u64 = 64 * 1024 * 1024;
/// Largest key or certificate file accepted, in bytes.
const MAX_PEM_FILE: u64 = 1024 * 1024;

impl CaDir {
    /// The root certificate's file name.
    pub const ROOT_CERT: &'static str = "ca.pem";
    /// The root key's file name.
    pub const ROOT_KEY: &'static str = "ca.key";
    /// The intermediate certificate's file name.
    pub const INTERMEDIATE_CERT: &'static str = "intermediate.pem";
    /// The intermediate key's file name.
    pub const INTERMEDIATE_KEY: &'static str = "intermediate.key";
    /// The revocation ledger's file name.
    pub const LEDGER: &'static str = "revoked.json";
    /// The CRL's file name.
    pub const CRL: &'static str = "crl.pem";

    /// Names a CA directory (nothing is read yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `ca` into `path` (created if missing), refusing to overwrite
    /// an existing CA; keys are written with mode 0600.
    pub fn create(path: impl Into<PathBuf>, ca: &TenantCa) -> Result<Self, StoreError> {
        let dir = Self::new(path);
        fs::create_dir_all(&dir.path).map_err(|source| StoreError::Io {
            path: dir.path.clone(),
            source,
        })?;
        let pem = ca.to_pem();
        let mut files = vec![
            (Self::ROOT_KEY, pem.root_key.clone(), true),
            (Self::ROOT_CERT, pem.root_cert.clone(), false),
        ];
        if let Some((cert, key)) = &pem.intermediate {
            files.push((Self::INTERMEDIATE_KEY, key.clone(), true));
            files.push((Self::INTERMEDIATE_CERT, cert.clone(), false));
        }
        for (name, _, _) in &files {
            let p = dir.file(name);
            if p.exists() {
                return Err(StoreError::Exists { path: p });
            }
        }
        for (name, content, secret) in files {
            write_new(&dir.file(name), content.as_bytes(), secret)?;
        }
        Ok(dir)
    }

    fn read(&self, name: &str, max: u64) -> Result<Vec<u8>, StoreError> {
        let path = self.file(name);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let len = fs::metadata(&path).map_err(io)?.len();
        if len > max {
            return Err(StoreError::Io {
                path: path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("file is {len} bytes, at most {max} are accepted"),
                ),
            });
        }
        fs::read(&path).map_err(io)
    }

    fn read_text(&self, name: &str) -> Result<String, StoreError> {
        let bytes = self.read(name, MAX_PEM_FILE)?;
        String::from_utf8(bytes).map_err(|e| StoreError::Io {
            path: self.file(name),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
            ),
        })
    }

    fn has_intermediate(&self) -> bool {
        self.file(Self::INTERMEDIATE_CERT).exists()
    }

    /// Loads the CA with its keys.
    pub fn load_ca(&self) -> Result<TenantCa, StoreError> {
        let intermediate = if self.has_intermediate() {
            Some((
                self.read_text(Self::INTERMEDIATE_CERT)?,
                self.read_text(Self::INTERMEDIATE_KEY)?,
            ))
        } else {
            None
        };
        let pem = CaPem {
            root_cert: self.read_text(Self::ROOT_CERT)?,
            root_key: self.read_text(Self::ROOT_KEY)?,
            intermediate,
        };
        TenantCa::from_pem(&pem).map_err(|source| StoreError::Ca {
            path: self.path.clone(),
            source,
        })
    }

    /// A verifier for this CA's tenant: its certificates, its CRL and its
    /// revocation ledger (no key is read).
    pub fn verifier(&self) -> Result<Verifier, StoreError> {
        let root = self.read(Self::ROOT_CERT, MAX_PEM_FILE)?;
        let ca_err = |name: &str| {
            let path = self.file(name);
            move |source| StoreError::Ca { path, source }
        };
        let der = decode::one(&root, &["CERTIFICATE"], decode::MAX_CERT_LEN).map_err(|source| {
            StoreError::Ca {
                path: self.file(Self::ROOT_CERT),
                source: CaError::Decode {
                    what: "certificate",
                    source,
                },
            }
        })?;
        let tenant = crate::ca::ca_facts(&der)
            .map_err(ca_err(Self::ROOT_CERT))?
            .tenant;
        let mut v = Verifier::new(tenant);
        v.add_root(&root).map_err(ca_err(Self::ROOT_CERT))?;
        if self.has_intermediate() {
            let int = self.read(Self::INTERMEDIATE_CERT, MAX_PEM_FILE)?;
            v.add_intermediate(&int)
                .map_err(ca_err(Self::INTERMEDIATE_CERT))?;
        }
        if self.file(Self::CRL).exists() {
            let crl = self.read(Self::CRL, MAX_LEDGER_LEN)?;
            v.add_crl(&crl).map_err(ca_err(Self::CRL))?;
        }
        for entry in self.ledger()?.revoked {
            v.add_revoked_serial(entry.serial);
        }
        Ok(v)
    }

    fn ledger(&self) -> Result<Ledger, StoreError> {
        let path = self.file(Self::LEDGER);
        if !path.exists() {
            return Ok(Ledger {
                version: 1,
                ..Ledger::default()
            });
        }
        let bytes = self.read(Self::LEDGER, MAX_LEDGER_LEN)?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Ledger {
            path,
            line: e.line(),
            column: e.column(),
            reason: e.to_string(),
        })
    }

    /// The revocation ledger's entries, oldest first.
    pub fn revocations(&self) -> Result<Vec<LedgerEntry>, StoreError> {
        Ok(self.ledger()?.revoked)
    }

    /// Revokes a certificate (PEM or DER) issued by this CA: records it in
    /// the ledger and writes a fresh CRL. Revoking twice is not an error.
    pub fn revoke(
        &self,
        cert: &[u8],
        reason: RevocationReason,
        now: OffsetDateTime,
    ) -> Result<RevokeOutcome, Error> {
        let ca = self.load_ca()?;
        let der = decode::one(cert, &["CERTIFICATE"], decode::MAX_CERT_LEN)
            .map_err(crate::error::VerifyError::Decode)?;
        let parsed = parse_cert(&der).map_err(crate::error::VerifyError::Decode)?;
        let issuing = parse_cert(ca.issuing_der()).map_err(|source| CaError::Decode {
            what: "certificate",
            source,
        })?;
        let root = parse_cert(ca.root_der()).map_err(|source| CaError::Decode {
            what: "certificate",
            source,
        })?;
        let signed_here = parsed
            .verify_signature(Some(issuing.public_key()))
            .or_else(|_| parsed.verify_signature(Some(root.public_key())))
            .is_ok();
        if !signed_here {
            return Err(CaError::NotIssuedHere {
                reason: "its signature does not verify with this CA's keys".into(),
            }
            .into());
        }
        let device_id = cert_urns(&parsed).into_iter().find_map(|u| match u {
            Urn::Device(_, d) => Some(d),
            _ => None,
        });
        let serial = Serial::from_bytes(parsed.raw_serial());
        let mut ledger = self.ledger()?;
        if ledger.revoked.iter().any(|e| e.serial == serial) {
            return Ok(RevokeOutcome::AlreadyRevoked(serial));
        }
        ledger.revoked.push(LedgerEntry {
            serial: serial.clone(),
            revoked_at: rfc3339(now),
            device_id,
            reason,
        });
        self.write_crl_with(&ca, &mut ledger, now)?;
        Ok(RevokeOutcome::Revoked(serial))
    }

    /// Signs a fresh CRL from the ledger (with the next CRL number), writes
    /// it to `crl.pem` and returns it.
    pub fn write_crl(&self, now: OffsetDateTime) -> Result<Crl, Error> {
        let ca = self.load_ca()?;
        let mut ledger = self.ledger()?;
        self.write_crl_with(&ca, &mut ledger, now)
    }

    fn write_crl_with(
        &self,
        ca: &TenantCa,
        ledger: &mut Ledger,
        now: OffsetDateTime,
    ) -> Result<Crl, Error> {
        let path = self.file(Self::LEDGER);
        let mut revoked = Vec::with_capacity(ledger.revoked.len());
        for (i, e) in ledger.revoked.iter().enumerate() {
            let at = OffsetDateTime::parse(
                &e.revoked_at,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|err| StoreError::Ledger {
                path: path.clone(),
                line: 0,
                column: 0,
                reason: format!("entry {i}: revoked_at {:?}: {err}", e.revoked_at),
            })?;
            revoked.push(Revocation::new(e.serial.clone(), at, e.reason));
        }
        ledger.version = 1;
        ledger.crl_number = ledger.crl_number.saturating_add(1);
        let crl = ca.crl(&revoked, ledger.crl_number, now, now + CRL_LIFETIME)?;
        let json = serde_json::to_vec_pretty(&*ledger).map_err(|e| StoreError::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_replace(&path, &json)?;
        write_replace(&self.file(Self::CRL), crl.pem.as_bytes())?;
        Ok(crl)
    }
}

fn write_new(path: &Path, content: &[u8], secret: bool) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = opts.open(path).map_err(io)?;
    f.write_all(content).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Replaces `path` atomically (write a sibling, then rename over).
fn write_replace(path: &Path, content: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    write_new(&tmp, content, false)?;
    fs::rename(&tmp, path).map_err(|source| StoreError::Io {
        path: path.to_owned(),
        source,
    })
}
