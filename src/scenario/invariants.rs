//! The invariants every run must keep, checked on its recorded events: a
//! scenario with an `[invariants]` table has them checked after its
//! expectations, and `readerlink explore` checks them on every seed.
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
    /// The transaction running: its start step.
    transaction: Option<u64>,
    /// The status the stream last reported.
    status: Option<ConnectionStatus>,
}

/// Checks `events` against every invariant; `spec` adds the time-bound
/// ones; `final_status` and `final_connection_status` are the terminal's
/// answers at the end, `run_ms` how long the run lasted.
pub fn check(
    events: &[RecordedEvent],
    spec: &InvariantSpec,
    final_status: &BTreeMap<SerialNumber, ConnectionStatus>,
    final_connection_status: ConnectionStatus,
    run_ms: u64,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut violation = |invariant, serial: Option<&str>, event: &str, t_ms, why: String| {
        out.push(Violation {
            invariant,
            serial: serial.map(str::to_owned),
            event: event.to_owned(),
            t_ms,
            why,
        });
    };
    // Steps whose app action failed: a transaction that failed to start
    // never ran.
    let failed_steps: BTreeSet<u64> = events
        .iter()
        .filter(|e| e.kind == "ActionFailed")
        .filter_map(|e| e.fields.get("step").and_then(Value::as_u64))
        .collect();
    let mut readers: HashMap<String, ReaderState> = HashMap::new();
    let mut overall = ConnectionStatus::NotConnected;
    let mut live_checked = spec.live_at.is_none();
    let live_at = spec.live_at.map(ms);
    let quiet_from = spec.quiet_from.map(ms);
    // The running `reconnect_at_start` step and when it ran.
    let mut start_reconnect: Option<(u64, u64)> = None;
    let mut i = 0;
    while i < events.len() {
        let t = events[i].t_ms;
        if !live_checked && live_at.is_some_and(|at| t >= at) {
            live_checked = true;
            check_live(&spec.live, &readers, live_at.unwrap_or_default(), &mut violation);
        }
        // One virtual millisecond's events.
        while i < events.len() && events[i].t_ms == t {
            let event = &events[i];
            i += 1;
            let kind = event.kind.as_str();
            if quiet_from.is_some_and(|q| t >= q) && !RUNNER_EVENTS.contains(&kind) {
                violation(
                    Invariant::LeftOver,
                    serial_of(event),
                    kind,
                    t,
                    "a terminal event after every reader was disconnected and the run went quiet".into(),
                );
            }
            if kind == "EventsMissed" {
                let count = event.fields.get("count").and_then(Value::as_u64).unwrap_or(0);
                violation(
                    Invariant::EventsMissed,
                    None,
                    kind,
                    t,
                    format!("{count} events were dropped before the runner saw them"),
                );
                continue;
            }
            if kind == "ConnectionStatusChanged" {
                if let Some(status) = status_of(event) {
                    overall = status;
                }
                continue;
            }
            let step = event.fields.get("step").and_then(Value::as_u64);
            let action = str_field(event, "action");
            // A reconnect at start names no reader: it connects the saved
            // one, whichever that is, or fails.
            if action == Some("reconnect_at_start") {
                match kind {
                    "StepRan" => start_reconnect = Some((step.unwrap_or(0), t)),
                    "ActionFailed" => start_reconnect = None,
                    _ => {}
                }
                continue;
            }
            let Some(serial) = serial_of(event) else { continue };
            let state = readers.entry(serial.to_owned()).or_default();
            match kind {
                "StepRan" => match action {
                    Some("connect") => state.connects.push((step.unwrap_or(0), t)),
                    Some("start_transaction") => {
                        if let Some(step) = step.filter(|s| !failed_steps.contains(s)) {
                            state.transaction = Some(step);
                        }
                    }
                    Some("end_transaction") => state.transaction = None,
                    _ => {}
                },
                "ActionFailed" if action == Some("connect") => {
                    let step = step.unwrap_or(0);
                    match state.connects.iter().position(|(s, _)| *s == step) {
                        Some(at) => {
                            state.connects.remove(at);
                        }
                        None => violation(
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
                        violation(
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
                    if let Some(at) = state.failed_at.take() {
                        violation(
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
                    state.reconnecting = Some(t);
                    state.succeeded = false;
                    // The connection ended: so did its transaction.
                    check_reboot(state, event, t, &mut violation);
                }
                "ReconnectSucceeded" | "ReconnectFailed" => {
                    if state.reconnecting.take().is_none() {
                        violation(
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
                    if let Some(at) = state.failed_at.take() {
                        violation(
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
                    if std::mem::take(&mut state.succeeded) {
                        continue;
                    }
                    if state.connects.is_empty() && start_reconnect.take().is_none() {
                        violation(
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
                    check_reboot(state, event, t, &mut violation);
                }
                _ => {}
            }
        }
        // The millisecond is over: the overall status follows the readers'.
        let statuses: Vec<ConnectionStatus> = readers.values().filter_map(|r| r.status).collect();
        let with = overall_status(&statuses, true);
        let without = overall_status(&statuses, false);
        if overall != with && overall != without {
            violation(
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
    if !live_checked && let Some(at) = live_at {
        check_live(&spec.live, &readers, at, &mut violation);
    }

    // The end.
    let end = "end of run";
    for (serial, status) in final_status {
        let streamed = readers
            .get(serial.as_str())
            .and_then(|r| r.status)
            .unwrap_or(ConnectionStatus::NotConnected);
        if streamed != *status {
            violation(
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
            violation(
                Invariant::LeftOver,
                Some(serial.as_str()),
                end,
                run_ms,
                format!("still {} after it was disconnected", status_name(*status)),
            );
        }
    }
    if final_connection_status != overall {
        violation(
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
        violation(
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
        violation(
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
                violation(
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
            violation(
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
            violation(
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
    out
}

/// The connection ended (`Disconnected`, or `ReconnectStarted`): so did
/// the transaction on it; a reboot must not have been why.
fn check_reboot(
    state: &mut ReaderState,
    event: &RecordedEvent,
    t: u64,
    violation: &mut impl FnMut(Invariant, Option<&str>, &str, u64, String),
) {
    let reason = str_field(event, "reason").unwrap_or_default();
    if let Some(step) = state.transaction.take()
        && matches!(reason, "reboot_requested" | "security_reboot")
    {
        violation(
            Invariant::RebootInTransaction,
            serial_of(event),
            &event.kind,
            t,
            format!("the connection ended for a reboot ({reason}) while the transaction of step {step} ran"),
        );
    }
}

fn check_live(
    live: &[SerialNumber],
    readers: &HashMap<String, ReaderState>,
    at: u64,
    violation: &mut impl FnMut(Invariant, Option<&str>, &str, u64, String),
) {
    for serial in live {
        let status = readers
            .get(serial.as_str())
            .and_then(|r| r.status)
            .unwrap_or(ConnectionStatus::NotConnected);
        if status != ConnectionStatus::Connected {
            violation(
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
