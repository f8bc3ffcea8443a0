//! `mdmkit compile --target apple`: a policy file, or one device's effective
//! policy in a tenant directory, as ONE `.mobileconfig` holding the payloads
//! of every category (what an admin installs by hand), CMS-signed with
//! `--sign CERT,KEY`. What the device cannot enforce is reported as one-line
//! warnings on stderr; the exit code stays 0. A policy file is compiled for
//! no particular device: keys that need supervision or another OS are kept
//! and warned about.

use std::path::Path;
use std::process::ExitCode;

use mdmkit::apple::mapping::{self, Mapper};
use mdmkit::apple::support::DeviceContext;
use mdmkit::apple::{Format, SigningIdentity};
use mdmkit::policy::Settings;
use mdmkit::{DeviceId, Platform, TenantId};

use super::CompileArgs;
use crate::cmd::policy::{load, load_policy};
use crate::error::{CliError, Context};

/// Compiles the input for apple devices.
pub(super) fn compile(args: &CompileArgs) -> Result<ExitCode, CliError> {
    // Read the signer first: a bad --sign fails before any work.
    let signer = match args.sign.as_deref() {
        Some(spec) => Some(signer(spec)?),
        None => None,
    };
    let file_mode = !args.input.is_dir();
    let (tenant, name, settings, ctx) = if args.input.is_dir() {
        let Some(device) = args.device.as_deref() else {
            return Err(CliError::new(format!(
                "{}: a tenant directory needs --device ID",
                args.input.display()
            )));
        };
        from_tree(&args.input, device)?
    } else {
        if args.device.is_some() {
            return Err(CliError::new(format!(
                "{}: --device needs a tenant directory, not a policy file",
                args.input.display()
            )));
        }
        let policy = load_policy(&args.input)?;
        let tenant = TenantId::new("local").context("tenant id")?;
        let name = identifier_part(policy.id.as_str());
        (tenant, name, policy.settings, mapping::any_supervised_ios())
    };
    // A policy file targets no particular device: what a device may not
    // apply is still sent (the device ignores it) and warned about.
    let settings = crate::cmd::resolve_secrets(&settings, &crate::cmd::secrets_dir(&args.input))?;
    let mapper = Mapper::new(tenant).keep_unsupported(file_mode);
    let compiled = mapper
        .compile(&settings, &ctx)
        .context(args.input.display().to_string())?;
    for u in &compiled.unsupported {
        eprintln!("warning: {u}");
    }
    for a in &compiled.apps {
        eprintln!(
            "warning: {}: sent as a command, not in the profile",
            app_path(a)
        );
    }
    let profile = mapper
        .single_profile(&compiled, &name)
        .context(args.input.display().to_string())?;
    let bytes = match &signer {
        Some(id) => profile.sign(id).context("cannot sign the profile")?,
        None => profile.to_bytes(Format::Xml),
    };
    match &args.out {
        Some(out) => crate::cmd::write_owner_only(out, &bytes)?,
        None => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&bytes).context("cannot write to stdout")?;
            stdout.flush().context("cannot write to stdout")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn app_path(a: &mapping::AppAction) -> String {
    match a {
        mapping::AppAction::Install { app, bundle_id } => {
            format!("apps[{app:?}]: InstallApplication {bundle_id}")
        }
        mapping::AppAction::Remove { app, bundle_id } => {
            format!("apps[{app:?}]: RemoveApplication {bundle_id}")
        }
        _ => format!("{a:?}"),
    }
}

/// The last part of the profile identifier: the policy or device id, made
/// safe for a `PayloadIdentifier`.
fn identifier_part(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if out.is_empty() { "policy".into() } else { out }
}

pub(crate) fn signer(spec: &str) -> Result<SigningIdentity, CliError> {
    let Some((cert, key)) = spec.split_once(',') else {
        return Err(CliError::new(format!(
            "--sign {spec}: expected CERT,KEY (two PEM files, comma-separated)"
        )));
    };
    let read = |p: &str| std::fs::read(p).context(format!("--sign: cannot read {p}"));
    let (cert_pem, key_pem) = (read(cert)?, read(key)?);
    SigningIdentity::from_pem(&cert_pem, &key_pem).context(format!("--sign {spec}"))
}

pub(super) fn from_tree(
    dir: &Path,
    device: &str,
) -> Result<(TenantId, String, Settings, DeviceContext), CliError> {
    let tenant = load(dir)?;
    let id = DeviceId::new(device).context("invalid --device")?;
    let Some(d) = tenant.device(&id) else {
        return Err(CliError::new(format!(
            "{}: device {id} is not in the inventory",
            dir.display()
        )));
    };
    if d.platform != Platform::Apple {
        return Err(CliError::new(format!(
            "device {id} is {}, not apple",
            d.platform
        )));
    }
    let Some(ctx) = mapping::device_context(d) else {
        return Err(CliError::new(format!("device {id} is not apple")));
    };
    let eff = tenant.effective(&id).context(dir.display().to_string())?;
    for c in eff.conflicts() {
        eprintln!("warning: conflict: {c}");
    }
    Ok((
        tenant.id().clone(),
        identifier_part(&format!("device.{id}")),
        eff.settings().clone(),
        ctx,
    ))
}
