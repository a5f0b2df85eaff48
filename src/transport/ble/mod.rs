//! The real BLE transport: [`BleTransport`], a [`Transport`] on `btleplug`
//! (cargo feature `ble`; on Linux it talks to BlueZ over the D-Bus system
//! bus, so it needs `bluetoothd` running and a user allowed to use it).
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | adapter selection, scanning |
//! | `link.rs` | connecting, the link's writer and its event stream |
//! | `mapping.rs` | btleplug's reports mapped to [`ScanEvent`]s, [`LinkEvent`](crate::transport::LinkEvent)s and causes (plain functions) |
//!
//! A scan reports every peripheral whose manufacturer data under
//! [`MANUFACTURER_ID`](crate::transport::MANUFACTURER_ID) decodes as a
//! readerlink advertisement, each time BlueZ reports it again; other devices
//! never leave this module. A link ends with
//! [`LinkLossCause::SignalLost`](crate::transport::LinkLossCause::SignalLost)
//! when BlueZ reports the device disconnected, with
//! [`LinkLossCause::AdapterPoweredOff`](crate::transport::LinkLossCause::AdapterPoweredOff)
//! when the adapter was powered off, and with
//! [`LinkLossCause::LocalClosed`](crate::transport::LinkLossCause::LocalClosed)
//! after [`LinkWriter::disconnect`](crate::transport::LinkWriter::disconnect).
//! Dropping a link's event stream closes the link, as on the simulated
//! transport.

mod link;
mod mapping;

use std::sync::Mutex;

use btleplug::api::{Central, CentralEvent, CentralState, Manager as _, Peripheral as _, ScanFilter};
use btleplug::platform::{Adapter, Manager};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::transport::{Link, PeripheralId, SERVICE_UUID, ScanEvent, Transport, TransportError};

/// Which host Bluetooth adapter to use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AdapterChoice {
    /// The first adapter the stack lists.
    #[default]
    First,
    /// The adapter with this name (`hci0`, `hci1`, ... on Linux).
    Named(String),
}

/// A [`Transport`] on the host's Bluetooth adapter, through `btleplug`.
pub struct BleTransport {
    /// The adapter every scan and connection goes through.
    adapter: Adapter,
    /// The adapter's name, for logs and errors.
    adapter_name: String,
    /// The running scan's task; aborting it ends its stream.
    scan: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for BleTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BleTransport")
            .field("adapter", &self.adapter_name)
            .finish_non_exhaustive()
    }
}

impl BleTransport {
    /// Opens the Bluetooth stack and picks an adapter. Fails with
    /// [`TransportError::AdapterUnavailable`] when there is no adapter (or
    /// none of that name), or the stack cannot be reached (on Linux: the
    /// D-Bus system bus or `bluetoothd`).
    pub async fn new(choice: AdapterChoice) -> Result<Self, TransportError> {
        let manager = Manager::new().await.map_err(|e| {
            TransportError::AdapterUnavailable(format!("the Bluetooth stack is not reachable: {e}"))
        })?;
        let adapters = manager.adapters().await.map_err(stack_error)?;
        for adapter in adapters {
            let info = adapter.adapter_info().await.map_err(stack_error)?;
            let name = mapping::adapter_name(&info).to_owned();
            let chosen = match &choice {
                AdapterChoice::First => true,
                AdapterChoice::Named(wanted) => *wanted == name,
            };
            if chosen {
                tracing::debug!(adapter = %name, "Bluetooth adapter chosen");
                return Ok(Self {
                    adapter,
                    adapter_name: name,
                    scan: Mutex::new(None),
                });
            }
        }
        Err(TransportError::AdapterUnavailable(match choice {
            AdapterChoice::First => "no Bluetooth adapter found".to_owned(),
            AdapterChoice::Named(name) => format!("no Bluetooth adapter named `{name}`"),
        }))
    }

    /// The name of the adapter in use (`hci0`).
    pub fn adapter_name(&self) -> &str {
        &self.adapter_name
    }

    /// Fails on a powered-off adapter: bluez-async would power it on to
    /// scan, but the host's Bluetooth switch belongs to its user.
    async fn require_powered(&self) -> Result<(), TransportError> {
        match self.adapter.adapter_state().await.map_err(stack_error)? {
            CentralState::PoweredOff => Err(TransportError::AdapterUnavailable(format!(
                "adapter `{}` is powered off",
                self.adapter_name
            ))),
            CentralState::PoweredOn | CentralState::Unknown => Ok(()),
        }
    }

    /// Puts `task` in the scan slot and ends the scan that was there;
    /// says whether one was still running.
    fn replace_scan(&self, task: Option<JoinHandle<()>>) -> bool {
        let mut slot = self.scan.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match std::mem::replace(&mut *slot, task) {
            Some(old) if !old.is_finished() => {
                old.abort();
                true
            }
            _ => false,
        }
    }

    async fn start_scan(&self) -> Result<BoxStream<'static, ScanEvent>, TransportError> {
        self.require_powered().await?;
        // Subscribe before starting discovery so no report is missed; the
        // stream opens with the devices BlueZ already knows.
        let events = self.adapter.events().await.map_err(stack_error)?;
        self.adapter
            .start_scan(ScanFilter {
                services: vec![SERVICE_UUID],
            })
            .await
            .map_err(stack_error)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run_scan(self.adapter.clone(), events, tx));
        // A new scan supersedes the old one; discovery keeps running for it.
        self.replace_scan(Some(task));
        Ok(UnboundedReceiverStream::new(rx).boxed())
    }
}

/// Forwards the adapter's reports as scan events until the stream's
/// receiver is dropped; then stops discovery.
async fn run_scan(
    adapter: Adapter,
    mut events: std::pin::Pin<Box<dyn futures::Stream<Item = CentralEvent> + Send>>,
    tx: mpsc::UnboundedSender<ScanEvent>,
) {
    // A scan starts only on a powered adapter.
    let mut powered = true;
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            () = tx.closed() => break,
        };
        let Some(event) = event else { break };
        let scan_event = match event {
            CentralEvent::DeviceDiscovered(id)
            | CentralEvent::DeviceUpdated(id)
            | CentralEvent::ManufacturerDataAdvertisement { id, .. }
            | CentralEvent::RssiUpdate { id, .. } => advertisement_of(&adapter, &id).await,
            CentralEvent::StateUpdate(state) => mapping::scan_event_for_state(&mut powered, &state),
            _ => None,
        };
        if let Some(scan_event) = scan_event {
            if tx.send(scan_event).is_err() {
                break;
            }
        }
    }
    if let Err(error) = adapter.stop_scan().await {
        tracing::debug!(%error, "stopping discovery after the scan ended");
    }
}

async fn advertisement_of(adapter: &Adapter, id: &btleplug::platform::PeripheralId) -> Option<ScanEvent> {
    let peripheral = adapter.peripheral(id).await.ok()?;
    let properties = peripheral.properties().await.ok()??;
    match mapping::advertisement_from_properties(id.to_string(), &properties) {
        Ok(advertisement) => Some(ScanEvent::AdvertisementSeen(advertisement)),
        Err(why) => {
            tracing::trace!(peripheral = %id, %why, "ignored a peripheral");
            None
        }
    }
}

fn stack_error(error: btleplug::Error) -> TransportError {
    TransportError::Stack(error.to_string())
}

impl Transport for BleTransport {
    fn scan(&self) -> BoxFuture<'_, Result<BoxStream<'static, ScanEvent>, TransportError>> {
        Box::pin(self.start_scan())
    }

    fn stop_scan(&self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            // BlueZ refuses to stop a discovery that is not running, so
            // only a running scan is stopped there.
            if self.replace_scan(None) {
                self.adapter.stop_scan().await.map_err(stack_error)?;
            }
            Ok(())
        })
    }

    fn connect(&self, peripheral: &PeripheralId) -> BoxFuture<'_, Result<Link, TransportError>> {
        let peripheral = peripheral.clone();
        Box::pin(async move {
            self.require_powered().await?;
            link::open(&self.adapter, peripheral).await
        })
    }
}

impl Drop for BleTransport {
    /// Ends a running scan; BlueZ keeps discovering until told, so it is
    /// told, when there is a runtime to tell it from.
    fn drop(&mut self) {
        if self.replace_scan(None) {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let adapter = self.adapter.clone();
                runtime.spawn(async move {
                    if let Err(error) = adapter.stop_scan().await {
                        tracing::debug!(%error, "stopping discovery after the transport was dropped");
                    }
                });
            }
        }
    }
}
