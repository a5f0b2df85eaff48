//! `readerlink diagrams`: writes `state-diagrams/<machine>.mmd` from each
//! machine's declared table, checks them (`--check`), or reports transition
//! coverage (`--coverage DIR`), with the (state, fault) pairs an explore
//! run left there.

use std::path::{Path, PathBuf};

use clap::Args;

use super::CliError;
use crate::runtime::MachineSpec;
use crate::runtime::table::coverage;

/// Arguments of `readerlink diagrams`.
#[derive(Debug, Args)]
pub struct DiagramsArgs {
    /// The directory of diagram files.
    #[arg(long, default_value = "state-diagrams")]
    pub dir: PathBuf,
    /// Write nothing; exit 1 naming each file that is missing, stale or
    /// left over from a machine that no longer exists.
    #[arg(long)]
    pub check: bool,
    /// Write nothing; report which declared transitions the coverage files
    /// in DIR (from a test run with READERLINK_TRANSITION_COVERAGE=DIR) never took.
    #[arg(long, value_name = "DIR", conflicts_with = "check")]
    pub coverage: Option<PathBuf>,
}

/// Runs `readerlink diagrams`.
pub fn run(args: DiagramsArgs) -> Result<(), CliError> {
    let machines = crate::machines::all();
    if let Some(dir) = &args.coverage {
        return report_coverage(&machines, dir);
    }
    if args.check {
        let stale = stale_diagrams(&args.dir, &machines)?;
        if !stale.is_empty() {
            return Err(CliError::StaleDiagrams(stale.join(", ")));
        }
        println!(
            "{} diagrams in {} match the code",
            machines.len(),
            args.dir.display()
        );
        return Ok(());
    }
    write_diagrams(&args.dir, &machines)
}

/// The file a machine's diagram lives in.
pub fn diagram_path(dir: &Path, spec: &MachineSpec) -> PathBuf {
    dir.join(format!("{}.mmd", spec.name))
}

/// The files in `dir` that do not match `machines`: missing, different, or
/// `.mmd` files of no machine.
pub fn stale_diagrams(dir: &Path, machines: &[&MachineSpec]) -> Result<Vec<String>, CliError> {
    let mut stale = Vec::new();
    for spec in machines {
        spec.validate().map_err(CliError::Other)?;
        let path = diagram_path(dir, spec);
        match std::fs::read_to_string(&path) {
            Ok(text) if text == spec.to_mermaid() => {}
            Ok(_) => stale.push(format!("{} (differs from the code)", path.display())),
            Err(_) => stale.push(format!("{} (missing)", path.display())),
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let is_mmd = path.extension().is_some_and(|e| e == "mmd");
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            if is_mmd && !machines.iter().any(|m| m.name == stem) {
                stale.push(format!("{} (no such machine)", path.display()));
            }
        }
    }
    stale.sort();
    Ok(stale)
}

fn write_diagrams(dir: &Path, machines: &[&MachineSpec]) -> Result<(), CliError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| CliError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for stale in stale_diagrams(dir, machines)? {
        if stale.ends_with("(no such machine)") {
            let path = stale.trim_end_matches(" (no such machine)");
            std::fs::remove_file(path).map_err(io(Path::new(path)))?;
            println!("removed {path}");
        }
    }
    for spec in machines {
        let path = diagram_path(dir, spec);
        std::fs::write(&path, spec.to_mermaid()).map_err(io(&path))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn report_coverage(machines: &[&MachineSpec], dir: &Path) -> Result<(), CliError> {
    let (mut declared_total, mut taken_total) = (0, 0);
    for spec in machines {
        let taken = coverage::taken_in_dir(spec, dir).map_err(|source| CliError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let declared = spec.transitions();
        let missing: Vec<_> = declared
            .iter()
            .filter(|(on, event, to)| !taken.contains(&(on.to_string(), event.to_string(), to.to_string())))
            .collect();
        declared_total += declared.len();
        taken_total += declared.len() - missing.len();
        println!(
            "{}: {}/{} declared transitions taken",
            spec.name,
            declared.len() - missing.len(),
            declared.len()
        );
        for (on, event, to) in missing {
            println!("    never taken: {on} --{event}--> {to}");
        }
    }
    println!("total: {taken_total}/{declared_total} declared transitions taken");
    // An explore run with `--coverage DIR` also left the (state, fault)
    // pairs its seeds reached.
    let pairs = crate::explore::read_state_fault_pairs(dir).map_err(|source| CliError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    if let Some(reached) = pairs {
        super::explore::print_state_fault_pairs(&crate::explore::state_fault_coverage(&reached));
    }
    Ok(())
}
