//! The integration tests of `mdmkit-identity`, one test binary for the crate (one
//! link instead of one per file: faster CI, far less disk).

mod envelope_vectors;
mod openssl_interop;
mod properties;
#[cfg(feature = "scep")]
mod scep;
