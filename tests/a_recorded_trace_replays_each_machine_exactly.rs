//! A trace recorded from a running actor system on a paused clock replays
//! each machine with no divergence; an edited record is reported as the
//! divergence, at its sequence number.

mod common;

use std::time::Duration;

use readerlink::runtime::example::{Turnstile, TurnstileEffects, TurnstileInput};
use readerlink::runtime::{
    Clock, CurrentState, Deliver, MachineActor, RecordBody, ReplayOutcome, Trace, TraceHeader, Tracer,
    replay_machine, virtual_time_system,
};

/// Two gates driven through a few minutes of virtual time; returns the trace.
fn record_two_gates() -> String {
    virtual_time_system().block_on(async {
        let tracer = Tracer::memory(TraceHeader::new(42, serde_json::json!({ "gates": 2 })));
        let clock = Clock::start();
        let gates: Vec<_> = ["gate-1", "gate-2"]
            .into_iter()
            .map(|id| {
                let effects = TurnstileEffects::new(Duration::from_millis(800));
                actix::Actor::start(MachineActor::new(
                    id,
                    Turnstile::new(),
                    effects,
                    tracer.clone(),
                    clock,
                ))
            })
            .collect();

        gates[0]
            .send(Deliver::app(TurnstileInput::CoinInserted))
            .await
            .unwrap();
        gates[1].send(Deliver::app(TurnstileInput::Pushed)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        gates[0].send(Deliver::app(TurnstileInput::Pushed)).await.unwrap();
        gates[1]
            .send(Deliver::app(TurnstileInput::CoinInserted))
            .await
            .unwrap();
        // gate-1 finishes turning by itself (an effect reporting back);
        // gate-2 is never pushed and auto-locks on its timer.
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(gates[0].send(CurrentState).await.unwrap(), "locked");
        assert_eq!(gates[1].send(CurrentState).await.unwrap(), "locked");
        assert_eq!(clock.now_ms(), 121_500, "two virtual minutes took no real time");
        tracer.contents()
    })
}

#[test]
fn every_machine_replays_from_the_trace_without_divergence() {
    let text = record_two_gates();
    let trace = Trace::parse(&text).expect("the recorded trace validates");
    assert_eq!(trace.header.seed, 42);
    assert_eq!(trace.actors(), vec!["gate-1", "gate-2"]);

    for actor in ["gate-1", "gate-2"] {
        match replay_machine(&trace, actor, Turnstile::new).unwrap() {
            ReplayOutcome::Reproduced { inputs, steps } => {
                assert!(
                    inputs >= 2 && steps >= 4,
                    "{actor}: {inputs} inputs, {steps} steps"
                );
            }
            ReplayOutcome::Diverged(d) => panic!("{actor}: {d}"),
        }
    }
    // The timer and the effect's completion were recorded as inputs, with
    // their virtual times.
    let sources: Vec<_> = trace
        .records
        .iter()
        .filter_map(|r| match &r.body {
            RecordBody::Input { source, event, .. } => {
                Some(format!("{} {} {source} {event}", r.t_ms, r.actor))
            }
            _ => None,
        })
        .collect();
    assert!(
        sources.contains(&"2300 gate-1 effect RotationCompleted".to_owned()),
        "{sources:#?}"
    );
    assert!(
        sources.contains(&"6500 gate-2 timer AutoLockElapsed".to_owned()),
        "{sources:#?}"
    );
}

#[test]
fn the_trace_is_byte_identical_across_runs() {
    assert_eq!(record_two_gates(), record_two_gates());
}

#[test]
fn an_edited_output_is_reported_as_the_divergence_at_its_record() {
    let text = record_two_gates();
    let trace = Trace::parse(&text).unwrap();
    let edited = trace
        .records
        .iter()
        .find(|r| r.actor == "gate-2" && matches!(&r.body, RecordBody::Output { output } if output == "Lock"))
        .expect("gate-2 locked itself")
        .seq;
    let text: String = text
        .lines()
        .map(|line| {
            if line.starts_with(&format!("{{\"seq\":{edited},")) {
                line.replace("\"output\":\"Lock\"", "\"output\":\"Alarm\"")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let trace = Trace::parse(&text).unwrap();

    match replay_machine(&trace, "gate-2", Turnstile::new).unwrap() {
        ReplayOutcome::Diverged(d) => {
            assert_eq!(d.seq, edited);
            assert_eq!(
                d.recorded,
                Some(RecordBody::Output {
                    output: "Alarm".into()
                })
            );
            assert_eq!(
                d.replayed,
                Some(RecordBody::Output {
                    output: "Lock".into()
                })
            );
        }
        other => panic!("expected a divergence, got {other:?}"),
    }
    // The other machine is untouched by the edit.
    assert!(matches!(
        replay_machine(&trace, "gate-1", Turnstile::new).unwrap(),
        ReplayOutcome::Reproduced { .. }
    ));
}

#[test]
fn a_dropped_record_is_reported_where_the_machine_did_more_than_recorded() {
    let text = record_two_gates();
    let trace = Trace::parse(&text).unwrap();
    let transition = trace
        .records
        .iter()
        .find(|r| r.actor == "gate-1" && matches!(r.body, RecordBody::Transition { .. }))
        .unwrap()
        .clone();
    let mut trace = trace;
    trace.records.retain(|r| r.seq != transition.seq);
    match replay_machine(&trace, "gate-1", Turnstile::new).unwrap() {
        ReplayOutcome::Diverged(d) => {
            assert_eq!(d.replayed, Some(transition.body));
            assert!(
                d.seq > transition.seq,
                "reported at the record that stood after it"
            );
        }
        other => panic!("expected a divergence, got {other:?}"),
    }
}
