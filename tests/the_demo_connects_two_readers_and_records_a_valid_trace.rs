//! README's first command: the demo runs on real time against the local
//! backend over loopback HTTP, exits 0, and its trace validates.

use std::process::Command;

use readerlink::runtime::{RecordBody, Trace};

#[test]
fn the_demo_exits_zero_and_its_trace_passes_trace_check() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("demo.trace.jsonl");
    let output = Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .args(["demo", "--trace"])
        .arg(&trace)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "demo failed:\n{stdout}\n{stderr}");

    // What a person watching sees: two readers connected over HTTP, reports, the
    // app's disconnect, and a summary naming the trace.
    for expected in [
        "created over HTTP",
        "connected to tml_000001",
        "battery",
        "card inserted",
        // The unexpected link loss is repaired by the runtime itself (R9).
        "lost (BluetoothSignalLost): reconnecting",
        "reconnected",
        "lost its link, reconnected by itself",
        "disconnected: DisconnectRequested",
        "Summary",
        &trace.display().to_string(),
    ] {
        assert!(stdout.contains(expected), "missing `{expected}` in:\n{stdout}");
    }

    let check = Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .args(["trace", "check"])
        .arg(&trace)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let trace = Trace::read_file(&trace).unwrap();
    let connections = trace
        .records
        .iter()
        .filter(|r| matches!(&r.body, RecordBody::Started { machine, .. } if machine == "connection"))
        .count();
    assert!(connections >= 2, "two connection actors ran");
}

/// Two fleets the demo once stalled on for 75 s (then reported success):
/// the reader it picks first already on its charger, so plugging one in
/// changed nothing and no battery report came. It now unplugs it instead,
/// and any report that does not come fails the demo, naming it.
#[test]
fn the_demo_adapts_to_a_fleet_without_a_near_chipper_whose_readers_charge() {
    let reader = |serial: &str, device: &str, distance: f32| {
        format!(
            "[[readers]]\nserial = \"{serial}\"\ndevice_type = \"{device}\"\ndistance_m = {distance}\nbattery = 0.9\ncharging = true\nsoftware_version = \"3.1.0\"\n\n"
        )
    };
    let no_chipper = reader("STRM2-0001", "stripe_m2", 1.0) + &reader("WPC32-0001", "bbpos_wisepad3", 2.0);
    let chipper_far_away = reader("CHB20-0001", "bbpos_chipper2x", 50.0) + &no_chipper;
    let dir = tempfile::tempdir().unwrap();
    for (name, fleet) in [("no_chipper", no_chipper), ("chipper_far_away", chipper_far_away)] {
        let fleet_path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&fleet_path, fleet).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_readerlink"))
            .args(["demo", "--fleet"])
            .arg(&fleet_path)
            .arg("--trace")
            .arg(dir.path().join(format!("{name}.trace.jsonl")))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{name}: demo failed:\n{stdout}\n{stderr}"
        );
        for expected in [
            "a charger unplugged from STRM2-0001",
            "STRM2-0001 battery",
            "WPC32-0001 card inserted",
            "Summary",
        ] {
            assert!(
                stdout.contains(expected),
                "{name}: missing `{expected}` in:\n{stdout}"
            );
        }
        assert!(
            !stdout.contains("nothing after"),
            "{name}: it waited for nothing:\n{stdout}"
        );
    }
}

#[test]
fn a_day_of_virtual_time_shows_the_idle_power_down_and_the_security_reboot() {
    let run = || {
        let output = Command::new(env!("CARGO_BIN_EXE_readerlink"))
            .args(["simulate", "--hours", "25", "--json"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let first = run();
    let disconnects: Vec<(u64, String, String)> = first
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        // With auto-reconnect on, a reboot is reported as the start of a
        // reconnection (R9) rather than as a disconnect; either carries the reason.
        .filter(|v| v["event"] == "Disconnected" || v["event"] == "ReconnectStarted")
        .map(|v| {
            (
                v["t_ms"].as_u64().unwrap(),
                v["serial_number"].as_str().unwrap().to_owned(),
                v["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // The Chipper 2X is not charging: it powers itself down after 10 idle
    // hours; the runtime reboots the M2 10 minutes before its own 24 h (R12).
    assert!(
        disconnects.iter().any(|(t, s, r)| s == "CHB20-0001"
            && r == "idle_power_down"
            && (36_000_000..36_100_000).contains(t)),
        "{disconnects:?}"
    );
    assert!(
        disconnects.iter().any(|(t, s, r)| s == "STRM2-0001"
            && r == "security_reboot"
            && (85_800_000..85_900_000).contains(t)),
        "{disconnects:?}"
    );
    assert_eq!(first, run(), "the same seed gives the same day");
}

/// Runs the demo on a fleet of `(serial, device type, distance m, battery)`
/// readers; returns its exit code, what it printed and how long it took.
fn demo_on(
    dir: &std::path::Path,
    name: &str,
    readers: &[(&str, &str, f32, f32)],
) -> (Option<i32>, String, std::time::Duration) {
    let fleet: String = readers
        .iter()
        .map(|(serial, device, distance, battery)| {
            format!(
                "[[readers]]\nserial = \"{serial}\"\ndevice_type = \"{device}\"\ndistance_m = {distance}\nbattery = {battery}\nsoftware_version = \"3.1.0\"\n\n"
            )
        })
        .collect();
    let fleet_path = dir.join(format!("{name}.toml"));
    std::fs::write(&fleet_path, fleet).unwrap();
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .args(["demo", "--fleet"])
        .arg(&fleet_path)
        .arg("--trace")
        .arg(dir.join(format!("{name}.trace.jsonl")))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text, started.elapsed())
}

/// The demo installs its required update only where it is quick and can
/// succeed: two Chipper 2X readers (20-byte ATT payloads) once kept it
/// installing for 90 s, and two readers at 30 % battery made it fail at
/// the connect. It now says why it installs no update and goes on; the
/// run takes seconds (it is timed on real time: the demo's clock).
#[test]
fn the_demo_skips_an_update_no_reader_could_take_quickly_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    for (name, readers, why) in [
        (
            "chippers",
            [
                ("CHB20-0001", "bbpos_chipper2x", 1.0, 0.9),
                ("CHB20-0002", "bbpos_chipper2x", 2.0, 0.9),
            ],
            "CHB20-0001's link (20-byte ATT payloads) would take about 52 s",
        ),
        (
            "low_battery",
            [
                ("STRM2-0001", "stripe_m2", 1.0, 0.3),
                ("WPC32-0001", "bbpos_wisepad3", 2.0, 0.3),
            ],
            "STRM2-0001's battery is at 30 %, an install needs more than 50 %",
        ),
    ] {
        let (code, text, took) = demo_on(dir.path(), name, &readers);
        assert_eq!(code, Some(0), "{name}: {text}");
        assert!(text.contains("no required update this run"), "{name}: {text}");
        assert!(text.contains(why), "{name}: `{why}` in:\n{text}");
        assert!(!text.contains("installing"), "{name}: {text}");
        assert!(text.contains("Summary"), "{name}: {text}");
        assert!(took.as_secs() < 40, "{name}: took {took:?}:\n{text}");
    }
    // With a Chipper and a WisePad 3 the update goes to the WisePad 3's
    // faster link, though the Chipper is nearer.
    let (code, text, _) = demo_on(
        dir.path(),
        "mixed",
        &[
            ("CHB20-0001", "bbpos_chipper2x", 1.0, 0.9),
            ("WPC32-0001", "bbpos_wisepad3", 3.0, 0.9),
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("WPC32-0001 has a required update to install first"),
        "{text}"
    );
    assert!(text.contains("WPC32-0001 installed 9.0.0-sim"), "{text}");
}

/// A fleet with one reader in range fails at once, saying what it lacks,
/// instead of waiting for a reader it cannot hear.
#[test]
fn the_demo_fails_fast_when_only_one_reader_is_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text, took) = demo_on(
        dir.path(),
        "one_far",
        &[
            ("STRM2-0001", "stripe_m2", 1.0, 0.9),
            ("WPC32-0001", "bbpos_wisepad3", 200.0, 0.9),
        ],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("discovery found 1 readers; two are needed"),
        "{text}"
    );
    assert!(took.as_secs() < 20, "took {took:?}:\n{text}");
}
