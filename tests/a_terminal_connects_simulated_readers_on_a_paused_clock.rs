//! The public `Terminal` end to end on a paused clock: simulated readers
//! over `SimTransport` speaking the wire protocol, the backend core
//! in-process (R6, R8, R10, R11, R18a, R21).

mod common;
mod terminal_support;

use std::time::Duration;

use readerlink::reader::{ConnectionStatus, DisconnectReason};
use readerlink::runtime::{Tracer, virtual_time_system};
use readerlink::store::Store;
use readerlink::terminal::{ConnectionConfig, TerminalError, TerminalEvent};
use terminal_support::{rig, serial};

#[test]
fn a_clean_connect_registers_the_reader_saves_it_and_relays_its_reports() {
    let _snapshots = common::snapshots();
    common::init_tracing();
    virtual_time_system().block_on(async {
        let rig = rig(Tracer::off());
        let [m2] = rig.discover(&["STRM2-0001"]).await.try_into().unwrap();
        assert_eq!(rig.terminal.connection_status(), ConnectionStatus::Discovering);

        let connected = rig
            .terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .expect("the connect succeeds");
        assert_eq!(connected.software_version.as_deref(), Some("3.1.0"));
        assert_eq!(rig.terminal.connection_status(), ConnectionStatus::Connected);
        assert_eq!(rig.terminal.connected_reader(), Some(connected.clone()));
        assert_eq!(
            rig.terminal.reader_location(&m2.serial_number).as_deref(),
            Some(rig.shop.id.as_str())
        );

        let registered = rig.backend.core().lock().unwrap().readers();
        assert_eq!(registered.len(), 1);
        assert_eq!(registered[0].location, rig.shop.id);
        let saved = rig
            .store
            .last_connected()
            .expect("the connected reader is saved (R11)");
        assert_eq!(
            (saved.serial_number, saved.location),
            (m2.serial_number.clone(), rig.shop.id.clone())
        );

        rig.world.insert_card(&m2.serial_number).unwrap();
        rig.settle().await;
        rig.world.remove_card(&m2.serial_number).unwrap();
        rig.settle().await;
        rig.world.set_battery(&m2.serial_number, 0.15).unwrap();
        rig.world.set_charging(&m2.serial_number, false).unwrap();
        tokio::time::sleep(Duration::from_secs(11 * 60)).await;
        let asleep = rig.world.reader_state(&m2.serial_number).unwrap();
        assert!(
            asleep.asleep && asleep.connected,
            "the reader slept by itself, still linked"
        );
        assert_eq!(
            rig.terminal.connection_status(),
            ConnectionStatus::Connected,
            "a sleeping reader stays connected (R7)"
        );

        rig.terminal
            .reboot_reader(&m2.serial_number)
            .await
            .expect("the reader accepts the reboot");
        rig.settle().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            rig.terminal.connection_status(),
            ConnectionStatus::Reconnecting,
            "a reboot is followed by reconnection (R8, R12)"
        );
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(
            rig.terminal.connection_status(),
            ConnectionStatus::Connected,
            "the rebooted reader is reconnected"
        );
        let events = rig.events();
        assert!(events.iter().any(|e| matches!(
            e,
            TerminalEvent::ReconnectStarted {
                reason: DisconnectReason::RebootRequested,
                ..
            }
        )));
        assert!(events.contains(&TerminalEvent::ReconnectSucceeded {
            serial_number: m2.serial_number.clone()
        }));
        assert!(events.contains(&TerminalEvent::CardInserted {
            serial_number: m2.serial_number.clone()
        }));
        assert!(
            events
                .iter()
                .any(|e| matches!(e, TerminalEvent::LowBatteryWarning { .. }))
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, TerminalEvent::BatteryLevelReported { .. }))
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, TerminalEvent::Disconnected { .. })),
            "a reconnected reboot reports no Disconnected (R9)"
        );
        insta::assert_snapshot!("terminal_clean_connect_events", rig.event_log());
    });
}

#[test]
fn calls_that_cannot_start_fail_with_typed_errors_and_change_nothing() {
    virtual_time_system().block_on(async {
        let rig = rig(Tracer::off());
        let [m2, wisepad] = rig
            .discover(&["STRM2-0001", "WPC32-0001"])
            .await
            .try_into()
            .unwrap();
        let mut stranger = m2.clone();
        stranger.serial_number = serial("STRM2-9999");
        let events_before = rig.events().len();

        let attempts = [
            (
                stranger.clone(),
                ConnectionConfig::new(&rig.shop.id),
                "unknown_reader",
            ),
            (m2.clone(), ConnectionConfig::new("  "), "empty_location"),
            (m2.clone(), ConnectionConfig::default(), "empty_location"),
            (
                m2.clone(),
                ConnectionConfig::new("tml_nowhere"),
                "location_not_found",
            ),
        ];
        for (reader, config, code) in attempts {
            let error = rig.terminal.connect_reader(&reader, config).await.unwrap_err();
            assert_eq!(error.code(), code, "{error}");
        }
        assert!(
            rig.backend.core().lock().unwrap().readers().is_empty(),
            "nothing registered"
        );
        assert!(rig.store.last_connected().is_none(), "nothing saved");
        assert_eq!(
            rig.terminal.reader_status(&m2.serial_number),
            ConnectionStatus::NotConnected
        );
        assert!(
            rig.events()[events_before..]
                .iter()
                .all(|e| matches!(e, TerminalEvent::DiscoveredReadersUpdated { .. })),
            "no status or connection event: {:?}",
            &rig.events()[events_before..]
        );
        assert_eq!(
            rig.terminal.disconnect_reader(&wisepad.serial_number).await,
            Err(TerminalError::NotConnected {
                serial_number: wisepad.serial_number.clone()
            })
        );
        assert_eq!(
            rig.terminal
                .reboot_reader(&wisepad.serial_number)
                .await
                .unwrap_err()
                .code(),
            "not_connected"
        );

        rig.terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .unwrap();
        let again = rig
            .terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .unwrap_err();
        assert_eq!(again.code(), "already_connected");
        assert_eq!(rig.backend.core().lock().unwrap().data().readers_registered, 1);
    });
}

#[test]
fn a_reader_dropping_the_link_is_reported_disconnected_with_signal_lost() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        let rig = rig(Tracer::off());
        let [m2] = rig.discover(&["STRM2-0001"]).await.try_into().unwrap();
        let config = ConnectionConfig {
            auto_reconnect_on_unexpected_disconnect: false,
            ..ConnectionConfig::new(&rig.shop.id)
        };
        rig.terminal.connect_reader(&m2, config).await.unwrap();
        rig.world.lose_link(&m2.serial_number, None).unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(rig.terminal.connection_status(), ConnectionStatus::NotConnected);
        assert!(rig.terminal.connected_readers().is_empty());
        let disconnects: Vec<_> = rig
            .events()
            .into_iter()
            .filter(|e| matches!(e, TerminalEvent::Disconnected { .. }))
            .collect();
        assert_eq!(
            disconnects,
            [TerminalEvent::Disconnected {
                serial_number: m2.serial_number.clone(),
                reason: DisconnectReason::BluetoothSignalLost,
            }]
        );
        insta::assert_snapshot!("terminal_link_lost_events", rig.event_log());
    });
}

#[test]
fn two_readers_connect_at_once_and_keep_independent_statuses() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        let rig = rig(Tracer::off());
        let [m2, wisepad] = rig
            .discover(&["STRM2-0001", "WPC32-0001"])
            .await
            .try_into()
            .unwrap();
        let config = ConnectionConfig::new(&rig.shop.id);
        let (a, b) = futures::join!(
            rig.terminal.connect_reader(&m2, config.clone()),
            rig.terminal.connect_reader(&wisepad, config.clone()),
        );
        a.unwrap();
        b.unwrap();
        assert_eq!(rig.terminal.connected_readers().len(), 2);
        assert_eq!(
            rig.terminal.connected_reader(),
            None,
            "the easy path needs exactly one"
        );
        assert_eq!(rig.backend.core().lock().unwrap().readers().len(), 2);

        rig.terminal.disconnect_reader(&m2.serial_number).await.unwrap();
        assert_eq!(
            rig.terminal.reader_status(&m2.serial_number),
            ConnectionStatus::NotConnected
        );
        assert_eq!(
            rig.terminal.reader_status(&wisepad.serial_number),
            ConnectionStatus::Connected
        );
        assert_eq!(rig.terminal.connection_status(), ConnectionStatus::Connected);
        rig.world.power_off(&wisepad.serial_number).unwrap();
        rig.settle().await;
        // Powered off reconnects (R8) until the 60 s window runs out (R9).
        tokio::time::sleep(Duration::from_secs(70)).await;
        assert_eq!(rig.terminal.connection_status(), ConnectionStatus::NotConnected);
        let disconnects: Vec<_> = rig
            .events()
            .into_iter()
            .filter_map(|e| match e {
                TerminalEvent::Disconnected {
                    serial_number,
                    reason,
                } => Some((serial_number, reason)),
                _ => None,
            })
            .collect();
        assert_eq!(
            disconnects,
            [
                (m2.serial_number.clone(), DisconnectReason::DisconnectRequested),
                (wisepad.serial_number.clone(), DisconnectReason::PoweredOff),
            ]
        );
        insta::assert_snapshot!("terminal_two_readers_events", rig.event_log());
    });
}

#[test]
fn a_backend_down_at_connect_time_is_retried_until_it_is_back() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        let rig = rig(Tracer::off());
        let [m2] = rig.discover(&["STRM2-0001"]).await.try_into().unwrap();
        rig.backend.faults().down_for(Duration::from_millis(2500));
        let started = tokio::time::Instant::now();
        rig.terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .expect("connects once the backend is back");
        assert!(
            started.elapsed() >= Duration::from_secs(3),
            "waited 1 s + 2 s of backoff"
        );

        rig.terminal.disconnect_reader(&m2.serial_number).await.unwrap();
        rig.backend.faults().take_down();
        let error = rig
            .terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .unwrap_err();
        assert_eq!(error.code(), "backend_unavailable", "{error}");
        assert_eq!(rig.terminal.connection_status(), ConnectionStatus::NotConnected);
        insta::assert_snapshot!(
            "terminal_backend_down_then_up_then_always_down_events",
            rig.event_log()
        );
    });
}

#[derive(Default)]
struct Counts {
    connected: std::sync::Mutex<Vec<String>>,
    disconnected: std::sync::Mutex<Vec<DisconnectReason>>,
    statuses: std::sync::Mutex<Vec<ConnectionStatus>>,
}

impl readerlink::terminal::TerminalDelegate for Counts {
    fn on_connected(&self, reader: &readerlink::reader::Reader) {
        self.connected
            .lock()
            .unwrap()
            .push(reader.serial_number.to_string());
    }
    fn on_disconnected(&self, _serial: &readerlink::reader::SerialNumber, reason: DisconnectReason) {
        self.disconnected.lock().unwrap().push(reason);
    }
    fn on_connection_status_changed(&self, status: ConnectionStatus) {
        self.statuses.lock().unwrap().push(status);
    }
}

#[test]
fn a_delegate_hears_the_same_story_as_the_event_stream() {
    use readerlink::backend::{BackendCore, LocalBackend};
    use readerlink::store::MemoryStore;
    use readerlink::terminal::Terminal;
    use readerlink::transport::sim::{Fleet, SimWorld};
    use std::sync::Arc;

    virtual_time_system().block_on(async {
        let delegate = Arc::new(Counts::default());
        let world = SimWorld::new(Fleet::example());
        let backend = LocalBackend::new(BackendCore::in_memory(1));
        let shop = backend
            .core()
            .lock()
            .unwrap()
            .create_location(readerlink::backend::CreateLocation {
                display_name: "Shop".into(),
                address: readerlink::backend::Address {
                    line1: "1 Main St".into(),
                    country: "US".into(),
                    ..Default::default()
                },
            })
            .unwrap();
        let terminal = Terminal::builder(
            Arc::new(world.transport()),
            Arc::new(backend),
            Arc::new(MemoryStore::new()),
        )
        .delegate(delegate.clone())
        .start();
        let mut discovery = terminal
            .discover_readers(readerlink::scanner::DiscoveryConfig::scan())
            .await;
        let m2 = loop {
            use futures::StreamExt;
            if let Some(readerlink::scanner::DiscoveryUpdate::ReadersUpdated(readers)) =
                discovery.updates.next().await
                && let Some(r) = readers
                    .into_iter()
                    .find(|r| r.serial_number.as_str() == "STRM2-0001")
            {
                break r;
            }
        };
        terminal
            .connect_reader(&m2, ConnectionConfig::new(&shop.id))
            .await
            .unwrap();
        terminal.disconnect_reader(&m2.serial_number).await.unwrap();
        assert_eq!(*delegate.connected.lock().unwrap(), ["STRM2-0001"]);
        assert_eq!(
            *delegate.disconnected.lock().unwrap(),
            [DisconnectReason::DisconnectRequested]
        );
        assert_eq!(
            *delegate.statuses.lock().unwrap(),
            [
                ConnectionStatus::Discovering,
                ConnectionStatus::Connecting,
                ConnectionStatus::Connected,
                ConnectionStatus::NotConnected
            ]
        );
        drop(terminal);
    });
}

#[test]
fn the_link_dropping_while_the_backend_registers_fails_the_connect() {
    use readerlink::backend::Route;
    virtual_time_system().block_on(async {
        let rig = rig(Tracer::off());
        let [m2] = rig.discover(&["STRM2-0001"]).await.try_into().unwrap();
        rig.backend
            .faults()
            .set_latency(Route::RegisterReader, Duration::from_secs(5));
        let world = rig.world.clone();
        let serial = m2.serial_number.clone();
        actix::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            world.lose_link(&serial, None).unwrap();
        });
        let error = rig
            .terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .unwrap_err();
        assert_eq!(error.code(), "link_lost_while_connecting", "{error}");
        assert!(error.to_string().contains("BluetoothSignalLost"), "{error}");
        assert_eq!(rig.terminal.connection_status(), ConnectionStatus::NotConnected);
        assert!(
            !rig.events()
                .iter()
                .any(|e| matches!(e, TerminalEvent::Connected { .. })),
            "never reported connected"
        );
    });
}

#[test]
fn disconnect_all_ends_every_reader_even_one_being_reconnected_and_none_reconnects() {
    virtual_time_system().block_on(async {
        let rig = rig(Tracer::off());
        assert_eq!(
            rig.terminal.disconnect_all().await,
            Ok(()),
            "nothing connected: nothing to do"
        );
        let [m2, wisepad] = rig
            .discover(&["STRM2-0001", "WPC32-0001"])
            .await
            .try_into()
            .unwrap();
        let config = ConnectionConfig::new(&rig.shop.id);
        rig.terminal.connect_reader(&m2, config.clone()).await.unwrap();
        rig.terminal.connect_reader(&wisepad, config).await.unwrap();
        // The WisePad goes out of range for good: it is being reconnected
        // when the app closes.
        rig.world.lose_link(&wisepad.serial_number, None).unwrap();
        // The loss is noticed at the link's 2 s supervision timeout.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            rig.terminal.reader_status(&wisepad.serial_number),
            ConnectionStatus::Reconnecting
        );
        let listed: Vec<_> = rig
            .terminal
            .connected_readers()
            .into_iter()
            .map(|r| r.serial_number)
            .collect();
        assert_eq!(
            listed,
            vec![m2.serial_number.clone()],
            "a reader being reconnected is not listed as connected"
        );

        rig.terminal.disconnect_all().await.unwrap();
        for reader in [&m2, &wisepad] {
            assert_eq!(
                rig.terminal.reader_status(&reader.serial_number),
                ConnectionStatus::NotConnected,
                "{}",
                reader.serial_number
            );
        }
        assert_eq!(rig.terminal.connection_status(), ConnectionStatus::NotConnected);
        let disconnects = |rig: &terminal_support::Rig| {
            rig.events()
                .into_iter()
                .filter_map(|e| match e {
                    TerminalEvent::Disconnected { serial_number, .. } => Some(serial_number),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let mut ended = disconnects(&rig);
        ended.sort();
        assert_eq!(ended, [m2.serial_number.clone(), wisepad.serial_number.clone()]);
        assert!(
            rig.events().iter().any(|e| matches!(
                e,
                TerminalEvent::ReconnectFailed { serial_number, error }
                    if *serial_number == wisepad.serial_number && error.code() == "reconnect_cancelled"
            )),
            "the WisePad's reconnection was stopped"
        );

        rig.world.restore_link(&wisepad.serial_number).unwrap();
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(rig.terminal.connection_status(), ConnectionStatus::NotConnected);
        assert_eq!(
            disconnects(&rig).len(),
            2,
            "no reconnection, no further disconnect"
        );
    });
}

#[test]
fn reconnect_at_start_tells_the_adapter_off_at_once_from_the_reader_off_after_its_timeout() {
    virtual_time_system().block_on(async {
        let rig = rig(Tracer::off());
        let m2 = serial("STRM2-0001");
        rig.store.set_last_connected(&m2, &rig.shop.id).unwrap();
        let timeout = Duration::from_secs(30);

        rig.world.set_adapter_powered(false);
        let started = tokio::time::Instant::now();
        let error = rig.terminal.reconnect_saved_reader(timeout).await.unwrap_err();
        assert_eq!(error.code(), "discovery_transport_failed", "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "answered at once, not after the timeout: {:?}",
            started.elapsed()
        );

        rig.world.set_adapter_powered(true);
        rig.world.power_off(&m2).unwrap();
        let started = tokio::time::Instant::now();
        let error = rig.terminal.reconnect_saved_reader(timeout).await.unwrap_err();
        assert_eq!(error.code(), "saved_reader_not_found", "{error}");
        assert_eq!(started.elapsed(), timeout);
    });
}
