//! Reading and replaying traces: records per second of (a) the strict
//! streaming check, (b) parsing a whole trace into memory, (c) per-actor
//! replay through the machine registry (`Trace::replay_actor`). The trace is
//! a turnstile's, recorded as the shell records (input, then each step).
//! See benches/README.md.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use readerlink::runtime::example::{Turnstile, TurnstileInput};
use readerlink::runtime::trace::Body;
use readerlink::runtime::{
    EventName, Machine, Outbox, RecordBody, ReplayOutcome, Trace, TraceHeader, TraceReader, Tracer,
};

/// A turnstile fed `inputs` inputs, one every 100 ms, recorded to memory.
fn turnstile_trace(inputs: usize) -> String {
    let tracer = Tracer::memory(TraceHeader::new(1, serde_json::Value::Null));
    let actor: Arc<str> = "turnstile".into();
    let mut machine = Turnstile::new();
    tracer.record(
        0,
        &actor,
        RecordBody::Started {
            machine: "turnstile".into(),
            state: machine.state().into(),
            seed: None,
        },
    );
    let mut outbox = Outbox::default();
    let cycle = [
        TurnstileInput::CoinInserted,
        TurnstileInput::Pushed,
        TurnstileInput::RotationCompleted,
        TurnstileInput::Pushed,
    ];
    for (i, input) in cycle.iter().cycle().take(inputs).enumerate() {
        let now = i as u64 * 100;
        let body: Body<_, (), ()> = Body::Input {
            source: "app".into(),
            event: input.event_name(),
            input: input.clone(),
        };
        tracer.record_body(now, &actor, body);
        outbox.set_now(now);
        machine.handle(input, &mut outbox);
        for step in outbox.drain() {
            tracer.record_body(now, &actor, Body::step(input.event_name(), &step));
        }
    }
    tracer.contents()
}

fn trace(c: &mut Criterion) {
    let text = turnstile_trace(20_000);
    let trace = Trace::parse(&text).unwrap();
    let records = trace.records.len() as u64;
    assert!(matches!(
        trace.replay_actor("turnstile").unwrap(),
        ReplayOutcome::Reproduced { .. }
    ));

    let mut group = c.benchmark_group("trace_records");
    group.throughput(Throughput::Elements(records));
    group.bench_function("a_check_streaming", |b| {
        b.iter(|| {
            let mut reader = TraceReader::new(text.as_bytes(), "bench").unwrap();
            let mut n = 0u64;
            while reader.next_record().unwrap().is_some() {
                n += 1;
            }
            assert_eq!(n, records);
        })
    });
    group.bench_function("b_parse_into_memory", |b| {
        b.iter(|| Trace::parse(&text).unwrap().records.len())
    });
    group.bench_function("c_replay_actor", |b| {
        b.iter(|| trace.replay_actor("turnstile").unwrap())
    });
    group.finish();
}

criterion_group!(benches, trace);
criterion_main!(benches);
