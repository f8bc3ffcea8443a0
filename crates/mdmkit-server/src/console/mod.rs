//! A web console for delegated administrators, served under `/console/`.
//!
//! Each level of a tenant's tree (region, group of towns, town, school,
//! class) signs in with its own scoped admin token and sees its node and
//! everything below: a tree with device counts per platform and a
//! compliance bar per node, a "not compliant" filter, each device's facts,
//! enrollment, compliance by category with the device's error, effective
//! policy with the provenance of every setting, command history, and, for
//! tokens with the operate role, actions (lock, restart, device information,
//! re-send its policy, erase with a typed confirmation, reconcile a node)
//! that land in the audit journal and show on the node's activity page.
//!
//! The console is a client of the admin API's operations (the same
//! `admin::ops` functions the JSON handlers call, so the same scope checks,
//! journaling and store queries): a node or device outside the token's
//! subtree answers 404 as in the API.
//!
//! Pages are rendered on the server ([maud](https://maud.lambda.xyz)
//! templates, escaped by default) with one small script (times in the
//! browser's zone) and one stylesheet, both embedded in the binary. English
//! and French, picked from `Accept-Language` or the switch on every page.
//!
//! Sessions: signing in with a tenant and a token sets a cookie
//! (`HttpOnly`, `SameSite=Strict`, `Secure` with
//! [`crate::ServerConfig::with_secure_cookies`]) authenticated with the
//! tenant's [`SessionKey`] ([`crate::TenantContext::with_console_key`]; a
//! tenant without one has no console). Every form carries a CSRF token
//! checked on the server. See the `session` module for why sessions hold
//! across processes and end when the token is revoked.
//!
//! | route | what |
//! |---|---|
//! | `GET /console/` | sign-in (tenant and admin token) |
//! | `POST /console/login` | opens a session |
//! | `GET /console/{tenant}/nodes/{node}[?filter=noncompliant]` | the tree from a node down, its devices |
//! | `GET /console/{tenant}/nodes/{node}/activity` | the node's audit journal entries, newest first |
//! | `POST /console/{tenant}/nodes/{node}/reconcile` | reconcile the node (operate) |
//! | `GET /console/{tenant}/devices/{device}` | one device |
//! | `POST /console/{tenant}/devices/{device}/actions` | lock, restart, refresh, resend, erase (operate) |
//! | `POST /console/{tenant}/logout` | ends the session |
//! | `GET /console/assets/{file}` | the stylesheet and the script |

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::Markup;
use mdmkit::access::Role;
use mdmkit::policy::{NodeId, Tenant};
use mdmkit::queue::{Clock as _, SystemClock};
use serde::Deserialize;

use crate::admin::auth::Admin;
use crate::admin::ops;
use crate::error::RequestError;
use crate::state::AppState;

mod i18n;
mod pages;
mod paths;
mod session;

pub use i18n::Lang;
pub use paths::PREFIX;
pub use session::{SESSION_LIFETIME, SessionKey};

use i18n::{LANG_COOKIE, cookie};
use session::Session;

/// The session cookie.
const SESSION_COOKIE: &str = "mdmkit_console";
/// The sign-in form's double-submit cookie.
const LOGIN_COOKIE: &str = "mdmkit_console_login";
/// A node's devices are listed below its tree when there are at most this
/// many (a region's are not: open a school).
pub const MAX_LISTED_DEVICES: u64 = 500;
/// The journal entries an activity page shows.
const ACTIVITY_ENTRIES: usize = 200;

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// The console's routes (under [`PREFIX`]), to merge into an app;
/// [`crate::router`] includes them.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/console",
            get(|| async { redirect(paths::LOGIN, Vec::new()) }),
        )
        .route("/console/", get(login_page))
        .route("/console/login", post(login))
        .route("/console/assets/{file}", get(asset))
        .route("/console/{tenant}", get(home))
        .route("/console/{tenant}/", get(home))
        .route("/console/{tenant}/nodes/{node}", get(tree_page))
        .route(
            "/console/{tenant}/nodes/{node}/activity",
            get(activity_page),
        )
        .route("/console/{tenant}/nodes/{node}/reconcile", post(reconcile))
        .route("/console/{tenant}/devices/{device}", get(device_page))
        .route(
            "/console/{tenant}/devices/{device}/actions",
            post(device_action),
        )
        .route("/console/{tenant}/logout", post(logout))
        .layer(axum::middleware::map_response(security_headers))
}

/// Every console answer: a strict content security policy (only this
/// origin's stylesheet and script, no inline code), no framing, no
/// caching of pages that show a fleet.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

fn cookie_header(app: &AppState, name: &str, value: &str, max_age: Option<u64>) -> String {
    let mut c = format!(
        "{name}={value}; Path={}/; HttpOnly; SameSite=Strict",
        PREFIX
    );
    if let Some(s) = max_age {
        c.push_str(&format!("; Max-Age={s}"));
    }
    if app.config().secure_cookies {
        c.push_str("; Secure");
    }
    c
}

fn with_cookies(mut r: Response, cookies: Vec<String>) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(SET_COOKIE, v);
        }
    }
    r
}

fn page(status: StatusCode, m: Markup, cookies: Vec<String>) -> Response {
    let mut r = (status, m.into_string()).into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    with_cookies(r, cookies)
}

fn redirect(to: &str, cookies: Vec<String>) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    with_cookies(r, cookies)
}

/// The language of a request, and the cookie to set when `?lang=` chose it.
fn language(app: &AppState, uri: &Uri, headers: &HeaderMap) -> (Lang, Vec<String>) {
    let chosen = uri.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("lang="))
            .and_then(Lang::parse)
    });
    match chosen {
        Some(l) => (
            l,
            vec![cookie_header(app, LANG_COOKIE, l.tag(), Some(365 * 86_400))],
        ),
        None => (Lang::of(headers), Vec::new()),
    }
}

/// A query parameter's value (the console's own, plain ASCII ones).
fn param<'a>(uri: &'a Uri, name: &str) -> Option<&'a str> {
    uri.query()?.split('&').find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v)
    })
}

/// A refusal as a page with the status the admin API would give.
fn refusal(lang: Lang, e: RequestError) -> Response {
    let t = lang.text();
    let status = e.status();
    match e {
        RequestError::Unauthorized => redirect(paths::LOGIN, Vec::new()),
        RequestError::Internal(err) => {
            let id = uuid::Uuid::new_v4().to_string();
            tracing::error!(error_id = %id, error = %err, "console request failed");
            page(
                status,
                pages::error(lang, t.server_error, Some(&id)),
                Vec::new(),
            )
        }
        RequestError::NotFound(_) | RequestError::UnknownTenant(_) => page(
            StatusCode::NOT_FOUND,
            pages::error(lang, t.not_found, None),
            Vec::new(),
        ),
        RequestError::Forbidden(_) => {
            page(status, pages::error(lang, t.forbidden, None), Vec::new())
        }
        other => {
            tracing::warn!(status = status.as_u16(), reason = %other, "console request refused");
            let detail = other.to_string();
            page(
                status,
                pages::error(lang, t.bad_request, Some(&detail)),
                Vec::new(),
            )
        }
    }
}

/// A signed-in request: the admin (token and tenant) and its session.
struct Signed {
    admin: Admin,
    session: Session,
    key: SessionKey,
    lang: Lang,
    cookies: Vec<String>,
}

impl Signed {
    fn chrome(&self, here: String) -> pages::Chrome<'_> {
        pages::Chrome {
            lang: self.lang,
            tenant: self.admin.ctx.id().as_str(),
            token_node: &self.admin.token.node,
            role: self.admin.token.role,
            csrf: self.session.csrf(&self.key),
            here,
        }
    }

    fn refuse(&self, e: RequestError) -> Response {
        refusal(self.lang, e)
    }

    /// The nodes from the token's node down to `node` (what the
    /// breadcrumbs show: nothing above the token's node).
    fn crumbs(&self, tree: &Tenant, node: &NodeId) -> Vec<(NodeId, Option<String>)> {
        tree.path_to(node)
            .map(|path| {
                path.iter()
                    .filter(|n| self.admin.covers(tree, n.id()))
                    .map(|n| (n.id().clone(), n.name().map(str::to_owned)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Reads the session of a request to `/console/{tenant}/...`; anything
/// short of a valid session for that tenant goes back to the sign-in page.
async fn signed(
    app: &AppState,
    tenant: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Signed, Response> {
    let (lang, cookies) = language(app, uri, headers);
    let to_login = || {
        redirect(
            paths::LOGIN,
            vec![cookie_header(app, SESSION_COOKIE, "", Some(0))],
        )
    };
    let Some(session) = cookie(headers, SESSION_COOKIE).and_then(|v| Session::decode(&v)) else {
        return Err(to_login());
    };
    if session.tenant != tenant {
        return Err(to_login());
    }
    let Ok(ctx) = app.tenants().get(tenant) else {
        return Err(to_login());
    };
    let Some(key) = ctx.console_key().cloned() else {
        return Err(to_login());
    };
    let token = match ctx
        .reconciler()
        .state()
        .token(ctx.id(), &session.token)
        .await
    {
        Ok(Some(t)) => t,
        Ok(None) => return Err(to_login()),
        Err(e) => return Err(refusal(lang, e.into())),
    };
    if !session.verify(&key, &token, SystemClock.now()) || !token.role.allows(Role::Read) {
        return Err(to_login());
    }
    tracing::Span::current().record("token", token.id.as_str());
    Ok(Signed {
        admin: Admin { ctx, token },
        session,
        key,
        lang,
        cookies,
    })
}

/// A form's CSRF field.
#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: Option<String>,
}

/// The refusal of a form whose CSRF token is missing or not this
/// session's; `None` when it is good.
fn csrf_refusal(s: &Signed, given: Option<&str>) -> Option<Response> {
    if given.is_some_and(|g| s.session.check_csrf(&s.key, g)) {
        None
    } else {
        tracing::warn!("console form refused: missing or wrong CSRF token");
        Some(page(
            StatusCode::FORBIDDEN,
            pages::error(s.lang, s.lang.text().csrf_refused, None),
            Vec::new(),
        ))
    }
}

/// The refusal of an action to a token without the operate role.
fn operate_refusal(s: &Signed) -> Option<Response> {
    (!s.admin.token.role.allows(Role::Operate))
        .then(|| s.refuse(RequestError::Forbidden("operate role needed".into())))
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, ty) = match file.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut r = body.into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ty));
    r.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

async fn login_page(State(app): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let (lang, mut cookies) = language(&app, &uri, &headers);
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    cookies.push(cookie_header(&app, LOGIN_COOKIE, &nonce, None));
    page(
        StatusCode::OK,
        pages::login(lang, &nonce, false, ""),
        cookies,
    )
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    token: String,
}

/// Opens a session. An unknown tenant, an unknown, revoked or wrong token,
/// an enroll-only token and a tenant without console all get the same
/// answer, so the form tells nothing about which tenants exist.
async fn login(
    State(app): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let (lang, _) = language(&app, &uri, &headers);
    let Ok(Form(form)) = form else {
        return refusal(lang, RequestError::BadAdminRequest("sign-in form".into()));
    };
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), form.csrf.as_bytes()) {
        return page(
            StatusCode::FORBIDDEN,
            pages::error(lang, lang.text().csrf_refused, None),
            Vec::new(),
        );
    }
    let tenant = form.tenant.trim();
    let failed = || {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        page(
            StatusCode::UNAUTHORIZED,
            pages::login(lang, &nonce, true, tenant),
            vec![cookie_header(&app, LOGIN_COOKIE, &nonce, None)],
        )
    };
    let Ok(ctx) = app.tenants().get(tenant) else {
        return failed();
    };
    let Some(key) = ctx.console_key().cloned() else {
        return failed();
    };
    let Some((id, secret)) = mdmkit::access::parse_bearer(form.token.trim()) else {
        return failed();
    };
    let token = match ctx.reconciler().state().token(ctx.id(), id).await {
        Ok(Some(t)) => t,
        Ok(None) => return failed(),
        Err(e) => return refusal(lang, e.into()),
    };
    if !token.verify_secret(secret) || !token.role.allows(Role::Read) {
        return failed();
    }
    let expires = SystemClock.now().plus(SESSION_LIFETIME);
    let session = Session::new(&key, &token, expires);
    tracing::info!(token = %token.id, node = %token.node, "console sign-in");
    redirect(
        &paths::node(ctx.id().as_str(), &token.node),
        vec![
            cookie_header(
                &app,
                SESSION_COOKIE,
                &session.encode(),
                Some(SESSION_LIFETIME.as_secs()),
            ),
            cookie_header(&app, LOGIN_COOKIE, "", Some(0)),
        ],
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn logout(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let s = match signed(&app, &tenant, &uri, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let csrf = form.ok().and_then(|Form(f)| f.csrf);
    if let Some(r) = csrf_refusal(&s, csrf.as_deref()) {
        return r;
    }
    redirect(
        paths::LOGIN,
        vec![cookie_header(&app, SESSION_COOKIE, "", Some(0))],
    )
}

async fn home(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match signed(&app, &tenant, &uri, &headers).await {
        Ok(s) => redirect(
            &paths::node(s.admin.ctx.id().as_str(), &s.admin.token.node),
            s.cookies,
        ),
        Err(r) => r,
    }
}

async fn tree_page(
    State(app): State<AppState>,
    Path((tenant, node)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let s = match signed(&app, &tenant, &uri, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (node, nodes) = match ops::summary(&s.admin, Some(&node)).await {
        Ok(v) => v,
        Err(e) => return s.refuse(e),
    };
    let total = nodes.first().map_or(0, |n| n.devices);
    let devices = if total <= MAX_LISTED_DEVICES {
        match ops::devices(&s.admin, Some(node.as_str())).await {
            Ok((_, list)) => pages::DeviceList::Listed(list),
            Err(e) => return s.refuse(e),
        }
    } else {
        pages::DeviceList::TooMany
    };
    let tree = s.admin.ctx.tree();
    let t = s.lang.text();
    let notice = (param(&uri, "done") == Some("reconcile")).then(|| t.reconcile_done.to_owned());
    let p = pages::TreePage {
        node: &node,
        crumbs: s.crumbs(&tree, &node),
        nodes: &nodes,
        noncompliant: param(&uri, "filter") == Some("noncompliant"),
        devices,
        notice,
    };
    let html = pages::tree(&s.chrome(paths::node(&tenant, &node)), &p);
    page(StatusCode::OK, html, s.cookies)
}

async fn activity_page(
    State(app): State<AppState>,
    Path((tenant, node)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let s = match signed(&app, &tenant, &uri, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let tree = s.admin.ctx.tree();
    let node = match s.admin.node(&tree, Some(&node)) {
        Ok(n) => n,
        Err(e) => return s.refuse(e),
    };
    let entries = match ops::audit_newest(&s.admin, Some(node.as_str()), ACTIVITY_ENTRIES).await {
        Ok(v) => v,
        Err(e) => return s.refuse(e),
    };
    let crumbs = s.crumbs(&tree, &node);
    let html = pages::activity(
        &s.chrome(paths::activity(&tenant, &node)),
        &node,
        crumbs,
        &entries,
    );
    page(StatusCode::OK, html, s.cookies)
}

async fn reconcile(
    State(app): State<AppState>,
    Path((tenant, node)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let s = match signed(&app, &tenant, &uri, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let csrf = form.ok().and_then(|Form(f)| f.csrf);
    if let Some(r) = csrf_refusal(&s, csrf.as_deref()).or_else(|| operate_refusal(&s)) {
        return r;
    }
    match ops::reconcile(&s.admin, Some(&node)).await {
        Ok((node, _)) => redirect(
            &format!("{}?done=reconcile", paths::node(&tenant, &node)),
            s.cookies,
        ),
        Err(e) => s.refuse(e),
    }
}

async fn device_page(
    State(app): State<AppState>,
    Path((tenant, device)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let s = match signed(&app, &tenant, &uri, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let id = match ops::parse_device(&device) {
        Ok(id) => id,
        Err(_) => return s.refuse(RequestError::NotFound(format!("device {device:?}"))),
    };
    let view = match ops::device(&s.admin, &id).await {
        Ok(v) => v,
        Err(e) => return s.refuse(e),
    };
    let effective = match view.tree.effective(&id) {
        Ok(mut e) => {
            // Never a secret in clear on a page (references are shown).
            e.redact_secrets();
            e
        }
        Err(e) => return s.refuse(RequestError::internal(e)),
    };
    let (commands, _) = match ops::command_history(&s.admin, &id).await {
        Ok(v) => v,
        Err(e) => return s.refuse(e),
    };
    let t = s.lang.text();
    let notice = match (param(&uri, "done"), param(&uri, "refused")) {
        (_, Some("erase-confirmation")) => Some((true, t.erase_mismatch.to_owned())),
        (Some(a), _) => action_label(t, a).map(|l| (false, format!("{} · {l}", t.queued))),
        _ => None,
    };
    let tree = view.tree.clone();
    let covers = |n: &NodeId| s.admin.covers(&tree, n);
    let p = pages::DevicePage {
        device: &view.device,
        crumbs: s.crumbs(&tree, &view.device.node),
        status: view.status.as_ref(),
        enrollment: view.enrollment.as_ref(),
        effective: &effective,
        commands: &commands,
        notice,
        covers: &covers,
    };
    let html = pages::device(&s.chrome(paths::device(&tenant, id.as_str())), &p);
    page(StatusCode::OK, html, s.cookies.clone())
}

fn action_label(t: &i18n::Text, action: &str) -> Option<&'static str> {
    Some(match action {
        "lock" => t.lock,
        "restart" => t.restart,
        "refresh" => t.refresh,
        "resend" => t.resend,
        "erase" => t.erase,
        _ => return None,
    })
}

#[derive(Debug, Deserialize)]
struct ActionForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
}

/// The longest lock-screen message accepted.
const MAX_LOCK_MESSAGE: usize = 200;

async fn device_action(
    State(app): State<AppState>,
    Path((tenant, device)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    form: Result<Form<ActionForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let s = match signed(&app, &tenant, &uri, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let form = form.ok().map(|Form(f)| f);
    if let Some(r) = csrf_refusal(&s, form.as_ref().and_then(|f| f.csrf.as_deref()))
        .or_else(|| operate_refusal(&s))
    {
        return r;
    }
    let Some(form) = form else {
        return s.refuse(RequestError::BadAdminRequest("action form".into()));
    };
    let id = match ops::parse_device(&device) {
        Ok(id) => id,
        Err(_) => return s.refuse(RequestError::NotFound(format!("device {device:?}"))),
    };
    let back = paths::device(&tenant, id.as_str());
    let kind = match form.action.as_str() {
        "lock" => "DeviceLock",
        "restart" => "RestartDevice",
        "refresh" => "DeviceInformation",
        "erase" => {
            if form.confirm.as_deref().map(str::trim) != Some(id.as_str()) {
                // Scope first: a device out of scope stays a 404.
                if let Err(e) = ops::scoped_device(&s.admin, &id).await {
                    return s.refuse(e);
                }
                return redirect(&format!("{back}?refused=erase-confirmation"), s.cookies);
            }
            "EraseDevice"
        }
        "resend" => {
            return match ops::resend(&s.admin, &id).await {
                Ok(_) => redirect(&format!("{back}?done=resend"), s.cookies),
                Err(e) => s.refuse(e),
            };
        }
        other => {
            return s.refuse(RequestError::BadAdminRequest(format!(
                "unknown action {:?}",
                other.chars().take(32).collect::<String>()
            )));
        }
    };
    let message = form
        .message
        .map(|m| m.trim().chars().take(MAX_LOCK_MESSAGE).collect::<String>())
        .filter(|m| !m.is_empty());
    let req = ops::CommandRequest {
        kind: kind.to_owned(),
        message: if kind == "DeviceLock" { message } else { None },
        ..ops::CommandRequest::default()
    };
    match ops::enqueue(&s.admin, &id, &req).await {
        Ok(_) => redirect(&format!("{back}?done={}", form.action), s.cookies),
        Err(e) => s.refuse(e),
    }
}
