//! The terminal hub's inputs and outputs, and the public
//! [`ConnectionConfig`] and [`TerminalError`].

use serde::{Deserialize, Serialize};

use super::events::TerminalEvent;
use crate::backend::LocationId;
use crate::connection::{CommandError, ConnectError};
use crate::reader::{Reader, SerialNumber};
use crate::scanner::{DiscoveryConfig, DiscoveryError};
use crate::session::{SessionInput, SessionReport};
use crate::store::LastConnected;

/// Numbers one API call so its answer finds its caller.
pub type CallId = u64;

/// How to connect a reader (R6). Fields left out of a serialized config
/// take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionConfig {
    /// The location to register the reader to; must exist at the backend.
    pub location_id: LocationId,
    /// Whether an unexpected disconnect starts a reconnection (R9) rather
    /// than only reporting `Disconnected` (R10). Defaults to true.
    pub auto_reconnect_on_unexpected_disconnect: bool,
}

impl ConnectionConfig {
    /// Connect to `location_id`, with auto-reconnect on.
    pub fn new(location_id: impl Into<LocationId>) -> Self {
        Self {
            location_id: location_id.into(),
            ..Self::default()
        }
    }
}

impl Default for ConnectionConfig {
    /// No location (set one), auto-reconnect on.
    fn default() -> Self {
        Self {
            location_id: LocationId::new(),
            auto_reconnect_on_unexpected_disconnect: true,
        }
    }
}

/// What a terminal call can fail with. Every kind has a stable
/// [`code`](Self::code) an integrator can switch on. A call that fails
/// before it starts (the first six kinds) changes nothing.
///
/// As JSON it is `{"code": ..., "message": ..., ...fields}`
/// ([`crate::error_data`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
#[non_exhaustive]
pub enum TerminalError {
    /// The reader was not found by a discovery of this terminal.
    ///
    /// Code: `unknown_reader`.
    #[error("reader {serial_number} is unknown: discover it first")]
    UnknownReader {
        /// Which reader.
        serial_number: SerialNumber,
    },
    /// The reader is already connected.
    ///
    /// Code: `already_connected`.
    #[error("reader {serial_number} is already connected")]
    AlreadyConnected {
        /// Which reader.
        serial_number: SerialNumber,
    },
    /// A connect of this reader is already under way.
    ///
    /// Code: `connect_in_progress`.
    #[error("reader {serial_number} is already connecting")]
    ConnectInProgress {
        /// Which reader.
        serial_number: SerialNumber,
    },
    /// The connection config has no location.
    ///
    /// Code: `empty_location`.
    #[error("the connection config has an empty location_id")]
    EmptyLocation,
    /// The backend has no such location; nothing was linked or registered.
    ///
    /// Code: `location_not_found`.
    #[error("no such location: `{location}`")]
    LocationNotFound {
        /// The location asked for.
        location: LocationId,
    },
    /// The reader is not connected (nor connecting).
    ///
    /// Code: `not_connected`.
    #[error("reader {serial_number} is not connected")]
    NotConnected {
        /// Which reader.
        serial_number: SerialNumber,
    },
    /// The connect started and failed; the reader is not connected.
    ///
    /// Code: its inner error's.
    #[error("connecting reader {serial_number} failed: {error}")]
    Connect {
        /// Which reader.
        serial_number: SerialNumber,
        /// Why; its code is this error's code.
        error: ConnectError,
    },
    /// A command to a connected reader (reboot) was not carried out.
    ///
    /// Code: its inner error's.
    #[error("reader {serial_number}: {error}")]
    Command {
        /// Which reader.
        serial_number: SerialNumber,
        /// Why; its code is this error's code.
        error: CommandError,
    },
    /// Reconnect at start (R11): the store has no last connected reader.
    ///
    /// Code: `no_saved_reader`.
    #[error("no reader was saved as the last connected one")]
    NoSavedReader,
    /// Reconnect at start (R11): the saved reader was not seen within the
    /// timeout.
    ///
    /// Code: `saved_reader_not_found`.
    #[error("the saved reader {serial_number} was not seen within {after_ms} ms")]
    SavedReaderNotFound {
        /// The saved reader.
        serial_number: SerialNumber,
        /// The timeout.
        after_ms: u64,
    },
    /// Reconnect at start (R11): its discovery failed (the Bluetooth
    /// adapter is off, say) before the saved reader was seen, so the call
    /// answers at once instead of waiting out its timeout.
    ///
    /// Code: its inner error's.
    #[error("looking for the saved reader {serial_number} failed: {error}")]
    SavedReaderDiscoveryFailed {
        /// The saved reader.
        serial_number: SerialNumber,
        /// Why; its code is this error's code (`discovery_transport_failed`
        /// with the adapter off).
        error: DiscoveryError,
    },
    /// Reconnect at start (R11) is already running.
    ///
    /// Code: `saved_reader_reconnect_in_progress`.
    #[error("reconnecting the saved reader is already under way")]
    SavedReaderReconnectInProgress,
    /// The terminal's actors are gone (the terminal was shut down).
    ///
    /// Code: `terminal_stopped`.
    #[error("the terminal has stopped")]
    Stopped,
}

impl TerminalError {
    /// Every code of this type's own kinds (a kind that carries an inner
    /// error takes its code, and is not listed).
    pub const CODES: &'static [&'static str] = &[
        "unknown_reader",
        "already_connected",
        "connect_in_progress",
        "empty_location",
        "location_not_found",
        "not_connected",
        "no_saved_reader",
        "saved_reader_not_found",
        "saved_reader_reconnect_in_progress",
        "terminal_stopped",
    ];

    /// A stable code for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownReader { .. } => "unknown_reader",
            Self::AlreadyConnected { .. } => "already_connected",
            Self::ConnectInProgress { .. } => "connect_in_progress",
            Self::EmptyLocation => "empty_location",
            Self::LocationNotFound { .. } => "location_not_found",
            Self::NotConnected { .. } => "not_connected",
            Self::Connect { error, .. } => error.code(),
            Self::Command { error, .. } => error.code(),
            Self::NoSavedReader => "no_saved_reader",
            Self::SavedReaderNotFound { .. } => "saved_reader_not_found",
            Self::SavedReaderDiscoveryFailed { error, .. } => error.code(),
            Self::SavedReaderReconnectInProgress => "saved_reader_reconnect_in_progress",
            Self::Stopped => "terminal_stopped",
        }
    }
}

crate::error_data::impl_error_data!(TerminalError, placeholder = TerminalError::Stopped);

/// What a successful call answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CallOutcome {
    /// `connect_reader`: the reader, connected.
    Connected {
        /// The reader.
        reader: Reader,
    },
    /// `disconnect_reader`, `reboot_reader`: done.
    Done,
}

/// What happens to the terminal hub: the app's calls (past tense: "the app
/// asked") and its connections' reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
pub enum TerminalInput {
    /// The app asked to connect a reader (R6).
    ConnectReaderRequested {
        /// The call to answer.
        call: CallId,
        /// The reader, as discovery found it.
        reader: Reader,
        /// How.
        config: ConnectionConfig,
    },
    /// The app asked to disconnect a reader.
    DisconnectReaderRequested {
        /// The call to answer.
        call: CallId,
        /// Which reader.
        serial_number: SerialNumber,
    },
    /// The app asked to reboot a reader (R12).
    RebootReaderRequested {
        /// The call to answer.
        call: CallId,
        /// Which reader.
        serial_number: SerialNumber,
    },
    /// The app asked to install a reader's available update (R17).
    InstallUpdateRequested {
        /// The call to answer.
        call: CallId,
        /// Which reader.
        serial_number: SerialNumber,
    },
    /// The app started a transaction on a reader (R20).
    TransactionStartRequested {
        /// The call to answer.
        call: CallId,
        /// Which reader.
        serial_number: SerialNumber,
    },
    /// The app ended (or dropped) its transaction on a reader.
    TransactionEndRequested {
        /// The call to answer.
        call: CallId,
        /// Which reader.
        serial_number: SerialNumber,
        /// Which transaction: the call that started it. A handle kept past
        /// its transaction's end (the link dropped under it) never ends the
        /// reader's next one.
        transaction: CallId,
    },
    /// A reader's session reported what an input changed.
    SessionReported {
        /// Whose session.
        serial_number: SerialNumber,
        /// What changed.
        report: SessionReport,
    },
    /// A reader's session went idle: its reader is not connected and
    /// none of its children runs.
    SessionWentIdle {
        /// Whose session.
        serial_number: SerialNumber,
        /// How many of the hub's inputs it had handled by then.
        inputs_seen: u64,
    },
    /// The running discovery's list changed.
    ReadersDiscovered {
        /// Every reader found so far.
        readers: Vec<Reader>,
    },
    /// A discovery started or ended (R2).
    DiscoveryRunningChanged {
        /// Whether one runs now.
        running: bool,
    },
    /// The app asked to reconnect the saved reader at start (R11).
    ReconnectSavedReaderRequested {
        /// The call to answer.
        call: CallId,
        /// What the store saved as the last connected reader, read when
        /// the app called.
        saved: Option<LastConnected>,
        /// How long to look for it, in milliseconds.
        timeout_ms: u64,
    },
    /// Reconnect at start's search timer elapsed: the saved reader was not
    /// seen in time.
    SavedReaderSearchElapsed,
    /// Reconnect at start's discovery ended with an error (the Bluetooth
    /// adapter is off, say).
    SavedReaderDiscoveryFailed {
        /// Why it ended.
        error: DiscoveryError,
    },
}

/// What the hub asks its shell to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TerminalOutput {
    /// Answer an API call.
    Reply {
        /// Which call.
        call: CallId,
        /// The answer.
        result: Result<CallOutcome, TerminalError>,
    },
    /// Deliver an input to a reader's session (started with a connect of
    /// a reader that has none).
    ToSession {
        /// Which reader.
        serial_number: SerialNumber,
        /// What.
        input: SessionInput,
    },
    /// Stop a reader's idle session: it has handled every input routed to
    /// it, and the next connect starts a fresh one.
    StopSession {
        /// Which reader.
        serial_number: SerialNumber,
    },
    /// A reader's connect started: it ends the running discovery (R2).
    ConnectStarted {
        /// Which reader.
        serial_number: SerialNumber,
    },
    /// A reader became connected or stopped being: discoveries never list
    /// connected readers (R2).
    ConnectedReadersChanged {
        /// Which reader.
        serial_number: SerialNumber,
        /// Whether it is connected now.
        connected: bool,
    },
    /// Start a discovery for reconnect at start (R11); its lists come back
    /// as `ReadersDiscovered`.
    StartDiscovery(DiscoveryConfig),
    /// Stop the discovery reconnect at start started.
    StopDiscovery,
    /// Remember the connected reader and its location (R11).
    Persist {
        /// The reader.
        reader: Reader,
        /// Its location.
        location: LocationId,
    },
    /// Tell the app.
    Publish(TerminalEvent),
}

/// The hub's timers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TerminalTimer {
    /// Reconnect at start (R11) has looked for the saved reader long enough.
    SavedReaderSearch,
}
