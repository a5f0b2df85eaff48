//! Atomic file replacement: a reader of the file sees the old contents or
//! the new ones, never a mix, whenever the writer stops (crash, power loss).
//!
//! The steps, each of which a crash may follow ([`AtomicStep`]):
//!
//! 1. create a temporary file in the same directory (a rename is only
//!    atomic within one file system),
//! 2. write the bytes,
//! 3. fsync the temporary file (its data is on disk before it gets the name),
//! 4. rename it over the target,
//! 5. fsync the directory (the rename itself is on disk).
//!
//! [`write_atomically_with`] calls a [`StepHook`] after each step; a hook
//! that returns an error stops the write right there, without cleaning up,
//! the way a crash would. Tests use it to cut the write at every step.
//!
//! ```
//! use readerlink::store::atomic::write_atomically;
//!
//! let dir = std::env::temp_dir().join(format!("readerlink-doc-atomic-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("state.json");
//! write_atomically(&path, b"{\"v\":1}").unwrap();
//! write_atomically(&path, b"{\"v\":2}").unwrap();
//! assert_eq!(std::fs::read(&path).unwrap(), b"{\"v\":2}");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// One step of an atomic write, named for what has just been done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AtomicStep {
    /// The temporary file exists (empty) beside the target.
    TempCreated,
    /// The bytes are written to the temporary file (maybe still in caches).
    BytesWritten,
    /// The temporary file's data is on disk.
    TempSynced,
    /// The temporary file has replaced the target.
    Renamed,
    /// The directory entry of the rename is on disk.
    DirectorySynced,
}

impl AtomicStep {
    /// Every step, in order.
    pub const ALL: [AtomicStep; 5] = [
        Self::TempCreated,
        Self::BytesWritten,
        Self::TempSynced,
        Self::Renamed,
        Self::DirectorySynced,
    ];
}

/// Called after each step of [`write_atomically_with`]. An error stops the
/// write at once, leaving the files as they are (a simulated crash).
pub trait StepHook {
    /// The write has just completed `step`.
    fn after(&mut self, step: AtomicStep) -> io::Result<()>;
}

/// The hook of a real write: never interrupts.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHook;

impl StepHook for NoHook {
    fn after(&mut self, _step: AtomicStep) -> io::Result<()> {
        Ok(())
    }
}

/// A hook that fails right after one step: a crash there.
#[derive(Debug, Clone, Copy)]
pub struct CrashAfter(pub AtomicStep);

impl StepHook for CrashAfter {
    fn after(&mut self, step: AtomicStep) -> io::Result<()> {
        if step == self.0 {
            Err(io::Error::other(format!("simulated crash after {step:?}")))
        } else {
            Ok(())
        }
    }
}

/// Why an atomic write failed: the step that failed and what the OS (or the
/// hook) said.
#[derive(Debug, thiserror::Error)]
#[error("writing {path} atomically failed at {step:?}: {source}")]
pub struct AtomicWriteError {
    /// The target file.
    pub path: PathBuf,
    /// The step that did not complete (for a hook failure: the step after
    /// which it stopped).
    pub step: AtomicStep,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

/// Replaces `path` with `bytes` atomically (see the module docs).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), AtomicWriteError> {
    write_atomically_with(path, bytes, &mut NoHook)
}

/// [`write_atomically`] with a [`StepHook`] called after each step.
///
/// On a real IO failure the temporary file is removed; on a hook failure it
/// is left behind, as a crash would leave it. Leftover temporary files are
/// named `.<file name>.tmp-<pid>-<n>`, never read, and removed by
/// [`remove_leftover_temps`].
pub fn write_atomically_with(
    path: &Path,
    bytes: &[u8],
    hook: &mut dyn StepHook,
) -> Result<(), AtomicWriteError> {
    let fail = |step, source| AtomicWriteError {
        path: path.to_path_buf(),
        step,
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| {
            fail(
                AtomicStep::TempCreated,
                io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"),
            )
        })?
        .to_string_lossy()
        .into_owned();

    let (temp_path, mut file) =
        create_temp(&dir, &file_name).map_err(|e| fail(AtomicStep::TempCreated, e))?;
    hook.after(AtomicStep::TempCreated)
        .map_err(|e| fail(AtomicStep::TempCreated, e))?;

    let cleanup = |step, e| {
        let _ = std::fs::remove_file(&temp_path);
        fail(step, e)
    };
    file.write_all(bytes)
        .map_err(|e| cleanup(AtomicStep::BytesWritten, e))?;
    hook.after(AtomicStep::BytesWritten)
        .map_err(|e| fail(AtomicStep::BytesWritten, e))?;

    file.sync_all().map_err(|e| cleanup(AtomicStep::TempSynced, e))?;
    drop(file);
    hook.after(AtomicStep::TempSynced)
        .map_err(|e| fail(AtomicStep::TempSynced, e))?;

    std::fs::rename(&temp_path, path).map_err(|e| cleanup(AtomicStep::Renamed, e))?;
    hook.after(AtomicStep::Renamed)
        .map_err(|e| fail(AtomicStep::Renamed, e))?;

    sync_dir(&dir).map_err(|e| fail(AtomicStep::DirectorySynced, e))?;
    hook.after(AtomicStep::DirectorySynced)
        .map_err(|e| fail(AtomicStep::DirectorySynced, e))?;
    Ok(())
}

/// Removes the temporary files writes to `path` left behind when a crash
/// cut them off (`.<file name>.tmp-*`), and returns how many. Call it only
/// while no other process writes `path` (the backend holds a lock on its
/// data file first): another writer's temporary file would go too.
pub fn remove_leftover_temps(path: &Path) -> io::Result<usize> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(file_name) = path.file_name() else {
        return Ok(0);
    };
    let prefix = format!(".{}.tmp-", file_name.to_string_lossy());
    let mut removed = 0;
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Creates a fresh temporary file beside the target; a name left over from
/// an earlier crash is skipped, never reused.
fn create_temp(dir: &Path, file_name: &str) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{file_name}.tmp-{}-{n}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    // Directories cannot be opened for syncing here; the rename is as
    // durable as the platform makes it.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_after_any_step_leaves_the_old_or_the_new_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        for step in AtomicStep::ALL {
            write_atomically(&path, b"old").unwrap();
            let result = write_atomically_with(&path, b"new", &mut CrashAfter(step));
            assert!(result.is_err(), "the hook stops the write after {step:?}");
            let now = std::fs::read(&path).unwrap();
            let expected: &[u8] = if matches!(step, AtomicStep::Renamed | AtomicStep::DirectorySynced) {
                b"new"
            } else {
                b"old"
            };
            assert_eq!(now, expected, "contents after a crash after {step:?}");
        }
    }

    #[test]
    fn a_write_into_a_missing_directory_fails_naming_the_step_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("state.json");
        let err = write_atomically(&path, b"x").unwrap_err();
        assert_eq!(err.step, AtomicStep::TempCreated);
        assert!(err.to_string().contains("state.json"), "{err}");
    }
}
