//! The hub and a reader's session on Harnesses, wired by hand so the test
//! chooses the order of their messages: a session says it is idle only once
//! its children are gone, the hub releases it only if it routed no call
//! since (a call crossing the idle report keeps it), and a reader whose
//! session was released is answered by the hub as the idle session
//! answered; its next connect starts a fresh session.

use readerlink::connection::{ConnectError, ConnectionEvent};
use readerlink::reader::{DeviceType, Reader};
use readerlink::runtime::Harness;
use readerlink::session::{Session, SessionInput, SessionOutput};
use readerlink::terminal::{CallOutcome, ConnectionConfig, Hub, TerminalInput, TerminalOutput};

fn reader() -> Reader {
    Reader {
        serial_number: "A".into(),
        device_type: DeviceType::StripeM2,
        software_version: None,
        battery: None,
        rssi: Some(-50),
        peripheral: "A".into(),
        available_update: None,
    }
}

/// The session's reports and idle words, as the hub's inputs.
fn to_hub(outputs: Vec<SessionOutput>) -> Vec<TerminalInput> {
    outputs
        .into_iter()
        .filter_map(|output| match output {
            SessionOutput::ToHub(report) => Some(TerminalInput::SessionReported {
                serial_number: "A".into(),
                report,
            }),
            SessionOutput::ToHubIdle { inputs_seen } => Some(TerminalInput::SessionWentIdle {
                serial_number: "A".into(),
                inputs_seen,
            }),
            _ => None,
        })
        .collect()
}

/// What the hub routed to the session in `outputs`.
fn routed(outputs: &[TerminalOutput]) -> Vec<SessionInput> {
    outputs
        .iter()
        .filter_map(|output| match output {
            TerminalOutput::ToSession { input, .. } => Some(input.clone()),
            _ => None,
        })
        .collect()
}

fn stops(outputs: &[TerminalOutput]) -> usize {
    outputs
        .iter()
        .filter(|o| matches!(o, TerminalOutput::StopSession { .. }))
        .count()
}

fn replies(outputs: &[TerminalOutput]) -> Vec<Result<CallOutcome, String>> {
    outputs
        .iter()
        .filter_map(|output| match output {
            TerminalOutput::Reply { result, .. } => Some(result.clone().map_err(|e| e.code().to_owned())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_call_crossing_the_idle_report_keeps_the_session_and_the_next_idle_report_releases_it() {
    let mut hub = Harness::new(Hub::new());
    let mut session = Harness::new(Session::new(reader()));
    hub.input(TerminalInput::ReadersDiscovered {
        readers: vec![reader()],
    });
    let out = hub.input(TerminalInput::ConnectReaderRequested {
        call: 1,
        reader: reader(),
        config: ConnectionConfig::new("tml_000001"),
    });
    let [connect] = &routed(&out)[..] else {
        panic!("the connect goes to the session: {out:?}")
    };

    let mut idle = Vec::new();
    for input in [
        connect.clone(),
        SessionInput::from(ConnectionEvent::ConnectFailed {
            error: ConnectError::LinkTimedOut { after_ms: 10_000 },
        }),
    ] {
        for input in to_hub(session.input(input)) {
            match input {
                TerminalInput::SessionWentIdle { .. } => idle.push(input),
                report => assert_eq!(stops(&hub.input(report)), 0),
            }
        }
    }
    assert_eq!(session.state(), "not_connected");
    assert!(
        idle.is_empty(),
        "not idle while its released children may still report"
    );
    assert_eq!(hub.machine().reader_status(&"A".into()), Default::default());

    let idle = to_hub(session.input(SessionInput::ChildrenReleased));
    assert_eq!(
        idle,
        [TerminalInput::SessionWentIdle {
            serial_number: "A".into(),
            inputs_seen: 1
        }],
        "idle once its children are gone, having handled the one connect"
    );

    // The app disconnects the reader while the idle report is on its way.
    let out = hub.input(TerminalInput::DisconnectReaderRequested {
        call: 2,
        serial_number: "A".into(),
    });
    let [disconnect] = &routed(&out)[..] else {
        panic!("the disconnect goes to the session: {out:?}")
    };
    let out = hub.input(idle[0].clone());
    assert_eq!(stops(&out), 0, "a call is on its way: the session stays");

    let mut out = Vec::new();
    for input in to_hub(session.input(disconnect.clone())) {
        out.extend(hub.input(input));
    }
    assert_eq!(replies(&out), [Err("not_connected".to_owned())]);
    assert_eq!(
        stops(&out),
        1,
        "the session, idle again after the call, is released"
    );

    // The hub answers a reader with no session itself, as the session did.
    let calls = [
        TerminalInput::DisconnectReaderRequested {
            call: 3,
            serial_number: "A".into(),
        },
        TerminalInput::RebootReaderRequested {
            call: 4,
            serial_number: "A".into(),
        },
        TerminalInput::InstallUpdateRequested {
            call: 5,
            serial_number: "A".into(),
        },
        TerminalInput::TransactionStartRequested {
            call: 6,
            serial_number: "A".into(),
        },
        TerminalInput::TransactionEndRequested {
            call: 7,
            serial_number: "A".into(),
            transaction: 6,
        },
    ];
    let mut from_hub = Vec::new();
    let mut from_session = Vec::new();
    let mut idle_session = Harness::new(Session::new(reader()));
    // The idle session's own answers, for comparison: a fresh session
    // answers in `not_connected` as an idle one does.
    for call in &calls {
        let out = hub.input(call.clone());
        assert!(routed(&out).is_empty(), "nothing is routed to a released session");
        from_hub.extend(replies(&out));
        let input = match call.clone() {
            TerminalInput::DisconnectReaderRequested { call, .. } => {
                SessionInput::DisconnectRequested { call }
            }
            TerminalInput::RebootReaderRequested { call, .. } => SessionInput::RebootRequested { call },
            TerminalInput::InstallUpdateRequested { call, .. } => {
                SessionInput::InstallUpdateRequested { call }
            }
            TerminalInput::TransactionStartRequested { call, .. } => {
                SessionInput::TransactionStartRequested { call }
            }
            TerminalInput::TransactionEndRequested {
                call, transaction, ..
            } => SessionInput::TransactionEndRequested { call, transaction },
            other => unreachable!("{other:?}"),
        };
        for output in idle_session.input(input) {
            if let SessionOutput::ToHub(report) = output {
                from_session.extend(
                    report
                        .now
                        .into_iter()
                        .chain(report.after_status)
                        .filter_map(|item| match item {
                            readerlink::session::HubItem::Reply { result, .. } => {
                                Some(result.map_err(|e| e.code().to_owned()))
                            }
                            _ => None,
                        }),
                );
            }
        }
    }
    assert_eq!(
        from_hub, from_session,
        "the hub answers as the idle session answered"
    );
    assert_eq!(from_hub.len(), calls.len(), "every call is answered");

    let out = hub.input(TerminalInput::ConnectReaderRequested {
        call: 8,
        reader: reader(),
        config: ConnectionConfig::new("tml_000001"),
    });
    assert!(
        matches!(
            &routed(&out)[..],
            [SessionInput::ConnectRequested { call: 8, .. }]
        ),
        "the next connect starts a fresh session: {out:?}"
    );
}
