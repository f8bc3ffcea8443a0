//! The integration tests of `mdmkit-android`, one test binary for the crate (one
//! link instead of one per file: faster CI, far less disk).

mod fixtures;
mod mapping;
mod mutations;
