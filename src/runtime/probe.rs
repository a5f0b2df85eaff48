//! Which state every machine actor is in when something strikes from
//! outside: the explorer's (state, fault) coverage.
//!
//! A [`StateProbe`] watches the machine actors of the current thread (an
//! actix system runs its actors on one thread): the shell tells it each
//! actor's state as it starts and after each input. When a fault strikes,
//! [`fault_struck`] records, for every actor the fault concerns, the pair
//! (the actor's machine and state, the fault). Without a probe installed
//! on the thread each of these is one thread-local check.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// One reached pair: the machine, the state it was in, the fault.
pub type StatePair = (String, String, String);

#[derive(Default)]
struct Board {
    /// Each live actor's machine and current state, by actor id.
    states: HashMap<Arc<str>, (&'static str, &'static str)>,
    pairs: BTreeSet<StatePair>,
}

thread_local! {
    static BOARD: RefCell<Option<Board>> = const { RefCell::new(None) };
}

/// Records (state, fault) pairs on this thread while it lives; dropping
/// it stops recording.
#[derive(Debug)]
pub struct StateProbe {
    /// Not `Send`: the board it reads is this thread's.
    _thread: std::marker::PhantomData<*const ()>,
}

impl StateProbe {
    /// Starts recording on this thread, forgetting what an earlier probe
    /// saw.
    pub fn install() -> Self {
        BOARD.with(|board| *board.borrow_mut() = Some(Board::default()));
        Self {
            _thread: std::marker::PhantomData,
        }
    }

    /// The pairs recorded so far.
    pub fn pairs(&self) -> BTreeSet<StatePair> {
        BOARD.with(|board| {
            board
                .borrow()
                .as_ref()
                .map(|b| b.pairs.clone())
                .unwrap_or_default()
        })
    }
}

impl Drop for StateProbe {
    fn drop(&mut self) {
        BOARD.with(|board| *board.borrow_mut() = None);
    }
}

/// The shell: actor `id`, running `machine`, is in `state` now.
pub(crate) fn note_state(id: &Arc<str>, machine: &'static str, state: &'static str) {
    BOARD.with(|board| {
        if let Some(board) = board.borrow_mut().as_mut() {
            match board.states.get_mut(id) {
                Some(entry) => entry.1 = state,
                None => {
                    board.states.insert(id.clone(), (machine, state));
                }
            }
        }
    });
}

/// The shell: actor `id` stopped.
pub(crate) fn forget(id: &Arc<str>) {
    BOARD.with(|board| {
        if let Some(board) = board.borrow_mut().as_mut() {
            board.states.remove(id);
        }
    });
}

/// `fault` strikes now. With a `scope`, it concerns the actors named
/// `<name>:<scope>` and the actors with no scope in their name (the
/// global ones); without, every actor. Records one pair per actor
/// concerned, when a probe is installed.
pub fn fault_struck(scope: Option<&str>, fault: &str) {
    BOARD.with(|board| {
        let mut board = board.borrow_mut();
        let Some(board) = board.as_mut() else { return };
        let concerned = |id: &str| match (scope, id.split_once(':')) {
            (None, _) | (_, None) => true,
            (Some(scope), Some((_, of))) => of == scope,
        };
        let pairs: Vec<StatePair> = board
            .states
            .iter()
            .filter(|(id, _)| concerned(id))
            .map(|(_, (machine, state))| ((*machine).to_owned(), (*state).to_owned(), fault.to_owned()))
            .collect();
        board.pairs.extend(pairs);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_pairs_with_the_states_of_the_actors_it_concerns_only_while_a_probe_is_installed() {
        let a: Arc<str> = Arc::from("connection:R1");
        let b: Arc<str> = Arc::from("connection:R2");
        let hub: Arc<str> = Arc::from("terminal");
        note_state(&a, "connection", "idle");
        fault_struck(Some("R1"), "lose_link");
        let probe = StateProbe::install();
        assert!(probe.pairs().is_empty(), "nothing before the probe");
        note_state(&a, "connection", "idle");
        note_state(&b, "connection", "linking");
        note_state(&hub, "terminal", "ready");
        fault_struck(Some("R1"), "lose_link");
        note_state(&a, "connection", "disconnected");
        forget(&b);
        fault_struck(None, "set_adapter");
        let pair = |m: &str, s: &str, f: &str| (m.to_owned(), s.to_owned(), f.to_owned());
        assert_eq!(
            probe.pairs(),
            [
                pair("connection", "disconnected", "set_adapter"),
                pair("connection", "idle", "lose_link"),
                pair("terminal", "ready", "lose_link"),
                pair("terminal", "ready", "set_adapter"),
            ]
            .into_iter()
            .collect()
        );
        drop(probe);
        fault_struck(None, "set_adapter");
        assert!(StateProbe::install().pairs().is_empty());
    }
}
