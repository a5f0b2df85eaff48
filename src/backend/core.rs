//! [`BackendCore`]: the backend's routes as plain synchronous functions over
//! its data — no HTTP, no tokio. The local HTTP server is a thin adapter
//! over it, and virtual-time runs call it in-process through
//! [`super::LocalBackend`].
//!
//! ```
//! use readerlink::backend::{Address, BackendCore, CreateLocation, ReaderIdentity, RegisterReader};
//! use readerlink::reader::DeviceType;
//!
//! let mut core = BackendCore::in_memory(7);
//! let shop = core
//!     .create_location(CreateLocation {
//!         display_name: "Shop".into(),
//!         address: Address { line1: "1 Main St".into(), country: "US".into(), ..Address::default() },
//!     })
//!     .unwrap();
//! let reader = core
//!     .register_reader(RegisterReader {
//!         reader: ReaderIdentity::SerialNumber { serial_number: "STRM26001".into(), device_type: DeviceType::StripeM2 },
//!         location: shop.id.clone(),
//!         label: None,
//!     })
//!     .unwrap();
//! assert_eq!(reader.location, shop.id);
//! assert_eq!(core.location("tml_nope").unwrap_err().code(), "resource_missing");
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::rngs::OsRng;
use rand::{RngCore, SeedableRng, TryRngCore};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::catalog::{CatalogAnswer, CatalogEntry, CatalogScope, UpdateQuery};
use super::journal::{Change, DataError, Journal};
use super::types::{MAX_ID_CHARS, MAX_TEXT_CHARS, check_text};
use super::{
    BackendError, CreateLocation, Location, LocationId, ReaderIdentity, RegisterReader, RegisteredReader,
};
use crate::firmware::{Manifest, PublicKey, SigningKey, sign};
use crate::reader::{DeviceType, SerialNumber};
use crate::runtime::Millis;
use crate::secret::Secret;
use crate::updater::{Sha256Digest, SimulatedUpdatePreset, simulated_image};

/// The version of the backend data: 2 is the log of [`super::journal`]
/// (version 1, the whole data as one JSON document, is still read).
pub const BACKEND_DATA_VERSION: u32 = 2;

/// Where connection tokens come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// The operating system's cryptographic random source: tokens no one
    /// can predict, the default of a server.
    OsRandom,
    /// Derived from a seed and the count of tokens issued: the same run
    /// gives the same tokens (virtual-time runs, scenarios, replay). Anyone
    /// who knows the seed knows every token: for tests only.
    Seeded(u64),
}

/// Everything the backend keeps: the snapshot line of its data file is
/// this, as JSON, and each change line of the log applies to it (see
/// [`super::journal`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendData {
    /// Data format version ([`BACKEND_DATA_VERSION`]).
    pub version: u32,
    /// How many locations were ever created: the next id's number.
    pub locations_created: u64,
    /// How many readers were ever registered: the next id's number.
    pub readers_registered: u64,
    /// How many connection tokens were issued: with the seed, makes every
    /// token different, across restarts too.
    pub tokens_issued: u64,
    /// Locations by id.
    pub locations: BTreeMap<LocationId, Location>,
    /// Registered readers by serial number.
    pub readers: BTreeMap<SerialNumber, RegisteredReader>,
}

impl Default for BackendData {
    fn default() -> Self {
        Self {
            version: BACKEND_DATA_VERSION,
            locations_created: 0,
            readers_registered: 0,
            tokens_issued: 0,
            locations: BTreeMap::new(),
            readers: BTreeMap::new(),
        }
    }
}

/// The backend's logic and data. Methods that change the data save it
/// first (when file-backed: one line appended to its log and `fsync`ed)
/// and change nothing when saving fails.
#[derive(Debug)]
pub struct BackendCore {
    data: BackendData,
    /// Where the data lives; `None` keeps it in memory only.
    journal: Option<Journal>,
    /// Where connection tokens come from.
    tokens: TokenSource,
    /// The update catalog. In memory only: whoever runs the backend sets
    /// it (a test, the CLI's `--update-preset`), and a restart forgets it
    /// and the latest-software runs it recorded.
    catalog: Catalog,
}

/// The update catalog's data (R13–R18).
#[derive(Debug, Default)]
struct Catalog {
    /// The updates of each scope, oldest first: the last is the latest
    /// software of the scope.
    entries: BTreeMap<CatalogScope, Vec<CatalogEntry>>,
    /// Readers answered by a simulated preset instead of the entries.
    presets: BTreeMap<SerialNumber, SimulatedUpdatePreset>,
    /// When each preset reader was first answered: its preset's update
    /// was offered then, and its `required_at` counts from then (not from
    /// each check, or an optional update would never come due).
    offered_at: BTreeMap<SerialNumber, Millis>,
    /// What `random` presets draw from.
    seed: u64,
    /// The images of the updates presets offered, by device type and
    /// version: the download route has nothing else to find them by.
    preset_images: BTreeMap<(DeviceType, String), Vec<u8>>,
    /// When each reader was last seen running the latest software of its
    /// location (R15), by location and serial number.
    latest_runs: BTreeMap<(LocationId, SerialNumber), Millis>,
    /// The key update manifests are signed with (R19): made on first use
    /// (from the token source: seeded cores make the same key every run),
    /// or set.
    signing_key: Option<SigningKey>,
}

/// How long a signed update manifest stays valid (R19): 30 days.
pub const MANIFEST_VALIDITY_MS: Millis = 30 * 24 * 60 * 60 * 1000;

impl BackendCore {
    /// A core whose data lives in memory only, with tokens from `seed`
    /// ([`TokenSource::Seeded`]): the same run gives the same tokens, as
    /// virtual-time runs need.
    pub fn in_memory(seed: u64) -> Self {
        Self::in_memory_with(TokenSource::Seeded(seed))
    }

    /// A core whose data lives in memory only, with tokens from `tokens`.
    pub fn in_memory_with(tokens: TokenSource) -> Self {
        Self {
            data: BackendData::default(),
            journal: None,
            tokens,
            catalog: Catalog::default(),
        }
    }

    /// A core whose data lives in `path` (see [`super::journal`] for the
    /// format), created when missing. The file is locked to this core
    /// until it is dropped; a file another process holds, that cannot be
    /// written, read or decoded is an error: the backend does not start
    /// over on top of data it could not read, nor fail only at the first
    /// write.
    pub fn open(path: impl Into<PathBuf>, tokens: TokenSource) -> Result<Self, DataError> {
        let path = path.into();
        let (journal, data) = Journal::open(&path)?;
        Ok(Self {
            data,
            journal: Some(journal),
            tokens,
            catalog: Catalog::default(),
        })
    }

    /// The data file, when file-backed.
    pub fn file(&self) -> Option<&Path> {
        self.journal.as_ref().map(Journal::path)
    }

    /// The data, read-only.
    pub fn data(&self) -> &BackendData {
        &self.data
    }

    /// Issues a connection token, optionally restricted to a location
    /// (which must exist).
    pub fn create_connection_token(&mut self, location: Option<&str>) -> Result<Secret, BackendError> {
        if let Some(id) = location {
            check_text("location", id, MAX_ID_CHARS)?;
            self.known_location(id, Some("location"))?;
        }
        let mut bytes = [0u8; 16];
        match self.tokens {
            TokenSource::OsRandom => {
                OsRng
                    .try_fill_bytes(&mut bytes)
                    .map_err(|e| BackendError::RandomSourceFailed {
                        reason: e.to_string(),
                    })?
            }
            TokenSource::Seeded(seed) => {
                let issued = self.data.tokens_issued + 1;
                ChaCha8Rng::seed_from_u64(seed ^ issued.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                    .fill_bytes(&mut bytes)
            }
        }
        self.change(Change::TokenIssued)?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Secret::new(format!("pst_test_{hex}")))
    }

    /// One location.
    pub fn location(&self, id: &str) -> Result<Location, BackendError> {
        self.known_location(id, None).cloned()
    }

    /// Every location, by id.
    pub fn list_locations(&self) -> Vec<Location> {
        self.data.locations.values().cloned().collect()
    }

    /// Creates a location.
    pub fn create_location(&mut self, request: CreateLocation) -> Result<Location, BackendError> {
        let a = &request.address;
        check_text("display_name", &request.display_name, MAX_TEXT_CHARS)?;
        check_text("address[line1]", &a.line1, MAX_TEXT_CHARS)?;
        for (param, value) in [
            ("address[line2]", &a.line2),
            ("address[city]", &a.city),
            ("address[state]", &a.state),
            ("address[postal_code]", &a.postal_code),
        ] {
            if let Some(value) = value {
                check_text(param, value, MAX_TEXT_CHARS)?;
            }
        }
        check_text("address[country]", &a.country, MAX_ID_CHARS)?;
        if request.display_name.trim().is_empty() {
            return Err(BackendError::invalid(
                "display_name",
                "Invalid display_name: must not be empty",
            ));
        }
        if request.address.line1.trim().is_empty() {
            return Err(BackendError::invalid(
                "address[line1]",
                "Invalid address[line1]: must not be empty",
            ));
        }
        let country = &request.address.country;
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(BackendError::invalid(
                "address[country]",
                format!("Invalid address[country] `{country}`: expected a two-letter ISO code such as `FR`"),
            ));
        }
        let location = Location {
            id: format!("tml_{:06}", self.data.locations_created + 1),
            display_name: request.display_name,
            address: request.address,
        };
        self.change(Change::LocationCreated {
            location: location.clone(),
        })?;
        Ok(location)
    }

    /// Registers a reader to a location. Registering a serial number again
    /// moves it (new location and label) and keeps its id.
    pub fn register_reader(&mut self, request: RegisterReader) -> Result<RegisteredReader, BackendError> {
        match &request.reader {
            ReaderIdentity::SerialNumber { serial_number, .. } => {
                check_text("serial_number", serial_number.as_str(), MAX_ID_CHARS)?
            }
            ReaderIdentity::RegistrationCode(code) => check_text("registration_code", code, MAX_ID_CHARS)?,
        }
        check_text("location", &request.location, MAX_ID_CHARS)?;
        if let Some(label) = &request.label {
            check_text("label", label, MAX_TEXT_CHARS)?;
        }
        self.known_location(&request.location, Some("location"))?;
        let (serial_number, device_type) = match request.reader {
            ReaderIdentity::SerialNumber {
                serial_number,
                device_type,
            } => {
                if serial_number.as_str().trim().is_empty() {
                    return Err(BackendError::invalid(
                        "serial_number",
                        "Invalid serial_number: must not be empty",
                    ));
                }
                (serial_number, device_type)
            }
            ReaderIdentity::RegistrationCode(code) => self.redeem(&code)?,
        };
        let (id, new) = match self.data.readers.get(&serial_number) {
            Some(existing) => (existing.id.clone(), false),
            None => (format!("tmr_{:06}", self.data.readers_registered + 1), true),
        };
        let reader = RegisteredReader {
            id,
            label: request.label.unwrap_or_else(|| serial_number.to_string()),
            serial_number,
            device_type,
            location: request.location,
        };
        self.change(Change::ReaderRegistered {
            reader: reader.clone(),
            new,
        })?;
        Ok(reader)
    }

    /// Every registered reader, by serial number.
    pub fn readers(&self) -> Vec<RegisteredReader> {
        self.data.readers.values().cloned().collect()
    }

    /// Sets the updates offered to `scope`'s readers, oldest first (the
    /// last is the scope's latest software), replacing any it had. An
    /// entry whose update has no version or no components, or whose image
    /// does not have its size and digest, is refused naming it, and
    /// nothing changes.
    pub fn set_catalog(
        &mut self,
        scope: CatalogScope,
        entries: Vec<CatalogEntry>,
    ) -> Result<(), BackendError> {
        check_text("location", &scope.location, MAX_ID_CHARS)?;
        for (i, entry) in entries.iter().enumerate() {
            let update = &entry.update;
            let param = |field: &str| format!("entries[{i}][{field}]");
            if update.version.trim().is_empty() {
                return Err(BackendError::invalid(
                    param("version"),
                    "Invalid version: must not be empty",
                ));
            }
            check_text(&param("version"), &update.version, MAX_ID_CHARS)?;
            if update.components.is_empty() {
                return Err(BackendError::invalid(
                    param("components"),
                    format!("The update to {} has no components.", update.version),
                ));
            }
            if entry.image.len() != update.size as usize || Sha256Digest::of(&entry.image) != update.sha256 {
                return Err(BackendError::invalid(
                    param("image"),
                    format!(
                        "The image of the update to {} is not the one it describes ({} bytes, {:?}).",
                        update.version, update.size, update.sha256
                    ),
                ));
            }
        }
        self.catalog.entries.insert(scope, entries);
        Ok(())
    }

    /// Answers the reader `serial` from a simulated preset instead of the
    /// catalog's entries (the reference's simulated readers' presets).
    pub fn set_update_preset(&mut self, serial: impl Into<SerialNumber>, preset: SimulatedUpdatePreset) {
        let serial = serial.into();
        self.catalog.offered_at.remove(&serial);
        self.catalog.presets.insert(serial, preset);
    }

    /// The seed `random` presets draw from (0 until set).
    pub fn set_update_seed(&mut self, seed: u64) {
        self.catalog.seed = seed;
    }

    /// Signs update manifests with `key` from now on (R19): a key an
    /// operator keeps in a file ([`SigningKey::from_file`]).
    pub fn set_signing_key(&mut self, key: SigningKey) {
        self.catalog.signing_key = Some(key);
    }

    /// The public half of the key update manifests are signed with: what
    /// an app pins (`TerminalBuilder::trusted_update_keys`). Makes the key
    /// if there is none yet.
    pub fn update_public_key(&mut self) -> Result<PublicKey, BackendError> {
        Ok(self.signing_key()?.public_key())
    }

    fn signing_key(&mut self) -> Result<&SigningKey, BackendError> {
        if self.catalog.signing_key.is_none() {
            let key = match self.tokens {
                TokenSource::OsRandom => {
                    SigningKey::generate().map_err(|e| BackendError::RandomSourceFailed {
                        reason: e.to_string(),
                    })?
                }
                TokenSource::Seeded(seed) => {
                    let mut bytes = [0; 32];
                    ChaCha8Rng::seed_from_u64(seed ^ 0x5349_474e_4b45_5953).fill_bytes(&mut bytes);
                    SigningKey::from_bytes(&bytes)
                }
            };
            self.catalog.signing_key = Some(key);
        }
        Ok(self.catalog.signing_key.as_ref().expect("made above"))
    }

    /// The catalog's answer for a reader at `now` (ms of the runtime's
    /// clock). The update is its preset's, when it has one, or else the
    /// latest entry of its scope offered to its software. A reader owed
    /// nothing, or running the scope's latest software, is recorded as
    /// running the latest at `now` (R15); the answer carries the last such
    /// record, or the later run a preset implies. An unknown location is
    /// [`BackendError::NotFound`].
    pub fn check_update(&mut self, query: &UpdateQuery, now: Millis) -> Result<CatalogAnswer, BackendError> {
        check_text("location", &query.location, MAX_ID_CHARS)?;
        check_text("serial_number", query.serial_number.as_str(), MAX_ID_CHARS)?;
        check_text("software_version", &query.software_version, MAX_ID_CHARS)?;
        self.known_location(&query.location, Some("location"))?;
        let catalog = &mut self.catalog;
        let (update, runs_latest, implied) = match catalog.presets.get(&query.serial_number) {
            Some(preset) => {
                let offered_at = *catalog
                    .offered_at
                    .entry(query.serial_number.clone())
                    .or_insert(now);
                let answer = preset.answer(
                    catalog.seed,
                    &query.serial_number,
                    &query.software_version,
                    offered_at,
                );
                if let Some(update) = &answer.update {
                    let key = (query.device_type, update.version.clone());
                    let fresh = catalog
                        .preset_images
                        .get(&key)
                        .is_none_or(|image| image.len() != update.size as usize);
                    if fresh {
                        let image = simulated_image(&update.version, update.size);
                        catalog.preset_images.insert(key, image);
                    }
                }
                (answer.update, false, answer.last_latest_run_at)
            }
            None => {
                let scope = CatalogScope::new(query.location.clone(), query.device_type);
                let entries = catalog.entries.get(&scope).map(Vec::as_slice).unwrap_or_default();
                let update = entries
                    .iter()
                    .rev()
                    .find(|e| e.is_offered_to(&query.software_version))
                    .map(|e| e.update.clone());
                let runs_latest = entries
                    .last()
                    .is_some_and(|latest| latest.update.version == query.software_version);
                (update, runs_latest, None)
            }
        };
        let key = (query.location.clone(), query.serial_number.clone());
        if update.is_none() || runs_latest {
            catalog.latest_runs.insert(key.clone(), now);
        }
        let recorded = catalog.latest_runs.get(&key).copied();
        let manifest = match &update {
            Some(update) => {
                let image = self.download_update(query.device_type, &update.version, 0)?;
                let manifest = Manifest::for_image(
                    update.version.clone(),
                    query.device_type,
                    &image,
                    now.saturating_add(MANIFEST_VALIDITY_MS),
                );
                Some(sign(&manifest, self.signing_key()?))
            }
            None => None,
        };
        Ok(CatalogAnswer {
            update,
            manifest,
            last_latest_run_at: recorded.max(implied),
        })
    }

    /// When the backend last recorded the reader `serial` running the
    /// latest software of `location` (R15).
    pub fn last_latest_run_at(&self, location: &str, serial: &SerialNumber) -> Option<Millis> {
        self.catalog
            .latest_runs
            .get(&(location.to_owned(), serial.clone()))
            .copied()
    }

    /// The image of the update to `version` for `device_type`, from byte
    /// `from` to its end: an entry's image, or the simulated image of an
    /// update a preset offered. No such update is
    /// [`BackendError::NotFound`]; a `from` past the image's last byte is
    /// [`BackendError::RangeNotSatisfiable`].
    pub fn download_update(
        &self,
        device_type: DeviceType,
        version: &str,
        from: u32,
    ) -> Result<Vec<u8>, BackendError> {
        let image = self
            .catalog
            .entries
            .iter()
            .filter(|(scope, _)| scope.device_type == device_type)
            .flat_map(|(_, entries)| entries)
            .find(|e| e.update.version == version)
            .map(|e| e.image.as_slice())
            .or_else(|| {
                self.catalog
                    .preset_images
                    .get(&(device_type, version.to_owned()))
                    .map(Vec::as_slice)
            })
            .ok_or_else(|| BackendError::NotFound {
                resource: "update".into(),
                id: format!("{}/{version}", device_type.api_name()),
                param: None,
            })?;
        let size = u32::try_from(image.len()).unwrap_or(u32::MAX);
        if from > 0 && from >= size {
            return Err(BackendError::RangeNotSatisfiable {
                id: format!("{}/{version}", device_type.api_name()),
                from,
                size,
            });
        }
        Ok(image[from as usize..].to_vec())
    }

    /// The reader a registration code stands for. Only the simulated codes
    /// exist here: `simulated-<model>` gives a serial derived from the
    /// model, so registering the same code twice is the same reader.
    fn redeem(&self, code: &str) -> Result<(SerialNumber, DeviceType), BackendError> {
        let device_type = code
            .strip_prefix("simulated-")
            .and_then(|model| model.parse::<DeviceType>().ok())
            .ok_or_else(|| {
                BackendError::invalid(
                    "registration_code",
                    format!("The registration code `{code}` is invalid or has expired."),
                )
            })?;
        let serial = format!("SIM-{}", device_type.api_name().to_ascii_uppercase());
        Ok((SerialNumber::new(serial), device_type))
    }

    fn known_location(&self, id: &str, param: Option<&str>) -> Result<&Location, BackendError> {
        self.data.locations.get(id).ok_or_else(|| BackendError::NotFound {
            resource: "location".into(),
            id: id.into(),
            param: param.map(str::to_owned),
        })
    }

    /// Applies one change. File-backed, it is appended to the log (and on
    /// disk) first, and applied only once saved, so a failed save changes
    /// nothing.
    fn change(&mut self, change: Change) -> Result<(), BackendError> {
        match &mut self.journal {
            None => change.apply(&mut self.data),
            Some(journal) => {
                journal.append(&change, &self.data)?;
                change.apply(&mut self.data);
                journal.compact_if_due(&self.data);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> CreateLocation {
        CreateLocation::new("Shop", "1 Main St", "US")
    }

    fn m2(serial: &str, location: &str) -> RegisterReader {
        RegisterReader {
            reader: ReaderIdentity::SerialNumber {
                serial_number: serial.into(),
                device_type: DeviceType::StripeM2,
            },
            location: location.into(),
            label: None,
        }
    }

    #[test]
    fn locations_get_sequential_ids_and_are_listed() {
        let mut core = BackendCore::in_memory(1);
        let a = core.create_location(shop()).unwrap();
        let b = core.create_location(shop()).unwrap();
        assert_eq!((a.id.as_str(), b.id.as_str()), ("tml_000001", "tml_000002"));
        assert_eq!(core.list_locations(), vec![a.clone(), b]);
        assert_eq!(core.location(&a.id).unwrap(), a);
    }

    #[test]
    fn a_bad_country_is_an_invalid_request_naming_the_field() {
        let mut core = BackendCore::in_memory(1);
        let mut request = shop();
        request.address.country = "France".into();
        match core.create_location(request).unwrap_err() {
            BackendError::InvalidRequest { param, .. } => {
                assert_eq!(param.as_deref(), Some("address[country]"))
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(core.list_locations().is_empty());
    }

    #[test]
    fn registering_to_an_unknown_location_is_not_found_and_registers_nothing() {
        let mut core = BackendCore::in_memory(1);
        let err = core.register_reader(m2("S1", "tml_missing")).unwrap_err();
        assert_eq!(
            err,
            BackendError::NotFound {
                resource: "location".into(),
                id: "tml_missing".into(),
                param: Some("location".into())
            }
        );
        assert!(core.readers().is_empty());
    }

    #[test]
    fn registering_a_reader_again_moves_it_and_keeps_its_id() {
        let mut core = BackendCore::in_memory(1);
        let a = core.create_location(shop()).unwrap();
        let b = core.create_location(shop()).unwrap();
        let first = core.register_reader(m2("S1", &a.id)).unwrap();
        assert_eq!(first.label, "S1");
        let mut again = m2("S1", &b.id);
        again.label = Some("Till 2".into());
        let second = core.register_reader(again).unwrap();
        assert_eq!(
            (
                second.id.as_str(),
                second.location.as_str(),
                second.label.as_str()
            ),
            (first.id.as_str(), b.id.as_str(), "Till 2")
        );
        assert_eq!(core.readers().len(), 1);
    }

    #[test]
    fn a_simulated_registration_code_registers_that_model_and_others_are_refused() {
        let mut core = BackendCore::in_memory(1);
        let a = core.create_location(shop()).unwrap();
        let mut request = m2("unused", &a.id);
        request.reader = ReaderIdentity::RegistrationCode("simulated-wisepad3".into());
        assert_eq!(
            core.register_reader(request.clone()).unwrap().device_type,
            DeviceType::WisePad3
        );
        request.reader = ReaderIdentity::RegistrationCode("purple-tiger-seven".into());
        assert_eq!(
            core.register_reader(request).unwrap_err().code(),
            "invalid_request"
        );
    }

    #[test]
    fn tokens_differ_and_the_same_seed_gives_the_same_tokens() {
        let tokens = |seed| {
            let mut core = BackendCore::in_memory(seed);
            [(); 3].map(|_| core.create_connection_token(None).unwrap().expose().to_owned())
        };
        let run = tokens(5);
        assert_eq!(run, tokens(5));
        assert_ne!(run[0], run[1]);
        assert!(run[0].starts_with("pst_test_"));
        let mut core = BackendCore::in_memory(5);
        assert_eq!(
            core.create_connection_token(Some("tml_x")).unwrap_err().code(),
            "resource_missing"
        );
    }

    #[test]
    fn a_file_backed_core_keeps_its_data_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backend.json");
        let mut core = BackendCore::open(&path, TokenSource::Seeded(1)).unwrap();
        let a = core.create_location(shop()).unwrap();
        core.register_reader(m2("S1", &a.id)).unwrap();
        let token = core.create_connection_token(None).unwrap();
        let data = core.data().clone();
        drop(core);
        let mut reopened = BackendCore::open(&path, TokenSource::Seeded(1)).unwrap();
        assert_eq!(reopened.data(), &data);
        assert_ne!(
            reopened.create_connection_token(None).unwrap(),
            token,
            "a restart does not reissue a token"
        );
        assert_eq!(reopened.create_location(shop()).unwrap().id, "tml_000002");
    }

    #[test]
    fn a_corrupt_data_file_stops_the_core_from_opening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backend.json");
        std::fs::write(&path, "{\"version\": 1, \"locat").unwrap();
        let err = BackendCore::open(&path, TokenSource::Seeded(1)).unwrap_err();
        assert_eq!(err.code(), "data_corrupt");
        assert!(err.to_string().contains("backend.json"), "{err}");
    }

    #[test]
    fn a_failed_save_changes_nothing_and_the_next_one_saves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backend.json");
        let mut core = BackendCore::open(&path, TokenSource::Seeded(1)).unwrap();
        let kept = core.create_location(shop()).unwrap();
        core.journal.as_mut().unwrap().fail_appends = true;
        assert_eq!(core.create_location(shop()).unwrap_err().code(), "storage_failed");
        assert_eq!(core.list_locations(), vec![kept.clone()]);
        core.journal.as_mut().unwrap().fail_appends = false;
        let next = core.create_location(shop()).unwrap();
        assert_eq!(next.id, "tml_000002", "the failed change took no id");
        drop(core);
        let reopened = BackendCore::open(&path, TokenSource::Seeded(1)).unwrap();
        assert_eq!(reopened.list_locations(), vec![kept, next]);
    }
}
