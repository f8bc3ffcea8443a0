//! Secret settings: a value in clear, or a reference resolved only when
//! payloads are encoded.
//!
//! A secret setting (today `wifi[*].password`: a Wi-Fi pre-shared key or
//! an EAP password) may hold its value, or a reference to where the value
//! lives:
//!
//! ```toml
//! [wifi."ECOLE"]
//! security = "wpa2-personal"
//! password = { env = "MDMKIT_SECRET_ECOLE" }        # an environment variable
//! # password = { file = "secrets/ecole.key" }        # a file of the tenant directory
//! ```
//!
//! The tree, effective policies, diffs, content hashes and the audit
//! journal hold the reference, never the value: a tree kept in git leaks
//! nothing. The value is read by a [`SecretResolver`] when payloads are
//! encoded ([`Settings::resolve_secrets`]); [`EnvFileResolver`] is the
//! default, and integrators plug their own (a vault, a KMS).
//!
//! Resolving stamps each reference with a digest of its value
//! ([`SecretRef::sha256`]), which the content hashes cover: a secret
//! rotated behind an unchanged reference changes the hash of its
//! category, and the next reconcile sends it again.
//!
//! References are checked when documents are read: an `env` name is
//! `MDMKIT_SECRET_` followed by capitals, digits and `_` (so a policy
//! author cannot have another variable of the host, a database password,
//! sent to devices); a `file` is a relative path of plain components (no
//! `..`), resolved against the tenant directory and refused when it leads
//! out of it.

use std::collections::HashMap;
use std::fmt;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::model::{Settings, WifiSecurity};
use crate::path::SettingPath;
use crate::tree::Tenant;

/// What redacted secrets are replaced with in outputs.
pub const REDACTED: &str = "***";

/// The prefix every `env` reference's variable name starts with.
pub const ENV_PREFIX: &str = "MDMKIT_SECRET_";

/// The largest secret file read, in bytes.
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// The value of a secret setting: in clear, or a reference.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Secret {
    /// The value itself, as written in the document (still accepted;
    /// `mdmkit policy check` warns about it).
    Literal(String),
    /// Where the value lives.
    Reference(SecretRef),
}

impl Secret {
    /// A value in clear.
    pub fn literal(value: impl Into<String>) -> Self {
        Secret::Literal(value.into())
    }

    /// A reference to an environment variable.
    pub fn env(name: impl Into<String>) -> Self {
        Secret::Reference(SecretRef::new(SecretSource::Env(name.into())))
    }

    /// A reference to a file, relative to the tenant directory.
    pub fn file(path: impl Into<String>) -> Self {
        Secret::Reference(SecretRef::new(SecretSource::File(path.into())))
    }

    /// The value to encode: the literal, or the resolved value of a
    /// reference. `None` for a reference not resolved
    /// ([`Settings::resolve_secrets`]); encoders refuse it.
    pub fn expose(&self) -> Option<&str> {
        match self {
            Secret::Literal(v) => Some(v),
            Secret::Reference(r) => r.value.as_ref().map(|v| v.expose()),
        }
    }

    /// The reference, if this is one.
    pub fn reference(&self) -> Option<&SecretRef> {
        match self {
            Secret::Literal(_) => None,
            Secret::Reference(r) => Some(r),
        }
    }

    /// Whether the value is written in clear.
    pub fn is_literal(&self) -> bool {
        matches!(self, Secret::Literal(_))
    }
}

impl From<&str> for Secret {
    fn from(v: &str) -> Self {
        Secret::literal(v)
    }
}

impl From<String> for Secret {
    fn from(v: String) -> Self {
        Secret::Literal(v)
    }
}

impl fmt::Debug for Secret {
    /// Never the value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Literal(_) => f.debug_tuple("Literal").field(&REDACTED).finish(),
            Secret::Reference(r) => f.debug_tuple("Reference").field(r).finish(),
        }
    }
}

/// Where a secret lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretSource {
    /// An environment variable of the process that encodes payloads.
    Env(String),
    /// A file, relative to the tenant directory.
    File(String),
}

impl fmt::Display for SecretSource {
    /// The reference as written in TOML: `{ env = "NAME" }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(n) => write!(f, "{{ env = {n:?} }}"),
            SecretSource::File(p) => write!(f, "{{ file = {p:?} }}"),
        }
    }
}

impl SecretSource {
    /// What is wrong with the reference's syntax, if anything.
    pub fn problem(&self) -> Option<String> {
        match self {
            SecretSource::Env(n) => {
                let rest = n.strip_prefix(ENV_PREFIX).unwrap_or("");
                let ok = !rest.is_empty()
                    && n.len() <= 128
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
                (!ok).then(|| {
                    format!(
                        "env: {n:?} is not {ENV_PREFIX}NAME (capitals, digits and _): only those variables hold policy secrets"
                    )
                })
            }
            SecretSource::File(p) => {
                let path = Path::new(p);
                let plain = !p.is_empty()
                    && p.len() <= 1024
                    && !p.contains('\\')
                    && path.components().all(|c| matches!(c, Component::Normal(_)));
                (!plain).then(|| {
                    format!(
                        "file: {p:?} is not a relative path of plain components (no `/` at the start, no `..`)"
                    )
                })
            }
        }
    }
}

/// A reference to a secret, with what resolving it found.
///
/// Two references are equal when they name the same place and carry the
/// same digest; the value itself, kept in memory only, is never
/// serialised, compared or printed.
#[derive(Clone)]
pub struct SecretRef {
    source: SecretSource,
    sha256: Option<String>,
    value: Option<SecretValue>,
}

impl SecretRef {
    /// A reference not yet resolved.
    pub fn new(source: SecretSource) -> Self {
        Self {
            source,
            sha256: None,
            value: None,
        }
    }

    /// Where the secret lives.
    pub fn source(&self) -> &SecretSource {
        &self.source
    }

    /// The digest of the value found when it was resolved (hex SHA-256 of
    /// `mdmkit-secret/v1\0` and the value), stored with the state so that a
    /// rotated secret is planned again. `None` before resolution.
    pub fn sha256(&self) -> Option<&str> {
        self.sha256.as_deref()
    }

    /// Whether the reference carries its value (it was resolved in this
    /// process).
    pub fn is_resolved(&self) -> bool {
        self.value.is_some()
    }

    fn resolved(&self, value: SecretValue) -> Self {
        Self {
            source: self.source.clone(),
            sha256: Some(digest(value.expose())),
            value: Some(value),
        }
    }
}

impl PartialEq for SecretRef {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.sha256 == other.sha256
    }
}

impl Eq for SecretRef {}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretRef")
            .field("source", &self.source)
            .field("sha256", &self.sha256)
            .field("resolved", &self.value.is_some())
            .finish()
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.source.fmt(f)
    }
}

/// A secret's value, as a resolver found it. Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(***)")
    }
}

fn digest(value: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"mdmkit-secret/v1\0");
    h.update(value.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a secret could not be resolved. Each error names the setting and
/// the reference; none carries the value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The environment variable is not set (or not UTF-8).
    #[error("{setting}: secret {reference}: the environment variable is not set")]
    MissingEnv {
        /// The setting.
        setting: SettingPath,
        /// The reference.
        reference: SecretSource,
    },
    /// The file could not be read.
    #[error("{setting}: secret {reference}: cannot read {}", path.display())]
    File {
        /// The setting.
        setting: SettingPath,
        /// The reference.
        reference: SecretSource,
        /// The file, resolved against the tenant directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A relative file reference, and no tenant directory to read it from.
    #[error("{setting}: secret {reference}: no tenant directory to resolve the file against")]
    NoDirectory {
        /// The setting.
        setting: SettingPath,
        /// The reference.
        reference: SecretSource,
    },
    /// The reference is malformed, leads out of the tenant directory, or
    /// its value is unusable (empty, not UTF-8, too large, not a valid
    /// Wi-Fi key).
    #[error("{setting}: secret {reference}: {reason}")]
    Invalid {
        /// The setting.
        setting: SettingPath,
        /// The reference.
        reference: SecretSource,
        /// What is wrong.
        reason: String,
    },
    /// An integrator's resolver failed.
    #[error("{setting}: secret {reference}: the resolver failed")]
    Resolver {
        /// The setting.
        setting: SettingPath,
        /// The reference.
        reference: SecretSource,
        /// The resolver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl SecretError {
    /// The setting whose secret failed.
    pub fn setting(&self) -> &SettingPath {
        match self {
            SecretError::MissingEnv { setting, .. }
            | SecretError::File { setting, .. }
            | SecretError::NoDirectory { setting, .. }
            | SecretError::Invalid { setting, .. }
            | SecretError::Resolver { setting, .. } => setting,
        }
    }
}

/// Reads the value behind a secret reference.
///
/// Called when payloads are encoded ([`Settings::resolve_secrets`]), with
/// the setting the reference is for (to name it in errors). The reconcile
/// calls it at most once per reference and run ([`SecretCache`]).
pub trait SecretResolver: Send + Sync {
    /// The value behind `reference`.
    fn resolve(
        &self,
        setting: &SettingPath,
        reference: &SecretSource,
    ) -> Result<SecretValue, SecretError>;
}

/// The default resolver: `env` references from the process environment,
/// `file` references from files of the tenant directory.
///
/// A file's content is the value, less one final line break (`\n` or
/// `\r\n`); it must be UTF-8, non-empty and at most
/// [`MAX_SECRET_BYTES`]. A file whose real path (symbolic links followed)
/// is outside the tenant directory is refused.
#[derive(Debug, Clone, Default)]
pub struct EnvFileResolver {
    dir: Option<PathBuf>,
}

impl EnvFileResolver {
    /// Reads files relative to `dir`, the tenant directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: Some(dir.into()),
        }
    }

    /// Reads environment variables only; file references fail with
    /// [`SecretError::NoDirectory`].
    pub fn env_only() -> Self {
        Self { dir: None }
    }

    /// Reads files relative to the directory `tenant` was loaded from
    /// ([`Tenant::dir`]); env only for a tenant built in code.
    pub fn for_tenant(tenant: &Tenant) -> Self {
        Self {
            dir: tenant.dir().map(Path::to_path_buf),
        }
    }

    fn read_file(
        &self,
        setting: &SettingPath,
        reference: &SecretSource,
        rel: &str,
    ) -> Result<SecretValue, SecretError> {
        let Some(dir) = &self.dir else {
            return Err(SecretError::NoDirectory {
                setting: setting.clone(),
                reference: reference.clone(),
            });
        };
        let invalid = |reason: String| SecretError::Invalid {
            setting: setting.clone(),
            reference: reference.clone(),
            reason,
        };
        let path = dir.join(rel);
        let io = |source: std::io::Error| SecretError::File {
            setting: setting.clone(),
            reference: reference.clone(),
            path: path.clone(),
            source,
        };
        let real_dir = dir.canonicalize().map_err(io)?;
        let real = path.canonicalize().map_err(io)?;
        if !real.starts_with(&real_dir) {
            return Err(invalid("the file is outside the tenant directory".into()));
        }
        let file = std::fs::File::open(&real).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(MAX_SECRET_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_SECRET_BYTES {
            return Err(invalid(format!(
                "the file is larger than {MAX_SECRET_BYTES} bytes"
            )));
        }
        let mut text =
            String::from_utf8(bytes).map_err(|_| invalid("the file is not UTF-8".into()))?;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        Ok(SecretValue(text))
    }
}

impl SecretResolver for EnvFileResolver {
    fn resolve(
        &self,
        setting: &SettingPath,
        reference: &SecretSource,
    ) -> Result<SecretValue, SecretError> {
        if let Some(reason) = reference.problem() {
            return Err(SecretError::Invalid {
                setting: setting.clone(),
                reference: reference.clone(),
                reason,
            });
        }
        match reference {
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(v) => Ok(SecretValue(v)),
                Err(_) => Err(SecretError::MissingEnv {
                    setting: setting.clone(),
                    reference: reference.clone(),
                }),
            },
            SecretSource::File(rel) => self.read_file(setting, reference, rel),
        }
    }
}

/// A resolver that asks another once per reference and remembers the
/// value for its own lifetime (one reconcile run: devices of many nodes
/// share a Wi-Fi key, and a rotation between two reads must not split a
/// run).
pub struct SecretCache<'a> {
    inner: &'a dyn SecretResolver,
    seen: Mutex<HashMap<SecretSource, SecretValue>>,
}

impl<'a> SecretCache<'a> {
    /// A cache in front of `inner`.
    pub fn new(inner: &'a dyn SecretResolver) -> Self {
        Self {
            inner,
            seen: Mutex::new(HashMap::new()),
        }
    }
}

impl fmt::Debug for SecretCache<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretCache").finish_non_exhaustive()
    }
}

impl SecretResolver for SecretCache<'_> {
    fn resolve(
        &self,
        setting: &SettingPath,
        reference: &SecretSource,
    ) -> Result<SecretValue, SecretError> {
        if let Some(v) = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(reference)
        {
            return Ok(v.clone());
        }
        let v = self.inner.resolve(setting, reference)?;
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(reference.clone(), v.clone());
        Ok(v)
    }
}

/// Whether a Wi-Fi key is valid for `security`: 8 to 63 ASCII characters,
/// or 64 hexadecimal digits for WPA2.
pub(crate) fn psk_ok(security: WifiSecurity, key: &str) -> bool {
    (8..=63).contains(&key.chars().count()) && key.is_ascii()
        || (security == WifiSecurity::Wpa2Personal
            && key.len() == 64
            && key.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Settings {
    /// Every secret setting that is set, with its path.
    pub fn secrets(&self) -> Vec<(SettingPath, &Secret)> {
        self.wifi
            .iter()
            .filter_map(|(ssid, w)| {
                let path = SettingPath::field("wifi")
                    .join_key(ssid.clone())
                    .join_field("password");
                w.password.as_ref().map(|s| (path, s))
            })
            .collect()
    }

    fn secrets_mut(&mut self) -> Vec<(SettingPath, Option<WifiSecurity>, &mut Secret)> {
        self.wifi
            .iter_mut()
            .filter_map(|(ssid, w)| {
                let path = SettingPath::field("wifi")
                    .join_key(ssid.clone())
                    .join_field("password");
                let security = w.security;
                w.password.as_mut().map(|s| (path, security, s))
            })
            .collect()
    }

    /// These settings with every secret reference resolved: each carries
    /// its value (for the encoders, [`Secret::expose`]) and its digest
    /// (serialised and hashed, so a rotated secret changes the content
    /// hash). Literals are left as they are.
    ///
    /// A resolved Wi-Fi pre-shared key must be valid for its network, as a
    /// literal must be.
    pub fn resolve_secrets(&self, resolver: &dyn SecretResolver) -> Result<Settings, SecretError> {
        let mut out = self.clone();
        for (path, security, secret) in out.secrets_mut() {
            let Secret::Reference(r) = secret else {
                continue;
            };
            let value = resolver.resolve(&path, &r.source)?;
            if value.expose().is_empty() {
                return Err(SecretError::Invalid {
                    setting: path,
                    reference: r.source.clone(),
                    reason: "the value is empty".into(),
                });
            }
            if let Some(sec) = security.filter(|s| s.is_personal())
                && !psk_ok(sec, value.expose())
            {
                return Err(SecretError::Invalid {
                    setting: path,
                    reference: r.source.clone(),
                    reason: "the value must be 8 to 63 ASCII characters (or 64 hexadecimal digits for wpa2-personal)".into(),
                });
            }
            *r = r.resolved(value);
        }
        Ok(out)
    }

    /// These settings, read back from a store (references with their
    /// digest, no value), made comparable with `resolved`, for encoders
    /// that diff an old state against new settings (Windows): a reference
    /// with the same digest in `resolved` takes its value; any other gets a
    /// placeholder that no real value equals, so a rotated secret reads as
    /// changed. Never encode the result as new settings.
    pub fn carry_secrets(&self, resolved: &Settings) -> Settings {
        let known: HashMap<SettingPath, &Secret> = resolved.secrets().into_iter().collect();
        let mut out = self.clone();
        for (path, _, secret) in out.secrets_mut() {
            let Secret::Reference(r) = secret else {
                continue;
            };
            if r.value.is_some() {
                continue;
            }
            let value = match known.get(&path) {
                Some(Secret::Reference(n)) if n == r && n.value.is_some() => n.value.clone(),
                _ => Some(SecretValue(format!(
                    "\u{0}mdmkit-unknown-secret:{}",
                    r.sha256.as_deref().unwrap_or("-")
                ))),
            };
            r.value = value;
        }
        out
    }

    /// Replaces every secret written in clear with [`REDACTED`], for
    /// printing. References stay: they are not secret.
    pub fn redact_secrets(&mut self) {
        for (_, _, secret) in self.secrets_mut() {
            match secret {
                Secret::Literal(v) => *v = REDACTED.to_owned(),
                Secret::Reference(r) => r.value = None,
            }
        }
    }

    /// Replaces every reference with its value in clear, for an operator
    /// who asked to see secrets (`--show-secrets`).
    pub fn reveal_secrets(&mut self, resolver: &dyn SecretResolver) -> Result<(), SecretError> {
        for (path, _, secret) in self.secrets_mut() {
            if let Secret::Reference(r) = secret {
                let value = resolver.resolve(&path, &r.source)?;
                *secret = Secret::Literal(value.0);
            }
        }
        Ok(())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Secret::Literal(v) => s.serialize_str(v),
            Secret::Reference(r) => {
                let mut m = s.serialize_map(None)?;
                match &r.source {
                    SecretSource::Env(n) => m.serialize_entry("env", n)?,
                    SecretSource::File(p) => m.serialize_entry("file", p)?,
                }
                if let Some(d) = &r.sha256 {
                    m.serialize_entry("sha256", d)?;
                }
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, or a reference { env = \"NAME\" } or { file = \"PATH\" }")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret::Literal(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
        Ok(Secret::Literal(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secret, A::Error> {
        let mut source: Option<SecretSource> = None;
        let mut sha256: Option<String> = None;
        while let Some(key) = map.next_key::<String>()? {
            let slot = match key.as_str() {
                "env" => Some(SecretSource::Env(map.next_value()?)),
                "file" => Some(SecretSource::File(map.next_value()?)),
                "sha256" => {
                    if sha256.replace(map.next_value()?).is_some() {
                        return Err(de::Error::duplicate_field("sha256"));
                    }
                    None
                }
                other => {
                    return Err(de::Error::unknown_field(other, &["env", "file"]));
                }
            };
            if let Some(s) = slot
                && source.replace(s).is_some()
            {
                return Err(de::Error::custom(
                    "a secret reference has one of `env` or `file`, not both",
                ));
            }
        }
        let Some(source) = source else {
            return Err(de::Error::custom(
                "a secret reference needs `env` or `file`",
            ));
        };
        Ok(Secret::Reference(SecretRef {
            source,
            sha256,
            value: None,
        }))
    }
}

/// A secret setting's value: in clear, or a reference resolved when
/// payloads are encoded (`docs/policy.md`, section Secrets).
#[derive(JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
#[allow(dead_code)]
enum SecretShape {
    /// The value in clear (prefer a reference: the tree then holds no
    /// secret).
    Literal(String),
    /// The value of the environment variable `MDMKIT_SECRET_...` of the
    /// process that encodes payloads.
    Env {
        /// The variable's name.
        env: String,
    },
    /// The content of a file of the tenant directory, less one final line
    /// break.
    File {
        /// A relative path, against the tenant directory.
        file: String,
    },
}

impl JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        SecretShape::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> SettingPath {
        "wifi[\"X\"].password".parse().unwrap()
    }

    #[test]
    fn debug_never_shows_a_value() {
        let lit = Secret::literal("hunter2-hunter2");
        assert!(!format!("{lit:?}").contains("hunter2"));
        let r = SecretRef::new(SecretSource::Env("MDMKIT_SECRET_X".into()))
            .resolved(SecretValue::new("hunter2-hunter2"));
        assert!(!format!("{r:?}").contains("hunter2"));
        assert!(!format!("{:?}", SecretValue::new("hunter2")).contains("hunter2"));
    }

    #[test]
    fn a_file_reference_is_read_less_its_final_line_break() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("secrets")).unwrap();
        std::fs::write(dir.path().join("secrets/k"), "s3cret-value\r\n").unwrap();
        let r = EnvFileResolver::new(dir.path());
        let v = r
            .resolve(&path(), &SecretSource::File("secrets/k".into()))
            .unwrap();
        assert_eq!(v.expose(), "s3cret-value");
    }

    #[test]
    fn a_missing_file_names_the_setting_and_the_reference() {
        let dir = tempfile::tempdir().unwrap();
        let r = EnvFileResolver::new(dir.path());
        let e = r
            .resolve(&path(), &SecretSource::File("secrets/none".into()))
            .unwrap_err();
        assert!(matches!(e, SecretError::File { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.starts_with("wifi[\"X\"].password: secret { file = \"secrets/none\" }"),
            "{text}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_file_reference_may_not_leave_the_tenant_directory() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("key"), "outside-value").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path().join("key"), dir.path().join("link")).unwrap();
        let r = EnvFileResolver::new(dir.path());
        let e = r
            .resolve(&path(), &SecretSource::File("link".into()))
            .unwrap_err();
        assert!(
            e.to_string().contains("outside the tenant directory"),
            "{e}"
        );
        let e = r
            .resolve(&path(), &SecretSource::File("../key".into()))
            .unwrap_err();
        assert!(matches!(e, SecretError::Invalid { .. }), "{e:?}");
    }

    #[test]
    fn env_references_need_the_prefix() {
        let e = EnvFileResolver::env_only()
            .resolve(&path(), &SecretSource::Env("HOME".into()))
            .unwrap_err();
        assert!(e.to_string().contains("MDMKIT_SECRET_"), "{e}");
        let e = EnvFileResolver::env_only()
            .resolve(
                &path(),
                &SecretSource::Env("MDMKIT_SECRET_SURELY_UNSET_42".into()),
            )
            .unwrap_err();
        assert!(matches!(e, SecretError::MissingEnv { .. }), "{e:?}");
        assert_eq!(e.setting(), &path());
    }

    #[test]
    fn the_cache_asks_once_per_reference() {
        struct Counting(std::sync::atomic::AtomicUsize);
        impl SecretResolver for Counting {
            fn resolve(
                &self,
                _: &SettingPath,
                _: &SecretSource,
            ) -> Result<SecretValue, SecretError> {
                let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(SecretValue::new(format!("value-{n}")))
            }
        }
        let inner = Counting(0.into());
        let cache = SecretCache::new(&inner);
        let src = SecretSource::Env("MDMKIT_SECRET_A".into());
        let a = cache.resolve(&path(), &src).unwrap();
        let b = cache.resolve(&path(), &src).unwrap();
        assert_eq!(a, b);
        assert_eq!(inner.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
