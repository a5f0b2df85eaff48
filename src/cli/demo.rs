//! `readerlink demo`: the main job. On real time it starts the local
//! backend server on 127.0.0.1 and a simulated fleet, discovers, connects
//! two readers to a location over loopback HTTP — the first one installs a
//! required software update inside its connect, with a progress bar —
//! shows status changes and reader reports as they come, loses one link
//! unexpectedly, disconnects a reader, prints a summary and the path of the
//! run's trace.
//!
//! On any fleet (`--fleet`) it adapts or stops with a message naming what
//! is missing, never reporting success for what did not happen: fewer
//! than two readers heard within 3 s stops it; the required update goes to
//! the reader that can take it (battery above 50 %, the image within
//! 20 s over its link), or to none, saying why; a reader's report gets
//! 5 s, a connect or reconnection 75 s.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use futures::stream::BoxStream;
use futures::{FutureExt as _, StreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};

use super::CliError;
use crate::backend::{
    Backend, BackendServer, CreateLocation, HttpBackend, HttpBackendConfig, RunningServer, ServerConfig,
};
use crate::firmware::TrustedKeys;
use crate::reader::{ConnectionStatus, DisconnectReason, Reader, SerialNumber};
use crate::runtime::fmt_ms;
use crate::runtime::{Trace, TraceHeader, Tracer};
use crate::scanner::{DiscoveryConfig, DiscoveryUpdate};
use crate::secret::Secret;
use crate::store::MemoryStore;
use crate::terminal::{ConnectionConfig, Terminal, TerminalEvent};
use crate::transport::sim::{Fleet, LinkModel, SimWorld};
use crate::updater::{SIMULATED_REQUIRED_SIZE, SimulatedUpdatePreset};

/// Arguments of `readerlink demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The simulated fleet (TOML; see `readerlink::transport::sim::fleet`).
    /// Default: the shipped example fleet.
    #[arg(long, value_name = "FILE")]
    pub fleet: Option<PathBuf>,
    /// Where to write the run's trace. Default: a file in the system's
    /// temporary directory, whose path is printed.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// The seed of every random choice of the run (recorded in the trace).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// The longest the demo waits for a connect or a reconnection: the
/// reconnect window (60 s, R9) and a margin.
const STEP_LIMIT: Duration = Duration::from_secs(75);
/// The longest the demo waits for a reader's report (battery, card): the
/// simulated readers report at once, so a missing one is a fault to name,
/// not a reason to wait.
const REPORT_LIMIT: Duration = Duration::from_secs(5);
/// The longest the demo's required update may take over its reader's
/// link, by [`transfer_estimate`]: an M2 or a WisePad 3 takes 4–6 s on the
/// default link, a Chipper 2X (20-byte ATT payloads) about 52 s — then the
/// demo installs no update rather than keep the person watching waiting.
const UPDATE_BUDGET: Duration = Duration::from_secs(20);
/// An install's progress bar counts to this.
const PROGRESS_STEPS: u64 = 1000;
/// How long the unexpected link loss lasts.
const LINK_LOSS: Duration = Duration::from_secs(3);

/// Runs the demo.
pub fn run(args: DemoArgs) -> Result<(), CliError> {
    let fleet = match &args.fleet {
        Some(path) => Fleet::load(path).map_err(|e| CliError::Other(format!("{}: {e}", path.display())))?,
        None => Fleet::example(),
    };
    if fleet.readers.len() < 2 {
        return Err(CliError::Other(format!(
            "the demo connects two readers, but the fleet has {}",
            fleet.readers.len()
        )));
    }
    let trace_path = args.trace.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("readerlink-demo-{}.trace.jsonl", std::process::id()))
    });
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
    let secret_key = Secret::new(format!("sk_demo_{:016x}", rng.random::<u64>()));
    let server = BackendServer::start(ServerConfig::ephemeral(secret_key.clone()))
        .map_err(|e| CliError::Other(format!("starting the local backend: {e}")))?;
    let url = server.url();
    let header = TraceHeader::new(
        args.seed,
        serde_json::json!({ "command": "demo", "backend": url, "fleet": fleet.readers.iter().map(|r| r.serial.as_str()).collect::<Vec<_>>() }),
    )
    // The demo's terminal runs with the default policies: say so, for replay.
    .with_replay(crate::machines::simulated_replay_parameters(&fleet.link));
    let tracer = Tracer::file(header, &trace_path).map_err(|source| CliError::Io {
        path: trace_path.display().to_string(),
        source,
    })?;

    let started = Instant::now();
    let result = actix_rt::System::new().block_on(async {
        let session = demo(&server, fleet, secret_key, tracer.clone(), args.seed, started).await;
        server.stop().await;
        session
    });
    tracer.flush().map_err(|source| CliError::Io {
        path: trace_path.display().to_string(),
        source,
    })?;
    let summary = result?;

    let trace = Trace::read_file(&trace_path).map_err(|source| CliError::BadTrace {
        path: trace_path.display().to_string(),
        source,
    })?;
    println!();
    println!("Summary ({:.1} s of real time)", started.elapsed().as_secs_f64());
    for (serial, (status, line)) in &summary.readers {
        println!("  {serial:<12} {:<13} {line}", format!("{status:?}"));
    }
    println!(
        "  events:     {}",
        summary
            .counts
            .iter()
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  trace:      {} ({} records from {} actors; check it with `readerlink trace check {}`)",
        trace_path.display(),
        trace.records.len(),
        trace.actors().len(),
        trace_path.display()
    );
    Ok(())
}

/// What the demo saw, for its summary.
struct Summary {
    /// Each reader the demo used: its final status and what happened to it.
    readers: BTreeMap<SerialNumber, (ConnectionStatus, String)>,
    /// How many events of each kind the terminal reported.
    counts: BTreeMap<String, usize>,
}

/// Prints lines above the spinner (and an install's progress bar), or
/// plainly when there is no terminal to draw them on (CI, a pipe).
struct Screen {
    bars: MultiProgress,
    spinner: ProgressBar,
    started: Instant,
}

impl Screen {
    fn new(started: Instant) -> Self {
        let bars = MultiProgress::new();
        let spinner = bars.add(ProgressBar::new_spinner());
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        spinner.enable_steady_tick(Duration::from_millis(100));
        Self {
            bars,
            spinner,
            started,
        }
    }

    /// A progress bar for an install, under the spinner.
    fn install_bar(&self, message: String) -> ProgressBar {
        let bar = self.bars.add(ProgressBar::new(PROGRESS_STEPS));
        bar.set_style(
            ProgressStyle::with_template("  {msg} [{bar:40}] {percent:>3}%")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message);
        bar
    }

    fn line(&self, text: impl AsRef<str>) {
        let line = format!(
            "[{:>6.2}s] {}",
            self.started.elapsed().as_secs_f64(),
            text.as_ref()
        );
        if self.spinner.is_hidden() {
            println!("{line}");
        } else {
            let _ = self.bars.println(line);
        }
    }

    fn step(&self, text: impl Into<String>) {
        let text = text.into();
        self.line(format!("== {text}"));
        self.spinner.set_message(text);
    }
}

async fn demo(
    server: &RunningServer,
    fleet: Fleet,
    secret_key: Secret,
    tracer: Tracer,
    seed: u64,
    started: Instant,
) -> Result<Summary, CliError> {
    let url = &server.url();
    let screen = Arc::new(Screen::new(started));
    screen.line(format!(
        "readerlink demo: {} simulated readers, local backend at {url}, seed {seed}",
        fleet.readers.len()
    ));
    let backend = HttpBackend::new(HttpBackendConfig::new(url, secret_key))
        .map_err(|e| CliError::Other(format!("backend client: {e}")))?;
    let location = backend
        .create_location(CreateLocation::new("Demo shop", "1 Demo Street", "US"))
        .await
        .map_err(|e| CliError::Other(format!("creating the demo location: {e} [{}]", e.code())))?;
    screen.line(format!(
        "location {} \"{}\" created over HTTP",
        location.id, location.display_name
    ));

    // The app pins the key its backend signs update manifests with (R19):
    // read from the server it started, never fetched by the terminal.
    let update_key = lock_core(server)
        .update_public_key()
        .map_err(|e| CliError::Other(format!("the backend's update signing key: {e}")))?;
    screen.line(format!(
        "update manifests are signed by key {}; the terminal trusts it",
        update_key.key_id()
    ));
    let att_payloads: BTreeMap<SerialNumber, usize> = fleet
        .readers
        .iter()
        .map(|r| (r.serial.clone(), r.att_payload))
        .collect();
    let world = SimWorld::new(fleet);
    let terminal = Terminal::builder(
        Arc::new(world.transport()),
        Arc::new(backend),
        Arc::new(MemoryStore::new()),
    )
    .tracer(tracer)
    .seed(seed)
    .trusted_update_keys(TrustedKeys::from_iter([update_key]))
    .start();
    // Lossless: the demo waits for particular events, and one dropped
    // from a bounded stream would leave it waiting for nothing.
    let mut events = Events::new(terminal.events_lossless(), screen.clone());

    screen.step("discovering readers (Bluetooth scan)");
    let found = discover_fleet(&terminal, world.serials().len(), |readers| {
        screen.line(format!(
            "found {}: {}",
            readers.len(),
            readers.iter().map(describe_reader).collect::<Vec<_>>().join(", ")
        ));
        events.drain();
    })
    .await?;
    let (first, second) = (found[0].clone(), found[1].clone());
    // One reader's software is out of date: the catalog owes it a required
    // update, installed inside its connect (R13) — on the reader that can
    // take it soonest, and on none when neither can within the budget (a
    // Chipper's 20-byte link would keep the demo installing for a minute
    // and a half; a battery at or below 50 % cannot install at all, R14).
    let updated = match update_reader(&world, &att_payloads, [&first, &second]) {
        Ok((serial, estimate)) => {
            lock_core(server).set_update_preset(serial.clone(), SimulatedUpdatePreset::Required);
            screen.step(format!(
                "connecting {} and {} to {} ({serial} has a required update to install first, about {:.0} s over its link)",
                first.serial_number,
                second.serial_number,
                location.id,
                estimate.as_secs_f64().ceil()
            ));
            Some(serial)
        }
        Err(why) => {
            screen.line(format!("no required update this run: {why}"));
            screen.step(format!(
                "connecting {} and {} to {}",
                first.serial_number, second.serial_number, location.id
            ));
            None
        }
    };
    let config = ConnectionConfig::new(&location.id);
    let mut pending = vec![first.serial_number.clone(), second.serial_number.clone()];
    let connects = futures::future::join(
        terminal.connect_reader(&first, config.clone()),
        terminal.connect_reader(&second, config.clone()),
    );
    tokio::pin!(connects);
    // The events as the connects run: the install's progress among them.
    let (a, b) = loop {
        tokio::select! {
            results = &mut connects => break results,
            Some(event) = events.stream.next() => {
                events.show(&event);
                if let TerminalEvent::Connected { reader, .. } = &event {
                    pending.retain(|s| *s != reader.serial_number);
                }
            }
        }
    };
    for (reader, result) in [(&first, a), (&second, b)] {
        result.map_err(|e| {
            CliError::Other(format!("connecting {}: {e} [{}]", reader.serial_number, e.code()))
        })?;
    }
    // Both calls have returned; the `Connected` events not seen yet follow.
    while !pending.is_empty() {
        let is_pending = |e: &TerminalEvent| matches!(e, TerminalEvent::Connected { reader, .. } if pending.contains(&reader.serial_number));
        let what = format!("`Connected` for {}", join(&pending));
        if let TerminalEvent::Connected { reader, .. } =
            events.wait_for(STEP_LIMIT, &what, is_pending).await?
        {
            pending.retain(|s| *s != reader.serial_number);
        }
    }
    screen.line(format!(
        "connection status: {:?}, {} readers connected",
        terminal.connection_status(),
        terminal.connected_readers().len()
    ));

    let sim_error = |e: crate::transport::sim::SimError| CliError::Other(format!("simulated world: {e}"));
    // A reader reports its battery when its charger changes: plug one in,
    // or unplug the one a reader already has (any fleet may be given).
    let charging = !world
        .reader_state(&first.serial_number)
        .map_err(sim_error)?
        .battery
        .charging;
    screen.step(format!(
        "reader reports: a charger {} {}, a card inserted into and removed from {}",
        if charging {
            "plugged into"
        } else {
            "unplugged from"
        },
        first.serial_number,
        second.serial_number
    ));
    world
        .set_charging(&first.serial_number, charging)
        .map_err(sim_error)?;
    events
        .wait_for(
            REPORT_LIMIT,
            &format!("a battery report from {}", first.serial_number),
            |e| matches!(e, TerminalEvent::BatteryLevelReported { serial_number, .. } if *serial_number == first.serial_number),
        )
        .await?;
    world.insert_card(&second.serial_number).map_err(sim_error)?;
    events
        .wait_for(
            REPORT_LIMIT,
            &format!("`CardInserted` from {}", second.serial_number),
            |e| matches!(e, TerminalEvent::CardInserted { serial_number } if *serial_number == second.serial_number),
        )
        .await?;
    world.remove_card(&second.serial_number).map_err(sim_error)?;
    events
        .wait_for(
            REPORT_LIMIT,
            &format!("`CardRemoved` from {}", second.serial_number),
            |e| matches!(e, TerminalEvent::CardRemoved { serial_number } if *serial_number == second.serial_number),
        )
        .await?;

    screen.step(format!(
        "{} loses its link for {} s (interference)",
        first.serial_number,
        LINK_LOSS.as_secs()
    ));
    world
        .lose_link(&first.serial_number, Some(LINK_LOSS))
        .map_err(sim_error)?;
    let serial = first.serial_number.clone();
    let back = events
        .wait_for(
            STEP_LIMIT,
            &format!("{serial} reconnected or disconnected after its link loss"),
            |e| match e {
                TerminalEvent::Connected { reader, .. } => reader.serial_number == serial,
                TerminalEvent::Disconnected { serial_number, .. } => *serial_number == serial,
                _ => false,
            },
        )
        .await?;
    let first_line = match back {
        TerminalEvent::Disconnected { reason, .. } => {
            format!("lost its link: disconnected ({reason:?})")
        }
        _ => "lost its link, reconnected by itself".to_owned(),
    };
    let software = terminal
        .connected_readers()
        .into_iter()
        .find(|r| Some(&r.serial_number) == updated.as_ref())
        .and_then(|r| r.software_version)
        .unwrap_or_else(|| "?".to_owned());

    screen.step(format!("disconnecting {} (app request)", second.serial_number));
    terminal
        .disconnect_reader(&second.serial_number)
        .await
        .map_err(|e| {
            CliError::Other(format!(
                "disconnecting {}: {e} [{}]",
                second.serial_number,
                e.code()
            ))
        })?;
    let serial = second.serial_number.clone();
    let gone = events
        .wait_for(
            REPORT_LIMIT,
            &format!("`Disconnected` for {serial}"),
            |e| matches!(e, TerminalEvent::Disconnected { serial_number, .. } if *serial_number == serial),
        )
        .await?;
    if !matches!(
        gone,
        TerminalEvent::Disconnected {
            reason: DisconnectReason::DisconnectRequested,
            ..
        }
    ) {
        return Err(CliError::Other(format!(
            "{} did not report its requested disconnect",
            second.serial_number
        )));
    }
    events.drain();
    screen.spinner.finish_and_clear();

    let mut readers = BTreeMap::new();
    readers.insert(
        first.serial_number.clone(),
        (terminal.reader_status(&first.serial_number), first_line),
    );
    readers.insert(
        second.serial_number.clone(),
        (
            terminal.reader_status(&second.serial_number),
            "reported a card, disconnected on request".to_owned(),
        ),
    );
    if let Some((_, line)) = updated.as_ref().and_then(|u| readers.get_mut(u)) {
        *line = format!("installed its required update ({software}) inside the connect, {line}");
    }
    Ok(Summary {
        readers,
        counts: events.counts,
    })
}

/// Which of `pair` installs the demo's required update, and about how
/// long its image takes over that reader's link: one whose battery is
/// above 50 % (R14) and whose link carries the image within
/// [`UPDATE_BUDGET`], the quickest (an M2 on the default link). When
/// neither can, says why for each.
fn update_reader(
    world: &SimWorld,
    att_payloads: &BTreeMap<SerialNumber, usize>,
    pair: [&Reader; 2],
) -> Result<(SerialNumber, Duration), String> {
    let mut best: Option<(SerialNumber, Duration)> = None;
    let mut why = Vec::new();
    for reader in pair {
        let serial = &reader.serial_number;
        let battery = world.reader_state(serial).map(|s| s.battery.level).unwrap_or(0.0);
        let att_payload = att_payloads.get(serial).copied().unwrap_or(0);
        let estimate = transfer_estimate(world.link_model(), att_payload);
        if battery <= 0.5 {
            why.push(format!(
                "{serial}'s battery is at {:.0} %, an install needs more than 50 %",
                battery * 100.0
            ));
        } else if estimate > UPDATE_BUDGET {
            why.push(format!(
                "{serial}'s link ({att_payload}-byte ATT payloads) would take about {:.0} s for the {} KiB image, more than the demo's {} s",
                estimate.as_secs_f64().ceil(),
                SIMULATED_REQUIRED_SIZE / 1024,
                UPDATE_BUDGET.as_secs()
            ));
        } else if best.as_ref().is_none_or(|(_, b)| estimate < *b) {
            best = Some((serial.clone(), estimate));
        }
    }
    best.ok_or_else(|| why.join("; "))
}

/// The least time the required preset's image takes over a link of this
/// model at `att_payload`: its size at the link's ceiling (a transfer
/// reaches about nine tenths of it at full payloads, less at small ones).
fn transfer_estimate(link: &LinkModel, att_payload: usize) -> Duration {
    let ceiling = link.ceiling_bytes_per_second(att_payload);
    if ceiling <= 0.0 {
        return Duration::MAX;
    }
    Duration::try_from_secs_f64(f64::from(SIMULATED_REQUIRED_SIZE) / ceiling).unwrap_or(Duration::MAX)
}

/// Discovers until all `expected` readers are listed (or 3 s pass) and
/// returns the list, loudest first; fails unless two readers were found.
/// `on_update` sees each list as it comes.
pub(crate) async fn discover_fleet(
    terminal: &Terminal,
    expected: usize,
    mut on_update: impl FnMut(&[Reader]),
) -> Result<Vec<Reader>, CliError> {
    let mut discovery = terminal
        .discover_readers(DiscoveryConfig::scan().with_timeout(Duration::from_secs(10)))
        .await;
    let mut found: Vec<Reader> = Vec::new();
    let settle = tokio::time::sleep(Duration::from_secs(3));
    tokio::pin!(settle);
    loop {
        tokio::select! {
            update = discovery.updates.next() => match update {
                Some(DiscoveryUpdate::ReadersUpdated(readers)) => {
                    on_update(&readers);
                    found = readers;
                    if found.len() >= expected {
                        break;
                    }
                }
                Some(DiscoveryUpdate::Finished(Err(e))) => {
                    return Err(CliError::Other(format!("discovery failed: {e} [{}]", e.code())));
                }
                Some(DiscoveryUpdate::Finished(Ok(()))) | None => break,
            },
            _ = &mut settle => break,
        }
    }
    if found.len() < 2 {
        return Err(CliError::Other(format!(
            "discovery found {} readers; two are needed",
            found.len()
        )));
    }
    Ok(found)
}

/// The terminal's event stream, printed as it comes and counted by kind.
struct Events {
    stream: BoxStream<'static, TerminalEvent>,
    screen: Arc<Screen>,
    counts: BTreeMap<String, usize>,
    /// The install under way: its bar, and the last quarter printed when
    /// there is no terminal to draw the bar on.
    install: Option<(ProgressBar, u8)>,
}

impl Events {
    fn new(stream: BoxStream<'static, TerminalEvent>, screen: Arc<Screen>) -> Self {
        Self {
            stream,
            screen,
            counts: BTreeMap::new(),
            install: None,
        }
    }

    fn show(&mut self, event: &TerminalEvent) {
        *self.counts.entry(event_kind(event)).or_default() += 1;
        match event {
            TerminalEvent::DiscoveredReadersUpdated { .. } => return,
            TerminalEvent::UpdateInstallStarted {
                serial_number,
                update,
                ..
            } => {
                let bar = self
                    .screen
                    .install_bar(format!("{serial_number} installing {}", update.version));
                self.install = Some((bar, 0));
            }
            TerminalEvent::UpdateInstallProgress { progress, .. } => {
                if let Some((bar, quarter)) = &mut self.install {
                    bar.set_position((progress.clamp(0.0, 1.0) * PROGRESS_STEPS as f32) as u64);
                    // Without a bar, a line at each quarter.
                    let now = (progress.clamp(0.0, 1.0) * 4.0) as u8;
                    if bar.is_hidden() && now > *quarter {
                        *quarter = now;
                        self.screen.line(format!("   {}", describe(event)));
                    }
                }
                return;
            }
            TerminalEvent::UpdateInstallFinished { .. } => {
                if let Some((bar, _)) = self.install.take() {
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
        self.screen.line(format!("   {}", describe(event)));
    }

    /// Prints the events that have already arrived.
    fn drain(&mut self) {
        while let Some(Some(event)) = self.stream.next().now_or_never() {
            self.show(&event);
        }
    }

    /// Prints events until one matches `wanted` (returned). When `limit`
    /// passes first, the demo fails naming `what` it waited for: going on
    /// would report success for a run that did not do what it shows.
    async fn wait_for(
        &mut self,
        limit: Duration,
        what: &str,
        wanted: impl Fn(&TerminalEvent) -> bool,
    ) -> Result<TerminalEvent, CliError> {
        let deadline = tokio::time::sleep(limit);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                event = self.stream.next() => {
                    let Some(event) = event else {
                        return Err(CliError::Other(format!(
                            "the demo stopped: the terminal's events ended while waiting for {what}"
                        )));
                    };
                    self.show(&event);
                    if wanted(&event) {
                        return Ok(event);
                    }
                }
                _ = &mut deadline => {
                    return Err(CliError::Other(format!(
                        "the demo stopped: no {what} within {} s",
                        limit.as_secs()
                    )));
                }
            }
        }
    }
}

fn lock_core(server: &RunningServer) -> std::sync::MutexGuard<'_, crate::backend::BackendCore> {
    server.core().lock().unwrap_or_else(|p| p.into_inner())
}

/// Serial numbers as `A and B`.
fn join(serials: &[SerialNumber]) -> String {
    serials
        .iter()
        .map(SerialNumber::as_str)
        .collect::<Vec<_>>()
        .join(" and ")
}

pub(crate) fn describe_reader(reader: &Reader) -> String {
    let battery = reader
        .battery
        .map(|b| format!(" {:.0}%", b.level * 100.0))
        .unwrap_or_default();
    let rssi = reader.rssi.map(|r| format!(" {r} dBm")).unwrap_or_default();
    format!("{} ({}{battery}{rssi})", reader.serial_number, reader.device_type)
}

/// The serde name of an event's variant (`Connected`), for counts.
pub(crate) fn event_kind(event: &TerminalEvent) -> String {
    match serde_json::to_value(event) {
        Ok(serde_json::Value::Object(map)) => map.keys().next().cloned().unwrap_or_default(),
        Ok(serde_json::Value::String(unit)) => unit,
        _ => "event".to_owned(),
    }
}

/// One line for people about an event.
pub(crate) fn describe(event: &TerminalEvent) -> String {
    match event {
        TerminalEvent::ConnectionStatusChanged { status } => format!("terminal status → {status:?}"),
        TerminalEvent::ReaderStatusChanged {
            serial_number,
            status,
        } => format!("{serial_number} status → {status:?}"),
        TerminalEvent::DiscoveredReadersUpdated { readers } => {
            format!("{} readers discovered", readers.len())
        }
        TerminalEvent::Connected { reader, location } => {
            format!(
                "{} connected to {location} (software {})",
                reader.serial_number,
                reader.software_version.as_deref().unwrap_or("?")
            )
        }
        TerminalEvent::Disconnected {
            serial_number,
            reason,
        } => format!("{serial_number} disconnected: {reason:?}"),
        TerminalEvent::BatteryLevelReported {
            serial_number,
            battery,
        } => format!(
            "{serial_number} battery {:.0}% {:?}{}",
            battery.level * 100.0,
            battery.status,
            if battery.charging { ", charging" } else { "" }
        ),
        TerminalEvent::LowBatteryWarning {
            serial_number,
            battery,
        } => {
            format!("{serial_number} LOW BATTERY {:.0}%", battery.level * 100.0)
        }
        TerminalEvent::CardInserted { serial_number } => format!("{serial_number} card inserted"),
        TerminalEvent::CardRemoved { serial_number } => format!("{serial_number} card removed"),
        TerminalEvent::ReconnectStarted {
            serial_number,
            reason,
            ..
        } => {
            format!("{serial_number} lost ({reason:?}): reconnecting")
        }
        TerminalEvent::ReconnectSucceeded { serial_number } => format!("{serial_number} reconnected"),
        TerminalEvent::ReconnectFailed { serial_number, error } => {
            format!("{serial_number} reconnection failed: {error} [{}]", error.code())
        }
        TerminalEvent::RebootScheduled { serial_number, at } => {
            format!(
                "{serial_number} will be rebooted by the runtime at {} (R12)",
                fmt_ms(*at)
            )
        }
        TerminalEvent::UpdateAvailable {
            serial_number,
            update,
        } => format!(
            "{serial_number} has an optional update to {} ({:?}), required from {} (R17)",
            update.version,
            update.duration_estimate,
            fmt_ms(update.required_at)
        ),
        TerminalEvent::UpdateInstallStarted {
            serial_number,
            update,
            cancelable,
        } => format!(
            "{serial_number} installing {} ({:?}, {}cancelable)",
            update.version,
            update.components,
            if cancelable.is_some() { "" } else { "not " }
        ),
        TerminalEvent::UpdateInstallProgress {
            serial_number,
            progress,
        } => format!("{serial_number} install {:.0}%", progress * 100.0),
        TerminalEvent::UpdateInstallFinished {
            serial_number,
            update,
            error,
        } => match (update, error) {
            (Some(update), None) => format!("{serial_number} installed {}", update.version),
            (_, Some(error)) => format!("{serial_number} install failed: {error} [{}]", error.code()),
            (None, None) => format!("{serial_number} had no update to install"),
        },
        other => format!("{other:?}"),
    }
}
