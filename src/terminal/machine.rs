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
use crate::reconnect::{ReconnectEvent, ReconnectInput};
use crate::runtime::machine::{Machine, Outbox, state_name};
use crate::runtime::table::{MachineSpec, On, on, state, superstate};

const ANY_STATUS: &[&str] = &["not_connected", "discovering", "connecting", "connected"];

/// Only a reader's status change or a discovery starting or ending can
/// change what the statuses add up to; calls and lists are handled in place.
const RUNNING_ON: &[On] = &[
    on("ConnectionReported", ANY_STATUS),
    on("DiscoveryRunningChanged", &["not_connected", "discovering"]),
    on("ConnectReaderRequested", &[]),
    on("DisconnectReaderRequested", &[]),
    on("RebootReaderRequested", &[]),
    on("ReadersDiscovered", &[]),
    on("ReconnectReported", ANY_STATUS),
    on("SavedReaderStepReached", &[]),
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
    /// Where the reader's reconnection stands (R9).
    reconnect: Reconnecting,
    /// A reconnect attempt's connection that ended again before the
    /// supervisor said the reconnection succeeded: why, to report once it
    /// has.
    lost_after_connect: Option<DisconnectReason>,
}

/// Where a reader's reconnection stands, as the hub sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Reconnecting {
    /// None runs: the connection's reports are the reader's.
    #[default]
    Idle,
    /// The reader was handed to its supervisor (R9): the connection's
    /// reports go to the supervisor, which decides how it ends.
    Running {
        /// Whether an attempt's session is open at the connection
        /// (connecting, or connected and not yet confirmed by the
        /// supervisor): what to stop if the reconnection ends.
        attempt_running: bool,
    },
    /// The reconnection ended while an attempt's session was open: it
    /// was told to stop, and its last report (connect failed, or
    /// disconnected) is waited for and dropped.
    Abandoning,
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
    /// What comes after the overall status change an input causes: a
    /// reader's `Disconnected` and the answers to the calls that awaited
    /// it, so the stream reads status, then the end, then the answers.
    deferred: Vec<TerminalOutput>,
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
                context.emit(TerminalOutput::Publish(TerminalEvent::DiscoveredReadersUpdated {
                    readers,
                }));
            }
            TerminalInput::DiscoveryRunningChanged { running } => self.discovering = *running,
            TerminalInput::ReconnectReported { serial_number, event } => {
                self.reconnect_reported(context, serial_number, event)
            }
            TerminalInput::SavedReaderStepReached { event } => {
                context.emit(TerminalOutput::Publish(event.clone()))
            }
        }
        match self.overall() {
            status if status == self.status => {
                self.flush_deferred(context);
                Handled
            }
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
        self.flush_deferred(context);
    }

    fn flush_deferred(&mut self, context: &mut Out) {
        for output in self.deferred.drain(..) {
            context.emit(output);
        }
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
        } else if any(ConnectionStatus::Reconnecting) {
            ConnectionStatus::Reconnecting
        } else if self.discovering {
            ConnectionStatus::Discovering
        } else {
            ConnectionStatus::NotConnected
        }
    }

    fn reply(context: &mut Out, call: CallId, result: Result<CallOutcome, TerminalError>) {
        context.emit(TerminalOutput::Reply { call, result });
    }

    fn connect_requested(
        &mut self,
        context: &mut Out,
        call: CallId,
        reader: &Reader,
        config: &ConnectionConfig,
    ) {
        let serial_number = reader.serial_number.clone();
        let refusal = if config.location_id.trim().is_empty() {
            Some(TerminalError::EmptyLocation)
        } else if let Some(entry) = self.readers.get(&serial_number) {
            match entry.status {
                _ if entry.reconnect != Reconnecting::Idle => {
                    Some(TerminalError::ConnectInProgress { serial_number })
                }
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
                reconnect: Reconnecting::Idle,
                lost_after_connect: None,
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
            // The app's disconnect stops a reconnection as its cancelable
            // would; the call is answered once the reconnection ended.
            Some(entry) if matches!(entry.reconnect, Reconnecting::Running { .. }) => {
                entry.disconnect_calls.push(call);
                context.emit(TerminalOutput::ToSupervisor {
                    serial_number: serial_number.clone(),
                    input: ReconnectInput::CancelRequested { call: 0 },
                });
            }
            Some(entry) if entry.reconnect == Reconnecting::Abandoning => entry.disconnect_calls.push(call),
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
            Some(entry)
                if entry.status == ConnectionStatus::Connected && entry.reconnect == Reconnecting::Idle =>
            {
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

    fn connection_reported(
        &mut self,
        context: &mut Out,
        serial_number: &SerialNumber,
        event: &ConnectionEvent,
    ) {
        let Some(entry) = self.readers.get_mut(serial_number) else {
            return;
        };
        let serial = || serial_number.clone();
        let publish = |context: &mut Out, event| context.emit(TerminalOutput::Publish(event));
        if entry.reconnect != Reconnecting::Idle {
            return self.reconnect_connection_reported(context, serial_number, event);
        }
        match event {
            // A connected reader's status is reported with the end of its
            // connection, once it is known whether a reconnection follows.
            ConnectionEvent::StatusChanged {
                status: ConnectionStatus::NotConnected,
            } if entry.status == ConnectionStatus::Connected => {}
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
            ConnectionEvent::Connected { reader, location, .. } => {
                entry.reader = reader.clone();
                entry.location = Some(location.clone());
                context.emit(TerminalOutput::Persist {
                    reader: reader.clone(),
                    location: location.clone(),
                });
                context.emit(TerminalOutput::ToSupervisor {
                    serial_number: serial(),
                    input: ReconnectInput::ReaderConnected,
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
                // The event first, then the answers: a caller that awaited
                // the disconnect finds it already in the stream.
                let calls: Vec<CallId> = entry
                    .disconnect_calls
                    .drain(..)
                    .chain(entry.reboot_call.take())
                    .collect();
                let config = entry.config.clone();
                self.unexpected_or_requested_disconnect(context, serial_number, *reason, &config);
                for call in calls {
                    self.deferred.push(TerminalOutput::Reply {
                        call,
                        result: Ok(CallOutcome::Done),
                    });
                }
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
            // The hub asks for no transaction; the session will.
            ConnectionEvent::TransactionStarted
            | ConnectionEvent::TransactionStartFailed { .. }
            | ConnectionEvent::TransactionEnded
            | ConnectionEvent::TransactionEndFailed { .. } => {}
            ConnectionEvent::MachineFailed { panic } => {
                publish(
                    context,
                    TerminalEvent::ReaderActorFailed {
                        serial_number: serial(),
                        actor: "connection".into(),
                        panic: panic.clone(),
                    },
                );
                let calls: Vec<CallId> = entry
                    .disconnect_calls
                    .drain(..)
                    .chain(entry.reboot_call.take())
                    .collect();
                // Reported for good: a machine that keeps failing is not
                // reconnected.
                let mut config = entry.config.clone();
                config.auto_reconnect_on_unexpected_disconnect = false;
                self.unexpected_or_requested_disconnect(
                    context,
                    serial_number,
                    DisconnectReason::Unknown,
                    &config,
                );
                for call in calls {
                    self.deferred.push(TerminalOutput::Reply {
                        call,
                        result: Ok(CallOutcome::Done),
                    });
                }
            }
        }
    }

    /// A connection's report while its reader is reconnecting: the
    /// connect's outcome goes to the supervisor, its status changes are
    /// not the reader's (it stays `Reconnecting`), the rest is as usual.
    fn reconnect_connection_reported(
        &mut self,
        context: &mut Out,
        serial_number: &SerialNumber,
        event: &ConnectionEvent,
    ) {
        let Some(entry) = self.readers.get_mut(serial_number) else {
            return;
        };
        let to_supervisor = |context: &mut Out, input| {
            context.emit(TerminalOutput::ToSupervisor {
                serial_number: serial_number.clone(),
                input,
            })
        };
        let running = matches!(entry.reconnect, Reconnecting::Running { .. });
        match event {
            ConnectionEvent::StatusChanged { .. } => {}
            ConnectionEvent::Connected { reader, location, .. } => {
                // The attempt's session stays open (the link is up) until
                // the supervisor says how the reconnection ended: if the
                // window ran out meanwhile, the link is closed.
                if running {
                    entry.reader = reader.clone();
                    entry.location = Some(location.clone());
                    context.emit(TerminalOutput::Persist {
                        reader: reader.clone(),
                        location: location.clone(),
                    });
                    to_supervisor(context, ReconnectInput::ReaderConnected);
                }
            }
            ConnectionEvent::ConnectFailed { error } => {
                if running {
                    entry.reconnect = Reconnecting::Running {
                        attempt_running: false,
                    };
                    to_supervisor(context, ReconnectInput::AttemptFailed { error: error.clone() });
                } else {
                    self.abandoned(context, serial_number);
                }
            }
            ConnectionEvent::Disconnected { reason } => {
                if running {
                    entry.reconnect = Reconnecting::Running {
                        attempt_running: false,
                    };
                    entry.lost_after_connect = Some(*reason);
                    let auto_reconnect = entry.config.auto_reconnect_on_unexpected_disconnect;
                    to_supervisor(
                        context,
                        ReconnectInput::ConnectionLost {
                            reason: *reason,
                            auto_reconnect,
                        },
                    );
                } else {
                    self.abandoned(context, serial_number);
                }
            }
            ConnectionEvent::MachineFailed { panic } => {
                context.emit(TerminalOutput::Publish(TerminalEvent::ReaderActorFailed {
                    serial_number: serial_number.clone(),
                    actor: "connection".into(),
                    panic: panic.clone(),
                }));
                if running {
                    entry.reconnect = Reconnecting::Running {
                        attempt_running: false,
                    };
                    entry.lost_after_connect = Some(DisconnectReason::Unknown);
                    to_supervisor(
                        context,
                        ReconnectInput::ConnectionLost {
                            reason: DisconnectReason::Unknown,
                            auto_reconnect: false,
                        },
                    );
                } else {
                    self.abandoned(context, serial_number);
                }
            }
            ConnectionEvent::RebootAccepted
            | ConnectionEvent::RebootFailed { .. }
            | ConnectionEvent::TransactionStarted
            | ConnectionEvent::TransactionStartFailed { .. }
            | ConnectionEvent::TransactionEnded
            | ConnectionEvent::TransactionEndFailed { .. } => {}
            ConnectionEvent::BatteryReported { .. }
            | ConnectionEvent::LowBatteryWarned { .. }
            | ConnectionEvent::CardInserted
            | ConnectionEvent::CardRemoved => {
                let reconnect = std::mem::take(&mut entry.reconnect);
                self.connection_reported(context, serial_number, event);
                if let Some(entry) = self.readers.get_mut(serial_number) {
                    entry.reconnect = reconnect;
                }
            }
        }
    }

    /// The stopped attempt's connect has ended: the reconnection is over.
    fn abandoned(&mut self, context: &mut Out, serial_number: &SerialNumber) {
        if let Some(entry) = self.readers.get_mut(serial_number) {
            entry.reconnect = Reconnecting::Idle;
            for call in entry.disconnect_calls.drain(..) {
                Self::reply(context, call, Ok(CallOutcome::Done));
            }
        }
    }

    /// What a reader's supervisor reported (R9).
    fn reconnect_reported(
        &mut self,
        context: &mut Out,
        serial_number: &SerialNumber,
        event: &ReconnectEvent,
    ) {
        let Some(entry) = self.readers.get_mut(serial_number) else {
            return;
        };
        let serial = || serial_number.clone();
        let publish = |context: &mut Out, event| context.emit(TerminalOutput::Publish(event));
        match event {
            ReconnectEvent::Started { reason } => {
                if entry.reconnect == Reconnecting::Idle {
                    entry.reconnect = Reconnecting::Running {
                        attempt_running: false,
                    };
                }
                entry.status = ConnectionStatus::Reconnecting;
                // The shell puts the supervisor's cancelable in.
                publish(
                    context,
                    TerminalEvent::ReconnectStarted {
                        serial_number: serial(),
                        reason: *reason,
                        cancelable: Default::default(),
                    },
                );
                publish(
                    context,
                    TerminalEvent::ReaderStatusChanged {
                        serial_number: serial(),
                        status: ConnectionStatus::Reconnecting,
                    },
                );
            }
            ReconnectEvent::AttemptDue { .. } => {
                if let Reconnecting::Running { attempt_running } = &mut entry.reconnect {
                    *attempt_running = true;
                    context.emit(TerminalOutput::StartConnect {
                        reader: entry.reader.clone(),
                        location: entry.config.location_id.clone(),
                    });
                }
            }
            ReconnectEvent::AttemptAbandoned => {
                if entry.reconnect
                    == (Reconnecting::Running {
                        attempt_running: true,
                    })
                {
                    entry.reconnect = Reconnecting::Abandoning;
                    context.emit(TerminalOutput::ToConnection {
                        serial_number: serial(),
                        input: ConnectionInput::DisconnectRequested,
                    });
                }
            }
            ReconnectEvent::Succeeded => {
                entry.reconnect = Reconnecting::Idle;
                entry.status = ConnectionStatus::Connected;
                publish(
                    context,
                    TerminalEvent::ReconnectSucceeded {
                        serial_number: serial(),
                    },
                );
                publish(
                    context,
                    TerminalEvent::ReaderStatusChanged {
                        serial_number: serial(),
                        status: ConnectionStatus::Connected,
                    },
                );
                publish(
                    context,
                    TerminalEvent::Connected {
                        reader: entry.reader.clone(),
                        location: entry
                            .location
                            .clone()
                            .unwrap_or_else(|| entry.config.location_id.clone()),
                    },
                );
                if let Some(reason) = entry.lost_after_connect.take() {
                    // The supervisor heard of it already; it decides again.
                    let config = entry.config.clone();
                    self.report_end(context, serial_number, reason, &config);
                } else if !entry.disconnect_calls.is_empty() {
                    // The app asked to disconnect while it reconnected.
                    context.emit(TerminalOutput::ToConnection {
                        serial_number: serial(),
                        input: ConnectionInput::DisconnectRequested,
                    });
                }
            }
            ReconnectEvent::Failed { error, reason } => {
                if entry.reconnect != Reconnecting::Abandoning {
                    entry.reconnect = Reconnecting::Idle;
                }
                entry.lost_after_connect = None;
                entry.status = ConnectionStatus::NotConnected;
                publish(
                    context,
                    TerminalEvent::ReconnectFailed {
                        serial_number: serial(),
                        error: error.clone(),
                    },
                );
                publish(
                    context,
                    TerminalEvent::ReaderStatusChanged {
                        serial_number: serial(),
                        status: ConnectionStatus::NotConnected,
                    },
                );
                self.deferred
                    .push(TerminalOutput::Publish(TerminalEvent::Disconnected {
                        serial_number: serial(),
                        reason: *reason,
                    }));
                if entry.reconnect == Reconnecting::Idle {
                    for call in entry.disconnect_calls.drain(..) {
                        self.deferred.push(TerminalOutput::Reply {
                            call,
                            result: Ok(CallOutcome::Done),
                        });
                    }
                }
            }
        }
    }

    /// A connection ended. The supervisor always hears of it. When
    /// `reason.reconnects()` (R8) and the reader's config has
    /// `auto_reconnect_on_unexpected_disconnect`, the reader is handed to
    /// it (R9): it reports `Started`, which the hub publishes as
    /// `ReconnectStarted`. Otherwise the end is reported at once, as R10
    /// says: `Disconnected { reason }`.
    fn unexpected_or_requested_disconnect(
        &mut self,
        context: &mut Out,
        serial_number: &SerialNumber,
        reason: DisconnectReason,
        config: &ConnectionConfig,
    ) {
        context.emit(TerminalOutput::ToSupervisor {
            serial_number: serial_number.clone(),
            input: ReconnectInput::ConnectionLost {
                reason,
                auto_reconnect: config.auto_reconnect_on_unexpected_disconnect,
            },
        });
        self.report_end(context, serial_number, reason, config);
    }

    /// The hub's side of a connection's end, once the supervisor was told.
    fn report_end(
        &mut self,
        context: &mut Out,
        serial_number: &SerialNumber,
        reason: DisconnectReason,
        config: &ConnectionConfig,
    ) {
        let Some(entry) = self.readers.get_mut(serial_number) else {
            return;
        };
        if config.auto_reconnect_on_unexpected_disconnect && reason.reconnects() {
            // The status stays until the supervisor's `Started`.
            entry.reconnect = Reconnecting::Running {
                attempt_running: false,
            };
            return;
        }
        if entry.status != ConnectionStatus::NotConnected {
            entry.status = ConnectionStatus::NotConnected;
            context.emit(TerminalOutput::Publish(TerminalEvent::ReaderStatusChanged {
                serial_number: serial_number.clone(),
                status: ConnectionStatus::NotConnected,
            }));
        }
        self.deferred
            .push(TerminalOutput::Publish(TerminalEvent::Disconnected {
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
