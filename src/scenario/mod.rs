//! Scenario scripts: drive the simulated world from a file of timed actions
//! and expectations, with no Rust to write. A scenario names a fleet, a
//! timeline of steps (app, world and backend actions), and the events it
//! expects; `readerlink simulate --scenario FILE` runs it on virtual time
//! (deterministic from its seed), prints the event stream, writes the
//! trace, and exits 0 only when every expectation holds.
//!
//! | file | what |
//! |---|---|
//! | `format.rs` | what a parsed scenario is: [`Scenario`], [`Step`], [`Action`], [`Expectations`] |
//! | `parse.rs` | TOML → [`Scenario`]: [`load`], [`parse`]; every error a [`ScenarioError`] naming line and field |
//! | `error.rs` | [`ScenarioError`] |
//! | `events.rs` | [`RecordedEvent`]: an event as kind + JSON fields + virtual time; which kinds exist |
//! | `expect.rs` | the expectation checker, fed each event as it comes: [`check`], [`Failure`]; [`check_field`]: could a pattern's field ever match |
//! | `context.rs` | the events a failure shows, without keeping the run: a ring of the last few, captures filling with the ones after |
//! | `shape.rs` | [`Shape::of`]: a type's fields and enum values, read from its derived `Deserialize` |
//! | `invariants.rs` | the invariants every run keeps (R9's order, one end per connect, ...), checked as the events come: [`invariants::check`], [`Violation`] |
//! | `write.rs` | [`Scenario`] → TOML: [`to_toml`], which [`parse`] reads back as the same scenario |
//! | `runner.rs` | [`run_blocking`] / [`run`] (events kept), [`run_blocking_with`] / [`run_with`] (kept or streamed, [`EventsTo`]): world, backend, store and the [`App`] adapter ([`TerminalApp`]) on the scenario's clock |
//!
//! # Format
//!
//! ```toml
//! name = "connect and disconnect"  # for reports (default: the file name)
//! description = "Scan, connect the M2, disconnect it."  # for people; not used by the run
//! seed = 7                         # seeds the world, the backend, its faults and the terminal (default 0);
//!                                  # any u64: above 9223372036854775807 (TOML's largest integer) write it as a string
//! clock = "virtual"                # "virtual" (default) or "real"
//! run_for = "40s"                  # how long the run lasts (default: 30 s past the latest time the file names)
//!
//! # The fleet: inline readers as in a fleet file (see `transport::sim::fleet`),
//! # or `fleet = "../fleets/example.toml"` (relative to this file); neither = the example fleet.
//! [[readers]]
//! serial = "STRM2-0001"
//! device_type = "stripe_m2"
//! distance_m = 1.2
//! battery = 0.93
//! software_version = "3.1.0"
//!
//! [[locations]]                    # created at the backend before the run
//! name = "shop"                    # what `connect` steps say; its backend id is made then
//! display_name = "The shop"        # optional
//!
//! # [store]                        # what an earlier run saved (R11)
//! # last_connected = "STRM2-0001"
//! # location = "shop"
//!
//! [[steps]]
//! at = "0s"                        # a virtual time since the start ("2.5s", "1m 30s", "24h")
//! action = "discover"
//! method = "scan"                  # or "proximity"
//! timeout = "10s"                  # optional (R3)
//!
//! [[steps]]
//! after = { event = "DiscoveredReadersUpdated", serial_number = "STRM2-0001" }
//! action = "connect"               # or after = "Connected" (the kind alone)
//! serial = "STRM2-0001"
//! location = "shop"                # default: the first location
//! auto_reconnect = true            # default true
//!
//! [[steps]]
//! after = "Connected"
//! delay = "5s"                     # optional: this long after the event
//! action = "disconnect"
//! serial = "STRM2-0001"
//!
//! [expect]
//! sequence = [                     # in this order, others may come between
//!   { event = "Connected", serial_number = "STRM2-0001", by = "10s" },
//!   { event = "Disconnected", reason = "disconnect_requested" },
//! ]
//! events = [ { event = "DiscoveryFinished", ok = true } ]   # anywhere, optionally `by`
//! absent = [ { event = "ActionFailed" }, { event = "Disconnected", reason = "bluetooth_signal_lost", from = "0s", until = "40s" } ]
//! final_connection_status = "not_connected"
//!
//! [expect.final_status]
//! STRM2-0001 = "not_connected"
//! ```
//!
//! An optional `[invariants]` table has the run checked against the
//! runtime's invariants too ([`invariants`]: R9's order, one end per
//! connect, the overall status, no lost event, no reboot in a transaction),
//! each broken one failing the run like an expectation; its keys add the
//! time-bound ones:
//!
//! ```toml
//! [invariants]
//! live_at = "6m"                   # liveness: these readers are connected then
//! live = ["STRM2-0001"]
//! quiet_from = "7m"                # from then: all not connected, no terminal event
//! ```
//!
//! `readerlink explore` writes its shrunk cases with this table.
//!
//! Steps run in file order: each waits for the one before it, then for its
//! trigger — `at` (an absolute virtual time; it may not go backwards) or
//! `after` (an event after the previous step ran, then `delay`). A step
//! whose event never comes fails the run, and the steps after it do not
//! run. App actions run in the background, like an app's calls: the next
//! step does not wait for a connect to finish; a failed one reports
//! `ActionFailed` with the error's code.
//!
//! # Memory
//!
//! The runner checks each event as it comes: the steps' `after` triggers
//! (armed when the step before runs), the expectations and the invariants
//! keep state per expectation, step, reader and invariant, not per event,
//! and the events a failure shows ("events around it") are captured as
//! they pass — a ring of the last few, then the few after the point. So a
//! run need not keep its events: with [`EventsTo::Stream`] (what
//! `readerlink simulate --scenario` uses) each is handed on when it comes
//! and the run's memory does not grow with virtual time; with
//! [`EventsTo::Keep`] ([`run`], [`run_blocking`], `readerlink explore`)
//! every event is also kept in [`Outcome::events`]. The verdict, the
//! failures and the events around each are the same either way.
//!
//! `expect.sequence` is matched greedily in order, and an item that never
//! matches leaves the next one looking from the same place; as the stream
//! cannot know yet whether an item will come, the checker follows each
//! reading (at most one per item) at once and keeps the one the run made
//! true, so its state is bounded by the number of items. What does grow is
//! what a run reports: the violations of the invariants (every one is
//! listed), not the events.
//!
//! # Actions
//!
//! | action | keys | does |
//! |---|---|---|
//! | `discover` | `method` (`scan`, `proximity`), `timeout` | start a discovery (R1–R3) |
//! | `cancel_discovery` | | cancel it (R5) |
//! | `connect` | `serial`, `location`, `auto_reconnect` | connect and register (R6) |
//! | `disconnect` | `serial` | disconnect (R8) |
//! | `reboot` | `serial` | reboot now (R12) |
//! | `cancel_reconnect` | `serial` | cancel a reconnection (R9); fails `no_reconnect_running` when none runs |
//! | `reconnect_at_start` | `timeout` | reconnect the saved reader (R11) |
//! | `install_update` | `serial` | install the available update (R17): `UpdateInstallStarted`, `UpdateInstallProgress`, `UpdateInstallFinished` follow (with an error when a transaction runs or the battery is at or below 50 %; with no update and no error when none is available) |
//! | `cancel_update` | `serial` | cancel the running install with its cancelable (R16); fails `no_install_running` when none can be cancelled |
//! | `start_transaction`, `end_transaction` | `serial` | a transaction (R20): while it runs no reboot starts; `end_transaction` without one fails with `no_transaction_running` |
//! | `move_reader` | `serial`, `distance_m` | RSSI follows; beyond about 63 m the link is lost |
//! | `power_off` / `cut_power` / `power_on` | `serial` | power button / power lost / boots |
//! | `lose_link` | `serial`, `for` | signal lost, unreachable for `for` (or until `restore_link`) |
//! | `restore_link` | `serial` | reachable again |
//! | `set_battery` | `serial`, `level` (0–1) | battery level |
//! | `set_charging` | `serial`, `charging` | charger on or off |
//! | `insert_card`, `remove_card` | `serial` | a card |
//! | `fail_next_install` | `serial`, `percent` | the next install fails there |
//! | `corrupt_frame` | `serial`, `payload` (hex, one ATT payload) | the reader's link carries garbage or a mangled frame (a fault; dropped by the connection as undecodable) |
//! | `set_adapter` | `powered` | the host's Bluetooth adapter |
//! | `backend_down` | `for` | every backend call fails (503), for `for` or until `backend_restore` |
//! | `backend_restore` | | the backend answers again |
//! | `backend_latency` | `route`, `latency` | calls take longer (every route when `route` is absent) |
//! | `backend_fail` | `route`, `count` | the next `count` (default 1) calls to `route` fail |
//! | `set_update` | `serial`, `preset` | the update catalog answers the reader from a simulated preset from now on (`none`, `available`, `required`, `low_battery`, `low_battery_succeed_connect`, `random`); a fleet's `update = "…"` sets it from the start |
//!
//! An action this build cannot carry out is rejected with
//! [`ScenarioError::Unsupported`] before anything runs; so is an
//! expectation naming an event whose feature is not built yet
//! ([`events::PLANNED_EVENTS`]).
//!
//! # Events
//!
//! Every event is a kind and typed fields ([`RecordedEvent`]): the
//! terminal's events ([`crate::terminal::TerminalEvent`], named as its
//! variants: `Connected`, `Disconnected`, `DiscoveredReadersUpdated`, ...)
//! and the runner's `StepRan`, `ActionFailed` and `DiscoveryFinished`
//! ([`events::RUNNER_EVENTS`]). With `--json` each is one line:
//! `{"t_ms":2561,"event":"Disconnected","reason":"disconnect_requested","serial_number":"STRM2-0001"}`.
//!
//! # Matching events
//!
//! A pattern is a kind plus fields. A dotted path (`reader.serial_number`)
//! is followed exactly, fanning out over lists; a plain name that is not a
//! top-level field is also looked for one level down, so `serial_number`
//! finds `reader.serial_number` and any `readers[*].serial_number`. A list
//! matches when any element does; numbers match within 1e-6. Values are
//! written as they appear in the JSON (`reason = "bluetooth_signal_lost"`,
//! `status = "connected"`); an enum value in its Rust spelling
//! (`status = "Connected"`, as older files say) is read as its JSON one.
//! An error field (`{"code", "message", ...}`, see [`crate::error_data`])
//! matches its code: `error = "connect_timed_out"`; `error.window_ms`
//! reaches its fields. TOML reads `reader.serial_number = "X"` in a
//! pattern as a table; it is taken as the dotted path.
//!
//! A pattern that could never match is rejected when the file is parsed,
//! naming its line and field: a field its kind does not have
//! (`unknown_event_field`, listing the kind's fields) or a value the field
//! never takes — another type, or for an enum a value not among its values
//! (`reason = "bluetooth_signal_lsot"`). The fields of each kind are read
//! from the event types themselves ([`events::event_shapes`]).
//!
//! # Errors
//!
//! A bad scenario gets a [`ScenarioError`] naming the line and the field
//! (`steps[2].at`): unknown field, action, event, event field or serial,
//! time going backwards, a malformed duration, a bad fleet. A file with no
//! steps and no expectations is an error too (`empty_scenario`): it could
//! only pass vacuously. Parsing never panics.
//!
//! Text a scenario keeps or prints — its name, locations, serial numbers,
//! the fleet's versions — is at most 256 bytes (a serial 32) with no control
//! or bidirectional-formatting characters, or the file is refused naming
//! the field; a file over [`MAX_SCENARIO_BYTES`] is refused unread
//! ([`ScenarioError::TooLarge`]). An event pattern's values are only
//! compared, so they may hold anything; reports and event lines print such
//! text with those characters escaped (`\u{1b}`), one line per part.

mod context;
mod error;
pub mod events;
mod expect;
mod format;
pub mod invariants;
mod parse;
mod runner;
mod shape;
mod write;

pub use error::ScenarioError;
pub use events::{EventKind, RecordedEvent, event_kind};
pub use expect::{CONTEXT_EVENTS, Failure, FieldProblem, check, check_field, describe, matches};
pub use format::{
    Absent, Action, AppAction, BackendAction, ClockMode, EventPattern, Expectations, Expected, FinalStatus,
    InvariantSpec, LocationSpec, SavedReader, Scenario, Step, Trigger, WorldAction,
};
pub use invariants::{Invariant, Violation};
pub use parse::{ACTIONS, DEFAULT_RUN_PAST, MAX_DURATION, MAX_SCENARIO_BYTES, MAX_TEXT_BYTES, load, parse};
pub use runner::{
    App, AppError, AppParts, EventSink, EventsTo, Outcome, TerminalApp, TraceTo, check_supported, run,
    run_blocking, run_blocking_with, run_with,
};
pub use shape::{Shape, ShapeError};
pub use write::to_toml;
