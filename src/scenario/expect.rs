//! The expectation checker: does a run's event stream hold what the
//! scenario expects? It works on [`RecordedEvent`]s (kind plus JSON
//! fields), so it does not depend on the event types' Rust shape.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use super::context::{Around, Context, events_of};
use super::events::{RecordedEvent, event_shapes, printable};
use super::format::{EventPattern, Expectations};
use super::shape::Shape;
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

/// Each part is printed with control characters escaped: a pattern's
/// value is the file's own text (JSON-quoted, but a C1 control such as
/// U+009B, a CSI to some terminals, or a bidirectional override would pass
/// through), and a report must stay one line per part.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "FAILED line {} `{}`: {}",
            self.line,
            printable(&self.field),
            printable(&self.expectation)
        )?;
        writeln!(f, "  why: {}", printable(&self.why))?;
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
        // An error (`{"code", "message", ...}`) matches its code.
        (Value::Object(error), Value::String(_))
            if error.contains_key("code") && error.contains_key("message") =>
        {
            error.get("code") == Some(expected)
        }
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-6,
            _ => a == b,
        },
        (Value::Array(items), e) if !e.is_array() => items.iter().any(|item| value_eq(item, e)),
        (a, e) => a == e,
    }
}

/// Why a pattern's field could never match an event of its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldProblem {
    /// The kind has no field at this path (as [`matches()`] follows paths);
    /// the fields it does have.
    Unknown {
        /// Every top-level field of the kind.
        known: Vec<&'static str>,
    },
    /// The field exists, but the value can never be equal to it: of
    /// another type, or not one of the field's enum values.
    Value {
        /// What the field takes, in a sentence.
        message: String,
    },
}

/// Checks that a pattern's field `path = value` could match some event of
/// kind `event`: the path names a field the kind has (followed as
/// [`matches()`] follows it, through lists, optional values and one level
/// down for a plain name) and the value fits it — the right JSON type,
/// and for an enum one of its values (`reason = "bluetooth_signal_lost"`).
/// The fields come from [`super::events::event_shapes`].
pub fn check_field(event: &str, path: &str, value: &Value) -> Result<(), FieldProblem> {
    let Some(Shape::Struct(fields)) = event_shapes().get(event) else {
        return Err(FieldProblem::Unknown { known: Vec::new() });
    };
    let mut keys = path.split('.');
    let first = keys.next().unwrap_or_default();
    let rest: Vec<&str> = keys.collect();
    let targets: Vec<&Shape> = match fields.iter().find(|(name, _)| *name == first) {
        Some((_, shape)) => rest.iter().fold(vec![shape], |at, key| {
            at.into_iter().flat_map(|s| child(s, key)).collect()
        }),
        None if rest.is_empty() => fields.iter().flat_map(|(_, s)| child(s, first)).collect(),
        None => Vec::new(),
    };
    let Some(first_target) = targets.first() else {
        return Err(FieldProblem::Unknown {
            known: fields.iter().map(|(name, _)| *name).collect(),
        });
    };
    if targets.iter().any(|shape| fits(shape, value).is_ok()) {
        return Ok(());
    }
    Err(FieldProblem::Value {
        message: fits(first_target, value).err().unwrap_or_default(),
    })
}

/// The shape below `shape` at `key`, through lists and optional values.
fn child<'s>(shape: &'s Shape, key: &str) -> Option<&'s Shape> {
    // An error's code and message are strings; its other fields depend on
    // its kind.
    static STRING: Shape = Shape::String;
    static ANY: Shape = Shape::Opaque;
    match unwrap(shape) {
        Shape::Error if key == "code" || key == "message" => Some(&STRING),
        Shape::Error => Some(&ANY),
        Shape::Struct(fields) => fields.iter().find(|(n, _)| *n == key).map(|(_, s)| s),
        Shape::Enum(variants) => variants
            .iter()
            .find(|(n, _)| *n == key)
            .and_then(|(_, payload)| payload.as_ref()),
        _ => None,
    }
}

/// `shape` without the lists and optional values around it (matching
/// looks through both).
fn unwrap(shape: &Shape) -> &Shape {
    match shape {
        Shape::Seq(inner) | Shape::Option(inner) => unwrap(inner),
        other => other,
    }
}

/// Whether `value` can equal a value of `shape` (as [`matches()`] compares).
fn fits(shape: &Shape, value: &Value) -> Result<(), String> {
    let type_name = |value: &Value| match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    };
    match (shape, value) {
        (Shape::Option(_), Value::Null) => Ok(()),
        (Shape::Option(inner), _) => fits(inner, value),
        (Shape::Seq(inner), Value::Array(items)) => items.iter().try_for_each(|item| fits(inner, item)),
        (Shape::Seq(inner), _) => fits(inner, value),
        (Shape::Opaque, _)
        | (Shape::Error, Value::Object(_))
        | (Shape::Bool, Value::Bool(_))
        | (Shape::Number, Value::Number(_))
        | (Shape::String, Value::String(_))
        | (Shape::Struct(_), Value::Object(_))
        | (Shape::Enum(_), Value::Object(_)) => Ok(()),
        (Shape::Enum(variants), Value::String(name)) => {
            let names = shape.unit_variants().unwrap_or_default();
            if names.contains(&name.as_str()) {
                Ok(())
            } else if variants.iter().any(|(v, _)| v == name) {
                Err(format!(
                    "has `{name}` only with fields: match them by a path into it (`{name}.field`)"
                ))
            } else {
                Err(format!(
                    "is one of {}; `{name}` is none of them",
                    names.join(", ")
                ))
            }
        }
        (Shape::Bool, v) => Err(format!("takes true or false, not {}", type_name(v))),
        (Shape::Number, v) => Err(format!("takes a number, not {}", type_name(v))),
        (Shape::String, v) => Err(format!("takes a string, not {}", type_name(v))),
        (Shape::Struct(_), v) => Err(format!("is a table, not {}", type_name(v))),
        (Shape::Error, Value::String(code)) => {
            let codes = crate::error_data::all_codes();
            if codes.contains(&code.as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "is an error, matched by its code; `{code}` is no error's code (codes: {})",
                    codes.join(", ")
                ))
            }
        }
        (Shape::Error, v) => Err(format!(
            "is an error, matched by its code (a string), not {}",
            type_name(v)
        )),
        (Shape::Enum(_), v) => Err(format!(
            "takes one of {}, not {}",
            shape.unit_variants().unwrap_or_default().join(", "),
            type_name(v)
        )),
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

/// Checks a run against the expectations; returns every one that failed,
/// in file order within each kind (sequence, events, absent, final
/// statuses). A scenario run feeds its events to the same checker one at
/// a time, as they come, with the same result.
pub fn check(
    expect: &Expectations,
    events: &[RecordedEvent],
    final_status: &BTreeMap<SerialNumber, ConnectionStatus>,
    final_connection_status: ConnectionStatus,
) -> Vec<Failure> {
    let mut context = Context::new(false);
    let mut checker = ExpectChecker::new(expect, &mut context);
    for event in events {
        context.feed(event);
        checker.observe(event, &mut context);
    }
    checker.finish(&context, final_status, final_connection_status)
}

/// One reading of `expect.sequence`: `item` is the next item it looks
/// for, from the event after its last match (`next`).
#[derive(Debug)]
struct Branch {
    item: usize,
    /// The events around where it looks from.
    next: Around,
    /// The items it matched (after its parent's): item, time, and the
    /// events around it when it came after its deadline.
    matched: Vec<(usize, u64, Option<Around>)>,
}

#[derive(Debug)]
enum Seen {
    /// Not yet; the events around the first one past the deadline.
    Pending(Option<Around>),
    /// The first came at this time; the events around it when late.
    Found(u64, Option<Around>),
}

/// The expectations, checked as the events come: the state it keeps is
/// bounded by the number of expectations, not by the run's length.
///
/// `expect.sequence` is matched greedily, each item from the event after
/// the previous item's match; an item that never matches leaves the next
/// one looking from the same place. As the stream goes on it cannot know
/// which items will never match, so it follows every reading at once: the
/// one where the item it waits for comes, and (a chain, at most one per
/// item) the ones where it never does. A match in a reading discards the
/// readings that assumed it would not come. The end picks the reading the
/// run made true: the same result, and the same events around each
/// failure, as checking the whole recorded run.
#[derive(Debug)]
pub(crate) struct ExpectChecker {
    expect: Expectations,
    /// `chain[0]` is the reading where every match so far counts;
    /// `chain[d + 1]` assumes `chain[d].item` never comes.
    chain: Vec<Branch>,
    /// Each sequence item's first match anywhere: its time.
    anywhere: Vec<Option<u64>>,
    events: Vec<Seen>,
    /// Each absent pattern's first hit: its time and the events around it.
    absent: Vec<Option<(u64, Around)>>,
}

impl ExpectChecker {
    pub(crate) fn new(expect: &Expectations, context: &mut Context) -> Self {
        let mut checker = Self {
            expect: expect.clone(),
            chain: vec![Branch {
                item: 0,
                next: context.around(context.count()),
                matched: Vec::new(),
            }],
            anywhere: vec![None; expect.sequence.len()],
            events: expect.events.iter().map(|_| Seen::Pending(None)).collect(),
            absent: vec![None; expect.absent.len()],
        };
        checker.grow_chain();
        checker
    }

    /// Below the last reading, the one where its item never comes.
    fn grow_chain(&mut self) {
        while let Some(last) = self.chain.last()
            && last.item < self.expect.sequence.len()
        {
            let child = Branch {
                item: last.item + 1,
                next: last.next.clone(),
                matched: Vec::new(),
            };
            self.chain.push(child);
        }
    }

    /// The next event (already fed to `context`).
    pub(crate) fn observe(&mut self, event: &RecordedEvent, context: &mut Context) {
        let at = context.count() - 1;
        for (item, first) in self.anywhere.iter_mut().enumerate() {
            if first.is_none() && matches(&self.expect.sequence[item].pattern, event) {
                *first = Some(event.t_ms);
            }
        }
        for depth in 0..self.chain.len() {
            let branch = &mut self.chain[depth];
            let Some(expected) = self.expect.sequence.get(branch.item) else {
                break;
            };
            if !matches(&expected.pattern, event) {
                continue;
            }
            let late = expected
                .by
                .is_some_and(|by| event.t_ms > ms(by))
                .then(|| context.around(at));
            branch.matched.push((branch.item, event.t_ms, late));
            branch.item += 1;
            branch.next = context.around(at + 1);
            self.chain.truncate(depth + 1);
            self.grow_chain();
            break;
        }

        for (expected, seen) in self.expect.events.iter().zip(&mut self.events) {
            let Seen::Pending(past) = seen else { continue };
            let by = expected.by.map(ms);
            if matches(&expected.pattern, event) {
                let late = by.is_some_and(|by| event.t_ms > by).then(|| context.around(at));
                *seen = Seen::Found(event.t_ms, late);
            } else if past.is_none() && by.is_some_and(|by| event.t_ms > by) {
                *past = Some(context.around(at));
            }
        }

        for (absent, hit) in self.expect.absent.iter().zip(&mut self.absent) {
            if hit.is_none()
                && event.t_ms >= ms(absent.from)
                && absent.until.is_none_or(|u| event.t_ms <= ms(u))
                && matches(&absent.pattern, event)
            {
                *hit = Some((event.t_ms, context.around(at)));
            }
        }
    }

    /// The run is over: every expectation that failed, in file order
    /// within each kind (sequence, events, absent, final statuses).
    pub(crate) fn finish(
        self,
        context: &Context,
        final_status: &BTreeMap<SerialNumber, ConnectionStatus>,
        final_connection_status: ConnectionStatus,
    ) -> Vec<Failure> {
        let expect = &self.expect;
        let mut failures = Vec::new();
        let describe_item = |item: usize| {
            let expected = &expect.sequence[item];
            let what = describe(&expected.pattern);
            let expectation = match expected.by {
                Some(by) => format!("sequence: {what} by {}", crate::runtime::fmt_ms(ms(by))),
                None => format!("sequence: {what}"),
            };
            (what, expectation)
        };
        for branch in &self.chain {
            for (item, t_ms, late) in &branch.matched {
                let Some(late) = late else { continue };
                let expected = &expect.sequence[*item];
                failures.push(Failure {
                    line: expected.line,
                    field: expected.field.clone(),
                    expectation: describe_item(*item).1,
                    why: format!(
                        "it came at {}, after its deadline {}",
                        crate::runtime::fmt_ms(*t_ms),
                        crate::runtime::fmt_ms(expected.by.map(ms).unwrap_or_default())
                    ),
                    around: events_of(late),
                });
            }
            let Some(expected) = expect.sequence.get(branch.item) else {
                break;
            };
            let (what, expectation) = describe_item(branch.item);
            let after = match branch.item {
                0 => "the start".to_owned(),
                item => format!("`{}`", describe(&expect.sequence[item - 1].pattern)),
            };
            let why = match self.anywhere[branch.item] {
                Some(t) => format!(
                    "no `{what}` after {after}; one came earlier, at {}",
                    crate::runtime::fmt_ms(t)
                ),
                None => format!("no `{what}` after {after}: it never came"),
            };
            // The rest of the sequence cannot be placed after a match
            // that did not happen; each is still reported on its own.
            failures.push(Failure {
                line: expected.line,
                field: expected.field.clone(),
                expectation,
                why,
                around: events_of(&branch.next),
            });
        }

        let tail = context.tail();
        for (expected, seen) in expect.events.iter().zip(&self.events) {
            let what = describe(&expected.pattern);
            let deadline = expected.by.map(ms);
            let expectation = match deadline {
                Some(by) => format!("event: {what} by {}", crate::runtime::fmt_ms(by)),
                None => format!("event: {what}"),
            };
            match seen {
                Seen::Found(_, None) => {}
                Seen::Found(t_ms, Some(late)) => failures.push(Failure {
                    line: expected.line,
                    field: expected.field.clone(),
                    expectation,
                    why: format!(
                        "the first came at {}, after its deadline",
                        crate::runtime::fmt_ms(*t_ms)
                    ),
                    around: events_of(late),
                }),
                Seen::Pending(past) => failures.push(Failure {
                    line: expected.line,
                    field: expected.field.clone(),
                    expectation,
                    why: format!("no `{what}` in the whole run"),
                    around: past.as_ref().map_or_else(|| tail.clone(), events_of),
                }),
            }
        }

        for (absent, hit) in expect.absent.iter().zip(&self.absent) {
            let Some((t_ms, around)) = hit else { continue };
            let what = describe(&absent.pattern);
            let (from, until) = (ms(absent.from), absent.until.map(ms));
            failures.push(Failure {
                line: absent.line,
                field: absent.field.clone(),
                expectation: format!(
                    "absent: {what} from {} until {}",
                    crate::runtime::fmt_ms(from),
                    until.map_or_else(|| "the end".to_owned(), crate::runtime::fmt_ms)
                ),
                why: format!("one came at {}", crate::runtime::fmt_ms(*t_ms)),
                around: events_of(around),
            });
        }

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
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scenario::Expected;

    fn event(kind: &str, fields: Value) -> RecordedEvent {
        RecordedEvent {
            t_ms: 0,
            kind: kind.into(),
            fields: fields.as_object().cloned().unwrap_or_default(),
        }
    }

    fn pattern(kind: &str, fields: &[(&str, Value)]) -> EventPattern {
        EventPattern {
            event: kind.into(),
            fields: fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        }
    }

    #[test]
    fn fields_match_by_path_one_level_down_through_lists_and_numbers_within_a_tolerance() {
        let connected = event(
            "Connected",
            json!({ "reader": { "serial_number": "STRM2-0001", "battery": { "level": 0.15_f32 } }, "location": "tml_1" }),
        );
        let listed = event(
            "DiscoveredReadersUpdated",
            json!({ "readers": [ { "serial_number": "A" }, { "serial_number": "B" } ] }),
        );
        let yes = [
            (pattern("Connected", &[]), &connected),
            (pattern("Connected", &[("location", json!("tml_1"))]), &connected),
            (
                pattern("Connected", &[("reader.serial_number", json!("STRM2-0001"))]),
                &connected,
            ),
            (
                pattern("Connected", &[("serial_number", json!("STRM2-0001"))]),
                &connected,
            ),
            (
                pattern("Connected", &[("reader.battery.level", json!(0.15))]),
                &connected,
            ),
            (
                pattern("DiscoveredReadersUpdated", &[("serial_number", json!("B"))]),
                &listed,
            ),
            (
                pattern(
                    "DiscoveredReadersUpdated",
                    &[("readers.serial_number", json!("A"))],
                ),
                &listed,
            ),
        ];
        for (p, e) in yes {
            assert!(matches(&p, e), "{} should match {e:?}", describe(&p));
        }
        let no = [
            (pattern("Disconnected", &[]), &connected),
            (pattern("Connected", &[("location", json!("tml_2"))]), &connected),
            (
                pattern("Connected", &[("serial_number", json!("WPC32-0001"))]),
                &connected,
            ),
            (
                pattern("Connected", &[("battery.level", json!(0.15))]),
                &connected,
            ),
            (pattern("Connected", &[("reader.rssi", json!(-50))]), &connected),
            (
                pattern("DiscoveredReadersUpdated", &[("serial_number", json!("C"))]),
                &listed,
            ),
        ];
        for (p, e) in no {
            assert!(!matches(&p, e), "{} should not match {e:?}", describe(&p));
        }
    }

    #[test]
    fn an_error_field_matches_its_code_and_a_pattern_may_name_it() {
        let error = crate::reconnect::ReconnectError::ConnectTimedOut {
            window_ms: 60_000,
            attempts: 3,
            last_error: None,
        };
        let failed = RecordedEvent::terminal(
            0,
            &crate::terminal::TerminalEvent::ReconnectFailed {
                serial_number: SerialNumber::new("STRM2-0001"),
                error,
            },
        );
        assert!(matches(
            &pattern("ReconnectFailed", &[("error", json!("connect_timed_out"))]),
            &failed
        ));
        assert!(matches(
            &pattern("ReconnectFailed", &[("error.window_ms", json!(60_000))]),
            &failed
        ));
        assert!(!matches(
            &pattern("ReconnectFailed", &[("error", json!("reconnect_cancelled"))]),
            &failed
        ));
        assert_eq!(
            check_field("ReconnectFailed", "error", &json!("connect_timed_out")),
            Ok(())
        );
        assert_eq!(check_field("ReconnectFailed", "error.code", &json!("x")), Ok(()));
        assert!(matches!(
            check_field("ReconnectFailed", "error", &json!(3)),
            Err(FieldProblem::Value { .. })
        ));
        // A misspelt code could never match: refused, naming the codes.
        match check_field("ReconnectFailed", "error", &json!("conect_timed_out")) {
            Err(FieldProblem::Value { message }) => {
                assert!(message.contains("connect_timed_out, "), "{message}")
            }
            other => panic!("a misspelt code is refused: {other:?}"),
        }
        // Enum values are snake_case.
        assert_eq!(
            check_field("ConnectionStatusChanged", "status", &json!("not_connected")),
            Ok(())
        );
        assert!(check_field("ConnectionStatusChanged", "status", &json!("NotConnected")).is_err());
    }

    #[test]
    fn a_sequence_matches_in_order_and_reports_what_is_missing_after_what() {
        let at = |t_ms, kind: &str| RecordedEvent {
            t_ms,
            ..event(kind, json!({}))
        };
        let events = [at(0, "A"), at(10, "B"), at(20, "A"), at(30, "C")];
        let expected = |kind: &str, by: Option<u64>| Expected {
            line: 1,
            field: format!("expect.sequence[{kind}]"),
            pattern: pattern(kind, &[]),
            by: by.map(Duration::from_millis),
        };
        let statuses = BTreeMap::new();
        let check_seq = |sequence: Vec<Expected>| {
            let expect = Expectations {
                sequence,
                ..Expectations::default()
            };
            check(&expect, &events, &statuses, ConnectionStatus::NotConnected)
        };
        assert!(
            check_seq(vec![
                expected("A", None),
                expected("B", None),
                expected("A", Some(20))
            ])
            .is_empty()
        );
        let late = check_seq(vec![expected("B", None), expected("C", Some(25))]);
        assert_eq!(late.len(), 1);
        assert!(
            late[0].why.contains("came at 0.030s, after its deadline 0.025s"),
            "{}",
            late[0]
        );
        let missing = check_seq(vec![expected("C", None), expected("B", None)]);
        assert_eq!(missing.len(), 1);
        assert!(
            missing[0]
                .why
                .contains("no `B` after `C`; one came earlier, at 0.010s"),
            "{}",
            missing[0]
        );
        assert_eq!(
            missing[0].around.len(),
            CONTEXT_EVENTS.min(events.len()),
            "the events before the end"
        );
    }

    /// What `check` did with `expect.sequence` when it read the whole
    /// recorded run (before it checked the events as they came).
    fn sequence_on_the_whole_run(sequence: &[Expected], events: &[RecordedEvent]) -> Vec<Failure> {
        let around = |at: usize| {
            let start = at.saturating_sub(CONTEXT_EVENTS);
            let end = at.saturating_add(CONTEXT_EVENTS).min(events.len());
            events.get(start..end).map(<[_]>::to_vec).unwrap_or_default()
        };
        let mut failures = Vec::new();
        let mut next = 0usize;
        let mut previous: Option<String> = None;
        for expected in sequence {
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
                    failures.push(Failure {
                        line: expected.line,
                        field: expected.field.clone(),
                        expectation,
                        why,
                        around: around(next),
                    });
                    previous = Some(what);
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
                            around: around(i),
                        });
                    }
                    next = i + 1;
                    previous = Some(what);
                }
            }
        }
        failures
    }

    proptest::proptest! {
        /// Checked as the events come, a sequence fails exactly as it did
        /// on the whole recorded run: the same items, reasons and events
        /// around each, whichever items never match.
        #[test]
        fn a_sequence_checked_as_the_events_come_fails_as_on_the_whole_run(
            kinds in proptest::collection::vec(0u8..4, 0..40),
            steps in proptest::collection::vec(0u64..3, 40),
            items in proptest::collection::vec((0u8..5, proptest::option::of(0u64..60)), 0..6),
        ) {
            let names = ["A", "B", "C", "D", "Never"];
            let mut t = 0;
            let events: Vec<RecordedEvent> = kinds
                .iter()
                .zip(&steps)
                .enumerate()
                .map(|(i, (k, dt))| {
                    t += dt;
                    RecordedEvent { t_ms: t, kind: names[usize::from(*k)].into(), fields: json!({ "n": i }).as_object().cloned().unwrap_or_default() }
                })
                .collect();
            let sequence: Vec<Expected> = items
                .iter()
                .enumerate()
                .map(|(i, (k, by))| Expected {
                    line: i + 1,
                    field: format!("expect.sequence[{i}]"),
                    pattern: pattern(names[usize::from(*k)], &[]),
                    by: by.map(Duration::from_millis),
                })
                .collect();
            let expect = Expectations { sequence: sequence.clone(), ..Expectations::default() };
            let streamed = check(&expect, &events, &BTreeMap::new(), ConnectionStatus::NotConnected);
            proptest::prop_assert_eq!(streamed, sequence_on_the_whole_run(&sequence, &events));
        }
    }
}
