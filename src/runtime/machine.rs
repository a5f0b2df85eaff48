//! The machine abstraction: one typed input in, typed steps out.

use std::fmt::Debug;
use std::hash::Hash;

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::table::MachineSpec;

/// Virtual (or real) milliseconds since the runtime's epoch. Machines get the
/// time only through this value, handed in with each input.
pub type Millis = u64;

/// The name of an input or event, as the transition table spells it
/// (`CoinInserted`). Derive it with `strum::IntoStaticStr`.
pub trait EventName {
    /// The variant's name.
    fn event_name(&self) -> &'static str;
}

impl<T> EventName for T
where
    for<'a> &'a T: Into<&'static str>,
{
    fn event_name(&self) -> &'static str {
        self.into()
    }
}

/// A pure state machine: it takes one typed input at a time, with the time it
/// arrived, and pushes what it decided into an [`Outbox`]. It reads no clock,
/// does no IO and spawns nothing, so the same inputs always give the same
/// steps — which is what makes traces replayable.
pub trait Machine: Unpin + 'static {
    /// What the machine reacts to: past-tense facts and commands.
    type Input: EventName + Debug + Clone + Serialize + DeserializeOwned + Send + Unpin + 'static;
    /// What the machine asks its shell to do (send this, write that).
    type Output: Debug + Clone + PartialEq + Serialize + DeserializeOwned + Send + Unpin + 'static;
    /// The machine's named timers.
    type Timer: Debug + Clone + Eq + Hash + Serialize + DeserializeOwned + Send + Unpin + 'static;

    /// The declared states and transitions, beside the handlers.
    fn spec() -> &'static MachineSpec;

    /// The current leaf state's name, as the table spells it.
    fn state(&self) -> &'static str;

    /// Handles one input, which arrived at [`Outbox::now`].
    fn handle(&mut self, input: &Self::Input, out: &mut Outbox<Self::Output, Self::Timer>);

    /// The input a timer becomes when it elapses.
    fn timer_elapsed(timer: Self::Timer) -> Self::Input;
}

/// One thing a machine did while handling an input, in the order it did it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Step<O, T> {
    /// The machine moved from one leaf state to another (or re-entered one).
    Transitioned {
        /// The leaf state it left.
        from: &'static str,
        /// The leaf state it entered.
        to: &'static str,
    },
    /// The machine asks its shell to carry out an output.
    Emitted(O),
    /// The machine arms a timer; arming one already armed re-arms it.
    TimerStarted {
        /// Which timer.
        timer: T,
        /// After how long it elapses.
        after: Duration,
    },
    /// The machine disarms a timer (harmless when it is not armed).
    TimerCancelled(T),
}

/// Where a machine puts its steps. The shell drains it after every input and
/// carries the steps out; tests read it directly.
#[derive(Debug)]
pub struct Outbox<O, T> {
    now: Millis,
    steps: Vec<Step<O, T>>,
}

impl<O, T> Default for Outbox<O, T> {
    fn default() -> Self {
        Self {
            now: 0,
            steps: Vec::new(),
        }
    }
}

impl<O, T> Outbox<O, T> {
    /// The time the input being handled arrived: the only clock a machine has.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// Sets the time of the next input; called by whoever drives the machine.
    pub fn set_now(&mut self, now: Millis) {
        self.now = now;
    }

    /// Asks the shell to carry out `output`.
    pub fn emit(&mut self, output: O) {
        self.steps.push(Step::Emitted(output));
    }

    /// Arms `timer` to elapse `after` from now, re-arming it if armed.
    pub fn start_timer(&mut self, timer: T, after: Duration) {
        self.steps.push(Step::TimerStarted { timer, after });
    }

    /// Disarms `timer`.
    pub fn cancel_timer(&mut self, timer: T) {
        self.steps.push(Step::TimerCancelled(timer));
    }

    /// Records a transition, with both states named as the table names
    /// them ([`crate::runtime::StatigCore::record_transition`] calls it).
    pub fn transitioned(&mut self, from: &'static str, to: &'static str) {
        self.steps.push(Step::Transitioned { from, to });
    }

    /// Takes every step recorded so far.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Step<O, T>> {
        self.steps.drain(..)
    }

    /// The steps recorded so far.
    pub fn steps(&self) -> &[Step<O, T>] {
        &self.steps
    }
}

/// The table name of a `statig` state (or superstate) value, made from its
/// `Debug` output: its variant name in snake_case, which is the handler
/// function's name (`WaitingForLink {..}` → `waiting_for_link`). Names are
/// interned, so each is computed once.
///
/// Only for a machine not yet run through [`crate::runtime::StatigMachine`]
/// (the terminal hub): the adapter names states from the state type
/// (`strum::IntoStaticStr`) and the table, and a hand-written `Debug` cannot
/// change them.
pub fn state_name<S: Debug + 'static>(state: &S) -> &'static str {
    use std::any::TypeId;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::hash::{DefaultHasher, Hasher};

    thread_local! {
        /// (state type, variant) → name: a machine's few names are computed
        /// once per thread, then every lookup is a hash of two words.
        static NAMES: RefCell<HashMap<(TypeId, u64), &'static str>> = RefCell::new(HashMap::new());
    }

    let mut hasher = DefaultHasher::new();
    std::mem::discriminant(state).hash(&mut hasher);
    let key = (TypeId::of::<S>(), hasher.finish());
    if let Some(name) = NAMES.with(|names| names.borrow().get(&key).copied()) {
        return name;
    }
    let debug = format!("{state:?}");
    let variant = debug
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or_default();
    let mut snake = String::with_capacity(variant.len() + 4);
    for (i, c) in variant.char_indices() {
        if c.is_uppercase() {
            if i > 0 {
                snake.push('_');
            }
            snake.extend(c.to_lowercase());
        } else {
            snake.push(c);
        }
    }
    // Leaked once per state type and variant per thread: a handful of
    // short strings for the life of the process.
    let name: &'static str = Box::leak(snake.into_boxed_str());
    NAMES.with(|names| names.borrow_mut().insert(key, name));
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code)]
    enum State {
        WaitingForLink { attempt: u32 },
        Idle,
        Phase2(u8),
    }

    #[test]
    fn state_names_are_the_handlers_snake_case_names() {
        assert_eq!(
            state_name(&State::WaitingForLink { attempt: 3 }),
            "waiting_for_link"
        );
        assert_eq!(state_name(&State::Idle), "idle");
        assert_eq!(state_name(&State::Phase2(1)), "phase2");
    }
}
