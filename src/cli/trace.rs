//! `readerlink trace`: check, show, compare, count and replay recorded
//! traces. The format is documented in `docs/traces.md`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::CliError;
use crate::runtime::inspect::{Diff, Filter, SequenceDiagram, Side, Stats, timeline_line};
use crate::runtime::{Divergence, Millis, Record, ReplayOutcome, Trace, TraceReader, fmt_ms};

/// The `readerlink trace` subcommands.
#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// Validate a trace file strictly, naming the first bad line.
    ///
    /// Checks the header and format version, each line at most 1 MiB, every record (no unknown kind or field), the
    /// sequence numbers, the clock, and no actor referenced before its
    /// `started` record. Streams the file. Exits 1 naming the first bad line.
    Check {
        /// The trace (JSON Lines).
        file: PathBuf,
    },
    /// Print the timeline, or a Mermaid sequence diagram (--mermaid).
    ///
    /// The timeline has one line per record: virtual time, seq, actor,
    /// what happened. With --mermaid: a Mermaid sequenceDiagram of the
    /// messages between actors and the outside.
    Show(ShowArgs),
    /// Name the first record where two traces differ.
    ///
    /// Compares two traces of the same run record by record: exit 0 when
    /// identical, 1 naming the first divergence (seq, actor, virtual time,
    /// A's record vs B's).
    Diff {
        /// The first trace.
        a: PathBuf,
        /// The second trace.
        b: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Count records per kind and actor, transitions per machine, time, bytes.
    ///
    /// Records per kind and per actor, transitions per machine, the time
    /// span, bytes per record.
    Stats {
        /// The trace.
        file: PathBuf,
        /// Print the counts as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Replay each actor's machine from the trace and compare every step.
    ///
    /// Each actor's machine, named by its
    /// `started` record and built as the header (and, for a seeded machine,
    /// its `started` record) says, is fed the recorded inputs and its every
    /// step compared. Exits 0 with a one-line summary when every step is
    /// identical; exits 1 at a divergence, naming the first differing
    /// record (actor, seq, virtual time, recorded vs replayed), the input
    /// that caused it, and the actor's records around it.
    Replay {
        /// The trace.
        file: PathBuf,
        /// Only this actor (repeatable). Default: every started actor.
        #[arg(long = "actor", value_name = "ID")]
        actors: Vec<String>,
        /// Print one JSON object per actor (a divergence with its records
        /// around it) and no summary.
        #[arg(long)]
        json: bool,
        /// Also print one line per actor reproduced.
        #[arg(long, short)]
        verbose: bool,
    },
}

/// Arguments of `readerlink trace show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The trace.
    pub file: PathBuf,
    /// Print a Mermaid sequenceDiagram instead of the timeline.
    #[arg(long)]
    pub mermaid: bool,
    /// With --mermaid: draw each machine output too (a dashed arrow from
    /// the actor to itself).
    #[arg(long, requires = "mermaid")]
    pub outputs: bool,
    /// Only this actor's records and the messages it sent (repeatable).
    #[arg(long = "actor", value_name = "ID")]
    pub actors: Vec<String>,
    /// Only this reader's actors and the records naming its serial number.
    #[arg(long, value_name = "SERIAL")]
    pub reader: Option<String>,
    /// Only records at or after this virtual time (`12s`, `1m30s`, `250ms`).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub from: Option<Millis>,
    /// Only records at or before this virtual time.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub until: Option<Millis>,
}

/// A virtual time as `humantime` writes durations, or bare milliseconds.
fn parse_time(text: &str) -> Result<Millis, String> {
    if let Ok(ms) = text.parse::<Millis>() {
        return Ok(ms);
    }
    humantime::parse_duration(text)
        .map(|d| d.as_millis() as Millis)
        .map_err(|e| format!("`{text}` is not a time such as `12s`, `1m30s` or `250` (ms): {e}"))
}

pub(crate) fn bad_trace(path: &Path) -> impl Fn(crate::runtime::TraceError) -> CliError + '_ {
    move |source| CliError::BadTrace {
        path: path.display().to_string(),
        source,
    }
}

/// Runs a `readerlink trace` subcommand.
pub fn run(command: TraceCommand) -> Result<(), CliError> {
    match command {
        TraceCommand::Check { file } => check(&file),
        TraceCommand::Show(args) => show(args),
        TraceCommand::Diff { a, b, json } => diff(&a, &b, json),
        TraceCommand::Stats { file, json } => {
            let mut reader = TraceReader::open(&file).map_err(bad_trace(&file))?;
            let stats = Stats::read(&mut reader).map_err(bad_trace(&file))?;
            if json {
                println!("{}", serde_json::to_string(&stats).unwrap_or_default());
            } else {
                print!("{}", stats.human());
            }
            Ok(())
        }
        TraceCommand::Replay {
            file,
            actors,
            json,
            verbose,
        } => replay(&file, actors, json, verbose),
    }
}

fn check(file: &Path) -> Result<(), CliError> {
    let mut reader = TraceReader::open(file).map_err(bad_trace(file))?;
    let (mut records, mut last_ms) = (0u64, 0);
    let mut actors = std::collections::HashSet::new();
    while let Some(record) = reader.next_record().map_err(bad_trace(file))? {
        records += 1;
        last_ms = record.t_ms;
        actors.insert(record.actor);
    }
    let header = reader.header();
    println!(
        "{}: valid readerlink trace v{} (seed {}): {records} records from {} actors over {}",
        file.display(),
        header.version,
        header.seed,
        actors.len(),
        fmt_ms(last_ms),
    );
    Ok(())
}

fn show(args: ShowArgs) -> Result<(), CliError> {
    let file = &args.file;
    let filter = Filter {
        actors: args.actors,
        reader: args.reader,
        from_ms: args.from,
        until_ms: args.until,
    };
    let mut reader = TraceReader::open(file).map_err(bad_trace(file))?;
    let mut stdout = std::io::stdout().lock();
    if args.mermaid {
        let mut diagram = SequenceDiagram::new(args.outputs);
        while let Some(record) = reader.next_record().map_err(bad_trace(file))? {
            if filter.keeps(&record) {
                diagram.push(&record);
            }
        }
        let _ = stdout.write_all(diagram.render().as_bytes());
    } else {
        let header = reader.header().clone();
        let _ = writeln!(
            stdout,
            "{}: trace v{}, seed {}, {}",
            file.display(),
            header.version,
            header.seed,
            header.config
        );
        while let Some(record) = reader.next_record().map_err(bad_trace(file))? {
            if filter.keeps(&record) && writeln!(stdout, "{}", timeline_line(&record)).is_err() {
                // The reader went away (`| head`): stop quietly.
                return Ok(());
            }
        }
    }
    let _ = stdout.flush();
    Ok(())
}

fn diff(a: &Path, b: &Path, json: bool) -> Result<(), CliError> {
    let mut ra = TraceReader::open(a).map_err(bad_trace(a))?;
    let mut rb = TraceReader::open(b).map_err(bad_trace(b))?;
    let outcome = Diff::read(&mut ra, &mut rb).map_err(|(side, e)| match side {
        Side::A => bad_trace(a)(e),
        Side::B => bad_trace(b)(e),
    })?;
    if json {
        println!("{}", serde_json::to_string(&outcome).unwrap_or_default());
    } else {
        print!("{}", outcome.human());
    }
    if outcome.identical() {
        Ok(())
    } else {
        Err(CliError::Differs(format!(
            "{} and {} differ",
            a.display(),
            b.display()
        )))
    }
}

/// How many of the diverging actor's records `trace replay` prints before
/// the divergence's cause and after the differing record.
const CONTEXT_BEFORE: usize = 3;
const CONTEXT_AFTER: usize = 2;

fn replay(file: &Path, actors: Vec<String>, json: bool, verbose: bool) -> Result<(), CliError> {
    let trace = Trace::read_file(file).map_err(bad_trace(file))?;
    let actors: Vec<String> = if actors.is_empty() {
        trace.started_actors().into_iter().map(str::to_owned).collect()
    } else {
        actors
    };
    let (mut inputs, mut steps) = (0, 0);
    let mut divergences = Vec::new();
    for (actor, outcome) in trace.replay_actors(actors.iter().map(String::as_str)) {
        let outcome =
            outcome.map_err(|e| CliError::Other(format!("{}: {e} [{}]", file.display(), e.code())))?;
        match outcome {
            ReplayOutcome::Reproduced { inputs: i, steps: s } => {
                inputs += i;
                steps += s;
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"actor": actor, "outcome": "reproduced", "inputs": i, "steps": s})
                    );
                } else if verbose {
                    println!("{actor}: reproduced ({i} inputs, {s} steps)");
                }
            }
            ReplayOutcome::Diverged(d) => divergences.push(d),
        }
    }
    // The first divergence in the trace's own order comes first.
    divergences.sort_by_key(|d| d.seq);
    for (i, d) in divergences.iter().enumerate() {
        let context = d.context(&trace, CONTEXT_BEFORE, CONTEXT_AFTER);
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "actor": d.actor,
                    "outcome": "diverged",
                    "seq": d.seq,
                    "t_ms": d.t_ms,
                    "recorded": d.recorded,
                    "replayed": d.replayed,
                    "cause": d.cause,
                    "context": context,
                })
            );
            continue;
        }
        println!("{d}");
        if i == 0 {
            println!(
                "records of `{}` around it (> the cause, ! the first difference):",
                d.actor
            );
            print_marked(&context, d);
        }
    }
    if divergences.is_empty() {
        if !json {
            println!(
                "{}: reproduced: {} actors, {inputs} inputs, {steps} steps, every step identical",
                file.display(),
                actors.len()
            );
        }
        Ok(())
    } else {
        Err(CliError::Differs(format!(
            "{} of {} actors diverged from {}",
            divergences.len(),
            actors.len(),
            file.display()
        )))
    }
}

/// Prints records around a divergence as timeline lines, `!` marking the
/// first difference and `>` its cause.
pub(super) fn print_marked(records: &[&Record], divergence: &Divergence) {
    for record in records {
        let mark = if record.seq == divergence.seq {
            '!'
        } else if divergence.cause.as_ref().is_some_and(|c| c.seq == record.seq) {
            '>'
        } else {
            ' '
        };
        println!("{mark} {}", timeline_line(record));
    }
}
