//! A tenant's Android Enterprise settings: `DIR/.mdmkit/android.toml`,
//! read by `mdmkit serve` (the push endpoint and delivery) and
//! `mdmkit enroll android` (enrollment tokens). A tenant without the file
//! has no Android delivery. The file lives under `.mdmkit/` because it
//! names a secret (the service-account key file, resolved relative to
//! `.mdmkit/`); `docs/android.md` documents every key.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mdmkit::android::client::{
    AmapiClient, Credentials, MAX_KEY_FILE, PushVerifier, RetryPolicy, ServiceAccountKey,
};
use mdmkit::android::names::{EnterpriseName, PolicyName};
use mdmkit::android::oidc::{Expectation, GOOGLE_JWKS_URL};
use mdmkit_server::android::AndroidService;
use serde::Deserialize;

use crate::error::{CliError, Context};

/// The file's name under `DIR/.mdmkit/`.
pub(crate) const FILE: &str = "android.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    enterprise: String,
    service_account_key: PathBuf,
    #[serde(default)]
    api_url: Option<String>,
    #[serde(default)]
    token_url: Option<String>,
    #[serde(default)]
    enrollment_policy: Option<String>,
    #[serde(default, with = "humantime_serde_opt")]
    drain_every: Option<Duration>,
    #[serde(default)]
    retry: RetrySettings,
    pubsub: PubsubSettings,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetrySettings {
    #[serde(default)]
    attempts: Option<u32>,
    #[serde(default, with = "humantime_serde_opt")]
    base_delay: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    max_delay: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    max_retry_after: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PubsubSettings {
    audience: String,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    jwks_url: Option<String>,
    #[serde(default)]
    service_account: Option<String>,
}

/// Durations as operators write them (`30s`, `1m`).
mod humantime_serde_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A tenant's Android settings, ready to use.
pub(crate) struct Android {
    pub(crate) enterprise: EnterpriseName,
    pub(crate) client: Arc<AmapiClient>,
    pub(crate) enrollment_policy: PolicyName,
    pub(crate) drain_every: Duration,
    push: Option<PushVerifier>,
}

/// Reads `DIR/.mdmkit/android.toml`, if the tenant has one.
pub(crate) fn load(dir: &Path) -> Result<Option<Android>, CliError> {
    let base = dir.join(".mdmkit");
    let path = base.join(FILE);
    if !path.exists() {
        return Ok(None);
    }
    let what = || format!("{}", path.display());
    let text = std::fs::read_to_string(&path).context(format_args!("cannot read {}", what()))?;
    if text.len() > MAX_KEY_FILE {
        return Err(CliError::new(format!(
            "{}: larger than {MAX_KEY_FILE} bytes",
            what()
        )));
    }
    let f: FileSettings =
        toml::from_str(&text).map_err(|e| CliError::new(format!("{}: {e}", what())))?;
    let enterprise =
        EnterpriseName::parse(&f.enterprise).context(format_args!("{}: enterprise", what()))?;
    let key_path = base.join(&f.service_account_key);
    let key_bytes = std::fs::read(&key_path).context(format_args!(
        "{}: cannot read the service-account key {}",
        what(),
        key_path.display()
    ))?;
    let key =
        ServiceAccountKey::parse(&key_bytes).context(format_args!("{}", key_path.display()))?;
    let mut retry = RetryPolicy::default();
    if let Some(n) = f.retry.attempts {
        retry = retry.with_max_attempts(n);
    }
    if f.retry.base_delay.is_some() || f.retry.max_delay.is_some() {
        retry = retry.with_delays(
            f.retry.base_delay.unwrap_or(retry.base_delay),
            f.retry.max_delay.unwrap_or(retry.max_delay),
        );
    }
    if let Some(d) = f.retry.max_retry_after {
        retry = retry.with_max_retry_after(d);
    }
    let mut b = AmapiClient::builder(Credentials::ServiceAccount(key)).retry(retry);
    if let Some(u) = f.api_url {
        b = b.base_url(u);
    }
    if let Some(u) = f.token_url {
        b = b.token_url(u);
    }
    let client = Arc::new(b.build().context(format_args!("{}", what()))?);
    let enrollment_policy = enterprise
        .policy(f.enrollment_policy.as_deref().unwrap_or("default"))
        .context(format_args!("{}: enrollment_policy", what()))?;
    let mut expect = Expectation::google(f.pubsub.audience);
    if let Some(i) = f.pubsub.issuer {
        expect = expect.with_issuer(i);
    }
    if let Some(e) = f.pubsub.service_account {
        expect = expect.with_email(e);
    }
    let push = PushVerifier::new(
        expect,
        f.pubsub
            .jwks_url
            .unwrap_or_else(|| GOOGLE_JWKS_URL.to_owned()),
    )
    .context(format_args!("{}: pubsub", what()))?;
    Ok(Some(Android {
        enterprise,
        client,
        enrollment_policy,
        drain_every: f
            .drain_every
            .unwrap_or(Duration::from_secs(60))
            .max(Duration::from_secs(1)),
        push: Some(push),
    }))
}

impl Android {
    /// The server's Android service (takes the push verifier: once).
    pub(crate) fn service(&mut self) -> Option<AndroidService> {
        let push = self.push.take()?;
        Some(AndroidService::new(
            self.enterprise.clone(),
            self.client.clone(),
            push,
        ))
    }
}
