//! Scenario and fleet files are text from outside: a file over the
//! documented size (or an endless one, `/dev/zero`) is refused with a
//! typed error after reading one byte past the limit, and a serial number,
//! name or other string holding a control character (a newline would
//! forge lines of output, ESC reach the terminal raw) is refused naming
//! its line and field. Advertisements are checked the same way.

use std::path::Path;
use std::process::Command;

use readerlink::protocol::advertisement::{AdvertisementError, ReaderAdvertisement};
use readerlink::reader::{DeviceType, SerialNumber};
use readerlink::scenario::{self, MAX_SCENARIO_BYTES};
use readerlink::transport::sim::{Fleet, FleetError, MAX_FLEET_BYTES};

/// A file of `len` bytes (all zero) without writing them: a sparse file.
fn sparse(dir: &Path, name: &str, len: u64) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().set_len(len).unwrap();
    path
}

#[test]
fn a_file_over_the_limit_or_dev_zero_is_refused_as_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let big = sparse(dir.path(), "big.toml", MAX_SCENARIO_BYTES + 1);
    for path in [big.as_path(), Path::new("/dev/zero")] {
        let e = scenario::load(path).unwrap_err();
        assert_eq!(e.code(), "scenario_too_large", "{}: {e}", path.display());
        assert!(e.to_string().contains(&MAX_SCENARIO_BYTES.to_string()), "{e}");
    }
    let big = sparse(dir.path(), "fleet.toml", MAX_FLEET_BYTES + 1);
    for path in [big.as_path(), Path::new("/dev/zero")] {
        let e = Fleet::load(path).unwrap_err();
        assert!(
            matches!(e, FleetError::TooLarge { limit, .. } if limit == MAX_FLEET_BYTES),
            "{e}"
        );
    }
    // A scenario naming an endless fleet file is refused at its `fleet` key.
    let scenario_file = dir.path().join("s.toml");
    std::fs::write(&scenario_file, "seed = 1\nfleet = \"/dev/zero\"\n").unwrap();
    let e = scenario::load(&scenario_file).unwrap_err();
    assert_eq!((e.code(), e.line(), e.field()), ("bad_fleet", 2, "fleet"), "{e}");
    assert!(e.to_string().contains("larger than"), "{e}");
    // At the limit is fine (it is only too large past it): a file of
    // spaces parses as an empty scenario.
    let spaces = dir.path().join("spaces.toml");
    std::fs::write(&spaces, " ".repeat(4096)).unwrap();
    assert_eq!(scenario::load(&spaces).unwrap_err().code(), "empty_scenario");
}

#[test]
fn the_cli_refuses_dev_zero_as_a_scenario_or_a_fleet_at_once() {
    for args in [
        &["simulate", "--scenario", "/dev/zero"][..],
        &["discover", "--fleet", "/dev/zero", "--timeout", "1"][..],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_readerlink"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("larger than"), "{args:?}: {stderr}");
    }
}

fn reader(serial: &str, version: &str) -> String {
    format!(
        "[[readers]]\nserial = \"{serial}\"\ndevice_type = \"stripe_m2\"\ndistance_m = 1.0\nbattery = 0.9\nsoftware_version = \"{version}\"\n"
    )
}

#[test]
fn a_serial_or_version_with_a_control_character_is_refused_naming_line_and_field() {
    for (serial, version, field) in [
        ("STRM2-0001\\n   0.000s  Connected", "3.1.0", "readers[1].serial"),
        ("\\u001b[2JSTRM2", "3.1.0", "readers[1].serial"),
        ("STRM2-0002", "3.1.0\\r", "readers[1].software_version"),
        (&"X".repeat(33), "3.1.0", "readers[1].serial"),
    ] {
        let text = format!("{}\n{}", reader("STRM2-0009", "3.1.0"), reader(serial, version));
        let e = Fleet::from_toml(&text).unwrap_err();
        let line = if field.ends_with("serial") { 9 } else { 13 };
        assert!(matches!(e, FleetError::InvalidValue { .. }), "{e}");
        assert_eq!((e.line(), e.field()), (line, field), "{e}");
        // Inline in a scenario, the same check names the scenario's line.
        let e = scenario::parse(&text, None, None).unwrap_err();
        assert_eq!((e.code(), e.line(), e.field()), ("bad_fleet", line, field), "{e}");
    }
}

#[test]
fn scenario_names_and_locations_with_control_characters_are_refused() {
    let head = reader("STRM2-0001", "3.1.0");
    for (body, line, field) in [
        ("name = \"evil\\u001b]0;title\\u0007\"\n", 1, "name"),
        ("[[locations]]\nname = \"shop\\nFAIL\"\n", 9, "locations[0].name"),
        (
            "[[locations]]\nname = \"shop\"\ndisplay_name = \"The\\u0085shop\"\n",
            10,
            "locations[0].display_name",
        ),
        (
            "[[locations]]\nname = \"shop\"\n[[steps]]\nat = \"1s\"\naction = \"connect\"\nserial = \"STRM2-0001\"\nlocation = \"tml\\n1\"\n",
            14,
            "steps[0].location",
        ),
    ] {
        let text = if field == "name" {
            format!("{body}{head}[expect]\nfinal_connection_status = \"NotConnected\"\n")
        } else {
            format!("{head}\n{body}")
        };
        let e = scenario::parse(&text, None, None).unwrap_err();
        assert_eq!(
            (e.code(), e.line(), e.field()),
            ("invalid_value", line, field),
            "{e}\n{text}"
        );
        assert!(e.to_string().contains("control character"), "{e}");
    }
}

#[test]
fn an_advertised_serial_with_a_control_character_is_refused() {
    let advertisement = |serial: &str| ReaderAdvertisement {
        device_type: DeviceType::StripeM2,
        serial_number: SerialNumber::new(serial),
        battery_percent: Some(50),
        software_version: Some("3.1.0".into()),
    };
    assert!(ReaderAdvertisement::decode(&advertisement("STRM2-0001").encode()).is_ok());
    for serial in ["STRM2\n0001", "\u{1b}[31mRED", "ok\u{202e}gnp"] {
        assert_eq!(
            ReaderAdvertisement::decode(&advertisement(serial).encode()),
            Err(AdvertisementError::InvalidSerial),
            "{serial:?}"
        );
    }
}

/// A pattern's value is only compared, so any text may stand in it; when
/// its expectation fails, the report prints it with its C1 controls (U+009B
/// is a CSI to some terminals) and bidirectional overrides escaped.
#[test]
fn a_failed_expectation_prints_its_patterns_text_escaped() {
    let text = "run_for = \"1s\"\n[[steps]]\nat = \"0s\"\naction = \"set_adapter\"\npowered = true\n\n\
                [expect]\nsequence = [ { event = \"CardInserted\", serial_number = \"X\\u009b2J\\u202eY\" } ]\n";
    let parsed = scenario::parse(text, None, None).expect("a valid scenario");
    let outcome = scenario::run_blocking(&parsed, &scenario::TraceTo::Off).expect("it runs");
    assert!(!outcome.passed());
    let report = outcome.report();
    assert!(
        !report.contains('\u{9b}') && !report.contains('\u{202e}'),
        "{report:?}"
    );
    assert!(report.contains("\\u{9b}2J\\u{202e}Y"), "{report}");
}
