//! `readerlink explore --seeds N [--from SEED] [--readers K] [--hours H]
//! [--jobs J] [--keep DIR] [--coverage DIR] [--json]`: seeded swarm testing
//! ([`crate::explore`]). Each seed draws a fleet and a timeline of app
//! actions and faults, runs it on virtual time, and checks the run against
//! the runtime's invariants; a failing seed is printed with the command
//! that reproduces it and shrunk to a scenario file in `--keep`. Exits 0
//! only when every seed passed.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::CliError;
use crate::explore::{self, ExploreConfig, GenConfig, SeedResult};

/// Arguments of `readerlink explore`.
#[derive(Debug, clap::Args)]
pub struct ExploreArgs {
    /// How many seeds to run.
    #[arg(long, default_value_t = 100)]
    pub seeds: u64,
    /// The first seed; seeds FROM, FROM+1, ... run.
    #[arg(long, value_name = "SEED", default_value_t = 0)]
    pub from: u64,
    /// Readers in each seed's fleet.
    #[arg(long, value_name = "K", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=200))]
    pub readers: u16,
    /// Virtual hours of the safety phase (faults on); fractions allowed.
    #[arg(long, value_name = "H", default_value_t = 1.0)]
    pub hours: f64,
    /// Threads running seeds (default: one per core).
    #[arg(long, value_name = "J")]
    pub jobs: Option<usize>,
    /// Where shrunk failing cases are written as scenario files.
    #[arg(long, value_name = "DIR", default_value = "explore-failures")]
    pub keep: PathBuf,
    /// Write the declared transitions the seeds took into DIR, in the form
    /// `readerlink diagrams --coverage DIR` reads.
    #[arg(long, value_name = "DIR")]
    pub coverage: Option<PathBuf>,
    /// Print the summary as one JSON object instead of lines for people.
    #[arg(long)]
    pub json: bool,
    /// Report violations of this invariant (`reboot_in_transaction`, ...)
    /// but do not fail for them: for a known bug not fixed yet. Repeatable.
    #[arg(long, value_name = "INVARIANT")]
    pub allow: Vec<String>,
    /// Run nothing: print each seed's scenario as a file `readerlink
    /// simulate --scenario` runs.
    #[arg(long)]
    pub print: bool,
}

/// Runs `readerlink explore`.
pub fn run(args: ExploreArgs) -> Result<(), CliError> {
    if !(args.hours.is_finite() && args.hours > 0.0 && args.hours <= 24.0 * 30.0) {
        return Err(CliError::Other(format!(
            "--hours {} must be more than 0 and at most 720",
            args.hours
        )));
    }
    let known: Vec<&str> = crate::scenario::invariants::CHECKED_BY_A_RUN
        .iter()
        .map(|i| i.name())
        .chain(["nondeterministic"])
        .collect();
    if let Some(bad) = args.allow.iter().find(|a| !known.contains(&a.as_str())) {
        return Err(CliError::Other(format!(
            "--allow {bad}: no such invariant (known: {})",
            known.join(", ")
        )));
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let config = ExploreConfig {
        from: args.from,
        seeds: args.seeds,
        world: GenConfig {
            readers: usize::from(args.readers),
            safety: Duration::from_secs_f64(args.hours * 3600.0),
            ..GenConfig::default()
        },
        jobs,
        ..ExploreConfig::default()
    };
    if args.print {
        for i in 0..args.seeds {
            let plan = explore::generate(args.from.wrapping_add(i), &config.world);
            print!("{}", crate::scenario::to_toml(&plan.scenario()));
        }
        return Ok(());
    }
    let bar = if std::io::stderr().is_terminal() && !args.json {
        let bar = ProgressBar::new(args.seeds);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} seeds, {per_sec}, {msg} [{elapsed_precise}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let failed = std::sync::atomic::AtomicU64::new(0);
    let progress = |result: &SeedResult| {
        if let Some(v) = result.violations.first() {
            failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let line = format!(
                "FAIL seed {}: {v}\n  reproduce: {}",
                result.seed,
                explore::reproduce_command(result.seed, &config.world)
            );
            match &bar {
                Some(bar) => bar.println(line),
                None if !args.json => eprintln!("{line}"),
                None => {}
            }
        }
        if let Some(bar) = &bar {
            bar.set_message(format!(
                "{} failed",
                failed.load(std::sync::atomic::Ordering::Relaxed)
            ));
            bar.inc(1);
        }
    };
    let summary = explore::explore(&config, Some(&args.keep), &progress);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Some(dir) = &args.coverage {
        explore::write_coverage(dir)
            .and_then(|()| explore::write_state_fault_pairs(dir, &summary.reached_pairs))
            .map_err(|source| CliError::Io {
                path: dir.display().to_string(),
                source,
            })?;
    }
    let coverage = explore::coverage();
    if args.json {
        let mut value = serde_json::to_value(&summary).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.insert(
                "coverage".into(),
                serde_json::to_value(&coverage).unwrap_or_default(),
            );
        }
        println!("{value}");
    } else {
        for failure in &summary.failures {
            println!("FAIL seed {}: {}", failure.seed, failure.violations[0]);
            println!("  reproduce: {}", failure.reproduce);
            if let Some(shrunk) = &failure.shrunk {
                println!(
                    "  shrunk to {} readers, {} actions ({} steps in all, {} runs): {}",
                    shrunk.readers, shrunk.actions, shrunk.steps, shrunk.runs, shrunk.violation
                );
                if let Some(file) = &shrunk.file {
                    println!("  case: readerlink simulate --scenario {}", file.display());
                }
            }
        }
        for error in &summary.errors {
            println!("ERROR {error}");
        }
        let (declared, taken) = coverage
            .iter()
            .fold((0, 0), |(d, t), m| (d + m.declared, t + m.taken));
        println!(
            "{} seeds ({} readers, {} h each) in {:.1} s on {} threads: {:.0} seeds/min; {} passed, {} failed",
            summary.seeds,
            summary.readers,
            args.hours,
            summary.elapsed_s,
            summary.jobs,
            summary.seeds_per_minute,
            summary.passed,
            summary.failures.len()
        );
        println!("coverage: {taken}/{declared} declared transitions taken");
        for machine in &coverage {
            println!("  {}: {}/{}", machine.machine, machine.taken, machine.declared);
        }
        print_state_fault_pairs(&summary.state_fault_pairs);
    }
    let failing = summary
        .failures
        .iter()
        .filter(|f| {
            f.violations
                .iter()
                .any(|v| !args.allow.iter().any(|a| a == v.invariant.name()))
        })
        .count();
    if failing == 0 && summary.errors.is_empty() {
        if !summary.failures.is_empty() && !args.json {
            println!(
                "{} seeds broke only allowed invariants ({})",
                summary.failures.len(),
                args.allow.join(", ")
            );
        }
        Ok(())
    } else {
        Err(CliError::Differs(format!(
            "{} of {} seeds failed",
            failing + summary.errors.len(),
            summary.seeds
        )))
    }
}

/// The (state, fault) coverage: per machine, how many pairs were reached,
/// and the ones never reached.
pub(crate) fn print_state_fault_pairs(pairs: &[explore::MachinePairs]) {
    let (possible, reached) = pairs
        .iter()
        .fold((0, 0), |(p, r), m| (p + m.possible, r + m.reached));
    println!("(state, fault) pairs: {reached}/{possible} reached");
    for machine in pairs {
        println!("  {}: {}/{}", machine.machine, machine.reached, machine.possible);
        // One line per state: `state: fault, fault`.
        let mut by_state: Vec<(&str, Vec<&str>)> = Vec::new();
        for pair in &machine.never_reached {
            let (state, fault) = pair.split_once(" + ").unwrap_or((pair, ""));
            match by_state.last_mut() {
                Some((s, faults)) if *s == state => faults.push(fault),
                _ => by_state.push((state, vec![fault])),
            }
        }
        for (state, faults) in by_state {
            println!("    never reached in {state}: {}", faults.join(", "));
        }
    }
}
