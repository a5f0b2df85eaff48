//! The 24-hour reboot (R12) end to end on a paused clock, over simulated
//! readers: the runtime reboots an M2 or WisePad 3 a lead (10 min) before
//! the reader's own deadline, counted from the uptime the reader reported,
//! never during a transaction (R20), and reconnects it; a Chipper 2X is
//! never rebooted.

mod common;
mod terminal_support;

use std::time::Duration;

use readerlink::reader::{DisconnectReason, Reader};
use readerlink::runtime::{Tracer, fmt_ms, virtual_time_system};
use readerlink::terminal::{ConnectionConfig, TerminalError, TerminalEvent};
use terminal_support::{Rig, rig, serial};

const HOUR: Duration = Duration::from_secs(3600);

/// The rig with `serial` connected on a charger (so it never powers down
/// idle, R8) after `uptime` of operation.
async fn connected(serial_number: &str, uptime: Duration) -> (Rig, Reader) {
    let rig = rig(Tracer::off());
    rig.world.set_charging(&serial(serial_number), true).unwrap();
    rig.world.set_uptime(&serial(serial_number), uptime).unwrap();
    let reader = rig.discover(&[serial_number]).await.remove(0);
    let reader = rig
        .terminal
        .connect_reader(&reader, ConnectionConfig::new(&rig.shop.id))
        .await
        .expect("the reader connects");
    (rig, reader)
}

/// The events about the reboot and the reconnection, with their times.
fn reboot_log(rig: &Rig) -> String {
    let mut log = String::new();
    for (t, event) in rig.events.lock().unwrap().iter() {
        let line = match event {
            TerminalEvent::RebootScheduled { serial_number, at } => {
                format!("RebootScheduled {{ {serial_number}, at: {} }}", fmt_ms(*at))
            }
            TerminalEvent::ReconnectStarted {
                serial_number,
                reason,
                ..
            } => format!("ReconnectStarted {{ {serial_number}, {reason:?} }}"),
            TerminalEvent::ReconnectSucceeded { serial_number } => {
                format!("ReconnectSucceeded {{ {serial_number} }}")
            }
            TerminalEvent::Disconnected {
                serial_number,
                reason,
            } => {
                format!("Disconnected {{ {serial_number}, {reason:?} }}")
            }
            _ => continue,
        };
        log.push_str(&format!("{:>13}  {line}\n", fmt_ms(*t)));
    }
    log
}

/// When each reconnection started, and why.
fn reconnections(rig: &Rig) -> Vec<(u64, DisconnectReason)> {
    rig.events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(t, e)| match e {
            TerminalEvent::ReconnectStarted { reason, .. } => Some((*t, *reason)),
            _ => None,
        })
        .collect()
}

fn scheduled(rig: &Rig) -> Vec<u64> {
    rig.events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, e)| match e {
            TerminalEvent::RebootScheduled { at, .. } => Some(*at),
            _ => None,
        })
        .collect()
}

#[test]
fn an_idle_wisepad3_is_rebooted_by_the_runtime_before_its_own_deadline_and_reconnected() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        let (rig, reader) = connected("WPC32-0001", Duration::ZERO).await;
        let connected_at = rig.world.now();
        tokio::time::sleep(25 * HOUR).await;

        let reboots = reconnections(&rig);
        assert_eq!(reboots.len(), 1, "{}", reboot_log(&rig));
        let (at, reason) = reboots[0];
        assert_eq!(reason, DisconnectReason::SecurityReboot);
        let deadline = connected_at + 24 * 3_600_000;
        assert!(
            at < deadline && at >= deadline - 11 * 60_000,
            "rebooted at {} by the runtime, ahead of the reader's own 24 h ({})",
            fmt_ms(at),
            fmt_ms(deadline)
        );
        assert!(
            scheduled(&rig)[0] <= at,
            "RebootScheduled comes ahead of the reboot"
        );
        assert!(
            rig.events()
                .iter()
                .any(|e| matches!(e, TerminalEvent::ReconnectSucceeded { .. })),
            "the reader is reconnected"
        );
        assert_eq!(
            rig.world.reader_state(&reader.serial_number).unwrap().boots,
            1,
            "one boot in 25 h: the runtime's reboot, and not the reader's own after it"
        );
        insta::assert_snapshot!("reboot_wisepad3_idle_for_24_hours", reboot_log(&rig));
    });
}

#[test]
fn reboot_reader_at_10_hours_moves_the_next_reboot_to_about_34_hours() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        let (rig, reader) = connected("STRM2-0001", Duration::ZERO).await;
        let start = rig.world.now();
        tokio::time::sleep(10 * HOUR).await;
        rig.terminal.reboot_reader(&reader.serial_number).await.unwrap();
        tokio::time::sleep(30 * HOUR).await;

        let reboots = reconnections(&rig);
        assert_eq!(
            reboots[0].1,
            DisconnectReason::RebootRequested,
            "{}",
            reboot_log(&rig)
        );
        let (next, reason) = reboots[1];
        assert_eq!(reason, DisconnectReason::SecurityReboot);
        let hours = (next - start) as f64 / 3_600_000.0;
        assert!((33.7..34.0).contains(&hours), "next reboot after {hours:.2} h");
        insta::assert_snapshot!("reboot_app_reboot_restarts_the_window", reboot_log(&rig));
    });
}

#[test]
fn a_chipper_2x_connected_for_48_hours_is_never_rebooted() {
    virtual_time_system().block_on(async {
        let (rig, _reader) = connected("CHB20-0002", Duration::ZERO).await;
        tokio::time::sleep(48 * HOUR).await;
        assert!(scheduled(&rig).is_empty(), "{}", reboot_log(&rig));
        assert!(reconnections(&rig).is_empty(), "{}", reboot_log(&rig));
        assert!(
            !rig.events()
                .iter()
                .any(|e| matches!(e, TerminalEvent::Disconnected { .. })),
            "{}",
            reboot_log(&rig)
        );
    });
}

#[test]
fn a_deadline_that_falls_during_a_transaction_waits_until_it_ends() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        let (rig, reader) = connected("WPC32-0001", Duration::ZERO).await;
        let start = rig.world.now();
        // The runtime's reboot is due at 23 h 50 min: a payment from
        // 23 h 45 min to 23 h 55 min holds it off (R20).
        tokio::time::sleep(23 * HOUR + Duration::from_secs(45 * 60)).await;
        let transaction = rig
            .terminal
            .start_transaction(&reader.serial_number)
            .await
            .unwrap();
        assert!(matches!(
            rig.terminal.reboot_reader(&reader.serial_number).await,
            Err(TerminalError::Command { ref error, .. }) if error.code() == "transaction_in_progress"
        ));
        tokio::time::sleep(Duration::from_secs(10 * 60)).await;
        assert!(reconnections(&rig).is_empty(), "no reboot during the transaction");
        let ended_at = rig.world.now();
        transaction.end().await.unwrap();
        tokio::time::sleep(HOUR).await;

        let reboots = reconnections(&rig);
        assert_eq!(reboots.len(), 1, "{}", reboot_log(&rig));
        assert_eq!(reboots[0].1, DisconnectReason::SecurityReboot);
        assert!(
            reboots[0].0 >= ended_at && reboots[0].0 < start + 24 * 3_600_000,
            "rebooted at {} once the transaction ended at {}",
            fmt_ms(reboots[0].0),
            fmt_ms(ended_at)
        );
        insta::assert_snapshot!("reboot_waits_for_the_transaction", reboot_log(&rig));
    });
}

#[test]
fn a_reader_reporting_23_hours_of_uptime_at_connect_is_rebooted_within_the_hour() {
    virtual_time_system().block_on(async {
        let (rig, _reader) = connected("STRM2-0001", 23 * HOUR).await;
        let start = rig.world.now();
        tokio::time::sleep(2 * HOUR).await;
        let reboots = reconnections(&rig);
        assert_eq!(
            reboots[0].1,
            DisconnectReason::SecurityReboot,
            "{}",
            reboot_log(&rig)
        );
        assert!(
            reboots[0].0 - start < 3_600_000,
            "rebooted {} after the connect",
            fmt_ms(reboots[0].0 - start)
        );
    });
}
