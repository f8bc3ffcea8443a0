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
    Target {
        name: "server_windows",
        body: windows,
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

/// The secret of the fixture's reusable Windows enrollment token.
pub const WINDOWS_TOKEN: &str = "fuzz-token";
/// The device the fixture enrolls, whose certificate inputs may present.
pub const WINDOWS_DEVICE: &str = "fuzz-pc";

/// One tenant (`w`) serving Windows on the memory stores, a reusable
/// enrollment token ([`WINDOWS_TOKEN`]) for its root, and [`WINDOWS_DEVICE`]
/// enrolled through the router itself: the router, the device's
/// certificate (DER) and a runtime.
// The fixture, not input: failing to build it is a broken harness.
#[allow(clippy::expect_used)]
fn windows_router() -> &'static (tokio::runtime::Runtime, axum::Router, Vec<u8>) {
    static ROUTER: OnceLock<(tokio::runtime::Runtime, axum::Router, Vec<u8>)> = OnceLock::new();
    ROUTER.get_or_init(|| {
        use mdmkit::identity::{CaBuilder, KeyAlgorithm};
        use mdmkit::policy::Tenant;
        use mdmkit::windows::enroll::{Credentials, RequestSecurityToken};
        let id = mdmkit::TenantId::new("w").expect("a tenant id");
        let ca = CaBuilder::new(id.clone())
            .algorithm(KeyAlgorithm::P256)
            .build()
            .expect("a CA");
        let state = Arc::new(mdmkit::state::MemoryState::new());
        let reconciler = Arc::new(mdmkit::Reconciler::new(
            Arc::new(mdmkit::queue::MemoryStore::new()) as Arc<dyn mdmkit::queue::QueueStore>,
            state.clone() as Arc<dyn mdmkit::state::StateStore>,
        ));
        let verifier = ca.verifier();
        let tenants = Tenants::new().with(
            TenantContext::new(Tenant::new(id.clone()), verifier, reconciler)
                .with_windows(mdmkit_server::windows::WindowsService::new(ca)),
        );
        let proxy = ipnet::IpNet::from(std::net::IpAddr::from([127, 0, 0, 1]));
        let config = ServerConfig::new()
            .with_body_limit(64 * 1024)
            .trust_proxy(proxy);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let app = mdmkit_server::router(AppState::new(tenants, config));
        let mut issued = mdmkit::challenge::issue(
            id.clone(),
            mdmkit::policy::NodeId::new("w").expect("a node id"),
            mdmkit::challenge::ChallengeOptions::default()
                .reusable()
                .with_ttl(std::time::Duration::from_secs(10 * 365 * 86_400)),
            mdmkit::queue::Clock::now(&mdmkit::queue::SystemClock),
        );
        issued.challenge.sha256 = mdmkit::challenge::digest(WINDOWS_TOKEN);
        rt.block_on(mdmkit::state::StateStore::put_challenge(
            &*state,
            &issued.challenge,
        ))
        .expect("the token is stored");
        let csr = include_bytes!("../../../crates/mdmkit-windows/tests/fixtures/enroll-csr.der");
        let rst = RequestSecurityToken::new(csr.to_vec())
            .with_context("DeviceID", WINDOWS_DEVICE)
            .with_credentials(Credentials::UsernameToken {
                username: "fuzz@example.org".into(),
                password: WINDOWS_TOKEN.into(),
            })
            .to_xml(
                "urn:uuid:0",
                "https://mdm.example/w/windows/EnrollmentServer/Enrollment.svc",
            );
        let req = Request::builder()
            .method(Method::POST)
            .uri("/w/windows/EnrollmentServer/Enrollment.svc")
            .header("host", "mdm.example")
            .body(axum::body::Body::from(rst))
            .expect("a request");
        let resp = rt.block_on(app.clone().oneshot(req)).expect("infallible");
        assert_eq!(
            resp.status().as_u16(),
            200,
            "the fixture PC does not enroll"
        );
        let body = rt
            .block_on(axum::body::to_bytes(resp.into_body(), 1 << 20))
            .expect("the enrollment answer");
        let r =
            mdmkit::windows::enroll::RequestSecurityTokenResponse::read(&body).expect("an RSTR");
        let doc = mdmkit::windows::enroll::ProvisioningDoc::read(r.provisioning_xml.as_bytes())
            .expect("a provisioning document");
        (rt, app, doc.client_cert_der)
    })
}

/// A request to a Windows endpoint of a tenant that serves Windows, with
/// one PC enrolled: input is a byte choosing the endpoint (bits 0-2:
/// discovery GET, discovery, discovery without the `windows` segment,
/// policy, enrollment, management), whether the request presents the
/// enrolled PC's certificate through the trusted proxy (bit 3), then the
/// body.
///
/// Laws: no panic; never a 401, 403 or 500; every answer of an enrollment
/// service is a 200 or a SOAP fault; the management endpoint answers 200
/// only with a SyncML message from the server to the enrolled PC.
pub fn windows(data: &[u8]) {
    const PATHS: [&str; 6] = [
        "/w/windows/EnrollmentServer/Discovery.svc",
        "/w/windows/EnrollmentServer/Discovery.svc",
        "/w/EnrollmentServer/Discovery.svc",
        "/w/windows/EnrollmentServer/Policy.svc",
        "/w/windows/EnrollmentServer/Enrollment.svc",
        "/w/windows/ManagementServer/MDM.svc",
    ];
    let Some((&choice, body)) = data.split_first() else {
        return;
    };
    let which = usize::from(choice & 7) % PATHS.len();
    let (rt, app, cert) = windows_router();
    let method = if which == 0 {
        Method::GET
    } else {
        Method::POST
    };
    let mut b = Request::builder()
        .method(method)
        .uri(PATHS[which])
        .header("host", "mdm.example");
    if choice & 8 != 0 {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert);
        b = b.header("client-cert", format!(":{b64}:"));
    }
    let Ok(mut req) = b.body(axum::body::Body::from(body.to_vec())) else {
        return;
    };
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(SocketAddr::from((
            [127, 0, 0, 1],
            9,
        ))));
    let Ok(resp) = rt.block_on(app.clone().oneshot(req));
    let status = resp.status().as_u16();
    assert!(
        ![401, 403, 500].contains(&status),
        "{status} on {}",
        PATHS[which]
    );
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let Ok(bytes) = rt.block_on(axum::body::to_bytes(resp.into_body(), 1 << 20)) else {
        return;
    };
    match which {
        0 => assert_eq!(status, 200),
        1..=4 => {
            assert!(
                content_type.starts_with("application/soap+xml"),
                "{content_type}"
            );
            if status != 200 {
                assert!(
                    mdmkit::windows::enroll::EnrollmentFault::read(&bytes).is_ok(),
                    "{status} without a SOAP fault"
                );
            }
        }
        _ => {
            if status == 200 {
                let m = mdmkit::windows::SyncMl::read(&bytes)
                    .unwrap_or_else(|e| panic!("a 200 that is not SyncML: {e}"));
                assert_eq!(m.header.target.loc_uri.as_str(), WINDOWS_DEVICE);
            }
        }
    }
}
