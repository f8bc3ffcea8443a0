//! `mdmkit`: the command-line face of the mdmkit building blocks.
//!
//! Every subcommand lives in its own module under `cmd/`. Errors are printed
//! as one line on stderr (`mdmkit: ...`) with a non-zero exit code; nothing
//! on a user's input path may panic.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod error;

use error::CliError;

/// Typed, tested building blocks for mobile device management.
#[derive(Debug, Parser)]
#[command(name = "mdmkit", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
}

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Ca(c) => cmd::ca::run(c),
        Command::Cert(c) => cmd::cert::run(c),
        Command::Policy(c) => cmd::policy::run(c),
        Command::Queue(c) => cmd::queue::run(c),
        Command::Compile(c) => cmd::compile::run(c),
        Command::Inspect(c) => cmd::inspect::run(c),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => e.report(),
    }
}
