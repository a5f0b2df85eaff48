//! Fleets: which simulated readers a [`super::SimWorld`] holds, described in
//! a small TOML file.
//!
//! # Format
//!
//! ```toml
//! seed = 42                        # seeds everything random in the world (default 0)
//!
//! [link]                           # the simulated BLE link, all keys optional
//! connection_interval_ms = 15      # time between connection events
//! connection_interval_us = 7500    # optional: the same in µs (overrides the ms; 7.5 ms is BLE's shortest)
//! packets_per_event = 4            # ATT payloads per direction per connection event
//! connect_ms = 60                  # connection set-up and service discovery
//! supervision_timeout_ms = 2000    # how long before a silent link is declared lost
//!
//! [[readers]]
//! serial = "STRM2-0001"            # 1..=32 bytes, no control characters, unique in the fleet
//! device_type = "stripe_m2"        # bbpos_chipper2x | bbpos_wisepad3 | stripe_m2 (or chipper2x, wisepad3, m2)
//! distance_m = 1.2                 # from the host, >= 0; sets the RSSI
//! battery = 0.93                   # level in [0, 1]
//! charging = true                  # default false
//! software_version = "3.1.0"       # the image in the active slot, 1..=255 bytes, no control characters
//! att_payload = 244                # optional: largest ATT payload it negotiates, 20..=244
//!                                  # (default: 20 for the Chipper 2X, 185 for the WisePad 3, 244 for the M2)
//! uptime_ms = 82800000             # optional: how long it has been up when the world starts (default 0);
//!                                  # an M2 or WisePad 3 reboots itself when it reaches 24 h (R12)
//! update = "required"              # optional: the update preset its catalog answers with (default "none"):
//!                                  # none | available | required | low_battery | low_battery_succeed_connect | random
//! [readers.fault]                  # optional fault plan, every key optional
//! drop_link_at_step = 3            # drop the link instead of answering its 3rd command (1-based, over its life)
//! drop_link_at_ms = 600000         # drop the link at this virtual time (ms since the world started)
//! power_off_at_ms = 3600000        # lose power (no goodbye) at this virtual time
//! fail_install_at_percent = 40     # its first install fails once 40 % is written
//! die_at_battery = 0.15            # power down with CriticallyLowBattery at this level (default 0.01)
//! ```
//!
//! [`Fleet::example()`] is `examples/fleets/example.toml`, embedded.
//!
//! A file with an error is rejected with a [`FleetError`] naming the line
//! and the field: syntax and type errors (from `toml`'s spans), and the
//! semantic checks — duplicate serial, battery outside [0, 1], unknown
//! device type, bad distance, serial, version, ATT payload or update
//! preset. A file larger
//! than [`MAX_FLEET_BYTES`] is refused unread ([`FleetError::TooLarge`]).

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::link::LinkModel;
use crate::protocol::advertisement::MAX_SERIAL_LEN;
use crate::protocol::{DEFAULT_ATT_PAYLOAD, MAX_ATT_PAYLOAD};
use crate::reader::{DeviceType, SerialNumber, check_text};
use crate::updater::SimulatedUpdatePreset;

const EXAMPLE: &str = include_str!("../../../examples/fleets/example.toml");

/// A whole simulated world's description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fleet {
    /// Seeds every random choice in the world, so runs repeat exactly.
    pub seed: u64,
    /// The simulated BLE link's timing.
    pub link: LinkModel,
    /// The readers, in file order.
    pub readers: Vec<ReaderSpec>,
}

/// One simulated reader as the fleet file describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReaderSpec {
    /// Its serial number, unique in the fleet.
    pub serial: SerialNumber,
    /// Its model.
    pub device_type: DeviceType,
    /// Distance from the host in metres; sets the RSSI.
    #[serde(serialize_with = "crate::reader::f32_as_written::serialize")]
    pub distance_m: f32,
    /// Battery level in [0, 1] at the start.
    #[serde(serialize_with = "crate::reader::f32_as_written::serialize")]
    pub battery: f32,
    /// Whether it starts on a charger.
    pub charging: bool,
    /// The software version of the image in its active slot.
    pub software_version: String,
    /// The largest ATT payload it negotiates.
    pub att_payload: usize,
    /// How long it has been up when the world starts, in ms: it reports
    /// this uptime, and an M2 or WisePad 3 reboots itself 24 h after its
    /// boot (R12), so a reader at 23 h reboots within the hour.
    #[serde(default)]
    pub uptime_ms: u64,
    /// The update its catalog answers with (R13–R18); left out of the
    /// serialized form when `none`.
    #[serde(default, skip_serializing_if = "SimulatedUpdatePreset::is_none")]
    pub update: SimulatedUpdatePreset,
    /// Faults it will suffer.
    pub fault: FaultPlan,
}

impl ReaderSpec {
    /// This reader with the battery its update preset calls for: the
    /// low-battery presets lower it below 50 % (R14); `random` draws with
    /// `seed`, as the catalog does.
    pub fn with_update_preset_battery(&self, seed: u64) -> Self {
        let mut spec = self.clone();
        if !spec.update.is_none() {
            spec.battery = spec.update.simulate(seed, self, 0).battery_level;
        }
        spec
    }

    /// A healthy reader at 1 m, 80 % charged, not charging, with the device
    /// type's default ATT payload.
    pub fn new(
        serial: impl Into<String>,
        device_type: DeviceType,
        software_version: impl Into<String>,
    ) -> Self {
        Self {
            serial: SerialNumber::new(serial),
            device_type,
            distance_m: 1.0,
            battery: 0.8,
            charging: false,
            software_version: software_version.into(),
            att_payload: default_att_payload(device_type),
            uptime_ms: 0,
            update: SimulatedUpdatePreset::None,
            fault: FaultPlan::default(),
        }
    }
}

/// The largest ATT payload a model negotiates when the fleet does not say.
pub fn default_att_payload(device_type: DeviceType) -> usize {
    match device_type {
        DeviceType::Chipper2X => DEFAULT_ATT_PAYLOAD,
        DeviceType::WisePad3 => 185,
        DeviceType::StripeM2 => MAX_ATT_PAYLOAD,
    }
}

/// Faults a simulated reader will suffer, each at most once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// Drop the link (signal lost) instead of answering the n-th command the
    /// reader receives (1-based, counted over its whole life).
    pub drop_link_at_step: Option<u32>,
    /// Drop the link (signal lost) at this virtual time, in ms since the
    /// world started, if connected then.
    pub drop_link_at_ms: Option<u64>,
    /// Lose power at this virtual time: the link drops with no
    /// `Disconnecting`, and the reader stays off until powered on.
    pub power_off_at_ms: Option<u64>,
    /// The first install fails once this percentage of the image is written.
    pub fail_install_at_percent: Option<u8>,
    /// Power down with `CriticallyLowBattery` when the battery falls to this
    /// level (instead of the default 1 %).
    #[serde(serialize_with = "crate::reader::f32_as_written::serialize_option")]
    pub die_at_battery: Option<f32>,
}

/// Why a fleet file was rejected. Every variant names the line (1-based)
/// and the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The file could not be read.
    #[error("cannot read fleet file `{path}`: {message}")]
    Io {
        /// The path.
        path: String,
        /// What the OS said.
        message: String,
    },
    /// The file is larger than the most [`Fleet::load`] reads
    /// ([`MAX_FLEET_BYTES`]).
    #[error("fleet file `{path}` is larger than {limit} bytes")]
    TooLarge {
        /// The path.
        path: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// Not valid TOML, a value of the wrong type, or a missing or unknown key.
    #[error("fleet file line {line}, field `{field}`: {message}")]
    Syntax {
        /// The line.
        line: usize,
        /// The field, as far as the parser could tell.
        field: String,
        /// What the parser said.
        message: String,
    },
    /// Two readers share a serial number.
    #[error(
        "fleet file line {line}, field `{field}`: serial `{serial}` is already used on line {first_line}"
    )]
    DuplicateSerial {
        /// The line of the second use.
        line: usize,
        /// The field, `readers[i].serial`.
        field: String,
        /// The serial.
        serial: String,
        /// The line of the first use.
        first_line: usize,
    },
    /// A battery level outside [0, 1].
    #[error("fleet file line {line}, field `{field}`: battery level {value} is outside [0, 1]")]
    BatteryOutOfRange {
        /// The line.
        line: usize,
        /// The field, `readers[i].battery`.
        field: String,
        /// The level given.
        value: f32,
    },
    /// A device type that is none of ours.
    #[error("fleet file line {line}, field `{field}`: {message}")]
    UnknownDeviceType {
        /// The line.
        line: usize,
        /// The field, `readers[i].device_type`.
        field: String,
        /// Which names are accepted.
        message: String,
    },
    /// Any other value outside its domain.
    #[error("fleet file line {line}, field `{field}`: {message}")]
    InvalidValue {
        /// The line.
        line: usize,
        /// The field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl FleetError {
    /// The line the error is on (0 for [`FleetError::Io`]).
    pub fn line(&self) -> usize {
        match self {
            Self::Io { .. } | Self::TooLarge { .. } => 0,
            Self::Syntax { line, .. }
            | Self::DuplicateSerial { line, .. }
            | Self::BatteryOutOfRange { line, .. }
            | Self::UnknownDeviceType { line, .. }
            | Self::InvalidValue { line, .. } => *line,
        }
    }

    /// The field the error is about (empty for [`FleetError::Io`]).
    pub fn field(&self) -> &str {
        match self {
            Self::Io { .. } | Self::TooLarge { .. } => "",
            Self::Syntax { field, .. }
            | Self::DuplicateSerial { field, .. }
            | Self::BatteryOutOfRange { field, .. }
            | Self::UnknownDeviceType { field, .. }
            | Self::InvalidValue { field, .. } => field,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    link: LinkModel,
    #[serde(default)]
    readers: Vec<RawReader>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReader {
    serial: Spanned<String>,
    device_type: Spanned<String>,
    distance_m: Spanned<f32>,
    battery: Spanned<f32>,
    #[serde(default)]
    charging: bool,
    software_version: Spanned<String>,
    att_payload: Option<Spanned<usize>>,
    #[serde(default)]
    uptime_ms: u64,
    update: Option<Spanned<String>>,
    #[serde(default)]
    fault: Option<Spanned<FaultPlan>>,
}

impl Fleet {
    /// The example fleet (`examples/fleets/example.toml`): two Chipper 2X at
    /// different distances, a WisePad 3 and an M2.
    pub fn example() -> Self {
        Self::from_toml(EXAMPLE).expect("the embedded example fleet is valid (tested)")
    }

    /// The example fleet's TOML text.
    pub fn example_toml() -> &'static str {
        EXAMPLE
    }

    /// Reads and parses a fleet file of at most [`MAX_FLEET_BYTES`]; a
    /// larger one (or an endless one, `/dev/zero`) is refused with
    /// [`FleetError::TooLarge`] after reading one byte past the limit.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, FleetError> {
        let path = path.as_ref();
        let text = read_bounded(path, MAX_FLEET_BYTES).map_err(|e| match e {
            BoundedReadError::TooLarge { limit } => FleetError::TooLarge {
                path: path.display().to_string(),
                limit,
            },
            BoundedReadError::Io(e) => FleetError::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            },
        })?;
        Self::from_toml(&text)
    }

    /// Parses and validates a fleet description.
    pub fn from_toml(text: &str) -> Result<Self, FleetError> {
        let raw: RawFleet = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            FleetError::Syntax {
                line,
                field: field_of(text, e.span(), e.message()),
                message: e.message().to_owned(),
            }
        })?;
        let mut readers: Vec<ReaderSpec> = Vec::with_capacity(raw.readers.len());
        let lines = LineIndex::new(text);
        let mut serial_lines: HashMap<String, usize> = HashMap::new();
        for (i, r) in raw.readers.into_iter().enumerate() {
            let at = |span: Range<usize>| lines.line_of(span.start);
            let field = |name: &str| format!("readers[{i}].{name}");
            let serial = r.serial.get_ref().clone();
            if let Err(e) = SerialNumber::parse(serial.as_str()) {
                return Err(FleetError::InvalidValue {
                    line: at(r.serial.span()),
                    field: field("serial"),
                    message: format!("serial {e} (1..={MAX_SERIAL_LEN} bytes, no control characters)"),
                });
            }
            if let Some(first_line) = serial_lines.get(&serial) {
                return Err(FleetError::DuplicateSerial {
                    line: at(r.serial.span()),
                    field: field("serial"),
                    serial,
                    first_line: *first_line,
                });
            }
            let device_type: DeviceType =
                r.device_type
                    .get_ref()
                    .parse()
                    .map_err(|message| FleetError::UnknownDeviceType {
                        line: at(r.device_type.span()),
                        field: field("device_type"),
                        message,
                    })?;
            let distance_m = *r.distance_m.get_ref();
            if !(distance_m.is_finite() && distance_m >= 0.0) {
                return Err(FleetError::InvalidValue {
                    line: at(r.distance_m.span()),
                    field: field("distance_m"),
                    message: format!("distance {distance_m} m must be a finite number >= 0"),
                });
            }
            let battery = *r.battery.get_ref();
            if !(0.0..=1.0).contains(&battery) {
                return Err(FleetError::BatteryOutOfRange {
                    line: at(r.battery.span()),
                    field: field("battery"),
                    value: battery,
                });
            }
            let software_version = r.software_version.get_ref().clone();
            if let Err(e) = check_text(&software_version, u8::MAX as usize) {
                return Err(FleetError::InvalidValue {
                    line: at(r.software_version.span()),
                    field: field("software_version"),
                    message: format!("software version {e} (1..=255 bytes, no control characters)"),
                });
            }
            let att_payload = match &r.att_payload {
                None => default_att_payload(device_type),
                Some(att) => {
                    let value = *att.get_ref();
                    if !(DEFAULT_ATT_PAYLOAD..=MAX_ATT_PAYLOAD).contains(&value) {
                        return Err(FleetError::InvalidValue {
                            line: at(att.span()),
                            field: field("att_payload"),
                            message: format!(
                                "ATT payload {value} is outside {DEFAULT_ATT_PAYLOAD}..={MAX_ATT_PAYLOAD}"
                            ),
                        });
                    }
                    value
                }
            };
            let update = match &r.update {
                None => SimulatedUpdatePreset::None,
                Some(preset) => preset
                    .get_ref()
                    .parse()
                    .map_err(|message| FleetError::InvalidValue {
                        line: at(preset.span()),
                        field: field("update"),
                        message,
                    })?,
            };
            let fault = match r.fault {
                None => FaultPlan::default(),
                Some(plan) => {
                    let line = at(plan.span());
                    let plan = plan.into_inner();
                    if plan.fail_install_at_percent.is_some_and(|p| p > 100) {
                        return Err(FleetError::InvalidValue {
                            line,
                            field: field("fault.fail_install_at_percent"),
                            message: "percentage must be in 0..=100".into(),
                        });
                    }
                    if plan.die_at_battery.is_some_and(|b| !(0.0..=1.0).contains(&b)) {
                        return Err(FleetError::BatteryOutOfRange {
                            line,
                            field: field("fault.die_at_battery"),
                            value: plan.die_at_battery.unwrap_or_default(),
                        });
                    }
                    plan
                }
            };
            serial_lines.insert(serial.clone(), at(r.serial.span()));
            readers.push(ReaderSpec {
                serial: SerialNumber(serial),
                device_type,
                distance_m,
                battery,
                charging: r.charging,
                software_version,
                att_payload,
                uptime_ms: r.uptime_ms,
                update,
                fault,
            });
        }
        Ok(Self {
            seed: raw.seed,
            link: raw.link,
            readers,
        })
    }
}

/// The largest fleet file [`Fleet::load`] reads: 8 MiB, some 50,000
/// readers.
pub const MAX_FLEET_BYTES: u64 = 8 << 20;

/// Why [`read_bounded`] gave no text.
#[derive(Debug)]
pub(crate) enum BoundedReadError {
    /// The file is longer than the limit (in bytes).
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// It could not be opened or read, or is not UTF-8.
    Io(std::io::Error),
}

/// Reads a text file of at most `limit` bytes, never holding more than
/// `limit + 1` of them: `read_to_string` of `/dev/zero` would fill memory.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<String, BoundedReadError> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(BoundedReadError::Io)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(BoundedReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(BoundedReadError::TooLarge { limit });
    }
    String::from_utf8(bytes).map_err(|e| {
        BoundedReadError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        ))
    })
}

/// 1-based lines of byte offsets, by binary search over the newlines
/// (counting them from the start for every field was quadratic).
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> Self {
        Self(
            text.bytes()
                .enumerate()
                .filter_map(|(i, b)| (b == b'\n').then_some(i))
                .collect(),
        )
    }

    fn line_of(&self, offset: usize) -> usize {
        self.0.partition_point(|newline| *newline < offset) + 1
    }
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    LineIndex::new(text).line_of(offset)
}

/// The field a parse error is about, as a path (`readers[1].battery`): the
/// key the message names (``missing field `serial` ``) or else the key on
/// the error's line, under the table the line is in.
fn field_of(text: &str, span: Option<Range<usize>>, message: &str) -> String {
    let start = span.map_or(0, |s| s.start.min(text.len()));
    let line_start = text.as_bytes()[..start]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or_default();
    let line_end = line_start + line.len();
    let mut table = String::new();
    let mut readers = 0usize;
    for header in text[..line_end]
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('['))
    {
        if header.starts_with("[[readers]]") {
            readers += 1;
        }
        let name = header.split('#').next().unwrap_or_default();
        table = name
            .trim()
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_owned();
    }
    let named = message
        .split_once("field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(name, _)| name.to_owned());
    let key = named.unwrap_or_else(|| match line.split_once('=') {
        Some((key, _)) if !line.trim_start().starts_with('[') => key.trim().to_owned(),
        _ => String::new(),
    });
    let index = readers.saturating_sub(1);
    let prefix = match table.as_str() {
        "readers" => format!("readers[{index}]"),
        "readers.fault" => format!("readers[{index}].fault"),
        other => other.to_owned(),
    };
    match (prefix.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => prefix,
        (false, false) => format!("{prefix}.{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_fleet_has_every_device_type() {
        let fleet = Fleet::example();
        for device_type in DeviceType::ALL {
            assert!(fleet.readers.iter().any(|r| r.device_type == device_type));
        }
    }
}
