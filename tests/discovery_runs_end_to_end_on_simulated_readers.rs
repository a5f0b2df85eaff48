//! The scanner actor over the simulated transport, on a paused clock:
//! advertisements come from simulated readers, lists reach the caller's
//! stream, the identify command reaches the found reader over the wire
//! protocol (R1–R5).

mod common;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use readerlink::cancelable::CancelOutcome;
use readerlink::reader::{DeviceType, Reader, SerialNumber};
use readerlink::runtime::{Clock, Tracer, fmt_ms, virtual_time_system};
use readerlink::scanner::{DiscoveryConfig, DiscoveryError, DiscoveryUpdate, ScannerHandle};
use readerlink::transport::sim::{ReaderSpec, SimWorld};

fn reader(serial: &str, device_type: DeviceType, distance_m: f32) -> ReaderSpec {
    ReaderSpec {
        distance_m,
        ..ReaderSpec::new(serial, device_type, "1.2.3")
    }
}

/// One line per update: time, then each reader as serial, model and the
/// details it carries (RSSI left out: it jitters by seed).
fn describe(clock: &Clock, update: &DiscoveryUpdate, log: &mut String) {
    let t = fmt_ms(clock.now_ms());
    match update {
        DiscoveryUpdate::ReadersUpdated(readers) => {
            let readers: Vec<String> = readers.iter().map(short).collect();
            let _ = writeln!(log, "{t:>9}  readers [{}]", readers.join(", "));
        }
        DiscoveryUpdate::Finished(result) => {
            let _ = writeln!(
                log,
                "{t:>9}  finished {:?}",
                result.as_ref().map_err(DiscoveryError::code)
            );
        }
        other => {
            let _ = writeln!(log, "{t:>9}  {other:?}");
        }
    }
}

fn short(r: &Reader) -> String {
    let mut s = format!("{} {}", r.serial_number, r.device_type);
    if let Some(v) = &r.software_version {
        let _ = write!(s, " v{v}");
    }
    if let Some(b) = &r.battery {
        let _ = write!(s, " {:.0}%", b.level * 100.0);
    }
    s
}

#[test]
fn a_scan_over_simulated_readers_lists_all_three_and_ends_on_its_timeout() {
    let _snapshots = common::snapshots();
    let log = virtual_time_system().block_on(async {
        let world = SimWorld::with_readers(vec![
            reader("CHB20-0001", DeviceType::Chipper2X, 0.5),
            reader("WPC32-0001", DeviceType::WisePad3, 2.0),
            reader("STRM2-0001", DeviceType::StripeM2, 1.2),
        ]);
        let clock = Clock::start();
        let scanner = ScannerHandle::start(Arc::new(world.transport()), Tracer::off(), clock);
        let discovering = scanner.discovering();
        assert!(!*discovering.borrow());

        let discovery = scanner
            .discover(DiscoveryConfig::scan().with_timeout(Duration::from_secs(5)))
            .await;
        let mut updates = discovery.updates;
        let mut log = String::new();
        let mut last = Vec::new();
        let mut was_discovering = false;
        while let Some(update) = updates.next().await {
            was_discovering |= *discovering.borrow();
            describe(&clock, &update, &mut log);
            match update {
                DiscoveryUpdate::ReadersUpdated(readers) => last = readers,
                DiscoveryUpdate::Finished(result) => assert_eq!(result, Ok(())),
                other => panic!("an update this test does not know: {other:?}"),
            }
        }
        assert!(was_discovering, "Discovering while it ran (R2)");
        assert!(!*discovering.borrow(), "and not after: never stuck busy");
        let mut serials: Vec<_> = last.iter().map(|r| r.serial_number.to_string()).collect();
        serials.sort();
        assert_eq!(serials, ["CHB20-0001", "STRM2-0001", "WPC32-0001"]);
        assert!(
            last.iter().all(|r| r.battery.is_some()),
            "details from the scan responses"
        );
        assert_eq!(
            last[0].serial_number.as_str(),
            "CHB20-0001",
            "loudest first: the nearest"
        );
        let found = scanner.reader(&SerialNumber::new("WPC32-0001")).await.unwrap();
        assert_eq!(
            found.peripheral,
            last.iter()
                .find(|r| r.serial_number == found.serial_number)
                .unwrap()
                .peripheral
        );
        assert_eq!(clock.now_ms(), 5_000, "5 virtual seconds, no real ones");
        assert_eq!(discovery.cancelable.cancel().await, CancelOutcome::AlreadyEnded);
        log
    });
    insta::assert_snapshot!("scanner_e2e_scan_finds_three_readers", log);
}

#[test]
fn proximity_over_simulated_readers_flashes_the_nearest_chipper_only() {
    let _snapshots = common::snapshots();
    let log = virtual_time_system().block_on(async {
        let world = SimWorld::with_readers(vec![
            reader("CHB20-0001", DeviceType::Chipper2X, 0.5),
            reader("CHB20-0002", DeviceType::Chipper2X, 4.0),
            reader("WPC32-0001", DeviceType::WisePad3, 0.2),
        ]);
        let clock = Clock::start();
        let scanner = ScannerHandle::start(Arc::new(world.transport()), Tracer::off(), clock);
        let discovery = scanner.discover(DiscoveryConfig::proximity()).await;
        let mut updates = discovery.updates;
        let mut log = String::new();
        let mut lists = Vec::new();
        while lists.len() < 2 {
            let update = updates.next().await.expect("the discovery runs on");
            describe(&clock, &update, &mut log);
            if let DiscoveryUpdate::ReadersUpdated(readers) = update {
                lists.push(readers);
            }
        }
        assert_eq!(lists[0].len(), 1);
        assert_eq!(lists[0][0].serial_number.as_str(), "CHB20-0001");
        assert!(lists[0][0].battery.is_none(), "first with the serial only");
        assert_eq!(lists[1][0].serial_number.as_str(), "CHB20-0001");
        assert!(lists[1][0].battery.is_some(), "then with the battery");

        tokio::time::sleep(Duration::from_secs(5)).await;
        let state = |serial: &str| world.reader_state(&SerialNumber::new(serial)).unwrap();
        assert_eq!(state("CHB20-0001").identify_count, 1, "the found reader flashed");
        assert_eq!(state("CHB20-0002").identify_count, 0);
        assert_eq!(state("WPC32-0001").identify_count, 0);
        assert!(!state("CHB20-0001").connected, "identify disconnects again");

        assert_eq!(discovery.cancelable.cancel().await, CancelOutcome::Cancelled);
        while let Some(update) = updates.next().await {
            describe(&clock, &update, &mut log);
            assert!(
                matches!(update, DiscoveryUpdate::Finished(Err(DiscoveryError::Cancelled))),
                "no third list while it stuck to CHB20-0001: {update:?}"
            );
        }
        assert_eq!(discovery.cancelable.cancel().await, CancelOutcome::AlreadyEnded);
        assert!(!*scanner.discovering().borrow());
        log
    });
    insta::assert_snapshot!("scanner_e2e_proximity_flashes_nearest_chipper", log);
}

#[test]
fn a_new_discovery_supersedes_the_running_one_through_the_handle() {
    virtual_time_system().block_on(async {
        let world = SimWorld::with_readers(vec![reader("CHB20-0001", DeviceType::Chipper2X, 1.0)]);
        let scanner = ScannerHandle::start(Arc::new(world.transport()), Tracer::off(), Clock::start());
        let first = scanner.discover(DiscoveryConfig::scan()).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let second = scanner
            .discover(DiscoveryConfig::scan().with_timeout(Duration::from_secs(2)))
            .await;
        let first: Vec<_> = first.updates.collect().await;
        assert_eq!(
            first.last(),
            Some(&DiscoveryUpdate::Finished(Err(DiscoveryError::Superseded)))
        );
        let second: Vec<_> = second.updates.collect().await;
        assert!(matches!(second.first(), Some(DiscoveryUpdate::ReadersUpdated(r)) if r.len() == 1));
        assert_eq!(second.last(), Some(&DiscoveryUpdate::Finished(Ok(()))));

        scanner.set_connected(SerialNumber::new("CHB20-0001"), true);
        let third: Vec<_> = scanner
            .discover(DiscoveryConfig::scan().with_timeout(Duration::from_secs(2)))
            .await
            .updates
            .collect()
            .await;
        assert_eq!(
            third,
            vec![DiscoveryUpdate::Finished(Err(DiscoveryError::ScanTimedOut))],
            "a connected reader is never listed"
        );
    });
}

#[test]
fn a_recorded_proximity_discovery_replays_the_scanner_exactly() {
    use readerlink::runtime::{ReplayOutcome, Trace, TraceHeader, replay_machine};
    use readerlink::scanner::Scanner;

    let text = virtual_time_system().block_on(async {
        let world = SimWorld::with_readers(vec![
            reader("CHB20-0001", DeviceType::Chipper2X, 0.5),
            reader("CHB20-0002", DeviceType::Chipper2X, 4.0),
        ]);
        let tracer = Tracer::memory(TraceHeader::new(
            world.seed(),
            serde_json::json!({ "test": "proximity" }),
        ));
        let scanner = ScannerHandle::start(Arc::new(world.transport()), tracer.clone(), Clock::start());
        let discovery = scanner
            .discover(DiscoveryConfig::proximity().with_timeout(Duration::from_secs(4)))
            .await;
        let updates: Vec<_> = discovery.updates.collect().await;
        assert_eq!(updates.last(), Some(&DiscoveryUpdate::Finished(Ok(()))));
        tracer.contents()
    });
    let trace = Trace::parse(&text).expect("the trace validates");
    match replay_machine(&trace, "scanner", Scanner::new).unwrap() {
        ReplayOutcome::Reproduced { inputs, steps } => {
            assert!(inputs > 10 && steps > 10, "{inputs} inputs, {steps} steps")
        }
        ReplayOutcome::Diverged(d) => panic!("{d}"),
    }
    let identify_steps: Vec<&str> = trace
        .records
        .iter()
        .filter_map(|r| match &r.body {
            readerlink::runtime::RecordBody::Input { source, event, .. } if source == "effect" => {
                Some(event.as_ref())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        identify_steps,
        ["IdentifySent", "IdentifyFinished"],
        "the identify effect reported each step back as an input, in order"
    );
}

#[test]
fn dropping_a_discovery_without_cancelling_it_stops_the_scan() {
    virtual_time_system().block_on(async {
        let world = SimWorld::with_readers(vec![reader("CHB20-0001", DeviceType::Chipper2X, 1.0)]);
        let scanner = ScannerHandle::start(Arc::new(world.transport()), Tracer::off(), Clock::start());
        let discovery = scanner.discover(DiscoveryConfig::scan()).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(*scanner.discovering().borrow());
        let cancelable = discovery.cancelable.clone();
        drop(discovery);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!*scanner.discovering().borrow(), "not left Discovering for ever");
        assert_eq!(cancelable.cancel().await, CancelOutcome::AlreadyEnded);
    });
}

#[test]
fn proximity_moves_on_to_the_next_chipper_when_the_found_one_is_powered_off() {
    virtual_time_system().block_on(async {
        let world = SimWorld::with_readers(vec![
            reader("CHB20-0001", DeviceType::Chipper2X, 0.5),
            reader("CHB20-0002", DeviceType::Chipper2X, 3.0),
        ]);
        let clock = Clock::start();
        let scanner = ScannerHandle::start(Arc::new(world.transport()), Tracer::off(), clock);
        let discovery = scanner.discover(DiscoveryConfig::proximity()).await;
        let mut updates = discovery.updates;
        let mut next_list = async || match updates.next().await {
            Some(DiscoveryUpdate::ReadersUpdated(readers)) => readers
                .iter()
                .map(|r| (r.serial_number.to_string(), r.battery.is_some()))
                .collect::<Vec<_>>(),
            other => panic!("expected a list, got {other:?}"),
        };
        assert_eq!(next_list().await, [("CHB20-0001".to_owned(), false)]);
        assert_eq!(next_list().await, [("CHB20-0001".to_owned(), true)]);
        tokio::time::sleep(Duration::from_secs(2)).await;
        world.power_off(&SerialNumber::new("CHB20-0001")).unwrap();
        let off_at = clock.now_ms();
        assert_eq!(next_list().await, [], "given up once not heard for forget_after");
        let gone_after = clock.now_ms() - off_at;
        assert!((9_000..=11_000).contains(&gone_after), "{gone_after} ms");
        assert_eq!(next_list().await, [("CHB20-0002".to_owned(), false)]);
        assert_eq!(next_list().await, [("CHB20-0002".to_owned(), true)]);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let identified = |serial: &str| {
            world
                .reader_state(&SerialNumber::new(serial))
                .unwrap()
                .identify_count
        };
        assert_eq!((identified("CHB20-0001"), identified("CHB20-0002")), (1, 1));
        discovery.cancelable.cancel().await;
    });
}
