//! What the reboot timer takes in, what it asks its owner to do, and how
//! it is configured.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::reader::DeviceType;
use crate::runtime::Millis;

/// How long an M2 or a WisePad 3 runs before it reboots itself (R12): the
/// deadline the timer reboots ahead of.
pub const READER_REBOOTS_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// How long before the reader's own deadline the timer reboots it, by
/// default: 10 minutes.
pub const DEFAULT_REBOOT_LEAD: Duration = Duration::from_secs(10 * 60);

/// How long after a failed reboot (refused, timed out) the timer tries
/// again, by default: 1 minute.
pub const DEFAULT_REBOOT_RETRY: Duration = Duration::from_secs(60);

/// When the timer reboots a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootPolicy {
    /// Reboot this long before the reader's own 24-hour deadline
    /// ([`READER_REBOOTS_AFTER`]), so the reboot happens when the host
    /// chooses (never in a transaction, R20), not when the reader does.
    pub lead: Duration,
    /// After a reboot that failed, try again this long after.
    pub retry_after: Duration,
}

impl Default for RebootPolicy {
    fn default() -> Self {
        Self {
            lead: DEFAULT_REBOOT_LEAD,
            retry_after: DEFAULT_REBOOT_RETRY,
        }
    }
}

impl RebootPolicy {
    /// How long after a connect the reader is due for its reboot, given the
    /// uptime it reported: `24 h − lead − uptime`, and at once (zero) when
    /// that is already past.
    pub fn due_after(&self, uptime_ms: u64) -> Duration {
        READER_REBOOTS_AFTER
            .saturating_sub(self.lead)
            .saturating_sub(Duration::from_millis(uptime_ms))
    }
}

/// What happens to one reader's reboot timer: facts about the reader from
/// its owner (the reader session), and the timer's own deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
pub enum RebootInput {
    /// The reader is connected (the app's connect, or a reconnect after a
    /// reboot or a loss). An M2 or a WisePad 3 arms the timer from the
    /// uptime it reported; a Chipper 2X never reboots by itself, so it
    /// leaves the timer disarmed (R12).
    ReaderConnected {
        /// Its model.
        device_type: DeviceType,
        /// Its uptime at the connect, in ms
        /// (`ConnectionEvent::Connected::uptime_ms`).
        uptime_ms: u64,
    },
    /// The reader's connection ended, for any reason (its reboot, the
    /// app's, a loss, a disconnect): the timer disarms, and re-arms from the
    /// reported uptime at the next connect.
    ReaderDisconnected,
    /// A transaction started on the reader (R20). Feed it as soon as the
    /// owner asks the reader for one, not when the reader confirms, so no
    /// reboot is asked while the start is under way.
    TransactionStarted,
    /// The reader's transaction ended (or its start failed).
    TransactionEnded,
    /// The security reboot the timer asked for was not carried out (the
    /// reader refused it, or did not answer): the timer tries again after
    /// [`RebootPolicy::retry_after`].
    RebootFailed,
    /// Timer: the reboot is due (`24 h − lead` of the reader's uptime, or a
    /// retry).
    RebootDue,
}

/// The reboot timer's one timer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RebootAlarm {
    /// The reboot is due; elapses as [`RebootInput::RebootDue`].
    RebootDue,
}

/// What the reboot timer asks its owner to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RebootOutput {
    /// Tell the app a reboot is planned for `at` (the terminal's
    /// `RebootScheduled { serial_number, at }`), ahead of it: reported each
    /// time the timer arms.
    RebootScheduled {
        /// When, in ms of the runtime's clock (virtual time in tests).
        at: Millis,
    },
    /// Reboot the reader now for the 24-hour rule (R12): no transaction
    /// runs. The owner sends the connection `SecurityRebootRequested`; the
    /// disconnect that follows is reported as a security reboot. Feed the
    /// timer `RebootFailed` if the reboot is not carried out.
    RebootReader,
}
