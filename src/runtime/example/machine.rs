//! The turnstile's pure machine: statig handlers and the declared table.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use statig::prelude::*;

use crate::runtime::adapter::{StatigCore, StatigMachine};
use crate::runtime::machine::Outbox;
use crate::runtime::table::{MachineSpec, on, state, superstate};

/// How long the turnstile stays unlocked waiting for a push.
pub const AUTO_LOCK_AFTER: Duration = Duration::from_secs(5);

/// What happens to a turnstile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
pub enum TurnstileInput {
    /// Someone inserted a coin.
    CoinInserted,
    /// Someone pushed the arm.
    Pushed,
    /// The arm finished turning.
    RotationCompleted,
    /// The `AutoLock` timer elapsed: nobody pushed in time.
    AutoLockElapsed,
}

/// What the turnstile asks its shell to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TurnstileOutput {
    /// Release the lock.
    Unlock,
    /// Engage the lock.
    Lock,
    /// Give the coin back: already paid.
    Refund,
    /// Sound the alarm: pushed without paying.
    Alarm,
    /// Let the arm turn; the shell reports `RotationCompleted` when it has.
    Rotate,
}

/// The turnstile's timers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TurnstileTimer {
    /// Nobody pushed in time.
    AutoLock,
}

/// The declared table (see [`crate::runtime::table`]).
pub static SPEC: MachineSpec = MachineSpec {
    name: "turnstile",
    summary: "Example machine of the generic runtime: a coin-operated turnstile with auto-lock.",
    initial: "locked",
    states: &[
        state(
            "locked",
            None,
            &[on("CoinInserted", &["waiting_for_push"]), on("Pushed", &[])],
        ),
        superstate(
            "unlocked",
            None,
            &[on("AutoLockElapsed", &["locked"]), on("CoinInserted", &[])],
        ),
        state(
            "waiting_for_push",
            Some("unlocked"),
            &[on("Pushed", &["rotating"])],
        ),
        state(
            "rotating",
            Some("unlocked"),
            &[on("RotationCompleted", &["locked"])],
        ),
    ],
};

type Out = Outbox<TurnstileOutput, TurnstileTimer>;

/// The statig side: shared storage and handlers.
#[derive(Debug, Default)]
pub struct TurnstileCore {
    /// Coins taken since start; shows shared storage surviving transitions.
    coins: u32,
}

#[state_machine(
    initial = "State::locked()",
    visibility = "pub",
    state(derive(Debug, Clone, strum::IntoStaticStr, strum::VariantNames)),
    superstate(derive(Debug, strum::VariantNames)),
    after_transition = "Self::record_transition"
)]
impl TurnstileCore {
    /// Waits for a coin. `CoinInserted` → `waiting_for_push`; `Pushed` is
    /// handled in place (alarm).
    #[state]
    fn locked(&mut self, context: &mut Out, event: &TurnstileInput) -> Outcome<State> {
        match event {
            TurnstileInput::CoinInserted => {
                self.coins += 1;
                context.emit(TurnstileOutput::Unlock);
                context.start_timer(TurnstileTimer::AutoLock, AUTO_LOCK_AFTER);
                Transition(State::waiting_for_push())
            }
            TurnstileInput::Pushed => {
                context.emit(TurnstileOutput::Alarm);
                Handled
            }
            _ => Super,
        }
    }

    /// Unlocked, paid for. `AutoLockElapsed` → `locked`; `CoinInserted` is
    /// refunded in place.
    #[superstate]
    fn unlocked(context: &mut Out, event: &TurnstileInput) -> Outcome<State> {
        match event {
            TurnstileInput::AutoLockElapsed => {
                context.emit(TurnstileOutput::Lock);
                Transition(State::locked())
            }
            TurnstileInput::CoinInserted => {
                context.emit(TurnstileOutput::Refund);
                Handled
            }
            _ => Super,
        }
    }

    /// Waits for the push. `Pushed` → `rotating`.
    #[state(superstate = "unlocked")]
    fn waiting_for_push(context: &mut Out, event: &TurnstileInput) -> Outcome<State> {
        match event {
            TurnstileInput::Pushed => {
                context.cancel_timer(TurnstileTimer::AutoLock);
                context.emit(TurnstileOutput::Rotate);
                Transition(State::rotating())
            }
            _ => Super,
        }
    }

    /// Waits for the arm to finish turning. `RotationCompleted` → `locked`.
    #[state(superstate = "unlocked")]
    fn rotating(context: &mut Out, event: &TurnstileInput) -> Outcome<State> {
        match event {
            TurnstileInput::RotationCompleted => {
                context.emit(TurnstileOutput::Lock);
                Transition(State::locked())
            }
            _ => Super,
        }
    }
}

impl StatigCore for TurnstileCore {
    type Output = TurnstileOutput;
    type Timer = TurnstileTimer;

    fn spec() -> &'static MachineSpec {
        &SPEC
    }

    fn timer_elapsed(timer: TurnstileTimer) -> TurnstileInput {
        match timer {
            TurnstileTimer::AutoLock => TurnstileInput::AutoLockElapsed,
        }
    }
}

/// The turnstile as a runtime machine.
pub type Turnstile = StatigMachine<TurnstileCore>;

impl Turnstile {
    /// A locked turnstile.
    pub fn new() -> Self {
        StatigMachine::from_core(TurnstileCore::default())
    }

    /// Coins taken so far.
    pub fn coins(&self) -> u32 {
        self.core().coins
    }
}

impl Default for Turnstile {
    fn default() -> Self {
        Self::new()
    }
}
