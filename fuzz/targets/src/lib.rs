//! The bodies of mdmkit's fuzz targets.
//!
//! Each body feeds arbitrary bytes to one parser of untrusted input and
//! checks the laws that must hold for any input: no panic, and for accepted
//! input a stable re-encoding where the parser promises one. The same bodies
//! run under `cargo fuzz` (nightly, `fuzz/fuzz_targets/*.rs`) and, on stable,
//! in `tests/replay.rs`, which replays every committed corpus under
//! `fuzz/corpus/NAME/`.
//!
//! ```
//! for target in mdmkit_fuzz_targets::all() {
//!     (target.body)(b"not a valid anything");
//! }
//! ```
#![forbid(unsafe_code)]

pub mod android;
pub mod apple;
pub mod core;
pub mod facade;
pub mod identity;
pub mod policy;
pub mod queue;
pub mod server;
pub mod windows;

/// One fuzz target: its name (the cargo-fuzz binary and the corpus folder)
/// and its body.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The name under `fuzz/fuzz_targets/NAME.rs` and `fuzz/corpus/NAME/`.
    pub name: &'static str,
    /// Feeds one input to the parser under test; panics only on a bug.
    pub body: fn(&[u8]),
}

/// Every fuzz target of the workspace.
pub fn all() -> Vec<Target> {
    [
        core::TARGETS,
        facade::TARGETS,
        identity::TARGETS,
        policy::TARGETS,
        queue::TARGETS,
        apple::TARGETS,
        windows::TARGETS,
        android::TARGETS,
        server::TARGETS,
    ]
    .concat()
}

/// Looks a target up by name.
pub fn by_name(name: &str) -> Option<Target> {
    all().into_iter().find(|t| t.name == name)
}
