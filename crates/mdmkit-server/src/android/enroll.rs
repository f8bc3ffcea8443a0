//! An ENROLLMENT notification: the device joins inventory under the node
//! of its enrollment token, and its policy is planned.

use mdmkit::android::model::Device;
use mdmkit::android::names::DeviceName;
use mdmkit::android::pubsub::EnrollmentBinding;
use mdmkit::audit::Event;
use mdmkit::inventory::{Enrollment, EnrollmentStatus};
use mdmkit::queue::{Clock as _, SystemClock};
use mdmkit::{DeviceId, Platform, Scope};

use crate::error::RequestError;
use crate::tenant::TenantContext;

/// Records the enrollment (a duplicate or late one keeps the node and
/// the first enrollment time) and plans the device.
pub(crate) async fn on_enrollment(
    ctx: &TenantContext,
    name: &DeviceName,
    dev: &Device,
) -> Result<DeviceId, RequestError> {
    let data = dev.enrollment_token_data.as_deref().ok_or_else(|| {
        RequestError::Invalid(format!(
            "{name} enrolled with a token without mdmkit's enrollment data"
        ))
    })?;
    let binding = EnrollmentBinding::parse(data)
        .map_err(|e| RequestError::Invalid(format!("enrollmentTokenData of {name}: {e}")))?;
    if &binding.tenant != ctx.id() {
        return Err(RequestError::Invalid(format!(
            "{name} enrolled with a token of tenant {}",
            binding.tenant
        )));
    }
    let tree = ctx.tree();
    if tree.node(&binding.node).is_none() {
        return Err(RequestError::Invalid(format!(
            "{name} enrolled for node {}, which the tree does not have",
            binding.node
        )));
    }
    let id = super::device_id(name)?;
    let now = SystemClock.now();
    let state = ctx.reconciler().state();
    let existing = state.enrollment(ctx.id(), &id).await?;
    let first = existing.is_none();
    let mut e = existing.unwrap_or_else(|| {
        Enrollment::new(id.clone(), Platform::Android, binding.node.clone(), now)
    });
    facts(&mut e, dev);
    e.status = EnrollmentStatus::Active;
    e.updated_at = now;
    e.last_seen = now;
    state.put_enrollment(ctx.id(), &e).await?;
    if first {
        ctx.record(vec![Event::DeviceEnrolled {
            tenant: ctx.id().clone(),
            device: id.clone(),
            node: e.node.clone(),
            platform: Platform::Android,
            certificate_sha256: None,
        }])
        .await?;
        tracing::info!(device = %id, node = %e.node, "android device enrolled");
    }
    let plan = ctx
        .reconciler()
        .reconcile(&tree, &Scope::Devices(vec![id.clone()]))
        .await?;
    tracing::debug!(device = %id, commands = plan.queued, "enrolled device planned");
    Ok(id)
}

/// A status report refreshes the facts of an enrolled device.
pub(crate) async fn seen(
    ctx: &TenantContext,
    id: &DeviceId,
    dev: &Device,
) -> Result<(), RequestError> {
    let state = ctx.reconciler().state();
    let Some(mut e) = state.enrollment(ctx.id(), id).await? else {
        return Ok(());
    };
    let before = e.clone();
    facts(&mut e, dev);
    if e != before {
        e.updated_at = SystemClock.now();
        e.last_seen = e.updated_at;
        state.put_enrollment(ctx.id(), &e).await?;
    }
    Ok(())
}

fn facts(e: &mut Enrollment, dev: &Device) {
    if let Some(h) = &dev.hardware_info {
        e.serial = h.serial_number.clone().or(e.serial.take());
        e.model = h.model.clone().or(e.model.take());
        e.product = h.brand.clone().or(e.product.take());
    }
    if let Some(s) = &dev.software_info {
        e.os_version = s.android_version.clone().or(e.os_version.take());
        e.build_version = s.android_build_number.clone().or(e.build_version.take());
    }
}
