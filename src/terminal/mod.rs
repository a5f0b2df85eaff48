//! The public API: a [`Terminal`] connects readers to business locations
//! and tells the app what happens to them as one stream of
//! [`TerminalEvent`]s. It is plain async Rust: no actix in its signatures.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Terminal`], [`TerminalBuilder`] |
//! | `messages.rs` | [`ConnectionConfig`], [`TerminalError`], the hub's inputs and outputs |
//! | `events.rs` | [`TerminalEvent`], [`TerminalDelegate`] |
//! | `machine.rs` | the hub's pure machine [`Hub`] and its table [`SPEC`]: calls, the overall status ([`overall_status`]), reconnect at start |
//! | `actor.rs` | the hub's shell: one [`crate::session`] actor per reader (R21), the store, the fan-out |
//! | `transaction.rs` | [`Transaction`], a payment in progress on a reader (R20) |
//!
//! # Reconnection (R8–R12) and the order of events
//!
//! Each reader connected gets a session ([`crate::session`]), which owns
//! its connection and its reconnect supervisor ([`crate::reconnect`]). When its connection ends for a reason that
//! reconnects ([`crate::reader::DisconnectReason::reconnects`]: anything
//! but the app's own disconnect and a critically low battery; reboots
//! included) and its config has `auto_reconnect_on_unexpected_disconnect`,
//! the reader is reconnected — the whole connect, registration included,
//! to the same location — with backoff and seeded jitter within a window
//! ([`TerminalBuilder::reconnect_policy`], 60 s by default). Per reader,
//! the stream then reads, in this order:
//!
//! 1. `ReconnectStarted { reason, cancelable }`, then `ReaderStatusChanged
//!    { Reconnecting }` (and the overall status, if it changes) — never a
//!    `Disconnected` or a `NotConnected` status before it;
//! 2. exactly one of
//!    - `ReconnectSucceeded`, `ReaderStatusChanged { Connected }`, the
//!      overall status (if it changes), then `Connected { reader, location
//!      }` — the order of a first connect, after `ReconnectSucceeded`; or
//!    - `ReconnectFailed { error }` (`connect_timed_out` at the window's
//!      end, `reconnect_cancelled` when the cancelable, `cancel_reconnect`
//!      or `disconnect_reader` stopped it), `ReaderStatusChanged {
//!      NotConnected }`, the overall status, then `Disconnected { reason }`
//!      with the reason the connection first ended.
//!
//! Cancelling a reconnection that has ended answers `AlreadyEnded` and
//! changes nothing. With auto-reconnect off, or for a reason that does not
//! reconnect, only `ReaderStatusChanged { NotConnected }`, the overall
//! status and `Disconnected { reason }` are reported (R10). A
//! `Disconnected` always comes after the status changes of the same
//! moment, and before the answer to a `disconnect_reader` that awaited it.
//!
//! A reader actor whose machine panics is restarted under
//! [`TerminalBuilder::restart_intensity`] (1 in 5 s by default): a
//! restarted connection reports its session ended (reason unknown, which
//! reconnects). Past the intensity the reader is reported
//! `ReaderActorFailed`, then disconnected (reason unknown) and not
//! reconnected; the other readers are not affected.
//!
//! Reconnect at start (R11) is opt-in: [`Terminal::reconnect_saved_reader`].
//!
//! Inside an actix system (a test's [`crate::runtime::virtual_time_system`],
//! an actix-web app) the terminal's actors run on the current arbiter, on
//! whatever clock it has — paused or real. Anywhere else (a plain
//! `#[tokio::main]`, a thread) [`TerminalBuilder::start`] runs them on a
//! thread of their own, on real time, stopped when the terminal is dropped.
//!
//! A whole session on a paused clock — discover, connect, watch events,
//! disconnect (on real time the same code runs with `#[tokio::main]` and no
//! actix system):
//!
//! ```
//! use std::sync::Arc;
//! use futures::StreamExt;
//! use readerlink::backend::{Address, BackendCore, CreateLocation, LocalBackend};
//! use readerlink::reader::{ConnectionStatus, DisconnectReason};
//! use readerlink::scanner::{DiscoveryConfig, DiscoveryUpdate};
//! use readerlink::store::MemoryStore;
//! use readerlink::terminal::{ConnectionConfig, Terminal, TerminalEvent};
//! use readerlink::transport::sim::SimWorld;
//!
//! readerlink::runtime::virtual_time_system().block_on(async {
//!     let world = SimWorld::example();
//!     let backend = LocalBackend::new(BackendCore::in_memory(1));
//!     let shop = backend.core().lock().unwrap().create_location(CreateLocation {
//!         display_name: "Shop".into(),
//!         address: Address { line1: "1 Main St".into(), country: "US".into(), ..Address::default() },
//!     }).unwrap();
//!     let terminal = Terminal::builder(
//!         Arc::new(world.transport()),
//!         Arc::new(backend),
//!         Arc::new(MemoryStore::new()),
//!     )
//!     .seed(1)
//!     .start();
//!     let mut events = terminal.events();
//!
//!     let mut discovery = terminal.discover_readers(DiscoveryConfig::scan()).await;
//!     let reader = loop {
//!         if let Some(DiscoveryUpdate::ReadersUpdated(readers)) = discovery.updates.next().await {
//!             if let Some(m2) = readers.into_iter().find(|r| r.serial_number.as_str() == "STRM2-0001") {
//!                 break m2;
//!             }
//!         }
//!     };
//!     let reader = terminal.connect_reader(&reader, ConnectionConfig::new(&shop.id)).await.unwrap();
//!     assert_eq!(terminal.connection_status(), ConnectionStatus::Connected);
//!
//!     terminal.disconnect_reader(&reader.serial_number).await.unwrap();
//!     loop {
//!         if let Some(TerminalEvent::Disconnected { reason, .. }) = events.next().await {
//!             assert_eq!(reason, DisconnectReason::DisconnectRequested);
//!             break;
//!         }
//!     }
//! });
//! ```

mod actor;
mod events;
mod machine;
mod messages;
mod transaction;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Addr;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::{BroadcastStream, UnboundedReceiverStream};

use actor::HubActor;
pub use events::{TerminalDelegate, TerminalEvent};
pub use machine::{Hub, SPEC, overall_status};
pub use messages::{
    CallId, CallOutcome, ConnectionConfig, TerminalError, TerminalInput, TerminalOutput, TerminalTimer,
};
pub use transaction::Transaction;

use crate::backend::Backend;
use crate::cancelable::CancelOutcome;
use crate::firmware::TrustedKeys;
use crate::reader::{ConnectionStatus, Reader, SerialNumber};
use crate::reboot::RebootPolicy;
use crate::reconnect::ReconnectPolicy;
use crate::runtime::RestartIntensity;
use crate::runtime::shell::{Clock, Deliver};
use crate::runtime::trace::Tracer;
use crate::scanner::{Discovery, DiscoveryConfig, DiscoveryUpdate, ScannerHandle};
use crate::session::{SessionParts, Supervisors};
use crate::store::Store;
use crate::transport::Transport;
use crate::updater::UpdaterPolicy;
use actor::{Calls, HubParts, TerminalView, start_hub};

/// How many events a slow subscriber may fall behind before it is told
/// [`TerminalEvent::EventsMissed`].
pub const DEFAULT_EVENT_CAPACITY: usize = 1024;

/// Builds a [`Terminal`]: [`Terminal::builder`].
pub struct TerminalBuilder {
    transport: Arc<dyn Transport>,
    backend: Arc<dyn Backend>,
    store: Arc<dyn Store>,
    tracer: Tracer,
    seed: u64,
    delegate: Option<Arc<dyn TerminalDelegate>>,
    event_capacity: usize,
    reconnect: ReconnectPolicy,
    restarts: RestartIntensity,
    reboot: RebootPolicy,
    updates: UpdaterPolicy,
    trusted: Arc<TrustedKeys>,
}

impl TerminalBuilder {
    /// How readers' software updates are installed (R13–R17): the battery
    /// an install needs (above 50 %), the 30-day grace of R15, how long the
    /// catalog has to answer, and the transfer's chunks and windows.
    pub fn updater_policy(mut self, policy: UpdaterPolicy) -> Self {
        self.updates = policy;
        self
    }

    /// The keys update images must be signed with (R19), pinned: the
    /// terminal installs only an image whose signed manifest verifies with
    /// one of them, and never learns keys from the catalog. None by
    /// default, so that no update installs until the app says whom it
    /// trusts (every install fails `update_image_rejected`, check
    /// `signature`).
    pub fn trusted_update_keys(mut self, keys: TrustedKeys) -> Self {
        self.trusted = Arc::new(keys);
        self
    }

    /// When M2 and WisePad 3 readers are rebooted by the runtime (R12): a
    /// lead before the reader's own 24-hour deadline (10 min by default),
    /// and the retry after a reboot that did not happen.
    pub fn reboot_policy(mut self, policy: RebootPolicy) -> Self {
        self.reboot = policy;
        self
    }

    /// How readers are reconnected after an unexpected disconnect (R9):
    /// the window (60 s by default) and the backoff.
    pub fn reconnect_policy(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = policy;
        self
    }

    /// How often a reader actor's (connection, reconnect supervisor)
    /// panicking machine is replaced by a fresh one before the reader is
    /// reported failed (default: 1 in 5 s).
    pub fn restart_intensity(mut self, restarts: RestartIntensity) -> Self {
        self.restarts = restarts;
        self
    }

    /// Records every actor's inputs, transitions and outputs (default: off).
    pub fn tracer(mut self, tracer: Tracer) -> Self {
        self.tracer = tracer;
        self
    }

    /// The seed every random choice of the run comes from (default 0);
    /// record it in the trace header.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Callbacks, besides the event stream.
    pub fn delegate(mut self, delegate: Arc<dyn TerminalDelegate>) -> Self {
        self.delegate = Some(delegate);
        self
    }

    /// How far an event subscriber may fall behind
    /// ([`DEFAULT_EVENT_CAPACITY`]).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// Starts the terminal's actors: on the current actix system when
    /// called inside one (from within its runtime), else on a thread of
    /// their own on real time.
    pub fn start(self) -> Terminal {
        let (events, _) = broadcast::channel(self.event_capacity);
        let lossless = LosslessSubscribers::default();
        // The hub calls one delegate; this one hands each event to the
        // app's and to every lossless subscriber, so `events_lossless`
        // needs nothing of the hub beyond the fan-out it already does.
        let app_delegate = self.delegate.clone();
        let delegate: Arc<dyn TerminalDelegate> = Arc::new(FanOut {
            app: self.delegate,
            lossless: lossless.clone(),
        });
        let view = Arc::new(Mutex::new(TerminalView::default()));
        let calls: Calls = Arc::new(Mutex::new(HashMap::new()));
        let seed = self.seed;
        let supervisors: Supervisors = Arc::default();
        let store = self.store.clone();
        let parts = Parts {
            transport: self.transport,
            backend: self.backend,
            store: self.store,
            seed,
            reconnect: self.reconnect,
            restarts: self.restarts,
            reboot: self.reboot,
            updates: self.updates,
            trusted: self.trusted,
            supervisors: supervisors.clone(),
            tracer: self.tracer,
            events: events.clone(),
            view: view.clone(),
            calls: calls.clone(),
            delegate: Some(delegate),
        };
        let (started, system) = if actix::System::try_current().is_some() {
            (parts.start(), None)
        } else {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("readerlink-terminal".into())
                .spawn(move || {
                    let system = actix::System::new();
                    system.block_on(async move {
                        let _ = tx.send((parts.start(), actix::System::current()));
                    });
                    let _ = system.run();
                })
                .expect("spawning the terminal's thread");
            let (started, system) = rx.recv().expect("the terminal's thread starts its actors");
            (started, Some(system))
        };
        let Started {
            hub,
            scanner,
            arbiter,
        } = started;
        Terminal {
            hub,
            scanner,
            arbiter,
            events,
            view,
            calls,
            next_call: Arc::new(AtomicU64::new(1)),
            seed,
            system,
            store,
            supervisors,
            lossless,
            delegate: app_delegate,
        }
    }
}

/// The senders of [`Terminal::events_lossless`] streams.
type LosslessSubscribers = Arc<Mutex<Vec<mpsc::UnboundedSender<TerminalEvent>>>>;

/// The delegate the hub calls with every event, in order: the app's
/// delegate, then each lossless subscriber (one whose stream was dropped
/// is forgotten at the next event).
struct FanOut {
    app: Option<Arc<dyn TerminalDelegate>>,
    lossless: LosslessSubscribers,
}

impl TerminalDelegate for FanOut {
    fn on_event(&self, event: &TerminalEvent) {
        if let Some(app) = &self.app {
            app.on_event(event);
        }
        self.lossless
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|subscriber| subscriber.send(event.clone()).is_ok());
    }
}

/// What [`TerminalBuilder::start`] hands to the thread the actors run on.
struct Parts {
    transport: Arc<dyn Transport>,
    backend: Arc<dyn Backend>,
    store: Arc<dyn Store>,
    seed: u64,
    reconnect: ReconnectPolicy,
    restarts: RestartIntensity,
    reboot: RebootPolicy,
    updates: UpdaterPolicy,
    trusted: Arc<TrustedKeys>,
    supervisors: Supervisors,
    tracer: Tracer,
    events: broadcast::Sender<TerminalEvent>,
    view: Arc<Mutex<TerminalView>>,
    calls: Calls,
    delegate: Option<Arc<dyn TerminalDelegate>>,
}

/// The actors, started.
struct Started {
    hub: Addr<HubActor>,
    scanner: ScannerHandle,
    arbiter: actix::ArbiterHandle,
}

impl Parts {
    /// Starts the scanner and the hub on the current arbiter, and keeps the
    /// hub told whether a discovery runs (R2).
    fn start(self) -> Started {
        let clock = Clock::start();
        let scanner = ScannerHandle::start(self.transport.clone(), self.tracer.clone(), clock);
        let hub = start_hub(
            HubParts {
                store: self.store,
                events: self.events,
                view: self.view,
                calls: self.calls,
                delegate: self.delegate,
                scanner: scanner.clone(),
                session: SessionParts {
                    transport: self.transport,
                    backend: self.backend,
                    tracer: self.tracer.clone(),
                    clock,
                    seed: self.seed,
                    reconnect: self.reconnect,
                    restarts: self.restarts,
                    supervisors: self.supervisors,
                    reboot: self.reboot,
                    updates: self.updates,
                    trusted: self.trusted,
                },
            },
            self.tracer,
            clock,
        );
        let mut discovering = scanner.discovering();
        let to_hub = hub.clone();
        actix::spawn(async move {
            let mut last = false;
            loop {
                let running = *discovering.borrow_and_update();
                if running != last {
                    last = running;
                    to_hub.do_send(Deliver::from(
                        "actor:scanner",
                        TerminalInput::DiscoveryRunningChanged { running },
                    ));
                }
                if discovering.changed().await.is_err() {
                    return;
                }
            }
        });
        Started {
            hub,
            scanner,
            arbiter: actix::Arbiter::current(),
        }
    }
}

/// Connects readers to business locations and reports what happens to
/// them. Every method can be called from any async runtime; the status
/// queries are synchronous.
pub struct Terminal {
    hub: Addr<HubActor>,
    scanner: ScannerHandle,
    /// The arbiter the actors run on, for the tasks that feed them.
    arbiter: actix::ArbiterHandle,
    events: broadcast::Sender<TerminalEvent>,
    view: Arc<Mutex<TerminalView>>,
    calls: Calls,
    next_call: Arc<AtomicU64>,
    seed: u64,
    /// The actix system the terminal started on its own thread, if it did.
    system: Option<actix::System>,
    /// Where the last connected reader is saved (R11).
    store: Arc<dyn Store>,
    /// Each reader's reconnect supervisor, for `cancel_reconnect`.
    supervisors: Supervisors,
    /// Where [`Terminal::events_lossless`] streams are fed from.
    lossless: LosslessSubscribers,
    /// The app's delegate, for what is not an event (a discovery's end).
    delegate: Option<Arc<dyn TerminalDelegate>>,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("status", &self.connection_status())
            .finish_non_exhaustive()
    }
}

impl Terminal {
    /// A builder over a transport, a backend and a store.
    pub fn builder(
        transport: Arc<dyn Transport>,
        backend: Arc<dyn Backend>,
        store: Arc<dyn Store>,
    ) -> TerminalBuilder {
        TerminalBuilder {
            transport,
            backend,
            store,
            tracer: Tracer::off(),
            seed: 0,
            delegate: None,
            event_capacity: DEFAULT_EVENT_CAPACITY,
            reconnect: ReconnectPolicy::default(),
            restarts: RestartIntensity::default(),
            reboot: RebootPolicy::default(),
            updates: UpdaterPolicy::default(),
            trusted: Arc::default(),
        }
    }

    /// The seed the terminal was built with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Every event from now on, in order. A subscriber that falls more than
    /// the event capacity behind gets [`TerminalEvent::EventsMissed`];
    /// [`Terminal::events_lossless`] loses none, at a cost in memory.
    pub fn events(&self) -> BoxStream<'static, TerminalEvent> {
        BroadcastStream::new(self.events.subscribe())
            .map(|item| match item {
                Ok(event) => event,
                Err(BroadcastStreamRecvError::Lagged(count)) => TerminalEvent::EventsMissed { count },
            })
            .boxed()
    }

    /// Every event from now on, in order, none ever dropped: for what
    /// checks behaviour (the scenario runner, a test) and apps that must
    /// see every event. It never yields [`TerminalEvent::EventsMissed`].
    ///
    /// The price is memory: the stream is unbounded, so events its reader
    /// has not taken yet are kept, without limit (a few hundred bytes each;
    /// a `DiscoveredReadersUpdated` holds the whole list). Read it steadily,
    /// and drop it when done. [`Terminal::events`] bounds the memory and
    /// reports what a slow reader missed instead.
    ///
    /// Which to take: a screen that shows the latest status can take the
    /// bounded stream and, on `EventsMissed`, ask the terminal for the
    /// current state ([`Terminal::connection_status`],
    /// [`Terminal::connected_readers`]). A log, an audit, or code that
    /// waits for one particular event takes this one. An app that would
    /// rather be called than poll can use a [`TerminalDelegate`]
    /// ([`TerminalBuilder::delegate`]), which is lossless too.
    ///
    /// Here a subscriber reads nothing while ten card events come, then
    /// finds them all (a bounded stream of capacity 4 would have kept the
    /// last four and reported the rest as missed):
    ///
    /// ```
    /// use std::sync::Arc;
    /// use futures::{FutureExt, StreamExt};
    /// use readerlink::backend::{BackendCore, CreateLocation, LocalBackend};
    /// use readerlink::scanner::{DiscoveryConfig, DiscoveryUpdate};
    /// use readerlink::store::MemoryStore;
    /// use readerlink::terminal::{ConnectionConfig, Terminal, TerminalEvent};
    /// use readerlink::transport::sim::SimWorld;
    ///
    /// readerlink::runtime::virtual_time_system().block_on(async {
    ///     let world = SimWorld::example();
    ///     let backend = LocalBackend::new(BackendCore::in_memory(1));
    ///     let shop = backend.core().lock().unwrap()
    ///         .create_location(CreateLocation::new("Shop", "1 Main St", "US")).unwrap();
    ///     let terminal = Terminal::builder(
    ///         Arc::new(world.transport()),
    ///         Arc::new(backend),
    ///         Arc::new(MemoryStore::new()),
    ///     )
    ///     .event_capacity(4)
    ///     .start();
    ///     let mut bounded = terminal.events();
    ///     let mut lossless = terminal.events_lossless();
    ///
    ///     let mut discovery = terminal.discover_readers(DiscoveryConfig::scan()).await;
    ///     let m2 = loop {
    ///         if let Some(DiscoveryUpdate::ReadersUpdated(readers)) = discovery.updates.next().await {
    ///             if let Some(m2) = readers.into_iter().find(|r| r.serial_number == "STRM2-0001") {
    ///                 break m2;
    ///             }
    ///         }
    ///     };
    ///     terminal.connect_reader(&m2, ConnectionConfig::new(&shop.id)).await.unwrap();
    ///     for _ in 0..5 {
    ///         world.insert_card(&m2.serial_number).unwrap();
    ///         tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    ///         world.remove_card(&m2.serial_number).unwrap();
    ///         tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    ///     }
    ///
    ///     let mut cards = 0;
    ///     while let Some(Some(event)) = lossless.next().now_or_never() {
    ///         assert!(!matches!(event, TerminalEvent::EventsMissed { .. }));
    ///         if matches!(event, TerminalEvent::CardInserted { .. } | TerminalEvent::CardRemoved { .. }) {
    ///             cards += 1;
    ///         }
    ///     }
    ///     assert_eq!(cards, 10);
    ///     // The bounded stream fell behind: it says how much it lost.
    ///     assert!(matches!(bounded.next().await, Some(TerminalEvent::EventsMissed { .. })));
    /// });
    /// ```
    pub fn events_lossless(&self) -> BoxStream<'static, TerminalEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lossless
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(tx);
        UnboundedReceiverStream::new(rx).boxed()
    }

    /// Starts a discovery (R1); a running one ends superseded (R2). The
    /// list also reaches the event stream as `DiscoveredReadersUpdated`,
    /// and a reader listed by it can then be connected.
    pub async fn discover_readers(&self, config: DiscoveryConfig) -> Discovery {
        let Discovery {
            cancelable,
            mut updates,
        } = self.scanner.discover(config).await;
        let (tx, rx) = mpsc::unbounded_channel();
        let hub = self.hub.clone();
        let delegate = self.delegate.clone();
        self.arbiter.spawn(async move {
            loop {
                let update = tokio::select! {
                    update = updates.next() => update,
                    // The app dropped its stream: dropping the scanner's
                    // ends the discovery, so the scan does not run on
                    // unseen.
                    () = tx.closed() => None,
                };
                let Some(update) = update else { break };
                if let DiscoveryUpdate::ReadersUpdated(readers) = &update {
                    // The hub hears first, so a reader the app has seen
                    // listed is known when the app connects it.
                    hub.do_send(Deliver::from(
                        "actor:scanner",
                        TerminalInput::ReadersDiscovered {
                            readers: readers.clone(),
                        },
                    ));
                }
                if let (DiscoveryUpdate::Finished(result), Some(delegate)) = (&update, &delegate) {
                    delegate.on_discovery_finished(result.as_ref().err());
                }
                if tx.send(update).is_err() {
                    break;
                }
            }
        });
        Discovery {
            cancelable,
            updates: UnboundedReceiverStream::new(rx).boxed(),
        }
    }

    /// Connects `reader` (as discovery found it) and registers it to
    /// `config.location_id` (R6); answers once it is connected. Fails
    /// without changing anything when the location is empty or unknown, the
    /// reader unknown, or already connected or connecting.
    pub async fn connect_reader(
        &self,
        reader: &Reader,
        config: ConnectionConfig,
    ) -> Result<Reader, TerminalError> {
        let reader = reader.clone();
        match self
            .call(|call| TerminalInput::ConnectReaderRequested { call, reader, config })
            .await?
        {
            CallOutcome::Connected { reader } => Ok(reader),
            CallOutcome::Done => Err(TerminalError::Stopped),
        }
    }

    /// Disconnects a reader (or stops its connect); answers once the link
    /// is down. The reason reported is `DisconnectRequested` (R8), and no
    /// reconnection follows.
    pub async fn disconnect_reader(&self, serial_number: &SerialNumber) -> Result<(), TerminalError> {
        let serial_number = serial_number.clone();
        self.call(|call| TerminalInput::DisconnectReaderRequested { call, serial_number })
            .await
            .map(|_| ())
    }

    /// Disconnects every reader connected, connecting or reconnecting, as
    /// [`disconnect_reader`](Self::disconnect_reader) does each (reason
    /// `DisconnectRequested`, no reconnection); answers once every link is
    /// down. With no reader connected it answers `Ok` at once. A reader
    /// that went away by itself meanwhile is not an error; any other
    /// failure is the first one met, after every reader was asked.
    pub async fn disconnect_all(&self) -> Result<(), TerminalError> {
        let serials: Vec<SerialNumber> = lock(&self.view)
            .readers
            .iter()
            .filter(|(_, r)| r.status != ConnectionStatus::NotConnected)
            .map(|(serial, _)| serial.clone())
            .collect();
        let answers =
            futures::future::join_all(serials.iter().map(|serial| self.disconnect_reader(serial))).await;
        answers
            .into_iter()
            .find(|answer| !matches!(answer, Ok(()) | Err(TerminalError::NotConnected { .. })))
            .unwrap_or(Ok(()))
    }

    /// Asks a connected reader to reboot now (R12); answers once the reader
    /// accepted. Then its link drops, and what the stream reads depends on
    /// its config's auto-reconnect:
    ///
    /// - on (the default): no `Disconnected`, but `ReconnectStarted {
    ///   reason: RebootRequested }` and the status `Reconnecting`, then, once
    ///   the reader is back up, `ReconnectSucceeded`, the status `Connected`,
    ///   `Connected` and (an M2 or a WisePad 3) a new `RebootScheduled` (or, if it does not come
    ///   back within the window, `ReconnectFailed` then `Disconnected {
    ///   reason: RebootRequested }`: the order of R9, see the [module
    ///   docs](self));
    /// - off: the status `NotConnected`, then `Disconnected { reason:
    ///   RebootRequested }`, and the reader stays disconnected.
    ///
    /// The next 24-hour reboot is counted from the reader's new uptime.
    /// Refused with `transaction_in_progress` while a transaction runs
    /// (R20), `not_connected` when the reader is not connected.
    pub async fn reboot_reader(&self, serial_number: &SerialNumber) -> Result<(), TerminalError> {
        let serial_number = serial_number.clone();
        self.call(|call| TerminalInput::RebootReaderRequested { call, serial_number })
            .await
            .map(|_| ())
    }

    /// Installs the reader's available optional update (R17) — the one its
    /// last `UpdateAvailable` event named. Answers once the updater was
    /// asked; the install reports through `UpdateInstallStarted`,
    /// `UpdateInstallProgress` and `UpdateInstallFinished`, whose error
    /// says why it did not run (a transaction in progress, the battery at or
    /// below 50 %); with no update available, `UpdateInstallFinished` comes
    /// alone, with no update and no error. Fails with `not_connected` when
    /// the reader is not connected.
    pub async fn install_available_update(&self, serial_number: &SerialNumber) -> Result<(), TerminalError> {
        let serial_number = serial_number.clone();
        self.call(|call| TerminalInput::InstallUpdateRequested { call, serial_number })
            .await
            .map(|_| ())
    }

    /// Starts a transaction on a connected reader (R20); answers once the
    /// reader has started it. While it runs the reader is never rebooted:
    /// `reboot_reader` answers `transaction_in_progress`, and the 24-hour
    /// reboot (R12) waits for its end. Fails with `not_connected`, or
    /// `transaction_in_progress` when one runs already, or `reader_busy`
    /// while the reader reboots or disconnects.
    pub async fn start_transaction(
        &self,
        serial_number: &SerialNumber,
    ) -> Result<Transaction, TerminalError> {
        let serial = serial_number.clone();
        let mut id = 0;
        self.call(|call| {
            id = call;
            TerminalInput::TransactionStartRequested {
                call,
                serial_number: serial,
            }
        })
        .await?;
        Ok(Transaction::new(
            serial_number.clone(),
            self.hub.clone(),
            self.calls.clone(),
            self.next_call.clone(),
            id,
        ))
    }

    /// Stops a reader's running reconnection (R9), as the cancelable of its
    /// `ReconnectStarted` does: `Cancelled`, then `ReconnectFailed {
    /// reconnect_cancelled }` and `Disconnected` follow; `AlreadyEnded`
    /// (changing nothing) when none runs.
    pub async fn cancel_reconnect(&self, serial_number: &SerialNumber) -> CancelOutcome {
        let supervisor = lock(&self.supervisors).get(serial_number).cloned();
        match supervisor {
            Some(supervisor) => supervisor.cancelable().cancel().await,
            None => CancelOutcome::AlreadyEnded,
        }
    }

    /// Reconnect at start (R11), for apps that opt in: discovers, and
    /// connects the reader the store saved as the last connected one to
    /// its saved location as soon as a discovery lists it (which ends the
    /// discovery, R2); if it is not listed within `timeout`, stops the
    /// discovery and fails with `SavedReaderNotFound`. Each step is an
    /// event: `SavedReaderReconnectStarted`, then `SavedReaderFound` (and
    /// the connect's events) or `SavedReaderNotFound`. Answers at once with
    /// `NoSavedReader` when the store saved none, `AlreadyConnected` when
    /// the saved reader is connected, and `SavedReaderReconnectInProgress`
    /// while another reconnect at start runs; as soon as its discovery
    /// fails (the Bluetooth adapter off) with `SavedReaderDiscoveryFailed`,
    /// whose code is the discovery's (`discovery_transport_failed`), not
    /// `saved_reader_not_found` (the reader off or out of range). The search and its timeout
    /// are the hub machine's (a declared timer), so a trace holds them.
    pub async fn reconnect_saved_reader(&self, timeout: Duration) -> Result<Reader, TerminalError> {
        // The store is read here, once: what it said is the input the hub
        // decides on (and what a trace records).
        let saved = self.store.last_connected();
        let timeout_ms = timeout.as_millis().min(u64::MAX as u128) as u64;
        match self
            .call(|call| TerminalInput::ReconnectSavedReaderRequested {
                call,
                saved,
                timeout_ms,
            })
            .await?
        {
            CallOutcome::Connected { reader } => Ok(reader),
            CallOutcome::Done => Err(TerminalError::Stopped),
        }
    }

    /// The terminal's overall status (R2): `Connected` while any reader is.
    pub fn connection_status(&self) -> ConnectionStatus {
        lock(&self.view).status
    }

    /// One reader's status (R21).
    pub fn reader_status(&self, serial_number: &SerialNumber) -> ConnectionStatus {
        lock(&self.view)
            .readers
            .get(serial_number)
            .map_or(ConnectionStatus::NotConnected, |r| r.status)
    }

    /// Every connected reader, by serial number: those whose status is
    /// `Connected`. A reader being reconnected (status `Reconnecting`,
    /// between `ReconnectStarted` and `ReconnectSucceeded`) or still
    /// connecting is not listed, though it is not disconnected either: ask
    /// [`reader_status`](Self::reader_status) for it. It is listed again
    /// once reconnected.
    pub fn connected_readers(&self) -> Vec<Reader> {
        lock(&self.view)
            .readers
            .values()
            .filter(|r| r.status == ConnectionStatus::Connected)
            .map(|r| r.reader.clone())
            .collect()
    }

    /// The connected reader, when exactly one is: the single-reader easy path.
    pub fn connected_reader(&self) -> Option<Reader> {
        let mut readers = self.connected_readers();
        (readers.len() == 1).then(|| readers.remove(0))
    }

    /// The location a connected reader is registered to.
    pub fn reader_location(&self, serial_number: &SerialNumber) -> Option<String> {
        lock(&self.view)
            .readers
            .get(serial_number)
            .filter(|r| r.status == ConnectionStatus::Connected)
            .and_then(|r| r.location.clone())
    }

    /// The readers the running (or last) discovery lists.
    pub fn discovered_readers(&self) -> Vec<Reader> {
        lock(&self.view).discovered_readers()
    }

    async fn call(&self, input: impl FnOnce(CallId) -> TerminalInput) -> Result<CallOutcome, TerminalError> {
        let call = self.next_call.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if !self.hub.connected() {
            return Err(TerminalError::Stopped);
        }
        lock(&self.calls).insert(call, tx);
        self.hub.do_send(Deliver::app(input(call)));
        rx.await.unwrap_or(Err(TerminalError::Stopped))
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some(system) = &self.system {
            system.stop();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}

    /// An app keeps a terminal in an `Arc` and calls it from spawned tasks
    /// on a multi-threaded runtime: the terminal and its calls' futures
    /// must be `Send` (and the terminal `Sync`).
    #[allow(dead_code)]
    fn a_terminal_and_its_calls_cross_threads(terminal: &Terminal, reader: &Reader) {
        send_sync(terminal);
        send(terminal.connect_reader(reader, ConnectionConfig::default()));
        send(terminal.disconnect_reader(&reader.serial_number));
        send(terminal.disconnect_all());
        send(terminal.reboot_reader(&reader.serial_number));
        send(terminal.discover_readers(DiscoveryConfig::scan()));
        send(terminal.events());
        send(terminal.cancel_reconnect(&reader.serial_number));
        send(terminal.reconnect_saved_reader(Duration::from_secs(1)));
        send(terminal.start_transaction(&reader.serial_number));
        send(terminal.install_available_update(&reader.serial_number));
    }
}
