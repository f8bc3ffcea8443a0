//! The integration tests of `mdmkit-windows`, one test binary for the crate (one
//! link instead of one per file: faster CI, far less disk).

mod conformance;
mod csp_mapping;
mod enrollment;
mod enrollment_identity;
mod enrollment_props;
mod session_snapshot;
mod syncml_codec;
