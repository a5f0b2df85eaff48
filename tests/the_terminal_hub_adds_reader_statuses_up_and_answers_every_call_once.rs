//! The hub and the readers' sessions on Harnesses: the overall status is
//! what the readers' statuses add up to (R2, R21), calls that cannot start
//! are refused in place, and each call is answered once.

mod common;
mod hub_support;

use hub_support::HubRig;
use readerlink::connection::{ConnectError, ConnectionEvent, ConnectionInput};
use readerlink::reader::{ConnectionStatus, DeviceType, DisconnectReason, Reader};
use readerlink::runtime::Harness;
use readerlink::session::SessionOutput;
use readerlink::terminal::{ConnectionConfig, Hub, TerminalInput, TerminalOutput};

fn reader(serial: &str) -> Reader {
    Reader {
        serial_number: serial.into(),
        device_type: DeviceType::StripeM2,
        software_version: None,
        battery: None,
        rssi: Some(-50),
        peripheral: serial.into(),
        available_update: None,
    }
}

fn replies(h: &Harness<Hub>) -> Vec<(u64, Result<String, String>)> {
    h.outputs()
        .iter()
        .filter_map(|(_, o)| match o {
            TerminalOutput::Reply { call, result } => Some((
                *call,
                result
                    .as_ref()
                    .map(|o| format!("{o:?}").chars().take(9).collect())
                    .map_err(|e| e.code().to_owned()),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn two_readers_statuses_add_up_and_each_call_is_answered_once() {
    let _snapshots = common::snapshots();
    let mut h = HubRig::new();
    let config = ConnectionConfig::new("tml_000001");
    h.input(TerminalInput::DiscoveryRunningChanged { running: true });
    h.input(TerminalInput::ReadersDiscovered {
        readers: vec![reader("A"), reader("B")],
    });
    h.note("refused in place: unknown reader, empty location");
    h.input(TerminalInput::ConnectReaderRequested {
        call: 1,
        reader: reader("Z"),
        config: config.clone(),
    });
    h.input(TerminalInput::ConnectReaderRequested {
        call: 2,
        reader: reader("A"),
        config: ConnectionConfig::default(),
    });
    h.note("both readers connect at once (R21)");
    for (call, serial) in [(3, "A"), (4, "B")] {
        h.input(TerminalInput::ConnectReaderRequested {
            call,
            reader: reader(serial),
            config: config.clone(),
        });
    }
    h.input(TerminalInput::ConnectReaderRequested {
        call: 5,
        reader: reader("A"),
        config: config.clone(),
    });
    h.status("A", ConnectionStatus::Connecting);
    h.input(TerminalInput::DiscoveryRunningChanged { running: false });
    h.status("B", ConnectionStatus::Connecting);
    h.status("A", ConnectionStatus::Connected);
    h.reported(
        "A",
        ConnectionEvent::Connected {
            reader: reader("A"),
            location: "tml_000001".into(),
            uptime_ms: 0,
        },
    );
    assert_eq!(h.hub.machine().overall_status(), ConnectionStatus::Connected);
    assert_eq!(
        h.hub.machine().reader_status(&"B".into()),
        ConnectionStatus::Connecting
    );
    h.note("B fails; A stays connected");
    h.status("B", ConnectionStatus::NotConnected);
    h.reported(
        "B",
        ConnectionEvent::ConnectFailed {
            error: ConnectError::LinkTimedOut { after_ms: 10_000 },
        },
    );
    assert_eq!(h.hub.machine().overall_status(), ConnectionStatus::Connected);
    h.note("a discovery runs while A is connected, then A disconnects");
    h.input(TerminalInput::DiscoveryRunningChanged { running: true });
    h.input(TerminalInput::DisconnectReaderRequested {
        call: 6,
        serial_number: "A".into(),
    });
    h.status("A", ConnectionStatus::NotConnected);
    h.reported(
        "A",
        ConnectionEvent::Disconnected {
            reason: DisconnectReason::DisconnectRequested,
        },
    );
    assert_eq!(h.hub.machine().overall_status(), ConnectionStatus::Discovering);
    h.input(TerminalInput::DiscoveryRunningChanged { running: false });
    assert_eq!(h.hub.machine().overall_status(), ConnectionStatus::NotConnected);
    h.input(TerminalInput::RebootReaderRequested {
        call: 7,
        serial_number: "A".into(),
    });

    assert_eq!(
        replies(&h.hub),
        [
            (1, Err("unknown_reader".into())),
            (2, Err("empty_location".into())),
            (5, Err("connect_in_progress".into())),
            (3, Ok("Connected".into())),
            (4, Err("link_timed_out".into())),
            (6, Ok("Done".into())),
            (7, Err("not_connected".into())),
        ]
    );
    let forwarded = h
        .session("A")
        .outputs()
        .iter()
        .filter(|(_, o)| {
            matches!(
                o,
                SessionOutput::ToConnection(ConnectionInput::DisconnectRequested)
            )
        })
        .count();
    assert_eq!(forwarded, 1);
    insta::assert_snapshot!("terminal_hub_two_readers", h.log());
}
