//! The store: what survives a restart of the app — the last connected
//! reader (serial number and location, for reconnecting at start, R11) and
//! every reader seen so far (serial → device type, label, last location).
//!
//! [`Store`] is the boundary; [`FileStore`] keeps the data in one JSON file
//! replaced atomically on every change ([`atomic::write_atomically`]), and
//! [`MemoryStore`] keeps it in memory for tests. A missing file is an empty
//! store; a corrupt or unreadable one is reported as a typed
//! [`StoreError`] *beside* a usable empty store, so the terminal starts
//! anyway and tells the user what was lost.
//!
//! The file is read as text from outside: at most [`MAX_STORE_BYTES`]
//! ([`StoreError::TooLarge`] past it), and its serial numbers, labels and
//! locations must be printable ([`crate::reader::check_text`]; a newline or
//! ESC in one makes the file [`StoreError::Corrupt`], naming the field).
//!
//! ```
//! use readerlink::reader::{DeviceType, SerialNumber};
//! use readerlink::store::{FileStore, KnownReader, Store};
//!
//! let dir = std::env::temp_dir().join(format!("readerlink-doc-store-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("readerlink.json");
//!
//! let (store, problem) = FileStore::open(&path);
//! assert!(problem.is_none()); // a missing file is simply empty
//! let serial = SerialNumber::new("STRM26123");
//! store.remember_reader(&serial, KnownReader::new(DeviceType::StripeM2)).unwrap();
//! store.set_last_connected(&serial, "tml_000001").unwrap();
//!
//! let (again, _) = FileStore::open(&path); // after a restart
//! assert_eq!(again.last_connected().unwrap().serial_number, serial);
//! assert_eq!(again.known_reader(&serial).unwrap().device_type, DeviceType::StripeM2);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

pub mod atomic;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::reader::{DeviceType, SerialNumber};
use atomic::{AtomicStep, NoHook, StepHook};

/// The version of the store file this code writes and reads.
pub const STORE_VERSION: u32 = 1;

/// The reader to reconnect to at start (R11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastConnected {
    /// Its serial number, looked for in the first discovery.
    pub serial_number: SerialNumber,
    /// The location it was registered to, to connect it to again.
    pub location: String,
}

/// What the store remembers of a reader once seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownReader {
    /// Its model, so the UI can show it before the reader advertises.
    pub device_type: DeviceType,
    /// The label it was registered with, if any.
    pub label: Option<String>,
    /// The location it was last connected to, if any.
    pub last_seen_location: Option<String>,
}

impl KnownReader {
    /// A reader of this model with no label and no location yet.
    pub fn new(device_type: DeviceType) -> Self {
        Self {
            device_type,
            label: None,
            last_seen_location: None,
        }
    }
}

/// Everything the store holds; the file is this, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreData {
    /// The file format version ([`STORE_VERSION`]).
    pub version: u32,
    /// The last connected reader, if one was ever connected.
    pub last_connected: Option<LastConnected>,
    /// Every reader seen, by serial number.
    pub known_readers: BTreeMap<SerialNumber, KnownReader>,
}

impl Default for StoreData {
    fn default() -> Self {
        Self {
            version: STORE_VERSION,
            last_connected: None,
            known_readers: BTreeMap::new(),
        }
    }
}

/// What can go wrong with the store. Each kind has a stable [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StoreError {
    /// The file exists but could not be read (permissions, an IO error).
    ///
    /// Code: `store_unreadable`.
    #[error("store file {path} could not be read: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// What the OS said.
        reason: String,
    },
    /// The file was read but is not a store file (truncated, not JSON, wrong
    /// shape).
    ///
    /// Code: `store_corrupt`.
    #[error("store file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong with it, with line and column for JSON errors.
        reason: String,
    },
    /// The file is larger than [`MAX_STORE_BYTES`]: no store this code
    /// writes grows so large, and reading it whole (`/dev/zero`) would
    /// fill memory.
    ///
    /// Code: `store_too_large`.
    #[error("store file {path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: String,
        /// The limit, [`MAX_STORE_BYTES`].
        limit: u64,
    },
    /// The file was written by a newer readerlink.
    ///
    /// Code: `store_unsupported_version`.
    #[error("store file {path} has version {found}, this readerlink reads version {STORE_VERSION}")]
    UnsupportedVersion {
        /// The file.
        path: String,
        /// The version found in it.
        found: u32,
    },
    /// A change could not be saved; the store keeps its previous contents.
    ///
    /// Code: `store_write_failed`.
    #[error("saving the store to {path} failed at {step:?}: {reason}")]
    WriteFailed {
        /// The file.
        path: String,
        /// The step of the atomic write that failed.
        step: AtomicStep,
        /// What the OS said.
        reason: String,
    },
}

impl StoreError {
    /// A stable code for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unreadable { .. } => "store_unreadable",
            Self::Corrupt { .. } => "store_corrupt",
            Self::TooLarge { .. } => "store_too_large",
            Self::UnsupportedVersion { .. } => "store_unsupported_version",
            Self::WriteFailed { .. } => "store_write_failed",
        }
    }
}

/// The store boundary. Synchronous: the data is small and a write is one
/// file replacement; shells call it from their effects.
pub trait Store: Send + Sync {
    /// A copy of everything stored.
    fn snapshot(&self) -> StoreData;

    /// Applies `change` and saves the result. When saving fails the store
    /// keeps its previous contents and the error says why.
    fn update(&self, change: &mut dyn FnMut(&mut StoreData)) -> Result<(), StoreError>;

    /// The reader to reconnect to at start, if any (R11).
    fn last_connected(&self) -> Option<LastConnected> {
        self.snapshot().last_connected
    }

    /// Records the reader just connected, and its location as its last seen
    /// location when it is a known reader.
    fn set_last_connected(&self, serial: &SerialNumber, location: &str) -> Result<(), StoreError> {
        self.update(&mut |data| {
            data.last_connected = Some(LastConnected {
                serial_number: serial.clone(),
                location: location.to_owned(),
            });
            if let Some(known) = data.known_readers.get_mut(serial) {
                known.last_seen_location = Some(location.to_owned());
            }
        })
    }

    /// Forgets the last connected reader (the app disconnected it for good).
    fn clear_last_connected(&self) -> Result<(), StoreError> {
        self.update(&mut |data| data.last_connected = None)
    }

    /// What is known of one reader.
    fn known_reader(&self, serial: &SerialNumber) -> Option<KnownReader> {
        self.snapshot().known_readers.get(serial).cloned()
    }

    /// Adds or replaces what is known of a reader.
    fn remember_reader(&self, serial: &SerialNumber, reader: KnownReader) -> Result<(), StoreError> {
        self.update(&mut |data| {
            data.known_readers.insert(serial.clone(), reader.clone());
        })
    }
}

/// A store in memory, for tests and for apps that persist nothing.
#[derive(Debug, Default)]
pub struct MemoryStore {
    data: Mutex<StoreData>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `data`.
    pub fn with_data(data: StoreData) -> Self {
        Self {
            data: Mutex::new(data),
        }
    }
}

impl Store for MemoryStore {
    fn snapshot(&self) -> StoreData {
        lock(&self.data).clone()
    }

    fn update(&self, change: &mut dyn FnMut(&mut StoreData)) -> Result<(), StoreError> {
        change(&mut lock(&self.data));
        Ok(())
    }
}

/// A store kept in one JSON file, replaced atomically on every change.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    data: Mutex<StoreData>,
}

impl FileStore {
    /// Opens the store at `path`. Never fails: a missing file is an empty
    /// store with no error; an unreadable, corrupt or too-new file gives an
    /// empty store *and* the error, to report. The next change then
    /// replaces the bad file.
    pub fn open(path: impl AsRef<Path>) -> (FileStore, Option<StoreError>) {
        let path = path.as_ref().to_path_buf();
        let (data, problem) = match read_store_file(&path) {
            Ok(data) => (data, None),
            Err(e) => (StoreData::default(), Some(e)),
        };
        (
            FileStore {
                path,
                data: Mutex::new(data),
            },
            problem,
        )
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// [`Store::update`] with a [`StepHook`] in the atomic write, so a test
    /// can cut the write after any step (a simulated crash).
    pub fn update_with_hook(
        &self,
        change: &mut dyn FnMut(&mut StoreData),
        hook: &mut dyn StepHook,
    ) -> Result<(), StoreError> {
        let mut data = lock(&self.data);
        let mut next = data.clone();
        change(&mut next);
        let bytes = serde_json::to_vec_pretty(&next).expect("store data always serializes to JSON");
        atomic::write_atomically_with(&self.path, &bytes, hook).map_err(|e| StoreError::WriteFailed {
            path: self.path.display().to_string(),
            step: e.step,
            reason: e.source.to_string(),
        })?;
        *data = next;
        Ok(())
    }
}

impl Store for FileStore {
    fn snapshot(&self) -> StoreData {
        lock(&self.data).clone()
    }

    fn update(&self, change: &mut dyn FnMut(&mut StoreData)) -> Result<(), StoreError> {
        self.update_with_hook(change, &mut NoHook)
    }
}

/// The largest store file [`read_store_file`] reads: 4 MiB, some 30,000
/// known readers.
pub const MAX_STORE_BYTES: u64 = 4 << 20;

/// The longest label or location id the store keeps.
pub const MAX_STORE_TEXT_BYTES: usize = 256;

/// Reads a store file; a missing file is an empty store. A file over
/// [`MAX_STORE_BYTES`] is [`StoreError::TooLarge`] (after reading one byte
/// past the limit); serial numbers, labels and locations in it are checked
/// as any text from outside ([`crate::reader::check_text`]: length, no
/// control characters), and one that fails makes the file
/// [`StoreError::Corrupt`], naming the field.
pub fn read_store_file(path: &Path) -> Result<StoreData, StoreError> {
    use crate::transport::sim::fleet::{BoundedReadError, read_bounded};
    let shown = || path.display().to_string();
    let bytes = match read_bounded(path, MAX_STORE_BYTES) {
        Ok(text) => text.into_bytes(),
        Err(BoundedReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(StoreData::default());
        }
        Err(BoundedReadError::TooLarge { limit }) => {
            return Err(StoreError::TooLarge { path: shown(), limit });
        }
        Err(BoundedReadError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(StoreError::Corrupt {
                path: shown(),
                reason: e.to_string(),
            });
        }
        Err(BoundedReadError::Io(e)) => {
            return Err(StoreError::Unreadable {
                path: shown(),
                reason: e.to_string(),
            });
        }
    };
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let versioned: Versioned = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
        path: shown(),
        reason: e.to_string(),
    })?;
    if versioned.version != STORE_VERSION {
        return Err(StoreError::UnsupportedVersion {
            path: shown(),
            found: versioned.version,
        });
    }
    let data: StoreData = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
        path: shown(),
        reason: e.to_string(),
    })?;
    check_store_texts(&data).map_err(|reason| StoreError::Corrupt {
        path: shown(),
        reason,
    })?;
    Ok(data)
}

/// Checks every text of a store read from a file, naming the first that
/// fails: a serial with a newline would forge lines wherever it is shown.
fn check_store_texts(data: &StoreData) -> Result<(), String> {
    use crate::reader::check_text;
    let check =
        |field: &str, text: &str, max: usize| check_text(text, max).map_err(|e| format!("`{field}` {e}"));
    if let Some(last) = &data.last_connected {
        check(
            "last_connected.serial_number",
            last.serial_number.as_str(),
            SerialNumber::MAX_LEN,
        )?;
        check("last_connected.location", &last.location, MAX_STORE_TEXT_BYTES)?;
    }
    for (serial, known) in &data.known_readers {
        // The message never repeats a text that failed: it may not be printable.
        check("known_readers key", serial.as_str(), SerialNumber::MAX_LEN)?;
        let field = |name: &str| format!("known_readers.{serial}.{name}");
        if let Some(label) = &known.label {
            check(&field("label"), label, MAX_STORE_TEXT_BYTES)?;
        }
        if let Some(location) = &known.last_seen_location {
            check(&field("last_seen_location"), location, MAX_STORE_TEXT_BYTES)?;
        }
    }
    Ok(())
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it:
/// the store's data is replaced whole, so it is never half-changed.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_store_remembers_readers_and_the_last_connected_one() {
        let store = MemoryStore::new();
        let serial = SerialNumber::new("WPC3001");
        store
            .remember_reader(&serial, KnownReader::new(DeviceType::WisePad3))
            .unwrap();
        store.set_last_connected(&serial, "tml_1").unwrap();
        assert_eq!(
            store.known_reader(&serial).unwrap().last_seen_location.as_deref(),
            Some("tml_1")
        );
        store.clear_last_connected().unwrap();
        assert_eq!(store.last_connected(), None);
    }

    #[test]
    fn a_file_of_a_newer_version_is_reported_and_the_store_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, r#"{"version": 99}"#).unwrap();
        let (store, problem) = FileStore::open(&path);
        assert_eq!(problem.unwrap().code(), "store_unsupported_version");
        assert_eq!(store.snapshot(), StoreData::default());
    }
}
