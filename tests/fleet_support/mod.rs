//! A fleet of simulated Stripe M2s, discovered by a terminal over the
//! in-process backend (on the caller's paused clock) and connected all at
//! once: the set-up of the tests that measure the runtime per reader.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use readerlink::backend::{Backend, BackendCore, CreateLocation, LocalBackend};
use readerlink::reader::{DeviceType, Reader};
use readerlink::scanner::{DiscoveryConfig, DiscoveryUpdate};
use readerlink::store::MemoryStore;
use readerlink::terminal::{ConnectionConfig, Terminal};
use readerlink::transport::sim::{ReaderSpec, SimWorld};

/// `n` M2s on software 3.1.0, serials `STRM2-<prefix><i>`.
pub fn m2s(n: usize, prefix: &str, charging: bool) -> Vec<ReaderSpec> {
    (0..n)
        .map(|i| {
            let mut spec = ReaderSpec::new(format!("STRM2-{prefix}{i:04}"), DeviceType::StripeM2, "3.1.0");
            spec.charging = charging;
            spec
        })
        .collect()
}

pub struct Fleet {
    pub world: SimWorld,
    pub terminal: Terminal,
    /// Every reader, as the discovery listed it.
    pub readers: Vec<Reader>,
    /// A connect to the backend's one location.
    pub config: ConnectionConfig,
}

impl Fleet {
    /// The readers of `specs`, discovered until all are listed; the
    /// discovery ended and settled.
    pub async fn discovered(specs: Vec<ReaderSpec>) -> Self {
        let n = specs.len();
        let world = SimWorld::with_readers(specs);
        let backend = LocalBackend::new(BackendCore::in_memory(1));
        let shop = backend
            .create_location(CreateLocation::new("Shop", "1 Main St", "US"))
            .await
            .unwrap();
        let terminal = Terminal::builder(
            Arc::new(world.transport()),
            Arc::new(backend.clone()),
            Arc::new(MemoryStore::new()),
        )
        .seed(1)
        .start();
        let mut discovery = terminal.discover_readers(DiscoveryConfig::scan()).await;
        let readers = loop {
            match discovery.updates.next().await {
                Some(DiscoveryUpdate::ReadersUpdated(readers)) if readers.len() == n => break readers,
                Some(_) => {}
                None => panic!("discovery ended before listing {n} readers"),
            }
        };
        drop(discovery);
        tokio::time::sleep(Duration::from_millis(10)).await;
        Self {
            world,
            terminal,
            readers,
            config: ConnectionConfig::new(&shop.id),
        }
    }

    /// Connects every reader at once; each connect must succeed. The
    /// answers are the app's to keep, so they are dropped, and what the
    /// connects set going settles.
    pub async fn connect_all(&self) {
        let results = futures::future::join_all(
            self.readers
                .iter()
                .map(|r| self.terminal.connect_reader(r, self.config.clone())),
        )
        .await;
        assert!(results.iter().all(Result::is_ok), "every connect succeeds");
        assert_eq!(self.terminal.connected_readers().len(), self.readers.len());
        drop(results);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
