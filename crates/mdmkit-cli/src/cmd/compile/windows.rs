//! `mdmkit compile --target windows`: a policy file, or one device's
//! effective policy in a tenant directory, as a SyncML message of OMA-DM
//! commands (Add / Replace / Exec / Delete). What Windows cannot enforce,
//! mapping notes and layer conflicts are one-line warnings on stderr.

use std::process::ExitCode;

use mdmkit::DeviceId;
use mdmkit::Platform;
use mdmkit::windows::csp::{self, Compiled};

use super::CompileArgs;
use crate::cmd::policy::{load, load_policy};
use crate::error::{CliError, Context};

/// The fixed header of a compiled message: session 1, message 1, from the
/// server placeholder to the device (or a placeholder).
const SERVER: &str = "https://mdm.invalid/omadm";

/// Compiles the input for windows devices.
pub(super) fn compile(args: &CompileArgs) -> Result<ExitCode, CliError> {
    if args.sign.is_some() {
        return Err(CliError::new(
            "--sign is for apple profiles; SyncML messages are not signed",
        ));
    }
    let (compiled, target) = if args.input.is_dir() {
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
        (csp::compile(&settings, None), "device".to_owned())
    };
    for u in &compiled.unsupported {
        eprintln!("warning: {}: not enforced on windows: {}", u.path, u.reason);
    }
    for n in &compiled.notes {
        eprintln!("note: {}: {}: {}", n.path, n.uri, n.text);
    }
    let mut text = compiled.to_message("1", "1", SERVER, &target).to_xml();
    text.push('\n');
    match &args.out {
        Some(out) => crate::cmd::write_owner_only(out, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn from_tree(args: &CompileArgs, device: &str) -> Result<(Compiled, String), CliError> {
    let tenant = load(&args.input)?;
    let id = DeviceId::new(device).context("invalid --device")?;
    let Some(d) = tenant.device(&id) else {
        return Err(CliError::new(format!(
            "{}: device {id} is not in the inventory",
            args.input.display()
        )));
    };
    if d.platform != Platform::Windows {
        return Err(CliError::new(format!(
            "device {id} is {}, not windows",
            d.platform
        )));
    }
    let eff = tenant
        .effective(&id)
        .context(args.input.display().to_string())?;
    for c in eff.conflicts() {
        eprintln!("warning: conflict: {c}");
    }
    let settings = crate::cmd::resolve_secrets(eff.settings(), &args.input)?;
    Ok((csp::compile(&settings, Some(d)), id.as_str().to_owned()))
}
