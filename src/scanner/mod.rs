//! The scanner: discovery of readers (R1–R5), one per terminal.
//!
//! | piece | file |
//! |---|---|
//! | the pure machine [`Scanner`] and its table [`SPEC`] | `machine.rs` |
//! | its inputs, outputs, timers and actix messages | `messages.rs` |
//! | the shell: scanning, list delivery, the identify command | `actor.rs` |
//! | the public surface: [`ScannerHandle`], [`DiscoveryConfig`], [`Discovery`] | here |
//!
//! # What a discovery reports
//!
//! A discovery reports the whole list of readers each time it changes
//! ([`DiscoveryUpdate::ReadersUpdated`]), then ends with exactly one
//! [`DiscoveryUpdate::Finished`], after which its stream ends.
//!
//! - **Bluetooth scan** (R1): every reader heard, deduplicated by serial
//!   number, loudest first. The list counts as changed when a reader
//!   appears, disappears (not heard for [`DiscoveryConfig::forget_after`]),
//!   or its details change (device type, software version, battery,
//!   peripheral). RSSI alone counts only when it moved by at least
//!   [`RSSI_REPORT_STEP_DB`] from the value last reported for that reader;
//!   every report carries each reader's latest RSSI. Lists are reported no
//!   more often than [`DiscoveryConfig::min_update_interval`]: a change
//!   inside the interval is held back and reported when it ends.
//! - **Bluetooth proximity** (R1, R4): Chipper 2X readers only. The
//!   candidates heard within [`DiscoveryConfig::locate_window`] of the first
//!   are compared by mean RSSI; the loudest is reported, first with its
//!   serial number only, then (once its long-form advertisement gave its
//!   battery) with its details, and it is sent the identify command. It
//!   sticks until it is not heard for `forget_after`; then the list empties
//!   and a new nearest reader may be found.
//! - A timeout (R3) ends the discovery (a change held back by the update
//!   interval is reported first): `Ok` if the last list reported has a
//!   reader in it, [`DiscoveryError::ScanTimedOut`] if it is empty or none
//!   was reported.
//! - One discovery at a time (R2): a new one ends the running one with
//!   [`DiscoveryError::Superseded`]; a connect ends it with `Ok`; its
//!   [`Cancelable`] ends it with [`DiscoveryError::Cancelled`] (R5).
//!   Connected readers are never listed.

mod actor;
mod machine;
mod messages;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

pub use actor::{IDENTIFY_DURATION, ScannerActor, ScannerEffects};
pub use machine::{IDENTIFY_ACK_TIMEOUT, RSSI_REPORT_STEP_DB, SPEC, Scanner};
pub use messages::{
    CancelDiscovery, DiscoveryId, ScanId, ScannerInput, ScannerOutput, ScannerTimer, StartDiscovery,
};

use crate::cancelable::{CancelOutcome, Cancelable};
use crate::reader::{Reader, SerialNumber};
use crate::runtime::{Clock, Deliver, Tracer};
use crate::transport::{Transport, TransportError};

/// How to discover (R1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DiscoveryMethod {
    /// Every nearby reader, the list re-reported as it changes.
    BluetoothScan,
    /// The nearest Chipper 2X only, reported twice (R4).
    BluetoothProximity,
}

/// A discovery's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryConfig {
    /// Scan or proximity.
    pub method: DiscoveryMethod,
    /// When to stop on our own (R3); `None` runs until cancelled or a connect.
    pub timeout: Option<Duration>,
    /// A reader not heard for this long disappears from the list (and a
    /// proximity target is given up).
    pub forget_after: Duration,
    /// List updates come no more often than this, however busy the air is.
    pub min_update_interval: Duration,
    /// Proximity: how long candidates are compared, from the first one
    /// heard, before the loudest is picked.
    pub locate_window: Duration,
}

impl DiscoveryConfig {
    /// A reader not heard for this long is forgotten, by default: readers
    /// advertise about once a second, so this survives a few missed ones.
    pub const DEFAULT_FORGET_AFTER: Duration = Duration::from_secs(10);
    /// The default spacing of list updates.
    pub const DEFAULT_MIN_UPDATE_INTERVAL: Duration = Duration::from_millis(500);
    /// The default proximity locate window.
    pub const DEFAULT_LOCATE_WINDOW: Duration = Duration::from_secs(1);

    /// A Bluetooth scan with no timeout.
    pub fn scan() -> Self {
        Self {
            method: DiscoveryMethod::BluetoothScan,
            timeout: None,
            forget_after: Self::DEFAULT_FORGET_AFTER,
            min_update_interval: Self::DEFAULT_MIN_UPDATE_INTERVAL,
            locate_window: Self::DEFAULT_LOCATE_WINDOW,
        }
    }

    /// A Bluetooth proximity discovery with no timeout.
    pub fn proximity() -> Self {
        Self {
            method: DiscoveryMethod::BluetoothProximity,
            ..Self::scan()
        }
    }

    /// The same, ending after `timeout` (R3).
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self {
            timeout: Some(timeout),
            ..self
        }
    }

    /// The same, forgetting readers not heard for `forget_after`.
    pub fn with_forget_after(self, forget_after: Duration) -> Self {
        Self { forget_after, ..self }
    }

    /// The same, reporting lists no more often than `interval`.
    pub fn with_min_update_interval(self, interval: Duration) -> Self {
        Self {
            min_update_interval: interval,
            ..self
        }
    }
}

/// What a discovery reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DiscoveryUpdate {
    /// The whole current list of discovered readers, loudest first.
    ReadersUpdated(Vec<Reader>),
    /// The discovery ended; nothing follows.
    Finished(Result<(), DiscoveryError>),
}

/// How a discovery can fail. Every kind has a stable [`code`](Self::code);
/// as JSON it is `{"code": ..., "message": ..., ...fields}`
/// ([`crate::error_data`]; the transport's error is its `detail`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// A newer discovery was started and replaced this one (R2).
    ///
    /// Code: `discovery_superseded`.
    #[error("discovery superseded by a newer discovery")]
    Superseded,
    /// The timeout elapsed with no reader listed (R3).
    ///
    /// Code: `scan_timed_out`.
    #[error("discovery timed out with no reader found")]
    ScanTimedOut,
    /// The app cancelled the discovery (R5).
    ///
    /// Code: `discovery_cancelled`.
    #[error("discovery cancelled")]
    Cancelled,
    /// The transport failed (the scan could not start or broke off, or the
    /// adapter was powered off).
    ///
    /// Code: `discovery_transport_failed`.
    #[error("discovery failed in the Bluetooth transport: {0}")]
    Transport(TransportError),
    /// The scanner actor is not running (its actix system stopped).
    ///
    /// Code: `scanner_stopped`.
    #[error("the scanner is not running")]
    ScannerStopped,
}

crate::error_data::impl_error_data!(DiscoveryError, placeholder = DiscoveryError::Cancelled);

impl DiscoveryError {
    /// Every code of this type's own kinds (a kind that carries an inner
    /// error takes its code, and is not listed).
    pub const CODES: &'static [&'static str] = &[
        "discovery_superseded",
        "scan_timed_out",
        "discovery_cancelled",
        "discovery_transport_failed",
        "scanner_stopped",
    ];

    /// A stable code an integrator can switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Superseded => "discovery_superseded",
            Self::ScanTimedOut => "scan_timed_out",
            Self::Cancelled => "discovery_cancelled",
            Self::Transport(_) => "discovery_transport_failed",
            Self::ScannerStopped => "scanner_stopped",
        }
    }
}

/// A running discovery, as the app holds it.
pub struct Discovery {
    /// Stops the discovery (R5); harmless once it has ended.
    pub cancelable: Cancelable,
    /// The list updates, then one [`DiscoveryUpdate::Finished`]; the stream
    /// ends after it.
    pub updates: BoxStream<'static, DiscoveryUpdate>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery").finish_non_exhaustive()
    }
}

/// Every reader heard since the scanner started, by serial number: its
/// latest advertised details and peripheral id. Written by the scan task,
/// read by [`ScannerHandle::reader`].
pub(crate) type SeenReaders = Arc<Mutex<HashMap<SerialNumber, Reader>>>;

/// The scanner's address, as the terminal (and the CLI) hold it. Cheap to
/// clone.
#[derive(Clone)]
pub struct ScannerHandle {
    addr: actix::Addr<ScannerActor>,
    next_id: Arc<AtomicU64>,
    seen: SeenReaders,
    discovering: tokio::sync::watch::Receiver<bool>,
}

impl std::fmt::Debug for ScannerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScannerHandle").finish_non_exhaustive()
    }
}

impl ScannerHandle {
    /// Starts the scanner actor on `transport`. Call it inside an actix
    /// system.
    pub fn start(transport: Arc<dyn Transport>, tracer: Tracer, clock: Clock) -> Self {
        use actix::Actor;
        let seen = SeenReaders::default();
        let (discovering_tx, discovering) = tokio::sync::watch::channel(false);
        let effects = ScannerEffects::new(transport, seen.clone(), discovering_tx);
        let addr = ScannerActor::new("scanner", Scanner::new(), effects, tracer, clock).start();
        Self {
            addr,
            next_id: Arc::new(AtomicU64::new(1)),
            seen,
            discovering,
        }
    }

    /// Starts a discovery; a running one ends with
    /// [`DiscoveryError::Superseded`] (R2).
    pub async fn discover(&self, config: DiscoveryConfig) -> Discovery {
        let discovery = DiscoveryId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let addr = self.addr.clone();
        let cancelable = Cancelable::new(move || {
            let addr = addr.clone();
            Box::pin(async move {
                addr.send(CancelDiscovery { discovery })
                    .await
                    .unwrap_or(CancelOutcome::AlreadyEnded)
            })
        });
        let started = self
            .addr
            .send(StartDiscovery {
                discovery,
                config,
                updates: tx,
            })
            .await;
        let updates = match started {
            // Ends right after `Finished`, whoever else still holds a sender.
            Ok(()) => futures::stream::unfold((rx, false), |(mut rx, finished)| async move {
                if finished {
                    return None;
                }
                let update = rx.recv().await?;
                let finished = matches!(update, DiscoveryUpdate::Finished(_));
                Some((update, (rx, finished)))
            })
            .boxed(),
            Err(_) => futures::stream::iter([DiscoveryUpdate::Finished(Err(DiscoveryError::ScannerStopped))])
                .boxed(),
        };
        Discovery { cancelable, updates }
    }

    /// A connect to `serial` started: the running discovery ends with `Ok`
    /// (R2).
    pub async fn connect_started(&self, serial: SerialNumber) {
        let _ = self
            .addr
            .send(Deliver::from("terminal", ScannerInput::ConnectStarted { serial }))
            .await;
    }

    /// `serial` became connected (or stopped being); discoveries never
    /// list connected readers (R2). Sent at once, in order with the other
    /// changes.
    pub fn set_connected(&self, serial: SerialNumber, connected: bool) {
        self.addr.do_send(Deliver::from(
            "terminal",
            ScannerInput::ConnectedReadersChanged { serial, connected },
        ));
    }

    /// The reader with `serial` as last heard (by any discovery since the
    /// scanner started), with the peripheral id to connect to.
    pub async fn reader(&self, serial: &SerialNumber) -> Option<Reader> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(serial)
            .cloned()
    }

    /// Whether a discovery is running, for the `Discovering` status (R2).
    pub fn discovering(&self) -> tokio::sync::watch::Receiver<bool> {
        self.discovering.clone()
    }

    /// The actor's address, for tests and tools.
    pub fn address(&self) -> &actix::Addr<ScannerActor> {
        &self.addr
    }
}
