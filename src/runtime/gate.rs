//! The replay gate: what lets a whole run be replayed in the order it was
//! recorded.
//!
//! In a live run every machine actor handles its inputs as they arrive. In a
//! whole-run replay the actors run the same shells and machines, but each
//! input an actor receives — from another actor, a timer, or a shell's own
//! work — is *held* by the actor instead of handled, and reported to the
//! gate. The replay driver walks the recorded trace and, for each recorded
//! input in turn, tells the actor it is addressed to either to
//! [release](GateCommand::Release) the first held input from the recorded
//! source, or to take an [injected](GateCommand::Inject) input, the
//! recorded one, for inputs that came from outside the machines (the
//! transport, the backend, the app). So the replayed actors handle their
//! inputs in the recorded order and at the recorded times, while every
//! input that the machines themselves caused is produced again by the
//! replayed system, not copied from the trace.
//!
//! A [`Tracer`](super::Tracer) carries the gate to every actor of a run
//! ([`Tracer::with_gate`](super::Tracer::with_gate)); without one, nothing
//! is held.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// Whether a recorded input came from outside the machines, and so is
/// injected from the trace rather than produced by the replayed system.
/// What counts is the part before the first `:`, so that
/// `app:cancel_update:<serial>` (an app's cancel of an install) is the
/// app's.
pub fn is_external_source(source: &str) -> bool {
    let origin = source.split(':').next().unwrap_or(source);
    matches!(
        origin,
        "app" | "transport" | "backend" | "store" | "world" | "effect" | "verify" | "test"
    )
}

/// What the replay driver tells one actor.
#[derive(Debug, Clone)]
pub enum GateCommand {
    /// Handle the first held input that came from `source`.
    Release {
        /// The recorded source.
        source: String,
    },
    /// Handle this input, decoded as the machine's input type, as if it
    /// came from `source`.
    Inject {
        /// The recorded source.
        source: String,
        /// The recorded input.
        input: Value,
    },
}

impl actix::Message for GateCommand {
    type Result = ();
}

/// How the gate reaches one actor: a closure over its address.
pub type GateTarget = Arc<dyn Fn(GateCommand) -> bool + Send + Sync>;

#[derive(Default)]
struct GateState {
    /// Each running actor, by id, as registered when it started.
    targets: HashMap<String, GateTarget>,
    /// The sources of each actor's held inputs, in arrival order.
    held: HashMap<String, VecDeque<Cow<'static, str>>>,
    /// What went wrong carrying out a command (an input that did not
    /// decode, a release with nothing held).
    failures: Vec<String>,
    /// Bumped on every change, so a waiting driver can tell progress from a
    /// stall.
    changes: u64,
}

/// The shared book of held inputs and actor addresses (see the module
/// docs).
#[derive(Default, Clone)]
pub struct Gate(Arc<Mutex<GateState>>);

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gate")
    }
}

impl Gate {
    /// A gate with no actors.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An actor named `id` started: it is reached through `target`. A new
    /// actor under an id used before replaces the old one and its held
    /// inputs.
    pub fn register(&self, id: &str, target: GateTarget) {
        let mut state = self.state();
        state.targets.insert(id.to_owned(), target);
        state.held.remove(id);
        state.changes += 1;
    }

    /// Actor `id` holds one more input, from `source`.
    pub fn held(&self, id: &str, source: Cow<'static, str>) {
        let mut state = self.state();
        state.held.entry(id.to_owned()).or_default().push_back(source);
        state.changes += 1;
    }

    /// Actor `id` took its first held input from `source` out to handle it.
    pub fn taken(&self, id: &str, source: &str) {
        let mut state = self.state();
        if let Some(held) = state.held.get_mut(id) {
            if let Some(at) = held.iter().position(|s| s == source) {
                held.remove(at);
            }
        }
        state.changes += 1;
    }

    /// Something went wrong carrying out a command.
    pub fn fail(&self, failure: String) {
        let mut state = self.state();
        state.failures.push(failure);
        state.changes += 1;
    }

    /// Whether actor `id` is running (registered).
    pub fn is_registered(&self, id: &str) -> bool {
        self.state().targets.contains_key(id)
    }

    /// Whether actor `id` holds an input from `source`.
    pub fn holds(&self, id: &str, source: &str) -> bool {
        self.state()
            .held
            .get(id)
            .is_some_and(|held| held.iter().any(|s| s == source))
    }

    /// The sources of every input held now, by actor, sorted.
    pub fn held_inputs(&self) -> Vec<(String, String)> {
        let state = self.state();
        let mut held: Vec<(String, String)> = state
            .held
            .iter()
            .flat_map(|(id, sources)| sources.iter().map(move |s| (id.clone(), s.to_string())))
            .collect();
        held.sort();
        held
    }

    /// Sends `command` to actor `id`; false when it is not running.
    pub fn command(&self, id: &str, command: GateCommand) -> bool {
        let target = self.state().targets.get(id).cloned();
        target.is_some_and(|target| target(command))
    }

    /// The failures so far, taken.
    pub fn take_failures(&self) -> Vec<String> {
        std::mem::take(&mut self.state().failures)
    }

    /// A number that changes whenever anything reaches the gate.
    pub fn changes(&self) -> u64 {
        self.state().changes
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix::Actor;

    use super::*;
    use crate::runtime::example::{Turnstile, TurnstileEffects, TurnstileInput};
    use crate::runtime::{Clock, Deliver, MachineActor, RecordBody, Trace, TraceHeader, Tracer};

    #[test]
    fn a_gated_actor_holds_its_inputs_until_released_and_takes_injected_ones_decoded() {
        let gate = Gate::new();
        let tracer = Tracer::memory(TraceHeader::new(1, Value::Null)).with_gate(gate.clone());
        let recorded = tracer.clone();
        let watched = tracer.clone();
        crate::runtime::virtual_time_system().block_on(async move {
            let actor = MachineActor::new(
                "gate",
                Turnstile::new(),
                TurnstileEffects::new(Duration::from_millis(800)),
                tracer,
                Clock::start(),
            )
            .start();
            actor
                .send(Deliver::app(TurnstileInput::CoinInserted))
                .await
                .unwrap();
            assert!(gate.is_registered("gate"));
            assert!(gate.holds("gate", "app"), "held, not handled");
            assert_eq!(watched.records_recorded(), 1, "only `started`");

            assert!(gate.command("gate", GateCommand::Release { source: "app".into() }));
            let injected = serde_json::to_value(TurnstileInput::Pushed).unwrap();
            let bad = Value::from("NoSuchInput");
            assert!(gate.command(
                "gate",
                GateCommand::Inject {
                    source: "app".into(),
                    input: injected
                }
            ));
            assert!(gate.command(
                "gate",
                GateCommand::Inject {
                    source: "app".into(),
                    input: bad
                }
            ));
            actor.send(crate::runtime::CurrentState).await.unwrap();
            assert!(!gate.holds("gate", "app"));
            let failures = gate.take_failures();
            assert_eq!(failures.len(), 1, "{failures:?}");
            assert!(failures[0].contains("does not decode"), "{failures:?}");
        });
        let trace = Trace::parse(&recorded.contents()).unwrap();
        let inputs: Vec<&str> = trace
            .records
            .iter()
            .filter_map(|r| match &r.body {
                RecordBody::Input { event, .. } => Some(event.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(inputs, ["CoinInserted", "Pushed"]);
    }
}
