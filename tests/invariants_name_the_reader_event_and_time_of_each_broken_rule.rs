//! The invariants a scenario's `[invariants]` table (and every explore
//! seed) checks: each broken one is a typed violation naming the reader,
//! the event and its virtual time; hand-made event streams that break each
//! rule are caught, a stream that keeps them is not; a bad `[invariants]`
//! table is a typed error; and the case explore kept of the bug it found
//! still fails the same way.

use std::collections::BTreeMap;
use std::time::Duration;

use readerlink::reader::{ConnectionStatus, SerialNumber};
use readerlink::scenario::invariants::check;
use readerlink::scenario::{self, Invariant, InvariantSpec, RecordedEvent, TraceTo};
use serde_json::{Map, Value, json};

fn event(t_ms: u64, kind: &str, fields: Value) -> RecordedEvent {
    let fields: Map<String, Value> = fields.as_object().cloned().unwrap_or_default();
    RecordedEvent {
        t_ms,
        kind: kind.into(),
        fields,
    }
}

const S: &str = "STRM2-0001";

/// A connect, a lost link and a reconnection that succeeds: every rule kept.
fn healthy() -> Vec<RecordedEvent> {
    vec![
        event(
            0,
            "StepRan",
            json!({"step": 0, "action": "connect", "serial_number": S}),
        ),
        event(
            0,
            "ReaderStatusChanged",
            json!({"serial_number": S, "status": "connecting"}),
        ),
        event(0, "ConnectionStatusChanged", json!({"status": "connecting"})),
        event(
            75,
            "ReaderStatusChanged",
            json!({"serial_number": S, "status": "connected"}),
        ),
        event(75, "ConnectionStatusChanged", json!({"status": "connected"})),
        event(
            75,
            "Connected",
            json!({"reader": {"serial_number": S}, "location": "tml_1"}),
        ),
        event(
            5000,
            "ReconnectStarted",
            json!({"serial_number": S, "reason": "bluetooth_signal_lost"}),
        ),
        event(
            5000,
            "ReaderStatusChanged",
            json!({"serial_number": S, "status": "reconnecting"}),
        ),
        event(5000, "ConnectionStatusChanged", json!({"status": "reconnecting"})),
        event(6000, "ReconnectSucceeded", json!({"serial_number": S})),
        event(
            6000,
            "ReaderStatusChanged",
            json!({"serial_number": S, "status": "connected"}),
        ),
        event(6000, "ConnectionStatusChanged", json!({"status": "connected"})),
        event(
            6000,
            "Connected",
            json!({"reader": {"serial_number": S}, "location": "tml_1"}),
        ),
    ]
}

fn connected_at_end() -> BTreeMap<SerialNumber, ConnectionStatus> {
    BTreeMap::from([(SerialNumber::new(S), ConnectionStatus::Connected)])
}

#[test]
fn a_run_that_keeps_every_rule_has_no_violation() {
    let found = check(
        &healthy(),
        &InvariantSpec::default(),
        &connected_at_end(),
        ConnectionStatus::Connected,
        10_000,
    );
    assert_eq!(found, vec![]);
}

#[test]
fn reconnect_succeeded_after_reconnect_failed_breaks_r9_naming_reader_event_and_time() {
    let mut events = healthy();
    events.truncate(9);
    events.push(event(
        65_000,
        "ReconnectFailed",
        json!({"serial_number": S, "error": {"code": "reconnect_timed_out"}}),
    ));
    events.push(event(65_000, "ReconnectSucceeded", json!({"serial_number": S})));
    events.push(event(
        65_000,
        "ReaderStatusChanged",
        json!({"serial_number": S, "status": "not_connected"}),
    ));
    events.push(event(
        65_000,
        "ConnectionStatusChanged",
        json!({"status": "not_connected"}),
    ));
    events.push(event(
        65_000,
        "Disconnected",
        json!({"serial_number": S, "reason": "bluetooth_signal_lost"}),
    ));
    let status = BTreeMap::from([(SerialNumber::new(S), ConnectionStatus::NotConnected)]);
    let found = check(
        &events,
        &InvariantSpec::default(),
        &status,
        ConnectionStatus::NotConnected,
        70_000,
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    let v = &found[0];
    assert_eq!(v.invariant, Invariant::ReconnectOrder);
    assert_eq!(v.serial.as_deref(), Some(S));
    assert_eq!(v.event, "ReconnectSucceeded");
    assert_eq!(v.t_ms, 65_000);
    assert_eq!(
        v.to_string(),
        "reconnect_order broken at 1m05.000s by STRM2-0001: ReconnectSucceeded: no reconnection was running (no ReconnectStarted since the last end)"
    );
}

#[test]
fn a_connected_with_no_connect_and_a_wrong_overall_status_are_each_caught() {
    let mut events = healthy();
    // A second Connected nobody asked for, and an overall status that
    // does not follow the reader's.
    events.push(event(
        7000,
        "Connected",
        json!({"reader": {"serial_number": S}, "location": "tml_1"}),
    ));
    events.push(event(
        8000,
        "ConnectionStatusChanged",
        json!({"status": "not_connected"}),
    ));
    let found = check(
        &events,
        &InvariantSpec::default(),
        &connected_at_end(),
        ConnectionStatus::Connected,
        10_000,
    );
    let kinds: Vec<Invariant> = found.iter().map(|v| v.invariant).collect();
    assert!(kinds.contains(&Invariant::ConnectEnds), "{found:#?}");
    assert!(
        found
            .iter()
            .any(|v| v.invariant == Invariant::OverallStatus && v.t_ms == 8000),
        "{found:#?}"
    );
}

#[test]
fn liveness_and_left_over_are_checked_at_their_times() {
    let spec = InvariantSpec {
        live_at: Some(Duration::from_secs(3)),
        live: vec![SerialNumber::new(S)],
        quiet_from: Some(Duration::from_secs(7)),
    };
    // At 3 s the reader is still only connecting; after 7 s an event comes
    // and it ends connected.
    let mut events = healthy();
    events.truncate(3);
    events.push(event(9000, "BatteryLevelReported", json!({"serial_number": S})));
    let found = check(
        &events,
        &spec,
        &connected_at_end(),
        ConnectionStatus::Connecting,
        10_000,
    );
    let live = found
        .iter()
        .find(|v| v.invariant == Invariant::NotLive)
        .expect("not live");
    assert_eq!((live.serial.as_deref(), live.t_ms), (Some(S), 3000));
    assert!(live.why.starts_with("connecting "), "{live}");
    assert!(
        found.iter().any(|v| v.invariant == Invariant::LeftOver
            && v.event == "BatteryLevelReported"
            && v.t_ms == 9000),
        "{found:#?}"
    );
}

#[test]
fn an_invariants_table_naming_a_reader_not_in_the_fleet_is_a_typed_error() {
    let text = r#"
[[readers]]
serial = "STRM2-0001"
device_type = "stripe_m2"
distance_m = 1.0
battery = 0.9
software_version = "3.1.0"

[[steps]]
at = "0s"
action = "discover"

[invariants]
live_at = "10s"
live = ["STRM2-0009"]
"#;
    let error = scenario::parse(text, None, None).expect_err("an unknown reader");
    assert_eq!(error.code(), "invalid_value");
    assert!(error.to_string().contains("invariants.live[0]"), "{error}");
    assert!(error.to_string().contains("STRM2-0009"), "{error}");
}

/// Kept from the first real bug explore found. A `Transaction` handle
/// whose transaction ended with its connection (the link was lost, the
/// reader reconnected) used to end "the reader's transaction" when it was
/// dropped: after the app started a new one, the old handle's drop ended
/// the new one, and `reboot_reader` was then accepted while the app
/// believed its transaction ran (R20). A handle now ends only its own
/// transaction: the reboot of the kept case is refused.
#[test]
fn a_stale_transaction_handle_no_longer_ends_the_readers_next_transaction() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/explore_cases/a_stale_transaction_handle_leaves_the_next_transaction_running.toml"
    );
    let case = scenario::load(path).expect("the kept case parses");
    let outcome = scenario::run_blocking(&case, &TraceTo::Off).expect("it runs");
    assert!(outcome.violations.is_empty(), "{}", outcome.report());
    let rebooted_in_transaction = outcome.events.iter().any(|e| {
        e.kind == "ReconnectStarted"
            && (89_755..107_432).contains(&e.t_ms)
            && e.fields.get("reason") == Some(&json!("reboot_requested"))
    });
    assert!(!rebooted_in_transaction, "{}", outcome.report());
}
