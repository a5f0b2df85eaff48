//! The updater's shell side: it hands every output to its owner, in order.
//! Its timers are the runtime shell's (`ctx.run_later`), so the shell
//! decides nothing.

use std::rc::Rc;

use actix::prelude::*;

use super::machine::Updater;
use super::messages::{UpdaterOutput, UpdaterPolicy};
use crate::reader::SerialNumber;
use crate::runtime::shell::{Clock, EffectContext, Effects, MachineActor, RestartPolicy};
use crate::runtime::trace::Tracer;

/// An updater actor: the [`Updater`] machine run by its shell.
pub type UpdaterActor = MachineActor<Updater, UpdaterEffects>;

/// Where an updater's outputs go: called on the actor, in order.
pub type UpdaterOutputFn = Rc<dyn Fn(UpdaterOutput)>;

/// Carries out an updater's outputs: hands them to its owner.
pub struct UpdaterEffects {
    serial: SerialNumber,
    output: UpdaterOutputFn,
}

impl UpdaterEffects {
    /// Effects for the reader `serial`, handing outputs to `output`.
    pub fn new(serial: SerialNumber, output: UpdaterOutputFn) -> Self {
        Self { serial, output }
    }
}

impl Effects<Updater> for UpdaterEffects {
    fn perform(&mut self, output: UpdaterOutput, _ctx: &mut EffectContext<'_, Updater, Self>) {
        (self.output)(output);
    }

    /// A fresh updater starts `not_connected`; the reader's next connect
    /// checks the catalog again.
    fn machine_restarted(&mut self, panic: &str, _ctx: &mut EffectContext<'_, Updater, Self>) {
        tracing::error!(reader = %self.serial, "the updater restarted: {panic}");
    }

    fn machine_gave_up(&mut self, panic: &str, _ctx: &mut EffectContext<'_, Updater, Self>) {
        tracing::error!(reader = %self.serial, "the updater failed for good: {panic}");
    }
}

/// Starts an updater for `serial` on the current arbiter, restarted after
/// a panic once in five seconds. Its id in the trace is
/// `updater:<serial>`.
pub fn start_updater(
    serial: SerialNumber,
    policy: UpdaterPolicy,
    output: UpdaterOutputFn,
    tracer: Tracer,
    clock: Clock,
) -> Addr<UpdaterActor> {
    let id = format!("updater:{serial}");
    let effects = UpdaterEffects::new(serial, output);
    MachineActor::new(id, Updater::new(policy), effects, tracer, clock)
        .restart_with(RestartPolicy::erlang_default(move || Updater::new(policy)))
        .start()
}
