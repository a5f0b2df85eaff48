//! The scanner's shell: runs the [`Scanner`] machine in the generic
//! [`MachineActor`] and carries out its outputs — the transport's scan, the
//! list updates to each discovery's caller, the answers to cancels, and the
//! identify command. It decides none of them: whether a cancel found its
//! discovery running, and how long the identify acknowledgement may take,
//! are the machine's (and so in the trace).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot, watch};

use super::machine::Scanner;
use super::messages::{CancelDiscovery, DiscoveryId, ScanId, ScannerInput, ScannerOutput, StartDiscovery};
use super::{DiscoveryUpdate, SeenReaders};
use crate::cancelable::{CancelCall, CancelOutcome};
use crate::protocol::{Command, ReaderMessage, Reassembler, Request, fragment};
use crate::reader::{Battery, BatteryStatus, Reader, SerialNumber};
use crate::runtime::{Deliver, EffectContext, Effects, MachineActor};
use crate::transport::{Advertisement, LinkEvent, PeripheralId, ScanEvent, Transport, TransportError};

/// How long a found proximity reader flashes its LEDs (R4).
pub const IDENTIFY_DURATION: Duration = Duration::from_secs(3);

/// The scanner actor: the generic shell around the scanner machine.
pub type ScannerActor = MachineActor<Scanner, ScannerEffects>;

/// Where one discovery's updates go.
struct Sink {
    /// The caller's update channel.
    updates: mpsc::UnboundedSender<DiscoveryUpdate>,
    /// Dropped when the machine ends the discovery, which stops watching
    /// for the caller dropping its stream (so only a discovery the machine
    /// has not ended is reported dropped).
    _ended: oneshot::Sender<()>,
}

/// Carries out the scanner's outputs.
pub struct ScannerEffects {
    /// Where scans and identify links come from.
    transport: Arc<dyn Transport>,
    /// Each discovery's update channel, from the [`StartDiscovery`] handler
    /// until the machine ends the discovery.
    sinks: HashMap<DiscoveryId, Sink>,
    /// The next number for a cancel call.
    next_call: CancelCall,
    /// The machine's answers to cancel calls, taken by the
    /// [`CancelDiscovery`] handler right after it delivered the call.
    answers: HashMap<CancelCall, CancelOutcome>,
    /// Each identify under way that the machine may abandon, by reader.
    identifying: HashMap<SerialNumber, oneshot::Sender<()>>,
    /// Every reader heard, for [`super::ScannerHandle::reader`].
    seen: SeenReaders,
    /// Whether a scan runs, for the terminal's `Discovering` status.
    discovering: watch::Sender<bool>,
    /// The task pumping the current scan's events into the machine.
    pump: Option<tokio::task::JoinHandle<()>>,
    /// The last stop request to the transport; the next scan waits for it,
    /// so a stop cannot end the scan started after it.
    stopping: Option<tokio::task::JoinHandle<()>>,
}

impl ScannerEffects {
    /// Effects on `transport`, recording heard readers in `seen` and the
    /// discovering status in `discovering`.
    pub(crate) fn new(
        transport: Arc<dyn Transport>,
        seen: SeenReaders,
        discovering: watch::Sender<bool>,
    ) -> Self {
        Self {
            transport,
            sinks: HashMap::new(),
            next_call: 1,
            answers: HashMap::new(),
            identifying: HashMap::new(),
            seen,
            discovering,
            pump: None,
            stopping: None,
        }
    }

    fn start_scan(&mut self, scan: ScanId, addr: Addr<ScannerActor>) {
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
                    addr.do_send(Deliver::from(
                        "transport",
                        ScannerInput::ScanFailed { scan, error },
                    ));
                    return;
                }
            };
            while let Some(event) = events.next().await {
                let input = match event {
                    ScanEvent::AdvertisementSeen(adv) => {
                        remember(&seen, &adv);
                        ScannerInput::AdvertisementSeen(adv)
                    }
                    ScanEvent::AdapterPowerChanged { powered } => {
                        ScannerInput::AdapterPowerChanged { powered }
                    }
                };
                addr.do_send(Deliver::from("transport", input));
            }
            let error = TransportError::Stack("the scan stream ended".into());
            addr.do_send(Deliver::from(
                "transport",
                ScannerInput::ScanFailed { scan, error },
            ));
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
                    available_update: None,
                },
            );
        }
    }
}

/// Connects to `peripheral`, sends it `Identify`, reports `IdentifySent`,
/// waits for the reader's answer (until `abandon` fires) and disconnects;
/// reports `IdentifyFinished` unless the machine abandoned it. Both reports
/// go through the mailbox, so they arrive in order.
async fn identify(
    transport: Arc<dyn Transport>,
    serial: SerialNumber,
    peripheral: PeripheralId,
    addr: Addr<ScannerActor>,
    abandon: oneshot::Receiver<()>,
) {
    const REQUEST: u16 = 1;
    let report = |input| addr.do_send(Deliver::from("effect", input));
    let mut link = match transport.connect(&peripheral).await {
        Ok(link) => link,
        Err(error) => {
            report(ScannerInput::IdentifyFinished {
                serial,
                result: Err(error),
            });
            return;
        }
    };
    let duration_ms = IDENTIFY_DURATION.as_millis().min(u128::from(u16::MAX)) as u16;
    let frame = Request::new(REQUEST, Command::Identify { duration_ms }).encode();
    let mut written = Ok(());
    for payload in fragment(&frame, link.att_payload) {
        if let Err(e) = link.writer.write(payload).await {
            written = Err(e);
            break;
        }
    }
    let result = match written {
        Err(error) => Some(Err(error)),
        Ok(()) => {
            report(ScannerInput::IdentifySent {
                serial: serial.clone(),
            });
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
            tokio::select! {
                biased;
                _ = abandon => None,
                result = answer => Some(result),
            }
        }
    };
    let _ = link.writer.disconnect().await;
    if let Some(result) = result {
        report(ScannerInput::IdentifyFinished { serial, result });
    }
}

impl Effects<Scanner> for ScannerEffects {
    fn perform(&mut self, output: ScannerOutput, ctx: &mut EffectContext<'_, Scanner, Self>) {
        match output {
            ScannerOutput::StartScan { scan } => self.start_scan(scan, ctx.address()),
            ScannerOutput::StopScan => self.stop_scan(),
            ScannerOutput::ReportReaders { discovery, readers } => {
                if let Some(sink) = self.sinks.get(&discovery) {
                    let _ = sink.updates.send(DiscoveryUpdate::ReadersUpdated(readers));
                }
            }
            ScannerOutput::EndDiscovery { discovery, result } => {
                if let Some(sink) = self.sinks.remove(&discovery) {
                    let _ = sink.updates.send(DiscoveryUpdate::Finished(result));
                }
            }
            ScannerOutput::CancelAnswered { call, outcome } => {
                self.answers.insert(call, outcome);
            }
            ScannerOutput::IdentifyReader { serial, peripheral } => {
                // Forget identifies that ended on their own.
                self.identifying.retain(|_, abandon| !abandon.is_closed());
                let (abandon_tx, abandon) = oneshot::channel();
                self.identifying.insert(serial.clone(), abandon_tx);
                let (transport, addr) = (self.transport.clone(), ctx.address());
                actix_rt::spawn(identify(transport, serial, peripheral, addr, abandon));
            }
            ScannerOutput::AbandonIdentify { serial } => {
                if let Some(abandon) = self.identifying.remove(&serial) {
                    let _ = abandon.send(());
                }
            }
        }
    }
}

impl Handler<StartDiscovery> for ScannerActor {
    type Result = ();

    fn handle(&mut self, msg: StartDiscovery, ctx: &mut Self::Context) {
        // An app that drops its discovery's stream without cancelling it
        // must not leave the scanner scanning (and the status
        // `Discovering`) for ever: the machine hears of the drop, unless it
        // ended the discovery first.
        let discovery = msg.discovery;
        let updates = msg.updates.clone();
        let (ended_tx, ended) = oneshot::channel::<()>();
        ctx.spawn(
            actix::fut::wrap_future::<_, Self>(async move {
                tokio::select! {
                    biased;
                    _ = ended => false,
                    () = updates.closed() => true,
                }
            })
            .map(move |dropped, actor, ctx| {
                if dropped {
                    actor.deliver("app".into(), ScannerInput::UpdatesDropped { discovery }, ctx);
                }
            }),
        );
        let sink = Sink {
            updates: msg.updates,
            _ended: ended_tx,
        };
        self.effects_mut().sinks.insert(msg.discovery, sink);
        let input = ScannerInput::DiscoveryRequested {
            discovery: msg.discovery,
            config: msg.config,
        };
        self.deliver("app".into(), input, ctx);
    }
}

impl Handler<CancelDiscovery> for ScannerActor {
    type Result = MessageResult<CancelDiscovery>;

    /// Delivers the cancel and returns the machine's answer, which it gave
    /// while handling it.
    fn handle(&mut self, msg: CancelDiscovery, ctx: &mut Self::Context) -> Self::Result {
        let effects = self.effects_mut();
        let call = effects.next_call;
        effects.next_call += 1;
        let input = ScannerInput::CancelRequested {
            discovery: msg.discovery,
            call,
        };
        self.deliver("app".into(), input, ctx);
        // No answer only if the machine panicked on it: its discovery is gone.
        let outcome = self.effects_mut().answers.remove(&call);
        MessageResult(outcome.unwrap_or(CancelOutcome::AlreadyEnded))
    }
}
