//! The turnstile's shell side: how its outputs are carried out.

use std::time::Duration;

use super::machine::{Turnstile, TurnstileInput, TurnstileOutput};
use crate::runtime::shell::{EffectContext, Effects};

/// Carries out a turnstile's outputs: the arm takes `rotation` to turn;
/// every other output is counted (there is no real lock to drive).
#[derive(Debug, Clone)]
pub struct TurnstileEffects {
    /// How long the arm takes to turn.
    pub rotation: Duration,
    /// Outputs carried out so far.
    pub performed: u64,
}

impl TurnstileEffects {
    /// An arm that turns in `rotation`.
    pub fn new(rotation: Duration) -> Self {
        Self {
            rotation,
            performed: 0,
        }
    }
}

impl Effects<Turnstile> for TurnstileEffects {
    fn perform(&mut self, output: TurnstileOutput, ctx: &mut EffectContext<'_, Turnstile, Self>) {
        self.performed += 1;
        if output == TurnstileOutput::Rotate {
            let rotation = self.rotation;
            ctx.spawn_then("effect", async move {
                tokio::time::sleep(rotation).await;
                Some(TurnstileInput::RotationCompleted)
            });
        }
    }
}
