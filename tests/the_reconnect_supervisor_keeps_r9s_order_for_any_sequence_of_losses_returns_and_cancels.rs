//! The reconnect supervisor's machine on its own (no actors, virtual
//! time): for any sequence of link losses, attempts that succeed or fail,
//! cancels and waits, the events it leads the hub to publish keep R9's
//! order, and it ends in the state its last event says. And its backoff
//! doubles, with jitter drawn from its seed.

mod common;

use std::time::Duration;

use proptest::prelude::*;
use readerlink::cancelable::CancelOutcome;
use readerlink::connection::ConnectError;
use readerlink::reader::DisconnectReason;
use readerlink::reconnect::{
    Reconnect, ReconnectError, ReconnectEvent, ReconnectInput, ReconnectOutput, ReconnectPolicy,
    ReconnectTimer,
};
use readerlink::runtime::{Harness, Millis};

const REASONS: [DisconnectReason; 6] = [
    DisconnectReason::BluetoothSignalLost,
    DisconnectReason::PoweredOff,
    DisconnectReason::SecurityReboot,
    DisconnectReason::Unknown,
    DisconnectReason::CriticallyLowBattery,
    DisconnectReason::DisconnectRequested,
];

#[derive(Debug, Clone)]
enum Op {
    /// The connected reader's connection ends.
    Lost { reason: usize, auto_reconnect: bool },
    /// The attempt under way connects the reader.
    AttemptSucceeds,
    /// The attempt under way fails.
    AttemptFails,
    /// The app cancels.
    Cancel,
    /// The app connects the (not connected) reader itself.
    AppConnects,
    /// Time passes.
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..REASONS.len(), prop::bool::weighted(0.8))
            .prop_map(|(reason, auto_reconnect)| Op::Lost { reason, auto_reconnect }),
        2 => Just(Op::AttemptSucceeds),
        3 => Just(Op::AttemptFails),
        1 => Just(Op::Cancel),
        1 => Just(Op::AppConnects),
        3 => (0u64..40_000).prop_map(Op::Wait),
    ]
}

/// What the app sees (as the hub publishes it), with times.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Started,
    Succeeded,
    Failed(ReconnectError),
    Disconnected,
}

struct World {
    harness: Harness<Reconnect>,
    attempt_running: bool,
    seen: Vec<(Millis, Seen)>,
    /// Each cancel: whether a reconnection was open, and its answer.
    cancels: Vec<(bool, Option<CancelOutcome>)>,
    next_call: u64,
    window_ms: u64,
    /// How many of the harness's outputs were looked at.
    cursor: usize,
}

impl World {
    fn new(seed: u64) -> Self {
        let policy = ReconnectPolicy::default();
        let mut world = Self {
            harness: Harness::new(Reconnect::new(seed, policy)),
            attempt_running: false,
            seen: Vec::new(),
            cancels: Vec::new(),
            next_call: 1,
            window_ms: policy.window.as_millis() as u64,
            cursor: 0,
        };
        world.input(ReconnectInput::ReaderConnected);
        world
    }

    fn open(&self) -> bool {
        matches!(self.harness.state(), "attempting" | "backing_off")
    }

    /// Looks at the outputs since the last look, each at the time it was
    /// emitted (a wait can elapse several timers).
    fn outputs(&mut self, _: Vec<ReconnectOutput>) {
        let new: Vec<(Millis, ReconnectOutput)> = self.harness.outputs()[self.cursor..].to_vec();
        self.cursor += new.len();
        for (now, output) in new {
            match output {
                ReconnectOutput::Report(ReconnectEvent::Started { .. }) => {
                    self.seen.push((now, Seen::Started))
                }
                ReconnectOutput::Report(ReconnectEvent::AttemptDue { .. }) => {
                    assert!(!self.attempt_running, "one attempt at a time");
                    self.attempt_running = true;
                }
                ReconnectOutput::Report(ReconnectEvent::AttemptAbandoned) => {
                    assert!(self.attempt_running, "only an attempt under way is abandoned");
                    self.attempt_running = false;
                }
                ReconnectOutput::Report(ReconnectEvent::Succeeded) => self.seen.push((now, Seen::Succeeded)),
                ReconnectOutput::Report(ReconnectEvent::Failed { error, .. }) => {
                    assert!(
                        !self.attempt_running,
                        "the attempt is abandoned before the failure"
                    );
                    self.seen.push((now, Seen::Failed(error)));
                    self.seen.push((now, Seen::Disconnected));
                }
                ReconnectOutput::Report(ReconnectEvent::MachineRestarted { .. }) => {
                    panic!("the machine never reports its own restart: its shell does")
                }
                ReconnectOutput::CancelAnswered { outcome, .. } => {
                    let last = self.cancels.last_mut().expect("a cancel was asked");
                    assert!(last.1.replace(outcome).is_none(), "answered once");
                }
            }
        }
    }

    fn input(&mut self, input: ReconnectInput) {
        let outputs = self.harness.input(input);
        self.outputs(outputs);
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Lost {
                reason,
                auto_reconnect,
            } => {
                if self.harness.state() != "watching" {
                    return;
                }
                let reason = REASONS[*reason];
                if !(*auto_reconnect && reason.reconnects()) {
                    // The hub reports it at once (R10).
                    self.seen.push((self.harness.now(), Seen::Disconnected));
                }
                self.input(ReconnectInput::ConnectionLost {
                    reason,
                    auto_reconnect: *auto_reconnect,
                });
            }
            Op::AttemptSucceeds if self.attempt_running => {
                self.attempt_running = false;
                self.input(ReconnectInput::ReaderConnected);
            }
            Op::AttemptFails if self.attempt_running => {
                self.attempt_running = false;
                self.input(ReconnectInput::AttemptFailed {
                    error: ConnectError::LinkTimedOut { after_ms: 10_000 },
                });
            }
            Op::AttemptSucceeds | Op::AttemptFails => {}
            Op::Cancel => {
                let call = self.next_call;
                self.next_call += 1;
                self.cancels.push((self.open(), None));
                self.input(ReconnectInput::CancelRequested { call });
            }
            Op::AppConnects => {
                if matches!(self.harness.state(), "disabled" | "gave_up") {
                    self.input(ReconnectInput::ReaderConnected);
                }
            }
            Op::Wait(ms) => {
                let outputs = self.harness.advance(Duration::from_millis(*ms));
                self.outputs(outputs);
            }
        }
    }
}

/// R9's order: `Started`, then exactly one of `Succeeded` or `Failed`, and
/// `Failed` at once followed by `Disconnected`; a `Disconnected` on its own
/// only while no reconnection is open. A timed-out failure comes exactly
/// when the window ends.
fn check_order(seen: &[(Millis, Seen)], window_ms: u64) {
    let mut open: Option<Millis> = None;
    let mut i = 0;
    while i < seen.len() {
        let (t, event) = &seen[i];
        match event {
            Seen::Started => {
                assert!(open.is_none(), "Started while one is open: {seen:?}");
                open = Some(*t);
            }
            Seen::Succeeded => {
                assert!(open.take().is_some(), "Succeeded with none open: {seen:?}");
            }
            Seen::Failed(error) => {
                let started = open.take().expect("Failed with none open");
                if matches!(error, ReconnectError::ConnectTimedOut { .. }) {
                    assert_eq!(t - started, window_ms, "times out at the window's end");
                } else {
                    assert!(t - started <= window_ms);
                }
                assert_eq!(
                    seen.get(i + 1).map(|(_, e)| e),
                    Some(&Seen::Disconnected),
                    "{seen:?}"
                );
                i += 1;
            }
            Seen::Disconnected => assert!(open.is_none(), "Disconnected alone while open: {seen:?}"),
        }
        i += 1;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_sequence_keeps_r9s_order_and_ends_where_its_last_event_says(
        seed in any::<u64>(),
        ops in prop::collection::vec(op(), 0..60),
    ) {
        let mut world = World::new(seed);
        for op in &ops {
            world.apply(op);
        }
        check_order(&world.seen, world.window_ms);
        for (open, outcome) in &world.cancels {
            let expected = if *open { CancelOutcome::Cancelled } else { CancelOutcome::AlreadyEnded };
            prop_assert_eq!(*outcome, Some(expected), "every cancel is answered, once");
        }
        let state = world.harness.state();
        match world.seen.last().map(|(_, e)| e) {
            Some(Seen::Started) => prop_assert!(matches!(state, "attempting" | "backing_off"), "{}", state),
            Some(Seen::Succeeded) => prop_assert_eq!(state, "watching"),
            Some(Seen::Failed(_)) => unreachable!("Disconnected follows every Failed"),
            Some(Seen::Disconnected) => prop_assert!(
                matches!(state, "disabled" | "gave_up" | "watching"),
                "{}", state
            ),
            None => prop_assert_eq!(state, "watching"),
        }
        // While a reconnection is open the window is armed, and nothing is
        // armed once it is over.
        let armed: Vec<ReconnectTimer> = world.harness.armed_timers().into_iter().map(|(_, t)| t).collect();
        if world.open() {
            prop_assert!(armed.contains(&ReconnectTimer::Window));
        } else {
            prop_assert!(armed.is_empty(), "{:?}", armed);
        }
    }
}

#[test]
fn backoff_doubles_up_to_its_cap_with_jitter_from_the_seed() {
    let _snapshots = common::snapshots();
    let run = |seed: u64| {
        let mut h = Harness::new(Reconnect::new(seed, ReconnectPolicy::default()));
        h.note(&format!("seed {seed}"));
        h.input(ReconnectInput::ReaderConnected);
        h.input(ReconnectInput::ConnectionLost {
            reason: DisconnectReason::BluetoothSignalLost,
            auto_reconnect: true,
        });
        let mut waits = Vec::new();
        for _ in 0..7 {
            h.input(ReconnectInput::AttemptFailed {
                error: ConnectError::LinkTimedOut { after_ms: 10 },
            });
            let (due, _) = h
                .armed_timers()
                .into_iter()
                .find(|(_, t)| *t == ReconnectTimer::Backoff)
                .expect("backing off");
            waits.push(due - h.now());
            h.advance_to(due);
        }
        (waits, h.log().to_owned())
    };
    let (waits, log) = run(7);
    let full = [1_000, 2_000, 4_000, 8_000, 16_000, 16_000, 16_000];
    for (wait, full) in waits.iter().zip(full) {
        assert!((full / 2..=full).contains(wait), "{waits:?}");
    }
    assert_eq!(run(7).0, waits, "the same seed backs off the same");
    assert_ne!(run(8).0, waits, "another seed backs off otherwise");
    insta::assert_snapshot!("reconnect_machine_backoff", log);
}

/// A supervisor that missed the reader's connect (a fresh machine after a
/// panic starts in `disabled`; one that gave up may not have heard of the
/// app's connect yet) still handles the loss as `watching` would.
#[test]
fn a_supervisor_that_missed_the_connect_still_handles_the_loss() {
    let lost = |reason, auto_reconnect| ReconnectInput::ConnectionLost {
        reason,
        auto_reconnect,
    };
    let mut fresh = Harness::new(Reconnect::new(1, ReconnectPolicy::default()));
    fresh.input(lost(DisconnectReason::CriticallyLowBattery, true));
    assert_eq!(fresh.state(), "disabled");
    fresh.input(lost(DisconnectReason::BluetoothSignalLost, true));
    assert_eq!(fresh.state(), "attempting");

    let gave_up = || {
        let mut h = Harness::new(Reconnect::new(1, ReconnectPolicy::default()));
        h.input(lost(DisconnectReason::PoweredOff, true));
        h.advance(ReconnectPolicy::default().window);
        assert_eq!(h.state(), "gave_up");
        h
    };
    let mut h = gave_up();
    let outputs = h.input(lost(DisconnectReason::SecurityReboot, true));
    assert_eq!(h.state(), "attempting");
    assert!(
        outputs.contains(&ReconnectOutput::Report(ReconnectEvent::Started {
            reason: DisconnectReason::SecurityReboot
        }))
    );
    let mut h = gave_up();
    assert!(h.input(lost(DisconnectReason::PoweredOff, false)).is_empty());
    assert_eq!(h.state(), "disabled");
}
