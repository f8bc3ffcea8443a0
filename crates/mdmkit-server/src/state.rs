//! The state every handler shares.

use std::sync::Arc;

use crate::config::ServerConfig;
use crate::error::RequestError;
use crate::tenant::{TenantContext, Tenants};

/// What the routers hold: the tenants and the server settings. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    tenants: Tenants,
    config: ServerConfig,
}

impl AppState {
    /// State for these tenants and settings.
    pub fn new(tenants: Tenants, config: ServerConfig) -> Self {
        Self(Arc::new(Inner { tenants, config }))
    }

    /// The tenants.
    pub fn tenants(&self) -> &Tenants {
        &self.0.tenants
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.0.config
    }

    /// The tenant named in a route.
    pub fn tenant(&self, id: &str) -> Result<Arc<TenantContext>, RequestError> {
        let t = self.0.tenants.get(id)?;
        tracing::Span::current().record("tenant", t.id().as_str());
        Ok(t)
    }
}
