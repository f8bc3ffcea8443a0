//! One module per top-level subcommand.

pub(crate) mod admin;
pub(crate) mod android;
pub(crate) mod audit;
pub(crate) mod ca;
pub(crate) mod cert;
pub(crate) mod compile;
pub(crate) mod enroll;
pub(crate) mod inspect;
pub(crate) mod policy;
pub(crate) mod push_cert;
pub(crate) mod qr;
pub(crate) mod queue;
pub(crate) mod reconcile;
pub(crate) mod serve;
pub(crate) mod simulate;
