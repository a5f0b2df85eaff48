//! What the updater takes in, what it asks its owner to do, how it is
//! configured, and how an update fails.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::update::{ReaderSoftwareUpdate, Sha256Digest};
use crate::backend::LocationId;
use crate::protocol::ErrorCode;
use crate::reader::DeviceType;
use crate::runtime::Millis;

/// One day in ms.
const DAY_MS: Millis = 24 * 60 * 60 * 1000;

/// How the updater installs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UpdaterPolicy {
    /// An install starts only when the reader's battery level is above
    /// this (R14): 0.5.
    pub min_battery: f32,
    /// A required install that fails does not fail the connect when the
    /// reader ran the latest software for its location at most this long
    /// ago (R15): 30 days.
    pub latest_run_grace_ms: Millis,
    /// How long the catalog has to answer before the connect proceeds
    /// without it.
    pub catalog_timeout: Duration,
    /// The image bytes each chunk carries (at most
    /// [`crate::protocol::MAX_CHUNK_LEN`]).
    pub chunk_len: u16,
    /// The reader acknowledges every `window` chunks (sent in
    /// `UpdateBegin`).
    pub window: u8,
    /// How many windows may be unacknowledged at once: the transfer keeps
    /// the link busy while an acknowledgement is on its way.
    pub windows_in_flight: u8,
    /// A transfer with no acknowledgement for this long has stalled: it
    /// resends from the last acknowledged byte (or the begin), and a
    /// commit not answered in this long has failed.
    pub stall_after: Duration,
    /// How long after the commit's answer the updater asks the reader
    /// which software it runs: the new image must have confirmed itself
    /// by then (a reader falls back to its old image when the new one
    /// does not). 2 s: twice the simulated reader's own confirm delay.
    pub confirm_after: Duration,
    /// After this many stalls in a row the install fails
    /// ([`UpdateError::TransferTimedOut`]).
    pub max_stalls: u8,
}

impl Default for UpdaterPolicy {
    fn default() -> Self {
        Self {
            min_battery: 0.5,
            latest_run_grace_ms: 30 * DAY_MS,
            catalog_timeout: Duration::from_secs(30),
            chunk_len: crate::protocol::MAX_CHUNK_LEN as u16,
            window: 8,
            windows_in_flight: 2,
            stall_after: Duration::from_secs(10),
            confirm_after: Duration::from_secs(2),
            max_stalls: 3,
        }
    }
}

impl UpdaterPolicy {
    /// The bytes of one window.
    pub fn window_bytes(&self) -> u32 {
        self.chunk_len.max(1) as u32 * self.window.max(1) as u32
    }
}

/// Share of the progress the transfer of the image covers; the commit (the
/// reader checks the digest and switches slots) covers the rest.
pub const TRANSFER_SHARE: f32 = 0.95;

/// What the updater knows of a reader when it connects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectedReader {
    /// The location it is connected to: catalogs are per location.
    #[serde(default)]
    pub location: LocationId,
    /// Its model: the catalog answers per device type.
    pub device_type: DeviceType,
    /// The software it runs.
    pub software_version: String,
    /// Its battery level in [0, 1] (R14).
    pub battery_level: f32,
    /// When it last ran the latest software for its location (ms of the
    /// runtime's clock), as the backend recorded it; `None` if never
    /// (R15).
    pub last_latest_run_at: Option<Millis>,
}

/// What happens to one reader's updater: facts from its owner (the reader
/// session), answers from the catalog, the app's calls, the transfer's
/// progress, and the updater's own timers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
pub enum UpdaterInput {
    /// The reader connected (hello answered; the app's connect, a
    /// reconnect, the connect after a reboot): the updater asks the
    /// catalog, and the connect waits for [`UpdaterOutput::ConnectMayProceed`]
    /// or [`UpdaterOutput::ConnectMustFail`] (R13).
    ReaderConnected(ConnectedReader),
    /// The reader's connection ended, for any reason. An install under
    /// way is cut off (the reader keeps its old image, R19).
    ReaderDisconnected,
    /// The reader reported its battery (R18a).
    BatteryReported {
        /// Level in [0, 1].
        level: f32,
    },
    /// The catalog answered [`UpdaterOutput::CheckCatalog`]: the update for
    /// this reader's software, if any.
    CatalogAnswered {
        /// The update, if the reader's software is not the latest.
        update: Option<ReaderSoftwareUpdate>,
        /// When the backend last saw the reader run the latest software
        /// for its location, if it says (R15); replaces what
        /// [`ConnectedReader`] told.
        last_latest_run_at: Option<Millis>,
    },
    /// The app asked to install the available update
    /// (`install_available_update`, R17).
    InstallRequested,
    /// The app used the install's cancelable (R16).
    CancelRequested,
    /// A transaction started on the reader: no update is reported or
    /// installed until it ends (R17, R20). Feed it when the owner asks the
    /// reader for one.
    TransactionStarted,
    /// The transaction ended (or its start failed).
    TransactionEnded,
    /// The image of [`UpdaterOutput::DownloadImage`] arrived whole.
    ImageDownloaded,
    /// The image could not be downloaded.
    DownloadFailed,
    /// The image passed the checks of [`UpdaterOutput::VerifyImage`].
    ImageVerified,
    /// The image failed a check: nothing is sent to the reader (R19).
    ImageRejected {
        /// Which check.
        check: IntegrityCheck,
    },
    /// The reader accepted [`TransferCommand::Begin`].
    BeginAcked,
    /// The reader acknowledged the image up to `up_to_offset`
    /// (`UpdateChunkAck`).
    ChunksAcked {
        /// Bytes `0 .. up_to_offset` are written.
        up_to_offset: u32,
    },
    /// The reader accepted [`TransferCommand::Commit`]: the new image was
    /// booted, on trial. The install succeeds only once the reader is seen
    /// running it ([`UpdaterInput::RunningVersionReported`]).
    CommitAcked,
    /// The reader answered [`TransferCommand::CheckRunningVersion`]: the
    /// software it runs now.
    RunningVersionReported {
        /// The version it reports.
        software_version: String,
    },
    /// The transfer failed: the reader refused a command
    /// ([`UpdateError::from_reader`]), or the command could not be sent.
    TransferFailed {
        /// Why.
        error: UpdateError,
    },
    /// The catalog could not be asked (the backend failed): the connect
    /// goes on without it, as when it times out.
    CatalogUnavailable,
    /// Timer: the catalog did not answer in time.
    CatalogTimedOut,
    /// Timer: no acknowledgement came for a while.
    TransferStalled,
    /// Timer: the optional update's `required_at` has come while the
    /// reader is connected (R17).
    UpdateBecameRequired,
    /// Timer: the new image has had time to confirm itself after its
    /// trial boot; time to ask the reader which software it runs.
    VersionCheckDue,
}

/// The updater's timers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UpdaterTimer {
    /// Elapses as [`UpdaterInput::CatalogTimedOut`].
    CatalogTimeout,
    /// Elapses as [`UpdaterInput::TransferStalled`].
    TransferStall,
    /// Elapses as [`UpdaterInput::UpdateBecameRequired`].
    RequiredAt,
    /// Elapses as [`UpdaterInput::VersionCheckDue`].
    ConfirmWindow,
}

/// What to send the reader for an install: the owner turns each into
/// frames of the wire protocol and feeds back what the reader answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferCommand {
    /// `UpdateBegin { version, size, sha256, window }`; its `Ack` is
    /// [`UpdaterInput::BeginAcked`].
    Begin {
        /// The version the image carries.
        version: String,
        /// The image's size.
        size: u32,
        /// The image's digest.
        sha256: Sha256Digest,
        /// Chunks per acknowledgement.
        window: u8,
    },
    /// `UpdateChunk` frames carrying image bytes `from .. to`, in order,
    /// at most `chunk_len` bytes each, with at most `in_flight_chunks`
    /// unacknowledged at once: the connection sends the next as the
    /// reader's acknowledgements come (flow control by credits). Every
    /// `UpdateChunkAck` is [`UpdaterInput::ChunksAcked`]. A new
    /// `SendChunks` replaces the one under way.
    SendChunks {
        /// First byte.
        from: u32,
        /// One past the last byte.
        to: u32,
        /// Bytes per chunk, at most.
        chunk_len: u16,
        /// Chunks in flight, at most: `window × windows_in_flight`.
        #[serde(default = "one_chunk")]
        in_flight_chunks: u16,
    },
    /// `UpdateCommit`; its `Ack` is [`UpdaterInput::CommitAcked`].
    Commit,
    /// `UpdateAbort`: the reader drops the half-written image and keeps
    /// its old one. Nothing to feed back.
    Abort,
    /// `Hello` again, after the commit: the reader's `ReaderInfo` tells the
    /// software it runs, fed back as
    /// [`UpdaterInput::RunningVersionReported`].
    CheckRunningVersion,
}

/// What the updater asks its owner to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UpdaterOutput {
    /// Ask the catalog for this reader's update; feed the answer back as
    /// [`UpdaterInput::CatalogAnswered`].
    CheckCatalog {
        /// The location the reader is connected to.
        location: LocationId,
        /// The reader's model.
        device_type: DeviceType,
        /// The software it runs.
        software_version: String,
    },
    /// Download the update's image; feed back
    /// [`UpdaterInput::ImageDownloaded`] or [`UpdaterInput::DownloadFailed`].
    DownloadImage {
        /// The reader's model: images are per device type.
        device_type: DeviceType,
        /// The update.
        update: ReaderSoftwareUpdate,
    },
    /// Check the downloaded image before any byte of it goes to the reader
    /// (R19); feed back [`UpdaterInput::ImageVerified`] or
    /// [`UpdaterInput::ImageRejected`].
    VerifyImage(ReaderSoftwareUpdate),
    /// Tell the app an optional update is available
    /// (`UpdateAvailable(update)`, R17); keep it as the reader's
    /// `available_update`. Never sent while a transaction runs: held back
    /// until it ends.
    UpdateAvailable(ReaderSoftwareUpdate),
    /// An install started (`UpdateInstallStarted`, R13): offer the app a
    /// cancelable when `cancelable` (R16).
    InstallStarted {
        /// The update.
        update: ReaderSoftwareUpdate,
        /// Whether the install can be cancelled.
        cancelable: bool,
    },
    /// The install's progress in [0, 1], never going back
    /// (`UpdateInstallProgress`).
    InstallProgress {
        /// The share done.
        progress: f32,
    },
    /// The install ended (`UpdateInstallFinished`): with no error it runs;
    /// with no update, nothing was pending.
    InstallFinished {
        /// The update, if there was one.
        update: Option<ReaderSoftwareUpdate>,
        /// Why it failed, if it did.
        error: Option<UpdateError>,
    },
    /// The connect may finish: no required update, or it installed, or it
    /// failed within the 30-day grace (R15).
    ConnectMayProceed,
    /// The connect must fail with this error: a required update failed and
    /// the reader has not run the latest software within 30 days (R15), or
    /// the app cancelled it (R16).
    ConnectMustFail(UpdateError),
    /// Send the reader this.
    Transfer(TransferCommand),
}

/// Why an update did not install, or a connect failed because of one.
/// Every kind has a stable [`code`](Self::code); as JSON it is `{"code":
/// ..., "message": ..., ...fields}` ([`crate::error_data`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
#[non_exhaustive]
pub enum UpdateError {
    /// The reader's battery is at or below 50 % (R14).
    ///
    /// Code: `battery_too_low`.
    #[error("the reader's battery must be above 50 % to install an update")]
    BatteryTooLow,
    /// A transaction runs on the reader (R17, R20).
    ///
    /// Code: `transaction_in_progress`.
    #[error("a transaction is in progress on the reader")]
    TransactionInProgress,
    /// The app cancelled the install (R16).
    ///
    /// Code: `update_canceled`.
    #[error("the update was cancelled")]
    Canceled,
    /// A required update was cancelled, so the reader's software is not
    /// supported and it cannot be connected (R16).
    ///
    /// Code: `unsupported_reader_version`.
    #[error("the reader's software version is no longer supported: its required update was cancelled")]
    UnsupportedReaderVersion,
    /// The reader failed writing the image; it keeps its old one.
    ///
    /// Code: `install_failed`.
    #[error("the reader failed to install the update")]
    InstallFailed,
    /// The image did not match its digest; the reader keeps its old one.
    ///
    /// Code: `digest_mismatch`.
    #[error("the update image did not match its digest")]
    DigestMismatch,
    /// The reader refused the install: busy, or the image is not one it
    /// takes.
    ///
    /// Code: `reader_refused_update`.
    #[error("the reader refused the update")]
    ReaderRefused,
    /// The reader stopped acknowledging the transfer.
    ///
    /// Code: `update_transfer_timed_out`.
    #[error("the reader stopped acknowledging the update transfer")]
    TransferTimedOut,
    /// The reader disconnected during the install; it keeps its old image.
    ///
    /// Code: `reader_disconnected_during_update`.
    #[error("the reader disconnected during the install")]
    ReaderDisconnected,
    /// No reader is connected.
    ///
    /// Code: `reader_not_connected`.
    #[error("the reader is not connected")]
    NotConnected,
    /// The image could not be downloaded from the catalog.
    ///
    /// Code: `update_download_failed`.
    #[error("the update image could not be downloaded")]
    DownloadFailed,
    /// The image failed a check before any of it was sent to the reader
    /// (R19).
    ///
    /// Code: `update_image_rejected`.
    #[error("the update image failed its {check} check; nothing was sent to the reader")]
    ImageRejected {
        /// Which check.
        check: IntegrityCheck,
    },
    /// The image was written and committed, but the reader does not run
    /// it: after the commit it reported another version, or it dropped the
    /// link before it could be asked (a new image that fails to confirm
    /// itself crashes and the reader falls back to its old one, R19).
    ///
    /// Code: `update_not_activated`.
    #[error("the reader did not switch to the updated software; it keeps its old one")]
    NotActivated,
}

/// Which check an update image failed before it could go to the reader
/// (R19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum IntegrityCheck {
    /// The image's size is not the one its metadata states (truncated or
    /// oversized).
    Size,
    /// The image's SHA-256 digest is not the one its metadata states.
    Digest,
    /// The metadata's signature does not verify, or its key is not one the
    /// runtime trusts.
    Signature,
    /// The metadata has expired.
    Expiry,
    /// The image is for another device type.
    DeviceType,
    /// The image's version is older than the one the reader runs
    /// (rollback).
    Rollback,
}

crate::error_data::impl_error_data!(UpdateError, placeholder = UpdateError::NotConnected);

impl UpdateError {
    /// Every code of this type's kinds.
    pub const CODES: &'static [&'static str] = &[
        "battery_too_low",
        "transaction_in_progress",
        "update_canceled",
        "unsupported_reader_version",
        "install_failed",
        "digest_mismatch",
        "reader_refused_update",
        "update_transfer_timed_out",
        "reader_disconnected_during_update",
        "reader_not_connected",
        "update_download_failed",
        "update_image_rejected",
        "update_not_activated",
    ];

    /// A stable code for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BatteryTooLow => "battery_too_low",
            Self::TransactionInProgress => "transaction_in_progress",
            Self::Canceled => "update_canceled",
            Self::UnsupportedReaderVersion => "unsupported_reader_version",
            Self::InstallFailed => "install_failed",
            Self::DigestMismatch => "digest_mismatch",
            Self::ReaderRefused => "reader_refused_update",
            Self::TransferTimedOut => "update_transfer_timed_out",
            Self::ReaderDisconnected => "reader_disconnected_during_update",
            Self::NotConnected => "reader_not_connected",
            Self::DownloadFailed => "update_download_failed",
            Self::ImageRejected { .. } => "update_image_rejected",
            Self::NotActivated => "update_not_activated",
        }
    }

    /// The error for a reader's refusal of an update command.
    pub fn from_reader(code: ErrorCode) -> Self {
        match code {
            ErrorCode::BatteryTooLow => Self::BatteryTooLow,
            ErrorCode::TransactionInProgress => Self::TransactionInProgress,
            ErrorCode::DigestMismatch => Self::DigestMismatch,
            ErrorCode::InstallFailed => Self::InstallFailed,
            ErrorCode::Busy
            | ErrorCode::NoUpdateInProgress
            | ErrorCode::UnexpectedOffset
            | ErrorCode::InvalidImageSize
            | ErrorCode::NoTransactionInProgress
            | ErrorCode::VersionTooOld => Self::ReaderRefused,
        }
    }
}

/// The credit of a recorded `SendChunks` that has none.
fn one_chunk() -> u16 {
    1
}
