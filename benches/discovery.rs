//! Advertisement intake through the scanner machine, for 10, 1,000 and
//! 10,000 distinct readers in the air, against a baseline doing the least
//! any deduplicating scanner must do: look the serial up in a `HashMap` and
//! update (or insert) its RSSI and time. See benches/README.md.
//!
//! Each reader advertises every 250 ms of virtual time (every 4th one the
//! long form), with ±2 dB of RSSI jitter; the scanner runs a Bluetooth scan
//! with the default `min_update_interval` (500 ms) and `forget_after`
//! (10 s), its timers fired by a tiny driver. After the first round, the
//! steady state is what a busy room looks like: every advertisement is a
//! known reader, and no list changes.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use readerlink::protocol::advertisement::ReaderAdvertisement;
use readerlink::reader::{DeviceType, SerialNumber};
use readerlink::runtime::{Machine, Millis, Outbox, Step};
use readerlink::scanner::{DiscoveryConfig, DiscoveryId, Scanner, ScannerInput, ScannerOutput, ScannerTimer};
use readerlink::transport::Advertisement;

const ADVERTISING_INTERVAL_MS: u64 = 250;
/// Advertisements fed per criterion iteration.
const BATCH: usize = 10_000;

/// One round of advertisements from `readers` readers, `round` deciding the
/// jitter and which carry the long form.
fn advertisements(readers: usize, rounds: usize) -> Vec<ScannerInput> {
    let types = DeviceType::ALL;
    (0..rounds)
        .flat_map(|round| {
            (0..readers).map(move |i| {
                let long = (round + i) % 4 == 0;
                ScannerInput::AdvertisementSeen(Advertisement {
                    peripheral: format!(
                        "AA:BB:CC:{:02X}:{:02X}:{:02X}",
                        i >> 16,
                        (i >> 8) & 0xff,
                        i & 0xff
                    ),
                    rssi: -40 - (i % 50) as i16 + if round % 2 == 0 { 2 } else { -2 },
                    local_name: None,
                    reader: ReaderAdvertisement {
                        device_type: types[i % types.len()],
                        serial_number: SerialNumber(format!("RDR-{i:06}")),
                        battery_percent: long.then_some(80),
                        software_version: long.then(|| "2.4.1".to_owned()),
                    },
                })
            })
        })
        .collect()
}

/// Drives the scanner on virtual time: fires its timers when due, counts
/// the lists it reports.
struct Driver {
    scanner: Scanner,
    out: Outbox<ScannerOutput, ScannerTimer>,
    now: Millis,
    timers: Vec<(Millis, ScannerTimer)>,
    reports: u64,
}

impl Driver {
    fn new() -> Self {
        let mut driver = Self {
            scanner: Scanner::new(),
            out: Outbox::default(),
            now: 0,
            timers: Vec::new(),
            reports: 0,
        };
        driver.handle(&ScannerInput::DiscoveryRequested {
            discovery: DiscoveryId(1),
            config: DiscoveryConfig::scan(),
        });
        driver
    }

    fn feed(&mut self, input: &ScannerInput) {
        while let Some(i) = self.timers.iter().position(|(due, _)| *due <= self.now) {
            let (_, timer) = self.timers.swap_remove(i);
            self.handle(&Scanner::timer_elapsed(timer));
        }
        self.handle(input);
    }

    fn handle(&mut self, input: &ScannerInput) {
        self.out.set_now(self.now);
        self.scanner.handle(input, &mut self.out);
        for step in self.out.drain() {
            match step {
                Step::Emitted(ScannerOutput::ReportReaders { .. }) => self.reports += 1,
                Step::TimerStarted { timer, after } => {
                    self.timers.retain(|(_, t)| *t != timer);
                    self.timers.push((self.now + after.as_millis() as Millis, timer));
                }
                Step::TimerCancelled(timer) => self.timers.retain(|(_, t)| *t != timer),
                _ => {}
            }
        }
    }
}

fn intake(c: &mut Criterion) {
    let mut group = c.benchmark_group("advertisement_intake");
    group.throughput(Throughput::Elements(BATCH as u64));
    for readers in [10usize, 1_000, 10_000] {
        let rounds = BATCH.div_ceil(readers).max(4);
        let air = advertisements(readers, rounds);
        // Virtual time per advertisement, in µs: the whole room advertises
        // once per interval.
        let step_us = ADVERTISING_INTERVAL_MS * 1000 / readers as u64;

        let mut driver = Driver::new();
        let mut clock_us = 0u64;
        for adv in air.iter().take(readers) {
            driver.feed(adv);
        }
        let mut at = 0;
        group.bench_with_input(BenchmarkId::new("scanner_machine", readers), &air, |b, air| {
            b.iter(|| {
                for _ in 0..BATCH {
                    clock_us += step_us;
                    driver.now = clock_us / 1000;
                    driver.feed(&air[at]);
                    at = (at + 1) % air.len();
                }
            });
        });
        assert_eq!(driver.scanner.tracked_readers(), readers);
        eprintln!(
            "  {readers} readers: {} lists reported in {:.1} virtual s ({} advertisements)",
            driver.reports,
            driver.now as f64 / 1000.0,
            clock_us / step_us,
        );

        group.bench_with_input(BenchmarkId::new("hashmap_baseline", readers), &air, |b, air| {
            let mut map: HashMap<SerialNumber, (i16, Millis)> = HashMap::new();
            let mut at = 0;
            let mut now = 0;
            b.iter(|| {
                for _ in 0..BATCH {
                    now += 1;
                    let ScannerInput::AdvertisementSeen(adv) = &air[at] else {
                        unreachable!()
                    };
                    match map.get_mut(&adv.reader.serial_number) {
                        Some(entry) => *entry = (adv.rssi, now),
                        None => {
                            map.insert(adv.reader.serial_number.clone(), (adv.rssi, now));
                        }
                    }
                    at = (at + 1) % air.len();
                }
                black_box(map.len())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, intake);
criterion_main!(benches);
