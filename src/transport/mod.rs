//! The BLE transport boundary: scanning for advertisements, and links to
//! connected readers over which wire-protocol bytes flow.
//!
//! Two sides implement [`Transport`]: the simulated world (`sim`, the
//! embedded default) and `btleplug` (`ble`, cargo feature `ble`). Everything
//! above this module talks to readers only through these traits, so a
//! scenario runs unchanged on either.
//!
//! The GATT service of a readerlink reader:
//!
//! | what | UUID |
//! |---|---|
//! | service | [`SERVICE_UUID`] |
//! | command characteristic (app → reader, write without response) | [`COMMAND_CHARACTERISTIC_UUID`] |
//! | event characteristic (reader → app, notify) | [`EVENT_CHARACTERISTIC_UUID`] |
//!
//! Readers advertise the service UUID and manufacturer data under
//! [`MANUFACTURER_ID`], decoded by [`crate::protocol::advertisement`].

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::protocol::advertisement::ReaderAdvertisement;

#[cfg(feature = "ble")]
pub mod ble;
pub mod sim;

/// The readerlink reader GATT service.
pub const SERVICE_UUID: Uuid = Uuid::from_u128(0x7e1a_0001_5c3b_4e8e_9f2a_8c6d_52a1_0b00);
/// App → reader commands (write without response).
pub const COMMAND_CHARACTERISTIC_UUID: Uuid = Uuid::from_u128(0x7e1a_0002_5c3b_4e8e_9f2a_8c6d_52a1_0b00);
/// Reader → app responses and notifications (notify).
pub const EVENT_CHARACTERISTIC_UUID: Uuid = Uuid::from_u128(0x7e1a_0003_5c3b_4e8e_9f2a_8c6d_52a1_0b00);
/// The Bluetooth SIG company identifier our manufacturer data is filed
/// under (0xFFFF: reserved for testing and internal use).
pub const MANUFACTURER_ID: u16 = 0xFFFF;

/// The transport's handle for one peripheral: a BLE address or a simulated
/// reader's id. Opaque above the transport.
pub type PeripheralId = String;

/// One advertisement heard while scanning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advertisement {
    /// Which peripheral sent it.
    pub peripheral: PeripheralId,
    /// Received signal strength in dBm; closer readers are louder.
    pub rssi: i16,
    /// The advertised local name, when the peripheral sends one.
    pub local_name: Option<String>,
    /// Our manufacturer data, decoded. Peripherals that are not readerlink
    /// readers never reach the scanner.
    pub reader: ReaderAdvertisement,
}

/// What a scan reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScanEvent {
    /// A reader's advertisement was heard.
    AdvertisementSeen(Advertisement),
    /// The host's Bluetooth adapter was powered off (or on).
    AdapterPowerChanged {
        /// Whether the adapter is now on.
        powered: bool,
    },
}

/// Why a link went down, as far as the transport can tell. The connection
/// maps this (or the reader's own disconnecting notification) to a
/// [`crate::reader::DisconnectReason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkLossCause {
    /// Supervision timeout: out of range or interference.
    SignalLost,
    /// The host adapter was powered off.
    AdapterPoweredOff,
    /// The peer closed the link (it may have sent a disconnecting
    /// notification first).
    RemoteClosed,
    /// The app closed the link.
    LocalClosed,
}

/// What a link reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LinkEvent {
    /// One notification on the event characteristic: at most one ATT payload
    /// of a fragmented frame.
    NotificationReceived(Vec<u8>),
    /// The link is gone; no more events follow.
    LinkLost(LinkLossCause),
}

/// The writing half of a connected link.
pub trait LinkWriter: Send + Sync {
    /// Writes one ATT payload (at most [`Link::att_payload`] bytes) to the
    /// command characteristic.
    fn write(&self, payload: Vec<u8>) -> BoxFuture<'_, Result<(), TransportError>>;
    /// Closes the link; its event stream then ends with
    /// [`LinkEvent::LinkLost`]`(`[`LinkLossCause::LocalClosed`]`)`.
    fn disconnect(&self) -> BoxFuture<'_, Result<(), TransportError>>;
}

/// A connected reader: service discovered, notifications subscribed.
pub struct Link {
    /// The peripheral this link is to.
    pub peripheral: PeripheralId,
    /// The negotiated ATT payload size (MTU - 3): 20 by default, up to 244.
    pub att_payload: usize,
    /// Writes to the reader.
    pub writer: Box<dyn LinkWriter>,
    /// Notifications and the link's end.
    pub events: BoxStream<'static, LinkEvent>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("peripheral", &self.peripheral)
            .field("att_payload", &self.att_payload)
            .finish_non_exhaustive()
    }
}

/// A BLE central: the host side of every reader connection.
pub trait Transport: Send + Sync + 'static {
    /// Starts scanning for readerlink readers. The stream runs until
    /// [`Transport::stop_scan`] or until it is dropped.
    fn scan(&self) -> BoxFuture<'_, Result<BoxStream<'static, ScanEvent>, TransportError>>;
    /// Stops the running scan, if any.
    fn stop_scan(&self) -> BoxFuture<'_, Result<(), TransportError>>;
    /// Connects, discovers our service and subscribes to the event
    /// characteristic.
    fn connect(&self, peripheral: &PeripheralId) -> BoxFuture<'_, Result<Link, TransportError>>;
}

/// What can go wrong at the transport boundary. Every kind has a stable
/// [`code`](Self::code); as JSON it is `{"code": ..., "message": ...,
/// ...fields}` ([`crate::error_data`]; an unnamed payload is its `detail`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
#[non_exhaustive]
pub enum TransportError {
    /// No Bluetooth adapter is available, or it is powered off.
    ///
    /// Code: `adapter_unavailable`.
    #[error("no usable Bluetooth adapter: {0}")]
    AdapterUnavailable(String),
    /// The peripheral is not known to the transport (never seen, or gone).
    ///
    /// Code: `unknown_peripheral`.
    #[error("peripheral `{0}` is not known to the transport")]
    UnknownPeripheral(PeripheralId),
    /// The peripheral did not answer the connection request.
    ///
    /// Code: `peripheral_connect_failed`.
    #[error("connecting to `{peripheral}` failed: {reason}")]
    ConnectFailed {
        /// Which peripheral.
        peripheral: PeripheralId,
        /// What the stack said.
        reason: String,
    },
    /// The peripheral does not offer the readerlink service.
    ///
    /// Code: `service_missing`.
    #[error("peripheral `{0}` does not offer the readerlink GATT service")]
    ServiceMissing(PeripheralId),
    /// A write on a link that is already down.
    ///
    /// Code: `link_down`.
    #[error("the link to `{0}` is down")]
    LinkDown(PeripheralId),
    /// Any other failure of the underlying stack.
    ///
    /// Code: `bluetooth_stack_failed`.
    #[error("Bluetooth stack error: {0}")]
    Stack(String),
}

crate::error_data::impl_error_data!(TransportError, placeholder = TransportError::Stack(String::new()));

impl TransportError {
    /// Every code of this type's own kinds (a kind that carries an inner
    /// error takes its code, and is not listed).
    pub const CODES: &'static [&'static str] = &[
        "adapter_unavailable",
        "unknown_peripheral",
        "peripheral_connect_failed",
        "service_missing",
        "link_down",
        "bluetooth_stack_failed",
    ];

    /// A stable code for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AdapterUnavailable(_) => "adapter_unavailable",
            Self::UnknownPeripheral(_) => "unknown_peripheral",
            Self::ConnectFailed { .. } => "peripheral_connect_failed",
            Self::ServiceMissing(_) => "service_missing",
            Self::LinkDown(_) => "link_down",
            Self::Stack(_) => "bluetooth_stack_failed",
        }
    }
}
