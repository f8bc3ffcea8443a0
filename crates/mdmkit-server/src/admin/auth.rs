//! Bearer tokens scoped to a node of one tenant's tree.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use mdmkit::access::{self, AdminToken, Role};
use mdmkit::audit::Event;
use mdmkit::policy::{NodeId, Tenant};

use crate::error::RequestError;
use crate::state::AppState;
use crate::tenant::TenantContext;

/// An authorised admin request: the tenant and the token's scope.
pub(crate) struct Admin {
    pub(crate) ctx: Arc<TenantContext>,
    pub(crate) token: AdminToken,
}

impl Admin {
    /// Whether `node` is the token's node or below it.
    pub(crate) fn covers(&self, tree: &Tenant, node: &NodeId) -> bool {
        access::covers(tree, &self.token.node, node)
    }

    /// The node a request names (`None`: the token's own), refused
    /// unless the token covers it.
    pub(crate) fn node(&self, tree: &Tenant, named: Option<&str>) -> Result<NodeId, RequestError> {
        let node = match named {
            Some(n) => n
                .parse()
                .map_err(|e| RequestError::BadAdminRequest(format!("node {n:?}: {e}")))?,
            None => self.token.node.clone(),
        };
        self.check_node(tree, &node)?;
        Ok(node)
    }

    /// Journals an action of this token (before it is carried out, so
    /// nothing is done without a record).
    pub(crate) async fn record(&self, action: String, target: String) -> Result<(), RequestError> {
        self.ctx
            .record(vec![Event::AdminAction {
                tenant: self.ctx.id().clone(),
                token: self.token.id.clone(),
                node: self.token.node.clone(),
                role: self.token.role,
                action,
                target: Some(target),
            }])
            .await
    }

    /// Refuses a node outside the token's scope (as unknown: a token does
    /// not learn what exists beside its node).
    pub(crate) fn check_node(&self, tree: &Tenant, node: &NodeId) -> Result<(), RequestError> {
        if self.covers(tree, node) {
            Ok(())
        } else {
            Err(RequestError::NotFound(format!("node {node}")))
        }
    }
}

/// Checks the request's bearer token for `tenant` and the role `needed`.
///
/// A token is looked up by its id in its own tenant's store only: a token
/// of another tenant is unknown here. An unknown tenant answers like an
/// unknown token (401), so the admin API does not tell which tenants a
/// deployment serves.
pub(crate) async fn authorize(
    app: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    needed: Role,
) -> Result<Admin, RequestError> {
    let ctx = app.tenant(tenant).map_err(|e| match e {
        RequestError::UnknownTenant(_) => RequestError::Unauthorized,
        other => other,
    })?;
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(RequestError::Unauthorized)?;
    let (id, secret) = access::parse_bearer(bearer.trim()).ok_or(RequestError::Unauthorized)?;
    let token = ctx
        .reconciler()
        .state()
        .token(ctx.id(), id)
        .await?
        .ok_or(RequestError::Unauthorized)?;
    if !token.verify_secret(secret) {
        return Err(RequestError::Unauthorized);
    }
    if !token.role.allows(needed) {
        return Err(RequestError::Forbidden(format!(
            "role {} does not allow {} actions",
            token.role.as_str(),
            needed.as_str()
        )));
    }
    let span = tracing::Span::current();
    span.record("token", token.id.as_str());
    Ok(Admin { ctx, token })
}
