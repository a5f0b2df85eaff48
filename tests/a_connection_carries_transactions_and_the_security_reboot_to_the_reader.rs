//! The connection's commands beyond connect (R12, R20): the start and end
//! of a transaction, the app's reboot and the 24-hour security reboot, one
//! at a time, each answered by exactly one report; a reboot the reader
//! refuses during a transaction is `transaction_in_progress` and keeps the
//! connection. `Connected` carries the reader's uptime. First on a Harness
//! (the test plays the shell), then end to end over a simulated reader.

mod common;
mod connection_support;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use connection_support::*;
use readerlink::backend::{BackendCore, CreateLocation, LocalBackend};
use readerlink::connection::{
    CommandError, Connection, ConnectionEffects, ConnectionEvent, ConnectionInput, ConnectionOutput,
};
use readerlink::protocol::{Command, ErrorCode, ReaderMessage, RebootKind};
use readerlink::reader::{DeviceType, DisconnectReason, Reader};
use readerlink::runtime::{Clock, Deliver, Harness, MachineActor, Tracer, virtual_time_system};
use readerlink::transport::LinkLossCause;
use readerlink::transport::sim::{ReaderSpec, SimWorld};

fn reports(h: &Harness<Connection>) -> Vec<ConnectionEvent> {
    h.outputs()
        .iter()
        .filter_map(|(_, o)| match o {
            ConnectionOutput::Report(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// The commands sent so far, with their request ids.
fn sent(h: &Harness<Connection>) -> Vec<(u16, Command)> {
    h.outputs()
        .iter()
        .filter_map(|(_, o)| match o {
            ConnectionOutput::Send { request, .. } => Some((request.request_id, request.command.clone())),
            _ => None,
        })
        .collect()
}

/// Asks with `input`, checks `command` went out, answers with `answer(id)`,
/// and returns the report it led to.
fn ask(
    h: &mut Harness<Connection>,
    input: ConnectionInput,
    command: Command,
    answer: impl Fn(u16) -> ReaderMessage,
) -> ConnectionEvent {
    let session = h.machine().session();
    h.input(input);
    assert_eq!(h.state(), "busy");
    let (id, last) = sent(h).pop().expect("a command was sent");
    assert_eq!(last, command);
    h.advance(Duration::from_millis(20));
    h.input(ConnectionInput::FrameReceived {
        session,
        message: answer(id),
    });
    assert_eq!(h.state(), "idle");
    reports(h).pop().expect("the answer was reported")
}

fn ack(request_id: u16) -> ReaderMessage {
    ReaderMessage::Ack { request_id }
}

fn error(code: ErrorCode) -> impl Fn(u16) -> ReaderMessage {
    move |request_id| ReaderMessage::Error { request_id, code }
}

#[test]
fn a_transaction_starts_and_ends_and_a_reboot_during_it_is_refused_keeping_the_connection() {
    let _snapshots = common::snapshots();
    let mut h = connected();
    h.note("the owner starts a transaction (R20)");
    let started = ask(
        &mut h,
        ConnectionInput::TransactionStartRequested,
        Command::TransactionBegin,
        ack,
    );
    assert_eq!(started, ConnectionEvent::TransactionStarted);

    h.note("a security reboot during it: the reader refuses");
    let refused = ask(
        &mut h,
        ConnectionInput::SecurityRebootRequested,
        Command::Reboot {
            kind: RebootKind::Security,
        },
        error(ErrorCode::TransactionInProgress),
    );
    assert_eq!(
        refused,
        ConnectionEvent::RebootFailed {
            error: CommandError::TransactionInProgress
        }
    );
    if let ConnectionEvent::RebootFailed { error } = &refused {
        assert_eq!(error.code(), "transaction_in_progress");
    }
    let again = ask(
        &mut h,
        ConnectionInput::TransactionStartRequested,
        Command::TransactionBegin,
        error(ErrorCode::TransactionInProgress),
    );
    assert_eq!(
        again,
        ConnectionEvent::TransactionStartFailed {
            error: CommandError::TransactionInProgress
        }
    );

    h.note("the transaction ends; the security reboot goes through");
    let ended = ask(
        &mut h,
        ConnectionInput::TransactionEndRequested,
        Command::TransactionEnd,
        ack,
    );
    assert_eq!(ended, ConnectionEvent::TransactionEnded);
    let accepted = ask(
        &mut h,
        ConnectionInput::SecurityRebootRequested,
        Command::Reboot {
            kind: RebootKind::Security,
        },
        ack,
    );
    assert_eq!(accepted, ConnectionEvent::RebootAccepted);
    let session = h.machine().session();
    h.input(ConnectionInput::LinkLost {
        session,
        cause: LinkLossCause::RemoteClosed,
    });
    assert_eq!(
        reports(&h).pop(),
        Some(ConnectionEvent::Disconnected {
            reason: DisconnectReason::SecurityReboot
        }),
        "the security reboot's disconnect, even with no announcement (R8)"
    );
    insta::assert_snapshot!("connection_transaction_and_security_reboot", h.log());
}

#[test]
fn a_refused_reboot_forgets_its_reason_so_a_later_loss_is_reported_as_itself() {
    let mut h = connected();
    ask(
        &mut h,
        ConnectionInput::RebootRequested,
        Command::Reboot {
            kind: RebootKind::Requested,
        },
        error(ErrorCode::TransactionInProgress),
    );
    let session = h.machine().session();
    h.input(ConnectionInput::LinkLost {
        session,
        cause: LinkLossCause::SignalLost,
    });
    assert_eq!(
        reports(&h).pop(),
        Some(ConnectionEvent::Disconnected {
            reason: DisconnectReason::BluetoothSignalLost
        })
    );
}

#[test]
fn one_command_at_a_time_each_request_while_busy_is_answered_busy() {
    let mut h = connected();
    h.input(ConnectionInput::TransactionStartRequested);
    assert_eq!(h.state(), "busy");
    for request in [
        ConnectionInput::RebootRequested,
        ConnectionInput::SecurityRebootRequested,
        ConnectionInput::TransactionStartRequested,
        ConnectionInput::TransactionEndRequested,
    ] {
        h.input(request);
    }
    assert_eq!(sent(&h).len(), 2, "hello and the transaction's begin only");
    assert_eq!(
        reports(&h)[reports(&h).len() - 4..],
        [
            ConnectionEvent::RebootFailed {
                error: CommandError::Busy
            },
            ConnectionEvent::RebootFailed {
                error: CommandError::Busy
            },
            ConnectionEvent::TransactionStartFailed {
                error: CommandError::Busy
            },
            ConnectionEvent::TransactionEndFailed {
                error: CommandError::Busy
            },
        ]
    );
    h.advance(Duration::from_secs(6));
    assert_eq!(h.state(), "idle");
    assert_eq!(
        reports(&h).pop(),
        Some(ConnectionEvent::TransactionStartFailed {
            error: CommandError::TimedOut { after_ms: 5000 }
        })
    );
    let end = ask(
        &mut h,
        ConnectionInput::TransactionEndRequested,
        Command::TransactionEnd,
        error(ErrorCode::NoTransactionInProgress),
    );
    assert_eq!(
        end,
        ConnectionEvent::TransactionEndFailed {
            error: CommandError::Refused {
                code: ErrorCode::NoTransactionInProgress
            }
        }
    );
}

#[test]
fn command_requests_without_a_connection_send_nothing() {
    // Not connected, connecting, or disconnecting: the owner refuses those
    // itself; the connection sends nothing and changes nothing.
    let requests = [
        ConnectionInput::RebootRequested,
        ConnectionInput::SecurityRebootRequested,
        ConnectionInput::TransactionStartRequested,
        ConnectionInput::TransactionEndRequested,
    ];
    let mut disconnected = Harness::new(Connection::new());
    let mut connecting = Harness::new(Connection::new());
    connecting.input(ConnectionInput::ConnectRequested {
        reader: reader(),
        location: LOCATION.into(),
    });
    let mut disconnecting = connected();
    disconnecting.input(ConnectionInput::DisconnectRequested);
    for (h, state) in [
        (&mut disconnected, "disconnected"),
        (&mut connecting, "checking_location"),
        (&mut disconnecting, "disconnecting"),
    ] {
        let before = h.outputs().len();
        for request in &requests {
            h.input(request.clone());
        }
        assert_eq!(h.state(), state);
        assert_eq!(h.outputs().len(), before, "{state}: {:?}", &h.outputs()[before..]);
    }
}

#[test]
fn connected_carries_the_uptime_hello_reported_plus_the_time_since() {
    let mut h = Harness::new(Connection::new());
    up_to_registering(&mut h);
    h.advance(Duration::from_millis(2500));
    h.input(ConnectionInput::ReaderRegistered {
        session: h.machine().session(),
        registration: registration(),
    });
    let uptime = reports(&h).into_iter().find_map(|r| match r {
        ConnectionEvent::Connected { uptime_ms, .. } => Some(uptime_ms),
        _ => None,
    });
    assert_eq!(uptime, Some(3_600_000 + 2500));
}

#[test]
fn end_to_end_a_wisepad_at_23_hours_is_refused_a_reboot_in_a_transaction_then_security_rebooted() {
    virtual_time_system().block_on(async {
        let mut spec = ReaderSpec::new("WPC32-0001", DeviceType::WisePad3, "2.4.1");
        spec.charging = true;
        spec.uptime_ms = 23 * 3_600_000;
        let world = SimWorld::with_readers(vec![spec]);
        let backend = LocalBackend::new(BackendCore::in_memory(1));
        let shop = backend
            .core()
            .lock()
            .unwrap()
            .create_location(CreateLocation::new("Shop", "1 Main St", "US"))
            .unwrap();
        let log: Rc<RefCell<Vec<ConnectionEvent>>> = Rc::default();
        let sink = log.clone();
        let effects = ConnectionEffects::new(
            "WPC32-0001".into(),
            Arc::new(world.transport()),
            Arc::new(backend.clone()),
            Rc::new(move |event| sink.borrow_mut().push(event)),
            Default::default(),
        );
        let actor = MachineActor::new(
            "connection:WPC32-0001",
            Connection::new(),
            effects,
            Tracer::off(),
            Clock::start(),
        )
        .start();
        let send = |input| actor.do_send(Deliver::from("test", input));
        let settle = || tokio::time::sleep(Duration::from_secs(1));
        let take = || std::mem::take(&mut *log.borrow_mut());
        send(ConnectionInput::ConnectRequested {
            reader: Reader {
                serial_number: "WPC32-0001".into(),
                device_type: DeviceType::WisePad3,
                software_version: None,
                battery: None,
                rssi: None,
                peripheral: "WPC32-0001".into(),
                available_update: None,
            },
            location: shop.id.clone(),
        });
        settle().await;
        let uptime = take().into_iter().find_map(|e| match e {
            ConnectionEvent::Connected { uptime_ms, .. } => Some(uptime_ms),
            _ => None,
        });
        let uptime = uptime.expect("connected");
        assert!(
            (23 * 3_600_000..23 * 3_600_000 + 1000).contains(&uptime),
            "connected at the reader's 23 h of uptime, got {uptime} ms"
        );

        send(ConnectionInput::TransactionStartRequested);
        settle().await;
        send(ConnectionInput::SecurityRebootRequested);
        settle().await;
        send(ConnectionInput::TransactionEndRequested);
        settle().await;
        assert_eq!(
            take(),
            [
                ConnectionEvent::TransactionStarted,
                ConnectionEvent::RebootFailed {
                    error: CommandError::TransactionInProgress
                },
                ConnectionEvent::TransactionEnded,
            ]
        );
        send(ConnectionInput::SecurityRebootRequested);
        settle().await;
        let events = take();
        assert_eq!(events[0], ConnectionEvent::RebootAccepted);
        assert_eq!(
            events.last(),
            Some(&ConnectionEvent::Disconnected {
                reason: DisconnectReason::SecurityReboot
            }),
            "{events:?}"
        );
        assert!(world.reader_state(&"WPC32-0001".into()).unwrap().booting);
    });
}
