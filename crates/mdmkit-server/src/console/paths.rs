//! The console's URLs, built in one place (path segments percent-encoded).

use mdmkit::policy::NodeId;

use super::i18n::Lang;

/// Where the console is mounted.
pub const PREFIX: &str = "/console";
/// The sign-in page.
pub(crate) const LOGIN: &str = "/console/";
/// Where the sign-in form posts.
pub(crate) const LOGIN_POST: &str = "/console/login";

/// A path segment, percent-encoded (everything but RFC 3986's unreserved
/// characters).
pub(crate) fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn asset(name: &str) -> String {
    format!("{PREFIX}/assets/{name}")
}

pub(crate) fn node(tenant: &str, node: &NodeId) -> String {
    format!("{PREFIX}/{}/nodes/{}", seg(tenant), seg(node.as_str()))
}

pub(crate) fn activity(tenant: &str, node: &NodeId) -> String {
    format!("{}/activity", self::node(tenant, node))
}

pub(crate) fn reconcile(tenant: &str, node: &NodeId) -> String {
    format!("{}/reconcile", self::node(tenant, node))
}

pub(crate) fn device(tenant: &str, device: &str) -> String {
    format!("{PREFIX}/{}/devices/{}", seg(tenant), seg(device))
}

pub(crate) fn device_action(tenant: &str, device: &str) -> String {
    format!("{}/actions", self::device(tenant, device))
}

pub(crate) fn logout(tenant: &str) -> String {
    format!("{PREFIX}/{}/logout", seg(tenant))
}

/// This page in the other language (`?lang=` sets the cookie).
pub(crate) fn switch_lang(here: &str, to: Lang) -> String {
    format!("{here}?lang={}", to.tag())
}
