//! A reader session on Harnesses (with the hub), its children played by the
//! test: a transaction the reader would not start or end (R20), a reboot it
//! refused (R12), and the edges of a reconnection — the app's disconnect
//! crossing the supervisor's success, a connection actor failing mid-attempt.

mod hub_support;

use hub_support::{HubRig, answer, attempting, connected, m2};
use readerlink::connection::{CommandError, ConnectionEvent, ConnectionInput};
use readerlink::reader::{ConnectionStatus, DeviceType, DisconnectReason};
use readerlink::reboot::{RebootInput, RebootOutput};
use readerlink::reconnect::{ReconnectEvent, ReconnectInput};
use readerlink::session::{SessionInput, SessionOutput};
use readerlink::terminal::TerminalInput;

const A: &str = "STRM2-0001";

/// What the session asked its shell for since its output `from`.
fn sent(h: &HubRig, from: usize) -> Vec<SessionOutput> {
    h.session(A).outputs()[from..]
        .iter()
        .map(|(_, o)| o.clone())
        .collect()
}

/// Starts a transaction as call `call`; the reader starts it.
fn start_transaction(h: &mut HubRig, call: u64) {
    h.input(TerminalInput::TransactionStartRequested {
        call,
        serial_number: A.into(),
    });
    h.reported(A, ConnectionEvent::TransactionStarted);
    assert_eq!(answer(h, call).as_deref(), Some("ok"));
}

#[test]
fn a_transaction_the_reader_would_not_start_is_refused_and_the_reader_is_ready_again() {
    let mut h = connected(A);
    let from = h.session(A).outputs().len();
    h.input(TerminalInput::TransactionStartRequested {
        call: 5,
        serial_number: A.into(),
    });
    assert_eq!(h.session(A).state(), "in_transaction");
    let asked = sent(&h, from);
    let timer = asked
        .iter()
        .position(|o| *o == SessionOutput::ToRebootTimer(RebootInput::TransactionStarted));
    let reader = asked
        .iter()
        .position(|o| *o == SessionOutput::ToConnection(ConnectionInput::TransactionStartRequested));
    assert!(
        timer < reader && timer.is_some(),
        "the timer hears before the reader is asked"
    );
    h.reported(
        A,
        ConnectionEvent::TransactionStartFailed {
            error: CommandError::Busy,
        },
    );
    assert_eq!(answer(&h, 5).as_deref(), Some("reader_busy"));
    assert_eq!(h.session(A).state(), "ready");
    assert!(sent(&h, from).contains(&SessionOutput::ToRebootTimer(RebootInput::TransactionEnded)));
}

#[test]
fn a_transaction_end_the_reader_refused_still_ends_it_for_the_reboot_timer() {
    let mut h = connected(A);
    start_transaction(&mut h, 5);
    h.note("the app's reboot is refused during the transaction (R20)");
    h.input(TerminalInput::RebootReaderRequested {
        call: 6,
        serial_number: A.into(),
    });
    assert_eq!(answer(&h, 6).as_deref(), Some("transaction_in_progress"));
    let from = h.session(A).outputs().len();
    h.input(TerminalInput::TransactionEndRequested {
        call: 7,
        serial_number: A.into(),
        transaction: 5,
    });
    h.reported(
        A,
        ConnectionEvent::TransactionEndFailed {
            error: CommandError::TimedOut { after_ms: 5_000 },
        },
    );
    assert_eq!(answer(&h, 7).as_deref(), Some("command_timed_out"));
    assert_eq!(h.session(A).state(), "ready");
    assert!(sent(&h, from).contains(&SessionOutput::ToRebootTimer(RebootInput::TransactionEnded)));
}

#[test]
fn a_reboot_the_reader_refused_answers_the_app_or_has_the_timer_try_again() {
    let mut h = connected(A);
    h.input(TerminalInput::RebootReaderRequested {
        call: 5,
        serial_number: A.into(),
    });
    assert_eq!(h.session(A).state(), "rebooting");
    h.reported(
        A,
        ConnectionEvent::RebootFailed {
            error: CommandError::TimedOut { after_ms: 5_000 },
        },
    );
    assert_eq!(answer(&h, 5).as_deref(), Some("command_timed_out"));
    assert_eq!(h.session(A).state(), "ready");

    h.note("the 24-hour timer's reboot, refused: the timer tries again");
    let from = h.session(A).outputs().len();
    h.deliver(A, SessionInput::from(RebootOutput::RebootReader));
    assert!(sent(&h, from).contains(&SessionOutput::ToConnection(
        ConnectionInput::SecurityRebootRequested
    )));
    h.reported(
        A,
        ConnectionEvent::RebootFailed {
            error: CommandError::TransactionInProgress,
        },
    );
    assert_eq!(h.session(A).state(), "ready");
    assert!(sent(&h, from).contains(&SessionOutput::ToRebootTimer(RebootInput::RebootFailed)));
}

#[test]
fn the_apps_disconnect_crossing_the_supervisors_success_disconnects_the_reconnected_reader() {
    let mut h = attempting(A);
    h.reported(
        A,
        ConnectionEvent::Connected {
            reader: m2(A),
            location: "tml_000001".into(),
            uptime_ms: 3_000,
        },
    );
    h.input(TerminalInput::DisconnectReaderRequested {
        call: 9,
        serial_number: A.into(),
    });
    assert!(h.session(A).outputs().iter().any(|(_, o)| matches!(
        o,
        SessionOutput::ToSupervisor(ReconnectInput::CancelRequested { .. })
    )));
    let from = h.session(A).outputs().len();
    h.note("the supervisor's success was on its way before the cancel arrived");
    h.supervisor(A, ReconnectEvent::Succeeded);
    assert_eq!(h.session(A).state(), "disconnecting");
    assert!(sent(&h, from).contains(&SessionOutput::ToConnection(ConnectionInput::DisconnectRequested)));
    assert!(
        sent(&h, from).contains(&SessionOutput::ToRebootTimer(RebootInput::ReaderConnected {
            device_type: DeviceType::StripeM2,
            uptime_ms: 3_000,
        })),
        "the timer counts from the uptime the attempt's connect reported"
    );
    assert_eq!(answer(&h, 9), None, "answered once the link is down");
    h.status(A, ConnectionStatus::NotConnected);
    h.reported(
        A,
        ConnectionEvent::Disconnected {
            reason: DisconnectReason::DisconnectRequested,
        },
    );
    assert_eq!(answer(&h, 9).as_deref(), Some("ok"));
    assert_eq!(h.session(A).state(), "not_connected");
}

#[test]
fn a_connection_machine_failing_before_an_attempt_linked_fails_that_attempt() {
    let mut h = attempting(A);
    let from = h.session(A).outputs().len();
    h.reported(
        A,
        ConnectionEvent::MachineFailed {
            panic: "boom".into(),
            for_good: false,
        },
    );
    assert_eq!(h.session(A).state(), "between_attempts");
    assert!(sent(&h, from).iter().any(|o| matches!(
        o,
        SessionOutput::ToSupervisor(ReconnectInput::AttemptFailed { error }) if error.code() == "connection_machine_failed"
    )));
}

#[test]
fn a_connection_machine_failing_after_an_attempt_linked_is_a_lost_link_for_the_supervisor() {
    let mut h = attempting(A);
    h.reported(
        A,
        ConnectionEvent::Connected {
            reader: m2(A),
            location: "tml_000001".into(),
            uptime_ms: 3_000,
        },
    );
    let from = h.session(A).outputs().len();
    h.reported(
        A,
        ConnectionEvent::MachineFailed {
            panic: "boom".into(),
            for_good: true,
        },
    );
    assert_eq!(h.session(A).state(), "between_attempts");
    assert!(
        sent(&h, from).contains(&SessionOutput::ToSupervisor(ReconnectInput::ConnectionLost {
            reason: DisconnectReason::Unknown,
            auto_reconnect: false,
        }))
    );
}

#[test]
fn a_restarted_connection_machine_loses_a_connected_reader_for_an_unknown_reason_which_reconnects() {
    let mut h = connected(A);
    let from = h.session(A).outputs().len();
    h.reported(
        A,
        ConnectionEvent::MachineFailed {
            panic: "boom".into(),
            for_good: false,
        },
    );
    assert_eq!(h.session(A).state(), "between_attempts");
    assert!(
        sent(&h, from).contains(&SessionOutput::ToSupervisor(ReconnectInput::ConnectionLost {
            reason: DisconnectReason::Unknown,
            auto_reconnect: true,
        }))
    );
}

#[test]
fn a_connect_lost_with_its_machine_fails_the_apps_call() {
    let mut h = HubRig::new();
    h.input(TerminalInput::ReadersDiscovered { readers: vec![m2(A)] });
    h.input(TerminalInput::ConnectReaderRequested {
        call: 1,
        reader: m2(A),
        config: readerlink::terminal::ConnectionConfig::new("tml_000001"),
    });
    h.status(A, ConnectionStatus::Connecting);
    h.reported(
        A,
        ConnectionEvent::MachineFailed {
            panic: "boom".into(),
            for_good: false,
        },
    );
    assert_eq!(answer(&h, 1).as_deref(), Some("connection_machine_failed"));
    assert_eq!(h.session(A).state(), "not_connected");
    assert_eq!(
        h.hub.machine().reader_status(&A.into()),
        ConnectionStatus::NotConnected
    );
}

#[test]
fn an_abandoned_attempt_lost_with_its_machine_ends_the_wait_for_it() {
    let mut h = attempting(A);
    h.input(TerminalInput::DisconnectReaderRequested {
        call: 9,
        serial_number: A.into(),
    });
    h.supervisor(A, ReconnectEvent::AttemptAbandoned);
    h.supervisor(
        A,
        ReconnectEvent::Failed {
            error: readerlink::reconnect::ReconnectError::Cancelled,
            reason: DisconnectReason::BluetoothSignalLost,
        },
    );
    assert_eq!(h.session(A).state(), "closing_abandoned_attempt");
    assert_eq!(answer(&h, 9), None);
    h.reported(
        A,
        ConnectionEvent::MachineFailed {
            panic: "boom".into(),
            for_good: false,
        },
    );
    assert_eq!(h.session(A).state(), "not_connected");
    assert_eq!(answer(&h, 9).as_deref(), Some("ok"));
}

#[test]
fn the_end_of_an_earlier_transaction_leaves_the_running_one_alone() {
    let mut h = connected(A);
    start_transaction(&mut h, 5);
    let from = h.session(A).outputs().len();
    h.note("a handle of transaction 3 (ended with an earlier connection) is dropped");
    h.input(TerminalInput::TransactionEndRequested {
        call: 6,
        serial_number: A.into(),
        transaction: 3,
    });
    assert_eq!(answer(&h, 6).as_deref(), Some("ok"), "that one ended already");
    assert_eq!(h.session(A).state(), "in_transaction");
    assert!(
        !sent(&h, from).contains(&SessionOutput::ToConnection(
            ConnectionInput::TransactionEndRequested
        )),
        "the reader is not told to end the running transaction"
    );
    h.input(TerminalInput::RebootReaderRequested {
        call: 7,
        serial_number: A.into(),
    });
    assert_eq!(answer(&h, 7).as_deref(), Some("transaction_in_progress"));
}
