//! Connection tokens of a server come from the OS's cryptographic random
//! source: two servers never issue the same sequence (they did when every
//! token was derived from a default seed of 0). A seed given explicitly
//! still makes a deterministic run, and in-process cores (virtual-time runs)
//! stay seeded. Real HTTP on real time, 127.0.0.1 only.

mod common;

use readerlink::backend::{
    Backend, BackendCore, BackendServer, HttpBackend, HttpBackendConfig, RunningServer, ServerConfig,
    TokenSource,
};
use readerlink::secret::Secret;

const KEY: &str = "sk_test_tokens";

async fn three_tokens(server: &RunningServer) -> Vec<String> {
    let backend = HttpBackend::new(HttpBackendConfig::new(server.url(), Secret::new(KEY))).unwrap();
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(backend.connection_token().await.unwrap().expose().to_owned());
    }
    tokens
}

#[tokio::test]
async fn two_servers_started_alike_issue_different_tokens() {
    common::init_tracing();
    let a = BackendServer::start(ServerConfig::ephemeral(Secret::new(KEY))).unwrap();
    let b = BackendServer::start(ServerConfig::ephemeral(Secret::new(KEY))).unwrap();
    let (from_a, from_b) = (three_tokens(&a).await, three_tokens(&b).await);
    for token in from_a.iter().chain(&from_b) {
        assert!(
            token.starts_with("pst_test_") && token.len() == "pst_test_".len() + 32,
            "{token}"
        );
    }
    for token in &from_a {
        assert!(!from_b.contains(token), "both servers issued {token}");
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn servers_given_the_same_seed_issue_the_same_tokens() {
    common::init_tracing();
    let seeded = || {
        let mut config = ServerConfig::ephemeral(Secret::new(KEY));
        config.seed = Some(42);
        BackendServer::start(config).unwrap()
    };
    let (a, b) = (seeded(), seeded());
    let from_a = three_tokens(&a).await;
    assert_eq!(from_a, three_tokens(&b).await);
    assert_ne!(from_a[0], from_a[1]);
    a.stop().await;
    b.stop().await;
}

#[test]
fn an_in_memory_core_stays_seeded_for_virtual_time_runs() {
    let tokens = |mut core: BackendCore| {
        [(); 3].map(|_| core.create_connection_token(None).unwrap().expose().to_owned())
    };
    assert_eq!(
        tokens(BackendCore::in_memory(7)),
        tokens(BackendCore::in_memory(7))
    );
    assert_eq!(
        tokens(BackendCore::in_memory(7)),
        tokens(BackendCore::in_memory_with(TokenSource::Seeded(7)))
    );
    assert_ne!(
        tokens(BackendCore::in_memory_with(TokenSource::OsRandom)),
        tokens(BackendCore::in_memory_with(TokenSource::OsRandom))
    );
}
