//! The events a failure shows, kept without keeping the run: a ring of the
//! last few events, captures that go on filling with the events after a
//! point of interest, and (for the invariants) the first events of each
//! virtual millisecond of the last second.
//!
//! A capture of the events around index `at` holds what
//! `events[at - CONTEXT_EVENTS .. at + CONTEXT_EVENTS]` would on the whole
//! run: the ring gives the ones before, the events after are added as they
//! come. Memory is bounded by the number of captures (a few per
//! expectation, step and invariant), not by the run's length.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::events::RecordedEvent;
use super::expect::CONTEXT_EVENTS;

/// How far (virtual ms) from a violation the events shown with it may be.
pub(crate) const NEAR_MS: u64 = 1000;

/// Events around a point, filling as the run goes on.
#[derive(Debug, Default)]
pub(crate) struct Capture {
    events: Vec<RecordedEvent>,
    /// How many more events it takes.
    missing: usize,
    /// It takes no event later than this.
    until_t: Option<u64>,
}

/// A capture shared between the one who asked and the context feeding it.
pub(crate) type Around = Rc<RefCell<Capture>>;

/// The events of a capture, as far as the run went.
pub(crate) fn events_of(around: &Around) -> Vec<RecordedEvent> {
    around.borrow().events.clone()
}

/// The recent events and the captures still filling.
#[derive(Debug)]
pub(crate) struct Context {
    /// The last `CONTEXT_EVENTS + 1` events, with their index.
    ring: VecDeque<(usize, RecordedEvent)>,
    /// How many events came.
    count: usize,
    pending: Vec<Around>,
    /// When kept: the first `2 * CONTEXT_EVENTS` events of each virtual
    /// millisecond from [`NEAR_MS`] before the event before the latest
    /// (a violation is found at an event's time, at the end of the
    /// millisecond before it, or at a time between the two).
    window: Option<VecDeque<RecordedEvent>>,
    /// The time of the latest event.
    latest_t: Option<u64>,
}

impl Context {
    /// A context; `window`: keep what [`Context::near`] needs.
    pub(crate) fn new(window: bool) -> Self {
        Self {
            ring: VecDeque::with_capacity(CONTEXT_EVENTS + 1),
            count: 0,
            pending: Vec::new(),
            window: window.then(VecDeque::new),
            latest_t: None,
        }
    }

    /// How many events came.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The next event: it fills the captures asked for before it and
    /// becomes the latest.
    pub(crate) fn feed(&mut self, event: &RecordedEvent) {
        self.pending.retain(|capture| {
            let mut c = capture.borrow_mut();
            if c.until_t.is_some_and(|u| event.t_ms > u) {
                c.missing = 0;
            }
            if c.missing > 0 {
                c.events.push(event.clone());
                c.missing -= 1;
            }
            c.missing > 0
        });
        if self.ring.len() > CONTEXT_EVENTS {
            self.ring.pop_front();
        }
        self.ring.push_back((self.count, event.clone()));
        let previous_t = self.latest_t.replace(event.t_ms);
        self.count += 1;
        if let Some(window) = &mut self.window {
            let from = previous_t.unwrap_or(event.t_ms).saturating_sub(NEAR_MS);
            while window.front().is_some_and(|e| e.t_ms < from) {
                window.pop_front();
            }
            let same = window.iter().rev().take_while(|e| e.t_ms == event.t_ms).count();
            if same < 2 * CONTEXT_EVENTS {
                window.push_back(event.clone());
            }
        }
    }

    /// The events around index `at` (`at` at most the count: the latest
    /// event, or the next one), as `events[at - 3 .. at + 3]`.
    pub(crate) fn around(&mut self, at: usize) -> Around {
        let from = at.saturating_sub(CONTEXT_EVENTS);
        let to = at + CONTEXT_EVENTS;
        let events = self
            .ring
            .iter()
            .filter(|(i, _)| *i >= from && *i < to)
            .map(|(_, e)| e.clone())
            .collect();
        self.start(Capture {
            events,
            missing: to.saturating_sub(self.count),
            until_t: None,
        })
    }

    /// The last events of the run so far: the events around its end.
    pub(crate) fn tail(&self) -> Vec<RecordedEvent> {
        let from = self.count.saturating_sub(CONTEXT_EVENTS);
        self.ring
            .iter()
            .filter(|(i, _)| *i >= from)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// The first `2 * CONTEXT_EVENTS` events within [`NEAR_MS`] of `t`
    /// (needs the window).
    pub(crate) fn near(&mut self, t: u64) -> Around {
        let want = 2 * CONTEXT_EVENTS;
        let events: Vec<RecordedEvent> = self
            .window
            .iter()
            .flatten()
            .filter(|e| e.t_ms.abs_diff(t) <= NEAR_MS)
            .take(want)
            .cloned()
            .collect();
        self.start(Capture {
            missing: want - events.len(),
            events,
            until_t: Some(t.saturating_add(NEAR_MS)),
        })
    }

    fn start(&mut self, capture: Capture) -> Around {
        let filling = capture.missing > 0;
        let around = Rc::new(RefCell::new(capture));
        if filling {
            self.pending.push(around.clone());
        }
        around
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize, t_ms: u64) -> RecordedEvent {
        let mut fields = serde_json::Map::new();
        fields.insert("n".into(), n.into());
        RecordedEvent {
            t_ms,
            kind: "E".into(),
            fields,
        }
    }

    proptest::proptest! {
        /// The events near a time, asked for at an event's time, at the
        /// time of the event before it or between the two, are what the
        /// whole run has within a second of it (the first six), and the
        /// events around an index are its slice of the whole run.
        #[test]
        fn captures_hold_what_the_whole_run_has_there(
            gaps in proptest::collection::vec(proptest::prop_oneof![proptest::strategy::Just(0u64), 1u64..5, 300u64..1500], 1..60),
            asks in proptest::collection::vec(0u8..4, 60),
        ) {
            let mut t = 0;
            let events: Vec<RecordedEvent> = gaps.iter().enumerate().map(|(n, gap)| { t += gap; event(n, t) }).collect();
            let mut context = Context::new(true);
            let mut near = Vec::new();
            let mut around = Vec::new();
            for (i, e) in events.iter().enumerate() {
                context.feed(e);
                let previous = if i == 0 { e.t_ms } else { events[i - 1].t_ms };
                let at = match asks[i] {
                    0 => e.t_ms,
                    1 => previous,
                    _ => previous + (e.t_ms - previous) / 2,
                };
                near.push((at, context.near(at)));
                around.push((i + usize::from(asks[i] % 2), context.around(i + usize::from(asks[i] % 2))));
            }
            for (at, capture) in near {
                let whole: Vec<RecordedEvent> = events.iter().filter(|e| e.t_ms.abs_diff(at) <= NEAR_MS).take(2 * CONTEXT_EVENTS).cloned().collect();
                proptest::prop_assert_eq!(events_of(&capture), whole, "near {}", at);
            }
            for (at, capture) in around {
                let start = at.saturating_sub(CONTEXT_EVENTS);
                let end = (at + CONTEXT_EVENTS).min(events.len());
                proptest::prop_assert_eq!(events_of(&capture), events[start..end].to_vec(), "around {}", at);
            }
        }
    }
}
