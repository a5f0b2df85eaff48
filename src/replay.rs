//! Whole-run replay: run the whole system again from a trace and compare
//! every record (`readerlink replay TRACE`).
//!
//! The replay starts a [`Terminal`] with the same actors, shells and
//! machines as any run — the hub, the scanner, and per reader its session,
//! connection, reconnect supervisor, reboot timer and updater — built from
//! the trace header (seed, policies, restart intensity), on a paused
//! clock. Its boundaries are inert: the transport hears nothing and its
//! connects never complete, the backend never answers. Instead, every input
//! that came from outside the machines is re-injected from the trace, at
//! its recorded virtual time, into the actor the trace names; every input
//! the machines caused (a message from another actor, a timer) must be
//! produced again by the replayed system. Nothing is re-simulated, so a
//! trace recorded over real BLE or against a real backend replays without
//! either.
//!
//! Order is kept by a [gate](crate::runtime::gate): each replayed actor
//! holds the inputs it receives, and the replay releases them one at a
//! time in the recorded order, at the recorded time. A recorded input is
//! handled only once the replayed run has produced as many records as the
//! trace holds before it; one the replayed system never produces stalls
//! the replay, which stops there and reports.
//!
//! Then every record is compared with the recorded one, actor by actor:
//! the `k`-th record of an actor in the replayed run against the `k`-th in
//! the trace (kind, every field, and the virtual time, except for
//! `started` and `stopped` records, whose time is when the runtime got to
//! them). The first record (in trace order) that differs is the
//! divergence; its cause is the input whose recorded effects differ (the
//! differing record itself when it is an input whose content differs).
//!
//! | source of a recorded input | in replay |
//! |---|---|
//! | `app` (and `app:<what>`), `transport`, `backend`, `store`, `world`, `effect` (a scanner's identify over the transport), `verify` (the check of an update image, whose bytes the trace does not hold), `test` | injected from the trace |
//! | `actor:<id>`, `timer`, `terminal` (the hub's shell telling the scanner) | produced by the replayed system, compared |

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde::Serialize;

use crate::backend::{
    Backend, BackendError, CatalogAnswer, CreateLocation, Location, RegisterReader, RegisteredReader,
    UpdateQuery,
};
use crate::reboot::RebootPolicy;
use crate::reconnect::ReconnectPolicy;
use crate::runtime::gate::{Gate, GateCommand};
use crate::runtime::{
    Clock, Divergence, Millis, Record, RecordBody, ReplayError, RestartIntensity, Trace, TraceHeader, Tracer,
};
use crate::scanner::{DiscoveryId, ScannerInput};
use crate::secret::Secret;
use crate::store::MemoryStore;
use crate::terminal::Terminal;
use crate::transport::{Link, PeripheralId, ScanEvent, Transport, TransportError};
use crate::updater::UpdaterPolicy;

/// The oldest trace format a whole run replays from: version 3 is the
/// first whose `started` records carry the seeds of seeded machines.
pub const OLDEST_REPLAYABLE_VERSION: u32 = 3;

/// The machines a whole-run replay starts (the terminal's actors).
pub const RUN_MACHINES: &[&str] = &[
    "terminal",
    "scanner",
    "session",
    "connection",
    "reconnect",
    "reboot_timer",
    "updater",
];

/// How many scheduler turns without any record or held input the replay
/// waits for something the replayed system must do at the current instant
/// before it calls the run stalled. A paused clock never moves while
/// anything is ready to run, so this is not a time.
const IDLE_TURNS: usize = 64;

pub use crate::runtime::gate::is_external_source;

/// How a whole-run replay ended.
#[derive(Debug, Clone)]
pub struct RunReplay {
    /// What was compared.
    pub summary: RunSummary,
    /// The first record the replayed run did not reproduce, if any.
    pub divergence: Option<RunDivergence>,
}

impl RunReplay {
    /// Whether every compared record was reproduced.
    pub fn reproduced(&self) -> bool {
        self.divergence.is_none()
    }
}

/// The numbers of a whole-run replay.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Records in the trace.
    pub records: usize,
    /// Records compared (the trace's records less the `stopped` records of
    /// the run's shutdown, see [`replay_run`]).
    pub compared: usize,
    /// Actors the trace started.
    pub actors: usize,
    /// Inputs injected from the trace (from outside the machines).
    pub injected: usize,
    /// Inputs the replayed system produced and the replay released in the
    /// recorded order.
    pub released: usize,
    /// The trace's virtual time span, in milliseconds.
    pub virtual_span_ms: Millis,
    /// How long the replay took on the wall clock: the run, reading the
    /// replayed trace back and comparing it.
    pub wall: Duration,
}

/// Where a whole-run replay diverged.
#[derive(Debug, Clone)]
pub struct RunDivergence {
    /// The first differing record: actor, seq, virtual time, recorded vs
    /// replayed, and its cause.
    pub divergence: Divergence,
    /// Why the replay stopped early, when it did: the recorded input the
    /// replayed system did not produce, or an input that did not decode.
    pub stalled: Option<String>,
}

impl std::fmt::Display for RunDivergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.divergence)?;
        if let Some(stalled) = &self.stalled {
            write!(f, " (the replay stopped: {stalled})")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "reproduced {} records of {} actors ({} inputs injected, {} produced by the replayed run) over {} of virtual time in {:.3} s",
            self.compared,
            self.actors,
            self.injected,
            self.released,
            crate::runtime::fmt_ms(self.virtual_span_ms),
            self.wall.as_secs_f64()
        )
    }
}

/// Replays the whole run `trace` recorded and compares every record (see
/// the module docs).
///
/// Refuses, with a typed [`ReplayError`], a trace that lacks what the
/// replay needs: a header without its `replay` section or a machine's
/// policy, a format version before [`OLDEST_REPLAYABLE_VERSION`], a
/// machine the terminal does not run.
///
/// A run recorded (here an example scenario, on virtual time) and
/// replayed whole:
///
/// ```
/// use readerlink::runtime::Trace;
/// use readerlink::scenario::{self, TraceTo};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("run.trace.jsonl");
/// let scenario = scenario::load("examples/scenarios/connect_and_disconnect.toml")?;
/// scenario::run_blocking(&scenario, &TraceTo::File(path.clone()))?;
///
/// let trace = Trace::read_file(&path)?;
/// let replay = readerlink::replay::replay_run(&trace)?;
/// match &replay.divergence {
///     None => println!("{}", replay.summary),
///     Some(divergence) => panic!("{divergence}"),
/// }
/// # Ok(()) }
/// ```
pub fn replay_run(trace: &Trace) -> Result<RunReplay, ReplayError> {
    let setup = Setup::from_trace(trace)?;
    let started = Instant::now();
    let system = crate::runtime::virtual_time_system();
    let (replayed, stalled, injected, released) = system.block_on(run(trace, setup));
    let replayed = Trace::parse(&replayed).map_err(|e| ReplayError::BadInput {
        seq: e.line().unwrap_or(0) as u64,
        reason: format!("the replayed run wrote a trace that does not validate: {e}"),
    })?;
    let shutdown = shutdown_records(trace);
    let compared = trace.records.len() - shutdown;
    let divergence = compare(trace, &replayed, compared);
    let wall = started.elapsed();
    let summary = RunSummary {
        records: trace.records.len(),
        compared,
        actors: trace.started_actors().len(),
        injected,
        released,
        virtual_span_ms: trace.records.last().map_or(0, |r| r.t_ms),
        wall,
    };
    let divergence = divergence.map(|divergence| RunDivergence {
        divergence,
        stalled: stalled.clone(),
    });
    let divergence = match (divergence, stalled) {
        (None, Some(stalled)) => Some(RunDivergence {
            divergence: stall_divergence(trace),
            stalled: Some(stalled),
        }),
        (divergence, _) => divergence,
    };
    Ok(RunReplay { summary, divergence })
}

impl Trace {
    /// Replays the whole run this trace recorded: [`replay_run`].
    pub fn replay_run(&self) -> Result<RunReplay, ReplayError> {
        replay_run(self)
    }
}

/// What the terminal is built from, read from the trace header.
struct Setup {
    header: TraceHeader,
    reconnect: ReconnectPolicy,
    reboot: RebootPolicy,
    updates: UpdaterPolicy,
    restarts: RestartIntensity,
}

impl Setup {
    fn from_trace(trace: &Trace) -> Result<Self, ReplayError> {
        let header = &trace.header;
        let missing = |machine: &str, what: String| ReplayError::MissingParameters {
            actor: "(the whole run)".to_owned(),
            machine: machine.to_owned(),
            what,
        };
        if header.version < OLDEST_REPLAYABLE_VERSION {
            return Err(missing(
                "*",
                format!(
                    "format version {OLDEST_REPLAYABLE_VERSION} or later (the seeds of seeded machines in their `started` records); this trace is version {}",
                    header.version
                ),
            ));
        }
        let Some(replay) = &header.replay else {
            return Err(missing("*", "its `replay` section".to_owned()));
        };
        for record in &trace.records {
            if let RecordBody::Started { machine, .. } = &record.body {
                if !RUN_MACHINES.contains(&machine.as_str()) {
                    return Err(ReplayError::UnknownMachine {
                        actor: record.actor.clone(),
                        machine: machine.clone(),
                    });
                }
            }
        }
        fn policy<T: serde::de::DeserializeOwned>(
            replay: &crate::runtime::ReplayParameters,
            machine: &str,
            missing: &dyn Fn(&str, String) -> ReplayError,
        ) -> Result<T, ReplayError> {
            let value = replay
                .machines
                .get(machine)
                .and_then(|m| m.get("policy"))
                .ok_or_else(|| missing(machine, format!("`replay.machines.{machine}.policy`")))?;
            serde_json::from_value(value.clone()).map_err(|e| {
                missing(
                    machine,
                    format!("a valid `replay.machines.{machine}.policy` ({e})"),
                )
            })
        }
        let limits = replay.restart_intensity;
        Ok(Self {
            header: header.clone(),
            reconnect: policy(replay, "reconnect", &missing)?,
            reboot: policy(replay, "reboot_timer", &missing)?,
            updates: policy(replay, "updater", &missing)?,
            restarts: RestartIntensity {
                max_restarts: limits.max_restarts as usize,
                within: Duration::from_millis(limits.within_ms),
            },
        })
    }
}

/// Runs the replay on the current (paused) actix system: the replayed
/// trace's text, why it stopped early (if it did), and how many inputs
/// were injected and released.
async fn run(trace: &Trace, setup: Setup) -> (String, Option<String>, usize, usize) {
    let gate = Gate::new();
    let tracer = Tracer::memory(setup.header.clone()).with_gate(gate.clone());
    // Both clocks start in the same instant: a paused clock does not move
    // until the runtime is idle, which it cannot be between these lines.
    let clock = Clock::start();
    let terminal = Terminal::builder(
        Arc::new(InertTransport),
        Arc::new(InertBackend),
        Arc::new(MemoryStore::new()),
    )
    .tracer(tracer.clone())
    .seed(setup.header.seed)
    .reconnect_policy(setup.reconnect)
    .reboot_policy(setup.reboot)
    .updater_policy(setup.updates)
    .restart_intensity(setup.restarts)
    .start();
    let waiter = Waiter {
        tracer: &tracer,
        gate: &gate,
    };
    let (mut injected, mut released) = (0, 0);
    let mut stalled = None;
    let mut discoveries = std::collections::HashMap::new();
    for record in &trace.records {
        let RecordBody::Input { source, input, .. } = &record.body else {
            continue;
        };
        let at = clock.instant_at(record.t_ms);
        if tokio::time::Instant::now() < at {
            tokio::time::sleep_until(at).await;
        }
        let before = record.seq - 1;
        if !waiter.until(|| tracer.records_recorded() >= before).await {
            stalled = Some(format!(
                "the replayed run produced {} records, not the {before} the trace holds before seq {}",
                tracer.records_recorded(),
                record.seq
            ));
            break;
        }
        if !waiter.until(|| gate.is_registered(&record.actor)).await {
            stalled = Some(format!(
                "actor `{}` never started in the replayed run (seq {})",
                record.actor, record.seq
            ));
            break;
        }
        // The app's calls to the scanner go through the terminal's API
        // again (see `reissue_scanner_call`); a discovery the hub started
        // itself (reconnect at start) reached the scanner as an `app` input
        // already, and that one is released instead.
        let reissued = record.actor == "scanner"
            && source == "app"
            && (waiter.until(|| gate.holds("scanner", "app")).await
                || reissue_scanner_call(&terminal, &mut discoveries, input).await);
        let command = if is_external_source(source) && !reissued {
            injected += 1;
            GateCommand::Inject {
                source: source.clone(),
                input: input.clone(),
            }
        } else {
            if !waiter.until(|| gate.holds(&record.actor, source)).await {
                stalled = Some(format!(
                    "the replayed run sent `{}` nothing from `{source}` to handle at seq {} ({})",
                    record.actor,
                    record.seq,
                    crate::runtime::fmt_ms(record.t_ms)
                ));
                break;
            }
            if is_external_source(source) {
                injected += 1;
            } else {
                released += 1;
            }
            GateCommand::Release {
                source: source.clone(),
            }
        };
        if !gate.command(&record.actor, command) {
            stalled = Some(format!(
                "actor `{}` stopped before seq {}",
                record.actor, record.seq
            ));
            break;
        }
        if !waiter.until(|| tracer.records_recorded() >= record.seq).await {
            stalled = Some(format!(
                "actor `{}` did not handle the input of seq {}",
                record.actor, record.seq
            ));
            break;
        }
        if let Some(failure) = gate.take_failures().into_iter().next() {
            stalled = Some(format!("at seq {}: {failure}", record.seq));
            break;
        }
    }
    if stalled.is_none() {
        // The steps after the last input.
        let total = trace.records.len() as u64;
        waiter.until(|| tracer.records_recorded() >= total).await;
    }
    let text = tracer.contents();
    drop(terminal);
    (text, stalled, injected, released)
}

/// Carries out the app's call behind a recorded `app` input of the
/// scanner through the terminal's API, as the app made it, when the API
/// does more than deliver the input (a discovery's updates are forwarded
/// to the hub by a task of the API, a dropped stream is noticed by the
/// scanner's shell): true when it did, and the scanner now holds the
/// input. `discoveries` keeps the streams of the discoveries started.
async fn reissue_scanner_call(
    terminal: &Terminal,
    discoveries: &mut std::collections::HashMap<DiscoveryId, crate::scanner::Discovery>,
    input: &serde_json::Value,
) -> bool {
    let Ok(input) = serde_json::from_value::<ScannerInput>(input.clone()) else {
        return false;
    };
    match input {
        ScannerInput::DiscoveryRequested { discovery, config } => {
            let started = terminal.discover_readers(config).await;
            discoveries.insert(discovery, started);
            true
        }
        ScannerInput::UpdatesDropped { discovery } => discoveries.remove(&discovery).is_some(),
        ScannerInput::CancelRequested { discovery, .. } => match discoveries.get(&discovery) {
            Some(started) => {
                let cancelable = started.cancelable.clone();
                actix::spawn(async move {
                    cancelable.cancel().await;
                });
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// Waits, turn by turn, for the replayed run to do something.
struct Waiter<'a> {
    tracer: &'a Tracer,
    gate: &'a Gate,
}

impl Waiter<'_> {
    /// Waits until `done` holds; false when the replayed run went idle
    /// without it.
    async fn until(&self, done: impl Fn() -> bool) -> bool {
        loop {
            if done() {
                return true;
            }
            let progress = || (self.tracer.records_recorded(), self.gate.changes());
            let seen = progress();
            let mut moved = false;
            for _ in 0..IDLE_TURNS {
                tokio::task::yield_now().await;
                if done() {
                    return true;
                }
                if progress() != seen {
                    moved = true;
                    break;
                }
            }
            if !moved {
                return false;
            }
        }
    }
}

/// How many records at the end of `trace` are `stopped` records of the
/// run's shutdown (the actors stopping as the app dropped the terminal):
/// not compared, since the replay does not stop the run the way the app
/// did.
fn shutdown_records(trace: &Trace) -> usize {
    trace
        .records
        .iter()
        .rev()
        .take_while(|r| matches!(r.body, RecordBody::Stopped { .. }))
        .count()
}

/// Whether a replayed record reproduces a recorded one.
fn same(recorded: &Record, replayed: &Record) -> bool {
    let timed = !matches!(
        recorded.body,
        RecordBody::Started { .. } | RecordBody::Stopped { .. }
    );
    recorded.body == replayed.body && (!timed || recorded.t_ms == replayed.t_ms)
}

/// The first of `recorded`'s first `compared` records that `replayed` does
/// not reproduce, actor by actor (see the module docs).
fn compare(recorded: &Trace, replayed: &Trace, compared: usize) -> Option<Divergence> {
    let theirs = replayed.records_by_actor();
    let mut position: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut last_input: std::collections::HashMap<&str, &Record> = std::collections::HashMap::new();
    for record in &recorded.records[..compared] {
        let k = position.entry(record.actor.as_str()).or_insert(0);
        let replayed = theirs
            .get(record.actor.as_str())
            .and_then(|rs| rs.get(*k))
            .copied();
        *k += 1;
        let is_input = matches!(record.body, RecordBody::Input { .. });
        if replayed.is_some_and(|r| same(record, r)) {
            if is_input {
                last_input.insert(record.actor.as_str(), record);
            }
            continue;
        }
        let cause = if is_input {
            Some(record.clone())
        } else {
            last_input.get(record.actor.as_str()).map(|r| (*r).clone())
        };
        return Some(Divergence {
            actor: record.actor.clone(),
            seq: record.seq,
            t_ms: record.t_ms,
            recorded: Some(record.body.clone()),
            replayed: replayed.map(|r| r.body.clone()),
            cause,
        });
    }
    // Everything recorded was reproduced: anything more an actor did
    // before the shutdown is a divergence too.
    let shutdown_from = recorded.records.get(compared).map(|r| r.seq);
    for (actor, records) in &theirs {
        let k = position.get(actor).copied().unwrap_or(0);
        if let Some(extra) = records
            .get(k)
            .filter(|r| !matches!(r.body, RecordBody::Stopped { .. }) || shutdown_from.is_none())
        {
            return Some(Divergence {
                actor: (*actor).to_owned(),
                seq: extra.seq,
                t_ms: extra.t_ms,
                recorded: None,
                replayed: Some(extra.body.clone()),
                cause: last_input.get(actor).map(|r| (*r).clone()),
            });
        }
    }
    None
}

/// The divergence a stall names when every record produced so far
/// matched: the trace's last record, which the replay did not reach.
fn stall_divergence(trace: &Trace) -> Divergence {
    let last = trace.records.last();
    Divergence {
        actor: last.map_or_else(String::new, |r| r.actor.clone()),
        seq: last.map_or(0, |r| r.seq),
        t_ms: last.map_or(0, |r| r.t_ms),
        recorded: last.map(|r| r.body.clone()),
        replayed: None,
        cause: None,
    }
}

/// A transport that hears nothing: scans report nothing, connects never
/// complete. What the transport delivered is re-injected from the trace.
struct InertTransport;

impl Transport for InertTransport {
    fn scan(&self) -> BoxFuture<'_, Result<BoxStream<'static, ScanEvent>, TransportError>> {
        async { Ok(futures::StreamExt::boxed(futures::stream::pending::<ScanEvent>())) }.boxed()
    }

    fn stop_scan(&self) -> BoxFuture<'_, Result<(), TransportError>> {
        async { Ok(()) }.boxed()
    }

    fn connect(&self, _peripheral: &PeripheralId) -> BoxFuture<'_, Result<Link, TransportError>> {
        futures::future::pending().boxed()
    }
}

/// A backend that never answers: its answers are re-injected from the
/// trace.
struct InertBackend;

impl Backend for InertBackend {
    fn connection_token(&self) -> BoxFuture<'_, Result<Secret, BackendError>> {
        futures::future::pending().boxed()
    }

    fn location(&self, _id: &str) -> BoxFuture<'_, Result<Location, BackendError>> {
        futures::future::pending().boxed()
    }

    fn create_location(&self, _request: CreateLocation) -> BoxFuture<'_, Result<Location, BackendError>> {
        futures::future::pending().boxed()
    }

    fn list_locations(&self) -> BoxFuture<'_, Result<Vec<Location>, BackendError>> {
        futures::future::pending().boxed()
    }

    fn register_reader(
        &self,
        _request: RegisterReader,
    ) -> BoxFuture<'_, Result<RegisteredReader, BackendError>> {
        futures::future::pending().boxed()
    }

    fn check_update(&self, _query: UpdateQuery) -> BoxFuture<'_, Result<CatalogAnswer, BackendError>> {
        futures::future::pending().boxed()
    }

    fn download_update(
        &self,
        _device_type: crate::reader::DeviceType,
        _version: &str,
        _from: u32,
    ) -> BoxFuture<'_, Result<Vec<u8>, BackendError>> {
        futures::future::pending().boxed()
    }
}
