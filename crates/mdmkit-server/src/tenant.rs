//! The tenants a server serves: each its own tree, CA, stores and journal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use mdmkit::audit::{Event, JournalWriter};
use mdmkit::identity::{CaDir, Verifier};
use mdmkit::inventory::Enrollment;
use mdmkit::policy::Tenant;
use mdmkit::queue::QueueStore;
use mdmkit::state::StateStore;
use mdmkit::{Reconciler, TenantId};

use crate::error::RequestError;

/// The reconciler a server holds: stores chosen at run time.
pub type DynReconciler = Reconciler<dyn QueueStore, dyn StateStore>;

/// Reloads a tenant's tree (its directory, or an integrator's database).
pub type TreeLoader = dyn Fn() -> Result<Tenant, String> + Send + Sync;

/// How often a CA directory is read again, so that a revocation made with
/// `mdmkit cert revoke` while the server runs takes effect.
const CA_REFRESH: Duration = Duration::from_secs(1);

enum VerifierSource {
    Fixed(Arc<Verifier>),
    Dir {
        dir: CaDir,
        cached: Mutex<(Instant, Arc<Verifier>)>,
    },
}

/// One tenant: its policy tree, the verifier of its device certificates,
/// its reconciler (queue and state stores) and its audit journal.
pub struct TenantContext {
    id: TenantId,
    tree: RwLock<Arc<Tenant>>,
    loader: Option<Arc<TreeLoader>>,
    verifier: VerifierSource,
    reconciler: Arc<DynReconciler>,
    journal: Option<JournalWriter>,
    journal_path: Option<std::path::PathBuf>,
    scep: Option<Arc<crate::scep::ScepService>>,
    android: Option<Arc<crate::android::AndroidService>>,
    windows: Option<Arc<crate::windows::WindowsService>>,
    console_key: Option<crate::console::SessionKey>,
    push: Option<Arc<crate::push::PushService>>,
    verified: Mutex<VerifiedCache>,
    enrollments: Mutex<HashMap<mdmkit::DeviceId, (Instant, Enrollment)>>,
}

/// Certificates the current verifier accepted, by SHA-256 of their DER: a
/// device presents the same certificate on every request, and a full path
/// validation costs more than the rest of a command cycle's crypto. The
/// cache belongs to one verifier: when the CA directory is read again (at
/// most once a second, for revocations) it starts empty.
#[derive(Default)]
struct VerifiedCache {
    verifier: Option<Arc<Verifier>>,
    entries: HashMap<[u8; 32], mdmkit::identity::DeviceIdentity>,
}

/// The most certificates a tenant's cache keeps (then it starts again).
const VERIFIED_CACHE_MAX: usize = 100_000;

/// How long an enrollment read for a device's request serves its next
/// requests: a device working through its queue sends them back to back,
/// and each would otherwise read the same row to check its certificate's
/// binding. Another process's change to the enrollment (a renewal's
/// re-binding, a check-out) is seen here at most this late, the bound the
/// verified-certificate cache already has for revocations.
const ENROLLMENT_CACHE_TTL: Duration = Duration::from_secs(1);

/// The most enrollments a tenant's cache keeps (then it starts again).
const ENROLLMENT_CACHE_MAX: usize = 100_000;

impl std::fmt::Debug for TenantContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantContext")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl TenantContext {
    /// A tenant served with this tree, certificate verifier and reconciler.
    pub fn new(tree: Tenant, verifier: Verifier, reconciler: Arc<DynReconciler>) -> Self {
        Self {
            id: tree.id().clone(),
            tree: RwLock::new(Arc::new(tree)),
            loader: None,
            verifier: VerifierSource::Fixed(Arc::new(verifier)),
            reconciler,
            journal: None,
            journal_path: None,
            scep: None,
            android: None,
            windows: None,
            console_key: None,
            push: None,
            verified: Mutex::new(VerifiedCache::default()),
            enrollments: Mutex::new(HashMap::new()),
        }
    }

    /// Reads the verifier from a CA directory (`mdmkit ca` format), again
    /// at most once a second, so revocations apply while serving.
    pub fn with_ca_dir(mut self, dir: CaDir) -> Result<Self, mdmkit::identity::StoreError> {
        let v = Arc::new(dir.verifier()?);
        self.verifier = VerifierSource::Dir {
            dir,
            cached: Mutex::new((Instant::now(), v)),
        };
        Ok(self)
    }

    /// Reloads the tree with `loader` before an admin-triggered reconcile.
    pub fn with_loader(
        mut self,
        loader: impl Fn() -> Result<Tenant, String> + Send + Sync + 'static,
    ) -> Self {
        self.loader = Some(Arc::new(loader));
        self
    }

    /// Records enrollments and admin actions in this journal (the same one
    /// the reconciler writes to); their heads go to the reconciler's state
    /// store ([`Reconciler::record_appended`]).
    pub fn with_journal(mut self, journal: JournalWriter) -> Self {
        self.journal_path = journal.path().map(std::path::Path::to_path_buf);
        self.journal = Some(journal);
        self
    }

    /// Serves SCEP for this tenant (`/{tenant}/scep`).
    pub fn with_scep(mut self, scep: crate::scep::ScepService) -> Self {
        self.scep = Some(Arc::new(scep));
        self
    }

    /// The tenant's SCEP responder, when it serves SCEP.
    pub fn scep(&self) -> Option<&crate::scep::ScepService> {
        self.scep.as_deref()
    }

    /// Manages this tenant's Android devices through Google
    /// (`/{tenant}/android/pubsub`, delivery of Android commands).
    pub fn with_android(mut self, android: crate::android::AndroidService) -> Self {
        self.android = Some(Arc::new(android));
        self
    }

    /// The tenant's Android service, when it has one.
    pub fn android(&self) -> Option<&crate::android::AndroidService> {
        self.android.as_deref()
    }

    /// Serves Windows enrollment and management for this tenant
    /// (`/{tenant}/windows/...`).
    pub fn with_windows(mut self, windows: crate::windows::WindowsService) -> Self {
        self.windows = Some(Arc::new(windows));
        self
    }

    /// The tenant's Windows services, when it serves Windows.
    pub fn windows(&self) -> Option<&crate::windows::WindowsService> {
        self.windows.as_deref()
    }

    /// Serves the web console for this tenant, its sessions authenticated
    /// with `key` (shared by every process serving the tenant).
    pub fn with_console_key(mut self, key: crate::console::SessionKey) -> Self {
        self.console_key = Some(key);
        self
    }

    /// The console's session key, when the tenant has a console.
    pub fn console_key(&self) -> Option<&crate::console::SessionKey> {
        self.console_key.as_ref()
    }

    /// Wakes the tenant's devices by push after reconciles and admin
    /// commands (see [`crate::push`]).
    pub fn with_push(mut self, push: crate::push::PushService) -> Self {
        self.push = Some(Arc::new(push));
        self
    }

    /// The tenant's wake loop, if it pushes.
    pub fn push(&self) -> Option<&crate::push::PushService> {
        self.push.as_deref()
    }

    /// The tenant id.
    pub fn id(&self) -> &TenantId {
        &self.id
    }

    /// The current tree.
    pub fn tree(&self) -> Arc<Tenant> {
        self.tree.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reloads the tree (when a loader is set) and returns it.
    pub fn reload(&self) -> Result<Arc<Tenant>, RequestError> {
        let Some(loader) = &self.loader else {
            return Ok(self.tree());
        };
        let t = loader().map_err(|e| RequestError::BadAdminRequest(format!("tree: {e}")))?;
        if t.id() != &self.id {
            return Err(RequestError::BadAdminRequest(format!(
                "the reloaded tree names tenant {}, not {}",
                t.id(),
                self.id
            )));
        }
        let t = Arc::new(t);
        *self.tree.write().unwrap_or_else(|p| p.into_inner()) = t.clone();
        Ok(t)
    }

    /// The verifier of device certificates.
    pub fn verifier(&self) -> Result<Arc<Verifier>, RequestError> {
        match &self.verifier {
            VerifierSource::Fixed(v) => Ok(v.clone()),
            VerifierSource::Dir { dir, cached } => {
                let mut c = cached.lock().unwrap_or_else(|p| p.into_inner());
                if c.0.elapsed() >= CA_REFRESH {
                    let v = dir.verifier().map_err(RequestError::internal)?;
                    *c = (Instant::now(), Arc::new(v));
                }
                Ok(c.1.clone())
            }
        }
    }

    /// Verifies a presented certificate with the tenant's current
    /// verifier ([`crate::identity::verify`]), remembering what it
    /// accepted until the verifier is reloaded or the certificate expires.
    pub fn verify(
        &self,
        presented: &crate::identity::Presented,
    ) -> Result<mdmkit::identity::DeviceIdentity, RequestError> {
        use sha2::Digest as _;
        let verifier = self.verifier()?;
        let key: [u8; 32] = sha2::Sha256::digest(&presented.der).into();
        let now = time::OffsetDateTime::now_utc();
        {
            let mut c = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if !c
                .verifier
                .as_ref()
                .is_some_and(|v| Arc::ptr_eq(v, &verifier))
            {
                c.verifier = Some(verifier.clone());
                c.entries.clear();
            }
            if let Some(id) = c.entries.get(&key)
                && id.not_before <= now
                && now < id.not_after
            {
                return Ok(id.clone());
            }
        }
        let id = crate::identity::verify(&verifier, presented)?;
        let mut c = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if c.verifier
            .as_ref()
            .is_some_and(|v| Arc::ptr_eq(v, &verifier))
        {
            if c.entries.len() >= VERIFIED_CACHE_MAX {
                c.entries.clear();
            }
            c.entries.insert(key, id.clone());
        }
        Ok(id)
    }

    /// The device's enrollment as this process last read or wrote it, if
    /// that was less than [`ENROLLMENT_CACHE_TTL`] ago.
    pub(crate) fn recent_enrollment(&self, device: &mdmkit::DeviceId) -> Option<Enrollment> {
        let c = self.enrollments.lock().unwrap_or_else(|p| p.into_inner());
        c.get(device)
            .filter(|(at, _)| at.elapsed() < ENROLLMENT_CACHE_TTL)
            .map(|(_, e)| e.clone())
    }

    /// Remembers an enrollment just read from or written to the store.
    pub(crate) fn remember_enrollment(&self, e: &Enrollment) {
        let mut c = self.enrollments.lock().unwrap_or_else(|p| p.into_inner());
        if c.len() >= ENROLLMENT_CACHE_MAX {
            c.clear();
        }
        c.insert(e.device.clone(), (Instant::now(), e.clone()));
    }

    /// Forgets a device's enrollment (its write failed, or it changed in a
    /// way the next request must read).
    pub(crate) fn forget_enrollment(&self, device: &mdmkit::DeviceId) {
        self.enrollments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(device);
    }

    /// The reconciler.
    pub fn reconciler(&self) -> &Arc<DynReconciler> {
        &self.reconciler
    }

    /// Appends events to the journal (by its writer thread, with group
    /// commit) and records its head in the state store.
    pub async fn record(&self, events: Vec<Event>) -> Result<(), RequestError> {
        let Some(j) = &self.journal else {
            return Ok(());
        };
        if events.is_empty() {
            return Ok(());
        }
        let appended = j.append_all(events).await.map_err(RequestError::internal)?;
        self.reconciler
            .record_appended(&self.id, appended)
            .await
            .map_err(RequestError::internal)
    }

    /// The journal's file, if there is a journal and it is a file.
    pub fn journal_path(&self) -> Option<&std::path::Path> {
        self.journal_path.as_deref()
    }

    /// A reader of the journal (a file or PostgreSQL), if there is one.
    pub fn journal_reader(&self) -> Option<&mdmkit::audit::JournalReader> {
        self.journal.as_ref().map(JournalWriter::reader)
    }

    /// The current tree with the enrolled devices it does not list
    /// ([`mdmkit::Reconciler::with_inventory`]); the tree itself when there
    /// are none.
    pub async fn tree_with_inventory(&self) -> Result<Arc<Tenant>, RequestError> {
        let tree = self.tree();
        Ok(match self.reconciler.with_inventory(&tree).await? {
            std::borrow::Cow::Borrowed(_) => tree.clone(),
            std::borrow::Cow::Owned(t) => Arc::new(t),
        })
    }

    /// The current tree narrowed to `devices`, with their enrollments
    /// ([`mdmkit::Reconciler::with_inventory_of`]): what a request about one
    /// device needs, read without the tenant's whole inventory.
    pub async fn tree_of(&self, devices: &[mdmkit::DeviceId]) -> Result<Tenant, RequestError> {
        let tree = self.tree();
        Ok(self.reconciler.with_inventory_of(&tree, devices).await?)
    }
}

/// Every tenant a server serves, by id.
#[derive(Debug, Default, Clone)]
pub struct Tenants {
    map: HashMap<TenantId, Arc<TenantContext>>,
}

impl Tenants {
    /// No tenant yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a tenant.
    pub fn insert(&mut self, tenant: TenantContext) -> &mut Self {
        self.map.insert(tenant.id().clone(), Arc::new(tenant));
        self
    }

    /// Adds a tenant, builder style.
    pub fn with(mut self, tenant: TenantContext) -> Self {
        self.insert(tenant);
        self
    }

    /// The tenant named in a route.
    pub fn get(&self, id: &str) -> Result<Arc<TenantContext>, RequestError> {
        let tid = TenantId::new(id).map_err(|_| RequestError::UnknownTenant(truncate(id)))?;
        self.map
            .get(&tid)
            .cloned()
            .ok_or_else(|| RequestError::UnknownTenant(truncate(id)))
    }

    /// The tenant ids, sorted.
    pub fn ids(&self) -> Vec<TenantId> {
        let mut v: Vec<TenantId> = self.map.keys().cloned().collect();
        v.sort();
        v
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
