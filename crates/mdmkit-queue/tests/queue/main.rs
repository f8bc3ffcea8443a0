//! The integration tests of `mdmkit-queue`, one test binary for the crate (one
//! link instead of one per file: faster CI, far less disk).

mod common;

mod concurrency;
mod conformance;
mod durability;
mod model;
