//! The harness drives a machine on virtual time with no actors, and its
//! transition log is a stable snapshot.

mod common;

use std::time::Duration;

use readerlink::runtime::Harness;
use readerlink::runtime::example::{Turnstile, TurnstileInput, TurnstileOutput, TurnstileTimer};

#[test]
fn a_turnstile_scenario_reads_as_a_timestamped_transition_log() {
    let _snapshots = common::snapshots();
    let mut gate = Harness::new(Turnstile::new());

    gate.note("a person pays and walks through");
    assert_eq!(
        gate.input(TurnstileInput::CoinInserted),
        vec![TurnstileOutput::Unlock]
    );
    gate.advance(Duration::from_millis(1_200));
    assert_eq!(gate.input(TurnstileInput::Pushed), vec![TurnstileOutput::Rotate]);
    assert!(gate.armed_timers().is_empty(), "the push disarms the auto-lock");
    gate.advance(Duration::from_millis(800));
    gate.input(TurnstileInput::RotationCompleted);
    assert_eq!(gate.state(), "locked");

    gate.note("a second coin while unlocked is refunded; nobody pushes");
    gate.advance(Duration::from_secs(10));
    gate.input(TurnstileInput::CoinInserted);
    assert_eq!(
        gate.input(TurnstileInput::CoinInserted),
        vec![TurnstileOutput::Refund]
    );
    assert_eq!(
        gate.armed_timers(),
        vec![(12_000 + 5_000, TurnstileTimer::AutoLock)]
    );
    let emitted = gate.advance(Duration::from_secs(60));
    assert_eq!(
        emitted,
        vec![TurnstileOutput::Lock],
        "auto-lock fires exactly once"
    );
    assert_eq!(gate.state(), "locked");

    gate.note("pushing a locked turnstile sounds the alarm and changes nothing");
    assert_eq!(gate.input(TurnstileInput::Pushed), vec![TurnstileOutput::Alarm]);
    assert_eq!(gate.machine().coins(), 2);

    insta::assert_snapshot!("turnstile_transition_log", gate.log());
}
