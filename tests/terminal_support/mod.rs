//! A terminal over simulated readers and the in-process backend, for the
//! end-to-end tests on a paused clock, and a readable event log.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use readerlink::backend::{BackendCore, CreateLocation, LocalBackend, Location};
use readerlink::reader::{Reader, SerialNumber};
use readerlink::runtime::{Clock, Tracer, fmt_ms};
use readerlink::scanner::{DiscoveryConfig, DiscoveryUpdate};
use readerlink::store::MemoryStore;
use readerlink::terminal::{Terminal, TerminalBuilder, TerminalEvent};
use readerlink::transport::sim::{Fleet, SimWorld};

/// Everything a scenario touches.
pub struct Rig {
    pub world: SimWorld,
    pub backend: LocalBackend,
    pub store: Arc<MemoryStore>,
    pub terminal: Terminal,
    pub shop: Location,
    pub events: Arc<Mutex<Vec<(u64, TerminalEvent)>>>,
    /// Discoveries the tests started, kept running as an app showing the
    /// list would (dropping a discovery's stream ends it).
    pub discoveries: Mutex<Vec<readerlink::scanner::Discovery>>,
}

/// The example fleet, a backend with one location, an empty store, and a
/// task logging every terminal event with its virtual time. Call inside an
/// actix system.
pub fn rig(tracer: Tracer) -> Rig {
    rig_with(tracer, |builder| builder)
}

/// [`rig`], with the terminal's builder set up by `configure` (a
/// reconnect policy, a restart intensity).
pub fn rig_with(tracer: Tracer, configure: impl FnOnce(TerminalBuilder) -> TerminalBuilder) -> Rig {
    rig_of(Fleet::example(), tracer, configure)
}

/// [`rig_with`] on `fleet`: its readers' update presets answer from the
/// backend's catalog, and the terminal pins the backend's signing key.
pub fn rig_of(
    fleet: Fleet,
    tracer: Tracer,
    configure: impl FnOnce(TerminalBuilder) -> TerminalBuilder,
) -> Rig {
    let backend = LocalBackend::new(BackendCore::in_memory(7)).with_epoch(tokio::time::Instant::now());
    backend.offer_fleet_updates(&fleet);
    let world = SimWorld::new(fleet);
    let shop = backend
        .core()
        .lock()
        .unwrap()
        .create_location(CreateLocation::new("Shop", "1 Main St", "US"))
        .unwrap();
    let store = Arc::new(MemoryStore::new());
    let terminal = configure(
        Terminal::builder(
            Arc::new(world.transport()),
            Arc::new(backend.clone()),
            store.clone(),
        )
        .tracer(tracer)
        .seed(42)
        .trusted_update_keys([backend.update_public_key().unwrap()].into_iter().collect()),
    )
    .start();
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    let clock = Clock::start();
    let mut stream = terminal.events_lossless();
    actix::spawn(async move {
        while let Some(event) = stream.next().await {
            log.lock().unwrap().push((clock.now_ms(), event));
        }
    });
    Rig {
        world,
        backend,
        store,
        terminal,
        shop,
        events,
        discoveries: Mutex::new(Vec::new()),
    }
}

impl Rig {
    /// Discovers until every serial in `serials` is listed; returns them.
    pub async fn discover(&self, serials: &[&str]) -> Vec<Reader> {
        let mut discovery = self.terminal.discover_readers(DiscoveryConfig::scan()).await;
        while let Some(update) = discovery.updates.next().await {
            if let DiscoveryUpdate::ReadersUpdated(readers) = update {
                let found: Vec<Reader> = serials
                    .iter()
                    .filter_map(|s| readers.iter().find(|r| r.serial_number.as_str() == *s).cloned())
                    .collect();
                if found.len() == serials.len() {
                    self.discoveries.lock().unwrap().push(discovery);
                    return found;
                }
            }
        }
        panic!("discovery ended before listing {serials:?}");
    }

    /// Lets the actors settle (virtual time).
    pub async fn settle(&self) {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    /// The event log, one line per event, discovery lists shortened to
    /// serial numbers.
    pub fn event_log(&self) -> String {
        let mut log = String::new();
        let events = self.events.lock().unwrap();
        let mut i = 0;
        while i < events.len() {
            let (t, event) = &events[i];
            i += 1;
            let line = match event {
                // A run of progress events is one line: how many, from
                // where to where.
                TerminalEvent::UpdateInstallProgress {
                    serial_number,
                    progress,
                } => {
                    let mut last = *progress;
                    let mut count = 1;
                    while let Some((_, TerminalEvent::UpdateInstallProgress { progress, .. })) = events.get(i)
                    {
                        last = *progress;
                        count += 1;
                        i += 1;
                    }
                    format!("UpdateInstallProgress {{ {serial_number} ×{count}, {progress:.2} → {last:.2} }}")
                }
                TerminalEvent::UpdateAvailable {
                    serial_number,
                    update,
                }
                | TerminalEvent::UpdateInstallStarted {
                    serial_number,
                    update,
                    ..
                } => {
                    let kind = match event {
                        TerminalEvent::UpdateAvailable { .. } => "UpdateAvailable",
                        _ => "UpdateInstallStarted",
                    };
                    let cancelable = match event {
                        TerminalEvent::UpdateInstallStarted { cancelable, .. } => {
                            format!(", cancelable: {}", cancelable.is_some())
                        }
                        _ => String::new(),
                    };
                    format!(
                        "{kind} {{ {serial_number} v{} {:?} {:?}, required_at: {}{cancelable} }}",
                        update.version,
                        update.components,
                        update.duration_estimate,
                        fmt_ms(update.required_at)
                    )
                }
                TerminalEvent::UpdateInstallFinished {
                    serial_number,
                    update,
                    error,
                } => format!(
                    "UpdateInstallFinished {{ {serial_number} {}, error: {} }}",
                    update
                        .as_ref()
                        .map_or("no update".to_owned(), |u| format!("v{}", u.version)),
                    error.map_or("none".to_owned(), |e| e.code().to_owned())
                ),
                TerminalEvent::DiscoveredReadersUpdated { readers } => {
                    let serials: Vec<&str> = readers.iter().map(|r| r.serial_number.as_str()).collect();
                    format!("DiscoveredReadersUpdated [{}]", serials.join(", "))
                }
                TerminalEvent::Connected { reader, location } => format!(
                    "Connected {{ {} {:?} v{}, location: {location} }}",
                    reader.serial_number,
                    reader.device_type,
                    reader.software_version.as_deref().unwrap_or("?")
                ),
                TerminalEvent::BatteryLevelReported {
                    serial_number,
                    battery,
                }
                | TerminalEvent::LowBatteryWarning {
                    serial_number,
                    battery,
                } => {
                    let kind = if matches!(event, TerminalEvent::LowBatteryWarning { .. }) {
                        "LowBatteryWarning"
                    } else {
                        "BatteryLevelReported"
                    };
                    format!(
                        "{kind} {{ {serial_number}, {:.0}% {:?}{} }}",
                        battery.level * 100.0,
                        battery.status,
                        if battery.charging { " charging" } else { "" }
                    )
                }
                other => format!("{other:?}"),
            };
            let _ = writeln!(log, "{:>9}  {line}", fmt_ms(*t));
        }
        log
    }

    /// The events so far.
    pub fn events(&self) -> Vec<TerminalEvent> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }
}

pub fn serial(s: &str) -> SerialNumber {
    SerialNumber::new(s)
}
