//! A client that sends part of a request and stops holds nothing for long:
//! a body that does not arrive within the request timeout is answered 408
//! in the JSON error shape (before, the server waited for it forever), and
//! a connection that sends nothing is closed. Raw sockets to 127.0.0.1 on
//! real time; every wait is bounded.

mod common;

use std::time::Duration;

use readerlink::backend::server::MAX_BODY_BYTES;
use readerlink::backend::{BackendServer, RunningServer, ServerConfig};
use readerlink::secret::Secret;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "sk_test_slow";

/// The longest any answer may take here: far above the server's timeout,
/// far below "forever".
const BOUND: Duration = Duration::from_secs(10);

fn start() -> RunningServer {
    common::init_tracing();
    let mut config = ServerConfig::ephemeral(Secret::new(KEY));
    config.request_timeout = Duration::from_millis(300);
    BackendServer::start(config).unwrap()
}

/// Reads until the server closes the connection; panics past [`BOUND`].
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(BOUND, stream.read_to_end(&mut answer))
        .await
        .expect("the server answered and closed within the bound")
        .unwrap();
    String::from_utf8(answer).unwrap()
}

fn json_body(answer: &str) -> Value {
    let (_, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

#[tokio::test]
async fn a_body_that_stops_after_3_of_its_1000_bytes_is_answered_408() {
    let server = start();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /v1/terminal/locations HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ndis",
        server.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(json_body(&answer)["error"]["code"], "request_timeout");
    assert!(server.core().lock().unwrap().list_locations().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_a_json_413() {
    let server = start();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /v1/terminal/locations HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {KEY}\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("400\r\n{}\r\n", "a".repeat(1024));
    for _ in 0..(MAX_BODY_BYTES / 1024 + 2) {
        // The server may answer and close before the last chunks.
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(json_body(&answer)["error"]["code"], "payload_too_large");
    server.stop().await;
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let server = start();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // actix-web answers a head that never came with a bare 408 (no route
    // saw it), then closes.
    let answer = read_answer(&mut stream).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    server.stop().await;
}
