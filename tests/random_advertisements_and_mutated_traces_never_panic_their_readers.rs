//! Fuzz-style loops on stable (proptest): manufacturer data from the air
//! and trace files from disk are outside input. Random advertisement bytes
//! decode to a reader or a typed error, never a panic, and every
//! advertisement round-trips; a real trace with random bytes flipped,
//! cut or inserted is read back or refused with a typed error, never a
//! panic. (Frames and their reassembly, scenario files and fleet files have
//! their own random-input tests.)

use proptest::prelude::*;
use readerlink::explore::{GenConfig, generate};
use readerlink::protocol::advertisement::ReaderAdvertisement;
use readerlink::reader::{DeviceType, SerialNumber};
use readerlink::runtime::Trace;
use readerlink::scenario::{self, TraceTo};
use std::sync::OnceLock;
use std::time::Duration;

fn device_type() -> impl Strategy<Value = DeviceType> {
    prop_oneof![
        Just(DeviceType::Chipper2X),
        Just(DeviceType::WisePad3),
        Just(DeviceType::StripeM2)
    ]
}

/// A real trace: one explore seed's run (2 readers, 10 virtual minutes
/// of faults), written by the scenario runner.
fn real_trace() -> &'static String {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let config = GenConfig {
            readers: 2,
            safety: Duration::from_secs(600),
            ..GenConfig::default()
        };
        let scenario = generate(7, &config).scenario();
        let path = std::env::temp_dir().join(format!("readerlink-fuzz-trace-{}.jsonl", std::process::id()));
        scenario::run_blocking(&scenario, &TraceTo::File(path.clone())).expect("the seed runs");
        let text = std::fs::read_to_string(&path).expect("the trace was written");
        let _ = std::fs::remove_file(&path);
        text
    })
}

#[test]
fn the_unmutated_trace_reads_back() {
    let trace = Trace::parse(real_trace()).expect("a trace the runner wrote is valid");
    assert!(trace.records.len() > 100, "{} records", trace.records.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_decode_to_an_advertisement_or_a_typed_error(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(decoded) = ReaderAdvertisement::decode(&bytes) {
            // Whatever decodes encodes to bytes that decode to it again.
            prop_assert_eq!(ReaderAdvertisement::decode(&decoded.encode()), Ok(decoded));
        }
    }

    #[test]
    fn every_advertisement_round_trips(
        device_type in device_type(),
        serial in "[A-Z0-9-]{1,32}",
        battery_percent in proptest::option::of(0u8..=100),
        software_version in proptest::option::of("[0-9a-z._-]{1,40}"),
    ) {
        let advertisement = ReaderAdvertisement {
            device_type,
            serial_number: SerialNumber::new(serial),
            battery_percent,
            software_version,
        };
        prop_assert_eq!(ReaderAdvertisement::decode(&advertisement.encode()), Ok(advertisement));
    }

    #[test]
    fn a_trace_with_random_bytes_changed_is_read_or_refused_never_a_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..8),
    ) {
        let mut bytes = real_trace().clone().into_bytes();
        for (at, how, byte) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match how {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                _ => bytes.insert(i, byte),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = Trace::parse(&text) {
            prop_assert!(!e.code().is_empty(), "{}", e);
        }
    }

    #[test]
    fn a_trace_cut_anywhere_is_read_or_refused_never_a_panic(at in any::<prop::sample::Index>()) {
        let text = real_trace();
        let mut cut = at.index(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let _ = Trace::parse(&text[..cut]);
    }
}
