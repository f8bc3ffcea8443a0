//! Fuzz target bodies for mdmkit-identity.

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[];
