//! What the reconnect supervisor takes in, what it asks its shell to do,
//! and what it reports to the terminal hub.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cancelable::CancelOutcome;
use crate::connection::ConnectError;
use crate::reader::DisconnectReason;

pub use crate::cancelable::CancelCall;

/// How a supervisor reconnects (R9). The defaults: a 60 s window, a first
/// wait of 1 s doubling up to 16 s, each wait drawn at random (from the
/// run's seed) between half and all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReconnectPolicy {
    /// How long reconnecting may take before it fails with a
    /// connect-timed-out error.
    #[serde(with = "millis")]
    pub window: Duration,
    /// The wait after the first failed attempt.
    #[serde(with = "millis")]
    pub first_backoff: Duration,
    /// The longest wait between two attempts.
    #[serde(with = "millis")]
    pub max_backoff: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            window: DEFAULT_RECONNECT_WINDOW,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(16),
        }
    }
}

/// The reconnect window R9 names: 60 s.
pub const DEFAULT_RECONNECT_WINDOW: Duration = Duration::from_secs(60);

/// Durations as whole milliseconds in serialized policies.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// What happens to a reader's supervisor: facts from the hub about the
/// reader's connection, the app's cancel, and timers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
pub enum ReconnectInput {
    /// The reader is connected (the app's connect, or a reconnect attempt).
    ReaderConnected,
    /// The reader's connection ended.
    ConnectionLost {
        /// Why (R8).
        reason: DisconnectReason,
        /// The reader's `auto_reconnect_on_unexpected_disconnect`.
        auto_reconnect: bool,
    },
    /// A reconnect attempt's connect failed.
    AttemptFailed {
        /// Why.
        error: ConnectError,
    },
    /// The app cancelled the reconnection (the `Cancelable` of
    /// `ReconnectStarted`).
    CancelRequested {
        /// The cancel to answer.
        call: CancelCall,
    },
    /// The `Backoff` timer elapsed: time for the next attempt.
    BackoffElapsed,
    /// The `Window` timer elapsed: the reconnect window is over.
    WindowElapsed,
    /// Makes the machine panic, to test restart intensity. It exists only
    /// in the crate's own unit tests (`cfg(test)`): no build anyone ships
    /// or integrates has it.
    #[cfg(test)]
    PanicInjected,
}

/// The supervisor's timers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReconnectTimer {
    /// The wait between two attempts is over.
    Backoff,
    /// The reconnect window is over: reconnecting failed.
    Window,
}

/// What the supervisor asks its shell to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReconnectOutput {
    /// Tell the hub.
    Report(ReconnectEvent),
    /// Answer a cancel.
    CancelAnswered {
        /// Which cancel.
        call: CancelCall,
        /// What it did.
        outcome: CancelOutcome,
    },
}

/// What a supervisor reports to the hub, in this order per reconnection:
/// `Started`, then `AttemptDue` (and `AttemptAbandoned`) any number of
/// times, then exactly one of `Succeeded` or `Failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReconnectEvent {
    /// Reconnecting started (R9): status `Reconnecting`.
    Started {
        /// Why the connection ended.
        reason: DisconnectReason,
    },
    /// Time for an attempt: connect the reader again, the whole connect
    /// (registration included) to the same location.
    AttemptDue {
        /// Numbered from 1 within this reconnection.
        attempt: u32,
    },
    /// Stop the attempt under way (the window ran out, or the app
    /// cancelled).
    AttemptAbandoned,
    /// The reader is connected again.
    Succeeded,
    /// The supervisor's machine panicked and was replaced by a fresh one
    /// (or, past its restart intensity, stopped): the reconnection it ran,
    /// if any, is lost. Its owner decides how that reconnection ends.
    MachineRestarted {
        /// The panic's message.
        panic: String,
    },
    /// Reconnecting failed; the reader is not connected.
    Failed {
        /// Why.
        error: ReconnectError,
        /// Why the connection ended in the first place (what
        /// `Disconnected` reports next).
        reason: DisconnectReason,
    },
}

/// Why reconnecting failed. Every kind has a stable [`code`](Self::code);
/// as JSON it is `{"code": ..., "message": ..., ...fields}`
/// ([`crate::error_data`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
#[non_exhaustive]
pub enum ReconnectError {
    /// The window ran out before an attempt succeeded.
    ///
    /// Code: `connect_timed_out`.
    #[error("could not reconnect within {window_ms} ms ({attempts} attempt(s))")]
    ConnectTimedOut {
        /// The window.
        window_ms: u64,
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's error, when one had failed.
        last_error: Option<ConnectError>,
    },
    /// The app cancelled the reconnection.
    ///
    /// Code: `reconnect_cancelled`.
    #[error("the reconnection was cancelled")]
    Cancelled,
    /// The supervisor's machine panicked during the reconnection; its
    /// actor replaced it (or stopped), so the process did not.
    ///
    /// Code: `reconnect_supervisor_failed`.
    #[error("the reconnect supervisor failed: {panic}")]
    SupervisorFailed {
        /// The panic's message.
        panic: String,
    },
}

crate::error_data::impl_error_data!(ReconnectError, placeholder = ReconnectError::Cancelled);

impl ReconnectError {
    /// Every code of this type's own kinds (a kind that carries an inner
    /// error takes its code, and is not listed).
    pub const CODES: &'static [&'static str] = &[
        "connect_timed_out",
        "reconnect_cancelled",
        "reconnect_supervisor_failed",
    ];

    /// A stable code for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ConnectTimedOut { .. } => "connect_timed_out",
            Self::Cancelled => "reconnect_cancelled",
            Self::SupervisorFailed { .. } => "reconnect_supervisor_failed",
        }
    }
}
