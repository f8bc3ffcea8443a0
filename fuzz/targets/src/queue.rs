//! Fuzz target bodies for mdmkit-queue.

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[];
