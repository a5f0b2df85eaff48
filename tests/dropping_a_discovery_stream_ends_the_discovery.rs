//! An app that drops its discovery stream without cancelling does not leave
//! the scan running: the discovery ends and the status leaves `Discovering`
//! (R2, R5).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use readerlink::backend::{BackendCore, LocalBackend};
use readerlink::reader::ConnectionStatus;
use readerlink::runtime::virtual_time_system;
use readerlink::scanner::{DiscoveryConfig, DiscoveryUpdate};
use readerlink::store::MemoryStore;
use readerlink::terminal::Terminal;
use readerlink::transport::sim::SimWorld;

#[test]
fn dropping_the_stream_of_a_discovery_without_a_timeout_stops_it() {
    virtual_time_system().block_on(async {
        let world = SimWorld::example();
        let terminal = Terminal::builder(
            Arc::new(world.transport()),
            Arc::new(LocalBackend::new(BackendCore::in_memory(1))),
            Arc::new(MemoryStore::new()),
        )
        .start();
        let mut discovery = terminal.discover_readers(DiscoveryConfig::scan()).await;
        let first = tokio::time::timeout(Duration::from_secs(5), discovery.updates.next())
            .await
            .unwrap();
        assert!(matches!(first, Some(DiscoveryUpdate::ReadersUpdated(_))));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(terminal.connection_status(), ConnectionStatus::Discovering);

        drop(discovery);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            terminal.connection_status(),
            ConnectionStatus::NotConnected,
            "the scan stopped"
        );
    });
}
