//! Fleet files: the shipped example loads (and is the embedded default);
//! a file with an error is rejected with a typed error naming its line and
//! field.

use readerlink::reader::DeviceType;
use readerlink::transport::sim::{Fleet, FleetError};

#[test]
fn the_example_fleet_file_loads_with_every_device_type() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fleets/example.toml");
    let fleet = Fleet::load(path).expect("the example fleet loads");
    assert_eq!(
        fleet,
        Fleet::example(),
        "Fleet::example() embeds the shipped file"
    );
    assert_eq!(fleet.seed, 42);
    let of = |t: DeviceType| {
        fleet
            .readers
            .iter()
            .filter(|r| r.device_type == t)
            .collect::<Vec<_>>()
    };
    let chippers = of(DeviceType::Chipper2X);
    assert_eq!(chippers.len(), 2);
    assert_ne!(chippers[0].distance_m, chippers[1].distance_m);
    assert_eq!(of(DeviceType::WisePad3).len(), 1);
    assert_eq!(of(DeviceType::StripeM2).len(), 1);
    assert_eq!(of(DeviceType::StripeM2)[0].att_payload, 244);
}

#[test]
fn a_fault_plan_is_read() {
    let fleet = Fleet::from_toml(
        r#"
seed = 1
[[readers]]
serial = "M2-9"
device_type = "m2"
distance_m = 3
battery = 0.5
software_version = "1"
att_payload = 100
[readers.fault]
drop_link_at_step = 3
fail_install_at_percent = 40
"#,
    )
    .unwrap();
    let reader = &fleet.readers[0];
    assert_eq!(reader.fault.drop_link_at_step, Some(3));
    assert_eq!(reader.fault.fail_install_at_percent, Some(40));
    assert_eq!(reader.att_payload, 100);
    assert!(!reader.charging);
}

const GOOD_READER: &str = r#"
[[readers]]
serial = "A-1"
device_type = "bbpos_wisepad3"
distance_m = 1.0
battery = 0.5
software_version = "1.0"
"#;

fn with_second_reader(body: &str) -> String {
    format!("seed = 3\n{GOOD_READER}\n[[readers]]\n{body}")
}

fn rejected(text: &str) -> FleetError {
    let error = Fleet::from_toml(text).expect_err("the fleet is invalid");
    println!("{error}");
    error
}

#[test]
fn a_battery_out_of_range_is_rejected_naming_line_and_field() {
    let text = with_second_reader(
        "serial = \"B-1\"\ndevice_type = \"m2\"\ndistance_m = 2\nbattery = 1.5\nsoftware_version = \"1\"\n",
    );
    let error = rejected(&text);
    assert!(matches!(error, FleetError::BatteryOutOfRange { value, .. } if value == 1.5));
    assert_eq!((error.line(), error.field()), (14, "readers[1].battery"));
    assert!(error.to_string().contains("line 14"));
}

#[test]
fn a_duplicate_serial_is_rejected_naming_both_lines() {
    let text = with_second_reader(
        "serial = \"A-1\"\ndevice_type = \"m2\"\ndistance_m = 2\nbattery = 0.5\nsoftware_version = \"1\"\n",
    );
    let error = rejected(&text);
    assert_eq!(
        error,
        FleetError::DuplicateSerial {
            line: 11,
            field: "readers[1].serial".into(),
            serial: "A-1".into(),
            first_line: 4
        }
    );
}

#[test]
fn an_unknown_device_type_is_rejected_naming_line_and_field() {
    let text = with_second_reader(
        "serial = \"B-1\"\ndevice_type = \"verifone\"\ndistance_m = 2\nbattery = 0.5\nsoftware_version = \"1\"\n",
    );
    let error = rejected(&text);
    assert!(matches!(error, FleetError::UnknownDeviceType { .. }));
    assert_eq!((error.line(), error.field()), (12, "readers[1].device_type"));
    assert!(error.to_string().contains("verifone"));
}

#[test]
fn a_value_of_the_wrong_type_is_rejected_naming_line_and_field() {
    let text = with_second_reader(
        "serial = \"B-1\"\ndevice_type = \"m2\"\ndistance_m = \"far\"\nbattery = 0.5\nsoftware_version = \"1\"\n",
    );
    let error = rejected(&text);
    assert!(matches!(error, FleetError::Syntax { .. }));
    assert_eq!((error.line(), error.field()), (13, "readers[1].distance_m"));
}

#[test]
fn a_missing_field_is_rejected_naming_it() {
    let text = with_second_reader("serial = \"B-1\"\ndevice_type = \"m2\"\ndistance_m = 2\nbattery = 0.5\n");
    let error = rejected(&text);
    assert!(matches!(error, FleetError::Syntax { .. }));
    assert_eq!(error.field(), "readers[1].software_version");
    assert!((10..=15).contains(&error.line()), "line {}", error.line());
}

#[test]
fn an_update_preset_is_read_and_an_unknown_one_is_rejected_naming_line_and_field() {
    use readerlink::updater::SimulatedUpdatePreset;

    let text = with_second_reader(
        "serial = \"B-1\"\ndevice_type = \"m2\"\ndistance_m = 2\nbattery = 0.5\nsoftware_version = \"1\"\nupdate = \"low_battery_succeed_connect\"\n",
    );
    let fleet = Fleet::from_toml(&text).expect("a fleet with an update preset");
    assert_eq!(
        fleet.readers[0].update,
        SimulatedUpdatePreset::None,
        "none by default"
    );
    assert_eq!(
        fleet.readers[1].update,
        SimulatedUpdatePreset::LowBatterySucceedConnect
    );
    let text = with_second_reader(
        "serial = \"B-1\"\ndevice_type = \"m2\"\ndistance_m = 2\nbattery = 0.5\nsoftware_version = \"1\"\nupdate = \"soon\"\n",
    );
    let error = rejected(&text);
    assert!(matches!(error, FleetError::InvalidValue { .. }), "{error:?}");
    assert_eq!((error.line(), error.field()), (16, "readers[1].update"));
    assert!(
        error.to_string().contains("unknown update preset `soon`"),
        "{error}"
    );
    assert!(
        error.to_string().contains("low_battery_succeed_connect"),
        "{error}"
    );
    let error = rejected(&with_second_reader(
        "serial = \"B-1\"\ndevice_type = \"m2\"\ndistance_m = 2\nbattery = 0.5\nsoftware_version = \"1\"\nupdate = 3\n",
    ));
    assert!(matches!(error, FleetError::Syntax { .. }), "{error:?}");
    assert_eq!((error.line(), error.field()), (16, "readers[1].update"));
}

#[test]
fn broken_toml_is_rejected_naming_the_line() {
    let error = rejected("seed = 3\n[[readers]]\nserial = \"B-1\nbattery = 0.5\n");
    assert!(matches!(error, FleetError::Syntax { line: 3, .. }), "{error:?}");
    assert_eq!(error.field(), "readers[0].serial");
}

#[test]
fn a_bad_fault_plan_or_link_value_is_named_under_its_table() {
    let text = with_second_reader(
        "serial = \"B-1\"\ndevice_type = \"m2\"\ndistance_m = 2\nbattery = 0.5\nsoftware_version = \"1\"\n[readers.fault]\ndrop_link_at_step = \"soon\"\n",
    );
    let error = rejected(&text);
    assert_eq!(
        (error.line(), error.field()),
        (17, "readers[1].fault.drop_link_at_step")
    );
    let error = rejected("[link]\nconnection_interval_ms = -3\n");
    assert_eq!((error.line(), error.field()), (2, "link.connection_interval_ms"));
}

#[test]
fn an_unknown_key_is_rejected_naming_it() {
    let text = with_second_reader(
        "serial = \"B-1\"\ndevice_type = \"m2\"\ndistance_m = 2\nbatery = 0.5\nsoftware_version = \"1\"\n",
    );
    let error = rejected(&text);
    assert_eq!((error.line(), error.field()), (14, "readers[1].batery"));
}

proptest::proptest! {
    #[test]
    fn any_text_is_a_fleet_or_a_typed_error(text in "(\\PC|\n|\\[|\\]|=|\"){0,200}") {
        let _ = Fleet::from_toml(&text);
    }

    #[test]
    fn any_corruption_of_the_example_is_a_fleet_or_an_error_on_a_real_line(at in 0usize..1500, byte in proptest::prelude::any::<u8>()) {
        let mut text = Fleet::example_toml().as_bytes().to_vec();
        let at = at % text.len();
        text[at] = byte;
        if let Ok(text) = String::from_utf8(text) {
            if let Err(error) = Fleet::from_toml(&text) {
                proptest::prop_assert!(error.line() >= 1 && error.line() <= text.lines().count().max(1));
            }
        }
    }
}
