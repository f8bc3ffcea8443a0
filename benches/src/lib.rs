//! Shared fixtures for mdmkit's criterion benchmarks (see `docs/performance.md`).
//!
//! The benchmarks themselves are the `[[bench]]` targets of this crate.
//!
//! ```
//! // Nothing to call: run `cargo bench -p mdmkit-benches`.
//! ```
#![forbid(unsafe_code)]
