//! The admin API: JSON over HTTP, every call authorised by a bearer token
//! scoped to a node of one tenant's tree with a role.
//!
//! | route | role | what |
//! |---|---|---|
//! | `GET /{tenant}/admin/v1/whoami` | read | the token's tenant, node and role |
//! | `GET /{tenant}/admin/v1/nodes[?node=N]` | read | N (default: the token's node) and every node below, with device counts by platform and by compliance |
//! | `GET /{tenant}/admin/v1/devices[?node=N]` | read | devices at N (default: the token's node) and below, with compliance |
//! | `GET /{tenant}/admin/v1/devices/{device}` | read | one device: compliance and enrollment |
//! | `GET /{tenant}/admin/v1/devices/{device}/effective` | read | its effective policy with provenance |
//! | `POST /{tenant}/admin/v1/devices/{device}/commands` | operate | queue a command (lock, erase, restart, device information, ...) |
//! | `POST /{tenant}/admin/v1/devices/{device}/resend` | operate | queue the device's whole policy again |
//! | `POST /{tenant}/admin/v1/reconcile` | operate | plan and queue the changes under a node |
//! | `POST /{tenant}/admin/v1/enroll/challenges` | operate | a one-time enrollment challenge for a node (shown once) |
//! | `GET /{tenant}/admin/v1/audit[?node=N&after=SEQ&limit=N]` | read | journal entries about N (default: the token's node) |
//! | `GET /{tenant}/admin/v1/push/certificate` | read | the push certificate (topic, expiry, alert; never the key) and a push summary |
//! | `PUT /{tenant}/admin/v1/push/certificate` | author, at the root | replace the push certificate (409 when its topic would strand enrolled devices, unless `force`) |
//!
//! A device or node outside the token's scope answers 404, like one that
//! does not exist. Every call that changes something lands in the audit
//! journal with the token's id, node and role. The OpenAPI description is
//! `docs/admin-api.yaml`.
//!
//! The operations themselves live in one place (the `ops` module) that the
//! console ([`crate::console`]) calls too: both are clients of the same
//! facade and store calls.

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub(crate) mod auth;
mod handlers;
pub(crate) mod ops;

pub use ops::{ANDROID_COMMAND_KINDS, COMMAND_KINDS};

/// The admin routes, to merge into an app.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/admin/v1/whoami", get(handlers::whoami))
        .route("/{tenant}/admin/v1/nodes", get(handlers::nodes))
        .route("/{tenant}/admin/v1/devices", get(handlers::devices))
        .route("/{tenant}/admin/v1/devices/{device}", get(handlers::device))
        .route(
            "/{tenant}/admin/v1/devices/{device}/effective",
            get(handlers::effective),
        )
        .route(
            "/{tenant}/admin/v1/devices/{device}/commands",
            post(handlers::enqueue),
        )
        .route(
            "/{tenant}/admin/v1/devices/{device}/resend",
            post(handlers::resend),
        )
        .route("/{tenant}/admin/v1/reconcile", post(handlers::reconcile))
        .route(
            "/{tenant}/admin/v1/enroll/challenges",
            post(handlers::create_challenge),
        )
        .route("/{tenant}/admin/v1/audit", get(handlers::audit))
        .route(
            "/{tenant}/admin/v1/push/certificate",
            get(handlers::push_status).put(handlers::put_push_certificate),
        )
}
