//! `mdmkit compile --target T INPUT [--device ID] [--out FILE]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::error::CliError;

mod android;
mod apple;
mod windows;

/// The platform to compile for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Target {
    /// A .mobileconfig configuration profile.
    Apple,
    /// A SyncML message of OMA-DM commands.
    Windows,
    /// An Android Management API Policy JSON resource.
    Android,
}

/// Arguments of `mdmkit compile`.
#[derive(Debug, Args)]
pub(crate) struct CompileArgs {
    /// The platform to compile for.
    #[arg(long, value_enum)]
    pub(crate) target: Target,
    /// A policy file, or a tree directory together with `--device`.
    pub(crate) input: PathBuf,
    /// Compile this device's effective policy (INPUT is a tree directory).
    #[arg(long)]
    pub(crate) device: Option<String>,
    /// Sign the output (Apple only): certificate and key PEM files, comma-separated.
    #[arg(long, value_name = "CERT,KEY")]
    pub(crate) sign: Option<String>,
    /// Write here instead of stdout.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

pub(crate) fn run(args: CompileArgs) -> Result<ExitCode, CliError> {
    match args.target {
        Target::Apple => apple::compile(&args),
        Target::Windows => windows::compile(&args),
        Target::Android => android::compile(&args),
    }
}
