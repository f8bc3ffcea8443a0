//! The HTTP layer of the client: hyper-util's pooled client over
//! hyper-rustls, with the aws-lc-rs provider and the system's trust
//! roots, a timeout per request and a size limit per answer.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::ClientError;
use super::retry::parse_retry_after;

/// What came back.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body: Vec<u8>,
}

/// Why nothing (usable) came back.
pub(crate) enum Failure {
    /// Connection refused, reset, TLS, timeout: worth another attempt.
    Transport(String),
    /// The answer is larger than the limit.
    TooLarge,
    /// The request could not be built (a bad URL).
    Request(String),
}

/// A pooled HTTP/1.1 and HTTP/2 client.
#[derive(Clone)]
pub(crate) struct Http {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl Http {
    pub(crate) fn new(timeout: Duration) -> Result<Self, ClientError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(c);
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        Ok(Self {
            inner: Client::builder(TokioExecutor::new()).build(https),
            timeout,
        })
    }

    /// Sends a request and reads at most `limit` bytes of its answer,
    /// all within the timeout.
    pub(crate) async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
        limit: usize,
    ) -> Result<Answer, Failure> {
        let mut b = hyper::Request::builder().method(method).uri(url).header(
            hyper::header::USER_AGENT,
            concat!("mdmkit/", env!("CARGO_PKG_VERSION")),
        );
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Failure::Request(e.to_string()))?;
        let work = async {
            let resp = self
                .inner
                .request(req)
                .await
                .map_err(|e| Failure::Transport(chain(&e)))?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(hyper::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let body = Limited::new(resp.into_body(), limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        Failure::TooLarge
                    } else {
                        Failure::Transport(e.to_string())
                    }
                })?
                .to_bytes()
                .to_vec();
            Ok(Answer {
                status,
                retry_after,
                body,
            })
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(Failure::Transport(format!(
                    "no answer within {:?}",
                    self.timeout
                )))
            })
    }
}

/// An error with its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
