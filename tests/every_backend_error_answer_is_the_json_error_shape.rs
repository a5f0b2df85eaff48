//! Whatever refuses a request (the router, the body reader, auth, the
//! core), the answer is the error shape `{"error": {"type", "code",
//! "message", ...}}` with a stable code: 413 and 405 included, which
//! actix-web answered in plain text or as a 404 before, and the update
//! catalog's routes (416 is in the catalog's own HTTP test). Real HTTP on real
//! time, 127.0.0.1 only.

mod common;

use readerlink::backend::server::MAX_BODY_BYTES;
use readerlink::backend::{BackendServer, RunningServer, ServerConfig};
use readerlink::secret::Secret;
use reqwest::{Method, Response};
use serde_json::Value;

const KEY: &str = "sk_test_shapes";

fn start() -> RunningServer {
    common::init_tracing();
    BackendServer::start(ServerConfig::ephemeral(Secret::new(KEY))).unwrap()
}

/// Checks the shape and returns the code.
async fn error_code(response: Response, status: u16) -> String {
    assert_eq!(response.status(), status, "{response:?}");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{status}: {content_type}"
    );
    let body: Value = response.json().await.unwrap();
    let error = &body["error"];
    assert!(error["type"].is_string(), "{status}: {body}");
    assert!(
        !error["message"].as_str().unwrap_or_default().is_empty(),
        "{status}: {body}"
    );
    error["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{status}: no code in {body}"))
        .to_owned()
}

#[tokio::test]
async fn every_refusal_has_a_code_and_a_message() {
    let server = start();
    let url = |path: &str| format!("{}{path}", server.url());
    let http = reqwest::Client::new();
    let send = |method: Method, path: &str, key: Option<&str>, body: Vec<u8>| {
        let mut request = http.request(method, url(path)).body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request
            .header("content-type", "application/x-www-form-urlencoded")
            .send()
    };
    // method, path, key, body, expected status, expected code
    type Case<'a> = (Method, &'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            Method::GET,
            "/v1/terminal/locations",
            None,
            vec![],
            401,
            "unauthorized",
        ),
        (
            Method::GET,
            "/v1/terminal/locations",
            Some("sk_wrong"),
            vec![],
            401,
            "unauthorized",
        ),
        (
            Method::GET,
            "/v1/terminal/teleport",
            Some(KEY),
            vec![],
            404,
            "unknown_route",
        ),
        (
            Method::GET,
            "/v1/terminal/locations/tml_x",
            Some(KEY),
            vec![],
            404,
            "resource_missing",
        ),
        (
            Method::GET,
            "/v1/terminal/locations/%FF%FE",
            Some(KEY),
            vec![],
            404,
            "resource_missing",
        ),
        (
            Method::GET,
            "/v1/terminal/connection_tokens",
            Some(KEY),
            vec![],
            405,
            "method_not_allowed",
        ),
        (
            Method::DELETE,
            "/v1/terminal/locations",
            Some(KEY),
            vec![],
            405,
            "method_not_allowed",
        ),
        (
            Method::POST,
            "/v1/terminal/locations/tml_x",
            Some(KEY),
            vec![],
            405,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/v1/terminal/readers",
            Some(KEY),
            vec![],
            405,
            "method_not_allowed",
        ),
        (
            Method::POST,
            "/v1/terminal/locations",
            Some(KEY),
            b"display_name=Shop".to_vec(),
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            "/v1/terminal/locations",
            Some(KEY),
            vec![b'a'; MAX_BODY_BYTES + 1],
            413,
            "payload_too_large",
        ),
        (
            Method::GET,
            "/v1/terminal/updates?location=tml_x&serial_number=S1&device_type=stripe_m2",
            Some(KEY),
            vec![],
            400,
            "invalid_request",
        ),
        (
            Method::GET,
            "/v1/terminal/updates?location=tml_x&serial_number=S1&device_type=stripe_m2&software_version=1.0",
            Some(KEY),
            vec![],
            404,
            "resource_missing",
        ),
        (
            Method::POST,
            "/v1/terminal/updates",
            Some(KEY),
            vec![],
            405,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/v1/terminal/updates/stripe_m2/9.9.9/image",
            Some(KEY),
            vec![],
            404,
            "resource_missing",
        ),
        (
            Method::GET,
            "/v1/terminal/updates/toaster/9.9.9/image",
            Some(KEY),
            vec![],
            404,
            "resource_missing",
        ),
        (
            Method::GET,
            "/v1/terminal/updates/stripe_m2/9.9.9/image",
            None,
            vec![],
            401,
            "unauthorized",
        ),
    ];
    for (method, path, key, body, status, code) in cases {
        let response = send(method.clone(), path, key, body).await.unwrap();
        assert_eq!(error_code(response, status).await, code, "{method} {path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_method_names_the_allowed_ones() {
    let server = start();
    let response = reqwest::Client::new()
        .put(format!("{}/v1/terminal/locations", server.url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET, POST");
    assert_eq!(error_code(response, 405).await, "method_not_allowed");
    server.stop().await;
}
