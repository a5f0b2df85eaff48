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
use readerlink::reader::{DeviceType, SerialNumber};
use readerlink::transport::ble::{AdapterChoice, BleTransport};
use readerlink::transport::{
    Advertisement, LinkEvent, LinkLossCause, MANUFACTURER_ID, ScanEvent, Transport, TransportError,
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
