//! A scenario run that streams its events (`EventsTo::Stream`, what
//! `readerlink simulate --scenario` does) keeps none of them: its peak heap
//! over 24 virtual hours is about its peak over 2 — though the day brings
//! many times the events — with its expectations, invariants and `after`
//! triggers checked as the events come. A run that keeps its events
//! (`EventsTo::Keep`) grows with them; the measure sees that too.
//!
//! The heap is counted by this binary's own global allocator (live bytes
//! and their high-water mark), so the file is a test binary of its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use readerlink::scenario::{self, EventsTo, Outcome, TraceTo};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as it came.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
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

const READERS: usize = 12;

fn serial(i: usize) -> String {
    format!("STRM2-D{i:04}")
}

/// `READERS` charging M2s, connected at 3 s (the discovery cancelled
/// `after` the last one's `Connected`), each losing its link for
/// 5 s every 40 minutes and rebooted once in the run (the 24-hour rule
/// reboots the rest); a sequence, events, an absent
/// pattern and the invariants are checked throughout.
fn scenario_text(hours: u64) -> String {
    let run_s = hours * 3600;
    let mut text = format!("name = \"a fleet for {hours} h\"\nseed = 11\nrun_for = \"{hours}h\"\n\n");
    for i in 0..READERS {
        text.push_str(&format!(
            "[[readers]]\nserial = \"{}\"\ndevice_type = \"stripe_m2\"\ndistance_m = 1.0\nbattery = 0.9\ncharging = true\nsoftware_version = \"3.1.0\"\n\n",
            serial(i)
        ));
    }
    text.push_str("[[locations]]\nname = \"shop\"\n\n[[steps]]\nat = \"0s\"\naction = \"discover\"\n\n");
    for i in 0..READERS {
        text.push_str(&format!(
            "[[steps]]\nat = \"3s\"\naction = \"connect\"\nserial = \"{}\"\n\n",
            serial(i)
        ));
    }
    text.push_str(&format!(
        "[[steps]]\nafter = {{ event = \"Connected\", serial_number = \"{}\" }}\naction = \"cancel_discovery\"\n\n",
        serial(READERS - 1)
    ));
    // Every 40 minutes from 10 minutes on, a reader loses its link for
    // 5 s, taking turns; each is rebooted once, spread over the run.
    let mut timed: Vec<(u64, String)> = Vec::new();
    let mut turn = 0;
    let mut at = 600;
    while at + 60 < run_s {
        for k in 0..READERS {
            let s = at + 7 * k as u64;
            if s + 60 < run_s {
                timed.push((
                    s,
                    format!(
                        "action = \"lose_link\"\nserial = \"{}\"\nfor = \"5s\"",
                        serial((k + turn) % READERS)
                    ),
                ));
            }
        }
        turn += 1;
        at += 2400;
    }
    for i in 0..READERS {
        let s = 300 + (run_s - 600) * i as u64 / READERS as u64 + 3;
        timed.push((s, format!("action = \"reboot\"\nserial = \"{}\"", serial(i))));
    }
    timed.sort_by_key(|(s, _)| *s);
    for (s, step) in timed {
        text.push_str(&format!("[[steps]]\nat = \"{s}s\"\n{step}\n\n"));
    }
    text.push_str(&format!(
        "[expect]\nsequence = [\n  {{ event = \"Connected\", serial_number = \"{}\", by = \"30s\" }},\n  {{ event = \"ReconnectStarted\", serial_number = \"{}\" }},\n  {{ event = \"ReconnectSucceeded\" }},\n]\nevents = [ {{ event = \"Connected\", serial_number = \"{}\" }} ]\nabsent = [ {{ event = \"ReconnectFailed\" }} ]\n\n[invariants]\n",
        serial(0),
        serial(0),
        serial(READERS - 1)
    ));
    text
}

/// The peak live heap of a run above what was live before it, the run's
/// outcome and how many events it had.
fn measure(hours: u64, keep: bool) -> (usize, Outcome, usize) {
    let parsed = scenario::parse(&scenario_text(hours), None, None).expect("a valid scenario");
    let seen = Rc::new(Cell::new(0usize));
    let counter = seen.clone();
    let events = if keep {
        EventsTo::Keep
    } else {
        EventsTo::Stream(Box::new(move |_| counter.set(counter.get() + 1)))
    };
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let outcome = scenario::run_blocking_with(&parsed, &TraceTo::Off, events).expect("it runs");
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let count = if keep { outcome.events.len() } else { seen.get() };
    (peak, outcome, count)
}

#[test]
fn a_streamed_days_run_peaks_at_about_the_heap_of_a_two_hour_run_and_a_kept_one_does_not() {
    let (short_peak, short, short_events) = measure(2, false);
    let (day_peak, day, day_events) = measure(24, false);
    assert!(short.passed(), "{}", short.report());
    assert!(day.passed(), "{}", day.report());
    assert!(day.events.is_empty(), "a streamed run keeps no event");
    assert!(
        day_events > 6 * short_events,
        "the day brings many times the events: {day_events} against {short_events}"
    );
    let ratio = day_peak as f64 / short_peak as f64;
    eprintln!(
        "streamed: {short_peak} B at 2 h ({short_events} events), {day_peak} B at 24 h ({day_events} events)"
    );
    assert!(
        ratio < 1.3,
        "streamed: 24 h peaked at {day_peak} B against {short_peak} B at 2 h ({ratio:.2}x, {day_events} and {short_events} events)"
    );

    // The measure sees a run that keeps its events grow.
    let (kept_short_peak, _, _) = measure(2, true);
    let (kept_day_peak, kept_day, kept_day_events) = measure(24, true);
    eprintln!("kept: {kept_short_peak} B at 2 h, {kept_day_peak} B at 24 h");
    assert_eq!(
        kept_day_events, day_events,
        "keeping or streaming, the same events"
    );
    assert_eq!(kept_day.failures, day.failures);
    assert!(
        kept_day_peak as f64 > 2.0 * kept_short_peak as f64,
        "kept: 24 h peaked at {kept_day_peak} B against {kept_short_peak} B at 2 h"
    );
}
