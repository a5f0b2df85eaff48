//! The hub machine on a Harness, with its reconnect supervisor's reports
//! played by the test (R8–R10): an unexpected disconnect is handed over
//! (no `Disconnected` until the supervisor says it failed), the attempts
//! run the whole connect again, an app's disconnect stops a reconnection,
//! and a reader whose connection actor failed past its restart intensity
//! is reported disconnected for good.

mod common;

use readerlink::backend::LocationId;
use readerlink::connection::{ConnectError, ConnectionEvent, ConnectionInput};
use readerlink::reader::{ConnectionStatus, DeviceType, DisconnectReason, Reader};
use readerlink::reconnect::{ReconnectError, ReconnectEvent, ReconnectInput};
use readerlink::runtime::Harness;
use readerlink::terminal::{ConnectionConfig, Hub, TerminalEvent, TerminalInput, TerminalOutput};

const A: &str = "STRM2-0001";

fn reader() -> Reader {
    Reader {
        serial_number: A.into(),
        device_type: DeviceType::StripeM2,
        software_version: None,
        battery: None,
        rssi: Some(-50),
        peripheral: A.into(),
    }
}

fn reported(event: ConnectionEvent) -> TerminalInput {
    TerminalInput::ConnectionReported {
        serial_number: A.into(),
        event,
    }
}

fn supervisor(event: ReconnectEvent) -> TerminalInput {
    TerminalInput::ReconnectReported {
        serial_number: A.into(),
        event,
    }
}

fn location() -> LocationId {
    "tml_000001".into()
}

/// A hub with reader A connected.
fn connected() -> Harness<Hub> {
    let mut h = Harness::new(Hub::new());
    h.input(TerminalInput::ReadersDiscovered {
        readers: vec![reader()],
    });
    h.input(TerminalInput::ConnectReaderRequested {
        call: 1,
        reader: reader(),
        config: ConnectionConfig::new("tml_000001"),
    });
    h.input(reported(ConnectionEvent::StatusChanged {
        status: ConnectionStatus::Connecting,
    }));
    h.input(reported(ConnectionEvent::StatusChanged {
        status: ConnectionStatus::Connected,
    }));
    h.input(reported(ConnectionEvent::Connected {
        reader: reader(),
        location: location(),
        uptime_ms: 0,
    }));
    h.note("A connected");
    h
}

/// What was published since output `from`.
fn published(h: &Harness<Hub>, from: usize) -> Vec<TerminalEvent> {
    h.outputs()[from..]
        .iter()
        .filter_map(|(_, o)| match o {
            TerminalOutput::Publish(event) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

fn lost(h: &mut Harness<Hub>, reason: DisconnectReason) {
    h.input(reported(ConnectionEvent::StatusChanged {
        status: ConnectionStatus::NotConnected,
    }));
    h.input(reported(ConnectionEvent::Disconnected { reason }));
}

#[test]
fn a_lost_link_is_handed_over_attempted_again_and_reported_only_by_the_supervisor() {
    let _snapshots = common::snapshots();
    let mut h = connected();
    let from = h.outputs().len();
    lost(&mut h, DisconnectReason::BluetoothSignalLost);
    assert!(
        published(&h, from).is_empty(),
        "nothing is told before the supervisor decides"
    );
    assert_eq!(h.machine().reader_status(&A.into()), ConnectionStatus::Connected);
    h.input(supervisor(ReconnectEvent::Started {
        reason: DisconnectReason::BluetoothSignalLost,
    }));
    h.input(supervisor(ReconnectEvent::AttemptDue { attempt: 1 }));
    assert!(h.outputs().iter().any(|(_, o)| matches!(
        o,
        TerminalOutput::StartConnect { location: at, .. } if *at == location()
    )));
    h.note("the attempt's connect fails; its status changes are not the reader's");
    h.input(reported(ConnectionEvent::StatusChanged {
        status: ConnectionStatus::Connecting,
    }));
    h.input(reported(ConnectionEvent::ConnectFailed {
        error: ConnectError::LinkTimedOut { after_ms: 10_000 },
    }));
    assert_eq!(
        h.machine().reader_status(&A.into()),
        ConnectionStatus::Reconnecting
    );
    h.input(supervisor(ReconnectEvent::AttemptDue { attempt: 2 }));
    h.input(reported(ConnectionEvent::StatusChanged {
        status: ConnectionStatus::Connected,
    }));
    h.input(reported(ConnectionEvent::Connected {
        reader: reader(),
        location: location(),
        uptime_ms: 0,
    }));
    h.input(supervisor(ReconnectEvent::Succeeded));
    let kinds: Vec<String> = published(&h, from)
        .iter()
        .map(|e| format!("{e:?}").split([' ', '{']).next().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "ReconnectStarted",
            "ReaderStatusChanged",
            "ConnectionStatusChanged",
            "ReconnectSucceeded",
            "ReaderStatusChanged",
            "Connected",
            "ConnectionStatusChanged"
        ]
    );
    insta::assert_snapshot!("terminal_hub_reconnect_succeeds", h.log());
}

#[test]
fn the_apps_disconnect_during_a_reconnection_cancels_it_and_is_answered_after_disconnected() {
    let _snapshots = common::snapshots();
    let mut h = connected();
    lost(&mut h, DisconnectReason::PoweredOff);
    h.input(supervisor(ReconnectEvent::Started {
        reason: DisconnectReason::PoweredOff,
    }));
    h.input(supervisor(ReconnectEvent::AttemptDue { attempt: 1 }));
    let from = h.outputs().len();
    h.input(TerminalInput::DisconnectReaderRequested {
        call: 9,
        serial_number: A.into(),
    });
    assert!(h.outputs()[from..].iter().any(|(_, o)| matches!(
        o,
        TerminalOutput::ToSupervisor {
            input: ReconnectInput::CancelRequested { .. },
            ..
        }
    )));
    h.input(supervisor(ReconnectEvent::AttemptAbandoned));
    h.input(supervisor(ReconnectEvent::Failed {
        error: ReconnectError::Cancelled,
        reason: DisconnectReason::PoweredOff,
    }));
    h.note("the stopped attempt's connect ends; then the call is answered");
    h.input(reported(ConnectionEvent::ConnectFailed {
        error: ConnectError::Cancelled,
    }));
    let outputs: Vec<&TerminalOutput> = h.outputs()[from..].iter().map(|(_, o)| o).collect();
    let disconnected = outputs
        .iter()
        .position(|o| matches!(o, TerminalOutput::Publish(TerminalEvent::Disconnected { .. })))
        .expect("Disconnected");
    let answered = outputs
        .iter()
        .position(|o| matches!(o, TerminalOutput::Reply { call: 9, .. }))
        .expect("the call is answered");
    assert!(disconnected < answered);
    assert!(outputs.iter().any(|o| matches!(
        o,
        TerminalOutput::ToConnection {
            input: ConnectionInput::DisconnectRequested,
            ..
        }
    )));
    assert_eq!(
        h.machine().reader_status(&A.into()),
        ConnectionStatus::NotConnected
    );
    insta::assert_snapshot!("terminal_hub_disconnect_cancels_reconnect", h.log());
}

#[test]
fn a_connection_actor_failed_past_its_restart_intensity_is_reported_disconnected_for_good() {
    let _snapshots = common::snapshots();
    let mut h = connected();
    let from = h.outputs().len();
    h.input(reported(ConnectionEvent::StatusChanged {
        status: ConnectionStatus::NotConnected,
    }));
    h.input(reported(ConnectionEvent::MachineFailed {
        panic: "the machine panicked".into(),
    }));
    let events = published(&h, from);
    assert!(matches!(
        &events[0],
        TerminalEvent::ReaderActorFailed { actor, .. } if actor == "connection"
    ));
    assert_eq!(
        events.last(),
        Some(&TerminalEvent::Disconnected {
            serial_number: A.into(),
            reason: DisconnectReason::Unknown,
        })
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, TerminalEvent::ReconnectStarted { .. }))
    );
    assert!(h.outputs()[from..].iter().any(|(_, o)| matches!(
        o,
        TerminalOutput::ToSupervisor {
            input: ReconnectInput::ConnectionLost {
                auto_reconnect: false,
                ..
            },
            ..
        }
    )));
    assert_eq!(
        h.machine().reader_status(&A.into()),
        ConnectionStatus::NotConnected
    );
    insta::assert_snapshot!("terminal_hub_connection_actor_failed", h.log());
}

#[test]
fn a_reconnected_link_that_drops_before_the_supervisor_says_so_starts_another_reconnection() {
    let mut h = connected();
    lost(&mut h, DisconnectReason::BluetoothSignalLost);
    h.input(supervisor(ReconnectEvent::Started {
        reason: DisconnectReason::BluetoothSignalLost,
    }));
    h.input(supervisor(ReconnectEvent::AttemptDue { attempt: 1 }));
    h.input(reported(ConnectionEvent::Connected {
        reader: reader(),
        location: location(),
        uptime_ms: 0,
    }));
    h.note("the link drops again before the supervisor's Succeeded arrives");
    lost(&mut h, DisconnectReason::BluetoothSignalLost);
    let from = h.outputs().len();
    h.input(supervisor(ReconnectEvent::Succeeded));
    h.input(supervisor(ReconnectEvent::Started {
        reason: DisconnectReason::BluetoothSignalLost,
    }));
    let events = published(&h, from);
    assert!(
        matches!(events[0], TerminalEvent::ReconnectSucceeded { .. }),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TerminalEvent::ReconnectStarted { .. })),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, TerminalEvent::Disconnected { .. }))
    );
    assert_eq!(
        h.machine().reader_status(&A.into()),
        ConnectionStatus::Reconnecting
    );
}

#[test]
fn a_reconnected_link_that_ends_for_good_before_the_supervisor_says_so_is_reported_disconnected() {
    let mut h = connected();
    lost(&mut h, DisconnectReason::BluetoothSignalLost);
    h.input(supervisor(ReconnectEvent::Started {
        reason: DisconnectReason::BluetoothSignalLost,
    }));
    h.input(supervisor(ReconnectEvent::AttemptDue { attempt: 1 }));
    h.input(reported(ConnectionEvent::Connected {
        reader: reader(),
        location: location(),
        uptime_ms: 0,
    }));
    lost(&mut h, DisconnectReason::CriticallyLowBattery);
    let from = h.outputs().len();
    h.input(supervisor(ReconnectEvent::Succeeded));
    let events = published(&h, from);
    assert!(matches!(events[0], TerminalEvent::ReconnectSucceeded { .. }));
    assert_eq!(
        events.last(),
        Some(&TerminalEvent::Disconnected {
            serial_number: A.into(),
            reason: DisconnectReason::CriticallyLowBattery,
        })
    );
    assert_eq!(
        h.machine().reader_status(&A.into()),
        ConnectionStatus::NotConnected
    );
}

#[test]
fn a_window_that_ends_as_the_attempt_connects_closes_that_link_and_reports_disconnected_once() {
    let mut h = connected();
    lost(&mut h, DisconnectReason::BluetoothSignalLost);
    h.input(supervisor(ReconnectEvent::Started {
        reason: DisconnectReason::BluetoothSignalLost,
    }));
    h.input(supervisor(ReconnectEvent::AttemptDue { attempt: 1 }));
    h.input(reported(ConnectionEvent::Connected {
        reader: reader(),
        location: location(),
        uptime_ms: 0,
    }));
    h.note("the window ran out before the supervisor heard of the connect");
    let from = h.outputs().len();
    h.input(supervisor(ReconnectEvent::AttemptAbandoned));
    h.input(supervisor(ReconnectEvent::Failed {
        error: ReconnectError::ConnectTimedOut {
            window_ms: 60_000,
            attempts: 1,
            last_error: None,
        },
        reason: DisconnectReason::BluetoothSignalLost,
    }));
    assert!(h.outputs()[from..].iter().any(|(_, o)| matches!(
        o,
        TerminalOutput::ToConnection {
            input: ConnectionInput::DisconnectRequested,
            ..
        }
    )));
    lost(&mut h, DisconnectReason::DisconnectRequested);
    let disconnects = published(&h, from)
        .into_iter()
        .filter(|e| matches!(e, TerminalEvent::Disconnected { .. }))
        .count();
    assert_eq!(disconnects, 1);
    assert_eq!(
        h.machine().reader_status(&A.into()),
        ConnectionStatus::NotConnected
    );
    h.note("the app can connect it again");
    h.input(TerminalInput::ConnectReaderRequested {
        call: 2,
        reader: reader(),
        config: ConnectionConfig::new("tml_000001"),
    });
    assert!(matches!(
        h.outputs().last(),
        Some((_, TerminalOutput::StartConnect { .. }))
    ));
}
