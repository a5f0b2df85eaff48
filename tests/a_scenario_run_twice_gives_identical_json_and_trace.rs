//! Determinism: the same scenario run twice through `readerlink simulate`
//! gives byte-identical `--json` output and trace files (virtual time,
//! everything random from the scenario's seed).

use std::path::Path;
use std::process::Command;

fn simulate(scenario: &Path, trace: &Path) -> (Vec<u8>, Vec<u8>) {
    let output = Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .arg("simulate")
        .arg("--scenario")
        .arg(scenario)
        .arg("--json")
        .arg("--trace")
        .arg(trace)
        .output()
        .expect("the readerlink binary runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let trace = std::fs::read(trace).expect("the trace was written");
    (output.stdout, trace)
}

#[test]
fn two_runs_of_each_scenario_give_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    for name in [
        "connect_and_disconnect",
        "backend_down_while_connecting",
        "proximity",
    ] {
        let scenario = examples.join(format!("{name}.toml"));
        let (json_a, trace_a) = simulate(&scenario, &dir.path().join(format!("{name}-a.jsonl")));
        let (json_b, trace_b) = simulate(&scenario, &dir.path().join(format!("{name}-b.jsonl")));
        assert!(
            json_a.len() > 100 && trace_a.len() > 1000,
            "{name}: something was recorded"
        );
        assert!(json_a == json_b, "{name}: the --json output differs between runs");
        assert!(trace_a == trace_b, "{name}: the trace differs between runs");
        let trace = String::from_utf8(trace_a).unwrap();
        let parsed = readerlink::runtime::Trace::parse(&trace).expect("the trace is a valid trace");
        assert!(
            parsed.actors().len() >= 2,
            "{name}: the trace records the terminal's actors: {:?}",
            parsed.actors()
        );
    }
}
