//! One module per top-level subcommand.

pub(crate) mod admin;
pub(crate) mod android;
pub(crate) mod audit;
pub(crate) mod ca;
pub(crate) mod cert;
pub(crate) mod compile;
pub(crate) mod enroll;
pub(crate) mod inspect;
pub(crate) mod policy;
pub(crate) mod push_cert;
pub(crate) mod qr;
pub(crate) mod queue;
pub(crate) mod reconcile;
pub(crate) mod serve;
pub(crate) mod simulate;

use std::path::{Path, PathBuf};

use crate::error::{CliError, Context};

/// Writes `bytes` to `path`, readable and writable by its owner only
/// (created so, or narrowed when it exists): what is written carries
/// secrets (resolved Wi-Fi keys in compiled payloads, enrollment
/// challenges and tokens).
pub(crate) fn write_owner_only(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    let mut f = o
        .open(path)
        .context(format_args!("cannot write {}", path.display()))?;
    // An existing file kept its mode: narrow it before writing.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .context(format_args!("cannot restrict {}", path.display()))?;
    }
    f.write_all(bytes)
        .context(format_args!("cannot write {}", path.display()))
}

/// The directory `file` secret references of `input` are relative to: a
/// tenant directory itself; for a policy file, the tenant directory it
/// belongs to (the parent of its `policies/` directory), or its own
/// directory when it is not in one.
pub(crate) fn secrets_dir(input: &Path) -> PathBuf {
    if input.is_dir() {
        return input.to_path_buf();
    }
    let parent = match input.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match parent.parent() {
        Some(up) if parent.file_name().is_some_and(|n| n == "policies") => {
            if up.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                up.to_path_buf()
            }
        }
        _ => parent.to_path_buf(),
    }
}

/// `settings` with their secret references resolved from the environment
/// and files of `dir`, for encoding; a missing secret names the setting.
pub(crate) fn resolve_secrets(
    settings: &mdmkit::policy::Settings,
    dir: &Path,
) -> Result<mdmkit::policy::Settings, CliError> {
    settings
        .resolve_secrets(&mdmkit::policy::EnvFileResolver::new(dir))
        .map_err(|e| CliError::new(crate::error::chain(&e)))
}
