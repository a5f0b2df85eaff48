//! The invariants every run must keep, checked on its events as they come
//! (state per reader and per step, not per event): a scenario with an
//! `[invariants]` table has them checked with its expectations, and
//! `readerlink explore` checks them on every seed. [`check`] does the same
//! on a recorded list of events.
//!
//! | invariant | holds when |
//! |---|---|
//! | `reconnect_order` | per reader, R9's order: `ReconnectStarted`, then exactly one of `ReconnectSucceeded` / `ReconnectFailed`, and a `ReconnectFailed` is followed by that reader's `Disconnected` before it connects or reconnects again |
//! | `connect_ends` | every `connect` step ends exactly once: a `Connected` of its reader (not one that follows `ReconnectSucceeded`) or its `ActionFailed`; a `reconnect_at_start` step, with a `Connected` of any reader or its `ActionFailed` |
//! | `overall_status` | once the events of a virtual millisecond are out, the overall status is the function of the readers' statuses R2 names; at the end the terminal's answers agree with the stream |
//! | `events_missed` | no `EventsMissed`: the runner saw every event |
//! | `reboot_in_transaction` | no reader's connection ends for a reboot (`Disconnected` or `ReconnectStarted` with reason `reboot_requested` or `security_reboot`) while a transaction started on that connection runs (R20; a transaction ends with its connection) |
//! | `not_live` | every reader of `live` is connected at `live_at` |
//! | `left_over` | from `quiet_from`, every reader is not connected, the overall status is `not_connected`, and no terminal event comes |
//!
//! Each [`Violation`] names the invariant, the reader (when it is about
//! one), the event and its virtual time.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::context::{Around, Context, events_of};
use super::events::{RUNNER_EVENTS, RecordedEvent};
use super::format::InvariantSpec;
use crate::reader::{ConnectionStatus, SerialNumber};
use crate::runtime::fmt_ms;
use crate::terminal::overall_status;

/// How long an operation may stay open at the end of a run before it
/// counts as never ended: a connect, or a reconnection (whose window is
/// 60 s by default), that started within this long of the end is left
/// alone.
pub const OPEN_AT_END_GRACE_MS: u64 = 180_000;

/// An invariant a run broke: which, about which reader, at which event
/// and virtual time, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{invariant} broken at {at}{reader}: {event}: {why}",
    invariant = self.invariant.name(),
    at = fmt_ms(self.t_ms),
    reader = self.serial.as_ref().map(|s| format!(" by {s}")).unwrap_or_default())]
pub struct Violation {
    /// Which invariant.
    pub invariant: Invariant,
    /// The reader it is about, if one.
    pub serial: Option<String>,
    /// The event where it showed (its kind; `end of run` when it showed at
    /// the end).
    pub event: String,
    /// Its virtual time, in ms since the start.
    pub t_ms: u64,
    /// What was wrong, in a sentence.
    pub why: String,
}

/// The invariants ([`super::invariants`] lists what each means).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    /// R9's order of reconnect events per reader.
    ReconnectOrder,
    /// Every connect ends exactly once.
    ConnectEnds,
    /// The overall status is the readers' statuses' function.
    OverallStatus,
    /// No event was lost.
    EventsMissed,
    /// No reboot while a transaction runs (R20).
    RebootInTransaction,
    /// Liveness: the readers that must be connected are.
    NotLive,
    /// Nothing left running after the app disconnected every reader.
    LeftOver,
    /// Two runs of one seed gave different events (checked by the explorer).
    Nondeterministic,
}

/// The invariants a scenario run with `[invariants]` checks (all but
/// [`Invariant::Nondeterministic`], which takes two runs).
pub const CHECKED_BY_A_RUN: [Invariant; 7] = [
    Invariant::ReconnectOrder,
    Invariant::ConnectEnds,
    Invariant::OverallStatus,
    Invariant::EventsMissed,
    Invariant::RebootInTransaction,
    Invariant::NotLive,
    Invariant::LeftOver,
];

impl Invariant {
    /// Its name, as in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::ReconnectOrder => "reconnect_order",
            Self::ConnectEnds => "connect_ends",
            Self::OverallStatus => "overall_status",
            Self::EventsMissed => "events_missed",
            Self::RebootInTransaction => "reboot_in_transaction",
            Self::NotLive => "not_live",
            Self::LeftOver => "left_over",
            Self::Nondeterministic => "nondeterministic",
        }
    }
}

fn str_field<'e>(event: &'e RecordedEvent, key: &str) -> Option<&'e str> {
    event.fields.get(key).and_then(Value::as_str)
}

/// The reader an event is about: its `serial_number`, or its
/// `reader.serial_number`.
fn serial_of(event: &RecordedEvent) -> Option<&str> {
    str_field(event, "serial_number").or_else(|| {
        event
            .fields
            .get("reader")
            .and_then(|r| r.get("serial_number"))
            .and_then(Value::as_str)
    })
}

fn status_of(event: &RecordedEvent) -> Option<ConnectionStatus> {
    event
        .fields
        .get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
}

fn status_name(status: ConnectionStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{status:?}"))
}

#[derive(Default)]
struct ReaderState {
    /// A reconnection runs, since this time.
    reconnecting: Option<u64>,
    /// The reconnection failed at this time; its `Disconnected` is due.
    failed_at: Option<u64>,
    /// The last event was `ReconnectSucceeded`: the next `Connected` is its.
    succeeded: bool,
    /// Connect steps not ended yet: (step, time).
    connects: Vec<(u64, u64)>,
    /// The `start_transaction` steps run on this connection since the
    /// last end, oldest first. The transaction running is the last of
    /// them whose action did not fail; a failure (`ActionFailed`) may come
    /// after a reboot, so which one ran is known only at the end.
    starts: Vec<u64>,
    /// The status the stream last reported.
    status: Option<ConnectionStatus>,
}

/// A violation found, kept until the end.
struct Found {
    violation: Violation,
    /// A `reboot_in_transaction`: its reason and the `start_transaction`
    /// steps that may have been the running one (its `why` is written at
    /// the end, naming the last whose action did not fail; none: not a
    /// violation).
    reboot: Option<(String, Vec<u64>)>,
    /// The events near it, when it may be the first of its invariant.
    near: Option<Around>,
}

/// The violations found while handling one event.
#[derive(Default)]
struct Findings(Vec<Found>);

impl Findings {
    fn add(&mut self, invariant: Invariant, serial: Option<&str>, event: &str, t_ms: u64, why: String) {
        self.0.push(Found {
            violation: Violation {
                invariant,
                serial: serial.map(str::to_owned),
                event: event.to_owned(),
                t_ms,
                why,
            },
            reboot: None,
            near: None,
        });
    }
}

/// A violation, with the events near it when it is the first of its
/// invariant (what a report shows: the first
/// `2 * CONTEXT_EVENTS` events within a second of it).
pub(crate) type Reported = (Violation, Option<Vec<RecordedEvent>>);

/// The invariants, checked as the events come. Its state is per reader
/// and per step, not per event: the same result as [`check`] on the
/// whole recorded run.
pub(crate) struct InvariantChecker {
    spec: InvariantSpec,
    found: Vec<Found>,
    /// The invariants whose first certain violation has its events near it.
    near_taken: BTreeSet<Invariant>,
    /// Steps whose app action failed: a transaction that failed to start
    /// never ran.
    failed_steps: BTreeSet<u64>,
    readers: HashMap<String, ReaderState>,
    overall: ConnectionStatus,
    live_checked: bool,
    live_at: Option<u64>,
    quiet_from: Option<u64>,
    /// The running `reconnect_at_start` step and when it ran.
    start_reconnect: Option<(u64, u64)>,
    /// The virtual millisecond of the last event.
    now: Option<u64>,
}

impl InvariantChecker {
    /// A checker for `spec`. The context it is given with each event keeps
    /// the events near each violation: it needs its window
    /// ([`Context::new`] with `true`).
    pub(crate) fn new(spec: &InvariantSpec) -> Self {
        let live_at = spec.live_at.map(ms);
        Self {
            spec: spec.clone(),
            found: Vec::new(),
            near_taken: BTreeSet::new(),
            failed_steps: BTreeSet::new(),
            readers: HashMap::new(),
            overall: ConnectionStatus::NotConnected,
            live_checked: spec.live_at.is_none(),
            live_at,
            quiet_from: spec.quiet_from.map(ms),
            start_reconnect: None,
            now: None,
        }
    }

    fn keep(&mut self, findings: Findings, context: &mut Context) {
        for mut found in findings.0 {
            let invariant = found.violation.invariant;
            // A reboot's violation may yet vanish (its transaction's start
            // may still fail): each keeps its events until the end.
            if found.reboot.is_some() || self.near_taken.insert(invariant) {
                found.near = Some(context.near(found.violation.t_ms));
            }
            self.found.push(found);
        }
    }

    /// The next event (already fed to `context`).
    pub(crate) fn observe(&mut self, event: &RecordedEvent, context: &mut Context) {
        let mut found = Findings::default();
        let t = event.t_ms;
        if self.now.is_some_and(|now| now != t) {
            self.millisecond_over(&mut found);
        }
        self.now = Some(t);
        if !self.live_checked && self.live_at.is_some_and(|at| t >= at) {
            self.live_checked = true;
            check_live(
                &self.spec.live,
                &self.readers,
                self.live_at.unwrap_or_default(),
                &mut found,
            );
        }
        if event.kind == "ActionFailed"
            && let Some(step) = event.fields.get("step").and_then(Value::as_u64)
        {
            self.failed_steps.insert(step);
            // A start that failed is no transaction.
            if str_field(event, "action") == Some("start_transaction")
                && let Some(state) = serial_of(event).and_then(|s| self.readers.get_mut(s))
            {
                state.starts.retain(|s| *s != step);
            }
        }
        self.event(event, &mut found);
        self.keep(found, context);
    }

    fn event(&mut self, event: &RecordedEvent, found: &mut Findings) {
        let t = event.t_ms;
        let Self {
            readers,
            overall,
            start_reconnect,
            failed_steps,
            quiet_from,
            ..
        } = self;
        let kind = event.kind.as_str();
        if quiet_from.is_some_and(|q| t >= q) && !RUNNER_EVENTS.contains(&kind) {
            found.add(
                Invariant::LeftOver,
                serial_of(event),
                kind,
                t,
                "a terminal event after every reader was disconnected and the run went quiet".into(),
            );
        }
        if kind == "EventsMissed" {
            let count = event.fields.get("count").and_then(Value::as_u64).unwrap_or(0);
            found.add(
                Invariant::EventsMissed,
                None,
                kind,
                t,
                format!("{count} events were dropped before the runner saw them"),
            );
            return;
        }
        if kind == "ConnectionStatusChanged" {
            if let Some(status) = status_of(event) {
                *overall = status;
            }
            return;
        }
        let step = event.fields.get("step").and_then(Value::as_u64);
        let action = str_field(event, "action");
        // A reconnect at start names no reader: it connects the saved
        // one, whichever that is, or fails.
        if action == Some("reconnect_at_start") {
            match kind {
                "StepRan" => *start_reconnect = Some((step.unwrap_or(0), t)),
                "ActionFailed" => *start_reconnect = None,
                _ => {}
            }
            return;
        }
        let Some(serial) = serial_of(event) else { return };
        let state = readers.entry(serial.to_owned()).or_default();
        match kind {
            "StepRan" => match action {
                Some("connect") => state.connects.push((step.unwrap_or(0), t)),
                Some("start_transaction") => {
                    if let Some(step) = step.filter(|s| !failed_steps.contains(s)) {
                        state.starts.push(step);
                    }
                }
                Some("end_transaction") => state.starts.clear(),
                _ => {}
            },
            "ActionFailed" if action == Some("connect") => {
                let step = step.unwrap_or(0);
                match state.connects.iter().position(|(s, _)| *s == step) {
                    Some(at) => {
                        state.connects.remove(at);
                    }
                    None => found.add(
                        Invariant::ConnectEnds,
                        Some(serial),
                        kind,
                        t,
                        format!("connect step {step} failed after it had already ended"),
                    ),
                }
            }
            "ReaderStatusChanged" => state.status = status_of(event),
            "ReconnectStarted" => {
                if let Some(since) = state.reconnecting {
                    found.add(
                        Invariant::ReconnectOrder,
                        Some(serial),
                        kind,
                        t,
                        format!(
                            "a second ReconnectStarted while the one of {} had not ended",
                            fmt_ms(since)
                        ),
                    );
                }
                check_failure_ended(state, serial, kind, t, found);
                state.reconnecting = Some(t);
                state.succeeded = false;
                // The connection ended: so did its transaction.
                check_reboot(state, event, t, found);
            }
            "ReconnectSucceeded" | "ReconnectFailed" => {
                if state.reconnecting.take().is_none() {
                    found.add(
                        Invariant::ReconnectOrder,
                        Some(serial),
                        kind,
                        t,
                        "no reconnection was running (no ReconnectStarted since the last end)".into(),
                    );
                }
                if kind == "ReconnectSucceeded" {
                    state.succeeded = true;
                } else {
                    state.failed_at = Some(t);
                    state.succeeded = false;
                }
            }
            "Connected" => {
                check_failure_ended(state, serial, kind, t, found);
                if std::mem::take(&mut state.succeeded) {
                    return;
                }
                if state.connects.is_empty() && start_reconnect.take().is_none() {
                    found.add(
                        Invariant::ConnectEnds,
                        Some(serial),
                        kind,
                        t,
                        "Connected with no connect running and no ReconnectSucceeded before it".into(),
                    );
                } else if !state.connects.is_empty() {
                    state.connects.remove(0);
                }
            }
            "Disconnected" => {
                state.failed_at = None;
                state.succeeded = false;
                check_reboot(state, event, t, found);
            }
            _ => {}
        }
    }

    /// The events of a virtual millisecond are out: the overall status
    /// follows the readers'.
    fn millisecond_over(&mut self, found: &mut Findings) {
        let Some(t) = self.now else { return };
        let (readers, overall) = (&self.readers, self.overall);
        let statuses: Vec<ConnectionStatus> = readers.values().filter_map(|r| r.status).collect();
        let with = overall_status(&statuses, true);
        let without = overall_status(&statuses, false);
        if overall != with && overall != without {
            found.add(
                Invariant::OverallStatus,
                None,
                "ConnectionStatusChanged",
                t,
                format!(
                    "the overall status is {} while the readers' statuses make it {}",
                    status_name(overall),
                    status_name(without)
                ),
            );
        }
    }

    /// The run is over: every violation, in order, the first of each
    /// invariant with the events near it.
    pub(crate) fn finish(
        mut self,
        context: &mut Context,
        final_status: &BTreeMap<SerialNumber, ConnectionStatus>,
        final_connection_status: ConnectionStatus,
        run_ms: u64,
    ) -> Vec<Reported> {
        let mut findings = Findings::default();
        let found = &mut findings;
        self.millisecond_over(found);
        if !self.live_checked
            && let Some(at) = self.live_at
        {
            check_live(&self.spec.live, &self.readers, at, found);
        }
        let (readers, overall, quiet_from, start_reconnect) =
            (&self.readers, self.overall, self.quiet_from, self.start_reconnect);
        // The end.
        let end = "end of run";
        for (serial, status) in final_status {
            let streamed = readers
                .get(serial.as_str())
                .and_then(|r| r.status)
                .unwrap_or(ConnectionStatus::NotConnected);
            if streamed != *status {
                found.add(
                    Invariant::OverallStatus,
                    Some(serial.as_str()),
                    end,
                    run_ms,
                    format!(
                        "the terminal answers {} but the last ReaderStatusChanged said {}",
                        status_name(*status),
                        status_name(streamed)
                    ),
                );
            }
            if quiet_from.is_some() && *status != ConnectionStatus::NotConnected {
                found.add(
                    Invariant::LeftOver,
                    Some(serial.as_str()),
                    end,
                    run_ms,
                    format!("still {} after it was disconnected", status_name(*status)),
                );
            }
        }
        if final_connection_status != overall {
            found.add(
                Invariant::OverallStatus,
                None,
                end,
                run_ms,
                format!(
                    "the terminal answers {} but the last ConnectionStatusChanged said {}",
                    status_name(final_connection_status),
                    status_name(overall)
                ),
            );
        }
        if quiet_from.is_some() && final_connection_status != ConnectionStatus::NotConnected {
            found.add(
                Invariant::LeftOver,
                None,
                end,
                run_ms,
                format!(
                    "the overall status is {} after every reader was disconnected",
                    status_name(final_connection_status)
                ),
            );
        }
        if let Some((step, at)) = start_reconnect
            && at + OPEN_AT_END_GRACE_MS <= run_ms
        {
            found.add(
                Invariant::ConnectEnds,
                None,
                end,
                run_ms,
                format!(
                    "reconnect_at_start step {step} (run at {}) never ended",
                    fmt_ms(at)
                ),
            );
        }
        let mut serials: Vec<_> = readers.keys().cloned().collect();
        serials.sort();
        for serial in serials {
            let state = &readers[&serial];
            for (step, at) in &state.connects {
                if at + OPEN_AT_END_GRACE_MS <= run_ms {
                    found.add(
                        Invariant::ConnectEnds,
                        Some(&serial),
                        end,
                        run_ms,
                        format!("connect step {step} (run at {}) never ended", fmt_ms(*at)),
                    );
                }
            }
            if let Some(since) = state.reconnecting
                && since + OPEN_AT_END_GRACE_MS <= run_ms
            {
                found.add(
                    Invariant::ReconnectOrder,
                    Some(&serial),
                    end,
                    run_ms,
                    format!("the reconnection started at {} never ended", fmt_ms(since)),
                );
            }
            if let Some(at) = state.failed_at
                && at + OPEN_AT_END_GRACE_MS <= run_ms
            {
                found.add(
                    Invariant::ReconnectOrder,
                    Some(&serial),
                    end,
                    run_ms,
                    format!(
                        "the ReconnectFailed of {} was not followed by Disconnected",
                        fmt_ms(at)
                    ),
                );
            }
        }
        self.keep(findings, context);
        let failed_steps = &self.failed_steps;
        let mut reported = BTreeSet::new();
        self.found
            .into_iter()
            .filter_map(|found| {
                let mut violation = found.violation;
                if let Some((reason, starts)) = found.reboot {
                    let step = starts.iter().rev().find(|s| !failed_steps.contains(s))?;
                    violation.why = format!(
                        "the connection ended for a reboot ({reason}) while the transaction of step {step} ran"
                    );
                }
                let first = reported.insert(violation.invariant);
                let near = first.then(|| found.near.as_ref().map(events_of).unwrap_or_default());
                Some((violation, near))
            })
            .collect()
    }
}

/// Checks `events` against every invariant; `spec` adds the time-bound
/// ones; `final_status` and `final_connection_status` are the terminal's
/// answers at the end, `run_ms` how long the run lasted. The same as
/// feeding each event to the checker a scenario run uses.
pub fn check(
    events: &[RecordedEvent],
    spec: &InvariantSpec,
    final_status: &BTreeMap<SerialNumber, ConnectionStatus>,
    final_connection_status: ConnectionStatus,
    run_ms: u64,
) -> Vec<Violation> {
    let mut context = Context::new(true);
    let mut checker = InvariantChecker::new(spec);
    for event in events {
        context.feed(event);
        checker.observe(event, &mut context);
    }
    checker
        .finish(&mut context, final_status, final_connection_status, run_ms)
        .into_iter()
        .map(|(v, _)| v)
        .collect()
}

/// A `ReconnectFailed` must be followed by `Disconnected` before the
/// reader's next `ReconnectStarted` or `Connected` (`kind`).
fn check_failure_ended(state: &mut ReaderState, serial: &str, kind: &str, t: u64, found: &mut Findings) {
    if let Some(at) = state.failed_at.take() {
        found.add(
            Invariant::ReconnectOrder,
            Some(serial),
            kind,
            t,
            format!(
                "the ReconnectFailed of {} was not followed by Disconnected",
                fmt_ms(at)
            ),
        );
    }
}

/// The connection ended (`Disconnected`, or `ReconnectStarted`): so did
/// the transaction on it; a reboot must not have been why.
fn check_reboot(state: &mut ReaderState, event: &RecordedEvent, t: u64, found: &mut Findings) {
    let reason = str_field(event, "reason").unwrap_or_default();
    let starts = std::mem::take(&mut state.starts);
    if !starts.is_empty() && matches!(reason, "reboot_requested" | "security_reboot") {
        found.0.push(Found {
            violation: Violation {
                invariant: Invariant::RebootInTransaction,
                serial: serial_of(event).map(str::to_owned),
                event: event.kind.clone(),
                t_ms: t,
                why: String::new(),
            },
            reboot: Some((reason.to_owned(), starts)),
            near: None,
        });
    }
}

fn check_live(live: &[SerialNumber], readers: &HashMap<String, ReaderState>, at: u64, found: &mut Findings) {
    for serial in live {
        let status = readers
            .get(serial.as_str())
            .and_then(|r| r.status)
            .unwrap_or(ConnectionStatus::NotConnected);
        if status != ConnectionStatus::Connected {
            found.add(
                Invariant::NotLive,
                Some(serial.as_str()),
                "liveness check",
                at,
                format!(
                    "{} once the faults had stopped, though powered, in range and asked to connect",
                    status_name(status)
                ),
            );
        }
    }
}

fn ms(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(t_ms: u64, kind: &str, fields: Value) -> RecordedEvent {
        RecordedEvent {
            t_ms,
            kind: kind.into(),
            fields: fields.as_object().cloned().unwrap_or_default(),
        }
    }

    fn step(t_ms: u64, kind: &str, step: u64) -> RecordedEvent {
        event(
            t_ms,
            kind,
            json!({ "step": step, "action": "start_transaction", "serial_number": "STRM2-0001", "error": "x", "message": "x" }),
        )
    }

    fn reboot_violations(events: &[RecordedEvent]) -> Vec<String> {
        check(
            events,
            &InvariantSpec::default(),
            &BTreeMap::new(),
            ConnectionStatus::NotConnected,
            10,
        )
        .into_iter()
        .filter(|v| v.invariant == Invariant::RebootInTransaction)
        .map(|v| v.why)
        .collect()
    }

    /// A start whose `ActionFailed` comes after the reboot was no
    /// transaction: the one started before it was running.
    #[test]
    fn a_reboot_before_a_starts_failure_names_the_transaction_that_ran_or_none() {
        let reboot = event(
            2,
            "Disconnected",
            json!({ "serial_number": "STRM2-0001", "reason": "reboot_requested" }),
        );
        let mut events = vec![
            step(0, "StepRan", 1),
            step(1, "StepRan", 2),
            reboot,
            step(3, "ActionFailed", 2),
        ];
        assert_eq!(
            reboot_violations(&events),
            vec!["the connection ended for a reboot (reboot_requested) while the transaction of step 1 ran"]
        );
        events.push(step(4, "ActionFailed", 1));
        assert_eq!(
            reboot_violations(&events),
            Vec::<String>::new(),
            "neither start ran"
        );
    }
}
