//! Fuzz target bodies for mdmkit-policy.

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[];
