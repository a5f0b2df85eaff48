//! The terminal hub's pure machine: it routes the app's calls to the
//! readers' connections, refuses the calls that cannot start (so they
//! change nothing), answers each call once, and turns connection reports
//! into [`TerminalEvent`]s.
//!
//! Its leaf state is the terminal's overall status (R2): `connected` while
//! any reader is connected, else `connecting` while any connects, else
//! `discovering` while a discovery runs, else `not_connected`. Every input
//! is handled by the `running` superstate, which moves to the state the
//! readers' statuses add up to; the move publishes
//! `ConnectionStatusChanged`.

use std::collections::BTreeMap;

use statig::prelude::*;

use super::events::TerminalEvent;
use super::messages::{
    CallId, CallOutcome, ConnectionConfig, TerminalError, TerminalInput, TerminalOutput, TerminalTimer,
};
use crate::backend::LocationId;
use crate::connection::{CommandError, ConnectError, ConnectionEvent, ConnectionInput};
use crate::reader::{ConnectionStatus, DisconnectReason, Reader, SerialNumber};
use crate::runtime::machine::{Machine, Outbox, state_name};
use crate::runtime::table::{MachineSpec, On, on, state, superstate};

const ANY_STATUS: &[&str] = &["not_connected", "discovering", "connecting", "connected"];

const RUNNING_ON: &[On] = &[
    on("ConnectReaderRequested", ANY_STATUS),
    on("DisconnectReaderRequested", ANY_STATUS),
    on("RebootReaderRequested", ANY_STATUS),
    on("ConnectionReported", ANY_STATUS),
    on("ReadersDiscovered", ANY_STATUS),
    on("DiscoveryRunningChanged", ANY_STATUS),
];

/// The declared table (see [`crate::runtime::table`]).
pub static SPEC: MachineSpec = MachineSpec {
    name: "terminal",
    summary: "The terminal hub: routes API calls to connections, answers them, fans reports out as events; its state is the overall status (R2, R21).",
    initial: "not_connected",
    states: &[
        superstate("running", None, RUNNING_ON),
        state("not_connected", Some("running"), &[]),
        state("discovering", Some("running"), &[]),
        state("connecting", Some("running"), &[]),
        state("connected", Some("running"), &[]),
    ],
};

type Out = Outbox<TerminalOutput, TerminalTimer>;

/// What the hub knows of one reader it was asked to connect.
#[derive(Debug, Clone)]
struct ReaderEntry {
    reader: Reader,
    status: ConnectionStatus,
    config: ConnectionConfig,
    location: Option<LocationId>,
    /// The `connect_reader` call waiting for the outcome.
    connect_call: Option<CallId>,
    /// The `disconnect_reader` calls waiting for the end.
    disconnect_calls: Vec<CallId>,
    /// The `reboot_reader` call waiting for the reader's answer.
    reboot_call: Option<CallId>,
}

/// The statig side: every reader the hub routes for.
#[derive(Debug, Default)]
pub(crate) struct TerminalCore {
    /// Readers asked to connect, by serial number.
    readers: BTreeMap<SerialNumber, ReaderEntry>,
    /// Every reader a discovery of this terminal ever listed: the readers
    /// `connect_reader` accepts.
    known: BTreeMap<SerialNumber, Reader>,
    /// Whether a discovery runs.
    discovering: bool,
    /// The overall status, as last published.
    status: ConnectionStatus,
}

#[state_machine(
    initial = "State::not_connected()",
    visibility = "pub(crate)",
    state(derive(Debug, Clone)),
    superstate(derive(Debug)),
    after_transition = "Self::after_transition"
)]
impl TerminalCore {
    /// Every input. Calls are answered or routed; reports become events;
    /// then → the state the readers' statuses add up to (or stays).
    #[superstate]
    fn running(&mut self, context: &mut Out, event: &TerminalInput) -> Outcome<State> {
        match event {
            TerminalInput::ConnectReaderRequested { call, reader, config } => {
                self.connect_requested(context, *call, reader, config)
            }
            TerminalInput::DisconnectReaderRequested { call, serial_number } => {
                self.disconnect_requested(context, *call, serial_number)
            }
            TerminalInput::RebootReaderRequested { call, serial_number } => {
                self.reboot_requested(context, *call, serial_number)
            }
            TerminalInput::ConnectionReported { serial_number, event } => {
                self.connection_reported(context, serial_number, event)
            }
            TerminalInput::ReadersDiscovered { readers } => {
                let connected = |r: &Reader| {
                    self.readers
                        .get(&r.serial_number)
                        .is_some_and(|e| e.status == ConnectionStatus::Connected)
                };
                let readers: Vec<Reader> = readers.iter().filter(|r| !connected(r)).cloned().collect();
                self.known
                    .extend(readers.iter().map(|r| (r.serial_number.clone(), r.clone())));
                context.emit(TerminalOutput::Publish(TerminalEvent::DiscoveredReadersUpdated { readers }));
            }
            TerminalInput::DiscoveryRunningChanged { running } => self.discovering = *running,
        }
        match self.overall() {
            status if status == self.status => Handled,
            ConnectionStatus::Connected => Transition(State::connected()),
            ConnectionStatus::Connecting | ConnectionStatus::Reconnecting => Transition(State::connecting()),
            ConnectionStatus::Discovering => Transition(State::discovering()),
            ConnectionStatus::NotConnected => Transition(State::not_connected()),
        }
    }

    /// No reader connected or connecting, no discovery. Everything → `running`.
    #[state(superstate = "running")]
    fn not_connected(event: &TerminalInput) -> Outcome<State> {
        let _ = event;
        Super
    }

    /// A discovery runs, no reader connected or connecting. Everything → `running`.
    #[state(superstate = "running")]
    fn discovering(event: &TerminalInput) -> Outcome<State> {
        let _ = event;
        Super
    }

    /// A reader connects, none is connected. Everything → `running`.
    #[state(superstate = "running")]
    fn connecting(event: &TerminalInput) -> Outcome<State> {
        let _ = event;
        Super
    }

    /// At least one reader is connected. Everything → `running`.
    #[state(superstate = "running")]
    fn connected(event: &TerminalInput) -> Outcome<State> {
        let _ = event;
        Super
    }
}

impl TerminalCore {
    fn after_transition(&mut self, source: &State, target: &State, context: &mut Out) {
        context.transitioned(state_name(source), state_name(target));
        self.status = self.overall();
        context.emit(TerminalOutput::Publish(TerminalEvent::ConnectionStatusChanged {
            status: self.status,
        }));
    }

    /// The status the readers add up to (R2). A connect whose location is
    /// still being checked counts for nothing yet: if the location is
    /// unknown, the call fails and nothing changed.
    fn overall(&self) -> ConnectionStatus {
        let any = |status| self.readers.values().any(|e| e.status == status);
        if any(ConnectionStatus::Connected) {
            ConnectionStatus::Connected
        } else if any(ConnectionStatus::Connecting) {
            ConnectionStatus::Connecting
        } else if self.discovering {
            ConnectionStatus::Discovering
        } else {
            ConnectionStatus::NotConnected
        }
    }

    fn reply(context: &mut Out, call: CallId, result: Result<CallOutcome, TerminalError>) {
        context.emit(TerminalOutput::Reply { call, result });
    }

    fn connect_requested(&mut self, context: &mut Out, call: CallId, reader: &Reader, config: &ConnectionConfig) {
        let serial_number = reader.serial_number.clone();
        let refusal = if config.location_id.trim().is_empty() {
            Some(TerminalError::EmptyLocation)
        } else if let Some(entry) = self.readers.get(&serial_number) {
            match entry.status {
                ConnectionStatus::Connected => Some(TerminalError::AlreadyConnected { serial_number }),
                _ if entry.connect_call.is_some() || entry.status != ConnectionStatus::NotConnected => {
                    Some(TerminalError::ConnectInProgress { serial_number })
                }
                _ => None,
            }
        } else if !self.known.contains_key(&serial_number) {
            Some(TerminalError::UnknownReader { serial_number })
        } else {
            None
        };
        if let Some(error) = refusal {
            return Self::reply(context, call, Err(error));
        }
        let entry = self
            .readers
            .entry(reader.serial_number.clone())
            .or_insert_with(|| ReaderEntry {
                reader: reader.clone(),
                status: ConnectionStatus::NotConnected,
                config: config.clone(),
                location: None,
                connect_call: None,
                disconnect_calls: Vec::new(),
                reboot_call: None,
            });
        entry.reader = reader.clone();
        entry.config = config.clone();
        entry.connect_call = Some(call);
        context.emit(TerminalOutput::StartConnect {
            reader: reader.clone(),
            location: config.location_id.clone(),
        });
    }

    fn disconnect_requested(&mut self, context: &mut Out, call: CallId, serial_number: &SerialNumber) {
        match self.readers.get_mut(serial_number) {
            Some(entry) if entry.status != ConnectionStatus::NotConnected || entry.connect_call.is_some() => {
                entry.disconnect_calls.push(call);
                context.emit(TerminalOutput::ToConnection {
                    serial_number: serial_number.clone(),
                    input: ConnectionInput::DisconnectRequested,
                });
            }
            _ => Self::reply(
                context,
                call,
                Err(TerminalError::NotConnected {
                    serial_number: serial_number.clone(),
                }),
            ),
        }
    }

    fn reboot_requested(&mut self, context: &mut Out, call: CallId, serial_number: &SerialNumber) {
        let error = match self.readers.get_mut(serial_number) {
            Some(entry) if entry.status == ConnectionStatus::Connected => {
                if entry.reboot_call.is_none() {
                    entry.reboot_call = Some(call);
                    context.emit(TerminalOutput::ToConnection {
                        serial_number: serial_number.clone(),
                        input: ConnectionInput::RebootRequested,
                    });
                    return;
                }
                TerminalError::Command {
                    serial_number: serial_number.clone(),
                    error: CommandError::Busy,
                }
            }
            _ => TerminalError::NotConnected {
                serial_number: serial_number.clone(),
            },
        };
        Self::reply(context, call, Err(error));
    }

    fn connection_reported(&mut self, context: &mut Out, serial_number: &SerialNumber, event: &ConnectionEvent) {
        let Some(entry) = self.readers.get_mut(serial_number) else {
            return;
        };
        let serial = || serial_number.clone();
        let publish = |context: &mut Out, event| context.emit(TerminalOutput::Publish(event));
        match event {
            ConnectionEvent::StatusChanged { status } => {
                entry.status = *status;
                publish(
                    context,
                    TerminalEvent::ReaderStatusChanged {
                        serial_number: serial(),
                        status: *status,
                    },
                );
            }
            ConnectionEvent::Connected { reader, location } => {
                entry.reader = reader.clone();
                entry.location = Some(location.clone());
                context.emit(TerminalOutput::Persist {
                    reader: reader.clone(),
                    location: location.clone(),
                });
                publish(
                    context,
                    TerminalEvent::Connected {
                        reader: reader.clone(),
                        location: location.clone(),
                    },
                );
                if let Some(call) = entry.connect_call.take() {
                    Self::reply(
                        context,
                        call,
                        Ok(CallOutcome::Connected {
                            reader: reader.clone(),
                        }),
                    );
                }
            }
            ConnectionEvent::ConnectFailed { error } => {
                if let Some(call) = entry.connect_call.take() {
                    let error = match error {
                        ConnectError::LocationNotFound { location } => TerminalError::LocationNotFound {
                            location: location.clone(),
                        },
                        error => TerminalError::Connect {
                            serial_number: serial(),
                            error: error.clone(),
                        },
                    };
                    Self::reply(context, call, Err(error));
                }
                for call in entry.disconnect_calls.drain(..) {
                    Self::reply(context, call, Ok(CallOutcome::Done));
                }
            }
            ConnectionEvent::Disconnected { reason } => {
                for call in entry.disconnect_calls.drain(..) {
                    Self::reply(context, call, Ok(CallOutcome::Done));
                }
                if let Some(call) = entry.reboot_call.take() {
                    Self::reply(context, call, Ok(CallOutcome::Done));
                }
                let config = entry.config.clone();
                self.unexpected_or_requested_disconnect(context, serial_number, *reason, &config);
            }
            ConnectionEvent::BatteryReported { battery } => publish(
                context,
                TerminalEvent::BatteryLevelReported {
                    serial_number: serial(),
                    battery: *battery,
                },
            ),
            ConnectionEvent::LowBatteryWarned { battery } => publish(
                context,
                TerminalEvent::LowBatteryWarning {
                    serial_number: serial(),
                    battery: *battery,
                },
            ),
            ConnectionEvent::CardInserted => publish(
                context,
                TerminalEvent::CardInserted {
                    serial_number: serial(),
                },
            ),
            ConnectionEvent::CardRemoved => publish(
                context,
                TerminalEvent::CardRemoved {
                    serial_number: serial(),
                },
            ),
            ConnectionEvent::RebootAccepted => {
                if let Some(call) = entry.reboot_call.take() {
                    Self::reply(context, call, Ok(CallOutcome::Done));
                }
            }
            ConnectionEvent::RebootFailed { error } => {
                if let Some(call) = entry.reboot_call.take() {
                    let error = TerminalError::Command {
                        serial_number: serial(),
                        error: error.clone(),
                    };
                    Self::reply(context, call, Err(error));
                }
            }
        }
    }

    /// A connection ended. The app's own disconnect ends it for good (R8).
    ///
    /// The auto-reconnect hook point: when `reason.reconnects()` and the
    /// reader's config has `auto_reconnect_on_unexpected_disconnect`, R9
    /// hands the reader to a reconnect supervisor here (it reports
    /// `ReconnectStarted` instead of `Disconnected`). Until the supervisor
    /// exists (issue 6) every disconnect is reported as R10 says, as
    /// `Disconnected { reason }`.
    fn unexpected_or_requested_disconnect(
        &mut self,
        context: &mut Out,
        serial_number: &SerialNumber,
        reason: DisconnectReason,
        config: &ConnectionConfig,
    ) {
        let _hand_over_to_reconnect = config.auto_reconnect_on_unexpected_disconnect && reason.reconnects();
        context.emit(TerminalOutput::Publish(TerminalEvent::Disconnected {
            serial_number: serial_number.clone(),
            reason,
        }));
    }
}

/// The terminal hub as a runtime [`Machine`].
pub struct Hub {
    inner: statig::blocking::StateMachine<TerminalCore>,
}

impl Hub {
    /// A hub with no readers, `not_connected`.
    pub fn new() -> Self {
        Self {
            inner: TerminalCore::default().state_machine(),
        }
    }

    /// One reader's status, as its connection last reported it.
    pub fn reader_status(&self, serial_number: &SerialNumber) -> ConnectionStatus {
        self.inner
            .inner()
            .readers
            .get(serial_number)
            .map_or(ConnectionStatus::NotConnected, |e| e.status)
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Machine for Hub {
    type Input = TerminalInput;
    type Output = TerminalOutput;
    type Timer = TerminalTimer;

    fn spec() -> &'static MachineSpec {
        &SPEC
    }

    fn state(&self) -> &'static str {
        state_name(self.inner.state())
    }

    fn handle(&mut self, input: &TerminalInput, out: &mut Out) {
        self.inner.handle_with_context(input, out);
    }

    fn timer_elapsed(timer: TerminalTimer) -> TerminalInput {
        match timer {}
    }
}
