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

    /// The seed the machine's random choices come from, if it makes any:
    /// the shell records it in the actor's `started` record, and replay
    /// builds the machine from it.
    fn seed(&self) -> Option<u64> {
        None
    }
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

    /// How many steps it holds room for without allocating.
    pub fn capacity(&self) -> usize {
        self.steps.capacity()
    }
}
