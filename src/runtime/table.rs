//! Declared transition tables, their check, coverage and Mermaid export.
//!
//! `statig` decides transitions inside handler code, so it cannot list them.
//! Each machine therefore declares, beside its handlers, a [`MachineSpec`]:
//! its states (with superstates) and, for each, the events it handles and
//! the leaf states they may lead to. The spec is the source of the diagrams
//! in `state-diagrams/`, and every transition a machine takes is checked
//! against it ([`MachineSpec::check`]).

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

/// One machine's declared table.
#[derive(Debug)]
pub struct MachineSpec {
    /// The machine's name; also its diagram's file stem (`scanner.mmd`).
    pub name: &'static str,
    /// One line on what the machine is for, written atop its diagram.
    pub summary: &'static str,
    /// The leaf state a fresh machine starts in.
    pub initial: &'static str,
    /// Every state and superstate, parents before children.
    pub states: &'static [StateSpec],
}

/// One state or superstate of a [`MachineSpec`].
#[derive(Debug)]
pub struct StateSpec {
    /// The handler's name (`waiting_for_link`).
    pub name: &'static str,
    /// The enclosing superstate, if any.
    pub superstate: Option<&'static str>,
    /// Whether this is a superstate (it has children, and is never current).
    pub is_superstate: bool,
    /// The events this state handles itself, and where they may lead.
    pub on: &'static [On],
}

/// One event a state handles. An empty `to` means it is handled in place.
#[derive(Debug)]
pub struct On {
    /// The event's name (`CoinInserted`).
    pub event: &'static str,
    /// The leaf states it may lead to.
    pub to: &'static [&'static str],
}

/// Declares a leaf state.
pub const fn state(name: &'static str, superstate: Option<&'static str>, on: &'static [On]) -> StateSpec {
    StateSpec {
        name,
        superstate,
        is_superstate: false,
        on,
    }
}

/// Declares a superstate.
pub const fn superstate(
    name: &'static str,
    superstate: Option<&'static str>,
    on: &'static [On],
) -> StateSpec {
    StateSpec {
        name,
        superstate,
        is_superstate: true,
        on,
    }
}

/// Declares that `event` is handled and may lead to the states in `to`.
pub const fn on(event: &'static str, to: &'static [&'static str]) -> On {
    On { event, to }
}

/// Whether `pascal` is statig's variant name for the handler `snake`: each
/// `_`-separated part with its first letter upper-cased, joined
/// (`waiting_for_link` → `WaitingForLink`). Compares without allocating.
pub fn pascal_case_of(snake: &str, pascal: &str) -> bool {
    if snake.is_ascii() && pascal.is_ascii() {
        // The common case, byte by byte: it runs twice per transition.
        let mut upper = true;
        let mut snake_bytes = snake.bytes();
        let mut actual = pascal.bytes();
        loop {
            let e = loop {
                match snake_bytes.next() {
                    Some(b'_') => upper = true,
                    Some(b) => break Some(b),
                    None => break None,
                }
            };
            match (e, actual.next()) {
                (None, None) => return true,
                (Some(e), Some(a)) => {
                    let e = if upper { e.to_ascii_uppercase() } else { e };
                    if e != a {
                        return false;
                    }
                    upper = false;
                }
                _ => return false,
            }
        }
    }
    let mut expected = snake.split('_').flat_map(|part| {
        let mut chars = part.chars();
        let first = chars.next().into_iter().flat_map(char::to_uppercase);
        first.chain(chars)
    });
    let mut actual = pascal.chars();
    loop {
        match (expected.next(), actual.next()) {
            (None, None) => return true,
            (Some(e), Some(a)) if e == a => {}
            _ => return false,
        }
    }
}

/// A transition a machine took that its table does not declare.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "machine `{machine}` went {from} --{event}--> {to}, which its transition table does not declare \
     (declare it on `{from}` or one of its superstates, or fix the handler)"
)]
pub struct UndeclaredTransition {
    /// The machine.
    pub machine: &'static str,
    /// The leaf state it left.
    pub from: String,
    /// The event that caused it.
    pub event: String,
    /// The leaf state it entered.
    pub to: String,
}

/// One declared transition: `(declared on, event, to)`.
pub type DeclaredTransition = (&'static str, &'static str, &'static str);

impl MachineSpec {
    /// The state named `name`.
    pub fn state(&self, name: &str) -> Option<&StateSpec> {
        self.states.iter().find(|s| s.name == name)
    }

    /// The declared leaf state that statig's state variant `variant`
    /// (PascalCase, as `strum::IntoStaticStr` gives it) stands for.
    pub fn leaf_for_variant(&self, variant: &str) -> Option<&'static str> {
        self.states
            .iter()
            .find(|s| !s.is_superstate && pascal_case_of(s.name, variant))
            .map(|s| s.name)
    }

    /// `name` and its superstates, innermost first. A (malformed) cycle of
    /// superstates ends after as many steps as there are states.
    pub fn lineage<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a StateSpec> + 'a {
        let first = self.state(name);
        std::iter::successors(first, |state| state.superstate.and_then(|p| self.state(p)))
            .take(self.states.len())
    }

    /// Checks that `from --event--> to` is declared on `from` or one of its
    /// superstates; records the declaration it matched for coverage.
    pub fn check(&'static self, from: &str, event: &str, to: &str) -> Result<(), UndeclaredTransition> {
        for state in self.lineage(from) {
            for handled in state.on.iter().filter(|o| o.event == event) {
                if let Some(declared) = handled.to.iter().find(|t| **t == to) {
                    coverage::record(self, (state.name, handled.event, declared));
                    return Ok(());
                }
            }
        }
        Err(UndeclaredTransition {
            machine: self.name,
            from: from.to_owned(),
            event: event.to_owned(),
            to: to.to_owned(),
        })
    }

    /// Every declared transition, in table order.
    pub fn transitions(&self) -> Vec<DeclaredTransition> {
        self.states
            .iter()
            .flat_map(|s| {
                s.on.iter()
                    .flat_map(move |o| o.to.iter().map(move |to| (s.name, o.event, *to)))
            })
            .collect()
    }

    /// Checks the table is well formed: names unique, parents declared and
    /// superstates, targets and the initial state declared leaves.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = HashSet::new();
        for state in self.states {
            if !seen.insert(state.name) {
                return Err(format!("{}: state `{}` declared twice", self.name, state.name));
            }
            if let Some(parent) = state.superstate {
                match self.state(parent) {
                    Some(p) if p.is_superstate => {}
                    _ => {
                        return Err(format!(
                            "{}: `{}` names `{parent}`, not a declared superstate",
                            self.name, state.name
                        ));
                    }
                }
            }
        }
        let is_leaf = |name: &str| self.state(name).is_some_and(|s| !s.is_superstate);
        if !is_leaf(self.initial) {
            return Err(format!(
                "{}: initial state `{}` is not a declared leaf state",
                self.name, self.initial
            ));
        }
        for (on, event, to) in self.transitions() {
            if !is_leaf(to) {
                return Err(format!(
                    "{}: `{on}` --{event}--> `{to}`: target is not a declared leaf state",
                    self.name
                ));
            }
        }
        Ok(())
    }

    /// The machine's diagram, as Mermaid `stateDiagram-v2`. Superstates are
    /// composite states; events handled in place are listed in a note.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "---\ntitle: {}\n---", self.name);
        let _ = writeln!(
            out,
            "%% Generated by `readerlink diagrams` from the transition table in the code."
        );
        let _ = writeln!(out, "%% {}", self.summary);
        let _ = writeln!(out, "stateDiagram-v2");
        let _ = writeln!(out, "    [*] --> {}", self.initial);
        self.write_children(&mut out, None, 1);
        for state in self.states {
            for handled in state.on {
                for to in handled.to {
                    let _ = writeln!(out, "    {} --> {} : {}", state.name, to, handled.event);
                }
            }
        }
        for state in self.states {
            let internal: Vec<_> = state
                .on
                .iter()
                .filter(|o| o.to.is_empty())
                .map(|o| o.event)
                .collect();
            if !internal.is_empty() {
                let _ = writeln!(
                    out,
                    "    note right of {}\n        handles {}\n    end note",
                    state.name,
                    internal.join(", ")
                );
            }
        }
        out
    }

    fn write_children(&self, out: &mut String, parent: Option<&str>, depth: usize) {
        let indent = "    ".repeat(depth);
        for state in self.states.iter().filter(|s| s.superstate == parent) {
            if state.is_superstate {
                let _ = writeln!(out, "{indent}state {} {{", state.name);
                self.write_children(out, Some(state.name), depth + 1);
                let _ = writeln!(out, "{indent}}}");
            } else {
                let _ = writeln!(out, "{indent}{}", state.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pascal_case_of;

    #[test]
    fn a_handler_name_matches_exactly_its_statig_variant() {
        assert!(pascal_case_of("waiting_for_link", "WaitingForLink"));
        assert!(pascal_case_of("idle", "Idle"));
        assert!(pascal_case_of("phase_2", "Phase2"));
        assert!(!pascal_case_of("waiting_for_link", "WaitingForLinks"));
        assert!(!pascal_case_of("waiting_for_links", "WaitingForLink"));
        assert!(!pascal_case_of("idle", "Busy"));
        assert!(!pascal_case_of("idle", "idle"));
        assert!(!pascal_case_of("idle_", "Idle_"));
        assert!(pascal_case_of("état_prêt", "ÉtatPrêt"), "beyond ASCII too");
        assert!(!pascal_case_of("état_prêt", "ÉtatPret"));
    }
}

/// Transition coverage: which declared transitions the running process has
/// taken. With `READERLINK_TRANSITION_COVERAGE=DIR` set, each newly taken one
/// is also appended to `DIR/<machine>.<pid>.taken`, so a whole test suite's
/// coverage can be summed up afterwards (`readerlink diagrams --coverage DIR`).
pub mod coverage {
    use super::*;
    use std::io::Write as _;

    /// The environment variable naming the coverage directory.
    pub const ENV: &str = "READERLINK_TRANSITION_COVERAGE";

    type Taken = HashSet<(&'static str, &'static str, &'static str, &'static str)>;

    fn taken() -> &'static Mutex<Taken> {
        static TAKEN: OnceLock<Mutex<Taken>> = OnceLock::new();
        TAKEN.get_or_init(Default::default)
    }

    pub(super) fn record(spec: &'static MachineSpec, (on, event, to): DeclaredTransition) {
        thread_local! {
            /// What this thread already recorded, so that a transition taken
            /// again costs one hash of four pointers and no lock.
            static SEEN: std::cell::RefCell<HashSet<(usize, usize, usize, usize)>> = Default::default();
        }
        let key = (
            spec as *const MachineSpec as usize,
            on.as_ptr() as usize,
            event.as_ptr() as usize,
            to.as_ptr() as usize,
        );
        if !SEEN.with(|seen| seen.borrow_mut().insert(key)) {
            return;
        }
        let mut taken = taken().lock().unwrap_or_else(|p| p.into_inner());
        if !taken.insert((spec.name, on, event, to)) {
            return;
        }
        if let Some(dir) = std::env::var_os(ENV) {
            let path = std::path::Path::new(&dir).join(format!("{}.{}.taken", spec.name, std::process::id()));
            let _ = std::fs::create_dir_all(&dir);
            if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                let _ = writeln!(file, "{on}\t{event}\t{to}");
            }
        }
    }

    /// The declared transitions of `spec` this process has taken.
    pub fn taken_in_process(spec: &MachineSpec) -> BTreeSet<(String, String, String)> {
        let taken = taken().lock().unwrap_or_else(|p| p.into_inner());
        taken
            .iter()
            .filter(|(machine, ..)| *machine == spec.name)
            .map(|(_, on, event, to)| (on.to_string(), event.to_string(), to.to_string()))
            .collect()
    }

    /// The declared transitions of `spec` recorded in the coverage files of `dir`.
    pub fn taken_in_dir(
        spec: &MachineSpec,
        dir: &std::path::Path,
    ) -> std::io::Result<BTreeSet<(String, String, String)>> {
        let mut taken = BTreeSet::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if !(name.starts_with(&format!("{}.", spec.name)) && name.ends_with(".taken")) {
                continue;
            }
            for line in std::fs::read_to_string(&path)?.lines() {
                let mut parts = line.split('\t');
                if let (Some(on), Some(event), Some(to)) = (parts.next(), parts.next(), parts.next()) {
                    taken.insert((on.to_owned(), event.to_owned(), to.to_owned()));
                }
            }
        }
        Ok(taken)
    }
}
