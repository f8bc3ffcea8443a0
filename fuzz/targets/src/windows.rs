//! Fuzz target bodies for mdmkit-windows.

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[];
