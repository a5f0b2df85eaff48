//! The simulated battery: it drains faster awake than asleep, charges on a
//! charger, warns when low, and the reader powers down when it is
//! critically low (R18a, R8).

mod sim_support;

use std::time::Duration;

use readerlink::protocol::{Command, ReaderMessage};
use readerlink::reader::{BatteryStatus, DeviceType, DisconnectReason};
use readerlink::transport::sim::{FaultPlan, ReaderSpec, SimWorld};
use sim_support::{Central, serial};

fn reader(battery: f32) -> ReaderSpec {
    let mut spec = ReaderSpec::new("BATT-1", DeviceType::WisePad3, "1.0.0");
    spec.battery = battery;
    spec
}

/// Keeps the reader awake with a command every 4 minutes for `hours`.
async fn busy_for(central: &mut Central, hours: u64) {
    for _ in 0..hours * 15 {
        tokio::time::sleep(Duration::from_secs(240)).await;
        central.request(Command::Hello).await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn the_battery_drains_in_use_and_charges_on_a_charger() {
    let world = SimWorld::with_readers(vec![reader(0.8)]);
    let id = serial("BATT-1");
    let mut central = Central::connect_in(&world, "BATT-1").await;
    busy_for(&mut central, 2).await;
    let used = world.reader_state(&id).unwrap().battery.level;
    assert!((used - 0.70).abs() < 0.01, "two busy hours at 5 %/h: {used}");

    world.set_charging(&id, true).unwrap();
    let report = central.next_message().await.unwrap();
    let ReaderMessage::BatteryReport { battery } = report else {
        panic!("expected a battery report when charging starts, got {report:?}")
    };
    assert!(battery.charging);
    tokio::time::sleep(Duration::from_secs(1800)).await;
    let charged = world.reader_state(&id).unwrap().battery;
    assert!(
        (charged.level - (used + 0.25)).abs() < 0.01,
        "half an hour at 50 %/h: {charged:?}"
    );
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(
        world.reader_state(&id).unwrap().battery.level,
        1.0,
        "full, and no further"
    );
}

#[tokio::test(start_paused = true)]
async fn asleep_it_drains_slower_than_awake() {
    let world = SimWorld::with_readers(vec![reader(0.8)]);
    let id = serial("BATT-1");
    let mut central = Central::connect_in(&world, "BATT-1").await;
    central.request(Command::Sleep).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
    let level = world.reader_state(&id).unwrap().battery.level;
    assert!(
        (level - 0.78).abs() < 0.005,
        "two sleeping hours at 1 %/h: {level}"
    );
}

#[tokio::test(start_paused = true)]
async fn falling_below_20_percent_sends_a_low_battery_warning() {
    let world = SimWorld::with_readers(vec![reader(0.21)]);
    let mut central = Central::connect_in(&world, "BATT-1").await;
    let keep_busy = async {
        loop {
            tokio::time::sleep(Duration::from_secs(240)).await;
            let id = central.send(Command::ReadBattery).await;
            loop {
                match central.next_message().await.unwrap() {
                    ReaderMessage::LowBatteryWarning { battery } => return battery,
                    m if m.request_id() == Some(id) => break,
                    _ => {}
                }
            }
        }
    };
    let battery = tokio::time::timeout(Duration::from_secs(3600), keep_busy)
        .await
        .expect("a warning within the hour");
    assert_eq!(battery.status, BatteryStatus::Low);
    assert!(battery.level < 0.20);
}

#[tokio::test(start_paused = true)]
async fn a_fault_plan_makes_the_reader_die_at_low_battery() {
    let mut spec = reader(0.17);
    spec.fault = FaultPlan {
        die_at_battery: Some(0.15),
        ..FaultPlan::default()
    };
    let world = SimWorld::with_readers(vec![spec]);
    let mut central = Central::connect_in(&world, "BATT-1").await;
    let (said, _) = central.until_lost().await;
    assert_eq!(
        said.last(),
        Some(&ReaderMessage::Disconnecting {
            reason: DisconnectReason::CriticallyLowBattery
        })
    );
    let state = world.reader_state(&serial("BATT-1")).unwrap();
    assert!(!state.powered);
    assert!(state.battery.level <= 0.15 && state.battery.level > 0.14);
}

#[tokio::test(start_paused = true)]
async fn setting_the_battery_critically_low_powers_the_reader_down() {
    let world = SimWorld::with_readers(vec![reader(0.6)]);
    let mut central = Central::connect_in(&world, "BATT-1").await;
    world.set_battery(&serial("BATT-1"), 0.005).unwrap();
    let (said, _) = central.until_lost().await;
    assert_eq!(
        said,
        vec![ReaderMessage::Disconnecting {
            reason: DisconnectReason::CriticallyLowBattery
        }]
    );
}
