//! `readerlink trace`: validate recorded traces.

use std::path::PathBuf;

use clap::Subcommand;

use super::CliError;
use crate::runtime::Trace;

/// The `readerlink trace` subcommands.
#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// Validate a trace file: header, format version, every record, the
    /// sequence numbers and the clock. Exits 1 naming the first bad line.
    Check {
        /// The trace (JSON Lines).
        file: PathBuf,
    },
}

/// Runs a `readerlink trace` subcommand.
pub fn run(command: TraceCommand) -> Result<(), CliError> {
    match command {
        TraceCommand::Check { file } => {
            let trace = Trace::read_file(&file).map_err(|source| CliError::BadTrace {
                path: file.display().to_string(),
                source,
            })?;
            let last_ms = trace.records.last().map_or(0, |r| r.t_ms);
            println!(
                "{}: valid readerlink trace v{} (seed {}): {} records from {} actors over {}",
                file.display(),
                trace.header.version,
                trace.header.seed,
                trace.records.len(),
                trace.actors().len(),
                crate::runtime::fmt_ms(last_ms),
            );
            Ok(())
        }
    }
}
