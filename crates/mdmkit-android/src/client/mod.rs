//! The AMAPI HTTP client (feature `client`): the calls the reconcile loop
//! needs, with service-account OAuth (tokens cached and refreshed before
//! they expire), retries with backoff on 429, 5xx and broken connections
//! (honouring `Retry-After`), and Google's error bodies as typed errors.
//!
//! It sends the requests [`crate::api`] builds, to a configurable base
//! URL (an emulator in tests, a proxy in production), over hyper on
//! rustls with the aws-lc-rs provider and the system's trust roots.
//!
//! ```no_run
//! # async fn f() -> Result<(), mdmkit_android::client::ClientError> {
//! use mdmkit_android::client::{AmapiClient, Credentials, ServiceAccountKey};
//! use mdmkit_android::names::DeviceName;
//!
//! let key = ServiceAccountKey::parse(&std::fs::read("sa-key.json").unwrap_or_default())?;
//! let client = AmapiClient::builder(Credentials::ServiceAccount(key)).build()?;
//! let device = client.get_device(&DeviceName::parse("enterprises/LC01/devices/3a1b")?).await?;
//! println!("{:?}", device.applied_policy_version);
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::{self, ApiRequest};
use crate::command::DeviceCommand;
use crate::enrollment::EnrollmentTokenRequest;
use crate::model::{Device, EnrollmentToken, ListDevicesResponse, Operation, Policy};
use crate::names::{DeviceName, EnrollmentTokenName, EnterpriseName, OperationName, PolicyName};

mod auth;
mod error;
mod http;
mod push;
mod retry;

pub use auth::{Credentials, GOOGLE_TOKEN_URL, MAX_KEY_FILE, ServiceAccountKey};
pub use error::ClientError;
pub use push::{PushAuthError, PushVerifier};
pub use retry::{RetryPolicy, parse_retry_after, retryable};

/// The largest answer read from Google.
pub const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// How the client waits between attempts (tests record the delays
/// instead of sleeping).
pub type Sleep = Arc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Settings of an [`AmapiClient`].
pub struct ClientBuilder {
    credentials: Credentials,
    base_url: String,
    token_url: Option<String>,
    retry: RetryPolicy,
    timeout: Duration,
    refresh_before: Duration,
    sleep: Option<Sleep>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("token_url", &self.token_url)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Serves AMAPI from `url` (default [`api::BASE_URL`]); the paths
    /// `v1/enterprises/...` are appended.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        let mut u = url.into();
        if !u.ends_with('/') {
            u.push('/');
        }
        self.base_url = u;
        self
    }

    /// Asks this OAuth token endpoint (default: the key's `token_uri`, else
    /// [`GOOGLE_TOKEN_URL`]).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the timeout of one request (default 30 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Refreshes the access token this long before it expires (default
    /// five minutes).
    pub fn refresh_before(mut self, d: Duration) -> Self {
        self.refresh_before = d;
        self
    }

    /// Waits with this function instead of `tokio::time::sleep`.
    pub fn sleep_with(mut self, sleep: Sleep) -> Self {
        self.sleep = Some(sleep);
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<AmapiClient, ClientError> {
        for u in std::iter::once(&self.base_url).chain(self.token_url.as_ref()) {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(ClientError::Config(format!("{u:?} is not an http(s) URL")));
            }
        }
        let http = http::Http::new(self.timeout)?;
        let token_url = self
            .token_url
            .clone()
            .unwrap_or_else(|| match &self.credentials {
                Credentials::ServiceAccount(k) => k
                    .token_uri
                    .clone()
                    .unwrap_or_else(|| GOOGLE_TOKEN_URL.to_owned()),
                _ => GOOGLE_TOKEN_URL.to_owned(),
            });
        let sleep = self.sleep.unwrap_or_else(|| {
            Arc::new(|d| {
                Box::pin(tokio::time::sleep(d)) as Pin<Box<dyn Future<Output = ()> + Send>>
            })
        });
        Ok(AmapiClient {
            http,
            credentials: self.credentials,
            base_url: self.base_url,
            token_url,
            retry: self.retry,
            refresh_before: self.refresh_before,
            sleep,
            token: tokio::sync::Mutex::new(None),
        })
    }
}

/// A client of one Google project's AMAPI access (any enterprise its
/// service account manages). Cheap to share behind an `Arc`.
pub struct AmapiClient {
    http: http::Http,
    credentials: Credentials,
    base_url: String,
    token_url: String,
    retry: RetryPolicy,
    refresh_before: Duration,
    sleep: Sleep,
    token: tokio::sync::Mutex<Option<auth::Cached>>,
}

impl std::fmt::Debug for AmapiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmapiClient")
            .field("base_url", &self.base_url)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

/// What one attempt came to.
enum Attempt {
    Done(Vec<u8>),
    Retry(ClientError, Option<Duration>),
    Fail(ClientError),
}

impl AmapiClient {
    /// A builder with Google's URLs, the default retry policy and 30 s
    /// timeouts.
    pub fn builder(credentials: Credentials) -> ClientBuilder {
        ClientBuilder {
            credentials,
            base_url: api::BASE_URL.to_owned(),
            token_url: None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            refresh_before: Duration::from_secs(300),
            sleep: None,
        }
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `policies.patch`: the whole policy (no mask: the policy is replaced,
    /// so a setting removed from it is removed on the devices) or the
    /// fields of `update_mask`. Answers with the `Policy` and its version.
    pub async fn patch_policy(
        &self,
        name: &PolicyName,
        policy: &Policy,
        update_mask: Option<&[&str]>,
    ) -> Result<Policy, ClientError> {
        let req = api::patch_policy(name, policy, update_mask)?;
        self.call(req, name.as_str(), crate::parse::policy).await
    }

    /// `policies.get`: the policy as Google holds it, `None` when it does
    /// not exist.
    pub async fn get_policy(&self, name: &PolicyName) -> Result<Option<Policy>, ClientError> {
        match self
            .call(api::get_policy(name), name.as_str(), crate::parse::policy)
            .await
        {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `devices.get`.
    pub async fn get_device(&self, name: &DeviceName) -> Result<Device, ClientError> {
        self.call(api::get_device(name), name.as_str(), crate::parse::device)
            .await
    }

    /// `devices.list`, one page.
    pub async fn list_devices(
        &self,
        enterprise: &EnterpriseName,
        page_size: Option<u32>,
        page_token: Option<&str>,
    ) -> Result<ListDevicesResponse, ClientError> {
        let req = api::list_devices(enterprise, page_size, page_token);
        self.call(req, enterprise.as_str(), crate::parse::from_slice)
            .await
    }

    /// `devices.patch` of the fields in `update_mask`.
    pub async fn patch_device(
        &self,
        name: &DeviceName,
        device: &Device,
        update_mask: &[&str],
    ) -> Result<Device, ClientError> {
        let req = api::patch_device(name, device, update_mask)?;
        self.call(req, name.as_str(), crate::parse::device).await
    }

    /// Points a device at a policy (`devices.patch` with
    /// `updateMask=policyName`).
    pub async fn set_device_policy(
        &self,
        name: &DeviceName,
        policy: &PolicyName,
    ) -> Result<Device, ClientError> {
        let body = Device {
            policy_name: Some(policy.to_string()),
            ..Device::default()
        };
        self.patch_device(name, &body, &["policyName"]).await
    }

    /// `devices.issueCommand`: the `Operation` that tracks it.
    pub async fn issue_command(
        &self,
        name: &DeviceName,
        command: &DeviceCommand,
        expires_after: Option<Duration>,
    ) -> Result<Operation, ClientError> {
        let req = api::issue_command(name, command, expires_after)?;
        self.call(req, name.as_str(), crate::parse::operation).await
    }

    /// `operations.get`.
    pub async fn get_operation(&self, name: &OperationName) -> Result<Operation, ClientError> {
        self.call(
            api::get_operation(name),
            name.as_str(),
            crate::parse::operation,
        )
        .await
    }

    /// `enrollmentTokens.create`.
    pub async fn create_enrollment_token(
        &self,
        enterprise: &EnterpriseName,
        request: &EnrollmentTokenRequest,
    ) -> Result<EnrollmentToken, ClientError> {
        let req = api::create_enrollment_token(enterprise, request)?;
        self.call(req, enterprise.as_str(), crate::parse::enrollment_token)
            .await
    }

    /// `enrollmentTokens.delete`.
    pub async fn delete_enrollment_token(
        &self,
        name: &EnrollmentTokenName,
    ) -> Result<(), ClientError> {
        let req = api::delete_enrollment_token(name);
        self.call(req, name.as_str(), |_| Ok(())).await
    }

    /// Sends a request with retries and reads the answer with `parse`.
    async fn call<T>(
        &self,
        req: ApiRequest,
        path: &str,
        parse: impl Fn(&[u8]) -> Result<T, crate::Error>,
    ) -> Result<T, ClientError> {
        let body = self.send(&req, path).await?;
        parse(&body).map_err(|source| ClientError::Decode {
            path: path.to_owned(),
            source,
        })
    }

    /// The URL of a request on the configured base.
    fn url(&self, req: &ApiRequest) -> String {
        match req.url.strip_prefix(api::BASE_URL) {
            Some(rest) => format!("{}{rest}", self.base_url),
            None => req.url.clone(),
        }
    }

    async fn send(&self, req: &ApiRequest, path: &str) -> Result<Vec<u8>, ClientError> {
        let mut attempt = 0u32;
        let mut token_retried = false;
        loop {
            attempt += 1;
            let outcome = self.attempt(req, path, &mut token_retried).await?;
            let (err, retry_after) = match outcome {
                Attempt::Done(b) => return Ok(b),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(e, ra) => (e, ra),
            };
            if attempt >= self.retry.max_attempts {
                return Err(ClientError::Exhausted {
                    attempts: attempt,
                    last: Box::new(err),
                });
            }
            let delay = self.retry.delay(attempt, retry_after, jitter());
            (self.sleep)(delay).await;
        }
    }

    async fn attempt(
        &self,
        req: &ApiRequest,
        path: &str,
        token_retried: &mut bool,
    ) -> Result<Attempt, ClientError> {
        let method = req.method.as_str();
        let token = self.access_token().await?;
        let auth = format!("Bearer {token}");
        let mut headers = vec![("authorization", auth.as_str())];
        if req.body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let answer = match self
            .http
            .send(
                method,
                &self.url(req),
                &headers,
                req.body.clone(),
                MAX_ANSWER,
            )
            .await
        {
            Ok(a) => a,
            Err(http::Failure::Transport(message)) => {
                return Ok(Attempt::Retry(
                    ClientError::Transport {
                        method,
                        path: path.to_owned(),
                        message,
                    },
                    None,
                ));
            }
            Err(http::Failure::TooLarge) => {
                return Err(ClientError::TooLarge {
                    path: path.to_owned(),
                    limit: MAX_ANSWER,
                });
            }
            Err(http::Failure::Request(m)) => return Err(ClientError::Config(m)),
        };
        let (status, body) = (answer.status, answer.body);
        if (200..300).contains(&status) {
            return Ok(Attempt::Done(body));
        }
        let err = ClientError::Api {
            method,
            path: path.to_owned(),
            status,
            error: crate::remedy::ApiError::parse(&body).ok().map(Box::new),
            excerpt: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        };
        if status == 401
            && !*token_retried
            && matches!(self.credentials, Credentials::ServiceAccount(_))
        {
            // A revoked or rotated token: fetch a new one, once.
            *token_retried = true;
            *self.token.lock().await = None;
            return Ok(Attempt::Retry(err, Some(Duration::ZERO)));
        }
        if retryable(status) {
            return Ok(Attempt::Retry(err, answer.retry_after));
        }
        Ok(Attempt::Fail(err))
    }

    /// The cached access token, or a new one when it is due for refresh.
    async fn access_token(&self) -> Result<String, ClientError> {
        let key = match &self.credentials {
            Credentials::AccessToken(t) => return Ok(t.clone()),
            Credentials::ServiceAccount(k) => k,
        };
        let mut cached = self.token.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let mut attempt = 0u32;
        let fresh = loop {
            attempt += 1;
            match self.grant(key).await {
                Ok(c) => break c,
                Err((e, ra)) if e.is_transient() && attempt < self.retry.max_attempts => {
                    let delay = self.retry.delay(attempt, ra, jitter());
                    (self.sleep)(delay).await;
                }
                Err((e, _)) => return Err(e),
            }
        };
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// One JWT bearer grant.
    async fn grant(
        &self,
        key: &ServiceAccountKey,
    ) -> Result<auth::Cached, (ClientError, Option<Duration>)> {
        let assertion = key
            .assertion(api::OAUTH_SCOPE, &self.token_url, auth::unix_now())
            .map_err(|e| (e, None))?;
        let answer = self
            .http
            .send(
                "POST",
                &self.token_url,
                &[("content-type", "application/x-www-form-urlencoded")],
                Some(auth::grant_form(&assertion).into_bytes()),
                64 * 1024,
            )
            .await
            .map_err(|f| {
                let message = match f {
                    http::Failure::Transport(m) | http::Failure::Request(m) => m,
                    http::Failure::TooLarge => "answer too large".into(),
                };
                (
                    ClientError::Transport {
                        method: "POST",
                        path: self.token_url.clone(),
                        message,
                    },
                    None,
                )
            })?;
        if !(200..300).contains(&answer.status) {
            let body = &answer.body;
            return Err((
                ClientError::Token {
                    status: answer.status,
                    body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
                },
                answer.retry_after,
            ));
        }
        auth::read_token_answer(&answer.body, Instant::now(), self.refresh_before)
            .map_err(|e| (e, None))
    }
}

/// A jitter fraction from the system's random source.
fn jitter() -> f64 {
    let mut b = [0u8; 2];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
}
