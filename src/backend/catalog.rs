//! The update catalog at the backend boundary (R13–R18): what a reader's
//! software is owed at its location, when the reader last ran the latest
//! software there (R15), and the image bytes of an update.

use serde::{Deserialize, Serialize};

use super::BackendError;
use super::types::{Form, LocationId, no_leftovers, required};
use crate::firmware::SignedManifest;
use crate::reader::{DeviceType, SerialNumber};
use crate::runtime::Millis;
use crate::updater::{ReaderSoftwareUpdate, Sha256Digest, UpdateComponent};

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

impl UpdateQuery {
    /// The query string's fields.
    pub fn to_form(&self) -> Vec<(String, String)> {
        vec![
            ("location".to_owned(), self.location.clone()),
            ("serial_number".to_owned(), self.serial_number.to_string()),
            ("device_type".to_owned(), self.device_type.api_name().to_owned()),
            ("software_version".to_owned(), self.software_version.clone()),
        ]
    }

    /// Decodes the query string: every field required and not empty, no
    /// other field.
    pub fn from_form(mut form: Form) -> Result<Self, BackendError> {
        let location = required(&mut form, "location")?;
        let serial_number = SerialNumber::new(required(&mut form, "serial_number")?);
        let device_type = required(&mut form, "device_type")?;
        let device_type = device_type_from_api_name(&device_type).ok_or_else(|| {
            BackendError::invalid(
                "device_type",
                format!(
                    "Invalid device_type `{device_type}`: expected one of bbpos_chipper2x, bbpos_wisepad3, stripe_m2"
                ),
            )
        })?;
        let software_version = required(&mut form, "software_version")?;
        no_leftovers(form)?;
        Ok(Self {
            location,
            serial_number,
            device_type,
            software_version,
        })
    }
}

/// The device type named by its API name (`stripe_m2`), as paths and
/// forms spell it.
pub(super) fn device_type_from_api_name(name: &str) -> Option<DeviceType> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
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

/// Which catalog: updates are offered per location and device type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CatalogScope {
    /// The location.
    pub location: LocationId,
    /// The reader model.
    pub device_type: DeviceType,
}

impl CatalogScope {
    /// The catalog of `device_type` readers at `location`.
    pub fn new(location: impl Into<LocationId>, device_type: DeviceType) -> Self {
        Self {
            location: location.into(),
            device_type,
        }
    }
}

/// One update of a catalog and its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The update offered; its `size` and `sha256` are the image's.
    pub update: ReaderSoftwareUpdate,
    /// The software versions it is offered to; empty: every version but
    /// its own.
    pub offered_to: Vec<String>,
    /// The image, served by `download_update`.
    pub image: Vec<u8>,
}

impl CatalogEntry {
    /// An update to `version` made of `components`, required from
    /// `required_at` (ms of the runtime's clock), whose image is `image`
    /// (its size and digest are taken from it), offered to every other
    /// version.
    pub fn new(
        version: impl Into<String>,
        components: Vec<UpdateComponent>,
        required_at: Millis,
        image: Vec<u8>,
    ) -> Self {
        let size = u32::try_from(image.len()).unwrap_or(u32::MAX);
        let update =
            ReaderSoftwareUpdate::new(version, components, required_at, size, Sha256Digest::of(&image));
        Self {
            update,
            offered_to: Vec::new(),
            image,
        }
    }

    /// Offers it only to readers running one of `versions`.
    pub fn offered_to<S: Into<String>>(mut self, versions: impl IntoIterator<Item = S>) -> Self {
        self.offered_to = versions.into_iter().map(Into::into).collect();
        self
    }

    /// Whether a reader running `software_version` is offered it.
    pub fn is_offered_to(&self, software_version: &str) -> bool {
        if self.offered_to.is_empty() {
            self.update.version != software_version
        } else {
            self.offered_to.iter().any(|v| v == software_version)
        }
    }
}
