//! The update catalog at the backend boundary (R13–R18): what a reader's
//! software is owed at its location, when the reader last ran the latest
//! software there (R15), and the image bytes of an update.

use serde::{Deserialize, Serialize};

use super::types::LocationId;
use crate::firmware::SignedManifest;
use crate::reader::{DeviceType, SerialNumber};
use crate::runtime::Millis;
use crate::updater::ReaderSoftwareUpdate;

/// The question a connect asks the catalog (`GET /v1/terminal/updates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateQuery {
    /// The location the reader connects to: catalogs are per location.
    pub location: LocationId,
    /// Which reader: the backend records when it last ran the latest
    /// software (R15) and may hold a per-reader answer (a simulated
    /// reader's preset).
    pub serial_number: SerialNumber,
    /// Its model: updates are per device type.
    pub device_type: DeviceType,
    /// The software it runs now.
    pub software_version: String,
}

/// The catalog's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogAnswer {
    /// The update the reader is owed, if its software is not the latest.
    pub update: Option<ReaderSoftwareUpdate>,
    /// The update's signed manifest (R19): the runtime installs only an
    /// image whose manifest a key it trusts signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<SignedManifest>,
    /// When the reader last ran the latest software for its location (ms of
    /// the runtime's clock), as the backend recorded it; `None` if never.
    pub last_latest_run_at: Option<Millis>,
}
