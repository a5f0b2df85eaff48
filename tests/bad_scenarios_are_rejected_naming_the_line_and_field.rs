//! A bad scenario gets a typed error naming its line and field (unknown
//! action, serial, event or field, time going backwards, malformed
//! duration, bad fleet, unsupported action), and no input — however
//! broken — panics the parser or the runner.

use proptest::prelude::*;
use readerlink::scenario::{self, ScenarioError, TerminalApp, TraceTo};

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
    let text = format!("{HEAD}{body}");
    scenario::parse(&text, None, None).expect_err("the scenario is rejected")
}

#[track_caller]
fn assert_rejected(body: &str, code: &str, line: usize, field: &str) {
    let e = rejected(body);
    assert_eq!((e.code(), e.line(), e.field()), (code, line, field), "{e}");
    assert!(
        e.to_string().contains(&format!("line {line}")),
        "the message names the line: {e}"
    );
}

#[test]
fn an_unknown_action_is_named_with_its_line_and_the_known_ones() {
    let e = rejected("[[steps]]\nat = \"1s\"\naction = \"teleport\"\n");
    assert_eq!(
        (e.code(), e.line(), e.field()),
        ("unknown_action", FIRST + 2, "steps[0].action")
    );
    assert!(
        e.to_string().contains("`teleport`") && e.to_string().contains("connect, disconnect"),
        "{e}"
    );
}

#[test]
fn an_unknown_serial_is_named_in_steps_and_final_statuses() {
    assert_rejected(
        "[[steps]]\nat = \"1s\"\naction = \"power_off\"\nserial = \"STRM2-9999\"\n",
        "unknown_serial",
        FIRST + 3,
        "steps[0].serial",
    );
    assert_rejected(
        "[expect.final_status]\nWPC32-0001 = \"Connected\"\n",
        "unknown_serial",
        FIRST + 1,
        "expect.final_status.WPC32-0001",
    );
}

#[test]
fn time_going_backwards_names_both_steps() {
    let e = rejected(
        "[[steps]]\nat = \"10s\"\naction = \"cancel_discovery\"\n\n[[steps]]\nat = \"2.5s\"\naction = \"cancel_discovery\"\n",
    );
    assert_eq!(
        (e.code(), e.line(), e.field()),
        ("time_goes_backwards", FIRST + 5, "steps[1].at")
    );
    assert!(e.to_string().contains(&format!("(line {})", FIRST + 1)), "{e}");
    assert_rejected(
        "[expect]\nabsent = [ { event = \"Connected\", from = \"10s\", until = \"5s\" } ]\n",
        "time_goes_backwards",
        FIRST + 1,
        "expect.absent[0].until",
    );
}

#[test]
fn malformed_durations_are_named() {
    assert_rejected(
        "[[steps]]\nat = \"2.5 parsecs\"\naction = \"cancel_discovery\"\n",
        "malformed_duration",
        FIRST + 1,
        "steps[0].at",
    );
    assert_rejected(
        "[[steps]]\nat = 5\naction = \"cancel_discovery\"\n",
        "malformed_duration",
        FIRST + 1,
        "steps[0].at",
    );
    assert_rejected(
        "[[steps]]\nat = \"1s\"\naction = \"lose_link\"\nserial = \"STRM2-0001\"\nfor = \"forever\"\n",
        "malformed_duration",
        FIRST + 4,
        "steps[0].for",
    );
    assert_rejected(
        "[expect]\nsequence = [\n  { event = \"Connected\", by = \"soon\" },\n]\n",
        "malformed_duration",
        FIRST + 2,
        "expect.sequence[0].by",
    );
    let e = scenario::parse("run_for = \"\"\n", None, None).unwrap_err();
    assert_eq!(
        (e.code(), e.line(), e.field()),
        ("malformed_duration", 1, "run_for"),
        "{e}"
    );
}

#[test]
fn unknown_fields_and_events_are_named() {
    let e = scenario::parse("seed = 1\nsede = 4\n", None, None).unwrap_err();
    assert_eq!(
        (e.code(), e.line(), e.field()),
        ("unknown_field", 2, "sede"),
        "{e}"
    );
    assert_rejected("sede = 4\n", "unknown_field", FIRST, "locations[0].sede");
    assert_rejected(
        "[[steps]]\nat = \"1s\"\naction = \"reboot\"\nserial = \"STRM2-0001\"\nforce = true\n",
        "unknown_field",
        FIRST + 4,
        "steps[0].force",
    );
    assert_rejected(
        "[expect]\nsequnce = []\n",
        "unknown_field",
        FIRST + 1,
        "expect.sequnce",
    );
    let e = rejected("[expect]\nsequence = [ { event = \"Conected\" } ]\n");
    assert_eq!(
        (e.code(), e.line(), e.field()),
        ("unknown_event", FIRST + 1, "expect.sequence[0].event")
    );
    assert!(e.to_string().contains("Connected"), "lists the known events: {e}");
    assert_rejected(
        "[[steps]]\nafter = \"Rebooted\"\naction = \"cancel_discovery\"\n",
        "unknown_event",
        FIRST + 1,
        "steps[0].after",
    );
}

#[test]
fn missing_fields_and_bad_values_are_named() {
    assert_rejected(
        "[[steps]]\nat = \"1s\"\naction = \"connect\"\n",
        "missing_field",
        FIRST,
        "steps[0].serial",
    );
    assert_rejected(
        "[[steps]]\naction = \"cancel_discovery\"\n",
        "missing_field",
        FIRST,
        "steps[0].at",
    );
    assert_rejected(
        "[[steps]]\nat = \"1s\"\naction = \"set_battery\"\nserial = \"STRM2-0001\"\nlevel = 1.5\n",
        "invalid_value",
        FIRST + 4,
        "steps[0].level",
    );
    assert_rejected(
        "[[steps]]\nat = \"1s\"\naction = \"discover\"\nmethod = \"sonar\"\n",
        "invalid_value",
        FIRST + 3,
        "steps[0].method",
    );
    assert_rejected(
        "[[steps]]\nat = \"1s\"\naction = \"backend_fail\"\nroute = \"teleport\"\n",
        "invalid_value",
        FIRST + 3,
        "steps[0].route",
    );
    assert_rejected("[[steps]]\nat = \n", "scenario_syntax", FIRST + 1, "steps.at");
}

#[test]
fn a_bad_inline_fleet_names_the_scenario_line_and_the_reader_field() {
    let text = "[[readers]]\nserial = \"STRM2-0001\"\ndevice_type = \"stripe_m2\"\ndistance_m = 1.0\nbattery = 1.5\nsoftware_version = \"3.1.0\"\n";
    let e = scenario::parse(text, None, None).unwrap_err();
    assert_eq!(
        (e.code(), e.line(), e.field()),
        ("bad_fleet", 5, "readers[0].battery"),
        "{e}"
    );
    let text = format!(
        "{HEAD}\n[[readers]]\nserial = \"STRM2-0001\"\ndevice_type = \"stripe_m2\"\ndistance_m = 1.0\nbattery = 0.5\nsoftware_version = \"3.1.0\"\n"
    );
    let e = scenario::parse(&text, None, None).unwrap_err();
    assert_eq!(
        (e.code(), e.line(), e.field()),
        ("bad_fleet", FIRST + 2, "readers[1].serial"),
        "{e}"
    );
}

#[test]
fn a_missing_fleet_file_is_named_at_the_fleet_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, "seed = 1\nfleet = \"nowhere.toml\"\n").unwrap();
    let e = scenario::load(&path).unwrap_err();
    assert_eq!((e.code(), e.line(), e.field()), ("bad_fleet", 2, "fleet"), "{e}");
    assert!(e.to_string().contains("nowhere.toml"), "{e}");
}

#[test]
fn the_update_actions_are_supported_and_a_bad_preset_is_named() {
    let text = format!(
        "{HEAD}[[steps]]\nat = \"1s\"\naction = \"install_update\"\nserial = \"STRM2-0001\"\n\n[[steps]]\nat = \"2s\"\naction = \"cancel_update\"\nserial = \"STRM2-0001\"\n\n[[steps]]\nat = \"3s\"\naction = \"set_update\"\nserial = \"STRM2-0001\"\npreset = \"required\"\n"
    );
    let parsed = scenario::parse(&text, None, None).expect("the parser knows the actions");
    assert_eq!(scenario::check_supported::<TerminalApp>(&parsed), Ok(()));
    let bad = text.replace("\"required\"", "\"requird\"");
    let e = scenario::parse(&bad, None, None).unwrap_err();
    assert_eq!(
        (e.code(), e.line(), e.field()),
        ("invalid_value", FIRST + 14, "steps[2].preset"),
        "{e}"
    );
    assert!(e.to_string().contains("low_battery_succeed_connect"), "{e}");
}

/// Lines of a scenario-ish file: real keys and headers, good and bad
/// values, junk.
fn line() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "at",
        "after",
        "action",
        "serial",
        "method",
        "timeout",
        "location",
        "for",
        "level",
        "percent",
        "distance_m",
        "charging",
        "powered",
        "route",
        "count",
        "latency",
        "delay",
        "event",
        "by",
        "from",
        "until",
        "seed",
        "run_for",
        "clock",
        "fleet",
        "name",
        "battery",
        "device_type",
        "software_version",
        "sequence",
        "absent",
        "events",
        "final_status",
        "STRM2-0001",
        "reason",
        "status",
    ]);
    let values = prop::sample::select(vec![
        "\"0s\"",
        "\"1s\"",
        "\"2.5s\"",
        "\"24h\"",
        "\"999999h\"",
        "\"-1s\"",
        "\"\"",
        "5",
        "-3",
        "1.5",
        "0.5",
        "true",
        "\"discover\"",
        "\"connect\"",
        "\"disconnect\"",
        "\"reboot\"",
        "\"lose_link\"",
        "\"power_off\"",
        "\"cut_power\"",
        "\"power_on\"",
        "\"set_battery\"",
        "\"backend_down\"",
        "\"backend_fail\"",
        "\"move_reader\"",
        "\"insert_card\"",
        "\"cancel_discovery\"",
        "\"STRM2-0001\"",
        "\"shop\"",
        "\"Connected\"",
        "\"proximity\"",
        "\"scan\"",
        "\"register_reader\"",
        "\"virtual\"",
        "\"stripe_m2\"",
        "{ event = \"Connected\", serial_number = \"STRM2-0001\" }",
        "[ { event = \"Disconnected\" } ]",
        "[ { event = \"StepRan\", by = \"1s\" } ]",
        "\"Connected\"",
        "[]",
        "{}",
    ]);
    prop_oneof![
        (keys, values).prop_map(|(k, v)| format!("{k} = {v}")),
        prop::sample::select(vec![
            "[[steps]]",
            "[expect]",
            "[[readers]]",
            "[[locations]]",
            "[store]",
            "[expect.final_status]",
            "[link]"
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_scenario_text_never_panics_and_errors_name_a_line_in_the_file(lines in prop::collection::vec(line(), 0..25)) {
        let text = lines.join("\n");
        let line_count = text.lines().count().max(1);
        match scenario::parse(&text, None, None) {
            Err(e) => prop_assert!(e.line() <= line_count + 1, "{e} (file has {line_count} lines)\n{text}"),
            Ok(parsed) => {
                if parsed.run_for <= std::time::Duration::from_secs(48 * 3600) {
                    // A scenario that parses runs (or is refused as unsupported) without panicking.
                    match scenario::run_blocking(&parsed, &TraceTo::Off) {
                        Ok(_) => {}
                        Err(e) => prop_assert_eq!(e.code(), "unsupported", "{}", e),
                    }
                }
            }
        }
    }
}

/// One complete step body: an action with its keys.
fn action() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "action = \"discover\"\nmethod = \"scan\"",
        "action = \"discover\"\nmethod = \"proximity\"\ntimeout = \"3s\"",
        "action = \"cancel_discovery\"",
        "action = \"connect\"\nserial = \"STRM2-0001\"",
        "action = \"connect\"\nserial = \"STRM2-0001\"\nlocation = \"tml_nowhere\"\nauto_reconnect = false",
        "action = \"disconnect\"\nserial = \"STRM2-0001\"",
        "action = \"reboot\"\nserial = \"STRM2-0001\"",
        "action = \"power_off\"\nserial = \"STRM2-0001\"",
        "action = \"cut_power\"\nserial = \"STRM2-0001\"",
        "action = \"power_on\"\nserial = \"STRM2-0001\"",
        "action = \"lose_link\"\nserial = \"STRM2-0001\"\nfor = \"2s\"",
        "action = \"lose_link\"\nserial = \"STRM2-0001\"",
        "action = \"restore_link\"\nserial = \"STRM2-0001\"",
        "action = \"move_reader\"\nserial = \"STRM2-0001\"\ndistance_m = 80",
        "action = \"set_battery\"\nserial = \"STRM2-0001\"\nlevel = 0.02",
        "action = \"set_charging\"\nserial = \"STRM2-0001\"\ncharging = false",
        "action = \"insert_card\"\nserial = \"STRM2-0001\"",
        "action = \"remove_card\"\nserial = \"STRM2-0001\"",
        "action = \"fail_next_install\"\nserial = \"STRM2-0001\"\npercent = 40",
        "action = \"set_adapter\"\npowered = false",
        "action = \"set_adapter\"\npowered = true",
        "action = \"backend_down\"\nfor = \"5s\"",
        "action = \"backend_down\"",
        "action = \"backend_restore\"",
        "action = \"backend_latency\"\nlatency = \"2s\"",
        "action = \"backend_fail\"\nroute = \"register_reader\"\ncount = 2",
    ])
}

/// A step's trigger: `Ok(ms)` is `at` that long after the previous timed
/// step (times never go backwards), `Err(text)` an `after`.
fn trigger() -> impl Strategy<Value = Result<u64, &'static str>> {
    prop_oneof![
        5 => (0u64..8_000).prop_map(Ok),
        1 => prop::sample::select(vec![
            "after = \"Connected\"",
            "after = { event = \"Disconnected\", reason = \"bluetooth_signal_lost\" }",
            "after = { event = \"DiscoveredReadersUpdated\", serial_number = \"STRM2-0001\" }\ndelay = \"1s\"",
            "after = \"ActionFailed\"",
        ])
        .prop_map(Err),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_timelines_of_every_action_run_without_panicking(
        steps in prop::collection::vec((trigger(), action()), 0..12),
    ) {
        // A connected reader first, so the random steps act on a live connection.
        let mut text = format!(
            "run_for = \"90s\"\n{HEAD}\n[[steps]]\nat = \"0s\"\naction = \"discover\"\n\n[[steps]]\n\
             after = \"DiscoveredReadersUpdated\"\naction = \"connect\"\nserial = \"STRM2-0001\"\n"
        );
        let mut at = 1000;
        for (trigger, action) in &steps {
            let trigger = match trigger {
                Ok(delta) => {
                    at += delta;
                    format!("at = \"{at}ms\"")
                }
                Err(after) => (*after).to_owned(),
            };
            text.push_str(&format!("\n[[steps]]\n{trigger}\n{action}\n"));
        }
        text.push_str("\n[expect]\nabsent = [ { event = \"EventsMissed\" } ]\n");
        let parsed = scenario::parse(&text, None, None).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let outcome = scenario::run_blocking(&parsed, &TraceTo::Off).expect("every action here is supported");
        prop_assert!(outcome.events.iter().all(|e| e.t_ms <= 90_000));
        let ran = outcome.events.iter().filter(|e| e.kind == "StepRan").count();
        let waited = outcome.failures.iter().any(|f| f.field.ends_with(".after"));
        prop_assert!(ran == steps.len() + 2 || waited, "every step ran, or one waited in vain");
    }
}

#[test]
fn a_corrupt_frame_payload_that_is_not_one_att_payload_of_hex_is_named() {
    let step = |payload: &str| {
        format!(
            "[[steps]]\nat = \"1s\"\naction = \"corrupt_frame\"\nserial = \"STRM2-0001\"\npayload = \"{payload}\"\n"
        )
    };
    for bad in ["80 0", "zz", "", &"00".repeat(245)] {
        assert_rejected(&step(bad), "invalid_value", FIRST + 4, "steps[0].payload");
    }
    let text = format!("{HEAD}{}", step("80 01 82"));
    let scenario = scenario::parse(&text, None, None).expect("hex bytes with spaces are one payload");
    let written = scenario::to_toml(&scenario);
    assert!(written.contains("payload = \"80 01 82\""), "{written}");
    let actions = |s: &scenario::Scenario| s.steps.iter().map(|step| step.action.clone()).collect::<Vec<_>>();
    assert_eq!(
        actions(&scenario::parse(&written, None, None).unwrap()),
        actions(&scenario)
    );
}
