//! `readerlink simulate --hours 72` (R12): the runtime reboots the M2 about
//! every 24 hours, each reboot announced ahead by `RebootScheduled`, and
//! never reboots the Chipper 2X connected beside it.

use std::process::Command;

#[test]
fn three_days_show_three_runtime_reboots_of_the_m2_each_scheduled_ahead_and_none_of_the_chipper() {
    let output = Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .args(["simulate", "--hours", "72", "--json"])
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
    let of = |kind: &str, serial: &str| -> Vec<&serde_json::Value> {
        events
            .iter()
            .filter(|e| e["event"] == kind && e["serial_number"] == serial)
            .collect()
    };
    let reboots: Vec<u64> = of("ReconnectStarted", "STRM2-0001")
        .iter()
        .filter(|e| e["reason"] == "security_reboot")
        .map(|e| e["t_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(reboots.len(), 3, "{reboots:?}");
    let mut previous = 0;
    for t in &reboots {
        let hours = (t - previous) as f64 / 3_600_000.0;
        assert!((23.7..24.0).contains(&hours), "{hours:.2} h between reboots");
        previous = *t;
    }
    let scheduled: Vec<u64> = of("RebootScheduled", "STRM2-0001")
        .iter()
        .map(|e| e["t_ms"].as_u64().unwrap())
        .collect();
    for t in &reboots {
        assert!(
            scheduled.iter().any(|s| s < t && t - s > 23 * 3_600_000),
            "a RebootScheduled came about a day ahead of the reboot at {t}: {scheduled:?}"
        );
    }
    assert!(of("RebootScheduled", "CHB20-0001").is_empty());
    assert!(
        !events
            .iter()
            .any(|e| e["serial_number"] == "CHB20-0001" && e["reason"] == "security_reboot")
    );
}
