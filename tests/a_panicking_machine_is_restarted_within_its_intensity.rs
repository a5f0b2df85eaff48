//! A panicking machine does not take the process down: its actor replaces
//! it with a fresh machine at most N times in T (Erlang's 1 in 5 s by
//! default), then gives up, reports it, and stops — the rest keeps running.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use readerlink::runtime::table::{MachineSpec, on, state};
use readerlink::runtime::{
    Clock, CurrentState, Deliver, EffectContext, Effects, Machine, MachineActor, Outbox, RecordBody,
    RestartPolicy, Trace, TraceHeader, Tracer, virtual_time_system,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, strum::IntoStaticStr)]
enum Input {
    Pinged,
    BugTriggered,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Output {
    /// How many pings this machine (since its last restart) has seen.
    Ponged(u32),
}

static SPEC: MachineSpec = MachineSpec {
    name: "fragile",
    summary: "test machine that panics on purpose",
    initial: "running",
    states: &[state("running", None, &[on("Pinged", &[])])],
};

#[derive(Default)]
struct Fragile {
    pings: u32,
}

impl Machine for Fragile {
    type Input = Input;
    type Output = Output;
    type Timer = ();

    fn spec() -> &'static MachineSpec {
        &SPEC
    }

    fn state(&self) -> &'static str {
        "running"
    }

    fn handle(&mut self, input: &Input, out: &mut Outbox<Output, ()>) {
        match input {
            Input::Pinged => {
                self.pings += 1;
                out.emit(Output::Ponged(self.pings));
            }
            Input::BugTriggered => panic!("bug triggered on purpose"),
        }
    }

    fn timer_elapsed(_: ()) -> Input {
        Input::Pinged
    }
}

#[derive(Default, Clone)]
struct Seen(Rc<RefCell<Vec<String>>>);

impl Effects<Fragile> for Seen {
    fn perform(&mut self, output: Output, _ctx: &mut EffectContext<'_, Fragile, Self>) {
        self.0.borrow_mut().push(format!("{output:?}"));
    }
    fn machine_restarted(&mut self, panic: &str, ctx: &mut EffectContext<'_, Fragile, Self>) {
        self.0
            .borrow_mut()
            .push(format!("restarted at {} ms after: {panic}", ctx.now()));
    }
    fn machine_gave_up(&mut self, panic: &str, ctx: &mut EffectContext<'_, Fragile, Self>) {
        self.0
            .borrow_mut()
            .push(format!("gave up at {} ms after: {panic}", ctx.now()));
    }
}

fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

#[test]
fn a_second_panic_within_five_seconds_stops_the_actor_and_the_rest_keeps_running() {
    quiet_panics();
    let (seen, trace) = virtual_time_system().block_on(async {
        let tracer = Tracer::memory(TraceHeader::new(0, serde_json::Value::Null));
        let clock = Clock::start();
        let seen = Seen::default();
        let fragile = MachineActor::new("fragile", Fragile::default(), seen.clone(), tracer.clone(), clock)
            .restart_with(RestartPolicy::erlang_default(Fragile::default));
        let fragile = actix::Actor::start(fragile);
        let bystander = actix::Actor::start(MachineActor::new(
            "bystander",
            Fragile::default(),
            Seen::default(),
            tracer.clone(),
            clock,
        ));

        fragile.send(Deliver::app(Input::Pinged)).await.unwrap();
        fragile.send(Deliver::app(Input::BugTriggered)).await.unwrap();
        fragile.send(Deliver::app(Input::Pinged)).await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        fragile.send(Deliver::app(Input::BugTriggered)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;

        assert!(
            fragile.send(Deliver::app(Input::Pinged)).await.is_err(),
            "the actor stopped"
        );
        assert_eq!(
            bystander.send(CurrentState).await.unwrap(),
            "running",
            "the rest keeps running"
        );
        (seen.0.borrow().clone(), tracer.contents())
    });
    assert_eq!(
        seen,
        vec![
            "Ponged(1)",
            "restarted at 0 ms after: bug triggered on purpose",
            "Ponged(1)",
            "gave up at 2000 ms after: bug triggered on purpose",
        ],
        "the fresh machine starts counting again"
    );
    let trace = Trace::parse(&trace).unwrap();
    let panics: Vec<_> = trace
        .records
        .iter()
        .filter_map(|r| match &r.body {
            RecordBody::Panicked { restarted, .. } => Some(*restarted),
            _ => None,
        })
        .collect();
    assert_eq!(panics, vec![true, false]);
    assert!(
        matches!(
            readerlink::runtime::replay_machine(&trace, "fragile", Fragile::default).unwrap(),
            readerlink::runtime::ReplayOutcome::Reproduced { .. }
        ),
        "replay restarts the machine where the trace says it did"
    );
}

#[test]
fn panics_further_apart_than_the_window_are_each_restarted() {
    quiet_panics();
    let seen = virtual_time_system().block_on(async {
        let seen = Seen::default();
        let actor = MachineActor::new(
            "fragile",
            Fragile::default(),
            seen.clone(),
            Tracer::off(),
            Clock::start(),
        )
        .restart_with(RestartPolicy::erlang_default(Fragile::default));
        let fragile = actix::Actor::start(actor);
        for _ in 0..3 {
            fragile.send(Deliver::app(Input::BugTriggered)).await.unwrap();
            tokio::time::sleep(Duration::from_secs(6)).await;
        }
        fragile.send(Deliver::app(Input::Pinged)).await.unwrap();
        seen.0.borrow().clone()
    });
    assert_eq!(seen.iter().filter(|s| s.starts_with("restarted")).count(), 3);
    assert_eq!(seen.last().unwrap(), "Ponged(1)");
}

#[test]
fn without_a_policy_the_first_panic_gives_up() {
    quiet_panics();
    let seen = virtual_time_system().block_on(async {
        let seen = Seen::default();
        let fragile = actix::Actor::start(MachineActor::new(
            "fragile",
            Fragile::default(),
            seen.clone(),
            Tracer::off(),
            Clock::start(),
        ));
        fragile.send(Deliver::app(Input::BugTriggered)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(fragile.send(Deliver::app(Input::Pinged)).await.is_err());
        seen.0.borrow().clone()
    });
    assert_eq!(seen, vec!["gave up at 0 ms after: bug triggered on purpose"]);
}
