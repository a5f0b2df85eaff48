//! `state-diagrams/` is generated from the code; this fails when a file is
//! stale, missing or left over. Fix with `cargo run -- diagrams`.

use std::path::Path;

#[test]
fn every_machine_table_is_well_formed() {
    for spec in readerlink::machines::all() {
        spec.validate().unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A table names events and states by string; this holds those strings to
/// the types: every event is a variant of the machine's input enum (so a
/// diagram never shows an event that cannot happen), and the table's
/// states and superstates are exactly statig's.
#[test]
fn every_event_and_state_a_table_names_is_a_real_variant() {
    let mut problems = Vec::new();
    for machine in readerlink::machines::registry() {
        if let Err(mut found) = machine.vocabulary.check(machine.spec) {
            problems.append(&mut found);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn state_diagrams_are_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("state-diagrams");
    let stale = readerlink::cli::diagrams::stale_diagrams(&dir, &readerlink::machines::all()).unwrap();
    assert!(
        stale.is_empty(),
        "stale state diagrams (run `cargo run -- diagrams`): {stale:?}"
    );
}

#[test]
fn the_diagrams_command_check_exits_zero_when_up_to_date() {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .args(["diagrams", "--check", "--dir"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("state-diagrams"))
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn the_diagrams_command_check_names_a_stale_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("turnstile.mmd"), "stateDiagram-v2\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .args(["diagrams", "--check", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("turnstile.mmd (differs from the code)"),
        "{stderr}"
    );
}
