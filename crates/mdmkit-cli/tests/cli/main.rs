//! The integration tests of `mdmkit-cli`, one test binary for the crate (one
//! link instead of one per file: faster CI, far less disk).

mod android_cli;
mod android_compile_cli;
mod android_serve_cli;
mod apple_cli;
mod apple_compile_cli;
mod apple_ddm_cli;
mod audit_cli;
mod console_browser_cli;
mod enroll_cli;
mod identity_cli;
mod policy_cli;
mod queue_cli;
mod reconcile_cli;
mod scep_cli;
mod secrets_cli;
mod serve_cli;
mod serve_cluster_cli;
mod serve_durability_cli;
mod serve_push_cli;
mod serve_support;
mod serve_tls_cli;
mod serve_windows_cli;
mod signing_cli;
mod simulate_cli;
mod support;
mod usage_cli;
mod webdriver;
mod windows_cli;
mod windows_compile_cli;
