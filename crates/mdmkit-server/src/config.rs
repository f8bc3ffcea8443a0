//! What an operator sets: body limit, trusted proxies, host-based routing.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use mdmkit::TenantId;

/// The default largest request body: 16 MiB, the Apple plist reader's own
/// limit (a Mac's full `InstalledApplicationList` stays well within).
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Server-wide settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The largest request body, in bytes; larger ones get a 413.
    pub body_limit: usize,
    /// Proxies whose `Client-Cert` header is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Host names that select a tenant, so devices may use URLs without
    /// the tenant in the path (`https://town-7.mdm.example/apple/checkin`).
    pub host_tenants: HashMap<String, TenantId>,
    /// Whether the console's cookies carry `Secure` (served over TLS, or
    /// behind a TLS-terminating proxy).
    pub secure_cookies: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            body_limit: DEFAULT_BODY_LIMIT,
            trusted_proxies: Vec::new(),
            host_tenants: HashMap::new(),
            secure_cookies: false,
        }
    }
}

impl ServerConfig {
    /// Default settings: 16 MiB bodies, no trusted proxy, path routing only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the body limit.
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Believes the `Client-Cert` header from addresses in `net` (the
    /// TLS-terminating proxy in front of this server).
    pub fn trust_proxy(mut self, net: IpNet) -> Self {
        self.trusted_proxies.push(net);
        self
    }

    /// Routes requests for `host` (the `Host` header, without port) to
    /// `tenant`.
    pub fn with_host_tenant(mut self, host: impl Into<String>, tenant: TenantId) -> Self {
        self.host_tenants
            .insert(host.into().to_ascii_lowercase(), tenant);
        self
    }

    /// Marks the console's cookies `Secure`: set it whenever browsers reach
    /// the server over HTTPS (`mdmkit serve` does with `--tls-cert`).
    pub fn with_secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }

    /// Whether `ip` is a trusted proxy.
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.trusted_proxies.iter().any(|n| n.contains(&ip))
    }
}

/// Parses a CIDR (`10.0.0.0/8`) or a single address (`127.0.0.1`).
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n);
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{s:?} is neither an address nor a CIDR"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_match_by_cidr_and_mapped_v4() {
        let c = ServerConfig::new()
            .trust_proxy(parse_cidr("10.1.0.0/16").unwrap_or_else(|e| panic!("{e}")));
        assert!(c.is_trusted_proxy("10.1.2.3".parse().unwrap_or_else(|e| panic!("{e}"))));
        assert!(c.is_trusted_proxy("::ffff:10.1.2.3".parse().unwrap_or_else(|e| panic!("{e}"))));
        assert!(!c.is_trusted_proxy("10.2.0.1".parse().unwrap_or_else(|e| panic!("{e}"))));
        assert!(parse_cidr("127.0.0.1").is_ok());
        assert!(parse_cidr("nope").is_err());
    }
}
