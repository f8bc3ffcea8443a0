//! The integration tests of `mdmkit-android`, one test binary for the crate (one
//! link instead of one per file: faster CI, far less disk).

#[cfg(feature = "emulator")]
mod client;
mod fixtures;
mod mapping;
mod mutations;
