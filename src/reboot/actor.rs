//! The reboot timer's shell side: it hands every output to its owner, in
//! order. The timer's deadline is the runtime shell's (`ctx.run_later`),
//! so the shell decides nothing.

use std::rc::Rc;

use actix::prelude::*;

use super::machine::RebootTimer;
use super::messages::{RebootOutput, RebootPolicy};
use crate::reader::SerialNumber;
use crate::runtime::shell::{Clock, EffectContext, Effects, MachineActor, RestartPolicy};
use crate::runtime::trace::Tracer;

/// A reboot timer actor: the [`RebootTimer`] machine run by its shell.
pub type RebootTimerActor = MachineActor<RebootTimer, RebootTimerEffects>;

/// Where a reboot timer's outputs go: called on the actor, in order.
pub type RebootOutputFn = Rc<dyn Fn(RebootOutput)>;

/// Carries out a reboot timer's outputs: hands them to its owner.
pub struct RebootTimerEffects {
    serial: SerialNumber,
    output: RebootOutputFn,
}

impl RebootTimerEffects {
    /// Effects for the reader `serial`, handing outputs to `output`.
    pub fn new(serial: SerialNumber, output: RebootOutputFn) -> Self {
        Self { serial, output }
    }
}

impl Effects<RebootTimer> for RebootTimerEffects {
    fn perform(&mut self, output: RebootOutput, _ctx: &mut EffectContext<'_, RebootTimer, Self>) {
        (self.output)(output);
    }

    /// A fresh timer starts `disarmed` and re-arms at the reader's next
    /// connect; until then the reader's own 24-hour reboot still happens.
    fn machine_restarted(&mut self, panic: &str, _ctx: &mut EffectContext<'_, RebootTimer, Self>) {
        tracing::error!(reader = %self.serial, "the reboot timer restarted: {panic}");
    }

    fn machine_gave_up(&mut self, panic: &str, _ctx: &mut EffectContext<'_, RebootTimer, Self>) {
        tracing::error!(reader = %self.serial, "the reboot timer failed for good: {panic}");
    }
}

/// Starts a reboot timer for `serial` on the current arbiter, restarted
/// after a panic once in five seconds. Its id in the trace is
/// `reboot_timer:<serial>`.
pub fn start_reboot_timer(
    serial: SerialNumber,
    policy: RebootPolicy,
    output: RebootOutputFn,
    tracer: Tracer,
    clock: Clock,
) -> Addr<RebootTimerActor> {
    let id = format!("reboot_timer:{serial}");
    let effects = RebootTimerEffects::new(serial, output);
    MachineActor::new(id, RebootTimer::new(policy), effects, tracer, clock)
        .restart_with(RestartPolicy::erlang_default(move || RebootTimer::new(policy)))
        .start()
}
