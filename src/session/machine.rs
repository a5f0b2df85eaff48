//! The reader session's pure machine: statig handlers and the declared
//! table.
//!
//! ```text
//! not_connected → connecting (⊃ checking_updates, failing_connect) → connected
//!                               ready ⇄ in_transaction, rebooting; disconnecting
//! reconnecting
//!   between_attempts ⇄ attempting → abandoning
//! closing_abandoned_attempt
//! ```
//!
//! A session owns one reader's life. Its children report to it: the
//! connection (link, hello, registration, reports, transactions), the
//! reconnect supervisor (when to attempt, when to give up), the 24-hour
//! reboot timer (when the reader is due). The session decides what their
//! reports mean together — a reboot's disconnect starts a reconnection
//! (R12), a transaction holds off every reboot (R20), an attempt's connect
//! is the supervisor's, not the app's — and tells the hub the reader's
//! status, what to publish and which calls to answer. Back in
//! `not_connected` it releases its children and, once they are gone,
//! tells the hub it is idle, with the count of the hub's inputs it has
//! handled, so the hub can release the session itself.

use statig::prelude::*;

use super::messages::{HubItem, SessionInput, SessionOutput, SessionReport, SessionTimer};
use crate::backend::LocationId;
use crate::connection::{CommandError, ConnectError, ConnectionInput};
use crate::reader::{ConnectionStatus, DisconnectReason, Reader, SerialNumber};
use crate::reboot::RebootInput;
use crate::reconnect::{ReconnectError, ReconnectInput};
use crate::runtime::adapter::{StatigCore, StatigMachine};
use crate::runtime::machine::Outbox;
use crate::runtime::table::{MachineSpec, on, state, superstate};
use crate::terminal::{CallId, CallOutcome, ConnectionConfig, TerminalError, TerminalEvent};
use crate::updater::{ConnectedReader, TransferCommand, UpdateError, UpdaterInput};

/// The declared table (see [`crate::runtime::table`]).
pub static SPEC: MachineSpec = MachineSpec {
    name: "session",
    summary: "One reader's life: connecting, connected, reconnecting, not connected. It supervises the reader's connection and reconnect supervisor and decides what their reports mean together (R6-R12, R21).",
    initial: "not_connected",
    states: &[
        superstate(
            "session",
            None,
            &[
                on("ConnectRequested", &[]),
                on("DisconnectRequested", &[]),
                on("RebootRequested", &[]),
                on("StatusReported", &[]),
                on("BatteryReported", &[]),
                on("LowBatteryWarned", &[]),
                on("CardInserted", &[]),
                on("CardRemoved", &[]),
                on("TransactionStartRequested", &[]),
                on("TransactionEndRequested", &[]),
                on("RebootScheduled", &[]),
                on("RebootDue", &[]),
                on("InstallUpdateRequested", &[]),
                on("UpdateCancelRequested", &[]),
                on("UpdateAvailable", &[]),
                on("UpdateInstallStarted", &[]),
                on("UpdateInstallProgress", &[]),
                on("UpdateInstallFinished", &[]),
                on("UpdateTransfer", &[]),
                on("UpdateBeginAcked", &[]),
                on("UpdateChunksAcked", &[]),
                on("UpdateCommitAcked", &[]),
                on("RunningVersionReported", &[]),
                on("UpdateCommandFailed", &[]),
                on("ChildrenReleased", &[]),
            ],
        ),
        state(
            "not_connected",
            Some("session"),
            &[
                on("ConnectRequested", &["linking"]),
                on("ChildrenReleased", &[]),
                on("RebootDue", &[]),
                on("UpdateTransfer", &[]),
                on("UpdateBeginAcked", &[]),
                on("UpdateChunksAcked", &[]),
                on("UpdateCommitAcked", &[]),
                on("RunningVersionReported", &[]),
                on("UpdateCommandFailed", &[]),
                on("UpdateCancelRequested", &[]),
            ],
        ),
        superstate(
            "connecting",
            Some("session"),
            &[
                on("ConnectFailed", &["not_connected"]),
                on("ConnectionActorFailed", &["not_connected"]),
                on("DisconnectRequested", &[]),
                on("StatusReported", &[]),
            ],
        ),
        state(
            "linking",
            Some("connecting"),
            &[on("ReaderConnected", &["checking_updates"])],
        ),
        state(
            "checking_updates",
            Some("connecting"),
            &[
                on("UpdateConnectMayProceed", &["ready"]),
                on("UpdateConnectMustFail", &["failing_connect"]),
                on("ConnectionEnded", &["not_connected"]),
            ],
        ),
        state(
            "failing_connect",
            Some("connecting"),
            &[
                on("ConnectionEnded", &["not_connected"]),
                on("ConnectionActorFailed", &["not_connected"]),
                on("DisconnectRequested", &[]),
            ],
        ),
        superstate(
            "connected",
            Some("session"),
            &[
                on("ConnectionEnded", &["between_attempts", "not_connected"]),
                on("ConnectionActorFailed", &["between_attempts", "not_connected"]),
                on("DisconnectRequested", &["disconnecting"]),
                on("TransactionStartRequested", &[]),
                on("InstallUpdateRequested", &[]),
            ],
        ),
        state(
            "ready",
            Some("connected"),
            &[
                on("RebootRequested", &["rebooting"]),
                on("RebootDue", &["rebooting"]),
                on("TransactionStartRequested", &["in_transaction"]),
            ],
        ),
        state(
            "in_transaction",
            Some("connected"),
            &[
                on("TransactionStarted", &[]),
                on("TransactionStartFailed", &["ready"]),
                on("TransactionEndRequested", &[]),
                on("TransactionEnded", &["ready"]),
                on("TransactionEndFailed", &["ready"]),
                on("RebootRequested", &[]),
                on("TransactionStartRequested", &[]),
            ],
        ),
        state(
            "rebooting",
            Some("connected"),
            &[on("RebootAccepted", &[]), on("RebootFailed", &["ready"])],
        ),
        state("disconnecting", Some("connected"), &[]),
        superstate(
            "reconnecting",
            Some("session"),
            &[
                on("ReconnectStarted", &[]),
                on("StatusReported", &[]),
                on(
                    "ReconnectSucceeded",
                    &["ready", "disconnecting", "between_attempts", "not_connected"],
                ),
                on("ReconnectFailed", &["not_connected"]),
                on("SupervisorFailed", &["not_connected"]),
                on("DisconnectRequested", &[]),
            ],
        ),
        state(
            "between_attempts",
            Some("reconnecting"),
            &[on("AttemptDue", &["attempting"])],
        ),
        state(
            "attempting",
            Some("reconnecting"),
            &[
                on("ReaderConnected", &[]),
                on("UpdateConnectMayProceed", &[]),
                on("UpdateConnectMustFail", &[]),
                on("ConnectFailed", &["between_attempts"]),
                on("ConnectionEnded", &["between_attempts"]),
                on("ConnectionActorFailed", &["between_attempts"]),
                on("AttemptAbandoned", &["abandoning"]),
                on("SupervisorFailed", &["closing_abandoned_attempt"]),
            ],
        ),
        state(
            "abandoning",
            Some("reconnecting"),
            &[on("ReconnectFailed", &["closing_abandoned_attempt"])],
        ),
        state(
            "closing_abandoned_attempt",
            Some("session"),
            &[
                on("ConnectFailed", &["not_connected"]),
                on("ConnectionEnded", &["not_connected"]),
                on("ConnectionActorFailed", &["not_connected"]),
                on("StatusReported", &[]),
                on("DisconnectRequested", &[]),
            ],
        ),
    ],
};

type Out = Outbox<SessionOutput, SessionTimer>;

/// What a connect's `ReaderConnected` told, kept while the updater checks
/// for a required update.
#[derive(Debug, Clone)]
struct PendingConnect {
    reader: Reader,
    location: LocationId,
    uptime_ms: u64,
}

/// The statig side: what a session remembers across states.
pub struct SessionCore {
    /// The reader, as the last connect (or hello) told.
    reader: Reader,
    /// How the app asked to connect it.
    config: ConnectionConfig,
    /// The location it is registered to, once connected.
    location: Option<LocationId>,
    /// The reader's status, as the hub last heard it.
    status: ConnectionStatus,
    /// The `connect_reader` call waiting for the outcome.
    connect_call: Option<CallId>,
    /// The `disconnect_reader` calls waiting for the end.
    disconnect_calls: Vec<CallId>,
    /// The `reboot_reader` call waiting for the reader's answer.
    reboot_call: Option<CallId>,
    /// Why the connection ended, for the reconnection under way.
    reconnect_reason: DisconnectReason,
    /// The `start_transaction` / `end` call waiting for the reader's answer.
    transaction_call: Option<CallId>,
    /// The transaction running, or the last one: the call that started it.
    transaction: CallId,
    /// Whether the reader's children may run: from a connect until the
    /// session is back in `not_connected`.
    children_started: bool,
    /// The uptime an attempt's connect reported, for the reboot timer once
    /// the supervisor confirms the reconnection.
    attempt_uptime_ms: Option<u64>,
    /// A reconnect attempt's connection that ended again before the
    /// supervisor said the reconnection succeeded: why, to report once it
    /// has.
    lost_after_connect: Option<DisconnectReason>,
    /// A connect that linked and registered the reader, waiting for the
    /// updater's word on required updates (R13).
    pending: Option<PendingConnect>,
    /// Why the updater said a connect must fail, until the link it
    /// asked to close has ended.
    update_failure: Option<UpdateError>,
    /// Whether the updater was told the reader connected (and not yet
    /// that it disconnected).
    updater_knows_reader: bool,
    /// Whether an install runs: no reboot while it does.
    installing: bool,
    /// Whether the running install's image was committed and is not yet
    /// seen running: a link lost now is the image failing its trial (R19).
    awaiting_activation: bool,
    /// What this input has for the hub so far; taken after each input
    /// (a `Cell`, since statig lends the core out only shared).
    report: std::cell::Cell<Option<SessionReport>>,
    /// How many `ReleaseChildren` still wait for their `ChildrenReleased`:
    /// until none does, a child may still report, so the session is not
    /// idle.
    releases_pending: u32,
    /// How many of the hub's inputs the session has handled, told with
    /// each idle report (a `Cell`: counted after the handlers, where the
    /// core is shared).
    hub_inputs: std::cell::Cell<u64>,
    /// Whether this input left the session idle (not connected, every
    /// child gone): the hub is told after the input.
    idle: std::cell::Cell<bool>,
}

#[state_machine(
    initial = "State::not_connected()",
    visibility = "pub",
    state(derive(Debug, Clone, strum::IntoStaticStr, strum::VariantNames)),
    superstate(derive(Debug, strum::VariantNames)),
    after_transition = "Self::record_transition"
)]
impl SessionCore {
    /// Whatever a state leaves: a connect while busy is refused, a
    /// disconnect or reboot of a reader not connected is refused, the
    /// reader's reports are published, status changes are published
    /// (except the connection's `NotConnected` at the end of a connected
    /// session: that is told with the end, once it is known whether a
    /// reconnection follows). All handled in place.
    #[superstate]
    fn session(&mut self, context: &mut Out, event: &SessionInput) -> Outcome<State> {
        let serial_number = self.serial();
        match event {
            SessionInput::ConnectRequested { call, .. } => {
                let error = if self.status == ConnectionStatus::Connected {
                    TerminalError::AlreadyConnected { serial_number }
                } else {
                    TerminalError::ConnectInProgress { serial_number }
                };
                self.reply(*call, Err(error));
            }
            SessionInput::DisconnectRequested { call }
            | SessionInput::RebootRequested { call }
            | SessionInput::TransactionStartRequested { call } => {
                self.reply(*call, Err(TerminalError::NotConnected { serial_number }));
            }
            // No transaction runs: ending one is done already.
            SessionInput::TransactionEndRequested { call, .. } => self.reply(*call, Ok(CallOutcome::Done)),
            SessionInput::RebootScheduled { at } => self.publish(TerminalEvent::RebootScheduled {
                serial_number,
                at: *at,
            }),
            // Not now (the reader is busy rebooting or disconnecting): the
            // timer tries again, unless the reader's end disarms it first.
            SessionInput::RebootDue => context.emit(SessionOutput::ToRebootTimer(RebootInput::RebootFailed)),
            SessionInput::StatusReported { status } => {
                let ends_connected =
                    self.status == ConnectionStatus::Connected && *status == ConnectionStatus::NotConnected;
                if !ends_connected {
                    self.set_status(*status);
                }
            }
            SessionInput::BatteryReported { battery } => {
                if self.updater_knows_reader {
                    let level = battery.level;
                    context.emit(SessionOutput::ToUpdater(UpdaterInput::BatteryReported { level }));
                }
                self.publish(TerminalEvent::BatteryLevelReported {
                    serial_number,
                    battery: *battery,
                });
            }
            SessionInput::LowBatteryWarned { battery } => self.publish(TerminalEvent::LowBatteryWarning {
                serial_number,
                battery: *battery,
            }),
            SessionInput::CardInserted => self.publish(TerminalEvent::CardInserted { serial_number }),
            SessionInput::CardRemoved => self.publish(TerminalEvent::CardRemoved { serial_number }),
            SessionInput::InstallUpdateRequested { call } => {
                self.reply(*call, Err(TerminalError::NotConnected { serial_number }));
            }
            // Children released earlier are gone; the ones running now
            // are newer.
            SessionInput::ChildrenReleased => {
                self.releases_pending = self.releases_pending.saturating_sub(1);
            }
            other => self.update_traffic(context, other),
        }
        Handled
    }

    /// Nothing runs. `ConnectRequested` → `linking`: the connection is
    /// asked to connect. On entry the reader's other actors are released;
    /// once they are gone (`ChildrenReleased`) the session is idle and
    /// tells the hub (`ToHubIdle`), which may release the session too.
    /// Any other call of the app is answered as in every state, and the
    /// idle session tells the hub again: the hub ignored the last word if
    /// it had routed that call by then. A child's late word (a reboot due,
    /// update traffic, sent before the child was stopped) asks no other
    /// child for anything, so no child is started again for it.
    #[state(superstate = "session", entry_action = "release_children")]
    fn not_connected(&mut self, context: &mut Out, event: &SessionInput) -> Outcome<State> {
        match event {
            SessionInput::ConnectRequested { call, reader, config } => {
                self.reader = reader.clone();
                self.config = config.clone();
                self.connect_call = Some(*call);
                self.ask_to_connect(context);
                Transition(State::linking())
            }
            SessionInput::ChildrenReleased => {
                self.releases_pending = self.releases_pending.saturating_sub(1);
                self.idle.set(self.releases_pending == 0);
                Handled
            }
            // Nothing runs: what a child sent before it was stopped asks
            // the others for nothing (each was released, or told the
            // reader is gone; a fresh one, started for it, would ignore
            // it). What the updater reports is still published.
            SessionInput::RebootDue
            | SessionInput::UpdateTransfer { .. }
            | SessionInput::UpdateBeginAcked
            | SessionInput::UpdateChunksAcked { .. }
            | SessionInput::UpdateCommitAcked
            | SessionInput::RunningVersionReported { .. }
            | SessionInput::UpdateCommandFailed { .. }
            | SessionInput::UpdateCancelRequested => Handled,
            other => {
                if other.is_from_hub() && self.releases_pending == 0 {
                    self.idle.set(true);
                }
                Super
            }
        }
    }

    #[action]
    fn release_children(&mut self, context: &mut Out) {
        // Entered with no child started only as the initial state, before
        // the connect that starts the session.
        if std::mem::take(&mut self.children_started) {
            self.releases_pending += 1;
            context.emit(SessionOutput::ReleaseChildren);
        }
    }

    /// The app's connect runs (R6), status `Connecting` throughout:
    /// `ConnectFailed` → `not_connected` (the call answered with the
    /// error); a disconnect stops the connect.
    #[superstate(superstate = "session")]
    fn connecting(&mut self, context: &mut Out, event: &SessionInput) -> Outcome<State> {
        match event {
            // The reader is not `Connected` until the updater says so.
            SessionInput::StatusReported {
                status: ConnectionStatus::Connected,
            } => Handled,
            SessionInput::ConnectionActorFailed { panic, .. } => {
                // The connect is lost with the machine: it failed.
                if self.status != ConnectionStatus::NotConnected {
                    self.set_status(ConnectionStatus::NotConnected);
                }
                self.tell_updater_reader_gone(context);
                let error = match self.update_failure.take() {
                    Some(error) => ConnectError::UpdateFailed { error },
                    None => ConnectError::MachineFailed { panic: panic.clone() },
                };
                self.connect_failed(&error);
                Transition(State::not_connected())
            }
            SessionInput::ConnectFailed { error } => {
                self.connect_failed(error);
                Transition(State::not_connected())
            }
            SessionInput::DisconnectRequested { call } => {
                self.disconnect_calls.push(*call);
                context.emit(SessionOutput::ToConnection(ConnectionInput::DisconnectRequested));
                Handled
            }
            _ => Super,
        }
    }

    /// The connection links, greets and registers the reader.
    /// `ReaderConnected` → `checking_updates`.
    #[state(superstate = "connecting")]
    fn linking(&mut self, context: &mut Out, event: &SessionInput) -> Outcome<State> {
        match event {
            SessionInput::ReaderConnected {
                reader,
                location,
                uptime_ms,
            } => {
                self.check_updates(context, reader, location, *uptime_ms);
                Transition(State::checking_updates())
            }
            _ => Super,
        }
    }

    /// The reader is linked and registered; the updater checks for a
    /// required update and installs it (R13), the status staying
    /// `Connecting`. `UpdateConnectMayProceed` → `ready` (the call
    /// answered); `UpdateConnectMustFail` → `failing_connect` (the link is
    /// closed); the link's end fails the connect (`update_not_activated`
    /// when it came after the install's commit and before the new image was
    /// seen running: the image failed its trial, R19).
    #[state(superstate = "connecting")]
    fn checking_updates(&mut self, context: &mut Out, event: &SessionInput) -> Outcome<State> {
        match event {
            SessionInput::UpdateConnectMayProceed => {
                let Some(PendingConnect {
                    reader,
                    location,
                    uptime_ms,
                }) = self.pending.take()
                else {
                    return Handled;
                };
                self.set_status(ConnectionStatus::Connected);
                // The overall status reads `Connected` before the app hears
                // of the connect.
                let mark = self.report().now.len();
                self.reader_connected(context, &reader, &location);
                self.arm_reboot_timer(context, uptime_ms);
                if let Some(call) = self.connect_call.take() {
                    self.reply(call, Ok(CallOutcome::Connected { reader }));
                }
                self.defer_after_status(mark);
                Transition(State::ready())
            }
            SessionInput::UpdateConnectMustFail { error } => {
                self.pending = None;
                self.update_failure = Some(*error);
                context.emit(SessionOutput::ToConnection(ConnectionInput::DisconnectRequested));
                Transition(State::failing_connect())
            }
            SessionInput::ConnectionEnded { reason } => {
                self.pending = None;
                let not_activated = self.awaiting_activation;
                self.tell_updater_reader_gone(context);
                let error = if *reason == DisconnectReason::DisconnectRequested
                    && !self.disconnect_calls.is_empty()
                {
                    ConnectError::Cancelled
                } else if not_activated {
                    // The new image was committed and dropped the link
                    // before it was seen running: it failed its trial, and
                    // the reader went back to its old software (R19).
                    ConnectError::UpdateFailed {
                        error: UpdateError::NotActivated,
                    }
                } else {
                    ConnectError::LinkLost { reason: *reason }
                };
                self.connect_failed(&error);
                Transition(State::not_connected())
            }
            _ => Super,
        }
    }

    /// The updater failed the connect (R14–R16); the link it closes is
    /// waited for, then the app's connect is answered with
    /// `ConnectError::UpdateFailed` → `not_connected`.
    #[state(superstate = "connecting")]
    fn failing_connect(&mut self, context: &mut Out, event: &SessionInput) -> Outcome<State> {
        match event {
            SessionInput::ConnectionEnded { .. } => {
                self.tell_updater_reader_gone(context);
                if self.status != ConnectionStatus::NotConnected {
                    self.set_status(ConnectionStatus::NotConnected);
                }
                let error = self
                    .update_failure
                    .take()
                    .unwrap_or(UpdateError::ReaderDisconnected);
                self.connect_failed(&ConnectError::UpdateFailed { error });
                Transition(State::not_connected())
            }
            SessionInput::DisconnectRequested { call } => {
                self.disconnect_calls.push(*call);
                Handled
            }
            _ => Super,
        }
    }

    /// The reader is connected. Its connection's end → `between_attempts`
    /// when it reconnects (R8, R9, R12: the supervisor is told and starts),
    /// else → `not_connected` with `Disconnected` (R10); the app's
    /// disconnect → `disconnecting`.
    #[superstate(superstate = "session")]
    fn connected(&mut self, context: &mut Out, event: &SessionInput) -> Outcome<State> {
        match event {
            SessionInput::ConnectionEnded { reason } => {
                let auto_reconnect = self.config.auto_reconnect_on_unexpected_disconnect;
                self.connection_ended(context, *reason, auto_reconnect)
            }
            // A restarted machine lost the connection: it ended for an
            // unknown reason, which reconnects (R9). One that keeps failing
            // is reported failed and not reconnected.
            SessionInput::ConnectionActorFailed { panic, for_good } => {
                if *for_good {
                    self.actor_failed(panic);
                }
                let auto_reconnect = self.config.auto_reconnect_on_unexpected_disconnect && !for_good;
                self.connection_ended(context, DisconnectReason::Unknown, auto_reconnect)
            }
            SessionInput::DisconnectRequested { call } => {
                self.disconnect_calls.push(*call);
                context.emit(SessionOutput::ToConnection(ConnectionInput::DisconnectRequested));
                Transition(State::disconnecting())
            }
            SessionInput::TransactionStartRequested { call } => {
                self.refuse_command(*call, CommandError::Busy);
                Handled
            }
            // The updater answers through its events (R17): refused when
            // there is nothing to install, a transaction runs or the
            // battery is low.
            SessionInput::InstallUpdateRequested { call } => {
                context.emit(SessionOutput::ToUpdater(UpdaterInput::InstallRequested));
                self.reply(*call, Ok(CallOutcome::Done));
                Handled
            }
            _ => Super,
        }
    }

    /// Connected, nothing asked of the reader. `RebootRequested` (the
    /// app's) or `RebootDue` (the 24-hour timer's) → `rebooting` (R12);
    /// `TransactionStartRequested` → `in_transaction` (R20).
    #[state(superstate = "connected")]
    fn ready(&mut self, context: &mut Out, event: &SessionInput) -> Outcome<State> {
        match event {
            // An install writes the reader's image: no reboot meanwhile.
            SessionInput::RebootRequested { call } if self.installing => {
                self.refuse_command(*call, CommandError::Busy);
                Handled
            }
            SessionInput::RebootDue if self.installing => {
                context.emit(SessionOutput::ToRebootTimer(RebootInput::RebootFailed));
                Handled
            }
            SessionInput::RebootRequested { call } => {
                self.reboot_call = Some(*call);
                context.emit(SessionOutput::ToConnection(ConnectionInput::RebootRequested));
                Transition(State::rebooting())
            }
            SessionInput::RebootDue => {
                context.emit(SessionOutput::ToConnection(
                    ConnectionInput::SecurityRebootRequested,
                ));
                Transition(State::rebooting())
            }
            SessionInput::TransactionStartRequested { call } => {
                self.transaction_call = Some(*call);
                self.transaction = *call;
                // The timer and the updater hear first, so no reboot or
                // install is asked while the reader is being told.
                context.emit(SessionOutput::ToRebootTimer(RebootInput::TransactionStarted));
                context.emit(SessionOutput::ToUpdater(UpdaterInput::TransactionStarted));
                context.emit(SessionOutput::ToConnection(
                    ConnectionInput::TransactionStartRequested,
                ));
                Transition(State::in_transaction())
            }
            _ => Super,
        }
    }

    /// A transaction runs on the reader (R20): no reboot of any kind — the
    /// app's is refused with `transaction_in_progress`, the timer's waits
    /// (it knows). Its end, or a failed start or end, → `ready`.
    #[state(superstate = "connected")]
    fn in_transaction(&mut self, context: &mut Out, event: &SessionInput) -> Outcome<State> {
        match event {
            SessionInput::TransactionStarted => {
                self.answer_transaction_call(Ok(CallOutcome::Done));
                Handled
            }
            SessionInput::TransactionStartFailed { error } | SessionInput::TransactionEndFailed { error } => {
                let error = TerminalError::Command {
                    serial_number: self.serial(),
                    error: error.clone(),
                };
                self.answer_transaction_call(Err(error));
                self.transaction_over(context);
                Transition(State::ready())
            }
            // The end of an earlier transaction (its handle outlived it):
            // ended already, and this one goes on (R20).
            SessionInput::TransactionEndRequested { call, transaction }
                if *transaction != self.transaction =>
            {
                self.reply(*call, Ok(CallOutcome::Done));
                Handled
            }
            SessionInput::TransactionEndRequested { call, .. } => {
                if let Some(earlier) = self.transaction_call.replace(*call) {
                    self.reply(earlier, Ok(CallOutcome::Done));
                }
                context.emit(SessionOutput::ToConnection(
                    ConnectionInput::TransactionEndRequested,
                ));
                Handled
            }
            SessionInput::TransactionEnded => {
                self.answer_transaction_call(Ok(CallOutcome::Done));
                self.transaction_over(context);
                Transition(State::ready())
            }
            SessionInput::RebootRequested { call } | SessionInput::TransactionStartRequested { call } => {
                self.refuse_command(*call, CommandError::TransactionInProgress);
                Handled
            }
            _ => Super,
        }
    }

    /// The reader was asked to reboot. `RebootAccepted` answers the call
    /// (the disconnect follows); `RebootFailed` → `ready`; another reboot
    /// is refused as busy.
    #[state(superstate = "connected")]
    fn rebooting(&mut self, context: &mut Out, event: &SessionInput) -> Outcome<State> {
        match event {
            SessionInput::RebootAccepted => {
                if let Some(call) = self.reboot_call.take() {
                    self.reply(call, Ok(CallOutcome::Done));
                }
                Handled
            }
            SessionInput::RebootFailed { error } => {
                match self.reboot_call.take() {
                    Some(call) => self.refuse_command(call, error.clone()),
                    // The timer's reboot: it tries again.
                    None => context.emit(SessionOutput::ToRebootTimer(RebootInput::RebootFailed)),
                }
                Transition(State::ready())
            }
            SessionInput::RebootRequested { call } => {
                self.refuse_command(*call, CommandError::Busy);
                Handled
            }
            _ => Super,
        }
    }

    /// The app asked to disconnect; the link's end is awaited. More
    /// disconnects wait for the same end; a reboot is refused as busy.
    #[state(superstate = "connected")]
    fn disconnecting(&mut self, event: &SessionInput) -> Outcome<State> {
        match event {
            SessionInput::DisconnectRequested { call } => {
                self.disconnect_calls.push(*call);
                Handled
            }
            SessionInput::RebootRequested { call } => {
                self.refuse_command(*call, CommandError::Busy);
                Handled
            }
            _ => Super,
        }
    }

    /// The supervisor reconnects the reader (R9). `ReconnectStarted` makes
    /// the status `Reconnecting`; `ReconnectSucceeded` → `ready` (or the end
    /// of a link lost meanwhile is decided again, or the app's disconnect
    /// made meanwhile → `disconnecting`); `ReconnectFailed` → `not_connected` with
    /// `ReconnectFailed` then `Disconnected`; the app's disconnect cancels
    /// the reconnection as its cancelable would.
    #[superstate(superstate = "session")]
    fn reconnecting(&mut self, context: &mut Out, event: &SessionInput) -> Outcome<State> {
        match event {
            SessionInput::ReconnectStarted { reason } => {
                // The shell puts the supervisor's cancelable in.
                self.publish(TerminalEvent::ReconnectStarted {
                    serial_number: self.serial(),
                    reason: *reason,
                    cancelable: Default::default(),
                });
                self.set_status(ConnectionStatus::Reconnecting);
                Handled
            }
            SessionInput::ReconnectFailed { error, reason } => {
                self.reconnect_failed(error, *reason, true);
                Transition(State::not_connected())
            }
            // The supervisor lost the reconnection with its machine: it
            // ends here, as failed (the app hears why).
            SessionInput::SupervisorFailed { panic } => {
                self.supervisor_failed(panic, true);
                Transition(State::not_connected())
            }
            // Also when the attempt's link was lost again since it
            // connected: the supervisor had confirmed before it heard.
            SessionInput::ReconnectSucceeded => self.reconnect_succeeded(context),
            // An attempt's connection is the supervisor's: the reader stays
            // `Reconnecting` until the supervisor says how it ended.
            SessionInput::StatusReported { .. } => Handled,
            SessionInput::DisconnectRequested { call } => {
                self.disconnect_calls.push(*call);
                context.emit(SessionOutput::ToSupervisor(ReconnectInput::CancelRequested {
                    call: 0,
                }));
                Handled
            }
            _ => Super,
        }
    }

    /// Waiting for the supervisor's next attempt. `AttemptDue` →
    /// `attempting`: the whole connect, registration included, to the same
    /// location.
    #[state(superstate = "reconnecting")]
    fn between_attempts(&mut self, context: &mut Out, event: &SessionInput) -> Outcome<State> {
        match event {
            SessionInput::AttemptDue { .. } => {
                self.ask_to_connect(context);
                Transition(State::attempting())
            }
            _ => Super,
        }
    }

    /// An attempt's connect runs. Its outcome goes to the supervisor: a
    /// failure or a lost link → `between_attempts`; `ReaderConnected` keeps
    /// the link up until the supervisor says `ReconnectSucceeded`.
    /// `AttemptAbandoned` → `abandoning`: the attempt is stopped.
    #[state(superstate = "reconnecting")]
    fn attempting(&mut self, context: &mut Out, event: &SessionInput) -> Outcome<State> {
        match event {
            SessionInput::ReaderConnected {
                reader,
                location,
                uptime_ms,
            } => {
                // Not linked yet: the updater checks for a required update
                // first (R13), and then the supervisor says when (R9).
                self.check_updates(context, reader, location, *uptime_ms);
                Handled
            }
            SessionInput::UpdateConnectMayProceed => {
                if let Some(PendingConnect {
                    reader,
                    location,
                    uptime_ms,
                }) = self.pending.take()
                {
                    self.linked(context, &reader, &location);
                    self.attempt_uptime_ms = Some(uptime_ms);
                }
                Handled
            }
            SessionInput::UpdateConnectMustFail { error } => {
                // The attempt fails once its link is closed.
                self.pending = None;
                self.update_failure = Some(*error);
                context.emit(SessionOutput::ToConnection(ConnectionInput::DisconnectRequested));
                Handled
            }
            SessionInput::ConnectFailed { error } => {
                let error = error.clone();
                context.emit(SessionOutput::ToSupervisor(ReconnectInput::AttemptFailed {
                    error,
                }));
                Transition(State::between_attempts())
            }
            SessionInput::ConnectionEnded { reason } => {
                self.tell_updater_reader_gone(context);
                if self.attempt_uptime_ms.is_none() {
                    // It ended before it linked: the attempt failed.
                    self.pending = None;
                    let error = match self.update_failure.take() {
                        Some(error) => ConnectError::UpdateFailed { error },
                        None => ConnectError::LinkLost { reason: *reason },
                    };
                    context.emit(SessionOutput::ToSupervisor(ReconnectInput::AttemptFailed {
                        error,
                    }));
                    return Transition(State::between_attempts());
                }
                let auto_reconnect = self.config.auto_reconnect_on_unexpected_disconnect;
                self.attempt_lost(context, *reason, auto_reconnect)
            }
            // The attempt's session is lost with the machine: before it
            // linked, the attempt failed; after, its link was lost.
            SessionInput::ConnectionActorFailed { panic, for_good } => {
                if *for_good {
                    self.actor_failed(panic);
                }
                self.tell_updater_reader_gone(context);
                if self.attempt_uptime_ms.is_none() {
                    self.pending = None;
                    self.update_failure = None;
                    let error = ConnectError::MachineFailed { panic: panic.clone() };
                    context.emit(SessionOutput::ToSupervisor(ReconnectInput::AttemptFailed {
                        error,
                    }));
                    return Transition(State::between_attempts());
                }
                let auto_reconnect = self.config.auto_reconnect_on_unexpected_disconnect && !for_good;
                self.attempt_lost(context, DisconnectReason::Unknown, auto_reconnect)
            }
            SessionInput::AttemptAbandoned => {
                context.emit(SessionOutput::ToConnection(ConnectionInput::DisconnectRequested));
                Transition(State::abandoning())
            }
            SessionInput::SupervisorFailed { panic } => {
                context.emit(SessionOutput::ToConnection(ConnectionInput::DisconnectRequested));
                self.supervisor_failed(panic, false);
                Transition(State::closing_abandoned_attempt())
            }
            _ => Super,
        }
    }

    /// The attempt under way was told to stop (the window ran out, or the
    /// app cancelled); the supervisor's `ReconnectFailed` follows →
    /// `closing_abandoned_attempt`.
    #[state(superstate = "reconnecting")]
    fn abandoning(&mut self, event: &SessionInput) -> Outcome<State> {
        match event {
            SessionInput::ReconnectFailed { error, reason } => {
                self.reconnect_failed(error, *reason, false);
                Transition(State::closing_abandoned_attempt())
            }
            _ => Super,
        }
    }

    /// The reconnection failed while its last attempt was still being
    /// stopped: the reader is `NotConnected`, and the attempt's end is
    /// waited for → `not_connected`, answering the app's disconnects.
    #[state(superstate = "session")]
    fn closing_abandoned_attempt(&mut self, context: &mut Out, event: &SessionInput) -> Outcome<State> {
        match event {
            SessionInput::ConnectFailed { .. }
            | SessionInput::ConnectionEnded { .. }
            | SessionInput::ConnectionActorFailed { .. } => {
                self.tell_updater_reader_gone(context);
                self.pending = None;
                self.update_failure = None;
                self.answer_disconnect_calls(false);
                Transition(State::not_connected())
            }
            SessionInput::StatusReported { .. } => Handled,
            SessionInput::DisconnectRequested { call } => {
                self.disconnect_calls.push(*call);
                Handled
            }
            _ => Super,
        }
    }
}

impl SessionCore {
    fn new(reader: Reader) -> Self {
        Self {
            reader,
            config: ConnectionConfig::default(),
            location: None,
            status: ConnectionStatus::NotConnected,
            connect_call: None,
            disconnect_calls: Vec::new(),
            reboot_call: None,
            reconnect_reason: DisconnectReason::Unknown,
            transaction_call: None,
            transaction: 0,
            children_started: false,
            attempt_uptime_ms: None,
            lost_after_connect: None,
            pending: None,
            update_failure: None,
            updater_knows_reader: false,
            installing: false,
            awaiting_activation: false,
            report: Default::default(),
            releases_pending: 0,
            hub_inputs: Default::default(),
            idle: Default::default(),
        }
    }

    fn serial(&self) -> SerialNumber {
        self.reader.serial_number.clone()
    }

    fn report(&mut self) -> &mut SessionReport {
        let status = self.status;
        self.report.get_mut().get_or_insert_with(|| SessionReport {
            status,
            now: Vec::new(),
            after_status: Vec::new(),
        })
    }

    fn publish(&mut self, event: TerminalEvent) {
        self.report().now.push(HubItem::Publish(event));
    }

    fn reply(&mut self, call: CallId, result: Result<CallOutcome, TerminalError>) {
        self.report().now.push(HubItem::Reply { call, result });
    }

    /// Published after the overall status change this input causes.
    fn after_status(&mut self, item: HubItem) {
        self.report().after_status.push(item);
    }

    /// Moves what this input put for the hub since `mark` to after the
    /// overall status change.
    fn defer_after_status(&mut self, mark: usize) {
        let report = self.report();
        let later = report.now.split_off(mark.min(report.now.len()));
        report.after_status.splice(0..0, later);
    }

    fn set_status(&mut self, status: ConnectionStatus) {
        self.status = status;
        self.report().status = status;
        self.publish(TerminalEvent::ReaderStatusChanged {
            serial_number: self.serial(),
            status,
        });
    }

    /// Answers every disconnect call waiting: now, or after the status
    /// change (when a `Disconnected` was just put there).
    fn answer_disconnect_calls(&mut self, after_status: bool) {
        for call in std::mem::take(&mut self.disconnect_calls) {
            let item = HubItem::Reply {
                call,
                result: Ok(CallOutcome::Done),
            };
            if after_status {
                self.after_status(item);
            } else {
                self.report().now.push(item);
            }
        }
    }

    /// The reader is connected (the app's connect, or an attempt confirmed
    /// by the supervisor): saved, its supervisor told, `Connected` published.
    fn reader_connected(&mut self, context: &mut Out, reader: &Reader, location: &LocationId) {
        self.linked(context, reader, location);
        self.publish(TerminalEvent::Connected {
            reader: reader.clone(),
            location: location.clone(),
        });
    }

    /// A connect (the app's or an attempt's) linked and registered the
    /// reader: remembered, saved (R11), its supervisor told.
    fn linked(&mut self, context: &mut Out, reader: &Reader, location: &LocationId) {
        self.reader = reader.clone();
        self.location = Some(location.clone());
        self.report().now.push(HubItem::Persist {
            reader: reader.clone(),
            location: location.clone(),
        });
        context.emit(SessionOutput::ToSupervisor(ReconnectInput::ReaderConnected));
    }

    /// Asks the connection to connect the reader to its location: the
    /// app's connect, or a reconnect attempt (the whole connect again).
    fn ask_to_connect(&mut self, context: &mut Out) {
        self.children_started = true;
        context.emit(SessionOutput::ToConnection(ConnectionInput::ConnectRequested {
            reader: self.reader.clone(),
            location: self.config.location_id.clone(),
        }));
    }

    /// The app's connect failed: its call is answered with the error (the
    /// location's own kind when the location is unknown), and the
    /// disconnects that stopped it are done.
    fn connect_failed(&mut self, error: &ConnectError) {
        if let Some(call) = self.connect_call.take() {
            let error = match error {
                ConnectError::LocationNotFound { location } => TerminalError::LocationNotFound {
                    location: location.clone(),
                },
                error => TerminalError::Connect {
                    serial_number: self.serial(),
                    error: error.clone(),
                },
            };
            self.reply(call, Err(error));
        }
        self.answer_disconnect_calls(false);
    }

    /// A connect linked and registered the reader: kept while the updater
    /// checks the catalog for a required update (R13).
    fn check_updates(&mut self, context: &mut Out, reader: &Reader, location: &LocationId, uptime_ms: u64) {
        self.pending = Some(PendingConnect {
            reader: reader.clone(),
            location: location.clone(),
            uptime_ms,
        });
        self.update_failure = None;
        self.updater_knows_reader = true;
        context.emit(SessionOutput::ToUpdater(UpdaterInput::ReaderConnected(
            ConnectedReader {
                location: location.clone(),
                device_type: reader.device_type,
                software_version: reader.software_version.clone().unwrap_or_default(),
                // A reader that never told its battery is not held back by
                // it: its own refusal is reported if it is low.
                battery_level: reader.battery.map_or(1.0, |battery| battery.level),
                last_latest_run_at: None,
            },
        )));
    }

    /// The reader's connection ended: an updater that knew it connected
    /// hears it (an install under way is cut off, R19).
    fn tell_updater_reader_gone(&mut self, context: &mut Out) {
        self.installing = false;
        self.awaiting_activation = false;
        if std::mem::take(&mut self.updater_knows_reader) {
            context.emit(SessionOutput::ToUpdater(UpdaterInput::ReaderDisconnected));
        }
    }

    /// A transaction ended (or never started): the reboot timer and the
    /// updater may go on (R17, R20).
    fn transaction_over(&mut self, context: &mut Out) {
        context.emit(SessionOutput::ToRebootTimer(RebootInput::TransactionEnded));
        context.emit(SessionOutput::ToUpdater(UpdaterInput::TransactionEnded));
    }

    /// The updater's traffic, the same in every state: its commands go to
    /// the connection, the reader's answers back to it, its reports to
    /// the app.
    fn update_traffic(&mut self, context: &mut Out, event: &SessionInput) {
        let serial_number = self.serial();
        let to_updater = match event {
            SessionInput::UpdateTransfer { command } => {
                context.emit(SessionOutput::ToConnection(transfer_input(command)));
                return;
            }
            SessionInput::UpdateBeginAcked => UpdaterInput::BeginAcked,
            SessionInput::UpdateChunksAcked { up_to_offset } => UpdaterInput::ChunksAcked {
                up_to_offset: *up_to_offset,
            },
            SessionInput::UpdateCommitAcked => {
                self.awaiting_activation = true;
                UpdaterInput::CommitAcked
            }
            SessionInput::RunningVersionReported { software_version } => {
                UpdaterInput::RunningVersionReported {
                    software_version: software_version.clone(),
                }
            }
            SessionInput::UpdateCommandFailed { error } => UpdaterInput::TransferFailed {
                error: transfer_error(error),
            },
            SessionInput::UpdateCancelRequested => UpdaterInput::CancelRequested,
            SessionInput::UpdateAvailable { update } => {
                self.reader.available_update = Some(update.clone());
                if let Some(pending) = self.pending.as_mut() {
                    pending.reader.available_update = Some(update.clone());
                }
                self.publish(TerminalEvent::UpdateAvailable {
                    serial_number,
                    update: update.clone(),
                });
                return;
            }
            SessionInput::UpdateInstallStarted { update, cancelable } => {
                self.installing = true;
                // The shell puts the install's cancelable in.
                self.publish(TerminalEvent::UpdateInstallStarted {
                    serial_number,
                    update: update.clone(),
                    cancelable: cancelable.then(Default::default),
                });
                return;
            }
            SessionInput::UpdateInstallProgress { progress } => {
                self.publish(TerminalEvent::UpdateInstallProgress {
                    serial_number,
                    progress: *progress,
                });
                return;
            }
            SessionInput::UpdateInstallFinished { update, error } => {
                self.installing = false;
                self.awaiting_activation = false;
                if let (Some(update), None) = (update, error) {
                    // The reader runs the new software now.
                    self.reader.software_version = Some(update.version.clone());
                    self.reader.available_update = None;
                    if let Some(pending) = self.pending.as_mut() {
                        pending.reader.software_version = Some(update.version.clone());
                    }
                }
                self.publish(TerminalEvent::UpdateInstallFinished {
                    serial_number,
                    update: update.clone(),
                    error: *error,
                });
                return;
            }
            _ => return,
        };
        context.emit(SessionOutput::ToUpdater(to_updater));
    }

    /// Arms the 24-hour reboot timer from the uptime the reader reported
    /// (R12): the timer itself knows which models reboot.
    fn arm_reboot_timer(&mut self, context: &mut Out, uptime_ms: u64) {
        context.emit(SessionOutput::ToRebootTimer(RebootInput::ReaderConnected {
            device_type: self.reader.device_type,
            uptime_ms,
        }));
    }

    fn refuse_command(&mut self, call: CallId, error: CommandError) {
        let error = TerminalError::Command {
            serial_number: self.serial(),
            error,
        };
        self.reply(call, Err(error));
    }

    fn answer_transaction_call(&mut self, result: Result<CallOutcome, TerminalError>) {
        if let Some(call) = self.transaction_call.take() {
            self.reply(call, result);
        }
    }

    fn actor_failed(&mut self, panic: &str) {
        self.publish(TerminalEvent::ReaderActorFailed {
            serial_number: self.serial(),
            actor: "connection".into(),
            panic: panic.to_owned(),
        });
    }

    /// A connection ended. The supervisor always hears of it. When the
    /// reason reconnects (R8) and auto-reconnect is on, the reader is its
    /// (R9) → `between_attempts`, the status staying until its `Started`;
    /// otherwise the end is reported at once (R10) → `not_connected`. A
    /// reboot call still waiting is answered with the end.
    fn connection_ended(
        &mut self,
        context: &mut Out,
        reason: DisconnectReason,
        auto_reconnect: bool,
    ) -> Outcome<State> {
        context.emit(SessionOutput::ToSupervisor(ReconnectInput::ConnectionLost {
            reason,
            auto_reconnect,
        }));
        context.emit(SessionOutput::ToRebootTimer(RebootInput::ReaderDisconnected));
        self.tell_updater_reader_gone(context);
        let reboot_call = self.reboot_call.take();
        if let Some(call) = self.transaction_call.take() {
            // The transaction ended with the connection.
            let serial_number = self.serial();
            self.after_status(HubItem::Reply {
                call,
                result: Err(TerminalError::NotConnected { serial_number }),
            });
        }
        let outcome = self.report_end(reason, auto_reconnect);
        // The event first, then the answers: a caller that awaited the
        // disconnect finds it already in the stream.
        self.answer_disconnect_calls(true);
        if let Some(call) = reboot_call {
            self.after_status(HubItem::Reply {
                call,
                result: Ok(CallOutcome::Done),
            });
        }
        outcome
    }

    /// The session's side of a connection's end, once the supervisor was
    /// told.
    fn report_end(&mut self, reason: DisconnectReason, auto_reconnect: bool) -> Outcome<State> {
        if auto_reconnect && reason.reconnects() {
            self.reconnect_reason = reason;
            return Transition(State::between_attempts());
        }
        if self.status != ConnectionStatus::NotConnected {
            self.set_status(ConnectionStatus::NotConnected);
        }
        self.after_status(HubItem::Publish(TerminalEvent::Disconnected {
            serial_number: self.serial(),
            reason,
        }));
        Transition(State::not_connected())
    }

    /// An attempt's connection ended before the supervisor confirmed the
    /// reconnection: the supervisor decides again, and the end is kept to
    /// report if it had already confirmed.
    fn attempt_lost(
        &mut self,
        context: &mut Out,
        reason: DisconnectReason,
        auto_reconnect: bool,
    ) -> Outcome<State> {
        self.lost_after_connect = Some(reason);
        self.tell_updater_reader_gone(context);
        context.emit(SessionOutput::ToSupervisor(ReconnectInput::ConnectionLost {
            reason,
            auto_reconnect,
        }));
        Transition(State::between_attempts())
    }

    /// The supervisor confirmed the attempt's connection (R9): connected
    /// again → `ready`; if the link was lost meanwhile, its end is decided
    /// now; if the app asked to disconnect meanwhile → `disconnecting`.
    fn reconnect_succeeded(&mut self, context: &mut Out) -> Outcome<State> {
        self.publish(TerminalEvent::ReconnectSucceeded {
            serial_number: self.serial(),
        });
        self.set_status(ConnectionStatus::Connected);
        let location = self
            .location
            .clone()
            .unwrap_or_else(|| self.config.location_id.clone());
        self.publish(TerminalEvent::Connected {
            reader: self.reader.clone(),
            location,
        });
        let uptime_ms = self.attempt_uptime_ms.take();
        if let Some(reason) = self.lost_after_connect.take() {
            // The supervisor heard of it already; it decides again.
            let auto_reconnect = self.config.auto_reconnect_on_unexpected_disconnect;
            return self.report_end(reason, auto_reconnect);
        }
        if let Some(uptime_ms) = uptime_ms {
            self.arm_reboot_timer(context, uptime_ms);
        }
        if !self.disconnect_calls.is_empty() {
            // The app asked to disconnect while it reconnected.
            context.emit(SessionOutput::ToConnection(ConnectionInput::DisconnectRequested));
            return Transition(State::disconnecting());
        }
        Transition(State::ready())
    }

    /// The supervisor's machine failed during the reconnection: it ends as
    /// failed with `reconnect_supervisor_failed`, reported like any
    /// failure (R9).
    fn supervisor_failed(&mut self, panic: &str, settled: bool) {
        let error = ReconnectError::SupervisorFailed {
            panic: panic.to_owned(),
        };
        self.reconnect_failed(&error, self.reconnect_reason, settled);
    }

    /// The reconnection failed (R9): `ReconnectFailed`, `NotConnected`,
    /// then (after the overall status) `Disconnected` with the reason the
    /// connection first ended, and the answers to the app's disconnects —
    /// unless the last attempt is still being stopped (`settled` false):
    /// those answers wait for its end.
    fn reconnect_failed(&mut self, error: &ReconnectError, reason: DisconnectReason, settled: bool) {
        self.lost_after_connect = None;
        self.publish(TerminalEvent::ReconnectFailed {
            serial_number: self.serial(),
            error: error.clone(),
        });
        // Test-only (cargo feature `planted-bug`): a deliberate break of
        // R9's order, for the explorer's own test to find and shrink.
        #[cfg(feature = "planted-bug")]
        self.publish(TerminalEvent::ReconnectSucceeded {
            serial_number: self.serial(),
        });
        self.set_status(ConnectionStatus::NotConnected);
        self.after_status(HubItem::Publish(TerminalEvent::Disconnected {
            serial_number: self.serial(),
            reason,
        }));
        if settled {
            self.answer_disconnect_calls(true);
        }
    }
}

/// The connection's input for an updater's transfer command.
fn transfer_input(command: &TransferCommand) -> ConnectionInput {
    match command {
        TransferCommand::Begin {
            version,
            size,
            sha256,
            window,
        } => ConnectionInput::UpdateBeginRequested {
            version: version.clone(),
            size: *size,
            sha256: *sha256,
            window: *window,
        },
        TransferCommand::SendChunks {
            from,
            to,
            chunk_len,
            in_flight_chunks,
        } => ConnectionInput::UpdateChunksRequested {
            from: *from,
            to: *to,
            chunk_len: *chunk_len,
            in_flight_chunks: *in_flight_chunks,
        },
        TransferCommand::Commit => ConnectionInput::UpdateCommitRequested,
        TransferCommand::Abort => ConnectionInput::UpdateAbortRequested,
        TransferCommand::CheckRunningVersion => ConnectionInput::VersionCheckRequested,
    }
}

/// The install's error for an update command that failed on the reader.
fn transfer_error(error: &CommandError) -> UpdateError {
    match error {
        CommandError::Refused { code } => UpdateError::from_reader(*code),
        CommandError::TimedOut { .. } => UpdateError::TransferTimedOut,
        CommandError::TransactionInProgress => UpdateError::TransactionInProgress,
        CommandError::NotConnected => UpdateError::ReaderDisconnected,
        CommandError::Busy => UpdateError::ReaderRefused,
    }
}

/// A reader session as a runtime [`Machine`](crate::runtime::Machine).
pub type Session = StatigMachine<SessionCore>;

impl StatigCore for SessionCore {
    type Output = SessionOutput;
    type Timer = SessionTimer;

    fn spec() -> &'static MachineSpec {
        &SPEC
    }

    fn timer_elapsed(timer: SessionTimer) -> SessionInput {
        match timer {}
    }

    /// Everything the input had for the hub goes as one report, so the hub
    /// can place the overall status change between its parts.
    /// Then, if the input left the session idle, the hub is told so
    /// with the count of its inputs handled, this one included.
    fn input_handled(&self, input: &SessionInput, out: &mut Out) {
        if let Some(report) = self.report.take() {
            out.emit(SessionOutput::ToHub(report));
        }
        if input.is_from_hub() {
            self.hub_inputs.set(self.hub_inputs.get() + 1);
        }
        if self.idle.take() {
            out.emit(SessionOutput::ToHubIdle {
                inputs_seen: self.hub_inputs.get(),
            });
        }
    }
}

impl Session {
    /// A session for `reader`, `not_connected`.
    pub fn new(reader: Reader) -> Self {
        StatigMachine::from_core(SessionCore::new(reader))
    }

    /// The reader's status, as the session last told the hub.
    pub fn status(&self) -> ConnectionStatus {
        self.core().status
    }
}
