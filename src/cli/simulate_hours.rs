//! `readerlink simulate --hours N`: the demo's world on virtual time.
//!
//! A simulated fleet, the backend core in-process, two readers connected to
//! a location — an M2 (or WisePad 3) and a Chipper 2X when the fleet has
//! them — then N hours of the world's own life: readers sleep when idle,
//! batteries drain and report every 10 minutes, and the runtime reboots the
//! M2 and WisePad 3 every 24 hours, 10 minutes before they would reboot
//! themselves, announcing each reboot with `RebootScheduled` (R12); the
//! Chipper 2X is never rebooted. Every event is printed with its virtual
//! time (battery reports are summed up instead), then a summary.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::CliError;
use super::demo::{describe, describe_reader, discover_fleet, event_kind};
use crate::backend::{BackendCore, CreateLocation, LocalBackend};
use crate::firmware::TrustedKeys;
use crate::reader::SerialNumber;
use crate::runtime::{TraceHeader, Tracer, fmt_ms, virtual_time_system};
use crate::store::MemoryStore;
use crate::terminal::{ConnectionConfig, Terminal, TerminalEvent};
use crate::transport::sim::{Fleet, SimWorld};

/// Runs `hours` of virtual time; prints JSON lines (`t_ms`, `event`) with `json`.
pub fn run(
    hours: u32,
    fleet: Option<&Path>,
    seed: u64,
    json: bool,
    trace: Option<&Path>,
) -> Result<(), CliError> {
    let fleet = match fleet {
        Some(path) => Fleet::load(path).map_err(|e| CliError::Other(format!("{}: {e}", path.display())))?,
        None => Fleet::example(),
    };
    let tracer = match trace {
        Some(path) => {
            // The world runs a terminal with the default policies: say so, for replay.
            let header = TraceHeader::new(seed, serde_json::json!({ "command": "simulate", "hours": hours }))
                .with_replay(crate::machines::simulated_replay_parameters(&fleet.link));
            Tracer::file(header, path).map_err(|source| CliError::Io {
                path: path.display().to_string(),
                source,
            })?
        }
        None => Tracer::off(),
    };
    let summary = virtual_time_system().block_on(simulate(fleet, hours, seed, json, tracer.clone()))?;
    tracer.flush().map_err(|source| CliError::Io {
        path: trace.map(|p| p.display().to_string()).unwrap_or_default(),
        source,
    })?;
    if !json {
        println!();
        println!("After {hours} h of virtual time:");
        for line in summary {
            println!("  {line}");
        }
    }
    Ok(())
}

async fn simulate(
    fleet: Fleet,
    hours: u32,
    seed: u64,
    json: bool,
    tracer: Tracer,
) -> Result<Vec<String>, CliError> {
    let start = tokio::time::Instant::now();
    let print = |event: &TerminalEvent| {
        let t_ms = start.elapsed().as_millis() as u64;
        if json {
            let mut line = serde_json::json!({ "t_ms": t_ms, "event": event_kind(event) });
            if let (Some(fields), serde_json::Value::Object(map)) = (
                line.as_object_mut(),
                serde_json::to_value(event).unwrap_or_default(),
            ) {
                for (_, value) in map {
                    if let serde_json::Value::Object(inner) = value {
                        fields.extend(inner);
                    }
                }
            }
            println!("{line}");
        } else {
            println!("[{:>14}] {}", fmt_ms(t_ms), describe(event));
        }
    };

    let backend = LocalBackend::new(BackendCore::in_memory(seed)).with_epoch(tokio::time::Instant::now());
    backend.offer_fleet_updates(&fleet);
    let world = SimWorld::new(fleet);
    let trusted = backend
        .update_public_key()
        .map_err(|e| CliError::Other(format!("the update signing key: {e}")))?;
    let location = backend
        .core()
        .lock()
        .map_err(|_| CliError::Other("the backend core is poisoned".into()))?
        .create_location(CreateLocation::new("Simulated shop", "1 Virtual Street", "US"))
        .map_err(|e| CliError::Other(format!("creating the location: {e}")))?;
    let terminal = Terminal::builder(
        Arc::new(world.transport()),
        Arc::new(backend),
        Arc::new(MemoryStore::new()),
    )
    .tracer(tracer)
    .seed(seed)
    .trusted_update_keys(TrustedKeys::from_iter([trusted]))
    .start();
    let mut events = terminal.events();

    let found = discover_fleet(&terminal, world.serials().len(), |readers| {
        if !json {
            let list: Vec<_> = readers.iter().map(describe_reader).collect();
            println!(
                "[{:>14}] found {}",
                fmt_ms(start.elapsed().as_millis() as u64),
                list.join(", ")
            );
        }
    })
    .await?;
    let config = ConnectionConfig::new(&location.id);
    let found = pick_two(found);
    for reader in &found {
        terminal
            .connect_reader(reader, config.clone())
            .await
            .map_err(|e| {
                CliError::Other(format!("connecting {}: {e} [{}]", reader.serial_number, e.code()))
            })?;
    }

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut battery: BTreeMap<SerialNumber, (usize, f32)> = BTreeMap::new();
    // An install's progress, for people: a line at each quarter.
    let mut quarters: BTreeMap<SerialNumber, u8> = BTreeMap::new();
    let end = start + Duration::from_secs(u64::from(hours) * 3600);
    loop {
        tokio::select! {
            event = events.next() => {
                let Some(event) = event else { break };
                *counts.entry(event_kind(&event)).or_default() += 1;
                match &event {
                    TerminalEvent::BatteryLevelReported { serial_number, battery: level } if !json => {
                        let entry = battery.entry(serial_number.clone()).or_default();
                        *entry = (entry.0 + 1, level.level);
                    }
                    TerminalEvent::UpdateInstallProgress { serial_number, progress } if !json => {
                        let quarter = (progress.clamp(0.0, 1.0) * 4.0) as u8;
                        let shown = quarters.entry(serial_number.clone()).or_default();
                        if quarter != *shown {
                            *shown = quarter;
                            print(&event);
                        }
                    }
                    _ => print(&event),
                }
            }
            _ = tokio::time::sleep_until(end) => break,
        }
    }

    let mut summary = Vec::new();
    for reader in &found {
        let serial = &reader.serial_number;
        let (reports, level) = battery.get(serial).copied().unwrap_or_default();
        let state = world
            .reader_state(serial)
            .map_err(|e| CliError::Other(e.to_string()))?;
        summary.push(format!(
            "{serial} ({}): {:?}; {reports} battery reports, last {:.0}%; booted {} times; uptime {}",
            reader.device_type,
            terminal.reader_status(serial),
            level * 100.0,
            state.boots,
            fmt_ms(state.uptime_ms),
        ));
    }
    summary.push(format!(
        "events: {}",
        counts
            .iter()
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(summary)
}

/// The readers to connect: one that reboots daily (M2 or WisePad 3) and a
/// Chipper 2X when the fleet has both, else the first two found.
fn pick_two(mut found: Vec<crate::reader::Reader>) -> Vec<crate::reader::Reader> {
    use crate::reader::DeviceType;
    let daily = found.iter().position(|r| r.device_type != DeviceType::Chipper2X);
    let chipper = found.iter().position(|r| r.device_type == DeviceType::Chipper2X);
    match (daily, chipper) {
        (Some(d), Some(c)) => vec![found[d].clone(), found[c].clone()],
        _ => {
            found.truncate(2);
            found
        }
    }
}
