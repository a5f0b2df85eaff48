//! Bad trace files get a typed error naming the line, never a panic, and
//! `readerlink trace check` exits non-zero on each. Reading is strict (an
//! unknown record kind or field, an actor never started) and streaming
//! with a bounded line: `/dev/zero` is a line too long, not a full memory.

use readerlink::runtime::trace::MAX_LINE_BYTES;
use readerlink::runtime::{Trace, TraceError};

const HEADER: &str = r#"{"format":"readerlink-trace","version":1,"seed":1,"config":{},"created_by":"test"}"#;
const R1: &str = r#"{"seq":1,"t_ms":0,"actor":"a","kind":"started","machine":"turnstile","state":"locked"}"#;
const R2: &str = r#"{"seq":2,"t_ms":5,"actor":"a","kind":"output","output":"Unlock"}"#;
const R_FROM_GHOST: &str = r#"{"seq":2,"t_ms":5,"actor":"a","kind":"input","source":"actor:ghost","event":"Pushed","input":"Pushed"}"#;

fn lines(lines: &[&str]) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

struct Case {
    name: &'static str,
    text: String,
    code: &'static str,
    line: Option<usize>,
}

fn cases() -> Vec<Case> {
    let r2_out_of_order = R2.replace("\"seq\":2", "\"seq\":3");
    let r3_before_r2 = r#"{"seq":3,"t_ms":1,"actor":"a","kind":"output","output":"Lock"}"#;
    vec![
        Case {
            name: "empty",
            text: String::new(),
            code: "trace_empty",
            line: None,
        },
        Case {
            name: "garbage",
            text: "\u{1f}\u{8b}garbage\n".into(),
            code: "trace_bad_header",
            line: Some(1),
        },
        Case {
            name: "not a readerlink trace",
            text: lines(&[r#"{"format":"other","version":1}"#]),
            code: "trace_bad_header",
            line: Some(1),
        },
        Case {
            name: "unknown version",
            text: lines(&[&HEADER.replace("\"version\":1", "\"version\":9"), R1]),
            code: "trace_unsupported_version",
            line: Some(1),
        },
        Case {
            name: "garbage record",
            text: lines(&[HEADER, R1, "not json at all", R2]),
            code: "trace_bad_record",
            line: Some(3),
        },
        Case {
            name: "unknown record kind",
            text: lines(&[HEADER, R1, &R2.replace("output", "exploded")]),
            code: "trace_unknown_kind",
            line: Some(3),
        },
        Case {
            name: "unknown field in a record",
            text: lines(&[
                HEADER,
                R1,
                &R2.replace(r#""output":"Unlock""#, r#""output":"Unlock","mood":"odd""#),
            ]),
            code: "trace_unknown_field",
            line: Some(3),
        },
        Case {
            name: "unknown field in the header",
            text: lines(&[&HEADER.replace(r#""seed":1"#, r#""seed":1,"colour":"red""#), R1]),
            code: "trace_bad_header",
            line: Some(1),
        },
        Case {
            name: "a record about an actor never started",
            text: lines(&[HEADER, R1, &R2.replace(r#""actor":"a""#, r#""actor":"ghost""#)]),
            code: "trace_actor_not_started",
            line: Some(3),
        },
        Case {
            name: "a message from an actor never started",
            text: lines(&[HEADER, R1, R_FROM_GHOST]),
            code: "trace_actor_not_started",
            line: Some(3),
        },
        Case {
            name: "a line longer than 1 MiB",
            text: lines(&[
                HEADER,
                R1,
                &format!(
                    r#"{{"seq":2,"t_ms":5,"actor":"a","kind":"output","output":"{}"}}"#,
                    "x".repeat(MAX_LINE_BYTES)
                ),
            ]),
            code: "trace_line_too_long",
            line: Some(3),
        },
        Case {
            name: "truncated",
            text: format!("{HEADER}\n{R1}\n{}", &R2[..R2.len() - 12]),
            code: "trace_truncated",
            line: Some(3),
        },
        Case {
            name: "out-of-order sequence",
            text: lines(&[HEADER, R1, &r2_out_of_order]),
            code: "trace_out_of_order",
            line: Some(3),
        },
        Case {
            name: "time going backwards",
            text: lines(&[HEADER, R1, R2, r3_before_r2]),
            code: "trace_time_went_backwards",
            line: Some(4),
        },
    ]
}

#[test]
fn a_well_formed_trace_validates() {
    let trace = Trace::parse(&lines(&[HEADER, R1, R2])).unwrap();
    assert_eq!(trace.records.len(), 2);
}

#[test]
fn each_kind_of_bad_trace_gets_its_typed_error_and_line() {
    for case in cases() {
        let error = Trace::parse(&case.text).expect_err(case.name);
        assert_eq!(error.code(), case.code, "{}: {error}", case.name);
        assert_eq!(error.line(), case.line, "{}: {error}", case.name);
        if let Some(line) = case.line {
            assert!(
                error.to_string().starts_with(&format!("line {line}:")),
                "{}: {error}",
                case.name
            );
        }
    }
}

#[test]
fn an_unreadable_file_is_an_io_error_naming_the_path() {
    let error = Trace::read_file(std::path::Path::new("/no/such/trace.jsonl")).unwrap_err();
    assert!(matches!(error, TraceError::Io { .. }));
    assert!(error.to_string().contains("/no/such/trace.jsonl"));
}

#[test]
fn trace_check_exits_non_zero_and_names_the_error_for_each_bad_trace() {
    let dir = tempfile::tempdir().unwrap();
    for (i, case) in cases().into_iter().enumerate() {
        let path = dir.path().join(format!("bad-{i}.jsonl"));
        std::fs::write(&path, &case.text).unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_readerlink"))
            .args(["trace", "check"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{}: {stderr}", case.name);
        assert!(stderr.contains(case.code), "{}: {stderr}", case.name);
        assert!(!stderr.contains("panicked at"), "{}: {stderr}", case.name);
    }
    let binary = dir.path().join("binary.jsonl");
    std::fs::write(&binary, [0x1f, 0x8b, 0x08, 0xff, 0xfe, b'\n']).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .args(["trace", "check"])
        .arg(&binary)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("line 1: not a readerlink trace header: not UTF-8")
    );

    let good = dir.path().join("good.jsonl");
    std::fs::write(&good, lines(&[HEADER, R1, R2])).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .args(["trace", "check"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("2 records from 1 actors"));
}

#[test]
fn an_endless_line_is_refused_at_the_bound_without_reading_on() {
    // /dev/zero never ends a line: the reader stops after 1 MiB of it.
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let error = readerlink::runtime::TraceReader::new(std::io::BufReader::new(zero), "/dev/zero")
        .err()
        .expect("an endless line is an error");
    assert_eq!(error.code(), "trace_line_too_long");
    assert_eq!(error.line(), Some(1));
    assert!(
        error.to_string().starts_with("line 1: longer than 1048576 bytes"),
        "{error}"
    );
}

#[test]
fn a_reader_of_zeros_or_a_valid_start_then_10_gib_of_zeros_stops_at_the_bound() {
    use std::io::Read as _;
    // Zeros as the header: refused within the first MiB.
    let zeros = std::io::repeat(0).take(10 << 30);
    let error = readerlink::runtime::TraceReader::new(std::io::BufReader::new(zeros), "zeros")
        .err()
        .expect("zeros are no header");
    assert_eq!((error.code(), error.line()), ("trace_line_too_long", Some(1)));

    // A valid header and record, then 10 GiB without a newline: the reader
    // stops at line 3 having read about a MiB of it, not 10 GiB.
    let start = lines(&[HEADER, R1]);
    let mut consumed = 0u64;
    let tail = std::io::repeat(0).take(10 << 30);
    let input = std::io::BufReader::new(std::io::Read::chain(start.as_bytes(), tail));
    let counted = Counting(input, &mut consumed);
    let mut reader = readerlink::runtime::TraceReader::new(counted, "zeros").unwrap();
    assert!(reader.next_record().unwrap().is_some());
    let error = reader.next_record().unwrap_err();
    assert_eq!((error.code(), error.line()), ("trace_line_too_long", Some(3)));
    assert_eq!(reader.next_record().unwrap(), None, "the reader stops there");
    drop(reader);
    assert!(
        consumed < 2 * MAX_LINE_BYTES as u64 + start.len() as u64,
        "read {consumed} bytes"
    );
}

/// A `BufRead` that counts the bytes its reader took.
struct Counting<'a, R>(R, &'a mut u64);

impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: std::io::BufRead> std::io::BufRead for Counting<'_, R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.0.fill_buf()
    }
    fn consume(&mut self, amount: usize) {
        *self.1 += amount as u64;
        self.0.consume(amount);
    }
}

#[test]
fn trace_check_of_dev_zero_exits_1_naming_the_line_too_long() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_readerlink"))
        .args(["trace", "check", "/dev/zero"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("line 1: longer than 1048576 bytes"), "{stderr}");
    assert!(stderr.contains("trace_line_too_long"), "{stderr}");
}

#[test]
fn an_actor_restarted_after_a_panic_and_a_blank_last_line_are_fine() {
    let panicked = r#"{"seq":3,"t_ms":6,"actor":"a","kind":"panicked","state":"locked","message":"boom","restarted":true}"#;
    let again = r#"{"seq":4,"t_ms":6,"actor":"a","kind":"started","machine":"turnstile","state":"locked"}"#;
    let trace = Trace::parse(&format!("{}\n", lines(&[HEADER, R1, R2, panicked, again]))).unwrap();
    assert_eq!(trace.records.len(), 4);
}
