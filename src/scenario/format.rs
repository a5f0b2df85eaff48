//! What a parsed scenario is: [`Scenario`], its [`Step`]s and
//! [`Expectations`]. The TOML format is documented in [`super`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::backend::Route;
use crate::reader::{ConnectionStatus, SerialNumber};
use crate::scanner::DiscoveryMethod;
use crate::transport::sim::Fleet;
use crate::updater::SimulatedUpdatePreset;

/// Which clock a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockMode {
    /// tokio's clock paused: a day passes in a moment, runs repeat exactly.
    #[default]
    Virtual,
    /// Wall-clock time: as slow as it says, and not byte-for-byte repeatable.
    Real,
}

/// A whole scenario: the world, the timeline of actions, and what must
/// (and must not) happen.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// A name for reports (`name`; the file stem when absent).
    pub name: String,
    /// Seeds every random choice of the run: the world (it replaces the
    /// fleet's own seed), the backend, its fault injector and the terminal.
    pub seed: u64,
    /// The clock.
    pub clock: ClockMode,
    /// The simulated readers.
    pub fleet: Fleet,
    /// The backend's locations, created in order before the run.
    pub locations: Vec<LocationSpec>,
    /// The reader saved in the store by an earlier run (R11), if any.
    pub saved_reader: Option<SavedReader>,
    /// How long the run lasts, in virtual time from its start.
    pub run_for: Duration,
    /// The steps, in file order; each runs once its trigger holds.
    pub steps: Vec<Step>,
    /// What must hold when the run is over.
    pub expect: Expectations,
    /// `[invariants]`: check the run's events against the runtime's
    /// invariants ([`super::invariants`]) too; absent, they are not checked.
    pub invariants: Option<InvariantSpec>,
}

/// The `[invariants]` table: the invariants every run must keep are
/// checked when it is present; its keys add the time-bound ones.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InvariantSpec {
    /// `live_at`: from this virtual time, every reader of `live` must be
    /// connected (liveness: the faults stopped long enough before).
    pub live_at: Option<Duration>,
    /// `live`: the readers that must be connected at `live_at`.
    pub live: Vec<SerialNumber>,
    /// `quiet_from`: from this virtual time every reader must be not
    /// connected, the overall status `not_connected`, and no terminal event
    /// may come (nothing left running after the app disconnected them all).
    pub quiet_from: Option<Duration>,
}

/// A location the backend holds before the run.
#[derive(Debug, Clone, PartialEq)]
pub struct LocationSpec {
    /// The scenario's name for it; `connect` steps name it. Its backend id
    /// (`tml_...`) is made when it is created.
    pub name: String,
    /// Its display name at the backend.
    pub display_name: String,
}

/// The store's last connected reader before the run (`[store]`).
#[derive(Debug, Clone, PartialEq)]
pub struct SavedReader {
    /// Its serial number.
    pub serial: SerialNumber,
    /// The scenario name of the location it was connected to.
    pub location: String,
}

/// One step of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Its position in `steps` (0-based, as in field paths).
    pub index: usize,
    /// The line of its `[[steps]]` header.
    pub line: usize,
    /// When it runs.
    pub trigger: Trigger,
    /// What it does.
    pub action: Action,
}

/// When a step runs. Steps run in file order: a step waits for the one
/// before it, then for its own trigger.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// At this virtual time since the start (`at = "2.5s"`).
    At(Duration),
    /// Once an event matching `event` happened after the previous step ran
    /// (`after = "Connected"` or `after = { event = "Connected", serial_number = "..." }`),
    /// then `delay` later.
    After {
        /// The event to wait for.
        event: EventPattern,
        /// How long after it (`delay`, default 0).
        delay: Duration,
    },
}

/// A step's action.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Something the app does through the terminal API.
    App(AppAction),
    /// Something that happens to the simulated world.
    World(WorldAction),
    /// Something that happens to the backend.
    Backend(BackendAction),
}

impl Action {
    /// The action's name as written in the file.
    pub fn name(&self) -> &'static str {
        match self {
            Self::App(a) => a.name(),
            Self::World(w) => w.name(),
            Self::Backend(b) => b.name(),
        }
    }

    /// The reader the action is about, if it is about one.
    pub fn serial(&self) -> Option<&SerialNumber> {
        match self {
            Self::App(a) => a.serial(),
            Self::World(w) => w.serial(),
            Self::Backend(_) => None,
        }
    }
}

/// What the app does (through [`crate::terminal::Terminal`]).
#[derive(Debug, Clone, PartialEq)]
pub enum AppAction {
    /// `discover`: start a discovery (R1); a running one is superseded.
    Discover {
        /// `method = "scan" | "proximity"` (default scan).
        method: DiscoveryMethod,
        /// `timeout` (R3), none by default.
        timeout: Option<Duration>,
    },
    /// `cancel_discovery`: cancel the running discovery (R5).
    CancelDiscovery,
    /// `connect`: connect a reader to a location (R6).
    Connect {
        /// `serial`.
        serial: SerialNumber,
        /// `location`: the scenario name of a location (default: the first
        /// declared); a name not declared is passed to the backend as an id.
        location: String,
        /// `auto_reconnect` (default true).
        auto_reconnect: bool,
    },
    /// `disconnect`: disconnect a reader (reason `DisconnectRequested`).
    Disconnect {
        /// `serial`.
        serial: SerialNumber,
    },
    /// `cancel_reconnect`: cancel a reader's running reconnection (R9).
    CancelReconnect {
        /// `serial`.
        serial: SerialNumber,
    },
    /// `reboot`: reboot a reader now (R12).
    Reboot {
        /// `serial`.
        serial: SerialNumber,
    },
    /// `install_update`: install the reader's available update (R17).
    InstallUpdate {
        /// `serial`.
        serial: SerialNumber,
    },
    /// `cancel_update`: cancel the reader's running install with the
    /// cancelable its `UpdateInstallStarted` offered (R16).
    CancelUpdate {
        /// `serial`.
        serial: SerialNumber,
    },
    /// `start_transaction`: a transaction starts on the reader (R20).
    StartTransaction {
        /// `serial`.
        serial: SerialNumber,
    },
    /// `end_transaction`: the transaction ends.
    EndTransaction {
        /// `serial`.
        serial: SerialNumber,
    },
    /// `reconnect_at_start`: what an app does at start with reconnect at
    /// start on (R11): discover and connect the saved reader.
    ReconnectAtStart {
        /// `timeout`: how long to look for it (default 30 s).
        timeout: Duration,
    },
}

impl AppAction {
    /// The action's name as written in the file.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Discover { .. } => "discover",
            Self::CancelDiscovery => "cancel_discovery",
            Self::Connect { .. } => "connect",
            Self::Disconnect { .. } => "disconnect",
            Self::CancelReconnect { .. } => "cancel_reconnect",
            Self::Reboot { .. } => "reboot",
            Self::InstallUpdate { .. } => "install_update",
            Self::CancelUpdate { .. } => "cancel_update",
            Self::StartTransaction { .. } => "start_transaction",
            Self::EndTransaction { .. } => "end_transaction",
            Self::ReconnectAtStart { .. } => "reconnect_at_start",
        }
    }

    /// The reader the action is about, if it is about one.
    pub fn serial(&self) -> Option<&SerialNumber> {
        match self {
            Self::Connect { serial, .. }
            | Self::Disconnect { serial }
            | Self::CancelReconnect { serial }
            | Self::Reboot { serial }
            | Self::InstallUpdate { serial }
            | Self::CancelUpdate { serial }
            | Self::StartTransaction { serial }
            | Self::EndTransaction { serial } => Some(serial),
            Self::Discover { .. } | Self::CancelDiscovery | Self::ReconnectAtStart { .. } => None,
        }
    }
}

/// What happens to the simulated world ([`crate::transport::sim::SimWorld`]'s controls).
#[derive(Debug, Clone, PartialEq)]
pub enum WorldAction {
    /// `move_reader`: `serial` to `distance_m` metres (beyond about 63 m the link is lost).
    MoveReader {
        /// `serial`.
        serial: SerialNumber,
        /// `distance_m`, >= 0.
        distance_m: f32,
    },
    /// `power_off`: the reader's power button (it says goodbye).
    PowerOff {
        /// `serial`.
        serial: SerialNumber,
    },
    /// `cut_power`: the reader loses power (no goodbye).
    CutPower {
        /// `serial`.
        serial: SerialNumber,
    },
    /// `power_on`: the reader boots.
    PowerOn {
        /// `serial`.
        serial: SerialNumber,
    },
    /// `lose_link`: the link is lost (signal) and the reader unreachable
    /// for `for` (or until `restore_link`).
    LoseLink {
        /// `serial`.
        serial: SerialNumber,
        /// `for`, until restored when absent.
        duration: Option<Duration>,
    },
    /// `restore_link`: the reader is reachable again.
    RestoreLink {
        /// `serial`.
        serial: SerialNumber,
    },
    /// `set_battery`: the battery `level` in [0, 1].
    SetBattery {
        /// `serial`.
        serial: SerialNumber,
        /// `level`.
        level: f32,
    },
    /// `set_charging`: the charger on or off (`charging`).
    SetCharging {
        /// `serial`.
        serial: SerialNumber,
        /// `charging`.
        charging: bool,
    },
    /// `insert_card`.
    InsertCard {
        /// `serial`.
        serial: SerialNumber,
    },
    /// `remove_card`.
    RemoveCard {
        /// `serial`.
        serial: SerialNumber,
    },
    /// `fail_next_install`: the reader's next install fails at `percent`.
    FailNextInstall {
        /// `serial`.
        serial: SerialNumber,
        /// `percent`, 0..=100.
        percent: u8,
    },
    /// `corrupt_frame`: the reader's link carries one ATT payload it did
    /// not mean to send — garbage, or a frame with a byte mangled in the
    /// air (`payload`, hex) — into whatever frame the connection was
    /// reassembling. Nothing happens when the reader has no link.
    CorruptFrame {
        /// `serial`.
        serial: SerialNumber,
        /// `payload`: the ATT payload's bytes, fragment header first.
        payload: Vec<u8>,
    },
    /// `set_adapter`: the host's Bluetooth adapter off or on (`powered`).
    SetAdapter {
        /// `powered`.
        powered: bool,
    },
}

impl WorldAction {
    /// The action's name as written in the file.
    pub fn name(&self) -> &'static str {
        match self {
            Self::MoveReader { .. } => "move_reader",
            Self::PowerOff { .. } => "power_off",
            Self::CutPower { .. } => "cut_power",
            Self::PowerOn { .. } => "power_on",
            Self::LoseLink { .. } => "lose_link",
            Self::RestoreLink { .. } => "restore_link",
            Self::SetBattery { .. } => "set_battery",
            Self::SetCharging { .. } => "set_charging",
            Self::InsertCard { .. } => "insert_card",
            Self::RemoveCard { .. } => "remove_card",
            Self::FailNextInstall { .. } => "fail_next_install",
            Self::CorruptFrame { .. } => "corrupt_frame",
            Self::SetAdapter { .. } => "set_adapter",
        }
    }

    /// The reader the action is about, if it is about one.
    pub fn serial(&self) -> Option<&SerialNumber> {
        match self {
            Self::MoveReader { serial, .. }
            | Self::PowerOff { serial }
            | Self::CutPower { serial }
            | Self::PowerOn { serial }
            | Self::LoseLink { serial, .. }
            | Self::RestoreLink { serial }
            | Self::SetBattery { serial, .. }
            | Self::SetCharging { serial, .. }
            | Self::InsertCard { serial }
            | Self::RemoveCard { serial }
            | Self::FailNextInstall { serial, .. }
            | Self::CorruptFrame { serial, .. } => Some(serial),
            Self::SetAdapter { .. } => None,
        }
    }
}

/// What happens to the backend ([`crate::backend::FaultInjector`]).
#[derive(Debug, Clone, PartialEq)]
pub enum BackendAction {
    /// `backend_down`: every call fails with 503, for `for` (or until
    /// `backend_restore`).
    Down {
        /// `for`, until restored when absent.
        duration: Option<Duration>,
    },
    /// `backend_restore`: the backend answers again.
    Restore,
    /// `backend_latency`: calls to `route` (every route when absent) take
    /// `latency` longer.
    Latency {
        /// `route` (`connection_token`, `get_location`, `create_location`,
        /// `list_locations`, `register_reader`, `check_update`,
        /// `download_update`).
        route: Option<Route>,
        /// `latency`.
        latency: Duration,
    },
    /// `backend_fail`: the next `count` (default 1) calls to `route` fail.
    Fail {
        /// `route`.
        route: Route,
        /// `count`.
        count: u32,
    },
    /// `set_update`: the catalog answers `serial` from `preset` from now
    /// on (the next connect asks it).
    SetUpdate {
        /// `serial`.
        serial: SerialNumber,
        /// `preset`: none, available, required, low_battery,
        /// low_battery_succeed_connect, random.
        preset: SimulatedUpdatePreset,
    },
}

impl BackendAction {
    /// The action's name as written in the file.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Down { .. } => "backend_down",
            Self::Restore => "backend_restore",
            Self::Latency { .. } => "backend_latency",
            Self::Fail { .. } => "backend_fail",
            Self::SetUpdate { .. } => "set_update",
        }
    }
}

/// Matches events: by kind, and optionally by fields.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPattern {
    /// The event's kind (`Connected`, `Disconnected`, ...).
    pub event: String,
    /// Fields the event must have, by (dotted) path, with their values as
    /// JSON. How a path is looked up is in [`super`] ("Matching events").
    pub fields: BTreeMap<String, Value>,
}

/// Everything the run is checked against.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expectations {
    /// `expect.sequence`: events that must appear in this order (others may
    /// come between), each optionally by a deadline.
    pub sequence: Vec<Expected>,
    /// `expect.events`: events that must appear, in any order, each
    /// optionally by a deadline.
    pub events: Vec<Expected>,
    /// `expect.absent`: events that must not appear in a time range.
    pub absent: Vec<Absent>,
    /// `expect.final_status`: each reader's status when the run is over.
    pub final_status: Vec<FinalStatus>,
    /// `expect.final_connection_status`: the terminal's overall status when
    /// the run is over.
    pub final_connection_status: Option<(usize, ConnectionStatus)>,
}

impl Expectations {
    /// How many expectations there are.
    pub fn len(&self) -> usize {
        self.sequence.len()
            + self.events.len()
            + self.absent.len()
            + self.final_status.len()
            + usize::from(self.final_connection_status.is_some())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An event that must appear.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// Its line in the file.
    pub line: usize,
    /// Its field path (`expect.sequence[2]`).
    pub field: String,
    /// The event.
    pub pattern: EventPattern,
    /// `by`: it must have appeared by this virtual time.
    pub by: Option<Duration>,
}

/// An event that must not appear.
#[derive(Debug, Clone, PartialEq)]
pub struct Absent {
    /// Its line in the file.
    pub line: usize,
    /// Its field path (`expect.absent[0]`).
    pub field: String,
    /// The event.
    pub pattern: EventPattern,
    /// `from` (default the start).
    pub from: Duration,
    /// `until` (default the end).
    pub until: Option<Duration>,
}

/// A reader's status when the run is over.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalStatus {
    /// Its line in the file.
    pub line: usize,
    /// The reader.
    pub serial: SerialNumber,
    /// The status it must have.
    pub status: ConnectionStatus,
}
