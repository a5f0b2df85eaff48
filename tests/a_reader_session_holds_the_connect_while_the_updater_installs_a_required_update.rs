//! A reader session on Harnesses (with the hub), its children played by the
//! test, the updater among them: a connect that linked and registered the
//! reader waits for the updater (R13) with the status `Connecting`; the
//! updater's failure fails the connect once the link is closed (R15, R16),
//! also for a reconnect attempt; the install's traffic goes to the reader
//! and back; no reboot runs while an install writes the reader's image.

mod hub_support;

use hub_support::{HubRig, answer, attempting, connected, linked, m2};
use readerlink::connection::{CommandError, ConnectionEvent, ConnectionInput};
use readerlink::protocol::messages::ErrorCode;
use readerlink::reader::{ConnectionStatus, DisconnectReason};
use readerlink::reboot::RebootInput;
use readerlink::reconnect::ReconnectInput;
use readerlink::session::{SessionInput, SessionOutput};
use readerlink::terminal::{TerminalError, TerminalEvent, TerminalInput};
use readerlink::updater::{
    ReaderSoftwareUpdate, Sha256Digest, TransferCommand, UpdateComponent, UpdateError, UpdaterInput,
};

const A: &str = "STRM2-0001";

fn sent(h: &HubRig, from: usize) -> Vec<SessionOutput> {
    h.session(A).outputs()[from..]
        .iter()
        .map(|(_, o)| o.clone())
        .collect()
}

fn update(components: Vec<UpdateComponent>) -> ReaderSoftwareUpdate {
    ReaderSoftwareUpdate::new("9.0.0", components, 0, 4096, Sha256Digest::of(b"image"))
}

fn statuses(events: &[TerminalEvent]) -> Vec<ConnectionStatus> {
    events
        .iter()
        .filter_map(|e| match e {
            TerminalEvent::ConnectionStatusChanged { status } => Some(*status),
            _ => None,
        })
        .collect()
}

#[test]
fn a_required_install_runs_inside_the_connect_with_the_status_connecting_throughout() {
    let mut h = linked(A, false);
    assert_eq!(h.session(A).state(), "checking_updates");
    assert!(
        h.session(A).outputs().iter().any(|(_, o)| matches!(
            o,
            SessionOutput::ToUpdater(UpdaterInput::ReaderConnected(r)) if r.location.as_str() == "tml_000001"
        )),
        "the updater is told of the connect, with the location"
    );
    assert_eq!(answer(&h, 1), None, "the connect is not answered yet");
    let events = h.published(0);
    assert_eq!(statuses(&events), vec![ConnectionStatus::Connecting]);

    let from_hub = h.hub.outputs().len();
    let update = update(vec![UpdateComponent::Firmware]);
    h.deliver(
        A,
        SessionInput::UpdateInstallStarted {
            update: update.clone(),
            cancelable: true,
        },
    );
    let from = h.session(A).outputs().len();
    h.deliver(
        A,
        SessionInput::UpdateTransfer {
            command: TransferCommand::Commit,
        },
    );
    assert_eq!(
        sent(&h, from),
        vec![SessionOutput::ToConnection(
            ConnectionInput::UpdateCommitRequested
        )]
    );
    h.reported(A, ConnectionEvent::UpdateCommitAcked);
    assert!(sent(&h, from).contains(&SessionOutput::ToUpdater(UpdaterInput::CommitAcked)));
    h.deliver(A, SessionInput::UpdateInstallProgress { progress: 1.0 });
    h.deliver(
        A,
        SessionInput::UpdateInstallFinished {
            update: Some(update.clone()),
            error: None,
        },
    );
    assert_eq!(answer(&h, 1), None);
    h.deliver(A, SessionInput::UpdateConnectMayProceed);
    assert_eq!(h.session(A).state(), "ready");
    assert_eq!(answer(&h, 1).as_deref(), Some("ok"));

    let events = h.published(from_hub);
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            TerminalEvent::UpdateInstallStarted { cancelable, .. } => {
                assert!(cancelable.is_some(), "a firmware install can be cancelled");
                "started"
            }
            TerminalEvent::UpdateInstallProgress { .. } => "progress",
            TerminalEvent::UpdateInstallFinished { error: None, .. } => "finished",
            TerminalEvent::ConnectionStatusChanged {
                status: ConnectionStatus::Connected,
            } => "status connected",
            TerminalEvent::Connected { reader, .. } => {
                assert_eq!(
                    reader.software_version.as_deref(),
                    Some("9.0.0"),
                    "runs the new version"
                );
                "connected"
            }
            _ => "other",
        })
        .filter(|k| *k != "other")
        .collect();
    assert_eq!(
        kinds,
        ["started", "progress", "finished", "status connected", "connected"]
    );
}

#[test]
fn an_install_the_updater_fails_closes_the_link_and_then_fails_the_connect_with_its_error() {
    let mut h = linked(A, false);
    let from = h.session(A).outputs().len();
    h.deliver(
        A,
        SessionInput::UpdateConnectMustFail {
            error: UpdateError::UnsupportedReaderVersion,
        },
    );
    assert_eq!(h.session(A).state(), "failing_connect");
    assert_eq!(
        sent(&h, from),
        vec![SessionOutput::ToConnection(ConnectionInput::DisconnectRequested)]
    );
    assert_eq!(answer(&h, 1), None, "answered once the link is closed");
    h.status(A, ConnectionStatus::NotConnected);
    h.reported(
        A,
        ConnectionEvent::Disconnected {
            reason: DisconnectReason::DisconnectRequested,
        },
    );
    assert_eq!(h.session(A).state(), "not_connected");
    assert_eq!(answer(&h, 1).as_deref(), Some("unsupported_reader_version"));
    assert!(
        sent(&h, from).contains(&SessionOutput::ToUpdater(UpdaterInput::ReaderDisconnected)),
        "the updater hears the reader is gone"
    );
    let events = h.published(0);
    assert!(
        !statuses(&events).contains(&ConnectionStatus::Connected),
        "never Connected: {events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, TerminalEvent::Disconnected { .. })),
        "a failed connect is not a disconnect"
    );
}

#[test]
fn the_link_lost_while_the_updater_checks_fails_the_connect_as_a_lost_link() {
    let mut h = linked(A, false);
    h.status(A, ConnectionStatus::NotConnected);
    h.reported(
        A,
        ConnectionEvent::Disconnected {
            reason: DisconnectReason::BluetoothSignalLost,
        },
    );
    assert_eq!(h.session(A).state(), "not_connected");
    assert_eq!(answer(&h, 1).as_deref(), Some("link_lost_while_connecting"));
}

#[test]
fn a_reconnect_attempt_whose_required_install_fails_is_a_failed_attempt_once_its_link_closed() {
    let mut h = attempting(A);
    h.updater_lets_connects_proceed = false;
    h.reported(
        A,
        ConnectionEvent::Connected {
            reader: m2(A),
            location: "tml_000001".into(),
            uptime_ms: 0,
        },
    );
    let from = h.session(A).outputs().len();
    assert!(
        !h.session(A)
            .outputs()
            .iter()
            .rev()
            .take(4)
            .any(|(_, o)| *o == SessionOutput::ToSupervisor(ReconnectInput::ReaderConnected)),
        "the supervisor hears of the attempt's connect only once the updater let it proceed"
    );
    h.deliver(
        A,
        SessionInput::UpdateConnectMustFail {
            error: UpdateError::BatteryTooLow,
        },
    );
    assert_eq!(
        sent(&h, from),
        vec![SessionOutput::ToConnection(ConnectionInput::DisconnectRequested)]
    );
    h.reported(
        A,
        ConnectionEvent::Disconnected {
            reason: DisconnectReason::DisconnectRequested,
        },
    );
    assert_eq!(h.session(A).state(), "between_attempts");
    assert!(sent(&h, from).iter().any(|o| matches!(
        o,
        SessionOutput::ToSupervisor(ReconnectInput::AttemptFailed { error }) if error.code() == "battery_too_low"
    )));
}

#[test]
fn no_reboot_runs_while_an_install_writes_the_readers_image() {
    let mut h = connected(A);
    h.deliver(
        A,
        SessionInput::UpdateInstallStarted {
            update: update(vec![UpdateComponent::Incremental]),
            cancelable: false,
        },
    );
    h.input(TerminalInput::RebootReaderRequested {
        call: 7,
        serial_number: A.into(),
    });
    assert_eq!(answer(&h, 7).as_deref(), Some("reader_busy"));
    let from = h.session(A).outputs().len();
    h.deliver(A, SessionInput::RebootDue);
    assert_eq!(
        sent(&h, from),
        vec![SessionOutput::ToRebootTimer(RebootInput::RebootFailed)],
        "the timer tries again later"
    );
    h.deliver(
        A,
        SessionInput::UpdateInstallFinished {
            update: Some(update(vec![UpdateComponent::Incremental])),
            error: None,
        },
    );
    h.input(TerminalInput::RebootReaderRequested {
        call: 8,
        serial_number: A.into(),
    });
    assert_eq!(h.session(A).state(), "rebooting");
}

#[test]
fn a_refused_update_command_reaches_the_updater_as_the_installs_error() {
    let mut h = connected(A);
    let from = h.session(A).outputs().len();
    for (error, expected) in [
        (
            CommandError::Refused {
                code: ErrorCode::BatteryTooLow,
            },
            UpdateError::BatteryTooLow,
        ),
        (
            CommandError::TimedOut { after_ms: 5_000 },
            UpdateError::TransferTimedOut,
        ),
        (
            CommandError::TransactionInProgress,
            UpdateError::TransactionInProgress,
        ),
    ] {
        h.reported(A, ConnectionEvent::UpdateCommandFailed { error });
        assert!(
            sent(&h, from).contains(&SessionOutput::ToUpdater(UpdaterInput::TransferFailed {
                error: expected
            })),
            "{expected:?}"
        );
    }
}

#[test]
fn install_available_update_asks_the_updater_and_is_refused_for_a_reader_not_connected() {
    let mut h = connected(A);
    let from = h.session(A).outputs().len();
    h.input(TerminalInput::InstallUpdateRequested {
        call: 9,
        serial_number: A.into(),
    });
    assert_eq!(answer(&h, 9).as_deref(), Some("ok"));
    assert!(sent(&h, from).contains(&SessionOutput::ToUpdater(UpdaterInput::InstallRequested)));

    let mut h = linked(A, false);
    h.input(TerminalInput::InstallUpdateRequested {
        call: 9,
        serial_number: A.into(),
    });
    assert_eq!(answer(&h, 9).as_deref(), Some("not_connected"));
    let mut h = HubRig::new();
    h.input(TerminalInput::InstallUpdateRequested {
        call: 9,
        serial_number: A.into(),
    });
    assert!(matches!(
        h.hub.outputs().last().map(|(_, o)| o),
        Some(readerlink::terminal::TerminalOutput::Reply {
            result: Err(TerminalError::NotConnected { .. } | TerminalError::UnknownReader { .. }),
            ..
        })
    ));
}

#[test]
fn a_connection_machine_failing_while_a_failed_update_closes_the_link_still_answers_with_the_updates_error() {
    let mut h = linked(A, false);
    h.deliver(
        A,
        SessionInput::UpdateConnectMustFail {
            error: UpdateError::InstallFailed,
        },
    );
    h.reported(
        A,
        ConnectionEvent::MachineFailed {
            panic: "boom".into(),
            for_good: false,
        },
    );
    assert_eq!(h.session(A).state(), "not_connected");
    assert_eq!(answer(&h, 1).as_deref(), Some("install_failed"));
}
