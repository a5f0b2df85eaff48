//! The btleplug transport against a BlueZ stand-in on a private D-Bus
//! (python-dbusmock; see `tests/bluez/`): scanning, connecting, writes and
//! notifications, and how links end. Real IO, so real time; the fixtures run
//! one at a time. Skipped, with a message, where `dbus-daemon` or
//! python3-dbusmock is not installed.
#![cfg(feature = "ble")]

mod bluez;
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bluez::{BluezFixture, ReaderPipe, ReaderSpec};
use futures::StreamExt;
use futures::stream::BoxStream;
use readerlink::protocol::{Command, ReaderMessage, Reassembler, Request, fragment};
use readerlink::reader::{DeviceType, DisconnectReason, SerialNumber};
use readerlink::transport::ble::{AdapterChoice, BleTransport};
use readerlink::transport::sim::{ReaderSpec as SimReaderSpec, SimWorld};
use readerlink::transport::{
    Advertisement, Link, LinkEvent, LinkLossCause, MANUFACTURER_ID, SERVICE_UUID, ScanEvent, Transport,
    TransportError,
};

const LIMIT: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(10);

async fn next<T>(stream: &mut BoxStream<'static, T>, what: &str) -> T {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .unwrap_or_else(|_| panic!("waited {WAIT:?} for {what}"))
        .unwrap_or_else(|| panic!("the stream ended before {what}"))
}

/// Collects advertisements, by serial, until `serials` were all seen.
async fn advertisements_until(
    scan: &mut BoxStream<'static, ScanEvent>,
    serials: &[&str],
) -> BTreeMap<String, Advertisement> {
    let mut seen = BTreeMap::new();
    while !serials.iter().all(|serial| seen.contains_key(*serial)) {
        match next(scan, "advertisements").await {
            ScanEvent::AdvertisementSeen(ad) => {
                seen.insert(ad.reader.serial_number.as_str().to_owned(), ad);
            }
            other => panic!("unexpected scan event {other:?}"),
        }
    }
    seen
}

async fn notification(events: &mut BoxStream<'static, LinkEvent>) -> Vec<u8> {
    match next(events, "a notification").await {
        LinkEvent::NotificationReceived(bytes) => bytes,
        other => panic!("expected a notification, got {other:?}"),
    }
}

async fn transport() -> BleTransport {
    BleTransport::new(AdapterChoice::First)
        .await
        .expect("the stand-in's adapter")
}

#[test]
fn a_scan_finds_readers_by_their_manufacturer_data_and_ignores_other_devices() {
    common::init_tracing();
    let Some(bluez) = BluezFixture::start() else {
        return;
    };
    let m2 = bluez.add_reader("STRM2-0001", DeviceType::StripeM2, -52);
    let beacon = bluez.add_other_device("iBeacon", 0x004C, vec![0x02, 0x15, 0x01]);
    let squatter = bluez.add_other_device("Squatter", MANUFACTURER_ID, b"not ours".to_vec());
    bluez.run(LIMIT, async {
        let ble = transport().await;
        assert_eq!(ble.adapter_name(), "hci0");
        let mut scan = ble.scan().await.unwrap();
        assert_eq!(bluez.discovery_filter_uuids(), vec![SERVICE_UUID.to_string()]);
        let seen = advertisements_until(&mut scan, &["STRM2-0001"]).await;
        let ad = &seen["STRM2-0001"];
        assert_eq!(ad.peripheral, m2);
        assert_eq!(ad.rssi, -52);
        assert_eq!(ad.local_name.as_deref(), Some("STRM2-0001"));
        assert_eq!(ad.reader.device_type, DeviceType::StripeM2);

        // A reader heard after the scan started is reported too, with the
        // battery of its long-form advertisement.
        let chipper = bluez.add_reader_with(ReaderSpec {
            serial: SerialNumber::new("CHB20-0002"),
            device_type: DeviceType::Chipper2X,
            rssi: -70,
            battery_percent: Some(64),
            mtu: bluez::MTU,
        });
        let seen = advertisements_until(&mut scan, &["CHB20-0002"]).await;
        assert_eq!(seen["CHB20-0002"].peripheral, chipper);
        assert_eq!(seen["CHB20-0002"].reader.battery_percent, Some(64));
        assert!(
            seen.values()
                .all(|ad| ad.peripheral != beacon && ad.peripheral != squatter),
            "a device that is not a reader was reported: {seen:?}"
        );
        ble.stop_scan().await.unwrap();
    });
}

#[test]
fn a_named_adapter_that_does_not_exist_is_unavailable() {
    let Some(bluez) = BluezFixture::start() else {
        return;
    };
    bluez.run(LIMIT, async {
        assert!(
            BleTransport::new(AdapterChoice::Named("hci0".into()))
                .await
                .is_ok()
        );
        let missing = BleTransport::new(AdapterChoice::Named("hci7".into()))
            .await
            .unwrap_err();
        assert_eq!(
            missing,
            TransportError::AdapterUnavailable("no Bluetooth adapter named `hci7`".into())
        );
    });
}

#[test]
fn connecting_discovers_the_service_subscribes_and_carries_writes_and_notifications() {
    common::init_tracing();
    let Some(bluez) = BluezFixture::start() else {
        return;
    };
    let m2 = bluez.add_reader("STRM2-0003", DeviceType::StripeM2, -50);
    bluez.attach_peer("STRM2-0003", ReaderPipe::echo());
    bluez.run(LIMIT, async {
        let ble = transport().await;
        let mut link = ble.connect(&m2).await.unwrap();
        assert_eq!(link.peripheral, m2);
        assert_eq!(link.att_payload, 244, "MTU 247 less the ATT header");
        assert!(bluez.is_connected("STRM2-0003"));
        assert_eq!(bluez.event_characteristic_calls("STRM2-0003", "StartNotify"), 1);

        link.writer.write(vec![0x01, 0x02, 0x03]).await.unwrap();
        assert_eq!(notification(&mut link.events).await, vec![0x01, 0x02, 0x03]);
        let writes = bluez.writes("STRM2-0003");
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].value, vec![0x01, 0x02, 0x03]);
        assert_eq!(
            writes[0].write_type.as_deref(),
            Some("command"),
            "write without response"
        );

        // A notification the reader sends on its own.
        bluez.notify("STRM2-0003", vec![0xAA; 20]);
        assert_eq!(notification(&mut link.events).await, vec![0xAA; 20]);
    });
}

#[test]
fn connecting_to_a_device_without_the_reader_service_fails() {
    let Some(bluez) = BluezFixture::start() else {
        return;
    };
    let other = bluez.add_other_device("Thermometer", 0x0059, vec![1, 2]);
    bluez.run(LIMIT, async {
        let ble = transport().await;
        assert_eq!(
            ble.connect(&other).await.unwrap_err(),
            TransportError::ServiceMissing(other.clone())
        );
        let unknown = "hci0/dev_00_00_00_00_00_00".to_owned();
        assert_eq!(
            ble.connect(&unknown).await.unwrap_err(),
            TransportError::UnknownPeripheral(unknown.clone())
        );
    });
}

#[test]
fn a_dropped_link_ends_the_event_stream_with_signal_lost() {
    common::init_tracing();
    let Some(bluez) = BluezFixture::start() else {
        return;
    };
    let wp3 = bluez.add_reader("WPC32-0004", DeviceType::WisePad3, -60);
    bluez.run(LIMIT, async {
        let ble = transport().await;
        let mut link = ble.connect(&wp3).await.unwrap();
        bluez.drop_link("WPC32-0004");
        assert_eq!(
            next(&mut link.events, "the link's loss").await,
            LinkEvent::LinkLost(LinkLossCause::SignalLost)
        );
        assert!(link.events.next().await.is_none(), "no event follows the loss");
        assert_eq!(
            link.writer.write(vec![1]).await.unwrap_err(),
            TransportError::LinkDown(wp3.clone())
        );
        // The reader can be connected again.
        let mut again = ble.connect(&wp3).await.unwrap();
        bluez.notify("WPC32-0004", vec![7]);
        assert_eq!(notification(&mut again.events).await, vec![7]);
    });
}

#[test]
fn powering_the_adapter_off_ends_links_and_tells_the_scan() {
    common::init_tracing();
    let Some(bluez) = BluezFixture::start() else {
        return;
    };
    let m2 = bluez.add_reader("STRM2-0005", DeviceType::StripeM2, -45);
    bluez.run(LIMIT, async {
        let ble = transport().await;
        let mut link = ble.connect(&m2).await.unwrap();
        let mut scan = ble.scan().await.unwrap();
        advertisements_until(&mut scan, &["STRM2-0005"]).await;

        bluez.power_off_adapter();
        assert_eq!(
            next(&mut link.events, "the link's loss").await,
            LinkEvent::LinkLost(LinkLossCause::AdapterPoweredOff)
        );
        loop {
            match next(&mut scan, "the adapter's power change").await {
                ScanEvent::AdapterPowerChanged { powered } => {
                    assert!(!powered, "the adapter was on all along");
                    break;
                }
                ScanEvent::AdvertisementSeen(_) => {}
            }
        }
        assert!(matches!(
            ble.connect(&m2).await.unwrap_err(),
            TransportError::AdapterUnavailable(_)
        ));
        assert!(matches!(
            ble.scan().await.err(),
            Some(TransportError::AdapterUnavailable(_))
        ));
    });
}

#[test]
fn disconnecting_ends_the_link_as_locally_closed() {
    let Some(bluez) = BluezFixture::start() else {
        return;
    };
    let m2 = bluez.add_reader("STRM2-0006", DeviceType::StripeM2, -45);
    bluez.run(LIMIT, async {
        let ble = transport().await;
        let mut link = ble.connect(&m2).await.unwrap();
        link.writer.disconnect().await.unwrap();
        assert_eq!(
            next(&mut link.events, "the link's end").await,
            LinkEvent::LinkLost(LinkLossCause::LocalClosed)
        );
        assert!(!bluez.is_connected("STRM2-0006"));
    });
}

#[test]
fn dropping_a_links_event_stream_closes_the_link() {
    let Some(bluez) = BluezFixture::start() else {
        return;
    };
    let m2 = bluez.add_reader("STRM2-0007", DeviceType::StripeM2, -45);
    bluez.run(LIMIT, async {
        let ble = transport().await;
        let link = ble.connect(&m2).await.unwrap();
        assert!(bluez.is_connected("STRM2-0007"));
        drop(link.events);
        assert!(
            tokio::task::block_in_place(|| bluez.wait_until_disconnected("STRM2-0007", WAIT)),
            "the link stayed open"
        );
        assert_eq!(
            link.writer.write(vec![1]).await.unwrap_err(),
            TransportError::LinkDown(m2.clone())
        );
    });
}

/// The app's side of the wire protocol over a link: whole frames out,
/// fragmented to the link's ATT payload; whole frames in, reassembled.
struct Conversation {
    link: Link,
    reassembler: Reassembler,
}

impl Conversation {
    fn new(link: Link) -> Self {
        Self {
            link,
            reassembler: Reassembler::new(),
        }
    }

    async fn send(&self, request_id: u16, command: Command) {
        for payload in fragment(&Request::new(request_id, command).encode(), self.link.att_payload) {
            self.link.writer.write(payload).await.unwrap();
        }
    }

    async fn receive(&mut self) -> ReaderMessage {
        loop {
            match next(&mut self.link.events, "a message from the reader").await {
                LinkEvent::NotificationReceived(payload) => {
                    if let Some(frame) = self.reassembler.push(&payload).unwrap() {
                        return ReaderMessage::decode(&frame).unwrap();
                    }
                }
                LinkEvent::LinkLost(cause) => {
                    panic!("the link was lost ({cause:?}) while waiting for a message")
                }
            }
        }
    }
}

#[test]
fn a_simulated_reader_is_found_answers_hello_and_identify_and_reports_its_battery_through_bluez() {
    common::init_tracing();
    let Some(bluez) = BluezFixture::start() else {
        return;
    };
    bluez.run(LIMIT, async {
        let spec = SimReaderSpec::new("WPC32-0100", DeviceType::WisePad3, "3.1.0");
        let serial = spec.serial.clone();
        let world = SimWorld::with_readers(vec![spec.clone()]);
        let wisepad = bluez.add_sim_reader(&world, &spec);
        let ble = transport().await;

        let mut scan = ble.scan().await.unwrap();
        let seen = advertisements_until(&mut scan, &["WPC32-0100"]).await;
        assert_eq!(seen["WPC32-0100"].peripheral, wisepad);
        assert_eq!(seen["WPC32-0100"].reader.device_type, DeviceType::WisePad3);
        assert_eq!(seen["WPC32-0100"].reader.battery_percent, Some(80));
        ble.stop_scan().await.unwrap();

        let link = ble.connect(&wisepad).await.unwrap();
        assert_eq!(link.att_payload, 185, "the WisePad 3's ATT payload, from its MTU");
        let mut reader = Conversation::new(link);

        let asked = tokio::time::Instant::now();
        reader.send(1, Command::Hello).await;
        let answer = reader.receive().await;
        eprintln!(
            "hello → reader info through btleplug and the BlueZ stand-in: {:?}",
            asked.elapsed()
        );
        match answer {
            ReaderMessage::ReaderInfo { request_id, info } => {
                assert_eq!(request_id, 1);
                assert_eq!(info.serial_number, serial);
                assert_eq!(info.device_type, DeviceType::WisePad3);
                assert_eq!(info.software_version, "3.1.0");
                assert!(
                    (info.battery.level - 0.8).abs() < 0.01,
                    "battery {:?}",
                    info.battery
                );
            }
            other => panic!("expected the reader's info, got {other:?}"),
        }
        assert!(world.reader_state(&serial).unwrap().connected);

        reader.send(2, Command::Identify { duration_ms: 5000 }).await;
        assert_eq!(reader.receive().await, ReaderMessage::Ack { request_id: 2 });
        let state = world.reader_state(&serial).unwrap();
        assert_eq!(state.identify_count, 1);
        assert!(state.flashing, "the LEDs flash");

        world.set_charging(&serial, true).unwrap();
        match reader.receive().await {
            ReaderMessage::BatteryReport { battery } => assert!(battery.charging),
            other => panic!("expected a battery report, got {other:?}"),
        }
    });
}

#[test]
fn a_simulated_reader_that_reboots_says_so_and_its_link_is_lost() {
    common::init_tracing();
    let Some(bluez) = BluezFixture::start() else {
        return;
    };
    bluez.run(LIMIT, async {
        let spec = SimReaderSpec::new("STRM2-0101", DeviceType::StripeM2, "2.4.1");
        let world = SimWorld::with_readers(vec![spec.clone()]);
        let m2 = bluez.add_sim_reader(&world, &spec);
        let ble = transport().await;
        let link = ble.connect(&m2).await.unwrap();
        assert_eq!(link.att_payload, 244);
        let mut reader = Conversation::new(link);
        reader
            .send(
                1,
                Command::Reboot {
                    kind: readerlink::protocol::RebootKind::Requested,
                },
            )
            .await;
        assert_eq!(reader.receive().await, ReaderMessage::Ack { request_id: 1 });
        assert_eq!(
            reader.receive().await,
            ReaderMessage::Disconnecting {
                reason: DisconnectReason::RebootRequested
            }
        );
        // BlueZ does not say who ended the link; the reader's notification
        // did.
        assert_eq!(
            next(&mut reader.link.events, "the link's loss").await,
            LinkEvent::LinkLost(LinkLossCause::SignalLost)
        );
        assert!(!bluez.is_connected("STRM2-0101"));
    });
}

#[test]
fn a_simulated_reader_out_of_range_loses_its_link_after_the_supervision_timeout() {
    let Some(bluez) = BluezFixture::start() else {
        return;
    };
    bluez.run(LIMIT, async {
        let spec = SimReaderSpec::new("CHB20-0102", DeviceType::Chipper2X, "1.0.0");
        let serial = spec.serial.clone();
        let world = SimWorld::with_readers(vec![spec.clone()]);
        let chipper = bluez.add_sim_reader(&world, &spec);
        let ble = transport().await;
        let mut link = ble.connect(&chipper).await.unwrap();
        assert_eq!(link.att_payload, 20, "the Chipper 2X keeps the default MTU");
        let started = tokio::time::Instant::now();
        world.lose_link(&serial, None).unwrap();
        assert_eq!(
            next(&mut link.events, "the link's loss").await,
            LinkEvent::LinkLost(LinkLossCause::SignalLost)
        );
        let supervision = Duration::from_millis(world.link_model().supervision_timeout_ms);
        assert!(
            started.elapsed() >= supervision,
            "lost after {:?}, before the supervision timeout {supervision:?}",
            started.elapsed()
        );
    });
}
