//! From TOML text to a checked [`Scenario`], or a [`ScenarioError`] naming
//! the line and the field. Nothing here panics on any input.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::ScenarioError;
use super::events::{EventKind, event_kind};
use super::expect::{FieldProblem, check_field};
use super::format::{
    Absent, Action, AppAction, BackendAction, ClockMode, EventPattern, Expectations, Expected, FinalStatus,
    InvariantSpec, LocationSpec, SavedReader, Scenario, Step, Trigger, WorldAction,
};
use crate::backend::Route;
use crate::reader::{ConnectionStatus, SerialNumber, check_text};
use crate::scanner::DiscoveryMethod;
use crate::transport::sim::fleet::{BoundedReadError, read_bounded};
use crate::transport::sim::{Fleet, FleetError};
use crate::updater::SimulatedUpdatePreset;

/// The longest duration a scenario may name: a month of virtual time.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// How long a run lasts past the latest time the file names, when it does
/// not say `run_for`.
pub const DEFAULT_RUN_PAST: Duration = Duration::from_secs(30);

/// Every action name, for error messages.
pub const ACTIONS: &[&str] = &[
    "discover",
    "cancel_discovery",
    "connect",
    "disconnect",
    "cancel_reconnect",
    "reboot",
    "install_update",
    "cancel_update",
    "start_transaction",
    "end_transaction",
    "reconnect_at_start",
    "move_reader",
    "power_off",
    "cut_power",
    "power_on",
    "lose_link",
    "restore_link",
    "set_battery",
    "set_charging",
    "insert_card",
    "remove_card",
    "fail_next_install",
    "corrupt_frame",
    "set_adapter",
    "backend_down",
    "backend_restore",
    "backend_latency",
    "backend_fail",
    "set_update",
];

type Entries = BTreeMap<String, Spanned<toml::Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<Spanned<String>>,
    #[allow(dead_code)]
    description: Option<String>,
    seed: Option<Spanned<toml::Value>>,
    clock: Option<Spanned<String>>,
    fleet: Option<Spanned<String>>,
    link: Option<Spanned<toml::Value>>,
    readers: Option<Vec<Spanned<Entries>>>,
    locations: Option<Vec<Spanned<Entries>>>,
    store: Option<Spanned<Entries>>,
    run_for: Option<Spanned<toml::Value>>,
    #[serde(default)]
    steps: Vec<Spanned<Entries>>,
    #[serde(default)]
    expect: RawExpect,
    invariants: Option<Spanned<Entries>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    #[serde(default)]
    sequence: Vec<Spanned<Entries>>,
    #[serde(default)]
    events: Vec<Spanned<Entries>>,
    #[serde(default)]
    absent: Vec<Spanned<Entries>>,
    #[serde(default)]
    final_status: Entries,
    final_connection_status: Option<Spanned<String>>,
}

/// The largest scenario file [`load`] reads: 32 MiB, some 400,000 steps.
pub const MAX_SCENARIO_BYTES: u64 = 32 << 20;

/// Reads and parses a scenario file; `fleet = "path"` is relative to it.
/// A larger one (or an endless one, `/dev/zero`) is refused with
/// [`ScenarioError::TooLarge`] after reading one byte past
/// [`MAX_SCENARIO_BYTES`].
pub fn load(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
    let path = path.as_ref();
    let text = read_bounded(path, MAX_SCENARIO_BYTES).map_err(|e| match e {
        BoundedReadError::TooLarge { limit } => ScenarioError::TooLarge {
            path: path.display().to_string(),
            limit,
        },
        BoundedReadError::Io(e) => ScenarioError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        },
    })?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    parse(&text, path.parent(), name.as_deref())
}

/// Parses and validates a scenario. `dir` is where `fleet = "path"` is
/// looked for (no fleet file can be named without it); `default_name`
/// names the scenario when it does not name itself.
pub fn parse(text: &str, dir: Option<&Path>, default_name: Option<&str>) -> Result<Scenario, ScenarioError> {
    let raw: RawScenario = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
    let index = LineIndex::new(text);
    let lines = Lines(&index.0);
    let seed = match &raw.seed {
        None => 0,
        Some(s) => seed(s.get_ref()).map_err(|message| ScenarioError::InvalidValue {
            line: lines.at(s.span()),
            field: "seed".into(),
            message,
        })?,
    };
    let clock = match &raw.clock {
        None => ClockMode::Virtual,
        Some(c) => match c.get_ref().as_str() {
            "virtual" => ClockMode::Virtual,
            "real" => ClockMode::Real,
            other => {
                return Err(ScenarioError::InvalidValue {
                    line: lines.at(c.span()),
                    field: "clock".into(),
                    message: format!("clock must be \"virtual\" or \"real\", is \"{other}\""),
                });
            }
        },
    };
    let mut fleet = fleet(&raw, lines, dir)?;
    fleet.seed = seed;

    let mut locations = Vec::new();
    for (i, entry) in raw.locations.unwrap_or_default().into_iter().enumerate() {
        let mut keys = Keys::new(lines, format!("locations[{i}]"), entry);
        let (name, line) = keys.req_string("name")?;
        if name.trim().is_empty() || locations.iter().any(|l: &LocationSpec| l.name == name) {
            return Err(ScenarioError::InvalidValue {
                line,
                field: keys.field("name"),
                message: format!("location name `{name}` must be non-empty and unique"),
            });
        }
        let display_name = keys
            .string("display_name")?
            .map_or_else(|| name.clone(), |(d, _)| d);
        keys.finish()?;
        locations.push(LocationSpec { name, display_name });
    }
    let ctx = Context {
        lines,
        fleet: &fleet,
        locations: &locations,
    };

    let saved_reader = match raw.store {
        None => None,
        Some(store) => {
            let mut keys = Keys::new(lines, "store".into(), store);
            let serial = ctx.serial(&mut keys, "last_connected")?;
            let location = ctx.location(&mut keys)?;
            keys.finish()?;
            Some(SavedReader { serial, location })
        }
    };

    let mut steps = Vec::with_capacity(raw.steps.len());
    let mut latest_named = Duration::ZERO;
    let mut previous_at: Option<(Duration, String, usize)> = None;
    for (index, entry) in raw.steps.into_iter().enumerate() {
        let mut keys = Keys::new(lines, format!("steps[{index}]"), entry);
        let line = keys.line;
        let at = keys.take("at");
        let after = keys.take("after");
        let trigger = match (at, after) {
            (Some(_), Some((_, after_line))) => {
                return Err(ScenarioError::InvalidValue {
                    line: after_line,
                    field: keys.field("after"),
                    message: "a step has either `at` or `after`, not both".into(),
                });
            }
            (None, None) => {
                return Err(ScenarioError::MissingField {
                    line,
                    field: keys.field("at"),
                });
            }
            (Some((value, at_line)), None) => {
                let field = keys.field("at");
                let at = duration(&value, at_line, &field)?;
                let written = value.as_str().unwrap_or_default().to_owned();
                if let Some((previous, previous_written, previous_line)) = &previous_at
                    && at < *previous
                {
                    return Err(ScenarioError::TimeGoesBackwards {
                        line: at_line,
                        field,
                        at: written,
                        previous: previous_written.clone(),
                        previous_line: *previous_line,
                    });
                }
                previous_at = Some((at, written, at_line));
                latest_named = latest_named.max(at);
                Trigger::At(at)
            }
            (None, Some((value, after_line))) => {
                let event = ctx.pattern_value(&value, after_line, &keys.field("after"))?;
                let delay = keys.duration("delay")?.unwrap_or_default();
                Trigger::After { event, delay }
            }
        };
        let action = ctx.action(&mut keys)?;
        keys.finish()?;
        steps.push(Step {
            index,
            line,
            trigger,
            action,
        });
    }

    let expect = ctx.expectations(raw.expect, &mut latest_named)?;
    let invariants = match raw.invariants {
        None => None,
        Some(table) => {
            let mut keys = Keys::new(lines, "invariants".into(), table);
            let live_at = keys.duration("live_at")?;
            let quiet_from = keys.duration("quiet_from")?;
            let mut live = Vec::new();
            if let Some((value, line)) = keys.take("live") {
                let field = keys.field("live");
                let Some(items) = value.as_array() else {
                    return Err(ScenarioError::InvalidValue {
                        line,
                        field,
                        message: "`live` is a list of serial numbers".into(),
                    });
                };
                for (i, item) in items.iter().enumerate() {
                    let serial = item.as_str().map(SerialNumber::new);
                    match serial {
                        Some(serial) if fleet.readers.iter().any(|r| r.serial == serial) => live.push(serial),
                        _ => {
                            return Err(ScenarioError::InvalidValue {
                                line,
                                field: format!("{field}[{i}]"),
                                message: format!("{item} is not the serial number of a reader of the fleet"),
                            });
                        }
                    }
                }
            }
            keys.finish()?;
            for at in [live_at, quiet_from].into_iter().flatten() {
                latest_named = latest_named.max(at);
            }
            Some(InvariantSpec {
                live_at,
                live,
                quiet_from,
            })
        }
    };
    let run_for = match &raw.run_for {
        Some(value) => {
            let line = lines.at(value.span());
            let run_for = duration(value.get_ref(), line, "run_for")?;
            if run_for < latest_named {
                return Err(ScenarioError::InvalidValue {
                    line,
                    field: "run_for".into(),
                    message: format!(
                        "the run ends before the latest time the file names ({})",
                        humantime::format_duration(latest_named)
                    ),
                });
            }
            run_for
        }
        None => latest_named.saturating_add(DEFAULT_RUN_PAST).min(MAX_DURATION),
    };
    if steps.is_empty() && expect.is_empty() {
        return Err(ScenarioError::Empty);
    }
    let name = match raw.name {
        Some(name) => {
            checked_text(name.get_ref(), lines.at(name.span()), "name")?;
            name.into_inner()
        }
        // A file name is text from outside too; one that could not be
        // printed safely is not used.
        None => default_name
            .filter(|n| check_text(n, MAX_TEXT_BYTES).is_ok())
            .map_or_else(|| "scenario".into(), str::to_owned),
    };
    Ok(Scenario {
        name,
        seed,
        clock,
        fleet,
        locations,
        saved_reader,
        run_for,
        steps,
        expect,
        invariants,
    })
}

/// The fleet: inline `[[readers]]` (and `[link]`), the file `fleet` names,
/// or the example fleet when neither is given.
fn fleet(raw: &RawScenario, lines: Lines<'_>, dir: Option<&Path>) -> Result<Fleet, ScenarioError> {
    match (&raw.fleet, &raw.readers) {
        (Some(path), Some(_)) => Err(ScenarioError::InvalidValue {
            line: lines.at(path.span()),
            field: "fleet".into(),
            message: "name a fleet file or list [[readers]], not both".into(),
        }),
        (Some(path), None) => {
            let line = lines.at(path.span());
            let Some(dir) = dir else {
                return Err(ScenarioError::InvalidValue {
                    line,
                    field: "fleet".into(),
                    message: "a fleet file can only be named in a scenario read from a file".into(),
                });
            };
            let file = dir.join(path.get_ref());
            Fleet::load(&file).map_err(|source| match source {
                FleetError::Io { .. } | FleetError::TooLarge { .. } => ScenarioError::Fleet {
                    path: None,
                    line,
                    field: "fleet".into(),
                    message: source.to_string(),
                    source: Box::new(source),
                },
                source => ScenarioError::Fleet {
                    path: Some(file.display().to_string()),
                    line: source.line(),
                    field: source.field().to_owned(),
                    message: fleet_message(&source),
                    source: Box::new(source),
                },
            })
        }
        (None, None) if raw.link.is_none() => Ok(Fleet::example()),
        (None, readers) => {
            let readers = readers.as_deref().unwrap_or_default();
            let mut table = toml::Table::new();
            if let Some(link) = &raw.link {
                table.insert("link".into(), link.get_ref().clone());
            }
            let array = readers
                .iter()
                .map(|r| {
                    toml::Value::Table(
                        r.get_ref()
                            .iter()
                            .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                            .collect(),
                    )
                })
                .collect();
            table.insert("readers".into(), toml::Value::Array(array));
            let text = toml::to_string(&table).map_err(|e| ScenarioError::InvalidValue {
                line: 1,
                field: "readers".into(),
                message: e.to_string(),
            })?;
            Fleet::from_toml(&text).map_err(|source| {
                let field = source.field().to_owned();
                let line = inline_fleet_line(&field, readers, raw.link.as_ref(), lines);
                let message = match &source {
                    FleetError::DuplicateSerial { serial, .. } => {
                        let first = readers
                            .iter()
                            .filter_map(|r| r.get_ref().get("serial"))
                            .find(|v| v.get_ref().as_str() == Some(serial.as_str()))
                            .map_or(0, |v| lines.at(v.span()));
                        format!("serial `{serial}` is already used on line {first}")
                    }
                    other => fleet_message(other),
                };
                ScenarioError::Fleet {
                    path: None,
                    line,
                    field,
                    message,
                    source: Box::new(source),
                }
            })
        }
    }
}

/// A fleet error's message without its "fleet file line, field" prefix,
/// which the scenario error says in its own words.
fn fleet_message(error: &FleetError) -> String {
    let text = error.to_string();
    let prefix = format!("fleet file line {}, field `{}`: ", error.line(), error.field());
    text.strip_prefix(&prefix)
        .map_or_else(|| text.clone(), str::to_owned)
}

/// The scenario line of a fleet error's field (`readers[1].battery`,
/// `link.connect_ms`) in the inline fleet.
fn inline_fleet_line(
    field: &str,
    readers: &[Spanned<Entries>],
    link: Option<&Spanned<toml::Value>>,
    lines: Lines<'_>,
) -> usize {
    if let Some(rest) = field.strip_prefix("readers[")
        && let Some((index, key)) = rest.split_once(']')
        && let Ok(index) = index.parse::<usize>()
        && let Some(reader) = readers.get(index)
    {
        let key = key.trim_start_matches('.');
        let key = key.split(['.', '[']).next().unwrap_or_default();
        return reader
            .get_ref()
            .get(key)
            .map_or_else(|| lines.at(reader.span()), |v| lines.at(v.span()));
    }
    match link {
        Some(link) if field.starts_with("link") => lines.at(link.span()),
        _ => readers.first().map_or(1, |r| lines.at(r.span())),
    }
}

/// Turns a `toml` error into [`ScenarioError::UnknownField`] or
/// [`ScenarioError::Syntax`], with its line and as much of the field as
/// can be told.
fn syntax_error(text: &str, e: &toml::de::Error) -> ScenarioError {
    let index = LineIndex::new(text);
    let lines = Lines(&index.0);
    let line = e.span().map_or(1, |s| lines.at(s));
    let table = e.span().map(|s| table_at(text, s.start)).unwrap_or_default();
    let named = e.message().split('`').nth(1).map(str::to_owned);
    let join = |name: &str| {
        if table.is_empty() {
            name.to_owned()
        } else {
            format!("{table}.{name}")
        }
    };
    if e.message().starts_with("unknown field")
        && let Some(name) = &named
    {
        return ScenarioError::UnknownField {
            line,
            field: join(name),
        };
    }
    let key = e
        .span()
        .and_then(|s| text.get(line_start(text, s.start)..))
        .and_then(|l| l.lines().next())
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().trim_matches('"').to_owned())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    ScenarioError::Syntax {
        line,
        field: key.map_or_else(|| table.clone(), |k| join(&k)),
        message: e.message().trim().to_owned(),
    }
}

/// The table header (`steps`, `expect`) in force at `offset`.
fn table_at(text: &str, offset: usize) -> String {
    let end = line_start(text, offset.min(text.len()));
    text.get(..end)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .rfind(|l| l.starts_with('['))
        .map(|h| {
            h.split('#')
                .next()
                .unwrap_or_default()
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

fn line_start(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1)
}

/// Line numbers from byte offsets: the offset of every newline, found once,
/// so that a line is a binary search (counting newlines from the start of
/// the file for every key made parsing quadratic in the file's size).
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> Self {
        Self(
            text.bytes()
                .enumerate()
                .filter_map(|(i, b)| (b == b'\n').then_some(i))
                .collect(),
        )
    }
}

/// A borrowed [`LineIndex`], cheap to copy into every helper.
#[derive(Clone, Copy)]
struct Lines<'t>(&'t [usize]);

impl Lines<'_> {
    /// The 1-based line of the byte at `span.start`.
    fn at(self, span: Range<usize>) -> usize {
        self.0.partition_point(|newline| *newline < span.start) + 1
    }
}

/// The seed: a TOML integer in `0..=i64::MAX`, or a string of decimal
/// digits for the whole `u64` range (TOML integers are 64-bit signed, so
/// `18446744073709551615` can only be written as `"18446744073709551615"`).
fn seed(value: &toml::Value) -> Result<u64, String> {
    match value {
        toml::Value::Integer(i) => {
            u64::try_from(*i).map_err(|_| format!("the seed must be in 0..={}, is {i}", u64::MAX))
        }
        toml::Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse()
            .map_err(|_| format!("the seed must be in 0..={}, is {s}", u64::MAX)),
        other => Err(format!(
            "the seed is an integer, or a string of digits for values above {} (\"{}\"), not {other}",
            i64::MAX,
            u64::MAX
        )),
    }
}

/// The longest name, location, serial or other string a scenario gives
/// (event pattern values excepted: they are only compared).
pub const MAX_TEXT_BYTES: usize = 256;

/// Checks a string the run keeps or prints (a name, a location, a
/// serial): at most [`MAX_TEXT_BYTES`], no control characters — a newline
/// would forge a line of the report, ESC reach the terminal raw.
fn checked_text(value: &str, line: usize, field: &str) -> Result<(), ScenarioError> {
    check_text(value, MAX_TEXT_BYTES).map_err(|e| ScenarioError::InvalidValue {
        line,
        field: field.to_owned(),
        message: format!("the text {e}"),
    })
}

/// Parses a duration written as a string (`"2.5s"`, `"24h"`, `"1m 30s"`).
fn duration(value: &toml::Value, line: usize, field: &str) -> Result<Duration, ScenarioError> {
    let Some(text) = value.as_str() else {
        return Err(ScenarioError::MalformedDuration {
            line,
            field: field.to_owned(),
            value: value.to_string(),
            message: "write a duration as a string, like \"2.5s\", \"500ms\" or \"24h\"".into(),
        });
    };
    let parsed = humantime::parse_duration(text).map_err(|e| ScenarioError::MalformedDuration {
        line,
        field: field.to_owned(),
        value: text.to_owned(),
        message: e.to_string(),
    })?;
    if parsed > MAX_DURATION {
        return Err(ScenarioError::InvalidValue {
            line,
            field: field.to_owned(),
            message: format!("`{text}` is longer than the longest scenario duration, 30 days"),
        });
    }
    Ok(parsed)
}

/// One TOML table's keys, taken one by one; [`Keys::finish`] rejects the
/// keys nobody took.
struct Keys<'t> {
    lines: Lines<'t>,
    path: String,
    line: usize,
    entries: Entries,
}

impl<'t> Keys<'t> {
    fn new(lines: Lines<'t>, path: String, table: Spanned<Entries>) -> Self {
        let line = lines.at(table.span());
        Self {
            lines,
            path,
            line,
            entries: table.into_inner(),
        }
    }

    fn field(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn take(&mut self, key: &str) -> Option<(toml::Value, usize)> {
        self.entries.remove(key).map(|v| {
            let line = self.lines.at(v.span());
            (v.into_inner(), line)
        })
    }

    fn invalid(&self, key: &str, line: usize, message: String) -> ScenarioError {
        ScenarioError::InvalidValue {
            line,
            field: self.field(key),
            message,
        }
    }

    /// A string value, checked as a text from outside ([`checked_text`]).
    fn string(&mut self, key: &str) -> Result<Option<(String, usize)>, ScenarioError> {
        match self.take(key) {
            None => Ok(None),
            Some((toml::Value::String(s), line)) => {
                checked_text(&s, line, &self.field(key))?;
                Ok(Some((s, line)))
            }
            Some((other, line)) => {
                Err(self.invalid(key, line, format!("must be a string, is {}", other.type_str())))
            }
        }
    }

    fn req_string(&mut self, key: &str) -> Result<(String, usize), ScenarioError> {
        self.string(key)?.ok_or_else(|| ScenarioError::MissingField {
            line: self.line,
            field: self.field(key),
        })
    }

    fn duration(&mut self, key: &str) -> Result<Option<Duration>, ScenarioError> {
        let field = self.field(key);
        self.take(key)
            .map(|(v, line)| duration(&v, line, &field))
            .transpose()
    }

    fn bool(&mut self, key: &str) -> Result<Option<bool>, ScenarioError> {
        match self.take(key) {
            None => Ok(None),
            Some((toml::Value::Boolean(b), _)) => Ok(Some(b)),
            Some((other, line)) => Err(self.invalid(
                key,
                line,
                format!("must be true or false, is {}", other.type_str()),
            )),
        }
    }

    fn number(&mut self, key: &str) -> Result<Option<(f64, usize)>, ScenarioError> {
        match self.take(key) {
            None => Ok(None),
            Some((toml::Value::Float(f), line)) => Ok(Some((f, line))),
            Some((toml::Value::Integer(i), line)) => Ok(Some((i as f64, line))),
            Some((other, line)) => {
                Err(self.invalid(key, line, format!("must be a number, is {}", other.type_str())))
            }
        }
    }

    fn req_number(&mut self, key: &str) -> Result<(f64, usize), ScenarioError> {
        self.number(key)?.ok_or_else(|| ScenarioError::MissingField {
            line: self.line,
            field: self.field(key),
        })
    }

    fn req_bool(&mut self, key: &str) -> Result<bool, ScenarioError> {
        self.bool(key)?.ok_or_else(|| ScenarioError::MissingField {
            line: self.line,
            field: self.field(key),
        })
    }

    /// Rejects the first key (in name order) nobody took.
    fn finish(&mut self) -> Result<(), ScenarioError> {
        match std::mem::take(&mut self.entries).into_iter().next() {
            None => Ok(()),
            Some((key, value)) => Err(ScenarioError::UnknownField {
                line: self.lines.at(value.span()),
                field: format!("{}.{key}", self.path),
            }),
        }
    }
}

/// What validation checks names against.
struct Context<'a> {
    lines: Lines<'a>,
    fleet: &'a Fleet,
    locations: &'a [LocationSpec],
}

impl Context<'_> {
    fn serial(&self, keys: &mut Keys<'_>, key: &str) -> Result<SerialNumber, ScenarioError> {
        let (serial, line) = keys.req_string(key)?;
        if self.fleet.readers.iter().any(|r| r.serial.as_str() == serial) {
            Ok(SerialNumber::new(serial))
        } else {
            Err(ScenarioError::UnknownSerial {
                line,
                field: keys.field(key),
                serial,
            })
        }
    }

    fn location(&self, keys: &mut Keys<'_>) -> Result<String, ScenarioError> {
        match keys.string("location")? {
            Some((location, _)) => Ok(location),
            None => {
                self.locations
                    .first()
                    .map(|l| l.name.clone())
                    .ok_or_else(|| ScenarioError::MissingField {
                        line: keys.line,
                        field: keys.field("location"),
                    })
            }
        }
    }

    fn action(&self, keys: &mut Keys<'_>) -> Result<Action, ScenarioError> {
        let (name, line) = keys.req_string("action")?;
        let serial = |keys: &mut Keys<'_>| self.serial(keys, "serial");
        Ok(match name.as_str() {
            "discover" => {
                let method = match keys.string("method")? {
                    None => DiscoveryMethod::BluetoothScan,
                    Some((m, _)) if m == "scan" => DiscoveryMethod::BluetoothScan,
                    Some((m, _)) if m == "proximity" => DiscoveryMethod::BluetoothProximity,
                    Some((m, l)) => {
                        return Err(keys.invalid(
                            "method",
                            l,
                            format!("method must be \"scan\" or \"proximity\", is \"{m}\""),
                        ));
                    }
                };
                let timeout = keys.duration("timeout")?;
                Action::App(AppAction::Discover { method, timeout })
            }
            "cancel_discovery" => Action::App(AppAction::CancelDiscovery),
            "connect" => {
                let serial = serial(keys)?;
                let location = self.location(keys)?;
                let auto_reconnect = keys.bool("auto_reconnect")?.unwrap_or(true);
                Action::App(AppAction::Connect {
                    serial,
                    location,
                    auto_reconnect,
                })
            }
            "disconnect" => Action::App(AppAction::Disconnect {
                serial: serial(keys)?,
            }),
            "cancel_reconnect" => Action::App(AppAction::CancelReconnect {
                serial: serial(keys)?,
            }),
            "reboot" => Action::App(AppAction::Reboot {
                serial: serial(keys)?,
            }),
            "install_update" => Action::App(AppAction::InstallUpdate {
                serial: serial(keys)?,
            }),
            "cancel_update" => Action::App(AppAction::CancelUpdate {
                serial: serial(keys)?,
            }),
            "start_transaction" => Action::App(AppAction::StartTransaction {
                serial: serial(keys)?,
            }),
            "end_transaction" => Action::App(AppAction::EndTransaction {
                serial: serial(keys)?,
            }),
            "reconnect_at_start" => Action::App(AppAction::ReconnectAtStart {
                timeout: keys.duration("timeout")?.unwrap_or(Duration::from_secs(30)),
            }),
            "move_reader" => {
                let serial = serial(keys)?;
                let (distance, l) = keys.req_number("distance_m")?;
                if !(distance.is_finite() && (0.0..=1.0e6).contains(&distance)) {
                    return Err(keys.invalid(
                        "distance_m",
                        l,
                        format!("distance {distance} m must be in 0..=1000000"),
                    ));
                }
                Action::World(WorldAction::MoveReader {
                    serial,
                    distance_m: distance as f32,
                })
            }
            "power_off" => Action::World(WorldAction::PowerOff {
                serial: serial(keys)?,
            }),
            "cut_power" => Action::World(WorldAction::CutPower {
                serial: serial(keys)?,
            }),
            "power_on" => Action::World(WorldAction::PowerOn {
                serial: serial(keys)?,
            }),
            "lose_link" => Action::World(WorldAction::LoseLink {
                serial: serial(keys)?,
                duration: keys.duration("for")?,
            }),
            "restore_link" => Action::World(WorldAction::RestoreLink {
                serial: serial(keys)?,
            }),
            "set_battery" => {
                let serial = serial(keys)?;
                let (level, l) = keys.req_number("level")?;
                if !(0.0..=1.0).contains(&level) {
                    return Err(keys.invalid("level", l, format!("battery level {level} must be in [0, 1]")));
                }
                Action::World(WorldAction::SetBattery {
                    serial,
                    level: level as f32,
                })
            }
            "set_charging" => Action::World(WorldAction::SetCharging {
                serial: serial(keys)?,
                charging: keys.req_bool("charging")?,
            }),
            "insert_card" => Action::World(WorldAction::InsertCard {
                serial: serial(keys)?,
            }),
            "remove_card" => Action::World(WorldAction::RemoveCard {
                serial: serial(keys)?,
            }),
            "fail_next_install" => {
                let serial = serial(keys)?;
                let (percent, l) = keys.req_number("percent")?;
                if !(0.0..=100.0).contains(&percent) || percent.fract() != 0.0 {
                    return Err(keys.invalid(
                        "percent",
                        l,
                        format!("percent {percent} must be a whole number in 0..=100"),
                    ));
                }
                Action::World(WorldAction::FailNextInstall {
                    serial,
                    percent: percent as u8,
                })
            }
            "corrupt_frame" => {
                let serial = serial(keys)?;
                let (hex, l) = keys.req_string("payload")?;
                let payload = from_hex(&hex).ok_or_else(|| {
                    keys.invalid(
                        "payload",
                        l,
                        "payload must be hex bytes (two digits each, spaces allowed)".into(),
                    )
                })?;
                if payload.is_empty() || payload.len() > crate::protocol::MAX_ATT_PAYLOAD {
                    return Err(keys.invalid(
                        "payload",
                        l,
                        format!(
                            "payload of {} bytes must be 1..={} bytes (one ATT payload)",
                            payload.len(),
                            crate::protocol::MAX_ATT_PAYLOAD
                        ),
                    ));
                }
                Action::World(WorldAction::CorruptFrame { serial, payload })
            }
            "set_adapter" => Action::World(WorldAction::SetAdapter {
                powered: keys.req_bool("powered")?,
            }),
            "backend_down" => Action::Backend(BackendAction::Down {
                duration: keys.duration("for")?,
            }),
            "backend_restore" => Action::Backend(BackendAction::Restore),
            "backend_latency" => {
                let route = self.route(keys, false)?;
                let latency = keys
                    .duration("latency")?
                    .ok_or_else(|| ScenarioError::MissingField {
                        line: keys.line,
                        field: keys.field("latency"),
                    })?;
                Action::Backend(BackendAction::Latency { route, latency })
            }
            "backend_fail" => {
                let route = self.route(keys, true)?.unwrap_or(Route::RegisterReader);
                let count = match keys.number("count")? {
                    None => 1,
                    Some((c, l)) if !(1.0..=1.0e6).contains(&c) || c.fract() != 0.0 => {
                        return Err(keys.invalid(
                            "count",
                            l,
                            format!("count {c} must be a whole number in 1..=1000000"),
                        ));
                    }
                    Some((c, _)) => c as u32,
                };
                Action::Backend(BackendAction::Fail { route, count })
            }
            "set_update" => {
                let serial = serial(keys)?;
                let (name, l) = keys.req_string("preset")?;
                let preset = name
                    .parse::<SimulatedUpdatePreset>()
                    .map_err(|message| keys.invalid("preset", l, message))?;
                Action::Backend(BackendAction::SetUpdate { serial, preset })
            }
            _ => {
                return Err(ScenarioError::UnknownAction {
                    line,
                    field: keys.field("action"),
                    name,
                    known: ACTIONS.join(", "),
                });
            }
        })
    }

    fn route(&self, keys: &mut Keys<'_>, required: bool) -> Result<Option<Route>, ScenarioError> {
        match keys.string("route")? {
            None if required => Err(ScenarioError::MissingField {
                line: keys.line,
                field: keys.field("route"),
            }),
            None => Ok(None),
            Some((name, line)) => Route::ALL
                .into_iter()
                .find(|r| r.name() == name)
                .map(Some)
                .ok_or_else(|| {
                    let known: Vec<_> = Route::ALL.iter().map(|r| r.name()).collect();
                    keys.invalid(
                        "route",
                        line,
                        format!("unknown route `{name}` (known: {})", known.join(", ")),
                    )
                }),
        }
    }

    /// An event pattern from `after = "Kind"` or `after = { event = "Kind", field = value }`.
    fn pattern_value(
        &self,
        value: &toml::Value,
        line: usize,
        field: &str,
    ) -> Result<EventPattern, ScenarioError> {
        match value {
            toml::Value::String(event) => Ok(EventPattern {
                event: self.event_name(event, line, field)?,
                fields: BTreeMap::new(),
            }),
            toml::Value::Table(table) => {
                let mut fields = BTreeMap::new();
                let mut event = None;
                for (key, value) in table {
                    if key == "event" {
                        let name = value.as_str().ok_or_else(|| ScenarioError::InvalidValue {
                            line,
                            field: format!("{field}.event"),
                            message: "the event must be a string".into(),
                        })?;
                        event = Some(self.event_name(name, line, &format!("{field}.event"))?);
                    } else {
                        for (path, value) in dotted(key, value) {
                            let value = json(value, line, &format!("{field}.{path}"))?;
                            fields.insert(path, value);
                        }
                    }
                }
                let event = event.ok_or_else(|| ScenarioError::MissingField {
                    line,
                    field: format!("{field}.event"),
                })?;
                for (key, value) in &mut fields {
                    pattern_field(&event, key, value, line, &format!("{field}.{key}"))?;
                }
                Ok(EventPattern { event, fields })
            }
            other => Err(ScenarioError::InvalidValue {
                line,
                field: field.to_owned(),
                message: format!(
                    "an event is a name (\"Connected\") or a table ({{ event = \"Connected\", ... }}), not {}",
                    other.type_str()
                ),
            }),
        }
    }

    /// An event pattern from a table whose `event` key names the kind;
    /// `reserved` keys are left for the caller.
    fn pattern_keys(&self, keys: &mut Keys<'_>, reserved: &[&str]) -> Result<EventPattern, ScenarioError> {
        let (name, line) = keys.req_string("event")?;
        let event = self.event_name(&name, line, &keys.field("event"))?;
        let names: Vec<String> = keys
            .entries
            .keys()
            .filter(|k| !reserved.contains(&k.as_str()))
            .cloned()
            .collect();
        let mut fields = BTreeMap::new();
        for key in names {
            if let Some((value, line)) = keys.take(&key) {
                for (path, value) in dotted(&key, &value) {
                    let field = keys.field(&path);
                    let mut value = json(value, line, &field)?;
                    pattern_field(&event, &path, &mut value, line, &field)?;
                    fields.insert(path, value);
                }
            }
        }
        Ok(EventPattern { event, fields })
    }

    fn event_name(&self, name: &str, line: usize, field: &str) -> Result<String, ScenarioError> {
        match event_kind(name) {
            EventKind::Emitted => Ok(name.to_owned()),
            EventKind::Planned(what) => Err(ScenarioError::Unsupported {
                line,
                field: field.to_owned(),
                what: format!("this build never emits `{name}`: {what}"),
            }),
            EventKind::Unknown(known) => Err(ScenarioError::UnknownEvent {
                line,
                field: field.to_owned(),
                name: name.to_owned(),
                known,
            }),
        }
    }

    fn expectations(&self, raw: RawExpect, latest: &mut Duration) -> Result<Expectations, ScenarioError> {
        let mut expect = Expectations::default();
        for (list, name) in [(raw.sequence, "sequence"), (raw.events, "events")] {
            for (i, entry) in list.into_iter().enumerate() {
                let mut keys = Keys::new(self.lines, format!("expect.{name}[{i}]"), entry);
                let pattern = self.pattern_keys(&mut keys, &["by"])?;
                let by = keys.duration("by")?;
                keys.finish()?;
                if let Some(by) = by {
                    *latest = (*latest).max(by);
                }
                let expected = Expected {
                    line: keys.line,
                    field: keys.path.clone(),
                    pattern,
                    by,
                };
                if name == "sequence" {
                    expect.sequence.push(expected);
                } else {
                    expect.events.push(expected);
                }
            }
        }
        for (i, entry) in raw.absent.into_iter().enumerate() {
            let mut keys = Keys::new(self.lines, format!("expect.absent[{i}]"), entry);
            let pattern = self.pattern_keys(&mut keys, &["from", "until"])?;
            let from = keys.duration("from")?.unwrap_or_default();
            let until = keys.duration("until")?;
            keys.finish()?;
            if let Some(until) = until {
                if until < from {
                    return Err(ScenarioError::TimeGoesBackwards {
                        line: keys.line,
                        field: format!("{}.until", keys.path),
                        at: humantime::format_duration(until).to_string(),
                        previous: humantime::format_duration(from).to_string(),
                        previous_line: keys.line,
                    });
                }
                *latest = (*latest).max(until);
            }
            expect.absent.push(Absent {
                line: keys.line,
                field: keys.path.clone(),
                pattern,
                from,
                until,
            });
        }
        for (serial, status) in raw.final_status {
            let line = self.lines.at(status.span());
            let field = format!("expect.final_status.{serial}");
            if !self.fleet.readers.iter().any(|r| r.serial.as_str() == serial) {
                return Err(ScenarioError::UnknownSerial { line, field, serial });
            }
            let status = status_of(status.get_ref(), line, &field)?;
            expect.final_status.push(FinalStatus {
                line,
                serial: SerialNumber::new(serial),
                status,
            });
        }
        if let Some(status) = raw.final_connection_status {
            let line = self.lines.at(status.span());
            let status = status_of(
                &toml::Value::String(status.get_ref().clone()),
                line,
                "expect.final_connection_status",
            )?;
            expect.final_connection_status = Some((line, status));
        }
        Ok(expect)
    }
}

/// `NotConnected` as `not_connected`.
fn snake_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for (i, c) in text.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A connection status by name (`not_connected`, `connected`, ...; the
/// Rust spelling `NotConnected` is read too).
fn status_of(value: &toml::Value, line: usize, field: &str) -> Result<ConnectionStatus, ScenarioError> {
    const NAMES: &str = "not_connected, discovering, connecting, connected, reconnecting";
    let name = value.as_str().unwrap_or_default();
    serde_json::from_value(serde_json::Value::String(snake_case(name))).map_err(|_| {
        ScenarioError::InvalidValue {
            line,
            field: field.to_owned(),
            message: format!("unknown status {value} (known: {NAMES})"),
        }
    })
}

/// A pattern field as dotted paths to its values: TOML reads
/// `reader.serial_number = "X"` as a table `reader = { serial_number = "X" }`,
/// which compared whole with the event's `reader` would never match; the
/// format means the path (see "Matching events" in the module docs).
fn dotted<'v>(key: &str, value: &'v toml::Value) -> Vec<(String, &'v toml::Value)> {
    match value {
        toml::Value::Table(table) if !table.is_empty() => table
            .iter()
            .flat_map(|(k, v)| dotted(&format!("{key}.{k}"), v))
            .collect(),
        _ => vec![(key.to_owned(), value)],
    }
}

/// Rejects a pattern field that could never match an event of kind
/// `event` (an unknown field, or a value it never takes), so that an
/// `absent` expectation cannot hold only because of a typo. An enum value
/// in the Rust spelling (`status = "NotConnected"`, as files written before
/// enum values were snake_case say) is read as its JSON one
/// (`not_connected`).
fn pattern_field(
    event: &str,
    key: &str,
    value: &mut serde_json::Value,
    line: usize,
    field: &str,
) -> Result<(), ScenarioError> {
    if let serde_json::Value::String(text) = &*value
        && check_field(event, key, value).is_err()
    {
        let snake = snake_case(text);
        let renamed = serde_json::Value::String(snake);
        if check_field(event, key, &renamed).is_ok() {
            *value = renamed;
        }
    }
    check_field(event, key, value).map_err(|problem| match problem {
        FieldProblem::Unknown { known } => ScenarioError::UnknownEventField {
            line,
            field: field.to_owned(),
            event: event.to_owned(),
            known: if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            },
        },
        FieldProblem::Value { message } => ScenarioError::InvalidValue {
            line,
            field: field.to_owned(),
            message: format!("`{key}` of `{event}` {message}"),
        },
    })
}

/// A TOML value as the JSON it is compared with.
fn json(value: &toml::Value, line: usize, field: &str) -> Result<serde_json::Value, ScenarioError> {
    serde_json::to_value(value).map_err(|e| ScenarioError::InvalidValue {
        line,
        field: field.to_owned(),
        message: format!("cannot be matched against an event: {e}"),
    })
}

/// Bytes written as hex digit pairs, spaces between pairs allowed.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| *b != b' ').collect();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let hex = |b: u8| (b as char).to_digit(16);
            Some((hex(pair[0])? * 16 + hex(pair[1])?) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files written before enum values were snake_case still parse: a
    /// status in its Rust spelling is read as its JSON one.
    #[test]
    fn a_status_in_either_spelling_is_read() {
        let text = r#"
[[readers]]
serial = "STRM2-0001"
device_type = "stripe_m2"
distance_m = 1.0
battery = 0.9
software_version = "3.1.0"

[[steps]]
at = "0s"
action = "discover"

[expect]
sequence = [ { event = "ConnectionStatusChanged", status = "Discovering" } ]
events = [ { event = "ReaderStatusChanged", status = "not_connected" } ]
final_connection_status = "NotConnected"

[expect.final_status]
STRM2-0001 = "connected"
"#;
        let scenario = parse(text, None, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            scenario.expect.sequence[0].pattern.fields.get("status"),
            Some(&serde_json::Value::from("discovering"))
        );
        assert_eq!(
            scenario.expect.final_connection_status.map(|(_, s)| s),
            Some(ConnectionStatus::NotConnected)
        );
        assert_eq!(
            scenario.expect.final_status[0].status,
            ConnectionStatus::Connected
        );
    }

    /// The complete example in the module docs is a valid scenario.
    #[test]
    fn the_documented_example_parses() {
        let docs = include_str!("mod.rs");
        let start = docs.find("//! ```toml\n").expect("the docs have a TOML example") + "//! ```toml\n".len();
        let end = start + docs[start..].find("//! ```\n").expect("the example ends");
        let text: String = docs[start..end]
            .lines()
            .map(|l| {
                l.strip_prefix("//! ")
                    .or_else(|| l.strip_prefix("//!"))
                    .unwrap_or(l)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let scenario = parse(&text, None, None).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(scenario.name, "connect and disconnect");
        assert_eq!(scenario.steps.len(), 3);
        assert_eq!(scenario.run_for, Duration::from_secs(40));
        assert_eq!(scenario.expect.len(), 7);
        assert!(matches!(
            &scenario.steps[1].trigger,
            Trigger::After { event, .. } if event.event == "DiscoveredReadersUpdated"
        ));
    }
}
