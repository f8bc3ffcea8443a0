//! The integration tests of `mdmkit-server`, one test binary (one link).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod android;
mod console;
mod isolation;
mod openapi;
mod push;
mod windows;
