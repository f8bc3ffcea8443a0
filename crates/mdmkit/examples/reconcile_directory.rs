//! Reconcile a tenant directory: load its tree and policies, plan the
//! fewest commands per device into a SQLite store, and print the plan.
//! A second reconcile, with nothing changed, plans nothing.
//!
//! ```sh
//! cargo run -p mdmkit --example reconcile_directory               # examples/region
//! cargo run -p mdmkit --example reconcile_directory -- path/to/tenant
//! ```
//!
//! The store is a SQLite file in a temporary directory, so every run
//! starts from nothing (`mdmkit reconcile DIR` keeps its store in
//! `DIR/.mdmkit/mdmkit.db` instead, and plans only what changed since the
//! last run). The program exits non-zero when a step does not do what it
//! should, so running it is a test (`scripts/test` runs it).
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::Arc;

use mdmkit::queue::{SqliteOptions, SqliteStore};
use mdmkit::state::SqliteState;
use mdmkit::{Plan, Reconciler, Scope};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/region"),
    };

    // The tenant: `tree.toml` (the nodes), `devices.toml`, `policies/*.toml`.
    // Errors name the file and line. Secret references in policies
    // (`{ file = ... }`) are read relative to this directory when payloads
    // are encoded.
    let tenant = mdmkit::policy::load_dir(&dir)?;
    println!(
        "tenant {} from {}: {} devices",
        tenant.id(),
        dir.display(),
        tenant.devices().count()
    );

    // The stores: the command queue and the reconciler's state (what was
    // last planned for each device, compliance per category) share one
    // SQLite file. `PostgresStore` and `PostgresState` are the hosted
    // equivalents; `MemoryStore` and `MemoryState` keep nothing.
    let tmp = tempfile::tempdir()?;
    let db = tmp.path().join("mdmkit.db");
    let queue = SqliteStore::open(SqliteOptions::new(&db)).await?;
    let state = SqliteState::open(&db).await?;
    let reconciler = Reconciler::new(Arc::new(queue), Arc::new(state));

    // Plan and queue for every device of the tenant (`Scope::Node` limits
    // a run to a subtree).
    let plan = reconciler.reconcile(&tenant, &Scope::All).await?;
    print_plan(&plan);
    if plan.devices > 0 && plan.queued == 0 {
        return Err("the first reconcile queued no command".into());
    }

    // Nothing changed: nothing to plan. A changed policy file would queue
    // commands for the devices it reaches only.
    let again = reconciler.reconcile(&tenant, &Scope::All).await?;
    println!(
        "second reconcile: {} devices considered, {} changed, {} commands queued",
        again.devices, again.changed_devices, again.queued
    );
    if !again.is_noop() {
        return Err(format!("the second reconcile was not a no-op: {again:?}").into());
    }
    println!("ok: the second reconcile planned nothing");
    Ok(())
}

/// The plan as `mdmkit reconcile` summarises it (`--json` prints the
/// whole `Plan`, which is `Serialize`).
fn print_plan(plan: &Plan) {
    println!(
        "first reconcile: {} devices considered, {} changed, {} commands queued ({} distinct payloads)",
        plan.devices,
        plan.changed_devices,
        plan.queued,
        plan.enqueued.len()
    );
    for (platform, kinds) in &plan.commands {
        for (kind, n) in kinds {
            println!("  {platform:<8} {kind:<20} {n}");
        }
    }
    println!("  devices to wake by push: {}", plan.wake.len());
    for u in &plan.unsupported {
        println!(
            "  cannot enforce on {} ({} devices): {} ({})",
            u.platform, u.devices, u.path, u.reason
        );
    }
    for c in &plan.conflicts {
        println!("  conflict: {c}");
    }
}
