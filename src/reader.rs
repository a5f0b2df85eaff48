//! The reader domain: what a reader is, how it is connected, and why a
//! connection ended. These types are shared by every actor and reach the app
//! in events, so they are plain, serializable values.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A reader's serial number, the identity that survives reboots, re-pairing
/// and moving between locations.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SerialNumber(pub String);

impl SerialNumber {
    /// The longest serial number, in bytes: what an advertisement carries.
    pub const MAX_LEN: usize = 32;

    /// Wraps a serial number the program itself wrote (a literal, a
    /// generated one). Text from outside — a file, a reader, a request —
    /// goes through [`SerialNumber::parse`].
    pub fn new(serial: impl Into<String>) -> Self {
        Self(serial.into())
    }

    /// A serial number from outside, checked: 1..=[`Self::MAX_LEN`] bytes
    /// and no control or bidirectional-formatting characters ([`check_text`]),
    /// so printing one can neither forge a line of output nor send escape
    /// sequences to a terminal.
    pub fn parse(serial: impl Into<String>) -> Result<Self, TextError> {
        let serial = serial.into();
        check_text(&serial, Self::MAX_LEN)?;
        Ok(Self(serial))
    }

    /// The serial number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A serial number equals the text it holds: `reader.serial_number ==
/// "STRM2-0001"`.
impl PartialEq<str> for SerialNumber {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

/// A serial number equals the text it holds.
impl PartialEq<&str> for SerialNumber {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SerialNumber {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// Why a text from outside (a file, a reader, a request) was refused by
/// [`check_text`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// It is empty.
    ///
    /// Code: `empty_text`.
    #[error("is empty")]
    Empty,
    /// It is longer than its field allows.
    ///
    /// Code: `text_too_long`.
    #[error("is {len} bytes long, more than {max}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The most the field takes.
        max: usize,
    },
    /// It holds a control character (a newline, ESC, ...) or a
    /// bidirectional-formatting one, which would forge or reorder what a
    /// terminal shows.
    ///
    /// Code: `control_character`.
    #[error("holds the control character U+{code:04X} at byte {at}")]
    ControlCharacter {
        /// The byte offset of the character.
        at: usize,
        /// Its code point.
        code: u32,
    },
}

impl TextError {
    /// A stable code for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty_text",
            Self::TooLong { .. } => "text_too_long",
            Self::ControlCharacter { .. } => "control_character",
        }
    }
}

/// Checks a text from outside before it is kept or shown: 1..=`max` bytes,
/// no control characters (C0, DEL, C1: a newline would forge a line of
/// output, ESC would reach the terminal raw) and no bidirectional
/// formatting characters (U+202A..U+202E, U+2066..U+2069, which reorder
/// what is shown).
pub fn check_text(text: &str, max: usize) -> Result<(), TextError> {
    if text.is_empty() {
        return Err(TextError::Empty);
    }
    if text.len() > max {
        return Err(TextError::TooLong { len: text.len(), max });
    }
    match text
        .char_indices()
        .find(|(_, c)| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
    {
        Some((at, c)) => Err(TextError::ControlCharacter {
            at,
            code: u32::from(c),
        }),
        None => Ok(()),
    }
}

/// The reader models readerlink drives. The serialized names are the hosted
/// API's `device_type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DeviceType {
    /// BBPOS Chipper 2X BT: the only model that supports proximity discovery
    /// (R1), and it does not reboot itself daily (R12).
    #[serde(rename = "bbpos_chipper2x")]
    Chipper2X,
    /// BBPOS WisePad 3: reboots itself after 24 hours of operation (R12).
    #[serde(rename = "bbpos_wisepad3")]
    WisePad3,
    /// Stripe Reader M2: reboots itself after 24 hours of operation (R12).
    #[serde(rename = "stripe_m2")]
    StripeM2,
}

impl DeviceType {
    /// Every device type, in wire-code order.
    pub const ALL: [DeviceType; 3] = [Self::Chipper2X, Self::WisePad3, Self::StripeM2];

    /// Whether Bluetooth proximity discovery finds this model (R1, R4).
    pub fn supports_proximity(self) -> bool {
        matches!(self, Self::Chipper2X)
    }

    /// Whether the reader reboots itself after 24 hours of operation (R12).
    pub fn reboots_daily(self) -> bool {
        matches!(self, Self::WisePad3 | Self::StripeM2)
    }

    /// The hosted API's name, `bbpos_chipper2x` and so on.
    pub fn api_name(self) -> &'static str {
        match self {
            Self::Chipper2X => "bbpos_chipper2x",
            Self::WisePad3 => "bbpos_wisepad3",
            Self::StripeM2 => "stripe_m2",
        }
    }

    /// The one-byte code this model has on the wire and in advertisements.
    pub fn wire_code(self) -> u8 {
        match self {
            Self::Chipper2X => 1,
            Self::WisePad3 => 2,
            Self::StripeM2 => 3,
        }
    }
}

impl TryFrom<u8> for DeviceType {
    type Error = u8;

    /// Decodes a wire code; the unknown code is handed back as the error.
    fn try_from(code: u8) -> Result<Self, u8> {
        match code {
            1 => Ok(Self::Chipper2X),
            2 => Ok(Self::WisePad3),
            3 => Ok(Self::StripeM2),
            other => Err(other),
        }
    }
}

impl std::str::FromStr for DeviceType {
    type Err = String;

    /// Accepts the API name (`stripe_m2`) or a short one (`m2`, `wisepad3`,
    /// `chipper2x`), case-insensitively.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
            "bbpos_chipper2x" | "chipper2x" | "chipper_2x" | "chipper2x_bt" => Ok(Self::Chipper2X),
            "bbpos_wisepad3" | "wisepad3" | "wisepad_3" => Ok(Self::WisePad3),
            "stripe_m2" | "m2" => Ok(Self::StripeM2),
            _ => Err(format!(
                "unknown device type `{s}` (expected one of bbpos_chipper2x, bbpos_wisepad3, stripe_m2)"
            )),
        }
    }
}

impl fmt::Display for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Chipper2X => "Chipper 2X BT",
            Self::WisePad3 => "WisePad 3",
            Self::StripeM2 => "Stripe M2",
        })
    }
}

/// The terminal's connection status (R2). snake_case in JSON
/// (`not_connected`), like every enum value readerlink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// No reader connected and no discovery running.
    #[default]
    NotConnected,
    /// A discovery is running (R2).
    Discovering,
    /// A connect is under way, including a required update install (R13).
    Connecting,
    /// The reader is connected and usable.
    Connected,
    /// The link was lost unexpectedly and the runtime is reconnecting (R9).
    Reconnecting,
}

/// Why a connection ended (R8). Every way a connection ends maps to exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisconnectReason {
    /// The cause could not be determined.
    Unknown,
    /// The app called disconnect: the only reason that ends a connection for good.
    DisconnectRequested,
    /// The app called reboot.
    RebootRequested,
    /// The reader's own 24-hour security reboot (R12).
    SecurityReboot,
    /// The battery is critically low; never reconnected (R9).
    CriticallyLowBattery,
    /// The reader was switched off.
    PoweredOff,
    /// Bluetooth was turned off on the host.
    BluetoothDisabled,
    /// A reader not charging powered itself down after 10 idle hours.
    IdlePowerDown,
    /// The USB cable was pulled (kept for completeness).
    UsbDisconnected,
    /// Out of range or interference.
    BluetoothSignalLost,
    /// The peer removed its pairing information.
    PeerRemovedPairingInformation,
}

impl DisconnectReason {
    /// Every reason, for exhaustive tests.
    pub const ALL: [DisconnectReason; 11] = [
        Self::Unknown,
        Self::DisconnectRequested,
        Self::RebootRequested,
        Self::SecurityReboot,
        Self::CriticallyLowBattery,
        Self::PoweredOff,
        Self::BluetoothDisabled,
        Self::IdlePowerDown,
        Self::UsbDisconnected,
        Self::BluetoothSignalLost,
        Self::PeerRemovedPairingInformation,
    ];

    /// Whether, with auto-reconnect on, the runtime tries to reconnect after
    /// a disconnect for this reason (R8, R9, R12): everything but the app's
    /// own disconnect and a critically low battery.
    pub fn reconnects(self) -> bool {
        !matches!(self, Self::DisconnectRequested | Self::CriticallyLowBattery)
    }

    /// The one-byte code of this reason on the wire.
    pub fn wire_code(self) -> u8 {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0) as u8
    }
}

impl TryFrom<u8> for DisconnectReason {
    type Error = u8;

    /// Decodes a wire code; the unknown code is handed back as the error.
    fn try_from(code: u8) -> Result<Self, u8> {
        Self::ALL.get(code as usize).copied().ok_or(code)
    }
}

/// How full a battery is, as the reader classifies it (R18a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatteryStatus {
    /// Critically low: the reader will power down soon.
    Critical,
    /// Low: warn the person using it.
    Low,
    /// Enough charge.
    Nominal,
}

impl BatteryStatus {
    /// The reader's classification of a level in [0, 1].
    pub fn for_level(level: f32) -> Self {
        if level < 0.05 {
            Self::Critical
        } else if level < 0.20 {
            Self::Low
        } else {
            Self::Nominal
        }
    }
}

/// Writes an `f32` to JSON as the number it holds in its shortest form
/// (`0.81`), not as the `f64` it widens to (`0.8100000023841858`):
/// `#[serde(serialize_with = "f32_as_written::serialize")]`. Reading it
/// back gives the same `f32`.
pub mod f32_as_written {
    use serde::Serializer;

    /// `value` through its shortest decimal form.
    fn widened(value: f32) -> f64 {
        // The shortest text that reads back as this f32, read as an f64:
        // the f64 nearest the decimal written, which JSON prints as such.
        value.to_string().parse().unwrap_or(f64::from(value))
    }

    /// Writes an `f32` as written.
    pub fn serialize<S: Serializer>(value: &f32, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(widened(*value))
    }

    /// Writes an `Option<f32>` as written (`null` for none).
    pub fn serialize_option<S: Serializer>(value: &Option<f32>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.serialize_some(&widened(*value)),
            None => serializer.serialize_none(),
        }
    }
}

/// A battery reading (R18a).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Battery {
    /// Charge in [0, 1]; in JSON as written (`0.81`, [`f32_as_written`]).
    #[serde(serialize_with = "f32_as_written::serialize")]
    pub level: f32,
    /// The reader's own classification of `level`.
    pub status: BatteryStatus,
    /// Whether the reader is on a charger.
    pub charging: bool,
}

/// A reader as the app sees it: what discovery found, enriched by what the
/// connection learnt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reader {
    /// The reader's serial number.
    pub serial_number: SerialNumber,
    /// Its model.
    pub device_type: DeviceType,
    /// Its software version, once known (from advertisement details or hello).
    pub software_version: Option<String>,
    /// Its battery, once known.
    pub battery: Option<Battery>,
    /// Signal strength of the last advertisement, in dBm.
    pub rssi: Option<i16>,
    /// The transport's handle for the peripheral (a BLE address, or a
    /// simulated reader's id), needed to connect.
    pub peripheral: String,
    /// The optional update the reader may install now
    /// (`Terminal::install_available_update`), as its last
    /// `UpdateAvailable` told (R17); `None` when there is none, or once
    /// it is installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_update: Option<crate::updater::ReaderSoftwareUpdate>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_outside_is_bounded_and_free_of_control_characters() {
        assert_eq!(
            SerialNumber::parse("STRM2-0001"),
            Ok(SerialNumber::new("STRM2-0001"))
        );
        assert_eq!(SerialNumber::parse(""), Err(TextError::Empty));
        assert_eq!(
            SerialNumber::parse("X".repeat(33)),
            Err(TextError::TooLong { len: 33, max: 32 })
        );
        for (text, at, code) in [
            ("A\nB", 1, 0x0A),
            ("\u{1b}[2J", 0, 0x1B),
            ("AB\u{7f}", 2, 0x7F),
            ("é\u{85}", 2, 0x85),
            ("ok\u{202E}gnp", 2, 0x202E),
        ] {
            assert_eq!(
                check_text(text, 64),
                Err(TextError::ControlCharacter { at, code }),
                "{text:?}"
            );
        }
        assert_eq!(check_text("Café 3.1.0-ß", 64), Ok(()));
    }
}
