//! Seeded swarm testing of the whole runtime (`readerlink explore`).
//!
//! Each seed deterministically draws a world — a fleet of readers of the
//! three models, each with its distance, battery and update — and a
//! timeline of app actions (discover, connect, disconnect, reboot, cancel a
//! reconnection, transactions, installs and their cancels) and faults
//! (lost links, power cuts and button presses, moves out of range, battery
//! levels, the adapter off, the backend down, slow or failing, installs
//! that fail part way, corrupt frames on a reader's link); a quarter of the
//! seeds start by reconnecting a reader saved in the store (R11). That is
//! a [`Plan`]; [`Plan::scenario`] turns it into an ordinary
//! [`Scenario`](crate::scenario::Scenario), so a case is a file
//! `readerlink simulate --scenario` runs. A run has four phases:
//!
//! 1. **safety**: the plan's actions and faults, for `--hours`;
//! 2. **heal**: every kind of fault the plan used is undone (link restored,
//!    power on, adapter on, backend up and quick, no update offered), and
//!    the world settles for [`generate::SETTLE`];
//! 3. **liveness**: a discovery, then a few rounds of connecting every
//!    reader the app ever asked to connect; by [`generate::LIVE_BOUND`]
//!    after the last round each must be connected;
//! 4. **disconnect-all**: the app disconnects them; from then on every
//!    reader must be not connected and no terminal event may come.
//!
//! The run's lossless event stream is checked against the invariants of
//! [`crate::scenario::invariants`] (R9's order of reconnect events, one end
//! per connect, the overall status a function of the readers', no lost
//! event, no reboot in a transaction, liveness, nothing left over); some
//! seeds are run twice and must give identical event JSON.
//!
//! A failing seed is reported with the command that reproduces it, then
//! [`shrink`]ed: readers, actions and fault lengths are taken away and
//! times compressed, greedily, each candidate re-run and kept only if it
//! still breaks the same invariant. The result is written as a scenario
//! file ([`crate::scenario::to_toml`]) that fails the same way under
//! `readerlink simulate --scenario`.
//!
//! | file | what |
//! |---|---|
//! | `generate.rs` | seed → [`Plan`] ([`generate()`]), [`Plan::scenario`] |
//! | `shrink.rs` | [`shrink`]: a failing plan → a minimal one failing the same way |
//! | `coverage.rs` | [`coverage()`]: declared transitions each machine took in this process; [`write_coverage`]; the (state, fault) pairs' file ([`write_state_fault_pairs`]) |
//!
//! Coverage is measured twice: the declared transitions each machine took,
//! and the (state, fault) pairs: for each machine, which of its leaf states
//! it was in when each kind of fault struck ([`READER_FAULTS`] for that
//! reader's machines and the global ones, [`HOST_FAULTS`] for all). The
//! pairs never reached are listed at the end of `readerlink explore`, in
//! its `--json` summary and, through `--coverage DIR`, by `readerlink
//! diagrams --coverage DIR`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

pub mod coverage;
pub mod generate;
mod shrink;

pub use coverage::{
    MachineCoverage, coverage, read_state_fault_pairs, write_coverage, write_state_fault_pairs,
};
pub use generate::{GenConfig, Plan, Timed, generate};
pub use shrink::{ShrinkResult, shrink};

use crate::runtime::probe::{StatePair, StateProbe};
use crate::scenario::{self, Invariant, Outcome, ScenarioError, TraceTo, Violation};

/// What to explore.
#[derive(Debug, Clone, PartialEq)]
pub struct ExploreConfig {
    /// The first seed.
    pub from: u64,
    /// How many seeds, from `from` on.
    pub seeds: u64,
    /// How each seed's world is drawn.
    pub world: GenConfig,
    /// How many threads run seeds.
    pub jobs: usize,
    /// Every this many seeds (the seed divisible by it), the seed is run
    /// twice and its event JSON compared; 0 never.
    pub determinism_every: u64,
    /// Shrink at most this many failing seeds (the first ones).
    pub shrink_failures: usize,
    /// Shrinking re-runs at most this many candidates per failure.
    pub shrink_budget: usize,
}

impl Default for ExploreConfig {
    fn default() -> Self {
        Self {
            from: 0,
            seeds: 100,
            world: GenConfig::default(),
            jobs: 1,
            determinism_every: 10,
            shrink_failures: 3,
            shrink_budget: 400,
        }
    }
}

/// One seed's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// The invariants it broke (empty: it passed).
    pub violations: Vec<Violation>,
    /// How many steps its scenario had.
    pub steps: usize,
    /// How many events its run recorded.
    pub events: usize,
    /// The (machine, state, fault) triples its run reached: see
    /// [`StatePair`] and [`crate::runtime::probe`].
    pub pairs: BTreeSet<StatePair>,
}

/// The faults (state, fault) coverage counts that are about one reader:
/// paired with the states of that reader's machines and of the global
/// ones (hub, scanner) when they strike.
pub const READER_FAULTS: &[&str] = &[
    "lose_link",
    "cut_power",
    "power_off",
    "move_reader",
    "set_battery",
    "fail_next_install",
    "corrupt_frame",
];
/// The faults (state, fault) coverage counts that are about the whole
/// host: paired with the states of every machine actor when they strike.
pub const HOST_FAULTS: &[&str] = &["set_adapter", "backend_down", "backend_latency", "backend_fail"];

/// Whether an action name is a fault (state, fault) coverage counts.
pub fn is_fault(action: &str) -> bool {
    READER_FAULTS.contains(&action) || HOST_FAULTS.contains(&action)
}

/// One machine's (state, fault) coverage: which of its leaf states were
/// struck by which fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachinePairs {
    /// The machine's name.
    pub machine: String,
    /// How many pairs there are: its leaf states times the faults.
    pub possible: usize,
    /// How many of them the seeds reached.
    pub reached: usize,
    /// The pairs never reached, as `state + fault`.
    pub never_reached: Vec<String>,
}

/// For every machine a run starts (all but the runtime's example
/// machine), which of its (leaf state, fault) pairs are in `reached`.
pub fn state_fault_coverage(reached: &BTreeSet<StatePair>) -> Vec<MachinePairs> {
    crate::machines::all()
        .into_iter()
        .filter(|spec| !std::ptr::eq(*spec, &crate::runtime::example::SPEC))
        .map(|spec| {
            let mut possible = 0;
            let mut never_reached = Vec::new();
            for state in spec.states.iter().filter(|s| !s.is_superstate) {
                for fault in READER_FAULTS.iter().chain(HOST_FAULTS) {
                    possible += 1;
                    let pair = (spec.name.to_owned(), state.name.to_owned(), (*fault).to_owned());
                    if !reached.contains(&pair) {
                        never_reached.push(format!("{} + {fault}", state.name));
                    }
                }
            }
            MachinePairs {
                machine: spec.name.to_owned(),
                possible,
                reached: possible - never_reached.len(),
                never_reached,
            }
        })
        .collect()
}

/// Runs a plan's scenario once, with no trace.
pub fn run_plan(plan: &Plan) -> Result<Outcome, ScenarioError> {
    scenario::run_blocking(&plan.scenario(), &TraceTo::Off)
}

/// Runs one seed (twice when `twice`, comparing the event JSON).
pub fn run_seed(seed: u64, world: &GenConfig, twice: bool) -> Result<SeedResult, ScenarioError> {
    let plan = generate(seed, world);
    let scenario = plan.scenario();
    let probe = StateProbe::install();
    let outcome = scenario::run_blocking(&scenario, &TraceTo::Off)?;
    let pairs = probe
        .pairs()
        .into_iter()
        .filter(|(_, _, fault)| is_fault(fault))
        .collect();
    drop(probe);
    let mut violations = outcome.violations.clone();
    if twice {
        let again = scenario::run_blocking(&scenario, &TraceTo::Off)?;
        if let Some(v) = first_difference(&outcome, &again) {
            violations.push(v);
        }
    }
    Ok(SeedResult {
        seed,
        violations,
        steps: scenario.steps.len(),
        events: outcome.events.len(),
        pairs,
    })
}

fn first_difference(a: &Outcome, b: &Outcome) -> Option<Violation> {
    let at = a
        .events
        .iter()
        .zip(&b.events)
        .position(|(x, y)| x.json_line() != y.json_line())
        .or_else(|| (a.events.len() != b.events.len()).then(|| a.events.len().min(b.events.len())))?;
    let line = |o: &Outcome| {
        o.events
            .get(at)
            .map_or_else(|| "(no event)".into(), |e| e.json_line())
    };
    Some(Violation {
        invariant: Invariant::Nondeterministic,
        serial: None,
        event: a
            .events
            .get(at)
            .or(b.events.get(at))
            .map_or_else(String::new, |e| e.kind.clone()),
        t_ms: a.events.get(at).or(b.events.get(at)).map_or(0, |e| e.t_ms),
        why: format!("event {at} differs between two runs: {} vs {}", line(a), line(b)),
    })
}

/// A failing seed, shrunk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// What it broke.
    pub violations: Vec<Violation>,
    /// The command that reproduces it.
    pub reproduce: String,
    /// The shrunk case, when shrunk.
    pub shrunk: Option<Shrunk>,
}

/// A shrunk case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shrunk {
    /// Where its scenario file was written (none when no directory was given).
    pub file: Option<PathBuf>,
    /// How many readers it kept.
    pub readers: usize,
    /// How many safety-phase actions it kept.
    pub actions: usize,
    /// Its scenario's steps in all (with the heal, liveness and
    /// disconnect-all phases).
    pub steps: usize,
    /// The invariant it still breaks, first violation.
    pub violation: Violation,
    /// How many candidates were run.
    pub runs: usize,
}

/// The whole exploration's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The first seed.
    pub from: u64,
    /// How many seeds ran.
    pub seeds: u64,
    /// Readers per seed.
    pub readers: usize,
    /// Virtual length of each safety phase, in seconds.
    pub safety_s: f64,
    /// How many passed.
    pub passed: u64,
    /// The failures, by seed.
    pub failures: Vec<Failure>,
    /// Wall time, in seconds.
    pub elapsed_s: f64,
    /// Seeds per minute (all threads).
    pub seeds_per_minute: f64,
    /// Threads used.
    pub jobs: usize,
    /// Runs that could not start (a generated scenario the runner refused).
    pub errors: Vec<String>,
    /// For each machine, the (state, fault) pairs the seeds reached and
    /// the ones they never reached.
    pub state_fault_pairs: Vec<MachinePairs>,
    /// Every (machine, state, fault) triple the seeds reached (for
    /// [`write_state_fault_pairs`]; not in the JSON summary, whose
    /// `state_fault_pairs` says what was not reached).
    #[serde(skip)]
    pub reached_pairs: BTreeSet<StatePair>,
}

impl Summary {
    /// Whether every seed passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.errors.is_empty()
    }
}

/// The command that reruns one seed of `config`.
pub fn reproduce_command(seed: u64, world: &GenConfig) -> String {
    format!(
        "readerlink explore --seeds 1 --from {seed} --readers {} --hours {}",
        world.readers,
        world.safety.as_secs_f64() / 3600.0
    )
}

/// Runs the seeds of `config` on `config.jobs` threads, calling `progress`
/// after each seed; shrinks the first failures and writes them into `keep`.
pub fn explore(
    config: &ExploreConfig,
    keep: Option<&Path>,
    progress: &(dyn Fn(&SeedResult) + Sync),
) -> Summary {
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let results: Mutex<Vec<SeedResult>> = Mutex::new(Vec::new());
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..config.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= config.seeds {
                        break;
                    }
                    let seed = config.from.wrapping_add(i);
                    let twice = config.determinism_every > 0 && seed % config.determinism_every == 0;
                    match run_seed(seed, &config.world, twice) {
                        Ok(result) => {
                            progress(&result);
                            results.lock().unwrap_or_else(|p| p.into_inner()).push(result);
                        }
                        Err(e) => errors
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(format!("seed {seed}: {e} [{}]", e.code())),
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|r| r.seed);
    let elapsed = started.elapsed();
    let passed = results.iter().filter(|r| r.violations.is_empty()).count() as u64;
    let mut failures = Vec::new();
    let mut shrunk_kinds = BTreeSet::new();
    for result in results.iter().filter(|r| !r.violations.is_empty()) {
        let mut failure = Failure {
            seed: result.seed,
            violations: result.violations.clone(),
            reproduce: reproduce_command(result.seed, &config.world),
            shrunk: None,
        };
        let invariant = result.violations[0].invariant;
        if shrunk_kinds.len() < config.shrink_failures
            && invariant != Invariant::Nondeterministic
            && shrunk_kinds.insert(invariant)
        {
            let plan = generate(result.seed, &config.world);
            if let Some(done) = shrink(&plan, invariant, config.shrink_budget) {
                let scenario = done.plan.scenario();
                let file = keep.and_then(|dir| {
                    let path = dir.join(format!("seed-{}-{}.toml", result.seed, invariant.name()));
                    std::fs::create_dir_all(dir).ok()?;
                    std::fs::write(&path, case_file(&done, &config.world)).ok()?;
                    Some(path)
                });
                failure.shrunk = Some(Shrunk {
                    file,
                    readers: done.plan.readers.len(),
                    actions: done.plan.actions.len(),
                    steps: scenario.steps.len(),
                    violation: done.violation,
                    runs: done.runs,
                });
            }
        }
        failures.push(failure);
    }
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let reached: BTreeSet<StatePair> = results.iter().flat_map(|r| r.pairs.iter().cloned()).collect();
    Summary {
        state_fault_pairs: state_fault_coverage(&reached),
        reached_pairs: reached,
        from: config.from,
        seeds: results.len() as u64,
        readers: config.world.readers,
        safety_s: config.world.safety.as_secs_f64(),
        passed,
        failures,
        elapsed_s: seconds,
        seeds_per_minute: results.len() as f64 * 60.0 / seconds,
        jobs: config.jobs.max(1),
        errors: errors.into_inner().unwrap_or_else(|p| p.into_inner()),
    }
}

/// A shrunk case as a scenario file, with a header saying where it came
/// from and what it breaks.
pub fn case_file(done: &ShrinkResult, world: &GenConfig) -> String {
    let mut text = format!(
        "# Shrunk by `readerlink explore` from seed {seed} ({readers} readers, {hours} h):\n\
         #   {reproduce}\n\
         # It breaks: {violation}\n\
         # Run it: readerlink simulate --scenario THIS_FILE\n\n",
        seed = done.plan.seed,
        readers = world.readers,
        hours = world.safety.as_secs_f64() / 3600.0,
        reproduce = reproduce_command(done.plan.seed, world),
        violation = done.violation,
    );
    text.push_str(&scenario::to_toml(&done.plan.scenario()));
    text
}

/// The default seeds-per-second figure a progress line shows.
pub fn rate(done: u64, elapsed: Duration) -> f64 {
    done as f64 / elapsed.as_secs_f64().max(1e-9)
}
