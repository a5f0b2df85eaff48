//! The delegate's per-kind methods: the default `on_event` calls
//! `dispatch`, which calls exactly the one method for the event's kind;
//! an app that overrides `on_event` keeps the per-kind methods by calling
//! `dispatch` itself, and loses them (only them) if it does not.

use std::sync::Mutex;

use readerlink::backend::LocationId;
use readerlink::prelude::*;

#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
    /// Whether `on_event` is overridden, and whether it dispatches.
    overridden: Option<bool>,
}

impl Recorder {
    fn record(&self, call: &str) {
        self.calls.lock().unwrap().push(call.to_owned());
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.calls.lock().unwrap())
    }
}

impl TerminalDelegate for Recorder {
    fn on_event(&self, event: &TerminalEvent) {
        match self.overridden {
            None => self.dispatch(event),
            Some(dispatches) => {
                self.record("on_event");
                if dispatches {
                    self.dispatch(event);
                }
            }
        }
    }
    fn on_connection_status_changed(&self, _: ConnectionStatus) {
        self.record("on_connection_status_changed");
    }
    fn on_reader_status_changed(&self, _: &SerialNumber, _: ConnectionStatus) {
        self.record("on_reader_status_changed");
    }
    fn on_discovered_readers(&self, _: &[Reader]) {
        self.record("on_discovered_readers");
    }
    fn on_connected(&self, _: &Reader) {
        self.record("on_connected");
    }
    fn on_disconnected(&self, _: &SerialNumber, _: DisconnectReason) {
        self.record("on_disconnected");
    }
    fn on_reconnect_started(&self, _: &SerialNumber, _: DisconnectReason, _: &Cancelable) {
        self.record("on_reconnect_started");
    }
    fn on_reconnect_succeeded(&self, _: &SerialNumber) {
        self.record("on_reconnect_succeeded");
    }
    fn on_reconnect_failed(&self, _: &SerialNumber, _: &ReconnectError) {
        self.record("on_reconnect_failed");
    }
    fn on_saved_reader_reconnect_started(&self, _: &SerialNumber, _: &LocationId) {
        self.record("on_saved_reader_reconnect_started");
    }
    fn on_saved_reader_found(&self, _: &SerialNumber) {
        self.record("on_saved_reader_found");
    }
    fn on_saved_reader_not_found(&self, _: &SerialNumber) {
        self.record("on_saved_reader_not_found");
    }
    fn on_reader_actor_failed(&self, _: &SerialNumber, _: &str, _: &str) {
        self.record("on_reader_actor_failed");
    }
    fn on_reboot_scheduled(&self, _: &SerialNumber, _: u64) {
        self.record("on_reboot_scheduled");
    }
    fn on_battery_level_reported(&self, _: &SerialNumber, _: &Battery) {
        self.record("on_battery_level_reported");
    }
    fn on_low_battery_warning(&self, _: &SerialNumber, _: &Battery) {
        self.record("on_low_battery_warning");
    }
    fn on_card_inserted(&self, _: &SerialNumber) {
        self.record("on_card_inserted");
    }
    fn on_card_removed(&self, _: &SerialNumber) {
        self.record("on_card_removed");
    }
    fn on_store_write_failed(&self, _: &str) {
        self.record("on_store_write_failed");
    }
    fn on_events_missed(&self, _: u64) {
        self.record("on_events_missed");
    }
}

/// One event of every kind, and the method each must reach.
fn every_kind() -> Vec<(TerminalEvent, &'static str)> {
    let serial = SerialNumber::new("STRM2-0001");
    let battery = Battery {
        level: 0.5,
        status: readerlink::reader::BatteryStatus::Nominal,
        charging: false,
    };
    let reader = Reader {
        serial_number: serial.clone(),
        device_type: readerlink::reader::DeviceType::StripeM2,
        software_version: None,
        battery: None,
        rssi: None,
        peripheral: "sim:1".into(),
        available_update: None,
    };
    vec![
        (
            TerminalEvent::ConnectionStatusChanged {
                status: ConnectionStatus::Connected,
            },
            "on_connection_status_changed",
        ),
        (
            TerminalEvent::ReaderStatusChanged {
                serial_number: serial.clone(),
                status: ConnectionStatus::Connected,
            },
            "on_reader_status_changed",
        ),
        (
            TerminalEvent::DiscoveredReadersUpdated {
                readers: vec![reader.clone()],
            },
            "on_discovered_readers",
        ),
        (
            TerminalEvent::Connected {
                reader,
                location: "tml_1".into(),
            },
            "on_connected",
        ),
        (
            TerminalEvent::Disconnected {
                serial_number: serial.clone(),
                reason: DisconnectReason::DisconnectRequested,
            },
            "on_disconnected",
        ),
        (
            TerminalEvent::ReconnectStarted {
                serial_number: serial.clone(),
                reason: DisconnectReason::BluetoothSignalLost,
                cancelable: Cancelable::default(),
            },
            "on_reconnect_started",
        ),
        (
            TerminalEvent::ReconnectSucceeded {
                serial_number: serial.clone(),
            },
            "on_reconnect_succeeded",
        ),
        (
            TerminalEvent::ReconnectFailed {
                serial_number: serial.clone(),
                error: ReconnectError::Cancelled,
            },
            "on_reconnect_failed",
        ),
        (
            TerminalEvent::SavedReaderReconnectStarted {
                serial_number: serial.clone(),
                location: "tml_1".into(),
            },
            "on_saved_reader_reconnect_started",
        ),
        (
            TerminalEvent::SavedReaderFound {
                serial_number: serial.clone(),
            },
            "on_saved_reader_found",
        ),
        (
            TerminalEvent::SavedReaderNotFound {
                serial_number: serial.clone(),
            },
            "on_saved_reader_not_found",
        ),
        (
            TerminalEvent::ReaderActorFailed {
                serial_number: serial.clone(),
                actor: "connection".into(),
                panic: "boom".into(),
            },
            "on_reader_actor_failed",
        ),
        (
            TerminalEvent::RebootScheduled {
                serial_number: serial.clone(),
                at: 1,
            },
            "on_reboot_scheduled",
        ),
        (
            TerminalEvent::BatteryLevelReported {
                serial_number: serial.clone(),
                battery,
            },
            "on_battery_level_reported",
        ),
        (
            TerminalEvent::LowBatteryWarning {
                serial_number: serial.clone(),
                battery,
            },
            "on_low_battery_warning",
        ),
        (
            TerminalEvent::CardInserted {
                serial_number: serial.clone(),
            },
            "on_card_inserted",
        ),
        (
            TerminalEvent::CardRemoved {
                serial_number: serial,
            },
            "on_card_removed",
        ),
        (
            TerminalEvent::StoreWriteFailed {
                error: "disk full".into(),
            },
            "on_store_write_failed",
        ),
        (TerminalEvent::EventsMissed { count: 1 }, "on_events_missed"),
    ]
}

#[test]
fn the_default_on_event_calls_exactly_the_method_of_each_kind() {
    let delegate = Recorder::default();
    for (event, method) in every_kind() {
        delegate.on_event(&event);
        assert_eq!(delegate.take(), [method], "{event:?}");
    }
}

#[test]
fn an_overriding_on_event_that_dispatches_keeps_the_per_kind_methods() {
    let delegate = Recorder {
        overridden: Some(true),
        ..Recorder::default()
    };
    for (event, method) in every_kind() {
        delegate.on_event(&event);
        assert_eq!(delegate.take(), ["on_event", method], "{event:?}");
    }
}

#[test]
fn an_overriding_on_event_that_does_not_dispatch_gets_only_on_event() {
    let delegate = Recorder {
        overridden: Some(false),
        ..Recorder::default()
    };
    for (event, _) in every_kind() {
        delegate.on_event(&event);
        assert_eq!(delegate.take(), ["on_event"], "{event:?}");
    }
}

#[test]
fn on_connected_to_carries_the_location_and_defaults_to_on_connected() {
    struct Locations(Mutex<Vec<String>>);
    impl TerminalDelegate for Locations {
        fn on_connected_to(&self, _: &Reader, location: &LocationId) {
            self.0.lock().unwrap().push(location.clone());
        }
    }
    let delegate = Locations(Mutex::new(Vec::new()));
    let (connected, _) = every_kind().swap_remove(3);
    delegate.on_event(&connected);
    assert_eq!(*delegate.0.lock().unwrap(), ["tml_1"]);
}
