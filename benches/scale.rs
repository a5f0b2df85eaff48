//! A day in the life of N readers in one process (R21), on a paused clock:
//! N = 10, 100, 1,000, 10,000 Stripe M2 readers and the in-process
//! backend. For each N it discovers all N, connects them all at once, runs
//! 24 virtual hours in which every reader's link drops at a random moment
//! (seeded) and every reader reboots for the 24-hour rule, then calls
//! `disconnect_all`. It reports:
//!
//! - the wall time of each phase (connect, the day, disconnect all), and
//!   per reader;
//! - the heap still live per reader once all are connected and the
//!   lossless subscriber has read its events (a counting global
//!   allocator);
//! - events produced (counted by the delegate, which is handed every event)
//!   against events delivered to a lossless subscriber (they must be
//!   equal), and what a bounded subscriber that was not read during the
//!   run reports missed;
//! - machine actors alive before the connect, once connected, and after
//!   `disconnect_all` (`runtime::live_machine_actors`).
//!
//! `cargo bench --bench scale` (a plain `main`; `-- 1000` for one size).
//! Results: `benches/README.md`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use readerlink::backend::{Backend, BackendCore, CreateLocation, LocalBackend};
use readerlink::reader::{ConnectionStatus, DeviceType};
use readerlink::runtime::{live_machine_actors, virtual_time_system};
use readerlink::scanner::{DiscoveryConfig, DiscoveryUpdate};
use readerlink::store::MemoryStore;
use readerlink::terminal::{ConnectionConfig, Terminal, TerminalDelegate, TerminalEvent};
use readerlink::transport::sim::{ReaderSpec, SimWorld};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
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
            LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Counts every event the terminal produces: a delegate is handed each one.
#[derive(Default)]
struct Produced(AtomicU64);

impl TerminalDelegate for Produced {
    fn on_event(&self, _event: &TerminalEvent) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

struct Run {
    readers: usize,
    connect: Duration,
    day: Duration,
    disconnect: Duration,
    retained_per_reader: usize,
    produced: u64,
    delivered: u64,
    missed_by_bounded: u64,
    reconnections: u64,
    actors: [usize; 3],
}

fn run(n: usize) -> Run {
    virtual_time_system().block_on(async move {
        let specs = (0..n)
            .map(|i| {
                // On a charger, as a counter reader is: the day is about the
                // link and the reboots, not the battery.
                let mut spec = ReaderSpec::new(format!("STRM2-S{i:05}"), DeviceType::StripeM2, "3.1.0");
                spec.charging = true;
                spec
            })
            .collect();
        let world = SimWorld::with_readers(specs);
        let backend = LocalBackend::new(BackendCore::in_memory(1));
        let shop = backend
            .create_location(CreateLocation::new("Shop", "1 Main St", "US"))
            .await
            .unwrap();
        let produced = Arc::new(Produced::default());
        let terminal = Terminal::builder(
            Arc::new(world.transport()),
            Arc::new(backend.clone()),
            Arc::new(MemoryStore::new()),
        )
        .seed(1)
        .delegate(produced.clone())
        .start();
        let mut lossless = terminal.events_lossless();
        let mut bounded = terminal.events();

        let mut discovery = terminal.discover_readers(DiscoveryConfig::scan()).await;
        let readers = loop {
            match discovery.updates.next().await {
                Some(DiscoveryUpdate::ReadersUpdated(readers)) if readers.len() == n => break readers,
                Some(_) => {}
                None => panic!("discovery ended before listing {n} readers"),
            }
        };
        drop(discovery);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let actors_before = live_machine_actors();
        // The discovery's lists, read before the baseline is taken.
        let mut delivered = drain(&mut lossless).await.len() as u64;

        let before = LIVE.load(Ordering::Relaxed);
        let wall = Instant::now();
        let config = ConnectionConfig::new(&shop.id);
        let results =
            futures::future::join_all(readers.iter().map(|r| terminal.connect_reader(r, config.clone())))
                .await;
        let connect = wall.elapsed();
        assert!(results.iter().all(Result::is_ok), "every connect succeeds");
        // The answers' `Reader`s are the app's to keep, not the runtime's.
        drop(results);
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Read the lossless stream first, as an app does: its unread queue
        // (about eight events a reader) is the subscriber's, not the
        // runtime's per-reader state.
        delivered += drain(&mut lossless).await.len() as u64;
        let retained = LIVE.load(Ordering::Relaxed).saturating_sub(before);
        let actors_connected = live_machine_actors();

        // The day: each reader loses its link for 2 s at a random moment;
        // the 24-hour reboots come on their own.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut drops: Vec<(u64, usize)> = (0..n)
            .map(|i| (rng.random_range(60_000..86_000_000), i))
            .collect();
        drops.sort_unstable();
        let wall = Instant::now();
        let start = tokio::time::Instant::now();
        let mut reconnections = 0;
        for (at_ms, i) in drops {
            tokio::time::sleep_until(start + Duration::from_millis(at_ms)).await;
            world
                .lose_link(&readers[i].serial_number, Some(Duration::from_secs(2)))
                .unwrap();
            reconnections += 1;
            // Read the lossless stream as we go, as an app would.
            delivered += drain(&mut lossless).await.len() as u64;
        }
        tokio::time::sleep_until(start + Duration::from_secs(24 * 3600 + 600)).await;
        let day = wall.elapsed();
        let connected = readers
            .iter()
            .filter(|r| terminal.reader_status(&r.serial_number) == ConnectionStatus::Connected)
            .count();
        if connected != n {
            let mut statuses = std::collections::BTreeMap::new();
            for r in &readers {
                *statuses
                    .entry(format!("{:?}", terminal.reader_status(&r.serial_number)))
                    .or_insert(0) += 1;
            }
            panic!(
                "{connected} of {n} readers connected at the end of the day: {statuses:?}; one: {:?}",
                world.reader_state(&readers[0].serial_number)
            );
        }

        let wall = Instant::now();
        terminal.disconnect_all().await.unwrap();
        let disconnect = wall.elapsed();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let actors_after = live_machine_actors();

        delivered += drain(&mut lossless).await.len() as u64;
        let mut missed_by_bounded = 0;
        for event in drain(&mut bounded).await {
            if let TerminalEvent::EventsMissed { count } = event {
                missed_by_bounded += count;
            }
        }
        Run {
            readers: n,
            connect,
            day,
            disconnect,
            retained_per_reader: retained / n,
            produced: produced.0.load(Ordering::Relaxed),
            delivered,
            missed_by_bounded,
            reconnections,
            actors: [actors_before, actors_connected, actors_after],
        }
    })
}

/// What `events` holds now, without waiting for more. (A channel that
/// yields many items in one go runs out of tokio's cooperative budget and
/// answers "not yet" although items are queued: yield, and try again.)
async fn drain(events: &mut futures::stream::BoxStream<'static, TerminalEvent>) -> Vec<TerminalEvent> {
    let mut taken = Vec::new();
    loop {
        match events.next().now_or_never() {
            Some(Some(event)) => taken.push(event),
            Some(None) => return taken,
            None => {
                tokio::task::yield_now().await;
                match events.next().now_or_never() {
                    Some(Some(event)) => taken.push(event),
                    _ => return taken,
                }
            }
        }
    }
}

use futures::FutureExt;

fn main() {
    let sizes: Vec<usize> = match std::env::args().skip(1).find_map(|a| a.parse().ok()) {
        Some(n) => vec![n],
        None => vec![10, 100, 1000, 10_000],
    };
    println!(
        "| readers | connect, wall (per reader) | 24 h, wall (per reader) | disconnect all, wall | retained heap per reader | events produced / delivered lossless | missed by a bounded subscriber | link drops | machine actors: before / connected / after disconnect all |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for n in sizes {
        let run = run(n);
        let per = |d: Duration| d.as_secs_f64() * 1e6 / run.readers as f64;
        println!(
            "| {} | {:.1} ms ({:.1} µs) | {:.2} s ({:.1} µs) | {:.1} ms | {:.1} KiB | {} / {} | {} | {} | {} / {} / {} |",
            run.readers,
            run.connect.as_secs_f64() * 1e3,
            per(run.connect),
            run.day.as_secs_f64(),
            per(run.day),
            run.disconnect.as_secs_f64() * 1e3,
            run.retained_per_reader as f64 / 1024.0,
            run.produced,
            run.delivered,
            run.missed_by_bounded,
            run.reconnections,
            run.actors[0],
            run.actors[1],
            run.actors[2],
        );
    }
}
