//! The reconnect supervisor's pure machine: statig handlers and the
//! declared table.
//!
//! ```text
//! disabled ⇄ watching
//! reconnecting
//!   attempting ⇄ backing_off
//! gave_up
//! ```
//!
//! It watches one reader's connection. When the connection ends for a
//! reason that reconnects (R8) and the reader's auto-reconnect is on, it
//! starts the reconnect window and asks for attempts, waiting between them
//! with exponential backoff and seeded jitter, until one succeeds (→
//! `watching`), the window runs out or the app cancels (→ `gave_up`). Any
//! other end of the connection (the app's disconnect, a critically low
//! battery, auto-reconnect off) is reported by the hub as `Disconnected`
//! at once (R10) and leads here to `disabled`.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statig::prelude::*;

use super::messages::{
    ReconnectError, ReconnectEvent, ReconnectInput, ReconnectOutput, ReconnectPolicy, ReconnectTimer,
};
use crate::cancelable::CancelOutcome;
use crate::connection::ConnectError;
use crate::reader::{DisconnectReason, SerialNumber};
use crate::runtime::adapter::{StatigCore, StatigMachine};
use crate::runtime::machine::Outbox;
use crate::runtime::table::{MachineSpec, on, state, superstate};

/// The declared table (see [`crate::runtime::table`]).
pub static SPEC: MachineSpec = MachineSpec {
    name: "reconnect",
    summary: "One reader's reconnect supervisor: on an unexpected disconnect with auto-reconnect on, attempts within a window with seeded backoff until it succeeds, times out or is cancelled (R8-R10).",
    initial: "disabled",
    states: &[
        superstate(
            "not_reconnecting",
            None,
            &[
                on("ConnectionLost", &["attempting", "disabled"]),
                on("CancelRequested", &[]),
                on("AttemptFailed", &[]),
                on("BackoffElapsed", &[]),
                on("WindowElapsed", &[]),
            ],
        ),
        state(
            "disabled",
            Some("not_reconnecting"),
            &[on("ReaderConnected", &["watching"])],
        ),
        state(
            "watching",
            Some("not_reconnecting"),
            &[on("ReaderConnected", &[])],
        ),
        superstate(
            "reconnecting",
            None,
            &[
                on("CancelRequested", &["gave_up"]),
                on("WindowElapsed", &["gave_up"]),
                on("ConnectionLost", &[]),
                on("ReaderConnected", &[]),
                on("AttemptFailed", &[]),
            ],
        ),
        state(
            "attempting",
            Some("reconnecting"),
            &[
                on("ReaderConnected", &["watching"]),
                on("AttemptFailed", &["backing_off"]),
            ],
        ),
        state(
            "backing_off",
            Some("reconnecting"),
            &[on("BackoffElapsed", &["attempting"])],
        ),
        state(
            "gave_up",
            Some("not_reconnecting"),
            &[on("ReaderConnected", &["watching"])],
        ),
    ],
};

type Out = Outbox<ReconnectOutput, ReconnectTimer>;

/// The statig side: what a supervisor remembers across states.
#[derive(Debug)]
pub struct ReconnectCore {
    policy: ReconnectPolicy,
    /// The seed the jitter comes from, for the record.
    seed: u64,
    rng: ChaCha8Rng,
    /// Why the connection ended, for the reconnection under way.
    reason: DisconnectReason,
    /// Attempts asked for in the reconnection under way.
    attempts: u32,
    /// Whether an attempt's connect is under way (so ending the
    /// reconnection stops it).
    attempt_running: bool,
    /// The last failed attempt's error.
    last_error: Option<ConnectError>,
}

#[state_machine(
    initial = "State::disabled()",
    visibility = "pub",
    state(derive(Debug, Clone, strum::IntoStaticStr, strum::VariantNames)),
    superstate(derive(Debug, strum::VariantNames)),
    after_transition = "Self::record_transition"
)]
impl ReconnectCore {
    /// No reconnection runs. `ConnectionLost` → `attempting` (window
    /// armed, `Started`, the first `AttemptDue`) when the reason reconnects
    /// (R8) and auto-reconnect is on, else → `disabled` (R10); a cancel
    /// answers `AlreadyEnded`; everything else is handled in place.
    #[superstate]
    fn not_reconnecting(&mut self, context: &mut Out, event: &ReconnectInput) -> Outcome<State> {
        match event {
            ReconnectInput::ConnectionLost {
                reason,
                auto_reconnect,
            } => self.lost(context, *reason, *auto_reconnect),
            ReconnectInput::CancelRequested { call } => {
                Self::already_ended(context, *call);
                Handled
            }
            _ => Handled,
        }
    }

    /// The reader is not connected (a supervisor restarted after a panic
    /// starts here too, and must still reconnect the reader it missed
    /// connecting). `ReaderConnected` → `watching`.
    #[state(superstate = "not_reconnecting")]
    fn disabled(event: &ReconnectInput) -> Outcome<State> {
        match event {
            ReconnectInput::ReaderConnected => Transition(State::watching()),
            _ => Super,
        }
    }

    /// The reader is connected; `ReaderConnected` is handled in place.
    #[state(superstate = "not_reconnecting")]
    fn watching(event: &ReconnectInput) -> Outcome<State> {
        match event {
            ReconnectInput::ReaderConnected => Handled,
            _ => Super,
        }
    }

    /// A reconnection runs. `CancelRequested` → `gave_up` (answered
    /// `Cancelled`, `Failed { Cancelled }`); the window's end → `gave_up`
    /// (`Failed { ConnectTimedOut }`); either stops an attempt under way
    /// first. Everything else is handled in place.
    #[superstate]
    fn reconnecting(&mut self, context: &mut Out, event: &ReconnectInput) -> Outcome<State> {
        match event {
            ReconnectInput::CancelRequested { call } => {
                context.emit(ReconnectOutput::CancelAnswered {
                    call: *call,
                    outcome: CancelOutcome::Cancelled,
                });
                self.give_up(context, ReconnectError::Cancelled)
            }
            ReconnectInput::WindowElapsed => {
                let error = ReconnectError::ConnectTimedOut {
                    window_ms: self.policy.window.as_millis() as u64,
                    attempts: self.attempts,
                    last_error: self.last_error.clone(),
                };
                self.give_up(context, error)
            }
            _ => Handled,
        }
    }

    /// An attempt's connect is under way. `ReaderConnected` → `watching`
    /// (`Succeeded`); `AttemptFailed` → `backing_off` (backoff armed).
    #[state(superstate = "reconnecting")]
    fn attempting(&mut self, context: &mut Out, event: &ReconnectInput) -> Outcome<State> {
        match event {
            ReconnectInput::ReaderConnected => {
                self.attempt_running = false;
                context.cancel_timer(ReconnectTimer::Window);
                context.emit(ReconnectOutput::Report(ReconnectEvent::Succeeded));
                Transition(State::watching())
            }
            ReconnectInput::AttemptFailed { error } => {
                self.attempt_running = false;
                self.last_error = Some(error.clone());
                let wait = self.backoff();
                context.start_timer(ReconnectTimer::Backoff, wait);
                Transition(State::backing_off())
            }
            _ => Super,
        }
    }

    /// Waits before the next attempt. `BackoffElapsed` → `attempting`
    /// (the next `AttemptDue`).
    #[state(superstate = "reconnecting")]
    fn backing_off(&mut self, context: &mut Out, event: &ReconnectInput) -> Outcome<State> {
        match event {
            ReconnectInput::BackoffElapsed => {
                self.attempt(context);
                Transition(State::attempting())
            }
            _ => Super,
        }
    }

    /// The last reconnection failed (timed out or cancelled); the reader is
    /// not connected. `ReaderConnected` (the app connected it again) →
    /// `watching`.
    #[state(superstate = "not_reconnecting")]
    fn gave_up(event: &ReconnectInput) -> Outcome<State> {
        match event {
            ReconnectInput::ReaderConnected => Transition(State::watching()),
            _ => Super,
        }
    }
}

impl ReconnectCore {
    fn new(seed: u64, policy: ReconnectPolicy) -> Self {
        Self {
            policy,
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            reason: DisconnectReason::Unknown,
            attempts: 0,
            attempt_running: false,
            last_error: None,
        }
    }

    /// The connection ended: reconnect (R9) when the reason reconnects
    /// (R8) and auto-reconnect is on, else stop watching (R10).
    fn lost(&mut self, context: &mut Out, reason: DisconnectReason, auto_reconnect: bool) -> Outcome<State> {
        if !(auto_reconnect && reason.reconnects()) {
            return Transition(State::disabled());
        }
        self.reason = reason;
        self.attempts = 0;
        self.last_error = None;
        context.start_timer(ReconnectTimer::Window, self.policy.window);
        context.emit(ReconnectOutput::Report(ReconnectEvent::Started { reason }));
        self.attempt(context);
        Transition(State::attempting())
    }

    fn already_ended(context: &mut Out, call: u64) {
        context.emit(ReconnectOutput::CancelAnswered {
            call,
            outcome: CancelOutcome::AlreadyEnded,
        });
    }

    fn attempt(&mut self, context: &mut Out) {
        self.attempts += 1;
        self.attempt_running = true;
        context.emit(ReconnectOutput::Report(ReconnectEvent::AttemptDue {
            attempt: self.attempts,
        }));
    }

    /// The wait after the `attempts`-th failure: the first backoff doubled
    /// per failure, capped, then drawn between half and all of it.
    fn backoff(&mut self) -> Duration {
        let doublings = self.attempts.saturating_sub(1).min(16);
        let full = self
            .policy
            .first_backoff
            .saturating_mul(1 << doublings)
            .min(self.policy.max_backoff);
        let full_ms = full.as_millis() as u64;
        Duration::from_millis(self.rng.random_range(full_ms / 2..=full_ms.max(1)))
    }

    fn give_up(&mut self, context: &mut Out, error: ReconnectError) -> Outcome<State> {
        context.cancel_timer(ReconnectTimer::Window);
        context.cancel_timer(ReconnectTimer::Backoff);
        if std::mem::take(&mut self.attempt_running) {
            context.emit(ReconnectOutput::Report(ReconnectEvent::AttemptAbandoned));
        }
        context.emit(ReconnectOutput::Report(ReconnectEvent::Failed {
            error,
            reason: self.reason,
        }));
        Transition(State::gave_up())
    }
}

/// The seed of one reader's supervisor: the run's seed mixed with the
/// reader's serial number (FNV-1a), so readers of one run back off
/// differently and every run with the same seed backs off the same.
pub fn supervisor_seed(run_seed: u64, serial: &SerialNumber) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in serial.as_str().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    run_seed ^ hash
}

impl StatigCore for ReconnectCore {
    type Output = ReconnectOutput;
    type Timer = ReconnectTimer;

    fn spec() -> &'static MachineSpec {
        &SPEC
    }

    fn seed(&self) -> Option<u64> {
        Some(self.seed)
    }

    fn timer_elapsed(timer: ReconnectTimer) -> ReconnectInput {
        match timer {
            ReconnectTimer::Backoff => ReconnectInput::BackoffElapsed,
            ReconnectTimer::Window => ReconnectInput::WindowElapsed,
        }
    }

    fn accepts(&self, input: &ReconnectInput) -> bool {
        #[cfg(test)]
        if matches!(input, ReconnectInput::PanicInjected) {
            panic!("a unit test injected a panic");
        }
        let _ = input;
        true
    }
}

/// One reader's reconnect supervisor as a runtime machine.
pub type Reconnect = StatigMachine<ReconnectCore>;

impl Reconnect {
    /// A supervisor in `disabled`, its jitter drawn from `seed`.
    pub fn new(seed: u64, policy: ReconnectPolicy) -> Self {
        StatigMachine::from_core(ReconnectCore::new(seed, policy))
    }

    /// The seed its jitter comes from.
    pub fn seed(&self) -> u64 {
        self.core().seed
    }

    /// Attempts asked for in the current (or last) reconnection.
    pub fn attempts(&self) -> u32 {
        self.core().attempts
    }
}
