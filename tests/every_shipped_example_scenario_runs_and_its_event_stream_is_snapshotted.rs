//! Every scenario under `examples/scenarios/` runs on virtual time, holds
//! all its expectations, and its `--json` event stream is snapshotted.
//! Scenarios that need a feature this build does not have yet are listed in
//! `EXPECTED_UNSUPPORTED` and must be rejected as unsupported, naming what
//! is missing; once the feature lands, the test says to move them out.

mod common;

use std::path::{Path, PathBuf};

use readerlink::scenario::{self, ScenarioError, TraceTo};

/// Example scenarios that need a feature this build does not have yet,
/// with the part of the "not supported" message that names what is
/// missing. None today: reconnection and reconnect at start (issue 6) have
/// landed.
const EXPECTED_UNSUPPORTED: &[(&str, &str)] = &[];

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/scenarios exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_scenario_passes_or_is_expected_unsupported() {
    let _snapshots = common::snapshots();
    let files = examples();
    assert!(files.len() >= 8, "the shipped examples: {files:?}");
    let mut ran = Vec::new();
    for file in &files {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        let unsupported = EXPECTED_UNSUPPORTED.iter().find(|(name, _)| *name == stem);
        let result = scenario::load(file).and_then(|s| scenario::run_blocking(&s, &TraceTo::Off));
        match (result, unsupported) {
            (Err(ScenarioError::Unsupported { what, line, .. }), Some((_, missing))) => {
                assert!(
                    what.contains(missing),
                    "{stem}: unsupported for another reason: {what}"
                );
                assert!(line > 0, "{stem}: the unsupported part is named by line");
                eprintln!("{stem}: expected unsupported (line {line}): {what}");
            }
            (Err(e), _) => panic!("{stem}: {e} [{}]", e.code()),
            (Ok(_), Some(_)) => panic!(
                "{stem} now runs: its feature has landed; remove it from EXPECTED_UNSUPPORTED and review its snapshot"
            ),
            (Ok(outcome), None) => {
                assert!(outcome.passed(), "{stem} failed:\n{}", outcome.report());
                assert!(outcome.expectations > 0, "{stem} checks something");
                insta::assert_snapshot!(format!("scenario_{stem}"), outcome.json_lines());
                ran.push(stem);
            }
        }
    }
    for required in [
        "scan_discovery_with_timeout",
        "proximity",
        "connect_and_disconnect",
        "security_reboot_after_24_hours",
        "link_lost_and_reconnection",
        "powered_off_during_reconnection",
        "reconnect_at_start",
    ] {
        assert!(ran.iter().any(|s| s == required), "{required} ran: {ran:?}");
    }
}
