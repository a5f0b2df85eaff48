//! The reconnect supervisor end to end, on a paused clock (R8–R10, R12):
//! for each way a connection can end, the event stream the app sees and
//! the supervisor's own transition log (from the run's trace) are
//! snapshotted, and the ordering R9 promises is asserted.

mod common;
mod terminal_support;

use std::fmt::Write as _;
use std::time::Duration;

use readerlink::cancelable::{CancelOutcome, Cancelable};
use readerlink::reader::{ConnectionStatus, DisconnectReason, Reader};
use readerlink::reconnect::{Reconnect, ReconnectError, ReconnectPolicy, supervisor_seed};
use readerlink::runtime::{
    RecordBody, ReplayOutcome, Trace, TraceHeader, Tracer, fmt_ms, replay_machine, virtual_time_system,
};
use readerlink::terminal::{ConnectionConfig, TerminalEvent};
use terminal_support::{Rig, rig_with, serial};

const M2: &str = "STRM2-0001";

/// A rig whose trace is kept in memory, with `policy`, and the M2
/// connected (auto-reconnect as asked).
async fn connected(policy: ReconnectPolicy, auto_reconnect: bool) -> (Rig, Tracer, Reader) {
    let tracer = Tracer::memory(TraceHeader::new(42, serde_json::json!({ "test": "reconnect" })));
    let rig = rig_with(tracer.clone(), |b| b.reconnect_policy(policy));
    let [m2] = rig.discover(&[M2]).await.try_into().unwrap();
    let config = ConnectionConfig {
        auto_reconnect_on_unexpected_disconnect: auto_reconnect,
        ..ConnectionConfig::new(&rig.shop.id)
    };
    let m2 = rig.terminal.connect_reader(&m2, config).await.unwrap();
    (rig, tracer, m2)
}

/// The supervisor's records in the trace, one readable line each.
fn supervisor_log(tracer: &Tracer) -> String {
    let trace = Trace::parse(&tracer.contents()).expect("the run's trace parses");
    let mut log = String::new();
    for record in trace.actor(&format!("reconnect:{M2}")) {
        let t = fmt_ms(record.t_ms);
        let line = match &record.body {
            RecordBody::Started { state, .. } => format!("start in {state}"),
            RecordBody::Input { event, input, .. } if input.is_string() => format!("<- {event}"),
            RecordBody::Input { event, input, .. } => format!("<- {event} {input}"),
            RecordBody::Transition { from, to, .. } => format!("{from} -> {to}"),
            RecordBody::Output { output } => format!("-> {output}"),
            RecordBody::TimerStarted { timer, after_ms } => format!("arm {timer} for {}", fmt_ms(*after_ms)),
            RecordBody::TimerCancelled { timer } => format!("disarm {timer}"),
            RecordBody::Panicked { message, .. } => format!("panicked: {message}"),
            RecordBody::Stopped { state, .. } => format!("stopped in {state}"),
        };
        let _ = writeln!(log, "{t:>9}  {line}");
    }
    log
}

/// The reader's events without the battery reports (they come every ten
/// minutes and say nothing about reconnection).
fn event_log(rig: &Rig) -> String {
    rig.event_log()
        .lines()
        .filter(|l| !l.contains("BatteryLevelReported") && !l.contains("DiscoveredReadersUpdated"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The R9 events of the run, by kind name, with their times.
fn reconnect_events(rig: &Rig) -> Vec<(u64, &'static str)> {
    rig.events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(t, e)| {
            let kind = match e {
                TerminalEvent::ReconnectStarted { .. } => "ReconnectStarted",
                TerminalEvent::ReconnectSucceeded { .. } => "ReconnectSucceeded",
                TerminalEvent::ReconnectFailed { .. } => "ReconnectFailed",
                TerminalEvent::Disconnected { .. } => "Disconnected",
                _ => return None,
            };
            Some((*t, kind))
        })
        .collect()
}

fn kinds(events: &[(u64, &'static str)]) -> Vec<&'static str> {
    events.iter().map(|(_, k)| *k).collect()
}

fn snapshot(name: &str, rig: &Rig, tracer: &Tracer) {
    insta::assert_snapshot!(
        name,
        format!(
            "# events\n{}\n# supervisor reconnect:{M2}\n{}",
            event_log(rig),
            supervisor_log(tracer)
        )
    );
}

#[test]
fn a_link_lost_for_3_s_is_reconnected_without_a_disconnect() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        let (rig, tracer, m2) = connected(ReconnectPolicy::default(), true).await;
        rig.world
            .lose_link(&m2.serial_number, Some(Duration::from_secs(3)))
            .unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(
            kinds(&reconnect_events(&rig)),
            ["ReconnectStarted", "ReconnectSucceeded"]
        );
        assert_eq!(
            rig.terminal.reader_status(&m2.serial_number),
            ConnectionStatus::Connected
        );
        assert!(rig.events().iter().any(|e| matches!(
            e,
            TerminalEvent::ReconnectStarted {
                reason: DisconnectReason::BluetoothSignalLost,
                ..
            }
        )));
        snapshot("reconnect_link_lost_for_3_s", &rig, &tracer);
    });
}

#[test]
fn a_reader_powered_off_for_good_fails_at_the_windows_end_then_disconnects() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        let (rig, tracer, m2) = connected(ReconnectPolicy::default(), true).await;
        rig.world.cut_power(&m2.serial_number).unwrap();
        tokio::time::sleep(Duration::from_secs(120)).await;
        let events = reconnect_events(&rig);
        assert_eq!(
            kinds(&events),
            ["ReconnectStarted", "ReconnectFailed", "Disconnected"]
        );
        assert_eq!(
            events[1].0 - events[0].0,
            60_000,
            "it fails when the 60 s window ends"
        );
        assert_eq!(events[1].0, events[2].0, "Disconnected follows at once");
        let failed = rig.events().into_iter().find_map(|e| match e {
            TerminalEvent::ReconnectFailed { error, .. } => Some(error),
            _ => None,
        });
        assert_eq!(failed.map(|e| e.code()), Some("connect_timed_out"));
        assert!(rig.events().contains(&TerminalEvent::Disconnected {
            serial_number: m2.serial_number.clone(),
            reason: DisconnectReason::BluetoothSignalLost,
        }));
        assert_eq!(
            rig.terminal.reader_status(&m2.serial_number),
            ConnectionStatus::NotConnected
        );
        assert_eq!(rig.terminal.connection_status(), ConnectionStatus::NotConnected);
        snapshot("reconnect_powered_off_for_good", &rig, &tracer);

        // The supervisor's run, jitter included, follows from the run's
        // seed (42) and the serial number alone.
        let trace = Trace::parse(&tracer.contents()).unwrap();
        let seed = supervisor_seed(42, &m2.serial_number);
        let replayed = replay_machine(&trace, &format!("reconnect:{M2}"), || {
            Reconnect::new(seed, ReconnectPolicy::default())
        });
        match replayed.unwrap() {
            ReplayOutcome::Reproduced { inputs, .. } => assert!(inputs >= 13, "{inputs} inputs"),
            ReplayOutcome::Diverged(d) => panic!("the supervisor diverged: {d}"),
        }
    });
}

#[test]
fn cancelling_mid_backoff_stops_the_attempts_and_a_second_cancel_is_harmless() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        // Long waits, so soon after the first failed attempt (the link
        // timeout, 10 s after the loss is noticed) the supervisor is surely
        // backing off.
        let policy = ReconnectPolicy {
            first_backoff: Duration::from_secs(20),
            max_backoff: Duration::from_secs(20),
            ..ReconnectPolicy::default()
        };
        let (rig, tracer, m2) = connected(policy, true).await;
        rig.world.cut_power(&m2.serial_number).unwrap();
        tokio::time::sleep(Duration::from_secs(16)).await;
        let cancelable: Cancelable = rig
            .events()
            .into_iter()
            .find_map(|e| match e {
                TerminalEvent::ReconnectStarted { cancelable, .. } => Some(cancelable),
                _ => None,
            })
            .expect("reconnection started");
        assert_eq!(
            rig.terminal.reader_status(&m2.serial_number),
            ConnectionStatus::Reconnecting
        );
        assert_eq!(cancelable.cancel().await, CancelOutcome::Cancelled);
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(cancelable.cancel().await, CancelOutcome::AlreadyEnded);
        assert_eq!(
            rig.terminal.cancel_reconnect(&m2.serial_number).await,
            CancelOutcome::AlreadyEnded
        );
        assert_eq!(
            kinds(&reconnect_events(&rig)),
            ["ReconnectStarted", "ReconnectFailed", "Disconnected"]
        );
        assert!(rig.events().iter().any(|e| matches!(
            e,
            TerminalEvent::ReconnectFailed {
                error: ReconnectError::Cancelled,
                ..
            }
        )));
        let log = supervisor_log(&tracer);
        let after_cancel = log
            .split("<- CancelRequested")
            .nth(1)
            .expect("the cancel is in the log");
        assert!(
            !after_cancel.contains("AttemptDue"),
            "no attempt after the cancel:\n{log}"
        );
        assert!(log.contains("backing_off -> gave_up"), "{log}");
        assert_eq!(
            rig.terminal.reader_status(&m2.serial_number),
            ConnectionStatus::NotConnected
        );
        snapshot("reconnect_cancelled_mid_backoff", &rig, &tracer);
    });
}

#[test]
fn with_auto_reconnect_off_only_disconnected_is_reported() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        let (rig, tracer, m2) = connected(ReconnectPolicy::default(), false).await;
        rig.world
            .lose_link(&m2.serial_number, Some(Duration::from_secs(3)))
            .unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(kinds(&reconnect_events(&rig)), ["Disconnected"]);
        assert!(rig.events().contains(&TerminalEvent::Disconnected {
            serial_number: m2.serial_number.clone(),
            reason: DisconnectReason::BluetoothSignalLost,
        }));
        assert_eq!(
            rig.terminal.reader_status(&m2.serial_number),
            ConnectionStatus::NotConnected
        );
        snapshot("reconnect_auto_reconnect_off", &rig, &tracer);
    });
}

#[test]
fn a_critically_low_battery_is_not_reconnected() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        let (rig, tracer, m2) = connected(ReconnectPolicy::default(), true).await;
        rig.world.set_charging(&m2.serial_number, false).unwrap();
        rig.world.set_battery(&m2.serial_number, 0.005).unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(kinds(&reconnect_events(&rig)), ["Disconnected"]);
        assert!(rig.events().contains(&TerminalEvent::Disconnected {
            serial_number: m2.serial_number.clone(),
            reason: DisconnectReason::CriticallyLowBattery,
        }));
        snapshot("reconnect_critically_low_battery", &rig, &tracer);
    });
}

#[test]
fn the_apps_own_disconnect_is_not_reconnected() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        let (rig, tracer, m2) = connected(ReconnectPolicy::default(), true).await;
        rig.terminal.disconnect_reader(&m2.serial_number).await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(kinds(&reconnect_events(&rig)), ["Disconnected"]);
        assert_eq!(
            rig.terminal.cancel_reconnect(&m2.serial_number).await,
            CancelOutcome::AlreadyEnded,
            "nothing to cancel"
        );
        snapshot("reconnect_apps_own_disconnect", &rig, &tracer);
    });
}

#[test]
fn a_reader_walking_out_of_range_and_back_four_times_in_an_hour_is_reconnected_each_time() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        let (rig, tracer, m2) = connected(ReconnectPolicy::default(), true).await;
        let reader = serial(M2);
        for away in [10, 25, 40, 5] {
            tokio::time::sleep(Duration::from_secs(12 * 60)).await;
            rig.world.move_reader(&reader, 150.0).unwrap();
            tokio::time::sleep(Duration::from_secs(away)).await;
            rig.world.move_reader(&reader, 1.2).unwrap();
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            kinds(&reconnect_events(&rig)),
            ["ReconnectStarted", "ReconnectSucceeded"].repeat(4)
        );
        assert_eq!(
            rig.terminal.reader_status(&m2.serial_number),
            ConnectionStatus::Connected
        );
        snapshot("reconnect_walks_out_of_range_four_times", &rig, &tracer);
    });
}

#[test]
fn reconnect_at_start_stops_discovery_when_the_saved_reader_is_not_seen() {
    virtual_time_system().block_on(async {
        let rig = rig_with(Tracer::off(), |b| b);
        assert_eq!(
            rig.terminal
                .reconnect_saved_reader(Duration::from_secs(5))
                .await
                .unwrap_err()
                .code(),
            "no_saved_reader"
        );
        use readerlink::store::Store as _;
        rig.store
            .set_last_connected(&serial("STRM2-9999"), &rig.shop.id)
            .unwrap();
        let started = tokio::time::Instant::now();
        let error = rig
            .terminal
            .reconnect_saved_reader(Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(error.code(), "saved_reader_not_found");
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(5),
            "it looks for the timeout, no longer"
        );
        rig.settle().await;
        assert_eq!(
            rig.terminal.connection_status(),
            ConnectionStatus::NotConnected,
            "discovery stopped"
        );
        let steps: Vec<TerminalEvent> = rig
            .events()
            .into_iter()
            .filter(|e| {
                matches!(
                    e,
                    TerminalEvent::SavedReaderReconnectStarted { .. }
                        | TerminalEvent::SavedReaderFound { .. }
                        | TerminalEvent::SavedReaderNotFound { .. }
                )
            })
            .collect();
        assert_eq!(
            steps,
            [
                TerminalEvent::SavedReaderReconnectStarted {
                    serial_number: serial("STRM2-9999"),
                    location: rig.shop.id.clone(),
                },
                TerminalEvent::SavedReaderNotFound {
                    serial_number: serial("STRM2-9999"),
                },
            ]
        );
        assert!(rig.terminal.connected_readers().is_empty());
    });
}

#[test]
fn an_app_asking_on_reconnect_started_already_sees_the_reader_reconnecting() {
    use futures::StreamExt;
    virtual_time_system().block_on(async {
        let (rig, _tracer, m2) = connected(ReconnectPolicy::default(), true).await;
        let mut events = rig.terminal.events();
        rig.world
            .lose_link(&m2.serial_number, Some(Duration::from_secs(3)))
            .unwrap();
        let started = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Some(TerminalEvent::ReconnectStarted { .. }) = events.next().await {
                    break;
                }
            }
        })
        .await;
        assert!(started.is_ok(), "the reconnection started");
        assert_eq!(
            rig.terminal.reader_status(&m2.serial_number),
            ConnectionStatus::Reconnecting
        );
    });
}
