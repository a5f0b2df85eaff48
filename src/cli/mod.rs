//! The `readerlink` command line. Each subcommand lives in a file of its
//! own; `src/main.rs` only calls [`main`].

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod backend;
pub mod demo;
pub mod diagrams;
pub mod discover;
pub mod explore;
pub mod replay;
pub mod simulate;
pub mod simulate_hours;
pub mod trace;

/// Runs Bluetooth LE card readers: discovery, connection, reconnection,
/// reboots and updates, on simulated readers or real ones.
#[derive(Debug, Parser)]
#[command(name = "readerlink", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the local backend server (connection tokens, locations, readers,
    /// the update catalog and its images).
    Backend(backend::BackendArgs),
    /// The main job: a simulated fleet and the local backend on real time —
    /// discover, connect two readers, reports, a lost link, a disconnect.
    Demo(demo::DemoArgs),
    /// Write (or check) the Mermaid diagram of every machine.
    Diagrams(diagrams::DiagramsArgs),
    /// Discover readers (simulated by default) and print the live list.
    Discover(discover::DiscoverArgs),
    /// Seeded swarm testing: each seed a fleet and a timeline of actions and
    /// faults on virtual time, checked against the runtime's invariants;
    /// failing seeds shrunk to a scenario file.
    Explore(explore::ExploreArgs),
    /// Replay a whole recorded run on a paused clock and compare every
    /// record; exit 1 naming the first divergence and its cause.
    ///
    /// Starts the same actors as the recorded run (hub, scanner, and per
    /// reader its session, connection, reconnect supervisor, reboot timer
    /// and updater), built from the trace header, with inert boundaries: no
    /// simulated readers, no backend. Every input that came from outside
    /// the machines (sources app, transport, backend, store, world, effect,
    /// verify) is re-injected from the trace at its recorded virtual time;
    /// every input the machines caused (`actor:ID`, timer) must be produced
    /// by the replayed run itself. So a trace recorded against a real
    /// backend replays without it.
    ///
    /// Exit 0 with a one-line summary when every record is reproduced;
    /// exit 1 naming the first divergence (actor, seq, virtual time,
    /// recorded vs replayed), the records around it and its cause (the
    /// first input whose recorded effects differ). A trace that lacks what
    /// replay needs (its header's `replay` section, a machine's policy,
    /// format version 3) is refused with an error naming what is missing.
    /// Per-actor replay: `readerlink trace replay`; docs/traces.md has the
    /// details.
    Replay(replay::ReplayArgs),
    /// Run a scenario script on virtual time and check its expectations, or
    /// the demo's world for N virtual hours (--hours).
    Simulate(simulate::SimulateArgs),
    /// Work with recorded traces: check, show (timeline or Mermaid), diff,
    /// stats, replay.
    #[command(subcommand)]
    Trace(trace::TraceCommand),
}

/// Parses the command line, runs the subcommand and maps its result to an
/// exit code: 0 on success, 1 when the command ran and found a problem
/// (a stale diagram, a bad trace), 2 on bad usage (clap's own).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Backend(args) => backend::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Diagrams(args) => diagrams::run(args),
        Command::Discover(args) => discover::run(args),
        Command::Explore(args) => explore::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Trace(command) => trace::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What a subcommand can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Diagram files that do not match the code.
    #[error("stale state diagrams (run `readerlink diagrams` and commit): {0}")]
    StaleDiagrams(String),
    /// A trace that did not validate.
    #[error("{path}: {source} [{code}]", code = source.code())]
    BadTrace {
        /// The trace file.
        path: String,
        /// Why it was rejected.
        source: crate::runtime::TraceError,
    },
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Two traces differ, or a replay diverged: the command ran and the
    /// difference is its finding (already printed).
    #[error("{0}")]
    Differs(String),
    /// Anything else, in a sentence.
    #[error("{0}")]
    Other(String),
}
