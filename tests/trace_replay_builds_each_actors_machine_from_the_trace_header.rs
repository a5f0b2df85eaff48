//! `readerlink trace replay TRACE [--actor ID]` and `Trace::replay_actor`
//! replay actors with no Rust to write: each actor's machine comes from its
//! `started` record, built as the header says the run built it — for the
//! reconnect supervisor (R9), its policy from the header and its seed from
//! its own `started` record (a version 2 trace: the header's seed rule). A trace lacking
//! what replay needs is refused with a typed error, and a divergence names
//! the input that caused it as well as the first record that differs.

mod trace_support;

use std::path::Path;

use readerlink::reconnect::{Reconnect, ReconnectPolicy, supervisor_seed};
use readerlink::runtime::{RecordBody, ReplayOutcome, Trace, replay_machine};
use readerlink::transport::sim::LinkModel;
use trace_support::{demo_like_trace, example_names, scenario_trace};

fn replay_all(name: &str, text: &str) {
    let trace = Trace::parse(text).unwrap();
    let actors = trace.started_actors();
    assert!(!actors.is_empty(), "{name}");
    for actor in actors {
        match trace.replay_actor(actor) {
            Ok(ReplayOutcome::Reproduced { .. }) => {}
            Ok(ReplayOutcome::Diverged(d)) => panic!("{name}: {d}"),
            Err(e) => panic!("{name}: {actor}: {e}"),
        }
    }
}

#[test]
fn every_actor_of_every_example_scenario_and_of_a_demo_like_run_replays() {
    for name in example_names() {
        replay_all(&name, &scenario_trace(&name));
    }
    replay_all("demo-like run", &demo_like_trace());
}

#[test]
fn replaying_many_actors_at_once_gives_each_its_own_outcome() {
    let text = scenario_trace("link_lost_and_reconnection");
    let trace = Trace::parse(&text).unwrap();
    let mut actors = trace.started_actors();
    actors.push("nobody");
    let outcomes = trace.replay_actors(actors.iter().copied());
    assert_eq!(outcomes.len(), actors.len());
    for (actor, outcome) in outcomes {
        match (actor, outcome) {
            ("nobody", Err(e)) => assert_eq!(e.code(), "replay_unknown_actor"),
            (actor, Ok(ReplayOutcome::Reproduced { inputs, steps })) => {
                assert_eq!(
                    trace.replay_actor(actor).unwrap(),
                    ReplayOutcome::Reproduced { inputs, steps },
                    "{actor}"
                );
            }
            (actor, other) => panic!("{actor}: {other:?}"),
        }
    }
}

#[test]
fn the_supervisor_replays_with_its_derived_seed_and_not_with_the_run_seed() {
    let trace = Trace::parse(&scenario_trace("powered_off_during_reconnection")).unwrap();
    let actor = "reconnect:STRM2-0001";
    let backoffs = trace
        .actor(actor)
        .filter(|r| matches!(&r.body, RecordBody::TimerStarted { timer, .. } if timer == "Backoff"))
        .count();
    assert!(
        backoffs >= 2,
        "the supervisor backs off with jitter ({backoffs} backoffs)"
    );
    assert!(matches!(
        trace.replay_actor(actor).unwrap(),
        ReplayOutcome::Reproduced { .. }
    ));
    // What a tester had to guess before traces said: the run's seed is not
    // the supervisor's, and its started record tells at once.
    let guessed = replay_machine(&trace, actor, || {
        Reconnect::new(trace.header.seed, ReconnectPolicy::default())
    })
    .unwrap();
    let first = trace.actor(actor).next().unwrap().seq;
    match guessed {
        ReplayOutcome::Diverged(d) => {
            assert_eq!(d.seq, first, "the started record's seed differs: {d}");
            assert!(
                matches!(d.replayed, Some(RecordBody::Started { seed: Some(s), .. }) if s == trace.header.seed),
                "{d}"
            );
        }
        other => panic!("{other:?}"),
    }
}

fn replay_cli(path: &Path, actor: Option<&str>) -> (Option<i32>, String, String) {
    replay_cli_with(path, actor, &[])
}

fn replay_cli_with(path: &Path, actor: Option<&str>, flags: &[&str]) -> (Option<i32>, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_readerlink"));
    command.args(["trace", "replay"]).arg(path).args(flags);
    if let Some(actor) = actor {
        command.args(["--actor", actor]);
    }
    let output = command.output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn trace_replay_reproduces_a_scenario_and_names_each_actor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.jsonl");
    std::fs::write(&path, scenario_trace("link_lost_and_reconnection")).unwrap();
    let (code, stdout, stderr) = replay_cli(&path, None);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let actors = Trace::parse(&std::fs::read_to_string(&path).unwrap())
        .unwrap()
        .started_actors()
        .len();
    assert_eq!(stdout.lines().count(), 1, "one summary line: {stdout}");
    assert!(
        stdout.contains(&format!("reproduced: {actors} actors, ")) && stdout.contains("every step identical"),
        "{stdout}"
    );
    let (code, stdout, _) = replay_cli_with(&path, None, &["--verbose"]);
    assert_eq!(code, Some(0));
    for actor in [
        "scanner",
        "terminal",
        "connection:STRM2-0001",
        "reconnect:STRM2-0001",
    ] {
        assert!(stdout.contains(&format!("{actor}: reproduced (")), "{stdout}");
    }
    let (code, stdout, _) = replay_cli(&path, Some("reconnect:STRM2-0001"));
    assert_eq!(code, Some(0));
    assert!(stdout.contains("reproduced: 1 actors, "), "{stdout}");
}

#[test]
fn an_edited_input_is_named_as_the_cause_of_the_divergence() {
    let dir = tempfile::tempdir().unwrap();
    let text = scenario_trace("link_lost_and_reconnection");
    let trace = Trace::parse(&text).unwrap();
    let lost = trace
        .actor("reconnect:STRM2-0001")
        .find(|r| matches!(&r.body, RecordBody::Input { event, .. } if event == "ConnectionLost"))
        .unwrap();
    // The supervisor is told auto-reconnect is off: it does something else.
    let line = text.lines().nth(lost.seq as usize).unwrap();
    let edited_line = line.replace(r#""auto_reconnect":true"#, r#""auto_reconnect":false"#);
    assert_ne!(line, edited_line);
    let edited = text.replace(line, &edited_line);
    let path = dir.path().join("edited.jsonl");
    std::fs::write(&path, &edited).unwrap();

    match Trace::parse(&edited)
        .unwrap()
        .replay_actor("reconnect:STRM2-0001")
        .unwrap()
    {
        ReplayOutcome::Diverged(d) => {
            assert_eq!(d.cause.as_ref().map(|c| c.seq), Some(lost.seq), "{d}");
            assert_eq!(d.seq, lost.seq + 1, "the first step after the edited input: {d}");
            assert_eq!(d.t_ms, 12_000);
            assert_eq!(d.actor, "reconnect:STRM2-0001");
        }
        other => panic!("{other:?}"),
    }
    let RecordBody::Input { source: sender, .. } = &lost.body else {
        unreachable!("an input")
    };
    let (code, stdout, _) = replay_cli(&path, Some("reconnect:STRM2-0001"));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "`reconnect:STRM2-0001` diverged at seq {}",
            lost.seq + 1
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "caused by input seq {} (12.000s): `ConnectionLost` from {sender}",
            lost.seq
        )),
        "{stdout}"
    );
    // The records around it: the cause marked `>`, the first difference `!`.
    let marked = |mark: char, seq: u64| {
        stdout
            .lines()
            .any(|l| l.starts_with(mark) && l.contains(&format!("#{seq} ")))
    };
    assert!(
        stdout.contains("records of `reconnect:STRM2-0001` around it"),
        "{stdout}"
    );
    assert!(marked('>', lost.seq), "{stdout}");
    assert!(marked('!', lost.seq + 1), "{stdout}");
    let (code, stdout, _) = replay_cli_with(&path, Some("reconnect:STRM2-0001"), &["--json"]);
    assert_eq!(code, Some(1));
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["outcome"], "diverged");
    assert_eq!(report["seq"], lost.seq + 1);
    assert_eq!(report["cause"]["seq"], lost.seq);
    assert!(report["context"].as_array().unwrap().len() >= 2, "{report}");
}

#[test]
fn the_supervisors_seed_is_in_its_started_record_and_replay_builds_it_from_there() {
    let text = scenario_trace("powered_off_during_reconnection");
    let trace = Trace::parse(&text).unwrap();
    let actor = "reconnect:STRM2-0001";
    let started = trace.actor(actor).next().unwrap();
    let RecordBody::Started { seed: Some(seed), .. } = started.body else {
        panic!("a supervisor's started record carries its seed: {started:?}");
    };
    assert_eq!(seed, supervisor_seed(trace.header.seed, &"STRM2-0001".into()));
    // Machines that draw nothing record no seed.
    for record in trace
        .records
        .iter()
        .filter(|r| r.actor.starts_with("connection:"))
    {
        if let RecordBody::Started { seed, .. } = &record.body {
            assert_eq!(*seed, None, "{record:?}");
        }
    }

    // Another seed in the record: replay builds the machine from it, which
    // backs off differently from the recorded run.
    let line = text.lines().nth(started.seq as usize).unwrap();
    let edited = text.replace(
        line,
        &line.replace(&format!("\"seed\":{seed}"), &format!("\"seed\":{}", seed ^ 1)),
    );
    match Trace::parse(&edited).unwrap().replay_actor(actor).unwrap() {
        ReplayOutcome::Diverged(d) => {
            assert!(d.seq > started.seq, "{d}");
            assert!(matches!(d.recorded, Some(RecordBody::TimerStarted { .. })), "{d}");
        }
        other => panic!("{other:?}"),
    }

    // No seed in a version 3 supervisor's record: refused, saying what.
    let stripped = text.replace(line, &line.replace(&format!(",\"seed\":{seed}"), ""));
    assert_ne!(stripped, text);
    let error = Trace::parse(&stripped).unwrap().replay_actor(actor).unwrap_err();
    assert_eq!(error.code(), "replay_missing_parameters");
    assert!(error.to_string().contains("the supervisor's seed"), "{error}");
}

#[test]
fn a_scenario_trace_header_records_the_simulated_link_model() {
    let trace = Trace::parse(&scenario_trace("link_lost_and_reconnection")).unwrap();
    let replay = trace.header.replay.as_ref().unwrap();
    let link: LinkModel = serde_json::from_value(replay.link_model.clone().unwrap()).unwrap();
    assert_eq!(link, LinkModel::default());
    assert!(replay.machines.contains_key("reconnect"));
    assert_eq!(replay.restart_intensity.max_restarts, 1);
}

/// A version 3 trace rewritten as version 2 wrote it: no seeds in
/// `started` records, no link model in the header.
fn as_version_2(text: &str) -> String {
    let mut lines = text.lines();
    let mut header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    header["version"] = 2.into();
    header["replay"].as_object_mut().unwrap().remove("link_model");
    let mut out = format!("{header}\n");
    for line in lines {
        let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
        record.as_object_mut().unwrap().remove("seed");
        out.push_str(&format!("{record}\n"));
    }
    out
}

#[test]
fn a_version_2_trace_still_replays_its_supervisors_by_the_headers_seed_rule() {
    for name in ["powered_off_during_reconnection", "link_lost_and_reconnection"] {
        let old = as_version_2(&scenario_trace(name));
        replay_all(&format!("{name} as version 2"), &old);
    }
    // A field is valid only from the version that introduced it.
    let text = scenario_trace("link_lost_and_reconnection");
    let v2_with_seed = text.replacen(r#""version":3"#, r#""version":2"#, 1);
    let v2_with_seed = {
        let (header, records) = v2_with_seed.split_once('\n').unwrap();
        let mut header: serde_json::Value = serde_json::from_str(header).unwrap();
        header["replay"].as_object_mut().unwrap().remove("link_model");
        format!("{header}\n{records}")
    };
    let error = Trace::parse(&v2_with_seed).unwrap_err();
    assert_eq!(error.code(), "trace_unknown_field", "{error}");
    assert!(error.to_string().contains("`seed`"), "{error}");
    let v2_with_link = text.replacen(r#""version":3"#, r#""version":2"#, 1);
    let error = Trace::parse(&v2_with_link).unwrap_err();
    assert_eq!(error.code(), "trace_bad_header", "{error}");
    assert!(error.to_string().contains("link_model"), "{error}");
}

#[test]
fn a_trace_lacking_what_replay_needs_is_refused_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = scenario_trace("link_lost_and_reconnection");
    let (header, records) = text.split_once('\n').unwrap();
    let mut header: serde_json::Value = serde_json::from_str(header).unwrap();
    header.as_object_mut().unwrap().remove("replay");
    let stripped = format!("{header}\n{records}");
    let trace = Trace::parse(&stripped).unwrap();
    let error = trace.replay_actor("reconnect:STRM2-0001").unwrap_err();
    assert_eq!(error.code(), "replay_missing_parameters");
    assert!(error.to_string().contains("lacks `replay`"), "{error}");
    // Machines built from nothing still replay.
    assert!(matches!(
        trace.replay_actor("connection:STRM2-0001").unwrap(),
        ReplayOutcome::Reproduced { .. }
    ));

    let path = dir.path().join("stripped.jsonl");
    std::fs::write(&path, &stripped).unwrap();
    let (code, _, stderr) = replay_cli(&path, None);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("replay_missing_parameters"), "{stderr}");

    let unknown = text.replace(r#""machine":"scanner""#, r#""machine":"teleporter""#);
    let error = Trace::parse(&unknown)
        .unwrap()
        .replay_actor("scanner")
        .unwrap_err();
    assert_eq!(error.code(), "replay_unknown_machine");
    let error = Trace::parse(&text).unwrap().replay_actor("nobody").unwrap_err();
    assert_eq!(error.code(), "replay_unknown_actor");
}
