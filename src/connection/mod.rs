//! The connection actor, one per reader: links to the reader over the
//! transport, says hello, fetches a connection token and registers the
//! reader to its location with the backend (R6); then relays the reader's
//! reports (R18a), carries out commands one at a time — the app's reboot,
//! the 24-hour security reboot (R12), the start and end of a transaction
//! (R20) — and, when the connection ends, reports exactly one
//! [`crate::reader::DisconnectReason`] (R8). `Connected` carries the
//! reader's uptime, which the 24-hour reboot timer counts from. An
//! update's image goes out under flow control: the updater asks for a
//! range of bytes with a credit of chunks, and the connection keeps that
//! many unacknowledged (at most [`MAX_CHUNKS_IN_FLIGHT`]), sending more
//! as the reader's `UpdateChunkAck`s come, each chunk cut to fill whole
//! ATT payloads; its link writer's queue is bounded
//! ([`LINK_QUEUE_FRAMES`]).
//!
//! | file | what |
//! |---|---|
//! | `messages.rs` | inputs, outputs, timers, the events it reports, [`ConnectError`], [`CommandError`] |
//! | `machine.rs` | the pure statig machine [`Connection`] and its table [`SPEC`] |
//! | `actor.rs` | the shell: [`ConnectionEffects`] over the transport and the backend |
//!
//! ```
//! use readerlink::connection::{Connection, ConnectionInput};
//! use readerlink::reader::{DeviceType, Reader};
//! use readerlink::runtime::Harness;
//!
//! let mut harness = Harness::new(Connection::new());
//! let reader = Reader {
//!     serial_number: "STRM26001".into(),
//!     device_type: DeviceType::StripeM2,
//!     software_version: None,
//!     battery: None,
//!     rssi: None,
//!     peripheral: "sim-1".into(),
//!     available_update: None,
//! };
//! harness.input(ConnectionInput::ConnectRequested { reader, location: "tml_000001".into() });
//! assert_eq!(harness.state(), "checking_location");
//! ```

mod actor;
mod machine;
mod messages;

pub use actor::{ConnectionActor, ConnectionEffects, ImageSlot, LINK_QUEUE_FRAMES, ReportFn};
pub(crate) use actor::{ConnectionParts, start_connection};
pub use machine::{
    BACKEND_ATTEMPTS, BACKEND_RETRY_BASE, COMMAND_TIMEOUT, Connection, DISCONNECT_TIMEOUT, HANDSHAKE_TIMEOUT,
    LINK_TIMEOUT, MAX_CHUNKS_IN_FLIGHT, SPEC, disconnect_reason,
};
pub use messages::{
    BackendCall, CommandError, ConnectError, ConnectionEvent, ConnectionInput, ConnectionOutput,
    ConnectionTimer, Session,
};
