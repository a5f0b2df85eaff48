//! `Authorization: bearer <key>` is as good as `Bearer` (the scheme is
//! case-insensitive, RFC 9110 §11.1); a form field that is not UTF-8 is a
//! 400 naming it (it was stored with replacement characters); fields have
//! bounded lengths and no control or bidirectional-formatting characters. Real HTTP on real time,
//! 127.0.0.1 only.

mod common;

use readerlink::backend::{BackendServer, MAX_ID_CHARS, MAX_TEXT_CHARS, RunningServer, ServerConfig};
use readerlink::secret::Secret;
use serde_json::Value;

const KEY: &str = "sk_test_forms";

fn start() -> RunningServer {
    common::init_tracing();
    BackendServer::start(ServerConfig::ephemeral(Secret::new(KEY))).unwrap()
}

async fn post(server: &RunningServer, path: &str, authorization: &str, body: Vec<u8>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.url()))
        .header("authorization", authorization)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

const SHOP: &str = "display_name=Shop&address%5Bline1%5D=1+Main+St&address%5Bcountry%5D=US";

#[tokio::test]
async fn the_bearer_scheme_is_taken_in_any_case() {
    let server = start();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let (status, body) = post(
            &server,
            "/v1/terminal/locations",
            &format!("{scheme} {KEY}"),
            SHOP.into(),
        )
        .await;
        assert_eq!(status, 200, "{scheme}: {body}");
    }
    let (status, _) = post(
        &server,
        "/v1/terminal/locations",
        &format!("Basic {KEY}"),
        SHOP.into(),
    )
    .await;
    assert_eq!(status, 401);
    server.stop().await;
}

#[tokio::test]
async fn a_field_that_is_not_utf8_is_refused_naming_it_and_nothing_is_stored() {
    let server = start();
    let bearer = format!("Bearer {KEY}");
    for body in [
        b"display_name=Caf%E9&address%5Bline1%5D=1+Main+St&address%5Bcountry%5D=US".to_vec(),
        [
            &b"display_name=Caf\xe9&"[..],
            b"address%5Bline1%5D=1+Main+St&address%5Bcountry%5D=US",
        ]
        .concat(),
    ] {
        let (status, answer) = post(&server, "/v1/terminal/locations", &bearer, body).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["param"], "display_name", "{answer}");
    }
    assert!(server.core().lock().unwrap().list_locations().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn fields_over_their_length_or_with_control_characters_are_refused_naming_them() {
    let server = start();
    let bearer = format!("Bearer {KEY}");
    let (_, shop) = post(&server, "/v1/terminal/locations", &bearer, SHOP.into()).await;
    let location = shop["id"].as_str().unwrap().to_owned();
    let long_text = "a".repeat(MAX_TEXT_CHARS + 1);
    let long_id = "A".repeat(MAX_ID_CHARS + 1);
    let cases = [
        (
            "/v1/terminal/locations",
            format!("display_name={long_text}&address%5Bline1%5D=1&address%5Bcountry%5D=US"),
            "display_name",
        ),
        (
            "/v1/terminal/locations",
            format!(
                "display_name=Shop&address%5Bline1%5D=1&address%5Bcity%5D={long_text}&address%5Bcountry%5D=US"
            ),
            "address[city]",
        ),
        (
            "/v1/terminal/locations",
            "display_name=Shop%0AFAKE+LOG+LINE&address%5Bline1%5D=1&address%5Bcountry%5D=US".into(),
            "display_name",
        ),
        (
            // U+202E RIGHT-TO-LEFT OVERRIDE: shown, it reverses what follows.
            "/v1/terminal/locations",
            "display_name=Shop%E2%80%AEtxt.exe&address%5Bline1%5D=1&address%5Bcountry%5D=US".into(),
            "display_name",
        ),
        (
            "/v1/terminal/readers",
            format!("serial_number=S1%E2%81%A6&device_type=stripe_m2&location={location}&label=x"),
            "serial_number",
        ),
        (
            "/v1/terminal/readers",
            format!("serial_number={long_id}&device_type=stripe_m2&location={location}"),
            "serial_number",
        ),
        (
            "/v1/terminal/readers",
            format!("serial_number=S1%1B%5B31m&device_type=stripe_m2&location={location}"),
            "serial_number",
        ),
        (
            "/v1/terminal/readers",
            format!("serial_number=S1&device_type=stripe_m2&location={location}&label={long_text}"),
            "label",
        ),
        (
            "/v1/terminal/readers",
            format!("registration_code={long_id}&location={location}"),
            "registration_code",
        ),
    ];
    for (path, body, param) in cases {
        let (status, answer) = post(&server, path, &bearer, body.into_bytes()).await;
        assert_eq!(status, 400, "{param}: {answer}");
        assert_eq!(answer["error"]["param"], param, "{answer}");
        assert_eq!(answer["error"]["code"], "invalid_request", "{answer}");
    }
    let at_the_limit = format!(
        "serial_number={}&device_type=stripe_m2&location={location}&label={}",
        "A".repeat(MAX_ID_CHARS),
        "é".repeat(MAX_TEXT_CHARS)
    );
    let (status, answer) = post(
        &server,
        "/v1/terminal/readers",
        &bearer,
        at_the_limit.into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "the bounds are in characters, inclusive: {answer}");
    let (readers, locations) = {
        let core = server.core().lock().unwrap();
        (core.readers().len(), core.list_locations().len())
    };
    assert_eq!((readers, locations), (1, 1));
    server.stop().await;
}
