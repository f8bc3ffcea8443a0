//! `mdmkit cert ...`: issue, verify and revoke device certificates.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use mdmkit::DeviceId;
use mdmkit::identity::time::OffsetDateTime;
use mdmkit::identity::time::format_description::well_known::Rfc3339;
use mdmkit::identity::{
    CaDir, CertificateRequest, IssueRequest, RevocationReason, RevokeOutcome, SubjectAltName,
};

use crate::error::{CliError, Context};

/// Largest input file read (CSRs and certificates are a few KiB).
const MAX_INPUT: u64 = 1024 * 1024;

/// The `cert` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum CertCommand {
    /// Issue a device certificate from a CSR (PEM or DER).
    Issue(IssueArgs),
    /// Verify a device certificate; prints {"tenant","device_id","sha256","not_after"}.
    Verify(VerifyArgs),
    /// Revoke a certificate issued by the CA; the next CRL lists it.
    Revoke(RevokeArgs),
    /// Renew a device certificate: a new certificate for the same device
    /// identity from a fresh CSR, ending after the current one.
    Renew(RenewArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RenewArgs {
    /// The CA directory.
    #[arg(long, value_name = "DIR")]
    ca: PathBuf,
    /// The certificate signing request for the new key, PEM or DER.
    #[arg(long, value_name = "FILE")]
    csr: PathBuf,
    /// Lifetime of the new certificate in days.
    #[arg(long, default_value_t = mdmkit::identity::DEFAULT_DEVICE_DAYS)]
    days: u32,
    /// Write the PEM certificate here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Append the issuing intermediate after the certificate.
    #[arg(long)]
    chain: bool,
    /// The current certificate (valid and unrevoked), PEM or DER.
    cert: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct IssueArgs {
    /// The CA directory.
    #[arg(long, value_name = "DIR")]
    ca: PathBuf,
    /// The certificate signing request, PEM or DER ('-' for standard input).
    #[arg(long, value_name = "FILE")]
    csr: PathBuf,
    /// The device id the certificate binds.
    #[arg(long, value_name = "ID")]
    device: String,
    /// Lifetime in days.
    #[arg(long, default_value_t = mdmkit::identity::DEFAULT_DEVICE_DAYS)]
    days: u32,
    /// Write the PEM certificate here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// An extra subjectAltName: dns:NAME, uri:URI, email:ADDR or ip:ADDR
    /// (repeatable).
    #[arg(long, value_name = "TYPE:VALUE")]
    san: Vec<String>,
    /// Append the issuing intermediate after the certificate.
    #[arg(long)]
    chain: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The CA directory.
    #[arg(long, value_name = "DIR")]
    ca: PathBuf,
    /// The certificate, PEM (optionally followed by intermediates) or DER
    /// ('-' for standard input).
    cert: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    /// The CA directory.
    #[arg(long, value_name = "DIR")]
    ca: PathBuf,
    /// The certificate to revoke, PEM or DER ('-' for standard input).
    cert: PathBuf,
    /// Why: unspecified, key-compromise, affiliation-changed, superseded or
    /// cessation-of-operation.
    #[arg(long, default_value = "unspecified")]
    reason: String,
}

pub(crate) fn run(cmd: CertCommand) -> Result<ExitCode, CliError> {
    match cmd {
        CertCommand::Issue(a) => issue(a),
        CertCommand::Verify(a) => verify(a),
        CertCommand::Revoke(a) => revoke(a),
        CertCommand::Renew(a) => renew(a),
    }
}

/// Reads a file (or standard input for `-`), refusing anything huge.
fn read_input(path: &Path) -> Result<Vec<u8>, CliError> {
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_INPUT + 1)
            .read_to_end(&mut buf)
            .context("standard input")?;
    } else {
        let f = std::fs::File::open(path).context(path.display())?;
        f.take(MAX_INPUT + 1)
            .read_to_end(&mut buf)
            .context(path.display())?;
    }
    if buf.len() as u64 > MAX_INPUT {
        return Err(CliError::new(format!(
            "{}: larger than {MAX_INPUT} bytes",
            path.display()
        )));
    }
    Ok(buf)
}

/// Writes `text` to `out`, or to standard output.
pub(crate) fn emit(out: Option<&Path>, text: &str) -> Result<(), CliError> {
    match out {
        Some(p) => std::fs::write(p, text).context(p.display()),
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .context("standard output"),
    }
}

fn parse_san(s: &str) -> Result<SubjectAltName, CliError> {
    let bad = || {
        CliError::new(format!(
            "--san {s:?}: expected dns:NAME, uri:URI, email:ADDR or ip:ADDR"
        ))
    };
    let (kind, value) = s.split_once(':').ok_or_else(bad)?;
    Ok(match kind.to_ascii_lowercase().as_str() {
        "dns" => SubjectAltName::Dns(value.to_owned()),
        "uri" => SubjectAltName::Uri(value.to_owned()),
        "email" => SubjectAltName::Email(value.to_owned()),
        "ip" => SubjectAltName::Ip(value.parse().map_err(|_| bad())?),
        _ => return Err(bad()),
    })
}

fn issue(a: IssueArgs) -> Result<ExitCode, CliError> {
    let device = DeviceId::new(a.device).context("--device")?;
    let mut request = IssueRequest::new(device).days(a.days);
    for s in &a.san {
        request = request.extra_san(parse_san(s)?);
    }
    let csr_bytes = read_input(&a.csr)?;
    let csr = CertificateRequest::parse(&csr_bytes).context(a.csr.display())?;
    let ca = CaDir::new(&a.ca).load_ca().context("loading the CA")?;
    let cert = ca.issue(&csr, &request).context("issuing")?;
    let mut pem = cert.pem;
    if let (true, Some(int)) = (a.chain, ca.intermediate_pem()) {
        pem.push_str(int);
    }
    emit(a.out.as_deref(), &pem)?;
    Ok(ExitCode::SUCCESS)
}

fn renew(a: RenewArgs) -> Result<ExitCode, CliError> {
    let dir = CaDir::new(&a.ca);
    // The current certificate must still be good: a revoked or expired
    // identity is enrolled again, not renewed.
    let current = dir
        .verifier()
        .context("loading the CA")?
        .verify(&read_input(&a.cert)?, OffsetDateTime::now_utc())
        .context(a.cert.display())?;
    let csr = CertificateRequest::parse(&read_input(&a.csr)?).context(a.csr.display())?;
    let ca = dir.load_ca().context("loading the CA")?;
    let cert = ca.reissue(&current, &csr, a.days).context("renewing")?;
    let mut pem = cert.pem;
    if let (true, Some(int)) = (a.chain, ca.intermediate_pem()) {
        pem.push_str(int);
    }
    emit(a.out.as_deref(), &pem)?;
    Ok(ExitCode::SUCCESS)
}

fn verify(a: VerifyArgs) -> Result<ExitCode, CliError> {
    let verifier = CaDir::new(&a.ca).verifier().context("loading the CA")?;
    let presented = read_input(&a.cert)?;
    let id = verifier
        .verify(&presented, OffsetDateTime::now_utc())
        .context(a.cert.display())?;
    let not_after = id
        .not_after
        .format(&Rfc3339)
        .context("formatting notAfter")?;
    // A struct, so the keys come out in the documented order.
    #[derive(serde::Serialize)]
    struct Out {
        tenant: String,
        device_id: String,
        sha256: String,
        not_after: String,
    }
    let out = serde_json::to_string(&Out {
        tenant: id.tenant.into_string(),
        device_id: id.device_id.into_string(),
        sha256: id.sha256.to_hex(),
        not_after,
    })
    .context("encoding the result")?;
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn revoke(a: RevokeArgs) -> Result<ExitCode, CliError> {
    let reason: RevocationReason =
        serde_json::from_value(serde_json::Value::String(a.reason.clone())).map_err(|_| {
            CliError::new(format!(
                "--reason {:?}: expected unspecified, key-compromise, affiliation-changed, superseded or cessation-of-operation",
                a.reason
            ))
        })?;
    let cert = read_input(&a.cert)?;
    let dir = CaDir::new(&a.ca);
    let outcome = dir
        .revoke(&cert, reason, OffsetDateTime::now_utc())
        .context(a.cert.display())?;
    match outcome {
        RevokeOutcome::Revoked(serial) => println!(
            "revoked serial {serial}; CRL written to {}",
            dir.path().join(CaDir::CRL).display()
        ),
        RevokeOutcome::AlreadyRevoked(serial) => println!("serial {serial} was already revoked"),
        _ => {}
    }
    Ok(ExitCode::SUCCESS)
}
