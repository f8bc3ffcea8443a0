//! `mdmkit`: the command-line face of the mdmkit building blocks.
//!
//! Every subcommand lives in its own module under `cmd/`. Errors are printed
//! as one line on stderr (`mdmkit: ...`) with a non-zero exit code; nothing
//! on a user's input path may panic.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod error;

/// mimalloc for the command: its runs allocate and free millions of small
/// values (a directory's entries, plans, rows), where glibc's allocator
/// spent about a third of the time (see `docs/performance-history.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use error::CliError;

/// Typed, tested building blocks for mobile device management.
#[derive(Debug, Parser)]
#[command(name = "mdmkit", version, about, long_about = None)]
struct Cli {
    /// More log detail on stderr (-v debug, -vv trace); `RUST_LOG`
    /// overrides it (`RUST_LOG=mdmkit=debug`).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Plan and queue every device's commands for a tenant directory (the
    /// main job).
    Reconcile(cmd::reconcile::ReconcileArgs),
    /// Per-device compliance state of a tenant directory.
    Status(cmd::reconcile::StatusArgs),
    /// Tenant certificate authorities.
    #[command(subcommand)]
    Ca(cmd::ca::CaCommand),
    /// Device certificates: issue, verify, revoke.
    #[command(subcommand)]
    Cert(cmd::cert::CertCommand),
    /// Policy documents and scope trees: check, effective policy, diff.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCommand),
    /// Per-device command queues.
    #[command(subcommand)]
    Queue(cmd::queue::QueueCommand),
    /// Compile a policy (or a device's effective policy) for a platform.
    Compile(cmd::compile::CompileArgs),
    /// Detect and decode an MDM artefact into JSON.
    Inspect(cmd::inspect::InspectArgs),
    /// The tamper-evident audit journal.
    #[command(subcommand)]
    Audit(cmd::audit::AuditCommand),
    /// Serve devices and the admin API over HTTP for tenant directories.
    Serve(cmd::serve::ServeArgs),
    /// Load generator: simulated Apple and Windows devices enroll into and
    /// check in with a running `mdmkit serve`; throughput and latency per
    /// message type.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Simulate(cmd::simulate::SimulateArgs),
    /// Admin API tokens, scoped to a node of a tenant's tree.
    #[command(subcommand)]
    Admin(cmd::admin::AdminCommand),
    /// Enrollment: one-time challenges bound to a node of a tenant's tree.
    #[command(subcommand)]
    Enroll(cmd::enroll::EnrollCommand),
    /// The MDM push certificate that wakes Apple devices (APNs).
    #[command(subcommand, name = "push-cert")]
    PushCert(cmd::push_cert::PushCertCommand),
}

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Reconcile(c) => cmd::reconcile::run_reconcile(c),
        Command::Status(c) => cmd::reconcile::run_status(c),
        Command::Ca(c) => cmd::ca::run(c),
        Command::Cert(c) => cmd::cert::run(c),
        Command::Policy(c) => cmd::policy::run(c),
        Command::Queue(c) => cmd::queue::run(c),
        Command::Compile(c) => cmd::compile::run(c),
        Command::Inspect(c) => cmd::inspect::run(c),
        Command::Audit(c) => cmd::audit::run(c),
        Command::Serve(c) => cmd::serve::run(c),
        Command::Simulate(c) => cmd::simulate::run(c),
        Command::Admin(c) => cmd::admin::run(c),
        Command::Enroll(c) => cmd::enroll::run(c),
        Command::PushCert(c) => cmd::push_cert::run(c),
    }
}

/// Parses the command line. Help and version go to stdout as clap writes
/// them; a usage error becomes one line on stderr with exit code 2.
fn parse() -> Result<Cli, ExitCode> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp
            | clap::error::ErrorKind::DisplayVersion
            | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                let _ = e.print();
                Err(ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)))
            }
            _ => Err(CliError::with_code(2, usage_line(&e.render().to_string())).report()),
        },
    }
}

/// Folds clap's multi-line usage error into one line: the message and the
/// usage, without the help hint.
fn usage_line(rendered: &str) -> String {
    let parts: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .collect();
    let line = parts.join(" ");
    line.strip_prefix("error: ").unwrap_or(&line).to_owned()
}

/// Installs the log subscriber: `RUST_LOG` if set, else warnings (info
/// for `serve`), raised by `-v`. Logs go to stderr.
fn init_logs(verbose: u8, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match (verbose, serving) {
        (0, false) => "warn",
        (0, true) => "info",
        (1, _) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_logs(cli.verbose, matches!(cli.command, Command::Serve(_)));
    match run(cli) {
        Ok(code) => code,
        Err(e) => e.report(),
    }
}
