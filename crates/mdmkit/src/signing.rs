//! Signed policy layers: who wrote which rules.
//!
//! A policy file `policies/NAME.toml` may carry a signature in the sidecar
//! `policies/NAME.toml.sig`: an Ed25519 [`Signed`] envelope
//! (`mdmkit-identity`) whose [`PolicySignature`] payload binds the tenant,
//! the policy id and the SHA-256 of the file's exact bytes. The tree file
//! declares which keys may sign ([`Author`](crate::policy::Author) entries:
//! `[[author]] key, public_key, node, may = ["author", "lock"]`), and a
//! grant at a node covers its whole subtree. [`verify_layers`] checks every
//! assigned policy against those grants:
//!
//! - the signature verifies under the key the tree declares for its id;
//! - the payload names this tenant and this policy, and the file's bytes
//!   hash to the signed digest (any change after signing is caught);
//! - at every node the policy is assigned to (for a device's own policy:
//!   the device's node), the key holds `author`, and `lock` too when the
//!   policy has `[policy] locks`.
//!
//! When the tenant sets `require_signatures = true`, any unsigned,
//! tampered, wrongly keyed or out-of-scope layer makes [`verify_layers`]
//! fail with [`SigningError::Rejected`], naming the file, the node and the
//! reason. Otherwise the [`LayerReport`] says which layers are signed and
//! by whom, which a console can show ("these rules are the académie's"),
//! and lists bad signatures as problems without failing.
//!
//! ```
//! use mdmkit::identity::{EnvelopeSigner, KeyId};
//! use mdmkit::policy::{Author, Grant, Tenant};
//! use mdmkit::signing::{sign_policy_file, verify_layers, write_signature};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir(dir.path().join("policies"))?;
//! let file = dir.path().join("policies/floor.toml");
//! std::fs::write(&file, "[policy]\nlocks = [\"restrictions.camera\"]\n[restrictions]\ncamera = \"deny\"\n")?;
//!
//! let signer = EnvelopeSigner::from_seed(KeyId::new("rectorat")?, [7; 32]);
//! let mut tenant = Tenant::new("region".parse()?);
//! tenant.set_requires_signatures(true);
//! let root = tenant.root().id().clone();
//! tenant.add_author(
//!     Author::new("rectorat".parse()?, signer.public_key().0, root.clone()).with_grant(Grant::Lock),
//! )?;
//! tenant.set_policy(mdmkit::policy::Policy::from_path(&file)?);
//! tenant.set_policy_file("floor".parse()?, &file);
//! tenant.assign(&root, "floor".parse()?)?;
//!
//! let signed = sign_policy_file(&file, tenant.id(), &signer)?;
//! write_signature(&file, &signed)?;
//! let report = verify_layers(dir.path(), &tenant)?;
//! assert_eq!(report.signed_by("floor"), Some("rectorat"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Read as _;
use std::path::{Path, PathBuf};

use mdmkit_core::TenantId;
use mdmkit_identity::{EnvelopeError, EnvelopeSigner, KeyId, Keyring, Payload, PublicKey, Signed};
use mdmkit_policy::{Format, Grant, Issues, MAX_DOCUMENT_BYTES, Policy, PolicyId, Tenant};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

mod keyfile;
mod report;

pub use keyfile::{read_key_file, write_key_file};
pub use report::{Layer, LayerFailure, LayerProblem, LayerReport, LayerScope, LayerStatus};

/// What the sidecar signature of a policy file signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicySignature {
    /// The tenant the policy belongs to: a signature cannot be moved to
    /// another tenant's tree.
    pub tenant: TenantId,
    /// The policy id: a signature cannot be moved to another policy.
    pub policy: PolicyId,
    /// The SHA-256 of the policy file's exact bytes, lower-case hex.
    pub sha256: String,
    /// When it was signed (RFC 3339, UTC); informative.
    pub signed_at: String,
}

impl Payload for PolicySignature {
    const KIND: &'static str = "policy-layer";
}

/// The suffix of a signature sidecar: `NAME.toml` is signed by
/// `NAME.toml.sig`.
pub const SIGNATURE_SUFFIX: &str = ".sig";

/// The largest signature file read, in bytes.
pub const MAX_SIGNATURE_BYTES: u64 = 64 * 1024;

/// The sidecar signature path of a policy file.
pub fn signature_path(policy_file: &Path) -> PathBuf {
    let mut s = policy_file.as_os_str().to_owned();
    s.push(SIGNATURE_SUFFIX);
    PathBuf::from(s)
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The SHA-256 of `bytes`, lower-case hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(crate) fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Reads at most `max` bytes of a file; more is an error.
fn read_at_most(path: &Path, max: u64) -> Result<Vec<u8>, SigningError> {
    let io = |source| SigningError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(SigningError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(bytes)
}

/// Parses a policy from its exact bytes, the id defaulting to the file name
/// as the loader does.
fn parse_policy(path: &Path, bytes: &[u8]) -> Result<Policy, SigningError> {
    let invalid = |issues: Issues| SigningError::InvalidPolicy {
        path: path.to_path_buf(),
        issues,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        invalid(Issues(vec![mdmkit_policy::Issue::whole(
            mdmkit_policy::IssueKind::Syntax,
            format!("not UTF-8 text: {e}"),
        )]))
    })?;
    let format = Format::from_path(path).unwrap_or(Format::Toml);
    let default_id = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| PolicyId::new(s).ok());
    let parsed = match &default_id {
        Some(id) => Policy::parse_with_default_id(text, format, id),
        None => Policy::parse(text, format),
    };
    parsed.map_err(|mut issues| {
        issues.set_file(path);
        invalid(issues)
    })
}

/// Signs the exact bytes of a policy document for `tenant`, at `signed_at`.
pub fn sign_policy_bytes(
    bytes: &[u8],
    tenant: &TenantId,
    policy: &PolicyId,
    signer: &EnvelopeSigner,
    signed_at: OffsetDateTime,
) -> Result<Signed<PolicySignature>, SigningError> {
    let payload = PolicySignature {
        tenant: tenant.clone(),
        policy: policy.clone(),
        sha256: sha256_hex(bytes),
        signed_at: signed_at
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .unwrap_or_default(),
    };
    signer.sign(&payload).map_err(SigningError::Envelope)
}

/// Signs a policy file for `tenant`, now. The file must be a valid policy
/// (its id is read from it); nothing is written: see [`write_signature`].
pub fn sign_policy_file(
    path: &Path,
    tenant: &TenantId,
    signer: &EnvelopeSigner,
) -> Result<Signed<PolicySignature>, SigningError> {
    let bytes = read_at_most(path, MAX_DOCUMENT_BYTES as u64)?;
    let policy = parse_policy(path, &bytes)?;
    sign_policy_bytes(
        &bytes,
        tenant,
        &policy.id,
        signer,
        OffsetDateTime::now_utc(),
    )
}

/// Writes `signed` next to `policy_file` (`NAME.toml.sig`), replacing any
/// previous signature atomically; returns the signature's path.
pub fn write_signature(
    policy_file: &Path,
    signed: &Signed<PolicySignature>,
) -> Result<PathBuf, SigningError> {
    let path = signature_path(policy_file);
    let mut text = serde_json::to_string_pretty(signed).map_err(|e| {
        SigningError::Envelope(EnvelopeError::Encode {
            reason: e.to_string(),
        })
    })?;
    text.push('\n');
    let tmp = signature_path(&path.with_extension("sig.tmp"));
    let write = |source| SigningError::Write {
        path: path.clone(),
        source,
    };
    std::fs::write(&tmp, text).map_err(write)?;
    std::fs::rename(&tmp, &path).map_err(write)?;
    Ok(path)
}

/// The keyring of a tenant's declared authors.
pub fn keyring_of(tenant: &Tenant) -> Result<Keyring, SigningError> {
    let mut ring = Keyring::new();
    for a in tenant.authors() {
        let bad = |source| SigningError::BadAuthorKey {
            key: a.key.to_string(),
            source,
        };
        let id = KeyId::new(a.key.as_str()).map_err(bad)?;
        ring.insert(id, PublicKey(a.public_key)).map_err(bad)?;
    }
    Ok(ring)
}

/// Errors of signing and verifying policy layers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// Signatures are required and some layers fail; every failure is
    /// listed, the first is shown.
    #[error("{}", rejected_message(failures))]
    Rejected {
        /// Every failing layer and scope.
        failures: Vec<LayerFailure>,
    },
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A signature file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than accepted.
    #[error("{} is larger than the {max}-byte limit", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
    /// The file to sign is not a valid policy.
    #[error("{} is not a valid policy: {issues}", path.display())]
    InvalidPolicy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        issues: Issues,
    },
    /// A key declared in the tree cannot be used.
    #[error("author key {key} cannot be used")]
    BadAuthorKey {
        /// The key id.
        key: String,
        /// Why.
        #[source]
        source: EnvelopeError,
    },
    /// Signing failed.
    #[error("cannot sign the policy")]
    Envelope(#[source] EnvelopeError),
}

fn rejected_message(failures: &[LayerFailure]) -> String {
    match failures {
        [] => "policy layers rejected".to_owned(),
        [one] => format!("policy layer rejected: {one}"),
        [first, rest @ ..] => format!("policy layer rejected: {first} (and {} more)", rest.len()),
    }
}

/// Where each policy applies: its nodes, then devices that list it.
/// The devices that name policies of their own, by policy: one pass over
/// the inventory for all policies (a pass per policy cost 213 passes over
/// 100,000 devices on the scale bench's region).
fn device_scopes(tenant: &Tenant) -> std::collections::HashMap<&PolicyId, Vec<LayerScope>> {
    let mut out: std::collections::HashMap<&PolicyId, Vec<LayerScope>> =
        std::collections::HashMap::new();
    for d in tenant.devices().filter(|d| !d.policies.is_empty()) {
        for p in &d.policies {
            out.entry(p).or_default().push(LayerScope::Device {
                device: d.id.clone(),
                node: d.node.clone(),
            });
        }
    }
    out
}

fn scopes_of(
    tenant: &Tenant,
    policy: &PolicyId,
    devices: &std::collections::HashMap<&PolicyId, Vec<LayerScope>>,
) -> Vec<LayerScope> {
    let mut out: Vec<LayerScope> = tenant
        .nodes_using(policy)
        .into_iter()
        .map(|n| LayerScope::Node { node: n.clone() })
        .collect();
    if let Some(d) = devices.get(policy) {
        out.extend(d.iter().cloned());
    }
    out
}

fn file_of(dir: &Path, tenant: &Tenant, policy: &PolicyId) -> Option<PathBuf> {
    if let Some(f) = tenant.policy_file(policy) {
        return Some(f.to_path_buf());
    }
    ["toml", "json"]
        .iter()
        .map(|ext| dir.join("policies").join(format!("{policy}.{ext}")))
        .find(|p| p.is_file())
}

/// The outcome of checking one layer's signature, before scopes.
enum Checked {
    Ok(PolicySignature, KeyId),
    Problem(LayerProblem),
}

fn check_signature(file: &Path, tenant: &Tenant, policy: &Policy, keyring: &Keyring) -> Checked {
    let bytes = match read_at_most(file, MAX_DOCUMENT_BYTES as u64) {
        Ok(b) => b,
        Err(e) => {
            return Checked::Problem(LayerProblem::Unreadable {
                reason: error_chain(&e),
            });
        }
    };
    let sig_path = signature_path(file);
    if !sig_path.exists() {
        return Checked::Problem(LayerProblem::Unsigned);
    }
    let sig_bytes = match read_at_most(&sig_path, MAX_SIGNATURE_BYTES) {
        Ok(b) => b,
        Err(e) => {
            return Checked::Problem(LayerProblem::Unreadable {
                reason: error_chain(&e),
            });
        }
    };
    let signed: Signed<PolicySignature> = match serde_json::from_slice(&sig_bytes) {
        Ok(s) => s,
        Err(e) => {
            return Checked::Problem(LayerProblem::Malformed {
                reason: format!("{}: {e}", sig_path.display()),
            });
        }
    };
    let key = signed.key_id().clone();
    let payload = match keyring.verify(&signed) {
        Ok(p) => p,
        Err(EnvelopeError::UnknownKey { key_id }) => {
            return Checked::Problem(LayerProblem::UnknownKey { key: key_id });
        }
        Err(EnvelopeError::BadSignature) => {
            return Checked::Problem(LayerProblem::BadSignature {
                key: key.to_string(),
            });
        }
        Err(e) => {
            return Checked::Problem(LayerProblem::Malformed {
                reason: e.to_string(),
            });
        }
    };
    if &payload.tenant != tenant.id() {
        return Checked::Problem(LayerProblem::WrongTenant {
            found: payload.tenant.to_string(),
        });
    }
    if payload.policy != policy.id {
        return Checked::Problem(LayerProblem::WrongPolicy {
            found: payload.policy.to_string(),
        });
    }
    let actual = sha256_hex(&bytes);
    if !payload.sha256.eq_ignore_ascii_case(&actual) {
        return Checked::Problem(LayerProblem::Tampered {
            signed: payload.sha256,
            actual,
        });
    }
    // The signed bytes must be what the tenant was loaded from.
    match parse_policy(file, &bytes) {
        Ok(p) if &p == policy => {}
        _ => return Checked::Problem(LayerProblem::Changed),
    }
    Checked::Ok(payload, key)
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

/// Checks the signature of every policy of `tenant` (loaded from `dir`)
/// against the authors and grants its tree declares; see the module docs.
///
/// When the tenant requires signatures, any problem of an assigned layer is
/// an error listing them all. Otherwise the report lists what is signed, by
/// whom, and the problems of signatures that are there but do not hold.
pub fn verify_layers(dir: &Path, tenant: &Tenant) -> Result<LayerReport, SigningError> {
    let keyring = keyring_of(tenant)?;
    let required = tenant.requires_signatures();
    let mut layers = Vec::new();
    let mut problems = Vec::new();
    let device_scopes = device_scopes(tenant);
    for policy in tenant.policies() {
        let scopes = scopes_of(tenant, &policy.id, &device_scopes);
        let file = file_of(dir, tenant, &policy.id);
        let locks = !policy.locks.is_empty();
        let failure = |scope: Option<LayerScope>, problem: LayerProblem| LayerFailure {
            policy: policy.id.clone(),
            file: file.clone(),
            scope,
            problem,
        };
        // A problem of the signature itself is reported at every scope, so
        // that each line names a node.
        let everywhere = |problem: LayerProblem| -> Vec<LayerFailure> {
            if scopes.is_empty() {
                vec![failure(None, problem)]
            } else {
                scopes
                    .iter()
                    .map(|sc| failure(Some(sc.clone()), problem.clone()))
                    .collect()
            }
        };
        let mut layer_problems = Vec::new();
        let checked = match &file {
            Some(f) => check_signature(f, tenant, policy, &keyring),
            None => Checked::Problem(LayerProblem::NoFile),
        };
        let status = match checked {
            Checked::Problem(LayerProblem::Unsigned) => {
                if required {
                    layer_problems.extend(everywhere(LayerProblem::Unsigned));
                }
                LayerStatus::Unsigned
            }
            Checked::Problem(LayerProblem::NoFile) if !required => LayerStatus::Unsigned,
            Checked::Problem(p) => {
                layer_problems.extend(everywhere(p));
                LayerStatus::Invalid
            }
            Checked::Ok(payload, key) => {
                let author_key = mdmkit_policy::AuthorKeyId::new(key.as_str()).ok();
                let mut author_name = None;
                for scope in &scopes {
                    let grant = author_key
                        .as_ref()
                        .and_then(|k| tenant.author_grant(k, scope.node(), Grant::Author));
                    let Some(grant) = grant else {
                        layer_problems.push(failure(
                            Some(scope.clone()),
                            LayerProblem::OutOfScope {
                                key: key.to_string(),
                                node: scope.node().clone(),
                            },
                        ));
                        continue;
                    };
                    author_name = author_name.or_else(|| grant.name.clone());
                    if locks
                        && author_key
                            .as_ref()
                            .and_then(|k| tenant.author_grant(k, scope.node(), Grant::Lock))
                            .is_none()
                    {
                        layer_problems.push(failure(
                            Some(scope.clone()),
                            LayerProblem::NoLockRight {
                                key: key.to_string(),
                                node: scope.node().clone(),
                            },
                        ));
                    }
                }
                if author_name.is_none() {
                    author_name = tenant
                        .authors()
                        .iter()
                        .find(|a| a.key.as_str() == key.as_str())
                        .and_then(|a| a.name.clone());
                }
                if layer_problems.is_empty() {
                    LayerStatus::Signed {
                        key: key.to_string(),
                        author: author_name,
                        signed_at: payload.signed_at,
                    }
                } else {
                    LayerStatus::Invalid
                }
            }
        };
        // A policy assigned nowhere affects no device: report, never fail.
        if !scopes.is_empty() {
            problems.extend(layer_problems);
        }
        layers.push(Layer {
            policy: policy.id.clone(),
            file,
            scopes,
            locks,
            status,
        });
    }
    if required && !problems.is_empty() {
        return Err(SigningError::Rejected { failures: problems });
    }
    Ok(LayerReport {
        tenant: tenant.id().clone(),
        requires_signatures: required,
        layers,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sidecar_is_the_file_name_plus_sig() {
        assert_eq!(
            signature_path(Path::new("p/a.toml")),
            PathBuf::from("p/a.toml.sig")
        );
    }

    #[test]
    fn a_rejection_names_the_first_failure_and_counts_the_rest() {
        let f = LayerFailure {
            policy: "p".parse().unwrap(),
            file: Some("policies/p.toml".into()),
            scope: Some(LayerScope::Node {
                node: "school".parse().unwrap(),
            }),
            problem: LayerProblem::Unsigned,
        };
        let e = SigningError::Rejected {
            failures: vec![f.clone(), f],
        };
        assert_eq!(
            e.to_string(),
            "policy layer rejected: policies/p.toml: policy p at node school: unsigned: no .sig file (and 1 more)"
        );
    }
}
