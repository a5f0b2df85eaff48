//! Whole-run replay (`readerlink replay TRACE`): the demo's trace (real
//! time, loopback HTTP, simulated readers) and every shipped example
//! scenario's trace (virtual time) are reproduced record for record by
//! running the whole system again with only the external inputs
//! re-injected; an edit of any one input record of the demo's trace is
//! found where it was made; a trace that lacks what replay needs is
//! refused naming what.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use readerlink::replay::{is_external_source, replay_run};
use readerlink::runtime::{RecordBody, ReplayError, Trace};
use readerlink::scenario::{self, TraceTo};
use serde_json::{Value, json};

fn readerlink(args: &[&str], file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .args(args)
        .arg(file)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The demo's trace, recorded once for the tests of this file (the demo
/// runs on real time, about 13 s).
fn demo_trace() -> &'static Path {
    static TRACE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = TRACE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.trace.jsonl");
        let output = readerlink(&["demo", "--trace"], &path);
        assert!(output.status.success(), "the demo failed:\n{}", text(&output));
        (dir, path)
    });
    path
}

#[test]
fn readerlink_replay_reproduces_the_demos_trace_and_says_so_in_one_line() {
    let trace = demo_trace();
    let output = readerlink(&["replay"], trace);
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    assert_eq!(said.lines().count(), 1, "one line: {said}");
    let recorded = Trace::read_file(trace).unwrap();
    let replay = replay_run(&recorded).unwrap();
    // All but the `stopped` records of the demo's shutdown, which the
    // replay does not stop the same way.
    assert!(
        replay.summary.compared + 12 >= recorded.records.len(),
        "{:?}",
        replay.summary
    );
    for expected in [
        format!("{} records", replay.summary.compared),
        format!("of {} actors", recorded.started_actors().len()),
        "virtual time".to_owned(),
    ] {
        assert!(said.contains(&expected), "`{expected}` missing from: {said}");
    }
    // Real inputs came from the outside and real messages were produced by
    // the replayed actors: neither half is empty.
    assert!(replay.reproduced());
    assert!(replay.summary.injected > 100, "{:?}", replay.summary);
    assert!(replay.summary.released > 300, "{:?}", replay.summary);

    let json = readerlink(&["replay", "--json"], trace);
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["outcome"], "reproduced");
}

#[test]
fn readerlink_replay_reproduces_every_example_scenarios_trace() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&scenarios)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 12, "{files:?}");
    for file in &files {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        let trace = dir.path().join(format!("{stem}.trace.jsonl"));
        let loaded = scenario::load(file).unwrap();
        let outcome = scenario::run_blocking(&loaded, &TraceTo::File(trace.clone())).unwrap();
        assert!(outcome.passed(), "{stem}: {}", outcome.report());
        let output = readerlink(&["replay"], &trace);
        assert!(output.status.success(), "{stem}: {}", text(&output));
        assert!(text(&output).contains("reproduced"), "{stem}: {}", text(&output));
    }
}

/// Edits the first leaf of `value` (depth first): a number goes up by
/// one, a string gets a character more, a boolean flips, a null becomes
/// 1. False when there is no leaf.
fn edit(value: &mut Value) -> bool {
    match value {
        Value::Bool(b) => *b = !*b,
        Value::Number(n) => {
            *value = match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => json!(u.wrapping_add(1)),
                (None, Some(i)) => json!(i.wrapping_add(1)),
                _ => json!(n.as_f64().unwrap_or(0.0) + 0.5),
            }
        }
        Value::String(s) => s.push('~'),
        Value::Null => *value = json!(1),
        Value::Array(items) => return items.iter_mut().any(edit),
        Value::Object(fields) => return fields.values_mut().any(edit),
    }
    true
}

/// Every input record of the demo's trace, one at a time, gets one field
/// edited, and the edited trace is replayed whole. An input one actor sent
/// another (or a timer, or the hub's shell) is produced again by the
/// replayed sender, unedited: the replay names that very record. An input
/// from outside (transport, backend, app) is injected as edited: either
/// the machine acts differently on it and the replay names that input as
/// the cause; or the machine keeps the edited value and acts on it only at
/// a later input of its own (a link's ATT payload size used when the
/// update's chunks are cut): the replay names that later input, where the
/// machine first acts differently — the trace holds no machine state, so
/// nothing shows the edited input changed it (counted and printed); or the
/// edit changed nothing any machine did and the run replays identically
/// (not tampering detection: see docs/traces.md). Never before the edit,
/// never in another actor first.
#[test]
fn an_edit_of_any_one_input_of_the_demos_trace_is_found_at_that_input() {
    let recorded = Trace::read_file(demo_trace()).unwrap();
    let inputs: Vec<usize> = recorded
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.body, RecordBody::Input { .. }))
        .map(|(i, _)| i)
        .collect();
    assert!(inputs.len() > 400, "{} inputs", inputs.len());
    let (mut internal, mut external_found, mut external_same) = (0, 0, 0);
    let mut latent = Vec::new();
    for &i in &inputs {
        let mut edited = recorded.clone();
        let record = &mut edited.records[i];
        let RecordBody::Input { source, input, .. } = &mut record.body else {
            unreachable!()
        };
        assert!(edit(input), "seq {}: an input with no field", record.seq);
        let (seq, source) = (record.seq, source.clone());
        let replay = replay_run(&edited).unwrap();
        let found = replay.divergence.as_ref().map(|d| &d.divergence);
        if is_external_source(&source) {
            match found {
                None => external_same += 1,
                Some(d) => {
                    let cause = d.cause.as_ref().map(|c| c.seq);
                    let what = format!("the edit of external input seq {seq} ({source})");
                    if cause == Some(seq) {
                        external_found += 1;
                    } else {
                        assert!(
                            cause > Some(seq) && d.seq > seq,
                            "{what} was found before it: {d}"
                        );
                        assert_eq!(
                            d.actor, edited.records[i].actor,
                            "{what} was found in another actor: {d}"
                        );
                        latent.push(format!("{what}: {d}"));
                    }
                }
            }
        } else {
            let d = found.unwrap_or_else(|| panic!("the edit of seq {seq} (from {source}) was not found"));
            assert_eq!(
                d.seq, seq,
                "the edit of seq {seq} (from {source}) was found elsewhere: {d}"
            );
            assert_eq!(d.recorded.as_ref(), Some(&edited.records[i].body), "{d}");
            assert_eq!(
                d.replayed.as_ref(),
                Some(&recorded.records[i].body),
                "the replayed sender sends the original: {d}"
            );
            internal += 1;
        }
    }
    for what in &latent {
        eprintln!("acted on later: {what}");
    }
    eprintln!(
        "{} inputs edited: {internal} between machines found at the edit; from outside, {external_found} found at the edit as the cause, {} acted on only later, {external_same} changed nothing a machine did",
        inputs.len(),
        latent.len()
    );
    // On 2026-12-05 (508 inputs): 373 between machines, all found at the
    // edit; from outside, 26 found at the edit, 1 later (the link's ATT
    // payload size), 108 changed nothing (an advertised local name, a
    // progress byte count the session reports rounded, an ack's request
    // id the machine does not check).
    assert!(
        internal > 300 && external_found >= 20,
        "{internal} {external_found}"
    );
}

#[test]
fn readerlink_replay_names_the_first_divergence_its_cause_and_the_records_around_it() {
    let recorded = Trace::read_file(demo_trace()).unwrap();
    // The session's first message to the hub, edited.
    let mut edited = recorded.clone();
    let record = edited
        .records
        .iter_mut()
        .find(|r| {
            r.actor == "terminal"
                && matches!(&r.body, RecordBody::Input { source, .. } if source.starts_with("actor:session:"))
        })
        .unwrap();
    let seq = record.seq;
    let RecordBody::Input { input, .. } = &mut record.body else {
        unreachable!()
    };
    assert!(edit(input));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.trace.jsonl");
    std::fs::write(&path, write_trace(&edited)).unwrap();
    let output = readerlink(&["replay"], &path);
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("`terminal` diverged at seq {seq}")),
        "{said}"
    );
    assert!(
        said.contains("recorded {") && said.contains("replayed {"),
        "{said}"
    );
    assert!(said.contains("! ") && said.contains(&format!("#{seq}")), "{said}");

    let json = readerlink(&["replay", "--json"], &path);
    assert_eq!(json.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["outcome"], "diverged");
    assert_eq!(json["actor"], "terminal");
    assert_eq!(json["seq"], seq);
    assert_eq!(json["cause"]["seq"], seq);
    assert!(json["context"].as_array().unwrap().len() >= 5);
}

fn write_trace(trace: &Trace) -> String {
    let mut text = serde_json::to_string(&trace.header).unwrap() + "\n";
    for record in &trace.records {
        text += &serde_json::to_string(record).unwrap();
        text += "\n";
    }
    text
}

#[test]
fn a_trace_that_lacks_what_whole_run_replay_needs_is_refused_naming_it() {
    let recorded = Trace::read_file(demo_trace()).unwrap();

    let mut no_replay = recorded.clone();
    no_replay.header.replay = None;
    let e = replay_run(&no_replay).unwrap_err();
    assert!(matches!(e, ReplayError::MissingParameters { .. }), "{e}");
    assert!(e.to_string().contains("`replay` section"), "{e}");

    let mut no_policy = recorded.clone();
    no_policy
        .header
        .replay
        .as_mut()
        .unwrap()
        .machines
        .remove("updater");
    let e = replay_run(&no_policy).unwrap_err();
    assert!(e.to_string().contains("replay.machines.updater.policy"), "{e}");

    let mut old = recorded.clone();
    old.header.version = 2;
    let e = replay_run(&old).unwrap_err();
    assert!(e.to_string().contains("version 3"), "{e}");

    let mut unknown = recorded.clone();
    if let RecordBody::Started { machine, .. } = &mut unknown.records[0].body {
        *machine = "turnstile".into();
    }
    let e = replay_run(&unknown).unwrap_err();
    assert!(
        matches!(&e, ReplayError::UnknownMachine { machine, .. } if machine == "turnstile"),
        "{e}"
    );
    assert_eq!(e.code(), "replay_unknown_machine");

    // And from the command line: exit 1 with the error's code.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no_replay.trace.jsonl");
    std::fs::write(&path, write_trace(&no_replay)).unwrap();
    let output = readerlink(&["replay"], &path);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("replay_missing_parameters"),
        "{}",
        text(&output)
    );
}
