//! `mdmkit ca ...`: create a tenant CA, publish its CRL.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use mdmkit::TenantId;
use mdmkit::identity::time::OffsetDateTime;
use mdmkit::identity::{CaBuilder, CaDir, KeyAlgorithm};

use crate::error::{CliError, Context};

/// The `ca` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum CaCommand {
    /// Create a tenant CA: writes DIR/ca.pem and DIR/ca.key (mode 0600).
    Init(InitArgs),
    /// Sign a fresh CRL from the CA's revocations (also written to DIR/crl.pem).
    Crl(CrlArgs),
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The tenant id (ASCII letters, digits, '-', '_', '.'; at most 64).
    #[arg(long)]
    tenant: String,
    /// The directory to write the CA into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Key algorithm: p256, p384, rsa2048, rsa3072, rsa4096 or ed25519.
    #[arg(long, default_value = "p256")]
    alg: String,
    /// Lifetime of the CA in days.
    #[arg(long, default_value_t = mdmkit::identity::DEFAULT_CA_DAYS)]
    days: u32,
    /// Also create an issuing intermediate (DIR/intermediate.pem and
    /// DIR/intermediate.key) that signs device certificates and CRLs, so the
    /// root key can be kept offline.
    #[arg(long)]
    intermediate: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CrlArgs {
    /// The CA directory.
    #[arg(long, value_name = "DIR")]
    ca: PathBuf,
    /// Write the PEM CRL here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(crate) fn run(cmd: CaCommand) -> Result<ExitCode, CliError> {
    match cmd {
        CaCommand::Init(a) => init(a),
        CaCommand::Crl(a) => crl(a),
    }
}

fn init(a: InitArgs) -> Result<ExitCode, CliError> {
    let tenant = TenantId::new(a.tenant).context("--tenant")?;
    let alg: KeyAlgorithm = a.alg.parse().context("--alg")?;
    let ca = CaBuilder::new(tenant.clone())
        .algorithm(alg)
        .days(a.days)
        .intermediate(a.intermediate)
        .build()
        .context("creating the CA")?;
    let dir = CaDir::create(&a.out, &ca).context("writing the CA")?;
    println!(
        "created the {alg} CA of tenant {tenant} in {}{}",
        dir.path().display(),
        if a.intermediate {
            " (root and issuing intermediate)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn crl(a: CrlArgs) -> Result<ExitCode, CliError> {
    let dir = CaDir::new(&a.ca);
    let crl = dir
        .write_crl(OffsetDateTime::now_utc())
        .context("signing the CRL")?;
    super::cert::emit(a.out.as_deref(), &crl.pem)?;
    Ok(ExitCode::SUCCESS)
}
