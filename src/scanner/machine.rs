//! The scanner's pure machine: advertisements in, reader lists out.
//!
//! States (see `state-diagrams/scanner.mmd`):
//!
//! ```text
//! idle
//! discovering            entry: StartScan, exit: StopScan
//!   scanning             every reader (R1)
//!   proximity            Chipper 2X only (R1, R4)
//!     locating           comparing candidates within the locate window
//!     refining           target reported by serial; waiting for its details
//!     identified         target reported with details and told to flash
//! ```
//!
//! The identify command (R4) outlives the discovery that asked for it: in
//! any state, `IdentifySent` arms its acknowledgement timer, whose
//! `IdentifyAckTimedOut` abandons it, and `IdentifyFinished` disarms it.
//!
//! Intake is the hot path: an advertisement of a known reader costs one
//! hash lookup and a few comparisons, arms no timer and emits nothing
//! unless the list changed (see the module doc of [`crate::scanner`] for
//! what counts as a change).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use statig::prelude::*;

use super::messages::{DiscoveryId, ScanId, ScannerInput, ScannerOutput, ScannerTimer};
use super::{DiscoveryConfig, DiscoveryError, DiscoveryMethod};
use crate::cancelable::CancelOutcome;
use crate::protocol::advertisement::ReaderAdvertisement;
use crate::reader::{Battery, BatteryStatus, DeviceType, Reader, SerialNumber};
use crate::runtime::adapter::{StatigCore, StatigMachine};
use crate::runtime::machine::{Millis, Outbox};
use crate::runtime::table::{MachineSpec, on, state, superstate};
use crate::transport::{Advertisement, PeripheralId, TransportError};

/// An RSSI change alone makes the list "changed" only when it is at least
/// this many dB away from the value last reported for that reader: BLE RSSI
/// jitters by a few dB from one advertisement to the next.
pub const RSSI_REPORT_STEP_DB: i16 = 10;

/// How long a reader told to identify may take to acknowledge the command
/// once it was written, before it is abandoned and the link closed.
pub const IDENTIFY_ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// The declared table (see [`crate::runtime::table`]).
pub static SPEC: MachineSpec = MachineSpec {
    name: "scanner",
    summary: "Discovery (R1-R5): Bluetooth scan lists every reader; proximity finds the nearest Chipper 2X.",
    initial: "idle",
    states: &[
        state(
            "idle",
            None,
            &[
                on("DiscoveryRequested", &["scanning", "locating"]),
                on("ConnectedReadersChanged", &[]),
                on("CancelRequested", &[]),
                on("UpdatesDropped", &[]),
                on("IdentifySent", &[]),
                on("IdentifyAckTimedOut", &[]),
                on("IdentifyFinished", &[]),
            ],
        ),
        superstate(
            "discovering",
            None,
            &[
                on("DiscoveryRequested", &["scanning", "locating"]),
                on("CancelRequested", &["idle"]),
                on("UpdatesDropped", &["idle"]),
                on("ConnectStarted", &["idle"]),
                on("TimeoutElapsed", &["idle"]),
                on("ScanFailed", &["idle"]),
                on("AdapterPowerChanged", &["idle"]),
                on("IdentifySent", &[]),
                on("IdentifyAckTimedOut", &[]),
                on("IdentifyFinished", &[]),
            ],
        ),
        state(
            "scanning",
            Some("discovering"),
            &[
                on("AdvertisementSeen", &[]),
                on("ConnectedReadersChanged", &[]),
                on("ReportDue", &[]),
                on("ForgetDue", &[]),
            ],
        ),
        superstate(
            "proximity",
            Some("discovering"),
            &[
                on("ConnectedReadersChanged", &["locating"]),
                on("ForgetDue", &["locating"]),
                on("ReportDue", &[]),
            ],
        ),
        state(
            "locating",
            Some("proximity"),
            &[
                on("AdvertisementSeen", &[]),
                on("LocateWindowClosed", &["refining"]),
            ],
        ),
        state(
            "refining",
            Some("proximity"),
            &[
                on("AdvertisementSeen", &["identified"]),
                on("ReportDue", &["identified"]),
            ],
        ),
        state("identified", Some("proximity"), &[on("AdvertisementSeen", &[])]),
    ],
};

type Out = Outbox<ScannerOutput, ScannerTimer>;

/// What the scanner knows of one reader it heard.
#[derive(Debug, Clone)]
struct Heard {
    device_type: DeviceType,
    peripheral: PeripheralId,
    software_version: Option<String>,
    battery_percent: Option<u8>,
    rssi: i16,
    /// The RSSI in the last list that carried this reader.
    reported_rssi: Option<i16>,
    last_seen: Millis,
}

impl Heard {
    fn new(adv: &Advertisement, now: Millis) -> Self {
        Self {
            device_type: adv.reader.device_type,
            peripheral: adv.peripheral.clone(),
            software_version: adv.reader.software_version.clone(),
            battery_percent: adv.reader.battery_percent,
            rssi: adv.rssi,
            reported_rssi: None,
            last_seen: now,
        }
    }

    /// Takes in a new advertisement of the same reader; says whether its
    /// details changed. Details only the long form carries are kept when a
    /// short-form advertisement omits them.
    fn update(&mut self, adv: &Advertisement, now: Millis) -> bool {
        self.last_seen = now;
        self.rssi = adv.rssi;
        let r: &ReaderAdvertisement = &adv.reader;
        let mut changed = false;
        if r.device_type != self.device_type {
            self.device_type = r.device_type;
            changed = true;
        }
        if self.peripheral != adv.peripheral {
            self.peripheral.clone_from(&adv.peripheral);
            changed = true;
        }
        if r.battery_percent.is_some() && r.battery_percent != self.battery_percent {
            self.battery_percent = r.battery_percent;
            changed = true;
        }
        if let Some(version) = &r.software_version
            && self.software_version.as_ref() != Some(version)
        {
            self.software_version = Some(version.clone());
            changed = true;
        }
        changed
    }

    /// Whether the RSSI moved far enough from the reported one to count.
    fn rssi_moved(&self) -> bool {
        self.reported_rssi
            .is_some_and(|reported| (self.rssi - reported).abs() >= RSSI_REPORT_STEP_DB)
    }

    fn reader(&self, serial: &SerialNumber, detailed: bool) -> Reader {
        Reader {
            serial_number: serial.clone(),
            device_type: self.device_type,
            software_version: self.software_version.clone().filter(|_| detailed),
            battery: self.battery_percent.filter(|_| detailed).map(|percent| {
                let level = f32::from(percent) / 100.0;
                Battery {
                    level,
                    status: BatteryStatus::for_level(level),
                    // Advertisements do not say; the connection learns it.
                    charging: false,
                }
            }),
            rssi: Some(self.rssi),
            peripheral: self.peripheral.clone(),
            available_update: None,
        }
    }
}

/// A proximity candidate heard in the locate window.
#[derive(Debug)]
struct Candidate {
    heard: Heard,
    rssi_sum: i64,
    samples: i64,
}

/// How far a proximity target has been shown to the app (R4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    Nothing,
    SerialOnly,
    Detailed,
}

/// The proximity reader found.
#[derive(Debug)]
struct Target {
    serial: SerialNumber,
    heard: Heard,
    /// Whether the next list shows its details.
    detailed: bool,
    /// What the last list showed.
    shown: Shown,
}

/// The discovery being run.
#[derive(Debug)]
struct Running {
    id: DiscoveryId,
    config: DiscoveryConfig,
}

/// The statig side: shared storage and handlers.
#[derive(Debug, Default)]
pub struct ScannerCore {
    running: Option<Running>,
    /// The number of the last scan started: a `ScanFailed` of any other
    /// scan is late and ignored.
    scan: ScanId,
    /// Readers connected now: never listed (R2).
    connected: HashSet<SerialNumber>,
    /// Scan: every reader heard and not yet forgotten.
    readers: HashMap<SerialNumber, Heard>,
    /// Whether the `ForgetDue` timer is armed.
    forget_armed: bool,
    /// Proximity: candidates heard in the current locate window.
    candidates: HashMap<SerialNumber, Candidate>,
    /// Proximity: the reader found.
    target: Option<Target>,
    /// When the last list was reported.
    last_report_at: Option<Millis>,
    /// Whether a held-back report is waiting for `ReportDue`.
    report_pending: bool,
    /// How many readers the last list reported had: the timeout ends with
    /// `Ok` when the app holds a non-empty list (R3).
    last_listed: usize,
}

fn ms(d: Duration) -> Millis {
    d.as_millis() as Millis
}

#[state_machine(
    initial = "State::idle()",
    visibility = "pub",
    state(derive(Debug, Clone, strum::IntoStaticStr, strum::VariantNames)),
    superstate(derive(Debug, strum::VariantNames)),
    after_transition = "Self::record_transition"
)]
impl ScannerCore {
    /// No discovery runs. `DiscoveryRequested` → `scanning` or `locating`;
    /// `ConnectedReadersChanged` is kept in place; a `CancelRequested` is
    /// answered `AlreadyEnded`; the identify steps are handled in place;
    /// anything else (a late advertisement, a dropped stream of a finished
    /// discovery) is ignored.
    #[state]
    fn idle(&mut self, context: &mut Out, event: &ScannerInput) -> Outcome<State> {
        match event {
            ScannerInput::DiscoveryRequested { discovery, config } => {
                Transition(self.begin(*discovery, config, context))
            }
            ScannerInput::ConnectedReadersChanged { serial, connected } => {
                self.note_connected(serial, *connected);
                Handled
            }
            ScannerInput::CancelRequested { call, .. } => {
                context.emit(ScannerOutput::CancelAnswered {
                    call: *call,
                    outcome: CancelOutcome::AlreadyEnded,
                });
                Handled
            }
            _ => {
                Self::identify_step(event, context);
                Handled
            }
        }
    }

    /// A discovery runs and the transport scans. `DiscoveryRequested`
    /// supersedes it (→ `scanning`/`locating`); `CancelRequested` (answered
    /// `Cancelled`) or `UpdatesDropped` for it, `ConnectStarted`,
    /// `TimeoutElapsed`, `ScanFailed` of its scan and the adapter powering off end it
    /// (→ `idle`); a cancel of another discovery is answered `AlreadyEnded`
    /// in place. The identify steps are handled in place.
    #[superstate(entry_action = "enter_discovering", exit_action = "exit_discovering")]
    fn discovering(&mut self, context: &mut Out, event: &ScannerInput) -> Outcome<State> {
        match event {
            ScannerInput::DiscoveryRequested { discovery, config } => {
                self.end(Err(DiscoveryError::Superseded), context);
                self.reset(context);
                Transition(self.begin(*discovery, config, context))
            }
            ScannerInput::CancelRequested { discovery, call } => {
                let running = self.is_running(*discovery);
                context.emit(ScannerOutput::CancelAnswered {
                    call: *call,
                    outcome: match running {
                        true => CancelOutcome::Cancelled,
                        false => CancelOutcome::AlreadyEnded,
                    },
                });
                if !running {
                    return Handled;
                }
                self.end(Err(DiscoveryError::Cancelled), context);
                Transition(State::idle())
            }
            ScannerInput::UpdatesDropped { discovery } if self.is_running(*discovery) => {
                self.end(Err(DiscoveryError::Cancelled), context);
                Transition(State::idle())
            }
            ScannerInput::ConnectStarted { .. } => {
                self.end(Ok(()), context);
                Transition(State::idle())
            }
            ScannerInput::TimeoutElapsed => {
                // A change held back by the update interval is the app's
                // last chance to see it.
                if self.report_pending {
                    self.report_now(context);
                }
                let result = if self.last_listed > 0 {
                    Ok(())
                } else {
                    Err(DiscoveryError::ScanTimedOut)
                };
                self.end(result, context);
                Transition(State::idle())
            }
            ScannerInput::ScanFailed { scan, error } if *scan == self.scan => {
                self.end(Err(DiscoveryError::Transport(error.clone())), context);
                Transition(State::idle())
            }
            ScannerInput::AdapterPowerChanged { powered: false } => {
                let error =
                    TransportError::AdapterUnavailable("the Bluetooth adapter was powered off".into());
                self.end(Err(DiscoveryError::Transport(error)), context);
                Transition(State::idle())
            }
            _ => {
                Self::identify_step(event, context);
                Handled
            }
        }
    }

    #[action]
    fn enter_discovering(&mut self, context: &mut Out) {
        self.scan += 1;
        context.emit(ScannerOutput::StartScan { scan: self.scan });
    }

    #[action]
    fn exit_discovering(&mut self, context: &mut Out) {
        self.reset(context);
        self.running = None;
        context.emit(ScannerOutput::StopScan);
    }

    /// Bluetooth scan (R1). `AdvertisementSeen`, `ConnectedReadersChanged`
    /// and the `ReportDue`/`ForgetDue` timers are handled in place.
    #[state(superstate = "discovering")]
    fn scanning(&mut self, context: &mut Out, event: &ScannerInput) -> Outcome<State> {
        match event {
            ScannerInput::AdvertisementSeen(adv) => {
                self.intake(adv, context);
                Handled
            }
            ScannerInput::ConnectedReadersChanged { serial, connected } => {
                self.note_connected(serial, *connected);
                if *connected && self.readers.remove(serial).is_some() {
                    self.changed(context);
                }
                Handled
            }
            ScannerInput::ReportDue => {
                self.report_now(context);
                Handled
            }
            ScannerInput::ForgetDue => {
                self.sweep(context);
                Handled
            }
            _ => Super,
        }
    }

    /// Bluetooth proximity (R4). `ConnectedReadersChanged` that names the
    /// target, and its `ForgetDue` once it has not been heard for
    /// `forget_after`, give it up (→ `locating`); a held-back `ReportDue` is
    /// reported in place.
    #[superstate(superstate = "discovering")]
    fn proximity(&mut self, context: &mut Out, event: &ScannerInput) -> Outcome<State> {
        match event {
            ScannerInput::ConnectedReadersChanged { serial, connected } => {
                self.note_connected(serial, *connected);
                if !*connected {
                    return Handled;
                }
                self.candidates.remove(serial);
                if self.target.as_ref().is_some_and(|t| &t.serial == serial) {
                    self.target = None;
                    self.changed(context);
                    return Transition(State::locating());
                }
                Handled
            }
            ScannerInput::ReportDue => {
                self.report_now(context);
                Handled
            }
            ScannerInput::ForgetDue => {
                let forget_after = self.forget_after();
                let Some(target) = &self.target else {
                    return Handled;
                };
                let quiet = context.now().saturating_sub(target.heard.last_seen);
                if quiet >= forget_after {
                    self.target = None;
                    self.changed(context);
                    Transition(State::locating())
                } else {
                    context.start_timer(
                        ScannerTimer::ForgetDue,
                        Duration::from_millis(forget_after - quiet),
                    );
                    Handled
                }
            }
            _ => Super,
        }
    }

    /// Compares Chipper 2X candidates. `AdvertisementSeen` is taken in place
    /// (the first candidate opens the locate window);
    /// `LocateWindowClosed` picks the loudest → `refining`.
    #[state(superstate = "proximity", entry_action = "enter_locating")]
    fn locating(&mut self, context: &mut Out, event: &ScannerInput) -> Outcome<State> {
        match event {
            ScannerInput::AdvertisementSeen(adv) => {
                if self.is_proximity_candidate(adv) {
                    self.consider(adv, context);
                }
                Handled
            }
            ScannerInput::LocateWindowClosed => {
                if self.pick_nearest(context) {
                    Transition(State::refining())
                } else {
                    Handled
                }
            }
            _ => Super,
        }
    }

    #[action]
    fn enter_locating(&mut self, context: &mut Out) {
        self.candidates.clear();
        self.target = None;
        context.cancel_timer(ScannerTimer::LocateWindowClosed);
        context.cancel_timer(ScannerTimer::ForgetDue);
    }

    /// The target was reported by serial number only (or is about to be).
    /// Its long-form `AdvertisementSeen`, or the `ReportDue` that carries it,
    /// reports its details → `identified`; other readers are ignored.
    #[state(superstate = "proximity")]
    fn refining(&mut self, context: &mut Out, event: &ScannerInput) -> Outcome<State> {
        match event {
            ScannerInput::AdvertisementSeen(adv) => {
                self.hear_target(adv, context);
                self.after_target_report(context)
            }
            ScannerInput::ReportDue => {
                self.report_now(context);
                self.after_target_report(context)
            }
            _ => Super,
        }
    }

    /// The target was reported with its details and told to flash (on
    /// entry). Its `AdvertisementSeen` is taken in place (a details change
    /// is re-reported); other readers are ignored.
    #[state(superstate = "proximity", entry_action = "enter_identified")]
    fn identified(&mut self, context: &mut Out, event: &ScannerInput) -> Outcome<State> {
        match event {
            ScannerInput::AdvertisementSeen(adv) => {
                if self.hear_target(adv, context) {
                    self.changed(context);
                }
                Handled
            }
            _ => Super,
        }
    }

    #[action]
    fn enter_identified(&mut self, context: &mut Out) {
        if let Some(target) = &self.target {
            context.emit(ScannerOutput::IdentifyReader {
                serial: target.serial.clone(),
                peripheral: target.heard.peripheral.clone(),
            });
        }
    }
}

impl ScannerCore {
    /// The identify command's steps, the same in every state: once it was
    /// written its acknowledgement is timed; in time, the timer is
    /// disarmed; too late, it is abandoned.
    fn identify_step(event: &ScannerInput, context: &mut Out) {
        match event {
            ScannerInput::IdentifySent { serial } => {
                context.start_timer(ScannerTimer::IdentifyAck(serial.clone()), IDENTIFY_ACK_TIMEOUT);
            }
            ScannerInput::IdentifyFinished { serial, .. } => {
                context.cancel_timer(ScannerTimer::IdentifyAck(serial.clone()));
            }
            ScannerInput::IdentifyAckTimedOut { serial } => {
                context.emit(ScannerOutput::AbandonIdentify {
                    serial: serial.clone(),
                });
            }
            _ => {}
        }
    }

    fn is_running(&self, id: DiscoveryId) -> bool {
        self.running.as_ref().is_some_and(|r| r.id == id)
    }

    fn forget_after(&self) -> Millis {
        self.running.as_ref().map_or(0, |r| ms(r.config.forget_after))
    }

    /// Starts discovery `id`; returns the leaf state it runs in.
    fn begin(&mut self, id: DiscoveryId, config: &DiscoveryConfig, context: &mut Out) -> State {
        if let Some(timeout) = config.timeout {
            context.start_timer(ScannerTimer::Timeout, timeout);
        }
        let method = config.method;
        self.running = Some(Running {
            id,
            config: config.clone(),
        });
        match method {
            DiscoveryMethod::BluetoothScan => State::scanning(),
            DiscoveryMethod::BluetoothProximity => State::locating(),
        }
    }

    /// Ends the running discovery with `result`.
    fn end(&mut self, result: Result<(), DiscoveryError>, context: &mut Out) {
        if let Some(running) = &self.running {
            context.emit(ScannerOutput::EndDiscovery {
                discovery: running.id,
                result,
            });
        }
    }

    /// Forgets everything of the discovery that ran and disarms its timers.
    fn reset(&mut self, context: &mut Out) {
        for timer in [
            ScannerTimer::Timeout,
            ScannerTimer::ReportDue,
            ScannerTimer::ForgetDue,
            ScannerTimer::LocateWindowClosed,
        ] {
            context.cancel_timer(timer);
        }
        self.readers.clear();
        self.candidates.clear();
        self.target = None;
        self.forget_armed = false;
        self.last_report_at = None;
        self.report_pending = false;
        self.last_listed = 0;
    }

    /// Scan intake: the hot path.
    fn intake(&mut self, adv: &Advertisement, context: &mut Out) {
        let serial = &adv.reader.serial_number;
        if !self.connected.is_empty() && self.connected.contains(serial) {
            return;
        }
        let now = context.now();
        if let Some(heard) = self.readers.get_mut(serial) {
            let details_changed = heard.update(adv, now);
            if details_changed || heard.rssi_moved() {
                self.changed(context);
            }
            return;
        }
        self.readers.insert(serial.clone(), Heard::new(adv, now));
        if !self.forget_armed {
            self.forget_armed = true;
            let after = self
                .running
                .as_ref()
                .map_or(Duration::ZERO, |r| r.config.forget_after);
            context.start_timer(ScannerTimer::ForgetDue, after);
        }
        self.changed(context);
    }

    /// Scan: forgets readers quiet for `forget_after`, and re-arms for the
    /// next one that may go quiet.
    fn sweep(&mut self, context: &mut Out) {
        let now = context.now();
        let forget_after = self.forget_after();
        let before = self.readers.len();
        self.readers
            .retain(|_, heard| now.saturating_sub(heard.last_seen) < forget_after);
        let removed = self.readers.len() != before;
        self.forget_armed = false;
        if let Some(oldest) = self.readers.values().map(|h| h.last_seen).min() {
            self.forget_armed = true;
            let due = oldest + forget_after;
            context.start_timer(ScannerTimer::ForgetDue, Duration::from_millis(due - now));
        }
        if removed {
            self.changed(context);
        }
    }

    /// Keeps the set of connected readers, one change at a time.
    fn note_connected(&mut self, serial: &SerialNumber, connected: bool) {
        if connected {
            self.connected.insert(serial.clone());
        } else {
            self.connected.remove(serial);
        }
    }

    /// The list changed: reports it now, or when `min_update_interval`
    /// since the last report has passed.
    fn changed(&mut self, context: &mut Out) {
        if self.report_pending {
            return;
        }
        let now = context.now();
        let interval = self
            .running
            .as_ref()
            .map_or(0, |r| ms(r.config.min_update_interval));
        match self.last_report_at {
            Some(at) if now < at + interval => {
                self.report_pending = true;
                context.start_timer(
                    ScannerTimer::ReportDue,
                    Duration::from_millis(at + interval - now),
                );
            }
            _ => self.report_now(context),
        }
    }

    /// Reports the current list.
    fn report_now(&mut self, context: &mut Out) {
        let Some(running) = &self.running else {
            return;
        };
        self.report_pending = false;
        self.last_report_at = Some(context.now());
        let readers = match running.config.method {
            DiscoveryMethod::BluetoothScan => {
                let mut listed: Vec<(&SerialNumber, &mut Heard)> = self.readers.iter_mut().collect();
                listed.sort_unstable_by(|(a_serial, a), (b_serial, b)| {
                    b.rssi.cmp(&a.rssi).then_with(|| a_serial.cmp(b_serial))
                });
                listed
                    .into_iter()
                    .map(|(serial, heard)| {
                        heard.reported_rssi = Some(heard.rssi);
                        heard.reader(serial, true)
                    })
                    .collect()
            }
            DiscoveryMethod::BluetoothProximity => match &mut self.target {
                Some(target) => {
                    target.shown = if target.detailed {
                        Shown::Detailed
                    } else {
                        Shown::SerialOnly
                    };
                    vec![target.heard.reader(&target.serial, target.detailed)]
                }
                None => Vec::new(),
            },
        };
        self.last_listed = readers.len();
        context.emit(ScannerOutput::ReportReaders {
            discovery: running.id,
            readers,
        });
    }

    fn is_proximity_candidate(&self, adv: &Advertisement) -> bool {
        adv.reader.device_type.supports_proximity() && !self.connected.contains(&adv.reader.serial_number)
    }

    /// Locating: notes a candidate; the first opens the locate window.
    fn consider(&mut self, adv: &Advertisement, context: &mut Out) {
        let now = context.now();
        if self.candidates.is_empty() {
            let window = self
                .running
                .as_ref()
                .map_or(Duration::ZERO, |r| r.config.locate_window);
            context.start_timer(ScannerTimer::LocateWindowClosed, window);
        }
        match self.candidates.get_mut(&adv.reader.serial_number) {
            Some(candidate) => {
                candidate.heard.update(adv, now);
                candidate.rssi_sum += i64::from(adv.rssi);
                candidate.samples += 1;
            }
            None => {
                self.candidates.insert(
                    adv.reader.serial_number.clone(),
                    Candidate {
                        heard: Heard::new(adv, now),
                        rssi_sum: i64::from(adv.rssi),
                        samples: 1,
                    },
                );
            }
        }
    }

    /// Locating: the window closed; makes the loudest candidate (by mean
    /// RSSI, ties to the lower serial) the target and reports it by serial.
    fn pick_nearest(&mut self, context: &mut Out) -> bool {
        let nearest = self.candidates.drain().max_by(|(a_serial, a), (b_serial, b)| {
            (a.rssi_sum * b.samples)
                .cmp(&(b.rssi_sum * a.samples))
                .then_with(|| b_serial.cmp(a_serial))
        });
        let Some((serial, candidate)) = nearest else {
            return false;
        };
        let quiet = context.now().saturating_sub(candidate.heard.last_seen);
        let forget_after = self.forget_after();
        context.start_timer(
            ScannerTimer::ForgetDue,
            Duration::from_millis(forget_after.saturating_sub(quiet)),
        );
        self.target = Some(Target {
            serial,
            heard: candidate.heard,
            detailed: false,
            shown: Shown::Nothing,
        });
        self.changed(context);
        self.want_details(context);
        true
    }

    /// Takes in an advertisement if it is the target's; says whether its
    /// details changed.
    fn hear_target(&mut self, adv: &Advertisement, context: &mut Out) -> bool {
        let now = context.now();
        match &mut self.target {
            Some(target) if target.serial == adv.reader.serial_number => target.heard.update(adv, now),
            _ => false,
        }
    }

    /// Once the serial-only list went out and the target's battery is
    /// known, asks for the detailed list (R4: reported twice).
    fn want_details(&mut self, context: &mut Out) {
        if let Some(target) = &mut self.target
            && target.shown == Shown::SerialOnly
            && !target.detailed
            && target.heard.battery_percent.is_some()
        {
            target.detailed = true;
            self.changed(context);
        }
    }

    /// Refining: once the serial-only list went out and the battery is
    /// known, asks for the detailed list; → `identified` once it went out.
    fn after_target_report(&mut self, context: &mut Out) -> Outcome<State> {
        self.want_details(context);
        match &self.target {
            Some(t) if t.shown == Shown::Detailed => Transition(State::identified()),
            _ => Handled,
        }
    }
}

impl StatigCore for ScannerCore {
    type Output = ScannerOutput;
    type Timer = ScannerTimer;

    fn spec() -> &'static MachineSpec {
        &SPEC
    }

    fn timer_elapsed(timer: ScannerTimer) -> ScannerInput {
        match timer {
            ScannerTimer::Timeout => ScannerInput::TimeoutElapsed,
            ScannerTimer::ReportDue => ScannerInput::ReportDue,
            ScannerTimer::ForgetDue => ScannerInput::ForgetDue,
            ScannerTimer::LocateWindowClosed => ScannerInput::LocateWindowClosed,
            ScannerTimer::IdentifyAck(serial) => ScannerInput::IdentifyAckTimedOut { serial },
        }
    }
}

/// The scanner as a runtime machine.
pub type Scanner = StatigMachine<ScannerCore>;

impl Scanner {
    /// An idle scanner.
    pub fn new() -> Self {
        StatigMachine::from_core(ScannerCore::default())
    }

    /// How many readers a scan holds now (listed or about to be).
    pub fn tracked_readers(&self) -> usize {
        self.core().readers.len()
    }
}

impl Default for Scanner {
    fn default() -> Self {
        Self::new()
    }
}
