//! A small example machine that knows nothing of readers: a coin-operated
//! turnstile with an auto-lock timer. It shows how a machine is written
//! (statig handlers, the declared table beside them, the `StatigCore` impl) and
//! serves the runtime's own tests and benchmarks.
//!
//! ```
//! use readerlink::runtime::{Harness, example::{Turnstile, TurnstileInput}};
//!
//! let mut harness = Harness::new(Turnstile::new());
//! harness.input(TurnstileInput::CoinInserted);
//! assert_eq!(harness.state(), "waiting_for_push");
//! harness.advance(std::time::Duration::from_secs(10)); // nobody pushed: auto-lock
//! assert_eq!(harness.state(), "locked");
//! ```
//!
//! Run by the shell, the turnstile's `Rotate` output is carried out by
//! [`TurnstileEffects`], which reports `RotationCompleted` after the arm's
//! turning time.

mod actor;
mod machine;

pub use actor::TurnstileEffects;
pub use machine::{AUTO_LOCK_AFTER, SPEC, Turnstile, TurnstileInput, TurnstileOutput, TurnstileTimer};
