//! The integration tests of `mdmkit-policy`, one test binary for the crate (one
//! link instead of one per file: faster CI, far less disk).

mod authors;
mod docs;
mod examples;
mod laws;
mod load;
mod merge;
mod secrets;
