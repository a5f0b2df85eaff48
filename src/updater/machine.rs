//! The updater's pure machine: statig handlers and the declared table.
//!
//! ```text
//! not_connected
//! connected
//!   checking → up_to_date | available | installing
//!   up_to_date
//!   available
//!     optional → required
//!     required
//!   installing
//!     downloading → verifying → transferring → committing → installed
//!   installed
//! ```
//!
//! See the module docs ([`crate::updater`]) for what each state waits for.

use statig::prelude::*;

use super::messages::{
    ConnectedReader, TRANSFER_SHARE, TransferCommand, UpdateError, UpdaterInput, UpdaterOutput,
    UpdaterPolicy, UpdaterTimer,
};
use super::update::ReaderSoftwareUpdate;
use crate::runtime::adapter::{StatigCore, StatigMachine};
use crate::runtime::machine::Outbox;
use crate::runtime::table::{MachineSpec, on, state, superstate};

/// The declared table (see [`crate::runtime::table`]).
pub static SPEC: MachineSpec = MachineSpec {
    name: "updater",
    summary: "One reader's software updates: asks the catalog at each connect, installs a required update inside the connect and decides whether the connect proceeds (R13-R16), reports an optional one outside transactions and installs it on request (R17); never installs at 50 % battery or below (R14) or during a transaction.",
    initial: "not_connected",
    states: &[
        state(
            "not_connected",
            None,
            &[
                on("ReaderConnected", &["checking"]),
                on("InstallRequested", &[]),
                on("ReaderDisconnected", &[]),
                on("BatteryReported", &[]),
                on("CatalogAnswered", &[]),
                on("CancelRequested", &[]),
                on("TransactionStarted", &[]),
                on("TransactionEnded", &[]),
                on("ImageDownloaded", &[]),
                on("DownloadFailed", &[]),
                on("ImageVerified", &[]),
                on("ImageRejected", &[]),
                on("BeginAcked", &[]),
                on("ChunksAcked", &[]),
                on("CommitAcked", &[]),
                on("TransferFailed", &[]),
                on("CatalogTimedOut", &[]),
                on("CatalogUnavailable", &[]),
                on("TransferStalled", &[]),
                on("UpdateBecameRequired", &[]),
            ],
        ),
        superstate(
            "connected",
            None,
            &[
                on("ReaderConnected", &["checking"]),
                on("ReaderDisconnected", &["not_connected"]),
                on("BatteryReported", &[]),
                on("TransactionStarted", &[]),
                on("TransactionEnded", &[]),
                on("InstallRequested", &[]),
                on("CancelRequested", &[]),
                on("CatalogAnswered", &[]),
                on("ImageDownloaded", &[]),
                on("DownloadFailed", &[]),
                on("ImageVerified", &[]),
                on("ImageRejected", &[]),
                on("BeginAcked", &[]),
                on("ChunksAcked", &[]),
                on("CommitAcked", &[]),
                on("TransferFailed", &[]),
                on("CatalogTimedOut", &[]),
                on("CatalogUnavailable", &[]),
                on("TransferStalled", &[]),
                on("UpdateBecameRequired", &[]),
            ],
        ),
        state(
            "checking",
            Some("connected"),
            &[
                on(
                    "CatalogAnswered",
                    &["up_to_date", "optional", "downloading", "required"],
                ),
                on("CatalogTimedOut", &["up_to_date"]),
                on("CatalogUnavailable", &["up_to_date"]),
            ],
        ),
        state(
            "up_to_date",
            Some("connected"),
            &[on("CatalogAnswered", &["optional", "required"])],
        ),
        superstate(
            "available",
            Some("connected"),
            &[on("InstallRequested", &["downloading"])],
        ),
        state(
            "optional",
            Some("available"),
            &[
                on("UpdateBecameRequired", &["required"]),
                on("TransactionEnded", &[]),
            ],
        ),
        state("required", Some("available"), &[]),
        superstate(
            "installing",
            Some("connected"),
            &[
                on("CancelRequested", &["optional", "required"]),
                on("TransferFailed", &["optional", "required"]),
                on("TransferStalled", &["optional", "required"]),
                on("ReaderDisconnected", &["not_connected"]),
                on("InstallRequested", &[]),
            ],
        ),
        state(
            "downloading",
            Some("installing"),
            &[
                on("ImageDownloaded", &["verifying"]),
                on("DownloadFailed", &["optional", "required"]),
            ],
        ),
        state(
            "verifying",
            Some("installing"),
            &[
                on("ImageVerified", &["transferring", "optional", "required"]),
                on("ImageRejected", &["optional", "required"]),
            ],
        ),
        state(
            "transferring",
            Some("installing"),
            &[
                on("BeginAcked", &[]),
                on("ChunksAcked", &["committing"]),
                on("TransferStalled", &[]),
            ],
        ),
        state(
            "committing",
            Some("installing"),
            &[on("CommitAcked", &["confirming"])],
        ),
        state(
            "confirming",
            Some("installing"),
            &[
                on("VersionCheckDue", &[]),
                on("RunningVersionReported", &["installed", "optional", "required"]),
                on("TransferFailed", &["optional", "required"]),
                on("ReaderDisconnected", &["not_connected"]),
                on("CancelRequested", &[]),
            ],
        ),
        state("installed", Some("connected"), &[]),
    ],
};

type Out = Outbox<UpdaterOutput, UpdaterTimer>;

/// Where an install's transfer stands.
#[derive(Debug, Clone, Copy, Default)]
struct Transfer {
    /// The reader accepted the begin.
    begun: bool,
    /// Bytes the reader acknowledged.
    acked: u32,
    /// Bytes sent so far (acknowledged or in flight).
    sent_to: u32,
    /// The last progress reported, so it never goes back.
    progress: f32,
    /// Stalls in a row.
    stalls: u8,
    /// `Begin` went to the reader (the image passed its checks).
    begin_sent: bool,
}

/// The statig side: what the updater remembers across states.
#[derive(Debug)]
pub struct UpdaterCore {
    policy: UpdaterPolicy,
    /// The connected reader, as last reported.
    reader: Option<ConnectedReader>,
    in_transaction: bool,
    /// The update on offer (available, installing or failed): the reader's
    /// `available_update`.
    update: Option<ReaderSoftwareUpdate>,
    /// `UpdateAvailable` was sent for `update` in this connection.
    reported: bool,
    /// A connect waits for the outcome of this install (R13).
    connect_waits: bool,
    transfer: Transfer,
}

#[state_machine(
    initial = "State::not_connected()",
    visibility = "pub",
    state(derive(Debug, Clone, strum::IntoStaticStr, strum::VariantNames)),
    superstate(derive(Debug, strum::VariantNames)),
    after_transition = "Self::record_transition"
)]
impl UpdaterCore {
    /// No reader. `ReaderConnected` → `checking` (output `CheckCatalog`);
    /// `InstallRequested` is answered `InstallFinished` with
    /// `NotConnected`; everything else is handled in place.
    #[state]
    fn not_connected(&mut self, context: &mut Out, event: &UpdaterInput) -> Outcome<State> {
        match event {
            UpdaterInput::ReaderConnected(reader) => self.connect(context, reader),
            UpdaterInput::InstallRequested => {
                context.emit(UpdaterOutput::InstallFinished {
                    update: None,
                    error: Some(UpdateError::NotConnected),
                });
                Handled
            }
            _ => Handled,
        }
    }

    /// The reader is connected. `ReaderDisconnected` → `not_connected`;
    /// `ReaderConnected` (a reconnect the owner did not report the loss
    /// of) → `checking` again. Keeps the battery and whether a transaction
    /// runs. `InstallRequested` with nothing on offer is answered
    /// `InstallFinished` with no update and no error (R17). Anything else
    /// is handled in place.
    #[superstate]
    fn connected(&mut self, context: &mut Out, event: &UpdaterInput) -> Outcome<State> {
        match event {
            UpdaterInput::ReaderConnected(reader) => self.connect(context, reader),
            UpdaterInput::ReaderDisconnected => self.disconnect(context),
            UpdaterInput::BatteryReported { level } => {
                if let Some(reader) = &mut self.reader {
                    reader.battery_level = *level;
                }
                Handled
            }
            UpdaterInput::TransactionStarted => {
                self.in_transaction = true;
                Handled
            }
            UpdaterInput::TransactionEnded => {
                self.in_transaction = false;
                Handled
            }
            UpdaterInput::InstallRequested => {
                context.emit(UpdaterOutput::InstallFinished {
                    update: None,
                    error: None,
                });
                Handled
            }
            _ => Handled,
        }
    }

    /// Waiting for the catalog; the connect waits too. `CatalogAnswered`
    /// with no update (or the version the reader runs) → `up_to_date`
    /// (`ConnectMayProceed`); with an optional one → `optional`
    /// (`ConnectMayProceed`, then `UpdateAvailable`); with a required one →
    /// `transferring` (`InstallStarted`), or `required` when the battery is
    /// at 50 % or below (R14; `InstallFinished` with `BatteryTooLow`, then
    /// `ConnectMayProceed` or `ConnectMustFail` by R15). `CatalogTimedOut` → `up_to_date` (`ConnectMayProceed`: the
    /// update waits for the next connect).
    #[state(superstate = "connected")]
    fn checking(&mut self, context: &mut Out, event: &UpdaterInput) -> Outcome<State> {
        match event {
            UpdaterInput::CatalogAnswered {
                update,
                last_latest_run_at,
            } => {
                context.cancel_timer(UpdaterTimer::CatalogTimeout);
                if let (Some(reader), Some(at)) = (&mut self.reader, last_latest_run_at) {
                    reader.last_latest_run_at = Some(*at);
                }
                self.catalog_answered(context, update.clone())
            }
            UpdaterInput::CatalogTimedOut | UpdaterInput::CatalogUnavailable => {
                context.cancel_timer(UpdaterTimer::CatalogTimeout);
                self.connect_waits = false;
                context.emit(UpdaterOutput::ConnectMayProceed);
                Transition(State::up_to_date())
            }
            _ => Super,
        }
    }

    /// The reader runs the latest software, or the catalog did not answer
    /// in time. A late `CatalogAnswered` with an update (the connect went
    /// on without it) → `optional` (reported outside transactions) or
    /// `required` (installed at the next connect).
    #[state(superstate = "connected")]
    fn up_to_date(&mut self, context: &mut Out, event: &UpdaterInput) -> Outcome<State> {
        match event {
            UpdaterInput::CatalogAnswered {
                update: Some(update), ..
            } if self.update.is_none() => {
                if self
                    .reader
                    .as_ref()
                    .is_some_and(|r| r.software_version == update.version)
                {
                    return Handled;
                }
                self.update = Some(update.clone());
                self.back_to_available(context)
            }
            _ => Super,
        }
    }

    /// An update is on offer and nothing installs. `InstallRequested` →
    /// `transferring` (`InstallStarted`); while a transaction runs, or at
    /// 50 % battery or below (R14), it is answered in place
    /// `InstallFinished` with `TransactionInProgress` or `BatteryTooLow`.
    #[superstate(superstate = "connected")]
    fn available(&mut self, context: &mut Out, event: &UpdaterInput) -> Outcome<State> {
        match event {
            UpdaterInput::InstallRequested => self.install(context),
            _ => Super,
        }
    }

    /// An optional update, reported to the app outside transactions (R17).
    /// `UpdateBecameRequired` (its `required_at` came) → `required`;
    /// `TransactionEnded` reports it if a transaction held it back.
    #[state(superstate = "available")]
    fn optional(&mut self, context: &mut Out, event: &UpdaterInput) -> Outcome<State> {
        match event {
            UpdaterInput::UpdateBecameRequired => Transition(State::required()),
            UpdaterInput::TransactionEnded => {
                self.in_transaction = false;
                self.report_available(context);
                Handled
            }
            _ => Super,
        }
    }

    /// A required update not installed in this connection: its
    /// `required_at` came while connected (installed at the next connect,
    /// R17), or its install at this connect failed, was cancelled or could
    /// not start (retried at the next connect, R15). Installed now on
    /// request.
    #[state(superstate = "available")]
    fn required(event: &UpdaterInput) -> Outcome<State> {
        let _ = event;
        Super
    }

    /// An install runs. `CancelRequested`, when the update is cancelable
    /// (R16): `Abort`, `InstallFinished` with `Canceled`; during a connect
    /// `ConnectMustFail(UnsupportedReaderVersion)` → `required`, otherwise
    /// → `optional` or `required` (by its `required_at`). Not cancelable:
    /// ignored. `TransferFailed`, and a `TransferStalled` that gives up
    /// (see the leaves): `InstallFinished` with the error → the same
    /// states, the connect deciding by R15 (`ConnectMayProceed` within 30
    /// days of the latest software, `ConnectMustFail` otherwise).
    /// `ReaderDisconnected` → `not_connected` (`InstallFinished` with
    /// `ReaderDisconnected`). `InstallRequested` is ignored (it runs).
    #[superstate(superstate = "connected")]
    fn installing(&mut self, context: &mut Out, event: &UpdaterInput) -> Outcome<State> {
        match event {
            UpdaterInput::CancelRequested => self.cancel(context),
            UpdaterInput::TransferFailed { error } => {
                context.emit(UpdaterOutput::Transfer(TransferCommand::Abort));
                self.install_failed(context, *error)
            }
            UpdaterInput::ReaderDisconnected => {
                let update = self.update.clone();
                context.emit(UpdaterOutput::InstallFinished {
                    update,
                    error: Some(UpdateError::ReaderDisconnected),
                });
                self.disconnect(context)
            }
            UpdaterInput::InstallRequested => Handled,
            _ => Super,
        }
    }

    /// The update's image is downloaded from the catalog.
    /// `ImageDownloaded` → `verifying` (`VerifyImage`); `DownloadFailed`
    /// fails the install with `DownloadFailed`.
    #[state(superstate = "installing")]
    fn downloading(&mut self, context: &mut Out, event: &UpdaterInput) -> Outcome<State> {
        match event {
            UpdaterInput::ImageDownloaded => {
                if let Some(update) = self.update.clone() {
                    context.emit(UpdaterOutput::VerifyImage(update));
                }
                Transition(State::verifying())
            }
            UpdaterInput::DownloadFailed => self.install_failed(context, UpdateError::DownloadFailed),
            _ => Super,
        }
    }

    /// The image is checked before any byte of it goes to the reader
    /// (R19). `ImageVerified` → `transferring` (`Begin`), unless a
    /// transaction started or the battery fell meanwhile (the install fails
    /// with that error); `ImageRejected`
    /// fails the install naming the check, nothing sent.
    #[state(superstate = "installing")]
    fn verifying(&mut self, context: &mut Out, event: &UpdaterInput) -> Outcome<State> {
        match event {
            UpdaterInput::ImageVerified => {
                if let Some(error) = self.refusal() {
                    // A transaction started, or the battery fell, while the
                    // image was fetched: no begin (R14, R20).
                    return self.install_failed(context, error);
                }
                if let Some(update) = self.update.clone() {
                    self.transfer.begin_sent = true;
                    context.emit(UpdaterOutput::Transfer(self.begin_command(&update)));
                    context.start_timer(UpdaterTimer::TransferStall, self.policy.stall_after);
                }
                Transition(State::transferring())
            }
            UpdaterInput::ImageRejected { check } => {
                self.install_failed(context, UpdateError::ImageRejected { check: *check })
            }
            _ => Super,
        }
    }

    /// The image goes to the reader. `BeginAcked` asks the connection for
    /// the whole image, `windows_in_flight` windows of chunks in flight
    /// (the connection sends more as acknowledgements come); each
    /// `ChunksAcked` reports progress, and the last one → `committing`
    /// (`Commit`). `TransferStalled` resends from the last
    /// acknowledged byte (or the begin), and after `max_stalls` in a row
    /// fails the install with `TransferTimedOut`. A begin never answered is
    /// not resent when a transaction started or the battery fell to 50 %
    /// or below meanwhile: the install fails with that error.
    #[state(superstate = "installing")]
    fn transferring(&mut self, context: &mut Out, event: &UpdaterInput) -> Outcome<State> {
        match event {
            UpdaterInput::BeginAcked => {
                if !self.transfer.begun {
                    self.transfer.begun = true;
                    self.transfer.stalls = 0;
                    self.send_more(context);
                }
                Handled
            }
            UpdaterInput::ChunksAcked { up_to_offset } => self.chunks_acked(context, *up_to_offset),
            UpdaterInput::TransferStalled => self.stalled(context),
            _ => Super,
        }
    }

    /// The reader checks the image and boots it on trial. `CommitAcked` →
    /// `confirming`, the `ConfirmWindow` timer armed. `TransferStalled`
    /// fails the install with `TransferTimedOut`.
    #[state(superstate = "installing")]
    fn committing(&mut self, context: &mut Out, event: &UpdaterInput) -> Outcome<State> {
        match event {
            UpdaterInput::CommitAcked => {
                context.cancel_timer(UpdaterTimer::TransferStall);
                context.start_timer(UpdaterTimer::ConfirmWindow, self.policy.confirm_after);
                Transition(State::confirming())
            }
            UpdaterInput::TransferStalled => self.install_failed(context, UpdateError::TransferTimedOut),
            _ => Super,
        }
    }

    /// The new image runs on trial and must confirm itself (R19): a
    /// transfer the reader acknowledged is not yet an install. When
    /// `VersionCheckDue`, the reader is asked which software it runs
    /// (`CheckRunningVersion`). `RunningVersionReported` with the update's
    /// version → `installed` (progress 1, `InstallFinished` with no error,
    /// `ConnectMayProceed` during a connect); with another version the
    /// install fails with `NotActivated`, as it does when the link drops
    /// first (an image that fails its trial crashes the reader) or the
    /// question fails. Past the commit nothing can be cancelled.
    #[state(superstate = "installing")]
    fn confirming(&mut self, context: &mut Out, event: &UpdaterInput) -> Outcome<State> {
        match event {
            UpdaterInput::VersionCheckDue => {
                context.emit(UpdaterOutput::Transfer(TransferCommand::CheckRunningVersion));
                Handled
            }
            UpdaterInput::RunningVersionReported { software_version } => {
                let activated = self
                    .update
                    .as_ref()
                    .is_some_and(|update| update.version == *software_version);
                if activated {
                    self.installed_now(context)
                } else {
                    self.install_failed(context, UpdateError::NotActivated)
                }
            }
            UpdaterInput::TransferFailed { error } => self.install_failed(context, *error),
            UpdaterInput::ReaderDisconnected => {
                context.emit(UpdaterOutput::InstallFinished {
                    update: self.update.clone(),
                    error: Some(UpdateError::NotActivated),
                });
                self.disconnect(context)
            }
            UpdaterInput::CancelRequested => Handled,
            _ => Super,
        }
    }

    /// The update was installed in this connection; the reader runs it.
    #[state(superstate = "connected")]
    fn installed(event: &UpdaterInput) -> Outcome<State> {
        let _ = event;
        Super
    }
}

impl UpdaterCore {
    fn connect(&mut self, context: &mut Out, reader: &ConnectedReader) -> Outcome<State> {
        self.cancel_timers(context);
        self.reader = Some(reader.clone());
        self.in_transaction = false;
        self.update = None;
        self.reported = false;
        self.connect_waits = true;
        self.transfer = Transfer::default();
        context.emit(UpdaterOutput::CheckCatalog {
            location: reader.location.clone(),
            device_type: reader.device_type,
            software_version: reader.software_version.clone(),
        });
        context.start_timer(UpdaterTimer::CatalogTimeout, self.policy.catalog_timeout);
        Transition(State::checking())
    }

    fn disconnect(&mut self, context: &mut Out) -> Outcome<State> {
        self.cancel_timers(context);
        self.reader = None;
        self.in_transaction = false;
        self.update = None;
        self.reported = false;
        self.connect_waits = false;
        Transition(State::not_connected())
    }

    fn cancel_timers(&mut self, context: &mut Out) {
        context.cancel_timer(UpdaterTimer::CatalogTimeout);
        context.cancel_timer(UpdaterTimer::TransferStall);
        context.cancel_timer(UpdaterTimer::RequiredAt);
        context.cancel_timer(UpdaterTimer::ConfirmWindow);
    }

    fn catalog_answered(
        &mut self,
        context: &mut Out,
        update: Option<ReaderSoftwareUpdate>,
    ) -> Outcome<State> {
        let runs = self.reader.as_ref().map(|r| r.software_version.as_str());
        let Some(update) = update.filter(|u| Some(u.version.as_str()) != runs) else {
            self.connect_waits = false;
            context.emit(UpdaterOutput::ConnectMayProceed);
            return Transition(State::up_to_date());
        };
        self.update = Some(update.clone());
        if update.is_required_at(context.now()) {
            // R13: installed inside the connect, which waits for it.
            return self.install(context);
        }
        self.connect_waits = false;
        context.emit(UpdaterOutput::ConnectMayProceed);
        self.back_to_available(context)
    }

    /// Back to offering the update after an install did not happen:
    /// `required` once its `required_at` has come, `optional` otherwise
    /// (reported if it was not yet, and with its `required_at` timer).
    fn back_to_available(&mut self, context: &mut Out) -> Outcome<State> {
        let Some(update) = &self.update else {
            return Transition(State::up_to_date());
        };
        let now = context.now();
        if update.is_required_at(now) {
            return Transition(State::required());
        }
        let until = std::time::Duration::from_millis(update.required_at - now);
        context.start_timer(UpdaterTimer::RequiredAt, until);
        self.report_available(context);
        Transition(State::optional())
    }

    /// Reports the optional update once per connection, never during a
    /// transaction (R17).
    fn report_available(&mut self, context: &mut Out) {
        if self.in_transaction || self.reported {
            return;
        }
        if let Some(update) = &self.update {
            self.reported = true;
            context.emit(UpdaterOutput::UpdateAvailable(update.clone()));
        }
    }

    /// Why no install may start now, if it may not: a transaction runs
    /// (R20), or the battery is at the minimum or below (R14).
    fn refusal(&self) -> Option<UpdateError> {
        let battery_ok = self
            .reader
            .as_ref()
            .is_some_and(|r| r.battery_level > self.policy.min_battery);
        if self.in_transaction {
            Some(UpdateError::TransactionInProgress)
        } else if !battery_ok {
            Some(UpdateError::BatteryTooLow)
        } else {
            None
        }
    }

    /// Starts installing `self.update` if the reader can take it: battery
    /// above the minimum (R14), no transaction (R20).
    fn install(&mut self, context: &mut Out) -> Outcome<State> {
        let (Some(update), Some(device_type)) =
            (self.update.clone(), self.reader.as_ref().map(|r| r.device_type))
        else {
            return Handled;
        };
        if let Some(error) = self.refusal() {
            if self.connect_waits {
                return self.install_failed(context, error);
            }
            context.emit(UpdaterOutput::InstallFinished {
                update: Some(update),
                error: Some(error),
            });
            return Handled;
        }
        context.cancel_timer(UpdaterTimer::RequiredAt);
        self.transfer = Transfer::default();
        context.emit(UpdaterOutput::InstallStarted {
            cancelable: update.is_cancelable(),
            update: update.clone(),
        });
        context.emit(UpdaterOutput::InstallProgress { progress: 0.0 });
        context.emit(UpdaterOutput::DownloadImage { device_type, update });
        Transition(State::downloading())
    }

    fn begin_command(&self, update: &ReaderSoftwareUpdate) -> TransferCommand {
        TransferCommand::Begin {
            version: update.version.clone(),
            size: update.size,
            sha256: update.sha256,
            window: self.policy.window.max(1),
        }
    }

    fn size(&self) -> u32 {
        self.update.as_ref().map_or(0, |u| u.size)
    }

    /// Asks for the image bytes not sent yet, with `windows_in_flight`
    /// windows of chunks as the connection's credit: the connection keeps
    /// that many in flight and sends more as acknowledgements come.
    fn send_more(&mut self, context: &mut Out) {
        let size = self.size();
        let from = self.transfer.sent_to.max(self.transfer.acked);
        if size > from {
            let in_flight_chunks =
                self.policy.window.max(1) as u16 * self.policy.windows_in_flight.max(1) as u16;
            context.emit(UpdaterOutput::Transfer(TransferCommand::SendChunks {
                from,
                to: size,
                chunk_len: self.policy.chunk_len.max(1),
                in_flight_chunks,
            }));
            self.transfer.sent_to = size;
        }
    }

    fn progress(&mut self, context: &mut Out, progress: f32) {
        let progress = progress.clamp(0.0, 1.0);
        if progress > self.transfer.progress {
            self.transfer.progress = progress;
            context.emit(UpdaterOutput::InstallProgress { progress });
        }
    }

    fn chunks_acked(&mut self, context: &mut Out, up_to_offset: u32) -> Outcome<State> {
        let size = self.size();
        let up_to = up_to_offset.min(size);
        if !self.transfer.begun || (up_to <= self.transfer.acked && up_to < size) {
            return Handled;
        }
        self.transfer.acked = up_to;
        self.transfer.stalls = 0;
        let share = if size == 0 {
            1.0
        } else {
            up_to as f64 / size as f64
        };
        self.progress(context, (share * TRANSFER_SHARE as f64) as f32);
        context.start_timer(UpdaterTimer::TransferStall, self.policy.stall_after);
        if up_to >= size {
            context.emit(UpdaterOutput::Transfer(TransferCommand::Commit));
            return Transition(State::committing());
        }
        Handled
    }

    fn stalled(&mut self, context: &mut Out) -> Outcome<State> {
        self.transfer.stalls += 1;
        if self.transfer.stalls > self.policy.max_stalls {
            context.emit(UpdaterOutput::Transfer(TransferCommand::Abort));
            return self.install_failed(context, UpdateError::TransferTimedOut);
        }
        if let (false, Some(error)) = (self.transfer.begun, self.refusal()) {
            // The begin was lost, and meanwhile a transaction started or
            // the battery fell: resending it would start an install the
            // reader refuses (R14, R20).
            context.emit(UpdaterOutput::Transfer(TransferCommand::Abort));
            return self.install_failed(context, error);
        }
        if let (false, Some(update)) = (self.transfer.begun, &self.update) {
            let begin = self.begin_command(update);
            context.emit(UpdaterOutput::Transfer(begin));
        } else {
            // The chunks in flight were lost: resend from the last byte
            // the reader acknowledged.
            self.transfer.sent_to = self.transfer.acked;
            self.send_more(context);
        }
        context.start_timer(UpdaterTimer::TransferStall, self.policy.stall_after);
        Handled
    }

    fn installed_now(&mut self, context: &mut Out) -> Outcome<State> {
        context.cancel_timer(UpdaterTimer::TransferStall);
        self.progress(context, 1.0);
        let update = self.update.take();
        if let (Some(reader), Some(update)) = (&mut self.reader, &update) {
            reader.software_version = update.version.clone();
        }
        context.emit(UpdaterOutput::InstallFinished { update, error: None });
        if std::mem::take(&mut self.connect_waits) {
            context.emit(UpdaterOutput::ConnectMayProceed);
        }
        Transition(State::installed())
    }

    fn cancel(&mut self, context: &mut Out) -> Outcome<State> {
        if !self.update.as_ref().is_some_and(|u| u.is_cancelable()) {
            // R16: an incremental-only update offered no cancelable.
            return Handled;
        }
        context.cancel_timer(UpdaterTimer::TransferStall);
        if self.transfer.begin_sent {
            context.emit(UpdaterOutput::Transfer(TransferCommand::Abort));
        }
        context.emit(UpdaterOutput::InstallFinished {
            update: self.update.clone(),
            error: Some(UpdateError::Canceled),
        });
        if std::mem::take(&mut self.connect_waits) {
            context.emit(UpdaterOutput::ConnectMustFail(
                UpdateError::UnsupportedReaderVersion,
            ));
            return Transition(State::required());
        }
        self.back_to_available(context)
    }

    /// The install did not happen or did not finish: reports it, and
    /// during a connect decides it by R15.
    fn install_failed(&mut self, context: &mut Out, error: UpdateError) -> Outcome<State> {
        context.cancel_timer(UpdaterTimer::TransferStall);
        context.cancel_timer(UpdaterTimer::ConfirmWindow);
        context.emit(UpdaterOutput::InstallFinished {
            update: self.update.clone(),
            error: Some(error),
        });
        if std::mem::take(&mut self.connect_waits) {
            let now = context.now();
            let grace = self.policy.latest_run_grace_ms;
            let recent = self
                .reader
                .as_ref()
                .and_then(|r| r.last_latest_run_at)
                .is_some_and(|at| at <= now && now - at <= grace);
            context.emit(if recent {
                UpdaterOutput::ConnectMayProceed
            } else {
                UpdaterOutput::ConnectMustFail(error)
            });
            return Transition(State::required());
        }
        self.back_to_available(context)
    }
}

/// The updater as a runtime [`Machine`](crate::runtime::Machine).
pub type Updater = StatigMachine<UpdaterCore>;

impl StatigCore for UpdaterCore {
    type Output = UpdaterOutput;
    type Timer = UpdaterTimer;

    fn spec() -> &'static MachineSpec {
        &SPEC
    }

    fn timer_elapsed(timer: UpdaterTimer) -> UpdaterInput {
        match timer {
            UpdaterTimer::CatalogTimeout => UpdaterInput::CatalogTimedOut,
            UpdaterTimer::TransferStall => UpdaterInput::TransferStalled,
            UpdaterTimer::RequiredAt => UpdaterInput::UpdateBecameRequired,
            UpdaterTimer::ConfirmWindow => UpdaterInput::VersionCheckDue,
        }
    }
}

impl Updater {
    /// An updater in `not_connected`.
    pub fn new(policy: UpdaterPolicy) -> Self {
        StatigMachine::from_core(UpdaterCore {
            policy,
            reader: None,
            in_transaction: false,
            update: None,
            reported: false,
            connect_waits: false,
            transfer: Transfer::default(),
        })
    }

    /// Its policy.
    pub fn policy(&self) -> UpdaterPolicy {
        self.core().policy
    }

    /// The update on offer, if any: the reader's `available_update` (R17).
    pub fn available_update(&self) -> Option<&ReaderSoftwareUpdate> {
        self.core().update.as_ref()
    }

    /// Whether a connect is waiting for this updater's
    /// `ConnectMayProceed` or `ConnectMustFail`.
    pub fn connect_waits(&self) -> bool {
        self.core().connect_waits
    }
}

impl Default for Updater {
    fn default() -> Self {
        Self::new(UpdaterPolicy::default())
    }
}
