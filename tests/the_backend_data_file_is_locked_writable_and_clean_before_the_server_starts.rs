//! The data file belongs to one server: a second one on the same file
//! refuses to start (two servers used to acknowledge writes, and one's were
//! lost). A path that cannot be written is refused at start, not at the
//! first write; a temporary file a crash left beside it is removed; a
//! failed save is answered without the server's paths. Real HTTP on real
//! time, 127.0.0.1 only.

mod common;

use std::path::Path;

use readerlink::backend::server::RequestError;
use readerlink::backend::{
    Address, Backend, BackendData, BackendError, BackendServer, CreateLocation, DataError, HttpBackend,
    HttpBackendConfig, Location, RegisteredReader, ServerConfig, ServerError,
};
use readerlink::reader::{DeviceType, SerialNumber};
use readerlink::secret::Secret;
use readerlink::store::atomic::{AtomicStep, CrashAfter, write_atomically_with};

const KEY: &str = "sk_test_data";

fn config(data: &Path) -> ServerConfig {
    common::init_tracing();
    let mut config = ServerConfig::ephemeral(Secret::new(KEY));
    config.data = Some(data.to_path_buf());
    config
}

#[tokio::test]
async fn a_second_server_on_the_same_data_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("backend.json");
    let first = BackendServer::start(config(&data)).unwrap();
    match BackendServer::start(config(&data)) {
        Err(ServerError::Data(err @ DataError::Locked { .. })) => {
            assert_eq!(err.code(), "data_locked");
            assert!(err.to_string().contains("backend.json"), "{err}");
        }
        other => panic!("expected the data to be locked, got {other:?}"),
    }
    let backend = HttpBackend::new(HttpBackendConfig::new(first.url(), Secret::new(KEY))).unwrap();
    let shop = backend
        .create_location(CreateLocation::new("Shop", "1 Main St", "US"))
        .await
        .unwrap();
    first.stop().await;

    let second = BackendServer::start(config(&data)).expect("the lock went with the first server");
    assert_eq!(second.core().lock().unwrap().list_locations(), vec![shop]);
    second.stop().await;
}

#[test]
fn a_data_path_that_cannot_be_written_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("a-file");
    std::fs::write(&not_a_dir, b"").unwrap();
    for data in [
        dir.path().join("missing").join("backend.json"),
        not_a_dir.join("backend.json"),
    ] {
        match BackendServer::start(config(&data)) {
            Err(ServerError::Data(err @ DataError::Unwritable { .. })) => {
                assert_eq!(err.code(), "data_unwritable");
                assert!(err.to_string().contains("backend.json"), "{err}");
            }
            other => panic!("{}: expected a refusal at start, got {other:?}", data.display()),
        }
    }
}

/// A pipe as the data file used to hang the start for good (reading it
/// waits for a writer), and `/dev/zero` was read until memory ran out.
#[cfg(unix)]
#[test]
fn a_data_path_that_is_not_a_regular_file_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("backend.json");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let fifo_lock = dir.path().join("other.json.lock");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo_lock)
        .status()
        .unwrap();
    assert!(made.success());
    for (data, not_a_file) in [
        (fifo.clone(), fifo.clone()),
        (dir.path().join("other.json"), fifo_lock),
        (dir.path().to_path_buf(), dir.path().to_path_buf()),
    ] {
        let (tx, rx) = std::sync::mpsc::channel();
        let config = config(&data);
        // On a thread: before the check, the start never returned.
        std::thread::spawn(move || {
            let _ = tx.send(BackendServer::start(config).map(|s| s.addr));
        });
        match rx.recv_timeout(std::time::Duration::from_secs(5)) {
            Ok(Err(ServerError::Data(err))) => {
                assert_eq!(err.code(), "data_not_a_file", "{}: {err}", data.display());
                let text = err.to_string();
                let not_a_file = std::fs::canonicalize(&not_a_file).unwrap();
                assert!(
                    text.contains(&format!("{} is not a regular file", not_a_file.display())),
                    "{text}"
                );
            }
            Ok(other) => panic!("{}: expected a refusal, got {other:?}", data.display()),
            Err(_) => panic!("{}: the start did not return within 5 s", data.display()),
        }
    }
}

/// A symbolic link to the data file is the data file: the lock is taken
/// beside the file it points to (a second server through a link used to
/// lock a sidecar of its own and start), and writing a new snapshot
/// replaces the file, not the link (which used to become a file of its
/// own, leaving the real one behind).
#[cfg(unix)]
#[tokio::test]
async fn a_symbolic_link_to_the_data_file_is_the_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("backend.json");
    let link = dir.path().join("link.json");
    std::fs::write(&data, b"").unwrap();
    std::os::unix::fs::symlink(&data, &link).unwrap();

    let first = BackendServer::start(config(&link)).unwrap();
    assert!(
        std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(),
        "the first snapshot (of an empty file) went through the link"
    );
    assert!(std::fs::metadata(&data).unwrap().len() > 0);
    match BackendServer::start(config(&data)) {
        Err(ServerError::Data(err)) => assert_eq!(err.code(), "data_locked", "{err}"),
        Ok(_) => panic!("a second server started on the file its link is locked through"),
        Err(other) => panic!("expected data_locked, got {other}"),
    }
    let backend = HttpBackend::new(HttpBackendConfig::new(first.url(), Secret::new(KEY))).unwrap();
    let shop = backend
        .create_location(CreateLocation::new("Shop", "1 Main St", "US"))
        .await
        .unwrap();
    first.stop().await;

    let second = BackendServer::start(config(&data)).unwrap();
    assert_eq!(second.core().lock().unwrap().list_locations(), vec![shop]);
    second.stop().await;
}

/// A change made by hand to the data file's snapshot.
type Edit = fn(&mut BackendData);

/// Data edited by hand so that it would lose data later is refused at
/// start: with a location numbered above the count of locations created,
/// the next location created took its id and replaced it.
#[tokio::test]
async fn data_that_contradicts_itself_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("backend.json");
    let shop = Location {
        id: "tml_000001".into(),
        display_name: "Shop".into(),
        address: Address {
            line1: "1 Main St".into(),
            country: "US".into(),
            ..Address::default()
        },
    };
    let reader = RegisteredReader {
        id: "tmr_000003".into(),
        serial_number: SerialNumber::new("STRM2-0001"),
        device_type: DeviceType::StripeM2,
        location: shop.id.clone(),
        label: "Till".into(),
    };
    let with = |edit: Edit| {
        let mut snapshot = BackendData {
            locations_created: 1,
            readers_registered: 3,
            ..BackendData::default()
        };
        snapshot.locations.insert(shop.id.clone(), shop.clone());
        snapshot
            .readers
            .insert(reader.serial_number.clone(), reader.clone());
        edit(&mut snapshot);
        let mut line = serde_json::to_vec(&snapshot).unwrap();
        line.push(b'\n');
        std::fs::write(&data, line).unwrap();
    };
    let edits: [(&str, Edit); 3] = [
        ("tml_000001", |d| d.locations_created = 0),
        ("tmr_000003", |d| d.readers_registered = 2),
        ("tokens_issued", |d| d.tokens_issued = u64::MAX),
    ];
    for (named, edit) in edits {
        with(edit);
        match BackendServer::start(config(&data)) {
            Err(ServerError::Data(err)) => {
                assert_eq!(err.code(), "data_inconsistent", "{named}: {err}");
                assert!(err.to_string().contains(named), "{err}");
            }
            Ok(_) => panic!("{named}: the server started on data that contradicts itself"),
            Err(other) => panic!("{named}: expected data_inconsistent, got {other}"),
        }
    }

    // The same data, consistent: the next location gets a new id.
    with(|_| {});
    let server = BackendServer::start(config(&data)).unwrap();
    let backend = HttpBackend::new(HttpBackendConfig::new(server.url(), Secret::new(KEY))).unwrap();
    let cafe = backend
        .create_location(CreateLocation::new("Cafe", "2 Main St", "US"))
        .await
        .unwrap();
    assert_eq!(cafe.id, "tml_000002");
    assert_eq!(server.core().lock().unwrap().list_locations(), vec![shop, cafe]);
    server.stop().await;
}

#[tokio::test]
async fn a_temporary_file_left_by_a_crash_is_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("backend.json");
    let other = dir.path().join(".other.json.tmp-1-0");
    std::fs::write(&other, b"not ours").unwrap();
    // A compaction cut off after writing its temporary file.
    write_atomically_with(&data, b"{}", &mut CrashAfter(AtomicStep::BytesWritten)).unwrap_err();
    let leftovers = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".backend.json.tmp-"))
            .count()
    };
    assert_eq!(leftovers(), 1);
    let server = BackendServer::start(config(&data)).unwrap();
    assert_eq!(leftovers(), 0);
    assert!(other.exists(), "another file's temporary file is not touched");
    server.stop().await;
}

#[test]
fn a_failed_save_is_answered_without_the_servers_paths() {
    let failed = BackendError::Storage {
        path: "/srv/readerlink/secret-dir/backend.json".into(),
        reason: "appending failed: No space left on device (os error 28)".into(),
    };
    let body = RequestError::Backend(failed.clone()).to_body();
    let text = serde_json::to_string(&body).unwrap();
    assert_eq!(body.error.code.as_deref(), Some("storage_failed"));
    assert!(!text.contains("/srv") && !text.contains("backend.json"), "{text}");
    assert!(
        failed.to_string().contains("backend.json"),
        "the server's log keeps it"
    );
}
