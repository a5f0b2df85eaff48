//! `readerlink replay TRACE`: whole-run replay ([`crate::replay`]).

use std::path::{Path, PathBuf};

use clap::Args;

use super::CliError;
use super::trace::{bad_trace, print_marked};
use crate::runtime::{Record, Trace};

/// Records of the trace shown before and after a divergence.
const AROUND: u64 = 4;

/// Arguments of `readerlink replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The trace (JSON Lines), e.g. target/demo.trace.jsonl.
    pub file: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `readerlink replay`.
pub fn run(args: ReplayArgs) -> Result<(), CliError> {
    replay(&args.file, args.json)
}

fn replay(file: &Path, json: bool) -> Result<(), CliError> {
    let trace = Trace::read_file(file).map_err(bad_trace(file))?;
    let replay = trace
        .replay_run()
        .map_err(|e| CliError::Other(format!("{}: {e} [{}]", file.display(), e.code())))?;
    let summary = &replay.summary;
    let Some(d) = &replay.divergence else {
        if json {
            println!(
                "{}",
                serde_json::json!({ "outcome": "reproduced", "summary": summary, "wall_ms": summary.wall.as_secs_f64() * 1e3 })
            );
        } else {
            println!("{}: {summary}", file.display());
        }
        return Ok(());
    };
    let div = &d.divergence;
    let around: Vec<&Record> = trace
        .records
        .iter()
        .filter(|r| {
            r.seq + AROUND >= div.seq && r.seq <= div.seq + AROUND
                || div.cause.as_ref().is_some_and(|c| c.seq == r.seq)
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "outcome": "diverged",
                "actor": div.actor,
                "seq": div.seq,
                "t_ms": div.t_ms,
                "recorded": div.recorded,
                "replayed": div.replayed,
                "cause": div.cause,
                "stalled": d.stalled,
                "context": around,
                "summary": summary,
            })
        );
    } else {
        println!("{}: {d}", file.display());
        println!("recorded records around it (> the cause, ! the first difference):");
        print_marked(&around, div);
    }
    Err(CliError::Differs(format!(
        "the replayed run diverged from {} at seq {}",
        file.display(),
        div.seq
    )))
}
