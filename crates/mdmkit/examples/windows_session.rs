//! A Windows PC's OMA-DM session, message by message: the PC opens a
//! session (its SyncML package 1), the server answers with the commands
//! queued for it (`Reconciler::windows_commands`), the PC applies them and
//! answers with a `Status` for each, which the server records
//! (`Reconciler::windows_statuses`), until the session ends and the PC's
//! categories read `verified`.
//!
//! ```sh
//! cargo run -p mdmkit --example windows_session
//! ```
//!
//! The PC is `mdmkit::windows::device::TestDevice`, a test double that
//! applies commands to a small management tree with the rules Windows
//! documents. There is no HTTP: the SyncML documents an HTTP handler
//! would receive and send (`mdmkit-server` does, at
//! `/{tenant}/windows/...`) are passed as bytes. Exits non-zero unless
//! every category of the PC ends compliant.
#![allow(clippy::print_stdout)]

use std::sync::Arc;

use mdmkit::queue::MemoryStore;
use mdmkit::state::{ComplianceState, MemoryState};
use mdmkit::windows::SyncMl;
use mdmkit::windows::device::TestDevice;
use mdmkit::windows::session::{ServerSession, SessionConfig, SessionSnapshot};
use mdmkit::windows::syncml::Command;
use mdmkit::{Platform, Reconciler, Scope};

/// The management URL of the PC's provisioning document.
const SERVER_URL: &str = "https://mdm.example.org/ManagementServer/MDM.svc";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tenant = mdmkit::policy::load_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/region"),
    )?;
    let reconciler = Reconciler::new(Arc::new(MemoryStore::new()), Arc::new(MemoryState::new()));
    let t = tenant.id();

    // A PC of the region (devices.toml), and what its policy queues.
    let pc = tenant
        .devices()
        .find(|d| d.platform == Platform::Windows)
        .ok_or("the region has no Windows PC")?;
    let (id, node) = (pc.id.clone(), pc.node.clone());
    let plan = reconciler
        .reconcile(&tenant, &Scope::Devices(vec![id.clone()]))
        .await?;
    println!(
        "{id} at {node}: {} commands queued {:?}",
        plan.queued,
        plan.commands.get("windows")
    );
    if plan.queued == 0 {
        return Err("nothing was queued for the PC".into());
    }

    // The session. Its queued commands are read once, when it opens; the
    // server's side of the session is kept between two messages as a
    // snapshot (`mdmkit-server` stores it in the StateStore, so the next
    // request may reach another process).
    let queued = reconciler.windows_commands(t, &id, 100).await?;
    let config = SessionConfig::new(SERVER_URL);
    let mut kept = SessionSnapshot::default();
    let mut device = TestDevice::new(id.as_str());
    let mut from_device = device.open_session(SERVER_URL).to_xml();

    for round in 1.. {
        if round > 20 {
            return Err("the session does not end".into());
        }
        // The server receives the PC's message...
        let incoming = SyncMl::read(from_device.as_bytes())?;
        println!(
            "PC -> server, message {round}: {}",
            names(&incoming.commands)
        );
        let mut session = ServerSession::restore(config.clone(), &kept);
        let reply = session.respond(&incoming, &queued)?;
        kept = session.snapshot();

        // ...records the statuses it carries for queued commands...
        // (one answer per queued command: a command's statuses, those of
        // the commands nested in its Atomic included, decide together)...
        for s in &reply.statuses {
            println!(
                "  status {} for {}{} of queued command {}",
                s.code.code(),
                s.cmd,
                if s.nested { " (nested)" } else { "" },
                s.queue_ref.as_str()
            );
        }
        let outcomes = reconciler.windows_statuses(t, &id, &reply.statuses).await?;
        for (category, state) in outcomes.iter().flat_map(|o| &o.categories) {
            println!("  {} -> {state}", category.as_str());
        }

        // ...and answers with the next commands (or only statuses, which
        // ends the session).
        println!("server -> PC: {}", names(&reply.message.commands));
        if reply.session_complete {
            println!("session complete after {round} messages");
            break;
        }
        let to_device = SyncMl::read(reply.message.to_xml().as_bytes())?;
        from_device = device
            .handle(&to_device)
            .ok_or("the PC ended the session before the server did")?
            .to_xml();
    }

    // What a console shows: the PC's state per category.
    let status = reconciler.status(&tenant, &node).await?;
    let state = status
        .iter()
        .find(|s| s.device == id)
        .ok_or("the PC is not in its node's status")?;
    for c in &state.categories {
        println!("  {:<12} {}", c.category.as_str(), c.state);
    }
    let verified = state
        .categories
        .iter()
        .any(|c| c.state == ComplianceState::Verified);
    if !state.compliant || !verified {
        return Err("the PC did not reach verified".into());
    }
    println!("ok: every category of {id} is verified (or unsupported)");
    Ok(())
}

/// The commands of a message, by element name and count (`Status ×3,
/// Replace ×2`).
fn names(commands: &[Command]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for c in commands {
        match counts.iter_mut().find(|(n, _)| *n == c.name()) {
            Some((_, k)) => *k += 1,
            None => counts.push((c.name(), 1)),
        }
    }
    if counts.is_empty() {
        return "(nothing)".into();
    }
    counts
        .iter()
        .map(|(n, k)| format!("{n} ×{k}"))
        .collect::<Vec<_>>()
        .join(", ")
}
