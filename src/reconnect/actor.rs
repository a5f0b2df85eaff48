//! The supervisor's shell side: it relays reports to the reader's session
//! and answers the app's cancels.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use tokio::sync::oneshot;

use super::machine::{Reconnect, supervisor_seed};
use super::messages::{CancelCall, ReconnectEvent, ReconnectInput, ReconnectOutput, ReconnectPolicy};
use crate::cancelable::{CancelOutcome, Cancelable};
use crate::reader::SerialNumber;
use crate::runtime::shell::{Clock, Deliver, EffectContext, Effects, MachineActor, RestartIntensity};
use crate::runtime::trace::Tracer;

/// A supervisor actor: the [`Reconnect`] machine run by its shell.
pub type ReconnectActor = MachineActor<Reconnect, ReconnectEffects>;

/// Where a supervisor's reports go: called on the actor, in order.
pub type ReconnectReportFn = Rc<dyn Fn(ReconnectEvent)>;

/// The cancels waiting for their answers.
type Pending = Arc<Mutex<HashMap<CancelCall, oneshot::Sender<CancelOutcome>>>>;

/// Carries out a supervisor's outputs.
pub struct ReconnectEffects {
    serial: SerialNumber,
    report: ReconnectReportFn,
    pending: Pending,
}

impl Drop for ReconnectEffects {
    /// A stopped supervisor answers the cancels still waiting: nothing
    /// runs any more.
    fn drop(&mut self) {
        lock(&self.pending).clear();
    }
}

impl ReconnectEffects {
    /// Effects for the reader `serial`, reporting through `report`.
    pub fn new(serial: SerialNumber, report: ReconnectReportFn) -> Self {
        Self {
            serial,
            report,
            pending: Arc::default(),
        }
    }
}

impl Effects<Reconnect> for ReconnectEffects {
    fn perform(&mut self, output: ReconnectOutput, _ctx: &mut EffectContext<'_, Reconnect, Self>) {
        match output {
            ReconnectOutput::Report(event) => (self.report)(event),
            ReconnectOutput::CancelAnswered { call, outcome } => {
                if let Some(reply) = lock(&self.pending).remove(&call) {
                    let _ = reply.send(outcome);
                }
            }
        }
    }

    fn machine_restarted(&mut self, panic: &str, _ctx: &mut EffectContext<'_, Reconnect, Self>) {
        tracing::error!(reader = %self.serial, "the reconnect supervisor restarted: {panic}");
        // The session knows whether a reconnection ran and how to end it.
        (self.report)(ReconnectEvent::MachineRestarted {
            panic: panic.to_owned(),
        });
        // Cancels the lost machine would have answered.
        for (_, reply) in lock(&self.pending).drain() {
            let _ = reply.send(CancelOutcome::AlreadyEnded);
        }
    }

    fn machine_gave_up(&mut self, panic: &str, ctx: &mut EffectContext<'_, Reconnect, Self>) {
        tracing::error!(reader = %self.serial, "the reconnect supervisor failed for good: {panic}");
        self.machine_restarted(panic, ctx);
    }
}

/// A handle on one reader's supervisor: its address, and the cancelables
/// it hands out.
#[derive(Clone)]
pub struct SupervisorHandle {
    addr: Addr<ReconnectActor>,
    pending: Pending,
    next_call: Arc<AtomicU64>,
}

impl SupervisorHandle {
    /// The supervisor's address.
    pub fn addr(&self) -> &Addr<ReconnectActor> {
        &self.addr
    }

    /// Whether the actor still runs (it stops past its restart intensity).
    pub fn alive(&self) -> bool {
        self.addr.connected()
    }

    /// Delivers `input` from `source`.
    pub fn send(&self, source: &'static str, input: ReconnectInput) {
        self.addr.do_send(Deliver::from(source, input));
    }

    /// Delivers `input` from a source named at run time (`actor:session:<serial>`).
    pub fn send_from(&self, source: String, input: ReconnectInput) {
        self.addr.do_send(Deliver::from(source, input));
    }

    /// A cancelable that stops the reconnection running when it is
    /// called: `Cancelled`, or `AlreadyEnded` when none runs by then.
    pub fn cancelable(&self) -> Cancelable {
        let handle = self.clone();
        Cancelable::new(move || {
            // A supervisor released with its reader's disconnection has
            // nothing to cancel.
            if !handle.alive() {
                return Box::pin(async { CancelOutcome::AlreadyEnded });
            }
            let (tx, rx) = oneshot::channel();
            let call = handle.next_call.fetch_add(1, Ordering::Relaxed);
            lock(&handle.pending).insert(call, tx);
            handle.send("app", ReconnectInput::CancelRequested { call });
            Box::pin(async move { rx.await.unwrap_or(CancelOutcome::AlreadyEnded) })
        })
    }
}

/// What [`start_supervisor`] needs.
pub(crate) struct SupervisorParts {
    /// Which reader.
    pub serial: SerialNumber,
    /// The run's seed (mixed with the serial number for this reader).
    pub run_seed: u64,
    /// How it reconnects.
    pub policy: ReconnectPolicy,
    /// How often its machine may be restarted.
    pub restarts: RestartIntensity,
    /// Where reports go.
    pub report: ReconnectReportFn,
    /// The trace.
    pub tracer: Tracer,
    /// The run's clock.
    pub clock: Clock,
}

/// Starts a supervisor for one reader on the current arbiter. Its id in
/// the trace is `reconnect:<serial>`.
pub(crate) fn start_supervisor(parts: SupervisorParts) -> SupervisorHandle {
    let seed = supervisor_seed(parts.run_seed, &parts.serial);
    let policy = parts.policy;
    tracing::debug!(reader = %parts.serial, seed, "reconnect supervisor started");
    let effects = ReconnectEffects::new(parts.serial.clone(), parts.report);
    let pending = effects.pending.clone();
    let id = format!("reconnect:{}", parts.serial);
    let addr = MachineActor::new(
        id,
        Reconnect::new(seed, policy),
        effects,
        parts.tracer,
        parts.clock,
    )
    .restart_with(parts.restarts.policy(move || Reconnect::new(seed, policy)))
    .start();
    SupervisorHandle {
        addr,
        pending,
        next_call: Arc::new(AtomicU64::new(1)),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    //! Restart intensity, wired: a supervisor whose machine panics during
    //! a reconnection tells its session (`MachineRestarted`, and the session
    //! ends that reconnection), and a fresh machine still reconnects the
    //! next loss; past 1 in 5 s the actor stops. The panic comes from `ReconnectInput::PanicInjected`,
    //! which only unit-test builds have.

    use std::cell::RefCell;
    use std::time::Duration;

    use super::*;
    use crate::reader::DisconnectReason;
    use crate::runtime::shell::{CurrentState, virtual_time_system};

    #[test]
    fn a_panic_mid_reconnection_fails_it_and_a_fresh_machine_reconnects_the_next_loss() {
        virtual_time_system().block_on(async {
            let reports: Rc<RefCell<Vec<ReconnectEvent>>> = Rc::default();
            let log = reports.clone();
            let handle = start_supervisor(SupervisorParts {
                serial: "STRM2-0001".into(),
                run_seed: 1,
                policy: ReconnectPolicy::default(),
                restarts: RestartIntensity::default(),
                report: Rc::new(move |event| log.borrow_mut().push(event)),
                tracer: Tracer::off(),
                clock: Clock::start(),
            });
            let take = || std::mem::take(&mut *reports.borrow_mut());
            let lost = ReconnectInput::ConnectionLost {
                reason: DisconnectReason::BluetoothSignalLost,
                auto_reconnect: true,
            };
            handle.send("test", ReconnectInput::ReaderConnected);
            handle.send("test", lost.clone());
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert_eq!(
                take(),
                [
                    ReconnectEvent::Started {
                        reason: DisconnectReason::BluetoothSignalLost
                    },
                    ReconnectEvent::AttemptDue { attempt: 1 },
                ]
            );

            handle.send("test", ReconnectInput::PanicInjected);
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(matches!(&take()[..], [ReconnectEvent::MachineRestarted { .. }]));
            assert_eq!(handle.addr().send(CurrentState).await.unwrap(), "disabled");
            assert_eq!(handle.cancelable().cancel().await, CancelOutcome::AlreadyEnded);

            // The fresh machine reconnects the next loss.
            handle.send("test", lost);
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(matches!(take()[0], ReconnectEvent::Started { .. }));

            // A second panic within 5 s: the actor stops, still telling.
            handle.send("test", ReconnectInput::PanicInjected);
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(matches!(
                take().last(),
                Some(ReconnectEvent::MachineRestarted { .. })
            ));
            assert!(!handle.alive());
        });
    }
}
