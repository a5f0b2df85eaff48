//! Machine-level replay: feed one actor's recorded inputs into a fresh
//! machine and compare what it does with what the trace says it did.

use serde_json::Value;

use super::machine::EventName;
use super::machine::{Machine, Millis, Outbox};
use super::trace::{Body, Record, RecordBody, Trace};

/// How a replay ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplayOutcome {
    /// Every recorded step was reproduced exactly.
    Reproduced {
        /// Inputs fed back.
        inputs: usize,
        /// Steps compared.
        steps: usize,
    },
    /// The first record at which the fresh machine did something else.
    Diverged(Box<Divergence>),
}

/// Where and how a replay diverged: the first record the fresh machine did
/// not reproduce, and the input that caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// The actor replayed.
    pub actor: String,
    /// The sequence number of the first recorded step that was not
    /// reproduced (or of the input after which the machine did more than
    /// the trace says).
    pub seq: u64,
    /// The virtual time of that record.
    pub t_ms: Millis,
    /// What the trace recorded there (`None`: nothing more was recorded).
    pub recorded: Option<RecordBody>,
    /// What the fresh machine did there (`None`: nothing).
    pub replayed: Option<RecordBody>,
    /// The cause: the input whose recorded effects the fresh machine did not
    /// reproduce (`None`: the machine's own start differs).
    pub cause: Option<Record>,
}

impl Divergence {
    /// The actor's records around the divergence, as the trace holds them:
    /// from `before` records ahead of its cause (or of the differing
    /// record, when there is no cause) to `after` records past the
    /// differing record. What `readerlink trace replay` prints under a
    /// divergence.
    pub fn context<'a>(&self, trace: &'a Trace, before: usize, after: usize) -> Vec<&'a Record> {
        let records: Vec<&Record> = trace.records.iter().filter(|r| r.actor == self.actor).collect();
        let from_seq = self.cause.as_ref().map_or(self.seq, |c| c.seq.min(self.seq));
        let first = records
            .iter()
            .position(|r| r.seq >= from_seq)
            .unwrap_or(records.len());
        let last = records
            .iter()
            .position(|r| r.seq > self.seq)
            .unwrap_or(records.len());
        let start = first.saturating_sub(before);
        let end = (last + after).min(records.len());
        records[start..end].to_vec()
    }
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |body: &Option<RecordBody>| match body {
            Some(b) => serde_json::to_string(b).unwrap_or_default(),
            None => "nothing".to_owned(),
        };
        write!(
            f,
            "`{}` diverged at seq {} ({}): recorded {}, replayed {}",
            self.actor,
            self.seq,
            super::harness::fmt_ms(self.t_ms),
            show(&self.recorded),
            show(&self.replayed)
        )?;
        if let Some(cause) = &self.cause
            && let RecordBody::Input { source, event, .. } = &cause.body
        {
            write!(
                f,
                "; caused by input seq {} ({}): `{event}` from {source}",
                cause.seq,
                super::harness::fmt_ms(cause.t_ms)
            )?;
        }
        Ok(())
    }
}

/// Why a replay could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The trace has no records for this actor.
    ///
    /// Code: `replay_unknown_actor`.
    #[error("the trace has no records for actor `{0}`")]
    UnknownActor(String),
    /// The actor's first record is not its `started` record.
    ///
    /// Code: `replay_not_started`.
    #[error("actor `{0}` has no `started` record naming its machine")]
    NotStarted(String),
    /// The actor ran a different machine.
    ///
    /// Code: `replay_wrong_machine`.
    #[error("actor `{actor}` ran machine `{recorded}`, not `{expected}`")]
    WrongMachine {
        /// The actor.
        actor: String,
        /// The machine the trace names.
        recorded: String,
        /// The machine given to replay.
        expected: &'static str,
    },
    /// The trace names a machine this build does not have.
    ///
    /// Code: `replay_unknown_machine`.
    #[error("actor `{actor}` ran machine `{machine}`, which this readerlink does not have")]
    UnknownMachine {
        /// The actor.
        actor: String,
        /// The machine the trace names.
        machine: String,
    },
    /// The trace's header lacks something replay needs to build the
    /// machine as the run built it.
    ///
    /// Code: `replay_missing_parameters`.
    #[error("cannot replay `{actor}` (machine `{machine}`): the trace header lacks {what}")]
    MissingParameters {
        /// The actor.
        actor: String,
        /// Its machine.
        machine: String,
        /// What is missing, in a phrase.
        what: String,
    },
    /// A recorded input does not decode as this machine's input type.
    ///
    /// Code: `replay_bad_input`.
    #[error("seq {seq}: recorded input does not decode: {reason}")]
    BadInput {
        /// The input's sequence number.
        seq: u64,
        /// The decoder's message.
        reason: String,
    },
}

impl ReplayError {
    /// A stable code an integrator can switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownActor(_) => "replay_unknown_actor",
            Self::NotStarted(_) => "replay_not_started",
            Self::WrongMachine { .. } => "replay_wrong_machine",
            Self::UnknownMachine { .. } => "replay_unknown_machine",
            Self::MissingParameters { .. } => "replay_missing_parameters",
            Self::BadInput { .. } => "replay_bad_input",
        }
    }
}

/// Replays `actor`'s inputs from `trace` into machines built by `fresh` as
/// the recorded one was: one at its first `started` record, and a fresh one
/// at every later `started` record (a restart after a panic, or the actor
/// started again). Each input's replayed steps are compared with the
/// recorded ones; the first that differs is the divergence, and the input
/// being replayed is its cause.
///
/// A turnstile (the runtime's example machine) run on a paused clock,
/// recorded, and replayed from its trace:
///
/// ```
/// use std::time::Duration;
/// use readerlink::runtime::example::{Turnstile, TurnstileEffects, TurnstileInput};
/// use readerlink::runtime::{
///     Clock, Deliver, MachineActor, ReplayOutcome, Trace, TraceHeader, Tracer, replay_machine,
///     virtual_time_system,
/// };
///
/// let recorded = virtual_time_system().block_on(async {
///     let tracer = Tracer::memory(TraceHeader::new(1, serde_json::json!({})));
///     let gate = actix::Actor::start(MachineActor::new(
///         "gate",
///         Turnstile::new(),
///         TurnstileEffects::new(Duration::from_millis(800)),
///         tracer.clone(),
///         Clock::start(),
///     ));
///     gate.send(Deliver::app(TurnstileInput::CoinInserted)).await.unwrap();
///     gate.send(Deliver::app(TurnstileInput::Pushed)).await.unwrap();
///     tokio::time::sleep(Duration::from_secs(60)).await;
///     tracer.contents()
/// });
///
/// let trace = Trace::parse(&recorded).unwrap();
/// match replay_machine(&trace, "gate", Turnstile::new).unwrap() {
///     ReplayOutcome::Reproduced { inputs, .. } => assert!(inputs >= 2),
///     ReplayOutcome::Diverged(divergence) => panic!("{divergence}"),
/// }
/// ```
pub fn replay_machine<M: Machine>(
    trace: &Trace,
    actor: &str,
    fresh: impl Fn() -> M,
) -> Result<ReplayOutcome, ReplayError> {
    let records: Vec<&Record> = trace.actor(actor).collect();
    replay_records(actor, &records, fresh)
}

/// [`replay_machine`] on `actor`'s records, already picked out of the
/// trace in order (see [`Trace::records_by_actor`]): replaying every
/// actor of a large trace then reads it once, not once per actor.
pub fn replay_records<M: Machine>(
    actor: &str,
    records: &[&Record],
    fresh: impl Fn() -> M,
) -> Result<ReplayOutcome, ReplayError> {
    let Some(first) = records.first() else {
        return Err(ReplayError::UnknownActor(actor.to_owned()));
    };
    match &first.body {
        RecordBody::Started { machine: name, .. } if name != M::spec().name => {
            return Err(ReplayError::WrongMachine {
                actor: actor.to_owned(),
                recorded: name.clone(),
                expected: M::spec().name,
            });
        }
        RecordBody::Started { .. } => {}
        _ => return Err(ReplayError::NotStarted(actor.to_owned())),
    }
    let diverged = |record: Option<&Record>, at: &Record, replayed, cause: Option<&Record>| {
        let at = record.unwrap_or(at);
        Ok(ReplayOutcome::Diverged(Box::new(Divergence {
            actor: actor.to_owned(),
            seq: at.seq,
            t_ms: at.t_ms,
            recorded: record.map(|r| r.body.clone()),
            replayed,
            cause: cause.cloned(),
        })))
    };
    let mut machine = fresh();
    let mut outbox = Outbox::default();
    let (mut inputs, mut steps) = (0, 0);
    let mut i = 0;
    while i < records.len() {
        let record = records[i];
        i += 1;
        let RecordBody::Input { event, input, .. } = &record.body else {
            if let RecordBody::Started { state, seed, .. } = &record.body {
                if i > 1 {
                    machine = fresh();
                }
                // A trace older than version 3 records no seed: nothing to compare.
                let seed_differs = seed.is_some() && *seed != machine.seed();
                if machine.state() != state || seed_differs {
                    let replayed = RecordBody::Started {
                        machine: M::spec().name.to_owned(),
                        state: machine.state().to_owned(),
                        seed: machine.seed(),
                    };
                    return diverged(Some(record), record, Some(replayed), None);
                }
            }
            if record.body.is_step() {
                // A step before any input: the machine did something on its own.
                return diverged(Some(record), record, None, None);
            }
            continue;
        };
        // Decoded from the record's value in place: no copy per input.
        let decoded =
            <M::Input as serde::Deserialize>::deserialize(input).map_err(|e| ReplayError::BadInput {
                seq: record.seq,
                reason: e.to_string(),
            })?;
        inputs += 1;
        outbox.set_now(record.t_ms);
        let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            machine.handle(&decoded, &mut outbox)
        }));
        if handled.is_err() {
            // The recorded run panicked here too when the next record says so.
            let _ = outbox.drain().count();
            match records.get(i) {
                Some(next) if matches!(next.body, RecordBody::Panicked { .. }) => continue,
                next => {
                    let replayed = Some(RecordBody::Panicked {
                        state: machine.state().to_owned(),
                        message: "panicked in replay".into(),
                        restarted: false,
                    });
                    return diverged(next.copied(), record, replayed, Some(record));
                }
            }
        }
        // Through the same serialization the shell records with, so that
        // what is compared is what a trace holds (an f32 stays an f32).
        let event_name = decoded.event_name();
        let replayed: Vec<RecordBody> = outbox
            .drain()
            .map(|step| {
                let text = serde_json::to_vec(&Body::step(event_name, &step)).unwrap_or_default();
                serde_json::from_slice(&text).unwrap_or_else(|e| RecordBody::Stopped {
                    state: machine.state().to_owned(),
                    reason: format!("step of `{event}` did not serialize: {e}"),
                })
            })
            .collect();
        // The recorded run panicked on this input, the fresh machine did not.
        if let Some(next) = records.get(i)
            && let RecordBody::Panicked { .. } = next.body
        {
            return diverged(Some(next), next, replayed.into_iter().next(), Some(record));
        }
        let mut replayed = replayed.into_iter();
        loop {
            let recorded = records.get(i).copied().filter(|r| r.body.is_step());
            match (recorded, replayed.next()) {
                (None, None) => break,
                (Some(r), Some(ours)) if r.body == ours => {
                    steps += 1;
                    i += 1;
                }
                (Some(r), ours) => return diverged(Some(r), r, ours, Some(record)),
                (None, ours) => {
                    // The machine did more than the trace says: name the
                    // record where the step is missing.
                    let at = records.get(i).copied().unwrap_or(record);
                    return Ok(ReplayOutcome::Diverged(Box::new(Divergence {
                        actor: actor.to_owned(),
                        seq: at.seq,
                        t_ms: at.t_ms,
                        recorded: None,
                        replayed: ours,
                        cause: Some(record.clone()),
                    })));
                }
            }
        }
    }
    Ok(ReplayOutcome::Reproduced { inputs, steps })
}

/// The recorded inputs of `actor`, decoded, with their times: what a
/// whole-system replay feeds back in.
pub fn recorded_inputs<M: Machine>(
    trace: &Trace,
    actor: &str,
) -> Result<Vec<(u64, String, M::Input)>, ReplayError> {
    trace
        .actor(actor)
        .filter_map(|r| match &r.body {
            RecordBody::Input { source, input, .. } => Some((r.seq, r.t_ms, source, input)),
            _ => None,
        })
        .map(|(seq, t, source, input): (u64, u64, &String, &Value)| {
            serde_json::from_value(input.clone())
                .map(|i| (t, source.clone(), i))
                .map_err(|e| ReplayError::BadInput {
                    seq,
                    reason: e.to_string(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::example::Turnstile;

    #[test]
    fn a_recorded_panic_the_fresh_machine_does_not_reproduce_is_the_divergence() {
        let text = [
            r#"{"format":"readerlink-trace","version":2,"seed":1,"config":null,"created_by":"test"}"#,
            r#"{"seq":1,"t_ms":0,"actor":"t","kind":"started","machine":"turnstile","state":"locked"}"#,
            r#"{"seq":2,"t_ms":5,"actor":"t","kind":"input","source":"app","event":"CoinInserted","input":"CoinInserted"}"#,
            r#"{"seq":3,"t_ms":5,"actor":"t","kind":"panicked","state":"locked","message":"boom","restarted":true}"#,
            r#"{"seq":4,"t_ms":5,"actor":"t","kind":"started","machine":"turnstile","state":"locked"}"#,
        ]
        .join("\n");
        let trace = Trace::parse(&text).unwrap();
        match replay_machine(&trace, "t", Turnstile::new).unwrap() {
            ReplayOutcome::Diverged(d) => {
                assert_eq!(d.seq, 3, "{d}");
                assert!(matches!(d.recorded, Some(RecordBody::Panicked { .. })), "{d}");
                assert_eq!(d.cause.map(|c| c.seq), Some(2));
            }
            other => panic!("{other:?}"),
        }
    }
}
