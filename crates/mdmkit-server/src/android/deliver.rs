//! Delivery: the queued Android commands of a device go to Google through
//! the client, and Google's answer is recorded.
//!
//! A `PatchPolicy` carries the device's whole effective policy. Delivery
//! reads the device's own policy as Google holds it (`policies.get`) and
//! sends a `policies.patch` with the minimal `updateMask`: the top-level
//! fields that differ, a field the new policy lacks being cleared (so a
//! setting removed from the tree is removed from the device). When nothing
//! differs, no patch is sent and Google's current version is recorded (no
//! needless version bump). A policy Google does not have yet is created
//! whole. Then comes a `devices.patch` of `policyName` when the device does
//! not use that policy yet. Google's accepted version is recorded
//! ([`mdmkit::reconcile::Answer::Accepted`]); the device's status report
//! verifies it. A rejection (a 4xx with Google's reason) fails the
//! categories with that reason; an outage (429, 5xx, the network, after
//! the client's retries) leaves the command queued for a later drain.

use mdmkit::DeviceId;
use mdmkit::android::client::ClientError;
use mdmkit::android::command::DeviceCommand;
use mdmkit::android::mapping::patch_json;
use mdmkit::android::model::{Command, Operation, Policy};
use mdmkit::android::names::{DeviceName, PolicyName};
use mdmkit::android::operation::{CommandOutcome, CommandState};
use mdmkit::reconcile::Answer;

use super::AndroidService;
use crate::error::RequestError;
use crate::tenant::TenantContext;

/// What one drain did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Commands Google accepted.
    pub accepted: u32,
    /// Commands Google (or the queued payload) refused.
    pub refused: u32,
    /// Whether an outage stopped the drain (the rest stays queued).
    pub deferred: bool,
    /// Device commands issued through Google and not yet run by the device
    /// (answered by a COMMAND notification).
    pub issued: u32,
}

/// The reason recorded for a refusal: Google's status and message.
fn reason(e: &ClientError) -> String {
    match e.api_error() {
        Some(a) => format!(
            "Google refused it (HTTP {}, {}): {}",
            e.status().unwrap_or(a.http_status),
            a.code.name(),
            a.message
        ),
        None => e.to_string(),
    }
}

/// Fields Google sets on a policy, never part of a mask.
const OUTPUT_ONLY: [&str; 2] = ["name", "version"];

/// Brings Google's copy of `name` to `wanted` with the fewest changes:
/// the accepted policy (Google's, unchanged, when nothing differs).
async fn sync_policy(
    android: &AndroidService,
    name: &PolicyName,
    wanted: &Policy,
) -> Result<Policy, ClientError> {
    let client = android.client();
    let Some(current) = client.get_policy(name).await? else {
        return client.patch_policy(name, wanted, None).await;
    };
    let as_map = |p: &Policy| -> Result<serde_json::Map<String, serde_json::Value>, ClientError> {
        let v = mdmkit::android::parse::to_vec(p)?;
        let mut m: serde_json::Map<String, serde_json::Value> =
            mdmkit::android::parse::from_slice(&v)?;
        for k in OUTPUT_ONLY {
            m.remove(k);
        }
        Ok(m)
    };
    let diff = patch_json(&as_map(&current)?, &as_map(wanted)?);
    if diff.is_empty() {
        return Ok(current);
    }
    let mask: Vec<&str> = diff.update_mask.iter().map(String::as_str).collect();
    client.patch_policy(name, wanted, Some(&mask)).await
}

/// Points the device at its policy when it uses another one.
async fn point(
    android: &AndroidService,
    device: &DeviceName,
    policy: &PolicyName,
) -> Result<(), ClientError> {
    let d = android.client().get_device(device).await?;
    if d.policy_name.as_deref() != Some(policy.as_str()) {
        android.client().set_device_policy(device, policy).await?;
    }
    Ok(())
}

/// Issues a queued device command (`devices.issueCommand`): `None` while
/// the device has not run it yet, or the answer when Google's operation is
/// already done.
async fn issue(
    android: &AndroidService,
    device: &DeviceName,
    payload: &[u8],
) -> Result<Option<Answer>, ClientError> {
    let parsed = mdmkit::android::parse::from_slice::<Command>(payload)
        .ok()
        .and_then(|c| DeviceCommand::from_command(&c));
    let Some(command) = parsed else {
        return Ok(Some(Answer::FormatError(
            "the queued payload is not a device command".into(),
        )));
    };
    let op = android
        .client()
        .issue_command(device, &command, None)
        .await?;
    Ok(operation_answer(&op))
}

/// The answer an operation gives, once done.
pub(crate) fn operation_answer(op: &Operation) -> Option<Answer> {
    match CommandOutcome::from_operation(op) {
        Err(e) => Some(Answer::Error(format!("Google's operation: {e}"))),
        Ok(o) => match o.state {
            CommandState::Pending => None,
            CommandState::Succeeded => Some(Answer::Acknowledged),
            CommandState::Failed(f) => Some(Answer::Error(match &f.error_code {
                Some(code) => format!("the device did not run it ({code:?}): {}", f.message),
                None => format!("the device did not run it: {}", f.message),
            })),
            _ => Some(Answer::Error(
                "an operation state mdmkit does not know".into(),
            )),
        },
    }
}

/// Delivers a device's queued commands, one at a time, until none is
/// left, one is in flight elsewhere, or Google is unavailable.
pub async fn drain_device(
    ctx: &TenantContext,
    android: &AndroidService,
    device: &DeviceId,
) -> Result<Delivery, RequestError> {
    let mut out = Delivery::default();
    let Ok(name) = DeviceName::parse(device.as_str()) else {
        return Ok(out);
    };
    if &name.enterprise() != android.enterprise() {
        return Ok(out);
    }
    let policy = android.policy_for(&name)?;
    let r = ctx.reconciler();
    let mut pointed = false;
    while let Some(cmd) = r.next(ctx.id(), device).await? {
        let answer = match cmd.kind.as_str() {
            "PatchPolicy" => match mdmkit::android::parse::policy(&cmd.payload) {
                Err(e) => Answer::FormatError(format!("queued policy: {e}")),
                Ok(p) => {
                    let patched = match sync_policy(android, &policy, &p).await {
                        Ok(accepted) if pointed => Ok(accepted),
                        Ok(accepted) => point(android, &name, &policy).await.map(|()| accepted),
                        Err(e) => Err(e),
                    };
                    match patched {
                        Ok(accepted) => {
                            pointed = true;
                            Answer::Accepted {
                                version: accepted.version,
                            }
                        }
                        Err(e) if e.is_transient() => {
                            tracing::warn!(%device, error = %e, "Google unavailable; the command stays queued");
                            out.deferred = true;
                            break;
                        }
                        Err(e) => Answer::Error(reason(&e)),
                    }
                }
            },
            "DeviceLock" | "RestartDevice" => match issue(android, &name, &cmd.payload).await {
                Ok(None) => {
                    // Issued; Google answers with a COMMAND notification
                    // (until then the command is in flight, and its lease
                    // brings it back if that answer never comes).
                    out.issued += 1;
                    break;
                }
                Ok(Some(answer)) => answer,
                Err(e) if e.is_transient() => {
                    tracing::warn!(%device, error = %e, "Google unavailable; the command stays queued");
                    out.deferred = true;
                    break;
                }
                Err(e) => Answer::Error(reason(&e)),
            },
            other => {
                Answer::FormatError(format!("{other} is not an Android command mdmkit delivers"))
            }
        };
        if matches!(answer, Answer::Accepted { .. }) {
            out.accepted += 1;
        } else {
            out.refused += 1;
            tracing::warn!(%device, command = %cmd.id, ?answer, "android command refused");
        }
        r.record_answer(ctx.id(), device, cmd.id, &answer, None)
            .await?;
    }
    Ok(out)
}

/// Drains every Android device of the tenant (enrolled, or listed in the
/// tree) that has queued commands; what each drain did.
///
/// The devices come from one read of the queue
/// ([`mdmkit::queue::QueueStore::pending_enrollments`]): a sweep costs the
/// devices with something waiting, not the tenant's inventory.
pub async fn drain_tenant(
    ctx: &TenantContext,
    android: &AndroidService,
) -> Result<Vec<(DeviceId, Delivery)>, RequestError> {
    let r = ctx.reconciler();
    let pending = r
        .queue()
        .pending_enrollments(ctx.id())
        .await
        .map_err(|e| RequestError::from_facade(e.into()))?;
    let tree = ctx.tree();
    let mut out = Vec::new();
    for e in pending {
        let id = e.device_id();
        if e.user_channel().is_some() || DeviceName::parse(id.as_str()).is_err() {
            continue;
        }
        // A device the tree lists, or one enrolled and not checked out.
        let known = match tree.device(id) {
            Some(d) => d.platform == mdmkit::Platform::Android,
            None => r.state().enrollment(ctx.id(), id).await?.is_some_and(|en| {
                en.platform == mdmkit::Platform::Android
                    && en.status != mdmkit::inventory::EnrollmentStatus::CheckedOut
            }),
        };
        if !known {
            continue;
        }
        let done = drain_device(ctx, android, id).await?;
        if done != Delivery::default() {
            out.push((id.clone(), done));
        }
    }
    Ok(out)
}
