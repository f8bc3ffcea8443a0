//! `mdmkit push-cert`: the tenant's MDM push certificate, which wakes its
//! Apple devices through APNs.
//!
//! The certificate lives in the tenant's state store (the directory's
//! embedded store, or `--store postgres://...`), so every `mdmkit serve`
//! on that store pushes with a new one from its next push on, without a
//! restart. `docs/push.md` explains certificates, topics and renewal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use mdmkit::queue::Timestamp;
use mdmkit_server::push::{self, UploadError};

use super::reconcile::{location, open_stores, runtime};
use crate::error::{CliError, Context};

/// `mdmkit push-cert ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum PushCertCommand {
    /// Store the tenant's push certificate and key (PEM). The key must be
    /// the certificate's; a topic (the subject's UID) other than the
    /// enrolled devices' is refused unless --force, since it would strand
    /// them.
    Set(SetArgs),
    /// The push certificate (topic, expiry, alert) and a push summary.
    Show(ShowArgs),
}

/// `mdmkit push-cert set`.
#[derive(Debug, Args)]
pub(crate) struct SetArgs {
    /// The tenant directory.
    dir: PathBuf,
    /// The push certificate (PEM, as downloaded from Apple's Push
    /// Certificates Portal and converted).
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// Its private key (PEM).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Store it even when its topic strands enrolled devices (they cannot
    /// be woken until they enroll again).
    #[arg(long)]
    force: bool,
    /// Where the state lives: `sqlite:PATH` or `postgres://...` (default
    /// `sqlite:DIR/.mdmkit/mdmkit.db`).
    #[arg(long, value_name = "LOCATION")]
    store: Option<String>,
}

/// `mdmkit push-cert show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The tenant directory.
    dir: PathBuf,
    /// Where the state lives.
    #[arg(long, value_name = "LOCATION")]
    store: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(c: PushCertCommand) -> Result<ExitCode, CliError> {
    match c {
        PushCertCommand::Set(a) => set(a),
        PushCertCommand::Show(a) => show(a),
    }
}

fn set(a: SetArgs) -> Result<ExitCode, CliError> {
    let tree = super::policy::load(&a.dir)?;
    let cert = std::fs::read_to_string(&a.cert)
        .context(format_args!("cannot read {}", a.cert.display()))?;
    let key =
        std::fs::read_to_string(&a.key).context(format_args!("cannot read {}", a.key.display()))?;
    let loc = location(&a.dir, a.store.as_ref())?;
    let rt = runtime()?;
    let done = rt.block_on(async {
        let (_, state) = open_stores(&loc).await?;
        push::set_certificate(state.as_ref(), tree.id(), &cert, &key, a.force, "cli")
            .await
            .map_err(|e| match e {
                UploadError::Store(e) => {
                    CliError::new(format!("cannot store the push certificate: {e}"))
                }
                e @ UploadError::TopicChange { .. } => {
                    CliError::new(format!("refused: {e} (--force)"))
                }
                other => CliError::new(format!("{}: {other}", a.cert.display())),
            })
    })?;
    println!(
        "push certificate of tenant {} stored: topic {}, sha256 {}, expires {}",
        tree.id(),
        done.topic,
        done.sha256,
        super::enroll::rfc3339(Timestamp::from_millis(done.not_after))
    );
    if let Some(old) = &done.replaced {
        println!("replaced {old}; servers push with the new one from their next push");
    }
    if done.stranded > 0 {
        eprintln!(
            "mdmkit: warning: {} enrolled device(s) have another topic and are stranded until they enroll again",
            done.stranded
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn show(a: ShowArgs) -> Result<ExitCode, CliError> {
    let tree = super::policy::load(&a.dir)?;
    let loc = location(&a.dir, a.store.as_ref())?;
    let rt = runtime()?;
    let status = rt.block_on(async {
        let (_, state) = open_stores(&loc).await?;
        push::status(state.as_ref(), tree.id())
            .await
            .context("cannot read the push state")
    })?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).context("cannot write JSON")?
        );
    } else {
        print!("{}", summary(&status));
    }
    Ok(ExitCode::SUCCESS)
}

/// The push lines of `mdmkit status` and `mdmkit push-cert show`.
pub(crate) fn summary(s: &push::PushStatus) -> String {
    let mut out = String::new();
    match &s.certificate {
        None => out.push_str(
            "push certificate: none (Apple devices cannot be woken: mdmkit push-cert set)\n",
        ),
        Some(c) => {
            out.push_str(&format!(
                "push certificate: topic {}, expires {} ({} days){}{}\n",
                c.topic,
                super::enroll::rfc3339(Timestamp::from_millis(c.not_after)),
                c.days_left,
                if c.days_left < 0 {
                    ", EXPIRED: renew it in Apple's Push Certificates Portal"
                } else if c.expiring {
                    ", EXPIRING within 30 days: renew it (same Apple ID, same topic)"
                } else {
                    ""
                },
                c.alert
                    .as_ref()
                    .map(|r| format!(", ALERT: APNs refused it ({r}); pushes are held"))
                    .unwrap_or_default()
            ));
        }
    }
    out.push_str(&format!(
        "pushes: {} Apple devices ({} stranded), {} Windows channels; {} pushed, {} awaiting check-in, {} flagged, {} dead tokens, {} owed\n",
        s.apple_devices,
        s.stranded,
        s.windows_channels,
        s.pushed,
        s.awaiting_check_in,
        s.flagged.len(),
        s.dead_tokens,
        s.pending
    ));
    if !s.flagged.is_empty() {
        out.push_str(&format!(
            "flagged (pushed without checking in): {}\n",
            s.flagged
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}
