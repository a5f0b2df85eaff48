//! [`LocalBackend`]: the backend core called in-process, with fault
//! injection, for simulations and virtual-time tests (no sockets, so it is
//! safe under a paused clock). The update catalog's times are ms of tokio
//! time since its epoch ([`LocalBackend::with_epoch`]), so they are virtual
//! too; a cut body ([`FaultInjector::cut_next_bodies`]) does not apply here.
//!
//! ```
//! use std::time::Duration;
//! use readerlink::backend::{Backend, BackendCore, LocalBackend, Route};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let backend = LocalBackend::new(BackendCore::in_memory(1));
//! backend.faults().set_latency(Route::ConnectionToken, Duration::from_millis(250));
//! let started = tokio::time::Instant::now();
//! backend.connection_token().await.unwrap();
//! assert_eq!(started.elapsed(), Duration::from_millis(250)); // virtual time
//! # }
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{
    Backend, BackendCore, BackendError, CatalogAnswer, CatalogEntry, CatalogScope, CreateLocation,
    FaultDecision, FaultInjector, Location, RegisterReader, RegisteredReader, Route, UpdateQuery,
};
use crate::firmware::PublicKey;
use crate::reader::{DeviceType, SerialNumber};
use crate::runtime::Millis;
use crate::secret::Secret;
use crate::transport::sim::Fleet;
use crate::updater::SimulatedUpdatePreset;

/// The backend core behind the [`Backend`] trait, in-process.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    core: Arc<Mutex<BackendCore>>,
    faults: FaultInjector,
    /// Calls slower than this (through injected latency) fail with
    /// [`BackendError::Timeout`], as the HTTP client's would.
    timeout: Option<Duration>,
    /// The catalog's times are ms since this instant: the runtime clock's
    /// epoch, so answers agree with the machines' time and are the same on
    /// every run of a paused clock.
    epoch: tokio::time::Instant,
}

impl LocalBackend {
    /// The core with no faults and no timeout.
    pub fn new(core: BackendCore) -> Self {
        Self::shared(Arc::new(Mutex::new(core)), FaultInjector::default())
    }

    /// A core shared with others (a server, a test that inspects it) and
    /// fault switches.
    pub fn shared(core: Arc<Mutex<BackendCore>>, faults: FaultInjector) -> Self {
        Self {
            core,
            faults,
            timeout: None,
            epoch: tokio::time::Instant::now(),
        }
    }

    /// Counts the catalog's times (`required_at`, the last latest-software
    /// run) in ms since `epoch` (by default: when the backend was made).
    /// Give it the run clock's epoch so they are the runtime's times.
    pub fn with_epoch(mut self, epoch: tokio::time::Instant) -> Self {
        self.epoch = epoch;
        self
    }

    /// Ms since the epoch, now.
    fn now_ms(&self) -> Millis {
        self.epoch.elapsed().as_millis() as Millis
    }

    /// Sets the updates offered to `scope` ([`BackendCore::set_catalog`]).
    pub fn set_catalog(&self, scope: CatalogScope, entries: Vec<CatalogEntry>) -> Result<(), BackendError> {
        self.lock().set_catalog(scope, entries)
    }

    /// Answers the reader `serial` from a simulated preset
    /// ([`BackendCore::set_update_preset`]).
    pub fn set_update_preset(&self, serial: impl Into<SerialNumber>, preset: SimulatedUpdatePreset) {
        self.lock().set_update_preset(serial, preset);
    }

    /// The seed `random` presets draw from ([`BackendCore::set_update_seed`]).
    pub fn set_update_seed(&self, seed: u64) {
        self.lock().set_update_seed(seed);
    }

    /// Answers each reader of `fleet` from the update preset its fleet
    /// entry names (`update = "…"`), `random` drawing from the fleet's
    /// seed, as the simulated world does for the battery.
    pub fn offer_fleet_updates(&self, fleet: &Fleet) {
        let mut core = self.lock();
        core.set_update_seed(fleet.seed);
        for reader in fleet.readers.iter().filter(|r| !r.update.is_none()) {
            core.set_update_preset(reader.serial.clone(), reader.update);
        }
    }

    /// The public key update manifests are signed with (R19), to pin in
    /// the terminal ([`crate::terminal::TerminalBuilder::trusted_update_keys`]).
    pub fn update_public_key(&self) -> Result<PublicKey, BackendError> {
        self.lock().update_public_key()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BackendCore> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes calls fail with [`BackendError::Timeout`] after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The fault switches.
    pub fn faults(&self) -> &FaultInjector {
        &self.faults
    }

    /// The core, to inspect or seed its data.
    pub fn core(&self) -> &Arc<Mutex<BackendCore>> {
        &self.core
    }

    async fn call<T>(
        &self,
        route: Route,
        f: impl FnOnce(&mut BackendCore) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let (latency, fail) = match self.faults.decide(route) {
            FaultDecision::Down => {
                tracing::debug!(route = route.name(), "local backend is down");
                return Err(BackendError::ConnectionFailed {
                    route: route.name().into(),
                    attempts: 1,
                    reason: "the backend is down".into(),
                });
            }
            FaultDecision::Proceed { latency, fail } => (latency, fail),
        };
        if let Some(timeout) = self.timeout.filter(|t| latency >= *t) {
            tokio::time::sleep(timeout).await;
            return Err(BackendError::Timeout {
                route: route.name().into(),
                after_ms: timeout.as_millis() as u64,
            });
        }
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if fail {
            tracing::debug!(route = route.name(), "injected failure");
            return Err(BackendError::Status {
                route: route.name().into(),
                status: 500,
                error_type: Some("api_error".into()),
                message: "injected failure".into(),
                attempts: 1,
            });
        }
        f(&mut self.lock())
    }
}

impl Backend for LocalBackend {
    fn connection_token(&self) -> BoxFuture<'_, Result<Secret, BackendError>> {
        self.call(Route::ConnectionToken, |core| core.create_connection_token(None))
            .boxed()
    }

    fn location(&self, id: &str) -> BoxFuture<'_, Result<Location, BackendError>> {
        let id = id.to_owned();
        self.call(Route::GetLocation, move |core| core.location(&id))
            .boxed()
    }

    fn create_location(&self, request: CreateLocation) -> BoxFuture<'_, Result<Location, BackendError>> {
        self.call(Route::CreateLocation, move |core| core.create_location(request))
            .boxed()
    }

    fn list_locations(&self) -> BoxFuture<'_, Result<Vec<Location>, BackendError>> {
        self.call(Route::ListLocations, |core| Ok(core.list_locations()))
            .boxed()
    }

    fn register_reader(
        &self,
        request: RegisterReader,
    ) -> BoxFuture<'_, Result<RegisteredReader, BackendError>> {
        self.call(Route::RegisterReader, move |core| core.register_reader(request))
            .boxed()
    }

    fn check_update(&self, query: UpdateQuery) -> BoxFuture<'_, Result<CatalogAnswer, BackendError>> {
        // The time is the answer's, read once injected latency has passed,
        // as over HTTP.
        self.call(Route::CheckUpdate, move |core| {
            core.check_update(&query, self.now_ms())
        })
        .boxed()
    }

    fn download_update(
        &self,
        device_type: DeviceType,
        version: &str,
        from: u32,
    ) -> BoxFuture<'_, Result<Vec<u8>, BackendError>> {
        let version = version.to_owned();
        self.call(Route::DownloadUpdate, move |core| {
            core.download_update(device_type, &version, from)
        })
        .boxed()
    }
}
