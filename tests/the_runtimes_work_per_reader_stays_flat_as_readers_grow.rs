//! The runtime's work per reader does not grow with the number of readers
//! (R21, issue 17): connecting N readers at once, an hour in which each
//! loses its link once and is reconnected by its supervisor, then
//! `disconnect_all`. Work is counted as heap allocations (a count, not a
//! time: the same on any machine, and a list of every reader rebuilt or
//! cloned on each change shows up in it at once). The count per reader
//! at 400 readers stays within 1.25× of the count per reader at 50.
//!
//! Before the scanner heard one reader's connected change at a time, each
//! drop and reconnect cloned the list of every connected reader's serial,
//! twice: the hour cost 2,062 allocations per reader at 400 readers
//! against 662 at 50 (3.1×; now 462 at both), and a day at 10,000 readers
//! cost 5.8× per reader what it cost at 1,000 (`benches/README.md`,
//! `scale`, has the wall times).
//!
//! The allocations are counted by this binary's own global allocator, so
//! the file is a test binary of its own (one test: tests run side by
//! side).

mod fleet_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fleet_support::{Fleet, m2s};
use readerlink::reader::ConnectionStatus;
use readerlink::runtime::virtual_time_system;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as it came.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as it came.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as it came.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations per reader: connecting all, an hour with one link drop
/// each, disconnecting all.
#[derive(Debug, Clone, Copy)]
struct Work {
    connect: f64,
    hour: f64,
    disconnect: f64,
}

fn work_per_reader(n: usize) -> Work {
    virtual_time_system().block_on(async move {
        let fleet = Fleet::discovered(m2s(n, "W", true)).await;
        let (world, terminal, readers) = (&fleet.world, &fleet.terminal, &fleet.readers);

        let count = || ALLOCATIONS.load(Ordering::Relaxed);
        let start = count();
        fleet.connect_all().await;
        let connected = count();

        // Reader i loses its link for 2 s at minute i * 50 / n: the drops
        // spread over the first 50 minutes at any size.
        let hour = tokio::time::Instant::now();
        for (i, reader) in readers.iter().enumerate() {
            let at = Duration::from_millis((i as u64 * 50 * 60_000) / n as u64 + 60_000);
            tokio::time::sleep_until(hour + at).await;
            world
                .lose_link(&reader.serial_number, Some(Duration::from_secs(2)))
                .unwrap();
        }
        tokio::time::sleep_until(hour + Duration::from_secs(3600)).await;
        let reconnected = readers
            .iter()
            .filter(|r| terminal.reader_status(&r.serial_number) == ConnectionStatus::Connected)
            .count();
        assert_eq!(reconnected, n, "every reader is connected again after its drop");
        let after_hour = count();

        terminal.disconnect_all().await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let disconnected = count();

        let per_reader = |from: usize, to: usize| (to - from) as f64 / n as f64;
        Work {
            connect: per_reader(start, connected),
            hour: per_reader(connected, after_hour),
            disconnect: per_reader(after_hour, disconnected),
        }
    })
}

#[test]
fn the_runtimes_work_per_reader_stays_flat_as_readers_grow() {
    let few = work_per_reader(50);
    let many = work_per_reader(400);
    eprintln!("allocations per reader at 50: {few:?}; at 400: {many:?}");
    for (phase, few, many) in [
        ("connect", few.connect, many.connect),
        ("an hour with a link drop each", few.hour, many.hour),
        ("disconnect all", few.disconnect, many.disconnect),
    ] {
        assert!(
            many <= few * 1.25,
            "{phase}: {many:.0} allocations per reader at 400 readers against {few:.0} at 50 ({:.2}×)",
            many / few
        );
    }
}
