//! How a [`Reconciler`](super::Reconciler) runs: options and retries.

use std::sync::Arc;
use std::time::Duration;

use mdmkit_queue::Timestamp;

/// How failed categories are retried: `base × 2^(attempts-1)`, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// The first delay.
    pub base: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// After this many failures in a row the category stays failed until
    /// its settings change.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 5 minutes, doubling up to 6 hours, 8 attempts.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(300),
            max_delay: Duration::from_secs(6 * 3600),
            max_attempts: 8,
        }
    }
}

impl RetryPolicy {
    /// When the `attempts`-th failure in a row is retried, if at all.
    pub fn next(&self, now: Timestamp, attempts: u32) -> Option<Timestamp> {
        if attempts >= self.max_attempts {
            return None;
        }
        let factor = 1u32
            .checked_shl(attempts.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let delay = self.base.saturating_mul(factor).min(self.max_delay);
        Some(now.plus(delay))
    }
}

/// Options of a [`Reconciler`](super::Reconciler).
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Options {
    /// The Apple `PayloadIdentifier` prefix (default `org.mdmkit`).
    pub apple_prefix: Option<String>,
    /// The organisation name written into Apple profiles.
    pub organization: Option<String>,
    /// Retries of failed categories.
    pub retry: RetryPolicy,
    /// Called with (devices done, devices to plan) while planning: drive a
    /// progress bar with it.
    pub progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
    /// Identity renewals before expiry (none when unset).
    pub renewal: Option<crate::renewal::RenewalOptions>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("apple_prefix", &self.apple_prefix)
            .field("organization", &self.organization)
            .field("retry", &self.retry)
            .field("progress", &self.progress.is_some())
            .field("renewal", &self.renewal)
            .finish()
    }
}

impl Options {
    /// Renews device identities before they expire, on every reconcile
    /// (see [`crate::renewal`]).
    pub fn with_renewal(mut self, renewal: crate::renewal::RenewalOptions) -> Self {
        self.renewal = Some(renewal);
        self
    }

    /// Sets the Apple identifier prefix.
    pub fn with_apple_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.apple_prefix = Some(prefix.into());
        self
    }

    /// Sets the organisation name.
    pub fn with_organization(mut self, name: impl Into<String>) -> Self {
        self.organization = Some(name.into());
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the progress callback.
    pub fn with_progress(mut self, f: impl Fn(u64, u64) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }
}
