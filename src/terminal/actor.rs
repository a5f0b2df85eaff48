//! The hub's shell side: it starts a session actor for each reader being
//! connected and stops it when the machine releases it, routes inputs to
//! them, answers the app's calls, saves connected readers in the store,
//! tells the scanner what the machine decided, and fans events out to the
//! stream, the delegate and the view the synchronous queries read.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use tokio::sync::{broadcast, oneshot};

use super::events::{TerminalDelegate, TerminalEvent};
use super::machine::Hub;
use super::messages::{CallId, CallOutcome, TerminalError, TerminalInput, TerminalOutput};
use crate::backend::LocationId;
use crate::cancelable::Cancelable;
use crate::reader::{ConnectionStatus, Reader, SerialNumber};
use crate::runtime::shell::{Clock, Deliver, EffectContext, Effects, MachineActor, Stop};
use crate::runtime::trace::Tracer;
use crate::scanner::{DiscoveryUpdate, ScannerHandle};
use crate::session::{HubNote, SessionActor, SessionInput, SessionParts, start_session};
use crate::store::{KnownReader, Store};

/// The hub actor: the [`Hub`] machine run by its shell.
pub(crate) type HubActor = MachineActor<Hub, HubEffects>;

/// A call's answer, on its way to the caller.
pub(crate) type Reply = oneshot::Sender<Result<CallOutcome, TerminalError>>;

/// The calls waiting for their answers, shared with [`super::Terminal`].
pub(crate) type Calls = Arc<Mutex<HashMap<CallId, Reply>>>;

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
    /// The last list a discovery reported…
    pub(crate) discovered: Vec<Reader>,
    /// …less the readers connected since (taken out when read: removing
    /// each from the list as it connects cost O(N) per connect, O(N²) for
    /// N readers connected at once).
    pub(crate) connected_since_listed: HashSet<SerialNumber>,
}

impl TerminalView {
    /// The readers the last discovery listed that are not connected since.
    pub(crate) fn discovered_readers(&self) -> Vec<Reader> {
        self.discovered
            .iter()
            .filter(|r| !self.connected_since_listed.contains(&r.serial_number))
            .cloned()
            .collect()
    }
}

/// What the hub's effects need: the boundaries, and where answers and
/// events go.
pub(crate) struct HubParts {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) events: broadcast::Sender<TerminalEvent>,
    pub(crate) view: Arc<Mutex<TerminalView>>,
    pub(crate) calls: Calls,
    pub(crate) delegate: Option<Arc<dyn TerminalDelegate>>,
    /// Told when a connect starts (it ends the discovery, R2) and which
    /// readers are connected (discoveries never list them, R2).
    pub(crate) scanner: ScannerHandle,
    /// What each reader's session and its children need.
    pub(crate) session: SessionParts,
}

/// Carries out the hub's outputs.
pub(crate) struct HubEffects {
    parts: HubParts,
    sessions: HashMap<SerialNumber, Addr<SessionActor>>,
    /// The discovery reconnect at start runs, to stop it.
    saved_discovery: Rc<RefCell<Option<Cancelable>>>,
}

impl HubEffects {
    /// Effects over `parts`.
    pub(crate) fn new(parts: HubParts) -> Self {
        Self {
            parts,
            sessions: HashMap::new(),
            saved_discovery: Rc::default(),
        }
    }

    fn publish(&self, event: TerminalEvent) {
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
                }
                TerminalEvent::Connected { reader, location } => {
                    view.connected_since_listed.insert(reader.serial_number.clone());
                    view.readers.insert(
                        reader.serial_number.clone(),
                        ReaderView {
                            status: ConnectionStatus::Connected,
                            reader: reader.clone(),
                            location: Some(location.clone()),
                        },
                    );
                }
                TerminalEvent::DiscoveredReadersUpdated { readers } => {
                    view.discovered = readers.clone();
                    view.connected_since_listed.clear();
                }
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
                // The reader keeps its available update (R17) until it is
                // installed.
                TerminalEvent::UpdateAvailable {
                    serial_number,
                    update,
                } => {
                    if let Some(r) = view.readers.get_mut(serial_number) {
                        r.reader.available_update = Some(update.clone());
                    }
                }
                TerminalEvent::UpdateInstallFinished {
                    serial_number,
                    update: Some(update),
                    error: None,
                } => {
                    if let Some(r) = view.readers.get_mut(serial_number) {
                        r.reader.software_version = Some(update.version.clone());
                        r.reader.available_update = None;
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
        if let Some(delegate) = &self.parts.delegate {
            delegate.on_event(&event);
        }
        // No subscriber is not an error: the app may only poll.
        let _ = self.parts.events.send(event);
    }

    /// The reader's session, started with a connect of a reader that has
    /// none (its first, or the first since its session was released).
    fn session(&mut self, reader: &Reader, hub: Addr<HubActor>) -> Addr<SessionActor> {
        let parts = &self.parts;
        self.sessions
            .entry(reader.serial_number.clone())
            .or_insert_with(|| {
                let source = format!("actor:session:{}", reader.serial_number);
                let who = reader.serial_number.clone();
                let report = Rc::new(move |note| {
                    let serial_number = who.clone();
                    let input = match note {
                        HubNote::Report(report) => TerminalInput::SessionReported {
                            serial_number,
                            report,
                        },
                        HubNote::Idle { inputs_seen } => TerminalInput::SessionWentIdle {
                            serial_number,
                            inputs_seen,
                        },
                    };
                    hub.do_send(Deliver::from(source.clone(), input))
                });
                start_session(reader, parts.session.clone(), report)
            })
            .clone()
    }

    /// Starts reconnect at start's discovery: its lists come back to the
    /// hub as `ReadersDiscovered`.
    fn start_discovery(&mut self, config: crate::scanner::DiscoveryConfig, hub: Addr<HubActor>) {
        let scanner = self.parts.scanner.clone();
        let slot = self.saved_discovery.clone();
        actix::spawn(async move {
            let mut discovery = scanner.discover(config).await;
            *slot.borrow_mut() = Some(discovery.cancelable.clone());
            while let Some(update) = futures::StreamExt::next(&mut discovery.updates).await {
                let input = match update {
                    DiscoveryUpdate::ReadersUpdated(readers) => TerminalInput::ReadersDiscovered { readers },
                    DiscoveryUpdate::Finished(Err(error)) => {
                        TerminalInput::SavedReaderDiscoveryFailed { error }
                    }
                    _ => continue,
                };
                hub.do_send(Deliver::from("actor:scanner", input));
            }
        });
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
            TerminalOutput::ToSession { serial_number, input } => {
                let session = match &input {
                    SessionInput::ConnectRequested { reader, .. } => {
                        lock(&self.parts.view)
                            .readers
                            .entry(serial_number.clone())
                            .or_insert_with(|| ReaderView {
                                status: ConnectionStatus::NotConnected,
                                reader: reader.clone(),
                                location: None,
                            });
                        Some(self.session(&reader.clone(), ctx.address()))
                    }
                    _ => self.sessions.get(&serial_number).cloned(),
                };
                if let Some(session) = session {
                    session.do_send(Deliver::from("actor:terminal", input));
                }
            }
            TerminalOutput::StopSession { serial_number } => {
                if let Some(session) = self.sessions.remove(&serial_number) {
                    session.do_send(Stop);
                }
            }
            TerminalOutput::ConnectStarted { serial_number } => {
                let scanner = self.parts.scanner.clone();
                actix::spawn(async move { scanner.connect_started(serial_number).await });
            }
            // One reader's change, not the whole list: with 10,000 readers
            // a list per change made each day's reboots and drops O(N²).
            TerminalOutput::ConnectedReadersChanged {
                serial_number,
                connected,
            } => self.parts.scanner.set_connected(serial_number, connected),
            TerminalOutput::StartDiscovery(config) => self.start_discovery(config, ctx.address()),
            TerminalOutput::StopDiscovery => {
                if let Some(cancelable) = self.saved_discovery.borrow_mut().take() {
                    actix::spawn(async move {
                        cancelable.cancel().await;
                    });
                }
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
pub(crate) fn start_hub(parts: HubParts, tracer: Tracer, clock: Clock) -> Addr<HubActor> {
    MachineActor::new("terminal", Hub::new(), HubEffects::new(parts), tracer, clock).start()
}
