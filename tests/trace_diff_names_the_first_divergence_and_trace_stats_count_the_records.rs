//! `readerlink trace diff A B` names the first record where two traces of
//! the same run part (seq, actor, virtual time, A's record and B's) and
//! exits 1, or exits 0 when they are identical; `readerlink trace stats`
//! counts records per actor, transitions per machine, the time span and
//! the bytes per record. Both speak JSON with `--json`.

mod trace_support;

use std::path::{Path, PathBuf};
use std::process::Output;

use readerlink::runtime::Trace;
use serde_json::Value;
use trace_support::scenario_trace;

fn readerlink(args: &[&str], files: &[&Path]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .args(["trace"])
        .args(args)
        .args(files)
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn two_runs_of_one_scenario_are_identical() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.jsonl",
        &scenario_trace("link_lost_and_reconnection"),
    );
    let b = write(
        dir.path(),
        "b.jsonl",
        &scenario_trace("link_lost_and_reconnection"),
    );
    let output = readerlink(&["diff"], &[&a, &b]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let records = Trace::parse(&std::fs::read_to_string(&a).unwrap())
        .unwrap()
        .records
        .len();
    assert!(
        stdout.starts_with(&format!("identical: {records} records")),
        "{stdout}"
    );
}

#[test]
fn an_edited_record_is_the_first_divergence_with_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let text = scenario_trace("link_lost_and_reconnection");
    let trace = Trace::parse(&text).unwrap();
    let lost = trace
        .records
        .iter()
        .find(|r| serde_json::to_string(&r.body).unwrap().contains("LinkLost"))
        .expect("the link is lost");
    let edited = text.replace(r#""cause":"SignalLost""#, r#""cause":"PoweredOff""#);
    assert_ne!(edited, text);
    let a = write(dir.path(), "a.jsonl", &text);
    let b = write(dir.path(), "b.jsonl", &edited);

    let output = readerlink(&["diff"], &[&a, &b]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "first divergence at seq {} (line {}):",
            lost.seq,
            lost.seq + 1
        )),
        "{stdout}"
    );
    assert!(stdout.contains("A: 12.000s connection:STRM2-0001"), "{stdout}");
    assert!(
        stdout.contains("SignalLost") && stdout.contains("PoweredOff"),
        "{stdout}"
    );

    let output = readerlink(&["diff", "--json"], &[&a, &b]);
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["outcome"], "records_differ");
    assert_eq!(json["seq"], lost.seq);
    assert_eq!(json["a"]["actor"], "connection:STRM2-0001");
    assert_eq!(json["a"]["t_ms"], 12_000);
    assert_eq!(json["b"]["input"]["LinkLost"]["cause"], "PoweredOff");
}

#[test]
fn a_shorter_trace_or_another_seed_differs_too() {
    let dir = tempfile::tempdir().unwrap();
    let text = scenario_trace("link_lost_and_reconnection");
    let kept: Vec<&str> = text.lines().take(51).collect();
    let a = write(dir.path(), "a.jsonl", &text);
    let short = write(dir.path(), "short.jsonl", &(kept.join("\n") + "\n"));
    let output = readerlink(&["diff", "--json"], &[&a, &short]);
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["seq"], 51);
    assert_eq!(json["b"], Value::Null);

    let reseeded = write(
        dir.path(),
        "seed.jsonl",
        &text.replacen(r#""seed":21"#, r#""seed":22"#, 1),
    );
    let output = readerlink(&["diff"], &[&a, &reseeded]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "headers differ in: seed\n"
    );

    let broken = write(dir.path(), "broken.jsonl", "not a trace\n");
    let output = readerlink(&["diff"], &[&a, &broken]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("broken.jsonl: line 1"));
}

#[test]
fn stats_count_records_actors_transitions_time_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let text = scenario_trace("link_lost_and_reconnection");
    let path = write(dir.path(), "a.jsonl", &text);
    let trace = Trace::parse(&text).unwrap();
    let lengths: Vec<usize> = text.lines().skip(1).map(str::len).collect();

    let output = readerlink(&["stats", "--json"], &[&path]);
    assert!(output.status.success());
    let stats: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(stats["records"], trace.records.len());
    assert_eq!(stats["first_ms"], 0);
    assert_eq!(stats["last_ms"], trace.records.last().unwrap().t_ms);
    assert_eq!(stats["max_bytes"], *lengths.iter().max().unwrap());
    let mean = lengths.iter().sum::<usize>() as f64 / lengths.len() as f64;
    assert!((stats["mean_bytes"].as_f64().unwrap() - mean).abs() < 1e-9);
    for actor in trace.actors() {
        assert_eq!(
            stats["actors"][actor]["records"],
            trace.actor(actor).count(),
            "{actor}"
        );
    }
    assert_eq!(stats["actors"]["reconnect:STRM2-0001"]["machine"], "reconnect");
    // One loss, one reconnection: watching → attempting → watching.
    assert_eq!(
        stats["transitions"]["reconnect"]["edges"]["watching -> attempting"],
        1
    );
    assert_eq!(
        stats["transitions"]["reconnect"]["edges"]["attempting -> watching"],
        1
    );

    let output = readerlink(&["stats"], &[&path]);
    let human = String::from_utf8_lossy(&output.stdout);
    assert!(human.contains("records per actor:"), "{human}");
    assert!(human.contains("transitions per machine:"), "{human}");
    assert!(
        human.contains(&format!("{} records from 0.000s to 15.075s", trace.records.len())),
        "{human}"
    );
}
