//! A seed → a [`Plan`] (fleet and the safety phase's timeline) → a
//! [`Scenario`] (the plan, then the heal, liveness and disconnect-all
//! phases, with `[invariants]`).

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::backend::Route;
use crate::protocol::ReaderMessage;
use crate::reader::{Battery, BatteryStatus, DeviceType, DisconnectReason, SerialNumber};
use crate::scanner::DiscoveryMethod;
use crate::scenario::{
    Action, AppAction, BackendAction, ClockMode, Expectations, InvariantSpec, LocationSpec, SavedReader,
    Scenario, Step, Trigger, WorldAction,
};
use crate::transport::sim::reader::{IDLE_POWER_DOWN_MS, MAX_DRAIN_PER_H};
use crate::transport::sim::{Fleet, LinkModel, ReaderSpec};
use crate::updater::SimulatedUpdatePreset;

/// The location every generated connect names.
pub const LOCATION: &str = "shop";

/// After the safety phase: how long the world is left to settle (every
/// reconnection window, 60 s by default, has closed) before the liveness
/// phase connects the readers again.
pub const SETTLE: Duration = Duration::from_secs(150);

/// The liveness phase connects each reader this many times, this far
/// apart: a backend told to fail its next calls (`backend_fail`) keeps
/// that order after the faults stop, so the first round may use it up.
pub const CONNECT_ROUNDS: u32 = 3;
/// The time between liveness connect rounds.
pub const ROUND_GAP: Duration = Duration::from_secs(30);
/// How long after the last round every reader the app asked to connect
/// must be connected.
pub const LIVE_BOUND: Duration = Duration::from_secs(90);
/// How long after disconnect-all the run must have gone quiet.
pub const QUIET_AFTER: Duration = Duration::from_secs(30);

/// What a seed generates: a fleet and the timeline of the safety phase
/// (app actions and faults). The shrinker works on plans; [`Plan::scenario`]
/// adds the phases after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The seed it came from (also the scenario's seed).
    pub seed: u64,
    /// The readers.
    pub readers: Vec<ReaderSpec>,
    /// The link's timing.
    pub link: LinkModel,
    /// How long the safety phase lasts.
    pub safety: Duration,
    /// Its actions, in time order.
    pub actions: Vec<Timed>,
    /// The reader an earlier run saved in the store (R11), for a plan
    /// that starts with `reconnect_at_start`.
    pub saved: Option<SerialNumber>,
}

/// An action of the safety phase and when it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    /// Virtual time since the start.
    pub at: Duration,
    /// The action.
    pub action: Action,
}

/// How a seed's world is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    /// How many readers.
    pub readers: usize,
    /// How long the safety phase lasts.
    pub safety: Duration,
    /// Actions per reader per virtual hour, on average (the fewest is 4 a
    /// reader).
    pub actions_per_reader_hour: f64,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self {
            readers: 3,
            safety: Duration::from_secs(3600),
            actions_per_reader_hour: 20.0,
        }
    }
}

/// The kinds of action the generator draws from, with their weights. Each
/// seed turns a random subset of them off (swarm testing: a seed with no
/// link loss reaches states that constant link loss would hide).
const KINDS: &[(&str, u32)] = &[
    ("connect", 20),
    ("disconnect", 6),
    ("discover", 4),
    ("cancel_discovery", 1),
    ("reboot", 4),
    ("cancel_reconnect", 3),
    ("start_transaction", 6),
    ("end_transaction", 6),
    ("install_update", 4),
    ("cancel_update", 2),
    ("lose_link", 8),
    ("cut_power", 3),
    ("power_off", 2),
    ("power_on", 6),
    ("move_reader", 3),
    ("set_battery", 3),
    ("set_charging", 2),
    ("card", 2),
    ("fail_next_install", 2),
    ("adapter_off", 2),
    ("backend_down", 3),
    ("backend_latency", 2),
    ("backend_fail", 3),
    ("set_update", 3),
];

fn template(device_type: DeviceType) -> ReaderSpec {
    let example = Fleet::example();
    example
        .readers
        .into_iter()
        .find(|r| r.device_type == device_type)
        .unwrap_or_else(|| ReaderSpec::new("X", device_type, "1.0.0"))
}

fn prefix(device_type: DeviceType) -> &'static str {
    match device_type {
        DeviceType::Chipper2X => "CHB20",
        DeviceType::WisePad3 => "WPC32",
        DeviceType::StripeM2 => "STRM2",
    }
}

fn ms(rng: &mut ChaCha8Rng, from: u64, to: u64) -> Duration {
    Duration::from_millis(rng.random_range(from..=to))
}

/// The plan of `seed`.
pub fn generate(seed: u64, config: &GenConfig) -> Plan {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let types = [DeviceType::Chipper2X, DeviceType::WisePad3, DeviceType::StripeM2];
    let readers: Vec<ReaderSpec> = (0..config.readers)
        .map(|i| {
            let device_type = types[rng.random_range(0..types.len())];
            let mut spec = template(device_type);
            spec.serial = SerialNumber::new(format!("{}-{:04}", prefix(device_type), i + 1));
            spec.distance_m = f32::from(rng.random_range(5u8..=80)) / 10.0;
            spec.battery = f32::from(rng.random_range(30u8..=100)) / 100.0;
            spec.charging = rng.random_bool(0.3);
            // Some readers are near their 24-hour reboot (R12), so it falls
            // due in the run, among the faults and transactions.
            spec.uptime_ms = if rng.random_bool(0.25) {
                23 * 3_600_000 + rng.random_range(0..3_600_000)
            } else {
                0
            };
            spec.update = match rng.random_range(0..10) {
                0 => SimulatedUpdatePreset::Required,
                1 | 2 => SimulatedUpdatePreset::Available,
                _ => SimulatedUpdatePreset::None,
            };
            spec.fault = Default::default();
            spec
        })
        .collect();
    let enabled: Vec<(&str, u32)> = KINDS
        .iter()
        .copied()
        .filter(|(kind, _)| *kind == "connect" || rng.random_bool(0.6))
        .collect();
    let total: u32 = enabled.iter().map(|(_, w)| w).sum();
    let hours = config.safety.as_secs_f64() / 3600.0;
    let count = ((config.readers as f64 * hours * config.actions_per_reader_hour).round() as usize)
        .max(4 * config.readers.max(1));
    let safety_ms = u64::try_from(config.safety.as_millis())
        .unwrap_or(u64::MAX)
        .max(1000);
    let mut times: Vec<u64> = (0..count)
        .map(|_| rng.random_range(10_000..safety_ms.max(10_001)))
        .collect();
    times.sort_unstable();
    let mut actions = vec![Timed {
        at: Duration::ZERO,
        action: Action::App(AppAction::Discover {
            method: DiscoveryMethod::BluetoothScan,
            timeout: Some(Duration::from_secs(20)),
        }),
    }];
    // Most readers are connected early, so the faults find something to break.
    for reader in &readers {
        if rng.random_bool(0.8) {
            actions.push(Timed {
                at: ms(&mut rng, 3000, 12_000),
                action: Action::App(AppAction::Connect {
                    serial: reader.serial.clone(),
                    location: LOCATION.into(),
                    auto_reconnect: rng.random_bool(0.9),
                }),
            });
        }
    }
    for t in times {
        if readers.is_empty() {
            break;
        }
        let mut pick = rng.random_range(0..total);
        let kind = enabled
            .iter()
            .find(|(_, w)| {
                if pick < *w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .map_or("connect", |(k, _)| *k);
        let serial = readers[rng.random_range(0..readers.len())].serial.clone();
        let at = Duration::from_millis(t);
        let action = match kind {
            "connect" => Action::App(AppAction::Connect {
                serial,
                location: LOCATION.into(),
                auto_reconnect: rng.random_bool(0.85),
            }),
            "disconnect" => Action::App(AppAction::Disconnect { serial }),
            "discover" => Action::App(AppAction::Discover {
                method: if rng.random_bool(0.8) {
                    DiscoveryMethod::BluetoothScan
                } else {
                    DiscoveryMethod::BluetoothProximity
                },
                timeout: Some(ms(&mut rng, 2000, 30_000)),
            }),
            "cancel_discovery" => Action::App(AppAction::CancelDiscovery),
            "reboot" => Action::App(AppAction::Reboot { serial }),
            "cancel_reconnect" => Action::App(AppAction::CancelReconnect { serial }),
            "start_transaction" => Action::App(AppAction::StartTransaction { serial }),
            "end_transaction" => Action::App(AppAction::EndTransaction { serial }),
            "install_update" => Action::App(AppAction::InstallUpdate { serial }),
            "cancel_update" => Action::App(AppAction::CancelUpdate { serial }),
            "lose_link" => Action::World(WorldAction::LoseLink {
                serial,
                duration: Some(ms(&mut rng, 100, 120_000)),
            }),
            "cut_power" => Action::World(WorldAction::CutPower { serial }),
            "power_off" => Action::World(WorldAction::PowerOff { serial }),
            "power_on" => Action::World(WorldAction::PowerOn { serial }),
            "move_reader" => Action::World(WorldAction::MoveReader {
                serial,
                distance_m: f32::from(rng.random_range(0u16..=900)) / 10.0,
            }),
            "set_battery" => Action::World(WorldAction::SetBattery {
                serial,
                level: f32::from(rng.random_range(0u8..=100)) / 100.0,
            }),
            "set_charging" => Action::World(WorldAction::SetCharging {
                serial,
                charging: rng.random_bool(0.5),
            }),
            "card" => {
                if rng.random_bool(0.5) {
                    Action::World(WorldAction::InsertCard { serial })
                } else {
                    Action::World(WorldAction::RemoveCard { serial })
                }
            }
            "fail_next_install" => Action::World(WorldAction::FailNextInstall {
                serial,
                percent: rng.random_range(0..=100),
            }),
            "adapter_off" => {
                actions.push(Timed {
                    at: at + ms(&mut rng, 500, 60_000),
                    action: Action::World(WorldAction::SetAdapter { powered: true }),
                });
                Action::World(WorldAction::SetAdapter { powered: false })
            }
            "backend_down" => Action::Backend(BackendAction::Down {
                duration: Some(ms(&mut rng, 100, 90_000)),
            }),
            "backend_latency" => Action::Backend(BackendAction::Latency {
                route: if rng.random_bool(0.5) {
                    None
                } else {
                    Some(Route::ALL[rng.random_range(0..Route::ALL.len())])
                },
                latency: ms(&mut rng, 0, 20_000),
            }),
            "backend_fail" => Action::Backend(BackendAction::Fail {
                route: Route::ALL[rng.random_range(0..Route::ALL.len())],
                count: rng.random_range(1..=2),
            }),
            _ => Action::Backend(BackendAction::SetUpdate {
                serial,
                preset: SimulatedUpdatePreset::ALL[rng.random_range(0..SimulatedUpdatePreset::ALL.len())],
            }),
        };
        actions.push(Timed { at, action });
    }
    // Drawn from a stream of their own, so that adding them left every
    // seed's other draws as they were.
    let mut side = ChaCha8Rng::seed_from_u64(seed ^ SIDE_STREAM);
    let saved = reconnect_at_start(&mut side, &readers, &mut actions);
    corrupt_frames(&mut side, &readers, config, safety_ms, &mut actions);
    // `adapter_off` put its `set_adapter` back on later than its draw.
    actions.sort_by_key(|a| a.at);
    actions.retain(|a| a.at < config.safety.max(Duration::from_secs(1)));
    Plan {
        seed,
        readers,
        link: Fleet::example().link,
        safety: config.safety.max(Duration::from_secs(1)),
        actions,
        saved,
    }
}

/// Seeds the draws of reconnect-at-start and corrupt frames (`"sidestream"`).
const SIDE_STREAM: u64 = 0x7369_6465_7374_7265;

/// A quarter of the seeds start as an app that saved a reader: the store
/// holds one of the readers, and the app reconnects it at start (R11)
/// instead of discovering.
fn reconnect_at_start(
    rng: &mut ChaCha8Rng,
    readers: &[ReaderSpec],
    actions: &mut [Timed],
) -> Option<SerialNumber> {
    if readers.is_empty() || !rng.random_bool(0.25) {
        return None;
    }
    let saved = readers[rng.random_range(0..readers.len())].serial.clone();
    let timeout = ms(rng, 5000, 30_000);
    // The first action is the app's discovery at start.
    if let Some(first) = actions.first_mut() {
        *first = Timed {
            at: Duration::ZERO,
            action: Action::App(AppAction::ReconnectAtStart { timeout }),
        };
    }
    Some(saved)
}

/// In three seeds of five, readers' links carry corrupt frames now and
/// then (two an hour per reader on average): garbage, or a real frame
/// with one bit flipped in the air.
fn corrupt_frames(
    rng: &mut ChaCha8Rng,
    readers: &[ReaderSpec],
    config: &GenConfig,
    safety_ms: u64,
    actions: &mut Vec<Timed>,
) {
    if readers.is_empty() || !rng.random_bool(0.6) {
        return;
    }
    let hours = config.safety.as_secs_f64() / 3600.0;
    let count = ((readers.len() as f64 * hours * 2.0).round() as usize).max(1);
    for _ in 0..count {
        let at = Duration::from_millis(rng.random_range(10_000..safety_ms.max(10_001)));
        let serial = readers[rng.random_range(0..readers.len())].serial.clone();
        actions.push(Timed {
            at,
            action: Action::World(WorldAction::CorruptFrame {
                serial,
                payload: corrupt_payload(rng),
            }),
        });
    }
}

/// One ATT payload of garbage, or of a reader's frame (one that fits a
/// 20-byte payload) with one bit flipped.
pub fn corrupt_payload(rng: &mut ChaCha8Rng) -> Vec<u8> {
    if rng.random_bool(0.5) {
        let len = rng.random_range(1..=20);
        return (0..len).map(|_| rng.random()).collect();
    }
    let battery = Battery {
        level: f32::from(rng.random_range(0u8..=100)) / 100.0,
        status: BatteryStatus::Nominal,
        charging: false,
    };
    let message = match rng.random_range(0..5) {
        0 => ReaderMessage::Ack {
            request_id: rng.random(),
        },
        1 => ReaderMessage::BatteryReport { battery },
        2 => ReaderMessage::CardInserted,
        3 => ReaderMessage::Disconnecting {
            reason: DisconnectReason::PoweredOff,
        },
        _ => ReaderMessage::UpdateChunkAck {
            request_id: rng.random(),
            up_to_offset: rng.random(),
        },
    };
    // A first fragment: its header, then the whole frame.
    let mut payload = vec![0x80];
    payload.extend(message.encode());
    let at = rng.random_range(1..payload.len());
    payload[at] ^= 1 << rng.random_range(0..8);
    payload
}

/// The reader an action is about, `set_update`'s too.
pub fn subject(action: &Action) -> Option<&SerialNumber> {
    match action {
        Action::Backend(BackendAction::SetUpdate { serial, .. }) => Some(serial),
        other => other.serial(),
    }
}

impl Plan {
    /// The readers the app asked to connect: the ones liveness is about.
    pub fn live(&self) -> Vec<SerialNumber> {
        let reconnects_at_start = self.any(|a| matches!(a, Action::App(AppAction::ReconnectAtStart { .. })));
        self.readers
            .iter()
            .filter(|r| {
                (reconnects_at_start && self.saved.as_ref() == Some(&r.serial))
                    || self.actions.iter().any(
                        |a| matches!(&a.action, Action::App(AppAction::Connect { serial, .. }) if *serial == r.serial),
                    )
            })
            .map(|r| r.serial.clone())
            .collect()
    }

    fn any(&self, f: impl Fn(&Action) -> bool) -> bool {
        self.actions.iter().any(|a| f(&a.action))
    }

    fn any_for(&self, serial: &SerialNumber, f: impl Fn(&Action) -> bool) -> bool {
        self.actions
            .iter()
            .any(|a| subject(&a.action) == Some(serial) && f(&a.action))
    }

    /// The heal steps at the end of the safety phase: undo every kind of
    /// fault the plan has (and only those, so a shrunk case stays short).
    fn heal(&self) -> Vec<Action> {
        let mut heal = Vec::new();
        if self.any(|a| matches!(a, Action::World(WorldAction::SetAdapter { .. }))) {
            heal.push(Action::World(WorldAction::SetAdapter { powered: true }));
        }
        if self.any(|a| matches!(a, Action::Backend(BackendAction::Down { .. }))) {
            heal.push(Action::Backend(BackendAction::Restore));
        }
        if self.any(|a| matches!(a, Action::Backend(BackendAction::Latency { .. }))) {
            heal.push(Action::Backend(BackendAction::Latency {
                route: None,
                latency: Duration::ZERO,
            }));
        }
        for reader in &self.readers {
            let serial = reader.serial.clone();
            let w = |a: &Action, f: fn(&WorldAction) -> bool| matches!(a, Action::World(w) if f(w));
            if self.any_for(&serial, |a| w(a, |w| matches!(w, WorldAction::LoseLink { .. }))) {
                heal.push(Action::World(WorldAction::RestoreLink {
                    serial: serial.clone(),
                }));
            }
            if self.any_for(&serial, |a| w(a, |w| matches!(w, WorldAction::MoveReader { .. }))) {
                heal.push(Action::World(WorldAction::MoveReader {
                    serial: serial.clone(),
                    distance_m: reader.distance_m,
                }));
            }
            // Left alone long enough, a reader not charging powers itself
            // down (10 idle hours) or runs its battery flat: not a fault of
            // the runtime, so the heal charges it and powers it on.
            let hours = self.safety.as_secs_f32() / 3600.0;
            let ran_down = !reader.charging
                && (self.safety >= Duration::from_millis(IDLE_POWER_DOWN_MS)
                    || reader.battery <= hours * MAX_DRAIN_PER_H);
            let battery =
                ran_down || self.any_for(&serial, |a| w(a, |w| matches!(w, WorldAction::SetBattery { .. })));
            if battery {
                heal.push(Action::World(WorldAction::SetBattery {
                    serial: serial.clone(),
                    level: 0.9,
                }));
            }
            if battery
                || self.any_for(&serial, |a| {
                    w(a, |w| {
                        matches!(w, WorldAction::CutPower { .. } | WorldAction::PowerOff { .. })
                    })
                })
            {
                heal.push(Action::World(WorldAction::PowerOn {
                    serial: serial.clone(),
                }));
            }
            if !reader.update.is_none()
                || self.any_for(&serial, |a| {
                    matches!(a, Action::Backend(BackendAction::SetUpdate { .. }))
                        || matches!(a, Action::World(WorldAction::FailNextInstall { .. }))
                })
            {
                heal.push(Action::Backend(BackendAction::SetUpdate {
                    serial: serial.clone(),
                    preset: SimulatedUpdatePreset::None,
                }));
            }
            if self.any_for(&serial, |a| {
                matches!(a, Action::App(AppAction::StartTransaction { .. }))
            }) {
                heal.push(Action::App(AppAction::EndTransaction {
                    serial: serial.clone(),
                }));
            }
        }
        heal
    }

    /// The scenario: the safety phase's actions; at its end the heal
    /// steps; after [`SETTLE`] a discovery and [`CONNECT_ROUNDS`] connects
    /// of every reader the app asked to connect; [`LIVE_BOUND`] after the
    /// last, the liveness check and a disconnect of each; [`QUIET_AFTER`]
    /// later, the run must be quiet.
    pub fn scenario(&self) -> Scenario {
        let mut timed: Vec<(Duration, Action)> =
            self.actions.iter().map(|a| (a.at, a.action.clone())).collect();
        let heal_at = self.safety;
        timed.extend(self.heal().into_iter().map(|a| (heal_at, a)));
        let live = self.live();
        let liveness_at = heal_at + SETTLE;
        let mut live_at = None;
        let mut quiet_from = liveness_at;
        if !live.is_empty() {
            timed.push((
                liveness_at,
                Action::App(AppAction::Discover {
                    method: DiscoveryMethod::BluetoothScan,
                    timeout: Some(Duration::from_secs(10)),
                }),
            ));
            let mut round_at = liveness_at + Duration::from_secs(5);
            for round in 0..CONNECT_ROUNDS {
                if round > 0 {
                    round_at += ROUND_GAP;
                }
                for serial in &live {
                    timed.push((
                        round_at,
                        Action::App(AppAction::Connect {
                            serial: serial.clone(),
                            location: LOCATION.into(),
                            auto_reconnect: true,
                        }),
                    ));
                }
            }
            let check_at = round_at + LIVE_BOUND;
            live_at = Some(check_at);
            let disconnect_at = check_at + Duration::from_secs(1);
            for serial in &live {
                timed.push((
                    disconnect_at,
                    Action::App(AppAction::Disconnect {
                        serial: serial.clone(),
                    }),
                ));
            }
            quiet_from = disconnect_at + QUIET_AFTER;
        }
        let steps = timed
            .into_iter()
            .enumerate()
            .map(|(index, (at, action))| Step {
                index,
                line: 0,
                trigger: Trigger::At(at),
                action,
            })
            .collect();
        Scenario {
            name: format!("explore seed {}", self.seed),
            seed: self.seed,
            clock: ClockMode::Virtual,
            fleet: Fleet {
                seed: self.seed,
                link: self.link.clone(),
                readers: self.readers.clone(),
            },
            locations: vec![LocationSpec {
                name: LOCATION.into(),
                display_name: "The shop".into(),
            }],
            saved_reader: self
                .saved
                .as_ref()
                .filter(|saved| self.readers.iter().any(|r| r.serial == **saved))
                .map(|serial| SavedReader {
                    serial: serial.clone(),
                    location: LOCATION.into(),
                }),
            run_for: quiet_from + QUIET_AFTER,
            steps,
            expect: Expectations::default(),
            invariants: Some(InvariantSpec {
                live_at,
                live,
                quiet_from: Some(quiet_from),
            }),
        }
    }
}
