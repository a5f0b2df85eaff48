//! The reader wire protocol: what app and reader say to each other over
//! the readerlink GATT service, and the manufacturer data readers advertise.
//!
//! # The GATT service
//!
//! | what | UUID |
//! |---|---|
//! | service ([`crate::transport::SERVICE_UUID`]) | `7e1a0001-5c3b-4e8e-9f2a-8c6d52a10b00` |
//! | command characteristic, app → reader, write without response ([`crate::transport::COMMAND_CHARACTERISTIC_UUID`]) | `7e1a0002-5c3b-4e8e-9f2a-8c6d52a10b00` |
//! | event characteristic, reader → app, notify ([`crate::transport::EVENT_CHARACTERISTIC_UUID`]) | `7e1a0003-5c3b-4e8e-9f2a-8c6d52a10b00` |
//!
//! Manufacturer data is filed under company id
//! [`crate::transport::MANUFACTURER_ID`] and decoded by [`advertisement`].
//!
//! # Layers
//!
//! 1. [`messages`]: typed frames by direction — [`Request`] (a [`Command`]
//!    with a [`RequestId`]) app → reader, [`ReaderMessage`] (responses
//!    carrying the request id they answer, and notifications) reader → app.
//! 2. [`frame`]: the envelope — version, opcode, length, body, CRC-16.
//! 3. [`mod@fragment`]: frames cut into ATT payloads (20 bytes by default, up to
//!    244) with a one-byte fragment header, and reassembled.
//!
//! Every decoder returns a value or a [`CodecError`]; none panics on any
//! input.
//!
//! # The conversation
//!
//! | app sends | reader answers |
//! |---|---|
//! | `Hello` | `ReaderInfo` (serial, device type, software version, active slot, battery, uptime) |
//! | `Identify { duration_ms }` | `Ack`; LEDs flash |
//! | `Reboot { kind }` | `Ack`, then `Disconnecting { RebootRequested }` (kind `Requested`) or `Disconnecting { SecurityReboot }` (kind `Security`), link drops, reader boots and advertises again; `Error { TransactionInProgress }` while a transaction runs (R20) |
//! | `Sleep` / `Wake` | `Ack`; a sleeping reader stays connected and wakes on any command (R7) |
//! | `ReadBattery` | `BatteryLevel` |
//! | `TransactionBegin` | `Ack`; the reader is busy with a payment until `TransactionEnd` or the link goes (R20). `Error { TransactionInProgress }` if one runs, `Error { Busy }` during an install |
//! | `TransactionEnd` | `Ack`, or `Error { NoTransactionInProgress }` |
//! | `UpdateBegin { version, size, sha256, window }` | `Ack` or `Error` (`TransactionInProgress` while a transaction runs) |
//! | `UpdateChunk { offset, bytes }` × n | `UpdateChunkAck { up_to_offset }` after every `window` chunks and after the last; `UpdateProgress` notifications as it goes |
//! | `UpdateCommit` | `Ack` once the digest matched and the new slot is active (the new image runs at once; no reboot), else `Error { DigestMismatch }` |
//! | `UpdateAbort` | `Ack`; the old slot stays active |
//!
//! Unsolicited: `BatteryReport` (at least every 10 minutes, R18a),
//! `LowBatteryWarning`, `CardInserted`, `CardRemoved`, and
//! `Disconnecting { reason }` before the reader drops the link itself.
//! Any refused command is answered by `Error { request_id, code }`.
//!
//! Chunks are written without response: the app keeps up to `window` chunks
//! in flight and moves on as acknowledgements come. A chunk whose offset is
//! not where the image continues is answered by `Error { UnexpectedOffset }`
//! followed by an `UpdateChunkAck` naming the offset to resume from
//! (go-back-N).

pub mod advertisement;
pub mod fragment;
pub mod frame;
pub mod messages;

pub use fragment::{DEFAULT_ATT_PAYLOAD, MAX_ATT_PAYLOAD, Reassembler, fragment};
pub use frame::{CodecError, PROTOCOL_VERSION};
pub use messages::{
    Command, CommandOpcode, ErrorCode, MAX_CHUNK_LEN, MessageOpcode, ReaderInfo, ReaderMessage, RebootKind,
    Request, RequestId, Slot, UPDATE_CHUNK_OVERHEAD, fitted_chunk_len,
};
