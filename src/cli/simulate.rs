//! `readerlink simulate --scenario FILE [--json] [--trace OUT]`: runs a
//! scenario script ([`crate::scenario`]) on virtual time, prints its event
//! stream, writes its trace, and exits 0 only when every expectation holds.
//!
//! `readerlink simulate --hours N [--fleet FILE] [--trace OUT]`: runs the
//! demo's world — a simulated fleet, two readers connected to a location —
//! for N hours of virtual time (the backend core in-process) and prints what
//! happened: reboots, sleeps, battery, disconnects.

use std::io::Write as _;
use std::path::PathBuf;

use super::CliError;
use crate::scenario;

/// Arguments of `readerlink simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The scenario file to run (format: the `readerlink::scenario` docs;
    /// examples in `examples/scenarios/`).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "hours",
        conflicts_with = "hours"
    )]
    pub scenario: Option<PathBuf>,
    /// Instead of a scenario: run the demo's world (two readers connected)
    /// for this many hours of virtual time and print what happened.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=24 * 365))]
    pub hours: Option<u32>,
    /// With --hours: the simulated fleet (default: the shipped example).
    #[arg(long, value_name = "FILE", requires = "hours")]
    pub fleet: Option<PathBuf>,
    /// With --hours: the seed of every random choice of the run.
    #[arg(long, default_value_t = 7, requires = "hours")]
    pub seed: u64,
    /// Print one JSON object per event (virtual time in ms, kind, typed
    /// fields) instead of lines for people.
    #[arg(long)]
    pub json: bool,
    /// Write the run's trace (JSON Lines) to this file.
    #[arg(long, value_name = "OUT")]
    pub trace: Option<PathBuf>,
}

/// Runs the scenario: the event stream goes to stdout, the verdict (and
/// each failed expectation with the events around it) to stderr.
pub fn run(args: SimulateArgs) -> Result<(), CliError> {
    if let Some(hours) = args.hours {
        return super::simulate_hours::run(
            hours,
            args.fleet.as_deref(),
            args.seed,
            args.json,
            args.trace.as_deref(),
        );
    }
    let Some(path) = args.scenario else {
        return Err(CliError::Other("simulate needs --scenario FILE".into()));
    };
    let scenario = scenario::load(&path)
        .map_err(|e| CliError::Other(format!("{}: {e} [{}]", path.display(), e.code())))?;
    let trace = args
        .trace
        .clone()
        .map_or(scenario::TraceTo::Off, scenario::TraceTo::File);
    // The events are written as they come and none is kept: the run's
    // memory does not grow with virtual time (the trace, when asked for,
    // goes to its file as it is written).
    let json = args.json;
    let print = move |event: &scenario::RecordedEvent| {
        let line = if json {
            event.json_line()
        } else {
            event.human_line()
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
    };
    let outcome = scenario::run_blocking_with(&scenario, &trace, scenario::EventsTo::Stream(Box::new(print)))
        .map_err(|e| CliError::Other(format!("{}: {e} [{}]", path.display(), e.code())))?;
    let _ = std::io::stdout().flush();
    eprint!("{}", outcome.report());
    if outcome.passed() {
        Ok(())
    } else {
        Err(CliError::Other(format!(
            "scenario `{}`: {} of {} expectations failed",
            outcome.scenario,
            outcome.failures.len(),
            outcome.expectations
        )))
    }
}
