//! The local backend server: `actix-web` as a thin HTTP adapter over
//! [`BackendCore`], with the hosted API's paths, form-encoded bodies, error
//! shape (`{"error": {type, code, message, param}}`) and bearer auth with a
//! secret key. [`FaultInjector`] faults apply to every route: a failure is a
//! 500 `api_error`, a down server answers 503.
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/terminal/connection_tokens` (`location`?) | `{object: "terminal.connection_token", secret}` |
//! | `POST /v1/terminal/locations` (`display_name`, `address[line1]`, `address[country]`, ...) | `{object: "terminal.location", id, display_name, address}` |
//! | `GET /v1/terminal/locations/{id}` | the location, or 404 `resource_missing` |
//! | `GET /v1/terminal/locations` | `{object: "list", data: [...], has_more: false, url}` |
//! | `POST /v1/terminal/readers` (`registration_code` or `serial_number` + `device_type`, `location`, `label`?) | `{object: "terminal.reader", id, serial_number, device_type, location, label}` |
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

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use super::{
    ApiError, ApiErrorBody, BackendCore, BackendError, CreateLocation, FaultDecision, FaultInjector, Form,
    Location, RegisterReader, RegisteredReader, Route,
};
use crate::secret::Secret;

/// How to start a [`BackendServer`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen; port 0 picks a free port ([`RunningServer::addr`]
    /// says which).
    pub listen: SocketAddr,
    /// The data file; `None` keeps the data in memory only.
    pub data: Option<PathBuf>,
    /// The key clients must send as `Authorization: Bearer <key>`.
    pub secret_key: Secret,
    /// Seeds the connection tokens.
    pub seed: u64,
    /// Fault switches; keep a clone to flip them while the server runs.
    pub faults: FaultInjector,
}

impl ServerConfig {
    /// 127.0.0.1 on a free port, data in memory, no faults.
    pub fn ephemeral(secret_key: Secret) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data: None,
            secret_key,
            seed: 0,
            faults: FaultInjector::default(),
        }
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The data file could not be read.
    #[error(transparent)]
    Data(BackendError),
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
    }
}

struct AppState {
    core: Arc<Mutex<BackendCore>>,
    faults: FaultInjector,
    secret_key: Secret,
}

impl BackendServer {
    /// Opens the data, binds the address and starts serving on a thread of
    /// its own. Returns once the socket is bound.
    pub fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
        let core = match &config.data {
            Some(path) => BackendCore::open(path.clone(), config.seed).map_err(ServerError::Data)?,
            None => BackendCore::in_memory(config.seed),
        };
        let core = Arc::new(Mutex::new(core));
        let state = web::Data::new(AppState {
            core: core.clone(),
            faults: config.faults.clone(),
            secret_key: config.secret_key.clone(),
        });
        let listen = config.listen;
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("readerlink-backend".into())
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(state.clone())
                            .app_data(web::PayloadConfig::new(64 * 1024))
                            .configure(routes)
                    })
                    .workers(1)
                    // Idle keep-alive connections would hold a graceful stop
                    // for the whole shutdown timeout; a local backend gains
                    // nothing from them.
                    .keep_alive(actix_web::http::KeepAlive::Disabled)
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

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/v1/terminal/connection_tokens",
        web::post().to(connection_tokens),
    )
    .route("/v1/terminal/locations", web::post().to(create_location))
    .route("/v1/terminal/locations", web::get().to(list_locations))
    .route("/v1/terminal/locations/{id}", web::get().to(get_location))
    .route("/v1/terminal/readers", web::post().to(register_reader))
    .default_service(web::to(unknown_route));
}

/// Runs one route: faults, then auth, then the core.
async fn serve(
    state: &AppState,
    request: &HttpRequest,
    route: Route,
    work: impl FnOnce(&mut BackendCore) -> Result<Value, BackendError>,
) -> HttpResponse {
    let answer = answer(state, request, route, work).await;
    let status = match &answer {
        Ok(_) => 200,
        Err(e) => e.http_status(),
    };
    tracing::info!(route = route.name(), status, "backend request served");
    match answer {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(e) => error_response(&e),
    }
}

async fn answer(
    state: &AppState,
    request: &HttpRequest,
    route: Route,
    work: impl FnOnce(&mut BackendCore) -> Result<Value, BackendError>,
) -> Result<Value, BackendError> {
    let injected = |status, message: &str| BackendError::Status {
        route: route.name().into(),
        status,
        error_type: Some("api_error".into()),
        message: message.into(),
        attempts: 1,
    };
    match state.faults.decide(route) {
        FaultDecision::Down => return Err(injected(503, "the backend is down")),
        FaultDecision::Proceed { latency, fail } => {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            if fail {
                return Err(injected(500, "injected failure"));
            }
        }
    }
    authorize(state, request)?;
    let mut core = state.core.lock().unwrap_or_else(|p| p.into_inner());
    work(&mut core)
}

fn authorize(state: &AppState, request: &HttpRequest) -> Result<(), BackendError> {
    let given = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(key) if key == state.secret_key.expose() => Ok(()),
        Some(_) => Err(BackendError::Unauthorized {
            message: "Invalid API key provided.".into(),
        }),
        None => Err(BackendError::Unauthorized {
            message: "You did not provide an API key: send `Authorization: Bearer sk_...`.".into(),
        }),
    }
}

fn error_response(error: &BackendError) -> HttpResponse {
    let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(error.to_body())
}

fn parse_form(body: &[u8]) -> Result<Form, BackendError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|e| BackendError::InvalidRequest {
            param: None,
            message: format!("The request body is not a valid form: {e}"),
        })?;
    Ok(pairs.into_iter().collect())
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
    body: web::Bytes,
) -> HttpResponse {
    serve(&state, &request, Route::ConnectionToken, |core| {
        let mut form = parse_form(&body)?;
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
    })
    .await
}

async fn create_location(state: web::Data<AppState>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    serve(&state, &request, Route::CreateLocation, |core| {
        let request = CreateLocation::from_form(parse_form(&body)?)?;
        Ok(location_object(&core.create_location(request)?))
    })
    .await
}

async fn get_location(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    serve(&state, &request, Route::GetLocation, |core| {
        Ok(location_object(&core.location(&id)?))
    })
    .await
}

async fn list_locations(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    serve(&state, &request, Route::ListLocations, |core| {
        let data: Vec<Value> = core.list_locations().iter().map(location_object).collect();
        Ok(json!({ "object": "list", "data": data, "has_more": false, "url": "/v1/terminal/locations" }))
    })
    .await
}

async fn register_reader(state: web::Data<AppState>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    serve(&state, &request, Route::RegisterReader, |core| {
        let request = RegisterReader::from_form(parse_form(&body)?)?;
        Ok(reader_object(&core.register_reader(request)?))
    })
    .await
}

async fn unknown_route(request: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(ApiErrorBody {
        error: ApiError {
            error_type: "invalid_request_error".into(),
            code: None,
            message: format!(
                "Unrecognized request URL ({}: {}).",
                request.method(),
                request.path()
            ),
            param: None,
        },
    })
}
