//! The fleet file of `mdmkit simulate --fleet`: the enrolled simulated
//! devices and their identities, so that a later run (after a policy
//! change and a reconcile, say) checks the same devices in without
//! enrolling them again.

use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::Device;
use super::android::AndroidDevice;
use super::apple::AppleDevice;
use super::windows::WindowsDevice;
use crate::error::{CliError, Context};

/// The file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fleet {
    /// The tenant the devices enrolled into.
    tenant: String,
    devices: Vec<Entry>,
}

/// One device.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "platform", rename_all = "lowercase", deny_unknown_fields)]
enum Entry {
    Apple {
        id: String,
        cert_pem: String,
        key_pem: String,
    },
    Windows {
        id: String,
        /// Base64 DER.
        cert_der: String,
        key_pem: String,
        server_url: String,
        /// The `SessionID` of its next OMA-DM session.
        next_session: u64,
    },
    Android {
        /// Its AMAPI name.
        id: String,
        /// The last segment of the name.
        device_id: String,
    },
}

/// Reads a fleet file of `tenant`.
pub(super) fn load(path: &Path, tenant: &str) -> Result<Vec<Device>, CliError> {
    let what = || format!("fleet file {}", path.display());
    let text = std::fs::read(path).context(format_args!("cannot read {}", path.display()))?;
    let fleet: Fleet = serde_json::from_slice(&text).context(what())?;
    if fleet.tenant != tenant {
        return Err(CliError::with_code(
            2,
            format!(
                "{}: its devices enrolled into tenant {}, not {tenant}",
                what(),
                fleet.tenant
            ),
        ));
    }
    fleet
        .devices
        .into_iter()
        .map(|e| match e {
            Entry::Apple {
                id,
                cert_pem,
                key_pem,
            } => AppleDevice::from_pem(&id, cert_pem, key_pem)
                .map(Device::Apple)
                .context(format_args!("{}: device {id}", what())),
            Entry::Windows {
                id,
                cert_der,
                key_pem,
                server_url,
                next_session,
            } => {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(cert_der.as_bytes())
                    .context(format_args!("{}: device {id}: cert_der", what()))?;
                Ok(Device::Windows(WindowsDevice::resumed(
                    &id,
                    key_pem,
                    der,
                    server_url,
                    next_session,
                )))
            }
            Entry::Android { id, device_id } => Ok(Device::Android(AndroidDevice {
                name: id,
                device_id,
            })),
        })
        .collect()
}

/// Writes the fleet file (readable by its owner only: it holds keys).
pub(super) fn save(path: &Path, tenant: &str, devices: &[Device]) -> Result<(), CliError> {
    let fleet = Fleet {
        tenant: tenant.to_owned(),
        devices: devices
            .iter()
            .map(|d| match d {
                Device::Apple(a) => Entry::Apple {
                    id: a.udid.clone(),
                    cert_pem: a.cert_pem.clone(),
                    key_pem: a.key_pem.clone(),
                },
                Device::Windows(w) => Entry::Windows {
                    id: w.id().to_owned(),
                    cert_der: base64::engine::general_purpose::STANDARD.encode(&w.cert_der),
                    key_pem: w.key_pem.clone(),
                    server_url: w.server_url.clone(),
                    next_session: w.device.next_session_id(),
                },
                Device::Android(a) => Entry::Android {
                    id: a.name.clone(),
                    device_id: a.device_id.clone(),
                },
            })
            .collect(),
    };
    let json = serde_json::to_vec(&fleet).context("fleet file")?;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options
        .open(&tmp)
        .context(format_args!("cannot write {}", tmp.display()))?;
    f.write_all(&json)
        .and_then(|()| f.sync_all())
        .context(format_args!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).context(format_args!("cannot write {}", path.display()))
}
