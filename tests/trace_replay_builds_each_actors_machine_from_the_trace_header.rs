//! `readerlink trace replay TRACE [--actor ID]` and `Trace::replay_actor`
//! replay actors with no Rust to write: each actor's machine comes from its
//! `started` record, built as the header says the run built it — for the
//! reconnect supervisor (R9), its seed rule and policy. A trace lacking
//! what replay needs is refused with a typed error, and a divergence names
//! the input that caused it as well as the first record that differs.

mod trace_support;

use std::path::Path;

use readerlink::reconnect::{Reconnect, ReconnectPolicy};
use readerlink::runtime::{RecordBody, ReplayOutcome, Trace, replay_machine};
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
    // What a tester had to guess before the header said how: the run's
    // seed is not the supervisor's, and the jitter tells.
    let guessed = replay_machine(&trace, actor, || {
        Reconnect::new(trace.header.seed, ReconnectPolicy::default())
    })
    .unwrap();
    assert!(matches!(guessed, ReplayOutcome::Diverged(_)), "{guessed:?}");
}

fn replay_cli(path: &Path, actor: Option<&str>) -> (Option<i32>, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_readerlink"));
    command.args(["trace", "replay"]).arg(path);
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
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
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
