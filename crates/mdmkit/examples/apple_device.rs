//! An iPad, from enrollment to verified: it enrolls at a school of the
//! example region (an `Authenticate` check-in), the reconciler plans its
//! school's policy, and the iPad fetches each queued command and answers
//! it with an `Acknowledged` report until none is left; its categories
//! then read `verified`.
//!
//! ```sh
//! cargo run -p mdmkit --example apple_device
//! ```
//!
//! There is no HTTP here: the bytes the device would `PUT` to the check-in
//! and server URLs are handed to the facade directly, as an HTTP handler
//! would after authenticating the device by its certificate
//! (`mdmkit-server` does exactly this). The device's messages are built,
//! and the server's commands read, with `mdmkit::apple`'s message types.
//! Exits non-zero unless every category of the iPad ends compliant.
#![allow(clippy::print_stdout)]

use std::sync::Arc;

use mdmkit::apple::generated::checkin::AnyCheckin;
use mdmkit::apple::{
    Checkin, CheckinBody, Command, CommandReport, Dictionary, Format, Limits, Value,
};
use mdmkit::inventory::{Enrollment, EnrollmentStatus};
use mdmkit::queue::{Clock, MemoryStore, SystemClock};
use mdmkit::state::{ComplianceState, MemoryState, StateStore};
use mdmkit::{DeviceId, Platform, Reconciler, Scope};

/// The iPad's UDID.
const UDID: &str = "00008103-000A1B2C3D4E5F60";
/// The school it enrolls at (a node of `examples/region/tree.toml`).
const SCHOOL: &str = "ecole-jules-ferry";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tenant = mdmkit::policy::load_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/region"),
    )?;
    // In-memory stores keep the example self-contained; a server uses
    // SqliteStore/SqliteState or the PostgreSQL pair.
    let reconciler = Reconciler::new(Arc::new(MemoryStore::new()), Arc::new(MemoryState::new()));
    let t = tenant.id();
    let school = SCHOOL.parse()?;
    let limits = Limits::default();

    // 1. Enrollment. The device's first check-in message names it and
    // describes it; the server records an enrollment at the node the
    // enrollment profile was issued for. (A real device then sends a
    // `TokenUpdate` with its push token, which makes it `Active`.)
    let authenticate = device_checkin(&[
        ("MessageType", "Authenticate"),
        ("Topic", "com.apple.mgmt.External.example"),
        ("SerialNumber", "DMPXK1EXAMPLE"),
        ("Model", "iPad13,1"),
        ("ModelName", "iPad"),
        ("OSVersion", "17.5"),
        ("BuildVersion", "21F79"),
        ("DeviceName", "iPad de la classe"),
    ])?;
    let msg = Checkin::from_bytes(&authenticate, &limits)?;
    let CheckinBody::Known(AnyCheckin::Authenticate(auth)) = &msg.body else {
        return Err(format!("expected Authenticate, got {}", msg.message_type).into());
    };
    let device = DeviceId::new(msg.ids.device())?;
    let mut enrollment =
        Enrollment::new(device.clone(), Platform::Apple, school, SystemClock.now());
    enrollment.status = EnrollmentStatus::Active;
    enrollment.serial = auth.serial_number.clone();
    enrollment.model = auth.model.clone();
    enrollment.os_version = auth.os_version.clone();
    reconciler.state().put_enrollment(t, &enrollment).await?;
    println!("enrolled {device} ({}) at {SCHOOL}", msg.message_type);

    // 2. Reconcile. The enrolled iPad is not in devices.toml: the
    // reconciler adds the inventory to the tree, so it gets its school's
    // effective policy. `Scope::Devices` plans for this iPad only.
    let plan = reconciler
        .reconcile(&tenant, &Scope::Devices(vec![device.clone()]))
        .await?;
    println!(
        "planned {} commands: {:?}; wake by push: {:?}",
        plan.queued,
        plan.commands.get("apple"),
        plan.wake
    );
    if plan.queued == 0 {
        return Err("nothing was queued for the enrolled iPad".into());
    }

    // 3. The push wakes the iPad; it reports Idle to the server URL and
    // gets a command in the answer. It runs the command and reports the
    // result, which fetches the next one, until the answer is empty.
    let mut next = reconciler
        .apple_report(t, &device, &device_report("Idle", None)?)
        .await?;
    let mut answered = 0;
    while let Some(delivered) = next {
        let command = Command::from_bytes(&delivered.payload, &limits)?;
        println!(
            "  server -> device: {} ({})",
            command.request_type,
            command.uuid.as_str()
        );
        let report = device_report("Acknowledged", Some(command.uuid.as_str()))?;
        println!("  device -> server: Acknowledged");
        next = reconciler.apple_report(t, &device, &report).await?;
        answered += 1;
        if answered > 100 {
            return Err("the queue does not drain".into());
        }
    }
    println!("the iPad answered {answered} commands; its queue is empty");

    // 4. What a console shows: the iPad's state per category.
    let status = reconciler.status(&tenant, &SCHOOL.parse()?).await?;
    let ipad = status
        .iter()
        .find(|s| s.device == device)
        .ok_or("the enrolled iPad is not in its school's status")?;
    for c in &ipad.categories {
        println!("  {:<12} {}", c.category.as_str(), c.state);
    }
    let verified = ipad
        .categories
        .iter()
        .any(|c| c.state == ComplianceState::Verified);
    if !ipad.compliant || !verified {
        return Err("the iPad did not reach verified".into());
    }
    println!("ok: every category of {device} is verified (or unsupported)");
    Ok(())
}

/// A check-in message as the device sends it: typed by `Checkin` (which
/// refuses a message missing what its type requires), written as XML.
fn device_checkin(keys: &[(&str, &str)]) -> Result<Vec<u8>, mdmkit::apple::Error> {
    let mut d = Dictionary::new();
    d.insert("UDID".into(), Value::String(UDID.into()));
    for (k, v) in keys {
        d.insert((*k).into(), Value::String((*v).into()));
    }
    Ok(Checkin::from_dict(d)?.to_bytes(Format::Xml))
}

/// A command report as the device sends it to the server URL.
fn device_report(status: &str, command: Option<&str>) -> Result<Vec<u8>, mdmkit::apple::Error> {
    let mut d = Dictionary::new();
    d.insert("UDID".into(), Value::String(UDID.into()));
    d.insert("Status".into(), Value::String(status.into()));
    if let Some(uuid) = command {
        d.insert("CommandUUID".into(), Value::String(uuid.into()));
    }
    Ok(CommandReport::from_dict(d)?.to_bytes(Format::Xml))
}
