//! The frames, typed by direction: [`Request`] (a [`Command`] with its
//! request id, app → reader) and [`ReaderMessage`] (responses and
//! notifications, reader → app), with their opcodes and body layouts.
//!
//! Bodies (integers little-endian; `str` is a 1-byte length then UTF-8;
//! `battery` is level `f32` in [0, 1], status byte — 0 critical, 1 low,
//! 2 nominal — and charging byte 0/1):
//!
//! | opcode | frame | body after the 2-byte request id |
//! |---|---|---|
//! | 0x01 | `Hello` | — |
//! | 0x02 | `Identify` | duration ms `u16` |
//! | 0x03 | `Reboot` | kind `u8` (0 requested by the app, 1 the 24-hour security reboot) |
//! | 0x04 | `Sleep` | — |
//! | 0x05 | `Wake` | — |
//! | 0x06 | `ReadBattery` | — |
//! | 0x07 | `TransactionBegin` | — |
//! | 0x08 | `TransactionEnd` | — |
//! | 0x10 | `UpdateBegin` | version `str`, size `u32`, sha256 `[u8; 32]`, window `u8` |
//! | 0x11 | `UpdateChunk` | offset `u32`, bytes `u16` length then data |
//! | 0x12 | `UpdateCommit` | — |
//! | 0x13 | `UpdateAbort` | — |
//! | 0x81 | `ReaderInfo` | serial `str`, device type `u8`, software version `str`, active slot `u8`, battery, uptime ms `u64` |
//! | 0x82 | `Ack` | — |
//! | 0x83 | `Error` | error code `u8` |
//! | 0x84 | `BatteryLevel` | battery |
//! | 0x85 | `UpdateChunkAck` | up-to offset `u32` |
//!
//! Notifications carry no request id:
//!
//! | opcode | frame | body |
//! |---|---|---|
//! | 0xA0 | `BatteryReport` | battery |
//! | 0xA1 | `LowBatteryWarning` | battery |
//! | 0xA2 | `CardInserted` | — |
//! | 0xA3 | `CardRemoved` | — |
//! | 0xA4 | `UpdateProgress` | bytes written `u32`, total `u32` |
//! | 0xA5 | `Disconnecting` | reason `u8` ([`DisconnectReason::wire_code`]) |

use serde::{Deserialize, Serialize};

use super::frame::{self, BodyReader, BodyWriter, CodecError};
use crate::reader::{Battery, BatteryStatus, DeviceType, DisconnectReason, SerialNumber};

/// Matches a response to the command it answers. The app picks them
/// (a counter is enough); the reader echoes them back.
pub type RequestId = u16;

/// The longest data an [`Command::UpdateChunk`] carries.
pub const MAX_CHUNK_LEN: usize = 512;

/// The bytes an [`Command::UpdateChunk`]'s frame adds to its data: the
/// frame header, the request id, the offset, the data's length, the CRC.
pub const UPDATE_CHUNK_OVERHEAD: usize = frame::HEADER_LEN + 2 + 4 + 2 + frame::CRC_LEN;

/// The data length, at most `wanted`, whose [`Command::UpdateChunk`]
/// frame fills whole ATT payloads of `att_payload` bytes, so no write
/// leaves a connection-event slot part empty. At a 244-byte payload a
/// 512-byte chunk's 526-byte frame takes three payloads, the last a
/// sixth full (72 % of the bytes sent are data); 472 bytes fill two
/// (97 %). A chunk whose frame is shorter than one payload, or an
/// `att_payload` of 0 (not known), is left as it is.
pub fn fitted_chunk_len(wanted: u16, att_payload: usize) -> u16 {
    if att_payload == 0 {
        return wanted;
    }
    let room = att_payload.max(2) - 1;
    let frame = wanted as usize + UPDATE_CHUNK_OVERHEAD;
    let whole = frame / room * room;
    match whole.checked_sub(UPDATE_CHUNK_OVERHEAD) {
        Some(fitted) if fitted > 0 => fitted as u16,
        _ => wanted,
    }
}

macro_rules! opcodes {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $code,)*
        }

        impl $name {
            /// Every opcode in this direction.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
        }

        impl TryFrom<u8> for $name {
            type Error = CodecError;

            fn try_from(code: u8) -> Result<Self, CodecError> {
                match code {
                    $($code => Ok(Self::$variant),)*
                    other => Err(CodecError::UnknownOpcode(other)),
                }
            }
        }
    };
}

opcodes! {
    /// Opcodes of app → reader frames.
    CommandOpcode {
        /// [`Command::Hello`].
        Hello = 0x01,
        /// [`Command::Identify`].
        Identify = 0x02,
        /// [`Command::Reboot`].
        Reboot = 0x03,
        /// [`Command::Sleep`].
        Sleep = 0x04,
        /// [`Command::Wake`].
        Wake = 0x05,
        /// [`Command::ReadBattery`].
        ReadBattery = 0x06,
        /// [`Command::TransactionBegin`].
        TransactionBegin = 0x07,
        /// [`Command::TransactionEnd`].
        TransactionEnd = 0x08,
        /// [`Command::UpdateBegin`].
        UpdateBegin = 0x10,
        /// [`Command::UpdateChunk`].
        UpdateChunk = 0x11,
        /// [`Command::UpdateCommit`].
        UpdateCommit = 0x12,
        /// [`Command::UpdateAbort`].
        UpdateAbort = 0x13,
    }
}

opcodes! {
    /// Opcodes of reader → app frames.
    MessageOpcode {
        /// [`ReaderMessage::ReaderInfo`].
        ReaderInfo = 0x81,
        /// [`ReaderMessage::Ack`].
        Ack = 0x82,
        /// [`ReaderMessage::Error`].
        Error = 0x83,
        /// [`ReaderMessage::BatteryLevel`].
        BatteryLevel = 0x84,
        /// [`ReaderMessage::UpdateChunkAck`].
        UpdateChunkAck = 0x85,
        /// [`ReaderMessage::BatteryReport`].
        BatteryReport = 0xA0,
        /// [`ReaderMessage::LowBatteryWarning`].
        LowBatteryWarning = 0xA1,
        /// [`ReaderMessage::CardInserted`].
        CardInserted = 0xA2,
        /// [`ReaderMessage::CardRemoved`].
        CardRemoved = 0xA3,
        /// [`ReaderMessage::UpdateProgress`].
        UpdateProgress = 0xA4,
        /// [`ReaderMessage::Disconnecting`].
        Disconnecting = 0xA5,
    }
}

/// What the app asks a reader to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Opens the conversation; answered by [`ReaderMessage::ReaderInfo`].
    Hello,
    /// Flash the LEDs so a person can pick the reader out (R4); answered by
    /// [`ReaderMessage::Ack`].
    Identify {
        /// How long to flash, in milliseconds.
        duration_ms: u16,
    },
    /// Reboot now (R12); answered by [`ReaderMessage::Ack`], then
    /// [`ReaderMessage::Disconnecting`] with the kind's reason
    /// ([`RebootKind::disconnect_reason`]) and the link drops. Refused with
    /// [`ErrorCode::TransactionInProgress`] while a transaction runs (R20).
    Reboot {
        /// Why the host reboots it: the reader announces the matching
        /// disconnect reason.
        kind: RebootKind,
    },
    /// Go to sleep now; the reader stays connected and wakes on the next
    /// command (R7). Answered by [`ReaderMessage::Ack`].
    Sleep,
    /// Wake up (any command wakes a sleeping reader; this one does only
    /// that). Answered by [`ReaderMessage::Ack`].
    Wake,
    /// Report the battery now; answered by [`ReaderMessage::BatteryLevel`].
    ReadBattery,
    /// A payment starts: until [`Command::TransactionEnd`] the reader is
    /// busy with it and refuses a reboot or an install (R20). Answered by
    /// [`ReaderMessage::Ack`], or [`ReaderMessage::Error`] with
    /// [`ErrorCode::TransactionInProgress`] (one already runs) or
    /// [`ErrorCode::Busy`] (an install is under way). A transaction also
    /// ends when the link goes.
    TransactionBegin,
    /// The transaction ends. Answered by [`ReaderMessage::Ack`], or
    /// [`ReaderMessage::Error`] with [`ErrorCode::NoTransactionInProgress`].
    TransactionEnd,
    /// Start writing an image to the inactive firmware slot (R19). Answered
    /// by [`ReaderMessage::Ack`], or an [`ReaderMessage::Error`] when the
    /// reader cannot take it ([`ErrorCode::TransactionInProgress`] while a
    /// transaction runs, [`ErrorCode::VersionTooOld`] for a version older
    /// than the one it runs, [`ErrorCode::Busy`] while the last install's
    /// new image has not confirmed itself).
    UpdateBegin {
        /// The software version the image carries.
        version: String,
        /// The image's size in bytes.
        size: u32,
        /// The image's SHA-256 digest, checked at [`Command::UpdateCommit`].
        sha256: [u8; 32],
        /// The reader acknowledges every `window` chunks (and the last one),
        /// so up to `window` chunks can be in flight. At least 1.
        window: u8,
    },
    /// One piece of the image, written without waiting for an answer; the
    /// reader sends [`ReaderMessage::UpdateChunkAck`] every window.
    UpdateChunk {
        /// Where in the image these bytes go; chunks must come in order.
        offset: u32,
        /// The image bytes, at most [`MAX_CHUNK_LEN`].
        bytes: Vec<u8>,
    },
    /// Verify the whole image against its digest and size and boot the new
    /// slot on trial; answered by [`ReaderMessage::Ack`] once the new image
    /// runs, or [`ReaderMessage::Error`] (the old slot stays active). The
    /// new image must then confirm itself: until it has, a reboot falls
    /// back to the old slot.
    UpdateCommit,
    /// Abandon the install; the old slot stays active. Answered by
    /// [`ReaderMessage::Ack`].
    UpdateAbort,
}

impl Command {
    /// This command's opcode.
    pub fn opcode(&self) -> CommandOpcode {
        match self {
            Self::Hello => CommandOpcode::Hello,
            Self::Identify { .. } => CommandOpcode::Identify,
            Self::Reboot { .. } => CommandOpcode::Reboot,
            Self::Sleep => CommandOpcode::Sleep,
            Self::Wake => CommandOpcode::Wake,
            Self::ReadBattery => CommandOpcode::ReadBattery,
            Self::TransactionBegin => CommandOpcode::TransactionBegin,
            Self::TransactionEnd => CommandOpcode::TransactionEnd,
            Self::UpdateBegin { .. } => CommandOpcode::UpdateBegin,
            Self::UpdateChunk { .. } => CommandOpcode::UpdateChunk,
            Self::UpdateCommit => CommandOpcode::UpdateCommit,
            Self::UpdateAbort => CommandOpcode::UpdateAbort,
        }
    }
}

/// A command on the wire: what to do, and the id its answer will carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Echoed by the response, so the app can match it.
    pub request_id: RequestId,
    /// What to do.
    pub command: Command,
}

impl Request {
    /// A request.
    pub fn new(request_id: RequestId, command: Command) -> Self {
        Self { request_id, command }
    }

    /// Encodes the whole frame (before fragmentation). Update chunks longer
    /// than [`MAX_CHUNK_LEN`] are cut to it; keep them within it.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = BodyWriter::default();
        w.u16(self.request_id);
        match &self.command {
            Command::Hello
            | Command::Sleep
            | Command::Wake
            | Command::ReadBattery
            | Command::TransactionBegin
            | Command::TransactionEnd
            | Command::UpdateCommit
            | Command::UpdateAbort => {}
            Command::Reboot { kind } => {
                w.u8(kind.wire_code());
            }
            Command::Identify { duration_ms } => {
                w.u16(*duration_ms);
            }
            Command::UpdateBegin {
                version,
                size,
                sha256,
                window,
            } => {
                w.str(version).u32(*size).bytes(sha256).u8(*window);
            }
            Command::UpdateChunk { offset, bytes } => {
                let bytes = &bytes[..bytes.len().min(MAX_CHUNK_LEN)];
                w.u32(*offset).u16(bytes.len() as u16).bytes(bytes);
            }
        }
        frame::seal(self.command.opcode() as u8, &w.0)
    }

    /// Decodes one whole frame; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let (opcode, body) = frame::open(bytes)?;
        let opcode = CommandOpcode::try_from(opcode)?;
        let mut r = BodyReader::new(body);
        let request_id = r.u16()?;
        let command = match opcode {
            CommandOpcode::Hello => Command::Hello,
            CommandOpcode::Identify => Command::Identify {
                duration_ms: r.u16()?,
            },
            CommandOpcode::Reboot => Command::Reboot {
                kind: RebootKind::try_from(r.u8()?)?,
            },
            CommandOpcode::Sleep => Command::Sleep,
            CommandOpcode::Wake => Command::Wake,
            CommandOpcode::ReadBattery => Command::ReadBattery,
            CommandOpcode::TransactionBegin => Command::TransactionBegin,
            CommandOpcode::TransactionEnd => Command::TransactionEnd,
            CommandOpcode::UpdateBegin => {
                let version = r.str("version")?;
                let size = r.u32()?;
                let mut sha256 = [0; 32];
                sha256.copy_from_slice(r.take(32)?);
                let window = r.u8()?;
                if window == 0 {
                    return Err(CodecError::InvalidField { field: "window" });
                }
                Command::UpdateBegin {
                    version,
                    size,
                    sha256,
                    window,
                }
            }
            CommandOpcode::UpdateChunk => {
                let offset = r.u32()?;
                let len = r.u16()? as usize;
                if len > MAX_CHUNK_LEN {
                    return Err(CodecError::InvalidField { field: "bytes" });
                }
                Command::UpdateChunk {
                    offset,
                    bytes: r.take(len)?.to_vec(),
                }
            }
            CommandOpcode::UpdateCommit => Command::UpdateCommit,
            CommandOpcode::UpdateAbort => Command::UpdateAbort,
        };
        r.finish()?;
        Ok(Self { request_id, command })
    }
}

/// Why the host reboots a reader: the reader announces the matching
/// [`DisconnectReason`] before it drops the link (R8, R12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RebootKind {
    /// The app called reboot: [`DisconnectReason::RebootRequested`].
    Requested,
    /// The host's 24-hour reboot, ahead of the reader's own (R12):
    /// [`DisconnectReason::SecurityReboot`].
    Security,
}

impl RebootKind {
    /// The reason the reader announces for this reboot.
    pub fn disconnect_reason(self) -> DisconnectReason {
        match self {
            Self::Requested => DisconnectReason::RebootRequested,
            Self::Security => DisconnectReason::SecurityReboot,
        }
    }

    fn wire_code(self) -> u8 {
        match self {
            Self::Requested => 0,
            Self::Security => 1,
        }
    }
}

impl TryFrom<u8> for RebootKind {
    type Error = CodecError;

    fn try_from(code: u8) -> Result<Self, CodecError> {
        match code {
            0 => Ok(Self::Requested),
            1 => Ok(Self::Security),
            _ => Err(CodecError::InvalidField { field: "kind" }),
        }
    }
}

/// Which of the reader's two firmware slots (R19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Slot {
    /// Slot A.
    A,
    /// Slot B.
    B,
}

impl Slot {
    /// The other slot: where an update is written.
    pub fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }

    fn wire_code(self) -> u8 {
        match self {
            Self::A => 0,
            Self::B => 1,
        }
    }
}

/// What a reader says about itself in answer to [`Command::Hello`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReaderInfo {
    /// Its serial number.
    pub serial_number: SerialNumber,
    /// Its model.
    pub device_type: DeviceType,
    /// The software version of the image it runs.
    pub software_version: String,
    /// The firmware slot it booted from.
    pub active_slot: Slot,
    /// Its battery now.
    pub battery: Battery,
    /// How long since it last booted, in ms: the host counts the 24-hour
    /// reboot (R12) from this, not from its own connect. Absent in traces
    /// recorded before it existed (read as 0).
    #[serde(default)]
    pub uptime_ms: u64,
}

/// Why a reader refused or failed a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum ErrorCode {
    /// The reader cannot do this now (for example, an update already runs).
    Busy = 1,
    /// An update command came with no update begun.
    NoUpdateInProgress = 2,
    /// A chunk's offset is not where the image continues; the
    /// [`ReaderMessage::UpdateChunkAck`] sent with it says where that is.
    UnexpectedOffset = 3,
    /// The image is empty, too large for a slot, or longer than announced.
    InvalidImageSize = 4,
    /// The image's digest or size does not match what
    /// [`Command::UpdateBegin`] announced; the old slot stays active.
    DigestMismatch = 5,
    /// Writing the image failed; the old slot stays active.
    InstallFailed = 6,
    /// The battery is too low to install (R14).
    BatteryTooLow = 7,
    /// A transaction runs: the reader refuses a reboot, an install or a
    /// second transaction until it ends (R20).
    TransactionInProgress = 8,
    /// [`Command::TransactionEnd`] came with no transaction running.
    NoTransactionInProgress = 9,
    /// The image's version is older than the one the reader runs: it never
    /// goes back (rollback protection, R19).
    VersionTooOld = 10,
}

impl ErrorCode {
    /// Every error code.
    pub const ALL: [ErrorCode; 10] = [
        Self::Busy,
        Self::NoUpdateInProgress,
        Self::UnexpectedOffset,
        Self::InvalidImageSize,
        Self::DigestMismatch,
        Self::InstallFailed,
        Self::BatteryTooLow,
        Self::TransactionInProgress,
        Self::NoTransactionInProgress,
        Self::VersionTooOld,
    ];
}

impl TryFrom<u8> for ErrorCode {
    type Error = CodecError;

    fn try_from(code: u8) -> Result<Self, CodecError> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| *c as u8 == code)
            .ok_or(CodecError::InvalidField { field: "code" })
    }
}

/// What a reader sends: responses (they carry the request id of the
/// command they answer) and notifications (unsolicited).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReaderMessage {
    /// Answers [`Command::Hello`].
    ReaderInfo {
        /// The hello's request id.
        request_id: RequestId,
        /// The reader's identity, software and battery.
        info: ReaderInfo,
    },
    /// The command was carried out.
    Ack {
        /// The command's request id.
        request_id: RequestId,
    },
    /// The command was refused or failed.
    Error {
        /// The command's request id.
        request_id: RequestId,
        /// Why.
        code: ErrorCode,
    },
    /// Answers [`Command::ReadBattery`].
    BatteryLevel {
        /// The command's request id.
        request_id: RequestId,
        /// The battery now.
        battery: Battery,
    },
    /// Every window of update chunks (and after the last one): everything
    /// before `up_to_offset` is written. Also sent, with the offset the
    /// reader expects, when a chunk arrives out of place.
    UpdateChunkAck {
        /// The request id of the chunk that completed the window.
        request_id: RequestId,
        /// Bytes `0 .. up_to_offset` of the image are written.
        up_to_offset: u32,
    },
    /// The periodic battery report (R18a), at least every 10 minutes while
    /// connected, and when charging starts or stops.
    BatteryReport {
        /// The battery now.
        battery: Battery,
    },
    /// The battery just fell to low (R18a).
    LowBatteryWarning {
        /// The battery now.
        battery: Battery,
    },
    /// A card was inserted (R18a).
    CardInserted,
    /// The card was removed (R18a).
    CardRemoved,
    /// How far the image being written has got.
    UpdateProgress {
        /// Bytes written so far.
        bytes_written: u32,
        /// The image's size.
        total: u32,
    },
    /// The reader is about to drop the link, and why (R8). The link goes
    /// down right after.
    Disconnecting {
        /// Why.
        reason: DisconnectReason,
    },
}

impl ReaderMessage {
    /// This message's opcode.
    pub fn opcode(&self) -> MessageOpcode {
        match self {
            Self::ReaderInfo { .. } => MessageOpcode::ReaderInfo,
            Self::Ack { .. } => MessageOpcode::Ack,
            Self::Error { .. } => MessageOpcode::Error,
            Self::BatteryLevel { .. } => MessageOpcode::BatteryLevel,
            Self::UpdateChunkAck { .. } => MessageOpcode::UpdateChunkAck,
            Self::BatteryReport { .. } => MessageOpcode::BatteryReport,
            Self::LowBatteryWarning { .. } => MessageOpcode::LowBatteryWarning,
            Self::CardInserted => MessageOpcode::CardInserted,
            Self::CardRemoved => MessageOpcode::CardRemoved,
            Self::UpdateProgress { .. } => MessageOpcode::UpdateProgress,
            Self::Disconnecting { .. } => MessageOpcode::Disconnecting,
        }
    }

    /// The request id of the command this answers; `None` for
    /// notifications.
    pub fn request_id(&self) -> Option<RequestId> {
        match self {
            Self::ReaderInfo { request_id, .. }
            | Self::Ack { request_id }
            | Self::Error { request_id, .. }
            | Self::BatteryLevel { request_id, .. }
            | Self::UpdateChunkAck { request_id, .. } => Some(*request_id),
            _ => None,
        }
    }

    /// Whether this is a notification (unsolicited) rather than a response.
    pub fn is_notification(&self) -> bool {
        self.request_id().is_none()
    }

    /// Encodes the whole frame (before fragmentation).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = BodyWriter::default();
        if let Some(id) = self.request_id() {
            w.u16(id);
        }
        match self {
            Self::ReaderInfo { info, .. } => {
                w.str(info.serial_number.as_str())
                    .u8(info.device_type.wire_code())
                    .str(&info.software_version)
                    .u8(info.active_slot.wire_code());
                put_battery(&mut w, &info.battery);
                w.u64(info.uptime_ms);
            }
            Self::Ack { .. } | Self::CardInserted | Self::CardRemoved => {}
            Self::Error { code, .. } => {
                w.u8(*code as u8);
            }
            Self::BatteryLevel { battery, .. }
            | Self::BatteryReport { battery }
            | Self::LowBatteryWarning { battery } => put_battery(&mut w, battery),
            Self::UpdateChunkAck { up_to_offset, .. } => {
                w.u32(*up_to_offset);
            }
            Self::UpdateProgress { bytes_written, total } => {
                w.u32(*bytes_written).u32(*total);
            }
            Self::Disconnecting { reason } => {
                w.u8(reason.wire_code());
            }
        }
        frame::seal(self.opcode() as u8, &w.0)
    }

    /// Decodes one whole frame; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let (opcode, body) = frame::open(bytes)?;
        let opcode = MessageOpcode::try_from(opcode)?;
        let mut r = BodyReader::new(body);
        let message = match opcode {
            MessageOpcode::ReaderInfo => {
                let request_id = r.u16()?;
                let serial =
                    SerialNumber::parse(r.str("serial_number")?).map_err(|_| CodecError::InvalidField {
                        field: "serial_number",
                    })?;
                let device_type = DeviceType::try_from(r.u8()?)
                    .map_err(|_| CodecError::InvalidField { field: "device_type" })?;
                let software_version = r.str("software_version")?;
                if !software_version.is_empty()
                    && crate::reader::check_text(&software_version, u8::MAX as usize).is_err()
                {
                    return Err(CodecError::InvalidField {
                        field: "software_version",
                    });
                }
                let active_slot = match r.u8()? {
                    0 => Slot::A,
                    1 => Slot::B,
                    _ => return Err(CodecError::InvalidField { field: "active_slot" }),
                };
                let battery = take_battery(&mut r)?;
                let uptime_ms = r.u64()?;
                Self::ReaderInfo {
                    request_id,
                    info: ReaderInfo {
                        serial_number: serial,
                        device_type,
                        software_version,
                        active_slot,
                        battery,
                        uptime_ms,
                    },
                }
            }
            MessageOpcode::Ack => Self::Ack { request_id: r.u16()? },
            MessageOpcode::Error => Self::Error {
                request_id: r.u16()?,
                code: ErrorCode::try_from(r.u8()?)?,
            },
            MessageOpcode::BatteryLevel => Self::BatteryLevel {
                request_id: r.u16()?,
                battery: take_battery(&mut r)?,
            },
            MessageOpcode::UpdateChunkAck => Self::UpdateChunkAck {
                request_id: r.u16()?,
                up_to_offset: r.u32()?,
            },
            MessageOpcode::BatteryReport => Self::BatteryReport {
                battery: take_battery(&mut r)?,
            },
            MessageOpcode::LowBatteryWarning => Self::LowBatteryWarning {
                battery: take_battery(&mut r)?,
            },
            MessageOpcode::CardInserted => Self::CardInserted,
            MessageOpcode::CardRemoved => Self::CardRemoved,
            MessageOpcode::UpdateProgress => Self::UpdateProgress {
                bytes_written: r.u32()?,
                total: r.u32()?,
            },
            MessageOpcode::Disconnecting => Self::Disconnecting {
                reason: DisconnectReason::try_from(r.u8()?)
                    .map_err(|_| CodecError::InvalidField { field: "reason" })?,
            },
        };
        r.finish()?;
        Ok(message)
    }
}

fn put_battery(w: &mut BodyWriter, battery: &Battery) {
    let status = match battery.status {
        BatteryStatus::Critical => 0,
        BatteryStatus::Low => 1,
        BatteryStatus::Nominal => 2,
    };
    w.f32(battery.level).u8(status).u8(battery.charging as u8);
}

fn take_battery(r: &mut BodyReader<'_>) -> Result<Battery, CodecError> {
    let level = r.f32()?;
    if !(0.0..=1.0).contains(&level) {
        return Err(CodecError::InvalidField {
            field: "battery.level",
        });
    }
    let status = match r.u8()? {
        0 => BatteryStatus::Critical,
        1 => BatteryStatus::Low,
        2 => BatteryStatus::Nominal,
        _ => {
            return Err(CodecError::InvalidField {
                field: "battery.status",
            });
        }
    };
    let charging = r.bool("battery.charging")?;
    Ok(Battery {
        level,
        status,
        charging,
    })
}
