//! `readerlink discover` on the shipped example fleet, through the binary
//! (real time, simulated readers): it lists every reader and exits 0; bad
//! arguments get clear errors.

use std::collections::BTreeSet;
use std::process::Command;

use readerlink::transport::sim::Fleet;

fn readerlink(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .args(args)
        .output()
        .expect("the readerlink binary runs")
}

#[test]
fn discover_json_lists_every_reader_of_the_example_fleet_and_exits_zero() {
    let output = readerlink(&["discover", "--json", "--timeout", "2"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let (last, updates) = lines.split_last().expect("at least the result line");
    assert_eq!(last["event"], "finished");
    assert_eq!(last["result"], "ok");
    let listed: BTreeSet<String> = updates
        .last()
        .expect("at least one list update")["readers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["serial_number"].as_str().unwrap().to_owned())
        .collect();
    let fleet: BTreeSet<String> = Fleet::example().readers.iter().map(|r| r.serial.to_string()).collect();
    assert_eq!(listed, fleet);
    assert!(updates.iter().all(|u| u["event"] == "readers_updated"));
}

#[test]
fn discover_with_a_zero_timeout_is_a_usage_error() {
    let output = readerlink(&["discover", "--timeout", "0"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("positive number of seconds"));
}

#[test]
fn discover_with_a_missing_fleet_file_names_it() {
    let output = readerlink(&["discover", "--fleet", "no/such/fleet.toml", "--timeout", "1"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no/such/fleet.toml"));
}

#[test]
fn discover_fleet_and_ble_together_is_a_usage_error() {
    let output = readerlink(&["discover", "--fleet", "x.toml", "--ble"]);
    assert_eq!(output.status.code(), Some(2));
}

#[cfg(not(feature = "ble"))]
#[test]
fn discover_ble_without_the_feature_says_so() {
    let output = readerlink(&["discover", "--ble", "--timeout", "1"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("built without the `ble` feature"));
}
