//! When to try again: exponential backoff with jitter for 429, 5xx and
//! broken connections, Google's `Retry-After` honoured when it says more.

use std::time::Duration;

/// How a client retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Requests sent at most for one call (the first included).
    pub max_attempts: u32,
    /// The first backoff.
    pub base_delay: Duration,
    /// The longest backoff between two attempts.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured (a longer one is cut to this).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Sets the number of attempts (at least one).
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets the first and the longest backoff.
    pub fn with_delays(mut self, base: Duration, max: Duration) -> Self {
        self.base_delay = base;
        self.max_delay = max.max(base);
        self
    }

    /// Sets the longest `Retry-After` honoured.
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// The wait after failed attempt `attempt` (1-based): the server's
    /// `Retry-After` (cut to [`RetryPolicy::max_retry_after`]) when it
    /// gave one, else `base * 2^(attempt-1)` capped at `max_delay`, of
    /// which `jitter` (0.0 to 1.0) takes off up to a half.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max_retry_after);
        }
        let exp = attempt.saturating_sub(1).min(30);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let cut = full.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        full.saturating_sub(cut)
    }
}

/// Reads `Retry-After`: delay-seconds. (The HTTP-date form is not read;
/// Google sends seconds; the backoff applies instead.)
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<u64>().ok().map(Duration::from_secs)
}

/// Whether an HTTP status is worth another attempt.
pub fn retryable(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn retry_after_is_seconds() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("99999999999"), None);
    }

    proptest! {
        #[test]
        fn backoff_grows_stays_capped_and_honours_retry_after(
            attempt in 1u32..100, jitter in 0.0f64..1.0, ra in proptest::option::of(0u64..1000),
        ) {
            let p = RetryPolicy::default();
            let ra = ra.map(Duration::from_secs);
            let d = p.delay(attempt, ra, jitter);
            match ra {
                Some(r) => prop_assert_eq!(d, r.min(p.max_retry_after)),
                None => {
                    prop_assert!(d <= p.max_delay);
                    let full = p.base_delay.saturating_mul(1u32 << (attempt - 1).min(30)).min(p.max_delay);
                    prop_assert!(d * 2 >= full);
                }
            }
        }
    }
}
