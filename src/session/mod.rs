//! The reader session: one actor per reader the app connected, owning that
//! reader's life and supervising its children — the connection actor and
//! the reconnect supervisor. It is the one place where their reports are
//! put together: an unexpected disconnect (a reboot's included, R12) is
//! handed to the supervisor (R9), an attempt's connect is the
//! supervisor's, the app's disconnect stops a reconnection.
//!
//! | file | what |
//! |---|---|
//! | `messages.rs` | [`SessionInput`], [`SessionOutput`], [`SessionReport`] for the hub |
//! | `machine.rs` | the pure machine [`Session`] and its table [`SPEC`] |
//! | `actor.rs` | the shell: starts the children, routes their reports in and the machine's outputs out |
//!
//! The session tells the hub, after every input that changed something,
//! one [`SessionReport`]: the reader's status, what to publish and which
//! calls to answer before the overall status change, and what after it.
//!
//! A session lives from the connect that needs it until it is idle again:
//! back in `not_connected`, its children stopped (`ReleaseChildren`) and
//! gone (`ChildrenReleased`, fed back by the shell once each child has
//! handled its stop, so nothing a child sent is still on its way). It then
//! tells the hub (`ToHubIdle`) how many of the hub's inputs it has
//! handled; the hub stops it if it routed no more than that, and answers
//! the reader's calls itself until the next connect starts a fresh session.

mod actor;
mod machine;
mod messages;

pub use actor::{SessionActor, SessionEffects, SessionReportFn};
pub(crate) use actor::{SessionParts, Supervisors, start_session};
pub use machine::{SPEC, Session};
pub use messages::{HubItem, HubNote, SessionInput, SessionOutput, SessionReport, SessionTimer};
