//! Embedding readerlink in a point-of-sale app: plain async Rust (no actix
//! in its signatures), the simulated example fleet and the in-process
//! backend. Swap `SimWorld` for `transport::ble::BleTransport` (feature
//! `ble`) and `LocalBackend` for `backend::HttpBackend` to talk to real
//! readers and a real backend.
//!
//! The app handles, through its delegate:
//! - software updates (R13–R18): the M2 has a required update, installed
//!   inside its connect with progress; the WisePad 3 has an optional one,
//!   reported available once it is connected, which the app installs when
//!   it chooses. The backend signs each update (R19); the app pins its key.
//! - reconnection (R9): the M2 wanders out of range for a moment and the
//!   terminal reconnects it by itself.
//!
//! Run it with `cargo run --example point_of_sale`. An update takes minutes,
//! so by default the example runs on a paused clock, where the terminal's
//! timers fire as soon as nothing else is left to do: the whole run takes
//! well under a second. `cargo run --example point_of_sale -- --real-time`
//! runs the same code on real time under a plain tokio runtime, as an app
//! does with `#[tokio::main]` (expect a few minutes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use readerlink::prelude::*;

const M2: &str = "STRM2-0001";
const WISEPAD: &str = "WPC32-0001";

/// The app's UI, as callbacks (the event stream `Terminal::events` carries
/// the same events for apps that prefer streams). Callbacks run on the
/// terminal's actor: they only show things.
#[derive(Default)]
struct Ui {
    /// The last quarter of each install's progress shown, per reader.
    shown: Mutex<HashMap<SerialNumber, u32>>,
}

impl TerminalDelegate for Ui {
    fn on_connection_status_changed(&self, status: ConnectionStatus) {
        println!("status bar: {status:?}");
    }
    fn on_connected(&self, reader: &Reader) {
        println!(
            "ready to take payments on {} (software {})",
            reader.serial_number,
            reader.software_version.as_deref().unwrap_or("unknown")
        );
    }
    fn on_disconnected(&self, serial_number: &SerialNumber, reason: DisconnectReason) {
        println!("{serial_number} went away: {reason:?}");
    }
    fn on_reconnect_started(&self, serial_number: &SerialNumber, reason: DisconnectReason, _: &Cancelable) {
        println!("{serial_number} lost ({reason:?}): reconnecting…");
    }
    fn on_reconnect_succeeded(&self, serial_number: &SerialNumber) {
        println!("{serial_number} is back");
    }
    fn on_reconnect_failed(&self, serial_number: &SerialNumber, error: &ReconnectError) {
        println!(
            "{serial_number} could not be reconnected ({}): {error}",
            error.code()
        );
    }
    fn on_update_available(&self, serial_number: &SerialNumber, update: &ReaderSoftwareUpdate) {
        println!(
            "{serial_number}: update {} available ({:?}), install it when the shop is quiet",
            update.version, update.duration_estimate
        );
    }
    fn on_update_install_started(
        &self,
        serial_number: &SerialNumber,
        update: &ReaderSoftwareUpdate,
        cancelable: Option<&Cancelable>,
    ) {
        println!(
            "{serial_number}: installing {} ({:?}){}",
            update.version,
            update.duration_estimate,
            if cancelable.is_some() {
                ", can be cancelled"
            } else {
                ""
            }
        );
    }
    fn on_update_install_progress(&self, serial_number: &SerialNumber, progress: f32) {
        // Progress comes often; a UI draws a bar, this prints quarters.
        let quarter = (progress * 4.0).floor() as u32;
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        if shown.get(serial_number) != Some(&quarter) {
            shown.insert(serial_number.clone(), quarter);
            println!("{serial_number}: update {}%", quarter * 25);
        }
    }
    fn on_update_install_finished(
        &self,
        serial_number: &SerialNumber,
        update: Option<&ReaderSoftwareUpdate>,
        error: Option<&UpdateError>,
    ) {
        match (update, error) {
            (Some(update), None) => println!("{serial_number}: now on {}", update.version),
            (_, Some(error)) => println!("{serial_number}: update failed ({}): {error}", error.code()),
            (None, None) => println!("{serial_number}: no update to install"),
        }
    }
    fn on_battery_level_reported(&self, serial_number: &SerialNumber, battery: &Battery) {
        println!("{serial_number}: battery {:.0}%", battery.level * 100.0);
    }
    fn on_card_inserted(&self, serial_number: &SerialNumber) {
        println!("{serial_number}: card inserted");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|arg| arg == "--real-time") {
        // What `#[tokio::main]` builds: the terminal then runs its actors
        // on a thread of its own.
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(run())
    } else {
        readerlink::runtime::virtual_time_system().block_on(run())
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // The example fleet, with an update waiting for two of its readers.
    let mut fleet = Fleet::example();
    for reader in &mut fleet.readers {
        if reader.serial == M2 {
            reader.update = SimulatedUpdatePreset::Required;
        } else if reader.serial == WISEPAD {
            reader.update = SimulatedUpdatePreset::Available;
        }
    }
    let world = SimWorld::new(fleet.clone());
    // The catalog's times count from now, as the terminal's clock does.
    let backend = LocalBackend::new(BackendCore::in_memory(1)).with_epoch(tokio::time::Instant::now());
    backend.offer_fleet_updates(&fleet);
    let shop = backend
        .create_location(CreateLocation::new("Corner shop", "2 Market St", "US"))
        .await?;
    // Only updates signed by a pinned key reach a reader (R19).
    let trusted = TrustedKeys::new().with(backend.update_public_key()?);

    let terminal = Terminal::builder(
        Arc::new(world.transport()),
        Arc::new(backend),
        Arc::new(MemoryStore::new()),
    )
    .trusted_update_keys(trusted)
    .delegate(Arc::new(Ui::default()))
    .start();

    // Show the readers as they are found; the person picks the M2 and the
    // WisePad 3.
    let mut discovery = terminal
        .discover_readers(DiscoveryConfig::scan().with_timeout(Duration::from_secs(5)))
        .await;
    let (m2, wisepad) = loop {
        match discovery.updates.next().await {
            Some(DiscoveryUpdate::ReadersUpdated(readers)) => {
                println!(
                    "nearby: {:?}",
                    readers
                        .iter()
                        .map(|r| r.serial_number.as_str())
                        .collect::<Vec<_>>()
                );
                let find = |serial: &str| readers.iter().find(|r| r.serial_number == serial).cloned();
                if let (Some(m2), Some(wisepad)) = (find(M2), find(WISEPAD)) {
                    break (m2, wisepad);
                }
            }
            Some(DiscoveryUpdate::Finished(result)) => {
                return Err(format!("the M2 and the WisePad 3 were not found: {result:?}").into());
            }
            // Kinds of update a later version may add.
            Some(_) => {}
            None => return Err("discovery ended".into()),
        }
    };

    // The M2's required update installs inside its connect (the status
    // stays Connecting); the connect answers with the reader on its new
    // software.
    let m2 = terminal
        .connect_reader(&m2, ConnectionConfig::new(&shop.id))
        .await?;
    println!(
        "M2 connected on {}",
        m2.software_version.as_deref().unwrap_or("?")
    );
    world.insert_card(&m2.serial_number)?;

    // The WisePad 3's optional update is reported once it is connected;
    // the app installs it when it chooses (here: at once).
    let mut events = terminal.events();
    let wisepad = terminal
        .connect_reader(&wisepad, ConnectionConfig::new(&shop.id))
        .await?;
    wait_for(&mut events, Duration::from_secs(60), |event| {
        matches!(event, TerminalEvent::UpdateAvailable { serial_number, .. } if *serial_number == WISEPAD)
    })
    .await?;
    terminal.install_available_update(&wisepad.serial_number).await?;
    wait_for(&mut events, Duration::from_secs(30 * 60), |event| {
        matches!(event, TerminalEvent::UpdateInstallFinished { serial_number, .. } if *serial_number == WISEPAD)
    })
    .await?;

    // The M2 wanders out of range for a moment: the terminal reconnects it
    // by itself (R9) and the delegate shows it; the app only waits.
    world.lose_link(&m2.serial_number, Some(Duration::from_millis(300)))?;
    wait_for(&mut events, Duration::from_secs(60), |event| {
        matches!(
            event,
            TerminalEvent::ReconnectSucceeded { serial_number } | TerminalEvent::Disconnected { serial_number, .. }
                if *serial_number == M2
        )
    })
    .await?;
    if terminal.reader_status(&m2.serial_number) != ConnectionStatus::Connected {
        return Err("the M2 was not reconnected".into());
    }

    // Closing time.
    terminal.disconnect_all().await?;
    Ok(())
}

/// Waits (at most `timeout`) for the first event `wanted` accepts.
async fn wait_for(
    events: &mut (impl futures::Stream<Item = TerminalEvent> + Unpin),
    timeout: Duration,
    wanted: impl Fn(&TerminalEvent) -> bool,
) -> Result<(), Box<dyn std::error::Error>> {
    tokio::time::timeout(timeout, async {
        while let Some(event) = events.next().await {
            if wanted(&event) {
                return Ok(());
            }
        }
        Err("the terminal stopped".into())
    })
    .await?
}
