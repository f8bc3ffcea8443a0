//! Waking a Windows PC through the Windows Push Notification Services
//! (WNS): a raw notification to the channel URI the PC registered through
//! the DMClient Push CSP, sent with an OAuth access token of the app's
//! credentials (client-credentials grant).
//!
//! The answers are typed ([`WnsOutcome`]); 410 (and 404) mean the channel
//! expired: push nothing more to it until the PC reports another.
//!
//! | feature | module | what |
//! |---|---|---|
//! | `wns` | [`client`] | the client (hyper 1 over rustls with aws-lc-rs) |
//! | `wns-emulator` | [`emulator`] | a local WNS (token endpoint and channels) for tests |

use std::time::Duration;

#[cfg(feature = "wns")]
#[cfg_attr(docsrs, doc(cfg(feature = "wns")))]
pub mod client;
#[cfg(feature = "wns-emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "wns-emulator")))]
pub mod emulator;

/// The DMClient Push CSP node where a PC reports its WNS channel URI.
pub fn channel_uri_node(provider_id: &str) -> String {
    format!("./Vendor/MSFT/DMClient/Provider/{provider_id}/Push/ChannelURI")
}

/// The DMClient Push CSP node that tells a PC which app (package family
/// name) its channel is for.
pub fn pfn_node(provider_id: &str) -> String {
    format!("./Vendor/MSFT/DMClient/Provider/{provider_id}/Push/PFN")
}

/// Whether a LocURI is a DMClient Push `ChannelURI` node (any provider).
pub fn is_channel_uri_node(uri: &str) -> bool {
    let u = uri.trim_start_matches("./").to_ascii_lowercase();
    u.starts_with("vendor/msft/dmclient/provider/") && u.ends_with("/push/channeluri")
}

/// The result of one raw notification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WnsOutcome {
    /// 200: WNS accepted it.
    Delivered,
    /// Try again later: 406 (throttled), 500, 503, or no answer.
    Retry {
        /// The HTTP status (0: no answer).
        status: u16,
        /// WNS' `Retry-After`, if any.
        retry_after: Option<Duration>,
        /// What happened, when there was no answer.
        detail: Option<String>,
    },
    /// 404 or 410: the channel is invalid or expired; wait for the PC to
    /// report a new one.
    ChannelExpired {
        /// The HTTP status.
        status: u16,
    },
    /// 401 after a fresh token, 403, or a token endpoint that refuses the
    /// credentials: the operator must fix the app's credentials.
    Credentials {
        /// The HTTP status.
        status: u16,
        /// The reason given, if any.
        detail: Option<String>,
    },
    /// 400, 405, 413, or a channel URI outside WNS: the request is wrong;
    /// not retried.
    Rejected {
        /// The HTTP status (0: refused before sending).
        status: u16,
        /// Why.
        detail: Option<String>,
    },
}

impl WnsOutcome {
    /// The outcome of a WNS answer's status.
    pub fn from_status(status: u16, retry_after: Option<Duration>) -> Self {
        match status {
            200 => Self::Delivered,
            404 | 410 => Self::ChannelExpired { status },
            401 | 403 => Self::Credentials {
                status,
                detail: None,
            },
            406 | 429 | 500..=599 => Self::Retry {
                status,
                retry_after,
                detail: None,
            },
            _ => Self::Rejected {
                status,
                detail: None,
            },
        }
    }

    /// A short name of the outcome's reason, for logs (`channel-expired`,
    /// `HTTP 503`, ...).
    pub fn reason(&self) -> Option<String> {
        match self {
            Self::Delivered => None,
            Self::Retry { status: 0, .. } => Some("no answer".into()),
            Self::Retry { status, .. } => Some(format!("HTTP {status}")),
            Self::ChannelExpired { status } => Some(format!("ChannelExpired (HTTP {status})")),
            Self::Credentials { status, .. } => Some(format!("Credentials (HTTP {status})")),
            Self::Rejected { status, .. } => Some(format!("Rejected (HTTP {status})")),
        }
    }

    /// WNS' `Retry-After`, for a retry.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Retry { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_typed() {
        assert_eq!(WnsOutcome::from_status(200, None), WnsOutcome::Delivered);
        assert_eq!(
            WnsOutcome::from_status(410, None),
            WnsOutcome::ChannelExpired { status: 410 }
        );
        assert!(matches!(
            WnsOutcome::from_status(406, Some(Duration::from_secs(3))),
            WnsOutcome::Retry {
                status: 406,
                retry_after: Some(_),
                ..
            }
        ));
        assert!(matches!(
            WnsOutcome::from_status(403, None),
            WnsOutcome::Credentials { .. }
        ));
        assert!(matches!(
            WnsOutcome::from_status(400, None),
            WnsOutcome::Rejected { .. }
        ));
        assert!(is_channel_uri_node(&channel_uri_node("mdmkit")));
        assert!(!is_channel_uri_node("./DevDetail/SwV"));
    }
}
