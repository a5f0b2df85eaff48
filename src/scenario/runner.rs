//! Runs a [`Scenario`]: builds the simulated world, the in-process backend
//! and a store, starts the app side through an [`App`] adapter (the
//! [`TerminalApp`] over [`Terminal`]), carries out the steps on the
//! scenario's clock, checks each event against the expectations and the
//! invariants as it comes, and keeps the events or streams them
//! ([`EventsTo`]).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::future::LocalBoxFuture;
use serde_json::{Map, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use super::context::{Around, Context, events_of};
use super::error::ScenarioError;
use super::events::RecordedEvent;
use super::expect::{ExpectChecker, Failure, describe, matches};
use super::format::{
    Action, AppAction, BackendAction, ClockMode, EventPattern, Scenario, Trigger, WorldAction,
};
use super::invariants::{self, InvariantChecker, Violation};
use crate::backend::{Address, BackendCore, CreateLocation, FaultInjector, LocalBackend, Route};
use crate::cancelable::{CancelOutcome, Cancelable};
use crate::reader::{ConnectionStatus, Reader, SerialNumber};
use crate::runtime::{TraceHeader, Tracer, fmt_ms};
use crate::scanner::{DiscoveryConfig, DiscoveryMethod, DiscoveryUpdate};
use crate::store::{MemoryStore, Store};
use crate::terminal::{ConnectionConfig, Terminal, TerminalEvent, Transaction};
use crate::transport::sim::{Fleet, SimTransport, SimWorld};

/// What a run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The scenario's name.
    pub scenario: String,
    /// Every event, in order, with its virtual time, when the run kept
    /// them ([`EventsTo::Keep`]); empty when it streamed them
    /// ([`EventsTo::Stream`]).
    pub events: Vec<RecordedEvent>,
    /// Every expectation (and step) that did not hold; empty when the run
    /// passed.
    pub failures: Vec<Failure>,
    /// How many expectations the scenario has.
    pub expectations: usize,
    /// Each reader's status at the end, by serial number.
    pub final_status: BTreeMap<SerialNumber, ConnectionStatus>,
    /// The terminal's overall status at the end.
    pub final_connection_status: ConnectionStatus,
    /// The invariants the run broke, when the scenario has `[invariants]`
    /// (each is also among `failures`).
    pub violations: Vec<Violation>,
}

impl Outcome {
    /// Whether every expectation held and every step ran.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The event stream, one JSON object a line (`--json`); empty when the
    /// run streamed its events ([`EventsTo::Stream`]).
    pub fn json_lines(&self) -> String {
        self.events.iter().map(|e| e.json_line() + "\n").collect()
    }

    /// The event stream, one line each, for people; empty when the run
    /// streamed its events ([`EventsTo::Stream`]).
    pub fn human_lines(&self) -> String {
        self.events.iter().map(|e| e.human_line() + "\n").collect()
    }

    /// The verdict: `PASS name: n expectations hold`, or each failure.
    pub fn report(&self) -> String {
        if self.passed() {
            return format!(
                "PASS {}: {} expectations hold\n",
                self.scenario, self.expectations
            );
        }
        let mut text = String::new();
        for failure in &self.failures {
            text.push_str(&failure.to_string());
        }
        text.push_str(&format!(
            "FAIL {}: {} of {} failed\n",
            self.scenario,
            self.failures.len(),
            self.expectations
        ));
        text
    }
}

/// An app action that failed: the error's stable code and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// The error's stable code (`location_not_found`).
    pub code: String,
    /// The error in a sentence.
    pub message: String,
}

/// What a run does with its events as they come.
///
/// [`EventsTo::Keep`] (what [`run`] and [`run_blocking`] do) keeps every
/// event in [`Outcome::events`]: the run's memory grows with its length.
/// [`EventsTo::Stream`] hands each event to a function as it comes and
/// keeps none ([`Outcome::events`] is empty, so are
/// [`Outcome::json_lines`] and [`Outcome::human_lines`]): the run's memory
/// does not grow with virtual time. Either way the expectations, the
/// invariants and the steps' triggers are checked as the events come, with
/// the same verdict and the same events around each failure.
///
/// ```no_run
/// use readerlink::scenario::{self, EventsTo, TraceTo};
///
/// let scenario = scenario::load("examples/scenarios/connect_and_disconnect.toml")?;
/// let print = EventsTo::Stream(Box::new(|event| println!("{}", event.human_line())));
/// let outcome = scenario::run_blocking_with(&scenario, &TraceTo::Off, print)?;
/// assert!(outcome.events.is_empty());
/// eprint!("{}", outcome.report());
/// # Ok::<(), readerlink::scenario::ScenarioError>(())
/// ```
#[derive(Default)]
pub enum EventsTo {
    /// Keep every event in [`Outcome::events`].
    #[default]
    Keep,
    /// Hand each event to this function when it comes; keep none.
    Stream(Box<dyn FnMut(&RecordedEvent)>),
}

impl std::fmt::Debug for EventsTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Keep => f.write_str("Keep"),
            Self::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}

/// Where a streamed run's events go.
type StreamTo = Box<dyn FnMut(&RecordedEvent)>;

/// What the sink does with each event: the checkers, the step's trigger,
/// and the list or the stream.
struct SinkState {
    kept: Option<Vec<RecordedEvent>>,
    stream: Option<StreamTo>,
    context: Context,
    expect: Option<ExpectChecker>,
    invariants: Option<InvariantChecker>,
    /// The first `EventsMissed`: the events around it, and how many were
    /// missed in all.
    missed: Option<(Around, u64)>,
    /// The next step's `after` event: whether it came since the step
    /// before ran, and the events around that point.
    waiter: Option<(EventPattern, bool, Around)>,
    /// The run is over: later events (the system tearing down) are dropped.
    closed: bool,
}

impl SinkState {
    fn observe(&mut self, event: RecordedEvent) {
        self.context.feed(&event);
        if let Some(expect) = &mut self.expect {
            expect.observe(&event, &mut self.context);
        }
        if let Some(invariants) = &mut self.invariants {
            invariants.observe(&event, &mut self.context);
        }
        if event.kind == "EventsMissed" {
            let count = event.fields.get("count").and_then(Value::as_u64).unwrap_or(0);
            match &mut self.missed {
                Some((_, missed)) => *missed += count,
                None => {
                    let at = self.context.count() - 1;
                    self.missed = Some((self.context.around(at), count));
                }
            }
        }
        if let Some((pattern, found, _)) = &mut self.waiter
            && !*found
        {
            *found = matches(pattern, &event);
        }
        if let Some(stream) = &mut self.stream {
            stream(&event);
        }
        if let Some(kept) = &mut self.kept {
            kept.push(event);
        }
    }
}

/// Where the run's events go, in order, each stamped with the virtual time
/// since the run started: checked as they come, then kept or streamed as
/// [`EventsTo`] says. Clones share it.
#[derive(Clone)]
pub struct EventSink {
    inner: Rc<RefCell<SinkState>>,
    count: Rc<watch::Sender<usize>>,
    start: Instant,
}

/// What the sink has when the run is over.
struct Finished {
    events: Vec<RecordedEvent>,
    failures: Vec<Failure>,
    violations: Vec<invariants::Reported>,
}

impl EventSink {
    fn new(scenario: &Scenario, events: EventsTo) -> Self {
        let mut context = Context::new(scenario.invariants.is_some());
        let expect = ExpectChecker::new(&scenario.expect, &mut context);
        let invariants = scenario.invariants.as_ref().map(InvariantChecker::new);
        let (kept, stream) = match events {
            EventsTo::Keep => (Some(Vec::new()), None),
            EventsTo::Stream(stream) => (None, Some(stream)),
        };
        Self {
            inner: Rc::new(RefCell::new(SinkState {
                kept,
                stream,
                context,
                expect: Some(expect),
                invariants,
                missed: None,
                waiter: None,
                closed: false,
            })),
            count: Rc::new(watch::channel(0).0),
            start: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Records an event now.
    pub fn push(&self, event: RecordedEvent) {
        let len = {
            let mut state = self.inner.borrow_mut();
            if state.closed {
                return;
            }
            state.observe(event);
            state.context.count()
        };
        self.count.send_replace(len);
    }

    /// Records a runner event of `kind` with `fields` now.
    pub fn emit(&self, kind: &str, fields: Map<String, Value>) {
        self.push(RecordedEvent {
            t_ms: self.now_ms(),
            kind: kind.to_owned(),
            fields,
        });
    }

    /// From now on, watch for the first event that matches `pattern`
    /// (a step's `after`), and keep the events around this point.
    fn arm(&self, pattern: &EventPattern) {
        let mut state = self.inner.borrow_mut();
        let at = state.context.count();
        let around = state.context.around(at);
        state.waiter = Some((pattern.clone(), false, around));
    }

    /// Waits until the armed pattern has matched, or until `deadline`:
    /// then the events around where it was armed.
    async fn wait(&self, deadline: Instant) -> Result<(), Vec<RecordedEvent>> {
        let mut seen = self.count.subscribe();
        loop {
            seen.borrow_and_update();
            match &self.inner.borrow().waiter {
                Some((_, true, _)) => return Ok(()),
                Some((_, false, around)) if Instant::now() >= deadline => return Err(events_of(around)),
                Some(_) => {}
                None => return Err(Vec::new()),
            }
            tokio::select! {
                changed = seen.changed() => if changed.is_err() { return Err(Vec::new()) },
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    /// The run is over: closes the sink and finishes the checks.
    fn finish(
        &self,
        final_status: &BTreeMap<SerialNumber, ConnectionStatus>,
        final_connection_status: ConnectionStatus,
        run_ms: u64,
    ) -> Finished {
        let mut state = self.inner.borrow_mut();
        state.closed = true;
        let mut failures = Vec::new();
        // Whatever the app adapter, a run whose stream lost events proves
        // nothing about the events it lost.
        if let Some((around, missed)) = &state.missed {
            failures.push(Failure {
                line: 0,
                field: "events".into(),
                expectation: "the runner receives every event".into(),
                why: format!("{missed} events were dropped before the runner saw them; the expectations were checked on what was left"),
                around: events_of(around),
            });
        }
        if let Some(expect) = state.expect.take() {
            failures.extend(expect.finish(&state.context, final_status, final_connection_status));
        }
        let violations = match state.invariants.take() {
            Some(checker) => {
                checker.finish(&mut state.context, final_status, final_connection_status, run_ms)
            }
            None => Vec::new(),
        };
        Finished {
            events: state.kept.take().unwrap_or_default(),
            failures,
            violations,
        }
    }
}

/// The app side of a run: what carries out the app actions and answers
/// the final statuses. [`TerminalApp`] is the one over the real
/// [`Terminal`]; a test can put another behind the runner.
pub trait App: Sized + 'static {
    /// Whether this app can carry out `action`; if not, what is missing.
    /// Checked for every step before anything runs.
    fn supports(action: &AppAction) -> Result<(), String>;

    /// Starts the app on the current actix system; every event it reports
    /// goes to `sink`.
    fn start(parts: AppParts, sink: EventSink) -> Self;

    /// Carries out `action` (a `connect`'s location is a backend id by
    /// now); answers when it is done. It may record events of its own.
    fn perform(&self, action: AppAction, sink: EventSink) -> LocalBoxFuture<'static, Result<(), AppError>>;

    /// A reader's status now.
    fn reader_status(&self, serial: &SerialNumber) -> ConnectionStatus;

    /// The overall status now.
    fn connection_status(&self) -> ConnectionStatus;
}

/// What an [`App`] is built from.
pub struct AppParts {
    /// The transport onto the simulated world.
    pub transport: SimTransport,
    /// The in-process backend.
    pub backend: LocalBackend,
    /// The store, with the saved reader if the scenario has one.
    pub store: Arc<MemoryStore>,
    /// Where the actors' records go.
    pub tracer: Tracer,
    /// The scenario's seed.
    pub seed: u64,
    /// The fleet, to name readers that were never discovered.
    pub fleet: Fleet,
}

/// The [`App`] over the public [`Terminal`].
pub struct TerminalApp {
    terminal: Rc<Terminal>,
    discovery: Rc<RefCell<Option<Cancelable>>>,
    fleet: Rc<Fleet>,
    /// The transactions running (R20), by reader.
    transactions: Rc<RefCell<HashMap<SerialNumber, Transaction>>>,
    /// The cancelables of the installs running (R16), by reader.
    installs: Installs,
}

type Installs = Rc<RefCell<HashMap<SerialNumber, Cancelable>>>;

impl App for TerminalApp {
    fn supports(action: &AppAction) -> Result<(), String> {
        match action {
            AppAction::Discover { .. }
            | AppAction::CancelDiscovery
            | AppAction::Connect { .. }
            | AppAction::Disconnect { .. }
            | AppAction::Reboot { .. }
            | AppAction::CancelReconnect { .. }
            | AppAction::ReconnectAtStart { .. }
            | AppAction::StartTransaction { .. }
            | AppAction::EndTransaction { .. }
            | AppAction::InstallUpdate { .. }
            | AppAction::CancelUpdate { .. } => Ok(()),
        }
    }

    fn start(parts: AppParts, sink: EventSink) -> Self {
        // The app pins the backend's update signing key (R19), as an app
        // configured with its backend's key would.
        let trusted = parts.backend.update_public_key().into_iter().collect();
        let terminal = Terminal::builder(Arc::new(parts.transport), Arc::new(parts.backend), parts.store)
            .tracer(parts.tracer)
            .seed(parts.seed)
            .trusted_update_keys(trusted)
            .start();
        // Lossless: a checker that misses events checks what is left (an
        // `absent` expectation would hold because its event was dropped).
        let mut events = terminal.events_lossless();
        let to_sink = sink.clone();
        let installs: Installs = Rc::default();
        let running = installs.clone();
        actix::spawn(async move {
            while let Some(event) = events.next().await {
                to_sink.push(RecordedEvent::terminal(to_sink.now_ms(), &event));
                // What `cancel_update` uses: the cancelable of the install
                // under way, as the app keeps it.
                match event {
                    TerminalEvent::UpdateInstallStarted {
                        serial_number,
                        cancelable: Some(cancelable),
                        ..
                    } => {
                        running.borrow_mut().insert(serial_number, cancelable);
                    }
                    TerminalEvent::UpdateInstallFinished { serial_number, .. } => {
                        running.borrow_mut().remove(&serial_number);
                    }
                    _ => {}
                }
            }
        });
        Self {
            terminal: Rc::new(terminal),
            discovery: Rc::default(),
            fleet: Rc::new(parts.fleet),
            transactions: Rc::default(),
            installs,
        }
    }

    fn perform(&self, action: AppAction, sink: EventSink) -> LocalBoxFuture<'static, Result<(), AppError>> {
        let terminal = self.terminal.clone();
        let discovery = self.discovery.clone();
        let fleet = self.fleet.clone();
        let transactions = self.transactions.clone();
        let installs = self.installs.clone();
        Box::pin(async move {
            let failed = |e: crate::terminal::TerminalError| AppError {
                code: e.code().to_owned(),
                message: e.to_string(),
            };
            match action {
                AppAction::Discover { method, timeout } => {
                    let config = match method {
                        DiscoveryMethod::BluetoothScan => DiscoveryConfig::scan(),
                        DiscoveryMethod::BluetoothProximity => DiscoveryConfig::proximity(),
                    };
                    let config = match timeout {
                        Some(t) => config.with_timeout(t),
                        None => config,
                    };
                    let mut running = terminal.discover_readers(config).await;
                    *discovery.borrow_mut() = Some(running.cancelable);
                    actix::spawn(async move {
                        while let Some(update) = running.updates.next().await {
                            if let DiscoveryUpdate::Finished(result) = update {
                                let mut fields = Map::new();
                                fields.insert("ok".into(), Value::Bool(result.is_ok()));
                                if let Err(e) = result {
                                    fields.insert("error".into(), Value::from(e.code()));
                                }
                                sink.emit("DiscoveryFinished", fields);
                            }
                        }
                    });
                    Ok(())
                }
                AppAction::CancelDiscovery => {
                    let cancelable = discovery.borrow_mut().take();
                    match cancelable {
                        Some(c) if c.cancel().await == CancelOutcome::Cancelled => Ok(()),
                        _ => Err(AppError {
                            code: "no_discovery_running".into(),
                            message: "no discovery is running".into(),
                        }),
                    }
                }
                AppAction::Connect {
                    serial,
                    location,
                    auto_reconnect,
                } => {
                    let reader = terminal
                        .discovered_readers()
                        .into_iter()
                        .find(|r| r.serial_number == serial)
                        .unwrap_or_else(|| undiscovered(&fleet, &serial));
                    let config = ConnectionConfig {
                        location_id: location,
                        auto_reconnect_on_unexpected_disconnect: auto_reconnect,
                    };
                    terminal
                        .connect_reader(&reader, config)
                        .await
                        .map(|_| ())
                        .map_err(failed)
                }
                AppAction::Disconnect { serial } => terminal.disconnect_reader(&serial).await.map_err(failed),
                AppAction::Reboot { serial } => terminal.reboot_reader(&serial).await.map_err(failed),
                AppAction::CancelReconnect { serial } => match terminal.cancel_reconnect(&serial).await {
                    CancelOutcome::Cancelled => Ok(()),
                    CancelOutcome::AlreadyEnded => Err(AppError {
                        code: "no_reconnect_running".into(),
                        message: format!("no reconnection of {serial} is running"),
                    }),
                },
                AppAction::ReconnectAtStart { timeout } => terminal
                    .reconnect_saved_reader(timeout)
                    .await
                    .map(|_| ())
                    .map_err(failed),
                AppAction::StartTransaction { serial } => {
                    let transaction = terminal.start_transaction(&serial).await.map_err(failed)?;
                    transactions.borrow_mut().insert(serial, transaction);
                    Ok(())
                }
                AppAction::EndTransaction { serial } => {
                    let running = transactions.borrow_mut().remove(&serial);
                    match running {
                        Some(transaction) => transaction.end().await.map_err(failed),
                        None => Err(AppError {
                            code: "no_transaction_running".into(),
                            message: format!("no transaction of {serial} is running"),
                        }),
                    }
                }
                AppAction::InstallUpdate { serial } => {
                    terminal.install_available_update(&serial).await.map_err(failed)
                }
                AppAction::CancelUpdate { serial } => {
                    let running = installs.borrow_mut().remove(&serial);
                    let outcome = match running {
                        Some(cancelable) => cancelable.cancel().await,
                        None => CancelOutcome::AlreadyEnded,
                    };
                    match outcome {
                        CancelOutcome::Cancelled => Ok(()),
                        CancelOutcome::AlreadyEnded => Err(AppError {
                            code: "no_install_running".into(),
                            message: format!("no cancelable install of {serial} is running"),
                        }),
                    }
                }
            }
        })
    }

    fn reader_status(&self, serial: &SerialNumber) -> ConnectionStatus {
        self.terminal.reader_status(serial)
    }

    fn connection_status(&self) -> ConnectionStatus {
        self.terminal.connection_status()
    }
}

/// A reader the app never discovered, as the app would name it: the
/// terminal answers `unknown_reader`.
fn undiscovered(fleet: &Fleet, serial: &SerialNumber) -> Reader {
    let device_type = fleet
        .readers
        .iter()
        .find(|r| &r.serial == serial)
        .map(|r| r.device_type)
        .unwrap_or(crate::reader::DeviceType::StripeM2);
    Reader {
        serial_number: serial.clone(),
        device_type,
        software_version: None,
        battery: None,
        rssi: None,
        peripheral: serial.as_str().to_owned(),
        available_update: None,
    }
}

/// Checks that `A` can carry out every app action of the scenario.
pub fn check_supported<A: App>(scenario: &Scenario) -> Result<(), ScenarioError> {
    for step in &scenario.steps {
        if let Action::App(action) = &step.action {
            A::supports(action).map_err(|what| ScenarioError::Unsupported {
                line: step.line,
                field: format!("steps[{}].action", step.index),
                what,
            })?;
        }
    }
    Ok(())
}

/// Where [`run_blocking`] writes the run's trace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TraceTo {
    /// Nowhere.
    #[default]
    Off,
    /// To a new JSON Lines file, header first.
    File(PathBuf),
}

/// A trace file that stops taking records when the run is over, so the
/// records actors write while the process tears the system down (off the
/// virtual clock) never reach it and two runs give the same bytes.
#[derive(Clone)]
struct TraceFile(Arc<Mutex<Option<BufWriter<File>>>>);

impl TraceFile {
    fn close(&self) -> std::io::Result<()> {
        let taken = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        match taken {
            Some(mut file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl Write for TraceFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut *self.0.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(file) => file.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut *self.0.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

/// Runs a scenario through the [`Terminal`] on its own actix system (on a
/// paused clock unless the scenario says `clock = "real"`), writing its
/// trace as `trace` says, keeping every event ([`EventsTo::Keep`]). Call
/// it outside any runtime.
pub fn run_blocking(scenario: &Scenario, trace: &TraceTo) -> Result<Outcome, ScenarioError> {
    run_blocking_with(scenario, trace, EventsTo::Keep)
}

/// [`run_blocking`], with the events kept or streamed as `events` says.
pub fn run_blocking_with(
    scenario: &Scenario,
    trace: &TraceTo,
    events: EventsTo,
) -> Result<Outcome, ScenarioError> {
    check_supported::<TerminalApp>(scenario)?;
    let io_error = |path: &Path, e: std::io::Error| ScenarioError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let (tracer, file) = match trace {
        TraceTo::Off => (Tracer::off(), None),
        TraceTo::File(path) => {
            let created = File::create(path).map_err(|e| io_error(path, e))?;
            let file = TraceFile(Arc::new(Mutex::new(Some(BufWriter::new(created)))));
            // Scenarios run the terminal with the default policies: say so, for replay.
            let header = TraceHeader::new(scenario.seed, serde_json::json!({ "scenario": scenario.name }))
                .with_replay(crate::machines::simulated_replay_parameters(&scenario.fleet.link));
            let tracer = Tracer::writer(header, Box::new(file.clone())).map_err(|e| io_error(path, e))?;
            (tracer, Some((path, file)))
        }
    };
    let system = match scenario.clock {
        ClockMode::Virtual => crate::runtime::virtual_time_system(),
        ClockMode::Real => actix::System::new(),
    };
    let outcome = system.block_on(async {
        let outcome = run_with::<TerminalApp>(scenario, tracer.clone(), events).await;
        let flushed = tracer.flush();
        let closed = file.as_ref().map_or(Ok(()), |(_, f)| f.close());
        (outcome, flushed.and(closed))
    });
    drop(system);
    let (outcome, written) = outcome;
    if let (Err(e), Some((path, _))) = (written, &file) {
        return Err(io_error(path, e));
    }
    outcome
}

/// Runs a scenario with app `A` inside the current actix system, on its
/// clock, keeping every event ([`EventsTo::Keep`]).
pub async fn run<A: App>(scenario: &Scenario, tracer: Tracer) -> Result<Outcome, ScenarioError> {
    run_with::<A>(scenario, tracer, EventsTo::Keep).await
}

/// [`run`], with the events kept or streamed as `events` says.
pub async fn run_with<A: App>(
    scenario: &Scenario,
    tracer: Tracer,
    events: EventsTo,
) -> Result<Outcome, ScenarioError> {
    check_supported::<A>(scenario)?;
    let world = SimWorld::new(scenario.fleet.clone());
    let mut core = BackendCore::in_memory(scenario.seed);
    let mut location_ids = BTreeMap::new();
    for location in &scenario.locations {
        let created = core
            .create_location(CreateLocation {
                display_name: location.display_name.clone(),
                address: Address {
                    line1: "1 Scenario Street".into(),
                    country: "US".into(),
                    ..Address::default()
                },
            })
            .map_err(|e| ScenarioError::InvalidValue {
                line: 0,
                field: "locations".into(),
                message: format!("the backend refused location `{}`: {e}", location.name),
            })?;
        location_ids.insert(location.name.clone(), created.id);
    }
    // The catalog's times are the run's: its clock starts now too.
    let backend = LocalBackend::shared(Arc::new(Mutex::new(core)), FaultInjector::new(scenario.seed))
        .with_epoch(tokio::time::Instant::now());
    backend.offer_fleet_updates(&scenario.fleet);
    let store = Arc::new(MemoryStore::new());
    if let Some(saved) = &scenario.saved_reader {
        let location = location_ids
            .get(&saved.location)
            .cloned()
            .unwrap_or_else(|| saved.location.clone());
        let _ = store.set_last_connected(&saved.serial, &location);
    }
    let sink = EventSink::new(scenario, events);
    // A step's `after` counts the events from when the step before it ran
    // (for the first, from the start): watch for it from then.
    let arm = |index: usize| {
        if let Some(Trigger::After { event, .. }) = scenario.steps.get(index).map(|s| &s.trigger) {
            sink.arm(event);
        }
    };
    arm(0);
    let app = Rc::new(A::start(
        AppParts {
            transport: world.transport(),
            backend: backend.clone(),
            store,
            tracer,
            seed: scenario.seed,
            fleet: scenario.fleet.clone(),
        },
        sink.clone(),
    ));

    let start = sink.start;
    let end = start + scenario.run_for;
    let mut failures = Vec::new();
    // When the previous step's trigger held: an `at` step due before it
    // cannot run on time. (Comparing with the clock instead would fail the
    // first step at "0s" on real time, where the clock has always moved on.)
    let mut previous_ran: Option<Instant> = None;
    for (step_number, step) in scenario.steps.iter().enumerate() {
        match &step.trigger {
            Trigger::At(at) => {
                let due = start + *at;
                if let Some(ran) = previous_ran.filter(|ran| *ran > due) {
                    failures.push(Failure {
                        line: step.line,
                        field: format!("steps[{}].at", step.index),
                        expectation: format!("step {} runs at {}", step.index, fmt_ms(ms(*at))),
                        why: format!(
                            "the step before it ran later, at {}; it ran then",
                            fmt_ms(ms(ran.duration_since(start)))
                        ),
                        around: Vec::new(),
                    });
                }
                tokio::time::sleep_until(due).await;
                previous_ran = Some(due.max(previous_ran.unwrap_or(due)));
            }
            Trigger::After { event, delay } => match sink.wait(end).await {
                Ok(()) => {
                    let due = (Instant::now() + *delay).min(end);
                    tokio::time::sleep_until(due).await;
                    previous_ran = Some(due);
                }
                Err(around) => {
                    failures.push(Failure {
                        line: step.line,
                        field: format!("steps[{}].after", step.index),
                        expectation: format!("step {} runs after {}", step.index, describe(event)),
                        why: format!(
                            "no such event came by the end of the run ({}); this step and the rest did not run",
                            fmt_ms(ms(scenario.run_for))
                        ),
                        around,
                    });
                    break;
                }
            },
        }
        let mut fields = Map::new();
        fields.insert("step".into(), Value::from(step.index));
        fields.insert("action".into(), Value::from(step.action.name()));
        if let Some(serial) = step.action.serial() {
            fields.insert("serial_number".into(), Value::from(serial.as_str()));
        }
        sink.emit("StepRan", fields.clone());
        arm(step_number + 1);
        let step_fields = fields.clone();
        let failed = move |error: String, message: String| {
            let mut fields = step_fields.clone();
            fields.insert("error".into(), Value::from(error));
            fields.insert("message".into(), Value::from(message));
            fields
        };
        match &step.action {
            Action::App(action) => {
                let mut action = action.clone();
                if let AppAction::Connect { location, .. } = &mut action
                    && let Some(id) = location_ids.get(location)
                {
                    *location = id.clone();
                }
                let work = app.perform(action, sink.clone());
                let sink = sink.clone();
                let failed = failed.clone();
                actix::spawn(async move {
                    if let Err(e) = work.await {
                        sink.emit("ActionFailed", failed(e.code, e.message));
                    }
                });
            }
            Action::World(action) => {
                crate::runtime::probe::fault_struck(action.serial().map(SerialNumber::as_str), action.name());
                if let Err(e) = world_action(&world, action) {
                    sink.emit("ActionFailed", failed("unknown_reader".into(), e.to_string()));
                }
            }
            Action::Backend(action) => {
                crate::runtime::probe::fault_struck(None, action.name());
                backend_action(&backend, action)
            }
        }
    }
    tokio::time::sleep_until(end).await;

    let final_status: BTreeMap<SerialNumber, ConnectionStatus> = scenario
        .fleet
        .readers
        .iter()
        .map(|r| (r.serial.clone(), app.reader_status(&r.serial)))
        .collect();
    let final_connection_status = app.connection_status();
    let finished = sink.finish(&final_status, final_connection_status, ms(scenario.run_for));
    failures.extend(finished.failures);
    // One failure per broken invariant: its first violation.
    for (v, near) in &finished.violations {
        let Some(near) = near else { continue };
        let more = finished
            .violations
            .iter()
            .filter(|(w, _)| w.invariant == v.invariant)
            .count()
            - 1;
        failures.push(Failure {
            line: 0,
            field: format!("invariants.{}", v.invariant.name()),
            expectation: format!("the invariant {} holds", v.invariant.name()),
            why: if more == 0 {
                v.to_string()
            } else {
                format!("{v} (and {more} more)")
            },
            around: near.clone(),
        });
    }
    let events = finished.events;
    let violations = finished.violations.into_iter().map(|(v, _)| v).collect();
    Ok(Outcome {
        scenario: scenario.name.clone(),
        events,
        failures,
        expectations: scenario.expect.len()
            + scenario
                .invariants
                .as_ref()
                .map_or(0, |_| invariants::CHECKED_BY_A_RUN.len()),
        final_status,
        final_connection_status,
        violations,
    })
}

fn ms(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn world_action(world: &SimWorld, action: &WorldAction) -> Result<(), crate::transport::sim::SimError> {
    match action {
        WorldAction::MoveReader { serial, distance_m } => world.move_reader(serial, *distance_m),
        WorldAction::PowerOff { serial } => world.power_off(serial),
        WorldAction::CutPower { serial } => world.cut_power(serial),
        WorldAction::PowerOn { serial } => world.power_on(serial),
        WorldAction::LoseLink { serial, duration } => world.lose_link(serial, *duration),
        WorldAction::RestoreLink { serial } => world.restore_link(serial),
        WorldAction::SetBattery { serial, level } => world.set_battery(serial, *level),
        WorldAction::SetCharging { serial, charging } => world.set_charging(serial, *charging),
        WorldAction::InsertCard { serial } => world.insert_card(serial),
        WorldAction::RemoveCard { serial } => world.remove_card(serial),
        WorldAction::FailNextInstall { serial, percent } => world.fail_next_install_at(serial, *percent),
        WorldAction::CorruptFrame { serial, payload } => world.inject_notification(serial, payload.clone()),
        WorldAction::SetAdapter { powered } => {
            world.set_adapter_powered(*powered);
            Ok(())
        }
    }
}

fn backend_action(backend: &LocalBackend, action: &BackendAction) {
    let faults = backend.faults();
    match action {
        BackendAction::Down { duration: Some(d) } => faults.down_for(*d),
        BackendAction::Down { duration: None } => faults.take_down(),
        BackendAction::Restore => faults.restore(),
        BackendAction::Latency { route, latency } => {
            for r in route.map_or_else(|| Route::ALL.to_vec(), |r| vec![r]) {
                faults.set_latency(r, *latency);
            }
        }
        BackendAction::Fail { route, count } => faults.fail_next(*route, *count),
        BackendAction::SetUpdate { serial, preset } => backend.set_update_preset(serial.clone(), *preset),
    }
}
