//! Embedding readerlink in a point-of-sale app: plain async Rust (no actix
//! in sight), real time, the simulated example fleet and the in-process
//! backend. Swap `SimWorld` for `transport::ble::BleTransport` (feature
//! `ble`) and `LocalBackend` for `backend::HttpBackend` to talk to real
//! readers and a real backend.
//!
//! Software updates (R13–R18) are not built yet, so there are no update
//! callbacks to handle; reconnection (R9) is handled through the delegate.
//!
//! Run it with `cargo run --example point_of_sale`.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use readerlink::prelude::*;

/// The app's UI, as callbacks (the event stream `Terminal::events` carries
/// the same events for apps that prefer streams).
struct Ui;

impl TerminalDelegate for Ui {
    fn on_connection_status_changed(&self, status: ConnectionStatus) {
        println!("status bar: {status:?}");
    }
    fn on_connected(&self, reader: &Reader) {
        println!("ready to take payments on {}", reader.serial_number);
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
    fn on_battery_level_reported(&self, serial_number: &SerialNumber, battery: &Battery) {
        println!("{serial_number}: battery {:.0}%", battery.level * 100.0);
    }
    fn on_card_inserted(&self, serial_number: &SerialNumber) {
        println!("{serial_number}: card inserted");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let world = SimWorld::example();
    let backend = LocalBackend::new(BackendCore::in_memory(1));
    let shop = backend
        .core()
        .lock()
        .map_err(|_| "backend poisoned")?
        .create_location(CreateLocation::new("Corner shop", "2 Market St", "US"))?;

    // Outside an actix system the terminal runs its actors on a thread of its own.
    let terminal = Terminal::builder(
        Arc::new(world.transport()),
        Arc::new(backend),
        Arc::new(MemoryStore::new()),
    )
    .delegate(Arc::new(Ui))
    .start();

    // Show the readers as they are found; the person picks the M2.
    let mut discovery = terminal
        .discover_readers(DiscoveryConfig::scan().with_timeout(Duration::from_secs(5)))
        .await;
    let chosen = loop {
        match discovery.updates.next().await {
            Some(DiscoveryUpdate::ReadersUpdated(readers)) => {
                println!(
                    "nearby: {:?}",
                    readers
                        .iter()
                        .map(|r| r.serial_number.as_str())
                        .collect::<Vec<_>>()
                );
                if let Some(m2) = readers.into_iter().find(|r| r.serial_number == "STRM2-0001") {
                    break m2;
                }
            }
            Some(DiscoveryUpdate::Finished(result)) => return Err(format!("no M2 found: {result:?}").into()),
            None => return Err("discovery ended".into()),
        }
    };

    let reader = terminal
        .connect_reader(&chosen, ConnectionConfig::new(&shop.id))
        .await?;
    world.insert_card(&reader.serial_number)?;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The reader wanders out of range for a moment: the terminal reconnects
    // it by itself (R9) and the delegate shows it; the app only waits.
    let mut events = terminal.events();
    world.lose_link(&reader.serial_number, Some(Duration::from_millis(300)))?;
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.next().await {
            if matches!(
                event,
                TerminalEvent::ReconnectSucceeded { .. } | TerminalEvent::Disconnected { .. }
            ) {
                break;
            }
        }
    })
    .await?;
    terminal.disconnect_reader(&reader.serial_number).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}
