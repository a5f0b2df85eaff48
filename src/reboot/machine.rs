//! The reboot timer's pure machine: statig handlers and the declared table.
//!
//! ```text
//! disarmed
//! armed
//!   counting
//!     idle ⇄ in_transaction
//!   due_waiting_for_idle
//! rebooting
//! ```
//!
//! See the module docs ([`crate::reboot`]) for what each state waits for.

use statig::prelude::*;

use super::messages::{RebootAlarm, RebootInput, RebootOutput, RebootPolicy};
use crate::reader::DeviceType;
use crate::runtime::adapter::{StatigCore, StatigMachine};
use crate::runtime::machine::{Millis, Outbox};
use crate::runtime::table::{MachineSpec, on, state, superstate};

/// The declared table (see [`crate::runtime::table`]).
pub static SPEC: MachineSpec = MachineSpec {
    name: "reboot_timer",
    summary: "One reader's 24-hour reboot timer: counts from the uptime the reader reports, reboots it a lead before its own deadline (R12), never during a transaction (R20); the Chipper 2X stays disarmed.",
    initial: "disarmed",
    states: &[
        state(
            "disarmed",
            None,
            &[
                on("ReaderConnected", &["idle"]),
                on("ReaderDisconnected", &[]),
                on("TransactionStarted", &[]),
                on("TransactionEnded", &[]),
                on("RebootFailed", &[]),
                on("RebootDue", &[]),
            ],
        ),
        superstate(
            "armed",
            None,
            &[
                on("ReaderConnected", &["idle", "disarmed"]),
                on("ReaderDisconnected", &["disarmed"]),
                on("TransactionStarted", &[]),
                on("TransactionEnded", &[]),
                on("RebootFailed", &[]),
                on("RebootDue", &[]),
            ],
        ),
        superstate("counting", Some("armed"), &[]),
        state(
            "idle",
            Some("counting"),
            &[
                on("RebootDue", &["rebooting"]),
                on("TransactionStarted", &["in_transaction"]),
            ],
        ),
        state(
            "in_transaction",
            Some("counting"),
            &[
                on("RebootDue", &["due_waiting_for_idle"]),
                on("TransactionEnded", &["idle"]),
            ],
        ),
        state(
            "due_waiting_for_idle",
            Some("armed"),
            &[on("TransactionEnded", &["rebooting"])],
        ),
        state(
            "rebooting",
            None,
            &[
                on("ReaderDisconnected", &["disarmed"]),
                on("ReaderConnected", &["idle", "disarmed"]),
                on("RebootFailed", &["idle"]),
                on("TransactionStarted", &["due_waiting_for_idle"]),
                on("TransactionEnded", &[]),
                on("RebootDue", &[]),
            ],
        ),
    ],
};

type Out = Outbox<RebootOutput, RebootAlarm>;

/// The statig side: what the timer remembers across states.
#[derive(Debug)]
pub struct RebootCore {
    policy: RebootPolicy,
    /// When the armed timer is due, for [`RebootTimer::due_at`]; `None`
    /// when nothing is scheduled.
    due_at: Option<Millis>,
}

#[state_machine(
    initial = "State::disarmed()",
    visibility = "pub",
    state(derive(Debug, Clone, strum::IntoStaticStr, strum::VariantNames)),
    superstate(derive(Debug, strum::VariantNames)),
    after_transition = "Self::record_transition"
)]
impl RebootCore {
    /// No reader to reboot: not connected, or a Chipper 2X (it never
    /// reboots by itself, R12). Waits for `ReaderConnected`: an M2 or a
    /// WisePad 3 → `idle` (armed, `RebootScheduled`); a Chipper 2X is
    /// handled in place. Everything else is handled in place (nothing to
    /// do).
    #[state]
    fn disarmed(&mut self, context: &mut Out, event: &RebootInput) -> Outcome<State> {
        match event {
            RebootInput::ReaderConnected {
                device_type,
                uptime_ms,
            } if device_type.reboots_daily() => self.arm(context, *device_type, *uptime_ms),
            _ => Handled,
        }
    }

    /// The reader is connected and a reboot is planned. `ReaderDisconnected`
    /// → `disarmed` (the next connect re-arms from the uptime the reader
    /// reports then, so the app's reboot restarts the window, R12);
    /// `ReaderConnected` re-arms. Anything else is handled in place.
    #[superstate]
    fn armed(&mut self, context: &mut Out, event: &RebootInput) -> Outcome<State> {
        match event {
            RebootInput::ReaderConnected {
                device_type,
                uptime_ms,
            } => self.arm(context, *device_type, *uptime_ms),
            RebootInput::ReaderDisconnected => self.disarm(context),
            _ => Handled,
        }
    }

    /// The deadline is ahead: waiting for `RebootDue`, keeping track of
    /// whether a transaction runs.
    #[superstate(superstate = "armed")]
    fn counting(event: &RebootInput) -> Outcome<State> {
        let _ = event;
        Super
    }

    /// Counting, no transaction. `RebootDue` → `rebooting` (`RebootReader`);
    /// `TransactionStarted` → `in_transaction`.
    #[state(superstate = "counting")]
    fn idle(&mut self, context: &mut Out, event: &RebootInput) -> Outcome<State> {
        match event {
            RebootInput::RebootDue => self.reboot(context),
            RebootInput::TransactionStarted => Transition(State::in_transaction()),
            _ => Super,
        }
    }

    /// Counting while a transaction runs. `TransactionEnded` → `idle`;
    /// `RebootDue` → `due_waiting_for_idle`: the reboot waits for the
    /// transaction (R20).
    #[state(superstate = "counting")]
    fn in_transaction(&mut self, event: &RebootInput) -> Outcome<State> {
        match event {
            RebootInput::TransactionEnded => Transition(State::idle()),
            RebootInput::RebootDue => {
                self.due_at = None;
                Transition(State::due_waiting_for_idle())
            }
            _ => Super,
        }
    }

    /// The reboot is due but a transaction runs (R20). `TransactionEnded` →
    /// `rebooting` (`RebootReader`) at once.
    #[state(superstate = "armed")]
    fn due_waiting_for_idle(&mut self, context: &mut Out, event: &RebootInput) -> Outcome<State> {
        match event {
            RebootInput::TransactionEnded => self.reboot(context),
            _ => Super,
        }
    }

    /// The security reboot was asked for; waits for the disconnect it
    /// causes. `ReaderDisconnected` → `disarmed`; `RebootFailed` → `idle`,
    /// re-armed for a retry (`RebootScheduled`); `TransactionStarted` (one
    /// was asked for as the reboot went out; the reader refuses the reboot)
    /// → `due_waiting_for_idle`; `ReaderConnected` re-arms.
    #[state]
    fn rebooting(&mut self, context: &mut Out, event: &RebootInput) -> Outcome<State> {
        match event {
            RebootInput::ReaderDisconnected => self.disarm(context),
            RebootInput::ReaderConnected {
                device_type,
                uptime_ms,
            } => self.arm(context, *device_type, *uptime_ms),
            RebootInput::RebootFailed => {
                let retry = self.policy.retry_after;
                self.schedule(context, retry);
                Transition(State::idle())
            }
            RebootInput::TransactionStarted => Transition(State::due_waiting_for_idle()),
            _ => Handled,
        }
    }
}

impl RebootCore {
    /// A reader connected: an M2 or a WisePad 3 is due `24 h − lead −
    /// uptime` from now (at once if that is past); a Chipper 2X is not
    /// rebooted (R12).
    fn arm(&mut self, context: &mut Out, device_type: DeviceType, uptime_ms: u64) -> Outcome<State> {
        if !device_type.reboots_daily() {
            return self.disarm(context);
        }
        let due_after = self.policy.due_after(uptime_ms);
        self.schedule(context, due_after);
        Transition(State::idle())
    }

    fn schedule(&mut self, context: &mut Out, after: std::time::Duration) {
        let at = context.now().saturating_add(after.as_millis() as Millis);
        self.due_at = Some(at);
        context.start_timer(RebootAlarm::RebootDue, after);
        context.emit(RebootOutput::RebootScheduled { at });
    }

    fn disarm(&mut self, context: &mut Out) -> Outcome<State> {
        self.due_at = None;
        context.cancel_timer(RebootAlarm::RebootDue);
        Transition(State::disarmed())
    }

    /// Asks the owner to reboot the reader now; only from a state where no
    /// transaction runs.
    fn reboot(&mut self, context: &mut Out) -> Outcome<State> {
        self.due_at = None;
        context.emit(RebootOutput::RebootReader);
        Transition(State::rebooting())
    }
}

/// The reboot timer as a runtime [`Machine`](crate::runtime::Machine).
pub type RebootTimer = StatigMachine<RebootCore>;

impl StatigCore for RebootCore {
    type Output = RebootOutput;
    type Timer = RebootAlarm;

    fn spec() -> &'static MachineSpec {
        &SPEC
    }

    fn timer_elapsed(timer: RebootAlarm) -> RebootInput {
        match timer {
            RebootAlarm::RebootDue => RebootInput::RebootDue,
        }
    }
}

impl RebootTimer {
    /// A timer in `disarmed`.
    pub fn new(policy: RebootPolicy) -> Self {
        StatigMachine::from_core(RebootCore { policy, due_at: None })
    }

    /// Its policy.
    pub fn policy(&self) -> RebootPolicy {
        self.core().policy
    }

    /// When the planned reboot is due (ms of the runtime's clock), while
    /// one is planned (armed and counting).
    pub fn due_at(&self) -> Option<Millis> {
        self.core().due_at
    }
}

impl Default for RebootTimer {
    fn default() -> Self {
        Self::new(RebootPolicy::default())
    }
}
