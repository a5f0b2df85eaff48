//! The whole stack over the real btleplug path: a public `Terminal` on
//! `BleTransport`, talking to the BlueZ stand-in on a private D-Bus
//! (python-dbusmock; see `tests/bluez/`) with simulated readers bridged in
//! behind it, and the backend core in-process (`LocalBackend`). What BlueZ
//! reports — a device found, a notification, `Connected = false`, the
//! adapter's `Powered = false` — must reach the connection actor and the app
//! as the right event and reason (R1, R6, R8, R18a), and an unexpected
//! loss must be reconnected once the reader can be connected again (R9).
//! Real IO, so real time; every wait is bounded. Skipped, with a message, where `dbus-daemon` or
//! python3-dbusmock is not installed.
#![cfg(feature = "ble")]

mod bluez;
mod common;

use std::sync::Arc;
use std::time::Duration;

use bluez::BluezFixture;
use futures::StreamExt;
use futures::stream::BoxStream;
use readerlink::backend::{BackendCore, CreateLocation, LocalBackend, Location};
use readerlink::reader::{ConnectionStatus, DeviceType, DisconnectReason, Reader, SerialNumber};
use readerlink::scanner::{DiscoveryConfig, DiscoveryUpdate};
use readerlink::store::MemoryStore;
use readerlink::terminal::{ConnectionConfig, Terminal, TerminalEvent};
use readerlink::transport::MANUFACTURER_ID;
use readerlink::transport::ble::{AdapterChoice, BleTransport};
use readerlink::transport::sim::{ReaderSpec as SimReaderSpec, SimWorld};

/// The whole test body, D-Bus daemons aside.
const LIMIT: Duration = Duration::from_secs(12);
/// One awaited event or answer.
const WAIT: Duration = Duration::from_secs(5);

const WISEPAD: &str = "WPC32-0201";
const M2: &str = "STRM2-0202";

/// A terminal over `BleTransport` and the stand-in, with two simulated
/// readers bridged in and two devices that are not readers beside them.
struct Rig {
    world: SimWorld,
    backend: LocalBackend,
    shop: Location,
    terminal: Terminal,
    events: BoxStream<'static, TerminalEvent>,
    /// Every event taken from `events` so far, for failure messages.
    seen: Vec<TerminalEvent>,
    /// The transport ids of the devices that are not readers.
    others: Vec<String>,
}

/// Builds the rig; call inside [`BluezFixture::run`] (the simulated world
/// and the bridge spawn tasks on its runtime).
async fn rig(bluez: &BluezFixture) -> Rig {
    let wisepad = SimReaderSpec::new(WISEPAD, DeviceType::WisePad3, "3.1.0");
    let m2 = SimReaderSpec::new(M2, DeviceType::StripeM2, "2.4.1");
    let world = SimWorld::with_readers(vec![wisepad.clone(), m2.clone()]);
    bluez.add_sim_reader(&world, &wisepad);
    bluez.add_sim_reader(&world, &m2);
    // Heard by BlueZ, but not readers: a beacon, and a device filed under
    // our company id whose data is not a reader advertisement.
    let others = vec![
        bluez.add_other_device("iBeacon", 0x004C, vec![0x02, 0x15, 0x01]),
        bluez.add_other_device("Squatter", MANUFACTURER_ID, b"not ours".to_vec()),
    ];

    let transport = BleTransport::new(AdapterChoice::First)
        .await
        .expect("the stand-in's adapter");
    let backend = LocalBackend::new(BackendCore::in_memory(3));
    let shop = backend
        .core()
        .lock()
        .unwrap()
        .create_location(CreateLocation::new("Shop", "1 Main St", "US"))
        .unwrap();
    // Outside an actix system, the terminal runs its actors on a thread of
    // its own, on real time.
    let terminal = Terminal::builder(
        Arc::new(transport),
        Arc::new(backend.clone()),
        Arc::new(MemoryStore::new()),
    )
    .seed(8)
    .start();
    let events = terminal.events();
    Rig {
        world,
        backend,
        shop,
        terminal,
        events,
        seen: Vec::new(),
        others,
    }
}

impl Rig {
    /// Discovers by scan until both bridged readers are listed; checks the
    /// devices that are not readers never are.
    async fn discover_both(&self) -> (Reader, Reader) {
        let mut discovery = self.terminal.discover_readers(DiscoveryConfig::scan()).await;
        loop {
            let update = tokio::time::timeout(WAIT, discovery.updates.next())
                .await
                .expect("discovery lists both bridged readers in time")
                .expect("discovery ended before listing both readers");
            let DiscoveryUpdate::ReadersUpdated(readers) = update else {
                continue;
            };
            assert!(
                readers.iter().all(|r| !self.others.contains(&r.peripheral)),
                "a device that is not a reader was listed: {readers:?}"
            );
            let find = |serial: &str| {
                readers
                    .iter()
                    .find(|r| r.serial_number.as_str() == serial)
                    .cloned()
            };
            if let (Some(wisepad), Some(m2)) = (find(WISEPAD), find(M2)) {
                return (wisepad, m2);
            }
        }
    }

    /// Discovers, then connects the WisePad 3 to the shop.
    async fn connect_wisepad(&mut self) -> Reader {
        let (wisepad, m2) = self.discover_both().await;
        assert_eq!(wisepad.device_type, DeviceType::WisePad3);
        assert_eq!(m2.device_type, DeviceType::StripeM2);
        let connected = tokio::time::timeout(
            WAIT,
            self.terminal
                .connect_reader(&wisepad, ConnectionConfig::new(&self.shop.id)),
        )
        .await
        .expect("the connect answers in time")
        .expect("the connect succeeds");
        assert_eq!(connected.serial_number, wisepad.serial_number);
        assert_eq!(connected.software_version.as_deref(), Some("3.1.0"));
        let location = self.shop.id.clone();
        self.next_event("Connected", |e| {
            matches!(e, TerminalEvent::Connected { reader, location: at }
                if reader.serial_number == connected.serial_number && *at == location)
        })
        .await;
        connected
    }

    /// The next event that `wanted` accepts, within [`WAIT`].
    async fn next_event(&mut self, what: &str, wanted: impl Fn(&TerminalEvent) -> bool) -> TerminalEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.next())
                .await
                .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}; events so far: {:#?}", self.seen))
                .unwrap_or_else(|| panic!("the event stream ended before {what}"));
            self.seen.push(event.clone());
            if wanted(&event) {
                return event;
            }
        }
    }

    /// The next event reporting `serial`'s connection lost: its kind
    /// (`Disconnected`, or `ReconnectStarted` where reconnection exists)
    /// and reason.
    async fn connection_lost(&mut self, serial: &SerialNumber) -> (String, DisconnectReason) {
        let event = self
            .next_event("a report of the connection's loss", |e| {
                loss_of(e, serial).is_some()
            })
            .await;
        loss_of(&event, serial).unwrap()
    }

    /// Waits for `serial`'s status to be reported `Reconnecting` (it
    /// follows `ReconnectStarted`); checks the terminal answers so too.
    async fn reconnecting(&mut self, serial: &SerialNumber) {
        self.next_event("ReaderStatusChanged { Reconnecting }", |e| {
            *e == TerminalEvent::ReaderStatusChanged {
                serial_number: serial.clone(),
                status: ConnectionStatus::Reconnecting,
            }
        })
        .await;
        assert_eq!(
            self.terminal.reader_status(serial),
            ConnectionStatus::Reconnecting
        );
    }
}

/// `Disconnected` or `ReconnectStarted` for `serial`: its kind and reason.
/// Read through serde_json, so this compiles whether or not the terminal
/// has reconnection events yet.
fn loss_of(event: &TerminalEvent, serial: &SerialNumber) -> Option<(String, DisconnectReason)> {
    let value = serde_json::to_value(event).expect("every event serializes");
    let (kind, body) = value.as_object()?.iter().next()?;
    if !matches!(kind.as_str(), "Disconnected" | "ReconnectStarted") {
        return None;
    }
    if *body.get("serial_number")? != serde_json::to_value(serial).unwrap() {
        return None;
    }
    let reason = serde_json::from_value(body.get("reason")?.clone()).ok()?;
    Some((kind.clone(), reason))
}

#[test]
fn a_scan_finds_the_bridged_readers_and_a_connected_one_reports_its_battery_and_a_card() {
    common::init_tracing();
    let Some(bluez) = BluezFixture::start() else {
        return;
    };
    bluez.run(LIMIT, async {
        let started = tokio::time::Instant::now();
        let mut rig = rig(&bluez).await;
        let wisepad = rig.connect_wisepad().await;
        eprintln!("discover + connect through BlueZ: {:?}", started.elapsed());
        let serial = wisepad.serial_number.clone();
        assert!(bluez.is_connected(WISEPAD), "BlueZ shows the link up");
        assert!(!bluez.is_connected(M2), "only the chosen reader is connected");
        assert!(rig.world.reader_state(&serial).unwrap().connected);
        assert_eq!(rig.terminal.connection_status(), ConnectionStatus::Connected);
        assert_eq!(
            rig.terminal.reader_location(&serial).as_deref(),
            Some(rig.shop.id.as_str())
        );
        let registered = rig.backend.core().lock().unwrap().readers();
        assert_eq!(registered.len(), 1);
        assert_eq!(
            (&registered[0].serial_number, &registered[0].location),
            (&serial, &rig.shop.id)
        );

        // The reader goes on its charger: it reports its battery.
        rig.world.set_charging(&serial, true).unwrap();
        let reported = rig
            .next_event("BatteryLevelReported", |e| {
                matches!(e, TerminalEvent::BatteryLevelReported { serial_number, .. } if *serial_number == serial)
            })
            .await;
        let TerminalEvent::BatteryLevelReported { battery, .. } = reported else {
            unreachable!()
        };
        assert!(battery.charging, "{battery:?}");
        assert!((battery.level - 0.8).abs() < 0.01, "{battery:?}");

        rig.world.insert_card(&serial).unwrap();
        rig.next_event("CardInserted", |e| {
            *e == TerminalEvent::CardInserted {
                serial_number: serial.clone(),
            }
        })
        .await;
    });
}

#[test]
fn a_link_lost_in_bluez_reaches_the_app_as_signal_lost_and_the_reader_is_reconnected_once_connectable() {
    common::init_tracing();
    let Some(bluez) = BluezFixture::start() else {
        return;
    };
    bluez.run(LIMIT, async {
        let mut rig = rig(&bluez).await;
        let wisepad = rig.connect_wisepad().await;
        let serial = wisepad.serial_number.clone();
        let connects = bluez.connect_calls(WISEPAD);
        // Out of range: the link drops and BlueZ cannot connect it again.
        bluez.set_connectable(WISEPAD, false);
        let lost = tokio::time::Instant::now();
        bluez.drop_link(WISEPAD);
        let (kind, reason) = rig.connection_lost(&serial).await;
        eprintln!("Connected = false → {kind}: {:?}", lost.elapsed());
        assert_eq!(reason, DisconnectReason::BluetoothSignalLost, "{kind}");
        assert_eq!(kind, "ReconnectStarted", "auto-reconnect is on (R9)");
        rig.reconnecting(&serial).await;

        // A reconnect attempt reaches BlueZ and is refused; the reader
        // stays reconnecting.
        assert!(
            tokio::task::block_in_place(|| bluez.wait_for_connect_calls(WISEPAD, connects + 1, WAIT)),
            "no reconnect attempt reached BlueZ"
        );
        assert_eq!(
            rig.terminal.reader_status(&serial),
            ConnectionStatus::Reconnecting
        );

        // Back in range: a later attempt connects it again.
        bluez.set_connectable(WISEPAD, true);
        let back = tokio::time::Instant::now();
        rig.next_event(
            "ReconnectSucceeded",
            |e| matches!(e, TerminalEvent::ReconnectSucceeded { serial_number } if *serial_number == serial),
        )
        .await;
        let attempts = bluez.connect_calls(WISEPAD) - connects;
        eprintln!(
            "connectable again → ReconnectSucceeded: {:?} ({attempts} reconnect attempts reached BlueZ)",
            back.elapsed(),
        );
        assert!(
            attempts >= 2,
            "one attempt refused while out of range, a later one connected: {attempts}"
        );
        assert!(
            rig.seen
                .iter()
                .all(|e| !matches!(e, TerminalEvent::Disconnected { .. })),
            "a reconnected reader was never reported disconnected: {:#?}",
            rig.seen
        );
        let location = rig.shop.id.clone();
        rig.next_event("Connected, again", |e| {
            matches!(e, TerminalEvent::Connected { reader, location: at }
                if reader.serial_number == serial && *at == location)
        })
        .await;
        assert_eq!(rig.terminal.reader_status(&serial), ConnectionStatus::Connected);
        assert!(bluez.is_connected(WISEPAD));
        assert!(rig.world.reader_state(&serial).unwrap().connected);

        // The new link carries the reader's reports.
        rig.world.insert_card(&serial).unwrap();
        rig.next_event("CardInserted over the new link", |e| {
            *e == TerminalEvent::CardInserted {
                serial_number: serial.clone(),
            }
        })
        .await;
    });
}

#[test]
fn the_adapter_powered_off_reaches_the_app_as_bluetooth_disabled_and_powered_on_reconnects() {
    common::init_tracing();
    let Some(bluez) = BluezFixture::start() else {
        return;
    };
    bluez.run(LIMIT, async {
        let mut rig = rig(&bluez).await;
        let wisepad = rig.connect_wisepad().await;
        let serial = wisepad.serial_number.clone();
        bluez.power_off_adapter();
        let (kind, reason) = rig.connection_lost(&serial).await;
        assert_eq!(reason, DisconnectReason::BluetoothDisabled, "{kind}");
        assert_eq!(kind, "ReconnectStarted", "auto-reconnect is on (R9)");
        assert!(!bluez.is_connected(WISEPAD));
        rig.reconnecting(&serial).await;

        bluez.power_on_adapter();
        let back = tokio::time::Instant::now();
        rig.next_event(
            "ReconnectSucceeded",
            |e| matches!(e, TerminalEvent::ReconnectSucceeded { serial_number } if *serial_number == serial),
        )
        .await;
        eprintln!("adapter on → ReconnectSucceeded: {:?}", back.elapsed());
        assert!(bluez.is_connected(WISEPAD));
        assert!(rig.world.reader_state(&serial).unwrap().connected);
    });
}
