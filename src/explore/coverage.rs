//! Which declared transitions of each machine this process took (the
//! runtime records them as machines step; see
//! [`crate::runtime::table::coverage`]), and a file of them in the format
//! `readerlink diagrams --coverage DIR` sums up.

use std::io::Write as _;
use std::path::Path;

use serde::Serialize;

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
