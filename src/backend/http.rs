//! [`HttpBackend`]: the [`Backend`] over HTTP with `reqwest` (rustls):
//! form-encoded requests, a timeout per request, bounded retries with
//! exponential backoff on connection failures and 5xx answers, and typed
//! errors carrying the HTTP status and the server's message.
//!
//! Connection tokens come from a [`ConnectionTokenProvider`] the integrator
//! supplies (their own backend mints them); [`UrlTokenProvider`], the
//! default, POSTs to a URL. The secret key and tokens are
//! [`Secret`]s: they go into the `Authorization` header and nowhere else —
//! not into logs, traces or `Debug` output.
//!
//! Timeouts are not retried: the request may have been applied. An image
//! download whose body is cut short is resumed from the bytes already
//! received (`Range: bytes=N-`), at most
//! [`HttpBackendConfig::download_resumes`] times.
//!
//! ```no_run
//! use readerlink::backend::{Backend, HttpBackend, HttpBackendConfig};
//! use readerlink::secret::Secret;
//!
//! # async fn run() -> Result<(), readerlink::backend::BackendError> {
//! let mut config = HttpBackendConfig::new("http://127.0.0.1:4242", Secret::new("sk_test_local"));
//! config.retries = 2;
//! let backend = HttpBackend::new(config)?;
//! let token = backend.connection_token().await?;
//! let locations = backend.list_locations().await?;
//! # let _ = (token, locations);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{
    ApiErrorBody, Backend, BackendError, CatalogAnswer, CreateLocation, Location, RegisterReader,
    RegisteredReader, Route, UpdateQuery,
};
use crate::reader::DeviceType;
use crate::secret::Secret;

/// How to reach the backend and how hard to try.
#[derive(Debug, Clone)]
pub struct HttpBackendConfig {
    /// The server's base URL, `http://127.0.0.1:4242` (no trailing slash needed).
    pub base_url: String,
    /// The secret key sent as `Authorization: Bearer`.
    pub secret_key: Secret,
    /// The longest one request may take, connection included.
    pub timeout: Duration,
    /// The longest establishing a connection may take.
    pub connect_timeout: Duration,
    /// How many times a request is retried after a connection failure or a
    /// 5xx answer (0: tried once).
    pub retries: u32,
    /// The wait before the first retry; it doubles for each next one.
    pub backoff_base: Duration,
    /// The longest wait between two tries.
    pub backoff_max: Duration,
    /// How many times an image download whose body was cut short is
    /// resumed, with a `Range` request from the bytes already received,
    /// before it fails with [`BackendError::DownloadIncomplete`].
    pub download_resumes: u32,
}

impl HttpBackendConfig {
    /// 10 s timeout, 3 retries backing off from 200 ms up to 5 s, 3
    /// resumes of a download cut short.
    pub fn new(base_url: impl Into<String>, secret_key: Secret) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            secret_key,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            retries: 3,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            download_resumes: 3,
        }
    }

    /// The wait before retry number `retry` (1 for the first).
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.backoff_base.saturating_mul(factor).min(self.backoff_max)
    }
}

/// Where connection tokens come from. An integrator's app gets them from its
/// own backend, which holds the secret key.
pub trait ConnectionTokenProvider: Send + Sync + 'static {
    /// Fetches a fresh connection token.
    fn fetch_connection_token(&self) -> BoxFuture<'_, Result<Secret, BackendError>>;
}

/// The default [`ConnectionTokenProvider`]: POSTs to a URL (with an optional
/// bearer key) and reads `{"secret": ...}` from the answer, with the same
/// timeouts and retries as [`HttpBackend`].
pub struct UrlTokenProvider {
    url: String,
    bearer: Option<Secret>,
    caller: Caller,
}

impl fmt::Debug for UrlTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlTokenProvider")
            .field("url", &self.url)
            .field("bearer", &self.bearer)
            .finish_non_exhaustive()
    }
}

impl UrlTokenProvider {
    /// POSTs to `url`, authorized with `bearer` when given; timeouts and
    /// retries from `config` (its URL and key are not used).
    pub fn new(
        url: impl Into<String>,
        bearer: Option<Secret>,
        config: &HttpBackendConfig,
    ) -> Result<Self, BackendError> {
        Ok(Self {
            url: url.into(),
            bearer,
            caller: Caller::new(config)?,
        })
    }
}

impl ConnectionTokenProvider for UrlTokenProvider {
    fn fetch_connection_token(&self) -> BoxFuture<'_, Result<Secret, BackendError>> {
        #[derive(Deserialize)]
        struct TokenBody {
            secret: Secret,
        }
        async move {
            let body: TokenBody = self
                .caller
                .call(
                    Route::ConnectionToken,
                    Method::POST,
                    &self.url,
                    self.bearer.as_ref(),
                    Some(&[]),
                    None,
                )
                .await?;
            Ok(body.secret)
        }
        .boxed()
    }
}

/// The backend over HTTP.
pub struct HttpBackend {
    config: HttpBackendConfig,
    caller: Caller,
    tokens: Arc<dyn ConnectionTokenProvider>,
}

impl fmt::Debug for HttpBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpBackend")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HttpBackend {
    /// A client whose tokens come from the backend's own
    /// `POST /v1/terminal/connection_tokens`, with the secret key.
    pub fn new(config: HttpBackendConfig) -> Result<Self, BackendError> {
        let url = format!("{}/v1/terminal/connection_tokens", config.base_url);
        let provider = UrlTokenProvider::new(url, Some(config.secret_key.clone()), &config)?;
        Self::with_token_provider(config, Arc::new(provider))
    }

    /// A client whose tokens come from `tokens`.
    pub fn with_token_provider(
        config: HttpBackendConfig,
        tokens: Arc<dyn ConnectionTokenProvider>,
    ) -> Result<Self, BackendError> {
        Ok(Self {
            caller: Caller::new(&config)?,
            config,
            tokens,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url)
    }
}

impl Backend for HttpBackend {
    fn connection_token(&self) -> BoxFuture<'_, Result<Secret, BackendError>> {
        self.tokens.fetch_connection_token()
    }

    fn location(&self, id: &str) -> BoxFuture<'_, Result<Location, BackendError>> {
        let id = id.to_owned();
        async move {
            let url = self.url(&format!("/v1/terminal/locations/{}", PathSegment(&id)));
            let missing = NotFoundContext {
                resource: "location",
                id: &id,
                param: None,
            };
            self.caller
                .call(
                    Route::GetLocation,
                    Method::GET,
                    &url,
                    Some(&self.config.secret_key),
                    None,
                    Some(missing),
                )
                .await
        }
        .boxed()
    }

    fn create_location(&self, request: CreateLocation) -> BoxFuture<'_, Result<Location, BackendError>> {
        async move {
            let url = self.url("/v1/terminal/locations");
            let form = request.to_form();
            self.caller
                .call(
                    Route::CreateLocation,
                    Method::POST,
                    &url,
                    Some(&self.config.secret_key),
                    Some(&form),
                    None,
                )
                .await
        }
        .boxed()
    }

    fn list_locations(&self) -> BoxFuture<'_, Result<Vec<Location>, BackendError>> {
        #[derive(Deserialize)]
        struct List {
            data: Vec<Location>,
        }
        async move {
            let url = self.url("/v1/terminal/locations");
            let list: List = self
                .caller
                .call(
                    Route::ListLocations,
                    Method::GET,
                    &url,
                    Some(&self.config.secret_key),
                    None,
                    None,
                )
                .await?;
            Ok(list.data)
        }
        .boxed()
    }

    fn register_reader(
        &self,
        request: RegisterReader,
    ) -> BoxFuture<'_, Result<RegisteredReader, BackendError>> {
        async move {
            let url = self.url("/v1/terminal/readers");
            let form = request.to_form();
            let missing = NotFoundContext {
                resource: "location",
                id: &request.location,
                param: Some("location"),
            };
            self.caller
                .call(
                    Route::RegisterReader,
                    Method::POST,
                    &url,
                    Some(&self.config.secret_key),
                    Some(&form),
                    Some(missing),
                )
                .await
        }
        .boxed()
    }

    fn check_update(&self, query: UpdateQuery) -> BoxFuture<'_, Result<CatalogAnswer, BackendError>> {
        async move {
            let fields =
                serde_urlencoded::to_string(query.to_form()).map_err(|e| BackendError::InvalidRequest {
                    param: None,
                    message: format!("the update query could not be encoded: {e}"),
                })?;
            let url = self.url(&format!("/v1/terminal/updates?{fields}"));
            let missing = NotFoundContext {
                resource: "location",
                id: &query.location,
                param: Some("location"),
            };
            self.caller
                .call(
                    Route::CheckUpdate,
                    Method::GET,
                    &url,
                    Some(&self.config.secret_key),
                    None,
                    Some(missing),
                )
                .await
        }
        .boxed()
    }

    fn download_update(
        &self,
        device_type: DeviceType,
        version: &str,
        from: u32,
    ) -> BoxFuture<'_, Result<Vec<u8>, BackendError>> {
        let version = version.to_owned();
        async move {
            let url = self.url(&format!(
                "/v1/terminal/updates/{}/{}/image",
                device_type.api_name(),
                PathSegment(&version)
            ));
            let id = format!("{}/{version}", device_type.api_name());
            self.caller
                .download(&url, &self.config.secret_key, &id, from)
                .await
        }
        .boxed()
    }
}

/// Percent-encodes one path segment (ids come from callers).
struct PathSegment<'a>(&'a str);

impl fmt::Display for PathSegment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

/// What a 404 `resource_missing` answer is about, for [`BackendError::NotFound`].
#[derive(Clone, Copy)]
struct NotFoundContext<'a> {
    resource: &'a str,
    id: &'a str,
    param: Option<&'a str>,
}

/// The request loop shared by the client and the token provider.
#[derive(Clone)]
struct Caller {
    client: reqwest::Client,
    config: HttpBackendConfig,
}

impl Caller {
    fn new(config: &HttpBackendConfig) -> Result<Self, BackendError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| BackendError::ConnectionFailed {
                route: "client".into(),
                attempts: 0,
                reason: format!("building the HTTP client failed: {}", error_chain(&e)),
            })?;
        Ok(Self {
            client,
            config: config.clone(),
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        route: Route,
        method: Method,
        url: &str,
        bearer: Option<&Secret>,
        form: Option<&[(String, String)]>,
        not_found: Option<NotFoundContext<'_>>,
    ) -> Result<T, BackendError> {
        let name = route.name();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut builder = self.client.request(method.clone(), url);
            if let Some(key) = bearer {
                builder = builder.bearer_auth(key.expose());
            }
            if let Some(form) = form {
                builder = builder.form(form);
            }
            let failure = match builder.send().await {
                Ok(response) => {
                    let status = response.status();
                    match response.bytes().await {
                        Ok(body) => {
                            tracing::debug!(
                                route = name,
                                attempt,
                                status = status.as_u16(),
                                "backend answered"
                            );
                            if status.is_success() {
                                return serde_json::from_slice(&body).map_err(|e| {
                                    BackendError::BadResponse {
                                        route: name.into(),
                                        reason: e.to_string(),
                                    }
                                });
                            }
                            let error = status_error(route, status, &body, attempt, not_found);
                            if !status.is_server_error() || attempt > self.config.retries {
                                return Err(error);
                            }
                            error.to_string()
                        }
                        Err(e) => self.transport_failure(route, &e, attempt)?,
                    }
                }
                Err(e) => self.transport_failure(route, &e, attempt)?,
            };
            let wait = self.config.backoff(attempt);
            tracing::warn!(route = name, attempt, reason = %failure, wait_ms = wait.as_millis() as u64, "backend request failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// Downloads an image from byte `from` on. A body cut short is resumed
    /// with `Range: bytes=N-` from the bytes received, at most
    /// `download_resumes` times; a connection failure or a 5xx before the
    /// body is retried as [`call`](Self::call) does.
    async fn download(&self, url: &str, key: &Secret, id: &str, from: u32) -> Result<Vec<u8>, BackendError> {
        let route = Route::DownloadUpdate;
        let name = route.name();
        let mut received: Vec<u8> = Vec::new();
        // The bytes there are from `from` on, once an answer said.
        let mut expected: Option<u64> = None;
        let mut resumes = 0;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let offset = from as u64 + received.len() as u64;
            let mut builder = self.client.get(url).bearer_auth(key.expose());
            if offset > 0 {
                builder = builder.header(reqwest::header::RANGE, format!("bytes={offset}-"));
            }
            let mut response = match builder.send().await {
                Ok(response) => response,
                Err(e) => {
                    let reason = self.transport_failure(route, &e, attempt)?;
                    self.wait_to_retry(route, attempt, &reason).await;
                    continue;
                }
            };
            let status = response.status();
            if status == StatusCode::RANGE_NOT_SATISFIABLE {
                let size = response
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes */"))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                return Err(BackendError::RangeNotSatisfiable {
                    id: id.to_owned(),
                    from: offset.min(u32::MAX as u64) as u32,
                    size,
                });
            }
            if !status.is_success() {
                let body = response.bytes().await.unwrap_or_default();
                let missing = NotFoundContext {
                    resource: "update",
                    id,
                    param: None,
                };
                let error = status_error(route, status, &body, attempt, Some(missing));
                if !status.is_server_error() || attempt > self.config.retries {
                    return Err(error);
                }
                self.wait_to_retry(route, attempt, &error.to_string()).await;
                continue;
            }
            attempt = 0;
            // A 200 is the whole image, whatever was asked: skip to `from`.
            let mut skip = 0;
            let length = response.content_length();
            if status == StatusCode::PARTIAL_CONTENT {
                if let Some(length) = length {
                    expected = Some(offset - from as u64 + length);
                }
            } else {
                received.clear();
                skip = from as u64;
                if let Some(length) = length {
                    expected = Some(length.saturating_sub(from as u64));
                }
            }
            let cut = loop {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        let drop = skip.min(chunk.len() as u64) as usize;
                        skip -= drop as u64;
                        received.extend_from_slice(&chunk[drop..]);
                    }
                    Ok(None) => break None,
                    Err(e) => break Some(error_chain(&e)),
                }
            };
            let whole = expected.is_none_or(|n| received.len() as u64 >= n);
            if let Some(n) = expected.filter(|n| received.len() as u64 > *n) {
                return Err(BackendError::BadResponse {
                    route: name.into(),
                    reason: format!("{} bytes where {n} were announced", received.len()),
                });
            }
            if whole && (cut.is_none() || expected.is_some()) {
                tracing::debug!(route = name, bytes = received.len(), resumes, "image downloaded");
                return Ok(received);
            }
            let reason = cut.unwrap_or_else(|| "the body ended early".into());
            if resumes >= self.config.download_resumes {
                return Err(BackendError::DownloadIncomplete {
                    route: name.into(),
                    received: received.len().min(u32::MAX as usize) as u32,
                    expected: expected.unwrap_or(0).min(u32::MAX as u64) as u32,
                    resumes,
                });
            }
            resumes += 1;
            tracing::warn!(route = name, received = received.len(), resumes, reason = %reason, "image download cut short; resuming");
        }
    }

    async fn wait_to_retry(&self, route: Route, attempt: u32, reason: &str) {
        let wait = self.config.backoff(attempt);
        tracing::warn!(route = route.name(), attempt, reason = %reason, wait_ms = wait.as_millis() as u64, "backend request failed; retrying");
        tokio::time::sleep(wait).await;
    }

    /// A request that got no (complete) answer: a timeout is final; any
    /// other failure is retried while retries are left (`Ok(reason)`).
    fn transport_failure(
        &self,
        route: Route,
        e: &reqwest::Error,
        attempt: u32,
    ) -> Result<String, BackendError> {
        if e.is_timeout() && !e.is_connect() {
            tracing::warn!(route = route.name(), attempt, "backend request timed out");
            return Err(BackendError::Timeout {
                route: route.name().into(),
                after_ms: self.config.timeout.as_millis() as u64,
            });
        }
        let reason = error_chain(e);
        if attempt > self.config.retries {
            return Err(BackendError::ConnectionFailed {
                route: route.name().into(),
                attempts: attempt,
                reason,
            });
        }
        Ok(reason)
    }
}

/// The error for a non-2xx answer: the hosted API's error shape when the body
/// has it, the start of the body otherwise.
fn status_error(
    route: Route,
    status: StatusCode,
    body: &[u8],
    attempts: u32,
    not_found: Option<NotFoundContext<'_>>,
) -> BackendError {
    let parsed = serde_json::from_slice::<ApiErrorBody>(body).ok().map(|b| b.error);
    let message = match &parsed {
        Some(e) => e.message.clone(),
        None => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    };
    let param = parsed.as_ref().and_then(|e| e.param.clone());
    match status.as_u16() {
        400 => BackendError::InvalidRequest { param, message },
        401 => BackendError::Unauthorized { message },
        404 if parsed.as_ref().and_then(|e| e.code.as_deref()) == Some("resource_missing") => match not_found
        {
            Some(context) => BackendError::NotFound {
                resource: context.resource.into(),
                id: context.id.into(),
                param: param.or(context.param.map(str::to_owned)),
            },
            None => BackendError::NotFound {
                resource: "resource".into(),
                id: String::new(),
                param,
            },
        },
        code => BackendError::Status {
            route: route.name().into(),
            status: code,
            error_type: parsed.map(|e| e.error_type),
            message,
            attempts,
        },
    }
}

/// An error and its sources, in one line ("error sending request ...:
/// connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
