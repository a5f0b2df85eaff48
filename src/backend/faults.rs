//! Fault injection shared by [`super::LocalBackend`] and the local HTTP
//! server: per-route latency and failure rate (from a seeded RNG), a count
//! of failures to inject next, bodies cut short (the server only), and "down" switches (for a duration, or until
//! restored). Durations are tokio time, so they are virtual under a paused
//! clock.
//!
//! ```
//! use std::time::Duration;
//! use readerlink::backend::{FaultDecision, FaultInjector, Route};
//!
//! let faults = FaultInjector::new(42);
//! faults.set_latency(Route::GetLocation, Duration::from_millis(300));
//! faults.fail_next(Route::GetLocation, 1);
//! assert_eq!(faults.decide(Route::GetLocation), FaultDecision::Proceed { latency: Duration::from_millis(300), fail: true });
//! assert_eq!(faults.decide(Route::GetLocation), FaultDecision::Proceed { latency: Duration::from_millis(300), fail: false });
//! faults.take_down();
//! assert_eq!(faults.decide(Route::ListLocations), FaultDecision::Down);
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Route;

/// The faults configured for one route.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RouteFaults {
    /// Added before the route answers.
    pub latency: Duration,
    /// The share of calls, in [0, 1], that fail with a server error.
    pub failure_rate: f64,
}

/// What to do with one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultDecision {
    /// The backend is down: the call fails at once as a connection failure.
    Down,
    /// The backend is up: wait `latency`, then answer, or fail with a
    /// server error when `fail`.
    Proceed {
        /// How long to wait first.
        latency: Duration,
        /// Whether to fail with an injected server error.
        fail: bool,
    },
}

#[derive(Debug)]
enum Availability {
    Up,
    DownUntil(tokio::time::Instant),
    DownUntilRestored,
}

#[derive(Debug)]
struct FaultState {
    rng: ChaCha8Rng,
    routes: HashMap<Route, RouteFaults>,
    fail_next: HashMap<Route, u32>,
    /// Bodies to cut: after how many bytes, and for how many answers more.
    cut_bodies: HashMap<Route, (u32, u32)>,
    availability: Availability,
}

/// The fault switches. Cheap to clone; clones share the switches, so a
/// test keeps one and flips them while the backend runs.
#[derive(Debug, Clone)]
pub struct FaultInjector {
    state: Arc<Mutex<FaultState>>,
}

impl Default for FaultInjector {
    fn default() -> Self {
        Self::new(0)
    }
}

impl FaultInjector {
    /// No faults; failure rates, once set, draw from an RNG seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: Arc::new(Mutex::new(FaultState {
                rng: ChaCha8Rng::seed_from_u64(seed),
                routes: HashMap::new(),
                fail_next: HashMap::new(),
                cut_bodies: HashMap::new(),
                availability: Availability::Up,
            })),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut FaultState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Sets the latency of a route.
    pub fn set_latency(&self, route: Route, latency: Duration) {
        self.with(|s| s.routes.entry(route).or_default().latency = latency);
    }

    /// Sets the failure rate of a route, clamped to [0, 1].
    pub fn set_failure_rate(&self, route: Route, rate: f64) {
        self.with(|s| s.routes.entry(route).or_default().failure_rate = rate.clamp(0.0, 1.0));
    }

    /// Makes the next `count` calls of a route fail with a server error,
    /// whatever its failure rate.
    pub fn fail_next(&self, route: Route, count: u32) {
        self.with(|s| {
            s.fail_next.insert(route, count);
        });
    }

    /// Cuts the body of the next `count` answers of a route after
    /// `after_bytes` bytes: the server closes the connection there, its
    /// `Content-Length` still saying the whole. Only bodies that cross a
    /// socket are cut: the local server's image downloads.
    pub fn cut_next_bodies(&self, route: Route, after_bytes: u32, count: u32) {
        self.with(|s| {
            s.cut_bodies.insert(route, (after_bytes, count));
        });
    }

    /// Where to cut the body of this answer of `route`, if it is to be cut
    /// (counts one of [`cut_next_bodies`](Self::cut_next_bodies)).
    pub fn take_body_cut(&self, route: Route) -> Option<u32> {
        self.with(|s| match s.cut_bodies.get_mut(&route) {
            Some((after, n)) if *n > 0 => {
                *n -= 1;
                Some(*after)
            }
            _ => None,
        })
    }

    /// Takes the backend down for `duration` of tokio time from now.
    pub fn down_for(&self, duration: Duration) {
        let until = tokio::time::Instant::now() + duration;
        self.with(|s| s.availability = Availability::DownUntil(until));
    }

    /// Takes the backend down until [`restore`](Self::restore).
    pub fn take_down(&self) {
        self.with(|s| s.availability = Availability::DownUntilRestored);
    }

    /// Brings the backend back up.
    pub fn restore(&self) {
        self.with(|s| s.availability = Availability::Up);
    }

    /// Whether the backend is down now.
    pub fn is_down(&self) -> bool {
        self.with(|s| match s.availability {
            Availability::Up => false,
            Availability::DownUntil(until) => tokio::time::Instant::now() < until,
            Availability::DownUntilRestored => true,
        })
    }

    /// Decides the fate of one call of `route`.
    pub fn decide(&self, route: Route) -> FaultDecision {
        if self.is_down() {
            return FaultDecision::Down;
        }
        self.with(|s| {
            let faults = s.routes.get(&route).copied().unwrap_or_default();
            let forced = match s.fail_next.get_mut(&route) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            };
            let fail = forced
                || faults.failure_rate >= 1.0
                || (faults.failure_rate > 0.0 && s.rng.random_bool(faults.failure_rate));
            FaultDecision::Proceed {
                latency: faults.latency,
                fail,
            }
        })
    }
}
