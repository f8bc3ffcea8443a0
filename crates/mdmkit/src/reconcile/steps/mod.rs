//! The steps of a run, in order.
//!
//! [`Reconciler::reconcile_with`](super::Reconciler::reconcile_with) reads
//! what the stores know, plans with the pure steps below, then commits
//! (enqueue, journal, state). Each planning step is a function of its
//! inputs, with no store and no clock of its own, and is tested alone:
//!
//! 1. [`scope`]: the devices a run considers, and the devices gone from
//!    the tenant;
//! 2. [`classify`]: each device against its stored record: unchanged,
//!    moved, or changed (with its effective policy hashed once per
//!    distinct policy, secrets resolved);
//! 3. [`group`]: the changed devices grouped by identical change (same
//!    platform, facts, old and new settings, retries), given the old
//!    settings the run loaded for them;
//! 4. [`commands`]: each group's commands from the platform's encoder,
//!    identical commands merged across groups, then the queue payloads;
//! 5. [`rows`]: the compliance rows each device gets for the commands of
//!    its group, and the summary of unsupported settings.

pub(crate) mod classify;
pub(crate) mod commands;
pub(crate) mod group;
pub(crate) mod rows;
pub(crate) mod scope;

#[cfg(test)]
pub(crate) mod fixtures;
