//! The backend boundary: connection tokens, locations and reader
//! registration, as the connection actor needs them, and the update
//! catalog and its images, as the updater needs them (R13–R18).
//!
//! | side | what |
//! |---|---|
//! | [`Backend`] | the trait the connection actor calls |
//! | [`BackendCore`] | the routes' logic and data, plain synchronous code |
//! | [`CatalogScope`], [`CatalogEntry`], [`UpdateQuery`], [`CatalogAnswer`] | the update catalog: updates per location and device type with their images, per-reader simulated presets, the last latest-software run (R15) |
//! | [`journal`] | the data file: an append-only log, locked, compacted |
//! | [`LocalBackend`] | the core in-process, with [`FaultInjector`] faults (virtual-time runs) |
//! | [`server`] | the local HTTP server: `actix-web` over the core, the hosted API's paths and error shape |
//! | [`http`] | [`HttpBackend`]: the `reqwest` client, with timeouts, retries and a [`ConnectionTokenProvider`] |
//!
//! Every failure is a [`BackendError`] with a stable code, the same kinds
//! on both sides: an injected failure is a 500 [`BackendError::Status`] in
//! process and over HTTP; a backend switched down is a
//! [`BackendError::ConnectionFailed`] in process and a 503
//! [`BackendError::Status`] over HTTP (the server is still listening), after
//! the client's retries.
//!
//! The catalog (in the core, in memory): [`BackendCore::check_update`]
//! answers a reader from its simulated preset
//! ([`BackendCore::set_update_preset`]) or else from the latest entry of
//! its scope ([`BackendCore::set_catalog`]) offered to its software, and
//! records when it ran the latest software; [`BackendCore::download_update`]
//! serves an image from a byte on, which [`HttpBackend`] uses to resume a
//! download cut short.
//!
//! ```
//! use readerlink::backend::{Address, Backend, BackendCore, CreateLocation, LocalBackend};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let backend: Box<dyn Backend> = Box::new(LocalBackend::new(BackendCore::in_memory(1)));
//! let shop = backend
//!     .create_location(CreateLocation {
//!         display_name: "Shop".into(),
//!         address: Address { line1: "1 Main St".into(), country: "US".into(), ..Address::default() },
//!     })
//!     .await
//!     .unwrap();
//! assert_eq!(backend.location(&shop.id).await.unwrap(), shop);
//! assert_eq!(backend.location("tml_none").await.unwrap_err().code(), "resource_missing");
//! # }
//! ```

mod catalog;
pub mod core;
mod error;
pub mod faults;
pub mod http;
pub mod journal;
pub mod local;
pub mod server;
mod types;

use futures::future::BoxFuture;

pub use self::core::{BACKEND_DATA_VERSION, BackendCore, BackendData, TokenSource};
pub use catalog::{CatalogAnswer, CatalogEntry, CatalogScope, UpdateQuery};
pub use error::{ApiError, ApiErrorBody, BackendError};
pub use faults::{FaultDecision, FaultInjector, RouteFaults};
pub use http::{ConnectionTokenProvider, HttpBackend, HttpBackendConfig, UrlTokenProvider};
pub use journal::DataError;
pub use local::LocalBackend;
pub use server::{BackendServer, DEFAULT_SECRET_KEY, RunningServer, ServerConfig, ServerError};
pub use types::{
    Address, CreateLocation, Form, Location, LocationId, MAX_ID_CHARS, MAX_TEXT_CHARS, ReaderIdentity,
    RegisterReader, RegisteredReader, Route, parse_form,
};

use crate::secret::Secret;

/// The backend as the connection actor sees it. Object-safe: hold it as
/// `Arc<dyn Backend>`.
pub trait Backend: Send + Sync + 'static {
    /// A connection token for the reader SDK session.
    fn connection_token(&self) -> BoxFuture<'_, Result<Secret, BackendError>>;
    /// One location; [`BackendError::NotFound`] when there is none by that id.
    fn location(&self, id: &str) -> BoxFuture<'_, Result<Location, BackendError>>;
    /// Creates a location.
    fn create_location(&self, request: CreateLocation) -> BoxFuture<'_, Result<Location, BackendError>>;
    /// Every location.
    fn list_locations(&self) -> BoxFuture<'_, Result<Vec<Location>, BackendError>>;
    /// Registers a reader to a location (R6).
    fn register_reader(
        &self,
        request: RegisterReader,
    ) -> BoxFuture<'_, Result<RegisteredReader, BackendError>>;
    /// The update catalog's answer for a reader at a location (R13–R18):
    /// the update its software is owed, and when it last ran the latest
    /// software there (R15).
    fn check_update(&self, query: UpdateQuery) -> BoxFuture<'_, Result<CatalogAnswer, BackendError>>;
    /// The image of the update to `version` for `device_type`, from byte
    /// `from` to its end (a resumed download asks for the rest).
    fn download_update(
        &self,
        device_type: crate::reader::DeviceType,
        version: &str,
        from: u32,
    ) -> BoxFuture<'_, Result<Vec<u8>, BackendError>>;
}
