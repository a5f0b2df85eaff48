//! What a reader session takes in, what it asks its shell to do, and what
//! it reports to the terminal hub.

use serde::{Deserialize, Serialize};

use crate::backend::LocationId;
use crate::connection::{CommandError, ConnectError, ConnectionEvent, ConnectionInput};
use crate::reader::{Battery, ConnectionStatus, DisconnectReason, Reader};
use crate::reboot::{RebootInput, RebootOutput};
use crate::reconnect::{ReconnectError, ReconnectEvent, ReconnectInput};
use crate::runtime::Millis;
use crate::terminal::{CallId, CallOutcome, ConnectionConfig, TerminalError, TerminalEvent};
use crate::updater::{ReaderSoftwareUpdate, TransferCommand, UpdateError, UpdaterInput, UpdaterOutput};

/// What happens to a reader session: the app's calls (routed by the hub,
/// past tense: "the app asked") and its children's reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
pub enum SessionInput {
    /// The app asked to connect the reader (R6).
    ConnectRequested {
        /// The call to answer.
        call: CallId,
        /// The reader, as discovery found it.
        reader: Reader,
        /// How.
        config: ConnectionConfig,
    },
    /// The app asked to disconnect the reader (or to stop its connect or
    /// its reconnection).
    DisconnectRequested {
        /// The call to answer.
        call: CallId,
    },
    /// The app asked the reader to reboot now (R12).
    RebootRequested {
        /// The call to answer.
        call: CallId,
    },
    /// The app started a transaction on the reader (R20).
    TransactionStartRequested {
        /// The call to answer.
        call: CallId,
    },
    /// The app ended its transaction.
    TransactionEndRequested {
        /// The call to answer.
        call: CallId,
        /// Which transaction: the call that started it.
        transaction: CallId,
    },
    /// The connection's status changed (R6).
    StatusReported {
        /// The new status.
        status: ConnectionStatus,
    },
    /// The connection connected and registered the reader (R6).
    ReaderConnected {
        /// The reader, with what hello told.
        reader: Reader,
        /// The location it is registered to.
        location: LocationId,
        /// The reader's uptime at the connect, in ms (R12 counts from it).
        uptime_ms: u64,
    },
    /// The connection's connect failed.
    ConnectFailed {
        /// Why.
        error: ConnectError,
    },
    /// The connection ended, for exactly one reason (R8).
    ConnectionEnded {
        /// Why.
        reason: DisconnectReason,
    },
    /// The connection's machine panicked: the session it ran is lost and
    /// its link closed; a fresh machine replaced it, or (`for_good`) the
    /// actor stopped past its restart intensity.
    ConnectionActorFailed {
        /// The panic's message.
        panic: String,
        /// Whether the actor stopped for good.
        for_good: bool,
    },
    /// The reader acknowledged the reboot; its disconnect follows.
    RebootAccepted,
    /// The reboot was not carried out.
    RebootFailed {
        /// Why.
        error: CommandError,
    },
    /// The reader started the app's transaction (R20).
    TransactionStarted,
    /// The reader did not start the transaction.
    TransactionStartFailed {
        /// Why.
        error: CommandError,
    },
    /// The reader ended the transaction.
    TransactionEnded,
    /// The reader did not end the transaction.
    TransactionEndFailed {
        /// Why.
        error: CommandError,
    },
    /// The reboot timer planned the reader's next reboot (R12).
    RebootScheduled {
        /// When, in ms of the runtime's clock.
        at: Millis,
    },
    /// The reboot timer says the reader is due for its 24-hour reboot now
    /// (R12), and no transaction runs (R20).
    RebootDue,
    /// The reader reported its battery (R18a).
    BatteryReported {
        /// The battery now.
        battery: Battery,
    },
    /// The reader warned that its battery is low (R18a).
    LowBatteryWarned {
        /// The battery now.
        battery: Battery,
    },
    /// A card was inserted (R18a).
    CardInserted,
    /// The card was removed (R18a).
    CardRemoved,
    /// The supervisor started reconnecting (R9).
    ReconnectStarted {
        /// Why the connection ended.
        reason: DisconnectReason,
    },
    /// The supervisor asks for an attempt.
    AttemptDue {
        /// Numbered from 1 within the reconnection.
        attempt: u32,
    },
    /// The supervisor asks to stop the attempt under way.
    AttemptAbandoned,
    /// The supervisor says the reader is connected again.
    ReconnectSucceeded,
    /// The supervisor's machine panicked and was replaced (or stopped): the
    /// reconnection it ran is lost.
    SupervisorFailed {
        /// The panic's message.
        panic: String,
    },
    /// The supervisor gave up (R9).
    ReconnectFailed {
        /// Why.
        error: ReconnectError,
        /// Why the connection ended in the first place.
        reason: DisconnectReason,
    },
    /// The app asked to install the reader's available update
    /// (`install_available_update`, R17).
    InstallUpdateRequested {
        /// The call to answer.
        call: CallId,
    },
    /// The app used the install's cancelable (R16).
    UpdateCancelRequested,
    /// The updater: the connect may finish (no required update, or it
    /// installed, or it failed within the 30-day grace, R13, R15).
    UpdateConnectMayProceed,
    /// The updater: the connect must fail (R14–R16).
    UpdateConnectMustFail {
        /// Why.
        error: UpdateError,
    },
    /// The updater: an optional update is available (R17).
    UpdateAvailable {
        /// The update.
        update: ReaderSoftwareUpdate,
    },
    /// The updater: an install started (R13).
    UpdateInstallStarted {
        /// The update.
        update: ReaderSoftwareUpdate,
        /// Whether it can be cancelled (R16).
        cancelable: bool,
    },
    /// The updater: the install's progress in [0, 1].
    UpdateInstallProgress {
        /// The share done.
        progress: f32,
    },
    /// The updater: the install ended.
    UpdateInstallFinished {
        /// The update, if there was one.
        update: Option<ReaderSoftwareUpdate>,
        /// Why it failed, if it did.
        error: Option<UpdateError>,
    },
    /// The updater asks for this to be sent to the reader.
    UpdateTransfer {
        /// What to send.
        command: TransferCommand,
    },
    /// The reader accepted `UpdateBegin`.
    UpdateBeginAcked,
    /// The reader wrote the image up to `up_to_offset`.
    UpdateChunksAcked {
        /// Bytes `0 .. up_to_offset` are written.
        up_to_offset: u32,
    },
    /// The reader booted the new image, on trial.
    UpdateCommitAcked,
    /// The reader said which software it runs, after an install's commit.
    RunningVersionReported {
        /// The version it reports.
        software_version: String,
    },
    /// An update command to the reader failed.
    UpdateCommandFailed {
        /// Why.
        error: CommandError,
    },
    /// The children a `ReleaseChildren` stopped have handled everything
    /// sent to them and are gone: nothing they sent is still on its way to
    /// the session.
    ChildrenReleased,
}

impl SessionInput {
    /// Whether the hub routed this input (an app's call), as opposed to
    /// the session's children or its own shell: the session counts these
    /// so the hub can tell that none is on its way when it goes idle.
    pub fn is_from_hub(&self) -> bool {
        matches!(
            self,
            Self::ConnectRequested { .. }
                | Self::DisconnectRequested { .. }
                | Self::RebootRequested { .. }
                | Self::TransactionStartRequested { .. }
                | Self::TransactionEndRequested { .. }
                | Self::InstallUpdateRequested { .. }
        )
    }
}

impl SessionInput {
    /// An updater's output for its owner, as the session's input (the
    /// outputs the updater's shell carries out itself give none).
    pub fn from_updater(output: UpdaterOutput) -> Option<Self> {
        Some(match output {
            UpdaterOutput::ConnectMayProceed => Self::UpdateConnectMayProceed,
            UpdaterOutput::ConnectMustFail(error) => Self::UpdateConnectMustFail { error },
            UpdaterOutput::UpdateAvailable(update) => Self::UpdateAvailable { update },
            UpdaterOutput::InstallStarted { update, cancelable } => {
                Self::UpdateInstallStarted { update, cancelable }
            }
            UpdaterOutput::InstallProgress { progress } => Self::UpdateInstallProgress { progress },
            UpdaterOutput::InstallFinished { update, error } => Self::UpdateInstallFinished { update, error },
            UpdaterOutput::Transfer(command) => Self::UpdateTransfer { command },
            UpdaterOutput::CheckCatalog { .. }
            | UpdaterOutput::DownloadImage { .. }
            | UpdaterOutput::VerifyImage(_) => return None,
        })
    }
}

impl From<ConnectionEvent> for SessionInput {
    /// A connection's report, as the session's input.
    fn from(event: ConnectionEvent) -> Self {
        match event {
            ConnectionEvent::StatusChanged { status } => Self::StatusReported { status },
            ConnectionEvent::Connected {
                reader,
                location,
                uptime_ms,
            } => Self::ReaderConnected {
                reader,
                location,
                uptime_ms,
            },
            ConnectionEvent::ConnectFailed { error } => Self::ConnectFailed { error },
            ConnectionEvent::Disconnected { reason } => Self::ConnectionEnded { reason },
            ConnectionEvent::MachineFailed { panic, for_good } => {
                Self::ConnectionActorFailed { panic, for_good }
            }
            ConnectionEvent::RebootAccepted => Self::RebootAccepted,
            ConnectionEvent::RebootFailed { error } => Self::RebootFailed { error },
            ConnectionEvent::BatteryReported { battery } => Self::BatteryReported { battery },
            ConnectionEvent::LowBatteryWarned { battery } => Self::LowBatteryWarned { battery },
            ConnectionEvent::CardInserted => Self::CardInserted,
            ConnectionEvent::CardRemoved => Self::CardRemoved,
            ConnectionEvent::TransactionStarted => Self::TransactionStarted,
            ConnectionEvent::TransactionStartFailed { error } => Self::TransactionStartFailed { error },
            ConnectionEvent::TransactionEnded => Self::TransactionEnded,
            ConnectionEvent::TransactionEndFailed { error } => Self::TransactionEndFailed { error },
            ConnectionEvent::UpdateBeginAcked => Self::UpdateBeginAcked,
            ConnectionEvent::UpdateChunksAcked { up_to_offset } => Self::UpdateChunksAcked { up_to_offset },
            ConnectionEvent::UpdateCommitAcked => Self::UpdateCommitAcked,
            ConnectionEvent::RunningVersionReported { software_version } => {
                Self::RunningVersionReported { software_version }
            }
            ConnectionEvent::UpdateCommandFailed { error } => Self::UpdateCommandFailed { error },
        }
    }
}

impl From<RebootOutput> for SessionInput {
    /// A reboot timer's output, as the session's input.
    fn from(output: RebootOutput) -> Self {
        match output {
            RebootOutput::RebootScheduled { at } => Self::RebootScheduled { at },
            RebootOutput::RebootReader => Self::RebootDue,
        }
    }
}

impl From<ReconnectEvent> for SessionInput {
    /// A supervisor's report, as the session's input.
    fn from(event: ReconnectEvent) -> Self {
        match event {
            ReconnectEvent::Started { reason } => Self::ReconnectStarted { reason },
            ReconnectEvent::AttemptDue { attempt } => Self::AttemptDue { attempt },
            ReconnectEvent::AttemptAbandoned => Self::AttemptAbandoned,
            ReconnectEvent::Succeeded => Self::ReconnectSucceeded,
            ReconnectEvent::MachineRestarted { panic } => Self::SupervisorFailed { panic },
            ReconnectEvent::Failed { error, reason } => Self::ReconnectFailed { error, reason },
        }
    }
}

/// What a session asks its shell to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SessionOutput {
    /// Deliver an input to the reader's connection actor (started on first
    /// use, and again if it stopped).
    ToConnection(ConnectionInput),
    /// Deliver an input to the reader's reconnect supervisor (started on
    /// first use, and again if it stopped).
    ToSupervisor(ReconnectInput),
    /// Deliver an input to the reader's 24-hour reboot timer (started on
    /// first use).
    ToRebootTimer(RebootInput),
    /// Deliver an input to the reader's updater (started on first use).
    ToUpdater(UpdaterInput),
    /// Tell the hub what the input changed.
    ToHub(SessionReport),
    /// The reader is not connected and nothing runs for it: stop its
    /// connection, supervisor, reboot timer and updater (each starts again
    /// with the next use), then tell the session `ChildrenReleased`.
    ReleaseChildren,
    /// The reader's life is over for now: not connected, no child running
    /// or still reporting. Tell the hub, which may release the session.
    ToHubIdle {
        /// How many of the hub's inputs the session has handled
        /// ([`SessionInput::is_from_hub`]): the hub releases the session
        /// only if it routed no more than that.
        inputs_seen: u64,
    },
}

/// What a session's shell hands the hub.
#[derive(Debug, Clone, PartialEq)]
pub enum HubNote {
    /// What one input changed.
    Report(SessionReport),
    /// The session is idle (see [`SessionOutput::ToHubIdle`]).
    Idle {
        /// How many of the hub's inputs it has handled.
        inputs_seen: u64,
    },
}

/// What one input to a session changed, for the hub: the reader's status,
/// and what to publish and answer around the overall status change it may
/// cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionReport {
    /// The reader's status after the input.
    pub status: ConnectionStatus,
    /// Published (and answered) before the overall status change.
    pub now: Vec<HubItem>,
    /// Published (and answered) after it: a reader's `Disconnected` and
    /// the answers that awaited it, so the stream reads status, then the
    /// end, then the answers.
    pub after_status: Vec<HubItem>,
}

/// One thing the hub carries out for a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HubItem {
    /// Remember the connected reader and its location (R11).
    Persist {
        /// The reader.
        reader: Reader,
        /// Its location.
        location: LocationId,
    },
    /// Tell the app.
    Publish(TerminalEvent),
    /// Answer an API call.
    Reply {
        /// Which call.
        call: CallId,
        /// The answer.
        result: Result<CallOutcome, TerminalError>,
    },
}

/// A session has no timers of its own yet: every wait is a child's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SessionTimer {}
