//! The events of a run as the scenario sees them: kind plus typed fields,
//! as JSON, with their virtual time. The terminal's [`TerminalEvent`]s, and
//! the runner's own ([`RUNNER_EVENTS`]).

use serde_json::{Map, Value};

use crate::terminal::TerminalEvent;

/// The kinds of [`TerminalEvent`] this build emits. [`terminal_event_kind`]
/// is an exhaustive match, so a new variant does not compile until it is
/// named here.
pub const TERMINAL_EVENTS: &[&str] = &[
    "ConnectionStatusChanged",
    "ReaderStatusChanged",
    "DiscoveredReadersUpdated",
    "Connected",
    "Disconnected",
    "BatteryLevelReported",
    "LowBatteryWarning",
    "CardInserted",
    "CardRemoved",
    "StoreWriteFailed",
    "EventsMissed",
    "ReconnectStarted",
    "ReconnectSucceeded",
    "ReconnectFailed",
    "SavedReaderReconnectStarted",
    "SavedReaderFound",
    "SavedReaderNotFound",
    "ReaderActorFailed",
    "RebootScheduled",
];

/// The events the runner adds to the stream:
/// - `StepRan { step, action, serial_number? }`: a step's action was
///   carried out (`step` is its index in `steps`);
/// - `ActionFailed { step, action, serial_number?, error, message }`: the
///   action failed; `error` is the error's stable code;
/// - `DiscoveryFinished { ok, error? }`: a discovery ended (R3, R5);
///   `error` is the discovery error's code (`scan_timed_out`).
pub const RUNNER_EVENTS: &[&str] = &["StepRan", "ActionFailed", "DiscoveryFinished"];

/// Events the design names whose features this build does not have yet,
/// and what is missing. A scenario naming one is rejected as unsupported.
pub const PLANNED_EVENTS: &[(&str, &str)] = &[
    (
        "UpdateAvailable",
        "software updates (R13-R17) are not implemented yet",
    ),
    (
        "UpdateInstallStarted",
        "software updates (R13-R17) are not implemented yet",
    ),
    (
        "UpdateInstallProgress",
        "software updates (R13-R17) are not implemented yet",
    ),
    (
        "UpdateInstallFinished",
        "software updates (R13-R17) are not implemented yet",
    ),
];

/// The kind of a terminal event, as its name in the stream.
pub fn terminal_event_kind(event: &TerminalEvent) -> &'static str {
    match event {
        TerminalEvent::ConnectionStatusChanged { .. } => "ConnectionStatusChanged",
        TerminalEvent::ReaderStatusChanged { .. } => "ReaderStatusChanged",
        TerminalEvent::DiscoveredReadersUpdated { .. } => "DiscoveredReadersUpdated",
        TerminalEvent::Connected { .. } => "Connected",
        TerminalEvent::Disconnected { .. } => "Disconnected",
        TerminalEvent::BatteryLevelReported { .. } => "BatteryLevelReported",
        TerminalEvent::LowBatteryWarning { .. } => "LowBatteryWarning",
        TerminalEvent::CardInserted { .. } => "CardInserted",
        TerminalEvent::CardRemoved { .. } => "CardRemoved",
        TerminalEvent::StoreWriteFailed { .. } => "StoreWriteFailed",
        TerminalEvent::EventsMissed { .. } => "EventsMissed",
        TerminalEvent::ReconnectStarted { .. } => "ReconnectStarted",
        TerminalEvent::ReconnectSucceeded { .. } => "ReconnectSucceeded",
        TerminalEvent::ReconnectFailed { .. } => "ReconnectFailed",
        TerminalEvent::SavedReaderReconnectStarted { .. } => "SavedReaderReconnectStarted",
        TerminalEvent::SavedReaderFound { .. } => "SavedReaderFound",
        TerminalEvent::SavedReaderNotFound { .. } => "SavedReaderNotFound",
        TerminalEvent::ReaderActorFailed { .. } => "ReaderActorFailed",
        TerminalEvent::RebootScheduled { .. } => "RebootScheduled",
    }
}

/// Whether a scenario may name an event kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// This build emits it.
    Emitted,
    /// Planned, not emitted yet: what is missing.
    Planned(&'static str),
    /// No such event: every known kind, comma-separated.
    Unknown(String),
}

/// Looks an event kind up.
pub fn event_kind(name: &str) -> EventKind {
    if TERMINAL_EVENTS.contains(&name) || RUNNER_EVENTS.contains(&name) {
        EventKind::Emitted
    } else if let Some((_, what)) = PLANNED_EVENTS.iter().find(|(n, _)| *n == name) {
        EventKind::Planned(what)
    } else {
        EventKind::Unknown(
            TERMINAL_EVENTS
                .iter()
                .chain(RUNNER_EVENTS)
                .copied()
                .collect::<Vec<_>>()
                .join(", "),
        )
    }
}

/// One event of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Virtual milliseconds since the run started.
    pub t_ms: u64,
    /// Its kind (`Connected`).
    pub kind: String,
    /// Its typed fields, as JSON.
    pub fields: Map<String, Value>,
}

impl RecordedEvent {
    /// A terminal event at `t_ms`.
    pub fn terminal(t_ms: u64, event: &TerminalEvent) -> Self {
        let kind = terminal_event_kind(event).to_owned();
        let fields = match serde_json::to_value(event) {
            Ok(Value::Object(mut outer)) => match outer.remove(&kind) {
                Some(Value::Object(fields)) => fields,
                Some(other) => Map::from_iter([("value".to_owned(), other)]),
                None => Map::new(),
            },
            _ => Map::new(),
        };
        Self { t_ms, kind, fields }
    }

    /// The event as one JSON object: `{"t_ms": .., "event": "Kind", ..fields}`.
    pub fn to_json(&self) -> Value {
        let mut object = Map::with_capacity(self.fields.len() + 2);
        object.insert("t_ms".into(), Value::from(self.t_ms));
        object.insert("event".into(), Value::from(self.kind.clone()));
        for (k, v) in &self.fields {
            object.insert(k.clone(), v.clone());
        }
        Value::Object(object)
    }

    /// The event as one line of JSON with the time and kind first:
    /// `{"t_ms":1500,"event":"CardInserted","serial_number":"STRM2-0001"}`.
    pub fn json_line(&self) -> String {
        let mut line = format!(
            "{{\"t_ms\":{},\"event\":{}",
            self.t_ms,
            Value::from(self.kind.as_str())
        );
        for (k, v) in &self.fields {
            line.push(',');
            line.push_str(&Value::from(k.as_str()).to_string());
            line.push(':');
            line.push_str(&v.to_string());
        }
        line.push('}');
        line
    }

    /// One line for people: `   12.345s  Connected  reader=STRM2-0001 location=tml_000001`.
    pub fn human_line(&self) -> String {
        let mut line = format!("{:>12}  {}", crate::runtime::fmt_ms(self.t_ms), self.kind);
        for (k, v) in &self.fields {
            line.push(' ');
            line.push_str(k);
            line.push('=');
            line.push_str(&short(v));
        }
        line
    }
}

/// A field value in few characters: a reader by its serial number, a list
/// of readers by theirs, strings without quotes.
fn short(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Object(o) => match o.get("serial_number") {
            Some(Value::String(s)) => s.clone(),
            _ => value.to_string(),
        },
        Value::Array(items) => format!("[{}]", items.iter().map(short).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::{ConnectionStatus, SerialNumber};

    #[test]
    fn every_terminal_event_kind_is_its_serde_name_and_listed() {
        let serial = SerialNumber::new("STRM2-0001");
        let samples = [
            TerminalEvent::ConnectionStatusChanged {
                status: ConnectionStatus::Connected,
            },
            TerminalEvent::CardInserted {
                serial_number: serial.clone(),
            },
            TerminalEvent::EventsMissed { count: 3 },
        ];
        for event in &samples {
            let recorded = RecordedEvent::terminal(5, event);
            assert!(TERMINAL_EVENTS.contains(&recorded.kind.as_str()));
            assert!(!recorded.fields.is_empty(), "{recorded:?}");
        }
        assert_eq!(
            RecordedEvent::terminal(1500, &samples[1]).json_line(),
            r#"{"t_ms":1500,"event":"CardInserted","serial_number":"STRM2-0001"}"#
        );
        assert!(
            TERMINAL_EVENTS
                .iter()
                .all(|k| event_kind(k) == EventKind::Emitted)
        );
        assert_eq!(event_kind("ReconnectStarted"), EventKind::Emitted);
        assert!(matches!(event_kind("UpdateAvailable"), EventKind::Planned(_)));
        assert!(matches!(event_kind("Conected"), EventKind::Unknown(_)));
    }
}
