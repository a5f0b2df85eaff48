//! The reconnect supervisor, one per connected reader (R8–R10): when the
//! reader's connection ends unexpectedly and its auto-reconnect is on, it
//! reconnects it — the whole connect, registration included, to the same
//! location — with exponential backoff and seeded jitter within a window
//! (60 s by default), and reports how it went to the terminal hub, which
//! turns that into `ReconnectStarted`, then `ReconnectSucceeded` or
//! `ReconnectFailed` followed by `Disconnected`.
//!
//! | file | what |
//! |---|---|
//! | `messages.rs` | inputs, outputs, timers, [`ReconnectEvent`], [`ReconnectError`], [`ReconnectPolicy`] |
//! | `machine.rs` | the pure statig machine [`Reconnect`] and its table [`SPEC`] |
//! | `actor.rs` | the shell: reports to the hub, answers cancels |
//!
//! ```
//! use readerlink::reader::DisconnectReason;
//! use readerlink::reconnect::{Reconnect, ReconnectInput, ReconnectPolicy};
//! use readerlink::runtime::Harness;
//!
//! let mut harness = Harness::new(Reconnect::new(7, ReconnectPolicy::default()));
//! harness.input(ReconnectInput::ReaderConnected);
//! harness.input(ReconnectInput::ConnectionLost {
//!     reason: DisconnectReason::BluetoothSignalLost,
//!     auto_reconnect: true,
//! });
//! assert_eq!(harness.state(), "attempting");
//! ```

mod actor;
mod machine;
mod messages;

pub use actor::{ReconnectActor, ReconnectEffects, ReconnectReportFn, SupervisorHandle};
pub(crate) use actor::{SupervisorParts, start_supervisor};
pub use machine::{Reconnect, SPEC, supervisor_seed};
pub use messages::{
    CancelCall, DEFAULT_RECONNECT_WINDOW, ReconnectError, ReconnectEvent, ReconnectInput, ReconnectOutput,
    ReconnectPolicy, ReconnectTimer,
};
