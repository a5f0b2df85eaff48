//! How fast an update image crosses the simulated BLE link, against the
//! link model's ceiling (issue 13).
//!
//! For each ATT payload (20, 244, and 495 asked for — the protocol
//! negotiates at most [`MAX_ATT_PAYLOAD`]) and connection interval (7.5,
//! 15, 30 ms), one Stripe M2 on the `required` preset is connected through
//! the public `Terminal` on a paused clock, so the whole install runs: the
//! catalog, the download and checks of the signed 256 KiB image, then
//! `UpdateBegin`, the chunks and their acknowledgements. The figure is the
//! transfer's: from `UpdateInstallStarted` to the progress that says every
//! byte was acknowledged ([`TRANSFER_SHARE`]); the commit and trial boot
//! after it are not the link's work. Virtual time, so every figure is
//! exact and repeats.
//!
//! Each size runs once per updater policy ("mode"): `stop-and-wait` (one
//! chunk, then its acknowledgement), `one-window` (a window of 8 chunks,
//! then its acknowledgement), `default` ([`UpdaterPolicy::default`]: two
//! windows of 8 in flight, the next sent as each acknowledgement comes).
//!
//! The ceiling, in image bytes per second, is what the link model
//! ([`LinkModel`]) carries when every packet slot of every connection event
//! is full: `packets_per_event` ATT payloads per interval, each payload
//! carrying `att_payload − 1` bytes of frame (one is the fragment header),
//! and each chunk's frame `chunk_len + overhead` bytes cut into whole
//! payloads. The raw link ceiling (`att_payload × packets_per_event /
//! interval`) is printed beside it.
//!
//! `cargo bench --bench transfer` (a plain `main`). Results:
//! `benches/README.md`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use readerlink::backend::{BackendCore, CreateLocation, LocalBackend};
use readerlink::protocol::{Command, MAX_ATT_PAYLOAD, MAX_CHUNK_LEN, Request, fitted_chunk_len};
use readerlink::reader::DeviceType;
use readerlink::runtime::{Clock, virtual_time_system};
use readerlink::scanner::{DiscoveryConfig, DiscoveryUpdate};
use readerlink::store::MemoryStore;
use readerlink::terminal::{ConnectionConfig, Terminal, TerminalEvent};
use readerlink::transport::sim::{Fleet, LinkModel, ReaderSpec, SimWorld};
use readerlink::updater::{SIMULATED_REQUIRED_SIZE, SimulatedUpdatePreset, TRANSFER_SHARE, UpdaterPolicy};

const SERIAL: &str = "STRM2-0001";

/// One updater policy under test.
struct Mode {
    name: &'static str,
    policy: UpdaterPolicy,
}

fn modes() -> Vec<Mode> {
    vec![
        Mode {
            name: "stop-and-wait",
            policy: UpdaterPolicy {
                window: 1,
                windows_in_flight: 1,
                ..UpdaterPolicy::default()
            },
        },
        Mode {
            name: "one-window",
            policy: UpdaterPolicy {
                windows_in_flight: 1,
                ..UpdaterPolicy::default()
            },
        },
        Mode {
            name: "default",
            policy: UpdaterPolicy::default(),
        },
    ]
}

struct Run {
    /// The ATT payload the link negotiated.
    att_payload: usize,
    /// Virtual time from `UpdateInstallStarted` to every byte acknowledged.
    transfer: Duration,
}

fn link(interval_us: u64) -> LinkModel {
    LinkModel {
        connection_interval_us: Some(interval_us),
        ..LinkModel::default()
    }
}

fn run(att_payload: usize, model: LinkModel, policy: UpdaterPolicy) -> Run {
    virtual_time_system().block_on(async move {
        let mut spec = ReaderSpec::new(SERIAL, DeviceType::StripeM2, "3.1.0");
        spec.att_payload = att_payload;
        spec.battery = 0.9;
        spec.update = SimulatedUpdatePreset::Required;
        let fleet = Fleet {
            seed: 1,
            link: model,
            readers: vec![spec],
        };
        let backend = LocalBackend::new(BackendCore::in_memory(7)).with_epoch(tokio::time::Instant::now());
        backend.offer_fleet_updates(&fleet);
        let world = SimWorld::new(fleet);
        let shop = backend
            .core()
            .lock()
            .unwrap()
            .create_location(CreateLocation::new("Shop", "1 Main St", "US"))
            .unwrap();
        let terminal = Terminal::builder(
            Arc::new(world.transport()),
            Arc::new(backend.clone()),
            Arc::new(MemoryStore::new()),
        )
        .seed(1)
        .updater_policy(policy)
        .trusted_update_keys([backend.update_public_key().unwrap()].into_iter().collect())
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

        let mut discovery = terminal.discover_readers(DiscoveryConfig::scan()).await;
        let reader = loop {
            match discovery.updates.next().await {
                Some(DiscoveryUpdate::ReadersUpdated(readers)) if !readers.is_empty() => {
                    break readers[0].clone();
                }
                Some(_) => {}
                None => panic!("discovery ended before the reader was listed"),
            }
        };
        terminal
            .connect_reader(&reader, ConnectionConfig::new(&shop.id))
            .await
            .expect("the install and the connect succeed");
        // The link offers at most MAX_ATT_PAYLOAD; the smaller side wins.
        let negotiated = att_payload.min(MAX_ATT_PAYLOAD);

        let events = events.lock().unwrap();
        let started = events
            .iter()
            .find_map(|(t, e)| matches!(e, TerminalEvent::UpdateInstallStarted { .. }).then_some(*t))
            .expect("the install started");
        let transferred = events
            .iter()
            .find_map(|(t, e)| match e {
                TerminalEvent::UpdateInstallProgress { progress, .. } if *progress >= TRANSFER_SHARE => {
                    Some(*t)
                }
                _ => None,
            })
            .expect("every byte was acknowledged");
        Run {
            att_payload: negotiated,
            transfer: Duration::from_millis(transferred - started),
        }
    })
}

/// Image bytes per second the model carries with every slot full.
fn image_ceiling(att_payload: usize, model: &LinkModel, chunk_len: usize) -> f64 {
    let chunk_len = fitted_chunk_len(chunk_len as u16, att_payload) as usize;
    let frame = Request::new(
        0,
        Command::UpdateChunk {
            offset: 0,
            bytes: vec![0; chunk_len],
        },
    )
    .encode()
    .len();
    let payloads_per_chunk = frame.div_ceil(att_payload - 1);
    let chunks_per_second =
        model.packets_per_event as f64 / payloads_per_chunk as f64 / model.interval().as_secs_f64();
    chunks_per_second * chunk_len as f64
}

fn main() {
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let size = SIMULATED_REQUIRED_SIZE as f64;
    println!(
        "| ATT payload asked → negotiated | interval | raw link ceiling (payload × {} / interval) | image ceiling | mode | transfer | image B/s | of raw ceiling | of image ceiling |",
        LinkModel::default().packets_per_event
    );
    println!("|---|---:|---:|---:|---|---:|---:|---:|---:|");
    for asked in [20usize, 244, 495] {
        for interval_us in [7_500u64, 15_000, 30_000] {
            let model = link(interval_us);
            for mode in modes() {
                if filter.as_deref().is_some_and(|f| f != mode.name) {
                    continue;
                }
                let chunk_len = (mode.policy.chunk_len as usize).min(MAX_CHUNK_LEN);
                let run = run(asked, model.clone(), mode.policy);
                let payload = run.att_payload;
                let raw = payload as f64 * model.packets_per_event as f64 / model.interval().as_secs_f64();
                let ceiling = image_ceiling(payload, &model, chunk_len);
                let achieved = size / run.transfer.as_secs_f64();
                println!(
                    "| {asked} → {payload} | {} ms | {:.1} kB/s | {:.1} kB/s | {} | {:.2} s | {:.1} kB/s | {:.0} % | {:.0} % |",
                    interval_us as f64 / 1000.0,
                    raw / 1000.0,
                    ceiling / 1000.0,
                    mode.name,
                    run.transfer.as_secs_f64(),
                    achieved / 1000.0,
                    100.0 * achieved / raw,
                    100.0 * achieved / ceiling,
                );
            }
        }
    }
}
