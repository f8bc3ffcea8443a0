//! `mdmkit compile --target apple-ddm`: a policy file, or one device's
//! effective policy in a tenant directory, as Apple declarative-management
//! declarations. Prints ONE JSON object: `declarations` (the
//! configurations), `activation`, `manifest` (the `DeclarationItems`
//! response a server answers the device's `declaration-items` request
//! with), `profiles` (the legacy profiles to serve at their `ProfileURL`),
//! `commands` (app commands still needed, and a `Settings` command for the
//! device name and time zone) and `unsupported`. What the
//! device cannot take is also warned about on stderr; the exit code stays
//! 0. A device too old for declarative management (before iOS 15 or
//! macOS 13) is an error. A policy file is compiled for a supervised iOS
//! device of the current version.

use std::process::ExitCode;

use mdmkit::apple::declarative::DeclarativeMapper;
use mdmkit::apple::mapping;
use mdmkit::{DeviceId, TenantId};

use super::CompileArgs;
use super::apple::from_tree;
use crate::cmd::policy::{load, load_policy};
use crate::error::{CliError, Context};

/// Compiles the input as declarations.
pub(super) fn compile(args: &CompileArgs) -> Result<ExitCode, CliError> {
    if args.sign.is_some() {
        return Err(CliError::new(
            "--sign is for apple profiles; declarations are served over the device's authenticated channel",
        ));
    }
    let (tenant, settings, ctx, device) = if args.input.is_dir() {
        let Some(device) = args.device.as_deref() else {
            return Err(CliError::new(format!(
                "{}: a tenant directory needs --device ID",
                args.input.display()
            )));
        };
        let (tenant, _, settings, ctx) = from_tree(&args.input, device)?;
        // from_tree has checked that the device is in the inventory.
        let id = DeviceId::new(device).context("invalid --device")?;
        let inventory = load(&args.input)?;
        (tenant, settings, ctx, inventory.device(&id).cloned())
    } else {
        if args.device.is_some() {
            return Err(CliError::new(format!(
                "{}: --device needs a tenant directory, not a policy file",
                args.input.display()
            )));
        }
        let policy = load_policy(&args.input)?;
        let tenant = TenantId::new("local").context("tenant id")?;
        (tenant, policy.settings, mapping::any_supervised_ios(), None)
    };
    let settings = crate::cmd::resolve_secrets(&settings, &crate::cmd::secrets_dir(&args.input))?;
    let mut mapper = DeclarativeMapper::new(tenant);
    if let Some(url) = &args.profile_base_url {
        mapper = mapper.profile_base_url(url.clone());
    }
    let what = match &args.device {
        Some(d) => format!("device {d}"),
        None => args.input.display().to_string(),
    };
    let device_settings = mapping::device_settings(&settings, device.as_ref(), &ctx);
    let compiled = mapper
        .compile(&settings, &ctx)
        .context(what)?
        .with_device_settings(device_settings);
    for u in &compiled.unsupported {
        eprintln!("warning: {u}");
    }
    let mut bytes = compiled.to_json();
    bytes.push(b'\n');
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
