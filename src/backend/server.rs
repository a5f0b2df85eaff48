//! The local backend server: `actix-web` as a thin HTTP adapter over
//! [`BackendCore`], with the hosted API's paths, form-encoded bodies, error
//! shape (`{"error": {type, code, message, param}}`) and bearer auth with a
//! secret key. [`FaultInjector`] faults apply to every route: a failure is a
//! 500 `api_error`, a down server answers 503, and an image's body can be
//! cut short ([`FaultInjector::cut_next_bodies`]).
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/terminal/connection_tokens` (`location`?) | `{object: "terminal.connection_token", secret}` |
//! | `POST /v1/terminal/locations` (`display_name`, `address[line1]`, `address[country]`, ...) | `{object: "terminal.location", id, display_name, address}` |
//! | `GET /v1/terminal/locations/{id}` | the location, or 404 `resource_missing` |
//! | `GET /v1/terminal/locations` | `{object: "list", data: [...], has_more: false, url}` |
//! | `POST /v1/terminal/readers` (`registration_code` or `serial_number` + `device_type`, `location`, `label`?) | `{object: "terminal.reader", id, serial_number, device_type, location, label}` |
//! | `GET /v1/terminal/updates?location=&serial_number=&device_type=&software_version=` | the update catalog's answer `{update, last_latest_run_at}` ([`super::CatalogAnswer`]), or 404 `resource_missing` for an unknown location |
//! | `GET /v1/terminal/updates/{device_type}/{version}/image` (`Range: bytes=N-`?) | the image bytes: 200 whole, 206 from byte N (with `Content-Range`), 416 `range_not_satisfiable` from past its end, 404 `resource_missing` for an unknown update |
//!
//! Every error answer, whatever refused the request, has that shape with
//! a stable `code` and a `message`:
//!
//! | status | `code` | when |
//! |---|---|---|
//! | 400 | `invalid_request` | a missing, empty, unknown, duplicate or too long field, a field that is not UTF-8 or holds a control or bidirectional-formatting character, a `Range` other than `bytes=N-` |
//! | 401 | `unauthorized` | no `Authorization: Bearer <key>` (the scheme in any case) or a wrong key |
//! | 404 | `resource_missing` / `unknown_route` | an unknown id / path |
//! | 405 | `method_not_allowed` | a known path with another method (the `Allow` header lists the right ones) |
//! | 408 | `request_timeout` | the body did not arrive within [`ServerConfig::request_timeout`] |
//! | 413 | `payload_too_large` | a body over [`MAX_BODY_BYTES`] |
//! | 416 | `range_not_satisfiable` | an image asked for from past its end (`Content-Range: bytes */<size>`) |
//! | 500 | `storage_failed`, `injected_failure`, ... | the data could not be saved (the message never names the file), an injected failure |
//! | 503 | `backend_down` | the backend is switched down ([`FaultInjector::take_down`]) |
//!
//! The one exception is what actix-web's HTTP parser answers before there
//! is a request to route, with no body, closing the connection: 400 for a
//! head that does not parse, 431 for a head over its size limit, 408 for a
//! head that does not arrive within [`ServerConfig::request_timeout`].
//!
//! Field lengths are bounded: [`super::MAX_TEXT_CHARS`] characters for
//! names, address lines and labels, [`super::MAX_ID_CHARS`] for serial
//! numbers, registration codes and ids.
//!
//! Against misuse: connection tokens come from the OS's cryptographic random
//! source unless [`ServerConfig::seed`] asks for a deterministic run; the
//! development key [`DEFAULT_SECRET_KEY`] is refused on any address but
//! loopback, an empty key everywhere; a request has
//! [`ServerConfig::request_timeout`] to send its head (actix-web then answers
//! a bare 408 and closes: no route saw it) and again its body (a JSON 408);
//! keep-alive is off, so no idle connection outlives its answer; the data
//! file is locked to one server (see [`super::journal`]).
//!
//! The server runs on a thread of its own (its own actix system), so it can
//! be started from a test on any runtime, on an ephemeral port:
//!
//! ```
//! use readerlink::backend::{BackendServer, ServerConfig};
//! use readerlink::secret::Secret;
//!
//! let server = BackendServer::start(ServerConfig::ephemeral(Secret::new("sk_test_doc"))).unwrap();
//! assert_ne!(server.addr.port(), 0);
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(
//! server.stop()
//! # );
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::{StatusCode, header};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures::StreamExt;
use serde_json::{Value, json};

use super::catalog::device_type_from_api_name;
use super::{
    ApiError, ApiErrorBody, BackendCore, BackendError, CreateLocation, DataError, FaultDecision,
    FaultInjector, Location, RegisterReader, RegisteredReader, Route, TokenSource, UpdateQuery, parse_form,
};
use crate::firmware::SigningKey;
use crate::reader::SerialNumber;
use crate::runtime::Millis;
use crate::secret::Secret;
use crate::updater::SimulatedUpdatePreset;

/// The key used when none is given. It is not a secret (it is in the
/// source): it is for a backend on this machine during development, so the
/// server refuses it on any address but loopback.
pub const DEFAULT_SECRET_KEY: &str = "sk_test_readerlink_local";

/// The largest request body, in bytes (a form of every field at its
/// longest is far below it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How to start a [`BackendServer`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen; port 0 picks a free port ([`RunningServer::addr`]
    /// says which).
    pub listen: SocketAddr,
    /// The data file; `None` keeps the data in memory only.
    pub data: Option<PathBuf>,
    /// The key clients must send as `Authorization: Bearer <key>`; not
    /// empty, and [`DEFAULT_SECRET_KEY`] only on a loopback address.
    pub secret_key: Secret,
    /// Seeds the connection tokens for a deterministic run; `None` (the
    /// default) draws them from the OS's cryptographic random source.
    pub seed: Option<u64>,
    /// Fault switches; keep a clone to flip them while the server runs.
    pub faults: FaultInjector,
    /// How long a client has to send a request's head, and then again its
    /// body (10 s by default).
    pub request_timeout: Duration,
    /// Readers the update catalog answers from a simulated preset
    /// ([`BackendCore::set_update_preset`]); `random` ones draw from
    /// [`seed`](Self::seed) (0 without one).
    pub update_presets: Vec<(SerialNumber, SimulatedUpdatePreset)>,
    /// The instant the catalog's times (`required_at`, the last
    /// latest-software run) count from, in ms; `None`: when the server
    /// starts. Real time: the server runs on a clock of its own.
    pub epoch: Option<std::time::Instant>,
    /// A file holding the key update manifests are signed with (R19, 64
    /// hex digits); `None`: a key made at start (from the seed when there
    /// is one).
    pub signing_key: Option<PathBuf>,
}

impl ServerConfig {
    /// 127.0.0.1 on a free port, data in memory, random tokens, no faults.
    pub fn ephemeral(secret_key: Secret) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data: None,
            secret_key,
            seed: None,
            faults: FaultInjector::default(),
            request_timeout: Duration::from_secs(10),
            update_presets: Vec::new(),
            epoch: None,
            signing_key: None,
        }
    }

    /// Refuses a key that would leave the server open: an empty one, or the
    /// development key on an address other machines can reach.
    fn check_key(&self) -> Result<(), ServerError> {
        if self.secret_key.expose().trim().is_empty() {
            return Err(ServerError::EmptySecretKey);
        }
        // Canonical first: 127.0.0.1 as an IPv4-mapped IPv6 address
        // (`::ffff:127.0.0.1`) is loopback too.
        if self.secret_key.expose() == DEFAULT_SECRET_KEY && !self.listen.ip().to_canonical().is_loopback() {
            return Err(ServerError::DevelopmentKeyOffLoopback { addr: self.listen });
        }
        Ok(())
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The secret key is empty: anyone could call the backend.
    #[error("the secret key is empty: give a key with --secret-key")]
    EmptySecretKey,
    /// The development key, which is public, on an address other machines
    /// can reach.
    #[error(
        "refusing to listen on {addr} with the development key: it is public, so it is only accepted on a loopback address (127.0.0.1, ::1); give your own key with --secret-key"
    )]
    DevelopmentKeyOffLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The data file could not be opened (in use, unwritable, unreadable,
    /// corrupt).
    #[error(transparent)]
    Data(DataError),
    /// The signing key file could not be read.
    #[error("cannot read the update signing key {}: {source}", path.display())]
    SigningKey {
        /// The file.
        path: PathBuf,
        /// Why.
        source: crate::firmware::KeyError,
    },
    /// The server thread ended before it reported its address.
    #[error("the server thread ended while starting: {0}")]
    Thread(String),
}

/// The local backend server.
#[derive(Debug)]
pub struct BackendServer;

/// A started server. Stop it with [`RunningServer::stop`] (graceful: requests
/// in flight finish).
#[derive(Debug)]
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// actix-web's handle (pause, resume, stop).
    pub handle: ServerHandle,
    /// The core the server serves, to inspect in tests.
    core: Arc<Mutex<BackendCore>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// `http://<addr>`, the base URL for [`super::HttpBackendConfig`].
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The core behind the server.
    pub fn core(&self) -> &Arc<Mutex<BackendCore>> {
        &self.core
    }

    /// Stops accepting connections, lets requests in flight finish, and
    /// waits for the server thread to end.
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // actix-web's worker threads drop their copy of the app state (and
        // so the core, whose data file is locked) a moment after the stop
        // resolves: wait for them, so that a server started next on the
        // same file finds it unlocked.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&self.core) > 1 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

struct AppState {
    core: Arc<Mutex<BackendCore>>,
    faults: FaultInjector,
    secret_key: Secret,
    request_timeout: Duration,
    /// The catalog's times are ms since this instant.
    epoch: std::time::Instant,
}

impl AppState {
    fn now_ms(&self) -> Millis {
        self.epoch.elapsed().as_millis() as Millis
    }
}

impl BackendServer {
    /// Checks the key, opens (and locks) the data, binds the address and
    /// starts serving on a thread of its own. Returns once the socket is
    /// bound; nothing is bound when the key or the data is refused.
    pub fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
        config.check_key()?;
        let tokens = config.seed.map_or(TokenSource::OsRandom, TokenSource::Seeded);
        let mut core = match &config.data {
            Some(path) => BackendCore::open(path.clone(), tokens).map_err(ServerError::Data)?,
            None => BackendCore::in_memory_with(tokens),
        };
        core.set_update_seed(config.seed.unwrap_or(0));
        if let Some(path) = &config.signing_key {
            let key = SigningKey::from_file(path).map_err(|source| ServerError::SigningKey {
                path: path.clone(),
                source,
            })?;
            core.set_signing_key(key);
        }
        for (serial, preset) in &config.update_presets {
            core.set_update_preset(serial.clone(), *preset);
        }
        let core = Arc::new(Mutex::new(core));
        let state = web::Data::new(AppState {
            core: core.clone(),
            faults: config.faults.clone(),
            secret_key: config.secret_key.clone(),
            request_timeout: config.request_timeout,
            epoch: config.epoch.unwrap_or_else(std::time::Instant::now),
        });
        let request_timeout = config.request_timeout;
        let listen = config.listen;
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("readerlink-backend".into())
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let server =
                        HttpServer::new(move || App::new().app_data(state.clone()).configure(routes))
                            .workers(1)
                            // Idle keep-alive connections would hold a graceful stop
                            // for the whole shutdown timeout; a local backend gains
                            // nothing from them, and no idle connection outlives its
                            // answer.
                            .keep_alive(actix_web::http::KeepAlive::Disabled)
                            .client_request_timeout(request_timeout)
                            .client_disconnect_timeout(Duration::from_secs(1))
                            .disable_signals()
                            .shutdown_timeout(5)
                            .bind(listen);
                    let server = match server {
                        Ok(server) => server,
                        Err(e) => {
                            let _ = started_tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    let addr = server.addrs().first().copied().unwrap_or(listen);
                    let server = server.run();
                    let _ = started_tx.send(Ok((addr, server.handle())));
                    server.await
                })
            })
            .map_err(|e| ServerError::Thread(e.to_string()))?;
        match started_rx.recv() {
            Ok(Ok((addr, handle))) => {
                tracing::info!(%addr, "backend server listening");
                Ok(RunningServer {
                    addr,
                    handle,
                    core,
                    thread: Some(thread),
                })
            }
            Ok(Err(source)) => {
                let _ = thread.join();
                Err(ServerError::Bind { addr: listen, source })
            }
            Err(_) => Err(ServerError::Thread(match thread.join() {
                Ok(Ok(())) => "it returned".into(),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "it panicked".into(),
            })),
        }
    }
}

/// Why the server refused a request, at the HTTP layer or in the core.
/// Each kind has a stable [`code`](Self::code) and HTTP status; all are
/// answered with the hosted API's error shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No route has this path (404).
    ///
    /// Code: `unknown_route`.
    #[error("Unrecognized request URL ({method}: {path}).")]
    UnknownRoute {
        /// The method asked for.
        method: String,
        /// The path asked for.
        path: String,
    },
    /// The path exists but not with this method (405).
    ///
    /// Code: `method_not_allowed`.
    #[error("{method} is not allowed on {path}; use {allowed}.")]
    MethodNotAllowed {
        /// The method asked for.
        method: String,
        /// The path.
        path: String,
        /// The methods the path takes, as in the `Allow` header.
        allowed: &'static str,
    },
    /// The body is larger than [`MAX_BODY_BYTES`] (413).
    ///
    /// Code: `payload_too_large`.
    #[error("The request body is over the limit of {limit} bytes.")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body did not arrive within the request timeout (408).
    ///
    /// Code: `request_timeout`.
    #[error("The request body did not arrive within {after_ms} ms.")]
    BodyTimedOut {
        /// The timeout, in milliseconds.
        after_ms: u64,
    },
    /// The body could not be read (400): the client closed the connection
    /// early, or sent a malformed chunk.
    ///
    /// Code: `body_unreadable`.
    #[error("The request body could not be read: {reason}")]
    BodyUnreadable {
        /// What went wrong.
        reason: String,
    },
    /// Fault injection: the backend is switched down (503).
    ///
    /// Code: `backend_down`.
    #[error("the backend is down")]
    Down,
    /// Fault injection: this request fails (500).
    ///
    /// Code: `injected_failure`.
    #[error("injected failure")]
    InjectedFailure,
    /// The route's own answer: a bad field, an unknown id, a wrong key, a
    /// failed save.
    ///
    /// Code: its inner error's.
    #[error(transparent)]
    Backend(BackendError),
}

impl RequestError {
    /// A stable code for the kind of error, sent as the body's `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownRoute { .. } => "unknown_route",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::BodyTimedOut { .. } => "request_timeout",
            Self::BodyUnreadable { .. } => "body_unreadable",
            Self::Down => "backend_down",
            Self::InjectedFailure => "injected_failure",
            Self::Backend(e) => e.code(),
        }
    }

    /// The HTTP status it is answered with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::UnknownRoute { .. } => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::PayloadTooLarge { .. } => 413,
            Self::BodyTimedOut { .. } => 408,
            Self::BodyUnreadable { .. } => 400,
            Self::Down => 503,
            Self::InjectedFailure => 500,
            Self::Backend(e) => e.http_status(),
        }
    }

    /// The hosted API's error body.
    pub fn to_body(&self) -> ApiErrorBody {
        if let Self::Backend(e) = self {
            return e.to_body();
        }
        let error_type = match self {
            Self::Down | Self::InjectedFailure => "api_error",
            _ => "invalid_request_error",
        };
        ApiErrorBody {
            error: ApiError {
                error_type: error_type.into(),
                code: Some(self.code().into()),
                message: self.to_string(),
                param: None,
            },
        }
    }

    fn response(&self) -> HttpResponse {
        let status = StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = HttpResponse::build(status);
        if let Self::MethodNotAllowed { allowed, .. } = self {
            response.insert_header((header::ALLOW, *allowed));
        }
        if let Self::Backend(BackendError::RangeNotSatisfiable { size, .. }) = self {
            response.insert_header((header::CONTENT_RANGE, format!("bytes */{size}")));
        }
        response.json(self.to_body())
    }
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/terminal/connection_tokens")
            .route(web::post().to(connection_tokens))
            .default_service(web::to(|r: HttpRequest| method_not_allowed(r, "POST"))),
    )
    .service(
        web::resource("/v1/terminal/locations")
            .route(web::post().to(create_location))
            .route(web::get().to(list_locations))
            .default_service(web::to(|r: HttpRequest| method_not_allowed(r, "GET, POST"))),
    )
    .service(
        web::resource("/v1/terminal/locations/{id}")
            .route(web::get().to(get_location))
            .default_service(web::to(|r: HttpRequest| method_not_allowed(r, "GET"))),
    )
    .service(
        web::resource("/v1/terminal/readers")
            .route(web::post().to(register_reader))
            .default_service(web::to(|r: HttpRequest| method_not_allowed(r, "POST"))),
    )
    .service(
        web::resource("/v1/terminal/updates")
            .route(web::get().to(check_update))
            .default_service(web::to(|r: HttpRequest| method_not_allowed(r, "GET"))),
    )
    .service(
        web::resource("/v1/terminal/updates/signing_key")
            .route(web::get().to(update_signing_key))
            .default_service(web::to(|r: HttpRequest| method_not_allowed(r, "GET"))),
    )
    .service(
        web::resource("/v1/terminal/updates/{device_type}/{version}/image")
            .route(web::get().to(download_update))
            .default_service(web::to(|r: HttpRequest| method_not_allowed(r, "GET"))),
    )
    .default_service(web::to(unknown_route));
}

/// Runs one route: faults, then auth, then the body, then the core.
async fn serve(
    state: &AppState,
    request: &HttpRequest,
    route: Route,
    payload: Option<web::Payload>,
    work: impl FnOnce(&mut BackendCore, &[u8]) -> Result<Value, BackendError>,
) -> HttpResponse {
    let answer = answer(state, request, route, payload, work).await;
    match answer {
        Ok(body) => {
            tracing::info!(route = route.name(), status = 200, "backend request served");
            HttpResponse::Ok().json(body)
        }
        Err(e) => {
            let status = e.http_status();
            if status >= 500 {
                // The whole error, with the data file's path, stays here;
                // the client gets a sentence without it.
                tracing::error!(route = route.name(), status, code = e.code(), error = %e, "backend request failed");
            } else {
                tracing::info!(
                    route = route.name(),
                    status,
                    code = e.code(),
                    "backend request served"
                );
            }
            e.response()
        }
    }
}

async fn answer(
    state: &AppState,
    request: &HttpRequest,
    route: Route,
    payload: Option<web::Payload>,
    work: impl FnOnce(&mut BackendCore, &[u8]) -> Result<Value, BackendError>,
) -> Result<Value, RequestError> {
    admit(state, request, route).await?;
    let body = match payload {
        Some(payload) => read_body(request, payload, state.request_timeout).await?,
        None => web::Bytes::new(),
    };
    let mut core = state.core.lock().unwrap_or_else(|p| p.into_inner());
    work(&mut core, &body).map_err(RequestError::Backend)
}

/// What every request passes before its route's work: the faults, then
/// auth.
async fn admit(state: &AppState, request: &HttpRequest, route: Route) -> Result<(), RequestError> {
    match state.faults.decide(route) {
        FaultDecision::Down => return Err(RequestError::Down),
        FaultDecision::Proceed { latency, fail } => {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            if fail {
                return Err(RequestError::InjectedFailure);
            }
        }
    }
    authorize(state, request).map_err(RequestError::Backend)
}

/// Reads the whole body, refusing one over [`MAX_BODY_BYTES`] (as soon as
/// its `Content-Length` says so) or one that does not arrive in `timeout`.
async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    timeout: Duration,
) -> Result<web::Bytes, RequestError> {
    let too_large = RequestError::PayloadTooLarge {
        limit: MAX_BODY_BYTES,
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large);
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut body = web::BytesMut::new();
    loop {
        match tokio::time::timeout_at(deadline, payload.next()).await {
            Err(_) => {
                return Err(RequestError::BodyTimedOut {
                    after_ms: timeout.as_millis() as u64,
                });
            }
            Ok(None) => return Ok(body.freeze()),
            Ok(Some(Err(e))) => {
                return Err(RequestError::BodyUnreadable {
                    reason: e.to_string(),
                });
            }
            Ok(Some(Ok(chunk))) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(too_large);
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
}

/// Checks `Authorization: Bearer <key>`; the scheme is case-insensitive
/// (RFC 9110 §11.1), the key compared in constant time.
fn authorize(state: &AppState, request: &HttpRequest) -> Result<(), BackendError> {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    match given {
        Some(key) if same_bytes(key.as_bytes(), state.secret_key.expose().as_bytes()) => Ok(()),
        Some(_) => Err(BackendError::Unauthorized {
            message: "Invalid API key provided.".into(),
        }),
        None => Err(BackendError::Unauthorized {
            message: "You did not provide an API key: send `Authorization: Bearer sk_...`.".into(),
        }),
    }
}

/// Compares two byte strings in a time that depends on their lengths only,
/// so answer times do not tell how much of a guessed key was right.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn location_object(location: &Location) -> Value {
    let mut value = json!({ "object": "terminal.location" });
    if let (Value::Object(map), Ok(Value::Object(fields))) = (&mut value, serde_json::to_value(location)) {
        map.extend(fields);
    }
    value
}

fn reader_object(reader: &RegisteredReader) -> Value {
    json!({
        "object": "terminal.reader",
        "id": reader.id,
        "serial_number": reader.serial_number,
        "device_type": reader.device_type,
        "location": reader.location,
        "label": reader.label,
    })
}

async fn connection_tokens(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    serve(
        &state,
        &request,
        Route::ConnectionToken,
        Some(payload),
        |core, body| {
            let mut form = parse_form(body)?;
            let location = form.remove("location");
            if let Some(name) = form.into_keys().next() {
                return Err(BackendError::invalid(
                    name.clone(),
                    format!("Received unknown parameter: {name}"),
                ));
            }
            let secret = core.create_connection_token(location.as_deref())?;
            let mut body = json!({ "object": "terminal.connection_token", "secret": secret.expose() });
            if let Some(location) = location {
                body["location"] = Value::String(location);
            }
            Ok(body)
        },
    )
    .await
}

async fn create_location(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    serve(
        &state,
        &request,
        Route::CreateLocation,
        Some(payload),
        |core, body| {
            let request = CreateLocation::from_form(parse_form(body)?)?;
            Ok(location_object(&core.create_location(request)?))
        },
    )
    .await
}

async fn get_location(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    // Not the `web::Path` extractor: its failure (a segment that does not
    // decode) would be actix-web's plain-text answer, not our error shape.
    let id = request.match_info().query("id").to_owned();
    serve(&state, &request, Route::GetLocation, None, |core, _| {
        Ok(location_object(&core.location(&id)?))
    })
    .await
}

async fn list_locations(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    serve(&state, &request, Route::ListLocations, None, |core, _| {
        let data: Vec<Value> = core.list_locations().iter().map(location_object).collect();
        Ok(json!({ "object": "list", "data": data, "has_more": false, "url": "/v1/terminal/locations" }))
    })
    .await
}

async fn register_reader(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    serve(
        &state,
        &request,
        Route::RegisterReader,
        Some(payload),
        |core, body| {
            let request = RegisterReader::from_form(parse_form(body)?)?;
            Ok(reader_object(&core.register_reader(request)?))
        },
    )
    .await
}

async fn check_update(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    let query = request.query_string().to_owned();
    let now = || state.now_ms();
    serve(&state, &request, Route::CheckUpdate, None, |core, _| {
        let query = UpdateQuery::from_form(parse_form(query.as_bytes())?)?;
        let answer = core.check_update(&query, now())?;
        Ok(json!({
            "update": answer.update,
            "manifest": answer.manifest,
            "last_latest_run_at": answer.last_latest_run_at,
        }))
    })
    .await
}

/// The public key update manifests are signed with (R19): an operator
/// reads it once and pins it in the app; the terminal never fetches it.
async fn update_signing_key(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    serve(&state, &request, Route::UpdateSigningKey, None, |core, _| {
        let key = core.update_public_key()?;
        Ok(json!({ "object": "update_signing_key", "key_id": key.key_id(), "public_key": key }))
    })
    .await
}

/// The first byte a `Range` header asks for: only `bytes=N-` (what a
/// resumed download sends) is served; any other range is refused naming
/// the header, rather than answered whole.
fn range_start(request: &HttpRequest) -> Result<Option<u32>, BackendError> {
    let Some(value) = request.headers().get(header::RANGE) else {
        return Ok(None);
    };
    let unsupported = || {
        BackendError::invalid(
            "Range",
            format!(
                "Unsupported Range `{}`: only `bytes=N-` is served.",
                String::from_utf8_lossy(value.as_bytes())
            ),
        )
    };
    let first = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes="))
        .and_then(|v| v.strip_suffix('-'))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(unsupported)?;
    // A start past u32::MAX is past every image: unsatisfiable, not malformed.
    Ok(Some(
        first
            .parse::<u64>()
            .map_or(u32::MAX, |n| n.min(u32::MAX as u64) as u32),
    ))
}

/// The image bytes: 200 whole, 206 from a `Range: bytes=N-` on (with
/// `Content-Range`), 416 from past the end, 404 for an unknown update.
async fn download_update(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    let route = Route::DownloadUpdate;
    let served = async {
        admit(&state, &request, route).await?;
        let device = request.match_info().query("device_type");
        let version = request.match_info().query("version").to_owned();
        let from = range_start(&request).map_err(RequestError::Backend)?;
        let device_type = device_type_from_api_name(device).ok_or_else(|| {
            RequestError::Backend(BackendError::NotFound {
                resource: "update".into(),
                id: format!("{device}/{version}"),
                param: None,
            })
        })?;
        let core = state.core.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = core
            .download_update(device_type, &version, from.unwrap_or(0))
            .map_err(RequestError::Backend)?;
        Ok::<_, RequestError>((from, bytes))
    }
    .await;
    let (from, bytes) = match served {
        Ok(served) => served,
        Err(e) => {
            tracing::info!(
                route = route.name(),
                status = e.http_status(),
                code = e.code(),
                "backend request served"
            );
            return e.response();
        }
    };
    let mut response = match from {
        None => HttpResponse::Ok(),
        Some(from) => {
            let total = from as u64 + bytes.len() as u64;
            let mut partial = HttpResponse::PartialContent();
            partial.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {from}-{}/{total}", total - 1),
            ));
            partial
        }
    };
    response
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .content_type("application/octet-stream");
    let status = if from.is_some() { 206 } else { 200 };
    tracing::info!(
        route = route.name(),
        status,
        bytes = bytes.len(),
        "backend request served"
    );
    match state
        .faults
        .take_body_cut(route)
        .filter(|cut| (*cut as usize) < bytes.len())
    {
        None => response.body(bytes),
        Some(cut) => {
            // Content-Length says the whole; the connection closes after
            // `cut` bytes (a moment later, so they leave first).
            let size = bytes.len() as u64;
            let head = web::Bytes::from(bytes).slice(..cut as usize);
            let stream =
                futures::stream::iter([Ok::<_, std::io::Error>(head)]).chain(futures::stream::once(async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Err(std::io::Error::other("body cut by fault injection"))
                }));
            tracing::info!(route = route.name(), cut, "cutting the body (injected)");
            response.body(actix_web::body::SizedStream::new(size, stream))
        }
    }
}

async fn method_not_allowed(request: HttpRequest, allowed: &'static str) -> HttpResponse {
    RequestError::MethodNotAllowed {
        method: request.method().to_string(),
        path: request.path().to_owned(),
        allowed,
    }
    .response()
}

async fn unknown_route(request: HttpRequest) -> HttpResponse {
    RequestError::UnknownRoute {
        method: request.method().to_string(),
        path: request.path().to_owned(),
    }
    .response()
}
