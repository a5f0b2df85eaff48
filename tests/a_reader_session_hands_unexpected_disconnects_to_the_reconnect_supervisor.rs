//! The hub and a reader's session on Harnesses, with the session's
//! connection and reconnect supervisor reports
//! played by the test (R8–R10): an unexpected disconnect is handed over
//! (no `Disconnected` until the supervisor says it failed), the attempts
//! run the whole connect again, an app's disconnect stops a reconnection,
//! and a reader whose connection actor failed past its restart intensity
//! is reported disconnected for good.

mod common;
mod hub_support;

use hub_support::HubRig;

use readerlink::backend::LocationId;
use readerlink::connection::{ConnectError, ConnectionEvent, ConnectionInput};
use readerlink::reader::{ConnectionStatus, DisconnectReason, Reader};
use readerlink::reconnect::{ReconnectError, ReconnectEvent, ReconnectInput};
use readerlink::session::SessionOutput;
use readerlink::terminal::{ConnectionConfig, TerminalEvent, TerminalInput, TerminalOutput};

const A: &str = "STRM2-0001";

fn reader() -> Reader {
    hub_support::m2(A)
}

fn location() -> LocationId {
    "tml_000001".into()
}

/// A hub with reader A connected.
fn connected() -> HubRig {
    hub_support::connected(A)
}

/// A's connection was lost, the supervisor started reconnecting and its
/// first attempt's link is up (the supervisor has not said so yet).
fn attempt_linked() -> HubRig {
    let mut h = connected();
    lost(&mut h, DisconnectReason::BluetoothSignalLost);
    h.supervisor(
        A,
        ReconnectEvent::Started {
            reason: DisconnectReason::BluetoothSignalLost,
        },
    );
    h.supervisor(A, ReconnectEvent::AttemptDue { attempt: 1 });
    h.reported(
        A,
        ConnectionEvent::Connected {
            reader: reader(),
            location: location(),
            uptime_ms: 0,
        },
    );
    h
}

fn lost(h: &mut HubRig, reason: DisconnectReason) {
    h.reported(
        A,
        ConnectionEvent::StatusChanged {
            status: ConnectionStatus::NotConnected,
        },
    );
    h.reported(A, ConnectionEvent::Disconnected { reason });
}

#[test]
fn a_lost_link_is_handed_over_attempted_again_and_reported_only_by_the_supervisor() {
    let _snapshots = common::snapshots();
    let mut h = connected();
    let from = h.hub.outputs().len();
    lost(&mut h, DisconnectReason::BluetoothSignalLost);
    assert!(
        h.published(from).is_empty(),
        "nothing is told before the supervisor decides"
    );
    assert_eq!(
        h.hub.machine().reader_status(&A.into()),
        ConnectionStatus::Connected
    );
    h.supervisor(
        A,
        ReconnectEvent::Started {
            reason: DisconnectReason::BluetoothSignalLost,
        },
    );
    h.supervisor(A, ReconnectEvent::AttemptDue { attempt: 1 });
    let connects = h
        .session(A)
        .outputs()
        .iter()
        .filter(|(_, o)| matches!(
            o,
            SessionOutput::ToConnection(ConnectionInput::ConnectRequested { location: at, .. }) if *at == location()
        ))
        .count();
    assert_eq!(connects, 2, "the app's connect, then the attempt's");
    h.note("the attempt's connect fails; its status changes are not the reader's");
    h.reported(
        A,
        ConnectionEvent::StatusChanged {
            status: ConnectionStatus::Connecting,
        },
    );
    h.reported(
        A,
        ConnectionEvent::ConnectFailed {
            error: ConnectError::LinkTimedOut { after_ms: 10_000 },
        },
    );
    assert_eq!(
        h.hub.machine().reader_status(&A.into()),
        ConnectionStatus::Reconnecting
    );
    h.supervisor(A, ReconnectEvent::AttemptDue { attempt: 2 });
    h.reported(
        A,
        ConnectionEvent::StatusChanged {
            status: ConnectionStatus::Connected,
        },
    );
    h.reported(
        A,
        ConnectionEvent::Connected {
            reader: reader(),
            location: location(),
            uptime_ms: 0,
        },
    );
    h.supervisor(A, ReconnectEvent::Succeeded);
    let kinds: Vec<String> = h
        .published(from)
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
            // Then the order of a first connect: the reader's status, the
            // overall status, `Connected`.
            "ReaderStatusChanged",
            "ConnectionStatusChanged",
            "Connected",
        ]
    );
    insta::assert_snapshot!("terminal_hub_reconnect_succeeds", h.log());
}

#[test]
fn the_apps_disconnect_during_a_reconnection_cancels_it_and_is_answered_after_disconnected() {
    let _snapshots = common::snapshots();
    let mut h = connected();
    lost(&mut h, DisconnectReason::PoweredOff);
    h.supervisor(
        A,
        ReconnectEvent::Started {
            reason: DisconnectReason::PoweredOff,
        },
    );
    h.supervisor(A, ReconnectEvent::AttemptDue { attempt: 1 });
    let from = h.hub.outputs().len();
    h.input(TerminalInput::DisconnectReaderRequested {
        call: 9,
        serial_number: A.into(),
    });
    assert!(h.session(A).outputs().iter().any(|(_, o)| matches!(
        o,
        SessionOutput::ToSupervisor(ReconnectInput::CancelRequested { .. })
    )));
    h.supervisor(A, ReconnectEvent::AttemptAbandoned);
    h.supervisor(
        A,
        ReconnectEvent::Failed {
            error: ReconnectError::Cancelled,
            reason: DisconnectReason::PoweredOff,
        },
    );
    h.note("the stopped attempt's connect ends; then the call is answered");
    h.reported(
        A,
        ConnectionEvent::ConnectFailed {
            error: ConnectError::Cancelled,
        },
    );
    let outputs: Vec<&TerminalOutput> = h.hub.outputs()[from..].iter().map(|(_, o)| o).collect();
    let disconnected = outputs
        .iter()
        .position(|o| matches!(o, TerminalOutput::Publish(TerminalEvent::Disconnected { .. })))
        .expect("Disconnected");
    let answered = outputs
        .iter()
        .position(|o| matches!(o, TerminalOutput::Reply { call: 9, .. }))
        .expect("the call is answered");
    assert!(disconnected < answered);
    assert!(h.session(A).outputs().iter().any(|(_, o)| matches!(
        o,
        SessionOutput::ToConnection(ConnectionInput::DisconnectRequested)
    )));
    assert_eq!(
        h.hub.machine().reader_status(&A.into()),
        ConnectionStatus::NotConnected
    );
    insta::assert_snapshot!("terminal_hub_disconnect_cancels_reconnect", h.log());
}

#[test]
fn a_connection_actor_failed_past_its_restart_intensity_is_reported_disconnected_for_good() {
    let _snapshots = common::snapshots();
    let mut h = connected();
    let from = h.hub.outputs().len();
    h.reported(
        A,
        ConnectionEvent::MachineFailed {
            panic: "the machine panicked".into(),
            for_good: true,
        },
    );
    let events = h.published(from);
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
    assert!(h.session(A).outputs().iter().any(|(_, o)| matches!(
        o,
        SessionOutput::ToSupervisor(ReconnectInput::ConnectionLost {
            auto_reconnect: false,
            ..
        })
    )));
    assert_eq!(
        h.hub.machine().reader_status(&A.into()),
        ConnectionStatus::NotConnected
    );
    insta::assert_snapshot!("terminal_hub_connection_actor_failed", h.log());
}

#[test]
fn a_reconnected_link_that_drops_before_the_supervisor_says_so_starts_another_reconnection() {
    let mut h = attempt_linked();
    h.note("the link drops again before the supervisor's Succeeded arrives");
    lost(&mut h, DisconnectReason::BluetoothSignalLost);
    let from = h.hub.outputs().len();
    h.supervisor(A, ReconnectEvent::Succeeded);
    h.supervisor(
        A,
        ReconnectEvent::Started {
            reason: DisconnectReason::BluetoothSignalLost,
        },
    );
    let events = h.published(from);
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
        h.hub.machine().reader_status(&A.into()),
        ConnectionStatus::Reconnecting
    );
}

#[test]
fn a_reconnected_link_that_ends_for_good_before_the_supervisor_says_so_is_reported_disconnected() {
    let mut h = attempt_linked();
    lost(&mut h, DisconnectReason::CriticallyLowBattery);
    let from = h.hub.outputs().len();
    h.supervisor(A, ReconnectEvent::Succeeded);
    let events = h.published(from);
    assert!(matches!(events[0], TerminalEvent::ReconnectSucceeded { .. }));
    assert_eq!(
        events.last(),
        Some(&TerminalEvent::Disconnected {
            serial_number: A.into(),
            reason: DisconnectReason::CriticallyLowBattery,
        })
    );
    assert_eq!(
        h.hub.machine().reader_status(&A.into()),
        ConnectionStatus::NotConnected
    );
}

#[test]
fn a_window_that_ends_as_the_attempt_connects_closes_that_link_and_reports_disconnected_once() {
    let mut h = attempt_linked();
    h.note("the window ran out before the supervisor heard of the connect");
    let from = h.hub.outputs().len();
    h.supervisor(A, ReconnectEvent::AttemptAbandoned);
    h.supervisor(
        A,
        ReconnectEvent::Failed {
            error: ReconnectError::ConnectTimedOut {
                window_ms: 60_000,
                attempts: 1,
                last_error: None,
            },
            reason: DisconnectReason::BluetoothSignalLost,
        },
    );
    assert!(h.session(A).outputs().iter().any(|(_, o)| matches!(
        o,
        SessionOutput::ToConnection(ConnectionInput::DisconnectRequested)
    )));
    lost(&mut h, DisconnectReason::DisconnectRequested);
    let disconnects = h
        .published(from)
        .into_iter()
        .filter(|e| matches!(e, TerminalEvent::Disconnected { .. }))
        .count();
    assert_eq!(disconnects, 1);
    assert_eq!(
        h.hub.machine().reader_status(&A.into()),
        ConnectionStatus::NotConnected
    );
    h.note("the app can connect it again");
    h.input(TerminalInput::ConnectReaderRequested {
        call: 2,
        reader: reader(),
        config: ConnectionConfig::new("tml_000001"),
    });
    assert!(matches!(
        h.session(A).outputs().last(),
        Some((
            _,
            SessionOutput::ToConnection(ConnectionInput::ConnectRequested { .. })
        ))
    ));
}

#[test]
fn a_supervisor_that_fails_between_attempts_ends_its_reconnection_as_failed() {
    let mut h = connected();
    lost(&mut h, DisconnectReason::PoweredOff);
    h.supervisor(
        A,
        ReconnectEvent::Started {
            reason: DisconnectReason::PoweredOff,
        },
    );
    let from = h.hub.outputs().len();
    h.supervisor(A, ReconnectEvent::MachineRestarted { panic: "boom".into() });
    let events = h.published(from);
    assert!(matches!(
        &events[0],
        TerminalEvent::ReconnectFailed {
            error: ReconnectError::SupervisorFailed { .. },
            ..
        }
    ));
    assert_eq!(
        events.last(),
        Some(&TerminalEvent::Disconnected {
            serial_number: A.into(),
            reason: DisconnectReason::PoweredOff,
        }),
        "with the reason the connection first ended"
    );
    assert_eq!(
        h.hub.machine().reader_status(&A.into()),
        ConnectionStatus::NotConnected
    );
}

#[test]
fn a_supervisor_that_fails_mid_attempt_stops_the_attempt_and_answers_the_apps_disconnect_once_it_ended() {
    let mut h = connected();
    lost(&mut h, DisconnectReason::BluetoothSignalLost);
    h.supervisor(
        A,
        ReconnectEvent::Started {
            reason: DisconnectReason::BluetoothSignalLost,
        },
    );
    h.supervisor(A, ReconnectEvent::AttemptDue { attempt: 1 });
    h.input(TerminalInput::DisconnectReaderRequested {
        call: 9,
        serial_number: A.into(),
    });
    let from = h.hub.outputs().len();
    let session_from = h.session(A).outputs().len();
    h.supervisor(A, ReconnectEvent::MachineRestarted { panic: "boom".into() });
    assert!(
        h.session(A).outputs()[session_from..]
            .iter()
            .any(|(_, o)| matches!(
                o,
                SessionOutput::ToConnection(ConnectionInput::DisconnectRequested)
            )),
        "the attempt is stopped"
    );
    assert_eq!(h.session(A).state(), "closing_abandoned_attempt");
    assert!(
        !h.hub.outputs()[from..]
            .iter()
            .any(|(_, o)| matches!(o, TerminalOutput::Reply { call: 9, .. })),
        "the call waits for the attempt's end"
    );
    h.reported(
        A,
        ConnectionEvent::ConnectFailed {
            error: ConnectError::Cancelled,
        },
    );
    assert!(h.hub.outputs()[from..].iter().any(|(_, o)| matches!(
        o,
        TerminalOutput::Reply {
            call: 9,
            result: Ok(_)
        }
    )));
    assert_eq!(h.session(A).state(), "not_connected");
}
