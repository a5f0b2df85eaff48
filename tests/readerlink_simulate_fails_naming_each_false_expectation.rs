//! `readerlink simulate` through the binary: a scenario whose expectations
//! are false exits non-zero and says, for each, which one failed (line and
//! field), why, and the events around where it should have matched; one
//! whose expectations hold exits 0; a bad scenario is an error naming its
//! line.

use std::path::Path;
use std::process::{Command, Output};

fn simulate(scenario: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .arg("simulate")
        .arg("--scenario")
        .arg(scenario)
        .args(extra)
        .output()
        .expect("the readerlink binary runs")
}

const SCENARIO: &str = r#"name = "false hopes"
seed = 9
run_for = "30s"

[[readers]]
serial = "STRM2-0001"
device_type = "stripe_m2"
distance_m = 1.2
battery = 0.93
software_version = "3.1.0"

[[locations]]
name = "shop"

[[steps]]
at = "0s"
action = "discover"

[[steps]]
after = { event = "DiscoveredReadersUpdated", serial_number = "STRM2-0001" }
action = "connect"
serial = "STRM2-0001"

[[steps]]
at = "10s"
action = "disconnect"
serial = "STRM2-0001"

[expect]
sequence = [
  { event = "Connected", serial_number = "STRM2-0001", by = "10ms" },
  { event = "Disconnected", reason = "disconnect_requested" },
  { event = "Disconnected", reason = "security_reboot" },
]
absent = [
  { event = "CardInserted" },
  { event = "Disconnected", from = "5s", until = "15s" },
]
[expect.final_status]
STRM2-0001 = "Connected"
"#;

#[test]
fn false_expectations_exit_non_zero_and_each_is_explained_with_the_events_around_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("false_hopes.toml");
    std::fs::write(&path, SCENARIO).unwrap();
    let output = simulate(&path, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Connected") && stdout.contains("disconnect_requested"),
        "the stream is printed: {stdout}"
    );

    // The deadline missed: the connect took 75 ms.
    assert!(
        stderr.contains(
            "FAILED line 31 `expect.sequence[0]`: sequence: Connected serial_number=\"STRM2-0001\" by 0.010s"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("why: it came at 0.075s, after its deadline 0.010s"),
        "{stderr}"
    );
    // The event that never came, with the events where it was looked for.
    assert!(stderr.contains("FAILED line 33 `expect.sequence[2]`"), "{stderr}");
    assert!(
        stderr.contains("no `Disconnected reason=\"security_reboot\"` after"),
        "{stderr}"
    );
    let around = stderr.split("expect.sequence[2]").nth(1).unwrap();
    assert!(
        around.contains("events around it:") && around.contains("Disconnected reason=disconnect_requested"),
        "{stderr}"
    );
    // The event that must not come, and when it came.
    assert!(
        stderr.contains("FAILED line 37 `expect.absent[1]`: absent: Disconnected from 5.000s until 15.000s"),
        "{stderr}"
    );
    assert!(stderr.contains("why: one came at 10.000s"), "{stderr}");
    // The final status.
    assert!(
        stderr.contains("FAILED line 40 `expect.final_status.STRM2-0001`"),
        "{stderr}"
    );
    assert!(stderr.contains("why: it ended NotConnected"), "{stderr}");
    // What held is not reported.
    assert!(
        !stderr.contains("expect.sequence[1]`") && !stderr.contains("expect.absent[0]`"),
        "{stderr}"
    );
    assert!(stderr.contains("FAIL false hopes: 4 of 6 failed"), "{stderr}");
}

#[test]
fn true_expectations_exit_zero_and_json_lines_carry_time_kind_and_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hopes.toml");
    let fixed = SCENARIO
        .replace("by = \"10ms\"", "by = \"1s\"")
        .replace(
            "  { event = \"Disconnected\", reason = \"security_reboot\" },\n",
            "",
        )
        .replace(
            "  { event = \"Disconnected\", from = \"5s\", until = \"15s\" },\n",
            "",
        )
        .replace("STRM2-0001 = \"Connected\"", "STRM2-0001 = \"NotConnected\"");
    std::fs::write(&path, fixed).unwrap();
    let output = simulate(&path, &["--json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("PASS false hopes: 4 expectations hold"),
        "{stderr}"
    );
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let disconnected = events
        .iter()
        .find(|e| e["event"] == "Disconnected")
        .expect("a Disconnected event");
    assert_eq!(disconnected["t_ms"], 10_000);
    assert_eq!(disconnected["reason"], "disconnect_requested");
    assert_eq!(disconnected["serial_number"], "STRM2-0001");
    assert!(
        events
            .windows(2)
            .all(|w| w[0]["t_ms"].as_u64() <= w[1]["t_ms"].as_u64()),
        "in time order"
    );
}

#[test]
fn a_bad_scenario_is_an_error_naming_its_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, SCENARIO.replace("at = \"10s\"", "at = \"10 fortnights\"")).unwrap();
    let output = simulate(&path, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("line 25, field `steps[2].at`: malformed duration `10 fortnights`"),
        "{stderr}"
    );
    assert!(stderr.contains("[malformed_duration]"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing ran");
}

#[test]
fn a_step_whose_event_never_comes_fails_the_run_and_the_steps_after_it_do_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("never.toml");
    let never = SCENARIO
        .replace(
            "action = \"connect\"\nserial = \"STRM2-0001\"\n",
            "action = \"connect\"\nserial = \"STRM2-0001\"\nlocation = \"tml_nowhere\"\n",
        )
        .replace(
            "at = \"10s\"\naction = \"disconnect\"",
            "after = \"Connected\"\naction = \"disconnect\"",
        );
    std::fs::write(&path, never).unwrap();
    let output = simulate(&path, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("FAILED line 25 `steps[2].after`: step 2 runs after Connected"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no such event came by the end of the run (30.000s)"),
        "{stderr}"
    );
    assert!(
        stdout.contains("ActionFailed action=connect error=location_not_found"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("action=disconnect"),
        "the step did not run: {stdout}"
    );
}
