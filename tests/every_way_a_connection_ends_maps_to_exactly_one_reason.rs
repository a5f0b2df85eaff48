//! R8: every way a connection ends is reported with exactly one
//! `DisconnectReason` — the reader's own announcement when it sends one
//! (and says nothing after it), else what the app (or the 24-hour rule,
//! R12) asked for, else the link's loss cause; the app's own disconnect is
//! always reported as requested. Machine level.

mod common;
mod connection_support;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use connection_support::connected;
use readerlink::connection::{Connection, ConnectionEvent, ConnectionInput, ConnectionOutput};
use readerlink::protocol::{Command, ReaderMessage, RebootKind};
use readerlink::reader::DisconnectReason;
use readerlink::runtime::Harness;
use readerlink::transport::LinkLossCause;

/// The reasons reported by the scenario, in order.
fn disconnects(h: &Harness<Connection>) -> Vec<DisconnectReason> {
    h.outputs()
        .iter()
        .filter_map(|(_, o)| match o {
            ConnectionOutput::Report(ConnectionEvent::Disconnected { reason }) => Some(*reason),
            _ => None,
        })
        .collect()
}

fn announced_then_closed(reason: DisconnectReason) -> Harness<Connection> {
    let mut h = connected();
    let session = h.machine().session();
    h.input(ConnectionInput::FrameReceived {
        session,
        message: ReaderMessage::Disconnecting { reason },
    });
    h.input(ConnectionInput::LinkLost {
        session,
        cause: LinkLossCause::RemoteClosed,
    });
    h
}

fn lost(cause: LinkLossCause) -> Harness<Connection> {
    let mut h = connected();
    let session = h.machine().session();
    h.input(ConnectionInput::LinkLost { session, cause });
    h
}

fn app_disconnect(link_goes_down: bool) -> Harness<Connection> {
    app_disconnects(connected(), link_goes_down)
}

/// The app disconnects `h`; the link goes down at once, or the reader is
/// given time to close it.
fn app_disconnects(mut h: Harness<Connection>, link_goes_down: bool) -> Harness<Connection> {
    let session = h.machine().session();
    h.input(ConnectionInput::DisconnectRequested);
    if link_goes_down {
        h.input(ConnectionInput::LinkLost {
            session,
            cause: LinkLossCause::LocalClosed,
        });
    } else {
        h.advance(Duration::from_secs(5));
    }
    h
}

/// A reboot asked by the app (`RebootRequested`) or for the 24-hour rule
/// (`SecurityRebootRequested`).
fn reboot(kind: RebootKind, reader_announces: bool) -> Harness<Connection> {
    let mut h = connected();
    let session = h.machine().session();
    h.input(match kind {
        RebootKind::Requested => ConnectionInput::RebootRequested,
        RebootKind::Security => ConnectionInput::SecurityRebootRequested,
    });
    let reboot = h
        .outputs()
        .iter()
        .find_map(|(_, o)| match o {
            ConnectionOutput::Send { request, .. } if request.command == Command::Reboot { kind } => {
                Some(request.request_id)
            }
            _ => None,
        })
        .expect("the reboot was sent, with its kind");
    h.input(ConnectionInput::FrameReceived {
        session,
        message: ReaderMessage::Ack { request_id: reboot },
    });
    if reader_announces {
        h.input(ConnectionInput::FrameReceived {
            session,
            message: ReaderMessage::Disconnecting {
                reason: kind.disconnect_reason(),
            },
        });
    }
    h.input(ConnectionInput::LinkLost {
        session,
        cause: LinkLossCause::RemoteClosed,
    });
    h
}

#[test]
fn every_way_a_connection_ends_reports_exactly_one_reason() {
    let _snapshots = common::snapshots();
    let mut scenarios: Vec<(String, Harness<Connection>)> = DisconnectReason::ALL
        .iter()
        .map(|&reason| {
            (
                format!("reader announces {reason:?}, closes"),
                announced_then_closed(reason),
            )
        })
        .collect();
    scenarios.extend([
        (
            "signal lost, no announcement".to_owned(),
            lost(LinkLossCause::SignalLost),
        ),
        (
            "host adapter powered off, no announcement".to_owned(),
            lost(LinkLossCause::AdapterPoweredOff),
        ),
        (
            "reader closes without announcement".to_owned(),
            lost(LinkLossCause::RemoteClosed),
        ),
        ("app disconnects, link goes down".to_owned(), app_disconnect(true)),
        (
            "app disconnects, link never says".to_owned(),
            app_disconnect(false),
        ),
        (
            "app reboots, reader announces".to_owned(),
            reboot(RebootKind::Requested, true),
        ),
        (
            "app reboots, reader just drops".to_owned(),
            reboot(RebootKind::Requested, false),
        ),
        (
            "24-hour security reboot, reader announces".to_owned(),
            reboot(RebootKind::Security, true),
        ),
        (
            "24-hour security reboot, reader just drops".to_owned(),
            reboot(RebootKind::Security, false),
        ),
    ]);

    let mut table = String::new();
    let mut reported = BTreeSet::new();
    for (scenario, h) in &scenarios {
        let reasons = disconnects(h);
        assert_eq!(
            reasons.len(),
            1,
            "{scenario}: exactly one reason, got {reasons:?}"
        );
        assert_eq!(h.state(), "disconnected", "{scenario}");
        reported.insert(format!("{:?}", reasons[0]));
        let _ = writeln!(
            table,
            "{scenario:<54} -> Disconnected {{ reason: {:?} }}",
            reasons[0]
        );
    }
    for reason in DisconnectReason::ALL {
        assert!(
            reported.contains(&format!("{reason:?}")),
            "{reason:?} is reported by some scenario"
        );
    }
    insta::assert_snapshot!("connection_disconnect_reasons", table);
}

#[test]
fn a_reboot_refused_by_the_reader_keeps_the_connection() {
    let mut h = connected();
    let session = h.machine().session();
    h.input(ConnectionInput::RebootRequested);
    h.input(ConnectionInput::RebootRequested);
    h.input(ConnectionInput::FrameReceived {
        session,
        message: ReaderMessage::Error {
            request_id: 1,
            code: readerlink::protocol::ErrorCode::Busy,
        },
    });
    assert_eq!(h.state(), "idle");
    h.input(ConnectionInput::LinkLost {
        session,
        cause: LinkLossCause::SignalLost,
    });
    assert_eq!(disconnects(&h), [DisconnectReason::BluetoothSignalLost]);
}

#[test]
fn an_announcement_the_reader_talked_past_names_no_later_end_and_an_app_disconnect_is_always_requested() {
    // The reader announced it was going, then went on talking: when the
    // signal is lost later, the reason is the loss, not the stale
    // announcement (which, for a low battery, would stop reconnection).
    let mut h = connected();
    let session = h.machine().session();
    for message in [
        ReaderMessage::Disconnecting {
            reason: DisconnectReason::CriticallyLowBattery,
        },
        ReaderMessage::CardInserted,
    ] {
        h.input(ConnectionInput::FrameReceived { session, message });
    }
    h.input(ConnectionInput::LinkLost {
        session,
        cause: LinkLossCause::SignalLost,
    });
    assert_eq!(disconnects(&h), [DisconnectReason::BluetoothSignalLost]);

    // An announcement still standing when the app disconnects: the end is
    // the app's (R8: only it ends a connection for good), not an unexpected
    // one that would be reconnected.
    for link_goes_down in [true, false] {
        let mut h = connected();
        let session = h.machine().session();
        h.input(ConnectionInput::FrameReceived {
            session,
            message: ReaderMessage::Disconnecting {
                reason: DisconnectReason::Unknown,
            },
        });
        let h = app_disconnects(h, link_goes_down);
        assert_eq!(
            disconnects(&h),
            [DisconnectReason::DisconnectRequested],
            "link goes down: {link_goes_down}"
        );
    }
}
