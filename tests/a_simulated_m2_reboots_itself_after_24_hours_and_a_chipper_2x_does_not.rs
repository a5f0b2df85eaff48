//! R12 on the simulated side: M2 and WisePad 3 readers reboot themselves
//! 24 hours after boot (saying `Disconnecting { SecurityReboot }` first),
//! then advertise again; a Chipper 2X does not.

mod sim_support;

use std::time::Duration;

use futures::StreamExt;
use readerlink::protocol::ReaderMessage;
use readerlink::reader::{DeviceType, DisconnectReason};
use readerlink::transport::sim::reader::{BOOT_MS, DAILY_REBOOT_MS};
use readerlink::transport::sim::{ReaderSpec, SimWorld};
use readerlink::transport::{LinkLossCause, ScanEvent, Transport};
use sim_support::{Central, serial};
use tokio::time::Instant;

fn on_charger(serial: &str, device_type: DeviceType) -> ReaderSpec {
    // On a charger, so the 10-hour idle power-down does not come first.
    let mut spec = ReaderSpec::new(serial, device_type, "1.0.0");
    spec.charging = true;
    spec
}

#[tokio::test(start_paused = true)]
async fn an_m2_and_a_wisepad_3_reboot_at_24_hours_and_advertise_again() {
    for device_type in [DeviceType::StripeM2, DeviceType::WisePad3] {
        let world = SimWorld::with_readers(vec![on_charger("DAILY-1", device_type)]);
        let start = Instant::now();
        let mut central = Central::connect_in(&world, "DAILY-1").await;
        let (said, lost) = central.until_lost().await;
        let at = start.elapsed();
        assert_eq!(
            said.last(),
            Some(&ReaderMessage::Disconnecting {
                reason: DisconnectReason::SecurityReboot
            }),
            "{device_type}: {said:?}"
        );
        assert!(
            said.iter().all(|m| matches!(
                m,
                ReaderMessage::BatteryReport { .. } | ReaderMessage::Disconnecting { .. }
            )),
            "{said:?}"
        );
        assert_eq!(lost, Some(LinkLossCause::RemoteClosed));
        let day = Duration::from_millis(DAILY_REBOOT_MS);
        assert!(
            at >= day && at < day + Duration::from_secs(1),
            "{device_type} rebooted at {at:?}"
        );
        let state = world.reader_state(&serial("DAILY-1")).unwrap();
        assert!(state.booting && state.powered && !state.connected);
        assert_eq!(state.boots, 1);

        // It advertises again once booted.
        let mut scan = world.transport().scan().await.unwrap();
        let Some(ScanEvent::AdvertisementSeen(ad)) = scan.next().await else {
            panic!("no advertisement after the reboot")
        };
        assert_eq!(ad.peripheral, "DAILY-1");
        let back = start.elapsed();
        assert!(
            back >= day + Duration::from_millis(BOOT_MS),
            "advertised at {back:?}, while booting"
        );
        assert!(world.reader_state(&serial("DAILY-1")).unwrap().uptime_ms < 1000);
    }
}

#[tokio::test(start_paused = true)]
async fn a_chipper_2x_stays_connected_past_24_hours() {
    let world = SimWorld::with_readers(vec![on_charger("CHIP-1", DeviceType::Chipper2X)]);
    let mut central = Central::connect_in(&world, "CHIP-1").await;
    let two_days = tokio::time::sleep(Duration::from_millis(2 * DAILY_REBOOT_MS));
    tokio::pin!(two_days);
    loop {
        tokio::select! {
            _ = &mut two_days => break,
            message = central.next_message() => match message {
                Some(ReaderMessage::BatteryReport { .. }) => {}
                other => panic!("a Chipper 2X said {other:?} (link lost: {:?})", central.lost),
            },
        }
    }
    let state = world.reader_state(&serial("CHIP-1")).unwrap();
    assert!(state.connected);
    assert_eq!(state.boots, 0);
    assert!(state.uptime_ms >= 2 * DAILY_REBOOT_MS);
}
