//! One simulated reader, as pure logic: its state, and what happens at time
//! `t` or on an ATT payload. No clock, no IO, no tasks — the world's tokio
//! tasks drive it ([`super::world`]) and tests can step it directly.
//!
//! Every method takes `now` (ms of virtual time since the world started);
//! call [`SimReader::advance`] up to [`SimReader::next_deadline`] to let time
//! pass, and drain [`SimReader::take_outputs`] to carry out what it did.
//!
//! # Behaviour
//!
//! | what | when |
//! |---|---|
//! | answers a command | [`RESPONSE_DELAY_MS`] after it arrives; [`WAKE_DELAY_MS`] more when it was asleep |
//! | falls asleep (stays connected, R7) | [`SLEEP_AFTER_MS`] after the last command while connected, or on `Sleep` |
//! | powers down, `Disconnecting { IdlePowerDown }` | [`IDLE_POWER_DOWN_MS`] (10 h) after the last activity (command, card, connection, boot) when not charging |
//! | self-reboot, `Disconnecting { SecurityReboot }` | M2 and WisePad 3: [`DAILY_REBOOT_MS`] (24 h) after boot (its uptime reaches 24 h; a fleet's `uptime_ms` or [`SimReader::set_uptime`] starts it part-way); one falling due in a transaction waits for its end (R20); the Chipper 2X never |
//! | reboots when the host asks, `Disconnecting { RebootRequested }` or `{ SecurityReboot }` | on `Reboot { kind }`, unless a transaction runs (`Error { TransactionInProgress }`, R20) |
//! | a transaction runs | from `TransactionBegin` to `TransactionEnd`, or until the link goes; meanwhile `Reboot` and `UpdateBegin` are refused (R20) |
//! | boots (no advertising, no connection) | for [`BOOT_MS`] after a reboot or power-on |
//! | `BatteryReport` | every [`BATTERY_REPORT_MS`] while connected, and when charging starts or stops |
//! | `LowBatteryWarning` | when the level falls below 20 % while connected (again after it rose above 25 %) |
//! | powers down, `Disconnecting { CriticallyLowBattery }` | at 1 % (or the fault plan's `die_at_battery`) |
//! | long-form advertisement (battery, software version) | every [`SCAN_RESPONSE_EVERY`]th advertisement, as the scan response |
//!
//! Battery, per hour: −5 % connected and awake, −1 % asleep, −2 % advertising
//! or booting, +50 % on a charger (it does not drain while charging), 0 when
//! off.
//!
//! # Firmware slots (R19)
//!
//! Two slots, A and B, the way a secure bootloader (MCUboot's test-and-confirm
//! upgrade) keeps them:
//!
//! 1. `UpdateBegin` refuses a version older than the active one
//!    (`VersionTooOld`: no rollback), then erases the inactive slot and
//!    writes the image there chunk by chunk, hashing as it goes.
//! 2. `UpdateCommit` verifies again on the reader's side: size, SHA-256
//!    digest, and a version not older than the active one
//!    (`DigestMismatch` / `VersionTooOld` otherwise).
//! 3. [`COMMIT_DELAY_MS`] later the reader boots the new slot on trial and
//!    answers the commit with `Ack`. (The swap is modelled without dropping
//!    the link or resetting the uptime.)
//! 4. [`CONFIRM_AFTER_MS`] after its trial boot, the new image confirms
//!    itself and becomes permanent; the old image stays in the inactive
//!    slot.
//!
//! Until step 4, nothing is final: an install cut off before step 3 —
//! power loss, lost link before the commit, `UpdateAbort`, a failure at a
//! percentage, a wrong digest, a reboot — erases the written slot and
//! leaves the old slot active; a reboot or power loss during the trial (or
//! an image that fails to confirm itself, [`SimReader::fail_next_confirm`]:
//! it crashes and reboots, no goodbye) falls back to the old slot and
//! erases the new one. A link lost after the commit does not stop steps
//! 3 and 4. So the reader always boots a valid image, old or new, and its
//! version never goes down.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::fleet::{FaultPlan, ReaderSpec};
use super::link;
use crate::protocol::advertisement::ReaderAdvertisement;
use crate::protocol::{
    Command, ErrorCode, ReaderInfo, ReaderMessage, Reassembler, Request, RequestId, Slot, fragment,
};
use crate::reader::{Battery, BatteryStatus, DeviceType, DisconnectReason, SerialNumber};
use crate::runtime::Millis;
use crate::transport::LinkLossCause;

/// A command is answered this long after it arrives.
pub const RESPONSE_DELAY_MS: Millis = 10;
/// A sleeping reader takes this much longer to answer its first command.
pub const WAKE_DELAY_MS: Millis = 40;
/// `UpdateCommit` (digest check and trial boot of the new slot) takes this
/// long.
pub const COMMIT_DELAY_MS: Millis = 300;
/// A new image confirms itself this long after its trial boot; a reboot
/// before that falls back to the old slot.
pub const CONFIRM_AFTER_MS: Millis = 1000;
/// A connected reader falls asleep after this long without a command.
pub const SLEEP_AFTER_MS: Millis = 5 * 60 * 1000;
/// A reader not charging powers down after this long without activity.
pub const IDLE_POWER_DOWN_MS: Millis = 10 * 60 * 60 * 1000;
/// M2 and WisePad 3 reboot themselves after this long since boot (R12).
pub const DAILY_REBOOT_MS: Millis = 24 * 60 * 60 * 1000;
/// A reboot or power-on takes this long before the reader advertises.
pub const BOOT_MS: Millis = 3000;
/// A connected reader reports its battery at least this often (R18a).
pub const BATTERY_REPORT_MS: Millis = 10 * 60 * 1000;
/// The battery is integrated at least this often, so thresholds are seen
/// within this much of being crossed.
pub const BATTERY_TICK_MS: Millis = 60 * 1000;
/// Every this-many-th advertisement is the long form (the scan response).
pub const SCAN_RESPONSE_EVERY: u64 = 4;
/// The largest image a slot holds.
pub const MAX_IMAGE_SIZE: u32 = 16 * 1024 * 1024;
/// Updates are refused below this battery level unless charging (R14).
pub const MIN_UPDATE_BATTERY: f32 = 0.5;
/// The default level at which the reader powers down.
pub const CRITICAL_POWER_DOWN_LEVEL: f32 = 0.01;
const LOW_WARNING_BELOW: f32 = 0.20;
const LOW_WARNING_REARM_ABOVE: f32 = 0.25;
const HOUR_MS: f32 = 3_600_000.0;
/// The most a reader's battery drains in an hour (awake, on a link, not
/// charging): a fraction of a full battery.
pub const MAX_DRAIN_PER_H: f32 = DRAIN_AWAKE_PER_H;
const DRAIN_AWAKE_PER_H: f32 = 0.05;
const DRAIN_ASLEEP_PER_H: f32 = 0.01;
const DRAIN_IDLE_PER_H: f32 = 0.02;
const CHARGE_PER_H: f32 = 0.5;

/// What a reader did that its driver must carry out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReaderOutput {
    /// Notify one ATT payload on the event characteristic.
    Notify(Vec<u8>),
    /// The link is gone, and how the central will see it.
    LinkClosed(LinkLossCause),
}

/// Why a reader cannot be connected now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Unreachable {
    /// It is off.
    #[error("the reader is powered off")]
    PoweredOff,
    /// It is booting.
    #[error("the reader is booting")]
    Booting,
    /// Its radio is cut off (a link-loss fault).
    #[error("the reader's radio is out of reach")]
    RadioBlocked,
    /// It is too far away.
    #[error("the reader is out of range")]
    OutOfRange,
    /// It already has a link.
    #[error("the reader is already connected")]
    AlreadyConnected,
}

/// Whether the reader is powered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Power {
    /// Off.
    Off,
    /// Booting; ready at this time.
    Booting {
        /// When it is up.
        ready_at: Millis,
    },
    /// Up.
    On,
}

/// A firmware image held in a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// Its software version.
    pub version: String,
    /// Its SHA-256 digest.
    pub sha256: [u8; 32],
}

/// A snapshot of a simulated reader, for tests and world queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimReaderState {
    /// Its serial number.
    pub serial: SerialNumber,
    /// Its model.
    pub device_type: DeviceType,
    /// Powered on (booting or up).
    pub powered: bool,
    /// Booting.
    pub booting: bool,
    /// It has a link.
    pub connected: bool,
    /// Asleep (while connected).
    pub asleep: bool,
    /// Its battery.
    pub battery: Battery,
    /// The slot it boots from.
    pub active_slot: Slot,
    /// The software version in the active slot.
    pub software_version: String,
    /// What the inactive slot holds: the previous image after an update, or
    /// nothing (never written, or erased by an install cut off).
    pub inactive_image: Option<String>,
    /// The active slot runs on trial: a new image booted after a commit
    /// that has not confirmed itself yet; a reboot now falls back to the
    /// old slot. Absent in states recorded before it existed.
    #[serde(default)]
    pub on_trial: bool,
    /// Bytes written and total of the install under way.
    pub update_progress: Option<(u32, u32)>,
    /// How many `Identify` commands it has carried out.
    pub identify_count: u32,
    /// Whether its LEDs are flashing now.
    pub flashing: bool,
    /// Commands received over its life (the fault plan's steps).
    pub commands_received: u32,
    /// Frames it could not decode.
    pub frames_rejected: u32,
    /// Whether a card is in it.
    pub card_inserted: bool,
    /// Distance from the host in metres.
    #[serde(serialize_with = "crate::reader::f32_as_written::serialize")]
    pub distance_m: f32,
    /// Whether a transaction runs (R20).
    pub in_transaction: bool,
    /// Time since it last booted, in ms (0 when off or booting); what it
    /// reports in `ReaderInfo`.
    pub uptime_ms: Millis,
    /// How many times it has booted (power-on or reboot) since the world
    /// started.
    pub boots: u32,
}

#[derive(Debug, Clone)]
struct LinkState {
    att_payload: usize,
    reassembler: Reassembler,
    last_report: Millis,
}

#[derive(Debug, Clone)]
struct UpdateSession {
    version: String,
    size: u32,
    sha256: [u8; 32],
    window: u8,
    hasher: Sha256,
    written: u32,
    chunks_since_ack: u8,
    resync_sent: bool,
    fail_at_percent: Option<u8>,
    last_progress_step: u32,
}

#[derive(Debug, Clone)]
enum Scheduled {
    Send(ReaderMessage),
    Reboot(DisconnectReason),
    /// The committed image in the inactive slot boots on trial; the commit
    /// with this request id is answered.
    TrialBoot(RequestId),
    /// The image on trial confirms itself (or fails to).
    Confirm,
}

/// Where the slot switch of an install stands once its commit verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Switch {
    /// No install past its commit.
    Idle,
    /// The image in the inactive slot verified; its trial boot is
    /// scheduled.
    Committed,
    /// The new image runs on trial; `previous` is the slot to fall back to.
    OnTrial { previous: Slot },
}

/// One simulated reader.
#[derive(Debug, Clone)]
pub struct SimReader {
    serial: SerialNumber,
    device_type: DeviceType,
    max_att_payload: usize,
    distance_m: f32,
    fault: FaultPlan,
    power: Power,
    /// When it last came up (or when its uptime was last set).
    booted_at: Millis,
    /// The uptime it already had at `booted_at`: 0 after a boot; a
    /// fleet's `uptime_ms` or [`SimReader::set_uptime`] starts it part-way.
    uptime_at_booted_at: Millis,
    boots: u32,
    battery_level: f32,
    battery_at: Millis,
    charging: bool,
    low_warned: bool,
    last_activity: Millis,
    asleep: bool,
    link: Option<LinkState>,
    radio_blocked_until: Option<Millis>,
    slots: [Option<Image>; 2],
    active: Slot,
    update: Option<UpdateSession>,
    fail_next_install_at: Option<u8>,
    /// Where the slot switch stands after a verified commit.
    switch: Switch,
    /// The next image on trial fails to confirm itself.
    fail_next_confirm: bool,
    identify_count: u32,
    flashing_until: Millis,
    commands_received: u32,
    frames_rejected: u32,
    card_inserted: bool,
    advertisements: u64,
    /// A transaction runs: reboots and installs are refused (R20).
    transaction: bool,
    /// Its own 24-hour reboot, deferred by a transaction, comes no earlier
    /// than this: after the transaction's end was acknowledged.
    reboot_not_before: Millis,
    scheduled: Vec<(Millis, Scheduled)>,
    outputs: Vec<ReaderOutput>,
}

fn slot_index(slot: Slot) -> usize {
    match slot {
        Slot::A => 0,
        Slot::B => 1,
    }
}

impl SimReader {
    /// A reader as the fleet describes it, up and advertising at `now`.
    pub fn new(spec: &ReaderSpec, now: Millis) -> Self {
        Self {
            serial: spec.serial.clone(),
            device_type: spec.device_type,
            max_att_payload: spec.att_payload,
            distance_m: spec.distance_m,
            fault: spec.fault.clone(),
            power: Power::On,
            booted_at: now,
            uptime_at_booted_at: spec.uptime_ms,
            boots: 0,
            battery_level: spec.battery.clamp(0.0, 1.0),
            battery_at: now,
            charging: spec.charging,
            low_warned: false,
            last_activity: now,
            asleep: false,
            link: None,
            radio_blocked_until: None,
            slots: [
                Some(Image {
                    version: spec.software_version.clone(),
                    sha256: Sha256::digest(spec.software_version.as_bytes()).into(),
                }),
                None,
            ],
            active: Slot::A,
            update: None,
            fail_next_install_at: spec.fault.fail_install_at_percent,
            switch: Switch::Idle,
            fail_next_confirm: false,
            identify_count: 0,
            flashing_until: 0,
            commands_received: 0,
            frames_rejected: 0,
            card_inserted: false,
            advertisements: 0,
            transaction: false,
            reboot_not_before: 0,
            scheduled: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Its serial number.
    pub fn serial(&self) -> &SerialNumber {
        &self.serial
    }

    /// Its distance from the host in metres.
    pub fn distance_m(&self) -> f32 {
        self.distance_m
    }

    /// What it did since the last call.
    pub fn take_outputs(&mut self) -> Vec<ReaderOutput> {
        std::mem::take(&mut self.outputs)
    }

    /// The battery now (as of the last [`SimReader::advance`]).
    pub fn battery(&self) -> Battery {
        Battery {
            level: self.battery_level,
            status: BatteryStatus::for_level(self.battery_level),
            charging: self.charging,
        }
    }

    /// A snapshot for queries.
    pub fn state(&self, now: Millis) -> SimReaderState {
        let active = self.slots[slot_index(self.active)].clone();
        SimReaderState {
            serial: self.serial.clone(),
            device_type: self.device_type,
            powered: self.power != Power::Off,
            booting: matches!(self.power, Power::Booting { .. }),
            connected: self.link.is_some(),
            asleep: self.asleep,
            battery: self.battery(),
            active_slot: self.active,
            software_version: active.map(|i| i.version).unwrap_or_default(),
            inactive_image: self.slots[slot_index(self.active.other())]
                .as_ref()
                .map(|i| i.version.clone()),
            on_trial: matches!(self.switch, Switch::OnTrial { .. }),
            update_progress: self.update.as_ref().map(|u| (u.written, u.size)),
            identify_count: self.identify_count,
            flashing: now < self.flashing_until,
            commands_received: self.commands_received,
            frames_rejected: self.frames_rejected,
            card_inserted: self.card_inserted,
            distance_m: self.distance_m,
            in_transaction: self.transaction,
            uptime_ms: self.uptime(now),
            boots: self.boots,
        }
    }

    /// Time since it last booted (0 when off or booting).
    pub fn uptime(&self, now: Millis) -> Millis {
        match self.power {
            Power::On => now
                .saturating_sub(self.booted_at)
                .saturating_add(self.uptime_at_booted_at),
            Power::Off | Power::Booting { .. } => 0,
        }
    }

    /// Whether its own 24-hour reboot can fall due: an M2 or a WisePad 3
    /// not in a transaction (one falling due in a transaction waits for the
    /// transaction's end, R20).
    fn daily_reboot_armed(&self) -> bool {
        self.device_type.reboots_daily() && !self.transaction
    }

    /// When an M2 or a WisePad 3 reboots itself: its uptime reaches
    /// [`DAILY_REBOOT_MS`].
    /// A reboot deferred by a transaction happens once it ended (after
    /// the acknowledgement of its end; at once when the link took it).
    fn daily_reboot_at(&self) -> Millis {
        let due = self.booted_at + DAILY_REBOOT_MS.saturating_sub(self.uptime_at_booted_at);
        // `battery_at` is how far time has been integrated: never reboot in the past.
        due.max(self.reboot_not_before).max(self.battery_at)
    }

    /// Makes it as if it had booted `uptime` ago (a reader that is up; off
    /// or booting it does nothing): its uptime and its own 24-hour reboot
    /// follow.
    pub fn set_uptime(&mut self, now: Millis, uptime: Millis) {
        self.advance(now);
        if self.power == Power::On {
            self.booted_at = now;
            self.uptime_at_booted_at = uptime;
        }
    }

    /// The software version in the active slot.
    pub fn software_version(&self) -> String {
        self.slots[slot_index(self.active)]
            .as_ref()
            .map(|i| i.version.clone())
            .unwrap_or_default()
    }

    fn reachable(&self, now: Millis) -> Result<(), Unreachable> {
        match self.power {
            Power::Off => return Err(Unreachable::PoweredOff),
            Power::Booting { .. } => return Err(Unreachable::Booting),
            Power::On => {}
        }
        if self.radio_blocked_until.is_some_and(|until| now < until) {
            return Err(Unreachable::RadioBlocked);
        }
        if !link::in_range(self.distance_m) {
            return Err(Unreachable::OutOfRange);
        }
        Ok(())
    }

    /// Whether a connect would succeed now, and why not.
    pub fn connectable(&self, now: Millis) -> Result<(), Unreachable> {
        self.reachable(now)?;
        if self.link.is_some() {
            return Err(Unreachable::AlreadyConnected);
        }
        Ok(())
    }

    /// The next advertisement, if it advertises now (up, reachable, not
    /// connected). Every [`SCAN_RESPONSE_EVERY`]th one is the long form.
    pub fn advertisement(&mut self, now: Millis) -> Option<ReaderAdvertisement> {
        self.advance(now);
        self.connectable(now).ok()?;
        self.advertisements += 1;
        let long = self.advertisements % SCAN_RESPONSE_EVERY == 0;
        Some(ReaderAdvertisement {
            device_type: self.device_type,
            serial_number: self.serial.clone(),
            battery_percent: long.then(|| (self.battery_level * 100.0).round().clamp(0.0, 100.0) as u8),
            software_version: long.then(|| self.software_version()),
        })
    }

    // ----- time -----

    /// The next time something happens by itself; `None` when nothing will
    /// until an input arrives.
    pub fn next_deadline(&self) -> Option<Millis> {
        let mut next: Option<Millis> = None;
        let mut consider = |t: Millis| next = Some(next.map_or(t, |n: Millis| n.min(t)));
        if let Some((t, _)) = self.scheduled.first() {
            consider(*t);
        }
        if let Some(until) = self.radio_blocked_until {
            if until != Millis::MAX {
                consider(until);
            }
        }
        if let Some(t) = self.fault.power_off_at_ms {
            consider(t);
        }
        if let Some(t) = self.fault.drop_link_at_ms {
            consider(t);
        }
        match self.power {
            Power::Off => {
                if self.charging && self.battery_level < 1.0 {
                    consider(self.battery_at + BATTERY_TICK_MS);
                }
            }
            Power::Booting { ready_at } => {
                consider(ready_at);
                consider(self.battery_at + BATTERY_TICK_MS);
            }
            Power::On => {
                consider(self.battery_at + BATTERY_TICK_MS);
                if !self.charging {
                    consider(self.last_activity + IDLE_POWER_DOWN_MS);
                }
                if self.daily_reboot_armed() {
                    consider(self.daily_reboot_at());
                }
                if let Some(link) = &self.link {
                    consider(link.last_report + BATTERY_REPORT_MS);
                    if !self.asleep {
                        consider(self.last_activity + SLEEP_AFTER_MS);
                    }
                }
            }
        }
        next
    }

    /// Lets time pass up to `now`, carrying out everything due on the way in
    /// time order.
    pub fn advance(&mut self, now: Millis) {
        while let Some(t) = self.next_deadline().filter(|t| *t <= now) {
            self.integrate_battery(t);
            self.fire(t);
        }
        self.integrate_battery(now);
    }

    fn drain_per_ms(&self) -> f32 {
        let per_hour = match self.power {
            Power::Off if self.charging => CHARGE_PER_H,
            Power::Off => 0.0,
            _ if self.charging => CHARGE_PER_H,
            Power::Booting { .. } => -DRAIN_IDLE_PER_H,
            Power::On if self.link.is_none() => -DRAIN_IDLE_PER_H,
            Power::On if self.asleep => -DRAIN_ASLEEP_PER_H,
            Power::On => -DRAIN_AWAKE_PER_H,
        };
        per_hour / HOUR_MS
    }

    fn integrate_battery(&mut self, now: Millis) {
        if now <= self.battery_at {
            return;
        }
        let dt = (now - self.battery_at) as f32;
        self.battery_level = (self.battery_level + self.drain_per_ms() * dt).clamp(0.0, 1.0);
        self.battery_at = now;
        self.check_battery(now);
    }

    fn check_battery(&mut self, now: Millis) {
        if self.power == Power::Off {
            return;
        }
        let die_at = self.fault.die_at_battery.unwrap_or(CRITICAL_POWER_DOWN_LEVEL);
        if !self.charging && self.battery_level <= die_at {
            self.power_down(now, Some(DisconnectReason::CriticallyLowBattery));
            return;
        }
        if self.battery_level >= LOW_WARNING_REARM_ABOVE {
            self.low_warned = false;
        } else if self.battery_level < LOW_WARNING_BELOW
            && !self.low_warned
            && !self.charging
            && self.link.is_some()
        {
            self.low_warned = true;
            self.send(ReaderMessage::LowBatteryWarning {
                battery: self.battery(),
            });
        }
    }

    /// Carries out whatever is due at `t` (at least one thing, since `t` is
    /// a deadline).
    fn fire(&mut self, t: Millis) {
        let due = self.scheduled.iter().take_while(|(at, _)| *at <= t).count();
        if due > 0 {
            for (_, item) in self.scheduled.drain(..due).collect::<Vec<_>>() {
                match item {
                    Scheduled::Send(message) => self.send(message),
                    Scheduled::Reboot(reason) => self.reboot(t, reason),
                    Scheduled::TrialBoot(request_id) => self.trial_boot(t, request_id),
                    Scheduled::Confirm => self.confirm(t),
                }
            }
        }
        if self.radio_blocked_until.is_some_and(|until| until <= t) {
            self.radio_blocked_until = None;
        }
        if self.fault.power_off_at_ms.is_some_and(|at| at <= t) {
            self.fault.power_off_at_ms = None;
            self.cut_power(t);
        }
        if self.fault.drop_link_at_ms.is_some_and(|at| at <= t) {
            self.fault.drop_link_at_ms = None;
            self.drop_link(LinkLossCause::SignalLost);
        }
        match self.power {
            Power::Off => {}
            Power::Booting { ready_at } => {
                if ready_at <= t {
                    self.power = Power::On;
                    self.booted_at = t;
                    self.uptime_at_booted_at = 0;
                    self.last_activity = t;
                }
            }
            Power::On => {
                if !self.charging && self.last_activity + IDLE_POWER_DOWN_MS <= t {
                    self.power_down(t, Some(DisconnectReason::IdlePowerDown));
                    return;
                }
                if self.daily_reboot_armed() && self.daily_reboot_at() <= t {
                    self.reboot(t, DisconnectReason::SecurityReboot);
                    return;
                }
                let battery = self.battery();
                if let Some(link) = &mut self.link {
                    if link.last_report + BATTERY_REPORT_MS <= t {
                        link.last_report = t;
                        self.send(ReaderMessage::BatteryReport { battery });
                    }
                    if !self.asleep && self.last_activity + SLEEP_AFTER_MS <= t {
                        self.asleep = true;
                    }
                }
            }
        }
    }

    // ----- link -----

    /// A central connects; returns the ATT payload negotiated (the smaller
    /// of what each side offers).
    pub fn link_opened(&mut self, now: Millis, offered_att_payload: usize) -> Result<usize, Unreachable> {
        self.advance(now);
        self.connectable(now)?;
        let att_payload = self.max_att_payload.min(offered_att_payload).max(2);
        self.link = Some(LinkState {
            att_payload,
            reassembler: Reassembler::new(),
            last_report: now,
        });
        self.last_activity = now;
        self.asleep = false;
        Ok(att_payload)
    }

    /// The central closed the link, or lost it.
    pub fn link_closed(&mut self, now: Millis) {
        self.advance(now);
        self.forget_link();
    }

    fn forget_link(&mut self) {
        if self.link.take().is_some() {
            self.cut_update();
            self.transaction = false;
            self.scheduled.retain(|(_, s)| !matches!(s, Scheduled::Send(_)));
            self.asleep = false;
        }
    }

    fn drop_link(&mut self, cause: LinkLossCause) {
        if self.link.is_some() {
            self.forget_link();
            self.outputs.push(ReaderOutput::LinkClosed(cause));
        }
    }

    /// Says goodbye (`Disconnecting { reason }`), then closes the link.
    fn close_link_with(&mut self, reason: DisconnectReason) {
        if self.link.is_some() {
            self.send(ReaderMessage::Disconnecting { reason });
            self.drop_link(LinkLossCause::RemoteClosed);
        }
    }

    fn send(&mut self, message: ReaderMessage) {
        if let Some(link) = &self.link {
            for payload in fragment(&message.encode(), link.att_payload) {
                self.outputs.push(ReaderOutput::Notify(payload));
            }
        }
    }

    fn schedule(&mut self, at: Millis, item: Scheduled) {
        let index = self.scheduled.partition_point(|(t, _)| *t <= at);
        self.scheduled.insert(index, (at, item));
    }

    /// One ATT payload written by the central to the command characteristic.
    pub fn payload_received(&mut self, now: Millis, payload: &[u8]) {
        self.advance(now);
        let Some(link) = &mut self.link else {
            return;
        };
        let frame = match link.reassembler.push(payload) {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(_) => {
                self.frames_rejected += 1;
                return;
            }
        };
        match Request::decode(&frame) {
            Ok(request) => self.handle(now, request),
            Err(_) => self.frames_rejected += 1,
        }
    }

    fn handle(&mut self, now: Millis, request: Request) {
        self.commands_received += 1;
        if self.fault.drop_link_at_step == Some(self.commands_received) {
            self.fault.drop_link_at_step = None;
            self.drop_link(LinkLossCause::SignalLost);
            return;
        }
        self.last_activity = now;
        let mut at = now + RESPONSE_DELAY_MS;
        if self.asleep {
            self.asleep = false;
            at += WAKE_DELAY_MS;
        }
        let id = request.request_id;
        let ack = ReaderMessage::Ack { request_id: id };
        let error = |code| ReaderMessage::Error { request_id: id, code };
        match request.command {
            Command::Hello => {
                let info = ReaderMessage::ReaderInfo {
                    request_id: id,
                    info: self.info(now),
                };
                self.schedule(at, Scheduled::Send(info));
            }
            Command::Identify { duration_ms } => {
                self.identify_count += 1;
                self.flashing_until = at + duration_ms as Millis;
                self.schedule(at, Scheduled::Send(ack));
            }
            Command::Reboot { kind } => {
                if self.transaction {
                    self.schedule(at, Scheduled::Send(error(ErrorCode::TransactionInProgress)));
                } else {
                    self.schedule(at, Scheduled::Send(ack));
                    self.schedule(at, Scheduled::Reboot(kind.disconnect_reason()));
                }
            }
            Command::TransactionBegin => {
                let reply = if self.transaction {
                    error(ErrorCode::TransactionInProgress)
                } else if self.update.is_some() {
                    error(ErrorCode::Busy)
                } else {
                    self.transaction = true;
                    ack
                };
                self.schedule(at, Scheduled::Send(reply));
            }
            Command::TransactionEnd => {
                let reply = if std::mem::take(&mut self.transaction) {
                    self.reboot_not_before = at + 1;
                    ack
                } else {
                    error(ErrorCode::NoTransactionInProgress)
                };
                self.schedule(at, Scheduled::Send(reply));
            }
            Command::Sleep => {
                self.schedule(at, Scheduled::Send(ack));
                self.asleep = true;
            }
            Command::Wake => self.schedule(at, Scheduled::Send(ack)),
            Command::ReadBattery => {
                let battery = ReaderMessage::BatteryLevel {
                    request_id: id,
                    battery: self.battery(),
                };
                self.schedule(at, Scheduled::Send(battery));
            }
            Command::UpdateBegin {
                version,
                size,
                sha256,
                window,
            } => {
                let reply = self.begin_update(version, size, sha256, window);
                self.schedule(at, Scheduled::Send(reply.map_or_else(error, |()| ack)));
            }
            Command::UpdateChunk { offset, bytes } => {
                for reply in self.write_chunk(id, offset, &bytes) {
                    self.schedule(at, Scheduled::Send(reply));
                }
            }
            Command::UpdateCommit => match self.commit_update() {
                Ok(()) => self.schedule(at + COMMIT_DELAY_MS, Scheduled::TrialBoot(id)),
                Err(code) => self.schedule(at + COMMIT_DELAY_MS, Scheduled::Send(error(code))),
            },
            Command::UpdateAbort => {
                self.cut_update();
                self.schedule(at, Scheduled::Send(ack));
            }
        }
    }

    fn info(&self, now: Millis) -> ReaderInfo {
        ReaderInfo {
            serial_number: self.serial.clone(),
            device_type: self.device_type,
            software_version: self.software_version(),
            active_slot: self.active,
            battery: self.battery(),
            uptime_ms: self.uptime(now),
        }
    }

    // ----- updates -----

    fn begin_update(
        &mut self,
        version: String,
        size: u32,
        sha256: [u8; 32],
        window: u8,
    ) -> Result<(), ErrorCode> {
        if self.transaction {
            return Err(ErrorCode::TransactionInProgress);
        }
        if size == 0 || size > MAX_IMAGE_SIZE {
            return Err(ErrorCode::InvalidImageSize);
        }
        if self.battery_level < MIN_UPDATE_BATTERY && !self.charging {
            return Err(ErrorCode::BatteryTooLow);
        }
        if self.switch != Switch::Idle {
            // The last install's slot switch is not final yet.
            return Err(ErrorCode::Busy);
        }
        if self.is_older_than_active(&version) {
            return Err(ErrorCode::VersionTooOld);
        }
        self.cut_update();
        self.update = Some(UpdateSession {
            version,
            size,
            sha256,
            window: window.max(1),
            hasher: Sha256::new(),
            written: 0,
            chunks_since_ack: 0,
            resync_sent: false,
            fail_at_percent: self.fail_next_install_at.take(),
            last_progress_step: 0,
        });
        Ok(())
    }

    fn write_chunk(&mut self, id: RequestId, offset: u32, bytes: &[u8]) -> Vec<ReaderMessage> {
        let error = |code| ReaderMessage::Error { request_id: id, code };
        let Some(update) = &mut self.update else {
            return vec![error(ErrorCode::NoUpdateInProgress)];
        };
        if offset != update.written {
            if update.resync_sent {
                return Vec::new();
            }
            update.resync_sent = true;
            update.chunks_since_ack = 0;
            return vec![
                error(ErrorCode::UnexpectedOffset),
                ReaderMessage::UpdateChunkAck {
                    request_id: id,
                    up_to_offset: update.written,
                },
            ];
        }
        if update.written as u64 + bytes.len() as u64 > update.size as u64 {
            self.cut_update();
            return vec![error(ErrorCode::InvalidImageSize)];
        }
        update.resync_sent = false;
        update.hasher.update(bytes);
        update.written += bytes.len() as u32;
        update.chunks_since_ack += 1;
        let percent = (update.written as u64 * 100 / update.size as u64) as u32;
        if update.fail_at_percent.is_some_and(|p| percent >= p as u32) {
            self.cut_update();
            return vec![error(ErrorCode::InstallFailed)];
        }
        let mut replies = Vec::new();
        let step = percent / 5;
        if step > update.last_progress_step {
            update.last_progress_step = step;
            replies.push(ReaderMessage::UpdateProgress {
                bytes_written: update.written,
                total: update.size,
            });
        }
        if update.chunks_since_ack >= update.window || update.written == update.size {
            update.chunks_since_ack = 0;
            replies.push(ReaderMessage::UpdateChunkAck {
                request_id: id,
                up_to_offset: update.written,
            });
        }
        replies
    }

    /// Whether `version` is older than the active image's. A version the
    /// reader cannot read is not judged here: the host refuses those
    /// before it begins ([`crate::firmware::verify`]).
    fn is_older_than_active(&self, version: &str) -> bool {
        crate::firmware::compare_versions(version, &self.software_version())
            .is_ok_and(|order| order == std::cmp::Ordering::Less)
    }

    /// The reader's own check of a written image: size, digest and version.
    /// On success the image is in the inactive slot and its trial boot is
    /// due; on failure the slot is erased.
    fn commit_update(&mut self) -> Result<(), ErrorCode> {
        let update = self.update.take().ok_or(ErrorCode::NoUpdateInProgress)?;
        let digest: [u8; 32] = update.hasher.finalize().into();
        let target = self.active.other();
        if update.written != update.size || digest != update.sha256 {
            self.slots[slot_index(target)] = None;
            return Err(ErrorCode::DigestMismatch);
        }
        if self.is_older_than_active(&update.version) {
            self.slots[slot_index(target)] = None;
            return Err(ErrorCode::VersionTooOld);
        }
        self.slots[slot_index(target)] = Some(Image {
            version: update.version,
            sha256: digest,
        });
        self.switch = Switch::Committed;
        Ok(())
    }

    /// Boots the committed image on trial and answers the commit.
    fn trial_boot(&mut self, now: Millis, request_id: RequestId) {
        if self.switch != Switch::Committed {
            return;
        }
        let previous = self.active;
        self.active = previous.other();
        self.switch = Switch::OnTrial { previous };
        self.send(ReaderMessage::Ack { request_id });
        self.schedule(now + CONFIRM_AFTER_MS, Scheduled::Confirm);
    }

    /// The image on trial confirms itself — or, told to fail, crashes: the
    /// link drops with no goodbye and the reader reboots into the old slot.
    fn confirm(&mut self, now: Millis) {
        if !matches!(self.switch, Switch::OnTrial { .. }) {
            return;
        }
        if std::mem::take(&mut self.fail_next_confirm) {
            self.drop_link(LinkLossCause::SignalLost);
            self.reboot(now, DisconnectReason::RebootRequested);
        } else {
            self.switch = Switch::Idle;
        }
    }

    /// A reboot or power loss before the new image confirmed itself: the
    /// next boot is from the old slot, and the new image is erased.
    fn abandon_switch(&mut self) {
        match std::mem::replace(&mut self.switch, Switch::Idle) {
            Switch::Idle => {}
            Switch::Committed => self.slots[slot_index(self.active.other())] = None,
            Switch::OnTrial { previous } => {
                self.slots[slot_index(self.active)] = None;
                self.active = previous;
            }
        }
    }

    /// An install cut off: the half-written inactive slot is erased; the
    /// active slot is untouched.
    fn cut_update(&mut self) {
        if self.update.take().is_some() {
            self.slots[slot_index(self.active.other())] = None;
        }
    }

    // ----- power -----

    fn reboot(&mut self, now: Millis, reason: DisconnectReason) {
        self.close_link_with(reason);
        self.cut_update();
        self.abandon_switch();
        self.scheduled.clear();
        self.asleep = false;
        self.power = Power::Booting {
            ready_at: now + BOOT_MS,
        };
        self.boots += 1;
    }

    fn power_down(&mut self, now: Millis, reason: Option<DisconnectReason>) {
        match reason {
            Some(reason) => self.close_link_with(reason),
            None => self.drop_link(LinkLossCause::SignalLost),
        }
        self.cut_update();
        self.abandon_switch();
        self.scheduled.clear();
        self.asleep = false;
        self.power = Power::Off;
        self.battery_at = now;
    }

    /// Someone presses the power button: it says goodbye
    /// (`Disconnecting { PoweredOff }`) and switches off.
    pub fn power_off(&mut self, now: Millis) {
        self.advance(now);
        if self.power != Power::Off {
            self.power_down(now, Some(DisconnectReason::PoweredOff));
        }
    }

    /// It loses power at once (battery pulled): no goodbye; the central sees
    /// the link time out.
    pub fn cut_power(&mut self, now: Millis) {
        self.advance(now);
        if self.power != Power::Off {
            self.power_down(now, None);
        }
    }

    /// Switched on: it boots for [`BOOT_MS`], then advertises.
    pub fn power_on(&mut self, now: Millis) {
        self.advance(now);
        if self.power == Power::Off {
            self.power = Power::Booting {
                ready_at: now + BOOT_MS,
            };
            self.boots += 1;
        }
    }

    // ----- the world around it -----

    /// Moves it; beyond range, a connected reader loses its link.
    pub fn move_to(&mut self, now: Millis, distance_m: f32) {
        self.advance(now);
        self.distance_m = distance_m.max(0.0);
        if !link::in_range(self.distance_m) {
            self.drop_link(LinkLossCause::SignalLost);
        }
    }

    /// Its radio is cut off until `until` (`Millis::MAX`: until restored):
    /// the link is lost, and it cannot be heard or connected meanwhile.
    pub fn block_radio(&mut self, now: Millis, until: Millis) {
        self.advance(now);
        self.radio_blocked_until = Some(until);
        self.drop_link(LinkLossCause::SignalLost);
    }

    /// Its radio works again.
    pub fn restore_radio(&mut self, now: Millis) {
        self.advance(now);
        self.radio_blocked_until = None;
    }

    /// The host's adapter went away: the link is gone, no goodbye.
    pub fn adapter_lost(&mut self, now: Millis) {
        self.advance(now);
        self.drop_link(LinkLossCause::AdapterPoweredOff);
    }

    /// Sets the battery level (clamped to [0, 1]).
    pub fn set_battery(&mut self, now: Millis, level: f32) {
        self.advance(now);
        self.battery_level = level.clamp(0.0, 1.0);
        self.check_battery(now);
    }

    /// Puts it on or off a charger; a connected reader reports its battery.
    pub fn set_charging(&mut self, now: Millis, charging: bool) {
        self.advance(now);
        if self.charging != charging {
            self.charging = charging;
            if let Some(link) = &mut self.link {
                link.last_report = now;
            }
            self.send(ReaderMessage::BatteryReport {
                battery: self.battery(),
            });
        }
    }

    /// A card is inserted (activity: it wakes).
    pub fn insert_card(&mut self, now: Millis) {
        self.card_event(now, true);
    }

    /// The card is removed (activity: it wakes).
    pub fn remove_card(&mut self, now: Millis) {
        self.card_event(now, false);
    }

    fn card_event(&mut self, now: Millis, inserted: bool) {
        self.advance(now);
        if self.power != Power::On || self.card_inserted == inserted {
            return;
        }
        self.card_inserted = inserted;
        self.last_activity = now;
        self.asleep = false;
        self.send(if inserted {
            ReaderMessage::CardInserted
        } else {
            ReaderMessage::CardRemoved
        });
    }

    /// The next install fails once `percent` of the image is written.
    pub fn fail_next_install_at(&mut self, now: Millis, percent: u8) {
        self.advance(now);
        self.fail_next_install_at = Some(percent.min(100));
    }

    /// The next image booted on trial fails to confirm itself: it crashes
    /// (the link drops, no goodbye) and the reader reboots into the old
    /// slot.
    pub fn fail_next_confirm(&mut self, now: Millis) {
        self.advance(now);
        self.fail_next_confirm = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m2() -> SimReader {
        let mut spec = ReaderSpec::new("STRM2-T", DeviceType::StripeM2, "3.1.0");
        spec.charging = true;
        SimReader::new(&spec, 0)
    }

    #[test]
    fn stepping_to_each_deadline_reaches_the_daily_reboot() {
        let mut reader = m2();
        let mut now = 0;
        while now < DAILY_REBOOT_MS {
            now = reader
                .next_deadline()
                .expect("a powered reader always has a deadline");
            reader.advance(now);
        }
        let state = reader.state(now);
        assert!(state.booting, "an M2 reboots at 24 h");
        assert_eq!(state.boots, 1);
    }

    #[test]
    fn a_connected_reader_says_why_before_it_drops_the_link() {
        let mut reader = m2();
        reader.link_opened(0, 244).unwrap();
        reader.power_off(10);
        let outputs = reader.take_outputs();
        let ReaderOutput::Notify(payload) = &outputs[0] else {
            panic!("expected a notification first, got {outputs:?}");
        };
        let mut r = Reassembler::new();
        let frame = r.push(payload).unwrap().unwrap();
        assert_eq!(
            ReaderMessage::decode(&frame),
            Ok(ReaderMessage::Disconnecting {
                reason: DisconnectReason::PoweredOff
            })
        );
        assert_eq!(outputs[1], ReaderOutput::LinkClosed(LinkLossCause::RemoteClosed));
    }
}
