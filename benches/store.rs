//! Writes per second to a file-backed backend core, at 1,000 and 100,000
//! registered readers, in one run: with the append-only log
//! (`backend::journal`) a write costs one appended line and one `fsync`,
//! whatever the size; the baseline rows do what the backend did before
//! (replace the whole data file atomically on every change), to show what
//! the log removed.
//!
//! `cargo bench --bench store -- --warm-up-time 1 --measurement-time 3`.
//! Results: `benches/README.md`.

use std::collections::BTreeMap;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use readerlink::backend::{
    BackendCore, BackendData, CreateLocation, Location, ReaderIdentity, RegisterReader, RegisteredReader,
    TokenSource,
};
use readerlink::reader::{DeviceType, SerialNumber};
use readerlink::store::atomic::write_atomically;

const SIZES: [usize; 2] = [1_000, 100_000];

/// Data with one location and `readers` registered readers.
fn data_with(readers: usize) -> BackendData {
    let mut data = BackendData::default();
    let location = Location {
        id: "tml_000001".into(),
        display_name: "Shop".into(),
        address: CreateLocation::new("Shop", "1 Main St", "US").address,
    };
    data.locations_created = 1;
    data.locations = BTreeMap::from([(location.id.clone(), location)]);
    for n in 0..readers {
        let serial = SerialNumber::new(format!("STRM{n:09}"));
        data.readers.insert(
            serial.clone(),
            RegisteredReader {
                id: format!("tmr_{:06}", n + 1),
                label: serial.to_string(),
                serial_number: serial,
                device_type: DeviceType::StripeM2,
                location: "tml_000001".into(),
            },
        );
    }
    data.readers_registered = readers as u64;
    data
}

fn register(n: u64) -> RegisterReader {
    RegisterReader {
        reader: ReaderIdentity::SerialNumber {
            serial_number: SerialNumber::new(format!("NEW{n:012}")),
            device_type: DeviceType::WisePad3,
        },
        location: "tml_000001".into(),
        label: None,
    }
}

/// A data file holding `data`, in the log's format: its snapshot line.
fn write_snapshot(path: &Path, data: &BackendData) {
    let mut line = serde_json::to_vec(data).unwrap();
    line.push(b'\n');
    std::fs::write(path, line).unwrap();
}

fn writes(c: &mut Criterion) {
    // On the disk the target directory is on (not a tmpfs), so fsync costs
    // what it costs.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut group = c.benchmark_group("backend_writes");
    group.sample_size(10);
    for size in SIZES {
        let data = data_with(size);
        let path = dir.path().join(format!("log-{size}.json"));
        write_snapshot(&path, &data);
        let mut core = BackendCore::open(&path, TokenSource::Seeded(1)).unwrap();
        let mut n = 0;
        group.bench_function(BenchmarkId::new("log", size), |b| {
            b.iter(|| {
                n += 1;
                core.register_reader(register(n)).unwrap()
            })
        });
        drop(core);

        // The baseline: the whole data, pretty JSON, replaced atomically.
        let path = dir.path().join(format!("rewrite-{size}.json"));
        let mut data = data;
        let mut n = 0;
        group.bench_function(BenchmarkId::new("whole_file_rewrite", size), |b| {
            b.iter(|| {
                n += 1;
                let serial = SerialNumber::new(format!("NEW{n:012}"));
                data.readers_registered += 1;
                data.readers.insert(
                    serial.clone(),
                    RegisteredReader {
                        id: format!("tmr_{:06}", data.readers_registered),
                        label: serial.to_string(),
                        serial_number: serial,
                        device_type: DeviceType::WisePad3,
                        location: "tml_000001".into(),
                    },
                );
                let bytes = serde_json::to_vec_pretty(&data).unwrap();
                write_atomically(&path, &bytes).unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, writes);
criterion_main!(benches);
