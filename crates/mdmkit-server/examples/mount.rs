//! Mounts mdmkit's device endpoints and admin API in an axum app of your
//! own, next to your routes, over the embedded SQLite stores.
//!
//! ```sh
//! cargo run -p mdmkit-server --example mount -- examples/region 127.0.0.1:8080
//! ```
//!
//! The region directory is the documented tree format (`mdmkit policy
//! check` reads the same); its CA is created under `DIR/.mdmkit/ca` on the
//! first start, its store is `DIR/.mdmkit/mdmkit.db`, its audit journal
//! `DIR/.mdmkit/audit.jsonl` — the files `mdmkit serve` and
//! `mdmkit status` use, so both see what this app does. Put a TLS proxy in
//! front (and `ServerConfig::trust_proxy`), or pass a rustls config to
//! `serve` for TLS with client certificates.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::get;
use mdmkit::audit::{Journal, JournalOptions, JournalWriter};
use mdmkit::identity::{CaBuilder, CaDir, KeyAlgorithm};
use mdmkit::queue::{QueueStore, SqliteOptions, SqliteStore};
use mdmkit::state::{SqliteState, StateStore};
use mdmkit::{Reconciler, audit};
use mdmkit_server::{AppState, ServerConfig, TenantContext, Tenants};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: mount REGION_DIR [ADDR]")?);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());

    // The tenant: its tree, read again before an admin-triggered reconcile.
    let tree = mdmkit::policy::load_dir(&dir)?;
    let state_dir = dir.join(".mdmkit");

    // Its CA: devices' certificates must chain to it.
    let ca_path = state_dir.join("ca");
    let ca = if ca_path.join(CaDir::ROOT_CERT).exists() {
        CaDir::new(&ca_path)
    } else {
        let ca = CaBuilder::new(tree.id().clone())
            .algorithm(KeyAlgorithm::P256)
            .build()?;
        CaDir::create(&ca_path, &ca)?
    };

    // Its stores and audit journal.
    let db = state_dir.join("mdmkit.db");
    let queue: Arc<dyn QueueStore> = Arc::new(SqliteStore::open(SqliteOptions::new(&db)).await?);
    let state: Arc<dyn StateStore> = Arc::new(SqliteState::open(&db).await?);
    // The journal is written by a thread of its own (group commit): the
    // async handlers never wait on its fsync.
    let journal = JournalWriter::spawn(Journal::open(
        audit::journal_path(&dir),
        audit::load_or_create_key(&dir)?,
        JournalOptions::default(),
    )?)?;
    let reconciler = Arc::new(Reconciler::new(queue, state).with_journal(journal.clone()));

    let reload = dir.clone();
    let tenant = TenantContext::new(tree, ca.verifier()?, reconciler)
        .with_ca_dir(ca)?
        .with_journal(journal)
        .with_loader(move || mdmkit::policy::load_dir(&reload).map_err(|e| e.to_string()));
    let tenant_id = tenant.id().clone();

    // Your app, with mdmkit's routes merged in.
    let app = axum::Router::new()
        .route("/", get(|| async { "my console\n" }))
        .merge(mdmkit_server::router(AppState::new(
            Tenants::new().with(tenant),
            ServerConfig::new(),
        )));

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "devices: http://{}/{tenant_id}/apple/checkin and /{tenant_id}/apple/mdm",
        listener.local_addr()?
    );
    // Plain HTTP here; `Some(Arc::new(mdmkit_server::tls::server_config(..)?))`
    // serves TLS with client certificates instead.
    mdmkit_server::serve::serve(listener, app, None, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
