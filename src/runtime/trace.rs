//! Traces: every machine input, transition and output as one JSON Lines
//! record with a virtual timestamp, under a versioned header.
//!
//! ```text
//! {"format":"readerlink-trace","version":1,"seed":7,"config":{..},"created_by":"readerlink 0.1.0"}
//! {"seq":1,"t_ms":0,"actor":"turnstile","kind":"started","machine":"turnstile","state":"locked"}
//! {"seq":2,"t_ms":0,"actor":"turnstile","kind":"input","source":"app","event":"CoinInserted","input":"CoinInserted"}
//! {"seq":3,"t_ms":0,"actor":"turnstile","kind":"transition","event":"CoinInserted","from":"locked","to":"waiting_for_push"}
//! ```
//!
//! Messages between actors are recorded where they are delivered: an
//! `input` record whose `source` is `actor:<id>`. Secrets never reach a
//! trace: they are typed [`crate::secret::Secret`], which serializes redacted.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::machine::Millis;

/// The `format` field of every trace header.
pub const TRACE_FORMAT: &str = "readerlink-trace";
/// The trace format version this code writes and reads.
pub const TRACE_VERSION: u32 = 1;

/// The first line of a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceHeader {
    /// Always [`TRACE_FORMAT`].
    pub format: String,
    /// The format version, [`TRACE_VERSION`].
    pub version: u32,
    /// The seed every random choice of the run came from.
    pub seed: u64,
    /// The run's configuration, as the program that wrote it sees it.
    pub config: Value,
    /// The program and version that wrote the trace.
    pub created_by: String,
}

impl TraceHeader {
    /// A header for this version of readerlink.
    pub fn new(seed: u64, config: Value) -> Self {
        Self {
            format: TRACE_FORMAT.to_owned(),
            version: TRACE_VERSION,
            seed,
            config,
            created_by: concat!("readerlink ", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// One trace record after the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Position in the trace, from 1, with no gaps.
    pub seq: u64,
    /// Milliseconds since the run's epoch (virtual in tests and replay).
    pub t_ms: Millis,
    /// The actor the record is about.
    pub actor: String,
    /// What happened.
    #[serde(flatten)]
    pub body: RecordBody,
}

/// What a record says happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordBody {
    /// An actor started with a fresh machine.
    Started {
        /// The machine's table name.
        machine: String,
        /// Its initial state.
        state: String,
    },
    /// A machine input was delivered.
    Input {
        /// Who sent it: `app`, `timer`, `effect`, `transport`, `actor:<id>`.
        source: String,
        /// The input's event name.
        event: String,
        /// The input itself.
        input: Value,
    },
    /// The machine moved between leaf states.
    Transition {
        /// The event that caused it.
        event: String,
        /// The state it left.
        from: String,
        /// The state it entered.
        to: String,
    },
    /// The machine emitted an output.
    Output {
        /// The output itself.
        output: Value,
    },
    /// The machine armed a timer.
    TimerStarted {
        /// Which timer.
        timer: Value,
        /// After how many milliseconds it elapses.
        after_ms: u64,
    },
    /// The machine disarmed a timer.
    TimerCancelled {
        /// Which timer.
        timer: Value,
    },
    /// The machine panicked while handling the previous input; its steps
    /// for that input were discarded and its timers disarmed.
    Panicked {
        /// Its state before the input.
        state: String,
        /// The panic message.
        message: String,
        /// Whether it was replaced by a fresh machine (within its restart
        /// intensity) or the actor gave up and stopped.
        restarted: bool,
    },
    /// The actor stopped.
    Stopped {
        /// Its state when it stopped.
        state: String,
        /// Why, in a sentence.
        reason: String,
    },
}

impl RecordBody {
    /// Whether this record is a machine step (what replay compares).
    pub fn is_step(&self) -> bool {
        matches!(
            self,
            Self::Transition { .. }
                | Self::Output { .. }
                | Self::TimerStarted { .. }
                | Self::TimerCancelled { .. }
        )
    }
}

enum Sink {
    /// The header line, then the records as they were recorded: owned
    /// values, serialized only when the trace is read
    /// ([`Tracer::contents`]), so that recording costs a move, not a
    /// serialization.
    Memory { header: Vec<u8>, records: Vec<Pending> },
    /// Each record serialized and written as it comes.
    Writer(Box<dyn Write + Send>),
}

/// A record of a memory trace, not yet serialized.
struct Pending {
    seq: u64,
    t_ms: Millis,
    actor: Arc<str>,
    body: Box<dyn DeferredBody>,
}

/// A record body that can be serialized later, from another thread.
trait DeferredBody: Send {
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()>;
}

impl<B: Serialize + Send> DeferredBody for B {
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(out, self)
    }
}

/// Appends one record line to `out`: `{"seq":..,"t_ms":..,"actor":..,` then
/// the body's own fields (the body serializes as an object whose opening
/// brace is dropped), then a newline.
fn write_record(
    out: &mut Vec<u8>,
    seq: u64,
    t_ms: Millis,
    actor: &str,
    body: &dyn DeferredBody,
) -> serde_json::Result<()> {
    let mut number = itoa::Buffer::new();
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(number.format(seq).as_bytes());
    out.extend_from_slice(b",\"t_ms\":");
    out.extend_from_slice(number.format(t_ms).as_bytes());
    out.extend_from_slice(b",\"actor\":");
    serde_json::to_writer(&mut *out, actor)?;
    out.push(b',');
    let body_start = out.len();
    body.write_json(out)?;
    if out.get(body_start) == Some(&b'{') {
        out.remove(body_start);
    }
    out.push(b'\n');
    Ok(())
}

struct Inner {
    next_seq: u64,
    /// The latest time recorded: no record is stamped before it.
    last_t_ms: Millis,
    sink: Sink,
    /// The line being built for a writer, reused so that recording
    /// allocates nothing once warm.
    line: Vec<u8>,
    error: Option<String>,
}

/// Where the actors of one run write their records. Cloning shares it;
/// [`Tracer::off`] costs one branch per record.
#[derive(Clone, Default)]
pub struct Tracer(Option<Arc<Mutex<Inner>>>);

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Tracer(on)"
        } else {
            "Tracer(off)"
        })
    }
}

/// A record body as the shells build it: the input, output or timer itself
/// (owned, or borrowed: `Body<&I, &O, &T>`), never a JSON value. It
/// serializes exactly as the matching [`RecordBody`].
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body<I, O, T> {
    /// See [`RecordBody::Input`].
    Input {
        /// Who sent it.
        source: std::borrow::Cow<'static, str>,
        /// The input's event name.
        event: &'static str,
        /// The input.
        input: I,
    },
    /// See [`RecordBody::Transition`].
    Transition {
        /// The event that caused it.
        event: &'static str,
        /// The state it left.
        from: &'static str,
        /// The state it entered.
        to: &'static str,
    },
    /// See [`RecordBody::Output`].
    Output {
        /// The output.
        output: O,
    },
    /// See [`RecordBody::TimerStarted`].
    TimerStarted {
        /// Which timer.
        timer: T,
        /// After how many milliseconds it elapses.
        after_ms: u64,
    },
    /// See [`RecordBody::TimerCancelled`].
    TimerCancelled {
        /// Which timer.
        timer: T,
    },
}

impl<O: Clone, T: Clone> Body<(), O, T> {
    /// The body of one machine step caused by the input named `event`.
    pub fn step(event: &'static str, step: &super::machine::Step<O, T>) -> Self {
        use super::machine::Step;
        match step {
            Step::Transitioned { from, to } => Self::Transition { event, from, to },
            Step::Emitted(output) => Self::Output {
                output: output.clone(),
            },
            Step::TimerStarted { timer, after } => Self::TimerStarted {
                timer: timer.clone(),
                after_ms: after.as_millis() as u64,
            },
            Step::TimerCancelled(timer) => Self::TimerCancelled { timer: timer.clone() },
        }
    }
}

impl Tracer {
    /// Records nothing.
    pub fn off() -> Self {
        Self(None)
    }

    /// Keeps the trace in memory; read it with [`Tracer::contents`].
    pub fn memory(header: TraceHeader) -> Self {
        let mut line = serde_json::to_vec(&header).expect("a trace header always serializes");
        line.push(b'\n');
        Self::with_sink(Sink::Memory {
            header: line,
            records: Vec::new(),
        })
    }

    /// Writes the trace to `writer`, header first.
    pub fn writer(header: TraceHeader, mut writer: Box<dyn Write + Send>) -> std::io::Result<Self> {
        serde_json::to_writer(&mut writer, &header)?;
        writer.write_all(b"\n")?;
        Ok(Self::with_sink(Sink::Writer(writer)))
    }

    /// Writes the trace to a new file at `path`.
    pub fn file(header: TraceHeader, path: &Path) -> std::io::Result<Self> {
        let file = std::fs::File::create(path)?;
        Self::writer(header, Box::new(std::io::BufWriter::new(file)))
    }

    fn with_sink(sink: Sink) -> Self {
        Self(Some(Arc::new(Mutex::new(Inner {
            next_seq: 1,
            last_t_ms: 0,
            sink,
            line: Vec::with_capacity(256),
            error: None,
        }))))
    }

    /// Whether records are kept; callers skip building records when not.
    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Appends one record. A write error is kept (see [`Tracer::flush`])
    /// rather than stopping the run.
    pub fn record(&self, t_ms: Millis, actor: &str, body: RecordBody) {
        if self.enabled() {
            self.record_body(t_ms, &Arc::from(actor), body);
        }
    }

    /// Appends one record whose body is any value that serializes as a
    /// [`RecordBody`] does (a [`RecordBody`] or a [`Body`]).
    ///
    /// Records are stamped in order: one stamped before its predecessor (an
    /// actor stopping at shutdown, after its runtime and so its clock is
    /// gone, knows only the time of its own last input) takes its
    /// predecessor's time, so a trace's clock never goes backwards.
    pub fn record_body<B: Serialize + Send + 'static>(&self, t_ms: Millis, actor: &Arc<str>, body: B) {
        let Some(inner) = &self.0 else { return };
        let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
        let inner = &mut *guard;
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let t_ms = t_ms.max(inner.last_t_ms);
        inner.last_t_ms = t_ms;
        match &mut inner.sink {
            Sink::Memory { records, .. } => {
                records.push(Pending {
                    seq,
                    t_ms,
                    actor: actor.clone(),
                    body: Box::new(body),
                });
            }
            Sink::Writer(w) => {
                let line = &mut inner.line;
                line.clear();
                if let Err(e) = write_record(line, seq, t_ms, actor, &body) {
                    inner
                        .error
                        .get_or_insert(format!("record {seq} did not serialize: {e}"));
                } else if let Err(e) = w.write_all(line) {
                    inner.error.get_or_insert(format!("writing record {seq}: {e}"));
                }
            }
        }
    }

    /// The trace so far as JSON Lines (memory tracers; empty otherwise).
    pub fn contents(&self) -> String {
        let Some(inner) = &self.0 else {
            return String::new();
        };
        let inner = inner.lock().unwrap_or_else(|p| p.into_inner());
        let Sink::Memory { header, records } = &inner.sink else {
            return String::new();
        };
        let mut text = header.clone();
        for record in records {
            if let Err(e) = write_record(
                &mut text,
                record.seq,
                record.t_ms,
                &record.actor,
                record.body.as_ref(),
            ) {
                // The record cannot be written: say so in its place, so the
                // trace fails validation at that line instead of going quiet.
                text.extend_from_slice(
                    format!("<record {} did not serialize: {e}>\n", record.seq).as_bytes(),
                );
            }
        }
        // serde_json writes UTF-8 only, so this never replaces anything.
        String::from_utf8_lossy(&text).into_owned()
    }

    /// Flushes a writer and reports the first error the run hit, if any.
    pub fn flush(&self) -> std::io::Result<()> {
        let Some(inner) = &self.0 else { return Ok(()) };
        let mut inner = inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Sink::Writer(w) = &mut inner.sink {
            w.flush()?;
        }
        match inner.error.take() {
            Some(e) => Err(std::io::Error::other(e)),
            None => Ok(()),
        }
    }
}

/// A parsed, validated trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Its header.
    pub header: TraceHeader,
    /// Its records, in sequence order.
    pub records: Vec<Record>,
}

/// Why a trace was rejected. Lines are numbered from 1, the header being 1.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be read.
    #[error("cannot read trace {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The trace has no header line.
    #[error("trace is empty: expected a `{TRACE_FORMAT}` header on line 1")]
    Empty,
    /// Line 1 is not a readerlink trace header.
    #[error("line {line}: not a readerlink trace header: {reason}")]
    BadHeader {
        /// Always 1.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// A header for a format version this code does not read.
    #[error(
        "line {line}: trace format version {found} is not supported (this readerlink reads version {TRACE_VERSION})"
    )]
    UnsupportedVersion {
        /// Always 1.
        line: usize,
        /// The version found.
        found: u64,
    },
    /// A record line is not valid JSON or not a valid record.
    #[error("line {line}: bad record: {reason}")]
    BadRecord {
        /// The line.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// The last line stops mid-record: the file was cut.
    #[error("line {line}: trace is truncated (the last record is incomplete)")]
    Truncated {
        /// The incomplete line.
        line: usize,
    },
    /// A record's sequence number is not the one after its predecessor's.
    #[error("line {line}: sequence number {found} out of order (expected {expected})")]
    OutOfOrder {
        /// The line.
        line: usize,
        /// The sequence number expected.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// A record's time is before its predecessor's.
    #[error("line {line}: time goes backwards ({found} ms after {previous} ms)")]
    TimeWentBackwards {
        /// The line.
        line: usize,
        /// The previous record's time.
        previous: Millis,
        /// This record's time.
        found: Millis,
    },
}

impl TraceError {
    /// A stable code an integrator can switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "trace_io",
            Self::Empty => "trace_empty",
            Self::BadHeader { .. } => "trace_bad_header",
            Self::UnsupportedVersion { .. } => "trace_unsupported_version",
            Self::BadRecord { .. } => "trace_bad_record",
            Self::Truncated { .. } => "trace_truncated",
            Self::OutOfOrder { .. } => "trace_out_of_order",
            Self::TimeWentBackwards { .. } => "trace_time_went_backwards",
        }
    }

    /// The line the error is about, when it is about one.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Io { .. } | Self::Empty => None,
            Self::BadHeader { line, .. }
            | Self::UnsupportedVersion { line, .. }
            | Self::BadRecord { line, .. }
            | Self::Truncated { line }
            | Self::OutOfOrder { line, .. }
            | Self::TimeWentBackwards { line, .. } => Some(*line),
        }
    }
}

impl Trace {
    /// Reads and validates the trace file at `path`.
    pub fn read_file(path: &Path) -> Result<Self, TraceError> {
        let io = |source| TraceError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut reader = std::io::BufReader::new(file);
        let mut text = String::new();
        // Read as bytes first so that non-UTF-8 garbage is a typed error too.
        let mut bytes = Vec::new();
        loop {
            let buf = reader.fill_buf().map_err(io)?;
            if buf.is_empty() {
                break;
            }
            bytes.extend_from_slice(buf);
            let n = buf.len();
            reader.consume(n);
        }
        match String::from_utf8(bytes) {
            Ok(t) => text.push_str(&t),
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
                return Err(if line == 1 {
                    TraceError::BadHeader {
                        line,
                        reason: "not UTF-8 text".into(),
                    }
                } else {
                    TraceError::BadRecord {
                        line,
                        reason: "not UTF-8 text".into(),
                    }
                });
            }
        }
        Self::parse(&text)
    }

    /// Parses and validates a trace held in memory.
    pub fn parse(text: &str) -> Result<Self, TraceError> {
        let ends_with_newline = text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        let Some(first) = lines.first().filter(|l| !l.trim().is_empty()) else {
            return Err(TraceError::Empty);
        };
        let header = parse_header(first, lines.len() == 1 && !ends_with_newline)?;
        let mut records = Vec::with_capacity(lines.len().saturating_sub(1));
        let mut previous_t = 0;
        for (index, line) in lines.iter().enumerate().skip(1) {
            let number = index + 1;
            let is_last = index + 1 == lines.len();
            if line.trim().is_empty() {
                if is_last {
                    break;
                }
                return Err(TraceError::BadRecord {
                    line: number,
                    reason: "empty line".into(),
                });
            }
            let record: Record = match serde_json::from_str(line) {
                Ok(r) => r,
                Err(e) if is_last && !ends_with_newline && e.is_eof() => {
                    return Err(TraceError::Truncated { line: number });
                }
                Err(e) => {
                    return Err(TraceError::BadRecord {
                        line: number,
                        reason: e.to_string(),
                    });
                }
            };
            let expected = records.len() as u64 + 1;
            if record.seq != expected {
                return Err(TraceError::OutOfOrder {
                    line: number,
                    expected,
                    found: record.seq,
                });
            }
            if record.t_ms < previous_t {
                return Err(TraceError::TimeWentBackwards {
                    line: number,
                    previous: previous_t,
                    found: record.t_ms,
                });
            }
            previous_t = record.t_ms;
            records.push(record);
        }
        Ok(Self { header, records })
    }

    /// The records about one actor.
    pub fn actor<'a>(&'a self, actor: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        self.records.iter().filter(move |r| r.actor == actor)
    }

    /// The actors the trace speaks of, in order of first appearance.
    pub fn actors(&self) -> Vec<&str> {
        let mut actors: Vec<&str> = Vec::new();
        for record in &self.records {
            if !actors.contains(&record.actor.as_str()) {
                actors.push(&record.actor);
            }
        }
        actors
    }
}

fn parse_header(line: &str, maybe_cut: bool) -> Result<TraceHeader, TraceError> {
    let bad = |reason: String| TraceError::BadHeader { line: 1, reason };
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) if maybe_cut && e.is_eof() => return Err(TraceError::Truncated { line: 1 }),
        Err(e) => return Err(bad(format!("not JSON: {e}"))),
    };
    match value.get("format").and_then(Value::as_str) {
        Some(TRACE_FORMAT) => {}
        Some(other) => return Err(bad(format!("format is `{other}`, expected `{TRACE_FORMAT}`"))),
        None => return Err(bad("no `format` field".into())),
    }
    match value.get("version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(TRACE_VERSION) => {}
        Some(found) => return Err(TraceError::UnsupportedVersion { line: 1, found }),
        None => return Err(bad("no numeric `version` field".into())),
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_stamped_before_its_predecessor_takes_its_time_so_the_trace_validates() {
        let tracer = Tracer::memory(TraceHeader::new(0, Value::Null));
        let stopped = |state: &str| RecordBody::Stopped {
            state: state.into(),
            reason: "stopped".into(),
        };
        tracer.record(2_698, "scanner", stopped("idle"));
        // The hub stops after its runtime is gone: it knows only its last input's time.
        tracer.record(2_697, "terminal", stopped("not_connected"));
        let trace = Trace::parse(&tracer.contents()).expect("the clock never goes backwards");
        assert_eq!(
            trace.records.iter().map(|r| r.t_ms).collect::<Vec<_>>(),
            vec![2_698, 2_698]
        );
    }

    #[test]
    fn a_memory_trace_and_a_file_trace_of_the_same_records_are_identical() {
        let header = TraceHeader::new(3, serde_json::json!({ "k": 1 }));
        let memory = Tracer::memory(header.clone());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let file = Tracer::file(header, &path).unwrap();
        let actor: Arc<str> = "a".into();
        for tracer in [&memory, &file] {
            let input: Body<f32, (), ()> = Body::Input {
                source: "app".into(),
                event: "Measured",
                input: 0.930_077_9,
            };
            tracer.record_body(5, &actor, input);
            let output: Body<(), &str, ()> = Body::Output { output: "Lock" };
            tracer.record_body(6, &actor, output);
        }
        file.flush().unwrap();
        assert_eq!(memory.contents(), std::fs::read_to_string(&path).unwrap());
        assert!(
            memory.contents().contains(r#""input":0.9300779"#),
            "an f32 is written as an f32"
        );
    }
}
