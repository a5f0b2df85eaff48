//! A simulated reader driven only through the `Transport` trait with raw
//! frames: it is heard advertising, answers hello with its info, flashes on
//! identify and reports its battery.

mod common;
mod sim_support;

use std::time::Duration;

use futures::StreamExt;
use readerlink::protocol::{Command, ReaderMessage, RebootKind, Slot};
use readerlink::reader::{BatteryStatus, DeviceType};
use readerlink::transport::sim::reader::{BATTERY_REPORT_MS, SLEEP_AFTER_MS};
use readerlink::transport::sim::{SimTransport, SimWorld};
use readerlink::transport::{ScanEvent, Transport};
use sim_support::{Central, serial};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn the_scan_hears_every_reader_first_short_then_with_battery_and_version() {
    common::init_tracing();
    let world = SimWorld::example();
    let transport = SimTransport::new(world.clone());
    let mut scan = transport.scan().await.unwrap();
    let mut first = std::collections::BTreeMap::new();
    let mut long = std::collections::BTreeMap::new();
    while long.len() < 4 {
        let Some(ScanEvent::AdvertisementSeen(ad)) = scan.next().await else {
            panic!("the scan ended")
        };
        first.entry(ad.peripheral.clone()).or_insert_with(|| ad.clone());
        if ad.reader.battery_percent.is_some() {
            long.entry(ad.peripheral.clone()).or_insert(ad);
        }
    }
    for ad in first.values() {
        assert_eq!(
            ad.reader.battery_percent, None,
            "the advertisement comes first, short"
        );
    }
    let m2 = &long["STRM2-0001"];
    assert_eq!(m2.reader.device_type, DeviceType::StripeM2);
    assert_eq!(m2.reader.battery_percent, Some(93));
    assert_eq!(m2.reader.software_version.as_deref(), Some("3.1.0"));
    // The Chipper at 0.5 m is louder than the one at 4 m.
    assert!(long["CHB20-0001"].rssi > long["CHB20-0002"].rssi + 10);
    transport.stop_scan().await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(1), async {
            while scan.next().await.is_some() {}
        })
        .await
        .is_ok(),
        "stop_scan ends the stream"
    );
}

#[tokio::test(start_paused = true)]
async fn hello_is_answered_with_the_readers_info_in_tens_of_milliseconds() {
    let world = SimWorld::example();
    let transport = world.transport();
    let mut central = Central::connect(&transport, "WPC32-0001").await;
    assert_eq!(
        central.link.att_payload, 185,
        "a WisePad 3 negotiates 185-byte payloads"
    );
    let asked = Instant::now();
    let answer = central.request(Command::Hello).await.unwrap();
    let took = asked.elapsed();
    println!(
        "hello answered in {took:?} at {}-byte payloads",
        central.link.att_payload
    );
    let ReaderMessage::ReaderInfo { info, .. } = answer else {
        panic!("hello answered with {answer:?}")
    };
    assert_eq!(info.serial_number, serial("WPC32-0001"));
    assert_eq!(info.device_type, DeviceType::WisePad3);
    assert_eq!(info.software_version, "2.4.1");
    assert_eq!(info.active_slot, Slot::A);
    assert_eq!(info.battery.status, BatteryStatus::Nominal);
    assert!(!info.battery.charging);
    assert!(
        took >= Duration::from_millis(10) && took < Duration::from_millis(100),
        "hello took {took:?}"
    );
    assert!(world.reader_state(&serial("WPC32-0001")).unwrap().connected);
}

#[tokio::test(start_paused = true)]
async fn identify_flashes_the_leds_for_the_duration_asked() {
    let world = SimWorld::example();
    let mut central = Central::connect_in(&world, "CHB20-0001").await;
    assert_eq!(
        central.link.att_payload, 20,
        "a Chipper 2X stays at the default payload"
    );
    let asked = Instant::now();
    let hello = central.request(Command::Hello).await;
    let took = asked.elapsed();
    assert!(matches!(hello, Some(ReaderMessage::ReaderInfo { .. })));
    println!("hello answered in {took:?} at 20-byte payloads");
    assert!(took < Duration::from_millis(100), "hello took {took:?}");
    let answer = central
        .request(Command::Identify { duration_ms: 2000 })
        .await
        .unwrap();
    assert!(matches!(answer, ReaderMessage::Ack { .. }), "{answer:?}");
    let state = world.reader_state(&serial("CHB20-0001")).unwrap();
    assert_eq!(state.identify_count, 1);
    assert!(state.flashing);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(!world.reader_state(&serial("CHB20-0001")).unwrap().flashing);
}

#[tokio::test(start_paused = true)]
async fn the_battery_is_reported_on_request_and_every_ten_minutes() {
    let world = SimWorld::example();
    let mut central = Central::connect_in(&world, "STRM2-0001").await;
    let answer = central.request(Command::ReadBattery).await.unwrap();
    let ReaderMessage::BatteryLevel { battery, .. } = answer else {
        panic!("read battery answered with {answer:?}")
    };
    assert!((battery.level - 0.93).abs() < 0.001, "{battery:?}");
    assert!(battery.charging);
    let start = Instant::now();
    let report = central.next_message().await.unwrap();
    assert!(
        matches!(report, ReaderMessage::BatteryReport { .. }),
        "{report:?}"
    );
    let after = start.elapsed();
    assert!(
        after <= Duration::from_millis(BATTERY_REPORT_MS + 50),
        "first report after {after:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_idle_reader_sleeps_connected_and_wakes_on_the_next_command() {
    let world = SimWorld::example();
    let m2 = serial("STRM2-0001");
    let mut central = Central::connect_in(&world, "STRM2-0001").await;
    central.request(Command::Hello).await.unwrap();
    tokio::time::sleep(Duration::from_millis(SLEEP_AFTER_MS + 1000)).await;
    let state = world.reader_state(&m2).unwrap();
    assert!(
        state.asleep && state.connected,
        "asleep but still connected (R7): {state:?}"
    );
    let asked = Instant::now();
    let answer = central.request(Command::Hello).await.unwrap();
    assert!(matches!(answer, ReaderMessage::ReaderInfo { .. }));
    assert!(
        asked.elapsed() >= Duration::from_millis(50),
        "waking takes a little longer"
    );
    assert!(!world.reader_state(&m2).unwrap().asleep);
    // And the explicit commands.
    assert!(matches!(
        central.request(Command::Sleep).await,
        Some(ReaderMessage::Ack { .. })
    ));
    assert!(world.reader_state(&m2).unwrap().asleep);
    assert!(matches!(
        central.request(Command::Wake).await,
        Some(ReaderMessage::Ack { .. })
    ));
    assert!(!world.reader_state(&m2).unwrap().asleep);
}

#[tokio::test(start_paused = true)]
async fn cards_inserted_and_removed_are_notified() {
    let world = SimWorld::example();
    let m2 = serial("STRM2-0001");
    let mut central = Central::connect_in(&world, "STRM2-0001").await;
    world.insert_card(&m2).unwrap();
    assert_eq!(central.next_message().await, Some(ReaderMessage::CardInserted));
    world.remove_card(&m2).unwrap();
    assert_eq!(central.next_message().await, Some(ReaderMessage::CardRemoved));
}

#[tokio::test(start_paused = true)]
async fn a_reboot_is_acknowledged_then_the_reader_says_why_and_drops_the_link() {
    let world = SimWorld::example();
    let mut central = Central::connect_in(&world, "WPC32-0001").await;
    let id = central
        .send(Command::Reboot {
            kind: RebootKind::Requested,
        })
        .await;
    let (said, lost) = central.until_lost().await;
    assert_eq!(
        said,
        vec![
            ReaderMessage::Ack { request_id: id },
            ReaderMessage::Disconnecting {
                reason: readerlink::reader::DisconnectReason::RebootRequested
            }
        ]
    );
    assert_eq!(lost, Some(readerlink::transport::LinkLossCause::RemoteClosed));
    assert!(world.reader_state(&serial("WPC32-0001")).unwrap().booting);
    // It comes back and can be connected again.
    let mut again = Central::connect_in(&world, "WPC32-0001").await;
    assert!(matches!(
        again.request(Command::Hello).await,
        Some(ReaderMessage::ReaderInfo { .. })
    ));
}
