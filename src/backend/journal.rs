//! The backend's data file: an append-only log of changes over a snapshot,
//! locked to one process, compacted when it grows.
//!
//! Writing the whole data on every change made each write cost O(size of
//! the data) (257 writes/s at 1.3 MB against 885 on a fresh file); a change
//! here costs one appended line and one `fsync`, whatever the size.
//!
//! # Format (JSON Lines)
//!
//! - line 1: the snapshot, a [`BackendData`] on one line (`version` 2);
//! - every next line: one change, a JSON object tagged `change`
//!   (`token_issued`, `location_created`, `reader_registered`), appended
//!   and `fsync`ed before the change is acknowledged.
//!
//! Opening replays the changes over the snapshot. The last line may be torn
//! (a crash in the middle of an append, before its `fsync` returned, so
//! never acknowledged): it is ignored and cut off. A bad line anywhere else
//! is a [`DataError::Corrupt`] naming it: the backend does not start on
//! data it could not read. Nor does it start on data that reads but
//! contradicts itself so that it would lose data later, as only an edit by
//! hand makes ([`DataError::Inconsistent`]: a location numbered above the
//! count of locations created would be replaced by the next one created).
//! A version 1 file (the whole data as one JSON document) is read and
//! rewritten in this format.
//!
//! # Compaction
//!
//! When the log is over [`COMPACT_FACTOR`] times its snapshot line (and
//! over [`COMPACT_MIN_BYTES`]), the current data is written as a new
//! snapshot with [`write_atomically`]: a crash leaves the old log or the new
//! snapshot, both holding every acknowledged change. Each compaction writes
//! at most the log's size and the next one waits for that much again to be
//! appended, so its cost per change stays constant.
//!
//! # Lock
//!
//! A second process on the same data would lose the first one's writes
//! (each appends to the file it opened; a compaction replaces it). An
//! exclusive advisory lock (`flock` on Unix, `LockFileEx` on Windows, through
//! the `fs4` crate) on a sidecar file
//! `<data file>.lock` keeps the file to one process; the sidecar is never
//! replaced (a compaction renames a new data file into place, which a lock
//! on the data file itself would not survive) and is left behind on exit,
//! harmless: the OS releases the lock when the process ends, `kill -9`
//! included.
//!
//! The data file is the file its path names through symbolic links: the
//! lock sidecar is beside that file, and a snapshot replaces that file, so
//! a second server given a link to it finds it locked, and the link stays
//! a link. (A hard link is not found out: give each server its own file.)
//!
//! Opening also checks the file can be written (it is opened for
//! appending, and a missing file is created), refuses a path that is not a
//! regular file ([`DataError::NotAFile`]: a FIFO would block the start
//! forever, `/dev/zero` would be read until memory ran out), and removes
//! temporary files a compaction cut off by a crash left behind.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::core::{BACKEND_DATA_VERSION, BackendData};
use super::{BackendError, Location, RegisteredReader};
use crate::store::atomic::{remove_leftover_temps, write_atomically};

/// Compaction starts when the log is over this many times its snapshot.
pub const COMPACT_FACTOR: u64 = 2;

/// ... and over this many bytes (a small log is not worth rewriting).
pub const COMPACT_MIN_BYTES: u64 = 256 * 1024;

/// One change to the backend data: a line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub(crate) enum Change {
    /// A connection token was issued (the count seeds the next one).
    TokenIssued,
    /// A location was created.
    LocationCreated {
        /// The new location.
        location: Location,
    },
    /// A reader was registered (or moved, when `new` is false).
    ReaderRegistered {
        /// The reader as registered.
        reader: RegisteredReader,
        /// Whether it got a new id.
        new: bool,
    },
}

impl Change {
    /// Applies the change: the same code live and at replay.
    pub(crate) fn apply(self, data: &mut BackendData) {
        match self {
            // Saturating: a replayed file's counters are checked only once
            // it is read (`check_consistent`); replay must not panic first.
            Change::TokenIssued => data.tokens_issued = data.tokens_issued.saturating_add(1),
            Change::LocationCreated { location } => {
                data.locations_created = data.locations_created.saturating_add(1);
                data.locations.insert(location.id.clone(), location);
            }
            Change::ReaderRegistered { reader, new } => {
                if new {
                    data.readers_registered = data.readers_registered.saturating_add(1);
                }
                data.readers.insert(reader.serial_number.clone(), reader);
            }
        }
    }
}

/// Why the data file could not be opened. Each kind has a stable
/// [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Another process holds the file (a second server on the same data).
    ///
    /// Code: `data_locked`.
    #[error(
        "backend data {path} is in use by another process (its lock {lock} is held): stop that server or give another --data file"
    )]
    Locked {
        /// The data file.
        path: String,
        /// The lock file.
        lock: String,
    },
    /// The file, its lock file or its directory cannot be written.
    ///
    /// Code: `data_unwritable`.
    #[error("backend data {path} cannot be written: {reason}")]
    Unwritable {
        /// The data file.
        path: String,
        /// What the OS said, and about which file.
        reason: String,
    },
    /// The path, or its lock file's, is not a regular file: a directory, a
    /// device such as `/dev/zero` (reading it would never end) or a pipe
    /// (reading it would wait for a writer forever).
    ///
    /// Code: `data_not_a_file`.
    #[error("backend data {path} cannot be used: {} is not a regular file", what)]
    NotAFile {
        /// The data file.
        path: String,
        /// The path that is not a regular file (the data file or its lock).
        what: String,
    },
    /// The file exists but could not be read.
    ///
    /// Code: `data_unreadable`.
    #[error("backend data {path} could not be read: {reason}")]
    Unreadable {
        /// The data file.
        path: String,
        /// What the OS said.
        reason: String,
    },
    /// A line that is not the last one could not be decoded.
    ///
    /// Code: `data_corrupt`.
    #[error("backend data {path} is corrupt at line {line}: {reason}")]
    Corrupt {
        /// The data file.
        path: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The file reads, but its data contradicts itself in a way that would
    /// lose data later: a location or reader id numbered above the count of
    /// ids handed out (the next one made would take that id and replace the
    /// location, or duplicate the reader's), or a count too large to go on
    /// counting. Only an edit by hand makes one.
    ///
    /// Code: `data_inconsistent`.
    #[error("backend data {path} is inconsistent: {reason}")]
    Inconsistent {
        /// The data file.
        path: String,
        /// What contradicts what.
        reason: String,
    },
    /// The file was written by another version of readerlink.
    ///
    /// Code: `data_unsupported_version`.
    #[error(
        "backend data {path} has version {found}, this readerlink reads versions 1 and {BACKEND_DATA_VERSION}"
    )]
    UnsupportedVersion {
        /// The data file.
        path: String,
        /// The version found.
        found: u32,
    },
}

impl DataError {
    /// A stable code for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Locked { .. } => "data_locked",
            Self::Unwritable { .. } => "data_unwritable",
            Self::NotAFile { .. } => "data_not_a_file",
            Self::Unreadable { .. } => "data_unreadable",
            Self::Corrupt { .. } => "data_corrupt",
            Self::Inconsistent { .. } => "data_inconsistent",
            Self::UnsupportedVersion { .. } => "data_unsupported_version",
        }
    }
}

/// The open log: the append handle, its lock, and what compaction needs.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    /// The data file, opened for appending.
    file: File,
    /// Holds the exclusive lock for as long as the journal lives.
    _lock: File,
    /// The log's length: where the next line starts.
    bytes: u64,
    /// The snapshot line's length at the last compaction.
    snapshot_bytes: u64,
    /// An append or a compaction failed half-way: the file may not end
    /// where `bytes` says, or `file` may be a replaced inode. The next
    /// change rewrites the file from the data first.
    broken: bool,
    /// The log size below which there is no compaction
    /// ([`COMPACT_MIN_BYTES`]; smaller in tests).
    compact_min_bytes: u64,
    /// Makes the next appends fail, to test what a failed save leaves.
    #[cfg(test)]
    pub(crate) fail_appends: bool,
}

impl Journal {
    /// Locks, reads and replays the log at `path` (creating it when
    /// missing), and opens it for appending.
    pub(crate) fn open(path: &Path) -> Result<(Journal, BackendData), DataError> {
        let shown = path.display().to_string();
        let unwritable = |what: &Path, e: io::Error| DataError::Unwritable {
            path: shown.clone(),
            reason: format!("{}: {e}", what.display()),
        };
        let path = &resolve_links(path);
        let lock_path = lock_path(path);
        // Before anything is opened: opening a pipe waits for its other
        // end, and reading a device may never end.
        for file in [path, lock_path.as_path()] {
            match std::fs::metadata(file) {
                Ok(meta) if !meta.is_file() => {
                    return Err(DataError::NotAFile {
                        path: shown,
                        what: file.display().to_string(),
                    });
                }
                _ => {}
            }
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| unwritable(&lock_path, e))?;
        // Spelled through the trait: std's own `File::try_lock` is newer
        // than our rust-version.
        match fs4::FileExt::try_lock(&lock) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                return Err(DataError::Locked {
                    path: shown,
                    lock: lock_path.display().to_string(),
                });
            }
            Err(fs4::TryLockError::Error(e)) => return Err(unwritable(&lock_path, e)),
        }
        // Only now, holding the lock, is no one else writing them.
        match remove_leftover_temps(path) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                removed = n,
                "removed temporary files a crash left beside the backend data"
            ),
            Err(e) => return Err(unwritable(path, e)),
        }

        let bytes = match std::fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(DataError::Unreadable {
                    path: shown,
                    reason: e.to_string(),
                });
            }
        };
        let replayed = match bytes {
            Some(bytes) if !bytes.is_empty() => replay(&bytes, &shown)?,
            _ => Replayed {
                data: BackendData::default(),
                valid_len: 0,
                snapshot_len: 0,
                rewrite: true,
            },
        };
        let data = replayed.data;
        let (file, bytes, snapshot_bytes) = if replayed.rewrite {
            let (file, len) = write_snapshot(path, &data).map_err(|e| unwritable(path, e))?;
            (file, len, len)
        } else {
            let file = OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|e| unwritable(path, e))?;
            let len = file.metadata().map_err(|e| unwritable(path, e))?.len();
            if len != replayed.valid_len {
                tracing::warn!(
                    torn_bytes = len - replayed.valid_len,
                    "ignored a torn last line in the backend data (a write cut off before it was acknowledged)"
                );
                file.set_len(replayed.valid_len)
                    .map_err(|e| unwritable(path, e))?;
                file.sync_all().map_err(|e| unwritable(path, e))?;
            }
            (file, replayed.valid_len, replayed.snapshot_len)
        };
        let mut journal = Journal {
            path: path.to_path_buf(),
            file,
            _lock: lock,
            bytes,
            snapshot_bytes,
            broken: false,
            compact_min_bytes: COMPACT_MIN_BYTES,
            #[cfg(test)]
            fail_appends: false,
        };
        if journal.compaction_due() {
            journal.rewrite(&data).map_err(|e| unwritable(path, e))?;
        }
        Ok((journal, data))
    }

    /// The data file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `change` and waits for it to be on disk. `before` is the data
    /// the change applies to, to rewrite the file from when an earlier
    /// failure left it unsure. On failure nothing is acknowledged and the
    /// next change rewrites the file first.
    pub(crate) fn append(&mut self, change: &Change, before: &BackendData) -> Result<(), BackendError> {
        if self.broken {
            self.rewrite(before).map_err(|e| self.storage("rewriting", e))?;
        }
        let mut line = serde_json::to_vec(change).expect("a change always serializes to JSON");
        line.push(b'\n');
        match self.write_line(&line) {
            Ok(()) => {
                self.bytes += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.broken = true;
                // Best effort: the rewrite at the next change repairs it anyway.
                let _ = self.file.set_len(self.bytes);
                Err(self.storage("appending", e))
            }
        }
    }

    /// Compacts the log when it is due. A failure is logged, not returned:
    /// the change is already safe in the log; the next change rewrites.
    pub(crate) fn compact_if_due(&mut self, data: &BackendData) {
        if !self.compaction_due() {
            return;
        }
        if let Err(e) = self.rewrite(data) {
            tracing::warn!(error = %e, "compacting the backend data failed; retried at the next change");
        }
    }

    fn compaction_due(&self) -> bool {
        self.bytes > self.compact_min_bytes && self.bytes > COMPACT_FACTOR.saturating_mul(self.snapshot_bytes)
    }

    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        #[cfg(test)]
        if self.fail_appends {
            return Err(io::Error::other("simulated failed append"));
        }
        self.file.write_all(line)?;
        self.file.sync_data()
    }

    /// Replaces the file with a snapshot of `data`, atomically, and appends
    /// to the new file from then on.
    fn rewrite(&mut self, data: &BackendData) -> io::Result<()> {
        self.broken = true;
        let (file, len) = write_snapshot(&self.path, data)?;
        self.file = file;
        self.bytes = len;
        self.snapshot_bytes = len;
        self.broken = false;
        Ok(())
    }

    /// A storage error for a client: the path stays in the server's log.
    fn storage(&self, doing: &str, e: io::Error) -> BackendError {
        BackendError::Storage {
            path: self.path.display().to_string(),
            reason: format!("{doing} failed: {e}"),
        }
    }
}

/// The file `path` names, through any symbolic links: the lock is taken
/// beside it, and a snapshot replaces it, not a link to it. A path that
/// does not exist yet is resolved through its directory; one that cannot
/// be resolved is kept as given (opening it then says what is wrong).
fn resolve_links(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (
        std::fs::symlink_metadata(path),
        path.file_name(),
        std::fs::canonicalize(dir),
    ) {
        // Missing (not a dangling link): the file is made in the real directory.
        (Err(e), Some(name), Ok(dir)) if e.kind() == io::ErrorKind::NotFound => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// `<data file>.lock`, beside it.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".lock");
    path.with_file_name(name)
}

/// Replaces the file at `path` with a snapshot of `data`, atomically, and
/// opens the new file for appending; returns it and its length.
fn write_snapshot(path: &Path, data: &BackendData) -> io::Result<(File, u64)> {
    let mut line = serde_json::to_vec(data).expect("backend data always serializes to JSON");
    line.push(b'\n');
    write_atomically(path, &line).map_err(|e| io::Error::new(e.source.kind(), e.to_string()))?;
    let file = OpenOptions::new().append(true).open(path)?;
    Ok((file, line.len() as u64))
}

/// What reading a log gave.
struct Replayed {
    data: BackendData,
    /// The length of the valid part (a torn last line excluded).
    valid_len: u64,
    /// The length of the snapshot line.
    snapshot_len: u64,
    /// The file must be rewritten (a version 1 file, or none).
    rewrite: bool,
}

/// Replays a log.
fn replay(bytes: &[u8], shown: &str) -> Result<Replayed, DataError> {
    let corrupt = |line, reason: String| DataError::Corrupt {
        path: shown.to_owned(),
        line,
        reason,
    };
    let first_end = bytes.iter().position(|b| *b == b'\n');
    let first = &bytes[..first_end.unwrap_or(bytes.len())];
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let snapshot = match serde_json::from_slice::<Versioned>(first) {
        Ok(v) if v.version == BACKEND_DATA_VERSION => match first_end {
            Some(_) => serde_json::from_slice::<BackendData>(first).map_err(|e| corrupt(1, e.to_string()))?,
            // A snapshot is only written whole (atomically): without its
            // newline it is not ours.
            None => return Err(corrupt(1, "the snapshot line does not end".into())),
        },
        Ok(v) => {
            return Err(DataError::UnsupportedVersion {
                path: shown.to_owned(),
                found: v.version,
            });
        }
        // Not one line of JSON: a version 1 file is one JSON document.
        Err(_) => {
            let versioned: Versioned =
                serde_json::from_slice(bytes).map_err(|e| corrupt(e.line(), e.to_string()))?;
            if versioned.version != 1 {
                return Err(DataError::UnsupportedVersion {
                    path: shown.to_owned(),
                    found: versioned.version,
                });
            }
            let mut data: BackendData =
                serde_json::from_slice(bytes).map_err(|e| corrupt(e.line(), e.to_string()))?;
            data.version = BACKEND_DATA_VERSION;
            check_consistent(&data, shown)?;
            return Ok(Replayed {
                data,
                valid_len: bytes.len() as u64,
                snapshot_len: bytes.len() as u64,
                rewrite: true,
            });
        }
    };
    let mut data = snapshot;
    let mut at = first_end.map_or(bytes.len(), |i| i + 1);
    let mut line_no = 1;
    while at < bytes.len() {
        line_no += 1;
        let rest = &bytes[at..];
        let Some(end) = rest.iter().position(|b| *b == b'\n') else {
            // No newline: an append cut off before its fsync returned.
            break;
        };
        match serde_json::from_slice::<Change>(&rest[..end]) {
            Ok(change) => change.apply(&mut data),
            // The last line may hold garbage after a crash on a file system
            // that extends the file before writing its data.
            Err(_) if at + end + 1 == bytes.len() => break,
            Err(e) => return Err(corrupt(line_no, e.to_string())),
        }
        at += end + 1;
    }
    check_consistent(&data, shown)?;
    Ok(Replayed {
        data,
        valid_len: at as u64,
        snapshot_len: first_end.map_or(bytes.len(), |i| i + 1) as u64,
        rewrite: false,
    })
}

/// The largest count a data file may hold: far beyond any real use, and
/// far enough below `u64::MAX` that counting on never overflows.
const MAX_COUNT: u64 = i64::MAX as u64;

/// Refuses data that would lose data later (see [`DataError::Inconsistent`]).
fn check_consistent(data: &BackendData, shown: &str) -> Result<(), DataError> {
    let inconsistent = |reason: String| DataError::Inconsistent {
        path: shown.to_owned(),
        reason,
    };
    for (name, count) in [
        ("locations_created", data.locations_created),
        ("readers_registered", data.readers_registered),
        ("tokens_issued", data.tokens_issued),
    ] {
        if count > MAX_COUNT {
            return Err(inconsistent(format!("{name} is {count}, over {MAX_COUNT}")));
        }
    }
    // The number of an id the core would make (`tml_000042`: 42), if it is one.
    let number = |id: &str, prefix: &str| {
        let digits = id.strip_prefix(prefix)?;
        let n = digits.parse::<u64>().ok()?;
        (format!("{prefix}{n:06}") == id).then_some(n)
    };
    let (created, registered) = (data.locations_created, data.readers_registered);
    if let Some(id) = data
        .locations
        .keys()
        .find(|id| number(id, "tml_").is_some_and(|n| n > created))
    {
        return Err(inconsistent(format!(
            "location {id} is numbered above the {created} locations created: the next one created would replace it"
        )));
    }
    if let Some(reader) = data
        .readers
        .values()
        .find(|r| number(&r.id, "tmr_").is_some_and(|n| n > registered))
    {
        return Err(inconsistent(format!(
            "reader {} is numbered above the {registered} readers registered: a reader registered next would get its id too",
            reader.id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(n: u64) -> Change {
        Change::LocationCreated {
            location: Location {
                id: format!("tml_{n:06}"),
                display_name: "Shop".into(),
                address: super::super::Address {
                    line1: "1 Main St".into(),
                    country: "US".into(),
                    ..Default::default()
                },
            },
        }
    }

    #[test]
    fn changes_survive_a_reopen_and_a_torn_last_line_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backend.json");
        let (mut journal, mut data) = Journal::open(&path).unwrap();
        for n in 1..=3 {
            journal.append(&location(n), &data).unwrap();
            location(n).apply(&mut data);
        }
        drop(journal);
        let whole = std::fs::read(&path).unwrap();
        let mut torn = whole.clone();
        torn.extend_from_slice(br#"{"change":"location_crea"#);
        std::fs::write(&path, &torn).unwrap();
        let (_journal, again) = Journal::open(&path).unwrap();
        assert_eq!(again, data);
        assert_eq!(std::fs::read(&path).unwrap(), whole, "the torn line is cut off");
    }

    #[test]
    fn a_bad_line_before_the_last_is_corrupt_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backend.json");
        let (mut journal, data) = Journal::open(&path).unwrap();
        journal.append(&location(1), &data).unwrap();
        drop(journal);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"not json\n{\"change\":\"token_issued\"}\n");
        std::fs::write(&path, &bytes).unwrap();
        let err = Journal::open(&path).unwrap_err();
        assert!(matches!(err, DataError::Corrupt { line: 3, .. }), "{err:?}");
    }

    #[test]
    fn a_version_1_file_is_read_and_rewritten_as_a_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backend.json");
        let mut data = BackendData::default();
        location(1).apply(&mut data);
        data.version = 1;
        std::fs::write(&path, serde_json::to_vec_pretty(&data).unwrap()).unwrap();
        let (_journal, read) = Journal::open(&path).unwrap();
        data.version = BACKEND_DATA_VERSION;
        assert_eq!(read, data);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
    }

    #[test]
    fn a_long_log_is_compacted_to_one_snapshot_with_the_same_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backend.json");
        let (mut journal, mut data) = Journal::open(&path).unwrap();
        journal.compact_min_bytes = 1024;
        let lines = || std::fs::read_to_string(&path).unwrap().lines().count();
        let mut longest = 0;
        for n in 1..=200 {
            journal.append(&location(n), &data).unwrap();
            location(n).apply(&mut data);
            longest = longest.max(lines());
            journal.compact_if_due(&data);
            let size = std::fs::metadata(&path).unwrap().len();
            assert!(
                size <= (COMPACT_FACTOR * journal.snapshot_bytes).max(1024),
                "the log stays within {COMPACT_FACTOR}x its snapshot: {size} after {n}"
            );
        }
        assert!(longest > 1, "changes were appended");
        assert!(lines() < 200, "and compacted");
        drop(journal);
        assert_eq!(Journal::open(&path).unwrap().1, data);
    }
}
