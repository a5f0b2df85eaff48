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
//! `UpdateCommit`, which the reader answers once the new image runs from
//! its other slot (R19; there is no separate reboot to wait for), and
//! `UpdateAbort`. The updater says which bytes to send
//! ([`TransferCommand`]); the owner cuts them into frames from the image.
//!
//! | file | what |
//! |---|---|
//! | `update.rs` | [`ReaderSoftwareUpdate`], [`UpdateComponent`], [`UpdateTimeEstimate`], [`Sha256Digest`] (R18) |
//! | `messages.rs` | [`UpdaterInput`], [`UpdaterOutput`], [`TransferCommand`], [`UpdaterTimer`], [`UpdaterPolicy`], [`UpdateError`] |
//! | `machine.rs` | the pure statig machine [`Updater`] and its table [`SPEC`] |
//! | `presets.rs` | the simulated readers' presets [`SimulatedUpdatePreset`] and what they answer |
//! | `actor.rs` | the shell: hands every output to its owner ([`start_updater`]) |
//!
//! # States
//!
//! | state | waits for | rule |
//! |---|---|---|
//! | `not_connected` | `ReaderConnected` (→ `checking`, output `CheckCatalog`) | |
//! | `connected` ⊃ | `ReaderDisconnected` (→ `not_connected`); `ReaderConnected` checks again; keeps the battery and whether a transaction runs; `InstallRequested` with nothing on offer: `InstallFinished` with no update | R17 |
//! | `connected.checking` | `CatalogAnswered`: nothing → `up_to_date`; optional → `optional`; required → `transferring`, or `required` when the battery or a transaction refuses it (the connect decided by R15); `CatalogTimedOut` → `up_to_date`. Every way out but an install says `ConnectMayProceed` or `ConnectMustFail` | R13–R15 |
//! | `connected.up_to_date` | nothing: the reader runs the latest software, or the catalog timed out; a late `CatalogAnswered` with an update → `optional` (reported outside transactions) or `required` (installed at the next connect) | R17 |
//! | `connected.available` ⊃ | `InstallRequested` (→ `transferring`; refused in place during a transaction or at 50 % battery or below) | R14, R17 |
//! | `connected.available.optional` | `UpdateBecameRequired` (→ `required`); `TransactionEnded` reports an update a transaction held back | R17 |
//! | `connected.available.required` | the next connect (installed then), or `InstallRequested` | R15, R17 |
//! | `connected.installing` ⊃ | `CancelRequested` (cancelable only), `TransferFailed`, a `TransferStalled` that gives up (→ `optional` or `required`); `ReaderDisconnected` (→ `not_connected`) | R15, R16 |
//! | `connected.installing.transferring` | `BeginAcked`, `ChunksAcked` (progress; the last → `committing`), `TransferStalled` (resend) | R13 |
//! | `connected.installing.committing` | `CommitAcked` (→ `installed`) | R13, R19 |
//! | `connected.installed` | nothing: the update runs | |
//!
//! No install starts at 50 % battery or below, nor while a transaction
//! runs, and the progress reported only grows, within [0, 1] (tested over
//! random sequences of connects, catalog answers, transfers, app calls,
//! transactions and time).
//!
//! # Wiring (the owner's part)
//!
//! | owner sees | feeds the updater |
//! |---|---|
//! | `ConnectionEvent::Connected { reader, .. }` and the backend's last-latest-run time | `ReaderConnected(ConnectedReader { device_type, software_version, battery_level, last_latest_run_at })` |
//! | the connection ended (any reason), or a connect failed | `ReaderDisconnected` |
//! | a battery report | `BatteryReported { level }` |
//! | the catalog's answer to `CheckCatalog` | `CatalogAnswered { update }` |
//! | `install_available_update()` | `InstallRequested` |
//! | the install's cancelable used | `CancelRequested` |
//! | it asks the connection for a transaction; the transaction ended or did not start | `TransactionStarted`; `TransactionEnded` |
//! | the reader's `Ack` to `UpdateBegin` / `UpdateCommit` | `BeginAcked` / `CommitAcked` |
//! | `UpdateChunkAck { up_to_offset }` | `ChunksAcked { up_to_offset }` |
//! | the reader's `Error { code }` to an update command (not `UnexpectedOffset`: the chunk ack sent with it says where the reader is, and a stall resends), or the command could not be sent | `TransferFailed { error: UpdateError::from_reader(code) }` |
//!
//! | the updater outputs | the owner does |
//! |---|---|
//! | `CheckCatalog { device_type, software_version }` | asks the catalog |
//! | `ConnectMayProceed` | finishes the connect (status `Connected`) |
//! | `ConnectMustFail(error)` | fails the connect with `error` and disconnects the reader |
//! | `UpdateAvailable(update)` | publishes it; keeps it as `reader.available_update` |
//! | `InstallStarted { update, cancelable }`, `InstallProgress { progress }`, `InstallFinished { update, error }` | publishes them (the cancelable feeds `CancelRequested`) |
//! | `Transfer(Begin { .. } / SendChunks { from, to, chunk_len } / Commit / Abort)` | sends `UpdateBegin` / `UpdateChunk`s of the image's bytes `from..to` / `UpdateCommit` / `UpdateAbort` |
//!
//! ```
//! use readerlink::reader::DeviceType;
//! use readerlink::runtime::Harness;
//! use readerlink::updater::{
//!     ConnectedReader, SimulatedUpdatePreset, TransferCommand, Updater, UpdaterInput, UpdaterOutput,
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
//! assert!(matches!(out[2], UpdaterOutput::Transfer(TransferCommand::Begin { .. })));
//! assert_eq!(harness.state(), "transferring");
//! ```

mod actor;
mod machine;
mod messages;
mod presets;
mod update;

pub use actor::{UpdaterActor, UpdaterEffects, UpdaterOutputFn, UpdaterParts, check_image, start_updater};
pub use machine::{SPEC, Updater};
pub use messages::{
    ConnectedReader, IntegrityCheck, TRANSFER_SHARE, TransferCommand, UpdateError, UpdaterInput,
    UpdaterOutput, UpdaterPolicy, UpdaterTimer,
};
pub use presets::{
    SIMULATED_AVAILABLE_DUE_MS, SIMULATED_AVAILABLE_SIZE, SIMULATED_LOW_BATTERY, SIMULATED_REQUIRED_SIZE,
    SIMULATED_UPDATE_VERSION, SimulatedUpdate, SimulatedUpdatePreset, simulated_image, simulated_update,
};
pub use update::{ReaderSoftwareUpdate, Sha256Digest, UpdateComponent, UpdateTimeEstimate};
