//! Helpers for the scanner's tests: advertisements built by hand, and the
//! lists a harness run reported.
#![allow(dead_code)]

use readerlink::protocol::advertisement::ReaderAdvertisement;
use readerlink::reader::{DeviceType, Reader};
use readerlink::runtime::{Harness, Millis};
use readerlink::scanner::{DiscoveryConfig, DiscoveryId, Scanner, ScannerInput, ScannerOutput};
use readerlink::transport::Advertisement;

/// A short-form advertisement (serial only).
pub fn short(serial: &str, device_type: DeviceType, rssi: i16) -> ScannerInput {
    ScannerInput::AdvertisementSeen(Advertisement {
        peripheral: format!("sim:{serial}"),
        rssi,
        local_name: None,
        reader: ReaderAdvertisement {
            device_type,
            serial_number: serial.into(),
            battery_percent: None,
            software_version: None,
        },
    })
}

/// A long-form advertisement (scan response): battery and software version.
pub fn long(serial: &str, device_type: DeviceType, rssi: i16, battery: u8, version: &str) -> ScannerInput {
    let ScannerInput::AdvertisementSeen(mut adv) = short(serial, device_type, rssi) else {
        unreachable!()
    };
    adv.reader.battery_percent = Some(battery);
    adv.reader.software_version = Some(version.into());
    ScannerInput::AdvertisementSeen(adv)
}

/// Starts discovery `id` with `config`.
pub fn discover(id: u64, config: DiscoveryConfig) -> ScannerInput {
    ScannerInput::DiscoveryRequested {
        discovery: DiscoveryId(id),
        config,
    }
}

/// Every list reported so far: (time, discovery, serials).
pub fn lists(harness: &Harness<Scanner>) -> Vec<(Millis, u64, Vec<String>)> {
    harness
        .outputs()
        .iter()
        .filter_map(|(t, output)| match output {
            ScannerOutput::ReportReaders { discovery, readers } => Some((
                *t,
                discovery.0,
                readers.iter().map(|r| r.serial_number.to_string()).collect(),
            )),
            _ => None,
        })
        .collect()
}

/// Every full list reported so far.
pub fn reported(harness: &Harness<Scanner>) -> Vec<Vec<Reader>> {
    harness
        .outputs()
        .iter()
        .filter_map(|(_, output)| match output {
            ScannerOutput::ReportReaders { readers, .. } => Some(readers.clone()),
            _ => None,
        })
        .collect()
}

/// How each discovery ended: (discovery, error code or "ok").
pub fn endings(harness: &Harness<Scanner>) -> Vec<(u64, &'static str)> {
    harness
        .outputs()
        .iter()
        .filter_map(|(_, output)| match output {
            ScannerOutput::EndDiscovery { discovery, result } => {
                Some((discovery.0, result.as_ref().map_or_else(|e| e.code(), |()| "ok")))
            }
            _ => None,
        })
        .collect()
}
