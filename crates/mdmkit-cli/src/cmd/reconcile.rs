//! `mdmkit reconcile DIR` (the main job) and `mdmkit status DIR`.
//!
//! Both work on a tenant directory (`tree.toml`, `devices.toml`,
//! `policies/`) and, by default, the embedded store inside it,
//! `DIR/.mdmkit/mdmkit.db` (git-ignored): the queue and the reconciler's
//! applied state in one SQLite file. `--store postgres://...` uses a
//! PostgreSQL database instead (the queue's and the state's tables).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mdmkit::audit::{self, Journal, JournalOptions, JournalWriter};
use mdmkit::queue::{
    PostgresOptions, PostgresStore, QueueStore, SqliteOptions, SqliteStore, StoreLocation,
    Synchronous,
};
use mdmkit::reconcile::Options;
use mdmkit::state::{PostgresState, SqliteState, StateStore};
use mdmkit::{Plan, Reconciler, Scope};

use crate::error::{CliError, Context};

/// `mdmkit reconcile`.
#[derive(Debug, Args)]
pub(crate) struct ReconcileArgs {
    /// The tenant directory (tree.toml, devices.toml, policies/).
    dir: PathBuf,
    /// Where the queue and the state live: `sqlite:PATH` or
    /// `postgres://...` (default `sqlite:DIR/.mdmkit/mdmkit.db`).
    #[arg(long, value_name = "LOCATION")]
    store: Option<String>,
    /// Where the audit journal lives: `postgres://...` for a journal that
    /// several processes on several hosts share (default: the file
    /// `DIR/.mdmkit/audit.jsonl`).
    #[arg(long, value_name = "URL")]
    journal: Option<String>,
    /// Print the plan as one JSON object.
    #[arg(long)]
    json: bool,
    /// Queue identity renewals (a fresh enrollment profile) for enrolled
    /// Apple devices whose certificate expires within this time, once
    /// `mdmkit enroll apple` has saved the tenant's enrollment settings.
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = super::enroll::parse_duration)]
    renew_within: std::time::Duration,
}

/// `mdmkit status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The tenant directory.
    dir: PathBuf,
    /// Where the queue and the state live: `sqlite:PATH` or
    /// `postgres://...` (default `sqlite:DIR/.mdmkit/mdmkit.db`).
    #[arg(long, value_name = "LOCATION")]
    store: Option<String>,
    /// Only the devices at this node and below.
    #[arg(long, value_name = "NODE")]
    node: Option<String>,
    /// Only what is not compliant, with the provenance of its settings.
    #[arg(long)]
    noncompliant: bool,
    /// Only the device certificates (issued through enrollment) that
    /// expire within this time (`30d`, `12h`), soonest first.
    #[arg(long, value_name = "DURATION", value_parser = super::enroll::parse_duration, conflicts_with = "noncompliant")]
    expiring: Option<std::time::Duration>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

type Store = Reconciler<dyn QueueStore, dyn StateStore>;

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The store location: the given one, or `DIR/.mdmkit/mdmkit.db`
/// (creating `DIR/.mdmkit/` with a `.gitignore`).
pub(crate) fn location(dir: &Path, store: Option<&String>) -> Result<StoreLocation, CliError> {
    if let Some(s) = store {
        return StoreLocation::parse(s).context("--store");
    }
    let state = dir.join(".mdmkit");
    std::fs::create_dir_all(&state).context(format_args!("cannot create {}", state.display()))?;
    let ignore = state.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(&ignore, "*\n")
            .context(format_args!("cannot write {}", ignore.display()))?;
    }
    Ok(StoreLocation::Sqlite(state.join("mdmkit.db")))
}

/// Opens the queue and the state: one SQLite file, or one PostgreSQL
/// database.
///
/// SQLite runs with `synchronous=NORMAL`, which is safe here: its WAL loses
/// at most a suffix of commits on power loss, and a run commits its queue
/// writes before its state, so a lost suffix is planned again.
async fn open(location: &StoreLocation, options: Options) -> Result<Store, CliError> {
    let (queue, state) = open_stores(location).await?;
    Ok(Reconciler::new(queue, state).with_options(options))
}

/// The queue and state stores at a location.
pub(crate) type Stores = (Arc<dyn QueueStore>, Arc<dyn StateStore>);

/// Opens the queue and the state stores at a location.
pub(crate) async fn open_stores(location: &StoreLocation) -> Result<Stores, CliError> {
    let stores: Stores = match location {
        StoreLocation::Sqlite(path) => (
            Arc::new(
                SqliteStore::open(SqliteOptions::new(path).with_synchronous(Synchronous::Normal))
                    .await
                    .context(format_args!("cannot open the queue in {}", path.display()))?,
            ),
            Arc::new(
                SqliteState::open(path)
                    .await
                    .context(format_args!("cannot open the state in {}", path.display()))?,
            ),
        ),
        StoreLocation::Postgres(url) => (
            Arc::new(
                PostgresStore::open(PostgresOptions::new(url.clone()))
                    .await
                    .context("cannot open the PostgreSQL queue")?,
            ),
            Arc::new(
                PostgresState::open(url)
                    .await
                    .context("cannot open the PostgreSQL state")?,
            ),
        ),
        _ => return Err(CliError::new("--store: use sqlite:PATH or postgres://...")),
    };
    Ok(stores)
}

/// The tenant's audit journal on a writer thread: the file in
/// `DIR/.mdmkit/`, or the tenant's rows in PostgreSQL (`--journal URL`).
/// The checkpoint key is the directory's either way.
pub(crate) async fn open_journal(
    dir: &Path,
    tenant: &mdmkit::TenantId,
    url: Option<&str>,
) -> Result<JournalWriter, CliError> {
    let signer = audit::load_or_create_key(dir).context("audit journal key")?;
    match url {
        Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
            JournalWriter::spawn_postgres(u, tenant.clone(), signer, JournalOptions::default())
                .await
                .context("audit journal in PostgreSQL")
        }
        Some(u) => Err(CliError::with_code(
            2,
            format!("--journal {u:?}: use postgres://... (the default is the directory's file)"),
        )),
        None => {
            let journal =
                Journal::open(audit::journal_path(dir), signer, JournalOptions::default())
                    .context("audit journal")?;
            JournalWriter::spawn(journal).context("audit journal")
        }
    }
}

pub(crate) fn run_reconcile(args: ReconcileArgs) -> Result<ExitCode, CliError> {
    let tenant = super::policy::load(&args.dir)?;
    // Signed layers: refused when the tree requires signatures; a bad
    // signature is reported even when it does not.
    let layers = mdmkit::signing::verify_layers(&args.dir, &tenant)
        .map_err(|e| CliError::new(format!("{}: {e}", args.dir.display())))?;
    for p in &layers.problems {
        eprintln!("mdmkit: warning: {p}");
    }
    let location = location(&args.dir, args.store.as_ref())?;
    let bar = ProgressBar::with_draw_target(
        Some(tenant.devices().count() as u64),
        ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        ProgressStyle::with_template("planning {bar:40} {pos}/{len} devices {elapsed}")
    {
        bar.set_style(style);
    }
    let progress = bar.clone();
    let mut options = Options::default()
        .with_organization(tenant.name().unwrap_or(tenant.id().as_str()).to_owned());
    if let Some(renewal) = super::enroll::renewal_options(&args.dir, args.renew_within)? {
        options = options.with_renewal(renewal);
    }
    let options = options.with_progress(move |done, total| {
        progress.set_length(total);
        progress.set_position(done);
    });
    let rt = runtime()?;
    let journal = rt.block_on(open_journal(
        &args.dir,
        tenant.id(),
        args.journal.as_deref(),
    ))?;
    let plan = rt.block_on(async {
        let r = open(&location, options)
            .await?
            .with_journal(journal.clone());
        let plan = r
            .reconcile(&tenant, &Scope::All)
            .await
            .context(format_args!("{}", args.dir.display()))?;
        // Sign the journal's head and keep it in the state store, where a
        // journal cut short shows.
        r.checkpoint_journal(tenant.id())
            .await
            .context("audit journal")?;
        Ok::<_, CliError>(plan)
    })?;
    rt.block_on(journal.close()).context("audit journal")?;
    bar.finish_and_clear();
    if args.json {
        let mut v = serde_json::to_value(&plan).context("cannot write JSON")?;
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "signed_layers".into(),
                serde_json::json!(layers.signed_count()),
            );
        }
        let text = serde_json::to_string_pretty(&v).context("cannot write JSON")?;
        println!("{text}");
    } else {
        print!("{}", render_plan(&plan));
        if layers.signed_count() > 0 || layers.requires_signatures {
            println!(
                "signed layers: {} of {}",
                layers.signed_count(),
                layers.layers.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn render_plan(plan: &Plan) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let tenant = plan.tenant.as_ref().map_or("", |t| t.as_str());
    let _ = writeln!(
        s,
        "tenant {tenant}: {} devices, {} changed, {} retried, {} removed",
        plan.devices, plan.changed_devices, plan.retried, plan.removed_devices
    );
    if plan.moved_devices > 0 {
        let _ = writeln!(
            s,
            "{} devices moved to another node with nothing to send",
            plan.moved_devices
        );
    }
    if plan.queued == 0 {
        let _ = writeln!(s, "nothing to queue: every device is up to date");
    } else {
        let _ = writeln!(
            s,
            "queued {} commands ({} distinct payloads, {} superseded):",
            plan.queued,
            plan.enqueued.len(),
            plan.superseded
        );
        for (platform, kinds) in &plan.commands {
            for (kind, n) in kinds {
                let _ = writeln!(s, "  {platform:<8} {kind:<20} {n:>7}");
            }
        }
        let _ = writeln!(s, "devices to wake by push: {}", plan.wake.len());
    }
    if !plan.renewals.is_empty() {
        let _ = writeln!(
            s,
            "identity renewals queued: {} (certificates about to expire):",
            plan.renewals.len()
        );
        for r in &plan.renewals {
            let _ = writeln!(
                s,
                "  {} certificate {} expires {}",
                r.device,
                &r.certificate[..r.certificate.len().min(16)],
                super::enroll::rfc3339(r.expires_at)
            );
        }
    }
    if plan.skipped_devices > 0 {
        let _ = writeln!(
            s,
            "skipped {} devices: no encoder for their platform in this build",
            plan.skipped_devices
        );
    }
    if !plan.unsupported.is_empty() {
        let _ = writeln!(s, "settings a platform cannot enforce:");
        for u in &plan.unsupported {
            let _ = writeln!(
                s,
                "  {:<8} {} on {} device{}: {}",
                u.platform.as_str(),
                u.path,
                u.devices,
                if u.devices == 1 { "" } else { "s" },
                u.reason
            );
        }
    }
    if !plan.conflicts.is_empty() {
        let _ = writeln!(s, "conflicts:");
        for c in &plan.conflicts {
            let _ = writeln!(s, "  {c}");
        }
    }
    s
}

pub(crate) fn run_status(args: StatusArgs) -> Result<ExitCode, CliError> {
    let tenant = super::policy::load(&args.dir)?;
    let location = location(&args.dir, args.store.as_ref())?;
    let node = match &args.node {
        Some(n) => n.parse::<mdmkit::policy::NodeId>().context("--node")?,
        None => tenant.root().id().clone(),
    };
    if tenant.node(&node).is_none() {
        return Err(CliError::new(format!("--node: no node {node} in the tree")));
    }
    let rt = runtime()?;
    let out = rt.block_on(async {
        let r = open(&location, Options::default()).await?;
        if let Some(window) = args.expiring {
            use mdmkit::queue::{Clock as _, SystemClock};
            let now = SystemClock.now();
            let before = mdmkit::queue::Timestamp::from_millis(
                now.as_millis()
                    .saturating_add(i64::try_from(window.as_millis()).unwrap_or(i64::MAX)),
            );
            let certs: Vec<_> = r
                .state()
                .expiring_certificates(tenant.id(), before)
                .await
                .context("cannot read the issued certificates")?
                .into_iter()
                .filter(|c| mdmkit::access::covers(&tenant, &node, &c.node))
                .collect();
            // The push certificate too: when it lapses, no device wakes.
            let push_cert = r
                .state()
                .push_certificate(tenant.id())
                .await
                .context("cannot read the push certificate")?
                .filter(|c| c.not_after < before);
            return Ok::<_, CliError>(if args.json {
                let v: Vec<_> = certs
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "device_id": c.device_id, "sha256": c.sha256, "serial": c.serial,
                            "node": c.node, "not_after": c.not_after.as_millis(),
                            "expired": c.not_after <= now, "renews": c.renews,
                        })
                    })
                    .collect();
                serde_json::to_string_pretty(&serde_json::json!({
                    "tenant": tenant.id().as_str(),
                    "expiring": v,
                    "push_certificate": push_cert.as_ref().map(|c| serde_json::json!({
                        "topic": c.topic, "sha256": c.sha256,
                        "not_after": c.not_after.as_millis(), "expired": c.not_after <= now,
                    })),
                }))
                .context("cannot write JSON")?
                    + "\n"
            } else {
                let mut s = String::new();
                for c in &certs {
                    s.push_str(&format!(
                        "{:<28} {:<22} {} {}{}\n",
                        c.device_id,
                        c.node.as_str(),
                        super::enroll::rfc3339(c.not_after),
                        &c.sha256[..16],
                        if c.not_after <= now { " (expired)" } else { "" }
                    ));
                }
                if let Some(c) = &push_cert {
                    s.push_str(&format!(
                        "{:<28} {:<22} {} {}{}\n",
                        "push certificate",
                        c.topic,
                        super::enroll::rfc3339(c.not_after),
                        &c.sha256[..16],
                        if c.not_after <= now { " (expired)" } else { "" }
                    ));
                }
                if certs.is_empty() && push_cert.is_none() {
                    s.push_str("no certificate expires in that time\n");
                }
                s
            });
        }
        if args.noncompliant {
            let findings = r
                .noncompliant(&tenant, &node)
                .await
                .context("cannot read the state")?;
            Ok::<_, CliError>(if args.json {
                serde_json::to_string_pretty(&findings).context("cannot write JSON")? + "\n"
            } else {
                let mut s = String::new();
                for f in &findings {
                    s.push_str(&format!(
                        "{} ({}) {}: {}{}\n",
                        f.device,
                        f.node,
                        f.state.category.as_str(),
                        f.state.state,
                        f.state
                            .error
                            .as_ref()
                            .map(|e| format!(" ({e})"))
                            .unwrap_or_default()
                    ));
                    for u in f.state.unsupported.iter() {
                        s.push_str(&format!("    cannot enforce {}: {}\n", u.path, u.reason));
                    }
                    for set in &f.settings {
                        s.push_str(&format!(
                            "    {} from {} at {}{}\n",
                            set.path,
                            set.policy,
                            set.scope,
                            if set.locked { " (locked)" } else { "" }
                        ));
                    }
                }
                if findings.is_empty() {
                    s.push_str("every device is compliant\n");
                }
                s
            })
        } else {
            let status = r
                .status(&tenant, &node)
                .await
                .context("cannot read the state")?;
            let counts = r
                .queue()
                .counts(tenant.id())
                .await
                .context("cannot read the queue")?;
            let push = mdmkit_server::push::status(r.state().as_ref(), tenant.id())
                .await
                .context("cannot read the push state")?;
            let show_push = push.certificate.is_some()
                || push.apple_devices > 0
                || push.windows_channels > 0
                || push.pushed > 0;
            Ok(if args.json {
                let v = serde_json::json!({
                    "tenant": tenant.id().as_str(),
                    "devices": status,
                    "queue": counts,
                    "push": push,
                });
                serde_json::to_string_pretty(&v).context("cannot write JSON")? + "\n"
            } else {
                let mut s = String::new();
                let mut totals: BTreeMap<String, u64> = BTreeMap::new();
                for d in &status {
                    let mut line = format!(
                        "{:<28} {:<8} {:<22} {}",
                        d.device.as_str(),
                        d.platform.as_str(),
                        d.node.as_str(),
                        if d.compliant {
                            "compliant"
                        } else {
                            "not compliant"
                        }
                    );
                    if d.categories.is_empty() {
                        line.push_str("  (never reconciled)");
                    }
                    for c in &d.categories {
                        *totals.entry(c.state.to_string()).or_default() += 1;
                        line.push_str(&format!("  {}={}", c.category.as_str(), c.state));
                    }
                    s.push_str(line.trim_end());
                    s.push('\n');
                }
                let compliant = status.iter().filter(|d| d.compliant).count();
                s.push_str(&format!(
                    "{} devices, {} compliant; categories: {}\n",
                    status.len(),
                    compliant,
                    totals
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                if show_push {
                    s.push_str(&super::push_cert::summary(&push));
                }
                s
            })
        }
    })?;
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
