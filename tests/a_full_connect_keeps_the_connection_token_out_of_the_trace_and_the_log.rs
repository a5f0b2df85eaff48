//! Secrets: a full connect through the `Terminal` (discovery, location,
//! link, hello, connection token, registration, disconnect) is recorded as
//! a trace and logged at TRACE level for every target; the connection
//! token appears in neither. This binary installs the global subscriber, so
//! it holds one test.

mod terminal_support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use readerlink::backend::BackendCore;
use readerlink::runtime::{TraceHeader, Tracer, virtual_time_system};
use readerlink::terminal::ConnectionConfig;
use terminal_support::rig;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_connection_token_never_reaches_the_trace_or_the_log() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .try_init()
        .expect("this test binary installs the only global subscriber");

    // The rig's backend core has seed 7, and a connect fetches one token:
    // the first token a core of seed 7 issues.
    let token = BackendCore::in_memory(7)
        .create_connection_token(None)
        .unwrap()
        .expose()
        .to_owned();

    let tracer = Tracer::memory(TraceHeader::new(42, serde_json::json!({"test": "secrets"})));
    virtual_time_system().block_on(async {
        let rig = rig(tracer.clone());
        let [m2] = rig.discover(&["STRM2-0001"]).await.try_into().unwrap();
        tracing::info!(reader = ?m2, "connecting");
        let connected = rig
            .terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .unwrap();
        tracing::info!(reader = ?connected, terminal = ?rig.terminal, "connected");
        assert_eq!(rig.backend.core().lock().unwrap().data().tokens_issued, 1);
        rig.terminal.disconnect_reader(&m2.serial_number).await.unwrap();
    });

    let trace = tracer.contents();
    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        trace.contains("ConnectionTokenFetched") && trace.contains("ReaderRegistered"),
        "the trace records the whole connect"
    );
    assert!(log.contains("connected"), "the log was captured");
    assert!(!trace.contains(&token), "the connection token is in the trace");
    assert!(!log.contains(&token), "the connection token is in the log");
    assert!(!trace.contains("pst_test_") && !log.contains("pst_test_"), "no token at all");
}
