//! Connecting N simulated readers at once through the `Terminal` (R21), on
//! a paused clock: N = 10, 100, 1,000 M2 readers, the in-process backend.
//! For each N it discovers all N, then connects them all concurrently and
//! reports the wall time of the connect phase, the virtual time it spanned,
//! and memory per reader from a counting global allocator: the peak of live
//! heap bytes during the connect phase above what was live before it, and
//! what stays live once all are connected.
//!
//! `cargo bench --bench connect` (a plain `main`, not criterion: one run of
//! 1,000 readers is the measurement; `-- 1000 10000` runs the sizes given). Results: `benches/README.md`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use readerlink::backend::{BackendCore, CreateLocation, LocalBackend};
use readerlink::reader::DeviceType;
use readerlink::runtime::virtual_time_system;
use readerlink::scanner::{DiscoveryConfig, DiscoveryUpdate};
use readerlink::store::MemoryStore;
use readerlink::terminal::{ConnectionConfig, Terminal};
use readerlink::transport::sim::{ReaderSpec, SimWorld};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: same layout, as the caller guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            grew(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

struct Run {
    readers: usize,
    wall: Duration,
    virtual_time: Duration,
    peak_per_reader: usize,
    retained_per_reader: usize,
}

fn run(n: usize) -> Run {
    virtual_time_system().block_on(async move {
        let specs = (0..n)
            .map(|i| ReaderSpec::new(format!("STRM2-B{i:04}"), DeviceType::StripeM2, "3.1.0"))
            .collect();
        let world = SimWorld::with_readers(specs);
        let backend = LocalBackend::new(BackendCore::in_memory(1));
        let shop = backend
            .core()
            .lock()
            .unwrap()
            .create_location(CreateLocation::new("Shop", "1 Main St", "US"))
            .unwrap();
        let terminal = Terminal::builder(
            Arc::new(world.transport()),
            Arc::new(backend.clone()),
            Arc::new(MemoryStore::new()),
        )
        .seed(1)
        .start();

        let mut discovery = terminal.discover_readers(DiscoveryConfig::scan()).await;
        let readers = loop {
            match discovery.updates.next().await {
                Some(DiscoveryUpdate::ReadersUpdated(readers)) if readers.len() == n => break readers,
                Some(_) => {}
                None => panic!("discovery ended before listing {n} readers"),
            }
        };
        drop(discovery);

        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let (wall, started) = (Instant::now(), tokio::time::Instant::now());
        let config = ConnectionConfig::new(&shop.id);
        let results =
            futures::future::join_all(readers.iter().map(|r| terminal.connect_reader(r, config.clone())))
                .await;
        let (wall, virtual_time) = (wall.elapsed(), started.elapsed());
        let failed = results.iter().filter(|r| r.is_err()).count();
        assert_eq!(
            failed,
            0,
            "{failed} of {n} connects failed: {:?}",
            results.iter().find(|r| r.is_err())
        );
        assert_eq!(terminal.connected_readers().len(), n);
        // Let what the connects set going settle (the reports that follow
        // each answer, on their way between actors) before counting what
        // stays.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
        let retained = LIVE.load(Ordering::Relaxed).saturating_sub(before);
        Run {
            readers: n,
            wall,
            virtual_time,
            peak_per_reader: peak / n,
            retained_per_reader: retained / n,
        }
    })
}

fn main() {
    // Sizes from the arguments (`-- 1000 10000`), else 10, 100 and 1,000.
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() {
        vec![10, 100, 1000]
    } else {
        sizes
    };
    println!(
        "| readers | connect phase, wall | per reader, wall | virtual time | peak heap per reader | retained heap per reader |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for n in sizes {
        let run = run(n);
        println!(
            "| {} | {:.1} ms | {:.1} µs | {} ms | {:.1} KiB | {:.1} KiB |",
            run.readers,
            run.wall.as_secs_f64() * 1e3,
            run.wall.as_secs_f64() * 1e6 / run.readers as f64,
            run.virtual_time.as_millis(),
            run.peak_per_reader as f64 / 1024.0,
            run.retained_per_reader as f64 / 1024.0,
        );
    }
}
