//! A terminal run recorded on a paused clock (two readers connected, cards,
//! a link lost, a reboot, a disconnect) replays each connection machine and
//! the hub machine from the trace with no divergence: the machines are
//! pure, and every input survives its JSON record.

mod terminal_support;

use std::time::Duration;

use readerlink::connection::Connection;
use readerlink::runtime::{ReplayOutcome, Trace, TraceHeader, Tracer, replay_machine, virtual_time_system};
use readerlink::terminal::{ConnectionConfig, Hub};
use terminal_support::rig;

#[test]
fn every_connection_and_the_hub_replay_from_the_trace_without_divergence() {
    let tracer = Tracer::memory(TraceHeader::new(42, serde_json::json!({"fleet": "example"})));
    // The trace is taken inside the run: the actors' `stopped` records,
    // written as the runtime is torn down, no longer see its paused clock.
    let text = virtual_time_system().block_on(async {
        let rig = rig(tracer.clone());
        let [m2, wisepad] = rig
            .discover(&["STRM2-0001", "WPC32-0001"])
            .await
            .try_into()
            .unwrap();
        let config = ConnectionConfig::new(&rig.shop.id);
        let (a, b) = futures::join!(
            rig.terminal.connect_reader(&m2, config.clone()),
            rig.terminal.connect_reader(&wisepad, config.clone()),
        );
        a.unwrap();
        b.unwrap();
        rig.world.insert_card(&m2.serial_number).unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        rig.world.lose_link(&wisepad.serial_number, None).unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        rig.terminal.reboot_reader(&m2.serial_number).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        tracer.contents()
    });

    let trace = Trace::parse(&text).expect("the recorded trace validates");
    for actor in ["connection:STRM2-0001", "connection:WPC32-0001"] {
        match replay_machine(&trace, actor, Connection::new).unwrap() {
            ReplayOutcome::Reproduced { inputs, steps } => {
                assert!(
                    inputs >= 7 && steps >= 15,
                    "{actor}: {inputs} inputs, {steps} steps"
                )
            }
            ReplayOutcome::Diverged(d) => panic!("{actor}: {d}"),
        }
    }
    match replay_machine(&trace, "terminal", Hub::new).unwrap() {
        ReplayOutcome::Reproduced { inputs, .. } => assert!(inputs >= 10, "terminal: {inputs} inputs"),
        ReplayOutcome::Diverged(d) => panic!("terminal: {d}"),
    }
}
