//! The scanner's shell: runs the [`Scanner`] machine in the generic
//! [`MachineActor`] and carries out its outputs — the transport's scan, the
//! list updates to each discovery's caller, and the identify command.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures::StreamExt;
use tokio::sync::{mpsc, watch};

use super::machine::Scanner;
use super::messages::{
    CancelDiscovery, DiscoveryId, ScanEnded, ScannerInput, ScannerOutput, StartDiscovery,
};
use super::{DiscoveryUpdate, SeenReaders};
use crate::cancelable::CancelOutcome;
use crate::protocol::{Command, ReaderMessage, Reassembler, Request, fragment};
use crate::reader::{Battery, BatteryStatus, Reader};
use crate::runtime::{Deliver, EffectContext, Effects, MachineActor};
use crate::transport::{Advertisement, LinkEvent, PeripheralId, ScanEvent, Transport, TransportError};

/// How long a found proximity reader flashes its LEDs (R4).
pub const IDENTIFY_DURATION: Duration = Duration::from_secs(3);
/// How long the shell waits for the reader to acknowledge the identify
/// command before it gives up and disconnects.
const IDENTIFY_ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// The scanner actor: the generic shell around the scanner machine.
pub type ScannerActor = MachineActor<Scanner, ScannerEffects>;

/// Carries out the scanner's outputs.
pub struct ScannerEffects {
    /// Where scans and identify links come from.
    transport: Arc<dyn Transport>,
    /// Each running discovery's update channel. Filled by the
    /// [`StartDiscovery`] handler, which only sees the effects by shared
    /// reference; emptied when the machine ends the discovery.
    sinks: RefCell<HashMap<DiscoveryId, mpsc::UnboundedSender<DiscoveryUpdate>>>,
    /// Every reader heard, for [`super::ScannerHandle::reader`].
    seen: SeenReaders,
    /// Whether a scan runs, for the terminal's `Discovering` status.
    discovering: watch::Sender<bool>,
    /// Counts scans, so that a late failure of an old scan cannot end the
    /// discovery of a newer one.
    generation: u64,
    /// The task pumping the current scan's events into the machine.
    pump: Option<tokio::task::JoinHandle<()>>,
    /// The last stop request to the transport; the next scan waits for it,
    /// so a stop cannot end the scan started after it.
    stopping: Option<tokio::task::JoinHandle<()>>,
}

impl ScannerEffects {
    /// Effects on `transport`, recording heard readers in `seen` and the
    /// discovering status in `discovering`.
    pub(crate) fn new(transport: Arc<dyn Transport>, seen: SeenReaders, discovering: watch::Sender<bool>) -> Self {
        Self {
            transport,
            sinks: RefCell::default(),
            seen,
            discovering,
            generation: 0,
            pump: None,
            stopping: None,
        }
    }

    fn start_scan(&mut self, addr: Addr<ScannerActor>) {
        self.generation += 1;
        let generation = self.generation;
        self.discovering.send_replace(true);
        let transport = self.transport.clone();
        let seen = self.seen.clone();
        let stopping = self.stopping.take();
        self.pump = Some(actix_rt::spawn(async move {
            if let Some(stopping) = stopping {
                let _ = stopping.await;
            }
            let mut events = match transport.scan().await {
                Ok(events) => events,
                Err(error) => {
                    addr.do_send(ScanEnded { generation, error });
                    return;
                }
            };
            while let Some(event) = events.next().await {
                let input = match event {
                    ScanEvent::AdvertisementSeen(adv) => {
                        remember(&seen, &adv);
                        ScannerInput::AdvertisementSeen(adv)
                    }
                    ScanEvent::AdapterPowerChanged { powered } => ScannerInput::AdapterPowerChanged { powered },
                };
                addr.do_send(Deliver::from("transport", input));
            }
            addr.do_send(ScanEnded {
                generation,
                error: TransportError::Stack("the scan stream ended".into()),
            });
        }));
    }

    fn stop_scan(&mut self) {
        if let Some(pump) = self.pump.take() {
            pump.abort();
        }
        let transport = self.transport.clone();
        self.stopping = Some(actix_rt::spawn(async move {
            let _ = transport.stop_scan().await;
        }));
        self.discovering.send_replace(false);
    }
}

/// Records an advertisement in the heard-readers table; details only the
/// long form carries are kept when a short one omits them.
fn remember(seen: &SeenReaders, adv: &Advertisement) {
    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    let r = &adv.reader;
    let battery = r.battery_percent.map(|percent| {
        let level = f32::from(percent) / 100.0;
        Battery {
            level,
            status: BatteryStatus::for_level(level),
            charging: false,
        }
    });
    match seen.get_mut(&r.serial_number) {
        Some(reader) => {
            reader.device_type = r.device_type;
            reader.rssi = Some(adv.rssi);
            reader.peripheral.clone_from(&adv.peripheral);
            if battery.is_some() {
                reader.battery = battery;
            }
            if r.software_version.is_some() {
                reader.software_version.clone_from(&r.software_version);
            }
        }
        None => {
            seen.insert(
                r.serial_number.clone(),
                Reader {
                    serial_number: r.serial_number.clone(),
                    device_type: r.device_type,
                    software_version: r.software_version.clone(),
                    battery,
                    rssi: Some(adv.rssi),
                    peripheral: adv.peripheral.clone(),
                },
            );
        }
    }
}

/// Connects to `peripheral`, sends it `Identify`, waits (briefly) for the
/// acknowledgement and disconnects.
async fn identify(transport: Arc<dyn Transport>, peripheral: PeripheralId) -> Result<(), TransportError> {
    const REQUEST: u16 = 1;
    let mut link = transport.connect(&peripheral).await?;
    let duration_ms = IDENTIFY_DURATION.as_millis().min(u128::from(u16::MAX)) as u16;
    let frame = Request::new(REQUEST, Command::Identify { duration_ms }).encode();
    let mut result = Ok(());
    for payload in fragment(&frame, link.att_payload) {
        if let Err(e) = link.writer.write(payload).await {
            result = Err(e);
            break;
        }
    }
    if result.is_ok() {
        let peripheral = peripheral.clone();
        let answer = async {
            let mut reassembler = Reassembler::new();
            while let Some(event) = link.events.next().await {
                match event {
                    LinkEvent::NotificationReceived(payload) => {
                        let Ok(Some(frame)) = reassembler.push(&payload) else {
                            continue;
                        };
                        match ReaderMessage::decode(&frame) {
                            Ok(ReaderMessage::Ack { request_id: REQUEST }) => return Ok(()),
                            Ok(ReaderMessage::Error {
                                request_id: REQUEST,
                                code,
                            }) => {
                                return Err(TransportError::Stack(format!(
                                    "reader `{peripheral}` refused identify: {code:?}"
                                )));
                            }
                            _ => {}
                        }
                    }
                    LinkEvent::LinkLost(_) => break,
                }
            }
            Err(TransportError::LinkDown(peripheral.clone()))
        };
        result = tokio::time::timeout(IDENTIFY_ACK_TIMEOUT, answer)
            .await
            .unwrap_or_else(|_| {
                Err(TransportError::Stack(format!(
                    "reader `{peripheral}` did not acknowledge identify within {IDENTIFY_ACK_TIMEOUT:?}"
                )))
            });
    }
    let _ = link.writer.disconnect().await;
    result
}

impl Effects<Scanner> for ScannerEffects {
    fn perform(&mut self, output: ScannerOutput, ctx: &mut EffectContext<'_, Scanner, Self>) {
        match output {
            ScannerOutput::StartScan => self.start_scan(ctx.address()),
            ScannerOutput::StopScan => self.stop_scan(),
            ScannerOutput::ReportReaders { discovery, readers } => {
                if let Some(sink) = self.sinks.borrow().get(&discovery) {
                    let _ = sink.send(DiscoveryUpdate::ReadersUpdated(readers));
                }
            }
            ScannerOutput::EndDiscovery { discovery, result } => {
                if let Some(sink) = self.sinks.borrow_mut().remove(&discovery) {
                    let _ = sink.send(DiscoveryUpdate::Finished(result));
                }
            }
            ScannerOutput::IdentifyReader { serial, peripheral } => {
                let transport = self.transport.clone();
                ctx.spawn_then("effect", async move {
                    let result = identify(transport, peripheral).await;
                    Some(ScannerInput::IdentifyFinished { serial, result })
                });
            }
        }
    }
}

impl Handler<StartDiscovery> for ScannerActor {
    type Result = ();

    fn handle(&mut self, msg: StartDiscovery, ctx: &mut Self::Context) {
        self.effects().sinks.borrow_mut().insert(msg.discovery, msg.updates);
        let input = ScannerInput::DiscoveryRequested {
            discovery: msg.discovery,
            config: msg.config,
        };
        self.deliver("app".into(), input, ctx);
    }
}

impl Handler<CancelDiscovery> for ScannerActor {
    type Result = MessageResult<CancelDiscovery>;

    fn handle(&mut self, msg: CancelDiscovery, ctx: &mut Self::Context) -> Self::Result {
        if !self.effects().sinks.borrow().contains_key(&msg.discovery) {
            return MessageResult(CancelOutcome::AlreadyEnded);
        }
        let input = ScannerInput::CancelRequested {
            discovery: msg.discovery,
        };
        self.deliver("app".into(), input, ctx);
        MessageResult(CancelOutcome::Cancelled)
    }
}

impl Handler<ScanEnded> for ScannerActor {
    type Result = ();

    fn handle(&mut self, msg: ScanEnded, ctx: &mut Self::Context) {
        if msg.generation == self.effects().generation && self.effects().pump.is_some() {
            self.deliver("transport".into(), ScannerInput::ScanFailed(msg.error), ctx);
        }
    }
}
