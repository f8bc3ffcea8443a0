//! The integration tests of `mdmkit-apple`, one test binary for the crate (one
//! link instead of one per file: faster CI, far less disk).

mod declarative;
mod fixtures;
mod mapping;
mod openssl_cms;
mod plistlib;
mod roundtrip;
