//! readerlink runs the whole life of Bluetooth LE card readers inside an
//! application — discovery, connection to a business location, automatic
//! reconnection, the 24-hour reboot, signed software updates —
//! as an actor system in which every actor's lifecycle is an explicit hierarchical state
//! machine (`actix` actors, `statig` machines).
//!
//! The behaviour rules R1–R21 it follows — which are built and which are
//! not yet — are described for integrators in [`rules`] (the same text as
//! `docs/rules.md` in the repository); tests and docs cite them by number.
//!
//! A basic app needs one import, [`prelude`]:
//!
//! ```
//! use readerlink::prelude::*;
//!
//! let config = ConnectionConfig::new("tml_000001");
//! assert!(config.auto_reconnect_on_unexpected_disconnect);
//! assert_eq!(SerialNumber::new("STRM2-0001"), "STRM2-0001");
//! ```
//!
//! # Layout
//!
//! | where | what |
//! |---|---|
//! | [`runtime`] | the generic runtime, which knows nothing of readers: the [`runtime::Machine`] trait and outbox, the actix shell, declared transition tables and Mermaid export, traces, replay, the test [`runtime::Harness`] |
//! | [`reader`] | the reader domain: serial numbers, device types, connection status, disconnect reasons, battery |
//! | [`protocol`] | the wire protocol: frames app ↔ reader, and advertised manufacturer data |
//! | [`transport`] | the BLE boundary: the [`transport::Transport`] trait, the GATT service UUIDs |
//! | [`transport::sim`] | the simulated world, the embedded default: simulated readers, fleets, [`transport::sim::SimTransport`] |
//! | `transport::ble` | the `btleplug` side of the boundary (cargo feature `ble`): `BleTransport` over BlueZ |
//! | [`scanner`] | the scanner actor: discovery by Bluetooth scan or proximity (R1–R5), [`scanner::ScannerHandle`] |
//! | [`cancelable`] | [`cancelable::Cancelable`], the handle that stops a discovery, a reconnection or an install |
//! | [`backend`] | the backend boundary: the [`backend::Backend`] trait, its in-process core (locations, readers, the update catalog), the local HTTP server and the HTTP client |
//! | [`connection`] | the connection actor, one per reader: link, hello, token, registration (R6), disconnect reasons (R8), reader reports (R18a) |
//! | [`session`] | the reader session, one per reader the app connects, released once the reader is not connected and nothing runs for it: owns the reader's life, supervises its connection, reconnect supervisor, reboot timer and updater, decides what their reports mean together (R6–R20) |
//! | [`reconnect`] | the reconnect supervisor, one per connected reader: backoff within a window, seeded jitter, cancel (R8–R10); restart intensity |
//! | [`reboot`] | the 24-hour reboot timer, one per connected M2 or WisePad 3: counts from the reader's reported uptime, reboots a lead before the reader's own deadline, never during a transaction (R12, R20) |
//! | [`firmware`] | firmware integrity (R19): signed manifests, pinned keys, the checks before any chunk goes to a reader, version order, chunk framing |
//! | [`updater`] | the updater, one per reader session: asks the update catalog at each connect, installs a required update inside the connect and decides whether the connect proceeds, reports and installs optional ones (R13–R18); the simulated update presets |
//! | [`terminal`] | the public API: [`terminal::Terminal`], its hub actor, [`terminal::TerminalEvent`]s, the delegate trait |
//! | [`scenario`] | scenario scripts: a fleet, timed actions and expected events in a TOML file, run on virtual time and checked (`readerlink simulate`) |
//! | [`explore`] | seeded swarm testing (`readerlink explore`): each seed a fleet and a timeline of actions and faults as a scenario, checked against the invariants, failures shrunk to a scenario file; transition coverage |
//! | [`store`] | what survives a restart (last connected reader, known readers): the [`store::Store`] trait, atomic file writes |
//! | [`prelude`] | what a basic app imports: `use readerlink::prelude::*;` |
//! | [`error_data`] | how every public error is written as JSON: `{"code", "message", ...fields}` |
//! | [`rules`] | the behaviour rules R1–R21, for integrators (`docs/rules.md`) |
//! | [`secret`] | [`secret::Secret`], which never reaches a log or a trace |
//! | [`machines`] | the registry of every machine, for diagrams and for replay from a trace ([`runtime::Trace::replay_actor`]) |
//! | [`replay`] | whole-run replay from a trace (`readerlink replay`): every actor run again on a paused clock, every external input re-injected, every record compared |
//! | `cli` (feature `cli`, on by default) | the `readerlink` command line (`src/main.rs` is a thin wrapper); an app that embeds the library alone turns default features off |
//!
//! Outside `src/`: `state-diagrams/` holds the generated diagram of every
//! machine, `tests/` the integration tests, `snapshots/` their `insta`
//! snapshots, `benches/` the criterion benchmarks, `examples/` embedding
//! examples.

#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links, rustdoc::private_intra_doc_links)]

pub mod backend;
pub mod cancelable;
#[cfg(feature = "cli")]
pub mod cli;
pub mod connection;
pub mod error_data;
pub mod explore;
pub mod firmware;
pub mod machines;
pub mod prelude;
pub mod protocol;
pub mod reader;
pub mod reboot;
pub mod reconnect;
pub mod replay;
pub mod rules;
pub mod runtime;
pub mod scanner;
pub mod scenario;
pub mod secret;
pub mod session;
pub mod store;
pub mod terminal;
pub mod transport;
pub mod updater;
