//! What the runtime keeps for each connected reader (R21, issue 17's
//! scale target): with 300 simulated M2s connected at once, the heap still
//! live once every connect is answered and settled — the reader's session,
//! connection, reconnect supervisor, reboot timer and updater actors,
//! their link queue and tasks, the hub's tables, and the simulated peer's
//! end of each link — is at most 16 KiB per reader.
//!
//! A link's queue used to be a `tokio` channel, which holds a block of 32
//! slots and a cache-padded core for the link's whole life: about 1.3 KiB
//! per reader, which put the figure above 16 KiB.
//!
//! The heap is counted by this binary's own global allocator, so the file
//! is a test binary of its own (one test: tests run side by side).

mod fleet_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use fleet_support::{Fleet, m2s};
use readerlink::runtime::virtual_time_system;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as it came.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as it came.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const READERS: usize = 300;
const TARGET_PER_READER: usize = 16 * 1024;

#[test]
fn a_connected_reader_retains_at_most_16_kib_of_heap() {
    let per_reader = virtual_time_system().block_on(async {
        let fleet = Fleet::discovered(m2s(READERS, "H", false)).await;
        let before = LIVE.load(Ordering::Relaxed);
        fleet.connect_all().await;
        LIVE.load(Ordering::Relaxed).saturating_sub(before) / READERS
    });
    assert!(
        per_reader <= TARGET_PER_READER,
        "{per_reader} bytes of heap retained per connected reader (target: {TARGET_PER_READER})"
    );
    eprintln!("{per_reader} bytes of heap retained per connected reader");
}
