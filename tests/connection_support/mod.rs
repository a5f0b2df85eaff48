//! Machine-level helpers for the connection tests: a reader, its hello
//! answer, and a Harness driven to `idle` the way the shell would.
#![allow(dead_code)]

use readerlink::backend::{Address, Location, RegisteredReader};
use readerlink::connection::{Connection, ConnectionInput};
use readerlink::protocol::{ReaderInfo, ReaderMessage, Slot};
use readerlink::reader::{Battery, BatteryStatus, DeviceType, Reader};
use readerlink::runtime::Harness;

pub const SERIAL: &str = "STRM26001";
pub const LOCATION: &str = "tml_000001";

pub fn reader() -> Reader {
    Reader {
        serial_number: SERIAL.into(),
        device_type: DeviceType::StripeM2,
        software_version: None,
        battery: None,
        rssi: Some(-50),
        peripheral: SERIAL.into(),
        available_update: None,
    }
}

pub fn battery(level: f32) -> Battery {
    Battery {
        level,
        status: BatteryStatus::for_level(level),
        charging: false,
    }
}

pub fn location() -> Location {
    Location {
        id: LOCATION.into(),
        display_name: "Shop".into(),
        address: Address {
            line1: "1 Main St".into(),
            country: "US".into(),
            ..Address::default()
        },
    }
}

pub fn hello_answer(request_id: u16) -> ReaderMessage {
    ReaderMessage::ReaderInfo {
        request_id,
        info: ReaderInfo {
            serial_number: SERIAL.into(),
            device_type: DeviceType::StripeM2,
            software_version: "2.1.0".into(),
            active_slot: Slot::A,
            battery: battery(0.8),
            uptime_ms: 3_600_000,
        },
    }
}

pub fn registration() -> RegisteredReader {
    RegisteredReader {
        id: "tmr_000001".into(),
        serial_number: SERIAL.into(),
        device_type: DeviceType::StripeM2,
        location: LOCATION.into(),
        label: SERIAL.into(),
    }
}

/// Feeds a harness the answers of a clean connect, up to `registering`.
pub fn up_to_registering(h: &mut Harness<Connection>) {
    let session = h.machine().session() + 1;
    h.input(ConnectionInput::ConnectRequested {
        reader: reader(),
        location: LOCATION.into(),
    });
    h.input(ConnectionInput::LocationFound {
        session,
        location: location(),
    });
    h.advance(std::time::Duration::from_millis(60));
    h.input(ConnectionInput::LinkEstablished {
        session,
        att_payload: 244,
    });
    let hello = h
        .outputs()
        .iter()
        .rev()
        .find_map(|(_, o)| match o {
            readerlink::connection::ConnectionOutput::Send { request, .. } => Some(request.request_id),
            _ => None,
        })
        .expect("hello was sent");
    h.advance(std::time::Duration::from_millis(30));
    h.input(ConnectionInput::FrameReceived {
        session,
        message: hello_answer(hello),
    });
    h.input(ConnectionInput::ConnectionTokenFetched { session });
}

/// A harness whose connection is `idle` (connected).
pub fn connected() -> Harness<Connection> {
    let mut h = Harness::new(Connection::new());
    up_to_registering(&mut h);
    h.input(ConnectionInput::ReaderRegistered {
        session: h.machine().session(),
        registration: registration(),
    });
    assert_eq!(h.state(), "idle");
    h
}
