//! The updater (R13–R18), machine level on virtual time, driven as its
//! owner would drive it, against a model reader that answers the
//! transfer's frames as the simulated reader does (an acknowledgement
//! every window, the commit answered once the new image runs).
//!
//! A required update installs inside the connect and the connect waits
//! for it (R13); no install starts at 50 % battery or below (R14); a failed
//! required install fails the connect unless the reader ran the latest
//! software within 30 days (R15); cancelling one fails the connect with
//! `unsupported_reader_version`, and an incremental-only update offers no
//! cancelable (R16); an optional update is reported outside transactions,
//! installed on request, and required once its `required_at` has come
//! (R17). The simulated presets each give what the reference's simulated
//! reader gives. The property test: progress only grows within [0, 1], and
//! no install starts at 50 % battery or below or during a transaction.

mod common;

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use readerlink::reader::DeviceType;
use readerlink::runtime::{Harness, Millis};
use readerlink::transport::sim::ReaderSpec;
use readerlink::updater::{
    ConnectedReader, ReaderSoftwareUpdate, SIMULATED_UPDATE_VERSION, SimulatedUpdatePreset, TransferCommand,
    UpdateComponent, UpdateError, UpdateTimeEstimate, Updater, UpdaterInput, UpdaterOutput, UpdaterPolicy,
    simulated_update,
};

const SECOND: Millis = 1000;
const MINUTE: Millis = 60 * SECOND;
const DAY: Millis = 24 * 60 * MINUTE;
/// Small images keep the logs readable: 4 windows of 8 × 512 bytes.
const SIZE: u32 = 16 * 1024;
/// The model reader answers each frame this long after it is sent.
const ANSWER_MS: Millis = 250;

fn reader(battery_level: f32, last_latest_run_at: Option<Millis>) -> ConnectedReader {
    ConnectedReader {
        location: "tml_shop".into(),
        device_type: DeviceType::StripeM2,
        software_version: "1.0.0".into(),
        battery_level,
        last_latest_run_at,
    }
}

fn required(components: Vec<UpdateComponent>) -> ReaderSoftwareUpdate {
    simulated_update(components, 0, SIZE)
}

fn optional(required_at: Millis) -> ReaderSoftwareUpdate {
    simulated_update(vec![UpdateComponent::Firmware], required_at, SIZE)
}

/// The reader's side of the transfer, as the simulated reader answers it.
#[derive(Default)]
struct ModelReader {
    window: u8,
    size: u32,
    written: u32,
    chunks_since_ack: u8,
    /// It fails the install once this share (percent) is written.
    fail_at_percent: Option<u32>,
    /// The version it runs: changed only by a commit.
    version: String,
    /// Its next new image fails its trial: after the commit it still runs
    /// the old version.
    never_activates: bool,
    begun_version: Option<String>,
    answers: VecDeque<UpdaterInput>,
}

impl ModelReader {
    fn new() -> Self {
        Self {
            version: "1.0.0".into(),
            ..Self::default()
        }
    }

    fn receive(&mut self, command: &TransferCommand) {
        match command {
            TransferCommand::Begin {
                version,
                size,
                window,
                ..
            } => {
                self.size = *size;
                self.window = *window;
                self.written = 0;
                self.chunks_since_ack = 0;
                self.begun_version = Some(version.clone());
                self.answers.push_back(UpdaterInput::BeginAcked);
            }
            TransferCommand::SendChunks {
                from, to, chunk_len, ..
            } => {
                if self.begun_version.is_none() || *from != self.written {
                    return;
                }
                while self.written < *to {
                    self.written = (self.written + *chunk_len as u32).min(*to);
                    self.chunks_since_ack += 1;
                    let percent = self.written as u64 * 100 / self.size as u64;
                    if self.fail_at_percent.is_some_and(|p| percent >= p as u64) {
                        self.fail_at_percent = None;
                        self.begun_version = None;
                        self.answers.push_back(UpdaterInput::TransferFailed {
                            error: UpdateError::from_reader(readerlink::protocol::ErrorCode::InstallFailed),
                        });
                        return;
                    }
                    if self.chunks_since_ack >= self.window || self.written == self.size {
                        self.chunks_since_ack = 0;
                        self.answers.push_back(UpdaterInput::ChunksAcked {
                            up_to_offset: self.written,
                        });
                    }
                }
            }
            TransferCommand::Commit => {
                if let Some(version) = self.begun_version.take().filter(|_| self.written == self.size) {
                    if !std::mem::take(&mut self.never_activates) {
                        self.version = version;
                    }
                    self.answers.push_back(UpdaterInput::CommitAcked);
                }
            }
            TransferCommand::CheckRunningVersion => {
                self.answers.push_back(UpdaterInput::RunningVersionReported {
                    software_version: self.version.clone(),
                });
            }
            TransferCommand::Abort => {
                self.begun_version = None;
                self.answers.clear();
            }
        }
    }

    /// Takes what the updater sent: transfer commands as the reader, and
    /// the download and the check of the image as the owner (both succeed).
    fn take(&mut self, outputs: &[UpdaterOutput]) {
        for output in outputs {
            match output {
                UpdaterOutput::Transfer(command) => self.receive(command),
                UpdaterOutput::DownloadImage { .. } => self.answers.push_back(UpdaterInput::ImageDownloaded),
                UpdaterOutput::VerifyImage(_) => self.answers.push_back(UpdaterInput::ImageVerified),
                _ => {}
            }
        }
    }
}

/// Runs the transfer: the reader answers each frame [`ANSWER_MS`] after
/// the last, until it has nothing to say; `before` is called before each
/// answer and may stop the run (returning false).
fn run_transfer(
    h: &mut Harness<Updater>,
    peer: &mut ModelReader,
    outputs: Vec<UpdaterOutput>,
    mut before: impl FnMut(&mut Harness<Updater>, &mut ModelReader) -> bool,
) {
    peer.take(&outputs);
    loop {
        if peer.answers.is_empty() {
            if h.state() != "confirming" {
                break;
            }
            // The reader has nothing to say until the updater asks which
            // software it runs, once the new image had time to confirm.
            let out = h.advance(UpdaterPolicy::default().confirm_after);
            peer.take(&out);
            if peer.answers.is_empty() {
                break;
            }
        }
        if !before(h, peer) {
            return;
        }
        let out = h.advance(Duration::from_millis(ANSWER_MS));
        peer.take(&out);
        let Some(answer) = peer.answers.pop_front() else {
            break;
        };
        let out = h.input(answer);
        peer.take(&out);
    }
}

fn connect(
    h: &mut Harness<Updater>,
    reader: ConnectedReader,
    update: Option<ReaderSoftwareUpdate>,
) -> Vec<UpdaterOutput> {
    let out = h.input(UpdaterInput::ReaderConnected(reader));
    assert!(
        matches!(out.as_slice(), [UpdaterOutput::CheckCatalog { .. }]),
        "{out:?}"
    );
    h.advance(Duration::from_millis(ANSWER_MS));
    h.input(UpdaterInput::CatalogAnswered {
        update,
        last_latest_run_at: None,
    })
}

/// When `out` asks for the image: it downloads and passes its checks; the
/// outputs that follow (the transfer's `Begin`). Otherwise `out` itself.
fn past_checks(h: &mut Harness<Updater>, out: Vec<UpdaterOutput>) -> Vec<UpdaterOutput> {
    if !out
        .iter()
        .any(|o| matches!(o, UpdaterOutput::DownloadImage { .. }))
    {
        return out;
    }
    h.input(UpdaterInput::ImageDownloaded);
    h.input(UpdaterInput::ImageVerified)
}

/// The progress values reported so far.
fn progress(h: &Harness<Updater>) -> Vec<f32> {
    h.outputs()
        .iter()
        .filter_map(|(_, o)| match o {
            UpdaterOutput::InstallProgress { progress } => Some(*progress),
            _ => None,
        })
        .collect()
}

/// The outputs so far, less the transfer's frames, the image's download
/// and check, and progress: what the app and the connect see.
fn events(h: &Harness<Updater>) -> Vec<UpdaterOutput> {
    h.outputs()
        .iter()
        .map(|(_, o)| o.clone())
        .filter(|o| {
            !matches!(
                o,
                UpdaterOutput::Transfer(_)
                    | UpdaterOutput::InstallProgress { .. }
                    | UpdaterOutput::DownloadImage { .. }
                    | UpdaterOutput::VerifyImage(_)
            )
        })
        .collect()
}

fn connect_word(h: &Harness<Updater>) -> Vec<UpdaterOutput> {
    events(h)
        .into_iter()
        .filter(|o| {
            matches!(
                o,
                UpdaterOutput::ConnectMayProceed | UpdaterOutput::ConnectMustFail(_)
            )
        })
        .collect()
}

fn finished(h: &Harness<Updater>) -> Vec<Option<UpdateError>> {
    events(h)
        .into_iter()
        .filter_map(|o| match o {
            UpdaterOutput::InstallFinished { error, .. } => Some(error),
            _ => None,
        })
        .collect()
}

fn started(h: &Harness<Updater>) -> usize {
    events(h)
        .iter()
        .filter(|o| matches!(o, UpdaterOutput::InstallStarted { .. }))
        .count()
}

fn assert_monotonic_from_0_to_1(values: &[f32]) {
    assert_eq!(values.first(), Some(&0.0), "{values:?}");
    assert_eq!(values.last(), Some(&1.0), "{values:?}");
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "not increasing: {values:?}"
    );
}

#[test]
fn a_required_update_at_connect_with_80_percent_battery_installs_with_progress_then_the_connect_proceeds() {
    let _snapshots = common::snapshots();
    let mut h = Harness::new(Updater::default());
    let mut peer = ModelReader::new();
    h.note("R13: the reader connects; the catalog has a required update");
    let out = connect(
        &mut h,
        reader(0.8, None),
        Some(required(vec![UpdateComponent::Config])),
    );
    assert!(
        !out.contains(&UpdaterOutput::ConnectMayProceed),
        "the connect waits for the install"
    );
    assert!(h.machine().connect_waits());
    run_transfer(&mut h, &mut peer, out, |_, _| true);
    assert_eq!(h.state(), "installed");
    assert_monotonic_from_0_to_1(&progress(&h));
    assert_eq!(
        peer.version, SIMULATED_UPDATE_VERSION,
        "the reader runs the new image"
    );
    let events = events(&h);
    assert!(
        matches!(
            events.as_slice(),
            [
                UpdaterOutput::CheckCatalog { .. },
                UpdaterOutput::InstallStarted { cancelable: true, .. },
                UpdaterOutput::InstallFinished {
                    update: Some(_),
                    error: None
                },
                UpdaterOutput::ConnectMayProceed,
            ]
        ),
        "{events:?}"
    );
    assert!(!h.machine().connect_waits());
    h.note("nothing is pending any more");
    let out = h.input(UpdaterInput::InstallRequested);
    assert_eq!(
        out,
        [UpdaterOutput::InstallFinished {
            update: None,
            error: None
        }]
    );
    insta::assert_snapshot!("updater_required_at_connect_80_percent", h.log());
}

#[test]
fn a_required_update_with_49_percent_battery_never_starts_and_the_connect_fails() {
    let _snapshots = common::snapshots();
    let mut h = Harness::new(Updater::default());
    h.note("R14: 49 % battery, a required update, never ran the latest software");
    let update = required(vec![UpdateComponent::Firmware]);
    let out = connect(&mut h, reader(0.49, None), Some(update.clone()));
    assert_eq!(
        out,
        [
            UpdaterOutput::InstallFinished {
                update: Some(update),
                error: Some(UpdateError::BatteryTooLow)
            },
            UpdaterOutput::ConnectMustFail(UpdateError::BatteryTooLow),
        ]
    );
    assert_eq!(started(&h), 0);
    assert_eq!(h.state(), "required");
    assert_eq!(UpdateError::BatteryTooLow.code(), "battery_too_low");
    insta::assert_snapshot!("updater_battery_49_percent", h.log());
}

#[test]
fn exactly_50_percent_is_not_above_50_percent() {
    let mut h = Harness::new(Updater::default());
    connect(
        &mut h,
        reader(0.5, None),
        Some(required(vec![UpdateComponent::Keys])),
    );
    assert_eq!(finished(&h), [Some(UpdateError::BatteryTooLow)]);
    let mut h = Harness::new(Updater::default());
    connect(
        &mut h,
        reader(0.51, None),
        Some(required(vec![UpdateComponent::Keys])),
    );
    assert_eq!(started(&h), 1);
}

#[test]
fn cancelling_a_required_install_fails_the_connect_keeps_the_old_version_and_the_next_connect_retries() {
    let _snapshots = common::snapshots();
    let mut h = Harness::new(Updater::default());
    let mut peer = ModelReader::new();
    h.note("R16: a required firmware update starts at connect");
    let out = connect(
        &mut h,
        reader(0.8, None),
        Some(required(vec![UpdateComponent::Firmware])),
    );
    let mut acks = 0;
    run_transfer(&mut h, &mut peer, out, |h, peer| {
        if matches!(peer.answers.front(), Some(UpdaterInput::ChunksAcked { .. })) {
            acks += 1;
        }
        if acks == 2 {
            h.note("the app cancels mid-install");
            let out = h.input(UpdaterInput::CancelRequested);
            peer.take(&out);
            return false;
        }
        true
    });
    assert_eq!(finished(&h), [Some(UpdateError::Canceled)]);
    assert_eq!(
        connect_word(&h),
        [UpdaterOutput::ConnectMustFail(
            UpdateError::UnsupportedReaderVersion
        )]
    );
    assert_eq!(
        UpdateError::UnsupportedReaderVersion.code(),
        "unsupported_reader_version"
    );
    assert_eq!(peer.version, "1.0.0", "the reader keeps its old image");
    assert_eq!(h.state(), "required");
    h.note("the session fails the connect; the reader is disconnected");
    h.input(UpdaterInput::ReaderDisconnected);
    assert_eq!(h.state(), "not_connected");
    h.advance(Duration::from_millis(MINUTE));
    h.note("the next connect retries the install");
    let out = connect(
        &mut h,
        reader(0.8, None),
        Some(required(vec![UpdateComponent::Firmware])),
    );
    run_transfer(&mut h, &mut peer, out, |_, _| true);
    assert_eq!(finished(&h), [Some(UpdateError::Canceled), None]);
    assert_eq!(peer.version, SIMULATED_UPDATE_VERSION);
    insta::assert_snapshot!("updater_cancel_mid_install", h.log());
}

#[test]
fn an_incremental_only_update_offers_no_cancelable_and_a_cancel_changes_nothing() {
    let _snapshots = common::snapshots();
    let mut h = Harness::new(Updater::default());
    let mut peer = ModelReader::new();
    let update = required(vec![UpdateComponent::Incremental]);
    assert!(!update.is_cancelable());
    assert_eq!(update.duration_estimate, UpdateTimeEstimate::LessThanOneMinute);
    let out = connect(&mut h, reader(0.8, None), Some(update));
    assert!(matches!(
        out[0],
        UpdaterOutput::InstallStarted {
            cancelable: false,
            ..
        }
    ));
    let mut cancelled = false;
    run_transfer(&mut h, &mut peer, out, |h, peer| {
        if !cancelled {
            cancelled = true;
            h.note("R16: a cancel (no cancelable was offered) is ignored");
            let out = h.input(UpdaterInput::CancelRequested);
            assert!(out.is_empty(), "{out:?}");
            peer.take(&out);
        }
        true
    });
    assert_eq!(finished(&h), [None]);
    assert_eq!(connect_word(&h), [UpdaterOutput::ConnectMayProceed]);
    insta::assert_snapshot!("updater_incremental_only", h.log());
}

/// A required install that fails at 40 %, for a reader that last ran the
/// latest software `days_ago` days ago.
fn failing_install(days_ago: Millis) -> (Harness<Updater>, ModelReader) {
    let mut h = Harness::new(Updater::default());
    h.advance_to(100 * DAY);
    let mut peer = ModelReader::new();
    peer.fail_at_percent = Some(40);
    let last_run = h.now() - days_ago * DAY;
    h.note(&format!(
        "R15: the reader ran the latest software {days_ago} days ago"
    ));
    let out = connect(
        &mut h,
        reader(0.8, Some(last_run)),
        Some(required(vec![UpdateComponent::Config])),
    );
    run_transfer(&mut h, &mut peer, out, |_, _| true);
    (h, peer)
}

#[test]
fn a_failed_required_install_within_30_days_of_the_latest_software_lets_the_connect_proceed_and_is_retried_next_time()
 {
    let _snapshots = common::snapshots();
    let (mut h, mut peer) = failing_install(10);
    assert_eq!(finished(&h), [Some(UpdateError::InstallFailed)]);
    assert_eq!(connect_word(&h), [UpdaterOutput::ConnectMayProceed]);
    assert_eq!(h.state(), "required");
    assert_eq!(peer.version, "1.0.0");
    h.note("the next connect retries it, and it installs");
    h.input(UpdaterInput::ReaderDisconnected);
    h.advance(Duration::from_millis(DAY));
    let last_run = h.now() - 11 * DAY;
    let out = connect(
        &mut h,
        reader(0.8, Some(last_run)),
        Some(required(vec![UpdateComponent::Config])),
    );
    run_transfer(&mut h, &mut peer, out, |_, _| true);
    assert_eq!(finished(&h), [Some(UpdateError::InstallFailed), None]);
    assert_eq!(peer.version, SIMULATED_UPDATE_VERSION);
    insta::assert_snapshot!("updater_install_fails_last_run_10_days_ago", h.log());
}

#[test]
fn a_failed_required_install_40_days_after_the_latest_software_fails_the_connect() {
    let _snapshots = common::snapshots();
    let (h, peer) = failing_install(40);
    assert_eq!(finished(&h), [Some(UpdateError::InstallFailed)]);
    assert_eq!(
        connect_word(&h),
        [UpdaterOutput::ConnectMustFail(UpdateError::InstallFailed)]
    );
    assert_eq!(peer.version, "1.0.0");
    insta::assert_snapshot!("updater_install_fails_last_run_40_days_ago", h.log());
}

#[test]
fn the_grace_is_30_days_from_the_last_latest_run_to_the_failure() {
    for (days, proceeds) in [(29, true), (31, false)] {
        let (h, _) = failing_install(days);
        assert_eq!(
            connect_word(&h) == [UpdaterOutput::ConnectMayProceed],
            proceeds,
            "{days} days"
        );
    }
}

#[test]
fn an_optional_update_is_reported_while_idle_and_installed_on_request() {
    let _snapshots = common::snapshots();
    let mut h = Harness::new(Updater::default());
    let mut peer = ModelReader::new();
    let update = optional(7 * DAY);
    let out = connect(&mut h, reader(0.8, None), Some(update.clone()));
    assert_eq!(
        out,
        [
            UpdaterOutput::ConnectMayProceed,
            UpdaterOutput::UpdateAvailable(update.clone())
        ]
    );
    assert_eq!(h.state(), "optional");
    assert_eq!(h.machine().available_update(), Some(&update));
    h.advance(Duration::from_millis(10 * MINUTE));
    h.note("R17: the app calls install_available_update");
    let out = h.input(UpdaterInput::InstallRequested);
    run_transfer(&mut h, &mut peer, out, |_, _| true);
    assert_eq!(h.state(), "installed");
    assert_eq!(finished(&h), [None]);
    assert_eq!(h.machine().available_update(), None);
    assert_monotonic_from_0_to_1(&progress(&h));
    insta::assert_snapshot!("updater_optional_installed_on_request", h.log());
}

#[test]
fn an_optional_update_found_during_a_transaction_is_reported_when_it_ends() {
    let _snapshots = common::snapshots();
    let mut h = Harness::new(Updater::default());
    h.input(UpdaterInput::ReaderConnected(reader(0.8, None)));
    h.note("the catalog is slow: the connect proceeds without it");
    let out = h.advance(Duration::from_secs(30));
    assert_eq!(out, [UpdaterOutput::ConnectMayProceed]);
    assert_eq!(h.state(), "up_to_date");
    h.note("a payment starts; the catalog answers meanwhile");
    h.input(UpdaterInput::TransactionStarted);
    let update = optional(7 * DAY);
    let out = h.input(UpdaterInput::CatalogAnswered {
        update: Some(update.clone()),
        last_latest_run_at: None,
    });
    assert!(out.is_empty(), "R17: not reported during a transaction: {out:?}");
    assert_eq!(h.state(), "optional");
    h.note("the app asks to install during the transaction");
    let out = h.input(UpdaterInput::InstallRequested);
    assert_eq!(
        out,
        [UpdaterOutput::InstallFinished {
            update: Some(update.clone()),
            error: Some(UpdateError::TransactionInProgress)
        }]
    );
    h.advance(Duration::from_millis(MINUTE));
    h.note("the payment ends");
    let out = h.input(UpdaterInput::TransactionEnded);
    assert_eq!(out, [UpdaterOutput::UpdateAvailable(update)]);
    h.note("a second transaction does not report it again");
    h.input(UpdaterInput::TransactionStarted);
    assert!(h.input(UpdaterInput::TransactionEnded).is_empty());
    assert_eq!(started(&h), 0);
    insta::assert_snapshot!("updater_optional_during_a_transaction", h.log());
}

#[test]
fn an_optional_update_whose_required_at_passes_while_disconnected_is_installed_at_the_next_connect() {
    let _snapshots = common::snapshots();
    let mut h = Harness::new(Updater::default());
    let mut peer = ModelReader::new();
    let update = optional(7 * DAY);
    connect(&mut h, reader(0.8, None), Some(update.clone()));
    h.advance(Duration::from_millis(HOUR_MS));
    h.note("the app puts it off; the reader is disconnected for 8 days");
    h.input(UpdaterInput::ReaderDisconnected);
    h.advance(Duration::from_millis(8 * DAY));
    h.note("R17: at the next connect it is required");
    let out = connect(&mut h, reader(0.8, None), Some(update));
    assert!(matches!(out[0], UpdaterOutput::InstallStarted { .. }), "{out:?}");
    assert!(h.machine().connect_waits());
    run_transfer(&mut h, &mut peer, out, |_, _| true);
    assert_eq!(
        connect_word(&h),
        [UpdaterOutput::ConnectMayProceed, UpdaterOutput::ConnectMayProceed]
    );
    assert_eq!(finished(&h), [None]);
    insta::assert_snapshot!("updater_required_at_passes_while_disconnected", h.log());
}

const HOUR_MS: Millis = 60 * MINUTE;

#[test]
fn an_optional_update_whose_required_at_passes_while_connected_waits_for_the_next_connect_or_a_request() {
    let mut h = Harness::new(Updater::default());
    let mut peer = ModelReader::new();
    connect(&mut h, reader(0.8, None), Some(optional(DAY)));
    let out = h.advance(Duration::from_millis(DAY));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(h.state(), "required");
    let out = h.input(UpdaterInput::InstallRequested);
    run_transfer(&mut h, &mut peer, out, |_, _| true);
    assert_eq!(h.state(), "installed");
}

// ----- failures off the main paths -----

#[test]
fn an_optional_install_that_fails_or_is_cancelled_goes_back_to_optional() {
    let mut h = Harness::new(Updater::default());
    let mut peer = ModelReader::new();
    connect(&mut h, reader(0.8, None), Some(optional(7 * DAY)));
    peer.fail_at_percent = Some(50);
    let out = h.input(UpdaterInput::InstallRequested);
    run_transfer(&mut h, &mut peer, out, |_, _| true);
    assert_eq!(h.state(), "optional");
    assert_eq!(finished(&h), [Some(UpdateError::InstallFailed)]);
    assert_eq!(
        connect_word(&h),
        [UpdaterOutput::ConnectMayProceed],
        "no second word"
    );
    let out = h.input(UpdaterInput::InstallRequested);
    peer.take(&out);
    h.input(UpdaterInput::CancelRequested);
    assert_eq!(h.state(), "optional");
    assert_eq!(
        finished(&h),
        [Some(UpdateError::InstallFailed), Some(UpdateError::Canceled)]
    );
    let available = events(&h)
        .iter()
        .filter(|o| matches!(o, UpdaterOutput::UpdateAvailable(_)))
        .count();
    assert_eq!(available, 1, "reported once per connection");
}

#[test]
fn a_payment_that_starts_while_an_optional_image_downloads_stops_the_install_before_any_byte_is_sent() {
    let mut h = Harness::new(Updater::default());
    connect(&mut h, reader(0.8, None), Some(optional(7 * DAY)));
    h.input(UpdaterInput::InstallRequested);
    h.input(UpdaterInput::ImageDownloaded);
    assert_eq!(h.state(), "verifying");
    h.note("R20: a payment starts while the image is checked");
    h.input(UpdaterInput::TransactionStarted);
    let out = h.input(UpdaterInput::ImageVerified);
    assert!(
        !out.iter().any(|o| matches!(o, UpdaterOutput::Transfer(_))),
        "nothing goes to the reader: {out:?}"
    );
    assert_eq!(h.state(), "optional", "the update is still on offer");
    assert_eq!(finished(&h), [Some(UpdateError::TransactionInProgress)]);
}

#[test]
fn a_required_install_requested_while_connected_goes_back_to_required_when_it_fails_stalls_or_is_cancelled() {
    for how in ["fails", "stalls", "cancelled"] {
        let mut h = Harness::new(Updater::default());
        let mut peer = ModelReader::new();
        connect(&mut h, reader(0.8, None), Some(optional(MINUTE)));
        h.advance(Duration::from_millis(MINUTE));
        assert_eq!(h.state(), "required");
        let out = h.input(UpdaterInput::InstallRequested);
        let out = past_checks(&mut h, out);
        match how {
            "fails" => h.input(UpdaterInput::TransferFailed {
                error: UpdateError::ReaderRefused,
            }),
            "stalls" => h.advance(Duration::from_secs(60)),
            _ => {
                peer.take(&out);
                h.input(UpdaterInput::CancelRequested)
            }
        };
        assert_eq!(h.state(), "required", "{how}");
        assert_eq!(finished(&h).len(), 1, "{how}");
    }
}

#[test]
fn a_stalled_transfer_resends_from_the_last_acknowledged_byte_and_gives_up_after_three_stalls() {
    let mut h = Harness::new(Updater::default());
    let mut peer = ModelReader::new();
    let out = connect(
        &mut h,
        reader(0.8, None),
        Some(required(vec![UpdateComponent::Config])),
    );
    let out = past_checks(&mut h, out);
    peer.take(&out);
    let out = h.input(peer.answers.pop_front().unwrap());
    peer.take(&out);
    let acked = loop {
        match peer.answers.pop_front() {
            Some(answer @ UpdaterInput::ChunksAcked { up_to_offset }) => {
                h.input(answer);
                break up_to_offset;
            }
            Some(_) => {}
            None => panic!("no acknowledgement"),
        }
    };
    peer.answers.clear();
    let policy = UpdaterPolicy::default();
    h.note("the link drops every answer from now on");
    let out = h.advance(policy.stall_after);
    assert!(
        out.iter().any(|o| matches!(
            o,
            UpdaterOutput::Transfer(TransferCommand::SendChunks { from, .. }) if *from == acked
        )),
        "resent from {acked}: {out:?}"
    );
    h.advance(policy.stall_after * policy.max_stalls as u32);
    assert_eq!(finished(&h), [Some(UpdateError::TransferTimedOut)]);
    assert_eq!(
        connect_word(&h),
        [UpdaterOutput::ConnectMustFail(UpdateError::TransferTimedOut)]
    );
    assert_eq!(h.state(), "required");
    assert!(
        h.outputs()
            .iter()
            .any(|(_, o)| *o == UpdaterOutput::Transfer(TransferCommand::Abort))
    );
}

#[test]
fn a_commit_that_is_never_answered_fails_the_optional_install() {
    let mut h = Harness::new(Updater::default());
    let mut peer = ModelReader::new();
    connect(&mut h, reader(0.8, None), Some(optional(7 * DAY)));
    let out = h.input(UpdaterInput::InstallRequested);
    run_transfer(&mut h, &mut peer, out, |_, peer| {
        !matches!(peer.answers.front(), Some(UpdaterInput::CommitAcked))
    });
    assert_eq!(h.state(), "committing");
    h.advance(Duration::from_secs(10));
    assert_eq!(h.state(), "optional");
    assert_eq!(finished(&h), [Some(UpdateError::TransferTimedOut)]);
}

#[test]
fn a_required_install_whose_image_the_reader_never_runs_is_not_activated_and_fails_the_connect() {
    let _snapshots = common::snapshots();
    let mut h = Harness::new(Updater::default());
    let mut peer = ModelReader::new();
    peer.never_activates = true;
    let out = connect(
        &mut h,
        reader(0.8, None),
        Some(required(vec![UpdateComponent::Firmware])),
    );
    run_transfer(&mut h, &mut peer, out, |_, _| true);
    assert!(
        h.outputs()
            .iter()
            .any(|(_, o)| *o == UpdaterOutput::Transfer(TransferCommand::CheckRunningVersion)),
        "R19: the reader is asked which software it runs after the commit"
    );
    assert_eq!(
        finished(&h),
        [Some(UpdateError::NotActivated)],
        "every chunk and the commit were acknowledged, yet it is no success"
    );
    assert_eq!(
        connect_word(&h),
        [UpdaterOutput::ConnectMustFail(UpdateError::NotActivated)]
    );
    assert_eq!(h.state(), "required", "offered again at the next connect");
    assert!(
        progress(&h).iter().all(|p| *p < 1.0),
        "progress never reached 1: {:?}",
        progress(&h)
    );
    insta::assert_snapshot!("updater_required_install_not_activated", h.log());
}

#[test]
fn a_link_that_drops_before_the_new_image_is_seen_running_reports_it_not_activated() {
    let mut h = Harness::new(Updater::default());
    let mut peer = ModelReader::new();
    connect(&mut h, reader(0.8, None), Some(optional(7 * DAY)));
    let out = h.input(UpdaterInput::InstallRequested);
    run_transfer(&mut h, &mut peer, out, |h, _| h.state() != "confirming");
    assert_eq!(h.state(), "confirming");
    h.note("the new image crashes on its trial: the link drops");
    h.input(UpdaterInput::CancelRequested);
    assert_eq!(h.state(), "confirming", "past the commit nothing is cancelled");
    h.input(UpdaterInput::ReaderDisconnected);
    assert_eq!(h.state(), "not_connected");
    assert_eq!(finished(&h), [Some(UpdateError::NotActivated)]);
    assert!(
        h.advance(Duration::from_secs(60)).is_empty(),
        "no version check is left armed"
    );
}

#[test]
fn a_disconnect_mid_install_ends_it_and_a_reconnect_without_a_disconnect_checks_again() {
    let mut h = Harness::new(Updater::default());
    let out = connect(
        &mut h,
        reader(0.8, None),
        Some(required(vec![UpdateComponent::Config])),
    );
    assert!(!out.is_empty());
    h.input(UpdaterInput::ReaderDisconnected);
    assert_eq!(h.state(), "not_connected");
    assert_eq!(finished(&h), [Some(UpdateError::ReaderDisconnected)]);
    assert!(h.armed_timers().is_empty());
    connect(&mut h, reader(0.8, None), None);
    assert_eq!(h.state(), "up_to_date");
    let out = h.input(UpdaterInput::ReaderConnected(reader(0.8, None)));
    assert!(matches!(out.as_slice(), [UpdaterOutput::CheckCatalog { .. }]));
    assert_eq!(h.state(), "checking");
}

#[test]
fn a_late_required_answer_is_kept_for_the_next_connect_and_no_reader_means_no_install() {
    let mut h = Harness::new(Updater::default());
    let out = h.input(UpdaterInput::InstallRequested);
    assert_eq!(
        out,
        [UpdaterOutput::InstallFinished {
            update: None,
            error: Some(UpdateError::NotConnected)
        }]
    );
    h.input(UpdaterInput::ReaderConnected(reader(0.8, None)));
    h.advance(Duration::from_secs(30));
    let out = h.input(UpdaterInput::CatalogAnswered {
        update: Some(required(vec![UpdateComponent::Keys])),
        last_latest_run_at: None,
    });
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(h.state(), "required");
    assert_eq!(connect_word(&h), [UpdaterOutput::ConnectMayProceed]);
}

#[test]
fn an_update_to_the_version_the_reader_runs_is_no_update() {
    let mut h = Harness::new(Updater::default());
    let mut r = reader(0.8, None);
    r.software_version = SIMULATED_UPDATE_VERSION.into();
    let out = connect(&mut h, r, Some(required(vec![UpdateComponent::Firmware])));
    assert_eq!(out, [UpdaterOutput::ConnectMayProceed]);
    assert_eq!(h.state(), "up_to_date");
}

#[test]
fn the_actor_asks_the_catalog_fires_its_timers_on_virtual_time_and_hands_the_rest_to_its_owner() {
    use std::cell::RefCell;
    use std::rc::Rc;

    use readerlink::runtime::{Clock, Deliver, Tracer, virtual_time_system};
    use std::sync::Arc;

    use readerlink::backend::{BackendCore, LocalBackend, Route};
    use readerlink::updater::{UpdaterParts, start_updater};

    virtual_time_system().block_on(async {
        let outputs: Rc<RefCell<Vec<(Millis, UpdaterOutput)>>> = Rc::default();
        let sink = outputs.clone();
        let clock = Clock::start();
        let stamp = clock;
        let backend = LocalBackend::new(BackendCore::in_memory(1));
        backend
            .faults()
            .set_latency(Route::CheckUpdate, Duration::from_secs(60));
        let updater = start_updater(UpdaterParts {
            serial: "WPC32-0001".into(),
            policy: UpdaterPolicy::default(),
            backend: Arc::new(backend),
            image: Default::default(),
            owner: Rc::new(move |output| sink.borrow_mut().push((stamp.now_ms(), output))),
            tracer: Tracer::off(),
            clock,
            trusted: Default::default(),
        });
        updater.do_send(Deliver::from(
            "test",
            UpdaterInput::ReaderConnected(reader(0.8, None)),
        ));
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert_eq!(
            *outputs.borrow(),
            [(30 * SECOND, UpdaterOutput::ConnectMayProceed)],
            "the catalog did not answer: the connect proceeds after 30 s"
        );
    });
}

// ----- R18 -----

#[test]
fn the_duration_estimate_follows_the_components() {
    use UpdateComponent::*;
    use UpdateTimeEstimate::*;
    for (components, estimate) in [
        (vec![Incremental], LessThanOneMinute),
        (vec![Keys], LessThanOneMinute),
        (vec![Config], OneToTwoMinutes),
        (vec![Incremental, Keys], OneToTwoMinutes),
        (vec![Config, Keys], TwoToFiveMinutes),
        (vec![Firmware], FiveToFifteenMinutes),
        (vec![Firmware, Config, Keys], FiveToFifteenMinutes),
    ] {
        assert_eq!(UpdateTimeEstimate::of(&components), estimate, "{components:?}");
    }
    assert!(!simulated_update(vec![Incremental, Incremental], 0, 1).is_cancelable());
    assert!(simulated_update(vec![Incremental, Keys], 0, 1).is_cancelable());
}

#[test]
fn an_update_reads_as_snake_case_json_with_a_hex_digest() {
    let update = simulated_update(
        vec![UpdateComponent::Firmware, UpdateComponent::Keys],
        604_800_000,
        1024,
    );
    let json = serde_json::to_value(&update).unwrap();
    assert_eq!(json["components"], serde_json::json!(["firmware", "keys"]));
    assert_eq!(json["duration_estimate"], "five_to_fifteen_minutes");
    assert_eq!(json["sha256"].as_str().unwrap().len(), 64);
    let back: ReaderSoftwareUpdate = serde_json::from_value(json).unwrap();
    assert_eq!(back, update);
    // An update error is written as error data: its code and message.
    assert_eq!(
        serde_json::to_value(UpdateError::BatteryTooLow).unwrap()["code"],
        "battery_too_low"
    );
    let bad = serde_json::json!({"version": "1", "components": [], "duration_estimate": "less_than_one_minute",
        "required_at": 0, "size": 1, "sha256": "xyz"});
    assert!(serde_json::from_value::<ReaderSoftwareUpdate>(bad).is_err());
}

// ----- the presets -----

/// Connects a reader under `preset` and runs whatever follows; returns
/// what the app and the connect saw, one line each.
fn run_preset(preset: SimulatedUpdatePreset, seed: u64, serial: &str) -> (String, String) {
    let spec = ReaderSpec::new(serial, DeviceType::WisePad3, "1.0.0");
    let mut h = Harness::new(Updater::default());
    h.advance_to(DAY);
    let sim = preset.simulate(seed, &spec, h.now());
    let mut peer = ModelReader::new();
    let out = connect(
        &mut h,
        ConnectedReader {
            location: Default::default(),
            device_type: spec.device_type,
            software_version: spec.software_version.clone(),
            battery_level: sim.battery_level,
            last_latest_run_at: sim.last_latest_run_at,
        },
        sim.update.clone(),
    );
    run_transfer(&mut h, &mut peer, out, |_, _| true);
    let progress = progress(&h);
    assert!(progress.windows(2).all(|w| w[0] < w[1]));
    let mut lines = format!(
        "{} (drew {}), battery {:.2}, last latest run {:?}, update {:?}\n",
        preset.name(),
        sim.preset.name(),
        sim.battery_level,
        sim.last_latest_run_at,
        sim.update
            .as_ref()
            .map(|u| (&u.components, u.duration_estimate, u.required_at, u.size)),
    );
    for event in events(&h) {
        let line = match event {
            UpdaterOutput::UpdateAvailable(u) => format!("UpdateAvailable(required_at {})", u.required_at),
            UpdaterOutput::InstallStarted { cancelable, .. } => {
                format!(
                    "InstallStarted {{ cancelable: {cancelable} }} then {} progress reports",
                    progress.len()
                )
            }
            UpdaterOutput::InstallFinished { update, error } => {
                format!(
                    "InstallFinished {{ update: {}, error: {error:?} }}",
                    update.is_some()
                )
            }
            other => format!("{other:?}"),
        };
        lines.push_str(&format!("  {line}\n"));
    }
    lines.push_str(&format!("  state {}, reader runs {}\n", h.state(), peer.version));
    (sim.preset.name().to_owned(), lines)
}

#[test]
fn each_simulated_preset_gives_what_the_reference_simulated_reader_gives() {
    let _snapshots = common::snapshots();
    let mut all = String::new();
    for preset in SimulatedUpdatePreset::ALL {
        let (_, lines) = run_preset(preset, 7, "WPC32-0001");
        all.push_str(&lines);
    }
    insta::assert_snapshot!("updater_presets", all);
}

#[test]
fn the_random_preset_is_the_same_for_the_same_seed_and_serial_and_draws_every_other_preset() {
    let mut drawn = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let a = run_preset(SimulatedUpdatePreset::Random, seed, "WPC32-0001");
        let b = run_preset(SimulatedUpdatePreset::Random, seed, "WPC32-0001");
        assert_eq!(a, b, "seed {seed}");
        drawn.insert(a.0);
    }
    assert_eq!(drawn.len(), 5, "{drawn:?}");
}

#[test]
fn the_presets_read_and_write_as_their_snake_case_names() {
    for preset in SimulatedUpdatePreset::ALL {
        assert_eq!(preset.name().parse::<SimulatedUpdatePreset>(), Ok(preset));
        assert_eq!(serde_json::to_value(preset).unwrap(), preset.name());
    }
    let error = "later".parse::<SimulatedUpdatePreset>().unwrap_err();
    assert!(error.contains("unknown update preset `later`"), "{error}");
}

// ----- the property -----

#[derive(Debug, Clone)]
enum Op {
    /// The reader connects with this battery and last-latest-run age (days).
    Connect {
        battery: f32,
        last_run_days: Option<Millis>,
    },
    Disconnect,
    /// The catalog answers: none, optional, required, incremental required.
    Catalog(u8),
    Battery(f32),
    Install,
    Cancel,
    StartTransaction,
    EndTransaction,
    /// The reader's next answer arrives.
    Answer,
    /// The reader's next answer is lost.
    Lose,
    /// The reader refuses the transfer.
    Refuse,
    Wait(Millis),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0.0f32..1.0, proptest::option::of(0..60u64))
            .prop_map(|(battery, last_run_days)| Op::Connect { battery, last_run_days }),
        1 => Just(Op::Disconnect),
        3 => (0..4u8).prop_map(Op::Catalog),
        1 => (0.0f32..1.0).prop_map(Op::Battery),
        2 => Just(Op::Install),
        1 => Just(Op::Cancel),
        2 => Just(Op::StartTransaction),
        2 => Just(Op::EndTransaction),
        8 => Just(Op::Answer),
        1 => Just(Op::Lose),
        1 => Just(Op::Refuse),
        2 => (0..3 * DAY).prop_map(Op::Wait),
        2 => (0..20 * SECOND).prop_map(Op::Wait),
    ]
}

struct Model {
    h: Harness<Updater>,
    peer: ModelReader,
    battery: f32,
    in_transaction: bool,
    connected: bool,
    /// The progress reported in the current install.
    last_progress: Option<f32>,
}

impl Model {
    fn check(&mut self, outputs: Vec<UpdaterOutput>) -> Result<(), TestCaseError> {
        for output in &outputs {
            match output {
                UpdaterOutput::InstallStarted { .. }
                | UpdaterOutput::Transfer(TransferCommand::Begin { .. }) => {
                    prop_assert!(
                        self.battery > 0.5,
                        "an install started at battery {}",
                        self.battery
                    );
                    prop_assert!(!self.in_transaction, "an install started during a transaction");
                    prop_assert!(self.connected);
                    if matches!(output, UpdaterOutput::InstallStarted { .. }) {
                        self.last_progress = None;
                    }
                }
                UpdaterOutput::InstallProgress { progress } => {
                    prop_assert!((0.0..=1.0).contains(progress), "progress {progress}");
                    if let Some(last) = self.last_progress {
                        prop_assert!(*progress > last, "progress went {last} -> {progress}");
                    }
                    self.last_progress = Some(*progress);
                }
                UpdaterOutput::UpdateAvailable(_) => {
                    prop_assert!(!self.in_transaction, "reported during a transaction");
                }
                _ => {}
            }
        }
        self.peer.take(&outputs);
        Ok(())
    }

    fn input(&mut self, input: UpdaterInput) -> Result<(), TestCaseError> {
        let outputs = self.h.input(input);
        self.check(outputs)
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Connect {
                battery,
                last_run_days,
            } => {
                self.battery = *battery;
                self.in_transaction = false;
                self.connected = true;
                self.peer.answers.clear();
                let now = self.h.now();
                let last = last_run_days.map(|d| now.saturating_sub(d * DAY));
                self.input(UpdaterInput::ReaderConnected(reader(*battery, last)))?;
            }
            Op::Disconnect => {
                self.connected = false;
                self.in_transaction = false;
                self.peer.answers.clear();
                self.input(UpdaterInput::ReaderDisconnected)?;
            }
            Op::Catalog(kind) => {
                let now = self.h.now();
                let update = match kind {
                    0 => None,
                    1 => Some(optional(now + DAY)),
                    2 => Some(required(vec![UpdateComponent::Firmware])),
                    _ => Some(required(vec![UpdateComponent::Incremental])),
                };
                self.input(UpdaterInput::CatalogAnswered {
                    update,
                    last_latest_run_at: None,
                })?;
            }
            Op::Battery(level) => {
                if self.connected {
                    self.battery = *level;
                    self.input(UpdaterInput::BatteryReported { level: *level })?;
                }
            }
            Op::Install => self.input(UpdaterInput::InstallRequested)?,
            Op::Cancel => self.input(UpdaterInput::CancelRequested)?,
            Op::StartTransaction => {
                if self.connected && !self.in_transaction {
                    self.in_transaction = true;
                    self.input(UpdaterInput::TransactionStarted)?;
                }
            }
            Op::EndTransaction => {
                if self.in_transaction {
                    self.in_transaction = false;
                    self.input(UpdaterInput::TransactionEnded)?;
                }
            }
            Op::Answer => {
                if let Some(answer) = self.peer.answers.pop_front() {
                    self.input(answer)?;
                }
            }
            Op::Lose => {
                self.peer.answers.pop_front();
            }
            Op::Refuse => {
                if self.peer.answers.pop_front().is_some() {
                    self.input(UpdaterInput::TransferFailed {
                        error: UpdateError::ReaderRefused,
                    })?;
                }
            }
            Op::Wait(ms) => {
                let outputs = self.h.advance(Duration::from_millis(*ms));
                self.check(outputs)?;
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn progress_only_grows_within_0_and_1_and_no_install_starts_at_low_battery_or_in_a_transaction(
        ops in proptest::collection::vec(op(), 0..80),
    ) {
        let mut model = Model {
            h: Harness::new(Updater::default()),
            peer: ModelReader::new(),
            battery: 0.0,
            in_transaction: false,
            connected: false,
            last_progress: None,
        };
        for op in &ops {
            model.step(op)?;
        }
    }
}

#[test]
fn an_image_that_cannot_be_downloaded_or_fails_its_checks_ends_the_install_before_any_byte_is_sent() {
    use readerlink::updater::IntegrityCheck;
    let sent_to_reader = |out: &[UpdaterOutput]| out.iter().any(|o| matches!(o, UpdaterOutput::Transfer(_)));
    let rejected = UpdateError::ImageRejected {
        check: IntegrityCheck::Signature,
    };
    // Optional, on request: back to `optional`, the error reported.
    for (failure, error) in [
        (UpdaterInput::DownloadFailed, UpdateError::DownloadFailed),
        (
            UpdaterInput::ImageRejected {
                check: IntegrityCheck::Signature,
            },
            rejected,
        ),
    ] {
        let mut h = Harness::new(Updater::default());
        connect(&mut h, reader(0.8, None), Some(optional(7 * DAY)));
        let out = h.input(UpdaterInput::InstallRequested);
        assert!(
            out.iter()
                .any(|o| matches!(o, UpdaterOutput::DownloadImage { .. }))
        );
        let out = match failure {
            UpdaterInput::DownloadFailed => h.input(failure),
            failure => {
                h.input(UpdaterInput::ImageDownloaded);
                h.input(failure)
            }
        };
        assert!(!sent_to_reader(&out), "{out:?}");
        assert_eq!(h.state(), "optional");
        assert_eq!(finished(&h), [Some(error)]);
    }
    // Required at connect: the connect is decided by R15 (never on the
    // latest software here: it fails), the update stays required.
    for (failure, error) in [
        (UpdaterInput::DownloadFailed, UpdateError::DownloadFailed),
        (
            UpdaterInput::ImageRejected {
                check: IntegrityCheck::Signature,
            },
            rejected,
        ),
    ] {
        let mut h = Harness::new(Updater::default());
        connect(
            &mut h,
            reader(0.8, None),
            Some(required(vec![UpdateComponent::Firmware])),
        );
        let out = match failure {
            UpdaterInput::DownloadFailed => h.input(failure),
            failure => {
                h.input(UpdaterInput::ImageDownloaded);
                h.input(failure)
            }
        };
        assert!(!sent_to_reader(&out), "{out:?}");
        assert_eq!(h.state(), "required");
        assert_eq!(connect_word(&h), [UpdaterOutput::ConnectMustFail(error)]);
    }
}

#[test]
fn a_catalog_that_cannot_be_asked_lets_the_connect_proceed_as_up_to_date() {
    let mut h = Harness::new(Updater::default());
    h.input(UpdaterInput::ReaderConnected(reader(0.8, None)));
    h.input(UpdaterInput::CatalogUnavailable);
    assert_eq!(h.state(), "up_to_date");
    assert_eq!(connect_word(&h), [UpdaterOutput::ConnectMayProceed]);
}

#[test]
fn an_install_requested_while_connected_that_is_not_seen_running_goes_back_to_what_was_on_offer() {
    // R19 on request: the new image never confirms itself (the reader
    // still runs the old version), or the question which software it runs
    // fails. The install fails, and the update stays on offer as it was:
    // optional, or required when it had come due.
    for (due, never_activates) in [(false, true), (false, false), (true, false)] {
        let case = format!("due: {due}, never activates: {never_activates}");
        let mut h = Harness::new(Updater::default());
        let mut peer = ModelReader::new();
        peer.never_activates = never_activates;
        connect(
            &mut h,
            reader(0.8, None),
            Some(optional(if due { MINUTE } else { 7 * DAY })),
        );
        if due {
            h.advance(Duration::from_millis(MINUTE));
            assert_eq!(h.state(), "required", "{case}");
        }
        let out = h.input(UpdaterInput::InstallRequested);
        run_transfer(&mut h, &mut peer, out, |h, peer| {
            h.state() != "confirming"
                || (never_activates
                    && matches!(
                        peer.answers.front(),
                        Some(UpdaterInput::RunningVersionReported { .. })
                    ))
        });
        assert_eq!(
            h.state(),
            if never_activates { "optional" } else { "confirming" },
            "{case}"
        );
        if !never_activates {
            h.input(UpdaterInput::TransferFailed {
                error: UpdateError::ReaderRefused,
            });
        }
        assert_eq!(h.state(), if due { "required" } else { "optional" }, "{case}");
        let expected = if never_activates {
            UpdateError::NotActivated
        } else {
            UpdateError::ReaderRefused
        };
        assert_eq!(finished(&h), [Some(expected)], "{case}");
        assert!(
            progress(&h).iter().all(|p| *p < 1.0),
            "{case}: never reported done"
        );
    }
}
