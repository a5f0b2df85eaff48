//! Every write the backend acknowledged is on disk: `readerlink backend`
//! killed with SIGKILL (no chance to flush or clean up) loses none, its
//! lock goes with it, and a write cut off in the middle of its line is
//! ignored at the next start. The real binary on 127.0.0.1, real time,
//! every wait bounded.

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use readerlink::backend::{
    Backend, BackendCore, BackendServer, CreateLocation, DataError, HttpBackend, HttpBackendConfig,
    ReaderIdentity, RegisterReader, ServerConfig, ServerError, TokenSource,
};
use readerlink::reader::{DeviceType, SerialNumber};
use readerlink::secret::Secret;

const KEY: &str = "sk_test_kill";

/// Starts `readerlink backend` on `data` and returns it with its URL.
fn start_backend(data: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .args([
            "backend",
            "--listen",
            "127.0.0.1:0",
            "--secret-key",
            KEY,
            "--data",
        ])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("readerlink backend listening on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(url) => (child, url),
        Err(_) => {
            let _ = child.kill();
            panic!("the backend did not start");
        }
    }
}

fn reader(n: u32, location: &str) -> RegisterReader {
    RegisterReader {
        reader: ReaderIdentity::SerialNumber {
            serial_number: SerialNumber::new(format!("STRM{n:08}")),
            device_type: DeviceType::StripeM2,
        },
        location: location.into(),
        label: None,
    }
}

#[tokio::test]
async fn writes_acknowledged_before_a_kill_9_are_all_there_after_it() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("backend.json");
    let (mut child, url) = start_backend(&data);
    let backend = HttpBackend::new(HttpBackendConfig::new(url, Secret::new(KEY))).unwrap();
    let shop = backend
        .create_location(CreateLocation::new("Shop", "1 Main St", "US"))
        .await
        .unwrap();
    let mut acknowledged = Vec::new();
    for n in 0..25 {
        acknowledged.push(backend.register_reader(reader(n, &shop.id)).await.unwrap());
    }
    let mut in_process = ServerConfig::ephemeral(Secret::new(KEY));
    in_process.data = Some(data.clone());
    assert!(
        matches!(
            BackendServer::start(in_process),
            Err(ServerError::Data(DataError::Locked { .. }))
        ),
        "the running backend holds the file"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // A crash in the middle of the next append: half a line, never acknowledged.
    let mut bytes = std::fs::read(&data).unwrap();
    bytes.extend_from_slice(br#"{"change":"reader_registered","reader":{"id":"tmr_0"#);
    std::fs::write(&data, bytes).unwrap();

    let core = BackendCore::open(&data, TokenSource::OsRandom).expect("the lock went with the process");
    assert_eq!(core.readers(), acknowledged);
    assert_eq!(core.list_locations(), vec![shop.clone()]);
    drop(core);

    let (mut child, url) = start_backend(&data);
    let backend = HttpBackend::new(HttpBackendConfig::new(url, Secret::new(KEY))).unwrap();
    let next = backend.register_reader(reader(25, &shop.id)).await.unwrap();
    assert_eq!(next.id, "tmr_000026", "ids go on after the acknowledged ones");
    child.kill().unwrap();
    child.wait().unwrap();
}
