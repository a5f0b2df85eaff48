//! The simulated side of the transport boundary, the embedded default: a
//! [`SimWorld`] of simulated readers and [`SimTransport`], a complete
//! [`Transport`] onto it.
//!
//! The simulated readers are real peers, not mocks: each decodes the
//! wire-protocol bytes written to it ([`crate::protocol`]) and answers in
//! encoded, fragmented frames, advertises [`ReaderAdvertisement`]s, keeps
//! A/B firmware slots, drains and charges its battery, sleeps, powers down
//! when idle, reboots every 24 hours (M2, WisePad 3), refuses a reboot or
//! an install while a transaction runs (R20) and follows its fault plan. Everything runs on tokio time and is deterministic from the fleet's
//! seed, so on a paused clock a day passes in a moment.
//!
//! # Layout
//!
//! | file | what |
//! |---|---|
//! | [`reader`] | [`SimReader`]: one reader's pure logic — state, and what happens at time `t` or on an ATT payload; no clock, no tasks, steppable by tests (timings and battery model documented there) |
//! | [`world`] | [`SimWorld`]: the readers, one tokio task each driving its [`SimReader`] to its next deadline, the links, the world controls, [`RawLink`] |
//! | [`link`] | the radio model: RSSI from distance (path-loss formula), link timing on connection events (MTU and connection interval) |
//! | [`fleet`] | [`Fleet`]: the TOML fleet file (format documented there), [`Fleet::example`] |
//!
//! # The transport
//!
//! A reader's [`crate::transport::PeripheralId`] is its serial number.
//! [`Transport::scan`] reports, every [`world::ADVERTISING_INTERVAL`], an
//! [`Advertisement`] from each reader that is up, in range, reachable and
//! not connected (connected readers do not advertise); every
//! [`reader::SCAN_RESPONSE_EVERY`]th carries the long form (battery,
//! software version) as the scan response would. A new scan ends the one
//! before; [`Transport::stop_scan`] ends the stream. [`Transport::connect`]
//! takes [`LinkModel::connect_ms`] and negotiates the smaller of the
//! reader's ATT payload (20 for the Chipper 2X, 185 for the WisePad 3, 244
//! for the M2, unless the fleet says) and 244; it keeps trying a reader that
//! is off, booting, out of reach or connected elsewhere (it does not
//! advertise then) for [`world::CONNECT_TIMEOUT`], then fails with
//! [`TransportError::ConnectFailed`]. Dropping a link's event stream
//! closes the link, as [`crate::transport::LinkWriter::disconnect`] does.
//!
//! A link reports [`LinkEvent::LinkLost`] with
//! [`LinkLossCause::RemoteClosed`] right after the reader's
//! `Disconnecting { reason }` notification (reboot, power button, idle
//! power-down, critically low battery); with [`LinkLossCause::SignalLost`]
//! one supervision timeout after the signal went (moved out of range, power
//! cut, [`SimWorld::lose_link`], a fault plan's dropped link); with
//! [`LinkLossCause::AdapterPoweredOff`] when the host adapter goes off; with
//! [`LinkLossCause::LocalClosed`] after [`crate::transport::LinkWriter::disconnect`].
//!
//! # World controls (by serial number)
//!
//! | control | effect |
//! |---|---|
//! | [`SimWorld::move_reader`]`(serial, metres)` | RSSI follows; beyond about 63 m the link is lost |
//! | [`SimWorld::power_off`] / [`SimWorld::cut_power`] / [`SimWorld::power_on`] | button off (says `Disconnecting { PoweredOff }`) / power lost (no goodbye) / boots, then advertises |
//! | [`SimWorld::lose_link`]`(serial, Some(duration) or None)`, [`SimWorld::restore_link`] | link lost (signal), unreachable for the duration or until restored |
//! | [`SimWorld::set_battery`]`(serial, level)`, [`SimWorld::set_charging`] | battery level; charger on or off |
//! | [`SimWorld::insert_card`], [`SimWorld::remove_card`] | `CardInserted` / `CardRemoved` |
//! | [`SimWorld::fail_next_install_at`]`(serial, percent)` | the next install fails at that percentage |
//! | [`SimWorld::set_uptime`]`(serial, duration)` | as if it had booted that long ago: its reported uptime and its own 24-hour reboot follow (a fleet's `uptime_ms` does the same at the start) |
//! | [`SimWorld::set_adapter_powered`] | the host's Bluetooth adapter off or on |
//! | [`SimWorld::reader_state`] | [`SimReaderState`]: powered, booting, connected, asleep, battery, active slot and version, inactive image, update progress, identify count, flashing, in a transaction, uptime, boots |
//! | [`SimWorld::open_raw_link`]`(serial)` | a [`RawLink`]: a duplex ATT-payload pipe to the reader's wire-protocol peer, without [`SimTransport`] |

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

use crate::transport::{Link, PeripheralId, ScanEvent, Transport, TransportError};

pub mod fleet;
pub mod link;
pub mod reader;
pub mod world;

pub use fleet::{FaultPlan, Fleet, FleetError, MAX_FLEET_BYTES, ReaderSpec};
pub use link::LinkModel;
pub use reader::{SimReader, SimReaderState};
pub use world::{RawLink, RawLinkWriter, SimError, SimWorld};

#[cfg(doc)]
use crate::protocol::advertisement::ReaderAdvertisement;
#[cfg(doc)]
use crate::transport::{Advertisement, LinkEvent, LinkLossCause};

/// The [`Transport`] onto a [`SimWorld`].
#[derive(Debug, Clone)]
pub struct SimTransport {
    world: SimWorld,
}

impl SimTransport {
    /// A transport onto `world`.
    pub fn new(world: SimWorld) -> Self {
        Self { world }
    }

    /// The world this transport reaches.
    pub fn world(&self) -> &SimWorld {
        &self.world
    }
}

impl Transport for SimTransport {
    fn scan(&self) -> BoxFuture<'_, Result<BoxStream<'static, ScanEvent>, TransportError>> {
        Box::pin(async move {
            if !self.world.adapter_powered() {
                return Err(TransportError::AdapterUnavailable(
                    "the adapter is powered off".into(),
                ));
            }
            let (events, stream) = mpsc::unbounded_channel();
            let world = self.world.clone();
            let sender = events.clone();
            let task = tokio::spawn(async move {
                let mut ticks = tokio::time::interval(world::ADVERTISING_INTERVAL);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    ticks.tick().await;
                    for advertisement in world.advertisements() {
                        if sender.send(ScanEvent::AdvertisementSeen(advertisement)).is_err() {
                            return;
                        }
                    }
                }
            });
            self.world.set_scan(Some((task, events)));
            Ok(
                Box::pin(tokio_stream::wrappers::UnboundedReceiverStream::new(stream))
                    as BoxStream<'static, _>,
            )
        })
    }

    fn stop_scan(&self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            self.world.set_scan(None);
            Ok(())
        })
    }

    fn connect(&self, peripheral: &PeripheralId) -> BoxFuture<'_, Result<Link, TransportError>> {
        let serial = world::peripheral_serial(peripheral);
        let peripheral = peripheral.clone();
        Box::pin(async move {
            let started = tokio::time::Instant::now();
            loop {
                if !self.world.adapter_powered() {
                    return Err(TransportError::AdapterUnavailable(
                        "the adapter is powered off".into(),
                    ));
                }
                let why = match self.world.connectable(&serial) {
                    Err(_) => return Err(TransportError::UnknownPeripheral(peripheral)),
                    Ok(Ok(())) => {
                        tokio::time::sleep(std::time::Duration::from_millis(
                            self.world.link_model().connect_ms,
                        ))
                        .await;
                        match self.world.open_raw_link(&serial) {
                            Ok(link) => return Ok(link.into_link()),
                            Err(TransportError::ConnectFailed { reason, .. }) => reason,
                            Err(other) => return Err(other),
                        }
                    }
                    Ok(Err(why)) => why.to_string(),
                };
                if started.elapsed() >= world::CONNECT_TIMEOUT {
                    return Err(TransportError::ConnectFailed {
                        peripheral,
                        reason: why,
                    });
                }
                tokio::time::sleep(world::connect_retry()).await;
            }
        })
    }
}
