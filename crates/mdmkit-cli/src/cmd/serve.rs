//! `mdmkit serve DIR...`: the HTTP server for devices and admins.
//!
//! Each directory is one tenant (its `tree.toml` names it) with its
//! embedded store (`DIR/.mdmkit/mdmkit.db`), its CA (`DIR/.mdmkit/ca/`,
//! created on first start) and its audit journal. `--store postgres://...`
//! keeps every tenant's queue and state in one PostgreSQL database, which
//! several `mdmkit serve` processes may share.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use mdmkit::Reconciler;
use mdmkit::identity::scep::{RaIdentity, RaPem};
use mdmkit::identity::{CaBuilder, CaDir, KeyAlgorithm};
use mdmkit::reconcile::Options;
use mdmkit_server::console::SessionKey;
use mdmkit_server::scep::ScepService;
use mdmkit_server::windows::WindowsService;
use mdmkit_server::{AppState, ServerConfig, TenantContext, Tenants};

use super::reconcile::{Stores, location, open_stores};
use crate::error::{CliError, Context};

/// `mdmkit serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Tenant directories (tree.toml, devices.toml, policies/), one per
    /// tenant.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// The address to listen on (port 0: any free port, printed on start).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// Where the queues and states live: `postgres://...` for one shared
    /// database (default: each directory's embedded SQLite store).
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Where the audit journals live: `postgres://...` for journals that
    /// several `mdmkit serve` processes on several hosts share (default:
    /// each directory's `.mdmkit/audit.jsonl`).
    #[arg(long, value_name = "URL")]
    journal: Option<String>,
    /// The server's TLS certificate chain (PEM); with --tls-key, devices
    /// connect over TLS and may present client certificates.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The server's TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A TLS-terminating proxy (address or CIDR) whose `Client-Cert`
    /// header is believed; repeatable.
    #[arg(long, value_name = "CIDR")]
    trusted_proxy: Vec<String>,
    /// Route requests for HOST to TENANT (`HOST=TENANT`); repeatable.
    #[arg(long, value_name = "HOST=TENANT")]
    host: Vec<String>,
    /// The largest request body, in bytes.
    #[arg(long, default_value_t = mdmkit_server::DEFAULT_BODY_LIMIT, value_name = "BYTES")]
    body_limit: usize,
    /// Where Apple devices are pushed: `production`, `sandbox` (development
    /// push certificates) or an `https://` URL (an APNs emulator).
    #[arg(long, default_value = "production", value_name = "GATEWAY")]
    apns: String,
    /// Also trust this CA certificate (PEM) for the APNs gateway (an
    /// emulator's).
    #[arg(long, value_name = "FILE")]
    apns_ca: Option<PathBuf>,
    /// How often owed pushes are swept (retries after a backoff, wakes
    /// within the rate limit).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = super::enroll::parse_duration)]
    push_every: std::time::Duration,
    /// The least time between two pushes to one device (`0s`: no limit).
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_interval)]
    push_interval: std::time::Duration,
    /// How often each tenant's audit journal is signed (a checkpoint over
    /// its head, recorded in the state store where a journal cut short
    /// shows); the tail is also signed when the server stops.
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = super::enroll::parse_duration)]
    checkpoint_every: std::time::Duration,
    /// Pushes without a check-in after which a device is flagged (and no
    /// longer pushed until it checks in).
    #[arg(long, default_value_t = 5, value_name = "N")]
    push_max_unanswered: u32,
    /// Wake Windows PCs through WNS with this app (client) id; needs
    /// --wns-secret-file.
    #[arg(long, value_name = "ID", requires = "wns_secret_file")]
    wns_client_id: Option<String>,
    /// A file holding the app's client secret (kept out of the command
    /// line and the process list).
    #[arg(long, value_name = "FILE", requires = "wns_client_id")]
    wns_secret_file: Option<PathBuf>,
    /// The Microsoft Entra directory (tenant id) of the app.
    #[arg(long, value_name = "ID", default_value = "common")]
    wns_directory: String,
    /// Another OAuth token endpoint (a WNS emulator's).
    #[arg(long, value_name = "URL")]
    wns_token_url: Option<String>,
    /// Also accept channel URIs on this host, over plain HTTP too (a WNS
    /// emulator on loopback); by default only `*.notify.windows.com`.
    #[arg(long, value_name = "HOST")]
    wns_channel_host: Option<String>,
    /// The package family name set in each PC's DMClient Push CSP.
    #[arg(long, value_name = "PFN")]
    wns_pfn: Option<String>,
}

/// A duration that may be zero.
fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))
}

/// The wake loop's settings from the command line.
fn push_config(args: &ServeArgs) -> Result<mdmkit_server::push::PushConfig, CliError> {
    use mdmkit::apple::apns::Gateway;
    use mdmkit::apple::apns::client::ApnsConfig;
    let mut apns = match args.apns.as_str() {
        "production" => ApnsConfig::new(Gateway::Production),
        "sandbox" => ApnsConfig::new(Gateway::Sandbox),
        url if url.starts_with("https://") => ApnsConfig::new(Gateway::Production).base_url(url),
        other => {
            return Err(CliError::with_code(
                2,
                format!("--apns {other:?}: use production, sandbox or an https:// URL"),
            ));
        }
    };
    if let Some(ca) = &args.apns_ca {
        let pem = std::fs::read(ca).context(format_args!("cannot read {}", ca.display()))?;
        apns = apns
            .root_pem(&pem)
            .map_err(|e| CliError::new(format!("--apns-ca {}: {e}", ca.display())))?;
    }
    let mut config = mdmkit_server::push::PushConfig::new()
        .with_apns(apns)
        .with_min_interval(args.push_interval)
        .with_max_unanswered(args.push_max_unanswered);
    if let (Some(id), Some(file)) = (&args.wns_client_id, &args.wns_secret_file) {
        use mdmkit_server::push::wns::{WnsClient, WnsConfig};
        let secret = std::fs::read_to_string(file)
            .context(format_args!("cannot read {}", file.display()))?;
        let mut wns = WnsConfig::new(&args.wns_directory, id.clone(), secret.trim().to_owned());
        if let Some(url) = &args.wns_token_url {
            wns = wns.token_url(url.clone());
        }
        if let Some(host) = &args.wns_channel_host {
            wns = wns.allow_host(host.clone(), true);
        }
        config = config.with_wns(
            WnsClient::new(wns).map_err(|e| CliError::new(format!("--wns-client-id: {e}")))?,
        );
        if let Some(pfn) = &args.wns_pfn {
            config = config.with_wns_pfn(pfn.clone());
        }
    }
    Ok(config)
}

pub(crate) fn run(args: ServeArgs) -> Result<ExitCode, CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> Result<ExitCode, CliError> {
    let mut config = ServerConfig::new()
        .with_body_limit(args.body_limit)
        .with_secure_cookies(args.tls_cert.is_some());
    for p in &args.trusted_proxy {
        config = config.trust_proxy(
            mdmkit_server::parse_cidr(p)
                .map_err(|e| CliError::with_code(2, format!("--trusted-proxy: {e}")))?,
        );
    }
    for h in &args.host {
        let (host, tenant) = h
            .split_once('=')
            .ok_or_else(|| CliError::with_code(2, format!("--host {h:?}: use HOST=TENANT")))?;
        config = config.with_host_tenant(host, mdmkit::TenantId::new(tenant).context("--host")?);
    }
    let push = push_config(&args)?;
    let mut tenants = Tenants::new();
    let mut opened: HashMap<String, Stores> = HashMap::new();
    let mut names = Vec::new();
    let mut drains = Vec::new();
    for dir in &args.dirs {
        let mut ctx = tenant(
            dir,
            args.store.as_ref(),
            args.journal.as_deref(),
            &mut opened,
        )
        .await?
        .with_push(mdmkit_server::push::PushService::new(push.clone()));
        if let Some(mut android) = super::android::load(dir)?
            && let Some(service) = android.service()
        {
            ctx = ctx.with_android(service);
            drains.push((ctx.id().clone(), android.drain_every));
            eprintln!(
                "mdmkit: tenant {} manages Android enterprise {}",
                ctx.id(),
                android.enterprise
            );
        }
        names.push(ctx.id().to_string());
        tenants.insert(ctx);
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => {
            let cert = std::fs::read(c).context(format_args!("cannot read {}", c.display()))?;
            let key = std::fs::read(k).context(format_args!("cannot read {}", k.display()))?;
            Some(Arc::new(
                mdmkit_server::tls::server_config(&cert, &key).context("--tls-cert/--tls-key")?,
            ))
        }
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .context(format_args!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr().context("listening address")?;
    let state = AppState::new(tenants, config);
    for (id, every) in drains {
        tokio::spawn(drain_loop(state.clone(), id, every));
    }
    for name in &names {
        if let Ok(id) = mdmkit::TenantId::new(name.as_str()) {
            tokio::spawn(push_loop(state.clone(), id.clone(), args.push_every));
            tokio::spawn(checkpoint_loop(state.clone(), id, args.checkpoint_every));
        }
    }
    let app = mdmkit_server::router(state.clone());
    println!("mdmkit: serving {} on {scheme}://{addr}", names.join(", "));
    eprintln!("mdmkit: console on {scheme}://{addr}/console/");
    let _ = std::io::stdout().flush();
    tracing::info!(%addr, tenants = ?names, "serving");
    mdmkit_server::serve::serve(listener, app, tls, shutdown_signal())
        .await
        .context("server")?;
    // Sign each journal's tail and record it, as a reconcile does.
    for name in &names {
        if let Ok(ctx) = state.tenants().get(name)
            && let Err(e) = ctx.reconciler().checkpoint_journal(ctx.id()).await
        {
            tracing::warn!(tenant = %name, error = %e, "journal checkpoint at stop");
        }
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Signs the tenant's journal every `every` and records the signed head in
/// the state store (nothing new since the last one: nothing is signed).
async fn checkpoint_loop(state: AppState, tenant: mdmkit::TenantId, every: std::time::Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Ok(ctx) = state.tenants().get(tenant.as_str()) else {
            return;
        };
        if let Err(e) = ctx.reconciler().checkpoint_journal(&tenant).await {
            tracing::warn!(%tenant, error = %e, "journal checkpoint");
        }
    }
}

/// Delivers queued Android commands (planned by a reconcile, an admin
/// action) every `every`, besides the deliveries notifications trigger.
async fn drain_loop(state: AppState, tenant: mdmkit::TenantId, every: std::time::Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Ok(ctx) = state.tenants().get(tenant.as_str()) else {
            return;
        };
        let Some(android) = ctx.android() else {
            return;
        };
        match mdmkit_server::android::drain_tenant(&ctx, android).await {
            Ok(done) if !done.is_empty() => {
                tracing::info!(%tenant, devices = done.len(), "android commands delivered");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%tenant, error = %e, "android delivery"),
        }
    }
}

/// Sends the pushes owed (retries after a backoff, wakes within the rate
/// limit, pushes held for a certificate since replaced) every `every`.
async fn push_loop(state: AppState, tenant: mdmkit::TenantId, every: std::time::Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Ok(ctx) = state.tenants().get(tenant.as_str()) else {
            return;
        };
        let Some(push) = ctx.push() else {
            return;
        };
        if let Err(e) = push.sweep(&ctx).await {
            tracing::warn!(%tenant, error = %e, "push sweep");
        }
    }
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The CA of a tenant directory, created on first start.
pub(crate) fn ca_dir(dir: &Path, tenant: &mdmkit::TenantId) -> Result<CaDir, CliError> {
    let path = dir.join(".mdmkit").join("ca");
    if path.join(CaDir::ROOT_CERT).exists() {
        return Ok(CaDir::new(path));
    }
    let ca = CaBuilder::new(tenant.clone())
        .algorithm(KeyAlgorithm::P256)
        .build()
        .context("creating the tenant CA")?;
    let d = CaDir::create(&path, &ca).context("writing the tenant CA")?;
    eprintln!(
        "mdmkit: created the CA of tenant {tenant} in {}",
        path.display()
    );
    Ok(d)
}

/// The tenant's SCEP responder: its CA, and the RA certificate and key
/// in the CA directory (`scep-ra.pem`, `scep-ra.key`), created on first
/// start.
fn scep_service(ca_dir: &CaDir) -> Result<ScepService, CliError> {
    let ca = ca_dir.load_ca().context("tenant CA")?;
    let cert = ca_dir.path().join("scep-ra.pem");
    let key = ca_dir.path().join("scep-ra.key");
    let ra = if cert.exists() && key.exists() {
        let read = |p: &Path| {
            std::fs::read_to_string(p).context(format_args!("cannot read {}", p.display()))
        };
        RaIdentity::from_pem(&RaPem::new(read(&cert)?, read(&key)?)).context(format_args!(
            "the SCEP responder in {}",
            ca_dir.path().display()
        ))?
    } else {
        let ra = RaIdentity::generate(&ca).context("creating the SCEP responder")?;
        let pem = ra.to_pem();
        super::enroll::write_private(&key, pem.key.as_bytes())?;
        std::fs::write(&cert, pem.cert.as_bytes())
            .context(format_args!("cannot write {}", cert.display()))?;
        eprintln!(
            "mdmkit: created the SCEP responder of tenant {} in {}",
            ca.tenant(),
            cert.display()
        );
        ra
    };
    Ok(ScepService::new(ca, ra))
}

/// The console's session key of a tenant directory
/// (`DIR/.mdmkit/console.key`, created on first start, owner-readable):
/// every process serving the directory shares it, so a console session
/// opened at one is good at all.
fn console_key_path(dir: &Path) -> Result<PathBuf, CliError> {
    let d = dir.join(".mdmkit");
    std::fs::create_dir_all(&d).context(format_args!("cannot create {}", d.display()))?;
    Ok(d.join("console.key"))
}

async fn tenant(
    dir: &Path,
    store: Option<&String>,
    journal: Option<&str>,
    opened: &mut HashMap<String, Stores>,
) -> Result<TenantContext, CliError> {
    let tree = super::policy::load(dir)?;
    let loc = location(dir, store)?;
    let key = format!("{loc:?}");
    let (queue, state) = match opened.get(&key) {
        Some(s) => s.clone(),
        None => {
            let s = open_stores(&loc).await?;
            opened.insert(key, s.clone());
            s
        }
    };
    let ca = ca_dir(dir, tree.id())?;
    let journal = super::reconcile::open_journal(dir, tree.id(), journal).await?;
    let mut options =
        Options::default().with_organization(tree.name().unwrap_or(tree.id().as_str()).to_owned());
    // Reconciles the server runs (after a TokenUpdate, on the admin API's
    // request) renew identities too.
    if let Some(renewal) = super::enroll::renewal_options(dir, mdmkit::renewal::DEFAULT_WINDOW)? {
        options = options.with_renewal(renewal);
    }
    let reconciler = Arc::new(
        Reconciler::new(queue, state)
            .with_options(options)
            .with_journal(journal.clone()),
    );
    let scep = scep_service(&ca)?;
    let windows = WindowsService::new(ca.load_ca().context("tenant CA")?);
    let console_key =
        SessionKey::load_or_create(&console_key_path(dir)?).context("console session key")?;
    let reload_dir = dir.to_path_buf();
    let ctx = TenantContext::new(tree, ca.verifier().context("tenant CA")?, reconciler)
        .with_scep(scep)
        .with_windows(windows)
        .with_ca_dir(ca)
        .context("tenant CA")?
        .with_journal(journal)
        .with_console_key(console_key)
        .with_loader(move || {
            mdmkit::policy::load_dir(&reload_dir).map_err(|e| crate::error::chain(&e))
        });
    Ok(ctx)
}
