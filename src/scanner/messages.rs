//! What the scanner machine takes in and asks for, and the actix messages
//! its actor accepts besides [`crate::runtime::Deliver`].

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{DiscoveryConfig, DiscoveryError, DiscoveryUpdate};
use crate::cancelable::{CancelCall, CancelOutcome};
use crate::reader::{Reader, SerialNumber};
use crate::transport::{Advertisement, PeripheralId, TransportError};

/// Numbers the scans the machine starts, from 1.
pub type ScanId = u64;

/// Names one discovery, so that what the machine reports reaches the
/// caller that started it (and not the one that superseded it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DiscoveryId(pub u64);

impl fmt::Display for DiscoveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What happens to the scanner: past-tense facts from the app, the
/// transport and its own timers.
#[derive(Clone, PartialEq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
pub enum ScannerInput {
    /// The app asked for a discovery; one already running is superseded (R2).
    DiscoveryRequested {
        /// The new discovery.
        discovery: DiscoveryId,
        /// How to discover.
        config: DiscoveryConfig,
    },
    /// The app cancelled a discovery (R5): it ends if it is the running
    /// one, and the call is answered either way.
    CancelRequested {
        /// The discovery to cancel.
        discovery: DiscoveryId,
        /// The call to answer.
        call: CancelCall,
    },
    /// The app dropped a discovery's update stream without cancelling it:
    /// nobody listens any more, so it ends if it is the running one.
    UpdatesDropped {
        /// The discovery whose stream was dropped.
        discovery: DiscoveryId,
    },
    /// A connect to a reader started: the running discovery ends (R2).
    ConnectStarted {
        /// The reader being connected.
        serial: SerialNumber,
    },
    /// A reader became connected, or stopped being; connected readers are
    /// never listed (R2). One reader at a time, so a change costs the same
    /// with 10 readers connected as with 10,000 (R21).
    ConnectedReadersChanged {
        /// The reader.
        serial: SerialNumber,
        /// Whether it is connected now.
        connected: bool,
    },
    /// The transport heard an advertisement (or scan response).
    AdvertisementSeen(Advertisement),
    /// The host's Bluetooth adapter was powered off or on.
    AdapterPowerChanged {
        /// Whether it is on now.
        powered: bool,
    },
    /// The scan could not start, or its stream ended on its own.
    ScanFailed {
        /// Which scan (the number its `StartScan` carried): a late failure
        /// of a scan already stopped or replaced is ignored.
        scan: ScanId,
        /// What went wrong.
        error: TransportError,
    },
    /// The identify command (R4) was written to the reader; its
    /// acknowledgement is awaited.
    IdentifySent {
        /// The reader told to flash.
        serial: SerialNumber,
    },
    /// The `IdentifyAck` timer elapsed: the reader did not acknowledge the
    /// identify command in time.
    IdentifyAckTimedOut {
        /// The reader told to flash.
        serial: SerialNumber,
    },
    /// The identify command (R4) was acknowledged or refused by the reader,
    /// or could not reach it.
    IdentifyFinished {
        /// The reader told to flash.
        serial: SerialNumber,
        /// Whether the reader acknowledged it.
        result: Result<(), TransportError>,
    },
    /// The `Timeout` timer elapsed: the discovery's timeout (R3) is over.
    TimeoutElapsed,
    /// The `ReportDue` timer elapsed: a list update held back by
    /// `min_update_interval` is due.
    ReportDue,
    /// The `ForgetDue` timer elapsed: the reader heard longest ago may have
    /// gone quiet for `forget_after`.
    ForgetDue,
    /// The `LocateWindowClosed` timer elapsed: the proximity window in
    /// which candidates are compared has closed.
    LocateWindowClosed,
}

/// What the scanner asks its shell to do.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub enum ScannerOutput {
    /// Start scanning for advertisements (the status becomes `Discovering`);
    /// a failure of this scan is reported as `ScanFailed` with its number.
    StartScan {
        /// Numbers the scan.
        scan: ScanId,
    },
    /// Stop scanning (the status leaves `Discovering`).
    StopScan,
    /// Give a discovery's caller the current list of readers.
    ReportReaders {
        /// Whose list it is.
        discovery: DiscoveryId,
        /// The readers, loudest first.
        readers: Vec<Reader>,
    },
    /// End a discovery: its caller gets `Finished(result)` and nothing more.
    EndDiscovery {
        /// Which discovery.
        discovery: DiscoveryId,
        /// How it ended.
        result: Result<(), DiscoveryError>,
    },
    /// Connect to a reader, send it the identify command (flash its LEDs,
    /// R4), report `IdentifySent`, wait for its answer and disconnect;
    /// report `IdentifyFinished`.
    IdentifyReader {
        /// The reader.
        serial: SerialNumber,
        /// Where to connect.
        peripheral: PeripheralId,
    },
    /// Stop waiting for the reader's answer to identify and disconnect;
    /// report nothing more of it.
    AbandonIdentify {
        /// The reader.
        serial: SerialNumber,
    },
    /// Answer a `cancel()` call.
    CancelAnswered {
        /// Which call.
        call: CancelCall,
        /// What it did.
        outcome: CancelOutcome,
    },
}

/// The scanner's timers.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScannerTimer {
    /// The discovery's timeout (R3).
    Timeout,
    /// A list update held back by `min_update_interval` is due.
    ReportDue,
    /// The reader heard longest ago may have gone quiet for `forget_after`.
    ForgetDue,
    /// Proximity: the window in which candidates are compared has closed.
    LocateWindowClosed,
    /// The reader told to identify has not acknowledged it in time.
    IdentifyAck(SerialNumber),
}

/// One reader in a log line: `CHB-0001 Chipper 2X BT -48dBm v2.4.1 80%`.
pub(crate) struct ShortReader<'a>(pub &'a Reader);

impl fmt::Display for ShortReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(f, "{} {}", r.serial_number, r.device_type)?;
        if let Some(rssi) = r.rssi {
            write!(f, " {rssi}dBm")?;
        }
        if let Some(version) = &r.software_version {
            write!(f, " v{version}")?;
        }
        if let Some(battery) = &r.battery {
            write!(f, " {:.0}%", battery.level * 100.0)?;
        }
        Ok(())
    }
}

// Hand-written Debug: these lines are the transition-log snapshots, so they
// stay short enough to read.
impl fmt::Debug for ScannerInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DiscoveryRequested { discovery, config } => {
                write!(f, "DiscoveryRequested({discovery} {:?}", config.method)?;
                let ms = |d: std::time::Duration| crate::runtime::fmt_ms(d.as_millis() as u64);
                if let Some(t) = config.timeout {
                    write!(f, " timeout {}", ms(t))?;
                }
                // Only what differs from the defaults, to keep lines short.
                if config.forget_after != DiscoveryConfig::DEFAULT_FORGET_AFTER {
                    write!(f, " forget_after {}", ms(config.forget_after))?;
                }
                if config.min_update_interval != DiscoveryConfig::DEFAULT_MIN_UPDATE_INTERVAL {
                    write!(f, " min_update_interval {}", ms(config.min_update_interval))?;
                }
                if config.locate_window != DiscoveryConfig::DEFAULT_LOCATE_WINDOW {
                    write!(f, " locate_window {}", ms(config.locate_window))?;
                }
                write!(f, ")")
            }
            Self::CancelRequested { discovery, call } => {
                write!(f, "CancelRequested({discovery} call {call})")
            }
            Self::UpdatesDropped { discovery } => write!(f, "UpdatesDropped({discovery})"),
            Self::ConnectStarted { serial } => write!(f, "ConnectStarted({serial})"),
            Self::ConnectedReadersChanged { serial, connected } => {
                let sign = if *connected { '+' } else { '-' };
                write!(f, "ConnectedReadersChanged({sign}{serial})")
            }
            Self::AdvertisementSeen(adv) => {
                let r = &adv.reader;
                write!(
                    f,
                    "AdvertisementSeen({} {} {}dBm",
                    r.serial_number, r.device_type, adv.rssi
                )?;
                if let Some(v) = &r.software_version {
                    write!(f, " v{v}")?;
                }
                if let Some(b) = r.battery_percent {
                    write!(f, " {b}%")?;
                }
                write!(f, ")")
            }
            Self::AdapterPowerChanged { powered } => write!(f, "AdapterPowerChanged(powered: {powered})"),
            Self::ScanFailed { scan, error } => write!(f, "ScanFailed(scan {scan}: {error})"),
            Self::IdentifySent { serial } => write!(f, "IdentifySent({serial})"),
            Self::IdentifyAckTimedOut { serial } => write!(f, "IdentifyAckTimedOut({serial})"),
            Self::IdentifyFinished { serial, result } => match result {
                Ok(()) => write!(f, "IdentifyFinished({serial} ok)"),
                Err(e) => write!(f, "IdentifyFinished({serial} failed: {e})"),
            },
            Self::TimeoutElapsed => write!(f, "TimeoutElapsed"),
            Self::ReportDue => write!(f, "ReportDue"),
            Self::ForgetDue => write!(f, "ForgetDue"),
            Self::LocateWindowClosed => write!(f, "LocateWindowClosed"),
        }
    }
}

impl fmt::Debug for ScannerTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => write!(f, "Timeout"),
            Self::ReportDue => write!(f, "ReportDue"),
            Self::ForgetDue => write!(f, "ForgetDue"),
            Self::LocateWindowClosed => write!(f, "LocateWindowClosed"),
            Self::IdentifyAck(serial) => write!(f, "IdentifyAck({serial})"),
        }
    }
}

impl fmt::Debug for ScannerOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StartScan { scan } => write!(f, "StartScan(scan {scan})"),
            Self::StopScan => write!(f, "StopScan"),
            Self::ReportReaders { discovery, readers } => {
                let readers: Vec<_> = readers.iter().map(|r| ShortReader(r).to_string()).collect();
                write!(f, "ReportReaders({discovery} [{}])", readers.join(", "))
            }
            Self::EndDiscovery { discovery, result } => match result {
                Ok(()) => write!(f, "EndDiscovery({discovery} Ok)"),
                Err(e) => write!(f, "EndDiscovery({discovery} {})", e.code()),
            },
            Self::IdentifyReader { serial, peripheral } => {
                write!(f, "IdentifyReader({serial} at {peripheral})")
            }
            Self::AbandonIdentify { serial } => write!(f, "AbandonIdentify({serial})"),
            Self::CancelAnswered { call, outcome } => write!(f, "CancelAnswered(call {call} {outcome:?})"),
        }
    }
}

/// Starts a discovery whose updates go to `updates` (sent by
/// [`super::ScannerHandle::discover`]).
#[derive(Debug, actix::Message)]
#[rtype(result = "()")]
pub struct StartDiscovery {
    /// The new discovery.
    pub discovery: DiscoveryId,
    /// How to discover.
    pub config: DiscoveryConfig,
    /// Where its list updates and its end go.
    pub updates: tokio::sync::mpsc::UnboundedSender<DiscoveryUpdate>,
}

/// Cancels a discovery and says whether it was still running (the
/// machine's answer).
#[derive(Debug, Clone, Copy, actix::Message)]
#[rtype(result = "CancelOutcome")]
pub struct CancelDiscovery {
    /// The discovery to cancel.
    pub discovery: DiscoveryId,
}
