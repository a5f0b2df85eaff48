//! Bluetooth proximity on the pure machine (R1, R4): only Chipper 2X
//! readers count, the nearest is reported twice and told to flash, and it
//! sticks until it goes quiet.

mod common;
mod scanner_support;

use std::time::Duration;

use readerlink::reader::DeviceType::{self, Chipper2X, WisePad3};
use readerlink::runtime::Harness;
use readerlink::scanner::{
    DiscoveryConfig, DiscoveryId, IDENTIFY_ACK_TIMEOUT, Scanner, ScannerInput, ScannerOutput,
};
use scanner_support::{discover, lists, long, reported, short};

/// One advertising round (every 250 ms): every 4th is the long form, as
/// the scan response would be.
fn round(harness: &mut Harness<Scanner>, n: u32, readers: &[(&str, DeviceType, i16)]) {
    for (serial, device_type, rssi) in readers {
        let jitter = if n % 2 == 0 { 1 } else { -1 };
        if n % 4 == 3 {
            harness.input(long(serial, *device_type, rssi + jitter, 85, "1.00.03"));
        } else {
            harness.input(short(serial, *device_type, rssi + jitter));
        }
    }
    harness.advance(Duration::from_millis(250));
}

fn identified(harness: &Harness<Scanner>) -> Vec<String> {
    harness
        .outputs()
        .iter()
        .filter_map(|(_, o)| match o {
            ScannerOutput::IdentifyReader { serial, .. } => Some(serial.to_string()),
            _ => None,
        })
        .collect()
}

fn abandoned(harness: &Harness<Scanner>) -> Vec<String> {
    harness
        .outputs()
        .iter()
        .filter_map(|(_, o)| match o {
            ScannerOutput::AbandonIdentify { serial } => Some(serial.to_string()),
            _ => None,
        })
        .collect()
}

/// R4's identify is timed by the machine, not by the shell, so the trace
/// holds the decision: once the command is written (`IdentifySent`) the
/// reader has `IDENTIFY_ACK_TIMEOUT` to answer, then the identify is
/// abandoned, even after the discovery that asked for it ended; an answer
/// in time disarms the timer.
#[test]
fn an_identify_the_reader_does_not_acknowledge_in_time_is_abandoned() {
    let mut near = Harness::new(Scanner::new());
    near.input(discover(1, DiscoveryConfig::proximity()));
    for n in 0..8 {
        round(&mut near, n, &[("CHB20-0001", Chipper2X, -50)]);
    }
    assert_eq!(identified(&near), vec!["CHB20-0001"]);

    near.input(ScannerInput::IdentifySent {
        serial: "CHB20-0001".into(),
    });
    near.input(ScannerInput::CancelRequested {
        discovery: DiscoveryId(1),
        call: 1,
    });
    assert_eq!(near.state(), "idle");
    near.advance(IDENTIFY_ACK_TIMEOUT - Duration::from_millis(1));
    assert!(abandoned(&near).is_empty(), "not before the timeout");
    near.advance(Duration::from_millis(1));
    assert_eq!(abandoned(&near), vec!["CHB20-0001"]);

    near.input(ScannerInput::IdentifySent {
        serial: "CHB20-0001".into(),
    });
    near.advance(Duration::from_millis(300));
    near.input(ScannerInput::IdentifyFinished {
        serial: "CHB20-0001".into(),
        result: Ok(()),
    });
    near.advance(IDENTIFY_ACK_TIMEOUT * 2);
    assert_eq!(abandoned(&near).len(), 1, "an answer in time disarms the timer");
}

#[test]
fn proximity_reports_only_the_nearest_chipper_twice_and_identifies_it() {
    let _snapshots = common::snapshots();
    let mut near = Harness::new(Scanner::new());
    near.input(discover(1, DiscoveryConfig::proximity()));
    near.note("two Chipper 2X at 0.5 m and 4 m, and a WisePad 3 closer than both");
    let air = [
        ("WPC32-0001", WisePad3, -38),
        ("CHB20-0002", Chipper2X, -71),
        ("CHB20-0001", Chipper2X, -53),
    ];
    for n in 0..12 {
        round(&mut near, n, &air);
    }
    near.note("the far Chipper is brought closer: the found one sticks");
    for n in 12..20 {
        round(
            &mut near,
            n,
            &[("CHB20-0002", Chipper2X, -40), ("CHB20-0001", Chipper2X, -53)],
        );
    }

    let lists = reported(&near);
    assert_eq!(lists.len(), 2, "reported twice: {lists:?}");
    assert!(
        lists
            .iter()
            .all(|l| l.len() == 1 && l[0].serial_number.as_str() == "CHB20-0001")
    );
    assert_eq!(
        (lists[0][0].battery, &lists[0][0].software_version),
        (None, &None),
        "serial only first"
    );
    assert_eq!(lists[1][0].battery.map(|b| (b.level * 100.0).round()), Some(85.0));
    assert_eq!(lists[1][0].software_version.as_deref(), Some("1.00.03"));
    assert_eq!(
        identified(&near),
        vec!["CHB20-0001"],
        "identify goes to the found reader alone"
    );
    assert_eq!(near.state(), "identified");
    insta::assert_snapshot!("scanner_proximity_nearest_chipper", near.log());
}

#[test]
fn proximity_finds_a_new_reader_once_the_found_one_is_powered_off() {
    let _snapshots = common::snapshots();
    let config = DiscoveryConfig::proximity().with_forget_after(Duration::from_secs(3));
    let mut near = Harness::new(Scanner::new());
    near.input(discover(1, config));
    for n in 0..8 {
        round(
            &mut near,
            n,
            &[("CHB20-0001", Chipper2X, -50), ("CHB20-0002", Chipper2X, -65)],
        );
    }
    assert_eq!(near.state(), "identified");
    near.note("CHB20-0001 is powered off");
    for n in 8..40 {
        round(&mut near, n, &[("CHB20-0002", Chipper2X, -65)]);
    }
    let lists = lists(&near);
    let serials: Vec<_> = lists.iter().map(|(_, _, l)| l.join(",")).collect();
    assert_eq!(
        serials,
        vec!["CHB20-0001", "CHB20-0001", "", "CHB20-0002", "CHB20-0002"],
        "found, detailed, gone, the next one found and detailed: {lists:?}"
    );
    assert_eq!(lists[2].0, 1_750 + 3_000, "given up 3 s after it was last heard");
    let details: Vec<bool> = reported(&near)
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| l[0].battery.is_some())
        .collect();
    assert_eq!(details, vec![false, true, false, true]);
    assert_eq!(identified(&near), vec!["CHB20-0001", "CHB20-0002"]);
    assert_eq!(near.state(), "identified");
    insta::assert_snapshot!("scanner_proximity_target_powered_off", near.log());
}

#[test]
fn proximity_with_a_timeout_and_no_chipper_around_times_out() {
    let mut near = Harness::new(Scanner::new());
    near.input(discover(
        1,
        DiscoveryConfig::proximity().with_timeout(Duration::from_secs(3)),
    ));
    for n in 0..20 {
        round(&mut near, n, &[("WPC32-0001", WisePad3, -40)]);
    }
    assert!(
        lists(&near).is_empty(),
        "a WisePad 3 is never reported in proximity"
    );
    assert_eq!(scanner_support::endings(&near), vec![(1, "scan_timed_out")]);
}

#[test]
fn proximity_superseding_a_scan_reports_details_as_they_arrive_and_drops_a_target_once_connected() {
    use readerlink::reader::SerialNumber;
    use readerlink::scanner::ScannerInput;

    let mut near = Harness::new(Scanner::new());
    near.input(discover(1, DiscoveryConfig::scan()));
    near.input(short("CHB20-0001", Chipper2X, -50));
    near.note("a proximity discovery supersedes the scan");
    near.input(discover(2, DiscoveryConfig::proximity()));
    assert_eq!(near.state(), "locating");
    assert_eq!(scanner_support::endings(&near), vec![(1, "discovery_superseded")]);
    for _ in 0..5 {
        near.input(short("CHB20-0001", Chipper2X, -50));
        near.input(short("CHB20-0002", Chipper2X, -60));
        near.advance(Duration::from_millis(250));
    }
    assert_eq!(near.state(), "refining", "found, but no long form heard yet");
    near.advance(Duration::from_secs(1));
    near.input(long("CHB20-0001", Chipper2X, -50, 40, "1.00.03"));
    assert_eq!(near.state(), "identified", "the long form is reported at once");
    near.note("the app connects CHB20-0001 elsewhere: proximity looks again");
    near.input(ScannerInput::ConnectedReadersChanged {
        serial: SerialNumber::new("CHB20-0001"),
        connected: true,
    });
    assert_eq!(near.state(), "locating");
    for _ in 0..5 {
        near.input(short("CHB20-0001", Chipper2X, -50));
        near.input(long("CHB20-0002", Chipper2X, -60, 70, "1.00.03"));
        near.advance(Duration::from_millis(250));
    }
    near.advance(Duration::from_secs(1));
    let serials: Vec<_> = lists(&near)
        .into_iter()
        .map(|(t, d, l)| format!("{t} #{d} [{}]", l.join(",")))
        .collect();
    assert_eq!(
        serials,
        [
            "0 #1 [CHB20-0001]",
            "1000 #2 [CHB20-0001]",
            "2250 #2 [CHB20-0001]",
            "2750 #2 []",
            "3250 #2 [CHB20-0002]",
            "3750 #2 [CHB20-0002]",
        ]
    );
    assert_eq!(identified(&near), vec!["CHB20-0001", "CHB20-0002"]);
}
