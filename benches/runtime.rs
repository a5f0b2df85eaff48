//! One message through the runtime shell into a small machine and back:
//! (a) shell, trace off; (b) shell, trace to memory; (c) a plain actix actor
//! doing the same work; (d) the statig machine alone. See benches/README.md.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};
use statig::prelude::*;

use readerlink::runtime::table::{MachineSpec, on, state};
use readerlink::runtime::{
    Clock, Deliver, EffectContext, Effects, Machine, MachineActor, Outbox, StatigCore, StatigMachine,
    TraceHeader, Tracer,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, strum::IntoStaticStr)]
enum Input {
    Flipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Timer {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Output {
    flips: u64,
}

static SPEC: MachineSpec = MachineSpec {
    name: "toggle",
    summary: "benchmark machine",
    initial: "off",
    states: &[
        state("off", None, &[on("Flipped", &["on"])]),
        state("on", None, &[on("Flipped", &["off"])]),
    ],
};

type Out = Outbox<Output, Timer>;

#[derive(Default)]
struct Core {
    flips: u64,
}

#[state_machine(
    initial = "State::off()",
    state(derive(Debug, strum::IntoStaticStr)),
    after_transition = "Self::record_transition"
)]
impl Core {
    #[state]
    fn off(&mut self, context: &mut Out, event: &Input) -> Outcome<State> {
        let Input::Flipped = event;
        self.flips += 1;
        context.emit(Output { flips: self.flips });
        Transition(State::on())
    }

    #[state]
    fn on(&mut self, context: &mut Out, event: &Input) -> Outcome<State> {
        let Input::Flipped = event;
        self.flips += 1;
        context.emit(Output { flips: self.flips });
        Transition(State::off())
    }
}

impl StatigCore for Core {
    type Output = Output;
    type Timer = Timer;

    fn spec() -> &'static MachineSpec {
        &SPEC
    }

    fn timer_elapsed(timer: Timer) -> Input {
        match timer {}
    }
}

type Toggle = StatigMachine<Core>;

/// Hands the output back to the caller.
struct Reply(Rc<Cell<u64>>);

impl Effects<Toggle> for Reply {
    fn perform(&mut self, output: Output, _ctx: &mut EffectContext<'_, Toggle, Self>) {
        self.0.set(output.flips);
    }
}

/// (c): the same work in a plain actix actor.
struct PlainToggle {
    on: bool,
    flips: u64,
}

impl Actor for PlainToggle {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "u64")]
struct Flip;

impl Handler<Flip> for PlainToggle {
    type Result = u64;

    fn handle(&mut self, _msg: Flip, _ctx: &mut Self::Context) -> u64 {
        self.on = !self.on;
        self.flips += 1;
        self.flips
    }
}

fn shell_round_trips(iters: u64, tracer: Tracer) -> Duration {
    actix_rt::System::new().block_on(async move {
        let reply = Rc::new(Cell::new(0));
        let machine = Toggle::from_core(Core::default());
        let addr = MachineActor::new("toggle", machine, Reply(reply.clone()), tracer, Clock::start()).start();
        let start = Instant::now();
        for _ in 0..iters {
            addr.send(Deliver::app(Input::Flipped)).await.unwrap();
        }
        let elapsed = start.elapsed();
        assert_eq!(reply.get(), iters);
        elapsed
    })
}

fn runtime(c: &mut Criterion) {
    let mut group = c.benchmark_group("one_message_round_trip");
    group.bench_function("a_shell_trace_off", |b| {
        b.iter_custom(|iters| shell_round_trips(iters, Tracer::off()))
    });
    group.bench_function("b_shell_trace_to_memory", |b| {
        b.iter_custom(|iters| {
            shell_round_trips(
                iters,
                Tracer::memory(TraceHeader::new(0, serde_json::Value::Null)),
            )
        })
    });
    group.bench_function("b2_shell_trace_to_io_sink", |b| {
        b.iter_custom(|iters| {
            let tracer = Tracer::writer(
                TraceHeader::new(0, serde_json::Value::Null),
                Box::new(std::io::sink()),
            )
            .unwrap();
            shell_round_trips(iters, tracer)
        })
    });
    group.bench_function("c_plain_actix_actor", |b| {
        b.iter_custom(|iters| {
            actix_rt::System::new().block_on(async move {
                let addr = PlainToggle { on: false, flips: 0 }.start();
                let start = Instant::now();
                let mut last = 0;
                for _ in 0..iters {
                    last = addr.send(Flip).await.unwrap();
                }
                let elapsed = start.elapsed();
                assert_eq!(last, iters);
                elapsed
            })
        })
    });
    group.bench_function("d_statig_machine_alone", |b| {
        let mut machine = Toggle::from_core(Core::default());
        let mut out = Outbox::default();
        b.iter(|| {
            machine.handle(&Input::Flipped, &mut out);
            out.drain().count()
        })
    });
    group.bench_function("e_trace_alone_three_records", |b| {
        use readerlink::runtime::trace::Body;
        let tracer = Tracer::memory(TraceHeader::new(0, serde_json::Value::Null));
        let actor: std::sync::Arc<str> = "toggle".into();
        let step: readerlink::runtime::Step<Output, Timer> =
            readerlink::runtime::Step::Emitted(Output { flips: 1 });
        b.iter(|| {
            let input: Body<Input, (), ()> = Body::Input {
                source: "app".into(),
                event: "Flipped",
                input: Input::Flipped,
            };
            tracer.record_body(1, &actor, input);
            tracer.record_body(1, &actor, Body::step("Flipped", &step));
            let transition: Body<(), (), ()> = Body::Transition {
                event: "Flipped",
                from: "on",
                to: "off",
            };
            tracer.record_body(1, &actor, transition);
        })
    });
    group.finish();
}

criterion_group!(benches, runtime);
criterion_main!(benches);
