//! What the terminal tells the app: one stream of [`TerminalEvent`]s, and
//! the same events as callbacks for apps that prefer a
//! [`TerminalDelegate`].

use serde::{Deserialize, Serialize};

use crate::backend::LocationId;
use crate::cancelable::Cancelable;
use crate::reader::{Battery, ConnectionStatus, DisconnectReason, Reader, SerialNumber};
use crate::reconnect::ReconnectError;

/// Something the app may want to show. Past-tense facts, in the order they
/// happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TerminalEvent {
    /// The terminal's overall status changed (R2, R6): `Connected` while any
    /// reader is connected, else `Connecting` while any connects, else
    /// `Discovering` while a discovery runs, else `NotConnected`.
    ConnectionStatusChanged {
        /// The new status.
        status: ConnectionStatus,
    },
    /// One reader's status changed (R21: each reader has its own).
    ReaderStatusChanged {
        /// Which reader.
        serial_number: SerialNumber,
        /// Its new status.
        status: ConnectionStatus,
    },
    /// The running discovery's list of readers changed (R1); readers
    /// already connected are never listed (R2).
    DiscoveredReadersUpdated {
        /// Every reader found so far.
        readers: Vec<Reader>,
    },
    /// A reader is connected and registered to a location (R6).
    Connected {
        /// The reader, with what it said about itself.
        reader: Reader,
        /// The location it is registered to.
        location: LocationId,
    },
    /// A reader's connection ended, for exactly one reason (R8, R10).
    Disconnected {
        /// Which reader.
        serial_number: SerialNumber,
        /// Why.
        reason: DisconnectReason,
    },
    /// A reader's connection ended unexpectedly and, its auto-reconnect
    /// being on, the terminal reconnects it (R9); its status is
    /// `Reconnecting`. Exactly one of `ReconnectSucceeded` or
    /// `ReconnectFailed` (then `Disconnected`) follows.
    ReconnectStarted {
        /// Which reader.
        serial_number: SerialNumber,
        /// Why the connection ended (R8).
        reason: DisconnectReason,
        /// Stops the reconnection at any time: then `ReconnectFailed {
        /// Cancelled }` and `Disconnected` follow; once it has ended,
        /// cancelling answers `AlreadyEnded` and changes nothing. A handle
        /// on live work is not data: it is left out of serialized events
        /// (a deserialized one cancels nothing), and
        /// [`super::Terminal::cancel_reconnect`] does the same by serial
        /// number.
        #[serde(skip)]
        cancelable: Cancelable,
    },
    /// The reader is connected again (R9); `ReaderStatusChanged {
    /// Connected }` and `Connected` follow.
    ReconnectSucceeded {
        /// Which reader.
        serial_number: SerialNumber,
    },
    /// Reconnecting failed (R9): the window ran out (`connect_timed_out`)
    /// or the app cancelled (`reconnect_cancelled`). `Disconnected`, with
    /// the reason the connection first ended, follows.
    ReconnectFailed {
        /// Which reader.
        serial_number: SerialNumber,
        /// Why; its code says which.
        error: ReconnectError,
    },
    /// Reconnect at start (R11): the saved reader is being looked for.
    SavedReaderReconnectStarted {
        /// The saved reader.
        serial_number: SerialNumber,
        /// The location it was last connected to.
        location: LocationId,
    },
    /// Reconnect at start (R11): the saved reader was seen; discovery
    /// stops and it is connected.
    SavedReaderFound {
        /// The saved reader.
        serial_number: SerialNumber,
    },
    /// Reconnect at start (R11): the saved reader was not seen within the
    /// timeout; discovery stopped.
    SavedReaderNotFound {
        /// The saved reader.
        serial_number: SerialNumber,
    },
    /// A reader's actor (its connection or its reconnect supervisor)
    /// panicked more often than its restart intensity allows and stopped;
    /// the rest of the terminal keeps running. `Disconnected` follows if
    /// the reader was connected, and it is not reconnected.
    ReaderActorFailed {
        /// Which reader.
        serial_number: SerialNumber,
        /// Which actor: `connection` or `reconnect`.
        actor: String,
        /// The panic's message.
        panic: String,
    },
    /// The runtime will reboot an M2 or WisePad 3 at `at` (R12): a
    /// configurable lead (10 min by default) before the reader's own
    /// 24-hour deadline, counted from the uptime the reader reported, and
    /// never during a transaction (R20: then when it ends). Reported each
    /// time the reader connects; the disconnect that follows the reboot has
    /// the `security_reboot` reason, and reconnection follows (R9).
    RebootScheduled {
        /// Which reader.
        serial_number: SerialNumber,
        /// When, in milliseconds of the terminal's clock (since it started).
        at: u64,
    },
    /// A reader reported its battery (R18a).
    BatteryLevelReported {
        /// Which reader.
        serial_number: SerialNumber,
        /// The battery now.
        battery: Battery,
    },
    /// A reader's battery is low (R18a).
    LowBatteryWarning {
        /// Which reader.
        serial_number: SerialNumber,
        /// The battery now.
        battery: Battery,
    },
    /// A card was inserted into a reader (R18a).
    CardInserted {
        /// Which reader.
        serial_number: SerialNumber,
    },
    /// The card was removed from a reader (R18a).
    CardRemoved {
        /// Which reader.
        serial_number: SerialNumber,
    },
    /// What survives a restart could not be saved (R11); the connection
    /// itself is fine.
    StoreWriteFailed {
        /// The store's error, in a sentence.
        error: String,
    },
    /// This event stream fell behind and `count` events were dropped;
    /// query [`super::Terminal::connection_status`] to catch up.
    EventsMissed {
        /// How many.
        count: u64,
    },
}

/// Callbacks for apps that prefer them to a stream. Every method has a
/// default that does nothing; implement those you need. They are called on
/// the terminal's actor, in event order: return quickly and hand long work
/// to a task of your own.
#[allow(unused_variables)]
pub trait TerminalDelegate: Send + Sync + 'static {
    /// Every event, before the method for its kind. Defaults to calling
    /// that method.
    fn on_event(&self, event: &TerminalEvent) {
        match event {
            TerminalEvent::ConnectionStatusChanged { status } => self.on_connection_status_changed(*status),
            TerminalEvent::ReaderStatusChanged { .. } => {}
            TerminalEvent::DiscoveredReadersUpdated { readers } => self.on_discovered_readers(readers),
            TerminalEvent::Connected { reader, .. } => self.on_connected(reader),
            TerminalEvent::Disconnected {
                serial_number,
                reason,
            } => self.on_disconnected(serial_number, *reason),
            TerminalEvent::BatteryLevelReported {
                serial_number,
                battery,
            } => self.on_battery_level_reported(serial_number, battery),
            TerminalEvent::LowBatteryWarning {
                serial_number,
                battery,
            } => self.on_low_battery_warning(serial_number, battery),
            TerminalEvent::CardInserted { serial_number } => self.on_card_inserted(serial_number),
            TerminalEvent::CardRemoved { serial_number } => self.on_card_removed(serial_number),
            TerminalEvent::ReconnectStarted {
                serial_number,
                reason,
                cancelable,
            } => self.on_reconnect_started(serial_number, *reason, cancelable),
            TerminalEvent::ReconnectSucceeded { serial_number } => self.on_reconnect_succeeded(serial_number),
            TerminalEvent::ReconnectFailed { serial_number, error } => {
                self.on_reconnect_failed(serial_number, error)
            }
            TerminalEvent::RebootScheduled { serial_number, at } => {
                self.on_reboot_scheduled(serial_number, *at)
            }
            TerminalEvent::StoreWriteFailed { .. }
            | TerminalEvent::EventsMissed { .. }
            | TerminalEvent::SavedReaderReconnectStarted { .. }
            | TerminalEvent::SavedReaderFound { .. }
            | TerminalEvent::SavedReaderNotFound { .. }
            | TerminalEvent::ReaderActorFailed { .. } => {}
        }
    }
    /// The overall status changed.
    fn on_connection_status_changed(&self, status: ConnectionStatus) {}
    /// Discovery's list changed.
    fn on_discovered_readers(&self, readers: &[Reader]) {}
    /// A reader connected.
    fn on_connected(&self, reader: &Reader) {}
    /// A reader disconnected.
    fn on_disconnected(&self, serial_number: &SerialNumber, reason: DisconnectReason) {}
    /// Reconnecting a reader started (R9); `cancelable` stops it.
    fn on_reconnect_started(
        &self,
        serial_number: &SerialNumber,
        reason: DisconnectReason,
        cancelable: &Cancelable,
    ) {
    }
    /// A reader is connected again (R9).
    fn on_reconnect_succeeded(&self, serial_number: &SerialNumber) {}
    /// Reconnecting a reader failed (R9); `on_disconnected` follows.
    fn on_reconnect_failed(&self, serial_number: &SerialNumber, error: &ReconnectError) {}
    /// The runtime will reboot a reader at `at` ms (R12).
    fn on_reboot_scheduled(&self, serial_number: &SerialNumber, at: u64) {}
    /// A reader reported its battery.
    fn on_battery_level_reported(&self, serial_number: &SerialNumber, battery: &Battery) {}
    /// A reader's battery is low.
    fn on_low_battery_warning(&self, serial_number: &SerialNumber, battery: &Battery) {}
    /// A card was inserted.
    fn on_card_inserted(&self, serial_number: &SerialNumber) {}
    /// A card was removed.
    fn on_card_removed(&self, serial_number: &SerialNumber) {}
}
