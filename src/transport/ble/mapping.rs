//! What btleplug reports, mapped to the transport boundary's terms. Plain
//! functions, so each rule is unit-tested without a Bluetooth stack.

use std::collections::BTreeSet;

use btleplug::api::{CentralState, Characteristic, PeripheralProperties, Service};

use crate::protocol::advertisement::{AdvertisementError, ReaderAdvertisement};
use crate::transport::{
    Advertisement, COMMAND_CHARACTERISTIC_UUID, EVENT_CHARACTERISTIC_UUID, LinkLossCause, MANUFACTURER_ID,
    PeripheralId, SERVICE_UUID, ScanEvent,
};

/// The smallest ATT payload: the default MTU of 23 less the 3-byte ATT header.
pub(crate) const MIN_ATT_PAYLOAD: usize = 20;
/// The largest ATT payload a reader link uses (MTU 247).
pub(crate) const MAX_ATT_PAYLOAD: usize = 244;

/// Why a peripheral's properties did not make an [`Advertisement`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NotAReader {
    /// Nothing filed under [`MANUFACTURER_ID`]: some other device.
    #[error("no manufacturer data under our company id")]
    NoManufacturerData,
    /// Data under our company id that is not a readerlink advertisement.
    #[error("manufacturer data did not decode: {0}")]
    Undecodable(#[from] AdvertisementError),
    /// BlueZ shows an RSSI only for devices heard in the current discovery;
    /// without one the device is a stale cache entry, not an advertisement.
    #[error("no RSSI: not heard in this discovery")]
    NotHeard,
}

/// Builds the advertisement a peripheral's properties describe, or says
/// why it is not one of ours.
pub(crate) fn advertisement_from_properties(
    peripheral: PeripheralId,
    properties: &PeripheralProperties,
) -> Result<Advertisement, NotAReader> {
    let data = properties
        .manufacturer_data
        .get(&MANUFACTURER_ID)
        .ok_or(NotAReader::NoManufacturerData)?;
    let reader = ReaderAdvertisement::decode(data)?;
    let rssi = properties.rssi.ok_or(NotAReader::NotHeard)?;
    Ok(Advertisement {
        peripheral,
        rssi,
        local_name: properties.local_name.clone(),
        reader,
    })
}

/// What an adapter state report means to a running scan, given whether the
/// adapter was powered: only changes are news (BlueZ repeats `Powered`,
/// and bluez-async sets it again when discovery starts).
pub(crate) fn scan_event_for_state(powered: &mut bool, state: &CentralState) -> Option<ScanEvent> {
    let now = match state {
        CentralState::PoweredOn => true,
        CentralState::PoweredOff => false,
        CentralState::Unknown => return None,
    };
    if now == *powered {
        return None;
    }
    *powered = now;
    Some(ScanEvent::AdapterPowerChanged { powered: now })
}

/// Why a link ended, given what the host knew when the disconnect was
/// reported: the app's own close wins, then a powered-off adapter (BlueZ
/// may report the device disconnects before the adapter's power change),
/// and anything else is the radio link failing.
pub(crate) fn link_loss_cause(closed_locally: bool, adapter: &CentralState) -> LinkLossCause {
    if closed_locally {
        LinkLossCause::LocalClosed
    } else if *adapter == CentralState::PoweredOff {
        LinkLossCause::AdapterPoweredOff
    } else {
        LinkLossCause::SignalLost
    }
}

/// The ATT payload size for a negotiated MTU, kept within what readers
/// accept.
pub(crate) fn att_payload_for_mtu(mtu: u16) -> usize {
    usize::from(mtu)
        .saturating_sub(3)
        .clamp(MIN_ATT_PAYLOAD, MAX_ATT_PAYLOAD)
}

/// The command and event characteristics of our service, if the
/// peripheral offers both.
pub(crate) fn reader_characteristics(
    services: &BTreeSet<Service>,
) -> Option<(Characteristic, Characteristic)> {
    let service = services.iter().find(|service| service.uuid == SERVICE_UUID)?;
    let find = |uuid| service.characteristics.iter().find(|c| c.uuid == uuid).cloned();
    Some((
        find(COMMAND_CHARACTERISTIC_UUID)?,
        find(EVENT_CHARACTERISTIC_UUID)?,
    ))
}

/// The adapter's name (`hci0`) from btleplug's adapter info, which BlueZ
/// formats as `hci0 (usb:v1D6Bp0246d0540)`.
pub(crate) fn adapter_name(adapter_info: &str) -> &str {
    adapter_info.split_whitespace().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use btleplug::api::CharPropFlags;
    use uuid::Uuid;

    use super::*;
    use crate::reader::DeviceType;

    fn reader_data(battery: Option<u8>) -> Vec<u8> {
        ReaderAdvertisement {
            device_type: DeviceType::StripeM2,
            serial_number: "STRM2-0042".into(),
            battery_percent: battery,
            software_version: None,
        }
        .encode()
    }

    fn properties(manufacturer_data: HashMap<u16, Vec<u8>>, rssi: Option<i16>) -> PeripheralProperties {
        PeripheralProperties {
            local_name: Some("Reader".into()),
            rssi,
            manufacturer_data,
            ..PeripheralProperties::default()
        }
    }

    #[test]
    fn a_reader_advertisement_is_decoded_with_its_rssi_and_name() {
        let props = properties(
            HashMap::from([(MANUFACTURER_ID, reader_data(Some(64)))]),
            Some(-48),
        );
        let ad = advertisement_from_properties("hci0/dev_C0_FF_EE_00_00_01".into(), &props).unwrap();
        assert_eq!(ad.peripheral, "hci0/dev_C0_FF_EE_00_00_01");
        assert_eq!(ad.rssi, -48);
        assert_eq!(ad.local_name.as_deref(), Some("Reader"));
        assert_eq!(ad.reader.serial_number.as_str(), "STRM2-0042");
        assert_eq!(ad.reader.battery_percent, Some(64));
    }

    #[test]
    fn other_devices_are_not_readers() {
        let apple = properties(HashMap::from([(0x004C, vec![0x02, 0x15])]), Some(-60));
        assert_eq!(
            advertisement_from_properties("x".into(), &apple),
            Err(NotAReader::NoManufacturerData)
        );
        let squatter = properties(
            HashMap::from([(MANUFACTURER_ID, vec![0x01, 0x02, 0x03])]),
            Some(-60),
        );
        assert_eq!(
            advertisement_from_properties("x".into(), &squatter),
            Err(NotAReader::Undecodable(AdvertisementError::NotReaderlink))
        );
    }

    #[test]
    fn a_cached_reader_not_heard_in_this_discovery_is_not_reported() {
        let cached = properties(HashMap::from([(MANUFACTURER_ID, reader_data(None))]), None);
        assert_eq!(
            advertisement_from_properties("x".into(), &cached),
            Err(NotAReader::NotHeard)
        );
    }

    #[test]
    fn adapter_power_changes_reach_the_scan_once_each() {
        let mut powered = true;
        assert_eq!(scan_event_for_state(&mut powered, &CentralState::PoweredOn), None);
        assert_eq!(
            scan_event_for_state(&mut powered, &CentralState::PoweredOff),
            Some(ScanEvent::AdapterPowerChanged { powered: false })
        );
        assert_eq!(
            scan_event_for_state(&mut powered, &CentralState::PoweredOff),
            None
        );
        assert_eq!(scan_event_for_state(&mut powered, &CentralState::Unknown), None);
        assert_eq!(
            scan_event_for_state(&mut powered, &CentralState::PoweredOn),
            Some(ScanEvent::AdapterPowerChanged { powered: true })
        );
    }

    #[test]
    fn link_loss_causes_are_told_apart() {
        assert_eq!(
            link_loss_cause(true, &CentralState::PoweredOff),
            LinkLossCause::LocalClosed
        );
        assert_eq!(
            link_loss_cause(false, &CentralState::PoweredOff),
            LinkLossCause::AdapterPoweredOff
        );
        assert_eq!(
            link_loss_cause(false, &CentralState::PoweredOn),
            LinkLossCause::SignalLost
        );
        assert_eq!(
            link_loss_cause(false, &CentralState::Unknown),
            LinkLossCause::SignalLost
        );
    }

    #[test]
    fn att_payload_follows_the_mtu_within_reader_limits() {
        assert_eq!(att_payload_for_mtu(23), 20);
        assert_eq!(att_payload_for_mtu(185), 182);
        assert_eq!(att_payload_for_mtu(247), 244);
        assert_eq!(att_payload_for_mtu(517), 244);
        assert_eq!(att_payload_for_mtu(0), 20);
    }

    fn characteristic(uuid: Uuid) -> Characteristic {
        Characteristic {
            uuid,
            service_uuid: SERVICE_UUID,
            properties: CharPropFlags::empty(),
            descriptors: BTreeSet::new(),
        }
    }

    #[test]
    fn our_characteristics_are_found_only_in_our_service() {
        let ours = Service {
            uuid: SERVICE_UUID,
            primary: true,
            characteristics: BTreeSet::from([
                characteristic(COMMAND_CHARACTERISTIC_UUID),
                characteristic(EVENT_CHARACTERISTIC_UUID),
            ]),
        };
        let (command, event) = reader_characteristics(&BTreeSet::from([ours.clone()])).unwrap();
        assert_eq!(command.uuid, COMMAND_CHARACTERISTIC_UUID);
        assert_eq!(event.uuid, EVENT_CHARACTERISTIC_UUID);

        let battery_service = Service {
            uuid: Uuid::from_u128(0x0000_180f_0000_1000_8000_0080_5f9b_34fb),
            ..ours.clone()
        };
        assert_eq!(reader_characteristics(&BTreeSet::from([battery_service])), None);
        let half = Service {
            characteristics: BTreeSet::from([characteristic(COMMAND_CHARACTERISTIC_UUID)]),
            ..ours
        };
        assert_eq!(reader_characteristics(&BTreeSet::from([half])), None);
    }

    #[test]
    fn adapter_names_come_from_bluez_adapter_info() {
        assert_eq!(adapter_name("hci0 (usb:v1D6Bp0246d0540)"), "hci0");
        assert_eq!(adapter_name("hci1"), "hci1");
        assert_eq!(adapter_name(""), "");
    }
}
