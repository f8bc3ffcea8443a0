//! `mdmkit compile --target T INPUT [--device ID] [--out FILE]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::error::CliError;

mod android;
pub(crate) mod apple;
mod apple_ddm;
mod windows;

/// The platform to compile for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Target {
    /// A .mobileconfig configuration profile.
    Apple,
    /// Apple declarative-management declarations, activation and manifest (JSON).
    AppleDdm,
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
    /// Apple DDM only: the URL under which the server serves the legacy
    /// profiles (each at `<URL><PayloadIdentifier>.mobileconfig`).
    #[arg(long, value_name = "URL")]
    pub(crate) profile_base_url: Option<String>,
    /// Write here instead of stdout.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

pub(crate) fn run(args: CompileArgs) -> Result<ExitCode, CliError> {
    if args.profile_base_url.is_some() && !matches!(args.target, Target::AppleDdm) {
        return Err(CliError::new(
            "--profile-base-url is for --target apple-ddm (where legacy profiles are served)",
        ));
    }
    match args.target {
        Target::Apple => apple::compile(&args),
        Target::AppleDdm => apple_ddm::compile(&args),
        Target::Windows => windows::compile(&args),
        Target::Android => android::compile(&args),
    }
}
