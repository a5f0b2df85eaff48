//! The real path on real time: the `Terminal` started outside any actix
//! system (it runs its actors on a thread of its own), the real
//! `HttpBackend` over reqwest to the local backend server on 127.0.0.1,
//! simulated readers over `SimTransport`. No paused clock (real sockets).

mod common;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use readerlink::backend::{
    Backend, BackendServer, CreateLocation, HttpBackend, HttpBackendConfig, ServerConfig,
};
use readerlink::reader::ConnectionStatus;
use readerlink::scanner::{DiscoveryConfig, DiscoveryUpdate};
use readerlink::secret::Secret;
use readerlink::store::{MemoryStore, Store};
use readerlink::terminal::{ConnectionConfig, Terminal, TerminalEvent};
use readerlink::transport::sim::{Fleet, SimWorld};

const KEY: &str = "sk_test_terminal_integration";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_connects_and_registers_over_http_and_a_bad_location_changes_nothing() {
    common::init_tracing();
    let server = BackendServer::start(ServerConfig::ephemeral(Secret::new(KEY))).unwrap();
    let mut config = HttpBackendConfig::new(server.url(), Secret::new(KEY));
    config.timeout = Duration::from_secs(5);
    let backend = HttpBackend::new(config).unwrap();
    let shop = backend
        .create_location(CreateLocation::new("Shop", "1 Main St", "US"))
        .await
        .unwrap();

    let world = SimWorld::new(Fleet::example());
    let store = Arc::new(MemoryStore::new());
    let terminal = Terminal::builder(Arc::new(world.transport()), Arc::new(backend), store.clone())
        .seed(1)
        .start();
    let mut events = terminal.events();

    let mut discovery = terminal.discover_readers(DiscoveryConfig::scan()).await;
    let m2 = loop {
        match tokio::time::timeout(Duration::from_secs(10), discovery.updates.next()).await {
            Ok(Some(DiscoveryUpdate::ReadersUpdated(readers))) => {
                if let Some(r) = readers
                    .into_iter()
                    .find(|r| r.serial_number.as_str() == "STRM2-0001")
                {
                    break r;
                }
            }
            other => panic!("discovery ended or stalled: {other:?}"),
        }
    };

    let error = terminal
        .connect_reader(&m2, ConnectionConfig::new("tml_nowhere"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "location_not_found", "{error}");
    assert!(
        server.core().lock().unwrap().readers().is_empty(),
        "nothing registered"
    );

    let connected = tokio::time::timeout(
        Duration::from_secs(10),
        terminal.connect_reader(&m2, ConnectionConfig::new(&shop.id)),
    )
    .await
    .expect("connects within 10 s")
    .unwrap();
    assert_eq!(connected.serial_number, m2.serial_number);
    assert_eq!(terminal.connection_status(), ConnectionStatus::Connected);
    let registered = server.core().lock().unwrap().readers();
    assert_eq!(registered.len(), 1);
    assert_eq!(
        (&registered[0].serial_number, &registered[0].location),
        (&m2.serial_number, &shop.id)
    );
    assert_eq!(store.last_connected().unwrap().location, shop.id);

    terminal.disconnect_reader(&m2.serial_number).await.unwrap();
    assert_eq!(terminal.connection_status(), ConnectionStatus::NotConnected);
    let mut seen = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(200), events.next()).await {
        seen.push(event);
    }
    assert!(
        seen.iter().any(|e| matches!(e, TerminalEvent::Connected { .. })),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, TerminalEvent::Disconnected { .. })),
        "{seen:?}"
    );
    drop(terminal);
    server.stop().await;
}
