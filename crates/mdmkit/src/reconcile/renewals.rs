//! The reconcile loop's identity renewals (see [`crate::renewal`]).

// Without the Apple encoder nothing is renewed.
#![cfg_attr(not(feature = "apple"), allow(unused_imports, unused_variables))]

use mdmkit_core::{DeviceId, Platform, TenantId};
use mdmkit_queue::{CommandId, EnrollmentId, NewCommand, QueueStore, Timestamp};

use super::Reconciler;
use crate::audit::{Event, sha256_hex, targets_sha256};
use crate::challenge::{self, ChallengeOptions};
use crate::error::Error;
use crate::inventory::EnrollmentStatus;
use crate::renewal::{RenewalOptions, RenewalQueued, SUPERSEDE_KEY, under_way};
use crate::state::StateStore;

impl<Q, S> Reconciler<Q, S>
where
    Q: QueueStore + ?Sized,
    S: StateStore + ?Sized,
{
    /// Queues a fresh enrollment profile, with a renewal challenge, for
    /// each enrolled Apple device accepted by `in_scope` whose bound
    /// certificate expires within the window and has no renewal under way.
    /// A certificate that already expired is left alone: its device can no
    /// longer fetch a command and must enroll again (`mdmkit status
    /// --expiring` lists it).
    pub(crate) async fn queue_renewals(
        &self,
        tenant: &TenantId,
        opts: &RenewalOptions,
        in_scope: impl Fn(&DeviceId) -> bool,
        now: Timestamp,
    ) -> Result<(Vec<RenewalQueued>, Vec<Event>), Error> {
        #[cfg_attr(not(feature = "apple"), allow(unused_mut))]
        let mut queued = Vec::new();
        #[cfg_attr(not(feature = "apple"), allow(unused_mut))]
        let mut events = Vec::new();
        #[cfg(feature = "apple")]
        {
            let window = i64::try_from(opts.window.as_millis()).unwrap_or(i64::MAX);
            let before = Timestamp::from_millis(now.as_millis().saturating_add(window));
            let expiring = self.state.expiring_certificates(tenant, before).await?;
            if expiring.is_empty() {
                return Ok((queued, events));
            }
            let challenges = self.state.challenges(tenant).await?;
            for cert in expiring {
                if cert.not_after <= now || under_way(&challenges, &cert.sha256, now) {
                    continue;
                }
                // The enrollment the certificate speaks for: none when a
                // newer certificate already holds the binding (renewed).
                let Some(e) = self
                    .state
                    .enrollment_by_certificate(tenant, &cert.sha256)
                    .await?
                else {
                    continue;
                };
                if e.platform != Platform::Apple
                    || e.status == EnrollmentStatus::CheckedOut
                    || !in_scope(&e.device)
                {
                    continue;
                }
                let mut options = ChallengeOptions::default()
                    .with_ttl(opts.challenge_ttl)
                    .renewing(cert.sha256.clone())
                    .with_label("identity renewal");
                if let Some(serial) = &e.serial {
                    options = options.for_device(serial.clone());
                }
                let issued = challenge::issue(tenant.clone(), e.node.clone(), options, now);
                let encode = |message: String| Error::Encode {
                    platform: Platform::Apple,
                    message,
                };
                let profile = opts
                    .apple
                    .profile(tenant, &issued.secret)
                    .build(tenant, opts.apple.prefix())
                    .map_err(|err| encode(format!("the renewal profile: {err}")))?;
                let id = CommandId::new();
                let payload = super::vendor::Body::Apple(Box::new(
                    mdmkit_apple::command::everyday::install_built_profile(&profile),
                ))
                .encode(id)?;
                // The challenge before the command: a delivered profile
                // whose challenge is unknown would fail at SCEP.
                self.state.put_challenge(&issued.challenge).await?;
                let command = NewCommand::new("InstallProfile", payload.clone())
                    .with_id(id)
                    .with_supersede_key(SUPERSEDE_KEY);
                self.queue
                    .enqueue(tenant, &command, &[EnrollmentId::device(e.device.clone())])
                    .await?;
                events.push(Event::CommandEnqueued {
                    tenant: tenant.clone(),
                    command: id,
                    kind: "InstallProfile".into(),
                    platform: Platform::Apple,
                    devices: 1,
                    targets_sha256: targets_sha256([&e.device]),
                    payload_sha256: sha256_hex(&payload),
                });
                queued.push(RenewalQueued {
                    device: e.device,
                    certificate: cert.sha256,
                    expires_at: cert.not_after,
                    command: id,
                    challenge: issued.challenge.id,
                });
            }
        }
        Ok((queued, events))
    }
}
