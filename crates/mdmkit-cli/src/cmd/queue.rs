//! `mdmkit queue ...`: poke a command queue by hand.
//!
//! Every subcommand opens the store given by `--store` (`sqlite:PATH`,
//! `postgres://...`; default `sqlite:./.mdmkit/mdmkit.db`, its directory
//! created), runs one call on a small tokio runtime and prints JSON (or the
//! bare command id for `push`). `next` exits 3 when nothing is deliverable.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::{Args, Subcommand};
use mdmkit::queue::{
    AnyStore, CommandId, DeliverOptions, Delivered, EnrollmentId, HistoryEvent, MAX_PAYLOAD_LEN,
    MAX_RESULT_LEN, NewCommand, QueueEntry, QueueStore, Report, ReportOutcome, ReportStatus,
    StateCounts, StoreLocation, Timestamp,
};
use mdmkit::{DeviceId, TenantId};
use serde_json::{Value, json};

use crate::error::{CliError, Context};

/// The exit code of `next` when nothing is deliverable.
const EXIT_NOTHING: u8 = 3;

/// Where the queue lives.
#[derive(Debug, Args)]
pub(crate) struct StoreArg {
    /// The store: `sqlite:PATH` or `postgres://user@host:port/db`.
    #[arg(
        long,
        value_name = "LOCATION",
        default_value = "sqlite:./.mdmkit/mdmkit.db"
    )]
    store: String,
}

/// One enrollment: a device, or a user channel under it.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The tenant.
    #[arg(long)]
    tenant: TenantId,
    /// The device id.
    #[arg(long)]
    device: DeviceId,
    /// An Apple user channel under the device (its UserID or short name).
    #[arg(long)]
    user: Option<String>,
}

impl Target {
    fn enrollment(&self) -> Result<EnrollmentId, CliError> {
        enrollment(&self.device, self.user.as_deref())
    }
}

fn enrollment(device: &DeviceId, user: Option<&str>) -> Result<EnrollmentId, CliError> {
    match user {
        None => Ok(EnrollmentId::device(device.clone())),
        Some(u) => EnrollmentId::user(device.clone(), u).context("--user"),
    }
}

/// The `queue` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum QueueCommand {
    /// Queue a command (its payload read from a file) for one or more
    /// devices; prints the command id.
    Push {
        #[command(flatten)]
        store: StoreArg,
        /// The tenant.
        #[arg(long)]
        tenant: TenantId,
        /// The device id; repeat to fan the command out to several devices.
        #[arg(long, required = true)]
        device: Vec<DeviceId>,
        /// An Apple user channel under each device.
        #[arg(long)]
        user: Option<String>,
        /// The command kind (`InstallProfile`, `Replace`, ...).
        #[arg(long)]
        kind: String,
        /// The file holding the encoded command (`-` for stdin).
        #[arg(long, value_name = "FILE")]
        payload: PathBuf,
        /// Higher runs first (default 0).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        priority: i32,
        /// Replace the undelivered command with the same key.
        #[arg(long, value_name = "KEY")]
        supersede: Option<String>,
        /// Give up after this many deliveries.
        #[arg(long, value_name = "N")]
        max_attempts: Option<u32>,
        /// Expire the command this many seconds from now.
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u64>,
        /// Hold the command back for this many seconds.
        #[arg(long, value_name = "SECONDS")]
        delay: Option<u64>,
    },
    /// Deliver the next command: prints `{"id", "kind", "payload" (base64),
    /// "attempt", "lease_until"}`; exits 3 when nothing is deliverable.
    /// Apple semantics: nothing while another command is in flight.
    Next {
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        target: Target,
        /// Record an Idle report first (in-flight and NotNow'd commands are
        /// offered again).
        #[arg(long)]
        idle: bool,
        /// Windows semantics: deliver up to N commands (a JSON array),
        /// whatever is in flight.
        #[arg(long, value_name = "N")]
        batch: Option<usize>,
        /// How long the device has to answer before the command is
        /// offered again.
        #[arg(long, value_name = "SECONDS", default_value_t = 300)]
        lease: u64,
    },
    /// Record a device's answer to a delivered command.
    Report {
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        target: Target,
        /// The command id.
        command_id: CommandId,
        /// acknowledged, error, not-now or format-error (Apple's
        /// Acknowledged, Error, NotNow, CommandFormatError also work).
        #[arg(long, value_parser = parse_status)]
        status: ReportStatus,
        /// A file with the result payload to keep with the report.
        #[arg(long, value_name = "FILE")]
        result: Option<PathBuf>,
    },
    /// Print an enrollment's queue (pending and finished) as JSON.
    List {
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        target: Target,
    },
    /// Print an enrollment's history: every transition with its time.
    History {
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        target: Target,
        /// Only this command.
        command_id: Option<CommandId>,
    },
    /// Print counts by state as JSON (all tenants summed without --tenant).
    Stats {
        #[command(flatten)]
        store: StoreArg,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<TenantId>,
    },
    /// Cancel a command for every device it is still pending for.
    Cancel {
        #[command(flatten)]
        store: StoreArg,
        /// The tenant.
        #[arg(long)]
        tenant: TenantId,
        /// The command id.
        command_id: CommandId,
    },
    /// Clear an enrollment's queue (re-enrollment): cancels everything
    /// pending.
    Clear {
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        target: Target,
    },
    /// Delete a tenant's finished commands older than a retention period.
    Purge {
        #[command(flatten)]
        store: StoreArg,
        /// The tenant.
        #[arg(long)]
        tenant: TenantId,
        /// Keep this many days.
        #[arg(long, value_name = "DAYS")]
        older_than_days: u64,
    },
}

fn parse_status(s: &str) -> Result<ReportStatus, String> {
    let norm = match s {
        "Acknowledged" => "acknowledged",
        "Error" => "error",
        "NotNow" => "not-now",
        "CommandFormatError" => "format-error",
        other => other,
    };
    norm.parse::<ReportStatus>().map_err(|e| e.to_string())
}

pub(crate) fn run(cmd: QueueCommand) -> Result<ExitCode, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run_async(cmd))
}

async fn open(store: &StoreArg) -> Result<AnyStore, CliError> {
    let location = StoreLocation::parse(&store.store).context("--store")?;
    AnyStore::open(&location).await.context(format_args!(
        "cannot open the store {}",
        redact(&store.store)
    ))
}

/// A location without its password, for messages.
fn redact(location: &str) -> String {
    match (location.find("://"), location.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &location[s + 3..at];
            match creds.find(':') {
                Some(c) => format!(
                    "{}{}:***{}",
                    &location[..s + 3],
                    &creds[..c],
                    &location[at..]
                ),
                None => location.to_owned(),
            }
        }
        _ => location.to_owned(),
    }
}

fn read_limited(path: &Path, limit: usize, what: &str) -> Result<Vec<u8>, CliError> {
    let mut buf = Vec::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin()
            .take(limit as u64 + 1)
            .read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit as u64 + 1).read_to_end(&mut buf))
    };
    read.context(format_args!("cannot read the {what} {}", path.display()))?;
    if buf.len() > limit {
        return Err(CliError::new(format!(
            "the {what} {} is larger than {limit} bytes",
            path.display()
        )));
    }
    Ok(buf)
}

fn print_json(v: &Value) -> Result<(), CliError> {
    let s = serde_json::to_string_pretty(v).context("cannot render json")?;
    print_line(&s)
}

/// Prints one line; a closed pipe (`| head`) is not an error.
fn print_line(s: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{s}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::new(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

fn delivered_json(d: &Delivered) -> Value {
    json!({
        "id": d.id,
        "kind": d.kind,
        "payload": BASE64.encode(&d.payload),
        "attempt": d.attempt,
        "lease_until": d.lease_until,
    })
}

fn entry_json(e: &QueueEntry) -> Value {
    json!({
        "id": e.id,
        "kind": e.kind,
        "state": e.state,
        "priority": e.priority,
        "attempts": e.attempts,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
        "not_before": e.not_before,
        "expires_at": e.expires_at,
        "lease_until": e.lease_until,
        "supersede_key": e.supersede_key,
        "max_attempts": e.max_attempts,
    })
}

fn event_json(e: &HistoryEvent) -> Value {
    json!({
        "command": e.command,
        "at": e.at,
        "from": e.from,
        "to": e.to,
        "reason": e.reason,
        "superseded_by": e.by,
        "result": e.result.as_ref().map(|r| BASE64.encode(r)),
    })
}

fn counts_json(c: &StateCounts) -> Result<Value, CliError> {
    serde_json::to_value(c).context("cannot render counts")
}

fn now_plus(secs: u64) -> Timestamp {
    use mdmkit::queue::{Clock, SystemClock};
    SystemClock.now().plus(Duration::from_secs(secs))
}

async fn run_async(cmd: QueueCommand) -> Result<ExitCode, CliError> {
    match cmd {
        QueueCommand::Push {
            store,
            tenant,
            device,
            user,
            kind,
            payload,
            priority,
            supersede,
            max_attempts,
            expires_in,
            delay,
        } => {
            let bytes = read_limited(&payload, MAX_PAYLOAD_LEN, "payload")?;
            let mut c = NewCommand::new(kind, bytes).with_priority(priority);
            if let Some(k) = supersede {
                c = c.with_supersede_key(k);
            }
            if let Some(n) = max_attempts {
                c = c.with_max_attempts(n);
            }
            if let Some(s) = delay {
                c = c.with_not_before(now_plus(s));
            }
            if let Some(s) = expires_in {
                c = c.with_expires_at(now_plus(s + delay.unwrap_or(0)));
            }
            let targets = device
                .iter()
                .map(|d| enrollment(d, user.as_deref()))
                .collect::<Result<Vec<_>, _>>()?;
            let s = open(&store).await?;
            let q = s
                .enqueue(&tenant, &c, &targets)
                .await
                .context("cannot queue the command")?;
            print_line(&q.id.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        QueueCommand::Next {
            store,
            target,
            idle,
            batch,
            lease,
        } => {
            let e = target.enrollment()?;
            let s = open(&store).await?;
            if idle {
                s.idle(&target.tenant, &e)
                    .await
                    .context("cannot record the idle report")?;
            }
            let opts = match batch {
                Some(n) => DeliverOptions::batch(n),
                None => DeliverOptions::single(),
            }
            .with_lease(Duration::from_secs(lease));
            let got = s
                .deliver(&target.tenant, &e, &opts)
                .await
                .context("cannot deliver")?;
            if got.is_empty() {
                eprintln!("mdmkit: nothing to deliver to {e}");
                return Ok(ExitCode::from(EXIT_NOTHING));
            }
            match batch {
                Some(_) => print_json(&Value::Array(got.iter().map(delivered_json).collect()))?,
                None => {
                    for d in &got {
                        print_json(&delivered_json(d))?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        QueueCommand::Report {
            store,
            target,
            command_id,
            status,
            result,
        } => {
            let e = target.enrollment()?;
            let mut report = Report::new(status);
            if let Some(path) = result {
                report = report.with_result(read_limited(&path, MAX_RESULT_LEN, "result")?);
            }
            let s = open(&store).await?;
            let outcome = s
                .report(&target.tenant, &e, command_id, &report)
                .await
                .context("cannot record the report")?;
            let (state, changed) = match outcome {
                ReportOutcome::Recorded(st) => (st, true),
                ReportOutcome::AlreadyFinal(st) => (st, false),
                _ => return Err(CliError::new("unexpected report outcome")),
            };
            print_json(&json!({ "id": command_id, "state": state, "changed": changed }))?;
            Ok(ExitCode::SUCCESS)
        }
        QueueCommand::List { store, target } => {
            let e = target.enrollment()?;
            let s = open(&store).await?;
            let list = s
                .list(&target.tenant, &e)
                .await
                .context("cannot list the queue")?;
            print_json(&Value::Array(list.iter().map(entry_json).collect()))?;
            Ok(ExitCode::SUCCESS)
        }
        QueueCommand::History {
            store,
            target,
            command_id,
        } => {
            let e = target.enrollment()?;
            let s = open(&store).await?;
            let h = s
                .history(&target.tenant, &e, command_id)
                .await
                .context("cannot read the history")?;
            print_json(&Value::Array(h.iter().map(event_json).collect()))?;
            Ok(ExitCode::SUCCESS)
        }
        QueueCommand::Stats { store, tenant } => {
            let s = open(&store).await?;
            let counts = match tenant {
                Some(t) => s.counts(&t).await.context("cannot count")?,
                None => {
                    let mut sum = StateCounts::default();
                    for c in s.counts_by_tenant().await.context("cannot count")?.values() {
                        for (st, n) in &c.0 {
                            sum.add(*st, *n);
                        }
                    }
                    sum
                }
            };
            print_json(&counts_json(&counts)?)?;
            Ok(ExitCode::SUCCESS)
        }
        QueueCommand::Cancel {
            store,
            tenant,
            command_id,
        } => {
            let s = open(&store).await?;
            let n = s
                .cancel(&tenant, command_id)
                .await
                .context("cannot cancel")?;
            print_json(&json!({ "id": command_id, "cancelled": n }))?;
            Ok(ExitCode::SUCCESS)
        }
        QueueCommand::Clear { store, target } => {
            let e = target.enrollment()?;
            let s = open(&store).await?;
            let n = s
                .clear_enrollment(&target.tenant, &e)
                .await
                .context("cannot clear the queue")?;
            print_json(&json!({ "enrollment": e.to_string(), "cancelled": n }))?;
            Ok(ExitCode::SUCCESS)
        }
        QueueCommand::Purge {
            store,
            tenant,
            older_than_days,
        } => {
            let s = open(&store).await?;
            let before =
                now_plus(0).minus(Duration::from_secs(older_than_days.saturating_mul(86_400)));
            let n = s.purge(&tenant, before).await.context("cannot purge")?;
            print_json(&json!({ "purged": n }))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
