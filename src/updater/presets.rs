//! The simulated readers' update presets, as the reference's simulated
//! reader offers them (R13–R18): what the catalog answers for a simulated
//! reader, and the reader state each preset calls for.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::update::{ReaderSoftwareUpdate, Sha256Digest, UpdateComponent};
use crate::reader::SerialNumber;
use crate::runtime::Millis;
use crate::transport::sim::ReaderSpec;

/// The version every simulated update installs. A reader that already
/// runs it is offered nothing.
pub const SIMULATED_UPDATE_VERSION: &str = "9.0.0-sim";

/// The size of the `required` preset's image: 256 KiB.
pub const SIMULATED_REQUIRED_SIZE: u32 = 256 * 1024;

/// The size of the `available` preset's image: the same image as
/// `required`'s (one version, one image: the download route finds an image
/// by device type and version).
pub const SIMULATED_AVAILABLE_SIZE: u32 = SIMULATED_REQUIRED_SIZE;

/// How long after the catalog's answer the `available` preset's update
/// becomes required: 7 days.
pub const SIMULATED_AVAILABLE_DUE_MS: Millis = 7 * 24 * 60 * 60 * 1000;

/// The battery level the low-battery presets give the reader: 30 %, below
/// the 50 % an install needs (R14).
pub const SIMULATED_LOW_BATTERY: f32 = 0.3;

const DAY_MS: Millis = 24 * 60 * 60 * 1000;

/// Which update a simulated reader is offered (a fleet file's per-reader
/// `update = "…"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimulatedUpdatePreset {
    /// No update: the reader runs the latest software.
    #[default]
    None,
    /// An optional update, required 7 days after it is offered (R17).
    Available,
    /// A required update, installed at connect with progress (R13).
    Required,
    /// A required update with the battery below 50 %: the install cannot
    /// start and the connect fails (R14, R15).
    LowBattery,
    /// As `low_battery`, but the reader ran the latest software a day ago:
    /// the update fails, the connect succeeds (R15).
    LowBatterySucceedConnect,
    /// One of the others, drawn from the seed and the serial number.
    Random,
}

impl SimulatedUpdatePreset {
    /// Every preset.
    pub const ALL: [SimulatedUpdatePreset; 6] = [
        Self::None,
        Self::Available,
        Self::Required,
        Self::LowBattery,
        Self::LowBatterySucceedConnect,
        Self::Random,
    ];

    /// The snake_case name, as in fleet files.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Available => "available",
            Self::Required => "required",
            Self::LowBattery => "low_battery",
            Self::LowBatterySucceedConnect => "low_battery_succeed_connect",
            Self::Random => "random",
        }
    }

    /// Whether this is [`SimulatedUpdatePreset::None`] (fleet files leave
    /// it out).
    pub fn is_none(&self) -> bool {
        *self == Self::None
    }

    /// What the preset means for `reader` when the catalog is asked at
    /// `now`: the catalog's answer and the reader state the preset calls
    /// for. `random` draws a preset from `seed` and the serial number, so
    /// the same fleet always draws the same.
    pub fn simulate(self, seed: u64, reader: &ReaderSpec, now: Millis) -> SimulatedUpdate {
        let answer = self.answer(seed, &reader.serial, &reader.software_version, now);
        let mut battery_level = reader.battery;
        if matches!(answer.preset, Self::LowBattery | Self::LowBatterySucceedConnect) {
            battery_level = battery_level.min(SIMULATED_LOW_BATTERY);
        }
        SimulatedUpdate {
            preset: answer.preset,
            update: answer.update,
            battery_level,
            last_latest_run_at: answer.last_latest_run_at,
        }
    }

    /// The catalog's side of the preset, for the reader `serial` running
    /// `software_version`, asked at `now`: the update it is owed (none once
    /// it runs [`SIMULATED_UPDATE_VERSION`]) and the last latest-software
    /// run the preset implies (R15: a day before `now` for
    /// `low_battery_succeed_connect`, so its connect succeeds). `random`
    /// draws from `seed` and the serial number, as in
    /// [`simulate`](Self::simulate).
    pub fn answer(
        self,
        seed: u64,
        serial: &SerialNumber,
        software_version: &str,
        now: Millis,
    ) -> PresetAnswer {
        let preset = match self {
            Self::Random => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed ^ fnv1a(serial.as_str().as_bytes()));
                [
                    Self::None,
                    Self::Available,
                    Self::Required,
                    Self::LowBattery,
                    Self::LowBatterySucceedConnect,
                ][rng.random_range(0..5)]
            }
            preset => preset,
        };
        let runs_latest = software_version == SIMULATED_UPDATE_VERSION;
        // A required update came due a day before it was offered: required
        // whatever the asker's clock, even one a little behind the
        // backend's (a terminal started after its server).
        let due = now.saturating_sub(DAY_MS);
        let mut last_latest_run_at = None;
        let update = match preset {
            Self::None | Self::Random => None,
            Self::Available => Some(simulated_update(
                vec![UpdateComponent::Firmware],
                now + SIMULATED_AVAILABLE_DUE_MS,
                SIMULATED_AVAILABLE_SIZE,
            )),
            Self::Required => Some(simulated_update(
                vec![UpdateComponent::Config],
                due,
                SIMULATED_REQUIRED_SIZE,
            )),
            Self::LowBattery | Self::LowBatterySucceedConnect => {
                if preset == Self::LowBatterySucceedConnect {
                    last_latest_run_at = Some(now.saturating_sub(DAY_MS));
                }
                Some(simulated_update(
                    vec![UpdateComponent::Config],
                    due,
                    SIMULATED_REQUIRED_SIZE,
                ))
            }
        };
        PresetAnswer {
            preset,
            update: update.filter(|_| !runs_latest),
            last_latest_run_at,
        }
    }
}

/// The catalog's side of a preset for one reader at one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresetAnswer {
    /// The preset drawn (`random` resolved to one of the others).
    pub preset: SimulatedUpdatePreset,
    /// The update the reader is owed.
    pub update: Option<ReaderSoftwareUpdate>,
    /// The last latest-software run the preset implies (R15).
    pub last_latest_run_at: Option<Millis>,
}

impl std::str::FromStr for SimulatedUpdatePreset {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|p| p.name() == text).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|p| p.name()).collect();
            format!("unknown update preset `{text}` (one of: {})", names.join(", "))
        })
    }
}

/// What a preset means for one reader at one catalog check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulatedUpdate {
    /// The preset drawn (`random` resolved to one of the others).
    pub preset: SimulatedUpdatePreset,
    /// The catalog's answer.
    pub update: Option<ReaderSoftwareUpdate>,
    /// The reader's battery level under this preset (the low-battery
    /// presets lower it below 50 %).
    pub battery_level: f32,
    /// When the backend last saw the reader run the latest software for its
    /// location (R15).
    pub last_latest_run_at: Option<Millis>,
}

/// A simulated update of `components`, required at `required_at`, whose
/// image is [`simulated_image`] of `size` bytes.
pub fn simulated_update(
    components: Vec<UpdateComponent>,
    required_at: Millis,
    size: u32,
) -> ReaderSoftwareUpdate {
    let image = simulated_image(SIMULATED_UPDATE_VERSION, size);
    ReaderSoftwareUpdate::new(
        SIMULATED_UPDATE_VERSION,
        components,
        required_at,
        size,
        Sha256Digest::of(&image),
    )
}

/// The bytes of a simulated image: `size` bytes drawn from a generator
/// seeded by the version, so the same update always has the same image
/// and digest.
pub fn simulated_image(version: &str, size: u32) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(fnv1a(version.as_bytes()));
    let mut image = vec![0; size as usize];
    rng.fill(image.as_mut_slice());
    image
}

/// FNV-1a, to fold a name into a seed (stable across platforms and
/// releases, unlike `std`'s hasher).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}
