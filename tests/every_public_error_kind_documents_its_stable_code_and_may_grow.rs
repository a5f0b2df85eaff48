//! An integrator switches on an error's stable code: every kind of every
//! public error enum that has `code()` names its code in its own docs, and
//! the public error and event enums are `#[non_exhaustive]`, so a new kind
//! is not a breaking change. Read from the source, as rustdoc reads it.

use std::fs;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn all_sources() -> Vec<(PathBuf, Vec<String>)> {
    let mut paths = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let lines = fs::read_to_string(&p)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect();
            (p, lines)
        })
        .collect()
}

/// The arms of `code()`: each kind and its code (`None`: an inner error's).
fn code_arms(lines: &[String], start: usize) -> Vec<(String, Option<String>)> {
    let mut arms = Vec::new();
    for line in &lines[start + 1..] {
        if line.starts_with("    }") {
            break;
        }
        let Some(rest) = line.trim().strip_prefix("Self::") else {
            continue;
        };
        let kind: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let answer = line.split("=>").nth(1).unwrap_or("").trim();
        let code = answer
            .strip_prefix('"')
            .and_then(|a| a.split('"').next())
            .map(str::to_owned);
        arms.push((kind, code));
    }
    arms
}

/// The doc lines of `kind` in enum `name`.
fn kind_docs(lines: &[String], name: &str, kind: &str) -> String {
    let start = lines
        .iter()
        .position(|l| l.starts_with(&format!("pub enum {name} ")))
        .unwrap_or_else(|| panic!("enum {name} not found"));
    let at = (start..lines.len())
        .find(|&n| {
            let l = &lines[n];
            l.strip_prefix("    ").is_some_and(|rest| {
                rest.strip_prefix(kind)
                    .is_some_and(|after| after.is_empty() || after.starts_with([' ', ',', '(', '{']))
            })
        })
        .unwrap_or_else(|| panic!("{name}::{kind} not found"));
    let mut docs = Vec::new();
    let mut n = at;
    // Past the attributes (thiserror's `#[error(...)]`) to the docs above.
    while n > start && !lines[n - 1].starts_with("    ///") {
        n -= 1;
    }
    while n > start && lines[n - 1].starts_with("    ///") {
        docs.push(lines[n - 1].clone());
        n -= 1;
    }
    docs.reverse();
    docs.join("\n")
}

#[test]
fn every_kind_of_an_error_with_codes_names_its_code_in_its_docs() {
    let mut checked = 0;
    let mut missing = Vec::new();
    for (path, lines) in all_sources() {
        for (n, line) in lines.iter().enumerate() {
            if line.trim() != "pub fn code(&self) -> &'static str {" {
                continue;
            }
            let name = lines[..n]
                .iter()
                .rev()
                .find_map(|l| l.strip_prefix("impl ").and_then(|r| r.strip_suffix(" {")))
                .unwrap_or_else(|| panic!("{}: code() outside an impl", path.display()));
            for (kind, code) in code_arms(&lines, n) {
                let docs = kind_docs(&lines, name, &kind);
                let wanted = match &code {
                    Some(code) => format!("Code: `{code}`."),
                    None => "Code: its inner error's.".to_owned(),
                };
                if !docs.contains(&wanted) {
                    missing.push(format!("{}: {name}::{kind} lacks {wanted}", path.display()));
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "the error kinds were found ({checked})");
    assert!(missing.is_empty(), "{missing:#?}");
}

#[test]
fn every_public_error_enum_and_event_enum_is_non_exhaustive() {
    let mut checked = 0;
    let mut missing = Vec::new();
    for (path, lines) in all_sources() {
        for (n, line) in lines.iter().enumerate() {
            let Some(name) = line
                .strip_prefix("pub enum ")
                .and_then(|r| r.split([' ', '<']).next())
            else {
                continue;
            };
            if !(name.ends_with("Error") || name == "TerminalEvent" || name == "DiscoveryUpdate") {
                continue;
            }
            let attributes = lines[..n]
                .iter()
                .rev()
                .take_while(|l| l.starts_with("#[") || l.starts_with("///") || l.starts_with("    "));
            if !attributes.clone().any(|l| l == "#[non_exhaustive]") {
                missing.push(format!("{}: {name}", path.display()));
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "the enums were found ({checked})");
    assert!(missing.is_empty(), "not #[non_exhaustive]: {missing:#?}");
}
