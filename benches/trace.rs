//! Reading and replaying traces: records per second of (a) the strict
//! streaming check, (b) parsing a whole trace into memory, (c) per-actor
//! replay through the machine registry (`Trace::replay_actor`). The trace is
//! a turnstile's, recorded as the shell records (input, then each step).
//! And what recording costs a whole run: an example scenario run with its
//! trace off and with its trace written to a file, with their ratio
//! measured in the same run. And whole-run replay (`readerlink replay`) of
//! that scenario's trace, as a ratio of recording it. See benches/README.md.

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

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

    // Every actor of an example scenario's trace, replayed as `readerlink
    // trace replay` does (`Trace::replay_actors`): the payloads of the reader domain (nested enums with readers,
    // serial numbers and reasons), not a turnstile's bare names.
    let scenario = readerlink::scenario::load(std::path::Path::new(SCENARIO)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.jsonl");
    run_scenario(&scenario, &readerlink::scenario::TraceTo::File(path.clone()));
    let trace = Trace::read_file(&path).unwrap();
    let actors: Vec<String> = trace.started_actors().into_iter().map(str::to_owned).collect();
    let mut group = c.benchmark_group("trace_records");
    group.throughput(Throughput::Elements(trace.records.len() as u64));
    group.bench_function("c2_replay_every_actor_of_a_scenario", |b| {
        b.iter(|| {
            for (_, outcome) in trace.replay_actors(actors.iter().map(String::as_str)) {
                assert!(matches!(outcome, Ok(ReplayOutcome::Reproduced { .. })));
            }
        })
    });
    group.finish();
}

/// The example scenario the recording overhead is measured on: a reader
/// connected, its link lost and reconnected — every actor busy.
const SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/scenarios/link_lost_and_reconnection.toml"
);

fn run_scenario(scenario: &readerlink::scenario::Scenario, to: &readerlink::scenario::TraceTo) {
    let outcome = readerlink::scenario::run_blocking(scenario, to).unwrap();
    assert!(outcome.passed(), "{}", outcome.report());
}

/// A scenario run as `run_blocking` runs it, the trace to memory or to
/// `std::io::sink()` (every record serialized, nothing written).
fn run_traced(scenario: &readerlink::scenario::Scenario, memory: bool) {
    let header = TraceHeader::new(scenario.seed, serde_json::Value::Null);
    let tracer = if memory {
        Tracer::memory(header)
    } else {
        Tracer::writer(header, Box::new(std::io::sink())).unwrap()
    };
    let outcome = readerlink::runtime::virtual_time_system().block_on(async {
        readerlink::scenario::run::<readerlink::scenario::TerminalApp>(scenario, tracer.clone()).await
    });
    assert!(outcome.unwrap().passed());
    if memory {
        assert!(tracer.contents().len() > 1000);
    }
}

fn recording(c: &mut Criterion) {
    use readerlink::scenario::TraceTo;
    let scenario = readerlink::scenario::load(std::path::Path::new(SCENARIO)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("recording");
    group.sample_size(20);
    group.bench_function("d_scenario_trace_off", |b| {
        b.iter(|| run_scenario(&scenario, &TraceTo::Off))
    });
    // A fresh file each run: truncating the file just written makes ext4
    // flush it first (`auto_da_alloc`), which would be measured instead.
    let fresh_file = || {
        let path = dir.path().join("trace.jsonl");
        let _ = std::fs::remove_file(&path);
        TraceTo::File(path)
    };
    group.bench_function("e_scenario_trace_to_file", |b| {
        b.iter_batched(
            fresh_file,
            |file| run_scenario(&scenario, &file),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("f_scenario_trace_to_sink", |b| {
        b.iter(|| run_traced(&scenario, false))
    });
    group.bench_function("g_scenario_trace_to_memory", |b| {
        b.iter(|| run_traced(&scenario, true))
    });

    group.finish();

    // The ratio e/d, each pair measured back to back so that the load of
    // the moment weighs on both: the median of 31 pairs.
    let time = |to: &TraceTo| {
        let start = std::time::Instant::now();
        run_scenario(&scenario, to);
        start.elapsed().as_secs_f64()
    };
    let mut ratios: Vec<f64> = (0..31)
        .map(|_| {
            let file = fresh_file();
            let off = time(&TraceTo::Off);
            time(&file) / off
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let records = std::fs::read_to_string(dir.path().join("trace.jsonl"))
        .unwrap()
        .lines()
        .count()
        - 1;
    println!(
        "recording overhead (trace to file / trace off, {records} records a run): median {:.2}, range {:.2}..{:.2} over {} pairs",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1],
        ratios.len()
    );
}

/// Whole-run replay (`readerlink replay`) of the scenario's trace against
/// recording it: criterion's time for the replay alone, then the ratio
/// replay / recording (the scenario run with its trace to a file), each
/// pair measured back to back: the median of 31 pairs.
fn whole_run(c: &mut Criterion) {
    use readerlink::scenario::TraceTo;
    let scenario = readerlink::scenario::load(std::path::Path::new(SCENARIO)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recorded.jsonl");
    run_scenario(&scenario, &TraceTo::File(path.clone()));
    let trace = Trace::read_file(&path).unwrap();
    assert!(trace.replay_run().unwrap().reproduced());
    let mut group = c.benchmark_group("whole_run_replay");
    group.sample_size(20);
    group.throughput(Throughput::Elements(trace.records.len() as u64));
    group.bench_function("h_replay_run", |b| {
        b.iter(|| assert!(trace.replay_run().unwrap().reproduced()))
    });
    group.finish();
    let mut ratios: Vec<f64> = (0..31)
        .map(|i| {
            let file = dir.path().join(format!("pair{i}.jsonl"));
            let start = std::time::Instant::now();
            run_scenario(&scenario, &TraceTo::File(file));
            let recording = start.elapsed().as_secs_f64();
            let start = std::time::Instant::now();
            assert!(trace.replay_run().unwrap().reproduced());
            start.elapsed().as_secs_f64() / recording
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "whole-run replay / recording (trace to file, {} records a run): median {:.2}, range {:.2}..{:.2} over {} pairs",
        trace.records.len(),
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1],
        ratios.len()
    );
}

criterion_group!(benches, trace, recording, whole_run);
criterion_main!(benches);
