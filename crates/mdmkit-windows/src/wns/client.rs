//! The WNS client (feature `wns`): an access token by the
//! client-credentials grant (cached until shortly before it expires,
//! refreshed once on a 401), then `POST <channel URI>` with
//! `X-WNS-Type: wns/raw`.
//!
//! Channel URIs come from devices, so the client only sends its access
//! token to hosts under `notify.windows.com` (over HTTPS): a device cannot
//! make the server hand its token to someone else. Tests allow the
//! emulator's host explicitly ([`WnsConfig::allow_host`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::WnsOutcome;

/// Why a client cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WnsError {
    /// The TLS configuration was refused.
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// The app's credentials and where to use them.
#[derive(Clone)]
pub struct WnsConfig {
    token_url: String,
    client_id: String,
    client_secret: String,
    scope: String,
    hosts: Vec<String>,
    allow_http: bool,
    timeout: Duration,
    max_in_flight: usize,
}

impl std::fmt::Debug for WnsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WnsConfig")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl WnsConfig {
    /// Microsoft Entra ID's token endpoint of `directory` (a tenant id
    /// or `common`) with the app's id and secret, scope
    /// `https://wns.windows.com/.default`; channels under
    /// `notify.windows.com`.
    pub fn new(
        directory: &str,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            token_url: format!("https://login.microsoftonline.com/{directory}/oauth2/v2.0/token"),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scope: "https://wns.windows.com/.default".into(),
            hosts: vec!["notify.windows.com".into()],
            allow_http: false,
            timeout: Duration::from_secs(30),
            max_in_flight: 100,
        }
    }

    /// Another token endpoint (an emulator's).
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self
    }

    /// Also accepts channel URIs on this host (and its subdomains), and,
    /// when `http` is set, over plain HTTP: for an emulator on loopback.
    #[must_use]
    pub fn allow_host(mut self, host: impl Into<String>, http: bool) -> Self {
        self.hosts.push(host.into().to_ascii_lowercase());
        self.allow_http |= http;
        self
    }

    /// The time allowed per request.
    #[must_use]
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Whether a channel URI may be sent the access token.
    pub fn channel_allowed(&self, uri: &str) -> bool {
        let rest = if let Some(r) = uri.strip_prefix("https://") {
            r
        } else if let (true, Some(r)) = (self.allow_http, uri.strip_prefix("http://")) {
            r
        } else {
            return false;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return false;
        }
        let host = authority
            .rsplit_once(':')
            .map_or(authority, |(h, _)| h)
            .to_ascii_lowercase();
        self.hosts
            .iter()
            .any(|h| host == *h || host.ends_with(&format!(".{h}")))
    }
}

/// A cached access token.
struct Token {
    value: String,
    until: Instant,
}

/// A WNS client. Cheap to clone.
#[derive(Clone)]
pub struct WnsClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    config: Arc<WnsConfig>,
    token: Arc<tokio::sync::Mutex<Option<Token>>>,
    limit: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for WnsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WnsClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl WnsClient {
    /// A client with these credentials; trust from the system's roots.
    pub fn new(config: WnsConfig) -> Result<Self, WnsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(c);
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| WnsError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let limit = Arc::new(tokio::sync::Semaphore::new(config.max_in_flight.max(1)));
        Ok(Self {
            http: Client::builder(TokioExecutor::new()).build(https),
            config: Arc::new(config),
            token: Arc::new(tokio::sync::Mutex::new(None)),
            limit,
        })
    }

    async fn send(
        &self,
        req: hyper::Request<Full<Bytes>>,
    ) -> Result<(u16, Option<Duration>, Bytes), String> {
        let work = async {
            let resp = self.http.request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = Limited::new(resp.into_body(), 64 * 1024)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok((status, retry_after, body))
        };
        tokio::time::timeout(self.config.timeout, work)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {:?}", self.config.timeout)))
    }

    /// The access token, fetched when there is none or it is about to
    /// expire (or `fresh`).
    async fn access_token(&self, fresh: bool) -> Result<String, WnsOutcome> {
        let mut cached = self.token.lock().await;
        if !fresh && let Some(t) = cached.as_ref().filter(|t| t.until > Instant::now()) {
            return Ok(t.value.clone());
        }
        let c = &self.config;
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope={}",
            form_encode(&c.client_id),
            form_encode(&c.client_secret),
            form_encode(&c.scope)
        );
        let req = hyper::Request::builder()
            .method("POST")
            .uri(&c.token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form)))
            .map_err(|e| WnsOutcome::Rejected {
                status: 0,
                detail: Some(format!("token request: {e}")),
            })?;
        let (status, retry_after, body) = self.send(req).await.map_err(|e| WnsOutcome::Retry {
            status: 0,
            retry_after: None,
            detail: Some(format!("token endpoint: {e}")),
        })?;
        if status != 200 {
            return Err(match status {
                400 | 401 | 403 => WnsOutcome::Credentials {
                    status,
                    detail: serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v["error"].as_str().map(str::to_owned)),
                },
                _ => WnsOutcome::Retry {
                    status,
                    retry_after,
                    detail: Some("token endpoint".into()),
                },
            });
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let a: Answer = serde_json::from_slice(&body).map_err(|e| WnsOutcome::Credentials {
            status,
            detail: Some(format!("token answer: {e}")),
        })?;
        let life = Duration::from_secs(a.expires_in.unwrap_or(3600));
        *cached = Some(Token {
            value: a.access_token.clone(),
            // Renewed a minute early (or at half-life for short ones).
            until: Instant::now() + life.saturating_sub(Duration::from_secs(60)).max(life / 2),
        });
        Ok(a.access_token)
    }

    /// Sends a raw notification to one channel.
    pub async fn notify(&self, channel_uri: &str) -> WnsOutcome {
        if !self.config.channel_allowed(channel_uri) {
            return WnsOutcome::Rejected {
                status: 0,
                detail: Some("the channel URI is not a WNS host".into()),
            };
        }
        let Ok(_permit) = self.limit.acquire().await else {
            return WnsOutcome::Retry {
                status: 0,
                retry_after: None,
                detail: Some("closed".into()),
            };
        };
        let mut fresh = false;
        loop {
            let token = match self.access_token(fresh).await {
                Ok(t) => t,
                Err(o) => return o,
            };
            let req = match hyper::Request::builder()
                .method("POST")
                .uri(channel_uri)
                .header("authorization", format!("Bearer {token}"))
                .header("x-wns-type", "wns/raw")
                .header("content-type", "application/octet-stream")
                .body(Full::new(Bytes::from_static(b"mdm")))
            {
                Ok(r) => r,
                Err(e) => {
                    return WnsOutcome::Rejected {
                        status: 0,
                        detail: Some(e.to_string()),
                    };
                }
            };
            let (status, retry_after, _) = match self.send(req).await {
                Ok(a) => a,
                Err(e) => {
                    return WnsOutcome::Retry {
                        status: 0,
                        retry_after: None,
                        detail: Some(e),
                    };
                }
            };
            // A 401 once: the token expired early; fetch another.
            if status == 401 && !fresh {
                fresh = true;
                continue;
            }
            return WnsOutcome::from_status(status, retry_after);
        }
    }

    /// Notifies many channels concurrently; outcomes in order.
    pub async fn notify_all(&self, channels: Vec<String>) -> Vec<WnsOutcome> {
        let mut set = tokio::task::JoinSet::new();
        let n = channels.len();
        for (i, c) in channels.into_iter().enumerate() {
            let me = self.clone();
            set.spawn(async move { (i, me.notify(&c).await) });
        }
        let mut out: Vec<Option<WnsOutcome>> = vec![None; n];
        while let Some(r) = set.join_next().await {
            if let Ok((i, o)) = r
                && let Some(slot) = out.get_mut(i)
            {
                *slot = Some(o);
            }
        }
        out.into_iter()
            .map(|o| {
                o.unwrap_or(WnsOutcome::Retry {
                    status: 0,
                    retry_after: None,
                    detail: Some("the task failed".into()),
                })
            })
            .collect()
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_wns_hosts_get_the_token() {
        let c = WnsConfig::new("common", "id", "secret");
        assert!(c.channel_allowed("https://db5p.notify.windows.com/?token=AwYAAA"));
        assert!(!c.channel_allowed("http://db5p.notify.windows.com/?token=A"));
        assert!(!c.channel_allowed("https://evil.example/?x=.notify.windows.com"));
        assert!(!c.channel_allowed("https://notify.windows.com.evil.example/"));
        assert!(!c.channel_allowed("https://user@x.notify.windows.com/"));
        let t = c.allow_host("127.0.0.1", true);
        assert!(t.channel_allowed("http://127.0.0.1:8080/channel/1"));
        assert_eq!(form_encode("a b&c"), "a+b%26c");
    }
}
