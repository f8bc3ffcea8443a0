//! `mdmkit enroll challenge|challenges DIR`: one-time enrollment
//! challenges, each bound to a node of the tenant's tree.
//!
//! A challenge is printed once, when it is created; the store keeps only
//! its SHA-256. A device that enrolls with it (the SCEP
//! `challengePassword`) lands under its node. These verbs may run while
//! `mdmkit serve` serves the same store.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use mdmkit::challenge::{self, ChallengeOptions};
use mdmkit::queue::{Clock as _, SystemClock};

use super::admin::StoreArgs;
use crate::error::{CliError, Context};

/// `mdmkit enroll`.
#[derive(Debug, Subcommand)]
pub(crate) enum EnrollCommand {
    /// Creates a one-time challenge for a node; prints it once.
    Challenge(ChallengeArgs),
    /// Lists a tenant's challenges (never their secrets).
    Challenges(ListArgs),
}

/// `mdmkit enroll challenge`.
#[derive(Debug, Args)]
pub(crate) struct ChallengeArgs {
    #[command(flatten)]
    at: StoreArgs,
    /// The node a device enrolled with it lands under.
    #[arg(long, value_name = "NODE")]
    node: String,
    /// The device it is for (a serial number; a note, not a check).
    #[arg(long, value_name = "SERIAL")]
    device: Option<String>,
    /// How long it works: `90s`, `30m`, `1h`, `7d`, `1h 30m`.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    ttl: Duration,
    /// A note for whom it is.
    #[arg(long)]
    label: Option<String>,
    /// Let it work for any number of devices until it expires: a shared
    /// secret, for a mass roll-out; whoever learns it can enroll devices
    /// under the node until then.
    #[arg(long)]
    reusable: bool,
    /// Print `{"challenge": ..., "id": ..., "node": ..., "expires_at": ...}`.
    #[arg(long)]
    json: bool,
}

/// `mdmkit enroll challenges`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    at: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// A duration as people write it (`humantime`'s format).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))?;
    if d.is_zero() {
        return Err(format!("{s:?}: must be longer than zero"));
    }
    Ok(d)
}

pub(crate) fn run(cmd: EnrollCommand) -> Result<ExitCode, CliError> {
    match cmd {
        EnrollCommand::Challenge(a) => create(a),
        EnrollCommand::Challenges(a) => list(a),
    }
}

fn create(a: ChallengeArgs) -> Result<ExitCode, CliError> {
    let tree = a.at.tree()?;
    let node = a.at.node(&tree, "--node", &a.node)?;
    let mut options = ChallengeOptions::default().with_ttl(a.ttl);
    if let Some(d) = a.device {
        options = options.for_device(d);
    }
    if let Some(l) = a.label {
        options = options.with_label(l);
    }
    if a.reusable {
        options = options.reusable();
    }
    let issued = challenge::issue(tree.id().clone(), node, options, SystemClock.now());
    a.at.with_state(async |state| {
        state
            .put_challenge(&issued.challenge)
            .await
            .context("storing the challenge")
    })?;
    let c = &issued.challenge;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "challenge": issued.secret,
                "id": c.id,
                "tenant": c.tenant,
                "node": c.node,
                "device": c.device,
                "reusable": c.reusable,
                "expires_at": c.expires_at.as_millis(),
            })
        );
    } else {
        println!("{}", issued.secret);
        eprintln!(
            "mdmkit: challenge {} for {} at node {}{}, until {}; it is shown only now",
            c.id,
            c.tenant,
            c.node,
            if c.reusable { " (reusable)" } else { "" },
            rfc3339(c.expires_at)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn rfc3339(t: mdmkit::queue::Timestamp) -> String {
    let secs = u64::try_from(t.as_millis() / 1000).unwrap_or(0);
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

fn list(a: ListArgs) -> Result<ExitCode, CliError> {
    let tree = a.at.tree()?;
    let all = a.at.with_state(async |state| {
        state
            .challenges(tree.id())
            .await
            .context("reading the challenges")
    })?;
    if a.json {
        let v: Vec<_> = all
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id, "node": c.node, "device": c.device, "label": c.label,
                    "reusable": c.reusable, "created_at": c.created_at.as_millis(),
                    "expires_at": c.expires_at.as_millis(),
                    "used_at": c.used_at.map(|t| t.as_millis()),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        let now = SystemClock.now();
        for c in &all {
            let state = match c.usable(now) {
                Ok(()) => "usable",
                Err(r) => r.as_str(),
            };
            println!(
                "{}\t{}\t{}\t{}\t{}",
                c.id,
                c.node,
                rfc3339(c.expires_at),
                c.device.as_deref().unwrap_or("-"),
                state
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
