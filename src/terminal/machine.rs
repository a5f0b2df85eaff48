//! The terminal hub's pure machine: what is global to the terminal. It
//! routes the app's calls to the readers' sessions (refusing those that
//! cannot start, so they change nothing), answers each call once, fans the
//! sessions' reports out as [`TerminalEvent`]s, keeps discovery's list, and
//! runs reconnect at start (R11).
//!
//! A reader has a session from a connect until the session, idle again
//! (not connected, none of its children running), says so and the hub
//! releases it (`StopSession`); the next connect starts a fresh one. The
//! hub counts the inputs it routed to each session and releases one only
//! if the session has handled as many: a call routed after the session
//! went idle (mailboxes are first in, first out) keeps it. A reader with
//! no session is answered by the hub itself, as an idle session answers.
//!
//! ```text
//! idle → finding_saved_reader → connecting_saved_reader → idle
//! ```
//!
//! Its states are reconnect at start's steps. The overall status (R2) is
//! not a state: it is a pure function of the readers' statuses and whether
//! a discovery runs ([`overall_status`]), published as
//! `ConnectionStatusChanged` whenever an input changes it.

use std::collections::BTreeMap;
use std::time::Duration;

use statig::prelude::*;

use super::events::TerminalEvent;
use super::messages::{
    CallId, CallOutcome, ConnectionConfig, TerminalError, TerminalInput, TerminalOutput, TerminalTimer,
};
use crate::reader::{ConnectionStatus, Reader, SerialNumber};
use crate::runtime::adapter::{StatigCore, StatigMachine};
use crate::runtime::machine::Outbox;
use crate::runtime::table::{MachineSpec, On, on, state, superstate};
use crate::scanner::{DiscoveryConfig, DiscoveryError};
use crate::session::{HubItem, SessionInput, SessionReport};
use crate::store::LastConnected;

/// Calls, reports and lists are handled the same in every state.
const SERVING_ON: &[On] = &[
    on("ConnectReaderRequested", &[]),
    on("DisconnectReaderRequested", &[]),
    on("RebootReaderRequested", &[]),
    on("InstallUpdateRequested", &[]),
    on("TransactionStartRequested", &[]),
    on("TransactionEndRequested", &[]),
    on("SessionReported", &[]),
    on("SessionWentIdle", &[]),
    on("ReadersDiscovered", &[]),
    on("DiscoveryRunningChanged", &[]),
    on("ReconnectSavedReaderRequested", &[]),
    on("SavedReaderDiscoveryFailed", &[]),
];

/// The declared table (see [`crate::runtime::table`]).
pub static SPEC: MachineSpec = MachineSpec {
    name: "terminal",
    summary: "The terminal hub: routes API calls to the readers' sessions (started by a connect, released once idle), answers them, fans reports out as events, publishes the overall status (a function of the readers' statuses, R2), and runs reconnect at start (R11).",
    initial: "idle",
    states: &[
        superstate("serving", None, SERVING_ON),
        state(
            "idle",
            Some("serving"),
            &[on("ReconnectSavedReaderRequested", &["finding_saved_reader"])],
        ),
        state(
            "finding_saved_reader",
            Some("serving"),
            &[
                on("ReadersDiscovered", &["connecting_saved_reader"]),
                on("SavedReaderSearchElapsed", &["idle"]),
                on("SavedReaderDiscoveryFailed", &["idle"]),
            ],
        ),
        state(
            "connecting_saved_reader",
            Some("serving"),
            &[on("SessionReported", &["idle"])],
        ),
    ],
};

type Out = Outbox<TerminalOutput, TerminalTimer>;

/// The overall status (R2): `Connected` while any reader is connected,
/// else `Connecting` while any connects, else `Reconnecting` while any
/// reconnects, else `Discovering` while a discovery runs, else
/// `NotConnected`.
pub fn overall_status<'a>(
    readers: impl IntoIterator<Item = &'a ConnectionStatus>,
    discovering: bool,
) -> ConnectionStatus {
    let mut best = None;
    for status in readers {
        let rank = |s: ConnectionStatus| match s {
            ConnectionStatus::Connected => 3,
            ConnectionStatus::Connecting => 2,
            ConnectionStatus::Reconnecting => 1,
            _ => 0,
        };
        if rank(*status) > best.map_or(0, rank) {
            best = Some(*status);
        }
    }
    match best {
        Some(status) => status,
        None if discovering => ConnectionStatus::Discovering,
        None => ConnectionStatus::NotConnected,
    }
}

/// Reconnect at start (R11) under way.
#[derive(Debug, Clone)]
struct SavedSearch {
    /// The `reconnect_saved_reader` call to answer.
    call: CallId,
    /// The reader the store saved.
    saved: LastConnected,
    /// How long it is looked for.
    timeout_ms: u64,
}

/// The statig side: what is global to the terminal.
#[derive(Debug, Default)]
pub struct TerminalCore {
    /// Each reader that has a session, with its status as its session
    /// last reported it.
    readers: BTreeMap<SerialNumber, ConnectionStatus>,
    /// How many inputs the hub routed to each reader's session: it is
    /// released only once it has handled them all.
    routed: BTreeMap<SerialNumber, u64>,
    /// How many readers are in each status, so the overall status is
    /// found without a scan over every reader (R21: thousands).
    counts: [usize; 5],
    /// Every reader a discovery of this terminal ever listed: the readers
    /// `connect_reader` accepts.
    known: BTreeMap<SerialNumber, Reader>,
    /// Whether a discovery runs.
    discovering: bool,
    /// The overall status, as last published.
    status: ConnectionStatus,
    /// Reconnect at start (R11) under way.
    saved: Option<SavedSearch>,
    /// What comes after the overall status change an input causes.
    deferred: Vec<TerminalOutput>,
}

#[state_machine(
    initial = "State::idle()",
    visibility = "pub",
    state(derive(Debug, Clone, strum::IntoStaticStr, strum::VariantNames)),
    superstate(derive(Debug, strum::VariantNames)),
    after_transition = "Self::record_transition"
)]
impl TerminalCore {
    /// Every input. Calls are answered or routed to the reader's session;
    /// sessions' reports are published; then the overall status is
    /// published if the input changed it.
    #[superstate]
    fn serving(&mut self, context: &mut Out, event: &TerminalInput) -> Outcome<State> {
        match event {
            TerminalInput::ConnectReaderRequested { call, reader, config } => {
                self.connect_requested(context, *call, reader, config)
            }
            TerminalInput::DisconnectReaderRequested { call, serial_number } => self.route(
                context,
                *call,
                serial_number,
                SessionInput::DisconnectRequested { call: *call },
            ),
            TerminalInput::RebootReaderRequested { call, serial_number } => self.route(
                context,
                *call,
                serial_number,
                SessionInput::RebootRequested { call: *call },
            ),
            TerminalInput::InstallUpdateRequested { call, serial_number } => {
                let input = SessionInput::InstallUpdateRequested { call: *call };
                self.route(context, *call, serial_number, input)
            }
            TerminalInput::TransactionStartRequested { call, serial_number } => {
                let input = SessionInput::TransactionStartRequested { call: *call };
                self.route(context, *call, serial_number, input)
            }
            TerminalInput::TransactionEndRequested {
                call,
                serial_number,
                transaction,
            } => {
                let input = SessionInput::TransactionEndRequested {
                    call: *call,
                    transaction: *transaction,
                };
                self.route(context, *call, serial_number, input)
            }
            TerminalInput::SessionReported {
                serial_number,
                report,
            } => {
                self.session_reported(context, serial_number, report);
            }
            TerminalInput::SessionWentIdle {
                serial_number,
                inputs_seen,
            } => self.session_went_idle(context, serial_number, *inputs_seen),
            TerminalInput::ReadersDiscovered { readers } => self.readers_discovered(context, readers),
            TerminalInput::DiscoveryRunningChanged { running } => self.discovering = *running,
            TerminalInput::ReconnectSavedReaderRequested { call, .. } => {
                // One reconnect at start at a time.
                let error = TerminalError::SavedReaderReconnectInProgress;
                context.emit(TerminalOutput::Reply {
                    call: *call,
                    result: Err(error),
                });
            }
            // Reconnect at start is not looking (any more), or its
            // discovery was superseded or cancelled (the app's own
            // discovery may still list the saved reader).
            TerminalInput::SavedReaderSearchElapsed | TerminalInput::SavedReaderDiscoveryFailed { .. } => {}
        }
        self.publish_overall(context);
        Handled
    }

    /// No reconnect at start runs. `ReconnectSavedReaderRequested` →
    /// `finding_saved_reader` (a scan starts, the search timer is armed),
    /// unless the store saved no reader or it is connected already.
    #[state(superstate = "serving")]
    fn idle(&mut self, context: &mut Out, event: &TerminalInput) -> Outcome<State> {
        match event {
            TerminalInput::ReconnectSavedReaderRequested {
                call,
                saved,
                timeout_ms,
            } => {
                let Some(saved) = saved else {
                    self.reply_now(context, *call, Err(TerminalError::NoSavedReader));
                    return Handled;
                };
                if self.readers.get(&saved.serial_number) == Some(&ConnectionStatus::Connected) {
                    let serial_number = saved.serial_number.clone();
                    self.reply_now(
                        context,
                        *call,
                        Err(TerminalError::AlreadyConnected { serial_number }),
                    );
                    return Handled;
                }
                context.emit(TerminalOutput::Publish(
                    TerminalEvent::SavedReaderReconnectStarted {
                        serial_number: saved.serial_number.clone(),
                        location: saved.location.clone(),
                    },
                ));
                context.emit(TerminalOutput::StartDiscovery(DiscoveryConfig::scan()));
                context.start_timer(
                    TerminalTimer::SavedReaderSearch,
                    Duration::from_millis(*timeout_ms),
                );
                self.saved = Some(SavedSearch {
                    call: *call,
                    saved: saved.clone(),
                    timeout_ms: *timeout_ms,
                });
                Transition(State::finding_saved_reader())
            }
            _ => Super,
        }
    }

    /// Reconnect at start looks for the saved reader. A discovery listing
    /// it → `connecting_saved_reader` (it is connected to its saved
    /// location, which ends the discovery, R2); the search timer →
    /// `idle`, the discovery stopped and the call failed; its discovery
    /// failing (the adapter off; not superseded or cancelled, when the
    /// app's own discovery may still list the reader) → `idle`, the call
    /// failed at once with the discovery's error.
    #[state(superstate = "serving")]
    fn finding_saved_reader(&mut self, context: &mut Out, event: &TerminalInput) -> Outcome<State> {
        match event {
            TerminalInput::ReadersDiscovered { readers } => {
                self.readers_discovered(context, readers);
                let Some(search) = self.saved.clone() else {
                    return Handled;
                };
                let serial_number = &search.saved.serial_number;
                let Some(reader) = readers.iter().find(|r| &r.serial_number == serial_number) else {
                    return Handled;
                };
                context.cancel_timer(TerminalTimer::SavedReaderSearch);
                context.emit(TerminalOutput::Publish(TerminalEvent::SavedReaderFound {
                    serial_number: serial_number.clone(),
                }));
                let config = ConnectionConfig::new(search.saved.location.clone());
                self.connect_requested(context, search.call, reader, &config);
                self.publish_overall(context);
                if self.saved.is_none() {
                    // The connect was refused at once.
                    return Transition(State::idle());
                }
                Transition(State::connecting_saved_reader())
            }
            TerminalInput::SavedReaderSearchElapsed => {
                if let Some(search) = self.saved.take() {
                    let serial_number = search.saved.serial_number;
                    context.emit(TerminalOutput::StopDiscovery);
                    context.emit(TerminalOutput::Publish(TerminalEvent::SavedReaderNotFound {
                        serial_number: serial_number.clone(),
                    }));
                    let error = TerminalError::SavedReaderNotFound {
                        serial_number,
                        after_ms: search.timeout_ms,
                    };
                    self.reply_now(context, search.call, Err(error));
                }
                self.publish_overall(context);
                Transition(State::idle())
            }
            TerminalInput::SavedReaderDiscoveryFailed { error }
                if !matches!(error, DiscoveryError::Superseded | DiscoveryError::Cancelled) =>
            {
                if let Some(search) = self.saved.take() {
                    let serial_number = search.saved.serial_number;
                    context.cancel_timer(TerminalTimer::SavedReaderSearch);
                    context.emit(TerminalOutput::Publish(TerminalEvent::SavedReaderNotFound {
                        serial_number: serial_number.clone(),
                    }));
                    let error = TerminalError::SavedReaderDiscoveryFailed {
                        serial_number,
                        error: error.clone(),
                    };
                    self.reply_now(context, search.call, Err(error));
                }
                self.publish_overall(context);
                Transition(State::idle())
            }
            _ => Super,
        }
    }

    /// The saved reader is being connected; the connect's answer (the
    /// session's reply to the call) → `idle`.
    #[state(superstate = "serving")]
    fn connecting_saved_reader(&mut self, context: &mut Out, event: &TerminalInput) -> Outcome<State> {
        match event {
            TerminalInput::SessionReported {
                serial_number,
                report,
            } => {
                self.session_reported(context, serial_number, report);
                self.publish_overall(context);
                if self.saved.is_none() {
                    Transition(State::idle())
                } else {
                    Handled
                }
            }
            _ => Super,
        }
    }
}

impl TerminalCore {
    /// Publishes the overall status if the input changed it, then what
    /// comes after that change.
    fn publish_overall(&mut self, context: &mut Out) {
        let status = self.overall();
        if status != self.status {
            self.status = status;
            context.emit(TerminalOutput::Publish(TerminalEvent::ConnectionStatusChanged {
                status,
            }));
        }
        for output in self.deferred.drain(..) {
            context.emit(output);
        }
    }

    fn overall(&self) -> ConnectionStatus {
        const ORDER: [ConnectionStatus; 3] = [
            ConnectionStatus::Connected,
            ConnectionStatus::Connecting,
            ConnectionStatus::Reconnecting,
        ];
        let busiest = ORDER.into_iter().find(|s| self.counts[status_index(*s)] > 0);
        overall_status(busiest.as_ref(), self.discovering)
    }

    /// Answers a call, noting when it is reconnect at start's.
    fn reply_now(&mut self, context: &mut Out, call: CallId, result: Result<CallOutcome, TerminalError>) {
        self.answered(call);
        context.emit(TerminalOutput::Reply { call, result });
    }

    /// Reconnect at start is over once its call is answered.
    fn answered(&mut self, call: CallId) {
        if self.saved.as_ref().is_some_and(|s| s.call == call) {
            self.saved = None;
        }
    }

    fn set_reader_status(&mut self, serial_number: &SerialNumber, status: ConnectionStatus) {
        let old = self.readers.insert(serial_number.clone(), status);
        if let Some(old) = old {
            self.counts[status_index(old)] -= 1;
        }
        self.counts[status_index(status)] += 1;
    }

    /// The app asked to connect: refused at once when the config has no
    /// location, or the reader was never discovered and has no session;
    /// otherwise the reader's session decides (it refuses a reader
    /// connected or connecting).
    fn connect_requested(
        &mut self,
        context: &mut Out,
        call: CallId,
        reader: &Reader,
        config: &ConnectionConfig,
    ) {
        let serial_number = reader.serial_number.clone();
        if config.location_id.trim().is_empty() {
            return self.reply_now(context, call, Err(TerminalError::EmptyLocation));
        }
        if !self.readers.contains_key(&serial_number) {
            if !self.known.contains_key(&serial_number) {
                return self.reply_now(context, call, Err(TerminalError::UnknownReader { serial_number }));
            }
            // The shell starts a session with this input.
            self.set_reader_status(&serial_number, ConnectionStatus::NotConnected);
            self.routed.insert(serial_number.clone(), 0);
        }
        let input = SessionInput::ConnectRequested {
            call,
            reader: reader.clone(),
            config: config.clone(),
        };
        self.send_to_session(context, serial_number, input);
    }

    /// A call about a reader goes to its session. A reader without one
    /// (never connected, or its session released) is answered here as an
    /// idle session answers: not connected — except ending a transaction,
    /// which is done already since none runs.
    fn route(&mut self, context: &mut Out, call: CallId, serial_number: &SerialNumber, input: SessionInput) {
        let serial_number = serial_number.clone();
        if self.readers.contains_key(&serial_number) {
            self.send_to_session(context, serial_number, input);
        } else if matches!(input, SessionInput::TransactionEndRequested { .. }) {
            self.reply_now(context, call, Ok(CallOutcome::Done));
        } else {
            self.reply_now(context, call, Err(TerminalError::NotConnected { serial_number }));
        }
    }

    /// Delivers `input` to the reader's session, counted.
    fn send_to_session(&mut self, context: &mut Out, serial_number: SerialNumber, input: SessionInput) {
        *self.routed.entry(serial_number.clone()).or_default() += 1;
        context.emit(TerminalOutput::ToSession { serial_number, input });
    }

    /// A session went idle: released if it has handled every input routed
    /// to it. Otherwise a call is on its way to it, and the session tells
    /// again once it has handled it (if it is idle then).
    fn session_went_idle(&mut self, context: &mut Out, serial_number: &SerialNumber, inputs_seen: u64) {
        if self.routed.get(serial_number) != Some(&inputs_seen) {
            return;
        }
        self.routed.remove(serial_number);
        if let Some(status) = self.readers.remove(serial_number) {
            self.counts[status_index(status)] -= 1;
        }
        context.emit(TerminalOutput::StopSession {
            serial_number: serial_number.clone(),
        });
    }

    fn readers_discovered(&mut self, context: &mut Out, readers: &[Reader]) {
        let connected = |r: &Reader| self.readers.get(&r.serial_number) == Some(&ConnectionStatus::Connected);
        let readers: Vec<Reader> = readers.iter().filter(|r| !connected(r)).cloned().collect();
        self.known
            .extend(readers.iter().map(|r| (r.serial_number.clone(), r.clone())));
        context.emit(TerminalOutput::Publish(TerminalEvent::DiscoveredReadersUpdated {
            readers,
        }));
    }

    /// What one input changed at a reader's session: its status, what to
    /// publish and answer now, and what after the overall status change.
    fn session_reported(&mut self, context: &mut Out, serial_number: &SerialNumber, report: &SessionReport) {
        let old = self.readers.get(serial_number).copied().unwrap_or_default();
        if old != report.status {
            self.set_reader_status(serial_number, report.status);
            match report.status {
                // The location is known and the link is being made: the
                // connect has started, which ends discovery (R2).
                ConnectionStatus::Connecting => context.emit(TerminalOutput::ConnectStarted {
                    serial_number: serial_number.clone(),
                }),
                ConnectionStatus::Connected => context.emit(TerminalOutput::ConnectedReadersChanged {
                    serial_number: serial_number.clone(),
                    connected: true,
                }),
                _ if old == ConnectionStatus::Connected => {
                    context.emit(TerminalOutput::ConnectedReadersChanged {
                        serial_number: serial_number.clone(),
                        connected: false,
                    })
                }
                _ => {}
            }
        }
        // One order for every connect, the first and a reconnect alike:
        // `Connected`, and whatever the session reports after it, comes
        // after the overall status change the connect makes.
        let split = report
            .now
            .iter()
            .position(|item| matches!(item, HubItem::Publish(TerminalEvent::Connected { .. })))
            .unwrap_or(report.now.len());
        for item in &report.now[..split] {
            let output = self.hub_output(item);
            context.emit(output);
        }
        for item in report.now[split..].iter().chain(&report.after_status) {
            let output = self.hub_output(item);
            self.deferred.push(output);
        }
    }

    fn hub_output(&mut self, item: &HubItem) -> TerminalOutput {
        match item {
            HubItem::Persist { reader, location } => TerminalOutput::Persist {
                reader: reader.clone(),
                location: location.clone(),
            },
            HubItem::Publish(event) => TerminalOutput::Publish(event.clone()),
            HubItem::Reply { call, result } => {
                self.answered(*call);
                TerminalOutput::Reply {
                    call: *call,
                    result: result.clone(),
                }
            }
        }
    }
}

fn status_index(status: ConnectionStatus) -> usize {
    match status {
        ConnectionStatus::NotConnected => 0,
        ConnectionStatus::Discovering => 1,
        ConnectionStatus::Connecting => 2,
        ConnectionStatus::Connected => 3,
        ConnectionStatus::Reconnecting => 4,
    }
}

/// The terminal hub as a runtime [`Machine`](crate::runtime::Machine).
pub type Hub = StatigMachine<TerminalCore>;

impl StatigCore for TerminalCore {
    type Output = TerminalOutput;
    type Timer = TerminalTimer;

    fn spec() -> &'static MachineSpec {
        &SPEC
    }

    fn timer_elapsed(timer: TerminalTimer) -> TerminalInput {
        match timer {
            TerminalTimer::SavedReaderSearch => TerminalInput::SavedReaderSearchElapsed,
        }
    }
}

impl Hub {
    /// A hub with no readers, `idle`.
    pub fn new() -> Self {
        StatigMachine::from_core(TerminalCore::default())
    }

    /// One reader's status, as its session last reported it.
    pub fn reader_status(&self, serial_number: &SerialNumber) -> ConnectionStatus {
        self.core()
            .readers
            .get(serial_number)
            .copied()
            .unwrap_or_default()
    }

    /// The overall status, as last published (R2).
    pub fn overall_status(&self) -> ConnectionStatus {
        self.core().status
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}
