//! Which declared transitions of each machine this process took (the
//! runtime records them as machines step; see
//! [`crate::runtime::table::coverage`]), and a file of them in the format
//! `readerlink diagrams --coverage DIR` sums up.

use std::io::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::runtime::probe::StatePair;
use crate::runtime::table::coverage::taken_in_process;

/// One machine's coverage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachineCoverage {
    /// The machine's name.
    pub machine: String,
    /// How many transitions it declares.
    pub declared: usize,
    /// How many of them were taken.
    pub taken: usize,
    /// The declared transitions never taken, as `state --event--> state`.
    pub never_taken: Vec<String>,
}

/// Every machine's coverage so far in this process.
pub fn coverage() -> Vec<MachineCoverage> {
    crate::machines::all()
        .into_iter()
        .map(|spec| {
            let taken = taken_in_process(spec);
            let declared = spec.transitions();
            let never_taken: Vec<String> = declared
                .iter()
                .filter(|(on, event, to)| {
                    !taken.contains(&(on.to_string(), event.to_string(), to.to_string()))
                })
                .map(|(on, event, to)| format!("{on} --{event}--> {to}"))
                .collect();
            MachineCoverage {
                machine: spec.name.to_owned(),
                declared: declared.len(),
                taken: declared.len() - never_taken.len(),
                never_taken,
            }
        })
        .collect()
}

/// Writes the transitions this process took into `dir`, one
/// `<machine>.explore-<pid>.taken` file per machine, for
/// `readerlink diagrams --coverage DIR` (alone, or beside a test run's).
pub fn write_coverage(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for spec in crate::machines::all() {
        let taken = taken_in_process(spec);
        let path = dir.join(format!("{}.explore-{}.taken", spec.name, std::process::id()));
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        for (on, event, to) in taken {
            writeln!(file, "{on}\t{event}\t{to}")?;
        }
        file.flush()?;
    }
    Ok(())
}

/// Writes the (machine, state, fault) triples of `reached` into `dir` as
/// `explore-<pid>.pairs`, one `machine<TAB>state<TAB>fault` a line, for
/// `readerlink diagrams --coverage DIR`.
pub fn write_state_fault_pairs(
    dir: &Path,
    reached: &std::collections::BTreeSet<StatePair>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("explore-{}.pairs", std::process::id()));
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (machine, state, fault) in reached {
        writeln!(file, "{machine}\t{state}\t{fault}")?;
    }
    file.flush()
}

/// The (machine, state, fault) triples every `*.pairs` file of `dir`
/// holds; `None` when there is none (no explore run wrote there).
pub fn read_state_fault_pairs(dir: &Path) -> std::io::Result<Option<std::collections::BTreeSet<StatePair>>> {
    let mut found = false;
    let mut reached = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("pairs") {
            continue;
        }
        found = true;
        for line in std::fs::read_to_string(&path)?.lines() {
            let mut parts = line.split('\t');
            if let (Some(machine), Some(state), Some(fault)) = (parts.next(), parts.next(), parts.next()) {
                reached.insert((machine.to_owned(), state.to_owned(), fault.to_owned()));
            }
        }
    }
    Ok(found.then_some(reached))
}
