//! The expectation checker: does a run's event stream hold what the
//! scenario expects? It works on [`RecordedEvent`]s (kind plus JSON
//! fields), so it does not depend on the event types' Rust shape.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use super::events::RecordedEvent;
use super::format::{EventPattern, Expectations};
use crate::reader::{ConnectionStatus, SerialNumber};

/// How many events a failure shows on each side of where it should have
/// matched.
pub const CONTEXT_EVENTS: usize = 3;

/// An expectation that did not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The expectation's line in the file.
    pub line: usize,
    /// Its field path (`expect.sequence[2]`).
    pub field: String,
    /// The expectation, in a few words.
    pub expectation: String,
    /// Why it failed.
    pub why: String,
    /// The events around where it should have matched (or where it broke).
    pub around: Vec<RecordedEvent>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "FAILED line {} `{}`: {}",
            self.line, self.field, self.expectation
        )?;
        writeln!(f, "  why: {}", self.why)?;
        if self.around.is_empty() {
            writeln!(f, "  (no events there)")?;
        } else {
            writeln!(f, "  events around it:")?;
            for event in &self.around {
                writeln!(f, "  {}", event.human_line())?;
            }
        }
        Ok(())
    }
}

/// Whether `event` matches `pattern`: same kind, and every field matches.
///
/// A field path with dots (`reader.serial_number`) is followed exactly; a
/// list on the way is searched element by element. A plain name
/// (`serial_number`) that is not a top-level field is also looked for one
/// level down, so `serial_number` finds `reader.serial_number` and any
/// `readers[*].serial_number`. A list matches a value when any element
/// does; numbers match within 1e-6.
pub fn matches(pattern: &EventPattern, event: &RecordedEvent) -> bool {
    pattern.event == event.kind
        && pattern
            .fields
            .iter()
            .all(|(path, expected)| field_matches(&event.fields, path, expected))
}

fn field_matches(fields: &Map<String, Value>, path: &str, expected: &Value) -> bool {
    let mut keys = path.split('.');
    let first = keys.next().unwrap_or_default();
    let rest: Vec<&str> = keys.collect();
    match fields.get(first) {
        Some(value) => follow(value, &rest).iter().any(|v| value_eq(v, expected)),
        None if rest.is_empty() => fields
            .values()
            .any(|child| follow(child, &[first]).iter().any(|v| value_eq(v, expected))),
        None => false,
    }
}

/// The values at `path` below `value`, fanning out over lists.
fn follow<'v>(value: &'v Value, path: &[&str]) -> Vec<&'v Value> {
    let Some((key, rest)) = path.split_first() else {
        return vec![value];
    };
    match value {
        Value::Object(o) => o.get(*key).map(|v| follow(v, rest)).unwrap_or_default(),
        Value::Array(items) => items.iter().flat_map(|item| follow(item, path)).collect(),
        _ => Vec::new(),
    }
}

fn value_eq(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-6,
            _ => a == b,
        },
        (Value::Array(items), e) if !e.is_array() => items.iter().any(|item| value_eq(item, e)),
        (a, e) => a == e,
    }
}

/// A pattern in a few words: `Disconnected reason="disconnect_requested"`.
pub fn describe(pattern: &EventPattern) -> String {
    let mut text = pattern.event.clone();
    for (path, value) in &pattern.fields {
        text.push_str(&format!(" {path}={value}"));
    }
    text
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn around(events: &[RecordedEvent], at: usize) -> Vec<RecordedEvent> {
    let start = at.saturating_sub(CONTEXT_EVENTS);
    let end = at.saturating_add(CONTEXT_EVENTS).min(events.len());
    events.get(start..end).map(<[_]>::to_vec).unwrap_or_default()
}

/// Checks a run against the expectations; returns every one that failed,
/// in file order within each kind (sequence, events, absent, final
/// statuses).
pub fn check(
    expect: &Expectations,
    events: &[RecordedEvent],
    final_status: &BTreeMap<SerialNumber, ConnectionStatus>,
    final_connection_status: ConnectionStatus,
) -> Vec<Failure> {
    let mut failures = Vec::new();

    // Earliest matches, in order: if any in-order choice meets the
    // deadlines, this one does.
    let mut next = 0usize;
    let mut previous: Option<String> = None;
    for expected in &expect.sequence {
        let what = describe(&expected.pattern);
        let expectation = match expected.by {
            Some(by) => format!("sequence: {what} by {}", crate::runtime::fmt_ms(ms(by))),
            None => format!("sequence: {what}"),
        };
        let found = events
            .iter()
            .enumerate()
            .skip(next)
            .find(|(_, e)| matches(&expected.pattern, e));
        match found {
            None => {
                let anywhere = events.iter().position(|e| matches(&expected.pattern, e));
                let after = previous
                    .as_ref()
                    .map_or_else(|| "the start".to_owned(), |p| format!("`{p}`"));
                let why = match anywhere {
                    Some(i) => format!(
                        "no `{what}` after {after}; one came earlier, at {}",
                        crate::runtime::fmt_ms(events[i].t_ms)
                    ),
                    None => format!("no `{what}` after {after}: it never came"),
                };
                failures.push(super::expect::Failure {
                    line: expected.line,
                    field: expected.field.clone(),
                    expectation,
                    why,
                    around: around(events, next),
                });
                // The rest of the sequence cannot be placed after a match
                // that did not happen; each is still reported on its own.
                previous = Some(what);
                continue;
            }
            Some((i, event)) => {
                if let Some(by) = expected.by
                    && event.t_ms > ms(by)
                {
                    failures.push(Failure {
                        line: expected.line,
                        field: expected.field.clone(),
                        expectation,
                        why: format!(
                            "it came at {}, after its deadline {}",
                            crate::runtime::fmt_ms(event.t_ms),
                            crate::runtime::fmt_ms(ms(by))
                        ),
                        around: around(events, i),
                    });
                }
                next = i + 1;
                previous = Some(what);
            }
        }
    }

    for expected in &expect.events {
        let what = describe(&expected.pattern);
        let deadline = expected.by.map(ms);
        let expectation = match deadline {
            Some(by) => format!("event: {what} by {}", crate::runtime::fmt_ms(by)),
            None => format!("event: {what}"),
        };
        let first = events.iter().position(|e| matches(&expected.pattern, e));
        match (first, deadline) {
            (Some(i), Some(by)) if events[i].t_ms > by => failures.push(Failure {
                line: expected.line,
                field: expected.field.clone(),
                expectation,
                why: format!(
                    "the first came at {}, after its deadline",
                    crate::runtime::fmt_ms(events[i].t_ms)
                ),
                around: around(events, i),
            }),
            (Some(_), _) => {}
            (None, _) => {
                let at = deadline.map_or(events.len(), |by| events.partition_point(|e| e.t_ms <= by));
                failures.push(Failure {
                    line: expected.line,
                    field: expected.field.clone(),
                    expectation,
                    why: format!("no `{what}` in the whole run"),
                    around: around(events, at),
                });
            }
        }
    }

    for absent in &expect.absent {
        let what = describe(&absent.pattern);
        let (from, until) = (ms(absent.from), absent.until.map(ms));
        let expectation = format!(
            "absent: {what} from {} until {}",
            crate::runtime::fmt_ms(from),
            until.map_or_else(|| "the end".to_owned(), crate::runtime::fmt_ms)
        );
        let hit = events
            .iter()
            .position(|e| e.t_ms >= from && until.is_none_or(|u| e.t_ms <= u) && matches(&absent.pattern, e));
        if let Some(i) = hit {
            failures.push(Failure {
                line: absent.line,
                field: absent.field.clone(),
                expectation,
                why: format!("one came at {}", crate::runtime::fmt_ms(events[i].t_ms)),
                around: around(events, i),
            });
        }
    }

    let tail = around(events, events.len());
    for expected in &expect.final_status {
        let actual = final_status.get(&expected.serial).copied().unwrap_or_default();
        if actual != expected.status {
            failures.push(Failure {
                line: expected.line,
                field: format!("expect.final_status.{}", expected.serial),
                expectation: format!("final status of {}: {:?}", expected.serial, expected.status),
                why: format!("it ended {actual:?}"),
                around: tail.clone(),
            });
        }
    }
    if let Some((line, status)) = expect.final_connection_status
        && status != final_connection_status
    {
        failures.push(Failure {
            line,
            field: "expect.final_connection_status".into(),
            expectation: format!("final connection status: {status:?}"),
            why: format!("it ended {final_connection_status:?}"),
            around: tail,
        });
    }
    failures
}
