//! Delivery: the queued Android commands of a device go to Google through
//! the client, and Google's answer is recorded.
//!
//! A `PatchPolicy` carries the device's whole effective policy: it becomes
//! a `policies.patch` of the device's own policy without update mask (the
//! policy is replaced, so a setting removed from the tree is removed from
//! the device; the queue's supersede key keeps only the newest), then a
//! `devices.patch` of `policyName` when the device does not use that
//! policy yet. Google's accepted version is recorded
//! ([`mdmkit::reconcile::Answer::Accepted`]); the device's status report
//! verifies it. A rejection (a 4xx with Google's reason) fails the
//! categories with that reason; an outage (429, 5xx, the network, after
//! the client's retries) leaves the command queued for a later drain.

use mdmkit::DeviceId;
use mdmkit::android::client::ClientError;
use mdmkit::android::names::{DeviceName, PolicyName};
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
                    let patched = match android.client().patch_policy(&policy, &p, None).await {
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
pub async fn drain_tenant(
    ctx: &TenantContext,
    android: &AndroidService,
) -> Result<Vec<(DeviceId, Delivery)>, RequestError> {
    let tree = ctx.tree_with_inventory().await?;
    let mut out = Vec::new();
    for d in tree.devices() {
        if d.platform != mdmkit::Platform::Android {
            continue;
        }
        let done = drain_device(ctx, android, &d.id).await?;
        if done != Delivery::default() {
            out.push((d.id.clone(), done));
        }
    }
    Ok(out)
}
