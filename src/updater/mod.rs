//! The updater, one per reader session: the reader's software updates
//! (R13–R18).
//!
//! At every connect (the app's, a reconnect, the connect after a reboot)
//! the updater asks the update catalog what the reader's software is
//! owed, and the connect waits for its word. A required update (its
//! `required_at` has come) is installed inside the connect (R13): the
//! owner keeps the reader's status `Connecting` until the updater says
//! `ConnectMayProceed` or `ConnectMustFail`. The install needs the battery
//! above 50 % (R14); when it fails, the connect fails too unless the reader
//! ran the latest software for its location within the last 30 days — then
//! it proceeds and the update is retried at the next connect (R15).
//! Cancelling a required install fails the connect with
//! `unsupported_reader_version`; an update made of incremental components
//! only offers no cancelable (R16). An optional update is reported
//! (`UpdateAvailable`) while the reader is connected and not in a
//! transaction — one that arrives during a transaction is reported when it
//! ends — and installed when the app asks; once its `required_at` has come
//! it is required, installed at the next connect (R17).
//!
//! The transfer uses the wire protocol's update frames: `UpdateBegin`,
//! `UpdateChunk`s in windows (the reader acknowledges every window),
//! `UpdateCommit`, which the reader answers once the new image runs on
//! trial from its other slot (R19; there is no separate reboot to wait
//! for), and `UpdateAbort`. A commit is not yet an install: after
//! [`UpdaterPolicy::confirm_after`] the updater asks the reader which
//! software it runs (a second `Hello`), and only the new version ends the
//! install well; anything else — the old version, a link lost first — is
//! [`UpdateError::NotActivated`]. The updater says which bytes to send and how many
//! chunks may be in flight ([`TransferCommand`]); the connection cuts them
//! into frames from the image and keeps that many unacknowledged, sending
//! more as the reader's acknowledgements come.
//!
//! | file | what |
//! |---|---|
//! | `update.rs` | [`ReaderSoftwareUpdate`], [`UpdateComponent`], [`UpdateTimeEstimate`], [`Sha256Digest`] (R18) |
//! | `messages.rs` | [`UpdaterInput`], [`UpdaterOutput`], [`TransferCommand`], [`UpdaterTimer`], [`UpdaterPolicy`], [`UpdateError`] |
//! | `machine.rs` | the pure statig machine [`Updater`] and its table [`SPEC`] |
//! | `presets.rs` | the simulated readers' presets [`SimulatedUpdatePreset`] and what they answer |
//! | `actor.rs` | the shell ([`start_updater`]): asks the catalog, downloads and checks the image ([`check_image`]) and puts it in the slot the connection sends from; hands every other output to its owner |
//!
//! # States
//!
//! | state | waits for | rule |
//! |---|---|---|
//! | `not_connected` | `ReaderConnected` (→ `checking`, output `CheckCatalog`) | |
//! | `connected` ⊃ | `ReaderDisconnected` (→ `not_connected`); `ReaderConnected` checks again; keeps the battery and whether a transaction runs; `InstallRequested` with nothing on offer: `InstallFinished` with no update | R17 |
//! | `connected.checking` | `CatalogAnswered`: nothing → `up_to_date`; optional → `optional`; required → `downloading`, or `required` when the battery or a transaction refuses it (the connect decided by R15); `CatalogTimedOut` or `CatalogUnavailable` → `up_to_date`. Every way out but an install says `ConnectMayProceed` or `ConnectMustFail` | R13–R15 |
//! | `connected.up_to_date` | nothing: the reader runs the latest software, or the catalog timed out; a late `CatalogAnswered` with an update → `optional` (reported outside transactions) or `required` (installed at the next connect) | R17 |
//! | `connected.available` ⊃ | `InstallRequested` (→ `downloading`; refused in place during a transaction or at 50 % battery or below) | R14, R17 |
//! | `connected.available.optional` | `UpdateBecameRequired` (→ `required`); `TransactionEnded` reports an update a transaction held back | R17 |
//! | `connected.available.required` | the next connect (installed then), or `InstallRequested` | R15, R17 |
//! | `connected.installing` ⊃ | `CancelRequested` (cancelable only), `TransferFailed`, a `TransferStalled` that gives up (→ `optional` or `required`); `ReaderDisconnected` (→ `not_connected`) | R15, R16 |
//! | `connected.installing.downloading` | `ImageDownloaded` (→ `verifying`), `DownloadFailed` (the install fails: `update_download_failed`) | R13 |
//! | `connected.installing.verifying` | `ImageVerified` (→ `transferring`; the battery and transactions are asked again), `ImageRejected { check }` (the install fails: `update_image_rejected`, nothing sent to the reader) | R14, R19 |
//! | `connected.installing.transferring` | `BeginAcked`, `ChunksAcked` (progress; the last → `committing`), `TransferStalled` (resend) | R13 |
//! | `connected.installing.committing` | `CommitAcked` (→ `confirming`, the `ConfirmWindow` timer armed) | R13, R19 |
//! | `connected.installing.confirming` | `VersionCheckDue` (asks `CheckRunningVersion`); `RunningVersionReported`: the update's version → `installed`, another → the install fails (`update_not_activated`); `ReaderDisconnected` (→ `not_connected`, `update_not_activated`); `TransferFailed`; `CancelRequested` is ignored (past the commit) | R19 |
//! | `connected.installed` | nothing: the update runs | |
//!
//! No install starts at 50 % battery or below, nor while a transaction
//! runs, and the progress reported only grows, within [0, 1] (tested over
//! random sequences of connects, catalog answers, transfers, app calls,
//! transactions and time).
//!
//! # Wiring
//!
//! The reader session owns the updater (started on its first use) and
//! the connection; the updater's shell does its own IO.
//!
//! | the session sees | feeds the updater |
//! |---|---|
//! | the connection's `Connected { reader, location, .. }` (the app's connect or a reconnect attempt; the session holds it as `checking_updates`) | `ReaderConnected(ConnectedReader { location, device_type, software_version, battery_level, .. })` |
//! | the connection ended (any reason) after that | `ReaderDisconnected` |
//! | a battery report | `BatteryReported { level }` |
//! | `install_available_update()` | `InstallRequested` |
//! | the install's cancelable used | `CancelRequested` |
//! | it asks the reader for a transaction; the transaction ended or did not start | `TransactionStarted`; `TransactionEnded` |
//! | the reader's `Ack` to `UpdateBegin` / `UpdateCommit` | `BeginAcked` / `CommitAcked` |
//! | the reader's `ReaderInfo` to the version check's `Hello` | `RunningVersionReported { software_version }` |
//! | `UpdateChunkAck { up_to_offset }` | `ChunksAcked { up_to_offset }` |
//! | the reader's `Error { code }` to an update command (not `UnexpectedOffset`: the chunk ack sent with it says where the reader is, and a stall resends), a command timeout, or a transaction in the way | `TransferFailed { error }` |
//!
//! | the updater outputs | who does what |
//! |---|---|
//! | `CheckCatalog { location, device_type, software_version }` | the shell asks the backend (`Backend::check_update`) → `CatalogAnswered`, or `CatalogUnavailable` when the backend fails |
//! | `DownloadImage { device_type, update }` | the shell downloads it (`Backend::download_update`) → `ImageDownloaded` / `DownloadFailed` |
//! | `VerifyImage(update)` | the shell checks size and digest ([`check_image`]) and puts the image where the connection reads it → `ImageVerified` / `ImageRejected { check }` |
//! | `ConnectMayProceed` | the session finishes the connect (status `Connected`, the connect answered) |
//! | `ConnectMustFail(error)` | the session disconnects the reader, then fails the connect with `ConnectError::UpdateFailed { error }` |
//! | `UpdateAvailable(update)` | the session publishes it and keeps it as `reader.available_update` |
//! | `InstallStarted { update, cancelable }`, `InstallProgress { progress }`, `InstallFinished { update, error }` | the session publishes them (with a [`Cancelable`](crate::cancelable::Cancelable) that feeds `CancelRequested` when `cancelable`); no reboot starts while an install runs |
//! | `Transfer(Begin { .. } / SendChunks { from, to, chunk_len, in_flight_chunks } / Commit / Abort / CheckRunningVersion)` | the connection sends `UpdateBegin` / `UpdateChunk`s of the image's bytes `from..to`, `in_flight_chunks` at most unacknowledged / `UpdateCommit` / `UpdateAbort` / `Hello` |
//!
//! ```
//! use readerlink::reader::DeviceType;
//! use readerlink::runtime::Harness;
//! use readerlink::updater::{
//!     ConnectedReader, SimulatedUpdatePreset, Updater, UpdaterInput, UpdaterOutput,
//! };
//! use readerlink::transport::sim::ReaderSpec;
//!
//! let spec = ReaderSpec::new("STRM2-0001", DeviceType::StripeM2, "1.0.0");
//! let sim = SimulatedUpdatePreset::Required.simulate(0, &spec, 0);
//! let mut harness = Harness::new(Updater::default());
//! harness.input(UpdaterInput::ReaderConnected(ConnectedReader {
//!     location: "tml_shop".into(),
//!     device_type: spec.device_type,
//!     software_version: spec.software_version.clone(),
//!     battery_level: sim.battery_level,
//!     last_latest_run_at: sim.last_latest_run_at,
//! }));
//! let out = harness.input(UpdaterInput::CatalogAnswered {
//!     update: sim.update,
//!     last_latest_run_at: None,
//! });
//! // A required update: it installs inside the connect, which waits.
//! assert!(matches!(out[0], UpdaterOutput::InstallStarted { cancelable: true, .. }));
//! assert!(out.iter().any(|o| matches!(o, UpdaterOutput::DownloadImage { .. })));
//! assert_eq!(harness.state(), "downloading");
//! harness.input(UpdaterInput::ImageDownloaded);
//! harness.input(UpdaterInput::ImageVerified);
//! assert_eq!(harness.state(), "transferring");
//! ```

mod actor;
mod machine;
mod messages;
mod presets;
mod update;

pub use actor::{
    UpdaterActor, UpdaterEffects, UpdaterOutputFn, UpdaterParts, check_image, start_updater, verify_update,
};
pub use machine::{SPEC, Updater};
pub use messages::{
    ConnectedReader, IntegrityCheck, TRANSFER_SHARE, TransferCommand, UpdateError, UpdaterInput,
    UpdaterOutput, UpdaterPolicy, UpdaterTimer,
};
pub use presets::{
    PresetAnswer, SIMULATED_AVAILABLE_DUE_MS, SIMULATED_AVAILABLE_SIZE, SIMULATED_LOW_BATTERY,
    SIMULATED_REQUIRED_SIZE, SIMULATED_UPDATE_VERSION, SimulatedUpdate, SimulatedUpdatePreset,
    simulated_image, simulated_update,
};
pub use update::{ReaderSoftwareUpdate, Sha256Digest, UpdateComponent, UpdateTimeEstimate};
