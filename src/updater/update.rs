//! What a software update is (R18): [`ReaderSoftwareUpdate`], its
//! components and its duration estimate.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::runtime::Millis;

/// One part of a software update. The reader cannot be used while any of
/// them installs; how long each takes decides the update's
/// [`UpdateTimeEstimate`] (R18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateComponent {
    /// A small patch to the running software: under a minute. An update
    /// made of these only cannot be cancelled (R16).
    Incremental,
    /// A new firmware image: 5 to 15 minutes.
    Firmware,
    /// New reader configuration: 1 to 2 minutes.
    Config,
    /// New encryption keys: under a minute.
    Keys,
}

impl UpdateComponent {
    /// The longest this component takes to install, in whole minutes: the
    /// upper bound of its bucket (R18).
    pub fn max_minutes(self) -> u32 {
        match self {
            Self::Incremental | Self::Keys => 1,
            Self::Config => 2,
            Self::Firmware => 15,
        }
    }
}

/// How long an update takes to install, in the reference's buckets (R18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateTimeEstimate {
    /// Under a minute.
    LessThanOneMinute,
    /// One to two minutes.
    OneToTwoMinutes,
    /// Two to five minutes.
    TwoToFiveMinutes,
    /// Five to fifteen minutes.
    FiveToFifteenMinutes,
}

impl UpdateTimeEstimate {
    /// The estimate for an update made of `components`: the bucket that
    /// holds the sum of their upper bounds ([`UpdateComponent::max_minutes`]),
    /// capped at the longest bucket. Incremental or keys alone are under a
    /// minute, config 1–2 minutes, config with keys 2–5, anything with
    /// firmware 5–15.
    pub fn of(components: &[UpdateComponent]) -> Self {
        let minutes: u32 = components.iter().map(|c| c.max_minutes()).sum();
        match minutes {
            0..=1 => Self::LessThanOneMinute,
            2 => Self::OneToTwoMinutes,
            3..=5 => Self::TwoToFiveMinutes,
            _ => Self::FiveToFifteenMinutes,
        }
    }
}

/// A SHA-256 digest, written as 64 lowercase hex digits in JSON and in
/// logs.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::digest(bytes).into())
    }

    /// The 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut bytes = [0; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(bytes))
    }
}

impl fmt::Debug for Sha256Digest {
    /// The first 8 hex digits, enough to tell images apart in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}…", &self.to_hex()[..8])
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_hex(&text).ok_or_else(|| serde::de::Error::custom("a SHA-256 digest is 64 hex digits"))
    }
}

/// A software update for a reader, as the update catalog offers it (R18).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderSoftwareUpdate {
    /// The software version the reader runs once it is installed.
    pub version: String,
    /// What it is made of; never empty.
    pub components: Vec<UpdateComponent>,
    /// How long it takes, from [`components`](Self::components)
    /// ([`UpdateTimeEstimate::of`]).
    pub duration_estimate: UpdateTimeEstimate,
    /// From this time on (ms of the runtime's clock: virtual time in tests
    /// and simulations) the update is required: installed at the next
    /// connect (R17). At or before the connect's time, it is required now
    /// (R13).
    pub required_at: Millis,
    /// The image's size in bytes.
    pub size: u32,
    /// The image's digest; the reader checks it before it switches to the
    /// new image (R19).
    pub sha256: Sha256Digest,
}

impl ReaderSoftwareUpdate {
    /// An update of `components` with its duration estimate derived from
    /// them.
    pub fn new(
        version: impl Into<String>,
        components: Vec<UpdateComponent>,
        required_at: Millis,
        size: u32,
        sha256: Sha256Digest,
    ) -> Self {
        let duration_estimate = UpdateTimeEstimate::of(&components);
        Self {
            version: version.into(),
            components,
            duration_estimate,
            required_at,
            size,
            sha256,
        }
    }

    /// Whether its install can be cancelled: not when it is made of
    /// incremental components only (R16).
    pub fn is_cancelable(&self) -> bool {
        !self.components.iter().all(|c| *c == UpdateComponent::Incremental)
    }

    /// Whether it is required at `now`: its `required_at` has come (R17).
    pub fn is_required_at(&self, now: Millis) -> bool {
        self.required_at <= now
    }
}
