//! `docs/trace.schema.json` describes every line a trace can hold, and
//! `docs/traces.md` says so: this test checks each line of the traces it
//! produces — every example scenario's, a demo-like run on a paused clock,
//! the real `readerlink demo` on real time, and records of the kinds those
//! runs do not produce (a panic) — against the schema. It also checks that
//! the schema declares exactly the record kinds and fields the strict
//! reader knows.
//!
//! The validator below implements the part of JSON Schema the file uses
//! (`type`, `properties`, `required`, `additionalProperties`, `const`,
//! `enum`, `oneOf`, `minimum`, local `$ref`) and fails on any other
//! keyword, so the schema cannot grow a rule that goes unchecked.

mod trace_support;

use readerlink::runtime::trace::RECORD_KINDS;
use readerlink::runtime::{RecordBody, TraceHeader, Tracer};
use serde_json::Value;
use trace_support::{demo_like_trace, example_names, scenario_trace};

fn schema() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/trace.schema.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn resolve<'a>(root: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("only local references: {reference}"));
    root.pointer(pointer)
        .unwrap_or_else(|| panic!("dangling reference {reference}"))
}

fn validate(root: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let Value::Object(rules) = schema else {
        panic!("{at}: a schema is an object");
    };
    for (keyword, rule) in rules {
        match keyword.as_str() {
            "$schema" | "$defs" | "title" | "description" => {}
            "$ref" => validate(root, resolve(root, rule.as_str().unwrap()), value, at)?,
            "type" => {
                let ok = match rule.as_str().unwrap() {
                    "object" => value.is_object(),
                    "string" => value.is_string(),
                    "boolean" => value.is_boolean(),
                    "integer" => value.is_u64() || value.is_i64(),
                    "array" => value.is_array(),
                    other => panic!("unsupported type {other}"),
                };
                if !ok {
                    return Err(format!("{at}: not of type {rule}: {value}"));
                }
            }
            "const" if value != rule => return Err(format!("{at}: {value} is not {rule}")),
            "const" => {}
            "enum" if !rule.as_array().unwrap().contains(value) => {
                return Err(format!("{at}: {value} is not one of {rule}"));
            }
            "enum" => {}
            "minimum" => {
                if value.as_f64().is_some_and(|v| v < rule.as_f64().unwrap()) {
                    return Err(format!("{at}: {value} is below {rule}"));
                }
            }
            "required" => {
                for field in rule.as_array().unwrap() {
                    let field = field.as_str().unwrap();
                    if value.is_object() && value.get(field).is_none() {
                        return Err(format!("{at}: missing `{field}`"));
                    }
                }
            }
            "properties" => {
                if let Some(fields) = value.as_object() {
                    for (name, sub) in rule.as_object().unwrap() {
                        if let Some(v) = fields.get(name) {
                            validate(root, sub, v, &format!("{at}.{name}"))?;
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(fields) = value.as_object() {
                    let declared = rules.get("properties").and_then(Value::as_object);
                    for (name, v) in fields {
                        if declared.is_some_and(|d| d.contains_key(name)) {
                            continue;
                        }
                        match rule {
                            Value::Bool(false) => return Err(format!("{at}: unknown field `{name}`")),
                            Value::Bool(true) => {}
                            sub => validate(root, sub, v, &format!("{at}.{name}"))?,
                        }
                    }
                }
            }
            "oneOf" => {
                let results: Vec<Result<(), String>> = rule
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|sub| validate(root, sub, value, at))
                    .collect();
                match results.iter().filter(|r| r.is_ok()).count() {
                    1 => {}
                    0 => {
                        let reasons: Vec<String> = results.into_iter().filter_map(Result::err).collect();
                        return Err(format!("{at}: matches none of oneOf: {}", reasons.join(" | ")));
                    }
                    n => return Err(format!("{at}: matches {n} of oneOf")),
                }
            }
            other => panic!("{at}: the schema uses `{other}`, which this validator does not check"),
        }
    }
    Ok(())
}

/// Checks every line of `text`: line 1 against the header, the others
/// against a record, and each against the schema's root (a header or a
/// record, exactly one).
fn check(name: &str, text: &str, schema: &Value, seen: &mut std::collections::BTreeSet<String>) {
    let header = resolve(schema, "#/$defs/header");
    let record = resolve(schema, "#/$defs/record");
    for (i, line) in text.lines().enumerate() {
        let value: Value = serde_json::from_str(line).unwrap();
        let part = if i == 0 { header } else { record };
        validate(schema, part, &value, &format!("{name}:{}", i + 1)).unwrap();
        validate(schema, schema, &value, &format!("{name}:{}", i + 1)).unwrap();
        if i > 0 {
            seen.insert(value["kind"].as_str().unwrap().to_owned());
        }
    }
}

#[test]
fn every_line_of_every_trace_produced_here_matches_the_schema() {
    let schema = schema();
    let mut seen = std::collections::BTreeSet::new();
    for name in example_names() {
        check(&name, &scenario_trace(&name), &schema, &mut seen);
    }
    check("demo-like run", &demo_like_trace(), &schema, &mut seen);

    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo.jsonl");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .args(["demo", "--trace"])
        .arg(&demo)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    check(
        "readerlink demo",
        &std::fs::read_to_string(&demo).unwrap(),
        &schema,
        &mut seen,
    );

    // What the runs above do not produce, written by the same tracer.
    let tracer = Tracer::memory(TraceHeader::new(3, serde_json::json!(null)));
    tracer.record(
        0,
        "fragile",
        RecordBody::Started {
            machine: "fragile".into(),
            state: "running".into(),
            seed: Some(9),
        },
    );
    tracer.record(
        1,
        "fragile",
        RecordBody::Panicked {
            state: "running".into(),
            message: "bug".into(),
            restarted: false,
        },
    );
    tracer.record(
        1,
        "fragile",
        RecordBody::Stopped {
            state: "running".into(),
            reason: "gave up".into(),
        },
    );
    check("panicking machine", &tracer.contents(), &schema, &mut seen);

    let every_kind: std::collections::BTreeSet<String> =
        RECORD_KINDS.iter().map(|(kind, _)| (*kind).to_owned()).collect();
    assert_eq!(seen, every_kind, "every record kind was checked at least once");
}

#[test]
fn the_schema_declares_the_kinds_and_fields_the_strict_reader_knows() {
    let schema = schema();
    let record = resolve(&schema, "#/$defs/record");
    let mut declared = Vec::new();
    for variant in record["oneOf"].as_array().unwrap() {
        let kind = resolve(&schema, variant["$ref"].as_str().unwrap());
        assert_eq!(kind["additionalProperties"], false);
        let kind_name = kind["properties"]["kind"]["const"].as_str().unwrap().to_owned();
        let mut fields: Vec<String> = kind["properties"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|f| !["seq", "t_ms", "actor", "kind"].contains(&f.as_str()))
            .cloned()
            .collect();
        fields.sort();
        declared.push((kind_name, fields));
    }
    let mut known: Vec<(String, Vec<String>)> = RECORD_KINDS
        .iter()
        .map(|(kind, fields)| {
            let mut fields: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
            fields.sort();
            ((*kind).to_owned(), fields)
        })
        .collect();
    declared.sort();
    known.sort();
    assert_eq!(declared, known);
}

#[test]
fn the_validator_rejects_what_the_strict_reader_rejects() {
    let schema = schema();
    let record = resolve(&schema, "#/$defs/record");
    let good = serde_json::json!({"seq": 1, "t_ms": 0, "actor": "a", "kind": "output", "output": "X"});
    validate(&schema, record, &good, "good").unwrap();
    let mut extra = good.clone();
    extra["mood"] = "odd".into();
    assert!(validate(&schema, record, &extra, "extra").is_err());
    let mut unknown = good.clone();
    unknown["kind"] = "exploded".into();
    assert!(validate(&schema, record, &unknown, "unknown").is_err());
    let mut missing = good;
    missing.as_object_mut().unwrap().remove("seq");
    assert!(validate(&schema, record, &missing, "missing").is_err());
    let header = resolve(&schema, "#/$defs/header");
    let v9 = serde_json::json!({"format": "readerlink-trace", "version": 9, "seed": 1, "config": {}, "created_by": "x"});
    assert!(validate(&schema, header, &v9, "v9").is_err());
}
