//! The integration tests of `mdmkit`, one test binary for the crate (one
//! link instead of one per file: faster CI, far less disk).

mod audit;
mod challenge;
mod dependency_rule;
mod device_session;
mod end_to_end;
mod inventory;
mod push_state;
mod reconcile_props;
mod signing;
mod windows_payloads;
