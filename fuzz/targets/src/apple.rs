//! Fuzz target bodies for mdmkit-apple.

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[];
