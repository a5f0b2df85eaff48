//! A driver for one machine with no actor, no runtime and no clock: the
//! recording side of the outbox. Tests feed inputs, advance virtual time
//! (elapsing armed timers in order) and read back the outputs, the armed
//! timers and a readable transition log for `insta` snapshots.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::machine::{Machine, Millis, Outbox, Step};

/// Drives one machine on virtual time.
pub struct Harness<M: Machine> {
    machine: M,
    now: Millis,
    /// Armed timers by (due time, arming order), so that timers due at the
    /// same instant elapse in the order they were armed.
    timers: BTreeMap<(Millis, u64), M::Timer>,
    armed: u64,
    outbox: Outbox<M::Output, M::Timer>,
    log: String,
    outputs: Vec<(Millis, M::Output)>,
}

impl<M: Machine> Harness<M> {
    /// Wraps a fresh machine at time 0.
    pub fn new(machine: M) -> Self {
        let mut log = String::new();
        let _ = writeln!(log, "{:>9}  start in {}", fmt_ms(0), machine.state());
        Self {
            machine,
            now: 0,
            timers: BTreeMap::new(),
            armed: 0,
            outbox: Outbox::default(),
            log,
            outputs: Vec::new(),
        }
    }

    /// Delivers `input` now and returns what the machine emitted.
    pub fn input(&mut self, input: M::Input) -> Vec<M::Output> {
        let _ = writeln!(self.log, "{:>9}  <- {input:?}", fmt_ms(self.now));
        self.handle(input)
    }

    /// Advances virtual time by `by`, elapsing due timers in order, and
    /// returns everything emitted meanwhile.
    pub fn advance(&mut self, by: Duration) -> Vec<M::Output> {
        self.advance_to(self.now + by.as_millis() as Millis)
    }

    /// Advances virtual time to `t` (ms), elapsing due timers in order.
    pub fn advance_to(&mut self, t: Millis) -> Vec<M::Output> {
        let mut emitted = Vec::new();
        while let Some((&(due, order), _)) = self.timers.first_key_value() {
            if due > t {
                break;
            }
            let timer = self.timers.remove(&(due, order)).expect("first key exists");
            self.now = due;
            let _ = writeln!(self.log, "{:>9}  timer {timer:?} elapsed", fmt_ms(self.now));
            emitted.extend(self.handle(M::timer_elapsed(timer)));
        }
        self.now = self.now.max(t);
        emitted
    }

    fn handle(&mut self, input: M::Input) -> Vec<M::Output> {
        let event = {
            use super::machine::EventName;
            input.event_name()
        };
        self.outbox.set_now(self.now);
        self.machine.handle(&input, &mut self.outbox);
        let mut emitted = Vec::new();
        let steps: Vec<_> = self.outbox.drain().collect();
        for step in steps {
            match step {
                Step::Transitioned { from, to } => {
                    if let Err(e) = M::spec().check(from, event, to) {
                        panic!("{e}");
                    }
                    let _ = writeln!(self.log, "{:>9}  {from} -> {to}", fmt_ms(self.now));
                }
                Step::Emitted(output) => {
                    let _ = writeln!(self.log, "{:>9}  -> {output:?}", fmt_ms(self.now));
                    self.outputs.push((self.now, output.clone()));
                    emitted.push(output);
                }
                Step::TimerStarted { timer, after } => {
                    let _ = writeln!(
                        self.log,
                        "{:>9}  arm {timer:?} for {}",
                        fmt_ms(self.now),
                        fmt_ms(after.as_millis() as Millis)
                    );
                    self.timers.retain(|_, t| *t != timer);
                    self.armed += 1;
                    self.timers
                        .insert((self.now + after.as_millis() as Millis, self.armed), timer);
                }
                Step::TimerCancelled(timer) => {
                    let before = self.timers.len();
                    self.timers.retain(|_, t| *t != timer);
                    if self.timers.len() != before {
                        let _ = writeln!(self.log, "{:>9}  disarm {timer:?}", fmt_ms(self.now));
                    }
                }
            }
        }
        emitted
    }

    /// The machine's current leaf state.
    pub fn state(&self) -> &'static str {
        self.machine.state()
    }

    /// The machine itself, to read its shared storage.
    pub fn machine(&self) -> &M {
        &self.machine
    }

    /// The current virtual time in ms.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// The armed timers with their due times, soonest first.
    pub fn armed_timers(&self) -> Vec<(Millis, M::Timer)> {
        self.timers
            .iter()
            .map(|((due, _), t)| (*due, t.clone()))
            .collect()
    }

    /// Every output so far, with the time it was emitted.
    pub fn outputs(&self) -> &[(Millis, M::Output)] {
        &self.outputs
    }

    /// Adds a line of the test's own to the log (a scenario step, say).
    pub fn note(&mut self, text: &str) {
        let _ = writeln!(self.log, "{:>9}  # {text}", fmt_ms(self.now));
    }

    /// The transition log so far: inputs, transitions, outputs and timer
    /// operations, one per line, with virtual timestamps.
    pub fn log(&self) -> &str {
        &self.log
    }
}

/// Formats virtual milliseconds for logs: `1.250s`, `2h00m00.000s`.
pub fn fmt_ms(ms: Millis) -> String {
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, milli) = (rest / 1000, rest % 1000);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}.{milli:03}s")
    } else if m > 0 {
        format!("{m}m{s:02}.{milli:03}s")
    } else {
        format!("{s}.{milli:03}s")
    }
}
