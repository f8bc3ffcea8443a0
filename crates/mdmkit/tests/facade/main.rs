//! The integration tests of `mdmkit`, one test binary for the crate (one
//! link instead of one per file: faster CI, far less disk).
//!
//! They exercise every vendor over the embedded store, so they need the
//! default features; CI compiles the other feature sets' library, examples
//! and unit tests.
#![cfg(all(
    feature = "apple",
    feature = "windows",
    feature = "android",
    feature = "sqlite"
))]

mod audit;
mod audit_heads;
mod challenge;
mod dependency_rule;
mod device_session;
mod end_to_end;
mod inventory;
mod node_summary;
mod push_state;
mod reconcile_props;
mod secrets;
mod signing;
mod sim_android;
mod sim_apple;
mod state_conformance;
mod windows_payloads;
