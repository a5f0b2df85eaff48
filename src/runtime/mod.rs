//! The generic runtime: pure machines, the actix shell that runs them,
//! declared transition tables and their diagrams, traces and replay. It
//! knows nothing of readers.
//!
//! | piece | file |
//! |---|---|
//! | [`Machine`], [`Outbox`], [`Step`] | `machine.rs` |
//! | [`StatigMachine`]: a statig machine as a [`Machine`] | `adapter.rs` |
//! | declared tables, check, coverage, Mermaid | `table.rs` |
//! | the actix shell, [`Effects`], the clock | `shell.rs` |
//! | traces: header, records, [`Tracer`], strict streaming validation ([`TraceReader`]) | `trace.rs` |
//! | traces for people: timeline, Mermaid sequence diagram, stats, diff | `inspect.rs` |
//! | machine-level replay, divergence at its cause | `replay.rs` |
//! | the gate that holds actors' inputs for whole-run replay ([`gate::Gate`]) | `gate.rs` |
//! | [`Harness`]: a machine on virtual time without actors | `harness.rs` |
//! | which state each machine actor is in when a fault strikes ([`probe::StateProbe`]) | `probe.rs` |
//! | an example machine | `example/` |

pub mod adapter;
pub mod example;
pub mod gate;
pub mod harness;
pub mod inspect;
pub mod machine;
pub mod probe;
pub mod replay;
pub mod shell;
pub mod table;
pub mod trace;

pub use adapter::{StatigCore, StatigMachine, Vocabulary};
pub use harness::{Harness, fmt_ms};
pub use machine::{EventName, Machine, Millis, Outbox, Step};
pub use replay::{Divergence, ReplayError, ReplayOutcome, replay_machine, replay_records};
pub use shell::{
    Clock, CurrentState, Deliver, EffectContext, Effects, MachineActor, RestartIntensity, RestartPolicy,
    Stop, live_machine_actors, virtual_time_system,
};
pub use table::{MachineSpec, On, StateSpec, UndeclaredTransition};
pub use trace::{
    Record, RecordBody, ReplayParameters, RestartLimits, Trace, TraceError, TraceHeader, TraceReader, Tracer,
};
