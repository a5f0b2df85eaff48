//! The hub's shell side: it starts one connection actor per reader, routes
//! inputs to them, answers the app's calls, saves connected readers in the
//! store and fans events out to the stream, the delegate and the view the
//! synchronous queries read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use tokio::sync::{broadcast, oneshot, watch};

use super::events::{TerminalDelegate, TerminalEvent};
use super::machine::Hub;
use super::messages::{CallId, CallOutcome, TerminalError, TerminalInput, TerminalOutput};
use crate::backend::{Backend, LocationId};
use crate::connection::{ConnectionActor, ConnectionInput, start_connection};
use crate::reader::{ConnectionStatus, Reader, SerialNumber};
use crate::reconnect::{ReconnectPolicy, SupervisorHandle, SupervisorParts, start_supervisor};
use crate::runtime::shell::{Clock, Deliver, EffectContext, Effects, MachineActor, RestartIntensity};
use crate::runtime::trace::Tracer;
use crate::scanner::ScannerHandle;
use crate::store::{KnownReader, Store};
use crate::transport::Transport;

/// The hub actor: the [`Hub`] machine run by its shell.
pub type HubActor = MachineActor<Hub, HubEffects>;

/// A call's answer, on its way to the caller.
pub(crate) type Reply = oneshot::Sender<Result<CallOutcome, TerminalError>>;

/// The calls waiting for their answers, shared with [`super::Terminal`].
pub(crate) type Calls = Arc<Mutex<HashMap<CallId, Reply>>>;

/// Each reader's reconnect supervisor, shared with [`super::Terminal`] for
/// `cancel_reconnect`.
pub(crate) type Supervisors = Arc<Mutex<HashMap<SerialNumber, SupervisorHandle>>>;

/// One reader as the synchronous queries see it.
#[derive(Debug, Clone)]
pub(crate) struct ReaderView {
    pub(crate) status: ConnectionStatus,
    pub(crate) reader: Reader,
    pub(crate) location: Option<LocationId>,
}

/// What `connection_status()` and friends read, kept current by the hub.
#[derive(Debug, Default)]
pub(crate) struct TerminalView {
    pub(crate) status: ConnectionStatus,
    pub(crate) readers: BTreeMap<SerialNumber, ReaderView>,
    pub(crate) discovered: Vec<Reader>,
}

/// What the hub's effects need: the boundaries, and where answers and
/// events go.
pub(crate) struct HubParts {
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) tracer: Tracer,
    pub(crate) clock: Clock,
    pub(crate) events: broadcast::Sender<TerminalEvent>,
    pub(crate) view: Arc<Mutex<TerminalView>>,
    pub(crate) calls: Calls,
    pub(crate) delegate: Option<Arc<dyn TerminalDelegate>>,
    /// Told when a connect starts (it ends the discovery, R2) and which
    /// readers are connected (discoveries never list them, R2).
    pub(crate) scanner: ScannerHandle,
    /// The run's seed, which each supervisor's jitter comes from.
    pub(crate) seed: u64,
    /// How supervisors reconnect (R9).
    pub(crate) reconnect: ReconnectPolicy,
    /// How often a reader actor's machine may be restarted.
    pub(crate) restarts: RestartIntensity,
    /// Each reader's supervisor, started with its first connect.
    pub(crate) supervisors: Supervisors,
}

/// Carries out the hub's outputs.
pub struct HubEffects {
    parts: HubParts,
    connections: HashMap<SerialNumber, Addr<ConnectionActor>>,
    /// The connected readers for the scanner. A watch, so that a burst of
    /// connects (R21: hundreds at once) reaches the scanner as the latest
    /// list, not as one list per connect.
    connected: watch::Sender<BTreeSet<SerialNumber>>,
}

impl HubEffects {
    /// Effects over `parts`; starts the task that keeps the scanner told
    /// which readers are connected, so call it on the hub's arbiter.
    pub(crate) fn new(parts: HubParts) -> Self {
        let (connected, mut latest) = watch::channel(BTreeSet::new());
        let scanner = parts.scanner.clone();
        actix::spawn(async move {
            while latest.changed().await.is_ok() {
                let serials = latest.borrow_and_update().iter().cloned().collect();
                scanner.set_connected(serials).await;
            }
        });
        Self {
            parts,
            connections: HashMap::new(),
            connected,
        }
    }

    fn publish(&self, mut event: TerminalEvent) {
        if let TerminalEvent::ReconnectStarted {
            serial_number,
            cancelable,
            ..
        } = &mut event
        {
            if let Some(supervisor) = lock(&self.parts.supervisors).get(serial_number) {
                *cancelable = supervisor.cancelable();
            }
        }
        {
            let mut view = lock(&self.parts.view);
            match &event {
                TerminalEvent::ConnectionStatusChanged { status } => view.status = *status,
                TerminalEvent::ReaderStatusChanged {
                    serial_number,
                    status,
                } => {
                    if let Some(r) = view.readers.get_mut(serial_number) {
                        r.status = *status;
                    }
                    if *status == ConnectionStatus::Connecting {
                        // The location is known and the link is being made:
                        // the connect has started, which ends discovery (R2).
                        let scanner = self.parts.scanner.clone();
                        let serial = serial_number.clone();
                        actix::spawn(async move { scanner.connect_started(serial).await });
                    }
                }
                TerminalEvent::Connected { reader, location } => {
                    view.discovered
                        .retain(|r| r.serial_number != reader.serial_number);
                    view.readers.insert(
                        reader.serial_number.clone(),
                        ReaderView {
                            status: ConnectionStatus::Connected,
                            reader: reader.clone(),
                            location: Some(location.clone()),
                        },
                    );
                }
                TerminalEvent::DiscoveredReadersUpdated { readers } => view.discovered = readers.clone(),
                TerminalEvent::BatteryLevelReported {
                    serial_number,
                    battery,
                }
                | TerminalEvent::LowBatteryWarning {
                    serial_number,
                    battery,
                } => {
                    if let Some(r) = view.readers.get_mut(serial_number) {
                        r.reader.battery = Some(*battery);
                    }
                }
                TerminalEvent::Disconnected { serial_number, .. } => {
                    if let Some(r) = view.readers.get_mut(serial_number) {
                        r.status = ConnectionStatus::NotConnected;
                    }
                }
                // The reconnection has started (R9): an app asking on this
                // event already sees the reader reconnecting, though its
                // `ReaderStatusChanged` comes right after.
                TerminalEvent::ReconnectStarted { serial_number, .. } => {
                    if let Some(r) = view.readers.get_mut(serial_number) {
                        r.status = ConnectionStatus::Reconnecting;
                    }
                }
                _ => {}
            }
        }
        match &event {
            TerminalEvent::Connected { reader, .. } => self.connected.send_modify(|set| {
                set.insert(reader.serial_number.clone());
            }),
            TerminalEvent::Disconnected { serial_number, .. } => self.connected.send_modify(|set| {
                set.remove(serial_number);
            }),
            _ => {}
        }
        if let Some(delegate) = &self.parts.delegate {
            delegate.on_event(&event);
        }
        // No subscriber is not an error: the app may only poll.
        let _ = self.parts.events.send(event);
    }

    fn connection(&mut self, reader: &Reader, hub: Addr<HubActor>) -> Addr<ConnectionActor> {
        let serial = reader.serial_number.clone();
        // A connection actor whose machine failed has stopped (after
        // reporting the reader disconnected): start a fresh one.
        if self
            .connections
            .get(&serial)
            .is_some_and(|actor| !actor.connected())
        {
            self.connections.remove(&serial);
        }
        let parts = &self.parts;
        self.connections
            .entry(serial.clone())
            .or_insert_with(|| {
                let source = format!("actor:connection:{serial}");
                let who = serial.clone();
                let report = Rc::new(move |event| {
                    hub.do_send(Deliver::from(
                        source.clone(),
                        TerminalInput::ConnectionReported {
                            serial_number: who.clone(),
                            event,
                        },
                    ))
                });
                start_connection(
                    serial,
                    parts.transport.clone(),
                    parts.backend.clone(),
                    report,
                    parts.tracer.clone(),
                    parts.clock,
                    parts.restarts,
                )
            })
            .clone()
    }

    /// The reader's supervisor, started on first use and again when it
    /// stopped (past its restart intensity).
    fn supervisor(&mut self, serial: &SerialNumber, hub: Addr<HubActor>) -> SupervisorHandle {
        let mut supervisors = lock(&self.parts.supervisors);
        if let Some(handle) = supervisors.get(serial).filter(|h| h.alive()) {
            return handle.clone();
        }
        let source = format!("actor:reconnect:{serial}");
        let who = serial.clone();
        let report = Rc::new(move |event| {
            hub.do_send(Deliver::from(
                source.clone(),
                TerminalInput::ReconnectReported {
                    serial_number: who.clone(),
                    event,
                },
            ))
        });
        let handle = start_supervisor(SupervisorParts {
            serial: serial.clone(),
            run_seed: self.parts.seed,
            policy: self.parts.reconnect,
            restarts: self.parts.restarts,
            report,
            tracer: self.parts.tracer.clone(),
            clock: self.parts.clock,
        });
        supervisors.insert(serial.clone(), handle.clone());
        handle
    }
}

impl Drop for HubEffects {
    fn drop(&mut self) {
        // Waiting callers learn the terminal stopped instead of hanging.
        lock(&self.parts.calls).clear();
    }
}

impl Effects<Hub> for HubEffects {
    fn perform(&mut self, output: TerminalOutput, ctx: &mut EffectContext<'_, Hub, Self>) {
        match output {
            TerminalOutput::Reply { call, result } => {
                if let Some(reply) = lock(&self.parts.calls).remove(&call) {
                    let _ = reply.send(result);
                }
            }
            TerminalOutput::StartConnect { reader, location } => {
                lock(&self.parts.view)
                    .readers
                    .entry(reader.serial_number.clone())
                    .or_insert_with(|| ReaderView {
                        status: ConnectionStatus::NotConnected,
                        reader: reader.clone(),
                        location: None,
                    });
                let connection = self.connection(&reader, ctx.address());
                connection.do_send(Deliver::from(
                    "actor:terminal",
                    ConnectionInput::ConnectRequested { reader, location },
                ));
            }
            TerminalOutput::ToConnection { serial_number, input } => {
                if let Some(connection) = self.connections.get(&serial_number) {
                    connection.do_send(Deliver::from("actor:terminal", input));
                }
            }
            TerminalOutput::ToSupervisor { serial_number, input } => {
                self.supervisor(&serial_number, ctx.address())
                    .send("actor:terminal", input);
            }
            TerminalOutput::Persist { reader, location } => {
                let store = &self.parts.store;
                let known = KnownReader {
                    device_type: reader.device_type,
                    label: None,
                    last_seen_location: Some(location.clone()),
                };
                let saved = store
                    .remember_reader(&reader.serial_number, known)
                    .and_then(|()| store.set_last_connected(&reader.serial_number, &location));
                if let Err(e) = saved {
                    tracing::warn!(reader = %reader.serial_number, "could not save the connected reader: {e}");
                    self.publish(TerminalEvent::StoreWriteFailed { error: e.to_string() });
                }
            }
            TerminalOutput::Publish(event) => self.publish(event),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the hub on the current arbiter.
pub(crate) fn start_hub(parts: HubParts) -> Addr<HubActor> {
    let tracer = parts.tracer.clone();
    let clock = parts.clock;
    MachineActor::new("terminal", Hub::new(), HubEffects::new(parts), tracer, clock).start()
}
