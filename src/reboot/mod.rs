//! The 24-hour reboot timer, one per connected reader (R12, R20).
//!
//! An M2 or a WisePad 3 reboots itself after 24 hours of operation; the
//! Chipper 2X never does. A reboot in the middle of a payment would lose
//! it, so the host reboots the reader first, a configurable lead before the
//! reader's own deadline (10 minutes by default), at a moment when no
//! transaction runs. The timer counts the reader's operating time from the
//! uptime the reader reports at connect, not from the connect: a reader
//! connected in its 23rd hour is rebooted within the hour, and one
//! connected at 23 h 50 min or later at once. The app's own reboot
//! (`reboot_reader()`) disconnects the reader; it reconnects with an uptime
//! near zero and the timer re-arms from it, so the app's reboot restarts
//! the window. The simulated reader keeps its own 24-hour reboot, so a
//! reader whose host forgot it still reboots.
//!
//! | file | what |
//! |---|---|
//! | `messages.rs` | [`RebootInput`], [`RebootOutput`], [`RebootAlarm`], [`RebootPolicy`] |
//! | `machine.rs` | the pure statig machine [`RebootTimer`] and its table [`SPEC`] |
//! | `actor.rs` | the shell: hands every output to its owner ([`start_reboot_timer`]) |
//!
//! # States
//!
//! | state | waits for | rule |
//! |---|---|---|
//! | `disarmed` | `ReaderConnected` of an M2 or a WisePad 3, which arms it (`RebootScheduled { at }`, `at` = now + 24 h − lead − uptime, at once if past); a Chipper 2X leaves it here | R12 |
//! | `armed` ⊃ | `ReaderDisconnected` (→ `disarmed`: the next connect re-arms from the new uptime, so the app's reboot restarts the window); `ReaderConnected` re-arms | R12 |
//! | `armed.counting.idle` | `RebootDue` (→ `rebooting`, output `RebootReader`), or `TransactionStarted` | R12 |
//! | `armed.counting.in_transaction` | `TransactionEnded` (→ `idle`), or `RebootDue` (→ `due_waiting_for_idle`) | R20 |
//! | `armed.due_waiting_for_idle` | `TransactionEnded`: the reboot that fell due during the transaction happens now (→ `rebooting`) | R20 |
//! | `rebooting` | `ReaderDisconnected` (→ `disarmed`); `RebootFailed` (→ `idle`, retried after `retry_after`); `TransactionStarted` (→ `due_waiting_for_idle`) | R12, R20 |
//!
//! `RebootReader` is output only from `idle` and `due_waiting_for_idle`,
//! states in which no transaction runs: the timer never asks for a reboot
//! during a transaction (tested over random sequences of transactions,
//! reboots, link losses and time).
//!
//! # Wiring (the owner's part)
//!
//! | owner sees | feeds the timer |
//! |---|---|
//! | `ConnectionEvent::Connected { reader, uptime_ms, .. }` | `ReaderConnected { device_type: reader.device_type, uptime_ms }` |
//! | `ConnectionEvent::Disconnected { .. }` (or a failed reconnect) | `ReaderDisconnected` |
//! | it asks the connection for a transaction (`TransactionStartRequested`) | `TransactionStarted` |
//! | `TransactionEnded`, `TransactionStartFailed` | `TransactionEnded` |
//! | `RebootFailed` after its `SecurityRebootRequested` | `RebootFailed` |
//!
//! | the timer outputs | the owner does |
//! |---|---|
//! | `RebootScheduled { at }` | reports `RebootScheduled { serial_number, at }` |
//! | `RebootReader` | sends the connection `SecurityRebootRequested`; the disconnect is reported as `SecurityReboot` |
//!
//! ```
//! use std::time::Duration;
//! use readerlink::reader::DeviceType;
//! use readerlink::reboot::{RebootInput, RebootOutput, RebootTimer};
//! use readerlink::runtime::Harness;
//!
//! let mut harness = Harness::new(RebootTimer::default());
//! let hour = 3_600_000;
//! harness.input(RebootInput::ReaderConnected { device_type: DeviceType::WisePad3, uptime_ms: 23 * hour });
//! assert_eq!(harness.state(), "idle");
//! // Due at 24 h - 10 min - 23 h = 50 min after the connect.
//! let outputs = harness.advance(Duration::from_secs(50 * 60));
//! assert_eq!(outputs, [RebootOutput::RebootReader]);
//! assert_eq!(harness.state(), "rebooting");
//! ```

mod actor;
mod machine;
mod messages;

pub use actor::{RebootOutputFn, RebootTimerActor, RebootTimerEffects, start_reboot_timer};
pub use machine::{RebootTimer, SPEC};
pub use messages::{
    DEFAULT_REBOOT_LEAD, DEFAULT_REBOOT_RETRY, READER_REBOOTS_AFTER, RebootAlarm, RebootInput, RebootOutput,
    RebootPolicy,
};
