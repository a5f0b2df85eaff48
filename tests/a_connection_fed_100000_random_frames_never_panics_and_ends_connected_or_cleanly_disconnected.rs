//! A connected reader's link carries 100,000 random frames on top of what
//! the simulated reader itself says: well-formed frames of every kind with
//! random field values (request ids near the ones in use, so some answer
//! a pending command), frames with a bit flipped or a fragment lost, and
//! random bytes. Meanwhile the app runs transactions. The connection and
//! everything above it never panics, relays what is valid, drops what is
//! not, and ends connected — or disconnected with a reason and the link
//! really closed; the app's own disconnect then closes it cleanly. On a
//! paused clock; the frames ride the simulated link's timing.

mod terminal_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use readerlink::protocol::{ErrorCode, MAX_ATT_PAYLOAD, ReaderInfo, ReaderMessage, Slot, fragment};
use readerlink::reader::{
    Battery, BatteryStatus, ConnectionStatus, DeviceType, DisconnectReason, SerialNumber,
};
use readerlink::runtime::{Tracer, virtual_time_system};
use readerlink::terminal::{ConnectionConfig, TerminalEvent};
use terminal_support::rig;

/// How many random frames reach the connection.
const FRAMES: usize = 100_000;
/// Frames put on the link at once; the test then lets the link carry them.
const BATCH: usize = 1000;

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn battery(rng: &mut ChaCha8Rng) -> Battery {
    Battery {
        level: rng.random_range(0.0..=1.0),
        status: [
            BatteryStatus::Critical,
            BatteryStatus::Low,
            BatteryStatus::Nominal,
        ][rng.random_range(0..3)],
        charging: rng.random(),
    }
}

/// A well-formed reader message of a random kind with random values.
fn message(rng: &mut ChaCha8Rng, serial: &SerialNumber) -> ReaderMessage {
    // Request ids are handed out from 1 up: half the answers name one
    // that may be pending.
    let request_id = if rng.random_bool(0.5) {
        rng.random_range(0..64)
    } else {
        rng.random()
    };
    match rng.random_range(0..11) {
        0 => ReaderMessage::ReaderInfo {
            request_id,
            info: ReaderInfo {
                serial_number: if rng.random_bool(0.5) {
                    serial.clone()
                } else {
                    SerialNumber::new(format!("RND-{:04}", rng.random_range(0..10_000)))
                },
                device_type: DeviceType::ALL[rng.random_range(0..3)],
                software_version: format!(
                    "{}.{}.{}",
                    rng.random_range(0..9),
                    rng.random_range(0..9),
                    rng.random_range(0..99)
                ),
                active_slot: if rng.random() { Slot::A } else { Slot::B },
                battery: battery(rng),
                uptime_ms: rng.random(),
            },
        },
        1 => ReaderMessage::Ack { request_id },
        2 => ReaderMessage::Error {
            request_id,
            code: ErrorCode::ALL[rng.random_range(0..ErrorCode::ALL.len())],
        },
        3 => ReaderMessage::BatteryLevel {
            request_id,
            battery: battery(rng),
        },
        4 => ReaderMessage::UpdateChunkAck {
            request_id,
            up_to_offset: rng.random(),
        },
        5 => ReaderMessage::BatteryReport {
            battery: battery(rng),
        },
        6 => ReaderMessage::LowBatteryWarning {
            battery: battery(rng),
        },
        7 => ReaderMessage::CardInserted,
        8 => ReaderMessage::CardRemoved,
        9 => ReaderMessage::UpdateProgress {
            bytes_written: rng.random(),
            total: rng.random(),
        },
        _ => ReaderMessage::Disconnecting {
            reason: DisconnectReason::ALL[rng.random_range(0..DisconnectReason::ALL.len())],
        },
    }
}

/// The ATT payloads of one random frame: well-formed (six in ten),
/// damaged in the air (two in ten: a bit flipped or a fragment lost), or
/// random bytes (two in ten).
fn payloads(rng: &mut ChaCha8Rng, serial: &SerialNumber) -> Vec<Vec<u8>> {
    let att = rng.random_range(20..=MAX_ATT_PAYLOAD);
    match rng.random_range(0..10) {
        0..=5 => fragment(&message(rng, serial).encode(), att),
        6 | 7 => {
            let mut pieces = fragment(&message(rng, serial).encode(), att);
            let which = rng.random_range(0..pieces.len());
            if pieces.len() > 1 && rng.random_bool(0.5) {
                pieces.remove(which);
            } else {
                let at = rng.random_range(0..pieces[which].len());
                pieces[which][at] ^= 1 << rng.random_range(0..8);
            }
            pieces
        }
        _ => {
            let len = rng.random_range(1..=att);
            vec![(0..len).map(|_| rng.random()).collect()]
        }
    }
}

#[test]
fn a_connection_fed_100000_random_frames_never_panics_and_ends_connected_or_cleanly_disconnected() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    virtual_time_system().block_on(async {
        let rig = rig(Tracer::off());
        let [m2] = rig.discover(&["STRM2-0001"]).await.try_into().unwrap();
        let serial = m2.serial_number.clone();
        rig.terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .expect("the connect succeeds");
        let mut rng = ChaCha8Rng::seed_from_u64(15);
        let (mut fed, mut batches) = (0, 0);
        let (mut transactions, mut refused) = (0, 0);
        while fed < FRAMES {
            batches += 1;
            assert!(
                batches < 4 * FRAMES / BATCH,
                "the link was down for most of the run"
            );
            if !rig.world.reader_state(&serial).unwrap().connected {
                // Reconnecting: frames now would go nowhere.
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
            // Every fifth batch runs inside a transaction, so answers to
            // its commands are among the random ones.
            let transaction = if batches % 5 == 0 {
                match rig.terminal.start_transaction(&serial).await {
                    Ok(t) => Some(t),
                    Err(e) => {
                        assert!(!e.code().is_empty());
                        refused += 1;
                        None
                    }
                }
            } else {
                None
            };
            for _ in 0..BATCH {
                for payload in payloads(&mut rng, &serial) {
                    rig.world.inject_notification(&serial, payload).unwrap();
                }
            }
            fed += BATCH;
            // 4 payloads per 15 ms connection event carry a batch in about 4 s.
            tokio::time::sleep(Duration::from_secs(6)).await;
            if let Some(t) = transaction {
                transactions += 1;
                if let Err(e) = t.end().await {
                    assert!(!e.code().is_empty());
                }
            }
        }
        // Past any reconnection window.
        tokio::time::sleep(Duration::from_secs(120)).await;

        assert_eq!(PANICS.load(Ordering::SeqCst), 0, "no machine or shell panicked");
        let events = rig.events();
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, TerminalEvent::ReaderActorFailed { .. })),
            "no actor failed"
        );
        let relayed = events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    TerminalEvent::CardInserted { .. } | TerminalEvent::CardRemoved { .. }
                )
            })
            .count();
        assert!(
            relayed > FRAMES / 20,
            "valid notifications reach the app: {relayed} card events"
        );
        assert!(transactions > 0, "transactions ran ({refused} refused)");
        let linked = rig.world.reader_state(&serial).unwrap().connected;
        match rig.terminal.reader_status(&serial) {
            ConnectionStatus::Connected => assert!(linked, "connected over a live link"),
            ConnectionStatus::NotConnected => {
                assert!(!linked, "a disconnected reader's link is closed");
                let reason = events.iter().rev().find_map(|e| match e {
                    TerminalEvent::Disconnected { reason, .. } => Some(*reason),
                    _ => None,
                });
                assert!(reason.is_some(), "the disconnect says why");
            }
            other => panic!("the reader ends {other:?}, neither connected nor disconnected"),
        }
        // Whatever it went through, the app's disconnect closes the link.
        if rig.terminal.reader_status(&serial) == ConnectionStatus::Connected {
            rig.terminal
                .disconnect_reader(&serial)
                .await
                .expect("the disconnect succeeds");
            tokio::time::sleep(Duration::from_secs(5)).await;
            assert!(
                !rig.world.reader_state(&serial).unwrap().connected,
                "the link is closed"
            );
            assert_eq!(
                rig.terminal.reader_status(&serial),
                ConnectionStatus::NotConnected
            );
            let last = rig.events().into_iter().rev().find_map(|e| match e {
                TerminalEvent::Disconnected { reason, .. } => Some(reason),
                _ => None,
            });
            assert_eq!(
                last,
                Some(DisconnectReason::DisconnectRequested),
                "the app's disconnect is reported as asked, whatever the reader announced before (R8)"
            );
        }
    });
}
