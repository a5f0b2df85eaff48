//! The wire protocol's codec: every frame kind survives encode → fragment
//! (20- and 244-byte ATT payloads) → reassemble → decode, and no byte string
//! makes a decoder panic.

use proptest::prelude::*;
use readerlink::protocol::{
    CodecError, Command, CommandOpcode, ErrorCode, MAX_CHUNK_LEN, MessageOpcode, ReaderInfo, ReaderMessage,
    Reassembler, RebootKind, Request, Slot, fragment,
};
use readerlink::reader::{Battery, BatteryStatus, DeviceType, DisconnectReason, SerialNumber};

fn battery() -> impl Strategy<Value = Battery> {
    (
        0.0f32..=1.0,
        prop_oneof![
            Just(BatteryStatus::Critical),
            Just(BatteryStatus::Low),
            Just(BatteryStatus::Nominal)
        ],
        any::<bool>(),
    )
        .prop_map(|(level, status, charging)| Battery {
            level,
            status,
            charging,
        })
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Hello),
        any::<u16>().prop_map(|duration_ms| Command::Identify { duration_ms }),
        prop_oneof![Just(RebootKind::Requested), Just(RebootKind::Security)]
            .prop_map(|kind| Command::Reboot { kind }),
        Just(Command::Sleep),
        Just(Command::Wake),
        Just(Command::ReadBattery),
        Just(Command::TransactionBegin),
        Just(Command::TransactionEnd),
        ("[0-9a-z.\\-]{0,40}", any::<u32>(), any::<[u8; 32]>(), 1u8..).prop_map(
            |(version, size, sha256, window)| Command::UpdateBegin {
                version,
                size,
                sha256,
                window
            }
        ),
        (
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..=MAX_CHUNK_LEN)
        )
            .prop_map(|(offset, bytes)| Command::UpdateChunk { offset, bytes }),
        Just(Command::UpdateCommit),
        Just(Command::UpdateAbort),
    ]
}

fn message() -> impl Strategy<Value = ReaderMessage> {
    let info = (
        "[A-Z0-9\\-]{1,32}",
        proptest::sample::select(DeviceType::ALL.to_vec()),
        "\\PC{0,30}",
        prop_oneof![Just(Slot::A), Just(Slot::B)],
        battery(),
        any::<u64>(),
    )
        .prop_map(
            |(serial, device_type, software_version, active_slot, battery, uptime_ms)| ReaderInfo {
                serial_number: SerialNumber(serial),
                device_type,
                software_version,
                active_slot,
                battery,
                uptime_ms,
            },
        );
    prop_oneof![
        (any::<u16>(), info).prop_map(|(request_id, info)| ReaderMessage::ReaderInfo { request_id, info }),
        any::<u16>().prop_map(|request_id| ReaderMessage::Ack { request_id }),
        (any::<u16>(), proptest::sample::select(ErrorCode::ALL.to_vec()))
            .prop_map(|(request_id, code)| ReaderMessage::Error { request_id, code }),
        (any::<u16>(), battery())
            .prop_map(|(request_id, battery)| ReaderMessage::BatteryLevel { request_id, battery }),
        (any::<u16>(), any::<u32>()).prop_map(|(request_id, up_to_offset)| ReaderMessage::UpdateChunkAck {
            request_id,
            up_to_offset
        }),
        battery().prop_map(|battery| ReaderMessage::BatteryReport { battery }),
        battery().prop_map(|battery| ReaderMessage::LowBatteryWarning { battery }),
        Just(ReaderMessage::CardInserted),
        Just(ReaderMessage::CardRemoved),
        (any::<u32>(), any::<u32>())
            .prop_map(|(bytes_written, total)| ReaderMessage::UpdateProgress { bytes_written, total }),
        proptest::sample::select(DisconnectReason::ALL.to_vec())
            .prop_map(|reason| ReaderMessage::Disconnecting { reason }),
    ]
}

/// Sends a frame through fragmentation and reassembly.
fn through_the_air(frame: &[u8], att_payload: usize) -> Vec<u8> {
    let pieces = fragment(frame, att_payload);
    assert!(pieces.iter().all(|p| p.len() <= att_payload));
    let mut reassembler = Reassembler::new();
    let (last, rest) = pieces.split_last().expect("a frame is never empty");
    for piece in rest {
        assert_eq!(reassembler.push(piece), Ok(None), "frame complete too early");
    }
    reassembler
        .push(last)
        .expect("valid fragments")
        .expect("frame complete")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_command_round_trips(request_id in any::<u16>(), command in command(), att in prop_oneof![Just(20usize), Just(244usize)]) {
        let request = Request::new(request_id, command);
        let frame = request.encode();
        prop_assert_eq!(Request::decode(&through_the_air(&frame, att)), Ok(request));
    }

    #[test]
    fn every_reader_message_round_trips(message in message(), att in prop_oneof![Just(20usize), Just(244usize)]) {
        let frame = message.encode();
        prop_assert_eq!(ReaderMessage::decode(&through_the_air(&frame, att)), Ok(message));
    }

    #[test]
    fn random_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        // Random bytes are almost never a valid frame; whatever they are,
        // the answer is a value or a typed error.
        let _ = Request::decode(&bytes);
        let _ = ReaderMessage::decode(&bytes);
        let mut reassembler = Reassembler::new();
        for piece in bytes.chunks(20) {
            let _ = reassembler.push(piece);
        }
    }

    #[test]
    fn a_valid_header_with_a_random_body_yields_a_typed_error_or_a_frame(opcode in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..80)) {
        // Past the checksum, so the body decoders themselves are exercised.
        let frame = readerlink::protocol::frame::seal(opcode, &body);
        match Request::decode(&frame) {
            Ok(request) => prop_assert_eq!(request.encode(), frame.clone()),
            Err(e) => prop_assert!(is_body_error(&e), "{:?}", e),
        }
        match ReaderMessage::decode(&frame) {
            // f32 NaN payloads are rejected, so a decoded message re-encodes to the same bytes.
            Ok(message) => prop_assert_eq!(message.encode(), frame),
            Err(e) => prop_assert!(is_body_error(&e), "{:?}", e),
        }
    }
}

fn is_body_error(e: &CodecError) -> bool {
    matches!(
        e,
        CodecError::UnknownOpcode(_)
            | CodecError::Truncated { .. }
            | CodecError::InvalidField { .. }
            | CodecError::TrailingBytes(_)
    )
}

#[test]
fn opcodes_decode_from_their_byte_and_unknown_ones_are_typed_errors() {
    for op in CommandOpcode::ALL {
        assert_eq!(CommandOpcode::try_from(*op as u8), Ok(*op));
    }
    for op in MessageOpcode::ALL {
        assert_eq!(MessageOpcode::try_from(*op as u8), Ok(*op));
    }
    assert_eq!(
        CommandOpcode::try_from(0x7f),
        Err(CodecError::UnknownOpcode(0x7f))
    );
    assert_eq!(
        Request::decode(&ReaderMessage::Ack { request_id: 1 }.encode()),
        Err(CodecError::UnknownOpcode(0x82)),
        "a reader's frame is not a command"
    );
}

#[test]
fn every_command_opcode_has_a_frame_that_round_trips() {
    // One of each kind, so a new opcode without a case here fails.
    let examples = [
        Command::Hello,
        Command::Identify { duration_ms: 3000 },
        Command::Reboot {
            kind: RebootKind::Requested,
        },
        Command::Reboot {
            kind: RebootKind::Security,
        },
        Command::Sleep,
        Command::Wake,
        Command::ReadBattery,
        Command::TransactionBegin,
        Command::TransactionEnd,
        Command::UpdateBegin {
            version: "3.2.0".into(),
            size: 1024,
            sha256: [7; 32],
            window: 4,
        },
        Command::UpdateChunk {
            offset: 512,
            bytes: vec![1, 2, 3],
        },
        Command::UpdateCommit,
        Command::UpdateAbort,
    ];
    let covered: std::collections::BTreeSet<u8> = examples.iter().map(|c| c.opcode() as u8).collect();
    let all: std::collections::BTreeSet<u8> = CommandOpcode::ALL.iter().map(|o| *o as u8).collect();
    assert_eq!(covered, all, "every command opcode has an example");
    for command in examples {
        let request = Request::new(9, command);
        assert_eq!(
            Request::decode(&through_the_air(&request.encode(), 20)),
            Ok(request)
        );
    }
}

#[test]
fn a_reboot_of_an_unknown_kind_is_a_typed_error() {
    let mut frame = Request::new(
        1,
        Command::Reboot {
            kind: RebootKind::Security,
        },
    )
    .encode();
    // Body: request id (2 bytes), then the kind; re-seal with kind 9.
    let mut body = frame[4..frame.len() - 2].to_vec();
    body[2] = 9;
    frame = readerlink::protocol::frame::seal(CommandOpcode::Reboot as u8, &body);
    assert_eq!(
        Request::decode(&frame),
        Err(CodecError::InvalidField { field: "kind" })
    );
}

#[test]
fn the_reader_info_carries_the_uptime_the_24_hour_reboot_counts_from() {
    let info = ReaderInfo {
        serial_number: SerialNumber::new("WPC32-0001"),
        device_type: DeviceType::WisePad3,
        software_version: "2.4.1".into(),
        active_slot: Slot::A,
        battery: Battery {
            level: 0.5,
            status: BatteryStatus::Nominal,
            charging: false,
        },
        uptime_ms: 23 * 3_600_000,
    };
    let message = ReaderMessage::ReaderInfo { request_id: 3, info };
    assert_eq!(ReaderMessage::decode(&message.encode()), Ok(message));
}

#[test]
fn a_corrupted_fragment_is_caught_by_the_checksum() {
    let frame = Request::new(7, Command::Identify { duration_ms: 3000 }).encode();
    let mut pieces = fragment(&frame, 20);
    pieces[0][6] ^= 0x10;
    let mut reassembler = Reassembler::new();
    let mut whole = None;
    for p in &pieces {
        whole = reassembler.push(p).unwrap();
    }
    assert!(matches!(
        Request::decode(&whole.unwrap()),
        Err(CodecError::ChecksumMismatch { .. })
    ));
}
