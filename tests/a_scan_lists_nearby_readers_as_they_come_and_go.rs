//! Bluetooth scan on the pure machine (R1, R2, R3, R5): the list of readers
//! as the app would see it, and the transition log, on virtual time.

mod common;
mod scanner_support;

use std::time::Duration;

use readerlink::cancelable::CancelOutcome;
use readerlink::reader::DeviceType::{Chipper2X, StripeM2, WisePad3};
use readerlink::reader::SerialNumber;
use readerlink::runtime::Harness;
use readerlink::scanner::{DiscoveryConfig, DiscoveryId, Scanner, ScannerInput, ScannerOutput};
use scanner_support::{discover, endings, lists, long, reported, short};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_scan_finds_three_readers_and_reports_their_details_once_heard() {
    let _snapshots = common::snapshots();
    let mut scan = Harness::new(Scanner::new());
    assert_eq!(
        scan.input(discover(1, DiscoveryConfig::scan())),
        vec![ScannerOutput::StartScan { scan: 1 }]
    );

    scan.note("three readers advertise their short form");
    scan.advance(ms(100));
    scan.input(short("CHB20-0001", Chipper2X, -48));
    scan.advance(ms(50));
    scan.input(short("WPC32-0001", WisePad3, -62));
    scan.advance(ms(50));
    scan.input(short("STRM2-0001", StripeM2, -55));
    scan.note("then, after the first list, their scan responses: battery and software version");
    scan.advance(ms(800));
    scan.input(long("CHB20-0001", Chipper2X, -49, 85, "1.00.03"));
    scan.input(long("WPC32-0001", WisePad3, -61, 74, "2.4.1"));
    scan.input(long("STRM2-0001", StripeM2, -56, 93, "3.1.0"));
    scan.note("RSSI jitter alone changes nothing");
    for round in 0..8 {
        scan.advance(ms(250));
        let jitter = if round % 2 == 0 { 2 } else { -2 };
        scan.input(short("CHB20-0001", Chipper2X, -48 + jitter));
        scan.input(short("WPC32-0001", WisePad3, -62 + jitter));
        scan.input(short("STRM2-0001", StripeM2, -55 + jitter));
    }
    scan.advance(ms(1000));

    assert_eq!(
        lists(&scan),
        vec![
            (100, 1, vec!["CHB20-0001".to_owned()]),
            (
                600,
                1,
                vec!["CHB20-0001".into(), "STRM2-0001".into(), "WPC32-0001".into()]
            ),
            (
                1100,
                1,
                vec!["CHB20-0001".into(), "STRM2-0001".into(), "WPC32-0001".into()]
            ),
        ],
        "first reader at once, the rest held back 500 ms, details once more; jitter never"
    );
    let last = reported(&scan).pop().unwrap();
    assert!(
        last.iter()
            .all(|r| r.battery.is_some() && r.software_version.is_some())
    );
    assert_eq!(last[2].software_version.as_deref(), Some("2.4.1"));
    assert_eq!(scan.state(), "scanning");
    insta::assert_snapshot!("scanner_scan_finds_three_readers", scan.log());
}

#[test]
fn a_reader_walking_out_of_range_disappears_after_forget_after() {
    let _snapshots = common::snapshots();
    let config = DiscoveryConfig::scan().with_forget_after(Duration::from_secs(5));
    let mut scan = Harness::new(Scanner::new());
    scan.input(discover(1, config));
    scan.input(short("CHB20-0001", Chipper2X, -50));
    scan.input(short("WPC32-0001", WisePad3, -60));
    scan.note("the WisePad walks away: each 10 dB drop counts, then it falls silent");
    for second in 1..=3u64 {
        scan.advance(Duration::from_secs(1));
        scan.input(short("CHB20-0001", Chipper2X, -50));
        scan.input(short("WPC32-0001", WisePad3, -60 - 10 * second as i16));
    }
    for _ in 0..8 {
        scan.advance(Duration::from_secs(1));
        scan.input(short("CHB20-0001", Chipper2X, -50));
    }
    let reported = lists(&scan);
    assert_eq!(
        reported.last().unwrap(),
        &(8_000, 1, vec!["CHB20-0001".to_owned()]),
        "gone 5 s after it was last heard at 3 s"
    );
    assert!(
        reported[1..reported.len() - 1]
            .iter()
            .all(|(_, _, l)| l.len() == 2),
        "listed until then: {reported:?}"
    );
    insta::assert_snapshot!("scanner_reader_walks_out_of_range", scan.log());
}

#[test]
fn a_timeout_with_no_reader_found_ends_with_scan_timed_out() {
    let _snapshots = common::snapshots();
    let mut scan = Harness::new(Scanner::new());
    scan.input(discover(
        1,
        DiscoveryConfig::scan().with_timeout(Duration::from_secs(5)),
    ));
    scan.advance(Duration::from_secs(10));
    assert_eq!(endings(&scan), vec![(1, "scan_timed_out")]);
    assert!(lists(&scan).is_empty());
    assert_eq!(scan.state(), "idle");
    assert!(scan.armed_timers().is_empty(), "nothing left running");
    insta::assert_snapshot!("scanner_timeout_none_found", scan.log());
}

#[test]
fn a_timeout_with_readers_listed_ends_the_scan_with_ok() {
    let mut scan = Harness::new(Scanner::new());
    scan.input(discover(
        1,
        DiscoveryConfig::scan().with_timeout(Duration::from_secs(5)),
    ));
    scan.input(short("CHB20-0001", Chipper2X, -50));
    scan.advance(Duration::from_secs(5));
    assert_eq!(endings(&scan), vec![(1, "ok")]);
    assert_eq!(scan.outputs().last().unwrap().1, ScannerOutput::StopScan);
}

#[test]
fn a_change_held_back_when_the_timeout_elapses_is_reported_before_the_end() {
    let mut scan = Harness::new(Scanner::new());
    scan.input(discover(
        1,
        DiscoveryConfig::scan().with_timeout(Duration::from_secs(5)),
    ));
    scan.advance(ms(4_800));
    scan.input(short("CHB20-0001", Chipper2X, -50));
    scan.advance(ms(100));
    scan.input(short("WPC32-0001", WisePad3, -60));
    scan.advance(Duration::from_secs(1));
    assert_eq!(
        lists(&scan),
        vec![
            (4_800, 1, vec!["CHB20-0001".to_owned()]),
            (5_000, 1, vec!["CHB20-0001".to_owned(), "WPC32-0001".to_owned()]),
        ]
    );
    assert_eq!(endings(&scan), vec![(1, "ok")]);

    scan.note("a proximity target reported by serial only counts as found");
    let config = DiscoveryConfig::proximity().with_timeout(Duration::from_millis(1_600));
    scan.input(discover(2, config));
    scan.input(short("CHB20-0001", Chipper2X, -50));
    scan.advance(ms(900));
    scan.input(short("CHB20-0001", Chipper2X, -50));
    scan.advance(Duration::from_secs(2));
    assert_eq!(endings(&scan), vec![(1, "ok"), (2, "ok")]);
}

#[test]
fn cancelling_ends_the_discovery_and_a_second_cancel_changes_nothing() {
    let _snapshots = common::snapshots();
    let mut scan = Harness::new(Scanner::new());
    scan.input(discover(1, DiscoveryConfig::scan()));
    scan.input(short("CHB20-0001", Chipper2X, -50));
    scan.advance(ms(300));
    let out = scan.input(ScannerInput::CancelRequested {
        discovery: DiscoveryId(1),
        call: 1,
    });
    assert_eq!(
        out,
        vec![
            ScannerOutput::CancelAnswered {
                call: 1,
                outcome: CancelOutcome::Cancelled
            },
            ScannerOutput::EndDiscovery {
                discovery: DiscoveryId(1),
                result: Err(readerlink::scanner::DiscoveryError::Cancelled)
            },
            ScannerOutput::StopScan
        ]
    );
    assert_eq!(scan.state(), "idle");
    scan.note("late advertisements and a second cancel are ignored");
    assert!(scan.input(short("CHB20-0001", Chipper2X, -50)).is_empty());
    assert_eq!(
        scan.input(ScannerInput::CancelRequested {
            discovery: DiscoveryId(1),
            call: 2,
        }),
        vec![ScannerOutput::CancelAnswered {
            call: 2,
            outcome: CancelOutcome::AlreadyEnded
        }],
        "the machine answers a cancel of an ended discovery, and nothing else"
    );
    scan.advance(Duration::from_secs(30));
    assert_eq!(endings(&scan), vec![(1, "discovery_cancelled")]);
    insta::assert_snapshot!("scanner_cancel", scan.log());
}

#[test]
fn a_second_discovery_supersedes_the_first_without_restarting_the_scan() {
    let _snapshots = common::snapshots();
    let mut scan = Harness::new(Scanner::new());
    scan.input(discover(
        1,
        DiscoveryConfig::scan().with_timeout(Duration::from_secs(30)),
    ));
    scan.input(short("CHB20-0001", Chipper2X, -50));
    scan.advance(ms(200));
    scan.input(short("WPC32-0001", WisePad3, -60));
    scan.advance(ms(100));
    scan.note("the app starts another discovery before the first one ends");
    let out = scan.input(discover(2, DiscoveryConfig::scan()));
    assert_eq!(
        out,
        vec![ScannerOutput::EndDiscovery {
            discovery: DiscoveryId(1),
            result: Err(readerlink::scanner::DiscoveryError::Superseded)
        }],
        "no StopScan/StartScan: the scan goes on"
    );
    scan.input(short("CHB20-0001", Chipper2X, -50));
    scan.advance(ms(200));
    scan.input(short("WPC32-0001", WisePad3, -60));
    scan.advance(Duration::from_secs(60));
    assert_eq!(
        endings(&scan),
        vec![(1, "discovery_superseded")],
        "the old timeout is gone"
    );
    assert_eq!(
        lists(&scan),
        vec![
            (0, 1, vec!["CHB20-0001".to_owned()]),
            (300, 2, vec!["CHB20-0001".to_owned()]),
            (800, 2, vec!["CHB20-0001".to_owned(), "WPC32-0001".to_owned()]),
            (10_300, 2, vec!["WPC32-0001".to_owned()]),
            (10_800, 2, vec![]),
        ],
        "the held-back update of the first discovery never reaches the second, which starts \
         afresh (and forgets both readers 10 s after they were last heard)"
    );
    insta::assert_snapshot!("scanner_second_discovery_supersedes_first", scan.log());
}

#[test]
fn a_connect_ends_the_discovery_and_connected_readers_are_never_listed() {
    let mut scan = Harness::new(Scanner::new());
    scan.input(ScannerInput::ConnectedReadersChanged {
        serial: SerialNumber::new("STRM2-0001"),
        connected: true,
    });
    scan.input(discover(1, DiscoveryConfig::scan()));
    scan.input(short("STRM2-0001", StripeM2, -40));
    scan.input(short("CHB20-0001", Chipper2X, -50));
    scan.advance(Duration::from_secs(1));
    scan.input(short("WPC32-0001", WisePad3, -60));
    scan.advance(Duration::from_secs(1));
    scan.note("WPC32-0001 gets connected elsewhere: it leaves the list");
    scan.input(ScannerInput::ConnectedReadersChanged {
        serial: SerialNumber::new("WPC32-0001"),
        connected: true,
    });
    scan.input(short("WPC32-0001", WisePad3, -60));
    scan.advance(Duration::from_secs(1));
    assert_eq!(
        lists(&scan),
        vec![
            (0, 1, vec!["CHB20-0001".to_owned()]),
            (1000, 1, vec!["CHB20-0001".to_owned(), "WPC32-0001".to_owned()]),
            (2000, 1, vec!["CHB20-0001".to_owned()]),
        ]
    );
    scan.input(ScannerInput::ConnectStarted {
        serial: SerialNumber::new("CHB20-0001"),
    });
    assert_eq!(endings(&scan), vec![(1, "ok")]);
    assert_eq!(scan.state(), "idle");
}

#[test]
fn list_updates_come_no_more_often_than_the_configured_interval() {
    let interval = Duration::from_millis(500);
    let config = DiscoveryConfig::scan()
        .with_min_update_interval(interval)
        .with_forget_after(Duration::from_millis(300));
    let mut scan = Harness::new(Scanner::new());
    scan.input(discover(1, config));
    // 10 s of churn: every 10 ms a new reader appears, and readers are
    // forgotten 300 ms after their one advertisement — the list changes
    // about 200 times a second.
    let mut changes = 0;
    for i in 0..1000u64 {
        scan.input(short(&format!("R{i:04}"), WisePad3, -60));
        changes += 1;
        scan.advance(ms(10));
    }
    scan.advance(Duration::from_secs(1));
    let updates: Vec<u64> = lists(&scan).iter().map(|(t, ..)| *t).collect();
    let elapsed = scan.now();
    assert!(changes > 900);
    assert!(
        updates.len() as u64 <= elapsed / 500 + 1,
        "{} updates in {elapsed} ms",
        updates.len()
    );
    assert!(
        updates.windows(2).all(|w| w[1] - w[0] >= 500),
        "updates closer than the interval: {updates:?}"
    );
    assert!(
        updates.len() >= 20,
        "but it does keep reporting: {}",
        updates.len()
    );
    assert_eq!(
        reported(&scan).last().unwrap().len(),
        0,
        "and the last list is empty once all are forgotten"
    );
}

#[test]
fn a_failed_scan_or_a_powered_off_adapter_ends_the_discovery_not_stuck() {
    let mut scan = Harness::new(Scanner::new());
    scan.input(discover(1, DiscoveryConfig::scan()));
    let no_adapter = || readerlink::transport::TransportError::AdapterUnavailable("no adapter".into());
    scan.input(ScannerInput::ScanFailed {
        scan: 1,
        error: no_adapter(),
    });
    assert_eq!(scan.state(), "idle");
    scan.input(discover(2, DiscoveryConfig::proximity()));
    scan.input(ScannerInput::AdapterPowerChanged { powered: false });
    assert_eq!(scan.state(), "idle");
    assert_eq!(
        endings(&scan),
        vec![
            (1, "discovery_transport_failed"),
            (2, "discovery_transport_failed")
        ]
    );
    scan.input(discover(3, DiscoveryConfig::scan()));
    assert_eq!(scan.state(), "scanning", "a new discovery starts at once");
    assert_eq!(
        scan.outputs().last().map(|(_, o)| o),
        Some(&ScannerOutput::StartScan { scan: 3 })
    );
    scan.input(ScannerInput::ScanFailed {
        scan: 2,
        error: no_adapter(),
    });
    assert_eq!(
        scan.state(),
        "scanning",
        "a late failure of an earlier scan ends nothing"
    );
}
