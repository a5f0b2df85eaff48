//! R20 over random runs of the whole terminal on a paused clock: whatever
//! the sequence of transactions, app reboots, link losses and waits, no
//! reboot — the app's, the runtime's 24-hour one, or the reader's own —
//! starts while a transaction runs. Transactions last under the runtime's
//! 10-minute lead, as payments do: the runtime then always finds a moment
//! without one before the reader's own deadline.

mod terminal_support;

use std::time::Duration;

use proptest::prelude::*;
use readerlink::reader::DisconnectReason;
use readerlink::runtime::{Tracer, virtual_time_system};
use readerlink::terminal::{ConnectionConfig, TerminalEvent, Transaction};
use terminal_support::{rig, serial};

#[derive(Debug, Clone)]
enum Step {
    /// A payment of this many seconds (under 10 minutes).
    Transaction(u64),
    /// The app asks for a reboot.
    AppReboot,
    /// The link drops for this many seconds.
    LoseLink(u64),
    /// Time passes: this many minutes.
    Wait(u64),
    /// Time passes until the reader has run 24 h less this many minutes:
    /// near the reboots, where the interleavings that matter are.
    NearDeadline(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1u64..590).prop_map(Step::Transaction),
        1 => Just(Step::AppReboot),
        1 => (1u64..120).prop_map(Step::LoseLink),
        2 => (1u64..600).prop_map(Step::Wait),
        2 => (0u64..20).prop_map(Step::NearDeadline),
    ]
}

/// What a run saw: each transaction's span, and when each reboot started
/// (ms), with its reason.
struct Seen {
    spans: Vec<(u64, u64)>,
    reboots: Vec<(u64, DisconnectReason)>,
}

/// Runs `steps` on an M2 that has run for `uptime_h` hours.
fn run(uptime_h: u64, steps: Vec<Step>) -> Seen {
    virtual_time_system().block_on(async move {
        let rig = rig(Tracer::off());
        let m2 = serial("STRM2-0001");
        rig.world.set_charging(&m2, true).unwrap();
        rig.world
            .set_uptime(&m2, Duration::from_secs(uptime_h * 3600))
            .unwrap();
        let reader = rig.discover(&["STRM2-0001"]).await.remove(0);
        rig.terminal
            .connect_reader(&reader, ConnectionConfig::new(&rig.shop.id))
            .await
            .unwrap();
        let now = || rig.world.now();
        let mut spans = Vec::new();
        for step in steps {
            match step {
                Step::Transaction(secs) => {
                    // A reader reconnecting or rebooting refuses: no span.
                    let started: Option<Transaction> = rig.terminal.start_transaction(&m2).await.ok();
                    if let Some(transaction) = started {
                        let from = now();
                        tokio::time::sleep(Duration::from_secs(secs)).await;
                        let until = now();
                        let _ = transaction.end().await;
                        spans.push((from, until));
                    }
                }
                Step::AppReboot => {
                    let _ = rig.terminal.reboot_reader(&m2).await;
                }
                Step::LoseLink(secs) => {
                    rig.world.lose_link(&m2, Some(Duration::from_secs(secs))).unwrap();
                }
                Step::Wait(minutes) => tokio::time::sleep(Duration::from_secs(minutes * 60)).await,
                Step::NearDeadline(minutes) => {
                    let uptime = rig.world.reader_state(&m2).unwrap().uptime_ms;
                    let target = (24 * 60 - minutes) * 60_000;
                    if let Some(wait) = target.checked_sub(uptime) {
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        let reboots = rig
            .events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(t, e)| match e {
                TerminalEvent::ReconnectStarted { reason, .. }
                | TerminalEvent::Disconnected { reason, .. }
                    if matches!(
                        reason,
                        DisconnectReason::RebootRequested | DisconnectReason::SecurityReboot
                    ) =>
                {
                    Some((*t, *reason))
                }
                _ => None,
            })
            .collect();
        Seen { spans, reboots }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn no_reboot_starts_inside_a_transaction(
        uptime_h in 0u64..24,
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let Seen { spans, reboots } = run(uptime_h, steps);
        for (t, reason) in &reboots {
            for (from, until) in &spans {
                // The rig's event clock and the world's differ by the few
                // ms between their starts: a margin keeps the check about
                // overlap, not clock skew.
                prop_assert!(
                    !(from + 50 < *t && *t + 50 < *until),
                    "{reason:?} reboot at {t} ms inside the transaction {from}..{until} ms"
                );
            }
        }
    }
}
