//! [`Cancelable`]: the handle the app gets for work that runs on its own —
//! a discovery (R5), a reconnection (R9), an update install (R16).

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// What cancelling did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CancelOutcome {
    /// The work was running and is now stopped; its own ending (a typed
    /// "cancelled" error or event) follows.
    Cancelled,
    /// The work had already ended (finished, failed, superseded, or was
    /// cancelled before): cancelling again is harmless and changes nothing.
    AlreadyEnded,
}

/// Numbers one `cancel()` call, so that the machine's answer to it finds
/// its caller.
pub type CancelCall = u64;

type CancelFn = dyn Fn() -> BoxFuture<'static, CancelOutcome> + Send + Sync;

/// Stops one piece of running work. Cheap to clone; every clone cancels the
/// same work.
///
/// ```
/// # use readerlink::cancelable::{Cancelable, CancelOutcome};
/// # futures::executor::block_on(async {
/// let cancelable = Cancelable::new(|| Box::pin(async { CancelOutcome::AlreadyEnded }));
/// assert_eq!(cancelable.cancel().await, CancelOutcome::AlreadyEnded);
/// # });
/// ```
#[derive(Clone)]
pub struct Cancelable {
    cancel: Arc<CancelFn>,
}

impl Cancelable {
    /// A cancelable whose `cancel` asks `cancel` (typically: sends a cancel
    /// message to the actor doing the work and awaits its answer).
    pub fn new(cancel: impl Fn() -> BoxFuture<'static, CancelOutcome> + Send + Sync + 'static) -> Self {
        Self {
            cancel: Arc::new(cancel),
        }
    }

    /// Stops the work, if it still runs, and says which it was.
    pub async fn cancel(&self) -> CancelOutcome {
        (self.cancel)().await
    }
}

impl Default for Cancelable {
    /// A cancelable bound to no work: cancelling it answers `AlreadyEnded`.
    /// It is what a deserialized (replayed, recorded) event carries, since
    /// a handle on live work cannot be serialized.
    fn default() -> Self {
        Self::new(|| Box::pin(async { CancelOutcome::AlreadyEnded }))
    }
}

/// Cancelables are handles, not data: any two compare equal, so events
/// that carry one compare by their data alone.
impl PartialEq for Cancelable {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl fmt::Debug for Cancelable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cancelable")
    }
}
