//! Errors and events as data: every kind of every public error is written
//! to JSON as `{"code", "message", ...fields}` (never serde's default
//! `{"Kind": {...}}`) and reads back the same; every kind of
//! `TerminalEvent` is written with snake_case enum values, errors in that
//! shape, and f32 values as written (`0.81`). A kind added without a sample
//! here fails the test.

mod common;

use std::collections::BTreeSet;

use readerlink::backend::BackendError;
use readerlink::connection::{BackendCall, CommandError, ConnectError};
use readerlink::error_data::{ErrorData, variant_names};
use readerlink::firmware::{IntegrityError, KeyId};
use readerlink::prelude::*;
use readerlink::protocol::messages::ErrorCode;
use readerlink::reader::DeviceType;
use readerlink::transport::TransportError;
use readerlink::updater::Sha256Digest;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn serial() -> SerialNumber {
    SerialNumber::new("STRM2-0001")
}

fn transport_errors() -> Vec<TransportError> {
    vec![
        TransportError::AdapterUnavailable("powered off".into()),
        TransportError::UnknownPeripheral("sim:7".into()),
        TransportError::ConnectFailed {
            peripheral: "sim:7".into(),
            reason: "no answer".into(),
        },
        TransportError::ServiceMissing("sim:7".into()),
        TransportError::LinkDown("sim:7".into()),
        TransportError::Stack("org.bluez.Error.Failed".into()),
    ]
}

fn backend_errors() -> Vec<BackendError> {
    vec![
        BackendError::NotFound {
            resource: "location".into(),
            id: "tml_9".into(),
            param: Some("location".into()),
        },
        BackendError::InvalidRequest {
            param: Some("label".into()),
            message: "too long".into(),
        },
        BackendError::Unauthorized {
            message: "bad key".into(),
        },
        BackendError::Status {
            route: "POST /v1/terminal/readers".into(),
            status: 503,
            error_type: Some("api_error".into()),
            message: "try later".into(),
            attempts: 3,
        },
        BackendError::Timeout {
            route: "GET /v1/terminal/locations".into(),
            after_ms: 5000,
        },
        BackendError::ConnectionFailed {
            route: "GET /v1/terminal/locations".into(),
            attempts: 3,
            reason: "refused".into(),
        },
        BackendError::BadResponse {
            route: "GET /v1/terminal/locations".into(),
            reason: "not JSON".into(),
        },
        BackendError::RandomSourceFailed {
            reason: "getrandom".into(),
        },
        BackendError::RangeNotSatisfiable {
            id: "stripe_m2/2.0.0".into(),
            from: 9000,
            size: 9000,
        },
        BackendError::DownloadIncomplete {
            route: "download_update".into(),
            received: 200_000,
            expected: 262_144,
            resumes: 3,
        },
        BackendError::Storage {
            path: "backend.json".into(),
            reason: "disk full".into(),
        },
    ]
}

fn connect_errors() -> Vec<ConnectError> {
    vec![
        ConnectError::LinkFailed {
            error: TransportError::LinkDown("sim:7".into()),
        },
        ConnectError::LinkTimedOut { after_ms: 10_000 },
        ConnectError::HandshakeTimedOut { after_ms: 5_000 },
        ConnectError::HandshakeRefused {
            code: ErrorCode::Busy,
        },
        ConnectError::UnexpectedReader {
            expected: serial(),
            found: SerialNumber::new("WPC32-0001"),
        },
        ConnectError::LinkLost {
            reason: DisconnectReason::BluetoothSignalLost,
        },
        ConnectError::LocationNotFound {
            location: "tml_9".into(),
        },
        ConnectError::BackendRefused {
            call: BackendCall::RegisterReader,
            error: BackendError::InvalidRequest {
                param: None,
                message: "no".into(),
            },
        },
        ConnectError::BackendUnavailable {
            call: BackendCall::ConnectionToken,
            attempts: 3,
            error: BackendError::Timeout {
                route: "POST /v1/terminal/connection_tokens".into(),
                after_ms: 5000,
            },
        },
        ConnectError::Cancelled,
        ConnectError::MachineFailed { panic: "boom".into() },
        ConnectError::UpdateFailed {
            error: UpdateError::UnsupportedReaderVersion,
        },
    ]
}

fn command_errors() -> Vec<CommandError> {
    vec![
        CommandError::Busy,
        CommandError::TimedOut { after_ms: 3000 },
        CommandError::Refused {
            code: ErrorCode::InstallFailed,
        },
        CommandError::NotConnected,
        CommandError::TransactionInProgress,
    ]
}

fn update_errors() -> Vec<UpdateError> {
    use readerlink::updater::IntegrityCheck;
    vec![
        UpdateError::BatteryTooLow,
        UpdateError::TransactionInProgress,
        UpdateError::Canceled,
        UpdateError::UnsupportedReaderVersion,
        UpdateError::InstallFailed,
        UpdateError::DigestMismatch,
        UpdateError::ReaderRefused,
        UpdateError::TransferTimedOut,
        UpdateError::ReaderDisconnected,
        UpdateError::NotConnected,
        UpdateError::DownloadFailed,
        UpdateError::ImageRejected {
            check: IntegrityCheck::Rollback,
        },
        UpdateError::NotActivated,
    ]
}

fn update() -> ReaderSoftwareUpdate {
    ReaderSoftwareUpdate::new(
        "9.0.0",
        vec![UpdateComponent::Firmware, UpdateComponent::Config],
        604_800_000,
        262_144,
        readerlink::updater::Sha256Digest::of(b"image"),
    )
}

fn reconnect_errors() -> Vec<ReconnectError> {
    vec![
        ReconnectError::ConnectTimedOut {
            window_ms: 60_000,
            attempts: 3,
            last_error: Some(ConnectError::LinkTimedOut { after_ms: 10_000 }),
        },
        ReconnectError::Cancelled,
        ReconnectError::SupervisorFailed { panic: "boom".into() },
    ]
}

fn discovery_errors() -> Vec<DiscoveryError> {
    vec![
        DiscoveryError::Superseded,
        DiscoveryError::ScanTimedOut,
        DiscoveryError::Cancelled,
        DiscoveryError::Transport(TransportError::AdapterUnavailable("powered off".into())),
        DiscoveryError::ScannerStopped,
    ]
}

fn terminal_errors() -> Vec<TerminalError> {
    vec![
        TerminalError::UnknownReader {
            serial_number: serial(),
        },
        TerminalError::AlreadyConnected {
            serial_number: serial(),
        },
        TerminalError::ConnectInProgress {
            serial_number: serial(),
        },
        TerminalError::EmptyLocation,
        TerminalError::LocationNotFound {
            location: "tml_9".into(),
        },
        TerminalError::NotConnected {
            serial_number: serial(),
        },
        TerminalError::Connect {
            serial_number: serial(),
            error: ConnectError::LocationNotFound {
                location: "tml_9".into(),
            },
        },
        TerminalError::Command {
            serial_number: serial(),
            error: CommandError::NotConnected,
        },
        TerminalError::NoSavedReader,
        TerminalError::SavedReaderNotFound {
            serial_number: serial(),
            after_ms: 30_000,
        },
        TerminalError::SavedReaderDiscoveryFailed {
            serial_number: serial(),
            error: DiscoveryError::Transport(TransportError::AdapterUnavailable("powered off".into())),
        },
        TerminalError::SavedReaderReconnectInProgress,
        TerminalError::Stopped,
    ]
}

fn integrity_errors() -> Vec<IntegrityError> {
    let key_id = KeyId([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0]);
    vec![
        IntegrityError::UnknownKey { key_id },
        IntegrityError::BadSignature { key_id },
        IntegrityError::Expired {
            expires_at: 1_000,
            now: 2_000,
        },
        IntegrityError::WrongDeviceType {
            image: DeviceType::WisePad3,
            reader: DeviceType::StripeM2,
        },
        IntegrityError::Rollback {
            image_version: "3.0.9".into(),
            installed_version: "3.1.0".into(),
        },
        IntegrityError::UnreadableVersion {
            version: "3.x".into(),
            reason: "the version `3.x` has `x` where a number belongs".into(),
        },
        IntegrityError::Truncated {
            expected: 4_096,
            actual: 4_095,
        },
        IntegrityError::Oversized {
            expected: 4_096,
            actual: 4_352,
        },
        IntegrityError::DigestMismatch {
            expected: Sha256Digest([0xaa; 32]),
            actual: Sha256Digest([0xbb; 32]),
        },
    ]
}

/// Checks every sample's shape and round trip, that the samples cover
/// every kind of `E`, and returns their JSON lines for the snapshot. An
/// error whose own `Serialize` is serde's default (the backend's, used as
/// is by the backend) is written as data where an event holds it.
fn check_errors<E>(type_name: &str, samples: Vec<E>, own_serialize_is_data: bool) -> Vec<String>
where
    E: ErrorData + serde::Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let mut kinds = BTreeSet::new();
    let mut lines = Vec::new();
    for error in &samples {
        let json = readerlink::error_data::serialize(error, serde_json::value::Serializer).unwrap();
        if own_serialize_is_data {
            assert_eq!(serde_json::to_value(error).unwrap(), json);
        }
        let object = json
            .as_object()
            .unwrap_or_else(|| panic!("{type_name}: {json} is an object"));
        assert_eq!(
            object.get("code"),
            Some(&Value::from(error.error_code())),
            "{json}"
        );
        assert_eq!(
            object.get("message"),
            Some(&Value::from(error.to_string())),
            "{json}"
        );
        assert!(
            is_snake_case(error.error_code()),
            "{type_name}: code `{}` is snake_case",
            error.error_code()
        );
        check_values(&json, type_name);
        let back: E = readerlink::error_data::deserialize(json.clone())
            .unwrap_or_else(|e| panic!("{json} reads back: {e}"));
        if own_serialize_is_data {
            assert_eq!(&serde_json::from_value::<E>(json.clone()).unwrap(), error);
        }
        assert_eq!(&back, error, "{json} reads back the same");
        // serde's default form, as traces written before this shape hold
        // it, still reads.
        assert_eq!(&E::from_tagged(error.to_tagged().unwrap()).unwrap(), error);
        kinds.insert(error.to_tagged().unwrap().as_object().map_or_else(
            || error.to_tagged().unwrap().as_str().unwrap().to_owned(),
            |o| o.keys().next().unwrap().clone(),
        ));
        lines.push(format!("{type_name}: {json}"));
    }
    let all: BTreeSet<String> = E::variants().iter().map(|v| (*v).to_owned()).collect();
    assert!(!all.is_empty());
    assert_eq!(kinds, all, "{type_name}: a sample of every kind");
    // The listed codes are exactly the kinds' own (a kind that carries an
    // inner error takes that error's code, which its own type lists).
    let written: BTreeSet<&str> = samples.iter().map(ErrorData::error_code).collect();
    let listed: BTreeSet<&str> = E::codes().iter().copied().collect();
    assert!(listed.is_subset(&written), "{type_name}: {listed:?} all written");
    for code in written {
        assert!(
            readerlink::error_data::all_codes().contains(&code),
            "{type_name}: `{code}` is a known code"
        );
    }
    lines
}

fn is_snake_case(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A PascalCase word (`Connected`, `NotConnected`): what serde writes for
/// an enum value without `rename_all`.
fn is_pascal_case(text: &str) -> bool {
    text.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && text.chars().all(|c| c.is_ascii_alphabetic())
        && text.chars().any(|c| c.is_ascii_lowercase())
}

/// No enum value or key in `value` is PascalCase, and every object with a
/// `code` is an error with its message.
fn check_values(value: &Value, context: &str) {
    match value {
        Value::String(text) => assert!(!is_pascal_case(text), "{context}: `{text}` is not snake_case"),
        Value::Array(items) => items.iter().for_each(|item| check_values(item, context)),
        Value::Object(object) => {
            for (key, item) in object {
                assert!(!is_pascal_case(key), "{context}: key `{key}` is a kind's name");
                check_values(item, context);
            }
            if object.contains_key("code") {
                assert!(
                    object.get("message").is_some_and(Value::is_string),
                    "{context}: {value}"
                );
            }
        }
        _ => {}
    }
}

#[test]
fn every_error_kind_is_written_with_its_code_and_message_and_reads_back() {
    let _snapshots = common::snapshots();
    let mut lines = Vec::new();
    lines.extend(check_errors("TransportError", transport_errors(), true));
    lines.extend(check_errors("BackendError", backend_errors(), false));
    lines.extend(check_errors("ConnectError", connect_errors(), true));
    lines.extend(check_errors("CommandError", command_errors(), true));
    lines.extend(check_errors("ReconnectError", reconnect_errors(), true));
    lines.extend(check_errors("UpdateError", update_errors(), true));
    lines.extend(check_errors("DiscoveryError", discovery_errors(), true));
    lines.extend(check_errors("TerminalError", terminal_errors(), true));
    insta::assert_snapshot!("every_error_kind_as_json", lines.join("\n"));
}

#[test]
fn every_firmware_integrity_error_kind_is_written_with_its_code_and_message_and_reads_back() {
    let _snapshots = common::snapshots();
    let lines = check_errors("IntegrityError", integrity_errors(), true);
    for error in integrity_errors() {
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(json["code"], error.code());
    }
    insta::assert_snapshot!("every_integrity_error_kind_as_json", lines.join("\n"));
}

#[test]
fn an_error_code_is_the_inner_errors_for_a_terminal_connect_or_command() {
    let json = serde_json::to_value(TerminalError::Connect {
        serial_number: serial(),
        error: ConnectError::LocationNotFound {
            location: "tml_9".into(),
        },
    })
    .unwrap();
    assert_eq!(json["code"], "location_not_found");
    assert_eq!(json["error"]["code"], "location_not_found");
    assert_eq!(json["serial_number"], "STRM2-0001");
}

fn events() -> Vec<TerminalEvent> {
    let battery = Battery {
        level: 0.81,
        status: readerlink::reader::BatteryStatus::Nominal,
        charging: false,
    };
    let reader = Reader {
        serial_number: serial(),
        device_type: readerlink::reader::DeviceType::StripeM2,
        software_version: Some("2.1.0".into()),
        battery: Some(battery),
        rssi: Some(-48),
        peripheral: "sim:1".into(),
        available_update: None,
    };
    vec![
        TerminalEvent::ConnectionStatusChanged {
            status: ConnectionStatus::NotConnected,
        },
        TerminalEvent::ReaderStatusChanged {
            serial_number: serial(),
            status: ConnectionStatus::Reconnecting,
        },
        TerminalEvent::DiscoveredReadersUpdated {
            readers: vec![reader.clone()],
        },
        TerminalEvent::Connected {
            reader,
            location: "tml_1".into(),
        },
        TerminalEvent::Disconnected {
            serial_number: serial(),
            reason: DisconnectReason::PeerRemovedPairingInformation,
        },
        TerminalEvent::ReconnectStarted {
            serial_number: serial(),
            reason: DisconnectReason::BluetoothSignalLost,
            cancelable: Cancelable::default(),
        },
        TerminalEvent::ReconnectSucceeded {
            serial_number: serial(),
        },
        TerminalEvent::ReconnectFailed {
            serial_number: serial(),
            error: ReconnectError::ConnectTimedOut {
                window_ms: 60_000,
                attempts: 4,
                last_error: Some(ConnectError::LinkTimedOut { after_ms: 10_000 }),
            },
        },
        TerminalEvent::SavedReaderReconnectStarted {
            serial_number: serial(),
            location: "tml_1".into(),
        },
        TerminalEvent::SavedReaderFound {
            serial_number: serial(),
        },
        TerminalEvent::SavedReaderNotFound {
            serial_number: serial(),
        },
        TerminalEvent::ReaderActorFailed {
            serial_number: serial(),
            actor: "connection".into(),
            panic: "boom".into(),
        },
        TerminalEvent::RebootScheduled {
            serial_number: serial(),
            at: 85_800_000,
        },
        TerminalEvent::BatteryLevelReported {
            serial_number: serial(),
            battery,
        },
        TerminalEvent::LowBatteryWarning {
            serial_number: serial(),
            battery: Battery {
                level: 0.15,
                status: readerlink::reader::BatteryStatus::Low,
                charging: true,
            },
        },
        TerminalEvent::CardInserted {
            serial_number: serial(),
        },
        TerminalEvent::CardRemoved {
            serial_number: serial(),
        },
        TerminalEvent::StoreWriteFailed {
            error: "disk full".into(),
        },
        TerminalEvent::EventsMissed { count: 12 },
        TerminalEvent::UpdateAvailable {
            serial_number: serial(),
            update: update(),
        },
        TerminalEvent::UpdateInstallStarted {
            serial_number: serial(),
            update: update(),
            cancelable: Some(Cancelable::default()),
        },
        TerminalEvent::UpdateInstallProgress {
            serial_number: serial(),
            progress: 0.35,
        },
        TerminalEvent::UpdateInstallFinished {
            serial_number: serial(),
            update: Some(update()),
            error: Some(UpdateError::Canceled),
        },
    ]
}

#[test]
fn every_event_kind_is_written_with_snake_case_values_errors_as_data_and_f32_as_written() {
    let _snapshots = common::snapshots();
    let mut kinds = BTreeSet::new();
    let mut lines = Vec::new();
    for event in events() {
        let json = serde_json::to_value(&event).unwrap();
        let object = json.as_object().unwrap();
        assert_eq!(object.len(), 1, "{json}: one kind");
        let (kind, fields) = object.iter().next().unwrap();
        kinds.insert(kind.clone());
        check_values(fields, kind);
        let back: TerminalEvent = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, event);
        assert_eq!(serde_json::to_value(&back).unwrap(), json);
        lines.push(serde_json::to_string(&event).unwrap());
    }
    let all: BTreeSet<String> = variant_names(TerminalEvent::deserialize)
        .iter()
        .map(|v| (*v).to_owned())
        .collect();
    assert_eq!(kinds, all, "a sample of every kind of event");

    let text = lines.join("\n");
    assert!(text.contains(r#""level":0.81"#), "{text}");
    assert!(text.contains(r#""level":0.15"#), "{text}");
    assert!(!text.contains("0.8100000"), "{text}");
    assert!(text.contains(r#""status":"not_connected""#), "{text}");
    assert!(text.contains(r#""code":"connect_timed_out""#), "{text}");
    assert!(text.contains(r#""progress":0.35}"#), "{text}");
    assert!(text.contains(r#""cancelable":true"#), "{text}");
    insta::assert_snapshot!("every_event_kind_as_json", text);
}
