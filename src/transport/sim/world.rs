//! The simulated world: the fleet's readers, each a [`SimReader`] driven by
//! a tokio task on tokio time, the links to them, and the controls tests
//! and scenarios use to change the world (by serial number).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::fleet::{Fleet, ReaderSpec};
use super::link::{self, Airtime, LinkModel};
use super::reader::{ReaderOutput, SimReader, SimReaderState, Unreachable};
use crate::protocol::MAX_ATT_PAYLOAD;
use crate::reader::SerialNumber;
use crate::runtime::Millis;
use crate::transport::{
    Advertisement, Link, LinkEvent, LinkLossCause, LinkWriter, PeripheralId, ScanEvent, TransportError,
};

/// How often each reader advertises.
pub const ADVERTISING_INTERVAL: Duration = Duration::from_millis(250);
/// How long a connect keeps trying to reach a reader that does not
/// advertise (off, booting, out of range) before it fails.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_RETRY: Duration = Duration::from_millis(100);

/// What a world control can get wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// No reader with this serial number is in the world.
    #[error("no simulated reader with serial `{0}`")]
    UnknownReader(SerialNumber),
}

/// One item a link's forwarding task carries to the central.
#[derive(Debug)]
enum Downlink {
    Payload(Vec<u8>),
    Lost(LinkLossCause),
}

/// The world's end of one link.
#[derive(Debug)]
struct LinkEnd {
    id: u64,
    to_central: mpsc::UnboundedSender<Downlink>,
    /// Set when the link is gone: writes fail.
    closed: Arc<AtomicBool>,
    /// Set when the link is gone any way but the reader closing it:
    /// notifications not yet delivered are lost with it.
    silenced: Arc<AtomicBool>,
}

impl LinkEnd {
    fn end(self, cause: LinkLossCause) {
        self.closed.store(true, Ordering::SeqCst);
        if cause != LinkLossCause::RemoteClosed {
            self.silenced.store(true, Ordering::SeqCst);
        }
        let _ = self.to_central.send(Downlink::Lost(cause));
    }
}

#[derive(Debug)]
struct Cell {
    reader: SimReader,
    link: Option<LinkEnd>,
}

#[derive(Debug)]
struct ReaderCell {
    state: Mutex<Cell>,
    wake: Notify,
}

#[derive(Debug)]
struct Inner {
    epoch: Instant,
    model: LinkModel,
    seed: u64,
    readers: BTreeMap<SerialNumber, Arc<ReaderCell>>,
    rng: Mutex<ChaCha8Rng>,
    next_link_id: AtomicU64,
    adapter_powered: AtomicBool,
    scan: Mutex<Option<(JoinHandle<()>, mpsc::UnboundedSender<ScanEvent>)>>,
}

impl Inner {
    fn now(&self) -> Millis {
        Instant::now().saturating_duration_since(self.epoch).as_millis() as Millis
    }

    fn cell(&self, serial: &SerialNumber) -> Result<&Arc<ReaderCell>, SimError> {
        self.readers
            .get(serial)
            .ok_or_else(|| SimError::UnknownReader(serial.clone()))
    }
}

/// Carries out a reader's outputs on its link.
fn dispatch(cell: &mut Cell) {
    for output in cell.reader.take_outputs() {
        match output {
            ReaderOutput::Notify(payload) => {
                if let Some(link) = &cell.link {
                    let _ = link.to_central.send(Downlink::Payload(payload));
                }
            }
            ReaderOutput::LinkClosed(cause) => {
                if let Some(link) = cell.link.take() {
                    link.end(cause);
                }
            }
        }
    }
}

/// A simulated world of readers. Cheap to clone (a handle); create it
/// inside a tokio runtime (it spawns one task per reader). Everything in it
/// runs on tokio time and is deterministic from the fleet's seed, so on a
/// paused clock hours pass in milliseconds.
///
/// Controls take a serial number and fail with [`SimError::UnknownReader`]
/// for one not in the world.
#[derive(Debug, Clone)]
pub struct SimWorld {
    inner: Arc<Inner>,
}

impl SimWorld {
    /// A world of the fleet's readers, all up and advertising now.
    pub fn new(fleet: Fleet) -> Self {
        let epoch = Instant::now();
        let readers = fleet
            .readers
            .iter()
            .map(|spec| {
                // A low-battery update preset runs the reader below 50 %
                // (R14), as the reference's simulated reader does.
                let spec = &spec.with_update_preset_battery(fleet.seed);
                let cell = Arc::new(ReaderCell {
                    state: Mutex::new(Cell {
                        reader: SimReader::new(spec, 0),
                        link: None,
                    }),
                    wake: Notify::new(),
                });
                (spec.serial.clone(), cell)
            })
            .collect();
        let inner = Arc::new(Inner {
            epoch,
            model: fleet.link.clone(),
            seed: fleet.seed,
            readers,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(fleet.seed)),
            next_link_id: AtomicU64::new(1),
            adapter_powered: AtomicBool::new(true),
            scan: Mutex::new(None),
        });
        for cell in inner.readers.values() {
            tokio::spawn(drive(Arc::downgrade(&inner), cell.clone()));
        }
        Self { inner }
    }

    /// A world of the embedded example fleet ([`Fleet::example`]).
    pub fn example() -> Self {
        Self::new(Fleet::example())
    }

    /// A world of the given readers, seed 0, default link.
    pub fn with_readers(readers: Vec<ReaderSpec>) -> Self {
        Self::new(Fleet {
            seed: 0,
            link: LinkModel::default(),
            readers,
        })
    }

    /// The [`crate::transport::Transport`] onto this world.
    pub fn transport(&self) -> super::SimTransport {
        super::SimTransport::new(self.clone())
    }

    /// The seed everything random in the world comes from.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// The link model.
    pub fn link_model(&self) -> &LinkModel {
        &self.inner.model
    }

    /// Virtual ms since the world started.
    pub fn now(&self) -> Millis {
        self.inner.now()
    }

    /// Every reader's serial number, in order.
    pub fn serials(&self) -> Vec<SerialNumber> {
        self.inner.readers.keys().cloned().collect()
    }

    /// Runs `f` on a reader at the current time, then carries out what it
    /// did and wakes its driver.
    fn with_reader<T>(
        &self,
        serial: &SerialNumber,
        f: impl FnOnce(&mut SimReader, Millis) -> T,
    ) -> Result<T, SimError> {
        let cell = self.inner.cell(serial)?;
        let now = self.inner.now();
        let result = {
            let mut state = cell.state.lock().expect("reader lock");
            let result = f(&mut state.reader, now);
            dispatch(&mut state);
            result
        };
        cell.wake.notify_one();
        Ok(result)
    }

    fn supervision(&self) -> Duration {
        Duration::from_millis(self.inner.model.supervision_timeout_ms)
    }

    /// A reader's state now: powered, connected, asleep, battery, active
    /// slot and version, identify count and flashing, and more.
    pub fn reader_state(&self, serial: &SerialNumber) -> Result<SimReaderState, SimError> {
        self.with_reader(serial, |r, now| {
            r.advance(now);
            r.state(now)
        })
    }

    /// Moves a reader to `distance_m` metres from the host (its RSSI
    /// follows); beyond range a connected reader loses its link.
    pub fn move_reader(&self, serial: &SerialNumber, distance_m: f32) -> Result<(), SimError> {
        self.with_reader(serial, |r, now| r.move_to(now, distance_m))
    }

    /// Someone switches the reader off with its button: it sends
    /// `Disconnecting { PoweredOff }` and drops the link.
    pub fn power_off(&self, serial: &SerialNumber) -> Result<(), SimError> {
        self.with_reader(serial, |r, now| r.power_off(now))
    }

    /// The reader loses power at once: no goodbye; the central sees the
    /// link time out (signal lost).
    pub fn cut_power(&self, serial: &SerialNumber) -> Result<(), SimError> {
        self.with_reader(serial, |r, now| r.cut_power(now))
    }

    /// Switches the reader on: it boots, then advertises.
    pub fn power_on(&self, serial: &SerialNumber) -> Result<(), SimError> {
        self.with_reader(serial, |r, now| r.power_on(now))
    }

    /// The reader's radio is cut off for `duration` (`None`: until
    /// [`SimWorld::restore_link`]): its link is lost (signal lost) and it
    /// can be neither heard nor connected meanwhile.
    pub fn lose_link(&self, serial: &SerialNumber, duration: Option<Duration>) -> Result<(), SimError> {
        self.with_reader(serial, |r, now| {
            let until = duration.map_or(Millis::MAX, |d| now.saturating_add(d.as_millis() as Millis));
            r.block_radio(now, until)
        })
    }

    /// Ends a [`SimWorld::lose_link`].
    pub fn restore_link(&self, serial: &SerialNumber) -> Result<(), SimError> {
        self.with_reader(serial, |r, now| r.restore_radio(now))
    }

    /// Sets a reader's battery level (clamped to [0, 1]); at the critical
    /// level it powers down.
    pub fn set_battery(&self, serial: &SerialNumber, level: f32) -> Result<(), SimError> {
        self.with_reader(serial, |r, now| r.set_battery(now, level))
    }

    /// Puts a reader on or off its charger.
    pub fn set_charging(&self, serial: &SerialNumber, charging: bool) -> Result<(), SimError> {
        self.with_reader(serial, |r, now| r.set_charging(now, charging))
    }

    /// A card is inserted into the reader (`CardInserted`).
    pub fn insert_card(&self, serial: &SerialNumber) -> Result<(), SimError> {
        self.with_reader(serial, |r, now| r.insert_card(now))
    }

    /// The card is removed (`CardRemoved`).
    pub fn remove_card(&self, serial: &SerialNumber) -> Result<(), SimError> {
        self.with_reader(serial, |r, now| r.remove_card(now))
    }

    /// Makes a reader that is up as if it had booted `uptime` ago (off or
    /// booting, it does nothing): it reports this uptime at the next hello
    /// (`ReaderInfo::uptime_ms`), and an M2 or WisePad 3 reboots itself
    /// when the uptime reaches 24 h (R12). "A reader that reports 23 h of
    /// uptime at connect" is `set_uptime(serial, 23 h)` before the connect.
    pub fn set_uptime(&self, serial: &SerialNumber, uptime: Duration) -> Result<(), SimError> {
        self.with_reader(serial, |r, now| r.set_uptime(now, uptime.as_millis() as Millis))
    }

    /// The reader's next install fails once `percent` of the image is
    /// written (`Error { InstallFailed }`; the old slot stays active).
    pub fn fail_next_install_at(&self, serial: &SerialNumber, percent: u8) -> Result<(), SimError> {
        self.with_reader(serial, |r, now| r.fail_next_install_at(now, percent))
    }

    /// The reader's next image booted on trial fails to confirm itself: it
    /// crashes (the link drops, no goodbye) and the reader reboots into
    /// its old slot (R19). The install's commit was still answered `Ack`.
    pub fn fail_next_confirm(&self, serial: &SerialNumber) -> Result<(), SimError> {
        self.with_reader(serial, |r, now| r.fail_next_confirm(now))
    }

    /// The reader's link carries `payload` as one notification the reader
    /// did not send: garbage, or a frame mangled in the air (interference,
    /// a faulty reader). It takes its turn on the link after what the
    /// reader already queued, and lands in whatever frame the central was
    /// reassembling. Nothing happens when the reader has no link.
    pub fn inject_notification(&self, serial: &SerialNumber, payload: Vec<u8>) -> Result<(), SimError> {
        let cell = self.inner.cell(serial)?;
        let state = cell.state.lock().expect("reader lock");
        if let Some(link) = &state.link {
            let _ = link.to_central.send(Downlink::Payload(payload));
        }
        Ok(())
    }

    /// Powers the host's Bluetooth adapter off or on. Off: every link drops
    /// ([`LinkLossCause::AdapterPoweredOff`]), the running scan reports
    /// [`ScanEvent::AdapterPowerChanged`] and hears nothing, and connects
    /// and new scans fail with [`TransportError::AdapterUnavailable`].
    pub fn set_adapter_powered(&self, powered: bool) {
        let was = self.inner.adapter_powered.swap(powered, Ordering::SeqCst);
        if was == powered {
            return;
        }
        if !powered {
            for serial in self.serials() {
                let _ = self.with_reader(&serial, |r, now| r.adapter_lost(now));
            }
        }
        if let Some((_, events)) = self.inner.scan.lock().expect("scan lock").as_ref() {
            let _ = events.send(ScanEvent::AdapterPowerChanged { powered });
        }
    }

    /// Opens a link straight to a reader's wire-protocol peer, without
    /// connection set-up time and without going through [`super::SimTransport`]:
    /// a duplex pipe of ATT payloads (written to the command
    /// characteristic; notified on the event characteristic) that follows
    /// the same link timing model. For bridges to other stacks (a BlueZ
    /// D-Bus mock) and for tests.
    ///
    /// Fails with [`TransportError::UnknownPeripheral`] for a serial not in
    /// the world, [`TransportError::AdapterUnavailable`] when the adapter is
    /// off, and [`TransportError::ConnectFailed`] when the reader cannot be
    /// reached now (off, booting, out of range, radio cut off, or already
    /// connected).
    pub fn open_raw_link(&self, serial: &SerialNumber) -> Result<RawLink, TransportError> {
        if !self.inner.adapter_powered.load(Ordering::SeqCst) {
            return Err(TransportError::AdapterUnavailable(
                "the adapter is powered off".into(),
            ));
        }
        let cell = self
            .inner
            .cell(serial)
            .map_err(|_| TransportError::UnknownPeripheral(serial.to_string()))?;
        let now = self.inner.now();
        let id = self.inner.next_link_id.fetch_add(1, Ordering::SeqCst);
        let closed = Arc::new(AtomicBool::new(false));
        let silenced = Arc::new(AtomicBool::new(false));
        let (to_central, downlink) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let att_payload = {
            let mut state = cell.state.lock().expect("reader lock");
            let att_payload =
                state
                    .reader
                    .link_opened(now, MAX_ATT_PAYLOAD)
                    .map_err(|why: Unreachable| TransportError::ConnectFailed {
                        peripheral: serial.to_string(),
                        reason: why.to_string(),
                    })?;
            state.link = Some(LinkEnd {
                id,
                to_central,
                closed: closed.clone(),
                silenced: silenced.clone(),
            });
            dispatch(&mut state);
            att_payload
        };
        cell.wake.notify_one();
        let opened = Instant::now();
        let writer = RawLinkWriter {
            world: Arc::downgrade(&self.inner),
            serial: serial.clone(),
            link_id: id,
            att_payload,
            closed,
            reported: Arc::new(AtomicBool::new(false)),
            uplink: Arc::new(Mutex::new(Airtime::new(opened, &self.inner.model))),
        };
        tokio::spawn(forward(
            downlink,
            events_tx,
            Airtime::new(opened, &self.inner.model),
            silenced,
            self.supervision(),
            writer.clone(),
        ));
        Ok(RawLink {
            serial: serial.clone(),
            att_payload,
            writer,
            events,
        })
    }

    /// One round of advertising: every reader that advertises now, with its
    /// RSSI (path loss plus seeded jitter).
    pub(crate) fn advertisements(&self) -> Vec<Advertisement> {
        if !self.inner.adapter_powered.load(Ordering::SeqCst) {
            return Vec::new();
        }
        let now = self.inner.now();
        let mut heard = Vec::new();
        for (serial, cell) in &self.inner.readers {
            let (advert, distance) = {
                let mut state = cell.state.lock().expect("reader lock");
                let advert = state.reader.advertisement(now);
                dispatch(&mut state);
                (advert, state.reader.distance_m())
            };
            cell.wake.notify_one();
            if let Some(reader) = advert {
                let jitter = self
                    .inner
                    .rng
                    .lock()
                    .expect("rng lock")
                    .random_range(-link::RSSI_JITTER_DB..=link::RSSI_JITTER_DB);
                heard.push(Advertisement {
                    peripheral: serial.to_string(),
                    rssi: link::rssi_at(distance).round() as i16 + jitter,
                    local_name: Some(format!("{} {}", reader.device_type, serial)),
                    reader,
                });
            }
        }
        heard
    }

    pub(crate) fn adapter_powered(&self) -> bool {
        self.inner.adapter_powered.load(Ordering::SeqCst)
    }

    /// Makes `scan` the running scan, ending the one before.
    pub(crate) fn set_scan(&self, scan: Option<(JoinHandle<()>, mpsc::UnboundedSender<ScanEvent>)>) {
        let old = std::mem::replace(&mut *self.inner.scan.lock().expect("scan lock"), scan);
        if let Some((task, _)) = old {
            task.abort();
        }
    }

    /// Whether the reader could be connected now; `Err` says why not.
    pub(crate) fn connectable(&self, serial: &SerialNumber) -> Result<Result<(), Unreachable>, SimError> {
        self.with_reader(serial, |r, now| {
            r.advance(now);
            r.connectable(now)
        })
    }
}

/// Drives one reader on tokio time: sleeps until its next deadline or until
/// a control or payload wakes it, lets time pass, carries out its outputs.
async fn drive(world: Weak<Inner>, cell: Arc<ReaderCell>) {
    loop {
        let (deadline, epoch) = {
            let Some(inner) = world.upgrade() else { return };
            let mut state = cell.state.lock().expect("reader lock");
            state.reader.advance(inner.now());
            dispatch(&mut state);
            (state.reader.next_deadline(), inner.epoch)
        };
        match deadline {
            Some(at) => {
                let at = epoch + Duration::from_millis(at);
                tokio::select! {
                    _ = cell.wake.notified() => {}
                    _ = tokio::time::sleep_until(at) => {}
                }
            }
            None => cell.wake.notified().await,
        }
    }
}

/// Carries a link's notifications to the central on the link's timing, and
/// finally its loss. When the central drops its event receiver, the link
/// is closed from the central's side, as if it had disconnected.
async fn forward(
    mut downlink: mpsc::UnboundedReceiver<Downlink>,
    events: mpsc::UnboundedSender<LinkEvent>,
    mut airtime: Airtime,
    silenced: Arc<AtomicBool>,
    supervision: Duration,
    central: RawLinkWriter,
) {
    loop {
        let item = tokio::select! {
            item = downlink.recv() => item,
            // The central dropped its end: the link is closed from its side.
            _ = events.closed() => {
                let _ = central.close();
                return;
            }
        };
        let Some(item) = item else { return };
        match item {
            Downlink::Payload(payload) => {
                if silenced.load(Ordering::SeqCst) {
                    continue;
                }
                let at = airtime.reserve(Instant::now());
                tokio::time::sleep_until(at).await;
                // Still in the air when the link went: lost with it.
                if silenced.load(Ordering::SeqCst) {
                    continue;
                }
                let _ = events.send(LinkEvent::NotificationReceived(payload));
            }
            Downlink::Lost(cause) => {
                if cause == LinkLossCause::SignalLost {
                    tokio::time::sleep(supervision).await;
                }
                central.reported.store(true, Ordering::SeqCst);
                let _ = events.send(LinkEvent::LinkLost(cause));
                break;
            }
        }
    }
}

/// A duplex pipe of ATT payloads to one simulated reader's wire-protocol
/// peer, from [`SimWorld::open_raw_link`].
#[derive(Debug)]
pub struct RawLink {
    /// Which reader.
    pub serial: SerialNumber,
    /// The negotiated ATT payload: no write may be longer.
    pub att_payload: usize,
    /// Writes ATT payloads to the reader's command characteristic.
    pub writer: RawLinkWriter,
    /// Notifications from the event characteristic, then
    /// [`LinkEvent::LinkLost`], then the end.
    pub events: mpsc::UnboundedReceiver<LinkEvent>,
}

impl RawLink {
    /// Writes one ATT payload; see [`RawLinkWriter`].
    pub async fn write(&self, payload: Vec<u8>) -> Result<(), TransportError> {
        self.writer.write_payload(payload).await
    }

    /// The next notification or the link's loss; `None` after the loss.
    pub async fn next_event(&mut self) -> Option<LinkEvent> {
        self.events.recv().await
    }

    /// The same pipe as a transport [`Link`].
    pub fn into_link(self) -> Link {
        Link {
            peripheral: self.serial.to_string(),
            att_payload: self.att_payload,
            writer: Box::new(self.writer),
            events: Box::pin(tokio_stream::wrappers::UnboundedReceiverStream::new(self.events)),
        }
    }
}

/// The writing half of a [`RawLink`]. A write waits for its connection
/// event (the link's flow control), then hands the payload to the reader.
#[derive(Debug, Clone)]
pub struct RawLinkWriter {
    world: Weak<Inner>,
    serial: SerialNumber,
    link_id: u64,
    att_payload: usize,
    closed: Arc<AtomicBool>,
    reported: Arc<AtomicBool>,
    uplink: Arc<Mutex<Airtime>>,
}

impl RawLinkWriter {
    fn down(&self) -> TransportError {
        TransportError::LinkDown(self.serial.to_string())
    }

    /// A write on a link that is gone: until the central has been told
    /// ([`LinkEvent::LinkLost`] delivered) the payload is silently lost in
    /// the air, as on a real link; after, the write fails.
    fn gone(&self) -> Result<(), TransportError> {
        if self.reported.load(Ordering::SeqCst) {
            Err(self.down())
        } else {
            Ok(())
        }
    }

    /// Runs `f` on the reader if this link is still its link; `false` if
    /// it is not.
    fn on_link(&self, f: impl FnOnce(&mut SimReader, Millis)) -> bool {
        let Some(inner) = self.world.upgrade() else {
            return false;
        };
        let Ok(cell) = inner.cell(&self.serial) else {
            return false;
        };
        let now = inner.now();
        {
            let mut state = cell.state.lock().expect("reader lock");
            if state.link.as_ref().map(|l| l.id) != Some(self.link_id) {
                return false;
            }
            f(&mut state.reader, now);
            dispatch(&mut state);
        }
        cell.wake.notify_one();
        true
    }

    /// Writes one ATT payload (write without response).
    pub async fn write_payload(&self, payload: Vec<u8>) -> Result<(), TransportError> {
        if self.closed.load(Ordering::SeqCst) {
            return self.gone();
        }
        if payload.len() > self.att_payload {
            return Err(TransportError::Stack(format!(
                "an ATT payload of {} bytes exceeds the link's {}",
                payload.len(),
                self.att_payload
            )));
        }
        let at = self.uplink.lock().expect("uplink lock").reserve(Instant::now());
        tokio::time::sleep_until(at).await;
        if self.on_link(|reader, now| reader.payload_received(now, &payload)) {
            Ok(())
        } else {
            self.gone()
        }
    }

    /// Closes the link from the central's side; the events then end with
    /// [`LinkEvent::LinkLost`]`(`[`LinkLossCause::LocalClosed`]`)`. Closing
    /// a link that is already gone does nothing.
    pub fn close(&self) -> Result<(), TransportError> {
        let Some(inner) = self.world.upgrade() else {
            return Ok(());
        };
        let Ok(cell) = inner.cell(&self.serial) else {
            return Ok(());
        };
        let now = inner.now();
        {
            let mut state = cell.state.lock().expect("reader lock");
            if state.link.as_ref().map(|l| l.id) != Some(self.link_id) {
                return Ok(());
            }
            state.reader.link_closed(now);
            dispatch(&mut state);
            if let Some(link) = state.link.take() {
                link.end(LinkLossCause::LocalClosed);
            }
        }
        cell.wake.notify_one();
        Ok(())
    }
}

impl LinkWriter for RawLinkWriter {
    fn write(&self, payload: Vec<u8>) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move { self.write_payload(payload).await })
    }

    fn disconnect(&self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move { self.close() })
    }
}

pub(crate) fn peripheral_serial(peripheral: &PeripheralId) -> SerialNumber {
    SerialNumber::new(peripheral.clone())
}

pub(crate) const fn connect_retry() -> Duration {
    CONNECT_RETRY
}
