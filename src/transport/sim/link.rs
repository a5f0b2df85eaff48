//! The simulated radio: how far a reader is heard (RSSI from distance), and
//! what an ATT payload costs on a link (connection events on virtual time).
//!
//! # Path loss
//!
//! RSSI follows the log-distance path-loss model:
//!
//! `rssi(d) = TX_POWER_AT_1M − 10 · n · log10(d / 1 m)` dBm,
//!
//! with [`TX_POWER_AT_1M`] = −59 dBm, exponent `n` = [`PATH_LOSS_EXPONENT`]
//! = 2.0 (free space) and `d` clamped to at least 0.1 m, plus a seeded jitter
//! of ±[`RSSI_JITTER_DB`] dB per advertisement. A reader is heard (it
//! advertises and can be connected) while `rssi(d)` ≥ [`SENSITIVITY_DBM`]
//! (−95 dBm, about 63 m); moved beyond that while connected, it loses the
//! link (signal lost).
//!
//! # Link timing
//!
//! A BLE link exchanges packets at connection events, one every connection
//! interval. The model: in each direction, each connection event carries
//! at most [`LinkModel::packets_per_event`] ATT payloads (a write without
//! response, or a notification); a payload handed over at time `t` leaves at
//! the first connection event at or after `t` that still has room, and is
//! delivered at that event's time. Events are at `k · interval` from the
//! moment the link was opened. So a payload costs between 0 and one
//! interval of latency, and the link's ceiling is
//! `packets_per_event · (att_payload − 1) / interval` frame bytes per second
//! per direction — 5.1 kB/s at 20-byte payloads and the default 15 ms / 4
//! packets, 65 kB/s at 244. Writes wait for their event (that is the
//! flow control a writer feels); notifications queue. When the link is lost
//! to the signal (out of range, power cut, interference), the central learns
//! it [`LinkModel::supervision_timeout_ms`] later; a link closed by either
//! peer is reported at once, after the payloads already queued.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Transmit power as measured at 1 m, in dBm.
pub const TX_POWER_AT_1M: f32 = -59.0;
/// The path-loss exponent (2.0 is free space; indoors is 2–3).
pub const PATH_LOSS_EXPONENT: f32 = 2.0;
/// The weakest signal the host still hears, in dBm.
pub const SENSITIVITY_DBM: f32 = -95.0;
/// Each advertisement's RSSI varies by up to this much either way.
pub const RSSI_JITTER_DB: i16 = 2;

/// The RSSI, in dBm, of a reader `distance_m` metres away (no jitter).
pub fn rssi_at(distance_m: f32) -> f32 {
    TX_POWER_AT_1M - 10.0 * PATH_LOSS_EXPONENT * distance_m.max(0.1).log10()
}

/// Whether a reader `distance_m` metres away is heard at all.
pub fn in_range(distance_m: f32) -> bool {
    rssi_at(distance_m) >= SENSITIVITY_DBM
}

/// The simulated link's timing, from the fleet file's `[link]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkModel {
    /// Time between connection events, in ms.
    pub connection_interval_ms: u64,
    /// Time between connection events, in µs, when set: BLE intervals are
    /// multiples of 1.25 ms (7.5 ms is the shortest), which whole
    /// milliseconds cannot say. Overrides `connection_interval_ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_interval_us: Option<u64>,
    /// ATT payloads each direction carries per connection event.
    pub packets_per_event: u32,
    /// Connection set-up and service discovery, in ms.
    pub connect_ms: u64,
    /// How long after the signal is lost the central declares the link
    /// lost, in ms.
    pub supervision_timeout_ms: u64,
}

impl Default for LinkModel {
    fn default() -> Self {
        Self {
            connection_interval_ms: 15,
            connection_interval_us: None,
            packets_per_event: 4,
            connect_ms: 60,
            supervision_timeout_ms: 2000,
        }
    }
}

impl LinkModel {
    /// The connection interval.
    pub fn interval(&self) -> Duration {
        match self.connection_interval_us {
            Some(us) => Duration::from_micros(us.max(1)),
            None => Duration::from_millis(self.connection_interval_ms.max(1)),
        }
    }

    /// The ceiling of frame bytes per second one direction carries at this
    /// ATT payload (one byte of each payload is the fragment header).
    pub fn ceiling_bytes_per_second(&self, att_payload: usize) -> f64 {
        self.packets_per_event.max(1) as f64 * att_payload.saturating_sub(1) as f64
            / self.interval().as_secs_f64()
    }
}

/// How late tokio's timer wheel may fire: it counts whole milliseconds.
const TIMER_RESOLUTION: Duration = Duration::from_millis(1);

/// One direction of a link: which connection event the next payload rides.
#[derive(Debug, Clone)]
pub(crate) struct Airtime {
    epoch: Instant,
    interval: Duration,
    per_event: u32,
    event: u64,
    used: u32,
}

impl Airtime {
    pub(crate) fn new(epoch: Instant, model: &LinkModel) -> Self {
        Self {
            epoch,
            interval: model.interval(),
            per_event: model.packets_per_event.max(1),
            event: 0,
            used: 0,
        }
    }

    /// Reserves room for one payload handed over at `now`; returns when it
    /// is delivered.
    pub(crate) fn reserve(&mut self, now: Instant) -> Instant {
        // tokio's timers fire on whole milliseconds, so a writer woken for
        // an event that falls between them (every other one at 7.5 ms)
        // wakes up to 1 ms late: within that it still rides the event.
        // With whole-millisecond intervals `now` never lies strictly
        // inside that tolerance, and nothing changes.
        let since = now
            .saturating_duration_since(self.epoch)
            .as_nanos()
            .saturating_sub(TIMER_RESOLUTION.as_nanos() - 1);
        let interval = self.interval.as_nanos().max(1);
        let first_event = since.div_ceil(interval) as u64;
        if first_event > self.event {
            self.event = first_event;
            self.used = 0;
        }
        if self.used >= self.per_event {
            self.event += 1;
            self.used = 0;
        }
        self.used += 1;
        self.epoch + self.interval * self.event as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rssi_falls_with_distance_and_far_readers_are_not_heard() {
        assert_eq!(rssi_at(1.0), -59.0);
        assert!((rssi_at(10.0) - -79.0).abs() < 1e-4);
        assert!(in_range(50.0));
        assert!(!in_range(100.0));
    }

    #[test]
    fn payloads_ride_connection_events_with_limited_room() {
        let epoch = Instant::now();
        let mut air = Airtime::new(epoch, &LinkModel::default());
        let at = epoch + Duration::from_millis(1);
        let times: Vec<_> = (0..5).map(|_| air.reserve(at) - epoch).collect();
        let ms = Duration::from_millis;
        assert_eq!(times, vec![ms(15), ms(15), ms(15), ms(15), ms(30)]);
    }

    #[test]
    fn a_writer_woken_late_by_the_millisecond_timer_still_rides_its_event() {
        let epoch = Instant::now();
        let model = LinkModel {
            connection_interval_us: Some(7_500),
            ..LinkModel::default()
        };
        let mut air = Airtime::new(epoch, &model);
        let us = Duration::from_micros;
        let first = air.reserve(epoch + us(2_000));
        assert_eq!(first - epoch, us(7_500));
        // Woken at 8 ms, the next whole millisecond: the 7.5 ms event
        // still has room for three more.
        let woke = epoch + us(8_000);
        let times: Vec<_> = (0..4).map(|_| air.reserve(woke) - epoch).collect();
        assert_eq!(times, vec![us(7_500), us(7_500), us(7_500), us(15_000)]);
        // A whole millisecond after an event is past it.
        let mut air = Airtime::new(epoch, &LinkModel::default());
        assert_eq!(air.reserve(epoch + us(16_000)) - epoch, us(30_000));
    }
}
