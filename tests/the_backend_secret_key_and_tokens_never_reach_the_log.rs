//! The secret key and every connection token stay out of the log and out
//! of `Debug` output, through a full client run against the real local
//! server: tokens, locations, registration, a 401, retried 5xx answers and
//! a timeout. The log is captured at TRACE level for every target (the
//! HTTP stack's `log` records included), from the server threads too — so
//! this test binary installs the global subscriber and holds one test.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use readerlink::backend::{
    Backend, BackendServer, CreateLocation, FaultInjector, HttpBackend, HttpBackendConfig, ReaderIdentity,
    RegisterReader, Route, ServerConfig,
};
use readerlink::reader::DeviceType;
use readerlink::secret::Secret;

const KEY: &str = "sk_test_5ecretKeyThatMustNotLeak";
const WRONG_KEY: &str = "sk_test_wrongKeyThatMustNotLeakEither";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_appears_in_the_trace_level_log_or_in_debug_output() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .try_init()
        .expect("this test binary installs the only global subscriber");

    let faults = FaultInjector::new(3);
    let mut server_config = ServerConfig::ephemeral(Secret::new(KEY));
    server_config.faults = faults.clone();
    let server = BackendServer::start(server_config).unwrap();

    let mut config = HttpBackendConfig::new(server.url(), Secret::new(KEY));
    config.backoff_base = Duration::from_millis(5);
    config.timeout = Duration::from_millis(300);
    let backend = HttpBackend::new(config.clone()).unwrap();

    let mut tokens = Vec::new();
    faults.fail_next(Route::ConnectionToken, 2);
    tokens.push(backend.connection_token().await.unwrap());
    tokens.push(backend.connection_token().await.unwrap());
    let location = backend
        .create_location(CreateLocation::new("Shop", "1 Main St", "US"))
        .await
        .unwrap();
    backend.location(&location.id).await.unwrap();
    backend.list_locations().await.unwrap();
    backend
        .register_reader(RegisterReader {
            reader: ReaderIdentity::SerialNumber {
                serial_number: "WPC3000042".into(),
                device_type: DeviceType::WisePad3,
            },
            location: location.id.clone(),
            label: None,
        })
        .await
        .unwrap();
    let wrong = HttpBackend::new(HttpBackendConfig::new(server.url(), Secret::new(WRONG_KEY))).unwrap();
    let unauthorized = wrong.connection_token().await.unwrap_err();
    faults.set_latency(Route::ConnectionToken, Duration::from_millis(600));
    let timeout = backend.connection_token().await.unwrap_err();
    server.stop().await;

    let debug = format!("{backend:?} {config:?} {wrong:?} {unauthorized:?} {timeout:?} {tokens:?}");
    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("backend request served"),
        "the capture works:\n{log}"
    );
    assert!(log.contains("retrying"), "the retries were logged:\n{log}");
    for stack in ["hyper_util::client", "actix_http::h1"] {
        assert!(
            log.contains(stack),
            "the HTTP stack's own trace records ({stack}) were captured"
        );
    }
    let mut secrets = vec![KEY.to_owned(), WRONG_KEY.to_owned()];
    secrets.extend(tokens.iter().map(|t| t.expose().to_owned()));
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "`{secret}` leaked into the log:\n{log}"
        );
        assert!(
            !debug.contains(secret.as_str()),
            "`{secret}` leaked into Debug output: {debug}"
        );
    }
    assert!(tokens.iter().all(|t| t.expose().starts_with("pst_test_")));
}
