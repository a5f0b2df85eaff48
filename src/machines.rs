//! The registry of every machine in the crate: for `readerlink diagrams`
//! and the tests that keep `state-diagrams/` honest, and for replay, which
//! builds each actor's machine from the name its trace records
//! ([`Trace::replay_actor`], `readerlink trace replay`).

use serde_json::Value;

use crate::reader::Reader;
use crate::reboot::RebootPolicy;
use crate::reconnect::{ReconnectPolicy, supervisor_seed};
use crate::runtime::trace::{ReplayParameters, RestartLimits};
use crate::runtime::{MachineSpec, Record, ReplayError, ReplayOutcome, Trace, Vocabulary, replay_records};
use crate::updater::UpdaterPolicy;

/// One machine as the registry knows it.
#[derive(Debug, Clone, Copy)]
pub struct Registered {
    /// Its declared table.
    pub spec: &'static MachineSpec,
    /// The names its types give (input, state and superstate variants),
    /// to check the table against.
    pub vocabulary: Vocabulary,
}

/// Every machine. Add a machine here when you add one (and to
/// [`replay_actor`], so that its traces replay).
pub fn registry() -> Vec<Registered> {
    let checked = |spec, vocabulary| Registered { spec, vocabulary };
    vec![
        checked(
            &crate::runtime::example::SPEC,
            crate::runtime::example::Turnstile::vocabulary(),
        ),
        checked(&crate::scanner::SPEC, crate::scanner::Scanner::vocabulary()),
        checked(
            &crate::connection::SPEC,
            crate::connection::Connection::vocabulary(),
        ),
        checked(&crate::terminal::SPEC, crate::terminal::Hub::vocabulary()),
        checked(&crate::reconnect::SPEC, crate::reconnect::Reconnect::vocabulary()),
        checked(&crate::session::SPEC, crate::session::Session::vocabulary()),
        checked(&crate::reboot::SPEC, crate::reboot::RebootTimer::vocabulary()),
        checked(&crate::updater::SPEC, crate::updater::Updater::vocabulary()),
    ]
}

/// Every machine's declared table.
pub fn all() -> Vec<&'static MachineSpec> {
    registry().into_iter().map(|m| m.spec).collect()
}

/// The rule a reconnect supervisor's seed comes from, as a trace header
/// names it: [`supervisor_seed`] of the run's seed and the serial number in
/// the actor's id (`reconnect:<serial>`). A new rule gets a new name.
pub const RECONNECT_SEED_RULE: &str = "run_seed_xor_fnv1a64_serial";

/// What a trace header records for replay of a run whose readers reconnect
/// with `policy`, whose reboot timers follow `reboot`, whose updaters
/// follow `updates`, and whose actors restart within `restarts`.
pub fn replay_parameters(
    policy: &ReconnectPolicy,
    reboot: &RebootPolicy,
    updates: &UpdaterPolicy,
    restarts: RestartLimits,
) -> ReplayParameters {
    let reconnect = serde_json::json!({
        "seed_rule": RECONNECT_SEED_RULE,
        "policy": policy,
    });
    let reboot_timer = serde_json::json!({ "policy": reboot });
    let updater = serde_json::json!({ "policy": updates });
    ReplayParameters {
        link_model: None,
        restart_intensity: restarts,
        machines: [
            ("reconnect".to_owned(), reconnect),
            ("reboot_timer".to_owned(), reboot_timer),
            ("updater".to_owned(), updater),
        ]
        .into_iter()
        .collect(),
    }
}

/// [`replay_parameters`] of a terminal built with the defaults: the
/// default [`ReconnectPolicy`] (R9's 60 s window), the default
/// [`RebootPolicy`], the default [`UpdaterPolicy`] and Erlang's restart
/// intensity, 1 in 5 s.
pub fn default_replay_parameters() -> ReplayParameters {
    replay_parameters(
        &ReconnectPolicy::default(),
        &RebootPolicy::default(),
        &UpdaterPolicy::default(),
        RestartLimits::default(),
    )
}

/// [`default_replay_parameters`] of a run over simulated readers: the
/// header records the link model they were reached through as well.
pub fn simulated_replay_parameters(link: &crate::transport::sim::LinkModel) -> ReplayParameters {
    // A LinkModel is numbers and options: it always serializes.
    let link = serde_json::to_value(link).unwrap_or(Value::Null);
    default_replay_parameters().with_link_model(link)
}

/// Replays one actor of `trace` with the machine its `started` record
/// names, built as the header says the run built it. No Rust to write:
/// this is what [`Trace::replay_actor`] and `readerlink trace replay` run.
pub fn replay_actor(trace: &Trace, actor: &str) -> Result<ReplayOutcome, ReplayError> {
    let records: Vec<&Record> = trace.actor(actor).collect();
    replay_actor_records(trace, actor, &records)
}

/// [`replay_actor`] on the actor's records, already picked out of `trace`
/// in order.
fn replay_actor_records(
    trace: &Trace,
    actor: &str,
    records: &[&Record],
) -> Result<ReplayOutcome, ReplayError> {
    let machine = match records.first().map(|r| &r.body) {
        None => return Err(ReplayError::UnknownActor(actor.to_owned())),
        Some(crate::runtime::RecordBody::Started { machine, .. }) => machine.as_str(),
        Some(_) => return Err(ReplayError::NotStarted(actor.to_owned())),
    };
    match machine {
        "turnstile" => replay_records(actor, records, crate::runtime::example::Turnstile::new),
        "scanner" => replay_records(actor, records, crate::scanner::Scanner::new),
        "connection" => replay_records(actor, records, crate::connection::Connection::new),
        "terminal" => replay_records(actor, records, crate::terminal::Hub::new),
        "reconnect" => {
            let (seed, policy) = reconnect_parameters(trace, actor, records)?;
            replay_records(actor, records, || crate::reconnect::Reconnect::new(seed, policy))
        }
        "reboot_timer" => {
            let policy: RebootPolicy = header_parameter(trace, actor, "reboot_timer", "policy")?;
            replay_records(actor, records, || crate::reboot::RebootTimer::new(policy))
        }
        "updater" => {
            let policy: UpdaterPolicy = header_parameter(trace, actor, "updater", "policy")?;
            replay_records(actor, records, || crate::updater::Updater::new(policy))
        }
        "session" => {
            let reader = session_reader(actor, records)?;
            replay_records(actor, records, || crate::session::Session::new(reader.clone()))
        }
        other => Err(ReplayError::UnknownMachine {
            actor: actor.to_owned(),
            machine: other.to_owned(),
        }),
    }
}

/// One field of a machine's entry in the header's `replay.machines`.
fn header_parameter<T: serde::de::DeserializeOwned>(
    trace: &Trace,
    actor: &str,
    machine: &str,
    field: &str,
) -> Result<T, ReplayError> {
    let missing = |what: String| ReplayError::MissingParameters {
        actor: actor.to_owned(),
        machine: machine.to_owned(),
        what,
    };
    let Some(replay) = &trace.header.replay else {
        return Err(missing(format!(
            "`replay` (written from trace format version 2 on; this trace is version {})",
            trace.header.version
        )));
    };
    let value = replay
        .machines
        .get(machine)
        .and_then(|m| m.get(field))
        .ok_or_else(|| missing(format!("`replay.machines.{machine}.{field}`")))?;
    serde_json::from_value(value.clone())
        .map_err(|e| missing(format!("a valid `replay.machines.{machine}.{field}` ({e})")))
}

/// The reader a session was built from. The hub builds a session from the
/// reader of the request that needs it, and the session's own first
/// input that names a reader (its `ConnectRequested`) carries that same
/// reader, which the session takes as its own on arrival.
fn session_reader(actor: &str, records: &[&Record]) -> Result<Reader, ReplayError> {
    let named = records.iter().find_map(|r| match &r.body {
        crate::runtime::RecordBody::Input { input, .. } => input
            .as_object()
            .and_then(|variant| variant.values().next())
            .and_then(|fields| fields.get("reader"))
            .and_then(|reader| serde_json::from_value::<Reader>(reader.clone()).ok()),
        _ => None,
    });
    named.ok_or_else(|| ReplayError::MissingParameters {
        actor: actor.to_owned(),
        machine: "session".to_owned(),
        what: "the reader the session was built from (no input of the session names one)".to_owned(),
    })
}

/// A reconnect supervisor's seed and policy: the seed from its `started`
/// record (version 3 on) or, in an older trace, derived from the run's
/// seed by the header's seed rule; the policy from the header.
fn reconnect_parameters(
    trace: &Trace,
    actor: &str,
    records: &[&Record],
) -> Result<(u64, ReconnectPolicy), ReplayError> {
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
    let policy = params
        .get("policy")
        .ok_or_else(|| missing("`replay.machines.reconnect.policy`".into()))
        .and_then(|p| {
            serde_json::from_value::<ReconnectPolicy>(p.clone())
                .map_err(|e| missing(format!("a valid `replay.machines.reconnect.policy` ({e})")))
        })?;
    if trace.header.version >= 3 {
        let recorded = records.iter().find_map(|r| match &r.body {
            crate::runtime::RecordBody::Started { seed, .. } => Some(*seed),
            _ => None,
        });
        return match recorded.flatten() {
            Some(seed) => Ok((seed, policy)),
            None => Err(missing(
                "the supervisor's seed (the `seed` of its `started` record, which version 3 traces carry)"
                    .into(),
            )),
        };
    }
    match params.get("seed_rule").and_then(Value::as_str) {
        Some(RECONNECT_SEED_RULE) => {}
        Some(other) => {
            return Err(missing(format!(
                "a seed rule this readerlink knows (`{other}`; it knows `{RECONNECT_SEED_RULE}`)"
            )));
        }
        None => return Err(missing("`replay.machines.reconnect.seed_rule`".into())),
    }
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

    /// Replays each of `actors` as [`Trace::replay_actor`] does, reading
    /// the trace once for all of them: the outcomes, in the order given.
    pub fn replay_actors<'a>(
        &self,
        actors: impl IntoIterator<Item = &'a str>,
    ) -> Vec<(&'a str, Result<ReplayOutcome, ReplayError>)> {
        let by_actor = self.records_by_actor();
        actors
            .into_iter()
            .map(|actor| {
                let outcome = match by_actor.get(actor) {
                    Some(records) => replay_actor_records(self, actor, records),
                    None => Err(ReplayError::UnknownActor(actor.to_owned())),
                };
                (actor, outcome)
            })
            .collect()
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
