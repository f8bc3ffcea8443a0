//! Windows devices woken through WNS: a raw notification to the channel
//! URI the PC registered through the DMClient Push CSP (`mdmkit_windows::wns`),
//! its answers mapped onto the same classes as APNs' so the wake loop
//! treats both alike.

pub use mdmkit::windows::wns::WnsOutcome;
pub use mdmkit::windows::wns::client::{WnsClient, WnsConfig, WnsError};

use mdmkit::apple::apns::OutcomeClass;

/// The class of a WNS outcome: an expired channel is a dead token, bad
/// credentials are the operator's problem like a refused certificate.
pub fn class_of(o: &WnsOutcome) -> OutcomeClass {
    match o {
        WnsOutcome::Delivered => OutcomeClass::Delivered,
        WnsOutcome::Retry { .. } => OutcomeClass::Retry,
        WnsOutcome::ChannelExpired { .. } => OutcomeClass::TokenDead,
        WnsOutcome::Credentials { .. } => OutcomeClass::Certificate,
        _ => OutcomeClass::Rejected,
    }
}
