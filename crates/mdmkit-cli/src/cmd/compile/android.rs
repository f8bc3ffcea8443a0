//! `mdmkit compile --target android`: a policy file, or one device's
//! effective policy in a tenant directory, as Android Management API
//! `Policy` JSON. What Android cannot enforce and layer conflicts are
//! one-line warnings on stderr.

use std::process::ExitCode;

use mdmkit::DeviceId;
use mdmkit::Platform;
use mdmkit::android::mapping::{self, Mapped};

use super::CompileArgs;
use crate::cmd::policy::{load, load_policy};
use crate::error::{CliError, Context};

/// Compiles the input for android devices.
pub(super) fn compile(args: &CompileArgs) -> Result<ExitCode, CliError> {
    if args.sign.is_some() {
        return Err(CliError::new(
            "--sign is for apple profiles; android policies are not signed",
        ));
    }
    let mapped = if args.input.is_dir() {
        let Some(device) = args.device.as_deref() else {
            return Err(CliError::new(format!(
                "{}: a tenant directory needs --device ID",
                args.input.display()
            )));
        };
        from_tree(args, device)?
    } else {
        if args.device.is_some() {
            return Err(CliError::new(format!(
                "{}: --device needs a tenant directory, not a policy file",
                args.input.display()
            )));
        }
        let policy = load_policy(&args.input)?;
        let settings =
            crate::cmd::resolve_secrets(&policy.settings, &crate::cmd::secrets_dir(&args.input))?;
        mapping::to_policy(&settings)
    };
    for u in &mapped.unsupported {
        let how = if u.partial {
            "partly enforced"
        } else {
            "not enforced"
        };
        eprintln!("warning: {}: {how} on android: {}", u.path, u.reason);
    }
    for c in &mapped.conflicts {
        eprintln!("warning: conflict: {c}");
    }
    let mut text = mapped.to_json_pretty();
    text.push('\n');
    match &args.out {
        Some(out) => crate::cmd::write_owner_only(out, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn from_tree(args: &CompileArgs, device: &str) -> Result<Mapped, CliError> {
    let tenant = load(&args.input)?;
    let id = DeviceId::new(device).context("invalid --device")?;
    let Some(d) = tenant.device(&id) else {
        return Err(CliError::new(format!(
            "{}: device {id} is not in the inventory",
            args.input.display()
        )));
    };
    if d.platform != Platform::Android {
        return Err(CliError::new(format!(
            "device {id} is {}, not android",
            d.platform
        )));
    }
    let eff = tenant
        .effective(&id)
        .context(args.input.display().to_string())?;
    // The conflicts come from the provenance; the payload from the
    // settings with their secrets resolved.
    let settings = crate::cmd::resolve_secrets(eff.settings(), &args.input)?;
    let mut mapped = mapping::to_policy(&settings);
    mapped.conflicts = mapping::from_effective(&eff).conflicts;
    Ok(mapped)
}
