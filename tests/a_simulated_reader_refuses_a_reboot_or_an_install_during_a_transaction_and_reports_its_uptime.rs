//! R20 and R12 on the simulated side: while a transaction runs the reader
//! refuses a reboot (the app's or the security one) and an install with
//! `TransactionInProgress`; the transaction ends with `TransactionEnd` or
//! with the link. The reader reports its uptime in hello, and its own
//! 24-hour reboot follows that uptime; one falling due in a transaction
//! waits for its end.

mod sim_support;

use std::time::Duration;

use readerlink::protocol::{Command, ErrorCode, ReaderMessage, RebootKind};
use readerlink::reader::{DeviceType, DisconnectReason};
use readerlink::transport::LinkLossCause;
use readerlink::transport::sim::reader::RESPONSE_DELAY_MS;
use readerlink::transport::sim::{Fleet, ReaderSpec, SimWorld};
use sim_support::{Central, serial};
use tokio::time::Instant;

const HOUR: Duration = Duration::from_secs(3600);

fn on_charger(serial: &str, device_type: DeviceType) -> ReaderSpec {
    // On a charger, so the 10-hour idle power-down does not come first.
    let mut spec = ReaderSpec::new(serial, device_type, "1.0.0");
    spec.charging = true;
    spec
}

fn refused(answer: Option<ReaderMessage>) -> ErrorCode {
    match answer {
        Some(ReaderMessage::Error { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn acked(answer: Option<ReaderMessage>) {
    assert!(
        matches!(answer, Some(ReaderMessage::Ack { .. })),
        "expected Ack, got {answer:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn during_a_transaction_reboots_installs_and_a_second_transaction_are_refused() {
    let world = SimWorld::with_readers(vec![on_charger("WP-1", DeviceType::WisePad3)]);
    let wp = serial("WP-1");
    let mut central = Central::connect_in(&world, "WP-1").await;
    acked(central.request(Command::TransactionBegin).await);
    assert!(world.reader_state(&wp).unwrap().in_transaction);

    for kind in [RebootKind::Requested, RebootKind::Security] {
        let answer = central.request(Command::Reboot { kind }).await;
        assert_eq!(refused(answer), ErrorCode::TransactionInProgress, "{kind:?}");
    }
    let (result, _) = central.install("1.1.0", &[7; 600], 200, 2).await;
    assert_eq!(result, Err(ErrorCode::TransactionInProgress));
    let answer = central.request(Command::TransactionBegin).await;
    assert_eq!(refused(answer), ErrorCode::TransactionInProgress);
    let state = world.reader_state(&wp).unwrap();
    assert!(state.connected && state.in_transaction && !state.booting);
    assert_eq!(state.software_version, "1.0.0");

    acked(central.request(Command::TransactionEnd).await);
    assert!(!world.reader_state(&wp).unwrap().in_transaction);
    let answer = central.request(Command::TransactionEnd).await;
    assert_eq!(refused(answer), ErrorCode::NoTransactionInProgress);

    // No transaction: the security reboot goes through, announced as such.
    let id = central
        .send(Command::Reboot {
            kind: RebootKind::Security,
        })
        .await;
    let (said, lost) = central.until_lost().await;
    assert_eq!(
        said,
        [
            ReaderMessage::Ack { request_id: id },
            ReaderMessage::Disconnecting {
                reason: DisconnectReason::SecurityReboot
            }
        ]
    );
    assert_eq!(lost, Some(LinkLossCause::RemoteClosed));
    assert!(world.reader_state(&wp).unwrap().booting);
}

#[tokio::test(start_paused = true)]
async fn a_transaction_ends_with_the_link() {
    let world = SimWorld::with_readers(vec![on_charger("M2-1", DeviceType::StripeM2)]);
    let m2 = serial("M2-1");
    let mut central = Central::connect_in(&world, "M2-1").await;
    acked(central.request(Command::TransactionBegin).await);
    world.lose_link(&m2, Some(Duration::from_secs(1))).unwrap();
    assert_eq!(central.until_lost().await.1, Some(LinkLossCause::SignalLost));
    assert!(!world.reader_state(&m2).unwrap().in_transaction);

    let mut again = Central::connect_in(&world, "M2-1").await;
    let id = again
        .send(Command::Reboot {
            kind: RebootKind::Requested,
        })
        .await;
    let (said, _) = again.until_lost().await;
    assert_eq!(
        said,
        [
            ReaderMessage::Ack { request_id: id },
            ReaderMessage::Disconnecting {
                reason: DisconnectReason::RebootRequested
            }
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_transaction_cannot_start_during_an_install() {
    let world = SimWorld::with_readers(vec![on_charger("M2-1", DeviceType::StripeM2)]);
    let mut central = Central::connect_in(&world, "M2-1").await;
    acked(
        central
            .request(Command::UpdateBegin {
                version: "1.1.0".into(),
                size: 1024,
                sha256: [0; 32],
                window: 4,
            })
            .await,
    );
    let answer = central.request(Command::TransactionBegin).await;
    assert_eq!(refused(answer), ErrorCode::Busy);
}

#[tokio::test(start_paused = true)]
async fn hello_reports_the_uptime_and_a_reader_at_23_hours_reboots_itself_within_the_hour() {
    let world = SimWorld::with_readers(vec![on_charger("WP-1", DeviceType::WisePad3)]);
    let wp = serial("WP-1");
    tokio::time::sleep(Duration::from_secs(5)).await;
    world.set_uptime(&wp, 23 * HOUR).unwrap();
    let set_at = Instant::now();
    let mut central = Central::connect_in(&world, "WP-1").await;
    let Some(ReaderMessage::ReaderInfo { info, .. }) = central.request(Command::Hello).await else {
        panic!("hello answered with something else")
    };
    let since = set_at.elapsed().as_millis() as u64;
    let expected = 23 * 3_600_000 + since - RESPONSE_DELAY_MS;
    assert!(
        info.uptime_ms.abs_diff(expected) <= RESPONSE_DELAY_MS,
        "hello says {} ms of uptime, expected about {expected}",
        info.uptime_ms
    );

    // Its own deadline is the uptime's 24 h; falling due in a transaction
    // it waits for the transaction's end (R20), then comes at once.
    acked(central.request(Command::TransactionBegin).await);
    tokio::time::sleep_until(set_at + HOUR + Duration::from_secs(60)).await;
    let state = world.reader_state(&wp).unwrap();
    assert!(
        state.connected && state.in_transaction && !state.booting,
        "no reboot in a transaction: {state:?}"
    );
    let id = central.send(Command::TransactionEnd).await;
    let (said, _) = central.until_lost().await;
    let said: Vec<_> = said
        .into_iter()
        .filter(|m| !matches!(m, ReaderMessage::BatteryReport { .. }))
        .collect();
    assert_eq!(
        said,
        [
            ReaderMessage::Ack { request_id: id },
            ReaderMessage::Disconnecting {
                reason: DisconnectReason::SecurityReboot
            }
        ],
        "the transaction's end is acknowledged, then the reader reboots"
    );
    assert!(
        set_at.elapsed() < HOUR + Duration::from_secs(61),
        "it rebooted right after the transaction ended"
    );
    assert_eq!(world.reader_state(&wp).unwrap().uptime_ms, 0, "booting");
}

#[test]
fn a_fleet_file_can_start_a_reader_part_way_through_its_day() {
    let fleet = Fleet::from_toml(
        r#"
[[readers]]
serial = "M2-1"
device_type = "m2"
distance_m = 1.0
battery = 0.9
software_version = "1.0.0"
uptime_ms = 82800000
"#,
    )
    .unwrap();
    assert_eq!(fleet.readers[0].uptime_ms, 23 * 3_600_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let world = SimWorld::new(fleet);
        tokio::time::sleep(Duration::from_secs(60)).await;
        let state = world.reader_state(&serial("M2-1")).unwrap();
        assert_eq!(state.uptime_ms, 23 * 3_600_000 + 60_000);
        tokio::time::sleep(HOUR).await;
        let state = world.reader_state(&serial("M2-1")).unwrap();
        assert_eq!(state.boots, 1, "it rebooted at 24 h of uptime");
    });
}

#[tokio::test(start_paused = true)]
async fn an_absurd_uptime_neither_panics_nor_overflows_a_chipper_that_never_reboots() {
    let world = SimWorld::with_readers(vec![
        on_charger("CH-1", DeviceType::Chipper2X),
        on_charger("M2-1", DeviceType::StripeM2),
    ]);
    for reader in ["CH-1", "M2-1"] {
        world
            .set_uptime(&serial(reader), Duration::from_millis(u64::MAX - 1))
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    let chipper = world.reader_state(&serial("CH-1")).unwrap();
    assert_eq!(chipper.uptime_ms, u64::MAX, "saturates");
    assert_eq!(chipper.boots, 0);
    let m2 = world.reader_state(&serial("M2-1")).unwrap();
    assert_eq!(m2.boots, 1, "past its 24 h: it reboots at once");
    assert!(m2.uptime_ms < 10_000);
}
