//! Traces for the trace-tool tests: an example scenario's, and a
//! demo-like terminal run's; a syntax check of Mermaid sequence diagrams.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use readerlink::runtime::{TraceHeader, Tracer, virtual_time_system};
use readerlink::scenario::{self, TraceTo};
use readerlink::terminal::ConnectionConfig;

#[path = "../terminal_support/mod.rs"]
mod terminal_support;

/// The path of a shipped example scenario.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/scenarios")
        .join(format!("{name}.toml"))
}

/// The names of every shipped example scenario, sorted.
pub fn example_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 8, "the examples are there: {names:?}");
    names
}

/// Runs the example scenario `name` (on virtual time) and returns its trace.
pub fn scenario_trace(name: &str) -> String {
    let scenario = scenario::load(example(name)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.jsonl");
    let outcome = scenario::run_blocking(&scenario, &TraceTo::File(path.clone())).unwrap();
    assert!(outcome.passed(), "{name}: {}", outcome.report());
    std::fs::read_to_string(&path).unwrap()
}

/// A run like the demo's, on a paused clock: two readers connected, a card,
/// a link lost and reconnected, a reboot. Its header records the default
/// replay parameters, as the demo's does.
pub fn demo_like_trace() -> String {
    let header = TraceHeader::new(42, serde_json::json!({ "fleet": "example" }))
        .with_replay(readerlink::machines::default_replay_parameters());
    let tracer = Tracer::memory(header);
    virtual_time_system().block_on(async {
        let rig = terminal_support::rig(tracer.clone());
        let [m2, wisepad] = rig
            .discover(&["STRM2-0001", "WPC32-0001"])
            .await
            .try_into()
            .unwrap();
        let config = ConnectionConfig::new(&rig.shop.id);
        let (a, b) = futures::join!(
            rig.terminal.connect_reader(&m2, config.clone()),
            rig.terminal.connect_reader(&wisepad, config.clone()),
        );
        a.unwrap();
        b.unwrap();
        rig.world.insert_card(&m2.serial_number).unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        rig.world.lose_link(&wisepad.serial_number, None).unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        rig.terminal.reboot_reader(&m2.serial_number).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        tracer.contents()
    })
}

/// Checks the lines of a Mermaid `sequenceDiagram` as `trace show
/// --mermaid` writes them: the header, participant declarations (an id of
/// letters, digits and `_`, a label), arrows `A->>B: text` / `A-->>B:
/// text` and notes `Note over A: text` / `Note over A,B: text` between
/// declared participants, and text free of what ends a Mermaid message
/// (`;`, `#`) or opens HTML (`<`, `>`) unless written as an entity code
/// (`#59;`).
pub fn check_sequence_diagram(text: &str) -> Result<(), String> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    match lines.next() {
        Some((_, "sequenceDiagram")) => {}
        other => return Err(format!("line 1 is not `sequenceDiagram`: {other:?}")),
    }
    let is_id = |id: &str| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let clean = |n: usize, text: &str| -> Result<(), String> {
        let mut rest = text;
        let mut plain = String::new();
        // Entity codes (`#59;`, `#lt;`) are Mermaid's escapes.
        while let Some(at) = rest.find('#') {
            plain.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let end = after
                .find(';')
                .filter(|&e| e > 0 && after[..e].chars().all(|c| c.is_ascii_alphanumeric()))
                .ok_or_else(|| format!("line {n}: a bare `#` in {text:?}"))?;
            rest = &after[end + 1..];
        }
        plain.push_str(rest);
        match plain.chars().find(|c| matches!(c, ';' | '#' | '<' | '>')) {
            Some(c) => Err(format!("line {n}: unescaped `{c}` in {text:?}")),
            None if plain.trim().is_empty() => Err(format!("line {n}: empty text")),
            None => Ok(()),
        }
    };
    let mut declared = std::collections::HashSet::new();
    let mut body = false;
    for (n, line) in lines {
        let line = line
            .strip_prefix("    ")
            .ok_or_else(|| format!("line {n}: not indented: {line:?}"))?;
        if let Some(rest) = line.strip_prefix("participant ") {
            if body {
                return Err(format!("line {n}: participant declared after the first message"));
            }
            let (id, label) = rest
                .split_once(" as ")
                .ok_or_else(|| format!("line {n}: participant without `as`: {line:?}"))?;
            if !is_id(id) || !declared.insert(id.to_owned()) {
                return Err(format!("line {n}: bad or repeated participant id {id:?}"));
            }
            clean(n, label)?;
            continue;
        }
        body = true;
        let (head, text) = line
            .split_once(": ")
            .ok_or_else(|| format!("line {n}: no `: ` before the text: {line:?}"))?;
        clean(n, text)?;
        let known = |id: &str| {
            if declared.contains(id) {
                Ok(())
            } else {
                Err(format!("line {n}: undeclared participant {id:?}"))
            }
        };
        if let Some(over) = head.strip_prefix("Note over ") {
            let parts: Vec<&str> = over.split(',').collect();
            if parts.len() > 2 {
                return Err(format!("line {n}: a note over more than two participants"));
            }
            for id in parts {
                known(id)?;
            }
        } else {
            let (from, to) = head
                .split_once("-->>")
                .or_else(|| head.split_once("->>"))
                .ok_or_else(|| format!("line {n}: neither an arrow nor a note: {line:?}"))?;
            known(from)?;
            known(to)?;
        }
    }
    if declared.is_empty() {
        return Err("no participant".into());
    }
    Ok(())
}
