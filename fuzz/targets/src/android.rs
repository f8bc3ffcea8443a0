//! Fuzz target bodies for mdmkit-android.

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[];
