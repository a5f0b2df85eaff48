//! Reading traces for people: the timeline, a Mermaid `sequenceDiagram`
//! of the messages between actors and the outside, statistics, and the
//! first difference between two traces. Everything here reads records one
//! at a time from a [`TraceReader`], so it works on a trace of any size
//! (the diagram keeps what it will draw).

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

use serde::Serialize;
use serde_json::Value;

use super::harness::fmt_ms;
use super::machine::Millis;
use super::trace::{Record, RecordBody, TraceError, TraceHeader, TraceReader};

/// Which records a view shows. A record is shown when it passes every
/// filter given.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only these actors: records about one of them, and the messages one
    /// of them sent (`source: "actor:<id>"`). Empty: every actor.
    pub actors: Vec<String>,
    /// Only records about this reader: its own actors (`<machine>:<serial>`)
    /// and the records whose input or output names the serial number.
    pub reader: Option<String>,
    /// Only records at or after this virtual time.
    pub from_ms: Option<Millis>,
    /// Only records at or before this virtual time.
    pub until_ms: Option<Millis>,
}

impl Filter {
    /// Whether `record` is shown.
    pub fn keeps(&self, record: &Record) -> bool {
        if self.from_ms.is_some_and(|from| record.t_ms < from)
            || self.until_ms.is_some_and(|until| record.t_ms > until)
        {
            return false;
        }
        if !self.actors.is_empty() {
            let sender = match &record.body {
                RecordBody::Input { source, .. } => source.strip_prefix("actor:"),
                _ => None,
            };
            if !self
                .actors
                .iter()
                .any(|a| *a == record.actor || Some(a.as_str()) == sender)
            {
                return false;
            }
        }
        if let Some(serial) = &self.reader {
            let own = record.actor == *serial || record.actor.ends_with(&format!(":{serial}"));
            let named = match &record.body {
                RecordBody::Input { source, input, .. } => {
                    source.ends_with(&format!(":{serial}")) || mentions(input, serial)
                }
                RecordBody::Output { output } => mentions(output, serial),
                _ => false,
            };
            if !own && !named {
                return false;
            }
        }
        true
    }
}

/// Whether any string in `value` is `serial`.
fn mentions(value: &Value, serial: &str) -> bool {
    match value {
        Value::String(s) => s == serial,
        Value::Array(items) => items.iter().any(|v| mentions(v, serial)),
        Value::Object(fields) => fields.values().any(|v| mentions(v, serial)),
        _ => false,
    }
}

/// A short label for an input, output or timer value: the variant names
/// down the value (`Publish(ReconnectStarted)`), then its scalar fields
/// (`LinkLost(cause=SignalLost, session=1)`), at most three, each cut short.
pub fn label(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Object(fields) if fields.len() == 1 => {
            let (name, inner) = fields.iter().next().expect("one field");
            if is_variant(name) {
                let args = arguments(inner);
                if args.is_empty() {
                    name.clone()
                } else {
                    format!("{name}({args})")
                }
            } else {
                format!("({})", arguments(value))
            }
        }
        other => {
            let args = arguments(other);
            if args.is_empty() {
                "…".to_owned()
            } else {
                format!("({args})")
            }
        }
    }
}

/// An enum variant's name, as serde writes it: `UpperCamel`.
fn is_variant(name: &str) -> bool {
    name.chars().next().is_some_and(char::is_uppercase)
}

fn arguments(value: &Value) -> String {
    const MOST: usize = 3;
    match value {
        Value::Null => String::new(),
        Value::Object(fields) if fields.len() == 1 && fields.keys().all(|k| is_variant(k)) => label(value),
        Value::Object(fields) => fields
            .iter()
            .filter_map(|(name, v)| scalar(v).map(|s| format!("{name}={s}")))
            .take(MOST)
            .collect::<Vec<_>>()
            .join(", "),
        other => scalar(other).unwrap_or_default(),
    }
}

/// A scalar or a unit variant, cut to 24 characters; `None` for the rest.
fn scalar(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Object(fields) if fields.len() == 1 && fields.keys().all(|k| is_variant(k)) => {
            let name = fields.keys().next().expect("one field");
            // A nested variant with its own fields, when that stays short.
            let full = label(value);
            return Some(if full.chars().count() <= 48 {
                full
            } else {
                name.clone()
            });
        }
        // A nested record: its own scalar fields, when that stays short.
        Value::Object(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .filter(|(_, v)| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)))
                .filter_map(|(name, v)| scalar(v).map(|s| format!("{name}={s}")))
                .collect();
            let text = format!("{{{}}}", inner.join(", "));
            return (!inner.is_empty() && text.chars().count() <= 48).then_some(text);
        }
        _ => return None,
    };
    Some(if text.chars().count() > 24 {
        format!("{}…", text.chars().take(23).collect::<String>())
    } else {
        text
    })
}

/// One line of the human timeline: virtual time, actor, what happened.
pub fn timeline_line(record: &Record) -> String {
    let what = match &record.body {
        RecordBody::Started {
            machine,
            state,
            seed: None,
        } => format!("started: machine `{machine}` in `{state}`"),
        RecordBody::Started {
            machine,
            state,
            seed: Some(seed),
        } => format!("started: machine `{machine}` in `{state}`, seed {seed}"),
        RecordBody::Input { source, input, .. } => format!("<- {source}: {}", label(input)),
        RecordBody::Transition { event, from, to } => format!("{from} -> {to}  (on {event})"),
        RecordBody::Output { output } => format!("=> {}", label(output)),
        RecordBody::TimerStarted { timer, after_ms } => {
            format!("timer {} armed for {}", label(timer), fmt_ms(*after_ms))
        }
        RecordBody::TimerCancelled { timer } => format!("timer {} cancelled", label(timer)),
        RecordBody::Panicked {
            state,
            message,
            restarted,
        } => format!(
            "PANICKED in `{state}`: {message} ({})",
            if *restarted { "restarted" } else { "gave up" }
        ),
        RecordBody::Stopped { state, reason } => format!("stopped in `{state}`: {reason}"),
    };
    format!(
        "{:>10}  #{:<6} {:<24} {what}",
        fmt_ms(record.t_ms),
        record.seq,
        record.actor
    )
}

/// Escapes text for a Mermaid `sequenceDiagram` line: `#` and `;` end a
/// message in Mermaid's grammar and `<`, `>` may be read as HTML, so they
/// become entity codes (`#35;`, `#59;`, `#lt;`, `#gt;`); line breaks become
/// spaces.
pub fn mermaid_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Who a diagram line involves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Party {
    /// An actor of the run.
    Actor(String),
    /// A source outside the machines: `app`, `transport`, `backend`...
    Outside(String),
}

enum Line {
    Arrow {
        from: Party,
        to: Party,
        dashed: bool,
        text: String,
    },
    Note {
        over: Party,
        text: String,
    },
    Time(Millis),
}

/// Builds a Mermaid `sequenceDiagram` from records: each input is an arrow
/// from its sender (another actor, or the outside: `app`, `transport`,
/// `backend`...) to its actor, a timer's input an arrow from the actor to
/// itself, each transition a note over the actor, and a note marks each
/// new virtual time. With outputs on, each output is a dashed arrow from
/// the actor to itself (where it goes is the shell's business).
pub struct SequenceDiagram {
    outputs: bool,
    lines: Vec<Line>,
    parties: Vec<Party>,
    last_t: Option<Millis>,
}

impl SequenceDiagram {
    /// An empty diagram; `outputs` draws the machines' outputs too.
    pub fn new(outputs: bool) -> Self {
        Self {
            outputs,
            lines: Vec::new(),
            parties: Vec::new(),
            last_t: None,
        }
    }

    fn party(&mut self, party: Party) -> Party {
        if !self.parties.contains(&party) {
            self.parties.push(party.clone());
        }
        party
    }

    fn line(&mut self, t_ms: Millis, line: Line) {
        if self.last_t != Some(t_ms) {
            self.last_t = Some(t_ms);
            self.lines.push(Line::Time(t_ms));
        }
        self.lines.push(line);
    }

    /// Adds one record.
    pub fn push(&mut self, record: &Record) {
        let actor = Party::Actor(record.actor.clone());
        let line = match &record.body {
            RecordBody::Input { source, input, .. } => {
                let text = label(input);
                let from = match source.strip_prefix("actor:") {
                    Some(sender) => Party::Actor(sender.to_owned()),
                    None if source == "timer" => actor.clone(),
                    None => Party::Outside(source.clone()),
                };
                let text = if source == "timer" {
                    format!("timer: {text}")
                } else {
                    text
                };
                let from = self.party(from);
                let to = self.party(actor);
                Line::Arrow {
                    from,
                    to,
                    dashed: false,
                    text,
                }
            }
            RecordBody::Transition { from, to, .. } => Line::Note {
                over: self.party(actor),
                text: format!("{from} → {to}"),
            },
            RecordBody::Started { machine, state, .. } => Line::Note {
                over: self.party(actor),
                text: format!("started {machine} in {state}"),
            },
            RecordBody::Stopped { state, reason } => Line::Note {
                over: self.party(actor),
                text: format!("stopped in {state}: {reason}"),
            },
            RecordBody::Panicked { state, restarted, .. } => Line::Note {
                over: self.party(actor),
                text: format!(
                    "panicked in {state}, {}",
                    if *restarted { "restarted" } else { "gave up" }
                ),
            },
            RecordBody::Output { output } if self.outputs => {
                let party = self.party(actor);
                Line::Arrow {
                    from: party.clone(),
                    to: party,
                    dashed: true,
                    text: label(output),
                }
            }
            RecordBody::Output { .. }
            | RecordBody::TimerStarted { .. }
            | RecordBody::TimerCancelled { .. } => {
                return;
            }
        };
        self.line(record.t_ms, line);
    }

    /// The diagram's text.
    pub fn render(&self) -> String {
        // The app on the left, then everyone in order of appearance.
        let mut parties: Vec<&Party> = self.parties.iter().collect();
        parties.sort_by_key(|p| !matches!(p, Party::Outside(name) if name == "app"));
        let mut ids: HashMap<&Party, String> = HashMap::new();
        let mut used = std::collections::HashSet::new();
        let mut out = String::from("sequenceDiagram\n");
        for party in &parties {
            let (prefix, name) = match party {
                Party::Actor(name) => ("a_", name),
                Party::Outside(name) => ("x_", name),
            };
            let base: String = format!("{prefix}{name}")
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let mut id = base.clone();
            let mut n = 2;
            while !used.insert(id.clone()) {
                id = format!("{base}_{n}");
                n += 1;
            }
            let shadowed = matches!(party, Party::Outside(name)
                if self.parties.contains(&Party::Actor(name.clone())));
            let shown = if shadowed {
                format!("{name} (outside)")
            } else {
                name.clone()
            };
            out.push_str(&format!("    participant {id} as {}\n", mermaid_escape(&shown)));
            ids.insert(party, id);
        }
        let (first, last) = match (parties.first(), parties.last()) {
            (Some(f), Some(l)) => (ids[f].clone(), ids[l].clone()),
            _ => return out,
        };
        for line in &self.lines {
            match line {
                Line::Arrow {
                    from,
                    to,
                    dashed,
                    text,
                } => out.push_str(&format!(
                    "    {}{}{}: {}\n",
                    ids[from],
                    if *dashed { "-->>" } else { "->>" },
                    ids[to],
                    mermaid_escape(text)
                )),
                Line::Note { over, text } => out.push_str(&format!(
                    "    Note over {}: {}\n",
                    ids[over],
                    mermaid_escape(text)
                )),
                Line::Time(t) => {
                    let over = if first == last {
                        first.clone()
                    } else {
                        format!("{first},{last}")
                    };
                    out.push_str(&format!("    Note over {over}: t = {}\n", fmt_ms(*t)));
                }
            }
        }
        out
    }
}

/// What `trace stats` reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// The trace format version.
    pub version: u32,
    /// The run's seed.
    pub seed: u64,
    /// Records after the header.
    pub records: u64,
    /// The first record's virtual time.
    pub first_ms: Millis,
    /// The last record's virtual time.
    pub last_ms: Millis,
    /// Bytes per record line (newline excluded): mean.
    pub mean_bytes: f64,
    /// Bytes per record line: the longest.
    pub max_bytes: usize,
    /// Records of each kind.
    pub kinds: BTreeMap<String, u64>,
    /// Per actor: its machine and its records.
    pub actors: BTreeMap<String, ActorStats>,
    /// Per machine: its transitions, in all and per `from -> to`.
    pub transitions: BTreeMap<String, TransitionStats>,
    #[serde(skip)]
    total_bytes: u64,
}

/// One actor's share of a trace.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ActorStats {
    /// The machine its `started` record names.
    pub machine: String,
    /// Its records.
    pub records: u64,
}

/// One machine's transitions in a trace.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TransitionStats {
    /// Every transition its actors took.
    pub total: u64,
    /// Per `from -> to`.
    pub edges: BTreeMap<String, u64>,
}

impl Stats {
    /// Reads every record of `reader`.
    pub fn read<R: BufRead>(reader: &mut TraceReader<R>) -> Result<Self, TraceError> {
        let mut stats = Self {
            version: reader.header().version,
            seed: reader.header().seed,
            ..Self::default()
        };
        while let Some(record) = reader.next_record()? {
            stats.add(&record, reader.last_record_len());
        }
        Ok(stats)
    }

    fn add(&mut self, record: &Record, bytes: usize) {
        if self.records == 0 {
            self.first_ms = record.t_ms;
        }
        self.records += 1;
        self.last_ms = record.t_ms;
        self.total_bytes += bytes as u64;
        self.max_bytes = self.max_bytes.max(bytes);
        self.mean_bytes = self.total_bytes as f64 / self.records as f64;
        *self.kinds.entry(record.body.kind().to_owned()).or_default() += 1;
        let actor = self.actors.entry(record.actor.clone()).or_default();
        actor.records += 1;
        match &record.body {
            RecordBody::Started { machine, .. } => actor.machine = machine.clone(),
            RecordBody::Transition { from, to, .. } => {
                let machine = actor.machine.clone();
                let transitions = self.transitions.entry(machine).or_default();
                transitions.total += 1;
                *transitions.edges.entry(format!("{from} -> {to}")).or_default() += 1;
            }
            _ => {}
        }
    }

    /// The report for people.
    pub fn human(&self) -> String {
        let mut out = format!(
            "trace v{}, seed {}: {} records from {} to {} ({} of virtual time)\n",
            self.version,
            self.seed,
            self.records,
            fmt_ms(self.first_ms),
            fmt_ms(self.last_ms),
            fmt_ms(self.last_ms - self.first_ms),
        );
        out.push_str(&format!(
            "bytes per record: mean {:.1}, max {}\n",
            self.mean_bytes, self.max_bytes
        ));
        out.push_str("records per kind:\n");
        for (kind, n) in &self.kinds {
            out.push_str(&format!("  {kind:<24} {n:>8}\n"));
        }
        out.push_str("records per actor:\n");
        for (actor, s) in &self.actors {
            out.push_str(&format!("  {actor:<24} {:>8}  ({})\n", s.records, s.machine));
        }
        out.push_str("transitions per machine:\n");
        for (machine, t) in &self.transitions {
            out.push_str(&format!("  {machine:<24} {:>8}\n", t.total));
            for (edge, n) in &t.edges {
                out.push_str(&format!("    {edge:<40} {n:>6}\n"));
            }
        }
        out
    }
}

/// Which of the two traces `trace diff` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Side {
    /// The first trace given.
    A,
    /// The second trace given.
    B,
}

/// How two traces compare.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Diff {
    /// Same header (but for `created_by`) and the same records.
    Identical {
        /// Records in each.
        records: u64,
    },
    /// The headers differ (but for `created_by`) in these fields.
    HeadersDiffer {
        /// The fields that differ.
        fields: Vec<String>,
    },
    /// The first record that differs, as each trace has it (`None`: that
    /// trace ended before it).
    RecordsDiffer {
        /// Its sequence number.
        seq: u64,
        /// Its line in both files.
        line: usize,
        /// Trace A's record.
        a: Option<Box<Record>>,
        /// Trace B's record.
        b: Option<Box<Record>>,
    },
}

impl Diff {
    /// Compares `a` and `b` record by record, reading each once, up to the
    /// first difference.
    pub fn read<A: BufRead, B: BufRead>(
        a: &mut TraceReader<A>,
        b: &mut TraceReader<B>,
    ) -> Result<Self, (Side, TraceError)> {
        let fields = header_differences(a.header(), b.header());
        if !fields.is_empty() {
            return Ok(Self::HeadersDiffer { fields });
        }
        let mut records = 0;
        loop {
            let ra = a.next_record().map_err(|e| (Side::A, e))?;
            let rb = b.next_record().map_err(|e| (Side::B, e))?;
            match (ra, rb) {
                (None, None) => return Ok(Self::Identical { records }),
                (Some(x), Some(y)) if x == y => records += 1,
                (ra, rb) => {
                    return Ok(Self::RecordsDiffer {
                        seq: records + 1,
                        line: records as usize + 2,
                        a: ra.map(Box::new),
                        b: rb.map(Box::new),
                    });
                }
            }
        }
    }

    /// Whether the traces are the same.
    pub fn identical(&self) -> bool {
        matches!(self, Self::Identical { .. })
    }

    /// The report for people.
    pub fn human(&self) -> String {
        match self {
            Self::Identical { records } => format!("identical: {records} records\n"),
            Self::HeadersDiffer { fields } => format!("headers differ in: {}\n", fields.join(", ")),
            Self::RecordsDiffer { seq, line, a, b } => {
                let side = |name: &str, r: &Option<Box<Record>>| match r {
                    Some(r) => format!(
                        "  {name}: {} {} {}\n",
                        fmt_ms(r.t_ms),
                        r.actor,
                        serde_json::to_string(&r.body).unwrap_or_default()
                    ),
                    None => format!("  {name}: (ended)\n"),
                };
                format!(
                    "first divergence at seq {seq} (line {line}):\n{}{}",
                    side("A", a),
                    side("B", b)
                )
            }
        }
    }
}

fn header_differences(a: &TraceHeader, b: &TraceHeader) -> Vec<String> {
    let mut fields = Vec::new();
    if a.format != b.format {
        fields.push("format".to_owned());
    }
    if a.version != b.version {
        fields.push("version".to_owned());
    }
    if a.seed != b.seed {
        fields.push("seed".to_owned());
    }
    if a.config != b.config {
        fields.push("config".to_owned());
    }
    if a.replay != b.replay {
        fields.push("replay".to_owned());
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_name_the_variants_and_a_few_scalar_fields() {
        assert_eq!(label(&json!("StopScan")), "StopScan");
        assert_eq!(
            label(&json!({"Publish": {"ReconnectStarted": {"serial_number": "S-1", "reason": "x"}}})),
            "Publish(ReconnectStarted(reason=x, serial_number=S-1))"
        );
        assert_eq!(
            label(&json!({"LinkLost": {"session": 1, "cause": "SignalLost"}})),
            "LinkLost(cause=SignalLost, session=1)"
        );
        assert_eq!(
            label(
                &json!({"ConnectionReported": {"serial_number": "S-1", "event": {"Disconnected": {"reason": "r"}}}})
            ),
            "ConnectionReported(event=Disconnected(reason=r), serial_number=S-1)"
        );
    }

    #[test]
    fn mermaid_text_has_no_character_that_ends_a_message() {
        assert_eq!(mermaid_escape("a;b#c<d>"), "a#59;b#35;c#lt;d#gt;");
    }
}
