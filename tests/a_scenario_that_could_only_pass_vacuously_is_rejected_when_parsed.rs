//! A scenario that could pass without checking anything is rejected when
//! it is parsed, naming the line and field: an event pattern naming a field
//! its kind does not have, or a value that field never takes (an `absent`
//! expectation with a typo would otherwise always hold), and a file with
//! no steps and no expectations (it would report `PASS: 0 expectations`).

use readerlink::scenario::{self, ScenarioError};

const HEAD: &str = r#"seed = 1
[[readers]]
serial = "STRM2-0001"
device_type = "stripe_m2"
distance_m = 1.0
battery = 0.9
software_version = "3.1.0"

[[locations]]
name = "shop"
"#;

/// HEAD is 10 lines; what follows starts on line 11.
const FIRST: usize = 11;

fn rejected(body: &str) -> ScenarioError {
    scenario::parse(&format!("{HEAD}{body}"), None, None).expect_err("the scenario is rejected")
}

#[track_caller]
fn assert_rejected(body: &str, code: &str, line: usize, field: &str, says: &str) {
    let e = rejected(body);
    assert_eq!((e.code(), e.line(), e.field()), (code, line, field), "{e}");
    assert!(e.to_string().contains(says), "`{says}` in: {e}");
}

#[test]
fn a_misspelt_enum_value_in_an_absent_expectation_is_rejected_with_the_values_it_takes() {
    assert_rejected(
        "[expect]\nabsent = [\n  { event = \"Disconnected\", reason = \"bluetooth_signal_lsot\" },\n]\n",
        "invalid_value",
        FIRST + 2,
        "expect.absent[0].reason",
        "bluetooth_signal_lost",
    );
    // Statuses are snake_case in JSON; a misspelt one is refused with them.
    assert_rejected(
        "[expect]\nevents = [ { event = \"ReaderStatusChanged\", status = \"conected\" } ]\n",
        "invalid_value",
        FIRST + 1,
        "expect.events[0].status",
        "not_connected, discovering, connecting, connected, reconnecting",
    );
    // An error field matches its code; a misspelt code is refused.
    assert_rejected(
        "[expect]\nabsent = [ { event = \"ReconnectFailed\", error = \"conect_timed_out\" } ]\n",
        "invalid_value",
        FIRST + 1,
        "expect.absent[0].error",
        "no error's code",
    );
}

#[test]
fn a_field_the_event_kind_does_not_have_is_rejected_with_the_fields_it_has() {
    assert_rejected(
        "[expect]\nabsent = [ { event = \"Disconnected\", serial = \"STRM2-0001\" } ]\n",
        "unknown_event_field",
        FIRST + 1,
        "expect.absent[0].serial",
        "serial_number, reason",
    );
    assert_rejected(
        "[expect]\nsequence = [ { event = \"Connected\", reader.serial = \"STRM2-0001\" } ]\n",
        "unknown_event_field",
        FIRST + 1,
        "expect.sequence[0].reader.serial",
        "reader, location",
    );
    // A step's `after` pattern is checked the same way.
    assert_rejected(
        "[[steps]]\nafter = { event = \"CardInserted\", card = \"visa\" }\naction = \"cancel_discovery\"\n",
        "unknown_event_field",
        FIRST + 1,
        "steps[0].after.card",
        "serial_number",
    );
    // The runner's own events have their fields too.
    assert_rejected(
        "[expect]\nevents = [ { event = \"DiscoveryFinished\", ok = \"yes\" } ]\n",
        "invalid_value",
        FIRST + 1,
        "expect.events[0].ok",
        "true or false",
    );
}

#[test]
fn patterns_that_can_match_are_accepted_by_path_one_level_down_and_through_lists() {
    let body = r#"[[steps]]
after = { event = "DiscoveredReadersUpdated", serial_number = "STRM2-0001" }
action = "cancel_discovery"

[expect]
sequence = [
  { event = "Connected", serial_number = "STRM2-0001", location = "tml_1" },
  { event = "Connected", reader.battery.level = 0.5, reader.device_type = "stripe_m2" },
  { event = "Disconnected", reason = "bluetooth_signal_lost" },
  { event = "ReconnectFailed", error = "connect_timed_out" },
  { event = "ReconnectFailed", error.attempts = 3, error.code = "connect_timed_out" },
  { event = "ReaderStatusChanged", status = "reconnecting" },
  { event = "ReaderStatusChanged", status = "Reconnecting" },
  { event = "BatteryLevelReported", battery.status = "low", battery.charging = false },
  { event = "ActionFailed", error = "unknown_reader", step = 0 },
]
"#;
    let parsed = scenario::parse(&format!("{HEAD}{body}"), None, None);
    assert!(parsed.is_ok(), "{parsed:?}");
}

#[test]
fn an_empty_scenario_is_an_error_not_a_pass() {
    for text in ["", "# nothing\n", "seed = 3\nname = \"x\"\n", HEAD] {
        let e = scenario::parse(text, None, None).expect_err("nothing to run or check");
        assert_eq!(e.code(), "empty_scenario", "{e}\n{text}");
        assert!(e.to_string().contains("no steps and no expectations"), "{e}");
    }
    // One expectation, or one step, is enough to be a scenario.
    assert!(
        scenario::parse(
            "[expect]\nfinal_connection_status = \"NotConnected\"\n",
            None,
            None
        )
        .is_ok()
    );
    assert!(
        scenario::parse(
            "[[steps]]\nat = \"1s\"\naction = \"cancel_discovery\"\n",
            None,
            None
        )
        .is_ok()
    );
}
