//! The registry of every machine in the crate: for `readerlink diagrams`
//! and the tests that keep `state-diagrams/` honest, and for replay, which
//! builds each actor's machine from the name its trace records
//! ([`Trace::replay_actor`], `readerlink trace replay`).

use serde_json::Value;

use crate::reconnect::{ReconnectPolicy, supervisor_seed};
use crate::runtime::trace::{ReplayParameters, RestartLimits};
use crate::runtime::{MachineSpec, ReplayError, ReplayOutcome, Trace, replay_machine};

/// Every machine's declared table. Add a machine here when you add one
/// (and to [`replay_actor`]).
pub fn all() -> Vec<&'static MachineSpec> {
    vec![
        &crate::runtime::example::SPEC,
        &crate::scanner::SPEC,
        &crate::connection::SPEC,
        &crate::terminal::SPEC,
        &crate::reconnect::SPEC,
    ]
}

/// The rule a reconnect supervisor's seed comes from, as a trace header
/// names it: [`supervisor_seed`] of the run's seed and the serial number in
/// the actor's id (`reconnect:<serial>`). A new rule gets a new name.
pub const RECONNECT_SEED_RULE: &str = "run_seed_xor_fnv1a64_serial";

/// What a trace header records for replay of a run whose readers reconnect
/// with `policy` and whose actors restart within `restarts`.
pub fn replay_parameters(policy: &ReconnectPolicy, restarts: RestartLimits) -> ReplayParameters {
    let reconnect = serde_json::json!({
        "seed_rule": RECONNECT_SEED_RULE,
        "policy": policy,
    });
    ReplayParameters {
        restart_intensity: restarts,
        machines: [("reconnect".to_owned(), reconnect)].into_iter().collect(),
    }
}

/// [`replay_parameters`] of a terminal built with the defaults: the
/// default [`ReconnectPolicy`] (R9's 60 s window) and Erlang's restart
/// intensity, 1 in 5 s.
pub fn default_replay_parameters() -> ReplayParameters {
    replay_parameters(&ReconnectPolicy::default(), RestartLimits::default())
}

/// Replays one actor of `trace` with the machine its `started` record
/// names, built as the header says the run built it. No Rust to write:
/// this is what [`Trace::replay_actor`] and `readerlink trace replay` run.
pub fn replay_actor(trace: &Trace, actor: &str) -> Result<ReplayOutcome, ReplayError> {
    let machine = match trace.actor(actor).next().map(|r| &r.body) {
        None => return Err(ReplayError::UnknownActor(actor.to_owned())),
        Some(crate::runtime::RecordBody::Started { machine, .. }) => machine.as_str(),
        Some(_) => return Err(ReplayError::NotStarted(actor.to_owned())),
    };
    match machine {
        "turnstile" => replay_machine(trace, actor, crate::runtime::example::Turnstile::new),
        "scanner" => replay_machine(trace, actor, crate::scanner::Scanner::new),
        "connection" => replay_machine(trace, actor, crate::connection::Connection::new),
        "terminal" => replay_machine(trace, actor, crate::terminal::Hub::new),
        "reconnect" => {
            let (seed, policy) = reconnect_parameters(trace, actor)?;
            replay_machine(trace, actor, || crate::reconnect::Reconnect::new(seed, policy))
        }
        other => Err(ReplayError::UnknownMachine {
            actor: actor.to_owned(),
            machine: other.to_owned(),
        }),
    }
}

/// A reconnect supervisor's seed and policy, from the header.
fn reconnect_parameters(trace: &Trace, actor: &str) -> Result<(u64, ReconnectPolicy), ReplayError> {
    let missing = |what: String| ReplayError::MissingParameters {
        actor: actor.to_owned(),
        machine: "reconnect".to_owned(),
        what,
    };
    let Some(replay) = &trace.header.replay else {
        return Err(missing(format!(
            "`replay` (written from trace format version 2 on; this trace is version {})",
            trace.header.version
        )));
    };
    let Some(params) = replay.machines.get("reconnect") else {
        return Err(missing("`replay.machines.reconnect`".into()));
    };
    match params.get("seed_rule").and_then(Value::as_str) {
        Some(RECONNECT_SEED_RULE) => {}
        Some(other) => {
            return Err(missing(format!(
                "a seed rule this readerlink knows (`{other}`; it knows `{RECONNECT_SEED_RULE}`)"
            )));
        }
        None => return Err(missing("`replay.machines.reconnect.seed_rule`".into())),
    }
    let policy = params
        .get("policy")
        .ok_or_else(|| missing("`replay.machines.reconnect.policy`".into()))
        .and_then(|p| {
            serde_json::from_value::<ReconnectPolicy>(p.clone())
                .map_err(|e| missing(format!("a valid `replay.machines.reconnect.policy` ({e})")))
        })?;
    let serial = actor.strip_prefix("reconnect:").ok_or_else(|| {
        missing(format!(
            "a serial number: actor `{actor}` is not named `reconnect:<serial>`"
        ))
    })?;
    Ok((supervisor_seed(trace.header.seed, &serial.into()), policy))
}

impl Trace {
    /// Replays one actor: feeds its recorded inputs into a fresh machine of
    /// the kind its `started` record names, built as the header says the
    /// run built it, and compares every step.
    ///
    /// ```
    /// use readerlink::runtime::example::TurnstileInput;
    /// use readerlink::runtime::{Deliver, ReplayOutcome, Trace, TraceHeader, Tracer};
    /// # use readerlink::runtime::{Clock, MachineActor, virtual_time_system};
    /// # use readerlink::runtime::example::{Turnstile, TurnstileEffects};
    /// # use actix::Actor;
    /// # use std::time::Duration;
    /// let tracer = Tracer::memory(TraceHeader::new(1, serde_json::Value::Null));
    /// # let recorder = tracer.clone();
    /// # virtual_time_system().block_on(async move {
    /// #     let actor = MachineActor::new("turnstile", Turnstile::new(),
    /// #         TurnstileEffects::new(Duration::from_secs(10)), recorder, Clock::start()).start();
    /// #     actor.send(Deliver::app(TurnstileInput::CoinInserted)).await.unwrap();
    /// # });
    /// // ... a run recorded into `tracer` ...
    /// let trace = Trace::parse(&tracer.contents()).unwrap();
    /// match trace.replay_actor("turnstile").unwrap() {
    ///     ReplayOutcome::Reproduced { inputs, steps } => assert!(inputs >= 1 && steps >= 1),
    ///     ReplayOutcome::Diverged(divergence) => panic!("{divergence}"),
    /// }
    /// ```
    pub fn replay_actor(&self, actor: &str) -> Result<ReplayOutcome, ReplayError> {
        replay_actor(self, actor)
    }

    /// The actors with a `started` record, in the order they started: the
    /// ones [`Trace::replay_actor`] can replay.
    pub fn started_actors(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.records
            .iter()
            .filter(|r| matches!(r.body, crate::runtime::RecordBody::Started { .. }))
            .map(|r| r.actor.as_str())
            .filter(|actor| seen.insert(*actor))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_default_restart_intensity_is_the_runtimes_default() {
        let policy = crate::runtime::RestartPolicy::erlang_default(|| ());
        let recorded = RestartLimits::default();
        assert_eq!(recorded.max_restarts, policy.max_restarts as u64);
        assert_eq!(u128::from(recorded.within_ms), policy.within.as_millis());
    }
}
