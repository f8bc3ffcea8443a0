//! The console's pages, as maud templates: every interpolated value is
//! HTML-escaped unless written `PreEscaped`, which this file never does
//! with data.

use maud::{DOCTYPE, Markup, html};
use mdmkit::access::Role;
use mdmkit::inventory::Enrollment;
use mdmkit::policy::{EffectivePolicy, NodeId};
use mdmkit::queue::{QueueEntry, Timestamp};
use mdmkit::reconcile::{ComplianceCounts, DeviceStatus, NodeSummary};
use mdmkit::state::ComplianceState;
use serde_json::Value;

use super::i18n::{Lang, Text};
use super::paths;

/// What every signed-in page shows around its content.
pub(crate) struct Chrome<'a> {
    pub(crate) lang: Lang,
    pub(crate) tenant: &'a str,
    pub(crate) token_node: &'a NodeId,
    pub(crate) role: Role,
    pub(crate) csrf: String,
    /// The path of this page (the language switch comes back to it).
    pub(crate) here: String,
}

/// A time in UTC, rewritten by the script into the browser's zone.
fn time(t: Timestamp) -> Markup {
    let Ok(dt) =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_millis()) * 1_000_000)
    else {
        return html! { "?" };
    };
    let iso = dt
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let shown = format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute()
    );
    html! { time datetime=(iso) { (shown) } }
}

/// A journal's RFC 3339 time, the same way.
fn time_text(iso: &str) -> Markup {
    html! { time datetime=(iso) { (iso) } }
}

fn head(lang: Lang, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · " (lang.text().console) }
            link rel="stylesheet" href=(paths::asset("console.css"));
        }
    }
}

pub(crate) fn layout(c: &Chrome<'_>, title: &str, content: Markup) -> Markup {
    let t = c.lang.text();
    html! {
        (DOCTYPE)
        html lang=(c.lang.tag()) {
            (head(c.lang, title))
            body {
                a.skip href="#main" { (t.skip) }
                header.top {
                    a.brand href=(paths::node(c.tenant, c.token_node)) { (t.console) }
                    div.tools {
                        span.who { (t.signed_in_as) " " code { (c.token_node) } " (" (t.role) " " (c.role.as_str()) ")" }
                        a href=(paths::switch_lang(&c.here, c.lang.other())) lang=(c.lang.other().tag()) { (t.switch_to) }
                        form method="post" action=(paths::logout(c.tenant)) {
                            input type="hidden" name="csrf" value=(c.csrf);
                            button type="submit" { (t.sign_out) }
                        }
                    }
                }
                main #main tabindex="-1" {
                    (content)
                }
                script src=(paths::asset("console.js")) {}
            }
        }
    }
}

pub(crate) fn login(lang: Lang, csrf: &str, failed: bool, tenant: &str) -> Markup {
    let t = lang.text();
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            (head(lang, t.sign_in))
            body {
                header.top {
                    span.brand { (t.console) }
                    div.tools {
                        a href=(paths::switch_lang(paths::LOGIN, lang.other())) lang=(lang.other().tag()) { (t.switch_to) }
                    }
                }
                main #main {
                    h1 { (t.sign_in) }
                    @if failed {
                        p.notice.bad role="alert" { (t.sign_in_failed) }
                    }
                    section.card {
                        p { (t.sign_in_intro) }
                        form method="post" action=(paths::LOGIN_POST) autocomplete="off" {
                            input type="hidden" name="csrf" value=(csrf);
                            label for="tenant" { (t.tenant) }
                            input #tenant type="text" name="tenant" required value=(tenant) autocapitalize="none" spellcheck="false";
                            label for="token" { (t.token) }
                            input #token type="password" name="token" required aria-describedby="token-help";
                            p.help #token-help { (t.token_help) }
                            p { button.primary type="submit" { (t.sign_in) } }
                        }
                    }
                }
            }
        }
    }
}

/// A platform as people write it.
fn platform_name(p: mdmkit::Platform) -> &'static str {
    match p {
        mdmkit::Platform::Apple => "Apple",
        mdmkit::Platform::Windows => "Windows",
        mdmkit::Platform::Android => "Android",
        _ => "?",
    }
}

fn state_name(t: &Text, s: ComplianceState) -> &'static str {
    match s {
        ComplianceState::Verified => t.verified,
        ComplianceState::Pending => t.pending,
        ComplianceState::Sent => t.sent,
        ComplianceState::Failed => t.failed,
        _ => t.unsupported,
    }
}

fn badge(t: &Text, s: Option<ComplianceState>) -> Markup {
    match s {
        Some(s) => html! { span.badge.(s.as_str()) { (state_name(t, s)) } },
        None => html! { span.badge.unplanned { (t.unplanned) } },
    }
}

/// The five counts in one order, with their class and label.
fn parts(t: &Text, c: &ComplianceCounts) -> [(&'static str, &'static str, u64); 5] {
    [
        ("verified", t.verified, c.verified),
        ("pending", t.pending, c.pending),
        ("failed", t.failed, c.failed),
        ("unsupported", t.unsupported, c.unsupported),
        ("unplanned", t.unplanned, c.unplanned),
    ]
}

/// A stacked bar (SVG: no inline style, so the strict CSP holds) with the
/// counts as its accessible name and as text beside it.
fn bar(t: &Text, c: &ComplianceCounts) -> Markup {
    let total = c.total();
    let label = parts(t, c)
        .iter()
        .filter(|p| p.2 > 0)
        .map(|(_, name, n)| format!("{n} {name}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut x = 0.0f64;
    let mut rects = Vec::new();
    for (class, _, n) in parts(t, c) {
        if n > 0 && total > 0 {
            let w = 100.0 * n as f64 / total as f64;
            rects.push((class, format!("{x:.3}"), format!("{w:.3}")));
            x += w;
        }
    }
    html! {
        @if total == 0 {
            span.help { "—" }
        } @else {
            svg.bar viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label=(label) {
                @for (class, x, w) in &rects {
                    rect class=(class) x=(x) y="0" width=(w) height="10" {}
                }
            }
            span.help aria-hidden="true" { (label) }
        }
    }
}

fn legend(t: &Text) -> Markup {
    html! {
        ul.legend aria-label=(t.compliance) {
            @for (class, name, _) in parts(t, &ComplianceCounts::default()) {
                li { span.dot.(class) {} (name) }
            }
        }
    }
}

/// The devices listed under the tree (none when there are too many).
pub(crate) enum DeviceList {
    Listed(Vec<DeviceStatus>),
    TooMany,
}

/// A device's overall state from its categories (as the summary counts it).
fn overall(s: &DeviceStatus) -> Option<ComplianceState> {
    let rank = |s: ComplianceState| match s {
        ComplianceState::Unsupported => 0,
        ComplianceState::Verified => 1,
        ComplianceState::Sent => 2,
        ComplianceState::Pending => 3,
        _ => 4,
    };
    s.categories
        .iter()
        .map(|c| c.state)
        .max_by_key(|s| rank(*s))
}

pub(crate) struct TreePage<'a> {
    pub(crate) node: &'a NodeId,
    pub(crate) crumbs: Vec<(NodeId, Option<String>)>,
    pub(crate) nodes: &'a [NodeSummary],
    pub(crate) noncompliant: bool,
    pub(crate) devices: DeviceList,
    pub(crate) notice: Option<String>,
}

fn crumbs(c: &Chrome<'_>, items: &[(NodeId, Option<String>)], last_is_link: bool) -> Markup {
    let t = c.lang.text();
    html! {
        nav.crumbs aria-label=(t.tree) {
            ol {
                @for (i, (id, name)) in items.iter().enumerate() {
                    @let text = name.clone().unwrap_or_else(|| id.to_string());
                    @if i + 1 == items.len() && !last_is_link {
                        li { span aria-current="page" { (text) } }
                    } @else {
                        li { a href=(paths::node(c.tenant, id)) { (text) } }
                    }
                }
            }
        }
    }
}

pub(crate) fn tree(c: &Chrome<'_>, p: &TreePage<'_>) -> Markup {
    let t = c.lang.text();
    let top = p.nodes.first();
    let title = top
        .and_then(|n| n.name.clone())
        .unwrap_or_else(|| p.node.to_string());
    let base_depth = top.map_or(0, |n| n.depth);
    let here = paths::node(c.tenant, p.node);
    let content = html! {
        (crumbs(c, &p.crumbs, false))
        h1 { (title) }
        @if let Some(n) = &p.notice {
            p.notice role="status" { (n) }
        }
        @if let Some(top) = top {
            section.card aria-labelledby="summary-h" {
                h2 #summary-h { (t.compliance) }
                (bar(t, &top.compliance))
                p { (top.devices) " " (t.devices.to_lowercase()) " · "
                    @for (i, (platform, n)) in top.platforms.iter().enumerate() {
                        @if i > 0 { ", " }
                        (n) " " (platform_name(*platform))
                    }
                }
                p {
                    a href=(paths::activity(c.tenant, p.node)) { (t.activity) }
                }
                @if c.role.allows(Role::Operate) {
                    form method="post" action=(paths::reconcile(c.tenant, p.node)) {
                        input type="hidden" name="csrf" value=(c.csrf);
                        button type="submit" { (t.reconcile_node) }
                    }
                }
            }
        }
        nav.filters aria-label=(t.show) {
            a href=(here) aria-current=[(!p.noncompliant).then_some("page")] { (t.all) }
            a href=(format!("{here}?filter=noncompliant")) aria-current=[p.noncompliant.then_some("page")] { (t.not_compliant) }
        }
        section.card aria-labelledby="tree-h" {
            h2 #tree-h { (t.tree) }
            (legend(t))
            table {
                thead { tr {
                    th scope="col" { (t.node) }
                    th.hide-narrow scope="col" { (t.kind) }
                    th.num scope="col" { (t.devices) }
                    th.num scope="col" { "Apple" }
                    th.num scope="col" { "Windows" }
                    th.num scope="col" { "Android" }
                    th scope="col" { (t.compliance) }
                } }
                tbody {
                    @for n in p.nodes.iter().filter(|n| !p.noncompliant || n.compliance.noncompliant() > 0) {
                        @let depth = (n.depth - base_depth).min(5);
                        @let count = |pl: mdmkit::Platform| n.platforms.get(&pl).copied().unwrap_or(0);
                        tr {
                            th scope="row" class=(format!("depth-{depth}")) {
                                a href=(if p.noncompliant { format!("{}?filter=noncompliant", paths::node(c.tenant, &n.node)) } else { paths::node(c.tenant, &n.node) }) {
                                    (n.name.clone().unwrap_or_else(|| n.node.to_string()))
                                }
                            }
                            td.hide-narrow { (n.kind.clone().unwrap_or_default()) }
                            td.num { (n.devices) }
                            td.num { (count(mdmkit::Platform::Apple)) }
                            td.num { (count(mdmkit::Platform::Windows)) }
                            td.num { (count(mdmkit::Platform::Android)) }
                            td { (bar(t, &n.compliance)) }
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="devices-h" {
            h2 #devices-h { (t.devices) }
            @match &p.devices {
                DeviceList::TooMany => p { (t.too_many_devices) },
                DeviceList::Listed(list) => {
                    @let shown: Vec<&DeviceStatus> = list.iter().filter(|d| !p.noncompliant || !d.compliant).collect();
                    @if shown.is_empty() {
                        p { (t.no_devices) }
                    } @else {
                        table {
                            thead { tr {
                                th scope="col" { (t.device) }
                                th scope="col" { (t.platform) }
                                th.hide-narrow scope="col" { (t.node) }
                                th scope="col" { (t.state) }
                            } }
                            tbody {
                                @for d in shown {
                                    tr {
                                        th scope="row" { a href=(paths::device(c.tenant, d.device.as_str())) { code { (d.device) } } }
                                        td { (platform_name(d.platform)) }
                                        td.hide-narrow { (d.node) }
                                        td {
                                            (badge(t, overall(d)))
                                            @for cat in d.categories.iter().filter(|c| !c.state.is_compliant()) {
                                                " " span.help { (cat.category.as_str()) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(c, &title, content)
}

pub(crate) struct DevicePage<'a> {
    pub(crate) device: &'a mdmkit::policy::Device,
    pub(crate) crumbs: Vec<(NodeId, Option<String>)>,
    pub(crate) status: Option<&'a DeviceStatus>,
    pub(crate) enrollment: Option<&'a Enrollment>,
    pub(crate) effective: &'a EffectivePolicy,
    pub(crate) commands: &'a [QueueEntry],
    pub(crate) notice: Option<(bool, String)>,
    /// Whether a node (where a policy is assigned) may be linked to.
    pub(crate) covers: &'a dyn Fn(&NodeId) -> bool,
}

fn opt(t: &Text, v: Option<&str>) -> Markup {
    match v {
        Some(v) => html! { (v) },
        None => html! { span.help { (t.unknown) } },
    }
}

pub(crate) fn device(c: &Chrome<'_>, p: &DevicePage<'_>) -> Markup {
    let t = c.lang.text();
    let d = p.device;
    let e = p.enrollment;
    let id = d.id.as_str();
    let action = paths::device_action(c.tenant, id);
    let content = html! {
        (crumbs(c, &p.crumbs, true))
        h1 { (t.device) " " code { (id) } }
        @if let Some((bad, n)) = &p.notice {
            p.notice.bad[*bad] role="status" { (n) }
        }
        section.card aria-labelledby="facts-h" {
            h2 #facts-h { (t.facts) }
            dl.facts {
                dt { (t.platform) } dd { (platform_name(d.platform)) }
                dt { (t.node) } dd { a href=(paths::node(c.tenant, &d.node)) { (d.node) } }
                dt { (t.name) } dd { (opt(t, e.and_then(|e| e.device_name.as_deref()))) }
                dt { (t.model) } dd { (opt(t, d.model.as_deref().or(e.and_then(|e| e.model_name.as_deref())))) }
                dt { (t.os_version) } dd { (opt(t, d.os_version.as_deref())) }
                dt { (t.serial) } dd { (opt(t, d.serial.as_deref())) }
                dt { (t.supervised) } dd { (opt(t, d.supervised.map(|s| if s { t.yes } else { t.no }))) }
            }
        }
        section.card aria-labelledby="enr-h" {
            h2 #enr-h { (t.enrollment) }
            @match e {
                None => p { (t.not_enrolled) },
                Some(e) => dl.facts {
                    dt { (t.status) } dd { (format!("{:?}", e.status).to_lowercase()) }
                    dt { (t.enrolled_at) } dd { (time(e.enrolled_at)) }
                    dt { (t.last_check_in) } dd { (time(e.last_seen)) }
                    @if let Some(cert) = &e.certificate {
                        dt { (t.certificate_until) } dd { (time(cert.not_after)) }
                    }
                },
            }
        }
        section.card aria-labelledby="comp-h" {
            h2 #comp-h { (t.by_category) }
            @match p.status {
                Some(s) if !s.categories.is_empty() => table {
                    thead { tr {
                        th scope="col" { (t.category) }
                        th scope="col" { (t.state) }
                        th scope="col" { (t.error) }
                        th.num.hide-narrow scope="col" { (t.attempts) }
                        th.hide-narrow scope="col" { (t.updated) }
                    } }
                    tbody {
                        @for cat in &s.categories {
                            tr {
                                th scope="row" { (cat.category.as_str()) }
                                td { (badge(t, Some(cat.state))) }
                                td {
                                    @if let Some(err) = &cat.error { (err) }
                                    @if !cat.unsupported.is_empty() {
                                        p.help { (t.not_enforced) ": "
                                            @for (i, u) in cat.unsupported.iter().enumerate() {
                                                @if i > 0 { "; " }
                                                code { (u.path) } " (" (u.reason) ")"
                                            }
                                        }
                                    }
                                }
                                td.num.hide-narrow { (cat.attempts) }
                                td.hide-narrow { (time(cat.updated_at)) }
                            }
                        }
                    }
                },
                _ => p { (badge(t, None)) },
            }
        }
        section.card aria-labelledby="eff-h" {
            h2 #eff-h { (t.effective_policy) }
            table {
                thead { tr {
                    th scope="col" { (t.setting) }
                    th scope="col" { (t.value) }
                    th scope="col" { (t.set_by) }
                    th scope="col" { (t.locked_by) }
                } }
                tbody {
                    @for (path, v) in p.effective.values() {
                        @let path = path.to_string();
                        tr id=(format!("setting-{path}")) {
                            th scope="row" { code { (path) } }
                            td { code { (value_text(&v.value)) } }
                            td.provenance { (source(c, t, &v.provenance.source, p.covers)) }
                            td {
                                @match &v.provenance.locked_by {
                                    Some(l) => (source(c, t, l, p.covers)),
                                    None => span.help { (t.not_locked) },
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="cmd-h" {
            h2 #cmd-h { (t.commands) }
            @if p.commands.is_empty() {
                p { (t.no_commands) }
            } @else {
                table {
                    thead { tr {
                        th scope="col" { (t.command) }
                        th scope="col" { (t.state) }
                        th scope="col" { (t.queued_at) }
                        th.hide-narrow scope="col" { (t.updated) }
                        th.num.hide-narrow scope="col" { (t.attempts) }
                    } }
                    tbody {
                        @for q in p.commands.iter().rev() {
                            tr.command {
                                th scope="row" { (q.kind) " " span.help { code { (q.id.to_string()) } } }
                                td.state { (q.state.as_str()) }
                                td { (time(q.created_at)) }
                                td.hide-narrow { (time(q.updated_at)) }
                                td.num.hide-narrow { (q.attempts) }
                            }
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="act-h" {
            h2 #act-h { (t.actions) }
            @if !c.role.allows(Role::Operate) {
                p { (t.read_only) }
            } @else {
                @let apple = d.platform == mdmkit::Platform::Apple;
                @if !apple { p { (t.apple_only) } }
                div.actions {
                    @if apple {
                        form method="post" action=(action) {
                            input type="hidden" name="csrf" value=(c.csrf);
                            input type="hidden" name="action" value="lock";
                            label for="lock-message" { (t.lock_message) }
                            input #lock-message type="text" name="message" maxlength="200";
                            p { button #action-lock type="submit" { (t.lock) } }
                        }
                        form method="post" action=(action) {
                            input type="hidden" name="csrf" value=(c.csrf);
                            input type="hidden" name="action" value="restart";
                            button #action-restart type="submit" { (t.restart) }
                        }
                        form method="post" action=(action) {
                            input type="hidden" name="csrf" value=(c.csrf);
                            input type="hidden" name="action" value="refresh";
                            button #action-refresh type="submit" { (t.refresh) }
                        }
                    }
                    form method="post" action=(action) {
                        input type="hidden" name="csrf" value=(c.csrf);
                        input type="hidden" name="action" value="resend";
                        button #action-resend type="submit" { (t.resend) }
                    }
                    @if apple {
                        form method="post" action=(action) {
                            input type="hidden" name="csrf" value=(c.csrf);
                            input type="hidden" name="action" value="erase";
                            p.help #erase-warning { (t.erase_warning) }
                            label for="erase-confirm" { (t.erase_confirm) " (" code { (id) } ")" }
                            input #erase-confirm type="text" name="confirm" required autocomplete="off" aria-describedby="erase-warning";
                            p { button.danger #action-erase type="submit" { (t.erase) } }
                        }
                    }
                }
            }
        }
    };
    layout(c, id, content)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// "policy P at node N" with N linked when the admin may open it.
fn source(
    c: &Chrome<'_>,
    t: &Text,
    s: &mdmkit::policy::Source,
    covers: &dyn Fn(&NodeId) -> bool,
) -> Markup {
    html! {
        (t.policy) " " code.policy { (s.policy.to_string()) } " " (t.at) " "
        @match &s.scope {
            mdmkit::policy::Scope::Node(n) => {
                @if covers(n) {
                    a.scope href=(paths::node(c.tenant, n)) { (n) }
                } @else {
                    span.scope { (n) }
                }
            }
            other => span.scope { (other.to_string()) },
        }
    }
}

pub(crate) fn activity(
    c: &Chrome<'_>,
    node: &NodeId,
    crumbs_: Vec<(NodeId, Option<String>)>,
    entries: &[Value],
) -> Markup {
    let t = c.lang.text();
    let text = |e: &Value, k: &str| -> String {
        e.get("event")
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let title = format!("{} · {node}", t.activity);
    let content = html! {
        (crumbs(c, &crumbs_, true))
        h1 { (title) }
        section.card {
            @if entries.is_empty() {
                p { (t.no_activity) }
            } @else {
                table {
                    thead { tr {
                        th scope="col" { (t.when) }
                        th scope="col" { (t.event) }
                        th scope="col" { (t.what) }
                        th scope="col" { (t.who) }
                    } }
                    tbody {
                        @for e in entries {
                            @let kind = text(e, "type");
                            tr.entry {
                                td { (time_text(e.get("time").and_then(Value::as_str).unwrap_or_default())) }
                                td { code { (kind) } " "
                                    @let action = text(e, "action");
                                    @if !action.is_empty() { (action) }
                                    @let k = text(e, "kind");
                                    @if !k.is_empty() { (k) }
                                }
                                td {
                                    @let target = text(e, "target");
                                    @let device = text(e, "device");
                                    @let what = if target.is_empty() { device } else { target };
                                    code { (what) }
                                }
                                td {
                                    @let token = text(e, "token");
                                    @if !token.is_empty() {
                                        code { (token) } " (" (text(e, "node")) ", " (text(e, "role")) ")"
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(c, &title, content)
}

/// A refusal or failure, as a page of its own.
pub(crate) fn error(lang: Lang, message: &str, detail: Option<&str>) -> Markup {
    let t = lang.text();
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            (head(lang, message))
            body {
                header.top { a.brand href=(paths::LOGIN) { (t.console) } }
                main #main {
                    h1 { (message) }
                    @if let Some(d) = detail { p { code { (d) } } }
                    p { a href=(paths::LOGIN) { (t.back) } }
                }
            }
        }
    }
}
