//! The in-memory state store.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use mdmkit_core::{DeviceId, TenantId};
use mdmkit_policy::{Category, ContentHash, Settings};
use mdmkit_queue::Timestamp;

use super::{CategoryState, ComplianceState, DeviceRecord, StateBatch, StateStore};
use crate::access::AdminToken;
use crate::challenge::{Challenge, IssuedCertificate, Refusal};
use crate::error::Error;
use crate::inventory::Enrollment;

#[derive(Debug, Default)]
struct TenantState {
    contents: HashMap<ContentHash, Settings>,
    devices: HashMap<DeviceId, DeviceRecord>,
    compliance: BTreeMap<(DeviceId, Category), CategoryState>,
    policies: BTreeMap<String, String>,
    enrollments: BTreeMap<DeviceId, Enrollment>,
    tokens: BTreeMap<String, AdminToken>,
    challenges: BTreeMap<String, Challenge>,
    issued: BTreeMap<String, IssuedCertificate>,
    sessions: BTreeMap<DeviceId, super::DeviceSession>,
    push_cert: Option<crate::push::StoredPushCertificate>,
    push_states: BTreeMap<DeviceId, crate::push::PushState>,
    audit: Option<super::AuditHeads>,
}

/// Applied state and compliance in memory: for tests and simulations.
#[derive(Debug, Default)]
pub struct MemoryState {
    tenants: Mutex<HashMap<TenantId, TenantState>>,
}

impl MemoryState {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, tenant: &TenantId, f: impl FnOnce(&mut TenantState) -> R) -> R {
        let mut guard = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        f(guard.entry(tenant.clone()).or_default())
    }
}

#[async_trait]
impl StateStore for MemoryState {
    async fn device_records(
        &self,
        tenant: &TenantId,
    ) -> Result<HashMap<DeviceId, DeviceRecord>, Error> {
        Ok(self.with(tenant, |t| t.devices.clone()))
    }

    async fn content(
        &self,
        tenant: &TenantId,
        hash: &ContentHash,
    ) -> Result<Option<Settings>, Error> {
        Ok(self.with(tenant, |t| t.contents.get(hash).cloned()))
    }

    async fn commit(&self, tenant: &TenantId, batch: &StateBatch) -> Result<(), Error> {
        self.with(tenant, |t| {
            for (h, s) in &batch.contents {
                t.contents.entry(*h).or_insert_with(|| s.clone());
            }
            for d in &batch.removed {
                t.devices.remove(d);
                t.compliance.retain(|(dev, _), _| dev != d);
            }
            for (d, r) in &batch.devices {
                t.devices.insert(d.clone(), r.clone());
            }
            for (d, c) in &batch.cleared {
                t.compliance.remove(&(d.clone(), *c));
            }
            for (d, s) in &batch.compliance {
                t.compliance.insert((d.clone(), s.category), s.clone());
            }
            for (p, h) in &batch.policies {
                match h {
                    Some(h) => t.policies.insert(p.clone(), h.clone()),
                    None => t.policies.remove(p),
                };
            }
            if let Some(heads) = &batch.audit {
                match &mut t.audit {
                    Some(kept) => kept.merge(heads.clone()),
                    None => t.audit = Some(heads.clone()),
                }
            }
        });
        Ok(())
    }

    async fn audit_heads(&self, tenant: &TenantId) -> Result<Option<super::AuditHeads>, Error> {
        Ok(self.with(tenant, |t| t.audit.clone()))
    }

    async fn compliance(
        &self,
        tenant: &TenantId,
        device: Option<&DeviceId>,
    ) -> Result<Vec<(DeviceId, CategoryState)>, Error> {
        Ok(self.with(tenant, |t| {
            t.compliance
                .iter()
                .filter(|((d, _), _)| device.is_none_or(|x| x == d))
                .map(|((d, _), s)| (d.clone(), s.clone()))
                .collect()
        }))
    }

    async fn policy_hashes(&self, tenant: &TenantId) -> Result<BTreeMap<String, String>, Error> {
        Ok(self.with(tenant, |t| t.policies.clone()))
    }

    async fn due_retries(
        &self,
        tenant: &TenantId,
        now: Timestamp,
    ) -> Result<Vec<(DeviceId, CategoryState)>, Error> {
        Ok(self.with(tenant, |t| {
            t.compliance
                .iter()
                .filter(|(_, s)| {
                    s.state == ComplianceState::Failed && s.next_retry.is_some_and(|r| r <= now)
                })
                .map(|((d, _), s)| (d.clone(), s.clone()))
                .collect()
        }))
    }

    async fn enrollment(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
    ) -> Result<Option<Enrollment>, Error> {
        Ok(self.with(tenant, |t| t.enrollments.get(device).cloned()))
    }

    async fn enrollments(&self, tenant: &TenantId) -> Result<Vec<Enrollment>, Error> {
        Ok(self.with(tenant, |t| t.enrollments.values().cloned().collect()))
    }

    async fn enrollment_by_certificate(
        &self,
        tenant: &TenantId,
        sha256: &str,
    ) -> Result<Option<Enrollment>, Error> {
        Ok(self.with(tenant, |t| {
            t.enrollments
                .values()
                .find(|e| e.certificate.as_ref().is_some_and(|c| c.sha256 == sha256))
                .cloned()
        }))
    }

    async fn put_enrollment(
        &self,
        tenant: &TenantId,
        enrollment: &Enrollment,
    ) -> Result<(), Error> {
        self.with(tenant, |t| {
            if let Some(c) = &enrollment.certificate
                && let Some(holder) = t.enrollments.values().find(|e| {
                    e.device != enrollment.device
                        && e.certificate.as_ref().is_some_and(|x| x.sha256 == c.sha256)
                })
            {
                return Err(Error::CertificateInUse {
                    device: holder.device.to_string(),
                });
            }
            t.enrollments
                .insert(enrollment.device.clone(), enrollment.clone());
            Ok(())
        })
    }

    async fn put_token(&self, token: &AdminToken) -> Result<(), Error> {
        self.with(&token.tenant, |t| {
            t.tokens.insert(token.id.clone(), token.clone());
        });
        Ok(())
    }

    async fn token(&self, tenant: &TenantId, id: &str) -> Result<Option<AdminToken>, Error> {
        Ok(self.with(tenant, |t| t.tokens.get(id).cloned()))
    }

    async fn tokens(&self, tenant: &TenantId) -> Result<Vec<AdminToken>, Error> {
        Ok(self.with(tenant, |t| t.tokens.values().cloned().collect()))
    }

    async fn put_challenge(&self, c: &Challenge) -> Result<(), Error> {
        self.with(&c.tenant, |t| {
            t.challenges.insert(c.sha256.clone(), c.clone());
        });
        Ok(())
    }

    async fn spend_challenge(
        &self,
        tenant: &TenantId,
        sha256: &str,
        now: Timestamp,
    ) -> Result<Result<Challenge, Refusal>, Error> {
        Ok(self.with(tenant, |t| {
            let c = t.challenges.get_mut(sha256).ok_or(Refusal::Unknown)?;
            c.usable(now)?;
            c.used_at = Some(now);
            Ok(c.clone())
        }))
    }

    async fn challenges(&self, tenant: &TenantId) -> Result<Vec<Challenge>, Error> {
        Ok(self.with(tenant, |t| t.challenges.values().cloned().collect()))
    }

    async fn put_issued_certificate(&self, c: &IssuedCertificate) -> Result<(), Error> {
        self.with(&c.tenant, |t| {
            t.issued.insert(c.sha256.clone(), c.clone());
        });
        Ok(())
    }

    async fn issued_certificate(
        &self,
        tenant: &TenantId,
        sha256: &str,
    ) -> Result<Option<IssuedCertificate>, Error> {
        Ok(self.with(tenant, |t| t.issued.get(sha256).cloned()))
    }

    async fn expiring_certificates(
        &self,
        tenant: &TenantId,
        before: Timestamp,
    ) -> Result<Vec<IssuedCertificate>, Error> {
        let mut v: Vec<IssuedCertificate> = self.with(tenant, |t| {
            t.issued
                .values()
                .filter(|c| c.not_after < before)
                .cloned()
                .collect()
        });
        v.sort_by(|a, b| (a.not_after, &a.sha256).cmp(&(b.not_after, &b.sha256)));
        Ok(v)
    }

    async fn challenge(&self, tenant: &TenantId, sha256: &str) -> Result<Option<Challenge>, Error> {
        Ok(self.with(tenant, |t| t.challenges.get(sha256).cloned()))
    }

    async fn session(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
    ) -> Result<Option<super::DeviceSession>, Error> {
        Ok(self.with(tenant, |t| t.sessions.get(device).cloned()))
    }

    async fn put_session(
        &self,
        tenant: &TenantId,
        session: &super::DeviceSession,
        expected: Option<i64>,
    ) -> Result<bool, Error> {
        Ok(self.with(tenant, |t| {
            if t.sessions.get(&session.device).map(|s| s.version) != expected {
                return false;
            }
            t.sessions.insert(session.device.clone(), session.clone());
            true
        }))
    }

    async fn push_certificate(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<crate::push::StoredPushCertificate>, Error> {
        Ok(self.with(tenant, |t| t.push_cert.clone()))
    }

    async fn put_push_certificate(
        &self,
        tenant: &TenantId,
        cert: &crate::push::StoredPushCertificate,
    ) -> Result<(), Error> {
        let mut c = cert.clone();
        c.alert = None;
        self.with(tenant, |t| t.push_cert = Some(c));
        Ok(())
    }

    async fn set_push_alert(
        &self,
        tenant: &TenantId,
        sha256: &str,
        alert: Option<&crate::push::PushAlert>,
    ) -> Result<(), Error> {
        self.with(tenant, |t| {
            if let Some(c) = t.push_cert.as_mut().filter(|c| c.sha256 == sha256) {
                c.alert = alert.cloned();
            }
        });
        Ok(())
    }

    async fn push_states(&self, tenant: &TenantId) -> Result<Vec<crate::push::PushState>, Error> {
        Ok(self.with(tenant, |t| t.push_states.values().cloned().collect()))
    }

    async fn put_push_states(
        &self,
        tenant: &TenantId,
        states: &[crate::push::PushState],
    ) -> Result<(), Error> {
        self.with(tenant, |t| {
            for s in states {
                t.push_states.insert(s.device.clone(), s.clone());
            }
        });
        Ok(())
    }
}
