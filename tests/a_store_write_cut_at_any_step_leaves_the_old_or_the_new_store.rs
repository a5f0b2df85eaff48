//! The store file survives a crash at any point of a write, and a corrupt
//! file never stops the terminal: it starts with an empty store and a
//! typed error to report.

use std::io;

use readerlink::reader::{DeviceType, SerialNumber};
use readerlink::store::atomic::{AtomicStep, CrashAfter, StepHook};
use readerlink::store::{FileStore, KnownReader, Store, StoreData, StoreError};

fn reader(device_type: DeviceType, label: &str) -> KnownReader {
    KnownReader {
        device_type,
        label: Some(label.into()),
        last_seen_location: None,
    }
}

#[test]
fn a_write_killed_after_every_step_reads_back_old_or_new_never_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readerlink.json");
    let m2 = SerialNumber::new("STRM26000001");
    let wisepad = SerialNumber::new("WPC3000002");

    for step in AtomicStep::ALL {
        let _ = std::fs::remove_file(&path);
        let (store, problem) = FileStore::open(&path);
        assert_eq!(problem, None);
        store
            .remember_reader(&m2, reader(DeviceType::StripeM2, "Till 1"))
            .unwrap();
        store.set_last_connected(&m2, "tml_000001").unwrap();
        let old = store.snapshot();

        let result = store.update_with_hook(
            &mut |data| {
                data.known_readers
                    .insert(wisepad.clone(), reader(DeviceType::WisePad3, "Till 2"));
                data.last_connected.as_mut().unwrap().serial_number = wisepad.clone();
            },
            &mut CrashAfter(step),
        );
        let err = result.expect_err("the simulated crash fails the write");
        assert_eq!(err.code(), "store_write_failed");
        assert_eq!(
            store.snapshot(),
            old,
            "a failed save leaves the live store unchanged ({step:?})"
        );

        // After the "crash": a fresh start reads the file back.
        let (reopened, problem) = FileStore::open(&path);
        assert_eq!(problem, None, "never a corrupt file after a crash after {step:?}");
        let on_disk = reopened.snapshot();
        let mut new = old.clone();
        new.known_readers
            .insert(wisepad.clone(), reader(DeviceType::WisePad3, "Till 2"));
        new.last_connected.as_mut().unwrap().serial_number = wisepad.clone();
        let renamed = matches!(step, AtomicStep::Renamed | AtomicStep::DirectorySynced);
        assert_eq!(
            on_disk,
            if renamed { new } else { old },
            "after a crash after {step:?}"
        );

        // A leftover temporary file does not get in the way of the next write.
        reopened.clear_last_connected().unwrap();
        assert_eq!(FileStore::open(&path).0.last_connected(), None);
    }
}

/// A hook that fails with a real IO error (disk full) at one step.
struct DiskFullAt(AtomicStep);

impl StepHook for DiskFullAt {
    fn after(&mut self, step: AtomicStep) -> io::Result<()> {
        if step == self.0 {
            Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device",
            ))
        } else {
            Ok(())
        }
    }
}

#[test]
fn a_failed_save_says_which_step_failed_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readerlink.json");
    let (store, _) = FileStore::open(&path);
    let err = store
        .update_with_hook(
            &mut |data| data.last_connected = None,
            &mut DiskFullAt(AtomicStep::BytesWritten),
        )
        .unwrap_err();
    match &err {
        StoreError::WriteFailed {
            path: p,
            step,
            reason,
        } => {
            assert!(p.ends_with("readerlink.json"));
            assert_eq!(*step, AtomicStep::BytesWritten);
            assert!(reason.contains("no space left"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!path.exists(), "no file appeared");
}

#[test]
fn a_corrupt_file_is_a_typed_error_and_the_store_starts_empty_and_usable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readerlink.json");
    std::fs::write(&path, b"{\"version\": 1, \"last_connected\": {\"serial_n").unwrap();

    let (store, problem) = FileStore::open(&path);
    match problem.expect("the corruption is reported") {
        StoreError::Corrupt { path: p, reason } => {
            assert!(p.ends_with("readerlink.json"), "names the file: {p}");
            assert!(reason.contains("line 1"), "says where: {reason}");
        }
        other => panic!("expected a corrupt-file error, got {other:?}"),
    }
    assert_eq!(store.snapshot(), StoreData::default());

    let serial = SerialNumber::new("CHB20000003");
    store
        .remember_reader(&serial, reader(DeviceType::Chipper2X, "Bar"))
        .unwrap();
    let (reopened, problem) = FileStore::open(&path);
    assert_eq!(problem, None, "the first save replaced the corrupt file");
    assert_eq!(
        reopened.known_reader(&serial).unwrap().device_type,
        DeviceType::Chipper2X
    );
}

#[test]
fn a_file_of_the_wrong_shape_or_unreadable_is_reported_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readerlink.json");
    std::fs::write(
        &path,
        br#"{"version": 1, "last_connected": 7, "known_readers": {}}"#,
    )
    .unwrap();
    assert_eq!(FileStore::open(&path).1.unwrap().code(), "store_corrupt");

    // A directory where the file should be cannot be read as one.
    let (store, problem) = FileStore::open(dir.path());
    assert_eq!(problem.unwrap().code(), "store_unreadable");
    assert_eq!(store.snapshot(), StoreData::default());
}
