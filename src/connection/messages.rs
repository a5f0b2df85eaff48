//! What the connection machine takes in, what it asks its shell to do, and
//! what it reports to whoever owns it (the terminal hub, later the
//! reconnect supervisor).
//!
//! Every input that answers an output carries the `session` the output
//! carried: a session is one connect attempt and the connection it leads
//! to. The machine drops answers from an older session (a link that was
//! already given up on, a backend call that came back after a timeout), so
//! a late answer can never be mistaken for the current one.

use serde::{Deserialize, Serialize};

use crate::backend::{BackendError, Location, LocationId, RegisterReader, RegisteredReader};
use crate::protocol::{ErrorCode, ReaderMessage, Request, RequestId};
use crate::reader::{Battery, ConnectionStatus, DisconnectReason, Reader, SerialNumber};
use crate::transport::{LinkLossCause, PeripheralId, TransportError};
use crate::updater::{Sha256Digest, UpdateError};

/// One connect attempt and the connection it leads to; numbered from 1 by
/// the machine.
pub type Session = u32;

/// Which backend call an input or error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum BackendCall {
    /// Looking the location up before anything else (so a bad location
    /// changes nothing).
    GetLocation,
    /// Fetching a connection token for the reader session.
    ConnectionToken,
    /// Registering the reader to the location (R6).
    RegisterReader,
}

/// What happens to a connection: requests from its owner (past-tense:
/// "the app asked"), answers from the transport and the backend, and
/// timers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
pub enum ConnectionInput {
    /// The app asked to connect `reader` and register it to `location` (R6).
    ConnectRequested {
        /// The reader, as discovery found it (its `peripheral` is linked).
        reader: Reader,
        /// The location to register it to.
        location: LocationId,
    },
    /// The app asked to disconnect (or to stop a connect under way).
    DisconnectRequested,
    /// The app asked the reader to reboot now (R12); its disconnect is
    /// reported as [`DisconnectReason::RebootRequested`].
    RebootRequested,
    /// The owner asked the reader to reboot now for the 24-hour rule (R12),
    /// ahead of the reader's own reboot; its disconnect is reported as
    /// [`DisconnectReason::SecurityReboot`].
    SecurityRebootRequested,
    /// The owner asked the reader to start a transaction (R20): answered by
    /// [`ConnectionEvent::TransactionStarted`] or
    /// [`ConnectionEvent::TransactionStartFailed`].
    TransactionStartRequested,
    /// The owner asked the reader to end its transaction (R20): answered by
    /// [`ConnectionEvent::TransactionEnded`] or
    /// [`ConnectionEvent::TransactionEndFailed`].
    TransactionEndRequested,
    /// The owner's updater asked to begin writing an image (`UpdateBegin`,
    /// R19): answered by [`ConnectionEvent::UpdateBeginAcked`] or
    /// [`ConnectionEvent::UpdateCommandFailed`].
    UpdateBeginRequested {
        /// The version the image carries.
        version: String,
        /// Its size.
        size: u32,
        /// Its digest.
        sha256: Sha256Digest,
        /// Chunks per acknowledgement.
        window: u8,
    },
    /// The updater asked to send image bytes `from .. to` in chunks of
    /// `chunk_len` (`UpdateChunk`s, not answered one by one), at most
    /// `in_flight_chunks` of them unacknowledged at once: the connection
    /// sends more as the reader's acknowledgements come (each also
    /// reported, as [`ConnectionEvent::UpdateChunksAcked`]). A new request
    /// replaces the one under way (a resend after a stall).
    UpdateChunksRequested {
        /// First byte.
        from: u32,
        /// One past the last byte.
        to: u32,
        /// Bytes per chunk at most: the connection cuts them shorter so
        /// each chunk's frame fills whole ATT payloads
        /// ([`crate::protocol::fitted_chunk_len`]).
        chunk_len: u16,
        /// Chunks sent and not yet acknowledged, at most (the credit).
        #[serde(default = "default_in_flight_chunks")]
        in_flight_chunks: u16,
    },
    /// The updater asked the reader to check the image and switch to it
    /// (`UpdateCommit`): answered by [`ConnectionEvent::UpdateCommitAcked`]
    /// or [`ConnectionEvent::UpdateCommandFailed`].
    UpdateCommitRequested,
    /// The updater asked which software the reader runs now, after an
    /// install's commit (`Hello` again): answered by
    /// [`ConnectionEvent::RunningVersionReported`] or
    /// [`ConnectionEvent::UpdateCommandFailed`].
    VersionCheckRequested,
    /// The updater asked the reader to drop the image it was writing
    /// (`UpdateAbort`); nothing is reported.
    UpdateAbortRequested,
    /// The location exists.
    LocationFound {
        /// The session that asked.
        session: Session,
        /// The location.
        location: Location,
    },
    /// A connection token was issued. The token itself stays in the shell
    /// (it is a [`crate::secret::Secret`]); the machine only needs to know.
    ConnectionTokenFetched {
        /// The session that asked.
        session: Session,
    },
    /// The backend registered the reader to the location.
    ReaderRegistered {
        /// The session that asked.
        session: Session,
        /// What the backend recorded.
        registration: RegisteredReader,
    },
    /// A backend call failed.
    BackendCallFailed {
        /// The session that asked.
        session: Session,
        /// Which call.
        call: BackendCall,
        /// Why.
        error: BackendError,
    },
    /// The transport linked to the reader (service found, notifications on).
    LinkEstablished {
        /// The session that asked.
        session: Session,
        /// The negotiated ATT payload, for the record.
        att_payload: usize,
    },
    /// The transport could not link to the reader.
    LinkFailed {
        /// The session that asked.
        session: Session,
        /// What the transport said.
        error: TransportError,
    },
    /// A whole frame came from the reader (reassembled and decoded by the
    /// shell).
    FrameReceived {
        /// The session whose link it came on.
        session: Session,
        /// The frame.
        message: ReaderMessage,
    },
    /// Bytes came from the reader that did not decode; they are dropped.
    FrameUndecodable {
        /// The session whose link they came on.
        session: Session,
        /// The decoder's error, in a sentence.
        error: String,
    },
    /// The link went down.
    LinkLost {
        /// The session whose link it was.
        session: Session,
        /// Why, as far as the transport can tell.
        cause: LinkLossCause,
    },
    /// The `LinkTimeout` timer elapsed: the transport took too long to link.
    LinkTimedOut,
    /// The `HandshakeTimeout` timer elapsed: the reader took too long to
    /// answer hello.
    HandshakeTimedOut,
    /// The `BackendRetry` timer elapsed: time to call the backend again.
    BackendRetryDue,
    /// The `CommandTimeout` timer elapsed: the reader took too long to
    /// answer a command.
    CommandTimedOut,
    /// The `DisconnectTimeout` timer elapsed: the link took too long to go
    /// down after the app's disconnect.
    DisconnectTimedOut,
    /// Makes the machine panic, to test restart intensity. It exists only
    /// in the crate's own unit tests (`cfg(test)`): no build anyone ships
    /// or integrates has it.
    #[cfg(test)]
    PanicInjected,
}

impl ConnectionInput {
    /// The session an answer belongs to; `None` for requests and timers.
    pub fn session(&self) -> Option<Session> {
        match self {
            Self::LocationFound { session, .. }
            | Self::ConnectionTokenFetched { session }
            | Self::ReaderRegistered { session, .. }
            | Self::BackendCallFailed { session, .. }
            | Self::LinkEstablished { session, .. }
            | Self::LinkFailed { session, .. }
            | Self::FrameReceived { session, .. }
            | Self::FrameUndecodable { session, .. }
            | Self::LinkLost { session, .. } => Some(*session),
            Self::ConnectRequested { .. }
            | Self::DisconnectRequested
            | Self::RebootRequested
            | Self::SecurityRebootRequested
            | Self::TransactionStartRequested
            | Self::TransactionEndRequested
            | Self::UpdateBeginRequested { .. }
            | Self::UpdateChunksRequested { .. }
            | Self::UpdateCommitRequested
            | Self::VersionCheckRequested
            | Self::UpdateAbortRequested
            | Self::LinkTimedOut
            | Self::HandshakeTimedOut
            | Self::BackendRetryDue
            | Self::CommandTimedOut
            | Self::DisconnectTimedOut => None,
            #[cfg(test)]
            Self::PanicInjected => None,
        }
    }
}

/// What the connection machine asks its shell to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConnectionOutput {
    /// Look the location up; answer `LocationFound` or `BackendCallFailed`.
    CheckLocation {
        /// Echo it back.
        session: Session,
        /// The location id.
        location: LocationId,
    },
    /// Link to the peripheral; answer `LinkEstablished` or `LinkFailed`,
    /// then forward the link's frames and its loss.
    OpenLink {
        /// Echo it back.
        session: Session,
        /// Which peripheral.
        peripheral: PeripheralId,
    },
    /// Encode, fragment and write one request on the session's link.
    Send {
        /// The link to write on.
        session: Session,
        /// The request.
        request: Request,
    },
    /// Fetch a connection token; answer `ConnectionTokenFetched` or
    /// `BackendCallFailed`.
    FetchConnectionToken {
        /// Echo it back.
        session: Session,
    },
    /// Register the reader; answer `ReaderRegistered` or `BackendCallFailed`.
    RegisterReader {
        /// Echo it back.
        session: Session,
        /// The registration.
        request: RegisterReader,
    },
    /// Close the session's link (harmless when it is already down).
    CloseLink {
        /// Which link.
        session: Session,
    },
    /// Send image bytes `from .. to` as `UpdateChunk` requests of
    /// `chunk_len` bytes, numbered from `first_request_id`; the shell holds
    /// the image (its bytes never enter the machine or the trace).
    SendImageChunks {
        /// The link to write on.
        session: Session,
        /// First byte.
        from: u32,
        /// One past the last byte.
        to: u32,
        /// Bytes per chunk, fitted to the link's ATT payload.
        chunk_len: u16,
        /// The first chunk's request id; the next ones follow.
        first_request_id: RequestId,
    },
    /// Tell the owner something happened.
    Report(ConnectionEvent),
}

/// The connection machine's timers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConnectionTimer {
    /// The transport took too long to link.
    LinkTimeout,
    /// The reader took too long to answer hello.
    HandshakeTimeout,
    /// Time to retry a backend call that failed for a passing reason.
    BackendRetry,
    /// The reader took too long to answer a command.
    CommandTimeout,
    /// The link took too long to go down after the app's disconnect.
    DisconnectTimeout,
}

/// What a connection reports to its owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConnectionEvent {
    /// The reader's connection status changed (R6).
    StatusChanged {
        /// The new status.
        status: ConnectionStatus,
    },
    /// The reader is connected and registered (R6).
    Connected {
        /// The reader, with what hello told (software version, battery).
        reader: Reader,
        /// The location it is registered to.
        location: LocationId,
        /// The reader's uptime now, in ms: what it reported at hello
        /// (`ReaderInfo::uptime_ms`) plus the time since. The 24-hour
        /// reboot (R12) counts from this, not from the connect.
        uptime_ms: u64,
    },
    /// The connect failed; the reader is not connected.
    ConnectFailed {
        /// Why.
        error: ConnectError,
    },
    /// The connection ended, for exactly one reason (R8).
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// The reader reported its battery (R18a).
    BatteryReported {
        /// The battery now.
        battery: Battery,
    },
    /// The reader warned that its battery is low (R18a).
    LowBatteryWarned {
        /// The battery now.
        battery: Battery,
    },
    /// A card was inserted (R18a).
    CardInserted,
    /// The card was removed (R18a).
    CardRemoved,
    /// The reader acknowledged the reboot (the app's or the security
    /// one); its disconnect follows.
    RebootAccepted,
    /// The reboot was not carried out ([`CommandError::TransactionInProgress`]
    /// while a transaction runs, R20).
    RebootFailed {
        /// Why.
        error: CommandError,
    },
    /// The reader started a transaction (R20): until it ends it refuses a
    /// reboot or an install. It ends with [`ConnectionEvent::TransactionEnded`]
    /// or with the connection ([`ConnectionEvent::Disconnected`]).
    TransactionStarted,
    /// The transaction was not started.
    TransactionStartFailed {
        /// Why ([`CommandError::TransactionInProgress`] when one already runs).
        error: CommandError,
    },
    /// The reader ended the transaction.
    TransactionEnded,
    /// The transaction end was not carried out (none ran, the reader was
    /// busy, or it did not answer).
    TransactionEndFailed {
        /// Why.
        error: CommandError,
    },
    /// The reader accepted `UpdateBegin`.
    UpdateBeginAcked,
    /// The reader wrote the image up to `up_to_offset` (`UpdateChunkAck`).
    UpdateChunksAcked {
        /// Bytes `0 .. up_to_offset` are written.
        up_to_offset: u32,
    },
    /// The reader checked the image and runs it (`UpdateCommit`'s `Ack`).
    UpdateCommitAcked,
    /// The reader answered the hello of
    /// [`ConnectionInput::VersionCheckRequested`]: the software it runs.
    RunningVersionReported {
        /// The version it reports.
        software_version: String,
    },
    /// An update command failed: the reader refused it (its code in
    /// [`CommandError::Refused`]), or it was not answered in time.
    UpdateCommandFailed {
        /// Why.
        error: CommandError,
    },
    /// The connection's machine panicked: the session it ran (a connect
    /// under way, or a connection) is lost and its link closed. A fresh
    /// machine replaced it (`for_good` false), or, past its restart
    /// intensity, the actor stopped (`for_good` true). The owner, which
    /// knows whether a connect ran or the reader was connected, decides
    /// how that session ends.
    MachineFailed {
        /// The panic's message.
        panic: String,
        /// Whether the actor stopped for good (past its restart intensity).
        for_good: bool,
    },
}

/// Why a connect failed. Every kind has a stable [`code`](Self::code);
/// as JSON it is `{"code": ..., "message": ..., ...fields}`
/// ([`crate::error_data`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
#[non_exhaustive]
pub enum ConnectError {
    /// The transport could not link to the reader.
    ///
    /// Code: `link_failed`.
    #[error("could not link to the reader: {error}")]
    LinkFailed {
        /// What the transport said.
        error: TransportError,
    },
    /// The transport did not link within the link timeout.
    ///
    /// Code: `link_timed_out`.
    #[error("the reader did not link within {after_ms} ms")]
    LinkTimedOut {
        /// The timeout.
        after_ms: u64,
    },
    /// The reader did not answer hello within the handshake timeout.
    ///
    /// Code: `handshake_timed_out`.
    #[error("the reader did not answer hello within {after_ms} ms")]
    HandshakeTimedOut {
        /// The timeout.
        after_ms: u64,
    },
    /// The reader answered hello with an error.
    ///
    /// Code: `handshake_refused`.
    #[error("the reader refused hello: {code:?}")]
    HandshakeRefused {
        /// The reader's error code (`reader_code` in JSON, where `code` is
        /// this error's).
        #[serde(rename = "reader_code")]
        code: ErrorCode,
    },
    /// The peripheral is a different reader from the one asked for.
    ///
    /// Code: `unexpected_reader`.
    #[error("expected reader {expected} but the peripheral is {found}")]
    UnexpectedReader {
        /// The serial number asked for.
        expected: SerialNumber,
        /// The serial number the reader gave.
        found: SerialNumber,
    },
    /// The link went down before the connect finished.
    ///
    /// Code: `link_lost_while_connecting`.
    #[error("the link went down while connecting ({reason:?})")]
    LinkLost {
        /// Why it went down (R8).
        reason: DisconnectReason,
    },
    /// The backend has no such location.
    ///
    /// Code: `location_not_found`.
    #[error("no such location: `{location}`")]
    LocationNotFound {
        /// The location asked for.
        location: LocationId,
    },
    /// The backend refused a call for a reason retrying cannot fix.
    ///
    /// Code: `backend_refused`.
    #[error("the backend refused {call:?}: {error}")]
    BackendRefused {
        /// Which call.
        call: BackendCall,
        /// What the backend said.
        #[serde(with = "crate::error_data::field")]
        error: BackendError,
    },
    /// The backend kept failing for a passing reason until the retries ran out.
    ///
    /// Code: `backend_unavailable`.
    #[error("the backend failed {call:?} {attempts} time(s); last: {error}")]
    BackendUnavailable {
        /// Which call.
        call: BackendCall,
        /// How many times it was tried.
        attempts: u32,
        /// The last failure.
        #[serde(with = "crate::error_data::field")]
        error: BackendError,
    },
    /// The app stopped the connect (disconnect while connecting).
    ///
    /// Code: `connect_cancelled`.
    #[error("the connect was cancelled")]
    Cancelled,
    /// The reader's required update did not install and the reader may not
    /// be used without it (R13–R16): its battery is too low, the install
    /// failed and the reader has not run the latest software within 30
    /// days, or the app cancelled it (`unsupported_reader_version`). Its
    /// code is the update error's.
    ///
    /// Code: its inner error's.
    #[error("the reader's required update did not install: {error}")]
    UpdateFailed {
        /// Why.
        #[serde(with = "crate::error_data::field")]
        error: UpdateError,
    },
    /// The connection's machine panicked; its actor stopped, so the
    /// process did not.
    ///
    /// Code: `connection_machine_failed`.
    #[error("the connection machine failed: {panic}")]
    MachineFailed {
        /// The panic's message.
        panic: String,
    },
}

impl ConnectError {
    /// Every code of this type's own kinds (a kind that carries an inner
    /// error takes its code, and is not listed).
    pub const CODES: &'static [&'static str] = &[
        "link_failed",
        "link_timed_out",
        "handshake_timed_out",
        "handshake_refused",
        "unexpected_reader",
        "link_lost_while_connecting",
        "location_not_found",
        "backend_refused",
        "backend_unavailable",
        "connect_cancelled",
        "connection_machine_failed",
    ];

    /// A stable code for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::LinkFailed { .. } => "link_failed",
            Self::LinkTimedOut { .. } => "link_timed_out",
            Self::HandshakeTimedOut { .. } => "handshake_timed_out",
            Self::HandshakeRefused { .. } => "handshake_refused",
            Self::UnexpectedReader { .. } => "unexpected_reader",
            Self::LinkLost { .. } => "link_lost_while_connecting",
            Self::LocationNotFound { .. } => "location_not_found",
            Self::BackendRefused { .. } => "backend_refused",
            Self::BackendUnavailable { .. } => "backend_unavailable",
            Self::Cancelled => "connect_cancelled",
            Self::UpdateFailed { error } => error.code(),
            Self::MachineFailed { .. } => "connection_machine_failed",
        }
    }
}

/// Why a command to a connected reader was not carried out. Every kind has
/// a stable [`code`](Self::code); as JSON it is `{"code": ..., "message":
/// ..., ...fields}` ([`crate::error_data`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
#[non_exhaustive]
pub enum CommandError {
    /// Another command is waiting for its answer.
    ///
    /// Code: `reader_busy`.
    #[error("the reader is busy with another command")]
    Busy,
    /// The reader did not answer in time.
    ///
    /// Code: `command_timed_out`.
    #[error("the reader did not answer within {after_ms} ms")]
    TimedOut {
        /// The timeout.
        after_ms: u64,
    },
    /// The reader refused the command.
    ///
    /// Code: `command_refused`.
    #[error("the reader refused the command: {code:?}")]
    Refused {
        /// The reader's error code (`reader_code` in JSON, where `code` is
        /// this error's).
        #[serde(rename = "reader_code")]
        code: ErrorCode,
    },
    /// The reader is not connected.
    ///
    /// Code: `not_connected`.
    #[error("the reader is not connected")]
    NotConnected,
    /// A transaction runs on the reader, so it does not reboot, install or
    /// start another (R20). The reader's own refusal
    /// ([`ErrorCode::TransactionInProgress`]) is reported as this, and an
    /// owner that knows a transaction runs can answer it without asking.
    ///
    /// Code: `transaction_in_progress`.
    #[error("a transaction is in progress on the reader")]
    TransactionInProgress,
}

crate::error_data::impl_error_data!(ConnectError, placeholder = ConnectError::Cancelled);
crate::error_data::impl_error_data!(CommandError, placeholder = CommandError::Busy);

impl CommandError {
    /// The error for a command the reader refused with `code`.
    pub fn refused(code: ErrorCode) -> Self {
        match code {
            ErrorCode::TransactionInProgress => Self::TransactionInProgress,
            code => Self::Refused { code },
        }
    }
}

impl CommandError {
    /// Every code of this type's own kinds (a kind that carries an inner
    /// error takes its code, and is not listed).
    pub const CODES: &'static [&'static str] = &[
        "reader_busy",
        "command_timed_out",
        "command_refused",
        "not_connected",
        "transaction_in_progress",
    ];

    /// A stable code for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Busy => "reader_busy",
            Self::TimedOut { .. } => "command_timed_out",
            Self::Refused { .. } => "command_refused",
            Self::NotConnected => "not_connected",
            Self::TransactionInProgress => "transaction_in_progress",
        }
    }
}

/// The credit of a recorded `UpdateChunksRequested` that has none: one
/// chunk, as cautious as it gets.
fn default_in_flight_chunks() -> u16 {
    1
}
