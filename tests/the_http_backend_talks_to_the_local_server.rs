//! The real HTTP path on real time: the local backend server started
//! in-process on 127.0.0.1:0, and the real `HttpBackend` talking to it over
//! reqwest. No paused clock here (real sockets).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;

use readerlink::backend::{
    Address, Backend, BackendError, BackendServer, ConnectionTokenProvider, CreateLocation, FaultInjector,
    HttpBackend, HttpBackendConfig, ReaderIdentity, RegisterReader, Route, RunningServer, ServerConfig,
    UrlTokenProvider,
};
use readerlink::reader::DeviceType;
use readerlink::secret::Secret;
use serde_json::Value;

const KEY: &str = "sk_test_integration";

fn start(faults: FaultInjector) -> RunningServer {
    common::init_tracing();
    let mut config = ServerConfig::ephemeral(Secret::new(KEY));
    config.faults = faults;
    BackendServer::start(config).expect("the server starts on an ephemeral port")
}

fn client(server: &RunningServer, retries: u32) -> HttpBackend {
    let mut config = HttpBackendConfig::new(server.url(), Secret::new(KEY));
    config.retries = retries;
    config.backoff_base = Duration::from_millis(5);
    config.timeout = Duration::from_secs(5);
    HttpBackend::new(config).unwrap()
}

fn shop() -> CreateLocation {
    CreateLocation {
        display_name: "Le Petit Café".into(),
        address: Address {
            line1: "1 rue de Rivoli".into(),
            city: Some("Paris".into()),
            postal_code: Some("75001".into()),
            country: "FR".into(),
            ..Address::default()
        },
    }
}

fn m2(location: &str) -> RegisterReader {
    RegisterReader {
        reader: ReaderIdentity::SerialNumber {
            serial_number: "STRM26000123".into(),
            device_type: DeviceType::StripeM2,
        },
        location: location.into(),
        label: Some("Till 1".into()),
    }
}

#[tokio::test]
async fn a_client_gets_a_token_creates_and_reads_a_location_and_registers_a_reader() {
    let server = start(FaultInjector::default());
    let backend = client(&server, 0);

    let token = backend.connection_token().await.unwrap();
    assert!(token.expose().starts_with("pst_test_"));
    assert_ne!(
        backend.connection_token().await.unwrap(),
        token,
        "every token is new"
    );

    let created = backend.create_location(shop()).await.unwrap();
    assert_eq!(created.display_name, "Le Petit Café");
    assert_eq!(created.address.city.as_deref(), Some("Paris"));
    assert_eq!(backend.location(&created.id).await.unwrap(), created);
    assert_eq!(backend.list_locations().await.unwrap(), vec![created.clone()]);

    let reader = backend.register_reader(m2(&created.id)).await.unwrap();
    assert_eq!(reader.device_type, DeviceType::StripeM2);
    assert_eq!(reader.location, created.id);
    assert_eq!(reader.label, "Till 1");
    assert!(reader.id.starts_with("tmr_"));

    let mut by_code = m2(&created.id);
    by_code.reader = ReaderIdentity::RegistrationCode("simulated-wisepad3".into());
    assert_eq!(
        backend.register_reader(by_code).await.unwrap().device_type,
        DeviceType::WisePad3
    );
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_location_is_a_typed_not_found() {
    let server = start(FaultInjector::default());
    let backend = client(&server, 3);
    assert_eq!(
        backend.location("tml_nowhere").await.unwrap_err(),
        BackendError::NotFound {
            resource: "location".into(),
            id: "tml_nowhere".into(),
            param: None
        }
    );
    let err = backend.register_reader(m2("tml_nowhere")).await.unwrap_err();
    assert_eq!(err.code(), "resource_missing");
    assert!(
        matches!(err, BackendError::NotFound { param: Some(ref p), .. } if p == "location"),
        "{err:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_bad_request_gets_the_hosted_error_shape_and_status() {
    let server = start(FaultInjector::default());
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/v1/terminal/locations", server.url()))
        .bearer_auth(KEY)
        .form(&[("display_name", "Shop"), ("address[line1]", "1 Main St")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "address[country]");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("address[country]")
    );

    let response = http
        .get(format!("{}/v1/terminal/locations/tml_x", server.url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "resource_missing");
    assert_eq!(body["error"]["message"], "No such location: 'tml_x'");

    let response = http
        .post(format!("{}/v1/terminal/teleport", server.url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let backend = client(&server, 3);
    let mut request = shop();
    request.address.country = "France".into();
    match backend.create_location(request).await.unwrap_err() {
        BackendError::InvalidRequest { param, message } => {
            assert_eq!(param.as_deref(), Some("address[country]"));
            assert!(message.contains("France"), "{message}");
        }
        other => panic!("expected an invalid request, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_or_missing_secret_key_is_refused_with_401() {
    let server = start(FaultInjector::default());
    let response = reqwest::Client::new()
        .get(format!("{}/v1/terminal/locations", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let backend =
        HttpBackend::new(HttpBackendConfig::new(server.url(), Secret::new("sk_test_wrong"))).unwrap();
    let err = backend.list_locations().await.unwrap_err();
    assert_eq!(err.code(), "unauthorized");
    assert!(!format!("{err} {err:?}").contains("sk_test_wrong"));
    assert_eq!(
        backend.connection_token().await.unwrap_err().code(),
        "unauthorized"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_client_retries_after_injected_server_errors_then_succeeds() {
    let faults = FaultInjector::new(1);
    let server = start(faults.clone());
    let backend = client(&server, 3);
    let created = backend.create_location(shop()).await.unwrap();
    faults.fail_next(Route::GetLocation, 2);
    assert_eq!(backend.location(&created.id).await.unwrap(), created);
    assert_eq!(
        faults.decide(Route::GetLocation),
        readerlink::backend::FaultDecision::Proceed {
            latency: Duration::ZERO,
            fail: false
        },
        "both injected failures were used up by the retries"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_always_failing_route_gives_a_typed_error_after_the_bounded_retries() {
    let faults = FaultInjector::new(1);
    faults.set_failure_rate(Route::ListLocations, 1.0);
    let server = start(faults);
    let backend = client(&server, 2);
    match backend.list_locations().await.unwrap_err() {
        BackendError::Status {
            status,
            attempts,
            message,
            error_type,
            ..
        } => {
            assert_eq!((status, attempts), (500, 3), "one try and two retries");
            assert_eq!(message, "injected failure");
            assert_eq!(error_type.as_deref(), Some("api_error"));
        }
        other => panic!("expected a 500 status error, got {other:?}"),
    }
    assert!(
        backend.create_location(shop()).await.is_ok(),
        "other routes still work"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_server_that_is_gone_is_a_connection_failure_after_the_retries() {
    let server = start(FaultInjector::default());
    let url = server.url();
    server.stop().await;
    let mut config = HttpBackendConfig::new(url, Secret::new(KEY));
    config.retries = 2;
    config.backoff_base = Duration::from_millis(20);
    let backend = HttpBackend::new(config).unwrap();
    let started = Instant::now();
    match backend.location("tml_000001").await.unwrap_err() {
        BackendError::ConnectionFailed { attempts, reason, .. } => {
            assert_eq!(attempts, 3);
            assert!(reason.to_lowercase().contains("connect"), "{reason}");
        }
        other => panic!("expected a connection failure, got {other:?}"),
    }
    assert!(
        started.elapsed() >= Duration::from_millis(60),
        "backed off 20 ms then 40 ms"
    );
}

#[tokio::test]
async fn a_slow_route_times_out_with_a_typed_error() {
    let faults = FaultInjector::new(1);
    faults.set_latency(Route::ConnectionToken, Duration::from_millis(400));
    let server = start(faults);
    let mut config = HttpBackendConfig::new(server.url(), Secret::new(KEY));
    config.timeout = Duration::from_millis(100);
    let backend = HttpBackend::new(config).unwrap();
    assert_eq!(
        backend.connection_token().await.unwrap_err(),
        BackendError::Timeout {
            route: "connection_token".into(),
            after_ms: 100
        }
    );
    server.stop().await;
}

#[tokio::test]
async fn a_restarted_server_on_the_same_data_file_loses_nothing() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("backend.json");
    let config = || {
        let mut config = ServerConfig::ephemeral(Secret::new(KEY));
        config.data = Some(data.clone());
        config
    };
    let server = BackendServer::start(config()).unwrap();
    let backend = client(&server, 0);
    let location = backend.create_location(shop()).await.unwrap();
    let reader = backend.register_reader(m2(&location.id)).await.unwrap();
    server.stop().await;

    let server = BackendServer::start(config()).unwrap();
    let backend = client(&server, 0);
    assert_eq!(backend.location(&location.id).await.unwrap(), location);
    assert_eq!(backend.list_locations().await.unwrap(), vec![location.clone()]);
    assert_eq!(server.core().lock().unwrap().readers(), vec![reader.clone()]);
    let again = backend.register_reader(m2(&location.id)).await.unwrap();
    assert_eq!(again.id, reader.id, "the reader keeps its id across the restart");
    let second = backend.create_location(shop()).await.unwrap();
    assert_ne!(second.id, location.id, "ids are not reused after a restart");
    server.stop().await;
}

/// An integrator's token source: a fixed token, counting its calls.
struct FixedTokens(std::sync::atomic::AtomicU32);

impl ConnectionTokenProvider for FixedTokens {
    fn fetch_connection_token(&self) -> BoxFuture<'_, Result<Secret, BackendError>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        futures::future::ready(Ok(Secret::new("pst_test_from_the_integrator"))).boxed()
    }
}

#[tokio::test]
async fn tokens_come_from_the_integrators_provider_and_the_default_one_posts_to_a_url() {
    let server = start(FaultInjector::default());
    let provider = Arc::new(FixedTokens(Default::default()));
    let config = HttpBackendConfig::new(server.url(), Secret::new(KEY));
    let backend = HttpBackend::with_token_provider(config.clone(), provider.clone()).unwrap();
    assert_eq!(
        backend.connection_token().await.unwrap().expose(),
        "pst_test_from_the_integrator"
    );
    assert_eq!(provider.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(
        backend.list_locations().await.unwrap().is_empty(),
        "other routes still go to the server"
    );

    let url = format!("{}/v1/terminal/connection_tokens", server.url());
    let by_url = UrlTokenProvider::new(url.clone(), Some(Secret::new(KEY)), &config).unwrap();
    assert!(
        by_url
            .fetch_connection_token()
            .await
            .unwrap()
            .expose()
            .starts_with("pst_test_")
    );
    let anonymous = UrlTokenProvider::new(url, None, &config).unwrap();
    assert_eq!(
        anonymous.fetch_connection_token().await.unwrap_err().code(),
        "unauthorized"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_server_switched_down_answers_503_until_restored() {
    let faults = FaultInjector::new(1);
    let server = start(faults.clone());
    let backend = client(&server, 1);
    faults.take_down();
    match backend.list_locations().await.unwrap_err() {
        BackendError::Status { status, attempts, .. } => assert_eq!((status, attempts), (503, 2)),
        other => panic!("expected a 503 after one retry, got {other:?}"),
    }
    faults.restore();
    assert!(backend.list_locations().await.is_ok());
    server.stop().await;
}
