//! Fault plans and world controls that take a link down: at a chosen
//! command (step), at a chosen time, by a power cut, by a lost signal for a
//! while, and by moving out of range.

mod sim_support;

use std::time::Duration;

use readerlink::protocol::{Command, ReaderMessage};
use readerlink::reader::DeviceType;
use readerlink::transport::sim::{FaultPlan, ReaderSpec, SimWorld};
use readerlink::transport::{LinkLossCause, Transport};
use sim_support::{Central, serial};
use tokio::time::Instant;

fn faulty(fault: FaultPlan) -> SimWorld {
    let mut spec = ReaderSpec::new("FAULT-1", DeviceType::StripeM2, "3.1.0");
    spec.charging = true;
    spec.fault = fault;
    SimWorld::with_readers(vec![spec])
}

#[tokio::test(start_paused = true)]
async fn the_link_drops_at_the_third_command_without_an_answer() {
    let world = faulty(FaultPlan {
        drop_link_at_step: Some(3),
        ..FaultPlan::default()
    });
    let mut central = Central::connect_in(&world, "FAULT-1").await;
    assert!(matches!(
        central.request(Command::Hello).await,
        Some(ReaderMessage::ReaderInfo { .. })
    ));
    assert!(matches!(
        central.request(Command::ReadBattery).await,
        Some(ReaderMessage::BatteryLevel { .. })
    ));
    let asked = Instant::now();
    assert_eq!(
        central.request(Command::Identify { duration_ms: 1000 }).await,
        None
    );
    assert_eq!(central.lost, Some(LinkLossCause::SignalLost));
    let noticed = asked.elapsed();
    assert!(
        noticed >= Duration::from_millis(world.link_model().supervision_timeout_ms),
        "a lost signal is noticed after the supervision timeout, not at once ({noticed:?})"
    );
    let state = world.reader_state(&serial("FAULT-1")).unwrap();
    assert_eq!(state.identify_count, 0, "the third command was never carried out");
    assert!(state.powered && !state.connected);
    // The fault happens once: a new link works.
    let mut again = Central::connect_in(&world, "FAULT-1").await;
    assert!(matches!(
        again.request(Command::Identify { duration_ms: 1000 }).await,
        Some(ReaderMessage::Ack { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn the_link_drops_at_the_chosen_time() {
    let world = faulty(FaultPlan {
        drop_link_at_ms: Some(90_000),
        ..FaultPlan::default()
    });
    let start = Instant::now();
    let mut central = Central::connect_in(&world, "FAULT-1").await;
    let (_, lost) = central.until_lost().await;
    assert_eq!(lost, Some(LinkLossCause::SignalLost));
    let at = start.elapsed();
    assert!(
        at >= Duration::from_secs(90) && at < Duration::from_secs(93),
        "{at:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_power_cut_drops_the_link_without_a_goodbye_and_the_reader_stays_off() {
    let world = faulty(FaultPlan {
        power_off_at_ms: Some(30_000),
        ..FaultPlan::default()
    });
    let mut central = Central::connect_in(&world, "FAULT-1").await;
    let (said, lost) = central.until_lost().await;
    assert!(
        said.iter()
            .all(|m| !matches!(m, ReaderMessage::Disconnecting { .. }))
    );
    assert_eq!(lost, Some(LinkLossCause::SignalLost));
    assert!(!world.reader_state(&serial("FAULT-1")).unwrap().powered);
    world.power_on(&serial("FAULT-1")).unwrap();
    let mut again = Central::connect_in(&world, "FAULT-1").await;
    assert!(matches!(
        again.request(Command::Hello).await,
        Some(ReaderMessage::ReaderInfo { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_link_lost_for_a_while_cannot_be_reconnected_until_it_is_back() {
    let world = faulty(FaultPlan::default());
    let id = serial("FAULT-1");
    let mut central = Central::connect_in(&world, "FAULT-1").await;
    world.lose_link(&id, Some(Duration::from_secs(20))).unwrap();
    assert_eq!(central.until_lost().await.1, Some(LinkLossCause::SignalLost));
    assert!(
        world.open_raw_link(&id).is_err(),
        "unreachable while the link is lost"
    );
    let transport = world.transport();
    let failed = transport.connect(&"FAULT-1".to_string()).await;
    assert!(
        matches!(
            failed,
            Err(readerlink::transport::TransportError::ConnectFailed { .. })
        ),
        "a connect gives up after its timeout: {failed:?}"
    );
    tokio::time::sleep(Duration::from_secs(14)).await;
    let _again = Central::connect(&transport, "FAULT-1").await;
    // Until restored.
    world.lose_link(&id, None).unwrap();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(world.open_raw_link(&id).is_err());
    world.restore_link(&id).unwrap();
    assert!(world.open_raw_link(&id).is_ok());
}

#[tokio::test(start_paused = true)]
async fn moving_out_of_range_loses_the_link() {
    let world = faulty(FaultPlan::default());
    let mut central = Central::connect_in(&world, "FAULT-1").await;
    world.move_reader(&serial("FAULT-1"), 20.0).unwrap();
    assert!(matches!(
        central.request(Command::Hello).await,
        Some(ReaderMessage::ReaderInfo { .. })
    ));
    world.move_reader(&serial("FAULT-1"), 200.0).unwrap();
    assert_eq!(central.until_lost().await.1, Some(LinkLossCause::SignalLost));
    assert!(world.open_raw_link(&serial("FAULT-1")).is_err());
}

#[tokio::test(start_paused = true)]
async fn powering_off_with_the_button_says_goodbye() {
    let world = faulty(FaultPlan::default());
    let mut central = Central::connect_in(&world, "FAULT-1").await;
    world.power_off(&serial("FAULT-1")).unwrap();
    let (said, lost) = central.until_lost().await;
    assert_eq!(
        said,
        vec![ReaderMessage::Disconnecting {
            reason: readerlink::reader::DisconnectReason::PoweredOff
        }]
    );
    assert_eq!(lost, Some(LinkLossCause::RemoteClosed));
}

#[tokio::test(start_paused = true)]
async fn the_adapter_going_off_drops_every_link() {
    let world = faulty(FaultPlan::default());
    let mut central = Central::connect_in(&world, "FAULT-1").await;
    world.set_adapter_powered(false);
    assert_eq!(
        central.until_lost().await.1,
        Some(LinkLossCause::AdapterPoweredOff)
    );
    assert!(matches!(
        world.open_raw_link(&serial("FAULT-1")),
        Err(readerlink::transport::TransportError::AdapterUnavailable(_))
    ));
}
