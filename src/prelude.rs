//! What a basic app needs, in one import:
//!
//! ```
//! use readerlink::prelude::*;
//! ```
//!
//! The terminal and its configuration, the events and their delegate, the
//! errors a call answers, the reader types, the keys update manifests must
//! be signed with (R19), the [`Backend`] trait (so
//! `backend.create_location(..).await` works on any backend), and — to run
//! without hardware or a server, in tests and demos — the simulated world
//! and its fleets and update presets, the in-process backend and the
//! in-memory store.
//!
//! A location on the in-process backend, without locking its core — the
//! [`Backend`] call an app makes on any backend:
//!
//! ```
//! use readerlink::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = LocalBackend::new(BackendCore::in_memory(1));
//! let shop = backend
//!     .create_location(CreateLocation::new("Corner shop", "2 Market St", "US"))
//!     .await?;
//! let config = ConnectionConfig::new(&shop.id);
//! assert_eq!(config.location_id, shop.id);
//! # Ok(())
//! # }
//! ```

pub use crate::backend::{Backend, BackendCore, CreateLocation, LocalBackend};
pub use crate::cancelable::{CancelOutcome, Cancelable};
pub use crate::firmware::TrustedKeys;
pub use crate::reader::{Battery, ConnectionStatus, DisconnectReason, Reader, SerialNumber};
pub use crate::reconnect::ReconnectError;
pub use crate::scanner::{DiscoveryConfig, DiscoveryError, DiscoveryUpdate};
pub use crate::store::MemoryStore;
pub use crate::terminal::{
    ConnectionConfig, Terminal, TerminalDelegate, TerminalError, TerminalEvent, Transaction,
};
pub use crate::transport::sim::{Fleet, SimWorld};
pub use crate::updater::{
    ReaderSoftwareUpdate, SimulatedUpdatePreset, UpdateComponent, UpdateError, UpdateTimeEstimate,
};
