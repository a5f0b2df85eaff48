//! What the terminal tells the app: one stream of [`TerminalEvent`]s, and
//! the same events as callbacks for apps that prefer a
//! [`TerminalDelegate`].

use serde::{Deserialize, Serialize};

use crate::backend::LocationId;
use crate::cancelable::Cancelable;
use crate::reader::{Battery, ConnectionStatus, DisconnectReason, Reader, SerialNumber};
use crate::reconnect::ReconnectError;
use crate::scanner::DiscoveryError;
use crate::updater::{ReaderSoftwareUpdate, UpdateError};

/// An install's cancelable in JSON: whether there was one.
mod cancelable_flag {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::cancelable::Cancelable;

    pub fn serialize<S: Serializer>(
        cancelable: &Option<Cancelable>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(cancelable.is_some())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Cancelable>, D::Error> {
        Ok(bool::deserialize(deserializer)?.then(Cancelable::default))
    }
}

/// Something the app may want to show. Past-tense facts, in the order they
/// happened. In JSON an event is `{"Kind": {fields}}`; its enum values are
/// snake_case and its errors `{"code", "message", ...fields}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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
    /// timeout, or its discovery failed first (the adapter off); discovery
    /// stopped. The call's error says which.
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
    /// An optional update is available for a connected reader (R17): it is
    /// not reported while a transaction runs (then when it ends).
    /// [`super::Terminal::install_available_update`] installs it; once its
    /// `required_at` has come it is installed at the reader's next connect.
    UpdateAvailable {
        /// Which reader.
        serial_number: SerialNumber,
        /// The update (R18).
        update: ReaderSoftwareUpdate,
    },
    /// An install started (R13): a required one inside the connect (the
    /// reader's and the overall status stay `Connecting` throughout), or an
    /// optional one the app asked for. `UpdateInstallProgress` events and
    /// one `UpdateInstallFinished` follow.
    UpdateInstallStarted {
        /// Which reader.
        serial_number: SerialNumber,
        /// The update (R18).
        update: ReaderSoftwareUpdate,
        /// Stops the install (R16): `UpdateInstallFinished { error:
        /// update_canceled }` follows, the reader keeps its old software,
        /// and a connect waiting for a required install fails with
        /// `unsupported_reader_version`. `None` for an update made only of
        /// incremental components, which cannot be cancelled. In JSON,
        /// `true` or `false`: a handle on live work is not data.
        #[serde(with = "cancelable_flag")]
        cancelable: Option<Cancelable>,
    },
    /// An install's progress, in [0, 1], only ever growing.
    UpdateInstallProgress {
        /// Which reader.
        serial_number: SerialNumber,
        /// The share done.
        #[serde(serialize_with = "crate::reader::f32_as_written::serialize")]
        progress: f32,
    },
    /// An install ended: with no error the reader runs the update; with no
    /// update nothing was pending (an `install_available_update` with no
    /// update on offer).
    UpdateInstallFinished {
        /// Which reader.
        serial_number: SerialNumber,
        /// The update, if there was one.
        update: Option<ReaderSoftwareUpdate>,
        /// Why it failed, if it did; its code says which.
        error: Option<UpdateError>,
    },
    /// A reader reported its battery (R18a): a connected reader reports it
    /// at least every 10 minutes, and when charging starts or stops (a
    /// simulated reader: every
    /// [`BATTERY_REPORT_MS`](crate::transport::sim::reader::BATTERY_REPORT_MS)
    /// since its last report). The status is the reader's
    /// ([`BatteryStatus::for_level`](crate::reader::BatteryStatus::for_level):
    /// `Low` below 20 %, `Critical` below 5 %).
    BatteryLevelReported {
        /// Which reader.
        serial_number: SerialNumber,
        /// The battery now.
        battery: Battery,
    },
    /// A reader's battery is low (R18a): sent once while connected and not
    /// charging when its level is below 20 % (within a minute of crossing
    /// it, or of the connect if it was below already), and again only after
    /// it rose above 25 % (a simulated reader's thresholds; a real reader
    /// warns at its own). A simulated reader not charging powers down at
    /// 1 %: `Disconnected { CriticallyLowBattery }`, not reconnected (R9).
    LowBatteryWarning {
        /// Which reader.
        serial_number: SerialNumber,
        /// The battery now.
        battery: Battery,
    },
    /// A card was inserted into a reader (R18a), reported as it happens
    /// while the reader is connected.
    CardInserted {
        /// Which reader.
        serial_number: SerialNumber,
    },
    /// The card was removed from a reader (R18a), reported as it happens
    /// while the reader is connected.
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
///
/// What is called, exactly: for every event the terminal calls
/// [`on_event`](Self::on_event) once, and nothing else. Its default calls
/// [`dispatch`](Self::dispatch), which calls the one `on_…` method for the
/// event's kind (each method's doc names its event). An app that overrides
/// `on_event` (to log every event, say) and still wants the per-kind
/// methods calls `self.dispatch(event)` from it:
///
/// ```
/// use readerlink::prelude::*;
///
/// struct Ui;
///
/// impl TerminalDelegate for Ui {
///     fn on_event(&self, event: &TerminalEvent) {
///         println!("{event:?}");
///         self.dispatch(event); // then on_connected, on_disconnected, ...
///     }
///     fn on_connected(&self, reader: &Reader) {
///         println!("ready on {}", reader.serial_number);
///     }
/// }
/// ```
///
/// Software updates (R13–R17), as a point-of-sale screen shows them: a
/// required update runs inside the connect, so the connect's answer waits
/// for it; an optional one waits for the app to call
/// [`install_available_update`](super::Terminal::install_available_update).
///
/// ```
/// use readerlink::prelude::*;
///
/// struct UpdateScreen;
///
/// impl TerminalDelegate for UpdateScreen {
///     fn on_update_available(&self, reader: &SerialNumber, update: &ReaderSoftwareUpdate) {
///         println!("{reader}: {} available, required from {} ms", update.version, update.required_at);
///     }
///     fn on_update_install_started(
///         &self,
///         reader: &SerialNumber,
///         update: &ReaderSoftwareUpdate,
///         cancelable: Option<&Cancelable>,
///     ) {
///         // Keep the cancelable (clone it) to offer a Cancel button:
///         // cancelling a required update fails the connect (R16).
///         let can_cancel = cancelable.is_some();
///         println!("{reader}: installing {} ({:?}, cancel: {can_cancel})", update.version, update.duration_estimate);
///     }
///     fn on_update_install_progress(&self, reader: &SerialNumber, progress: f32) {
///         println!("{reader}: {:.0} %", progress * 100.0);
///     }
///     fn on_update_install_finished(
///         &self,
///         reader: &SerialNumber,
///         update: Option<&ReaderSoftwareUpdate>,
///         error: Option<&UpdateError>,
///     ) {
///         match error {
///             Some(error) => println!("{reader}: update failed: {error} [{}]", error.code()),
///             None => println!("{reader}: up to date"),
///         }
///     }
/// }
/// ```
#[allow(unused_variables)]
pub trait TerminalDelegate: Send + Sync + 'static {
    /// Every event, once. Defaults to [`dispatch`](Self::dispatch).
    fn on_event(&self, event: &TerminalEvent) {
        self.dispatch(event);
    }

    /// Calls the method for `event`'s kind, and only it. Not meant to be
    /// overridden: [`on_event`](Self::on_event) calls it by default, and an
    /// `on_event` of your own calls it to keep the per-kind methods.
    fn dispatch(&self, event: &TerminalEvent) {
        match event {
            TerminalEvent::ConnectionStatusChanged { status } => self.on_connection_status_changed(*status),
            TerminalEvent::ReaderStatusChanged {
                serial_number,
                status,
            } => self.on_reader_status_changed(serial_number, *status),
            TerminalEvent::DiscoveredReadersUpdated { readers } => self.on_discovered_readers(readers),
            TerminalEvent::Connected { reader, location } => self.on_connected_to(reader, location),
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
            TerminalEvent::SavedReaderReconnectStarted {
                serial_number,
                location,
            } => self.on_saved_reader_reconnect_started(serial_number, location),
            TerminalEvent::SavedReaderFound { serial_number } => self.on_saved_reader_found(serial_number),
            TerminalEvent::SavedReaderNotFound { serial_number } => {
                self.on_saved_reader_not_found(serial_number)
            }
            TerminalEvent::ReaderActorFailed {
                serial_number,
                actor,
                panic,
            } => self.on_reader_actor_failed(serial_number, actor, panic),
            TerminalEvent::UpdateAvailable {
                serial_number,
                update,
            } => self.on_update_available(serial_number, update),
            TerminalEvent::UpdateInstallStarted {
                serial_number,
                update,
                cancelable,
            } => self.on_update_install_started(serial_number, update, cancelable.as_ref()),
            TerminalEvent::UpdateInstallProgress {
                serial_number,
                progress,
            } => self.on_update_install_progress(serial_number, *progress),
            TerminalEvent::UpdateInstallFinished {
                serial_number,
                update,
                error,
            } => self.on_update_install_finished(serial_number, update.as_ref(), error.as_ref()),
            TerminalEvent::StoreWriteFailed { error } => self.on_store_write_failed(error),
            TerminalEvent::EventsMissed { count } => self.on_events_missed(*count),
        }
    }

    /// [`TerminalEvent::ConnectionStatusChanged`]: the overall status changed.
    fn on_connection_status_changed(&self, status: ConnectionStatus) {}
    /// [`TerminalEvent::ReaderStatusChanged`]: one reader's status changed (R21).
    fn on_reader_status_changed(&self, serial_number: &SerialNumber, status: ConnectionStatus) {}
    /// [`TerminalEvent::DiscoveredReadersUpdated`]: discovery's list changed.
    fn on_discovered_readers(&self, readers: &[Reader]) {}
    /// [`TerminalEvent::Connected`]: a reader connected to `location`.
    /// Defaults to [`on_connected`](Self::on_connected).
    fn on_connected_to(&self, reader: &Reader, location: &LocationId) {
        self.on_connected(reader);
    }
    /// [`TerminalEvent::Connected`], without the location: called by the
    /// default [`on_connected_to`](Self::on_connected_to).
    fn on_connected(&self, reader: &Reader) {}
    /// [`TerminalEvent::Disconnected`]: a reader disconnected (R8).
    fn on_disconnected(&self, serial_number: &SerialNumber, reason: DisconnectReason) {}
    /// [`TerminalEvent::ReconnectStarted`]: reconnecting a reader started
    /// (R9); `cancelable` stops it.
    fn on_reconnect_started(
        &self,
        serial_number: &SerialNumber,
        reason: DisconnectReason,
        cancelable: &Cancelable,
    ) {
    }
    /// [`TerminalEvent::ReconnectSucceeded`]: a reader is connected again (R9).
    fn on_reconnect_succeeded(&self, serial_number: &SerialNumber) {}
    /// [`TerminalEvent::ReconnectFailed`]: reconnecting a reader failed
    /// (R9); `on_disconnected` follows.
    fn on_reconnect_failed(&self, serial_number: &SerialNumber, error: &ReconnectError) {}
    /// [`TerminalEvent::SavedReaderReconnectStarted`]: reconnect at start
    /// (R11) looks for the saved reader.
    fn on_saved_reader_reconnect_started(&self, serial_number: &SerialNumber, location: &LocationId) {}
    /// [`TerminalEvent::SavedReaderFound`]: the saved reader was seen (R11).
    fn on_saved_reader_found(&self, serial_number: &SerialNumber) {}
    /// [`TerminalEvent::SavedReaderNotFound`]: the saved reader was not
    /// seen in time (R11).
    fn on_saved_reader_not_found(&self, serial_number: &SerialNumber) {}
    /// [`TerminalEvent::ReaderActorFailed`]: a reader's actor stopped after
    /// panicking too often; `actor` is `connection` or `reconnect`.
    fn on_reader_actor_failed(&self, serial_number: &SerialNumber, actor: &str, panic: &str) {}
    /// [`TerminalEvent::RebootScheduled`]: the runtime will reboot a reader
    /// at `at` ms of the terminal's clock (R12).
    fn on_reboot_scheduled(&self, serial_number: &SerialNumber, at: u64) {}
    /// A discovery the app started ([`super::Terminal::discover_readers`])
    /// ended: `None` when it ended well (its timeout, or cancelled),
    /// `Some(error)` when it failed (the adapter off, the transport
    /// failing). Not an event: its [`crate::scanner::DiscoveryUpdate::Finished`]
    /// says the same on the discovery's own stream, and this is called
    /// just before that update is handed to the stream (not through
    /// [`on_event`](Self::on_event)), on the terminal's thread. A discovery
    /// whose stream the app dropped ends without it.
    fn on_discovery_finished(&self, error: Option<&DiscoveryError>) {}
    /// [`TerminalEvent::UpdateAvailable`]: an optional update is available
    /// for a reader (R17); the reference's `didReportAvailableUpdate`.
    fn on_update_available(&self, serial_number: &SerialNumber, update: &ReaderSoftwareUpdate) {}
    /// [`TerminalEvent::UpdateInstallStarted`]: an install started (R13);
    /// `cancelable` stops it (R16), `None` when it cannot be cancelled.
    /// The reference's `didStartInstallingUpdate`.
    fn on_update_install_started(
        &self,
        serial_number: &SerialNumber,
        update: &ReaderSoftwareUpdate,
        cancelable: Option<&Cancelable>,
    ) {
    }
    /// [`TerminalEvent::UpdateInstallProgress`]: the install's progress in
    /// [0, 1]; the reference's `didReportReaderSoftwareUpdateProgress`.
    fn on_update_install_progress(&self, serial_number: &SerialNumber, progress: f32) {}
    /// [`TerminalEvent::UpdateInstallFinished`]: the install ended, with an
    /// error if it failed; the reference's `didFinishInstallingUpdate`.
    fn on_update_install_finished(
        &self,
        serial_number: &SerialNumber,
        update: Option<&ReaderSoftwareUpdate>,
        error: Option<&UpdateError>,
    ) {
    }
    /// [`TerminalEvent::BatteryLevelReported`]: a reader reported its
    /// battery (R18a), at least every 10 minutes while connected and when
    /// charging starts or stops.
    fn on_battery_level_reported(&self, serial_number: &SerialNumber, battery: &Battery) {}
    /// [`TerminalEvent::LowBatteryWarning`]: a reader's battery fell below
    /// its low threshold (20 % on a simulated reader) while connected (R18a).
    fn on_low_battery_warning(&self, serial_number: &SerialNumber, battery: &Battery) {}
    /// [`TerminalEvent::CardInserted`]: a card was inserted (R18a).
    fn on_card_inserted(&self, serial_number: &SerialNumber) {}
    /// [`TerminalEvent::CardRemoved`]: a card was removed (R18a).
    fn on_card_removed(&self, serial_number: &SerialNumber) {}
    /// [`TerminalEvent::StoreWriteFailed`]: what survives a restart could
    /// not be saved (R11).
    fn on_store_write_failed(&self, error: &str) {}
    /// [`TerminalEvent::EventsMissed`]: never called for a delegate, which
    /// misses no event; kept so every kind has its method.
    fn on_events_missed(&self, count: u64) {}
}
