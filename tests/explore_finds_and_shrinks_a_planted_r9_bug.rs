//! Built only with the test-only cargo feature `planted-bug`, which makes
//! the session report `ReconnectSucceeded` right after `ReconnectFailed`
//! (breaking R9): the explorer finds it within 200 seeds, shrinks it to at
//! most 3 readers and 10 actions, and the shrunk case, written as a
//! scenario file and read back, fails the same way.
//!
//! `cargo test --features planted-bug --test explore_finds_and_shrinks_a_planted_r9_bug`
#![cfg(feature = "planted-bug")]

use readerlink::explore::{self, GenConfig, case_file, generate, run_seed, shrink};
use readerlink::scenario::{self, Invariant, TraceTo};

#[test]
fn explore_finds_the_planted_r9_bug_within_200_seeds_and_shrinks_it_to_a_small_scenario_file() {
    let config = GenConfig::default();
    let (seed, found) = (0..200u64)
        .find_map(|seed| {
            let result = run_seed(seed, &config, false).expect("a generated scenario runs");
            result
                .violations
                .into_iter()
                .find(|v| v.invariant == Invariant::ReconnectOrder)
                .map(|v| (seed, v))
        })
        .expect("the planted R9 bug is found within 200 seeds");
    assert!(found.why.contains("no reconnection was running"), "{found}");
    assert_eq!(found.event, "ReconnectSucceeded", "{found}");

    let plan = generate(seed, &config);
    let done = shrink(&plan, Invariant::ReconnectOrder, 400).expect("the seed fails when run again");
    assert!(
        done.plan.readers.len() <= 3 && done.plan.actions.len() <= 10,
        "shrunk to {} readers and {} actions (from {} and {}) in {} runs",
        done.plan.readers.len(),
        done.plan.actions.len(),
        plan.readers.len(),
        plan.actions.len(),
        done.runs
    );
    assert_eq!(done.violation.invariant, Invariant::ReconnectOrder);

    // The case file is a scenario `readerlink simulate --scenario` runs, and
    // it fails the same way.
    let text = case_file(&done, &config);
    assert!(
        text.contains(&format!("readerlink explore --seeds 1 --from {seed} ")),
        "{text}"
    );
    let case = scenario::parse(&text, None, None).expect("the case file parses");
    let outcome = scenario::run_blocking(&case, &TraceTo::Off).expect("the case runs");
    assert!(!outcome.passed());
    assert!(
        outcome
            .violations
            .iter()
            .any(|v| v.invariant == Invariant::ReconnectOrder && v.event == "ReconnectSucceeded"),
        "{}",
        outcome.report()
    );
    assert!(
        outcome.report().contains("invariants.reconnect_order"),
        "{}",
        outcome.report()
    );

    // The command the explorer prints reproduces the seed.
    assert_eq!(
        explore::reproduce_command(seed, &config),
        format!("readerlink explore --seeds 1 --from {seed} --readers 3 --hours 1")
    );
}
