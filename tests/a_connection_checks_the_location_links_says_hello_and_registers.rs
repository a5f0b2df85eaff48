//! The connection machine's connect (R6), on a Harness: no actors, virtual
//! time, the test playing the shell. Each scenario's transition log is a
//! snapshot.

mod common;
mod connection_support;

use std::time::Duration;

use connection_support::*;
use readerlink::backend::BackendError;
use readerlink::connection::{
    BackendCall, ConnectError, Connection, ConnectionEvent, ConnectionInput, ConnectionOutput,
};
use readerlink::protocol::ReaderMessage;
use readerlink::reader::{ConnectionStatus, DisconnectReason};
use readerlink::runtime::Harness;
use readerlink::transport::LinkLossCause;

fn reports(h: &Harness<Connection>) -> Vec<ConnectionEvent> {
    h.outputs()
        .iter()
        .filter_map(|(_, o)| match o {
            ConnectionOutput::Report(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn down(call: &str) -> BackendError {
    BackendError::ConnectionFailed {
        route: call.into(),
        attempts: 1,
        reason: "the backend is down".into(),
    }
}

#[test]
fn a_clean_connect_goes_connecting_then_connected_and_relays_reader_reports() {
    let _snapshots = common::snapshots();
    let mut h = connected();
    let session = h.machine().session();
    h.note("connected: the reader reports (R18a)");
    h.advance(Duration::from_secs(600));
    for message in [
        ReaderMessage::BatteryReport {
            battery: battery(0.19),
        },
        ReaderMessage::LowBatteryWarning {
            battery: battery(0.19),
        },
        ReaderMessage::CardInserted,
        ReaderMessage::CardRemoved,
    ] {
        h.input(ConnectionInput::FrameReceived { session, message });
    }
    h.note("an hour without commands: the reader sleeps, the connection stays (R7)");
    h.advance(Duration::from_secs(3600));
    assert_eq!(h.state(), "idle");
    assert!(
        h.armed_timers().is_empty(),
        "no idle timer: {:?}",
        h.armed_timers()
    );
    let reports = reports(&h);
    assert_eq!(
        reports[..2],
        [
            ConnectionEvent::StatusChanged {
                status: ConnectionStatus::Connecting
            },
            ConnectionEvent::StatusChanged {
                status: ConnectionStatus::Connected
            },
        ]
    );
    match &reports[2] {
        ConnectionEvent::Connected {
            reader,
            location,
            uptime_ms,
        } => {
            assert_eq!(reader.software_version.as_deref(), Some("2.1.0"));
            assert_eq!(location, LOCATION);
            assert_eq!(*uptime_ms, 3_600_000, "the uptime hello reported (R12)");
        }
        other => panic!("expected Connected, got {other:?}"),
    }
    assert_eq!(reports.len(), 7);
    insta::assert_snapshot!("connection_clean_connect", h.log());
}

#[test]
fn an_unknown_location_fails_before_any_link_or_status_change() {
    let _snapshots = common::snapshots();
    let mut h = Harness::new(Connection::new());
    h.input(ConnectionInput::ConnectRequested {
        reader: reader(),
        location: "tml_nowhere".into(),
    });
    h.input(ConnectionInput::BackendCallFailed {
        session: 1,
        call: BackendCall::GetLocation,
        error: BackendError::NotFound {
            resource: "location".into(),
            id: "tml_nowhere".into(),
            param: None,
        },
    });
    assert_eq!(h.state(), "disconnected");
    assert_eq!(
        reports(&h),
        [ConnectionEvent::ConnectFailed {
            error: ConnectError::LocationNotFound {
                location: "tml_nowhere".into()
            }
        }]
    );
    assert!(
        !h.outputs().iter().any(|(_, o)| matches!(
            o,
            ConnectionOutput::OpenLink { .. } | ConnectionOutput::RegisterReader { .. }
        )),
        "nothing linked or registered"
    );
    insta::assert_snapshot!("connection_unknown_location", h.log());
}

#[test]
fn a_backend_down_then_up_is_retried_with_backoff_until_the_connect_succeeds() {
    let _snapshots = common::snapshots();
    let mut h = Harness::new(Connection::new());
    h.input(ConnectionInput::ConnectRequested {
        reader: reader(),
        location: LOCATION.into(),
    });
    h.note("the backend is down");
    h.input(ConnectionInput::BackendCallFailed {
        session: 1,
        call: BackendCall::GetLocation,
        error: down("get_location"),
    });
    h.advance(Duration::from_secs(1));
    h.input(ConnectionInput::BackendCallFailed {
        session: 1,
        call: BackendCall::GetLocation,
        error: down("get_location"),
    });
    h.advance(Duration::from_secs(2));
    h.note("the backend is up again");
    h.input(ConnectionInput::LocationFound {
        session: 1,
        location: location(),
    });
    h.input(ConnectionInput::LinkEstablished {
        session: 1,
        att_payload: 244,
    });
    h.input(ConnectionInput::FrameReceived {
        session: 1,
        message: hello_answer(0),
    });
    h.input(ConnectionInput::ConnectionTokenFetched { session: 1 });
    h.input(ConnectionInput::ReaderRegistered {
        session: 1,
        registration: registration(),
    });
    assert_eq!(h.state(), "idle");
    let checks = h
        .outputs()
        .iter()
        .filter(|(_, o)| matches!(o, ConnectionOutput::CheckLocation { .. }))
        .map(|(t, _)| *t)
        .collect::<Vec<_>>();
    assert_eq!(checks, [0, 1000, 3000], "retried after 1 s, then 2 s");
    insta::assert_snapshot!("connection_backend_down_then_up", h.log());
}

#[test]
fn a_backend_that_always_fails_fails_the_connect_after_the_bounded_retries() {
    let _snapshots = common::snapshots();
    let mut h = Harness::new(Connection::new());
    up_to_registering(&mut h);
    let failure = BackendError::Status {
        route: "register_reader".into(),
        status: 500,
        error_type: Some("api_error".into()),
        message: "injected failure".into(),
        attempts: 1,
    };
    for _ in 0..4 {
        h.input(ConnectionInput::BackendCallFailed {
            session: 1,
            call: BackendCall::RegisterReader,
            error: failure.clone(),
        });
        h.advance(Duration::from_secs(10));
    }
    assert_eq!(h.state(), "disconnected");
    let reports = reports(&h);
    assert_eq!(
        reports[reports.len() - 2..],
        [
            ConnectionEvent::StatusChanged {
                status: ConnectionStatus::NotConnected
            },
            ConnectionEvent::ConnectFailed {
                error: ConnectError::BackendUnavailable {
                    call: BackendCall::RegisterReader,
                    attempts: 4,
                    error: failure,
                }
            },
        ]
    );
    assert!(
        h.outputs()
            .iter()
            .any(|(_, o)| matches!(o, ConnectionOutput::CloseLink { session: 1 })),
        "the link is closed"
    );
    insta::assert_snapshot!("connection_backend_always_failing", h.log());
}

#[test]
fn the_reader_dropping_the_link_while_registering_fails_the_connect_and_late_answers_are_ignored() {
    let _snapshots = common::snapshots();
    let mut h = Harness::new(Connection::new());
    up_to_registering(&mut h);
    h.note("the reader goes out of range while the backend registers it");
    h.input(ConnectionInput::LinkLost {
        session: 1,
        cause: LinkLossCause::SignalLost,
    });
    assert_eq!(h.state(), "disconnected");
    h.note("the registration comes back late: ignored");
    h.input(ConnectionInput::ReaderRegistered {
        session: 1,
        registration: registration(),
    });
    h.note("a new connect: the old session's answers cannot touch it");
    h.input(ConnectionInput::ConnectRequested {
        reader: reader(),
        location: LOCATION.into(),
    });
    h.input(ConnectionInput::LocationFound {
        session: 1,
        location: location(),
    });
    assert_eq!(h.state(), "checking_location");
    let reports = reports(&h);
    assert!(reports.contains(&ConnectionEvent::ConnectFailed {
        error: ConnectError::LinkLost {
            reason: DisconnectReason::BluetoothSignalLost
        }
    }));
    assert!(
        !reports
            .iter()
            .any(|r| matches!(r, ConnectionEvent::Connected { .. }))
    );
    insta::assert_snapshot!("connection_link_lost_while_registering", h.log());
}

#[test]
fn a_reader_that_never_answers_hello_times_out_the_handshake() {
    let mut h = Harness::new(Connection::new());
    h.input(ConnectionInput::ConnectRequested {
        reader: reader(),
        location: LOCATION.into(),
    });
    h.input(ConnectionInput::LocationFound {
        session: 1,
        location: location(),
    });
    h.input(ConnectionInput::LinkEstablished {
        session: 1,
        att_payload: 20,
    });
    h.advance(Duration::from_secs(6));
    assert_eq!(h.state(), "disconnected");
    assert!(reports(&h).contains(&ConnectionEvent::ConnectFailed {
        error: ConnectError::HandshakeTimedOut { after_ms: 5000 }
    }));
}

/// Drives a fresh connection to `state` through the answers of a clean connect.
fn connection_in(state: &str) -> Harness<Connection> {
    let mut h = Harness::new(Connection::new());
    h.input(ConnectionInput::ConnectRequested {
        reader: reader(),
        location: LOCATION.into(),
    });
    let steps: Vec<ConnectionInput> = vec![
        ConnectionInput::LocationFound {
            session: 1,
            location: location(),
        },
        ConnectionInput::LinkEstablished {
            session: 1,
            att_payload: 244,
        },
        ConnectionInput::FrameReceived {
            session: 1,
            message: hello_answer(0),
        },
        ConnectionInput::ConnectionTokenFetched { session: 1 },
    ];
    for step in steps {
        if h.state() == state {
            break;
        }
        h.input(step);
    }
    assert_eq!(h.state(), state);
    h
}

#[test]
fn every_other_way_a_connect_fails_names_its_error_and_ends_disconnected() {
    let _snapshots = common::snapshots();
    let unauthorized = BackendError::Unauthorized {
        message: "Invalid API Key provided".into(),
    };
    let mut other = hello_answer(0);
    if let ReaderMessage::ReaderInfo { info, .. } = &mut other {
        info.serial_number = "STRM26999".into();
    }
    type Step = Box<dyn Fn(&mut Harness<Connection>)>;
    let scenarios: Vec<(&str, &str, Step)> = vec![
        (
            "app disconnects while linking",
            "linking",
            Box::new(|h| {
                h.input(ConnectionInput::DisconnectRequested);
            }),
        ),
        (
            "transport cannot link",
            "linking",
            Box::new(|h| {
                h.input(ConnectionInput::LinkFailed {
                    session: 1,
                    error: readerlink::transport::TransportError::UnknownPeripheral(SERIAL.into()),
                });
            }),
        ),
        (
            "transport never links",
            "linking",
            Box::new(|h| {
                h.advance(Duration::from_secs(11));
            }),
        ),
        (
            "reader refuses hello",
            "handshaking",
            Box::new(|h| {
                h.input(ConnectionInput::FrameReceived {
                    session: 1,
                    message: ReaderMessage::Error {
                        request_id: 0,
                        code: readerlink::protocol::ErrorCode::Busy,
                    },
                });
            }),
        ),
        (
            "another reader answers hello",
            "handshaking",
            Box::new(move |h| {
                h.input(ConnectionInput::FrameReceived {
                    session: 1,
                    message: other.clone(),
                });
            }),
        ),
        (
            "backend refuses the token",
            "fetching_token",
            Box::new(move |h| {
                h.input(ConnectionInput::BackendCallFailed {
                    session: 1,
                    call: BackendCall::ConnectionToken,
                    error: unauthorized.clone(),
                });
            }),
        ),
    ];
    let mut table = String::new();
    for (scenario, state, step) in scenarios {
        let mut h = connection_in(state);
        step(&mut h);
        assert_eq!(h.state(), "disconnected", "{scenario}");
        let failures: Vec<ConnectError> = reports(&h)
            .into_iter()
            .filter_map(|r| match r {
                ConnectionEvent::ConnectFailed { error } => Some(error),
                _ => None,
            })
            .collect();
        assert_eq!(failures.len(), 1, "{scenario}: exactly one failure");
        let closed = h
            .outputs()
            .iter()
            .filter(|(_, o)| matches!(o, ConnectionOutput::CloseLink { .. }))
            .count();
        let link = if closed == 1 {
            "link closed"
        } else {
            "no link to close"
        };
        table.push_str(&format!(
            "{scenario:<30} in {state:<15} -> {:<20} ({link}) {}\n",
            failures[0].code(),
            failures[0]
        ));
    }
    insta::assert_snapshot!("connection_connect_failures", table);
}

#[test]
fn a_reboot_the_reader_never_answers_times_out_and_keeps_the_connection() {
    let mut h = connected();
    h.input(ConnectionInput::RebootRequested);
    assert_eq!(h.state(), "busy");
    h.advance(Duration::from_secs(6));
    assert_eq!(h.state(), "idle");
    assert_eq!(
        reports(&h).last(),
        Some(&ConnectionEvent::RebootFailed {
            error: readerlink::connection::CommandError::TimedOut { after_ms: 5000 }
        })
    );
}
