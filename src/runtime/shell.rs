//! The generic `actix` shell that runs any [`Machine`]: it delivers inputs,
//! carries out outputs through an [`Effects`] implementation, arms and
//! cancels timers with `ctx.run_later` on tokio time, checks every
//! transition against the declared table, and records the trace.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::machine::{EventName, Machine, Millis, Outbox, Step};
use super::trace::{Body, RecordBody, Tracer};

/// The run's clock: tokio time since an epoch, so it is virtual whenever
/// tokio's clock is paused. Only shells read it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: tokio::time::Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Self {
        Self {
            epoch: tokio::time::Instant::now(),
        }
    }

    /// Milliseconds since the epoch.
    pub fn now_ms(&self) -> Millis {
        self.epoch.elapsed().as_millis() as Millis
    }

    /// The instant `ms` after the epoch.
    pub fn instant_at(&self, ms: Millis) -> tokio::time::Instant {
        self.epoch + std::time::Duration::from_millis(ms)
    }
}

/// Builds an actix system over a current-thread tokio runtime whose clock
/// starts paused: timers fire in order as soon as the system is idle, so a
/// day runs in milliseconds. No real IO may run under it (see DESIGN, "Two
/// clock modes").
pub fn virtual_time_system() -> actix_rt::SystemRunner {
    actix_rt::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("building a current-thread tokio runtime cannot fail")
    })
}

/// Carries out a machine's outputs: the domain side of a shell. It owns the
/// handles the outputs need (addresses of other actors, the transport, the
/// backend client) and reports completions back as inputs.
pub trait Effects<M: Machine>: Unpin + Sized + 'static {
    /// Carries out one output.
    fn perform(&mut self, output: M::Output, ctx: &mut EffectContext<'_, M, Self>);

    /// The machine panicked and was replaced by a fresh one (within its
    /// [`RestartPolicy`]). Its timers are disarmed; re-establish whatever the
    /// fresh machine needs.
    fn machine_restarted(&mut self, _panic: &str, _ctx: &mut EffectContext<'_, M, Self>) {}

    /// The machine panicked once too often (past its restart intensity, or
    /// with no policy): the actor stops after this call. Report it — a
    /// reader actor reports its reader disconnected — so the rest of the
    /// system keeps running.
    fn machine_gave_up(&mut self, _panic: &str, _ctx: &mut EffectContext<'_, M, Self>) {}
}

/// How often a panicking machine is replaced by a fresh one before its actor
/// gives up: at most `max_restarts` within any `within` (Erlang's default is
/// 1 in 5 s, [`RestartPolicy::erlang_default`]).
pub struct RestartPolicy<M> {
    /// Restarts allowed within the window.
    pub max_restarts: usize,
    /// The window.
    pub within: Duration,
    /// Builds the fresh machine.
    pub fresh: Box<dyn Fn() -> M>,
}

impl<M> RestartPolicy<M> {
    /// One restart in five seconds.
    pub fn erlang_default(fresh: impl Fn() -> M + 'static) -> Self {
        RestartIntensity::default().policy(fresh)
    }
}

/// How often an actor's panicking machine is replaced by a fresh one before
/// it gives up: the numbers of a [`RestartPolicy`] without the machine
/// builder, as configuration holds them (Erlang's 1 in 5 s by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartIntensity {
    /// Restarts allowed within the window.
    pub max_restarts: usize,
    /// The window.
    pub within: Duration,
}

impl Default for RestartIntensity {
    fn default() -> Self {
        Self {
            max_restarts: 1,
            within: Duration::from_secs(5),
        }
    }
}

impl RestartIntensity {
    /// The runtime policy, building fresh machines with `fresh`.
    pub fn policy<M>(self, fresh: impl Fn() -> M + 'static) -> RestartPolicy<M> {
        RestartPolicy {
            max_restarts: self.max_restarts,
            within: self.within,
            fresh: Box::new(fresh),
        }
    }
}

/// What an [`Effects`] implementation may do with its actor.
pub struct EffectContext<'a, M: Machine, E: Effects<M>> {
    ctx: &'a mut Context<MachineActor<M, E>>,
    now: Millis,
}

impl<M: Machine, E: Effects<M>> EffectContext<'_, M, E> {
    /// The time the output was emitted.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// The actor's own address, to hand to others.
    pub fn address(&self) -> Addr<MachineActor<M, E>> {
        self.ctx.address()
    }

    /// Runs `work` on the actor's context and delivers the input it
    /// resolves to (if any) back to the machine, recorded with `source`.
    pub fn spawn_then<F>(&mut self, source: &'static str, work: F)
    where
        F: Future<Output = Option<M::Input>> + 'static,
    {
        self.ctx
            .spawn(
                actix::fut::wrap_future::<_, MachineActor<M, E>>(work).map(move |input, actor, ctx| {
                    if let Some(input) = input {
                        actor.deliver(source.into(), input, ctx);
                    }
                }),
            );
    }

    /// Stops the actor after this input.
    pub fn stop(&mut self) {
        self.ctx.stop();
    }
}

/// Delivers one input to a machine actor.
#[derive(Debug, Clone)]
pub struct Deliver<I> {
    /// Who sent it, for the trace: `app`, `transport`, `actor:<id>`...
    pub source: Cow<'static, str>,
    /// The input.
    pub input: I,
}

impl<I> Deliver<I> {
    /// An input from `source`.
    pub fn from(source: impl Into<Cow<'static, str>>, input: I) -> Self {
        Self {
            source: source.into(),
            input,
        }
    }

    /// An input from the app (the public API).
    pub fn app(input: I) -> Self {
        Self::from("app", input)
    }
}

impl<I: 'static> Message for Deliver<I> {
    type Result = ();
}

/// Asks a machine actor for its current leaf state.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "&'static str")]
pub struct CurrentState;

/// Stops a machine actor once it has handled what is already in its
/// mailbox: its owner has no more use for it. Its timers go with it.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Stop;

/// An actor that runs machine `M`, carrying its outputs out with `E`.
pub struct MachineActor<M: Machine, E: Effects<M>> {
    id: Arc<str>,
    machine: M,
    effects: E,
    tracer: Tracer,
    clock: Clock,
    timers: HashMap<M::Timer, SpawnHandle>,
    outbox: Outbox<M::Output, M::Timer>,
    strict: bool,
    restart: Option<RestartPolicy<M>>,
    /// When the recent restarts happened, for the restart intensity.
    restarts: VecDeque<Millis>,
    /// The time of the last input: what the `stopped` record is stamped
    /// with when the actor stops after its runtime (and so its clock,
    /// paused or not) is gone, as at system shutdown.
    last_now: Millis,
    /// Inputs held for the replay gate (whole-run replay only, see
    /// [`super::gate`]), in arrival order.
    held: VecDeque<(Cow<'static, str>, M::Input)>,
    /// Under a replay gate, a `Stop` waits for the inputs held before it
    /// (they were ahead of it in the mailbox of the recorded run): how
    /// many of them are still held.
    stop_after_held: Option<usize>,
}

impl<M: Machine, E: Effects<M>> MachineActor<M, E> {
    /// An actor named `id` (unique in the run: it names the actor in the
    /// trace) around a fresh machine.
    pub fn new(id: impl Into<String>, machine: M, effects: E, tracer: Tracer, clock: Clock) -> Self {
        Self {
            id: Arc::from(id.into()),
            machine,
            effects,
            tracer,
            clock,
            timers: HashMap::new(),
            outbox: Outbox::default(),
            strict: cfg!(debug_assertions),
            restart: None,
            restarts: VecDeque::new(),
            last_now: 0,
            held: VecDeque::new(),
            stop_after_held: None,
        }
    }

    /// Replaces a panicking machine by a fresh one under `policy`, instead
    /// of stopping the actor at the first panic.
    pub fn restart_with(mut self, policy: RestartPolicy<M>) -> Self {
        self.restart = Some(policy);
        self
    }

    /// Whether an undeclared transition panics (the default in debug builds
    /// and tests) or is only logged (release builds).
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The effects implementation, for tests that inspect it.
    pub fn effects(&self) -> &E {
        &self.effects
    }

    /// The effects implementation, for the actor's own message handlers
    /// (which hand it what a message brought, such as a reply channel).
    pub fn effects_mut(&mut self) -> &mut E {
        &mut self.effects
    }

    /// The actor's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Feeds one input to the machine and carries out every step it takes.
    /// Under a replay gate the input is held until the gate releases it.
    pub fn deliver(&mut self, source: Cow<'static, str>, input: M::Input, ctx: &mut Context<Self>) {
        if let Some(gate) = self.tracer.gate() {
            gate.held(&self.id, source.clone());
            self.held.push_back((source, input));
            return;
        }
        self.handle_input(source, input, ctx);
    }

    /// Carries out what the replay gate says.
    fn gate_command(&mut self, command: super::gate::GateCommand, ctx: &mut Context<Self>) {
        use super::gate::GateCommand;
        let Some(gate) = self.tracer.gate().cloned() else {
            return;
        };
        match command {
            GateCommand::Release { source } => match self.held.iter().position(|(s, _)| *s == source) {
                Some(at) => {
                    let (source, input) = self.held.remove(at).expect("the position was just found");
                    gate.taken(&self.id, &source);
                    self.handle_input(source, input, ctx);
                    if let Some(before) = &mut self.stop_after_held {
                        if at < *before {
                            *before -= 1;
                        }
                        if *before == 0 {
                            ctx.stop();
                        }
                    }
                }
                None => gate.fail(format!("actor `{}` holds no input from `{source}`", self.id)),
            },
            GateCommand::Inject { source, input } => match serde_json::from_value::<M::Input>(input) {
                Ok(input) => self.handle_input(source.into(), input, ctx),
                Err(e) => gate.fail(format!(
                    "actor `{}` (machine `{}`): the recorded input does not decode: {e}",
                    self.id,
                    M::spec().name
                )),
            },
        }
    }

    fn handle_input(&mut self, source: Cow<'static, str>, input: M::Input, ctx: &mut Context<Self>) {
        let now = self.clock.now_ms();
        self.last_now = now;
        let event = input.event_name();
        if self.tracer.enabled() {
            let body: Body<_, (), ()> = Body::Input {
                source: source.clone(),
                event,
                input: input.clone(),
            };
            self.tracer.record_body(now, &self.id, body);
        }
        self.outbox.set_now(now);
        let handled =
            std::panic::catch_unwind(AssertUnwindSafe(|| self.machine.handle(&input, &mut self.outbox)));
        if let Err(panic) = handled {
            self.machine_panicked(now, panic_message(panic.as_ref()), ctx);
            return;
        }
        let mut steps = std::mem::take(&mut self.outbox);
        for step in steps.drain() {
            if self.tracer.enabled() {
                self.tracer.record_body(now, &self.id, Body::step(event, &step));
            }
            match step {
                Step::Transitioned { from, to } => {
                    if let Err(e) = M::spec().check(from, event, to) {
                        if self.strict {
                            panic!("{e}");
                        }
                        tracing::error!(actor = %self.id, "{e}");
                    }
                }
                Step::Emitted(output) => {
                    let mut effect_ctx = EffectContext { ctx, now };
                    self.effects.perform(output, &mut effect_ctx);
                }
                Step::TimerStarted { timer, after } => {
                    if let Some(handle) = self.timers.remove(&timer) {
                        ctx.cancel_future(handle);
                    }
                    let key = timer.clone();
                    let handle = ctx.run_later(after, move |actor, ctx| {
                        actor.timers.remove(&key);
                        actor.deliver("timer".into(), M::timer_elapsed(key), ctx);
                    });
                    self.timers.insert(timer, handle);
                }
                Step::TimerCancelled(timer) => {
                    if let Some(handle) = self.timers.remove(&timer) {
                        ctx.cancel_future(handle);
                    }
                }
            }
        }
        // Hand the (empty) buffer back so its allocation is reused, unless a
        // nested delivery put one back meanwhile, or a burst of steps grew it
        // past what most inputs need: an actor lives as long as its reader,
        // and a buffer kept at its high-water mark is memory per reader for
        // good (1.7 KiB per connection after a connect).
        super::probe::note_state(&self.id, M::spec().name, self.machine.state());
        let bytes = steps.capacity() * std::mem::size_of::<Step<M::Output, M::Timer>>();
        if self.outbox.steps().is_empty() && bytes <= RETAINED_OUTBOX_BYTES {
            self.outbox = steps;
        }
    }
}

/// The most bytes of room an actor's outbox keeps between inputs.
const RETAINED_OUTBOX_BYTES: usize = 256;

impl<M: Machine, E: Effects<M>> MachineActor<M, E> {
    /// Discards the failed input's steps and timers, then restarts the
    /// machine within the restart intensity or gives up and stops.
    fn machine_panicked(&mut self, now: Millis, message: String, ctx: &mut Context<Self>) {
        let _ = self.outbox.drain().count();
        for (_, handle) in self.timers.drain() {
            ctx.cancel_future(handle);
        }
        let state = self.machine.state().to_owned();
        let restart = self.restart.as_ref().is_some_and(|policy| {
            let window = policy.within.as_millis() as Millis;
            while self
                .restarts
                .front()
                .is_some_and(|t| now.saturating_sub(*t) >= window)
            {
                self.restarts.pop_front();
            }
            self.restarts.len() < policy.max_restarts
        });
        tracing::error!(actor = %self.id, %state, restarted = restart, "machine panicked: {message}");
        self.tracer.record(
            now,
            &self.id,
            RecordBody::Panicked {
                state,
                message: message.clone(),
                restarted: restart,
            },
        );
        let mut effect_ctx = EffectContext { ctx, now };
        match self.restart.as_ref().filter(|_| restart) {
            Some(policy) => {
                self.restarts.push_back(now);
                self.machine = (policy.fresh)();
                super::probe::note_state(&self.id, M::spec().name, self.machine.state());
                let body = RecordBody::Started {
                    machine: M::spec().name.to_owned(),
                    state: self.machine.state().to_owned(),
                    seed: self.machine.seed(),
                };
                self.tracer.record(now, &self.id, body);
                self.effects.machine_restarted(&message, &mut effect_ctx);
            }
            None => {
                self.effects.machine_gave_up(&message, &mut effect_ctx);
                effect_ctx.stop();
            }
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panicked with a non-string payload".to_owned())
}

static LIVE_MACHINE_ACTORS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many machine actors are running in this process now (started and
/// not yet stopped), over every actix system: a count to check that
/// nothing is left over, e.g. that after `Terminal::disconnect_all` and the
/// terminal's stop the count is back where it was. Process-wide, so read it
/// where nothing else runs beside (a benchmark, a test binary of its own).
pub fn live_machine_actors() -> usize {
    LIVE_MACHINE_ACTORS.load(std::sync::atomic::Ordering::Relaxed)
}

impl<M: Machine, E: Effects<M>> Actor for MachineActor<M, E> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        LIVE_MACHINE_ACTORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        super::probe::note_state(&self.id, M::spec().name, self.machine.state());
        if let Some(gate) = self.tracer.gate() {
            let addr = ctx.address();
            gate.register(
                &self.id,
                Arc::new(move |command| {
                    let running = addr.connected();
                    if running {
                        addr.do_send(command);
                    }
                    running
                }),
            );
        }
        if self.tracer.enabled() {
            let body = RecordBody::Started {
                machine: M::spec().name.to_owned(),
                state: self.machine.state().to_owned(),
                seed: self.machine.seed(),
            };
            self.tracer.record(self.clock.now_ms(), &self.id, body);
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        LIVE_MACHINE_ACTORS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        super::probe::forget(&self.id);
        if self.tracer.enabled() {
            let body = RecordBody::Stopped {
                state: self.machine.state().to_owned(),
                reason: "stopped".to_owned(),
            };
            let now = match tokio::runtime::Handle::try_current() {
                Ok(_) => self.clock.now_ms().max(self.last_now),
                Err(_) => self.last_now,
            };
            self.tracer.record(now, &self.id, body);
        }
    }
}

impl<M: Machine, E: Effects<M>> Handler<Deliver<M::Input>> for MachineActor<M, E> {
    type Result = ();

    fn handle(&mut self, msg: Deliver<M::Input>, ctx: &mut Self::Context) {
        self.deliver(msg.source, msg.input, ctx);
    }
}

impl<M: Machine, E: Effects<M>> Handler<super::gate::GateCommand> for MachineActor<M, E> {
    type Result = ();

    fn handle(&mut self, command: super::gate::GateCommand, ctx: &mut Self::Context) {
        self.gate_command(command, ctx);
    }
}

impl<M: Machine, E: Effects<M>> Handler<Stop> for MachineActor<M, E> {
    type Result = ();

    fn handle(&mut self, _msg: Stop, ctx: &mut Self::Context) {
        // Inputs from outside (a shell's own backend or verify result)
        // are never released: the gate injects the recorded ones.
        self.held
            .retain(|(source, _)| !super::gate::is_external_source(source));
        if self.tracer.gate().is_some() && !self.held.is_empty() {
            self.stop_after_held = Some(self.held.len());
        } else {
            ctx.stop();
        }
    }
}

impl<M: Machine, E: Effects<M>> Handler<CurrentState> for MachineActor<M, E> {
    type Result = MessageResult<CurrentState>;

    fn handle(&mut self, _msg: CurrentState, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.machine.state())
    }
}
