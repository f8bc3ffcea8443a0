//! Waking devices: the wake loop that pushes the devices of
//! [`Plan::wake`](mdmkit::Plan) (after a reconcile, after an admin queued
//! a command), push certificates, and what each outcome does.
//!
//! Everything a decision reads is in the state store, so several
//! processes on one database agree:
//!
//! - the tenant's push certificate ([`set_certificate`]): read at every
//!   wake, so a new one takes effect at the next push, without restart;
//!   a certificate problem APNs reports is kept beside it as an alert;
//! - per device, a [`PushState`]: pushes since its last check-in, a dead
//!   token, a flag, a push owed after a transient failure.
//!
//! | outcome | what happens |
//! |---|---|
//! | delivered | counted; the device is not pushed again within [`PushConfig::min_interval`] (a wake meanwhile is owed and sent by the sweep) |
//! | retry (429, 5xx, no answer) | owed again after a backoff (doubling from [`PushConfig::backoff`], at least APNs' `Retry-After`) |
//! | token dead (410, `BadDeviceToken`, `DeviceTokenNotForTopic`) | not pushed again until the device's next TokenUpdate |
//! | certificate (403, `TopicDisallowed`, ...) | an alert on the certificate (`mdmkit status`, the admin API); pushes are owed until a new certificate is uploaded |
//! | rejected (our request was wrong) | logged as an error, not retried |
//!
//! A device pushed [`PushConfig::max_unanswered`] times without checking
//! in is flagged and not pushed again until it checks in.
//!
//! Logs and spans never carry push tokens, PushMagic, WNS channel URIs
//! or keys: devices by id, certificates by SHA-256.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mdmkit::apple::apns::certificate::{CertificateError, PushCertificate};
use mdmkit::apple::apns::client::{ApnsClient, ApnsConfig};
use mdmkit::apple::apns::{Gateway, Outcome, OutcomeClass, PushRequest};
use mdmkit::inventory::{Enrollment, EnrollmentStatus};
use mdmkit::push::{PushAlert, PushState, Skip, StoredPushCertificate, stranded_by, token_sha256};
use mdmkit::queue::{Clock as _, SystemClock, Timestamp};
use mdmkit::state::StateStore;
use mdmkit::{DeviceId, Platform, TenantId};
use serde::Serialize;
use tracing::Instrument as _;

use crate::error::RequestError;
use crate::tenant::TenantContext;

pub mod wns;

/// How the wake loop pushes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PushConfig {
    /// Where APNs is (Apple's production gateway by default).
    pub apns: ApnsConfig,
    /// How long APNs keeps an undelivered push (`apns-expiration`).
    pub expiration: Duration,
    /// The least time between two pushes to one device.
    pub min_interval: Duration,
    /// The first backoff after a transient failure (doubling, up to
    /// `max_backoff`).
    pub backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// Pushes without a check-in after which a device is flagged.
    pub max_unanswered: u32,
    /// How much earlier than a push a device's `last_seen` may be and
    /// still count as an answer to it: servers write `last_seen` at most
    /// once a minute while a device keeps talking.
    pub seen_slack: Duration,
    /// The WNS client for Windows devices, if configured.
    pub wns: Option<wns::WnsClient>,
    /// The package family name set in the DMClient Push CSP (`PFN`) at
    /// the start of each management session, if the PCs do not have it.
    pub wns_pfn: Option<String>,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            apns: ApnsConfig::new(Gateway::Production),
            expiration: mdmkit::apple::apns::DEFAULT_EXPIRATION,
            min_interval: Duration::from_secs(60),
            backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3600),
            max_unanswered: 5,
            seen_slack: Duration::from_secs(60),
            wns: None,
            wns_pfn: None,
        }
    }
}

impl PushConfig {
    /// The defaults: production APNs, 24 h expiration, one push a minute
    /// per device, backoff 30 s to 1 h, flagged after 5 unanswered pushes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Another APNs (the sandbox, an emulator).
    #[must_use]
    pub fn with_apns(mut self, apns: ApnsConfig) -> Self {
        self.apns = apns;
        self
    }

    /// The least time between two pushes to one device.
    #[must_use]
    pub fn with_min_interval(mut self, d: Duration) -> Self {
        self.min_interval = d;
        self
    }

    /// The first and the longest backoff.
    #[must_use]
    pub fn with_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = first;
        self.max_backoff = max.max(first);
        self
    }

    /// Pushes without a check-in after which a device is flagged.
    #[must_use]
    pub fn with_max_unanswered(mut self, n: u32) -> Self {
        self.max_unanswered = n.max(1);
        self
    }

    /// See [`PushConfig::seen_slack`].
    #[must_use]
    pub fn with_seen_slack(mut self, d: Duration) -> Self {
        self.seen_slack = d;
        self
    }

    /// Windows devices are woken through WNS with this client.
    #[must_use]
    pub fn with_wns(mut self, wns: wns::WnsClient) -> Self {
        self.wns = Some(wns);
        self
    }

    /// The package family name management sessions set in the DMClient
    /// Push CSP.
    #[must_use]
    pub fn with_wns_pfn(mut self, pfn: impl Into<String>) -> Self {
        self.wns_pfn = Some(pfn.into());
        self
    }

    fn backoff_for(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        let d = self
            .backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        retry_after.map_or(d, |r| d.max(r))
    }
}

/// Counters of one process since it started (every push, every outcome).
#[derive(Debug, Default)]
pub struct PushCounters {
    sent: AtomicU64,
    by_outcome: Mutex<BTreeMap<&'static str, u64>>,
}

impl PushCounters {
    fn add(&self, outcome: &'static str) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        *self
            .by_outcome
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(outcome)
            .or_default() += 1;
    }

    /// Pushes sent.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Pushes by outcome (`delivered`, `retry`, ...).
    pub fn by_outcome(&self) -> BTreeMap<&'static str, u64> {
        self.by_outcome
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// What one wake did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WakeReport {
    /// Pushes sent, by outcome (`delivered`, `retry`, `token-dead`,
    /// `certificate`, `rejected`).
    pub outcomes: BTreeMap<String, u64>,
    /// Devices not pushed, by why (`no-target`, `token-dead`, `flagged`,
    /// `not-yet`, `stranded`, `no-certificate`, `certificate`).
    pub skipped: BTreeMap<String, u64>,
    /// Devices flagged by this wake.
    pub flagged: Vec<DeviceId>,
}

impl WakeReport {
    /// Pushes sent with this outcome.
    pub fn count(&self, outcome: &str) -> u64 {
        self.outcomes.get(outcome).copied().unwrap_or(0)
    }

    /// Devices skipped for this reason.
    pub fn skipped(&self, why: &str) -> u64 {
        self.skipped.get(why).copied().unwrap_or(0)
    }

    fn skip(&mut self, why: &str) {
        *self.skipped.entry(why.to_owned()).or_default() += 1;
    }
}

/// The APNs connection pool of the tenant's current certificate.
struct Pool {
    sha256: String,
    client: ApnsClient,
}

/// The wake loop of one tenant.
pub struct PushService {
    config: PushConfig,
    pool: Mutex<Option<Arc<Pool>>>,
    counters: PushCounters,
}

impl std::fmt::Debug for PushService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What the tenant's certificate allows now.
enum Apns {
    /// No certificate uploaded.
    None,
    /// APNs reported a problem with it, or it expired.
    Alerted(String),
    /// Ready: its topic and pool.
    Ready(String, Arc<Pool>),
}

impl PushService {
    /// A wake loop with these settings.
    pub fn new(config: PushConfig) -> Self {
        Self {
            config,
            pool: Mutex::new(None),
            counters: PushCounters::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &PushConfig {
        &self.config
    }

    /// This process's counters.
    pub fn counters(&self) -> &PushCounters {
        &self.counters
    }

    /// The pool for the stored certificate, rebuilt when it changed.
    async fn apns(&self, ctx: &TenantContext, now: Timestamp) -> Result<Apns, RequestError> {
        let Some(stored) = ctx.reconciler().state().push_certificate(ctx.id()).await? else {
            return Ok(Apns::None);
        };
        if let Some(a) = &stored.alert {
            return Ok(Apns::Alerted(a.reason.clone()));
        }
        if stored.not_after <= now {
            return Ok(Apns::Alerted("Expired".into()));
        }
        let cached = self
            .pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .filter(|p| p.sha256 == stored.sha256);
        let pool = match cached {
            Some(p) => p,
            None => {
                let cert = PushCertificate::from_pem(
                    stored.cert_pem.as_bytes(),
                    stored.key_pem.as_bytes(),
                )
                .map_err(|e| {
                    RequestError::internal(mdmkit::Error::Corrupt {
                        what: "stored push certificate".into(),
                        source: Some(Box::new(e)),
                    })
                })?;
                let client =
                    ApnsClient::new(&cert, &self.config.apns).map_err(RequestError::internal)?;
                tracing::info!(
                    tenant = %ctx.id(),
                    certificate = %stored.sha256,
                    topic = %stored.topic,
                    "push certificate loaded"
                );
                let p = Arc::new(Pool {
                    sha256: stored.sha256.clone(),
                    client,
                });
                *self.pool.lock().unwrap_or_else(|p| p.into_inner()) = Some(p.clone());
                p
            }
        };
        Ok(Apns::Ready(stored.topic, pool))
    }

    /// Pushes these devices (the `wake` of a plan, a device an admin
    /// queued a command for).
    pub async fn wake(
        &self,
        ctx: &TenantContext,
        devices: &[DeviceId],
    ) -> Result<WakeReport, RequestError> {
        let span =
            tracing::info_span!("push", tenant = %ctx.id(), devices = devices.len(), kind = "wake");
        self.run(ctx, Some(devices)).instrument(span).await
    }

    /// Pushes the devices owed a push whose time has come (after a
    /// transient failure, a rate limit, a certificate replaced).
    pub async fn sweep(&self, ctx: &TenantContext) -> Result<WakeReport, RequestError> {
        let span = tracing::info_span!("push", tenant = %ctx.id(), kind = "sweep");
        self.run(ctx, None).instrument(span).await
    }

    async fn run(
        &self,
        ctx: &TenantContext,
        wanted: Option<&[DeviceId]>,
    ) -> Result<WakeReport, RequestError> {
        let now = SystemClock.now();
        let store = ctx.reconciler().state();
        let tenant = ctx.id();
        let mut states: HashMap<DeviceId, PushState> = store
            .push_states(tenant)
            .await?
            .into_iter()
            .map(|s| (s.device.clone(), s))
            .collect();
        let targets: Vec<DeviceId> = match wanted {
            Some(w) => w.to_vec(),
            None => states
                .values()
                .filter(|s| s.pending && s.next_push.is_none_or(|t| t <= now))
                .map(|s| s.device.clone())
                .collect(),
        };
        let mut report = WakeReport::default();
        if targets.is_empty() {
            return Ok(report);
        }
        let apns = self.apns(ctx, now).await?;
        if wanted.is_none() && !matches!(apns, Apns::Ready(..)) && self.config.wns.is_none() {
            // A sweep with nothing to push with: the owed pushes wait.
            return Ok(report);
        }
        let enrollments = enrollments_of(store.as_ref(), tenant, &targets).await?;
        let mut changed: Vec<DeviceId> = Vec::new();
        let mut apple: Vec<(DeviceId, PushRequest)> = Vec::new();
        let mut windows: Vec<(DeviceId, String)> = Vec::new();
        let expiration =
            u64::try_from((now.plus(self.config.expiration).as_millis()) / 1000).unwrap_or(0);
        for device in targets {
            let Some(e) = enrollments.get(&device) else {
                report.skip(Skip::NoTarget.as_str());
                continue;
            };
            let st = states
                .entry(device.clone())
                .or_insert_with(|| PushState::new(device.clone()));
            let before = st.clone();
            let verdict = self.decide(e, st, &apns, now);
            match verdict {
                Err(why) => report.skip(why),
                Ok(Target::Apple(req)) => {
                    apple.push((device.clone(), req.with_expiration(expiration)))
                }
                Ok(Target::Windows(uri)) => windows.push((device.clone(), uri)),
            }
            if st.flagged_at == Some(now) && before.flagged_at.is_none() {
                report.flagged.push(device.clone());
                tracing::warn!(%device, pushes = st.attempts, "device flagged: pushed without checking in");
            }
            if *st != before {
                changed.push(device);
            }
        }
        if let Apns::Alerted(reason) = &apns
            && report.skipped("certificate") > 0
        {
            tracing::warn!(%reason, held = report.skipped("certificate"), "pushes held: the push certificate has an alert");
        }
        // Send.
        let mut results: Vec<(DeviceId, Result<Outcome, wns::WnsOutcome>)> = Vec::new();
        if let (Apns::Ready(_, pool), false) = (&apns, apple.is_empty()) {
            let (ids, reqs): (Vec<_>, Vec<_>) = apple.into_iter().unzip();
            let outs = pool.client.push_all(reqs).await;
            results.extend(ids.into_iter().zip(outs.into_iter().map(Ok)));
        }
        if let (Some(wns), false) = (&self.config.wns, windows.is_empty()) {
            let outs = wns
                .notify_all(windows.iter().map(|(_, u)| u.clone()).collect())
                .await;
            results.extend(
                windows
                    .iter()
                    .map(|(d, _)| d.clone())
                    .zip(outs.into_iter().map(Err)),
            );
        }
        let mut alert: Option<String> = None;
        for (device, result) in results {
            let Some(st) = states.get_mut(&device) else {
                continue;
            };
            let (class, reason, retry_after) = match &result {
                Ok(o) => (
                    o.class(),
                    o.reason().map(|r| r.as_str().to_owned()),
                    match o {
                        Outcome::Retry { retry_after, .. } => *retry_after,
                        _ => None,
                    },
                ),
                Err(w) => (wns::class_of(w), w.reason(), w.retry_after()),
            };
            self.counters.add(class.as_str());
            *report
                .outcomes
                .entry(class.as_str().to_owned())
                .or_default() += 1;
            tracing::debug!(%device, outcome = %class, reason = reason.as_deref().unwrap_or(""), "push");
            st.last_outcome = Some(class.as_str().to_owned());
            st.last_reason = reason.clone();
            match class {
                OutcomeClass::Delivered => {
                    st.attempts = st.attempts.saturating_add(1);
                    st.last_push = Some(now);
                    st.next_push = Some(now.plus(self.config.min_interval));
                    st.failures = 0;
                    st.pending = false;
                }
                OutcomeClass::Retry => {
                    st.failures = st.failures.saturating_add(1);
                    st.pending = true;
                    st.next_push =
                        Some(now.plus(self.config.backoff_for(st.failures, retry_after)));
                }
                OutcomeClass::TokenDead => {
                    let token = match enrollments.get(&device) {
                        Some(e) if e.platform == Platform::Windows => e.wns_channel.clone(),
                        Some(e) => e.push.as_ref().map(|p| p.token.clone()),
                        None => None,
                    };
                    st.dead_token = token.map(|t| token_sha256(&t));
                    st.dead_at = Some(now);
                    st.pending = false;
                    tracing::info!(%device, reason = reason.as_deref().unwrap_or(""), "push token dead: not pushed until the next token update");
                }
                OutcomeClass::Certificate => {
                    st.pending = true;
                    st.failures = st.failures.saturating_add(1);
                    st.next_push = Some(now.plus(self.config.backoff_for(st.failures, None)));
                    if result.is_err() {
                        tracing::error!(%device, reason = reason.as_deref().unwrap_or(""), "WNS refused the app's credentials: fix the WNS client id and secret");
                    } else if alert.is_none() {
                        alert = reason.clone().or_else(|| Some("Forbidden".into()));
                    }
                }
                _ => {
                    st.pending = false;
                    tracing::error!(%device, reason = reason.as_deref().unwrap_or(""), "push rejected as malformed: not retried");
                }
            }
            if !changed.contains(&device) {
                changed.push(device);
            }
        }
        if let (Some(reason), Apns::Ready(_, pool)) = (&alert, &apns) {
            tracing::error!(
                tenant = %tenant,
                certificate = %pool.sha256,
                reason = %reason,
                "push certificate refused by APNs: upload a new one (mdmkit push-cert set)"
            );
            store
                .set_push_alert(
                    tenant,
                    &pool.sha256,
                    Some(&PushAlert::new(reason.clone(), now)),
                )
                .await?;
        }
        let to_write: Vec<PushState> = changed
            .iter()
            .filter_map(|d| states.get(d).cloned())
            .collect();
        store.put_push_states(tenant, &to_write).await?;
        tracing::info!(
            delivered = report.count("delivered"),
            retry = report.count("retry"),
            token_dead = report.count("token-dead"),
            certificate = report.count("certificate"),
            rejected = report.count("rejected"),
            skipped = report.skipped.values().sum::<u64>(),
            flagged = report.flagged.len(),
            "pushes sent"
        );
        Ok(report)
    }

    /// Whether and how to push one device now; updates its state for the
    /// cases that are decided without pushing.
    fn decide(
        &self,
        e: &Enrollment,
        st: &mut PushState,
        apns: &Apns,
        now: Timestamp,
    ) -> Result<Target, &'static str> {
        if e.status != EnrollmentStatus::Active && e.platform == Platform::Apple {
            st.pending = false;
            return Err(Skip::NoTarget.as_str());
        }
        st.observe_check_in(e.last_seen, self.config.seen_slack);
        let target = match e.platform {
            Platform::Apple => match &e.push {
                Some(p) => {
                    if st.token_dead(p) {
                        st.pending = false;
                        return Err(Skip::TokenDead.as_str());
                    }
                    Some(p)
                }
                None => None,
            },
            Platform::Windows => None,
            _ => None,
        };
        let windows = match (e.platform, &e.wns_channel, &self.config.wns) {
            (Platform::Windows, Some(uri), Some(_)) => {
                let dead = st.dead_token.as_deref() == Some(token_sha256(uri).as_str());
                if dead {
                    st.pending = false;
                    return Err(Skip::TokenDead.as_str());
                }
                Some(uri.clone())
            }
            _ => None,
        };
        if target.is_none() && windows.is_none() {
            st.pending = false;
            return Err(Skip::NoTarget.as_str());
        }
        if st.flagged_at.is_some() {
            st.pending = false;
            return Err(Skip::Flagged.as_str());
        }
        if st.attempts >= self.config.max_unanswered {
            st.flagged_at = Some(now);
            st.pending = false;
            return Err(Skip::Flagged.as_str());
        }
        if st.next_push.is_some_and(|t| t > now) {
            // Within the rate limit or a backoff: owed, sent by the sweep.
            st.pending = true;
            return Err(Skip::NotYet.as_str());
        }
        if let Some(uri) = windows {
            return Ok(Target::Windows(uri));
        }
        let Some(p) = target else {
            return Err(Skip::NoTarget.as_str());
        };
        match apns {
            Apns::None => {
                // Nothing to owe: uploading a certificate does not replay
                // the wakes missed before it.
                st.pending = false;
                Err("no-certificate")
            }
            Apns::Alerted(_) => {
                st.pending = true;
                Err("certificate")
            }
            Apns::Ready(topic, _) if *topic != p.topic => {
                st.pending = false;
                Err(Skip::Stranded.as_str())
            }
            Apns::Ready(..) => match PushRequest::from_hex(&p.topic, &p.push_magic, &p.token) {
                Ok(r) => Ok(Target::Apple(r)),
                Err(_) => {
                    st.pending = false;
                    Err(Skip::NoTarget.as_str())
                }
            },
        }
    }
}

enum Target {
    Apple(PushRequest),
    Windows(String),
}

/// The enrollments of these devices: one read each for a few, one read of
/// the tenant for many.
async fn enrollments_of(
    store: &dyn StateStore,
    tenant: &TenantId,
    devices: &[DeviceId],
) -> Result<HashMap<DeviceId, Enrollment>, RequestError> {
    let mut out = HashMap::new();
    if devices.len() <= 32 {
        for d in devices {
            if let Some(e) = store.enrollment(tenant, d).await? {
                out.insert(d.clone(), e);
            }
        }
    } else {
        let wanted: std::collections::HashSet<&DeviceId> = devices.iter().collect();
        for e in store.enrollments(tenant).await? {
            if wanted.contains(&e.device) {
                out.insert(e.device.clone(), e);
            }
        }
    }
    Ok(out)
}

/// Wakes a plan's devices in the background, if the tenant pushes.
pub fn spawn_wake(ctx: Arc<TenantContext>, devices: Vec<DeviceId>) {
    if devices.is_empty() || ctx.push().is_none() {
        return;
    }
    tokio::spawn(async move {
        if let Some(push) = ctx.push()
            && let Err(e) = push.wake(&ctx, &devices).await
        {
            tracing::warn!(tenant = %ctx.id(), error = %e, "wake failed");
        }
    });
}

/// Why a push certificate upload is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// The certificate or key is unusable, or they do not belong together.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// The topic differs from the enrolled devices' topic.
    #[error(
        "the certificate's topic {new} differs from the topic of {stranded} enrolled device(s) ({old}): \
         they would be stranded (unreachable until re-enrolled); renew the certificate for the same \
         Apple ID to keep the topic, or force the change"
    )]
    TopicChange {
        /// The enrolled devices' topic (the most common).
        old: String,
        /// The new certificate's topic.
        new: String,
        /// How many devices would be stranded.
        stranded: usize,
    },
    /// The certificate has expired.
    #[error("the certificate expired")]
    Expired,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] mdmkit::Error),
}

/// What an upload changed.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Uploaded {
    /// The topic.
    pub topic: String,
    /// SHA-256 of the certificate (hex).
    pub sha256: String,
    /// End of validity (ms since the epoch).
    pub not_after: i64,
    /// The certificate it replaced (SHA-256), if any.
    pub replaced: Option<String>,
    /// Devices stranded by a forced topic change.
    pub stranded: usize,
}

/// Stores a tenant's push certificate after checking it: the key must be
/// the certificate's, the certificate valid, and its topic the enrolled
/// devices' unless `force`. Every process pushes with it from its next
/// push on.
pub async fn set_certificate(
    store: &dyn StateStore,
    tenant: &TenantId,
    cert_pem: &str,
    key_pem: &str,
    force: bool,
    by: &str,
) -> Result<Uploaded, UploadError> {
    let cert = PushCertificate::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?;
    let now = SystemClock.now();
    let not_after = Timestamp::from_millis(cert.not_after().saturating_mul(1000));
    if not_after <= now {
        return Err(UploadError::Expired);
    }
    let enrollments: Vec<Enrollment> = store
        .enrollments(tenant)
        .await?
        .into_iter()
        .filter(|e| e.status != EnrollmentStatus::CheckedOut)
        .collect();
    let stranded = stranded_by(&enrollments, cert.topic());
    if stranded > 0 && !force {
        let mut topics: BTreeMap<&str, usize> = BTreeMap::new();
        for p in enrollments.iter().filter_map(|e| e.push.as_ref()) {
            if p.topic != cert.topic() {
                *topics.entry(p.topic.as_str()).or_default() += 1;
            }
        }
        let old = topics
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(t, _)| (*t).to_owned())
            .unwrap_or_default();
        return Err(UploadError::TopicChange {
            old,
            new: cert.topic().to_owned(),
            stranded,
        });
    }
    let previous = store.push_certificate(tenant).await?;
    let record = StoredPushCertificate::new(
        cert.topic().to_owned(),
        cert.subject().to_owned(),
        cert.sha256().to_owned(),
        not_after,
        cert_pem.to_owned(),
        key_pem.to_owned(),
        now,
        by.to_owned(),
    );
    store.put_push_certificate(tenant, &record).await?;
    tracing::info!(%tenant, certificate = %cert.sha256(), topic = %cert.topic(), stranded, "push certificate stored");
    Ok(Uploaded {
        topic: record.topic,
        sha256: record.sha256,
        not_after: not_after.as_millis(),
        replaced: previous.map(|p| p.sha256),
        stranded,
    })
}

/// The push side of a tenant, for `mdmkit status` and the admin API.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PushStatus {
    /// The push certificate, if one was uploaded.
    pub certificate: Option<CertificateStatus>,
    /// Enrolled Apple devices with a push token.
    pub apple_devices: usize,
    /// Of those, devices whose topic is not the certificate's.
    pub stranded: usize,
    /// Enrolled Windows devices with a WNS channel.
    pub windows_channels: usize,
    /// Devices pushed at least once.
    pub pushed: usize,
    /// Devices pushed and not checked in since.
    pub awaiting_check_in: usize,
    /// Devices flagged (pushed too often without checking in).
    pub flagged: Vec<DeviceId>,
    /// Devices whose token is dead (until their next TokenUpdate).
    pub dead_tokens: usize,
    /// Devices owed a push (after a transient failure or rate limit).
    pub pending: usize,
}

/// A push certificate without its key.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CertificateStatus {
    /// The topic.
    pub topic: String,
    /// The subject.
    pub subject: String,
    /// SHA-256 (hex).
    pub sha256: String,
    /// End of validity (ms since the epoch).
    pub not_after: i64,
    /// Whole days left (negative: expired).
    pub days_left: i64,
    /// Whether it expires within 30 days (or has).
    pub expiring: bool,
    /// When it was uploaded (ms since the epoch).
    pub uploaded_at: i64,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// The certificate problem APNs reported, if any.
    pub alert: Option<String>,
}

/// How far ahead an expiring certificate is shown.
pub const EXPIRING_WITHIN: Duration = Duration::from_secs(30 * 86_400);

/// Reads a tenant's push status from the store.
pub async fn status(
    store: &dyn StateStore,
    tenant: &TenantId,
) -> Result<PushStatus, mdmkit::Error> {
    let now = SystemClock.now();
    let cert = store.push_certificate(tenant).await?;
    let enrollments: Vec<Enrollment> = store
        .enrollments(tenant)
        .await?
        .into_iter()
        .filter(|e| e.status == EnrollmentStatus::Active || e.wns_channel.is_some())
        .collect();
    let by_device: HashMap<&DeviceId, &Enrollment> =
        enrollments.iter().map(|e| (&e.device, e)).collect();
    let states = store.push_states(tenant).await?;
    let mut s = PushStatus {
        certificate: cert.as_ref().map(|c| CertificateStatus {
            topic: c.topic.clone(),
            subject: c.subject.clone(),
            sha256: c.sha256.clone(),
            not_after: c.not_after.as_millis(),
            days_left: (c.not_after.as_millis() - now.as_millis()).div_euclid(86_400_000),
            expiring: c.not_after <= now.plus(EXPIRING_WITHIN),
            uploaded_at: c.uploaded_at.as_millis(),
            uploaded_by: c.uploaded_by.clone(),
            alert: c.alert.as_ref().map(|a| a.reason.clone()),
        }),
        apple_devices: enrollments.iter().filter(|e| e.push.is_some()).count(),
        stranded: cert
            .as_ref()
            .map_or(0, |c| stranded_by(&enrollments, &c.topic)),
        windows_channels: enrollments
            .iter()
            .filter(|e| e.wns_channel.is_some())
            .count(),
        pushed: 0,
        awaiting_check_in: 0,
        flagged: Vec::new(),
        dead_tokens: 0,
        pending: 0,
    };
    for mut st in states {
        let e = by_device.get(&st.device);
        if let Some(e) = e {
            st.observe_check_in(e.last_seen, Duration::from_secs(60));
        }
        if st.last_push.is_some() {
            s.pushed += 1;
        }
        if st.flagged_at.is_some() {
            s.flagged.push(st.device.clone());
        } else if st.attempts > 0 {
            s.awaiting_check_in += 1;
        }
        if e.and_then(|e| e.push.as_ref())
            .is_some_and(|p| st.token_dead(p))
        {
            s.dead_tokens += 1;
        }
        if st.pending {
            s.pending += 1;
        }
    }
    Ok(s)
}
