//! `mdmkit enroll challenge|challenges|apple|android DIR`: one-time
//! enrollment challenges, Apple enrollment profiles and Android enrollment
//! tokens, each bound to a node of the tenant's tree.
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
    /// Writes a signed Apple enrollment profile for a node: a SCEP payload
    /// with a fresh one-time challenge, and the MDM payload.
    Apple(AppleArgs),
    /// Creates an Android enrollment token for a node through Google
    /// (`DIR/.mdmkit/android.toml`) and writes its provisioning QR code.
    Android(AndroidArgs),
}

/// `mdmkit enroll android`.
#[derive(Debug, Args)]
pub(crate) struct AndroidArgs {
    /// The tenant directory.
    dir: std::path::PathBuf,
    /// The node the enrolled device lands under.
    #[arg(long, value_name = "NODE")]
    node: String,
    /// Write the QR code as PNG here, and the provisioning JSON next to it
    /// (`.json`); without it the JSON goes to standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<std::path::PathBuf>,
    /// How long the token enrolls devices.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    ttl: Duration,
    /// The token enrolls one device only.
    #[arg(long)]
    one_time: bool,
}

/// `mdmkit enroll apple`.
#[derive(Debug, Args)]
pub(crate) struct AppleArgs {
    #[command(flatten)]
    at: StoreArgs,
    /// The node the enrolled device lands under.
    #[arg(long, value_name = "NODE")]
    node: String,
    /// The server's base URL as devices reach it (`https://mdm.example.org`;
    /// the tenant's routes `/{tenant}/apple/mdm`, `/apple/checkin` and
    /// `/scep` are added).
    #[arg(long, value_name = "URL")]
    server_url: String,
    /// The push topic (the subject UID of the MDM push certificate,
    /// `com.apple.mgmt.External.<uuid>`).
    #[arg(long, value_name = "TOPIC")]
    topic: String,
    /// Where to write the profile (default: standard output).
    #[arg(long, value_name = "FILE")]
    out: Option<std::path::PathBuf>,
    /// How long the profile's challenge works.
    #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = parse_duration)]
    ttl: Duration,
    /// The device it is for (a serial number; a note on the challenge).
    #[arg(long, value_name = "SERIAL")]
    device: Option<String>,
    /// Sign with this identity (`CERT,KEY`, PEM) instead of the tenant's
    /// profile signer (`DIR/.mdmkit/ca/profile-signer.pem`, issued by the
    /// tenant CA on first use).
    #[arg(long, value_name = "CERT,KEY")]
    sign: Option<String>,
    /// The organization shown on the device (default: the tree's name).
    #[arg(long)]
    organization: Option<String>,
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

/// Where `mdmkit enroll apple` keeps the tenant's Apple enrollment
/// settings (server URL, push topic, organisation) for the reconcile
/// loop's identity renewals: `DIR/.mdmkit/apple-enrollment.json`.
pub(crate) fn apple_enrollment_path(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join(".mdmkit").join("apple-enrollment.json")
}

/// The renewal options of a tenant directory: renewals of Apple identities
/// expiring within `window`, when `mdmkit enroll apple` saved the
/// tenant's enrollment settings; `None` when it never ran.
pub(crate) fn renewal_options(
    dir: &std::path::Path,
    window: Duration,
) -> Result<Option<mdmkit::renewal::RenewalOptions>, CliError> {
    let path = apple_enrollment_path(dir);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::new(format!("{}: {e}", path.display()))),
    };
    if text.len() > 64 * 1024 {
        return Err(CliError::new(format!(
            "{}: larger than 64 KiB; not an enrollment settings file",
            path.display()
        )));
    }
    let apple: mdmkit::renewal::AppleEnrollment = serde_json::from_slice(&text)
        .map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
    Ok(Some(
        mdmkit::renewal::RenewalOptions::new(apple).within(window),
    ))
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
        EnrollCommand::Apple(a) => apple(a),
        EnrollCommand::Android(a) => android(a),
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

pub(crate) fn rfc3339(t: mdmkit::queue::Timestamp) -> String {
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

fn apple(a: AppleArgs) -> Result<ExitCode, CliError> {
    let tree = a.at.tree()?;
    let node = a.at.node(&tree, "--node", &a.node)?;
    let base = a.server_url.trim_end_matches('/');
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        return Err(CliError::with_code(
            2,
            format!("--server-url {base:?}: expected https://host[:port][/path]"),
        ));
    }
    let signer = match a.sign.as_deref() {
        Some(spec) => super::compile::apple::signer(spec)?,
        None => profile_signer(&a.at.dir, &tree)?,
    };
    let mut options = ChallengeOptions::default()
        .with_ttl(a.ttl)
        .with_label("apple enrollment profile");
    if let Some(d) = a.device {
        options = options.for_device(d);
    }
    let issued = challenge::issue(tree.id().clone(), node, options, SystemClock.now());
    let tenant = tree.id();
    let organization = a
        .organization
        .or_else(|| tree.name().map(str::to_owned))
        .unwrap_or_else(|| tenant.to_string());
    // The same settings build the renewal profiles the reconcile loop
    // queues before a device's identity expires.
    let settings = mdmkit::renewal::AppleEnrollment::new(base, a.topic).organization(organization);
    let profile = settings
        .profile(tenant, &issued.secret)
        .build(tenant, settings.prefix())
        .context("building the enrollment profile")?;
    let issues = profile.validate();
    if !issues.is_empty() {
        let text: Vec<String> = issues.iter().map(ToString::to_string).collect();
        return Err(CliError::new(format!(
            "the enrollment profile does not validate: {}",
            text.join("; ")
        )));
    }
    let signed = profile.sign(&signer).context("signing the profile")?;
    // Stored only once the profile exists: a failed run leaves no
    // challenge behind.
    a.at.with_state(async |state| {
        state
            .put_challenge(&issued.challenge)
            .await
            .context("storing the challenge")
    })?;
    let path = apple_enrollment_path(&a.at.dir);
    let json = serde_json::to_vec_pretty(&settings).context("cannot write JSON")?;
    std::fs::write(&path, json).context(format_args!("cannot write {}", path.display()))?;
    match &a.out {
        // The profile carries the one-time challenge.
        Some(path) => super::write_owner_only(path, &signed)?,
        None => {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(&signed)
                .context("cannot write the profile")?;
        }
    }
    eprintln!(
        "mdmkit: enrollment profile for {} at node {} (challenge {}, until {})",
        tenant,
        issued.challenge.node,
        issued.challenge.id,
        rfc3339(issued.challenge.expires_at)
    );
    Ok(ExitCode::SUCCESS)
}

fn android(a: AndroidArgs) -> Result<ExitCode, CliError> {
    use mdmkit::android::enrollment::{EnrollmentTokenRequest, ProvisioningPayload};
    use mdmkit::android::pubsub::EnrollmentBinding;
    let at = StoreArgs {
        dir: a.dir.clone(),
        store: None,
    };
    let tree = at.tree()?;
    let node = at.node(&tree, "--node", &a.node)?;
    let settings = super::android::load(&a.dir)?.ok_or_else(|| {
        CliError::new(format!(
            "{} has no Android settings ({}); see docs/android.md",
            a.dir.display(),
            std::path::Path::new(".mdmkit")
                .join(super::android::FILE)
                .display()
        ))
    })?;
    let request = EnrollmentTokenRequest::new(settings.enrollment_policy.clone())
        .duration(a.ttl)
        .one_time_only(a.one_time)
        .additional_data(EnrollmentBinding::new(tree.id().clone(), node.clone()).to_data());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let token = rt
        .block_on(
            settings
                .client
                .create_enrollment_token(&settings.enterprise, &request),
        )
        .context("enrollmentTokens.create")?;
    // Google's own payload when it sends one, else the documented one.
    let payload = match token.qr_code.as_deref() {
        Some(qr) => ProvisioningPayload::parse(qr.as_bytes()).context("the token's qrCode")?,
        None => ProvisioningPayload::for_token(&token).context("the created token")?,
    };
    let json = payload.to_json();
    match &a.out {
        Some(path) => {
            // Both carry the enrollment token.
            super::write_owner_only(path, &super::qr::png(&json)?)?;
            let json_path = path.with_extension("json");
            super::write_owner_only(&json_path, json.as_bytes())?;
        }
        None => println!("{json}"),
    }
    eprintln!(
        "mdmkit: Android enrollment token {} for node {} of {} (until {})",
        token.name.as_deref().unwrap_or("?"),
        node,
        tree.id(),
        token
            .expiration_timestamp
            .map_or_else(|| "?".to_owned(), |t| t.to_string())
    );
    Ok(ExitCode::SUCCESS)
}

/// The tenant's profile-signing identity, issued by its CA on first use.
fn profile_signer(
    dir: &std::path::Path,
    tree: &mdmkit::policy::Tenant,
) -> Result<mdmkit::apple::SigningIdentity, CliError> {
    let ca_dir = super::serve::ca_dir(dir, tree.id())?;
    let cert = ca_dir.path().join("profile-signer.pem");
    let key = ca_dir.path().join("profile-signer.key");
    if !cert.exists() || !key.exists() {
        let ca = ca_dir.load_ca().context("the tenant CA")?;
        let issued = ca
            .issue_signer(&format!("{} profile signer", tree.id()))
            .context("issuing the profile signer")?;
        write_private(&key, issued.key_pem.as_bytes())?;
        std::fs::write(&cert, issued.chain_pem.as_bytes())
            .context(format_args!("cannot write {}", cert.display()))?;
    }
    let read =
        |p: &std::path::Path| std::fs::read(p).context(format_args!("cannot read {}", p.display()));
    mdmkit::apple::SigningIdentity::from_pem(&read(&cert)?, &read(&key)?)
        .context("the profile signer")
}

/// Writes a private key readable by its owner only.
pub(crate) fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    o.open(path)
        .and_then(|mut f| f.write_all(bytes))
        .context(format_args!("cannot write {}", path.display()))
}
