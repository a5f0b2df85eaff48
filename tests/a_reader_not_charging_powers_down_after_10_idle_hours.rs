//! R8's idle power-down on the simulated side: a reader not on a charger
//! powers itself down after 10 hours without activity, saying
//! `Disconnecting { IdlePowerDown }`; activity or a charger keeps it up.

mod sim_support;

use std::time::Duration;

use readerlink::protocol::{Command, ReaderMessage};
use readerlink::reader::{DeviceType, DisconnectReason};
use readerlink::transport::LinkLossCause;
use readerlink::transport::sim::reader::IDLE_POWER_DOWN_MS;
use readerlink::transport::sim::{ReaderSpec, SimWorld};
use sim_support::{Central, serial};
use tokio::time::Instant;

fn chipper(charging: bool) -> ReaderSpec {
    let mut spec = ReaderSpec::new("IDLE-1", DeviceType::Chipper2X, "1.0.0");
    spec.battery = 1.0;
    spec.charging = charging;
    spec
}

#[tokio::test(start_paused = true)]
async fn a_connected_reader_not_charging_powers_down_after_10_idle_hours() {
    let world = SimWorld::with_readers(vec![chipper(false)]);
    let start = Instant::now();
    let mut central = Central::connect_in(&world, "IDLE-1").await;
    central.request(Command::Hello).await.unwrap();
    let (said, lost) = central.until_lost().await;
    let at = start.elapsed();
    assert_eq!(
        said.last(),
        Some(&ReaderMessage::Disconnecting {
            reason: DisconnectReason::IdlePowerDown
        })
    );
    assert_eq!(lost, Some(LinkLossCause::RemoteClosed));
    let ten_hours = Duration::from_millis(IDLE_POWER_DOWN_MS);
    assert!(
        at >= ten_hours && at < ten_hours + Duration::from_secs(1),
        "powered down at {at:?}"
    );
    let state = world.reader_state(&serial("IDLE-1")).unwrap();
    assert!(!state.powered);
    // Ten mostly sleeping hours cost about a tenth of the battery.
    assert!(
        state.battery.level > 0.85 && state.battery.level < 0.95,
        "{:?}",
        state.battery
    );
}

#[tokio::test(start_paused = true)]
async fn a_reader_left_unconnected_also_powers_down_and_stops_advertising() {
    let world = SimWorld::with_readers(vec![chipper(false)]);
    tokio::time::sleep(Duration::from_millis(IDLE_POWER_DOWN_MS + 1000)).await;
    assert!(!world.reader_state(&serial("IDLE-1")).unwrap().powered);
    assert!(
        world
            .transport()
            .world()
            .open_raw_link(&serial("IDLE-1"))
            .is_err(),
        "a powered-down reader cannot be connected"
    );
}

#[tokio::test(start_paused = true)]
async fn a_command_at_9_hours_restarts_the_idle_clock() {
    let world = SimWorld::with_readers(vec![chipper(false)]);
    let mut central = Central::connect_in(&world, "IDLE-1").await;
    tokio::time::sleep(Duration::from_secs(9 * 3600)).await;
    assert!(matches!(
        central.request(Command::ReadBattery).await,
        Some(ReaderMessage::BatteryLevel { .. })
    ));
    tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
    let state = world.reader_state(&serial("IDLE-1")).unwrap();
    assert!(state.powered && state.connected, "{state:?}");
}

#[tokio::test(start_paused = true)]
async fn a_reader_on_a_charger_does_not_power_down() {
    let world = SimWorld::with_readers(vec![chipper(true)]);
    let _central = Central::connect_in(&world, "IDLE-1").await;
    tokio::time::sleep(Duration::from_millis(2 * IDLE_POWER_DOWN_MS)).await;
    let state = world.reader_state(&serial("IDLE-1")).unwrap();
    assert!(state.powered && state.connected);
}
