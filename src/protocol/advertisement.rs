//! The manufacturer data a readerlink reader advertises under
//! [`crate::transport::MANUFACTURER_ID`].
//!
//! Layout (all integers little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 2 | magic `b"RL"` |
//! | 2 | 1 | layout version, [`ADVERTISEMENT_VERSION`] |
//! | 3 | 1 | device type wire code ([`crate::reader::DeviceType::wire_code`]) |
//! | 4 | 1 | flags: bit 0 battery present, bit 1 software version present |
//! | 5 | 1 | serial number length `n` (1..=32) |
//! | 6 | n | serial number, UTF-8 |
//! | .. | 1 | battery percent 0..=100, when flag bit 0 |
//! | .. | 1 + m | software version length `m` then UTF-8, when flag bit 1 |
//!
//! Readers put the short form (serial only) in the advertisement and the long
//! form in the scan response, which is how proximity discovery reports a
//! reader twice (R4).

use serde::{Deserialize, Serialize};

use crate::reader::{DeviceType, SerialNumber, check_text};

/// The layout version this code reads and writes.
pub const ADVERTISEMENT_VERSION: u8 = 1;
const MAGIC: [u8; 2] = *b"RL";
const FLAG_BATTERY: u8 = 0b01;
const FLAG_SOFTWARE: u8 = 0b10;
/// The longest serial number an advertisement carries.
pub const MAX_SERIAL_LEN: usize = 32;

/// Decoded manufacturer data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderAdvertisement {
    /// The reader's model.
    pub device_type: DeviceType,
    /// The reader's serial number.
    pub serial_number: SerialNumber,
    /// Battery percent, in the long form only.
    pub battery_percent: Option<u8>,
    /// Software version, in the long form only.
    pub software_version: Option<String>,
}

/// Why manufacturer data could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdvertisementError {
    /// Shorter than its fields say.
    #[error("manufacturer data truncated: needed {needed} bytes, had {len}")]
    Truncated {
        /// Bytes needed to read the next field.
        needed: usize,
        /// Bytes present.
        len: usize,
    },
    /// Not ours: the magic bytes are wrong.
    #[error("manufacturer data is not a readerlink advertisement")]
    NotReaderlink,
    /// A layout version this code does not know.
    #[error("unsupported advertisement layout version {0}")]
    UnsupportedVersion(u8),
    /// An unknown device type code.
    #[error("unknown device type code {0}")]
    UnknownDeviceType(u8),
    /// The serial number is empty, too long or not UTF-8.
    #[error("invalid serial number in advertisement")]
    InvalidSerial,
    /// The battery percent is above 100.
    #[error("battery percent {0} is above 100")]
    InvalidBattery(u8),
    /// The software version is not UTF-8.
    #[error("invalid software version in advertisement")]
    InvalidSoftwareVersion,
}

impl ReaderAdvertisement {
    /// Encodes the manufacturer data. Serial numbers longer than
    /// [`MAX_SERIAL_LEN`] bytes are cut (simulated fleets reject them first).
    pub fn encode(&self) -> Vec<u8> {
        let serial =
            &self.serial_number.as_str().as_bytes()[..self.serial_number.as_str().len().min(MAX_SERIAL_LEN)];
        let mut flags = 0;
        if self.battery_percent.is_some() {
            flags |= FLAG_BATTERY;
        }
        if self.software_version.is_some() {
            flags |= FLAG_SOFTWARE;
        }
        let mut out = Vec::with_capacity(8 + serial.len());
        out.extend_from_slice(&MAGIC);
        out.push(ADVERTISEMENT_VERSION);
        out.push(self.device_type.wire_code());
        out.push(flags);
        out.push(serial.len() as u8);
        out.extend_from_slice(serial);
        if let Some(battery) = self.battery_percent {
            out.push(battery);
        }
        if let Some(version) = &self.software_version {
            let bytes = &version.as_bytes()[..version.len().min(u8::MAX as usize)];
            out.push(bytes.len() as u8);
            out.extend_from_slice(bytes);
        }
        out
    }

    /// Decodes manufacturer data; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, AdvertisementError> {
        let mut at = 0;
        let mut take = |n: usize| -> Result<&[u8], AdvertisementError> {
            let field = bytes.get(at..at + n).ok_or(AdvertisementError::Truncated {
                needed: at + n,
                len: bytes.len(),
            })?;
            at += n;
            Ok(field)
        };
        if take(2)? != MAGIC {
            return Err(AdvertisementError::NotReaderlink);
        }
        let version = take(1)?[0];
        if version != ADVERTISEMENT_VERSION {
            return Err(AdvertisementError::UnsupportedVersion(version));
        }
        let device_type = DeviceType::try_from(take(1)?[0]).map_err(AdvertisementError::UnknownDeviceType)?;
        let flags = take(1)?[0];
        let serial_len = take(1)?[0] as usize;
        if serial_len == 0 || serial_len > MAX_SERIAL_LEN {
            return Err(AdvertisementError::InvalidSerial);
        }
        // What a reader advertises reaches lists and terminals: refuse
        // control characters here, once (`SerialNumber::parse`).
        let serial = std::str::from_utf8(take(serial_len)?)
            .ok()
            .and_then(|s| SerialNumber::parse(s).ok())
            .ok_or(AdvertisementError::InvalidSerial)?;
        let battery_percent = if flags & FLAG_BATTERY != 0 {
            let percent = take(1)?[0];
            if percent > 100 {
                return Err(AdvertisementError::InvalidBattery(percent));
            }
            Some(percent)
        } else {
            None
        };
        let software_version = if flags & FLAG_SOFTWARE != 0 {
            let len = take(1)?[0] as usize;
            let version =
                std::str::from_utf8(take(len)?).map_err(|_| AdvertisementError::InvalidSoftwareVersion)?;
            if !version.is_empty() && check_text(version, u8::MAX as usize).is_err() {
                return Err(AdvertisementError::InvalidSoftwareVersion);
            }
            Some(version.to_owned())
        } else {
            None
        };
        Ok(Self {
            device_type,
            serial_number: serial,
            battery_percent,
            software_version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_and_long_forms_round_trip() {
        let short = ReaderAdvertisement {
            device_type: DeviceType::Chipper2X,
            serial_number: "CHB20-0001".into(),
            battery_percent: None,
            software_version: None,
        };
        assert_eq!(ReaderAdvertisement::decode(&short.encode()), Ok(short.clone()));
        let long = ReaderAdvertisement {
            battery_percent: Some(87),
            software_version: Some("2.4.1".into()),
            ..short
        };
        assert_eq!(ReaderAdvertisement::decode(&long.encode()), Ok(long));
    }

    #[test]
    fn foreign_manufacturer_data_is_not_ours() {
        assert_eq!(
            ReaderAdvertisement::decode(b"\x4c\x00\x02\x15"),
            Err(AdvertisementError::NotReaderlink)
        );
    }

    proptest! {
        #[test]
        fn decoding_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = ReaderAdvertisement::decode(&bytes);
        }
    }
}
