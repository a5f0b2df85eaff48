//! The one adapter from a `statig` machine to the runtime's [`Machine`].
//!
//! A machine's author writes the statig side (its shared storage, the
//! handlers, the declared table) and implements [`StatigCore`] on the
//! storage type: its outputs and timers, its table, and which input each
//! timer becomes. [`StatigMachine`] does the rest: it runs the statig
//! machine with the [`Outbox`] as its context, records each transition
//! (the core names [`StatigCore::record_transition`] as statig's
//! `after_transition` hook) and names states from the state type itself.
//!
//! ```text
//! #[state_machine(
//!     initial = "State::locked()",
//!     state(derive(Debug, Clone, strum::IntoStaticStr, strum::VariantNames)),
//!     superstate(derive(Debug, strum::VariantNames)),
//!     after_transition = "Self::record_transition"
//! )]
//! impl TurnstileCore { /* handlers */ }
//!
//! impl StatigCore for TurnstileCore { /* Output, Timer, spec, timer_elapsed */ }
//!
//! pub type Turnstile = StatigMachine<TurnstileCore>;
//! ```
//!
//! # State names
//!
//! statig names each state variant after its handler in PascalCase
//! (`waiting_for_link` → `WaitingForLink`); the table spells the handler's
//! name. `strum::IntoStaticStr` on the generated enum gives the variant's
//! name from the type, and [`MachineSpec::leaf_for_variant`] finds the
//! declared leaf it stands for, so no name is formatted or parsed at run
//! time. `strum::VariantNames` on the state and superstate enums lets
//! [`Vocabulary::check`] prove that the table and the handlers name the
//! same states, and the input enum's `VariantNames` that every event the
//! table names is a real input.

use std::fmt::Debug;
use std::hash::Hash;

use serde::Serialize;
use serde::de::DeserializeOwned;
use statig::blocking::{IntoStateMachine, IntoStateMachineExt, State, StateMachine, Superstate};

use super::machine::{EventName, Machine, Outbox};
use super::table::MachineSpec;

/// The statig side of a machine, as the runtime runs it: implement it on
/// the type the `#[state_machine]` impl is for, whose handlers take the
/// [`Outbox`] as context.
pub trait StatigCore: IntoStateMachine + Unpin + Sized + 'static {
    /// What the machine asks its shell to do.
    type Output: Debug + Clone + PartialEq + Serialize + DeserializeOwned + Send + Unpin + 'static;
    /// The machine's named timers.
    type Timer: Debug + Clone + Eq + Hash + Serialize + DeserializeOwned + Send + Unpin + 'static;

    /// The declared table, beside the handlers.
    fn spec() -> &'static MachineSpec;

    /// The input `timer` becomes when it elapses: one input variant per
    /// timer (`BackoffElapsed`), so that the table and the diagram say
    /// which timer fired.
    fn timer_elapsed(timer: Self::Timer) -> Self::Event<'static>;

    /// Whether `input` reaches the handlers at all; every input does
    /// unless a core says otherwise (a connection drops the answers meant
    /// for a session it has given up on).
    fn accepts(&self, _input: &Self::Event<'static>) -> bool {
        true
    }

    /// Called after every input the handlers took, with shared access to
    /// the core and the input: what a machine sends once per input,
    /// whatever path its handlers took (a session's one report to the
    /// hub), goes out here.
    fn input_handled(&self, _input: &Self::Event<'static>, _out: &mut Outbox<Self::Output, Self::Timer>) {}

    /// The seed the core's random choices come from, if it makes any
    /// ([`Machine::seed`]).
    fn seed(&self) -> Option<u64> {
        None
    }

    /// statig's `after_transition` hook: records the transition, with
    /// both states named as the table names them. Name it in the
    /// `#[state_machine]` attribute: `after_transition =
    /// "Self::record_transition"`.
    fn record_transition(
        &mut self,
        source: &Self::State,
        target: &Self::State,
        out: &mut Outbox<Self::Output, Self::Timer>,
    ) where
        for<'a> &'a Self::State: Into<&'static str>,
    {
        out.transitioned(leaf_name::<Self>(source), leaf_name::<Self>(target));
    }
}

/// The table's name of `state`: the declared leaf its variant stands for.
/// A variant the table does not declare keeps its PascalCase name, which
/// then fails every check against the table, loudly.
fn leaf_name<C: StatigCore>(state: &C::State) -> &'static str
where
    for<'a> &'a C::State: Into<&'static str>,
{
    let variant: &'static str = state.into();
    C::spec().leaf_for_variant(variant).unwrap_or(variant)
}

/// A statig machine run as a runtime [`Machine`]: the one implementation
/// of the trait every statig machine of the crate shares.
pub struct StatigMachine<C: StatigCore> {
    inner: StateMachine<C>,
}

impl<C> StatigMachine<C>
where
    C: StatigCore,
    C::State: State<C>,
    for<'sub> C::Superstate<'sub>: Superstate<C>,
{
    /// A machine in its initial state, around `core`.
    pub fn from_core(core: C) -> Self {
        Self {
            inner: core.state_machine(),
        }
    }

    /// The names the machine's types give, to check its table against
    /// ([`Vocabulary::check`]).
    pub fn vocabulary() -> Vocabulary
    where
        C::Event<'static>: strum::VariantNames,
        C::State: strum::VariantNames + 'static,
        C::Superstate<'static>: strum::VariantNames,
    {
        Vocabulary::of::<C>()
    }

    /// The shared storage, for accessors on the machine.
    pub fn core(&self) -> &C {
        self.inner.inner()
    }
}

impl<C> Machine for StatigMachine<C>
where
    C: StatigCore + for<'ctx> IntoStateMachine<Context<'ctx> = Outbox<C::Output, C::Timer>>,
    C::State: State<C> + Unpin,
    for<'sub> C::Superstate<'sub>: Superstate<C>,
    for<'a> &'a C::State: Into<&'static str>,
    C::Event<'static>: EventName + Debug + Clone + Serialize + DeserializeOwned + Send + Unpin + 'static,
{
    type Input = C::Event<'static>;
    type Output = C::Output;
    type Timer = C::Timer;

    fn spec() -> &'static MachineSpec {
        C::spec()
    }

    fn state(&self) -> &'static str {
        leaf_name::<C>(self.inner.state())
    }

    fn handle(&mut self, input: &Self::Input, out: &mut Outbox<C::Output, C::Timer>) {
        if self.inner.inner().accepts(input) {
            self.inner.handle_with_context(input, out);
            self.inner.inner().input_handled(input, out);
        }
    }

    fn timer_elapsed(timer: C::Timer) -> Self::Input {
        C::timer_elapsed(timer)
    }

    fn seed(&self) -> Option<u64> {
        self.inner.inner().seed()
    }
}

/// The names a machine's types give, for checking its table against them:
/// its input variants, and statig's state and superstate variants.
#[derive(Debug, Clone, Copy)]
pub struct Vocabulary {
    /// Every variant of the input enum (`strum::VariantNames`).
    pub inputs: &'static [&'static str],
    /// Every variant of statig's state enum (PascalCase).
    pub states: &'static [&'static str],
    /// Every variant of statig's superstate enum (PascalCase).
    pub superstates: &'static [&'static str],
}

impl Vocabulary {
    /// The vocabulary of the machine over core `C`.
    pub fn of<C>() -> Self
    where
        C: StatigCore,
        C::Event<'static>: strum::VariantNames,
        C::State: strum::VariantNames + 'static,
        C::Superstate<'static>: strum::VariantNames,
    {
        use strum::VariantNames;
        Self {
            inputs: <C::Event<'static>>::VARIANTS,
            states: <C::State>::VARIANTS,
            superstates: <C::Superstate<'static>>::VARIANTS,
        }
    }

    /// Checks `spec` against the types: every event it names is an input
    /// variant, every leaf state a state variant and every superstate a
    /// superstate variant, and the other way round. Says each mismatch.
    pub fn check(&self, spec: &MachineSpec) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for state in spec.states {
            for handled in state.on {
                if !self.inputs.contains(&handled.event) {
                    problems.push(format!(
                        "{}: `{}` handles `{}`, which is not a variant of its input enum",
                        spec.name, state.name, handled.event
                    ));
                }
            }
            let (kind, variants) = match state.is_superstate {
                true => ("superstate", self.superstates),
                false => ("state", self.states),
            };
            if !variants
                .iter()
                .any(|v| super::table::pascal_case_of(state.name, v))
            {
                problems.push(format!(
                    "{}: the table declares {kind} `{}`, which no `#[{kind}]` handler defines",
                    spec.name, state.name
                ));
            }
        }
        for (kind, variants, is_superstate) in [
            ("state", self.states, false),
            ("superstate", self.superstates, true),
        ] {
            for variant in variants {
                let declared = spec.states.iter().any(|s| {
                    s.is_superstate == is_superstate && super::table::pascal_case_of(s.name, variant)
                });
                if !declared {
                    problems.push(format!(
                        "{}: the handlers define {kind} `{variant}`, which the table does not declare",
                        spec.name
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::example::{SPEC, Turnstile};
    use crate::runtime::table::{on, state, superstate};

    #[test]
    fn the_turnstiles_table_and_types_agree() {
        assert_eq!(Turnstile::vocabulary().check(&SPEC), Ok(()));
    }

    #[test]
    fn a_table_naming_what_the_types_do_not_have_is_reported_each_time() {
        static WRONG: MachineSpec = MachineSpec {
            name: "turnstile",
            summary: "",
            initial: "locked",
            states: &[
                state("locked", None, &[on("CoinDropped", &["waiting_for_push"])]),
                superstate("unlocked", None, &[]),
                state("waiting_for_push", Some("unlocked"), &[]),
                state("spinning", Some("unlocked"), &[]),
            ],
        };
        let problems = Turnstile::vocabulary().check(&WRONG).unwrap_err();
        assert_eq!(
            problems,
            [
                "turnstile: `locked` handles `CoinDropped`, which is not a variant of its input enum",
                "turnstile: the table declares state `spinning`, which no `#[state]` handler defines",
                "turnstile: the handlers define state `Rotating`, which the table does not declare",
            ]
        );
    }

    #[test]
    fn a_state_is_named_as_the_table_names_it() {
        let mut machine = Turnstile::new();
        assert_eq!(machine.state(), "locked");
        let mut out = Outbox::default();
        machine.handle(&crate::runtime::example::TurnstileInput::CoinInserted, &mut out);
        assert_eq!(machine.state(), "waiting_for_push");
        assert!(out.steps().contains(&crate::runtime::Step::Transitioned {
            from: "locked",
            to: "waiting_for_push"
        }));
    }
}
