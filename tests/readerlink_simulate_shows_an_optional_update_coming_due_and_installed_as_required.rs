//! `readerlink simulate --hours 192 --fleet examples/fleets/updates.toml`
//! (R17): the M2's optional update is reported at its connects, comes due 7
//! days after it was first offered, and is installed as required at the
//! next connect (the one after the M2's 24-hour reboot), inside it.

use std::process::Command;

#[test]
fn an_optional_update_is_reported_then_installed_as_required_once_due() {
    let fleet = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fleets/updates.toml");
    let output = Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .args(["simulate", "--hours", "192", "--json", "--fleet", fleet])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let times = |kind: &str| -> Vec<u64> {
        events
            .iter()
            .filter(|e| e["event"] == kind && e["serial_number"] == "STRM2-0001")
            .map(|e| e["t_ms"].as_u64().unwrap())
            .collect()
    };
    const DAY: u64 = 24 * 3_600_000;
    let available = times("UpdateAvailable");
    let started = times("UpdateInstallStarted");
    let finished = times("UpdateInstallFinished");
    assert!(
        !available.is_empty() && available[0] < DAY,
        "reported at the first connect: {available:?}"
    );
    assert!(
        available.iter().all(|t| *t < 7 * DAY + DAY / 24),
        "not offered as optional once due: {available:?}"
    );
    assert_eq!(started.len(), 1, "installed once: {started:?}");
    assert!(
        (7 * DAY..8 * DAY).contains(&started[0]),
        "installed at the first connect after it came due: {started:?}"
    );
    assert_eq!(finished.len(), 1);
    let connected_after = events.iter().any(|e| {
        e["event"] == "Connected"
            && e["reader"]["serial_number"] == "STRM2-0001"
            && e["t_ms"].as_u64().unwrap() >= finished[0]
            && e["reader"]["software_version"] == "9.0.0-sim"
    });
    assert!(connected_after, "connected on the new software after the install");
    let optional_installs = events
        .iter()
        .filter(|e| e["event"] == "UpdateInstallStarted" && e["t_ms"].as_u64().unwrap() < 7 * DAY)
        .count();
    assert_eq!(optional_installs, 0, "nothing installed before it was due");
}
