//! Connecting to a reader, and the link that follows: a writer to the
//! command characteristic and a stream of notifications that ends with the
//! link's loss.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use btleplug::api::{Central, CentralEvent, CentralState, Characteristic, Peripheral as _, WriteType};
use btleplug::platform::{Adapter, Peripheral};
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use tokio::sync::{Notify, mpsc};
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::{mapping, stack_error};
use crate::transport::{
    EVENT_CHARACTERISTIC_UUID, Link, LinkEvent, LinkLossCause, LinkWriter, PeripheralId, SERVICE_UUID,
    TransportError,
};

/// What the writer and the link's event task share.
struct LinkState {
    /// The link is gone: writes fail with [`TransportError::LinkDown`].
    ended: AtomicBool,
    /// The app asked to close the link, so its loss is
    /// [`LinkLossCause::LocalClosed`].
    closing: AtomicBool,
    /// Wakes the event task once the app's disconnect went through.
    closed: Notify,
}

/// Connects, discovers the readerlink service and subscribes to its event
/// characteristic.
pub(super) async fn open(adapter: &Adapter, id: PeripheralId) -> Result<Link, TransportError> {
    let peripheral = find(adapter, &id).await?;
    let connect_failed = |error: btleplug::Error| TransportError::ConnectFailed {
        peripheral: id.clone(),
        reason: error.to_string(),
    };
    // Subscribed before connecting, so a loss right after the connect is seen.
    let central_events = adapter.events().await.map_err(stack_error)?;
    if !peripheral.is_connected().await.map_err(connect_failed)? {
        peripheral.connect().await.map_err(connect_failed)?;
    }
    peripheral.discover_services().await.map_err(connect_failed)?;
    let (command, event) = mapping::reader_characteristics(&peripheral.services())
        .ok_or_else(|| TransportError::ServiceMissing(id.clone()))?;
    let notifications = peripheral.notifications().await.map_err(connect_failed)?;
    peripheral.subscribe(&event).await.map_err(connect_failed)?;
    let att_payload = mapping::att_payload_for_mtu(peripheral.mtu());
    tracing::debug!(peripheral = %id, att_payload, "link open");

    let state = Arc::new(LinkState {
        ended: AtomicBool::new(false),
        closing: AtomicBool::new(false),
        closed: Notify::new(),
    });
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run_link(
        adapter.clone(),
        peripheral.clone(),
        central_events,
        notifications,
        Arc::clone(&state),
        tx,
    ));
    Ok(Link {
        peripheral: id.clone(),
        att_payload,
        writer: Box::new(BleLinkWriter {
            id,
            peripheral,
            command,
            state,
        }),
        events: UnboundedReceiverStream::new(rx).boxed(),
    })
}

/// The peripheral BlueZ knows under our id (`hci0/dev_C0_FF_EE_00_00_01`).
async fn find(adapter: &Adapter, id: &PeripheralId) -> Result<Peripheral, TransportError> {
    let peripherals = adapter.peripherals().await.map_err(stack_error)?;
    peripherals
        .into_iter()
        .find(|peripheral| peripheral.id().to_string() == *id)
        .ok_or_else(|| TransportError::UnknownPeripheral(id.clone()))
}

type Events<T> = Pin<Box<dyn Stream<Item = T> + Send>>;

/// Forwards the event characteristic's notifications until the link is
/// lost, then reports why and ends the stream. Dropping the stream closes
/// the link, as the simulated transport does.
async fn run_link(
    adapter: Adapter,
    device: Peripheral,
    mut central_events: Events<CentralEvent>,
    mut notifications: Events<btleplug::api::ValueNotification>,
    state: Arc<LinkState>,
    tx: mpsc::UnboundedSender<LinkEvent>,
) {
    let peripheral = device.id();
    let cause = loop {
        tokio::select! {
            notification = notifications.next() => match notification {
                Some(n) if n.service_uuid == SERVICE_UUID && n.uuid == EVENT_CHARACTERISTIC_UUID => {
                    if tx.send(LinkEvent::NotificationReceived(n.value)).is_err() {
                        break close_abandoned(&device, &state).await;
                    }
                }
                Some(_) => {}
                None => {
                    tracing::warn!(%peripheral, "the Bluetooth stack ended the notification stream");
                    break LinkLossCause::SignalLost;
                }
            },
            event = central_events.next() => match event {
                Some(CentralEvent::DeviceDisconnected(id)) if id == peripheral => {
                    let adapter_state = adapter.adapter_state().await.unwrap_or(CentralState::Unknown);
                    break mapping::link_loss_cause(state.closing.load(Ordering::SeqCst), &adapter_state);
                }
                Some(CentralEvent::StateUpdate(CentralState::PoweredOff)) => {
                    break mapping::link_loss_cause(state.closing.load(Ordering::SeqCst), &CentralState::PoweredOff);
                }
                Some(_) => {}
                None => {
                    tracing::warn!(%peripheral, "the Bluetooth stack ended the adapter event stream");
                    break LinkLossCause::SignalLost;
                }
            },
            () = state.closed.notified() => break LinkLossCause::LocalClosed,
            () = tx.closed() => break close_abandoned(&device, &state).await,
        }
    };
    state.ended.store(true, Ordering::SeqCst);
    tracing::debug!(%peripheral, ?cause, "link lost");
    let _ = tx.send(LinkEvent::LinkLost(cause));
}

/// Closes a link whose event stream nobody reads any more.
async fn close_abandoned(device: &Peripheral, state: &LinkState) -> LinkLossCause {
    state.closing.store(true, Ordering::SeqCst);
    if let Err(error) = device.disconnect().await {
        tracing::debug!(peripheral = %device.id(), %error, "closing an abandoned link");
    }
    LinkLossCause::LocalClosed
}

/// Writes to the command characteristic (write without response).
struct BleLinkWriter {
    id: PeripheralId,
    peripheral: Peripheral,
    command: Characteristic,
    state: Arc<LinkState>,
}

impl LinkWriter for BleLinkWriter {
    fn write(&self, payload: Vec<u8>) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            if self.state.ended.load(Ordering::SeqCst) {
                return Err(TransportError::LinkDown(self.id.clone()));
            }
            self.peripheral
                .write(&self.command, &payload, WriteType::WithoutResponse)
                .await
                .map_err(|error| {
                    if self.state.ended.load(Ordering::SeqCst) {
                        TransportError::LinkDown(self.id.clone())
                    } else {
                        stack_error(error)
                    }
                })
        })
    }

    fn disconnect(&self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            if self.state.ended.load(Ordering::SeqCst) {
                return Ok(());
            }
            self.state.closing.store(true, Ordering::SeqCst);
            let result = self.peripheral.disconnect().await.map_err(stack_error);
            // notify_one keeps the wake-up if the task is not waiting yet.
            self.state.closed.notify_one();
            result
        })
    }
}
