//! The events of a run as the scenario sees them: kind plus typed fields,
//! as JSON, with their virtual time. The terminal's [`TerminalEvent`]s, and
//! the runner's own ([`RUNNER_EVENTS`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::shape::Shape;
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
    "UpdateAvailable",
    "UpdateInstallStarted",
    "UpdateInstallProgress",
    "UpdateInstallFinished",
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
/// Empty: every event the design names is emitted.
pub const PLANNED_EVENTS: &[(&str, &str)] = &[];

/// The fields of every event kind a scenario may name, as the JSON it is
/// matched against: the terminal's read from [`TerminalEvent`]'s own
/// `Deserialize` ([`Shape::of`]), so a field or enum value added there is
/// known here without a second list; the runner's from [`runner_event_shape`].
pub fn event_shapes() -> &'static BTreeMap<&'static str, Shape> {
    static SHAPES: OnceLock<BTreeMap<&'static str, Shape>> = OnceLock::new();
    SHAPES.get_or_init(|| {
        let mut shapes = BTreeMap::new();
        // The shape of a derived `Deserialize` can always be read (tested);
        // were it not, patterns on terminal events would be refused loudly
        // as naming unknown fields rather than pass unchecked.
        if let Ok(Shape::Enum(variants)) = Shape::of::<TerminalEvent>() {
            for (kind, payload) in variants {
                shapes.insert(kind, payload.unwrap_or(Shape::Struct(Vec::new())));
            }
        }
        for kind in RUNNER_EVENTS {
            shapes.insert(*kind, runner_event_shape(kind));
        }
        shapes
    })
}

/// The fields of the runner's own events ([`RUNNER_EVENTS`]); the runner
/// writes them with these names.
pub fn runner_event_shape(kind: &str) -> Shape {
    let step = [
        ("step", Shape::Number),
        ("action", Shape::String),
        ("serial_number", Shape::Option(Box::new(Shape::String))),
    ];
    match kind {
        "StepRan" => Shape::Struct(step.to_vec()),
        "ActionFailed" => Shape::Struct(
            step.into_iter()
                .chain([("error", Shape::String), ("message", Shape::String)])
                .collect(),
        ),
        "DiscoveryFinished" => Shape::Struct(vec![
            ("ok", Shape::Bool),
            ("error", Shape::Option(Box::new(Shape::String))),
        ]),
        _ => Shape::Struct(Vec::new()),
    }
}

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
        TerminalEvent::UpdateAvailable { .. } => "UpdateAvailable",
        TerminalEvent::UpdateInstallStarted { .. } => "UpdateInstallStarted",
        TerminalEvent::UpdateInstallProgress { .. } => "UpdateInstallProgress",
        TerminalEvent::UpdateInstallFinished { .. } => "UpdateInstallFinished",
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
            line.push_str(&printable(k));
            line.push('=');
            line.push_str(&short(v));
        }
        line
    }
}

/// `text` with control and bidirectional-formatting characters escaped
/// (`\u{1b}`): texts from files and readers are checked where they come
/// in, but an error's message or a panic's may hold anything, and a line
/// for people must stay one line and never drive the terminal.
pub(crate) fn printable(text: &str) -> String {
    if text
        .chars()
        .all(|c| crate::reader::check_text(c.encode_utf8(&mut [0; 4]), 4).is_ok())
    {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if crate::reader::check_text(c.encode_utf8(&mut [0; 4]), 4).is_ok() {
                c.to_string()
            } else {
                format!("\\u{{{:x}}}", u32::from(c))
            }
        })
        .collect()
}

/// A field value in few characters: a reader by its serial number, a list
/// of readers by theirs, an error by its code, an update by its version,
/// strings without quotes.
fn short(value: &Value) -> String {
    match value {
        Value::String(s) => printable(s),
        Value::Object(o) => match (o.get("serial_number"), o.get("code"), o.get("version")) {
            (Some(Value::String(s)), ..) => printable(s),
            (_, Some(Value::String(code)), _) => printable(code),
            (_, _, Some(Value::String(version))) if o.contains_key("components") => {
                format!("v{}", printable(version))
            }
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
        assert_eq!(event_kind("UpdateInstallProgress"), EventKind::Emitted);
        assert!(matches!(event_kind("Conected"), EventKind::Unknown(_)));
    }

    #[test]
    fn a_line_for_people_escapes_control_characters_in_any_field() {
        let mut fields = Map::new();
        fields.insert(
            "message".into(),
            Value::from("forged\n   0.000s  Connected \u{1b}[2J"),
        );
        let event = RecordedEvent {
            t_ms: 0,
            kind: "ActionFailed".into(),
            fields,
        };
        let line = event.human_line();
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(
            line.contains("forged\\u{a}   0.000s  Connected \\u{1b}[2J"),
            "{line}"
        );
    }

    #[test]
    fn every_emitted_kind_has_its_fields_read_from_the_event_types() {
        let shapes = event_shapes();
        for kind in TERMINAL_EVENTS.iter().chain(RUNNER_EVENTS) {
            assert!(shapes.contains_key(kind), "{kind} has a shape");
        }
        assert_eq!(shapes.len(), TERMINAL_EVENTS.len() + RUNNER_EVENTS.len());
        let Some(Shape::Struct(fields)) = shapes.get("Disconnected") else {
            panic!(
                "Disconnected is a struct variant: {:?}",
                shapes.get("Disconnected")
            );
        };
        let reason = &fields.iter().find(|(n, _)| *n == "reason").unwrap().1;
        let names: Vec<String> = crate::reader::DisconnectReason::ALL
            .iter()
            .map(|r| serde_json::to_value(r).unwrap().as_str().unwrap().to_owned())
            .collect();
        assert_eq!(reason.unit_variants().unwrap(), names);
        // The cancelable handle is not data and not a field.
        let Some(Shape::Struct(fields)) = shapes.get("ReconnectStarted") else {
            panic!("ReconnectStarted is a struct variant");
        };
        assert_eq!(
            fields.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            ["serial_number", "reason"]
        );
    }
}
