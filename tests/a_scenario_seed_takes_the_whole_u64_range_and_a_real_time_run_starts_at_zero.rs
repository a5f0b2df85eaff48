//! Two documented promises of the scenario format: `seed` takes every
//! `u64` (TOML integers stop at `i64::MAX`, so larger seeds are written as
//! strings), and a `clock = "real"` scenario may have its first step at
//! `"0s"` (it once failed as running "later than the step before it",
//! although there is none).

use readerlink::scenario::{self, TraceTo};

#[test]
fn the_seed_takes_every_u64_as_an_integer_or_a_string_of_digits() {
    let seed_of = |value: &str| {
        scenario::parse(
            &format!("seed = {value}\n[expect]\nfinal_connection_status = \"NotConnected\"\n"),
            None,
            None,
        )
        .map(|s| s.seed)
    };
    assert_eq!(seed_of("0"), Ok(0));
    assert_eq!(seed_of("9223372036854775807"), Ok(i64::MAX as u64));
    assert_eq!(seed_of("\"9223372036854775808\""), Ok(1 << 63));
    assert_eq!(seed_of("\"18446744073709551615\""), Ok(u64::MAX));
    for bad in [
        "-1",
        "\"18446744073709551616\"",
        "\"-1\"",
        "\"\"",
        "1.5",
        "\"0x10\"",
    ] {
        let e = seed_of(bad).expect_err(bad);
        assert_eq!(
            (e.code(), e.line(), e.field()),
            ("invalid_value", 1, "seed"),
            "{bad}: {e}"
        );
    }
}

/// The one test here on real time: the promise is about the real clock.
/// The run lasts 50 ms of it.
#[test]
fn a_real_time_scenario_runs_its_first_step_at_zero() {
    let text = r#"clock = "real"
run_for = "50ms"

[[steps]]
at = "0s"
action = "set_adapter"
powered = true

[[steps]]
at = "0s"
action = "set_adapter"
powered = true

[[steps]]
at = "10ms"
action = "set_adapter"
powered = true

[expect]
events = [ { event = "StepRan", step = 2 } ]
"#;
    let parsed = scenario::parse(text, None, None).expect("a valid scenario");
    let outcome = scenario::run_blocking(&parsed, &TraceTo::Off).expect("it runs");
    assert!(outcome.passed(), "{}", outcome.report());
    let ran = outcome.events.iter().filter(|e| e.kind == "StepRan").count();
    assert_eq!(ran, 3, "{}", outcome.human_lines());
}
