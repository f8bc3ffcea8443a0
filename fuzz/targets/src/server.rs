//! Fuzz target bodies for mdmkit-server.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::http::{HeaderValue, Method, Request};
use base64::Engine as _;
use mdmkit_server::identity::{CertSource, parse_client_cert, presented};
use mdmkit_server::{AppState, ServerConfig, TenantContext, Tenants};
use tower::ServiceExt as _;

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[
    Target {
        name: "server_client_cert",
        body: client_cert,
    },
    Target {
        name: "server_presented",
        body: presented_certificate,
    },
    Target {
        name: "server_routing",
        body: routing,
    },
];

/// A `Client-Cert` header value (RFC 9440 byte sequence, or nginx's
/// escaped PEM) is refused with an error or decoded to non-empty DER that
/// reads back the same from its RFC 9440 form.
pub fn client_cert(data: &[u8]) {
    if let Ok(der) = parse_client_cert(data) {
        assert!(!der.is_empty());
        let again = format!(
            ":{}:",
            base64::engine::general_purpose::STANDARD.encode(&der)
        );
        if again.len() <= mdmkit_server::identity::MAX_CLIENT_CERT_HEADER {
            assert_eq!(parse_client_cert(again.as_bytes()).ok(), Some(der));
        }
    }
}

/// Splits off a field prefixed by its length (two bytes, little-endian).
fn field(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return (&[], &[]);
    };
    let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    rest.split_at(len)
}

/// The certificate a request presents, from its headers: input is a flags
/// byte (bit 0: the peer is a trusted proxy), then the `Mdm-Signature`
/// and `Client-Cert` header values (each prefixed by its length, two bytes
/// little-endian; empty: absent), then the body.
///
/// Laws: no panic; a certificate taken from `Mdm-Signature` is the signer
/// of a signature over exactly this body (the same headers with one more
/// byte of body are refused); a `Client-Cert` header is believed only from
/// a trusted proxy.
pub fn presented_certificate(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (signature, rest) = field(rest);
    let (client_cert, body) = field(rest);
    let trusted = flags & 1 == 1;
    let proxies = ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(192, 0, 2, 0), 24)
        .map(ipnet::IpNet::V4)
        .unwrap_or_default();
    let config = ServerConfig::new().trust_proxy(proxies);
    let peer: SocketAddr = if trusted {
        ([192, 0, 2, 7], 443).into()
    } else {
        ([198, 51, 100, 7], 443).into()
    };
    let parts = || {
        let mut b = Request::builder().method(Method::PUT).uri("/t/apple/mdm");
        for (name, value) in [("mdm-signature", signature), ("client-cert", client_cert)] {
            if !value.is_empty()
                && let Ok(v) = HeaderValue::from_bytes(value)
            {
                b = b.header(name, v);
            }
        }
        let mut req = b.body(()).ok()?;
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        Some(req.into_parts().0)
    };
    let Some(p) = parts() else {
        return;
    };
    let Ok(Some(found)) = presented(&p, body, &config) else {
        return;
    };
    assert!(!found.der.is_empty());
    match found.source {
        CertSource::MdmSignature => {
            let mut longer = body.to_vec();
            longer.push(b'\n');
            assert!(
                presented(&p, &longer, &config).is_err(),
                "a signature verified over two bodies"
            );
        }
        CertSource::ProxyHeader => assert!(trusted, "Client-Cert believed from anyone"),
        CertSource::Tls => panic!("no TLS certificate was given"),
        _ => {}
    }
}

/// One tenant (`t`) on the memory stores, a host routed to it, and a
/// runtime to drive the router.
// The fixture, not input: failing to build it is a broken harness, which
// must stop the fuzzer loudly rather than let every input pass.
#[allow(clippy::expect_used)]
fn router() -> &'static (tokio::runtime::Runtime, axum::Router) {
    static ROUTER: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    ROUTER.get_or_init(|| {
        use mdmkit::identity::{CaBuilder, KeyAlgorithm};
        use mdmkit::policy::Tenant;
        let id = mdmkit::TenantId::new("t").expect("a tenant id");
        let ca = CaBuilder::new(id.clone())
            .algorithm(KeyAlgorithm::P256)
            .build()
            .expect("a CA");
        let reconciler = Arc::new(mdmkit::Reconciler::new(
            Arc::new(mdmkit::queue::MemoryStore::new()) as Arc<dyn mdmkit::queue::QueueStore>,
            Arc::new(mdmkit::state::MemoryState::new()) as Arc<dyn mdmkit::state::StateStore>,
        ));
        let tenants = Tenants::new().with(TenantContext::new(
            Tenant::new(id.clone()),
            ca.verifier(),
            reconciler,
        ));
        let config = ServerConfig::new()
            .with_body_limit(64 * 1024)
            .with_host_tenant("mdm.example", id);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        (rt, mdmkit_server::router(AppState::new(tenants, config)))
    })
}

/// A whole request through the router (routing, host rewrite, extractors,
/// body limit, every handler): input is a byte choosing the method and
/// whether the host is the routed one, the path and query (length-prefixed,
/// two bytes little-endian), the `Content-Type` (length-prefixed), then
/// the body.
///
/// Laws: no panic; never a 500 (nothing here fails in the server itself);
/// never a 401 or 403 on a device route (Apple unenrolls on them).
pub fn routing(data: &[u8]) {
    const METHODS: [Method; 4] = [Method::GET, Method::PUT, Method::POST, Method::DELETE];
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let (path, rest) = field(rest);
    let (content_type, body) = field(rest);
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let host = if choice & 4 == 0 {
        "mdm.example"
    } else {
        "other.example"
    };
    let mut b = Request::builder()
        .method(METHODS[usize::from(choice & 3)].clone())
        .uri(path.as_str())
        .header("host", host);
    if !content_type.is_empty()
        && let Ok(v) = HeaderValue::from_bytes(content_type)
    {
        b = b.header("content-type", v);
    }
    let Ok(mut req) = b.body(axum::body::Body::from(body.to_vec())) else {
        return;
    };
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(SocketAddr::from((
            [127, 0, 0, 1],
            9,
        ))));
    let (rt, app) = router();
    let Ok(resp) = rt.block_on(app.clone().oneshot(req));
    let status = resp.status().as_u16();
    assert_ne!(status, 500, "{path}");
    let device_route = path
        .split(['?', '#'])
        .next()
        .is_some_and(|p| p.split('/').any(|seg| seg == "apple"));
    if device_route {
        assert!(status != 401 && status != 403, "{status} on {path}");
    }
}
