//! The scenario runner receives every event (a lossless subscription,
//! `Terminal::events_lossless`), so an `absent` expectation is never
//! satisfied by an event that was dropped: with 1,000 readers connecting
//! at once, the terminal's bounded stream (1,024 events) falls behind, and
//! the runner once checked its expectations on what was left. A run whose
//! stream did lose events fails (R21, on a paused clock).

use futures::future::LocalBoxFuture;
use readerlink::reader::{ConnectionStatus, SerialNumber};
use readerlink::runtime::Tracer;
use readerlink::scenario::{self, App, AppAction, AppError, AppParts, EventSink, RecordedEvent, TraceTo};

const READERS: usize = 1_000;

fn serial(i: usize) -> String {
    format!("STRM2-L{i:04}")
}

/// 1,000 M2 readers, discovered, then all connected at 3 s; the file
/// forbids each reader's `Connected` — all of which come.
fn thousand_readers() -> String {
    let mut text = String::from("name = \"a thousand readers\"\nseed = 5\nrun_for = \"20s\"\n\n");
    for i in 0..READERS {
        text.push_str(&format!(
            "[[readers]]\nserial = \"{}\"\ndevice_type = \"stripe_m2\"\ndistance_m = 1.0\nbattery = 0.9\nsoftware_version = \"3.1.0\"\n\n",
            serial(i)
        ));
    }
    text.push_str("[[locations]]\nname = \"shop\"\n\n[[steps]]\nat = \"0s\"\naction = \"discover\"\n\n");
    for i in 0..READERS {
        text.push_str(&format!(
            "[[steps]]\nat = \"3s\"\naction = \"connect\"\nserial = \"{}\"\n\n",
            serial(i)
        ));
    }
    text.push_str("[expect]\nabsent = [\n");
    for i in 0..READERS {
        text.push_str(&format!(
            "  {{ event = \"Connected\", serial_number = \"{}\" }},\n",
            serial(i)
        ));
    }
    text.push_str("]\n");
    text
}

#[test]
fn every_forbidden_connected_of_a_thousand_readers_fails_its_absent_expectation() {
    let parsed = scenario::parse(&thousand_readers(), None, None).expect("a valid scenario");
    let outcome = scenario::run_blocking(&parsed, &TraceTo::Off).expect("it runs");
    let missed: Vec<_> = outcome
        .events
        .iter()
        .filter(|e| e.kind == "EventsMissed")
        .collect();
    assert!(missed.is_empty(), "the runner missed events: {missed:?}");
    let connected = outcome.events.iter().filter(|e| e.kind == "Connected").count();
    assert_eq!(connected, READERS, "every reader connected and was seen");
    // Each absent expectation fails on its own reader's `Connected`: none
    // holds because its event was dropped.
    let absent_failed = outcome
        .failures
        .iter()
        .filter(|f| f.field.starts_with("expect.absent["))
        .count();
    assert_eq!(
        absent_failed,
        READERS,
        "{}",
        outcome.report().lines().last().unwrap_or_default()
    );
    assert_eq!(outcome.failures.len(), READERS, "nothing else failed");
}

/// An app adapter whose stream reports that it dropped events, as a
/// bounded subscription does when it falls behind.
struct LossyApp;

impl App for LossyApp {
    fn supports(_: &AppAction) -> Result<(), String> {
        Ok(())
    }

    fn start(_: AppParts, sink: EventSink) -> Self {
        let mut fields = serde_json::Map::new();
        fields.insert("count".into(), 471.into());
        sink.push(RecordedEvent {
            t_ms: 0,
            kind: "EventsMissed".into(),
            fields,
        });
        Self
    }

    fn perform(&self, _: AppAction, _: EventSink) -> LocalBoxFuture<'static, Result<(), AppError>> {
        Box::pin(async { Ok(()) })
    }

    fn reader_status(&self, _: &SerialNumber) -> ConnectionStatus {
        ConnectionStatus::NotConnected
    }

    fn connection_status(&self) -> ConnectionStatus {
        ConnectionStatus::NotConnected
    }
}

#[test]
fn a_run_whose_event_stream_dropped_events_fails_even_if_every_expectation_holds() {
    let parsed = scenario::parse(
        "[expect]\nabsent = [ { event = \"Disconnected\" } ]\nfinal_connection_status = \"NotConnected\"\n",
        None,
        None,
    )
    .unwrap();
    let outcome = readerlink::runtime::virtual_time_system()
        .block_on(scenario::run::<LossyApp>(&parsed, Tracer::off()))
        .unwrap();
    assert!(!outcome.passed(), "a thinned stream proves nothing");
    assert_eq!(outcome.failures.len(), 1, "{}", outcome.report());
    assert!(
        outcome.failures[0].why.contains("471 events were dropped"),
        "{}",
        outcome.report()
    );
}
