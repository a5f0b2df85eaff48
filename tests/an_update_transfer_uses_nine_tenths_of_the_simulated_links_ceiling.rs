//! How long an update keeps a merchant waiting is the link's doing, not
//! ours (issue 13): on a paused clock, the M2's 256 KiB image crosses the
//! simulated link (244-byte ATT payloads, 4 per 15 ms connection event) at
//! no less than 90 % of the link model's ceiling
//! (`att_payload × packets_per_event / interval`), and stop-and-wait (one
//! chunk in flight) is measurably slower. Virtual time, so the figures are
//! exact; `benches/transfer.rs` measures the other sizes.

mod terminal_support;

use readerlink::runtime::{Tracer, virtual_time_system};
use readerlink::terminal::{ConnectionConfig, TerminalEvent};
use readerlink::transport::sim::Fleet;
use readerlink::updater::{SIMULATED_REQUIRED_SIZE, SimulatedUpdatePreset, TRANSFER_SHARE, UpdaterPolicy};
use terminal_support::rig_of;

const M2: &str = "STRM2-0001";

/// Image bytes per second of the M2's required install under `policy`,
/// and the link model's ceiling in bytes per second.
fn transfer_rate(policy: UpdaterPolicy) -> (f64, f64) {
    virtual_time_system().block_on(async {
        let mut fleet = Fleet::example();
        for reader in &mut fleet.readers {
            if reader.serial.as_str() == M2 {
                reader.update = SimulatedUpdatePreset::Required;
            }
        }
        let link = fleet.link.clone();
        let rig = rig_of(fleet, Tracer::off(), |b| b.updater_policy(policy));
        let [m2] = rig.discover(&[M2]).await.try_into().unwrap();
        rig.terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .expect("the install and the connect succeed");
        let events = rig.events.lock().unwrap();
        let started = events
            .iter()
            .find_map(|(t, e)| matches!(e, TerminalEvent::UpdateInstallStarted { .. }).then_some(*t))
            .expect("the install started");
        let transferred = events
            .iter()
            .find_map(|(t, e)| match e {
                TerminalEvent::UpdateInstallProgress { progress, .. } if *progress >= TRANSFER_SHARE => {
                    Some(*t)
                }
                _ => None,
            })
            .expect("every byte was acknowledged");
        let seconds = (transferred - started) as f64 / 1000.0;
        let att_payload = 244.0;
        let ceiling = att_payload * link.packets_per_event as f64 / link.interval().as_secs_f64();
        (SIMULATED_REQUIRED_SIZE as f64 / seconds, ceiling)
    })
}

#[test]
fn the_default_window_keeps_the_link_nine_tenths_busy_and_beats_stop_and_wait() {
    let (windowed, ceiling) = transfer_rate(UpdaterPolicy::default());
    assert!(
        windowed >= 0.9 * ceiling,
        "{windowed:.0} B/s of a {ceiling:.0} B/s ceiling"
    );
    let (stop_and_wait, _) = transfer_rate(UpdaterPolicy {
        window: 1,
        windows_in_flight: 1,
        ..UpdaterPolicy::default()
    });
    assert!(
        windowed >= 1.5 * stop_and_wait,
        "windowed {windowed:.0} B/s, stop-and-wait {stop_and_wait:.0} B/s"
    );
}
