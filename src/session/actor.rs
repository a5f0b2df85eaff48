//! The session's shell side: it starts the reader's children (connection,
//! reconnect supervisor, 24-hour reboot timer) on first use, feeds their reports to the session
//! machine, delivers the machine's inputs to them and its reports to the
//! hub.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use actix::prelude::*;

use super::machine::Session;
use super::messages::{HubItem, HubNote, SessionInput, SessionOutput};
use crate::backend::Backend;
use crate::cancelable::{CancelOutcome, Cancelable};
use crate::connection::{ConnectionActor, ConnectionInput, ConnectionParts, ImageSlot, start_connection};
use crate::firmware::TrustedKeys;
use crate::reader::{Reader, SerialNumber};
use crate::reboot::{RebootPolicy, RebootTimerActor, start_reboot_timer};
use crate::reconnect::{ReconnectPolicy, SupervisorHandle, SupervisorParts, start_supervisor};
use crate::runtime::shell::{Clock, Deliver, EffectContext, Effects, MachineActor, RestartIntensity, Stop};
use crate::runtime::trace::Tracer;
use crate::terminal::TerminalEvent;
use crate::transport::Transport;
use crate::updater::{UpdaterActor, UpdaterParts, UpdaterPolicy, start_updater};

/// A session actor: the [`Session`] machine run by its shell.
pub type SessionActor = MachineActor<Session, SessionEffects>;

/// Where a session's reports go: called on the actor, in order.
pub type SessionReportFn = Rc<dyn Fn(HubNote)>;

/// Each reader's reconnect supervisor, shared with the terminal for
/// `cancel_reconnect`.
pub(crate) type Supervisors = Arc<Mutex<HashMap<SerialNumber, SupervisorHandle>>>;

/// What a session's children need: the boundaries, the run's seed and
/// policies, the trace.
#[derive(Clone)]
pub(crate) struct SessionParts {
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) tracer: Tracer,
    pub(crate) clock: Clock,
    /// The run's seed, which each supervisor's jitter comes from.
    pub(crate) seed: u64,
    /// How supervisors reconnect (R9).
    pub(crate) reconnect: ReconnectPolicy,
    /// How often a reader actor's machine may be restarted.
    pub(crate) restarts: RestartIntensity,
    /// Each reader's supervisor, started with its first connect.
    pub(crate) supervisors: Supervisors,
    /// When the 24-hour reboot timer reboots a reader (R12).
    pub(crate) reboot: RebootPolicy,
    /// How updaters install (R13–R17).
    pub(crate) updates: UpdaterPolicy,
    /// The keys update images must be signed with (R19).
    pub(crate) trusted: Arc<TrustedKeys>,
}

/// Carries out a session's outputs.
pub struct SessionEffects {
    serial: SerialNumber,
    parts: SessionParts,
    report: SessionReportFn,
    connection: Option<Addr<ConnectionActor>>,
    reboot_timer: Option<Addr<RebootTimerActor>>,
    updater: Option<Addr<UpdaterActor>>,
    /// The checked update image, shared by the updater (which puts it) and
    /// the connection (which sends it).
    image: ImageSlot,
}

impl SessionEffects {
    fn connection(&mut self, session: Addr<SessionActor>) -> Addr<ConnectionActor> {
        // A connection actor whose machine failed has stopped (after
        // reporting the reader disconnected): start a fresh one.
        if let Some(actor) = self.connection.as_ref().filter(|a| a.connected()) {
            return actor.clone();
        }
        let source = format!("actor:connection:{}", self.serial);
        let report = Rc::new(move |event| {
            session.do_send(Deliver::from(source.clone(), SessionInput::from(event)));
        });
        let actor = start_connection(ConnectionParts {
            serial: self.serial.clone(),
            transport: self.parts.transport.clone(),
            backend: self.parts.backend.clone(),
            report,
            tracer: self.parts.tracer.clone(),
            clock: self.parts.clock,
            restarts: self.parts.restarts,
            image: self.image.clone(),
        });
        self.connection = Some(actor.clone());
        actor
    }

    /// The reader's supervisor, started on first use and again when it
    /// stopped (past its restart intensity).
    fn supervisor(&mut self, session: Addr<SessionActor>) -> SupervisorHandle {
        let mut supervisors = lock(&self.parts.supervisors);
        if let Some(handle) = supervisors.get(&self.serial).filter(|h| h.alive()) {
            return handle.clone();
        }
        let source = format!("actor:reconnect:{}", self.serial);
        let report = Rc::new(move |event| {
            session.do_send(Deliver::from(source.clone(), SessionInput::from(event)));
        });
        let handle = start_supervisor(SupervisorParts {
            serial: self.serial.clone(),
            run_seed: self.parts.seed,
            policy: self.parts.reconnect,
            restarts: self.parts.restarts,
            report,
            tracer: self.parts.tracer.clone(),
            clock: self.parts.clock,
        });
        supervisors.insert(self.serial.clone(), handle.clone());
        handle
    }
}

impl SessionEffects {
    /// The reader's 24-hour reboot timer, started on first use and again
    /// when it stopped.
    fn reboot_timer(&mut self, session: Addr<SessionActor>) -> Addr<RebootTimerActor> {
        if let Some(timer) = self.reboot_timer.as_ref().filter(|t| t.connected()) {
            return timer.clone();
        }
        let source = format!("actor:reboot_timer:{}", self.serial);
        let output = Rc::new(move |output| {
            session.do_send(Deliver::from(source.clone(), SessionInput::from(output)));
        });
        let timer = start_reboot_timer(
            self.serial.clone(),
            self.parts.reboot,
            output,
            self.parts.tracer.clone(),
            self.parts.clock,
        );
        self.reboot_timer = Some(timer.clone());
        timer
    }
}

impl SessionEffects {
    /// The reader's updater, started on first use and again when it
    /// stopped.
    fn updater(&mut self, session: Addr<SessionActor>) -> Addr<UpdaterActor> {
        if let Some(updater) = self.updater.as_ref().filter(|u| u.connected()) {
            return updater.clone();
        }
        let source = format!("actor:updater:{}", self.serial);
        let owner = Rc::new(move |output| {
            if let Some(input) = SessionInput::from_updater(output) {
                session.do_send(Deliver::from(source.clone(), input));
            }
        });
        let updater = start_updater(UpdaterParts {
            serial: self.serial.clone(),
            policy: self.parts.updates,
            trusted: self.parts.trusted.clone(),
            backend: self.parts.backend.clone(),
            image: self.image.clone(),
            owner,
            tracer: self.parts.tracer.clone(),
            clock: self.parts.clock,
        });
        self.updater = Some(updater.clone());
        updater
    }
}

impl SessionEffects {
    /// Stops the reader's children after what was sent to them (a
    /// mailbox is first in, first out); the next use starts them again.
    /// Once each has handled its `Stop` (or was gone already), whatever
    /// it sent the session is in the session's mailbox, and
    /// `ChildrenReleased` follows it there.
    fn release_children(&mut self, session: Addr<SessionActor>) {
        let supervisor = lock(&self.parts.supervisors).remove(&self.serial);
        let children: Vec<Recipient<Stop>> = [
            self.connection.take().map(Addr::recipient),
            self.reboot_timer.take().map(Addr::recipient),
            self.updater.take().map(Addr::recipient),
            supervisor.map(|s| s.addr().clone().recipient()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let source = format!("actor:session:{}", self.serial);
        actix::spawn(async move {
            // A child already gone answers with an error: it is released too.
            futures::future::join_all(children.iter().map(|child| child.send(Stop))).await;
            session.do_send(Deliver::from(source, SessionInput::ChildrenReleased));
        });
    }
}

impl Effects<Session> for SessionEffects {
    fn perform(&mut self, output: SessionOutput, ctx: &mut EffectContext<'_, Session, Self>) {
        match output {
            SessionOutput::ToConnection(input) => {
                let connection = match input {
                    ConnectionInput::ConnectRequested { .. } => Some(self.connection(ctx.address())),
                    _ => self.connection.clone(),
                };
                if let Some(connection) = connection {
                    connection.do_send(Deliver::from(format!("actor:session:{}", self.serial), input));
                }
            }
            SessionOutput::ToSupervisor(input) => {
                let source = format!("actor:session:{}", self.serial);
                self.supervisor(ctx.address()).send_from(source, input);
            }
            SessionOutput::ToRebootTimer(input) => {
                let source = format!("actor:session:{}", self.serial);
                self.reboot_timer(ctx.address())
                    .do_send(Deliver::from(source, input));
            }
            SessionOutput::ToUpdater(input) => {
                let source = format!("actor:session:{}", self.serial);
                self.updater(ctx.address()).do_send(Deliver::from(source, input));
            }
            SessionOutput::ToHub(mut report) => {
                // A handle on live work is not data: the supervisor's
                // cancelable goes into `ReconnectStarted` here, the
                // install's into `UpdateInstallStarted`.
                for item in report.now.iter_mut() {
                    match item {
                        HubItem::Publish(TerminalEvent::ReconnectStarted { cancelable, .. }) => {
                            if let Some(supervisor) = lock(&self.parts.supervisors).get(&self.serial) {
                                *cancelable = supervisor.cancelable();
                            }
                        }
                        HubItem::Publish(TerminalEvent::UpdateInstallStarted {
                            cancelable: Some(cancelable),
                            ..
                        }) => *cancelable = install_cancelable(ctx.address(), &self.serial),
                        _ => {}
                    }
                }
                (self.report)(HubNote::Report(report));
            }
            SessionOutput::ReleaseChildren => self.release_children(ctx.address()),
            SessionOutput::ToHubIdle { inputs_seen } => (self.report)(HubNote::Idle { inputs_seen }),
        }
    }
}

/// Starts a session for `reader` on the current arbiter. Its id in the
/// trace is `session:<serial>`.
pub(crate) fn start_session(
    reader: &Reader,
    parts: SessionParts,
    report: SessionReportFn,
) -> Addr<SessionActor> {
    let serial = reader.serial_number.clone();
    let id = format!("session:{serial}");
    let tracer = parts.tracer.clone();
    let clock = parts.clock;
    let effects = SessionEffects {
        serial,
        parts,
        report,
        connection: None,
        reboot_timer: None,
        updater: None,
        image: ImageSlot::default(),
    };
    MachineActor::new(id, Session::new(reader.clone()), effects, tracer, clock).start()
}

/// The cancelable of an install (R16): it asks the session, which tells
/// the updater; the install's `UpdateInstallFinished` says how it ended.
fn install_cancelable(session: Addr<SessionActor>, serial: &SerialNumber) -> Cancelable {
    let source = format!("app:cancel_update:{serial}");
    Cancelable::new(move || {
        let session = session.clone();
        let source = source.clone();
        Box::pin(async move {
            match session
                .send(Deliver::from(source, SessionInput::UpdateCancelRequested))
                .await
            {
                Ok(_) => CancelOutcome::Cancelled,
                Err(_) => CancelOutcome::AlreadyEnded,
            }
        })
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
