//! Machine-level replay: feed one actor's recorded inputs into a fresh
//! machine and compare what it does with what the trace says it did.

use serde_json::Value;

use super::machine::EventName;
use super::machine::{Machine, Outbox};
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
    Diverged(Divergence),
}

/// Where and how a replay diverged.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// The sequence number of the first recorded step that was not
    /// reproduced (or of the input after which the machine did more than
    /// the trace says).
    pub seq: u64,
    /// What the trace recorded there (`None`: nothing more was recorded).
    pub recorded: Option<RecordBody>,
    /// What the fresh machine did there (`None`: nothing).
    pub replayed: Option<RecordBody>,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |body: &Option<RecordBody>| match body {
            Some(b) => serde_json::to_string(b).unwrap_or_default(),
            None => "nothing".to_owned(),
        };
        write!(
            f,
            "diverged at seq {}: recorded {}, replayed {}",
            self.seq,
            show(&self.recorded),
            show(&self.replayed)
        )
    }
}

/// Why a replay could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The trace has no records for this actor.
    #[error("the trace has no records for actor `{0}`")]
    UnknownActor(String),
    /// The actor ran a different machine.
    #[error("actor `{actor}` ran machine `{recorded}`, not `{expected}`")]
    WrongMachine {
        /// The actor.
        actor: String,
        /// The machine the trace names.
        recorded: String,
        /// The machine given to replay.
        expected: &'static str,
    },
    /// A recorded input does not decode as this machine's input type.
    #[error("seq {seq}: recorded input does not decode: {reason}")]
    BadInput {
        /// The input's sequence number.
        seq: u64,
        /// The decoder's message.
        reason: String,
    },
}

/// Replays `actor`'s inputs from `trace` into machines built by `fresh` as
/// the recorded one was: one at the start, and one after each recorded
/// restart (a `panicked` record with `restarted: true`).
pub fn replay_machine<M: Machine>(
    trace: &Trace,
    actor: &str,
    fresh: impl Fn() -> M,
) -> Result<ReplayOutcome, ReplayError> {
    let mut machine = fresh();
    let records: Vec<&Record> = trace.actor(actor).collect();
    if records.is_empty() {
        return Err(ReplayError::UnknownActor(actor.to_owned()));
    }
    if let Some(RecordBody::Started { machine: name, .. }) = records.iter().map(|r| &r.body).next()
        && name != M::spec().name
    {
        return Err(ReplayError::WrongMachine {
            actor: actor.to_owned(),
            recorded: name.clone(),
            expected: M::spec().name,
        });
    }
    let mut outbox = Outbox::default();
    let (mut inputs, mut steps) = (0, 0);
    let mut i = 0;
    while i < records.len() {
        let record = records[i];
        i += 1;
        let RecordBody::Input { event, input, .. } = &record.body else {
            if let RecordBody::Panicked { restarted: true, .. } = record.body {
                machine = fresh();
            }
            if record.body.is_step() {
                // A step before any input: the machine did something on its own.
                return Ok(ReplayOutcome::Diverged(Divergence {
                    seq: record.seq,
                    recorded: Some(record.body.clone()),
                    replayed: None,
                }));
            }
            continue;
        };
        let decoded: M::Input = serde_json::from_value(input.clone()).map_err(|e| ReplayError::BadInput {
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
                    let seq = next.map_or(record.seq, |r| r.seq);
                    let replayed = Some(RecordBody::Panicked {
                        state: machine.state().to_owned(),
                        message: "panicked in replay".into(),
                        restarted: false,
                    });
                    return Ok(ReplayOutcome::Diverged(Divergence {
                        seq,
                        recorded: next.map(|r| r.body.clone()),
                        replayed,
                    }));
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
        let mut replayed = replayed.into_iter();
        loop {
            let recorded = records.get(i).filter(|r| r.body.is_step());
            match (recorded, replayed.next()) {
                (None, None) => break,
                (Some(r), Some(ours)) if r.body == ours => {
                    steps += 1;
                    i += 1;
                }
                (Some(r), ours) => {
                    return Ok(ReplayOutcome::Diverged(Divergence {
                        seq: r.seq,
                        recorded: Some(r.body.clone()),
                        replayed: ours,
                    }));
                }
                (None, ours) => {
                    let seq = records.get(i).map_or(record.seq, |r| r.seq);
                    return Ok(ReplayOutcome::Diverged(Divergence {
                        seq,
                        recorded: None,
                        replayed: ours,
                    }));
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
