//! Traces: every machine input, transition and output as one JSON Lines
//! record with a virtual timestamp, under a versioned header.
//!
//! ```text
//! {"format":"readerlink-trace","version":3,"seed":7,"config":{..},"created_by":"readerlink 0.1.0","replay":{..}}
//! {"seq":1,"t_ms":0,"actor":"turnstile","kind":"started","machine":"turnstile","state":"locked"}
//! {"seq":2,"t_ms":0,"actor":"turnstile","kind":"input","source":"app","event":"CoinInserted","input":"CoinInserted"}
//! {"seq":3,"t_ms":0,"actor":"turnstile","kind":"transition","event":"CoinInserted","from":"locked","to":"waiting_for_push"}
//! ```
//!
//! # What a trace holds
//!
//! The header ([`TraceHeader`]) names the format and its version, the
//! run's seed, and in `replay` ([`ReplayParameters`]) whatever else a
//! replay needs to build each machine as the run did: the restart
//! intensity, each machine's policy by machine name, and the simulated
//! link model when there was one. A machine that makes random choices is
//! built after the header is written (a reader's reconnect supervisor, when
//! the reader first connects), so its seed goes in its own `started`
//! record ([`RecordBody::Started`]`::seed`, from version 3), which is
//! where replay takes it from.
//!
//! Messages between actors are recorded where they are delivered: an
//! `input` record whose `source` is `actor:<id>`. Secrets never reach a
//! trace: they are typed [`crate::secret::Secret`], which serializes redacted.
//!
//! # Reading
//!
//! [`TraceReader`] reads a trace one line at a time and validates as it
//! goes: a line is at most [`MAX_LINE_BYTES`] (1 MiB), and a longer one
//! stops the reader with [`TraceError::LineTooLong`] before it is buffered,
//! so a file of any size, or an endless one, is read in bounded memory.
//! Records are strict: an unknown `kind`, an unknown field (or a field the
//! trace's version does not have), an actor referenced before its
//! `started` record, a gap in `seq` or a clock going backwards is a
//! [`TraceError`] with a stable code naming the line. [`Trace`] keeps a
//! whole trace in memory for replay and the tools that need it.
//!
//! # Versions
//!
//! This code writes [`TRACE_VERSION`] and reads every version from
//! [`OLDEST_TRACE_VERSION`]. Because reading is strict, any addition to the
//! format is a new version; a field is accepted only from the version that
//! introduced it; and what an older trace lacks is not guessed: whoever
//! needs it (replay) refuses with a typed error saying what is missing.
//! Payloads (`input`, `output`, `timer`) are the machines' own serde types
//! and follow the machines, not the format version. `docs/traces.md` is the
//! full reference and `docs/trace.schema.json` its JSON Schema.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::machine::Millis;

/// The `format` field of every trace header.
pub const TRACE_FORMAT: &str = "readerlink-trace";
/// The trace format version this code writes. It reads every version from
/// [`OLDEST_TRACE_VERSION`] to this one (`docs/traces.md` has the rules).
pub const TRACE_VERSION: u32 = 3;
/// The oldest trace format version this code still reads.
pub const OLDEST_TRACE_VERSION: u32 = 1;
/// The longest line a trace may hold, newline excluded: 1 MiB. Readers stop
/// at a longer line with [`TraceError::LineTooLong`] instead of buffering
/// it, so no file (`/dev/zero`, a 10 GB log) can exhaust memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// The most distinct actors a trace may start: the strict reader remembers
/// each started actor, and this bounds that memory too.
pub const MAX_ACTORS: usize = 100_000;

/// The first line of a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// What replay needs beyond the seed to build each machine as the run
    /// built it (version 2 on). Absent: the program that wrote the trace
    /// did not say, and replaying a machine that needs them is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayParameters>,
}

impl TraceHeader {
    /// A header for this version of readerlink, without replay parameters
    /// (add them with [`TraceHeader::with_replay`]).
    pub fn new(seed: u64, config: Value) -> Self {
        Self {
            format: TRACE_FORMAT.to_owned(),
            version: TRACE_VERSION,
            seed,
            config,
            created_by: concat!("readerlink ", env!("CARGO_PKG_VERSION")).to_owned(),
            replay: None,
        }
    }

    /// The same header, recording what replay needs.
    pub fn with_replay(mut self, replay: ReplayParameters) -> Self {
        self.replay = Some(replay);
        self
    }
}

/// What replay needs, beyond the run's seed, to build every machine of a
/// run exactly as the run built it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayParameters {
    /// How often an actor's panicking machine was replaced by a fresh one.
    pub restart_intensity: RestartLimits,
    /// For each machine name (`reconnect`) that is built from more than
    /// its name: what it was built from, in the form that machine's
    /// replay reads (`docs/traces.md` lists them). Machines built from
    /// nothing (`Connection::new()`) have no entry.
    pub machines: std::collections::BTreeMap<String, Value>,
    /// The simulated link the run's transport modelled (MTU, connection
    /// interval, loss), in the transport's own form; version 3 on. Absent
    /// for a run over a real link, or one whose writer did not say.
    /// Per-actor replay does not need it (machines see only what the link
    /// delivered, which the trace holds); it says what the timings in the
    /// trace were measured against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_model: Option<Value>,
}

impl ReplayParameters {
    /// The same parameters, recording the simulated link the run used.
    pub fn with_link_model(mut self, link_model: Value) -> Self {
        self.link_model = Some(link_model);
        self
    }
}

/// A restart intensity as a trace records it: at most `max_restarts`
/// within any `within_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartLimits {
    /// Restarts allowed within the window.
    pub max_restarts: u64,
    /// The window, in milliseconds.
    pub within_ms: u64,
}

impl Default for RestartLimits {
    /// Erlang's default, the runtime's: 1 restart in 5 s.
    fn default() -> Self {
        Self {
            max_restarts: 1,
            within_ms: 5_000,
        }
    }
}

/// One trace record after the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "WireRecord")]
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
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RecordBody {
    /// An actor started with a fresh machine.
    Started {
        /// The machine's table name.
        machine: String,
        /// Its initial state.
        state: String,
        /// The seed the machine's random choices come from, for a machine
        /// that makes any (a reconnect supervisor's jitter); version 3 on.
        /// Recorded here, not in the header, because such a machine is
        /// built when its actor starts, after the header was written.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
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

/// Every record kind and the fields each has besides `seq`, `t_ms`,
/// `actor` and `kind`: what the strict reader names an unknown kind or
/// field against (and what `docs/trace.schema.json` declares).
pub const RECORD_KINDS: &[(&str, &[&str])] = &[
    ("started", &["machine", "state", "seed"]),
    ("input", &["source", "event", "input"]),
    ("transition", &["event", "from", "to"]),
    ("output", &["output"]),
    ("timer_started", &["timer", "after_ms"]),
    ("timer_cancelled", &["timer"]),
    ("panicked", &["state", "message", "restarted"]),
    ("stopped", &["state", "reason"]),
];

/// A record as it is read: the common fields and the body side by side,
/// every unknown field refused (`flatten` cannot refuse them).
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum WireRecord {
    Started {
        seq: u64,
        t_ms: Millis,
        actor: String,
        machine: String,
        state: String,
        #[serde(default)]
        seed: Option<u64>,
    },
    Input {
        seq: u64,
        t_ms: Millis,
        actor: String,
        source: String,
        event: String,
        input: Value,
    },
    Transition {
        seq: u64,
        t_ms: Millis,
        actor: String,
        event: String,
        from: String,
        to: String,
    },
    Output {
        seq: u64,
        t_ms: Millis,
        actor: String,
        output: Value,
    },
    TimerStarted {
        seq: u64,
        t_ms: Millis,
        actor: String,
        timer: Value,
        after_ms: u64,
    },
    TimerCancelled {
        seq: u64,
        t_ms: Millis,
        actor: String,
        timer: Value,
    },
    Panicked {
        seq: u64,
        t_ms: Millis,
        actor: String,
        state: String,
        message: String,
        restarted: bool,
    },
    Stopped {
        seq: u64,
        t_ms: Millis,
        actor: String,
        state: String,
        reason: String,
    },
}

impl From<WireRecord> for Record {
    fn from(wire: WireRecord) -> Self {
        use RecordBody as B;
        let (seq, t_ms, actor, body) = match wire {
            WireRecord::Started {
                seq,
                t_ms,
                actor,
                machine,
                state,
                seed,
            } => (seq, t_ms, actor, B::Started { machine, state, seed }),
            WireRecord::Input {
                seq,
                t_ms,
                actor,
                source,
                event,
                input,
            } => (seq, t_ms, actor, B::Input { source, event, input }),
            WireRecord::Transition {
                seq,
                t_ms,
                actor,
                event,
                from,
                to,
            } => (seq, t_ms, actor, B::Transition { event, from, to }),
            WireRecord::Output {
                seq,
                t_ms,
                actor,
                output,
            } => (seq, t_ms, actor, B::Output { output }),
            WireRecord::TimerStarted {
                seq,
                t_ms,
                actor,
                timer,
                after_ms,
            } => (seq, t_ms, actor, B::TimerStarted { timer, after_ms }),
            WireRecord::TimerCancelled {
                seq,
                t_ms,
                actor,
                timer,
            } => (seq, t_ms, actor, B::TimerCancelled { timer }),
            WireRecord::Panicked {
                seq,
                t_ms,
                actor,
                state,
                message,
                restarted,
            } => (
                seq,
                t_ms,
                actor,
                B::Panicked {
                    state,
                    message,
                    restarted,
                },
            ),
            WireRecord::Stopped {
                seq,
                t_ms,
                actor,
                state,
                reason,
            } => (seq, t_ms, actor, B::Stopped { state, reason }),
        };
        Self {
            seq,
            t_ms,
            actor,
            body,
        }
    }
}

impl RecordBody {
    /// The record's `kind`, as the trace spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Started { .. } => "started",
            Self::Input { .. } => "input",
            Self::Transition { .. } => "transition",
            Self::Output { .. } => "output",
            Self::TimerStarted { .. } => "timer_started",
            Self::TimerCancelled { .. } => "timer_cancelled",
            Self::Panicked { .. } => "panicked",
            Self::Stopped { .. } => "stopped",
        }
    }

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

/// Appends one record line to `out`: `{"seq":..,"t_ms":..,"actor":..` then
/// the body's own fields (the body serializes as an object whose opening
/// brace is turned into a comma), then a newline.
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
    let body_start = out.len();
    body.write_json(out)?;
    // The body's opening brace becomes the comma after `actor`: one byte
    // written in place rather than the whole body moved back by one.
    if let Some(brace @ b'{') = out.get_mut(body_start) {
        *brace = b',';
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
pub struct Tracer(Option<Arc<Mutex<Inner>>>, Option<super::gate::Gate>);

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
        Self(None, None)
    }

    /// The same tracer, carrying `gate` to every actor that records into
    /// it: each actor then holds its inputs until the gate releases them,
    /// which is how a whole run is replayed in its recorded order (see
    /// [`super::gate`]). Only the whole-run replay sets one.
    pub fn with_gate(mut self, gate: super::gate::Gate) -> Self {
        self.1 = Some(gate);
        self
    }

    /// The replay gate this tracer carries, if any.
    pub fn gate(&self) -> Option<&super::gate::Gate> {
        self.1.as_ref()
    }

    /// How many records were recorded so far.
    pub fn records_recorded(&self) -> u64 {
        self.0.as_ref().map_or(0, |inner| {
            inner.lock().unwrap_or_else(|p| p.into_inner()).next_seq - 1
        })
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
        Self(
            Some(Arc::new(Mutex::new(Inner {
                next_seq: 1,
                last_t_ms: 0,
                sink,
                line: Vec::with_capacity(256),
                error: None,
            }))),
            None,
        )
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
#[non_exhaustive]
pub enum TraceError {
    /// The file could not be read.
    ///
    /// Code: `trace_io`.
    #[error("cannot read trace {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The trace has no header line.
    ///
    /// Code: `trace_empty`.
    #[error("trace is empty: expected a `{TRACE_FORMAT}` header on line 1")]
    Empty,
    /// Line 1 is not a readerlink trace header.
    ///
    /// Code: `trace_bad_header`.
    #[error("line {line}: not a readerlink trace header: {reason}")]
    BadHeader {
        /// Always 1.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// A header for a format version this code does not read.
    ///
    /// Code: `trace_unsupported_version`.
    #[error(
        "line {line}: trace format version {found} is not supported (this readerlink reads versions {OLDEST_TRACE_VERSION} to {TRACE_VERSION})"
    )]
    UnsupportedVersion {
        /// Always 1.
        line: usize,
        /// The version found.
        found: u64,
    },
    /// A line longer than [`MAX_LINE_BYTES`]: reading stopped there.
    ///
    /// Code: `trace_line_too_long`.
    #[error("line {line}: longer than {limit} bytes, the most a trace line may hold")]
    LineTooLong {
        /// The line.
        line: usize,
        /// The limit, [`MAX_LINE_BYTES`].
        limit: usize,
    },
    /// A record line is not valid JSON or not a valid record.
    ///
    /// Code: `trace_bad_record`.
    #[error("line {line}: bad record: {reason}")]
    BadRecord {
        /// The line.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// A record of a kind this version does not have.
    ///
    /// Code: `trace_unknown_kind`.
    #[error("line {line}: unknown record kind `{kind}` (known: {known})", known = known_kinds())]
    UnknownKind {
        /// The line.
        line: usize,
        /// The kind found.
        kind: String,
    },
    /// A record with a field its kind does not have.
    ///
    /// Code: `trace_unknown_field`.
    #[error("line {line}: unknown field `{field}` in a `{kind}` record")]
    UnknownField {
        /// The line.
        line: usize,
        /// The record's kind.
        kind: String,
        /// The field.
        field: String,
    },
    /// A record about (or a message from, `source: "actor:<id>"`) an
    /// actor no earlier `started` record started.
    ///
    /// Code: `trace_actor_not_started`.
    #[error("line {line}: actor `{actor}` is referenced but was never started")]
    ActorNotStarted {
        /// The line.
        line: usize,
        /// The actor.
        actor: String,
    },
    /// More distinct actors than [`MAX_ACTORS`].
    ///
    /// Code: `trace_too_many_actors`.
    #[error("line {line}: more than {limit} actors started")]
    TooManyActors {
        /// The line.
        line: usize,
        /// The limit, [`MAX_ACTORS`].
        limit: usize,
    },
    /// The last line stops mid-record: the file was cut.
    ///
    /// Code: `trace_truncated`.
    #[error("line {line}: trace is truncated (the last record is incomplete)")]
    Truncated {
        /// The incomplete line.
        line: usize,
    },
    /// A record's sequence number is not the one after its predecessor's.
    ///
    /// Code: `trace_out_of_order`.
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
    ///
    /// Code: `trace_time_went_backwards`.
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

fn known_kinds() -> String {
    RECORD_KINDS
        .iter()
        .map(|(kind, _)| *kind)
        .collect::<Vec<_>>()
        .join(", ")
}

impl TraceError {
    /// A stable code an integrator can switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "trace_io",
            Self::Empty => "trace_empty",
            Self::BadHeader { .. } => "trace_bad_header",
            Self::UnsupportedVersion { .. } => "trace_unsupported_version",
            Self::LineTooLong { .. } => "trace_line_too_long",
            Self::BadRecord { .. } => "trace_bad_record",
            Self::UnknownKind { .. } => "trace_unknown_kind",
            Self::UnknownField { .. } => "trace_unknown_field",
            Self::ActorNotStarted { .. } => "trace_actor_not_started",
            Self::TooManyActors { .. } => "trace_too_many_actors",
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
            | Self::LineTooLong { line, .. }
            | Self::BadRecord { line, .. }
            | Self::UnknownKind { line, .. }
            | Self::UnknownField { line, .. }
            | Self::ActorNotStarted { line, .. }
            | Self::TooManyActors { line, .. }
            | Self::Truncated { line }
            | Self::OutOfOrder { line, .. }
            | Self::TimeWentBackwards { line, .. } => Some(*line),
        }
    }
}

/// Reads a trace one record at a time and validates it as it goes: the
/// header, each line's length ([`MAX_LINE_BYTES`]), each record strictly
/// (no unknown kind or field), sequence numbers without gaps, a clock that
/// never goes backwards, and no actor referenced before it was started. It
/// holds one line at a time, so a trace of any size is checked in bounded
/// memory.
pub struct TraceReader<R> {
    input: R,
    /// Where the input comes from, for IO errors.
    path: String,
    header: TraceHeader,
    /// The number of the last line read.
    line: usize,
    buf: Vec<u8>,
    started: std::collections::HashSet<String>,
    next_seq: u64,
    previous_t: Millis,
    /// The length in bytes of the last record's line.
    last_len: usize,
    done: bool,
}

/// How a line read ended.
#[derive(PartialEq)]
enum LineEnd {
    Newline,
    /// The input ended after this line, with no newline.
    Eof,
}

impl TraceReader<std::io::BufReader<std::fs::File>> {
    /// Opens the trace file at `path` and reads its header.
    pub fn open(path: &Path) -> Result<Self, TraceError> {
        let file = std::fs::File::open(path).map_err(|source| TraceError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::new(std::io::BufReader::new(file), path.display().to_string())
    }
}

impl<R: BufRead> TraceReader<R> {
    /// Reads the header from `input`; `path` names the input in IO errors.
    pub fn new(input: R, path: impl Into<String>) -> Result<Self, TraceError> {
        let mut reader = Self {
            input,
            path: path.into(),
            header: TraceHeader::new(0, Value::Null),
            line: 0,
            buf: Vec::new(),
            started: std::collections::HashSet::new(),
            next_seq: 1,
            previous_t: 0,
            last_len: 0,
            done: false,
        };
        let Some(end) = reader.read_line()? else {
            return Err(TraceError::Empty);
        };
        if reader.buf.iter().all(u8::is_ascii_whitespace) {
            return Err(TraceError::Empty);
        }
        let text = std::str::from_utf8(&reader.buf).map_err(|_| TraceError::BadHeader {
            line: 1,
            reason: "not UTF-8 text".into(),
        })?;
        reader.header = parse_header(text, end == LineEnd::Eof)?;
        Ok(reader)
    }

    /// The trace's header.
    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    /// The number of the line last read (the header is line 1).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The length in bytes of the last record's line, newline excluded.
    pub fn last_record_len(&self) -> usize {
        self.last_len
    }

    /// Reads one line into `buf`, stopping at [`MAX_LINE_BYTES`].
    fn read_line(&mut self) -> Result<Option<LineEnd>, TraceError> {
        self.buf.clear();
        let mut read_any = false;
        loop {
            let available = match self.input.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(TraceError::Io {
                        path: self.path.clone(),
                        source,
                    });
                }
            };
            if available.is_empty() {
                if !read_any {
                    return Ok(None);
                }
                self.line += 1;
                return Ok(Some(LineEnd::Eof));
            }
            read_any = true;
            let (take, newline) = match available.iter().position(|b| *b == b'\n') {
                Some(at) => (at, true),
                None => (available.len(), false),
            };
            if self.buf.len() + take > MAX_LINE_BYTES {
                self.done = true;
                return Err(TraceError::LineTooLong {
                    line: self.line + 1,
                    limit: MAX_LINE_BYTES,
                });
            }
            self.buf.extend_from_slice(&available[..take]);
            self.input.consume(take + usize::from(newline));
            if newline {
                self.line += 1;
                return Ok(Some(LineEnd::Newline));
            }
        }
    }

    /// The next record, validated; `None` at the end of the trace.
    pub fn next_record(&mut self) -> Result<Option<Record>, TraceError> {
        if self.done {
            return Ok(None);
        }
        let result = self.read_record();
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result
    }

    fn read_record(&mut self) -> Result<Option<Record>, TraceError> {
        let Some(end) = self.read_line()? else {
            return Ok(None);
        };
        let line = self.line;
        if self.buf.iter().all(u8::is_ascii_whitespace) {
            // A blank last line is a trailing newline too many; a blank
            // line with records after it is not.
            return match self.read_line()? {
                None => Ok(None),
                Some(_) => Err(TraceError::BadRecord {
                    line,
                    reason: "empty line".into(),
                }),
            };
        }
        let text = std::str::from_utf8(&self.buf).map_err(|_| TraceError::BadRecord {
            line,
            reason: "not UTF-8 text".into(),
        })?;
        let record: Record = match serde_json::from_str(text) {
            Ok(record) => record,
            Err(e) if end == LineEnd::Eof && e.is_eof() => return Err(TraceError::Truncated { line }),
            Err(e) => return Err(diagnose(line, text, e)),
        };
        if record.seq != self.next_seq {
            return Err(TraceError::OutOfOrder {
                line,
                expected: self.next_seq,
                found: record.seq,
            });
        }
        if record.t_ms < self.previous_t {
            return Err(TraceError::TimeWentBackwards {
                line,
                previous: self.previous_t,
                found: record.t_ms,
            });
        }
        if let RecordBody::Started { seed: Some(_), .. } = record.body
            && self.header.version < 3
        {
            // A field is valid only from the version that introduced it.
            return Err(TraceError::UnknownField {
                line,
                kind: "started".into(),
                field: "seed".into(),
            });
        }
        if let RecordBody::Started { .. } = record.body {
            if !self.started.contains(&record.actor) {
                if self.started.len() >= MAX_ACTORS {
                    return Err(TraceError::TooManyActors {
                        line,
                        limit: MAX_ACTORS,
                    });
                }
                self.started.insert(record.actor.clone());
            }
        } else if !self.started.contains(&record.actor) {
            return Err(TraceError::ActorNotStarted {
                line,
                actor: record.actor,
            });
        }
        if let RecordBody::Input { source, .. } = &record.body
            && let Some(sender) = source.strip_prefix("actor:")
            && !self.started.contains(sender)
        {
            return Err(TraceError::ActorNotStarted {
                line,
                actor: sender.to_owned(),
            });
        }
        self.next_seq += 1;
        self.previous_t = record.t_ms;
        self.last_len = self.buf.len();
        Ok(Some(record))
    }
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<Record, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// Names what is wrong with a record line that did not deserialize: an
/// unknown kind, an unknown field, or else serde's own message.
fn diagnose(line: usize, text: &str, error: serde_json::Error) -> TraceError {
    let bad = |reason: String| TraceError::BadRecord { line, reason };
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(text) else {
        return bad(error.to_string());
    };
    let Some(kind) = fields.get("kind").and_then(Value::as_str) else {
        return bad("no `kind` field naming the record's kind".into());
    };
    let Some((_, own)) = RECORD_KINDS.iter().find(|(known, _)| *known == kind) else {
        return TraceError::UnknownKind {
            line,
            kind: kind.to_owned(),
        };
    };
    let common = ["seq", "t_ms", "actor", "kind"];
    if let Some(field) = fields
        .keys()
        .find(|field| !common.contains(&field.as_str()) && !own.contains(&field.as_str()))
    {
        return TraceError::UnknownField {
            line,
            kind: kind.to_owned(),
            field: field.clone(),
        };
    }
    bad(error.to_string())
}

impl Trace {
    /// Reads and validates the trace file at `path`, streaming (see
    /// [`TraceReader`]); the records are kept in memory.
    pub fn read_file(path: &Path) -> Result<Self, TraceError> {
        Self::collect(TraceReader::open(path)?)
    }

    /// Parses and validates a trace held in memory.
    pub fn parse(text: &str) -> Result<Self, TraceError> {
        Self::collect(TraceReader::new(text.as_bytes(), "<memory>")?)
    }

    fn collect<R: BufRead>(mut reader: TraceReader<R>) -> Result<Self, TraceError> {
        let mut records = Vec::new();
        while let Some(record) = reader.next_record()? {
            records.push(record);
        }
        Ok(Self {
            header: reader.header,
            records,
        })
    }

    /// The records about one actor.
    pub fn actor<'a>(&'a self, actor: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        self.records.iter().filter(move |r| r.actor == actor)
    }

    /// Every actor's records, in trace order, picked out in one pass.
    pub fn records_by_actor(&self) -> std::collections::HashMap<&str, Vec<&Record>> {
        let mut by_actor: std::collections::HashMap<&str, Vec<&Record>> = std::collections::HashMap::new();
        for record in &self.records {
            by_actor.entry(record.actor.as_str()).or_default().push(record);
        }
        by_actor
    }

    /// The actors the trace speaks of, in order of first appearance.
    pub fn actors(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.records
            .iter()
            .map(|r| r.actor.as_str())
            .filter(|actor| seen.insert(*actor))
            .collect()
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
    let version = match value.get("version").and_then(Value::as_u64) {
        Some(v) if (u64::from(OLDEST_TRACE_VERSION)..=u64::from(TRACE_VERSION)).contains(&v) => v,
        Some(found) => return Err(TraceError::UnsupportedVersion { line: 1, found }),
        None => return Err(bad("no numeric `version` field".into())),
    };
    if version < 2 && value.get("replay").is_some() {
        return Err(bad("`replay` is a version 2 field, in a version 1 header".into()));
    }
    if version < 3 && value.get("replay").and_then(|r| r.get("link_model")).is_some() {
        return Err(bad(format!(
            "`replay.link_model` is a version 3 field, in a version {version} header"
        )));
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
        let started = |machine: &str| RecordBody::Started {
            machine: machine.into(),
            state: "idle".into(),
            seed: None,
        };
        tracer.record(0, "scanner", started("scanner"));
        tracer.record(0, "terminal", started("terminal"));
        tracer.record(2_698, "scanner", stopped("idle"));
        // The hub stops after its runtime is gone: it knows only its last input's time.
        tracer.record(2_697, "terminal", stopped("not_connected"));
        let trace = Trace::parse(&tracer.contents()).expect("the clock never goes backwards");
        assert_eq!(
            trace.records.iter().map(|r| r.t_ms).collect::<Vec<_>>(),
            vec![0, 0, 2_698, 2_698]
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
