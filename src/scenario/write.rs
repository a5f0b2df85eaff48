//! [`Scenario`] → TOML text in the format [`super`] documents, so a
//! scenario made in code (the explorer's shrunk cases) is a file
//! `readerlink simulate --scenario` runs.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

use super::format::{
    Action, AppAction, BackendAction, ClockMode, EventPattern, Expected, Scenario, Trigger, WorldAction,
};
use crate::reader::ConnectionStatus;
use crate::scanner::DiscoveryMethod;

fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn dur(duration: Duration) -> String {
    quoted(&format!("{}ms", duration.as_millis()))
}

fn status(status: ConnectionStatus) -> String {
    let name = serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    quoted(&name)
}

fn json_to_toml(value: &Value) -> String {
    match value {
        Value::String(s) => quoted(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => quoted(""),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(json_to_toml).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(k, v)| format!("{} = {}", quoted(k), json_to_toml(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn pattern(pattern: &EventPattern, extra: &[(&str, String)]) -> String {
    let mut parts = vec![format!("event = {}", quoted(&pattern.event))];
    for (path, value) in &pattern.fields {
        parts.push(format!("{} = {}", quoted(path), json_to_toml(value)));
    }
    for (key, value) in extra {
        parts.push(format!("{key} = {value}"));
    }
    format!("{{ {} }}", parts.join(", "))
}

fn expected(expected: &Expected) -> String {
    let by: Vec<(&str, String)> = expected.by.map(|b| ("by", dur(b))).into_iter().collect();
    pattern(&expected.pattern, &by)
}

/// The scenario as TOML that [`super::parse`] reads back as the same
/// scenario (bar the file lines its steps and expectations record). The
/// fleet is written inline as `[[readers]]` and `[link]`.
pub fn to_toml(scenario: &Scenario) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "name = {}", quoted(&scenario.name));
    let _ = writeln!(out, "seed = {}", quoted(&scenario.seed.to_string()));
    if scenario.clock == ClockMode::Real {
        let _ = writeln!(out, "clock = \"real\"");
    }
    let _ = writeln!(out, "run_for = {}", dur(scenario.run_for));
    out.push('\n');

    let mut fleet = toml::Table::new();
    if let Ok(toml::Value::Table(link)) = toml::Value::try_from(&scenario.fleet.link) {
        fleet.insert("link".into(), toml::Value::Table(link));
    }
    let readers: Vec<toml::Value> = scenario
        .fleet
        .readers
        .iter()
        .filter_map(|r| toml::Value::try_from(r).ok())
        .collect();
    fleet.insert("readers".into(), toml::Value::Array(readers));
    out.push_str(&toml::to_string(&fleet).unwrap_or_default());
    out.push('\n');

    for location in &scenario.locations {
        let _ = writeln!(out, "[[locations]]");
        let _ = writeln!(out, "name = {}", quoted(&location.name));
        let _ = writeln!(out, "display_name = {}\n", quoted(&location.display_name));
    }
    if let Some(saved) = &scenario.saved_reader {
        let _ = writeln!(out, "[store]");
        let _ = writeln!(out, "last_connected = {}", quoted(saved.serial.as_str()));
        let _ = writeln!(out, "location = {}\n", quoted(&saved.location));
    }

    for step in &scenario.steps {
        let _ = writeln!(out, "[[steps]]");
        match &step.trigger {
            Trigger::At(at) => {
                let _ = writeln!(out, "at = {}", dur(*at));
            }
            Trigger::After { event, delay } => {
                let _ = writeln!(out, "after = {}", pattern(event, &[]));
                if !delay.is_zero() {
                    let _ = writeln!(out, "delay = {}", dur(*delay));
                }
            }
        }
        let _ = writeln!(out, "action = {}", quoted(step.action.name()));
        if let Some(serial) = step.action.serial() {
            let _ = writeln!(out, "serial = {}", quoted(serial.as_str()));
        }
        for (key, value) in action_keys(&step.action) {
            let _ = writeln!(out, "{key} = {value}");
        }
        out.push('\n');
    }

    if let Some(spec) = &scenario.invariants {
        let _ = writeln!(out, "[invariants]");
        if let Some(at) = spec.live_at {
            let _ = writeln!(out, "live_at = {}", dur(at));
        }
        if !spec.live.is_empty() {
            let live: Vec<String> = spec.live.iter().map(|s| quoted(s.as_str())).collect();
            let _ = writeln!(out, "live = [{}]", live.join(", "));
        }
        if let Some(at) = spec.quiet_from {
            let _ = writeln!(out, "quiet_from = {}", dur(at));
        }
        out.push('\n');
    }

    let expect = &scenario.expect;
    if !expect.is_empty() {
        let _ = writeln!(out, "[expect]");
        for (key, list) in [("sequence", &expect.sequence), ("events", &expect.events)] {
            if !list.is_empty() {
                let items: Vec<String> = list.iter().map(expected).collect();
                let _ = writeln!(out, "{key} = [\n  {},\n]", items.join(",\n  "));
            }
        }
        if !expect.absent.is_empty() {
            let items: Vec<String> = expect
                .absent
                .iter()
                .map(|a| {
                    let mut extra = vec![("from", dur(a.from))];
                    if let Some(until) = a.until {
                        extra.push(("until", dur(until)));
                    }
                    pattern(&a.pattern, &extra)
                })
                .collect();
            let _ = writeln!(out, "absent = [\n  {},\n]", items.join(",\n  "));
        }
        if let Some((_, s)) = expect.final_connection_status {
            let _ = writeln!(out, "final_connection_status = {}", status(s));
        }
        if !expect.final_status.is_empty() {
            let _ = writeln!(out, "\n[expect.final_status]");
            for f in &expect.final_status {
                let _ = writeln!(out, "{} = {}", quoted(f.serial.as_str()), status(f.status));
            }
        }
    }
    out
}

/// An action's keys other than `action` and `serial`.
fn action_keys(action: &Action) -> Vec<(&'static str, String)> {
    match action {
        Action::App(app) => match app {
            AppAction::Discover { method, timeout } => {
                let method = match method {
                    DiscoveryMethod::BluetoothScan => "scan",
                    DiscoveryMethod::BluetoothProximity => "proximity",
                };
                let mut keys = vec![("method", quoted(method))];
                if let Some(t) = timeout {
                    keys.push(("timeout", dur(*t)));
                }
                keys
            }
            AppAction::Connect {
                location,
                auto_reconnect,
                ..
            } => vec![
                ("location", quoted(location)),
                ("auto_reconnect", auto_reconnect.to_string()),
            ],
            AppAction::ReconnectAtStart { timeout } => vec![("timeout", dur(*timeout))],
            AppAction::CancelDiscovery
            | AppAction::Disconnect { .. }
            | AppAction::CancelReconnect { .. }
            | AppAction::Reboot { .. }
            | AppAction::InstallUpdate { .. }
            | AppAction::CancelUpdate { .. }
            | AppAction::StartTransaction { .. }
            | AppAction::EndTransaction { .. } => Vec::new(),
        },
        Action::World(world) => match world {
            WorldAction::MoveReader { distance_m, .. } => vec![("distance_m", format!("{distance_m:?}"))],
            WorldAction::LoseLink { duration, .. } => duration.map(|d| ("for", dur(d))).into_iter().collect(),
            WorldAction::SetBattery { level, .. } => vec![("level", format!("{level:?}"))],
            WorldAction::SetCharging { charging, .. } => vec![("charging", charging.to_string())],
            WorldAction::FailNextInstall { percent, .. } => vec![("percent", percent.to_string())],
            WorldAction::SetAdapter { powered } => vec![("powered", powered.to_string())],
            WorldAction::CorruptFrame { payload, .. } => {
                let hex: Vec<String> = payload.iter().map(|b| format!("{b:02x}")).collect();
                vec![("payload", quoted(&hex.join(" ")))]
            }
            WorldAction::PowerOff { .. }
            | WorldAction::CutPower { .. }
            | WorldAction::PowerOn { .. }
            | WorldAction::RestoreLink { .. }
            | WorldAction::InsertCard { .. }
            | WorldAction::RemoveCard { .. } => Vec::new(),
        },
        Action::Backend(backend) => match backend {
            BackendAction::Down { duration } => duration.map(|d| ("for", dur(d))).into_iter().collect(),
            BackendAction::Restore => Vec::new(),
            BackendAction::Latency { route, latency } => {
                let mut keys: Vec<_> = route.map(|r| ("route", quoted(r.name()))).into_iter().collect();
                keys.push(("latency", dur(*latency)));
                keys
            }
            BackendAction::Fail { route, count } => {
                vec![("route", quoted(route.name())), ("count", count.to_string())]
            }
            BackendAction::SetUpdate { serial, preset } => {
                vec![
                    ("serial", quoted(serial.as_str())),
                    ("preset", quoted(preset.name())),
                ]
            }
        },
    }
}
