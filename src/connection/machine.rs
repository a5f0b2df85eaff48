//! The connection's pure machine: statig handlers and the declared table.
//!
//! ```text
//! disconnected
//! connecting
//!   checking_location → linking → handshaking → fetching_token → registering
//! connected
//!   idle ⇄ busy
//! disconnecting
//! ```
//!
//! The location is looked up before anything else, so a connect to an
//! unknown location fails before a link is made or a status changes. The
//! status becomes `Connecting` once the location is known (R6), and
//! `Connected` once the backend registered the reader; `Connected` carries
//! the reader's uptime (from hello), which the 24-hour reboot counts from
//! (R12).
//!
//! Connected, it carries out one command at a time (`idle` → `busy` →
//! `idle`): the app's reboot, the security reboot (R12), and the start and
//! end of a transaction (R20). It does not track the transaction itself:
//! the reader does, and refuses a reboot while one runs
//! ([`CommandError::TransactionInProgress`]); the owner decides whether to
//! ask. A transaction ends with the connection.

use std::time::Duration;

use statig::prelude::*;

use super::messages::{
    BackendCall, CommandError, ConnectError, ConnectionEvent, ConnectionInput, ConnectionOutput,
    ConnectionTimer, Session,
};
use crate::backend::{BackendError, LocationId, ReaderIdentity, RegisterReader};
use crate::protocol::{
    Command, ErrorCode, MAX_CHUNK_LEN, ReaderMessage, RebootKind, Request, RequestId, fitted_chunk_len,
};
use crate::reader::{ConnectionStatus, DisconnectReason, Reader};
use crate::runtime::adapter::{StatigCore, StatigMachine};
use crate::runtime::machine::{Millis, Outbox};
use crate::runtime::table::{MachineSpec, on, state, superstate};
use crate::transport::LinkLossCause;

/// How long the transport may take to link.
pub const LINK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the reader may take to answer hello.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How many times a backend call is made before a passing failure (down,
/// timeout, 5xx) fails the connect.
pub const BACKEND_ATTEMPTS: u32 = 4;
/// The wait before the first backend retry; it doubles at each retry
/// (1 s, 2 s, 4 s).
pub const BACKEND_RETRY_BASE: Duration = Duration::from_secs(1);
/// How long the reader may take to answer a command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the link may take to go down after the app's disconnect.
pub const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The reason a connection ended (R8), from what is known when the link
/// goes down, most specific first: the reader's own `Disconnecting`
/// notification (when it was the last thing the reader said); else what
/// the app asked for (disconnect, reboot); else the link's loss cause. An
/// app's own disconnect is always reported as requested (see the
/// `disconnecting` state).
pub fn disconnect_reason(
    announced: Option<DisconnectReason>,
    requested: Option<DisconnectReason>,
    cause: LinkLossCause,
) -> DisconnectReason {
    announced.or(requested).unwrap_or(match cause {
        LinkLossCause::SignalLost => DisconnectReason::BluetoothSignalLost,
        LinkLossCause::AdapterPoweredOff => DisconnectReason::BluetoothDisabled,
        LinkLossCause::LocalClosed => DisconnectReason::DisconnectRequested,
        LinkLossCause::RemoteClosed => DisconnectReason::Unknown,
    })
}

/// The declared table (see [`crate::runtime::table`]).
pub static SPEC: MachineSpec = MachineSpec {
    name: "connection",
    summary: "One reader's connection: location check, link, hello, token, registration (R6); disconnect reasons (R8); reader reports (R18a).",
    initial: "disconnected",
    states: &[
        state(
            "disconnected",
            None,
            &[
                on("ConnectRequested", &["checking_location"]),
                on("DisconnectRequested", &[]),
                on("RebootRequested", &[]),
                on("SecurityRebootRequested", &[]),
                on("TransactionStartRequested", &[]),
                on("TransactionEndRequested", &[]),
                on("UpdateBeginRequested", &[]),
                on("UpdateChunksRequested", &[]),
                on("UpdateCommitRequested", &[]),
                on("VersionCheckRequested", &[]),
                on("UpdateAbortRequested", &[]),
            ],
        ),
        superstate(
            "connecting",
            None,
            &[
                on("DisconnectRequested", &["disconnected"]),
                on("LinkLost", &["disconnected"]),
                on("FrameReceived", &[]),
                on("FrameUndecodable", &[]),
                on("RebootRequested", &[]),
                on("SecurityRebootRequested", &[]),
                on("TransactionStartRequested", &[]),
                on("TransactionEndRequested", &[]),
                on("UpdateBeginRequested", &[]),
                on("UpdateChunksRequested", &[]),
                on("UpdateCommitRequested", &[]),
                on("VersionCheckRequested", &[]),
                on("UpdateAbortRequested", &[]),
                on("ConnectRequested", &[]),
            ],
        ),
        state(
            "checking_location",
            Some("connecting"),
            &[
                on("LocationFound", &["linking"]),
                on("BackendCallFailed", &["disconnected"]),
                on("BackendRetryDue", &[]),
            ],
        ),
        state(
            "linking",
            Some("connecting"),
            &[
                on("LinkEstablished", &["handshaking"]),
                on("LinkFailed", &["disconnected"]),
                on("LinkTimedOut", &["disconnected"]),
            ],
        ),
        state(
            "handshaking",
            Some("connecting"),
            &[
                on("FrameReceived", &["fetching_token", "disconnected"]),
                on("HandshakeTimedOut", &["disconnected"]),
            ],
        ),
        state(
            "fetching_token",
            Some("connecting"),
            &[
                on("ConnectionTokenFetched", &["registering"]),
                on("BackendCallFailed", &["disconnected"]),
                on("BackendRetryDue", &[]),
            ],
        ),
        state(
            "registering",
            Some("connecting"),
            &[
                on("ReaderRegistered", &["idle"]),
                on("BackendCallFailed", &["disconnected"]),
                on("BackendRetryDue", &[]),
            ],
        ),
        superstate(
            "connected",
            None,
            &[
                on("DisconnectRequested", &["disconnecting"]),
                on("LinkLost", &["disconnected"]),
                on("FrameReceived", &[]),
                on("FrameUndecodable", &[]),
                on("ConnectRequested", &[]),
                on("UpdateChunksRequested", &[]),
                on("UpdateAbortRequested", &[]),
            ],
        ),
        state(
            "idle",
            Some("connected"),
            &[
                on("RebootRequested", &["busy"]),
                on("SecurityRebootRequested", &["busy"]),
                on("TransactionStartRequested", &["busy"]),
                on("TransactionEndRequested", &["busy"]),
                on("UpdateBeginRequested", &["busy"]),
                on("UpdateCommitRequested", &["busy"]),
                on("VersionCheckRequested", &["busy"]),
            ],
        ),
        state(
            "busy",
            Some("connected"),
            &[
                on("FrameReceived", &["idle"]),
                on("CommandTimedOut", &["idle"]),
                on("RebootRequested", &[]),
                on("SecurityRebootRequested", &[]),
                on("TransactionStartRequested", &[]),
                on("TransactionEndRequested", &[]),
                on("UpdateBeginRequested", &[]),
                on("UpdateCommitRequested", &[]),
                on("VersionCheckRequested", &[]),
            ],
        ),
        state(
            "disconnecting",
            None,
            &[
                on("LinkLost", &["disconnected"]),
                on("DisconnectTimedOut", &["disconnected"]),
                on("DisconnectRequested", &[]),
                on("RebootRequested", &[]),
                on("SecurityRebootRequested", &[]),
                on("TransactionStartRequested", &[]),
                on("TransactionEndRequested", &[]),
                on("ConnectRequested", &[]),
                on("FrameReceived", &[]),
                on("UpdateBeginRequested", &[]),
                on("UpdateChunksRequested", &[]),
                on("UpdateCommitRequested", &[]),
                on("VersionCheckRequested", &[]),
                on("UpdateAbortRequested", &[]),
            ],
        ),
    ],
};

type Out = Outbox<ConnectionOutput, ConnectionTimer>;

/// A command sent to a connected reader, waiting for its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// `Reboot` (the app's, or the security one).
    Reboot,
    /// `TransactionBegin`.
    TransactionBegin,
    /// `TransactionEnd`.
    TransactionEnd,
    /// `UpdateBegin`.
    UpdateBegin,
    /// `UpdateCommit`.
    UpdateCommit,
    /// `Hello` again, for the software the reader runs after an install.
    VersionCheck,
}

impl Pending {
    /// What a command request asks for, if the input is one.
    fn requested_by(input: &ConnectionInput) -> Option<(Self, Command)> {
        Some(match input {
            ConnectionInput::RebootRequested => (
                Self::Reboot,
                Command::Reboot {
                    kind: RebootKind::Requested,
                },
            ),
            ConnectionInput::SecurityRebootRequested => (
                Self::Reboot,
                Command::Reboot {
                    kind: RebootKind::Security,
                },
            ),
            ConnectionInput::TransactionStartRequested => (Self::TransactionBegin, Command::TransactionBegin),
            ConnectionInput::TransactionEndRequested => (Self::TransactionEnd, Command::TransactionEnd),
            ConnectionInput::UpdateBeginRequested {
                version,
                size,
                sha256,
                window,
            } => (
                Self::UpdateBegin,
                Command::UpdateBegin {
                    version: version.clone(),
                    size: *size,
                    sha256: sha256.0,
                    window: *window,
                },
            ),
            ConnectionInput::UpdateCommitRequested => (Self::UpdateCommit, Command::UpdateCommit),
            ConnectionInput::VersionCheckRequested => (Self::VersionCheck, Command::Hello),
            _ => return None,
        })
    }

    /// The report of the reader's `Ack`.
    fn accepted(self) -> ConnectionEvent {
        match self {
            Self::Reboot => ConnectionEvent::RebootAccepted,
            Self::TransactionBegin => ConnectionEvent::TransactionStarted,
            Self::TransactionEnd => ConnectionEvent::TransactionEnded,
            Self::UpdateBegin => ConnectionEvent::UpdateBeginAcked,
            Self::UpdateCommit => ConnectionEvent::UpdateCommitAcked,
            // Answered by `ReaderInfo`, not `Ack`: a reader that acks a
            // hello has not said which software it runs.
            Self::VersionCheck => ConnectionEvent::UpdateCommandFailed {
                error: CommandError::refused(ErrorCode::NoUpdateInProgress),
            },
        }
    }

    /// The report of the command's failure.
    fn failed(self, error: CommandError) -> ConnectionEvent {
        match self {
            Self::Reboot => ConnectionEvent::RebootFailed { error },
            Self::TransactionBegin => ConnectionEvent::TransactionStartFailed { error },
            Self::TransactionEnd => ConnectionEvent::TransactionEndFailed { error },
            Self::UpdateBegin | Self::UpdateCommit | Self::VersionCheck => {
                ConnectionEvent::UpdateCommandFailed { error }
            }
        }
    }
}

/// The most update chunks the connection keeps unacknowledged, whatever
/// credit it is asked for: it bounds the link writer's queue
/// ([`super::LINK_QUEUE_FRAMES`]). 64 chunks of 472 bytes are 30 KB,
/// four times what the default policy keeps in flight.
pub const MAX_CHUNKS_IN_FLIGHT: u16 = 64;

/// Image bytes being sent under a credit of chunks in flight.
#[derive(Debug, Clone, Copy)]
struct ImageStream {
    /// The first byte not sent yet.
    next: u32,
    /// One past the last byte.
    to: u32,
    /// Bytes per chunk, fitted to the link.
    chunk_len: u16,
    /// One past the last byte the reader acknowledged.
    acked: u32,
    /// Chunks that may be unacknowledged at once.
    credit: u16,
}

/// The statig side: what a connection remembers across states.
#[derive(Debug, Default)]
pub struct ConnectionCore {
    /// The current session; answers from others are dropped.
    session: Session,
    /// The reader being connected, updated by hello.
    reader: Option<Reader>,
    /// The location to register it to.
    location: LocationId,
    /// Whether the session's link was asked for and not yet closed, so
    /// that ending a connect closes it exactly once.
    link_open: bool,
    /// The status last reported, so each change is reported once.
    status: ConnectionStatus,
    /// The next request id; wraps.
    next_request_id: RequestId,
    /// The hello waiting for `ReaderInfo`.
    hello: Option<RequestId>,
    /// The command waiting for its answer.
    pending_command: Option<(RequestId, Pending)>,
    /// An image is being written (from `UpdateBegin`'s `Ack` to the commit
    /// or an abort): a refused chunk is the update's failure.
    writing_image: bool,
    /// The reader's uptime at hello, and when hello was answered, so that
    /// `Connected` can carry its uptime then (R12).
    uptime_at_hello: (u64, Millis),
    /// Calls made of the backend call under way.
    backend_attempts: u32,
    /// The session link's ATT payload (0 before it is established): update
    /// chunks are cut to fill whole payloads.
    att_payload: usize,
    /// The image bytes being sent, chunks going out as credits allow
    /// (from `UpdateChunksRequested` while an image is written).
    image_stream: Option<ImageStream>,
    /// The reason the reader announced before dropping the link.
    announced: Option<DisconnectReason>,
    /// What the app asked for that ends the connection (disconnect, reboot).
    requested: Option<DisconnectReason>,
}

#[state_machine(
    initial = "State::disconnected()",
    visibility = "pub",
    state(derive(Debug, Clone, strum::IntoStaticStr, strum::VariantNames)),
    superstate(derive(Debug, strum::VariantNames)),
    after_transition = "Self::record_transition"
)]
impl ConnectionCore {
    /// No connection. `ConnectRequested` → `checking_location`; disconnect
    /// and reboot requests are handled in place (nothing to do).
    #[state]
    fn disconnected(&mut self, context: &mut Out, event: &ConnectionInput) -> Outcome<State> {
        match event {
            ConnectionInput::ConnectRequested { reader, location } => {
                self.session += 1;
                self.reader = Some(reader.clone());
                self.location = location.clone();
                self.link_open = false;
                self.hello = None;
                self.pending_command = None;
                self.set_writing_image(false);
                self.announced = None;
                self.requested = None;
                self.backend_attempts = 1;
                context.emit(ConnectionOutput::CheckLocation {
                    session: self.session,
                    location: location.clone(),
                });
                Transition(State::checking_location())
            }
            // Nothing to disconnect or reboot; anything else is a late
            // answer from the session that just ended.
            _ => Handled,
        }
    }

    /// A connect under way. `DisconnectRequested` → `disconnected` (the
    /// connect fails, cancelled); `LinkLost` → `disconnected` (fails with
    /// the reason). Frames outside the handshake, a second connect and a
    /// reboot are handled in place (ignored: the owner refuses those).
    #[superstate(exit_action = "exit_connecting")]
    fn connecting(&mut self, context: &mut Out, event: &ConnectionInput) -> Outcome<State> {
        match event {
            ConnectionInput::DisconnectRequested => self.fail(context, ConnectError::Cancelled),
            ConnectionInput::LinkLost { cause, .. } => {
                self.link_open = false;
                let reason = disconnect_reason(self.announced, None, *cause);
                self.fail(context, ConnectError::LinkLost { reason })
            }
            ConnectionInput::FrameReceived { message, .. } => {
                if let ReaderMessage::Disconnecting { reason } = message {
                    self.announced = Some(*reason);
                }
                Handled
            }
            ConnectionInput::FrameUndecodable { .. }
            | ConnectionInput::RebootRequested
            | ConnectionInput::SecurityRebootRequested
            | ConnectionInput::TransactionStartRequested
            | ConnectionInput::TransactionEndRequested
            | ConnectionInput::ConnectRequested { .. } => Handled,
            _ => Super,
        }
    }

    /// Waits for the backend to confirm the location. `LocationFound` →
    /// `linking` (status `Connecting`); `BackendCallFailed` → retried in
    /// place on `BackendRetryDue`, or `disconnected` when the location does
    /// not exist or the retries ran out.
    #[state(superstate = "connecting")]
    fn checking_location(&mut self, context: &mut Out, event: &ConnectionInput) -> Outcome<State> {
        match event {
            ConnectionInput::LocationFound { .. } => {
                self.report_status(context, ConnectionStatus::Connecting);
                let peripheral = self
                    .reader
                    .as_ref()
                    .map(|r| r.peripheral.clone())
                    .unwrap_or_default();
                self.link_open = true;
                context.emit(ConnectionOutput::OpenLink {
                    session: self.session,
                    peripheral,
                });
                context.start_timer(ConnectionTimer::LinkTimeout, LINK_TIMEOUT);
                Transition(State::linking())
            }
            ConnectionInput::BackendCallFailed { call, error, .. } => {
                self.backend_failed(context, *call, error)
            }
            ConnectionInput::BackendRetryDue => {
                self.backend_attempts += 1;
                context.emit(ConnectionOutput::CheckLocation {
                    session: self.session,
                    location: self.location.clone(),
                });
                Handled
            }
            _ => Super,
        }
    }

    /// Waits for the transport's link. `LinkEstablished` → `handshaking`
    /// (hello sent); `LinkFailed` or `LinkTimedOut` → `disconnected`.
    #[state(superstate = "connecting")]
    fn linking(&mut self, context: &mut Out, event: &ConnectionInput) -> Outcome<State> {
        match event {
            ConnectionInput::LinkEstablished { att_payload, .. } => {
                self.att_payload = *att_payload;
                self.image_stream = None;
                context.cancel_timer(ConnectionTimer::LinkTimeout);
                let id = self.request(context, Command::Hello);
                self.hello = Some(id);
                context.start_timer(ConnectionTimer::HandshakeTimeout, HANDSHAKE_TIMEOUT);
                Transition(State::handshaking())
            }
            ConnectionInput::LinkFailed { error, .. } => {
                self.link_open = false;
                self.fail(context, ConnectError::LinkFailed { error: error.clone() })
            }
            ConnectionInput::LinkTimedOut => self.fail(
                context,
                ConnectError::LinkTimedOut {
                    after_ms: LINK_TIMEOUT.as_millis() as u64,
                },
            ),
            _ => Super,
        }
    }

    /// Waits for the reader's answer to hello. `ReaderInfo` → `fetching_token`
    /// (or `disconnected` if it is another reader); an `Error` answer or
    /// `HandshakeTimedOut` → `disconnected`.
    #[state(superstate = "connecting")]
    fn handshaking(&mut self, context: &mut Out, event: &ConnectionInput) -> Outcome<State> {
        match event {
            ConnectionInput::FrameReceived {
                message: ReaderMessage::ReaderInfo { request_id, info },
                ..
            } if Some(*request_id) == self.hello => {
                context.cancel_timer(ConnectionTimer::HandshakeTimeout);
                let Some(reader) = self.reader.as_mut() else {
                    return self.fail(context, ConnectError::Cancelled);
                };
                if reader.serial_number != info.serial_number {
                    let error = ConnectError::UnexpectedReader {
                        expected: reader.serial_number.clone(),
                        found: info.serial_number.clone(),
                    };
                    return self.fail(context, error);
                }
                reader.device_type = info.device_type;
                reader.software_version = Some(info.software_version.clone());
                reader.battery = Some(info.battery);
                self.uptime_at_hello = (info.uptime_ms, context.now());
                self.backend_attempts = 1;
                context.emit(ConnectionOutput::FetchConnectionToken {
                    session: self.session,
                });
                Transition(State::fetching_token())
            }
            ConnectionInput::FrameReceived {
                message: ReaderMessage::Error { request_id, code },
                ..
            } if Some(*request_id) == self.hello => {
                context.cancel_timer(ConnectionTimer::HandshakeTimeout);
                self.fail(context, ConnectError::HandshakeRefused { code: *code })
            }
            ConnectionInput::HandshakeTimedOut => self.fail(
                context,
                ConnectError::HandshakeTimedOut {
                    after_ms: HANDSHAKE_TIMEOUT.as_millis() as u64,
                },
            ),
            _ => Super,
        }
    }

    /// Waits for a connection token. `ConnectionTokenFetched` →
    /// `registering`; `BackendCallFailed` → retried in place, or
    /// `disconnected`.
    #[state(superstate = "connecting")]
    fn fetching_token(&mut self, context: &mut Out, event: &ConnectionInput) -> Outcome<State> {
        match event {
            ConnectionInput::ConnectionTokenFetched { .. } => {
                self.backend_attempts = 1;
                context.emit(ConnectionOutput::RegisterReader {
                    session: self.session,
                    request: self.registration(),
                });
                Transition(State::registering())
            }
            ConnectionInput::BackendCallFailed { call, error, .. } => {
                self.backend_failed(context, *call, error)
            }
            ConnectionInput::BackendRetryDue => {
                self.backend_attempts += 1;
                context.emit(ConnectionOutput::FetchConnectionToken {
                    session: self.session,
                });
                Handled
            }
            _ => Super,
        }
    }

    /// Waits for the backend to register the reader. `ReaderRegistered` →
    /// `idle` (status `Connected`); `BackendCallFailed` → retried in place,
    /// or `disconnected`.
    #[state(superstate = "connecting")]
    fn registering(&mut self, context: &mut Out, event: &ConnectionInput) -> Outcome<State> {
        match event {
            ConnectionInput::ReaderRegistered { registration, .. } => {
                // Status first, so that when the owner answers the app's
                // connect call the status already reads `Connected`.
                self.report_status(context, ConnectionStatus::Connected);
                let reader = self.reader.clone().expect("a connect under way has its reader");
                let (uptime, at) = self.uptime_at_hello;
                context.emit(ConnectionOutput::Report(ConnectionEvent::Connected {
                    reader,
                    location: registration.location.clone(),
                    uptime_ms: uptime + context.now().saturating_sub(at),
                }));
                Transition(State::idle())
            }
            ConnectionInput::BackendCallFailed { call, error, .. } => {
                self.backend_failed(context, *call, error)
            }
            ConnectionInput::BackendRetryDue => {
                self.backend_attempts += 1;
                context.emit(ConnectionOutput::RegisterReader {
                    session: self.session,
                    request: self.registration(),
                });
                Handled
            }
            _ => Super,
        }
    }

    /// Connected and registered. `DisconnectRequested` → `disconnecting`;
    /// `LinkLost` → `disconnected`, reporting exactly one reason (R8).
    /// Reader reports (battery, low battery, cards) are handled in place
    /// and reported (R18a); a `Disconnecting` notification is remembered
    /// for the reason until the reader says anything else. There is no idle timer: a sleeping reader stays
    /// connected and wakes on the next command (R7).
    #[superstate]
    fn connected(&mut self, context: &mut Out, event: &ConnectionInput) -> Outcome<State> {
        match event {
            ConnectionInput::DisconnectRequested => {
                self.requested = Some(DisconnectReason::DisconnectRequested);
                context.cancel_timer(ConnectionTimer::CommandTimeout);
                self.close_link(context);
                context.start_timer(ConnectionTimer::DisconnectTimeout, DISCONNECT_TIMEOUT);
                Transition(State::disconnecting())
            }
            ConnectionInput::LinkLost { cause, .. } => {
                self.link_open = false;
                context.cancel_timer(ConnectionTimer::CommandTimeout);
                let reason = disconnect_reason(self.announced, self.requested, *cause);
                self.disconnected_for(context, reason)
            }
            ConnectionInput::FrameReceived { message, .. } => {
                // An announcement counts only while it is the last thing
                // the reader said: a reader that goes on talking did not
                // go, and a stale reason must not name a later end.
                if !matches!(message, ReaderMessage::Disconnecting { .. }) {
                    self.announced = None;
                }
                let report = match message {
                    ReaderMessage::BatteryReport { battery } => {
                        self.set_battery(*battery);
                        Some(ConnectionEvent::BatteryReported { battery: *battery })
                    }
                    ReaderMessage::LowBatteryWarning { battery } => {
                        self.set_battery(*battery);
                        Some(ConnectionEvent::LowBatteryWarned { battery: *battery })
                    }
                    ReaderMessage::CardInserted => Some(ConnectionEvent::CardInserted),
                    ReaderMessage::CardRemoved => Some(ConnectionEvent::CardRemoved),
                    ReaderMessage::Disconnecting { reason } => {
                        self.announced = Some(*reason);
                        None
                    }
                    ReaderMessage::UpdateChunkAck { up_to_offset, .. } if self.writing_image => {
                        if let Some(stream) = &mut self.image_stream {
                            stream.acked = stream.acked.max((*up_to_offset).min(stream.to));
                        }
                        self.send_image_chunks(context);
                        Some(ConnectionEvent::UpdateChunksAcked {
                            up_to_offset: *up_to_offset,
                        })
                    }
                    // A refused chunk fails the install, but for a chunk
                    // out of order: the chunk ack sent with it says where
                    // the reader is, and the updater resends from there.
                    ReaderMessage::Error { code, .. }
                        if self.writing_image && *code != ErrorCode::UnexpectedOffset =>
                    {
                        self.set_writing_image(false);
                        Some(ConnectionEvent::UpdateCommandFailed {
                            error: CommandError::refused(*code),
                        })
                    }
                    _ => None,
                };
                if let Some(report) = report {
                    context.emit(ConnectionOutput::Report(report));
                }
                Handled
            }
            ConnectionInput::FrameUndecodable { .. } | ConnectionInput::ConnectRequested { .. } => Handled,
            ConnectionInput::UpdateChunksRequested {
                from,
                to,
                chunk_len,
                in_flight_chunks,
            } => {
                self.image_stream = Some(ImageStream {
                    next: *from,
                    to: *to,
                    chunk_len: fitted_chunk_len(
                        (*chunk_len).clamp(1, MAX_CHUNK_LEN as u16),
                        self.att_payload,
                    ),
                    acked: *from,
                    credit: (*in_flight_chunks).clamp(1, MAX_CHUNKS_IN_FLIGHT),
                });
                self.send_image_chunks(context);
                Handled
            }
            ConnectionInput::UpdateAbortRequested => {
                self.set_writing_image(false);
                self.request(context, Command::UpdateAbort);
                Handled
            }
            _ => Super,
        }
    }

    /// No command waiting. `RebootRequested` (`Reboot { Requested }`),
    /// `SecurityRebootRequested` (`Reboot { Security }`),
    /// `TransactionStartRequested` (`TransactionBegin`) and
    /// `TransactionEndRequested` (`TransactionEnd`) → `busy`, the command
    /// sent. A reboot's reason is remembered for its disconnect.
    #[state(superstate = "connected")]
    fn idle(&mut self, context: &mut Out, event: &ConnectionInput) -> Outcome<State> {
        let Some((pending, command)) = Pending::requested_by(event) else {
            return Super;
        };
        if let Command::Reboot { kind } = command {
            self.requested = Some(kind.disconnect_reason());
        }
        let id = self.request(context, command);
        self.pending_command = Some((id, pending));
        context.start_timer(ConnectionTimer::CommandTimeout, COMMAND_TIMEOUT);
        Transition(State::busy())
    }

    /// Waits for the answer to a command. Its `Ack` → `idle`, reported
    /// (`RebootAccepted`, whose disconnect follows; `TransactionStarted`;
    /// `TransactionEnded`); its `Error` or `CommandTimedOut` → `idle`, the
    /// command's failure reported (a refused reboot forgets its reason).
    /// Another command request is answered `Busy` in place.
    #[state(superstate = "connected")]
    fn busy(&mut self, context: &mut Out, event: &ConnectionInput) -> Outcome<State> {
        let pending = self.pending_command;
        match event {
            ConnectionInput::FrameReceived {
                message: ReaderMessage::Ack { request_id },
                ..
            } if pending.is_some_and(|(id, _)| id == *request_id) => {
                let (_, command) = self.pending_command.take().expect("matched above");
                context.cancel_timer(ConnectionTimer::CommandTimeout);
                match command {
                    Pending::UpdateBegin => self.set_writing_image(true),
                    Pending::UpdateCommit => self.set_writing_image(false),
                    _ => {}
                }
                context.emit(ConnectionOutput::Report(command.accepted()));
                Transition(State::idle())
            }
            ConnectionInput::FrameReceived {
                message: ReaderMessage::ReaderInfo { request_id, info },
                ..
            } if pending
                .is_some_and(|(id, command)| id == *request_id && command == Pending::VersionCheck) =>
            {
                self.pending_command = None;
                context.cancel_timer(ConnectionTimer::CommandTimeout);
                if let Some(reader) = self.reader.as_mut() {
                    reader.software_version = Some(info.software_version.clone());
                }
                context.emit(ConnectionOutput::Report(
                    ConnectionEvent::RunningVersionReported {
                        software_version: info.software_version.clone(),
                    },
                ));
                Transition(State::idle())
            }
            ConnectionInput::FrameReceived {
                message: ReaderMessage::Error { request_id, code },
                ..
            } if pending.is_some_and(|(id, _)| id == *request_id) => {
                let (_, command) = self.pending_command.take().expect("matched above");
                match command {
                    Pending::Reboot => self.requested = None,
                    Pending::UpdateBegin | Pending::UpdateCommit => self.set_writing_image(false),
                    _ => {}
                }
                context.cancel_timer(ConnectionTimer::CommandTimeout);
                context.emit(ConnectionOutput::Report(
                    command.failed(CommandError::refused(*code)),
                ));
                Transition(State::idle())
            }
            ConnectionInput::CommandTimedOut => {
                let Some((_, command)) = self.pending_command.take() else {
                    return Transition(State::idle());
                };
                if command == Pending::Reboot {
                    self.requested = None;
                }
                context.emit(ConnectionOutput::Report(command.failed(CommandError::TimedOut {
                    after_ms: COMMAND_TIMEOUT.as_millis() as u64,
                })));
                Transition(State::idle())
            }
            _ => match Pending::requested_by(event) {
                Some((refused, _)) => {
                    context.emit(ConnectionOutput::Report(refused.failed(CommandError::Busy)));
                    Handled
                }
                None => Super,
            },
        }
    }

    /// Waits for the link to go down after the app's disconnect. `LinkLost`
    /// or `DisconnectTimedOut` → `disconnected` (reason: disconnect
    /// requested, whatever the reader announced). Requests are handled in
    /// place (ignored: the connection is ending).
    #[state]
    fn disconnecting(&mut self, context: &mut Out, event: &ConnectionInput) -> Outcome<State> {
        match event {
            // The app asked for this end: it is reported as asked, never as
            // what the reader announced, or an app's disconnect would turn
            // into an unexpected one and be reconnected (R8).
            ConnectionInput::LinkLost { .. } => {
                self.link_open = false;
                context.cancel_timer(ConnectionTimer::DisconnectTimeout);
                let reason = self.requested.unwrap_or(DisconnectReason::DisconnectRequested);
                self.disconnected_for(context, reason)
            }
            ConnectionInput::DisconnectTimedOut => {
                self.link_open = false;
                let reason = self.requested.unwrap_or(DisconnectReason::DisconnectRequested);
                self.disconnected_for(context, reason)
            }
            // The connection is ending: frames and requests change nothing.
            _ => Handled,
        }
    }

    #[action]
    fn exit_connecting(context: &mut Out) {
        context.cancel_timer(ConnectionTimer::LinkTimeout);
        context.cancel_timer(ConnectionTimer::HandshakeTimeout);
        context.cancel_timer(ConnectionTimer::BackendRetry);
    }
}
impl ConnectionCore {
    /// Whether an image is being written; a change ends the chunks
    /// under way.
    fn set_writing_image(&mut self, on: bool) {
        self.writing_image = on;
        self.image_stream = None;
    }

    /// Sends the image chunks the credit allows: up to `credit` chunks
    /// past the last acknowledged byte. Acknowledgements fall on chunk
    /// boundaries (the reader acknowledges whole chunks), so every chunk
    /// starts at a multiple of `chunk_len` from the stream's start.
    fn send_image_chunks(&mut self, context: &mut Out) {
        let Some(stream) = &mut self.image_stream else {
            return;
        };
        let window = stream.credit as u32 * stream.chunk_len as u32;
        let from = stream.next.max(stream.acked);
        let to = stream.to.min(stream.acked.saturating_add(window));
        if to <= from {
            return;
        }
        let chunks = (to - from).div_ceil(stream.chunk_len as u32);
        stream.next = to;
        let chunk_len = stream.chunk_len;
        let first_request_id = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(chunks as u16);
        context.emit(ConnectionOutput::SendImageChunks {
            session: self.session,
            from,
            to,
            chunk_len,
            first_request_id,
        });
    }

    /// Sends `command` on the session's link and returns its request id.
    fn request(&mut self, context: &mut Out, command: Command) -> RequestId {
        let id = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(1);
        context.emit(ConnectionOutput::Send {
            session: self.session,
            request: Request::new(id, command),
        });
        id
    }

    fn registration(&self) -> RegisterReader {
        let reader = self.reader.as_ref().expect("a connect under way has its reader");
        RegisterReader {
            reader: ReaderIdentity::SerialNumber {
                serial_number: reader.serial_number.clone(),
                device_type: reader.device_type,
            },
            location: self.location.clone(),
            label: None,
        }
    }

    fn set_battery(&mut self, battery: crate::reader::Battery) {
        if let Some(reader) = self.reader.as_mut() {
            reader.battery = Some(battery);
        }
    }

    fn report_status(&mut self, context: &mut Out, status: ConnectionStatus) {
        if self.status != status {
            self.status = status;
            context.emit(ConnectionOutput::Report(ConnectionEvent::StatusChanged {
                status,
            }));
        }
    }

    fn close_link(&mut self, context: &mut Out) {
        if std::mem::take(&mut self.link_open) {
            context.emit(ConnectionOutput::CloseLink {
                session: self.session,
            });
        }
    }

    /// Ends a connect: closes the link, reports the status, then the
    /// failure (status first, so that whoever answers a call on the failure
    /// finds the status current).
    fn fail(&mut self, context: &mut Out, error: ConnectError) -> Outcome<State> {
        self.close_link(context);
        self.report_status(context, ConnectionStatus::NotConnected);
        context.emit(ConnectionOutput::Report(ConnectionEvent::ConnectFailed { error }));
        Transition(State::disconnected())
    }

    /// Ends a connection: reports the status, then its one reason.
    fn disconnected_for(&mut self, context: &mut Out, reason: DisconnectReason) -> Outcome<State> {
        self.report_status(context, ConnectionStatus::NotConnected);
        context.emit(ConnectionOutput::Report(ConnectionEvent::Disconnected { reason }));
        Transition(State::disconnected())
    }

    /// A backend call failed: retry it after a backoff when the failure is
    /// passing and attempts remain, else fail the connect.
    fn backend_failed(
        &mut self,
        context: &mut Out,
        call: BackendCall,
        error: &BackendError,
    ) -> Outcome<State> {
        if call == BackendCall::GetLocation && matches!(error, BackendError::NotFound { .. }) {
            let location = self.location.clone();
            return self.fail(context, ConnectError::LocationNotFound { location });
        }
        if !is_passing(error) {
            let error = ConnectError::BackendRefused {
                call,
                error: error.clone(),
            };
            return self.fail(context, error);
        }
        if self.backend_attempts >= BACKEND_ATTEMPTS {
            let error = ConnectError::BackendUnavailable {
                call,
                attempts: self.backend_attempts,
                error: error.clone(),
            };
            return self.fail(context, error);
        }
        let backoff = BACKEND_RETRY_BASE * 2u32.pow(self.backend_attempts - 1);
        context.start_timer(ConnectionTimer::BackendRetry, backoff);
        Handled
    }
}

/// Whether a backend failure may pass by itself (worth a retry): the
/// backend unreachable, slow, or failing on its side (5xx).
fn is_passing(error: &BackendError) -> bool {
    match error {
        BackendError::ConnectionFailed { .. } | BackendError::Timeout { .. } => true,
        BackendError::Status { status, .. } => *status >= 500,
        _ => false,
    }
}

impl StatigCore for ConnectionCore {
    type Output = ConnectionOutput;
    type Timer = ConnectionTimer;

    fn spec() -> &'static MachineSpec {
        &SPEC
    }

    fn timer_elapsed(timer: ConnectionTimer) -> ConnectionInput {
        match timer {
            ConnectionTimer::LinkTimeout => ConnectionInput::LinkTimedOut,
            ConnectionTimer::HandshakeTimeout => ConnectionInput::HandshakeTimedOut,
            ConnectionTimer::BackendRetry => ConnectionInput::BackendRetryDue,
            ConnectionTimer::CommandTimeout => ConnectionInput::CommandTimedOut,
            ConnectionTimer::DisconnectTimeout => ConnectionInput::DisconnectTimedOut,
        }
    }

    /// An answer from an older session is about a link or call that was
    /// given up on; it must not touch the current one.
    fn accepts(&self, input: &ConnectionInput) -> bool {
        #[cfg(test)]
        if matches!(input, ConnectionInput::PanicInjected) {
            panic!("a unit test injected a panic");
        }
        input.session().is_none_or(|s| s == self.session)
    }
}

/// One reader's connection as a runtime machine.
pub type Connection = StatigMachine<ConnectionCore>;

impl Connection {
    /// A connection in `disconnected`.
    pub fn new() -> Self {
        StatigMachine::from_core(ConnectionCore::default())
    }

    /// The current session (0 before the first connect).
    pub fn session(&self) -> Session {
        self.core().session
    }

    /// The reader of the current (or last) session, as far as it is known.
    pub fn reader(&self) -> Option<&Reader> {
        self.core().reader.as_ref()
    }

    /// The status last reported.
    pub fn status(&self) -> ConnectionStatus {
        self.core().status
    }
}

impl Default for Connection {
    fn default() -> Self {
        Self::new()
    }
}
