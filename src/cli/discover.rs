//! `readerlink discover`: runs one discovery and prints the live list of
//! readers — a table under a spinner, or (`--json`) one JSON object per list
//! update and a final result line.
//!
//! It runs on real time, on the simulated readers of a fleet file (the
//! shipped example fleet by default) or, with `--ble`, on the host's
//! Bluetooth adapter (cargo feature `ble`). Without `--timeout` it runs
//! until Ctrl-C.
//!
//! `--json` lines:
//!
//! ```text
//! {"event":"readers_updated","t_ms":502,"readers":[{"serial_number":"CHB20-0001","device_type":"bbpos_chipper2x","software_version":null,"battery_percent":null,"rssi":-52,"peripheral":"CHB20-0001"}, ...]}
//! {"event":"finished","t_ms":2001,"result":"ok","readers":4}
//! {"event":"finished","t_ms":5000,"result":"error","code":"scan_timed_out","message":"discovery timed out with no reader found"}
//! ```
//!
//! Exit status: 0 when the discovery ended well (a timeout with readers
//! listed, or Ctrl-C), 1 when it failed (nothing found before the timeout,
//! the transport failed), 2 on bad usage.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use futures::StreamExt;
use serde_json::json;

use super::CliError;
use crate::reader::Reader;
use crate::runtime::{Clock, Tracer};
use crate::scanner::{DiscoveryConfig, DiscoveryError, DiscoveryUpdate, ScannerHandle};
use crate::transport::Transport;
use crate::transport::sim::{Fleet, FleetError, SimWorld};

/// Arguments of `readerlink discover`.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Find the nearest Chipper 2X only (Bluetooth proximity) instead of
    /// listing every reader (Bluetooth scan).
    #[arg(long)]
    pub proximity: bool,
    /// Stop after this many seconds (fractions allowed); without it, run
    /// until Ctrl-C.
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    /// The simulated fleet to discover (TOML); the shipped example fleet
    /// when absent.
    #[arg(long, value_name = "FILE", conflicts_with = "ble")]
    pub fleet: Option<PathBuf>,
    /// Discover real readers through the host's Bluetooth adapter (needs a
    /// build with the `ble` feature).
    #[arg(long)]
    pub ble: bool,
    /// Print one JSON object per list update, then a result line.
    #[arg(long)]
    pub json: bool,
}

/// Parses `--timeout`: a positive, finite number of seconds.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!(
            "the timeout must be a positive number of seconds, not `{text}`"
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{text}` seconds is too long a timeout"))
}

/// Runs `readerlink discover`.
pub fn run(args: DiscoverArgs) -> Result<(), CliError> {
    let world = match (&args.fleet, args.ble) {
        (_, true) => None,
        (Some(path), false) => Some(Fleet::load(path).map_err(|e| match e {
            FleetError::Io { .. } | FleetError::TooLarge { .. } => CliError::Other(e.to_string()),
            _ => CliError::Other(format!("{}: {e}", path.display())),
        })?),
        (None, false) => Some(Fleet::example()),
    };
    actix_rt::System::new().block_on(async move {
        let transport: Arc<dyn Transport> = match world {
            Some(fleet) => Arc::new(SimWorld::new(fleet).transport()),
            None => ble_transport().await?,
        };
        discover(transport, &args).await
    })
}

#[cfg(feature = "ble")]
async fn ble_transport() -> Result<Arc<dyn Transport>, CliError> {
    use crate::transport::ble::{AdapterChoice, BleTransport};
    let transport = BleTransport::new(AdapterChoice::First)
        .await
        .map_err(|e| CliError::Other(format!("--ble: {e}")))?;
    Ok(Arc::new(transport))
}

#[cfg(not(feature = "ble"))]
async fn ble_transport() -> Result<Arc<dyn Transport>, CliError> {
    Err(CliError::Other(
        "--ble: readerlink was built without the `ble` feature (rebuild with `--features ble`)".into(),
    ))
}

async fn discover(transport: Arc<dyn Transport>, args: &DiscoverArgs) -> Result<(), CliError> {
    let clock = Clock::start();
    let scanner = ScannerHandle::start(transport, Tracer::off(), clock);
    let mut config = if args.proximity {
        DiscoveryConfig::proximity()
    } else {
        DiscoveryConfig::scan()
    };
    config.timeout = args.timeout;
    let what = if args.proximity {
        "Looking for the nearest Chipper 2X"
    } else {
        "Scanning for readers"
    };
    let discovery = scanner.discover(config).await;
    let mut updates = discovery.updates;
    let mut out = Output::new(args.json, what);
    let mut interrupted = false;
    let mut listed = 0;
    let result = loop {
        tokio::select! {
            update = updates.next() => match update {
                Some(DiscoveryUpdate::ReadersUpdated(readers)) => {
                    listed = readers.len();
                    out.readers(clock.now_ms(), &readers);
                }
                Some(DiscoveryUpdate::Finished(result)) => break result,
                None => break Err(DiscoveryError::ScannerStopped),
            },
            _ = tokio::signal::ctrl_c(), if !interrupted => {
                interrupted = true;
                discovery.cancelable.cancel().await;
            }
        }
    };
    // Ctrl-C is how a discovery without a timeout is meant to end.
    let result = match result {
        Err(DiscoveryError::Cancelled) if interrupted => Ok(()),
        other => other,
    };
    out.finished(clock.now_ms(), &result, listed);
    result.map_err(|e| CliError::Other(format!("discovery failed: {e} [{}]", e.code())))
}

/// Where updates are printed: a spinner and a table, or JSON lines.
enum Output {
    Json,
    Table(indicatif::ProgressBar),
}

impl Output {
    fn new(json: bool, what: &str) -> Self {
        if json {
            return Self::Json;
        }
        let spinner = indicatif::ProgressBar::new_spinner();
        spinner.set_message(format!("{what}…"));
        spinner.enable_steady_tick(Duration::from_millis(100));
        Self::Table(spinner)
    }

    fn readers(&mut self, t_ms: u64, readers: &[Reader]) {
        match self {
            Self::Json => {
                let readers: Vec<_> = readers.iter().map(reader_json).collect();
                print_line(&json!({ "event": "readers_updated", "t_ms": t_ms, "readers": readers }));
            }
            Self::Table(spinner) => {
                let table = table(readers);
                spinner.suspend(|| {
                    println!("{table}");
                    let _ = std::io::stdout().flush();
                });
            }
        }
    }

    fn finished(&mut self, t_ms: u64, result: &Result<(), DiscoveryError>, listed: usize) {
        match self {
            Self::Json => {
                let line = match result {
                    Ok(()) => json!({ "event": "finished", "t_ms": t_ms, "result": "ok", "readers": listed }),
                    Err(e) => json!({
                        "event": "finished", "t_ms": t_ms, "result": "error",
                        "code": e.code(), "message": e.to_string(),
                    }),
                };
                print_line(&line);
            }
            Self::Table(spinner) => {
                spinner.finish_and_clear();
                if result.is_ok() {
                    println!(
                        "Discovery finished: {listed} reader{} listed.",
                        if listed == 1 { "" } else { "s" }
                    );
                }
            }
        }
    }
}

/// One reader in `--json` output; the battery as a whole percentage.
fn reader_json(r: &Reader) -> serde_json::Value {
    json!({
        "serial_number": r.serial_number,
        "device_type": r.device_type,
        "software_version": r.software_version,
        "battery_percent": r.battery.map(|b| (b.level * 100.0).round() as u8),
        "rssi": r.rssi,
        "peripheral": r.peripheral,
    })
}

fn print_line(value: &serde_json::Value) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{value}");
    let _ = stdout.flush();
}

/// The readers as a text table, loudest first.
fn table(readers: &[Reader]) -> String {
    if readers.is_empty() {
        return "(no readers)".to_owned();
    }
    let rows: Vec<[String; 5]> = readers
        .iter()
        .map(|r| {
            [
                r.serial_number.to_string(),
                r.device_type.to_string(),
                r.software_version.clone().unwrap_or_else(|| "-".into()),
                r.battery
                    .map_or_else(|| "-".into(), |b| format!("{:.0}%", b.level * 100.0)),
                r.rssi.map_or_else(|| "-".into(), |rssi| format!("{rssi} dBm")),
            ]
        })
        .collect();
    let header = ["SERIAL", "DEVICE", "SOFTWARE", "BATTERY", "RSSI"];
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 5]| {
        let cells: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        cells.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(header)];
    for row in &rows {
        out.push(line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_must_be_positive_finite_seconds() {
        assert_eq!(parse_timeout("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_timeout("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["0", "-1", "nan", "inf", "two", ""] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }
}
