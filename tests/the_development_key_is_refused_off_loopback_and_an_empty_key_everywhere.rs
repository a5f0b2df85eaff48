//! The development key is public (it is in the source), so a server with
//! it only listens on loopback; an empty key is refused everywhere. The
//! checks run before anything is bound: these tests bind nothing but
//! 127.0.0.1, and the refused addresses are never bound (192.0.2.1 is
//! TEST-NET-1, RFC 5737).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use readerlink::backend::{BackendServer, DEFAULT_SECRET_KEY, ServerConfig, ServerError};
use readerlink::secret::Secret;

fn config(listen: &str, key: &str) -> ServerConfig {
    let mut config = ServerConfig::ephemeral(Secret::new(key));
    config.listen = listen.parse().unwrap();
    config
}

#[test]
fn the_development_key_is_refused_on_any_address_but_loopback() {
    common::init_tracing();
    for listen in ["192.0.2.1:4242", "0.0.0.0:0", "[::]:0", "[::ffff:192.0.2.1]:4242"] {
        match BackendServer::start(config(listen, DEFAULT_SECRET_KEY)) {
            Err(ServerError::DevelopmentKeyOffLoopback { addr }) => {
                assert_eq!(addr, listen.parse().unwrap())
            }
            other => panic!("{listen}: expected a refusal, got {other:?}"),
        }
    }
    let err = BackendServer::start(config("192.0.2.1:4242", DEFAULT_SECRET_KEY)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("--secret-key") && message.contains("loopback"),
        "{message}"
    );
}

/// 127.0.0.1 spelled as an IPv4-mapped IPv6 address is loopback too (it
/// was refused).
#[tokio::test]
async fn the_development_key_is_accepted_on_loopback() {
    common::init_tracing();
    for listen in ["127.0.0.1:0", "[::ffff:127.0.0.1]:0"] {
        let server = BackendServer::start(config(listen, DEFAULT_SECRET_KEY))
            .unwrap_or_else(|e| panic!("{listen}: {e}"));
        server.stop().await;
    }
}

#[test]
fn an_empty_or_blank_key_is_refused() {
    for key in ["", "  "] {
        assert!(
            matches!(
                BackendServer::start(config("127.0.0.1:0", key)),
                Err(ServerError::EmptySecretKey)
            ),
            "{key:?}"
        );
    }
}

/// Runs `readerlink backend` with `args` and waits (boundedly) for it to
/// exit; returns its exit success and stderr.
fn backend_cli(args: &[&str]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .arg("backend")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            return (status.success(), stderr);
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("`readerlink backend {args:?}` did not exit: it was not refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_cli_refuses_a_non_loopback_address_without_a_key_and_an_empty_key() {
    let (ok, stderr) = backend_cli(&["--listen", "192.0.2.1:4242"]);
    assert!(!ok);
    assert!(
        stderr.contains("--secret-key") && stderr.contains("loopback"),
        "{stderr}"
    );
    let (ok, stderr) = backend_cli(&["--listen", "127.0.0.1:0", "--secret-key", ""]);
    assert!(!ok);
    assert!(stderr.contains("secret key is empty"), "{stderr}");
}
