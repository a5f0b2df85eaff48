//! Every input record of a demo-like trace, edited one field at a time,
//! every field in turn (a flag flipped, a number changed, a text
//! lengthened), then that actor replayed (`Trace::replay_actor`). Each
//! edit ends one of four ways, and nothing else is allowed:
//! - the machine does the same with it: reproduced (per-actor replay cannot
//!   see an edit that changes nothing a machine does; traces carry no
//!   digest);
//! - it no longer decodes: refused with `replay_bad_input` naming its seq;
//! - the machine does something else on it: the divergence's cause is the
//!   edited input;
//! - the machine keeps the value and acts on it only later (a configured
//!   duration armed as a timer at a later input, a call id answered when
//!   the answer comes): the divergence is at that later input, never
//!   before the edit. The trace does not hold the machine's state, so
//!   nothing tells replay the edited input changed it; the test counts
//!   these and names them.

mod trace_support;

use readerlink::runtime::{RecordBody, ReplayOutcome, Trace};
use serde_json::Value;

/// Edits the `n`th scalar of `value` (depth first, from 0), counting down
/// `n` past the others; true once one was edited.
fn edit_scalar(value: &mut Value, n: &mut usize) -> bool {
    let scalar = matches!(value, Value::Bool(_) | Value::Number(_) | Value::String(_));
    if scalar && *n > 0 {
        *n -= 1;
        return false;
    }
    match value {
        Value::Bool(b) => *b = !*b,
        Value::Number(number) => {
            *value = match (number.as_u64(), number.as_f64()) {
                (Some(u), _) => Value::from(u + 1),
                (None, Some(f)) => Value::from(f / 2.0 + 0.25),
                (None, None) => return false,
            }
        }
        Value::String(s) => s.push('x'),
        Value::Array(items) => return items.iter_mut().any(|v| edit_scalar(v, n)),
        Value::Object(fields) => return fields.values_mut().any(|v| edit_scalar(v, n)),
        Value::Null => return false,
    }
    true
}

#[test]
fn every_field_of_every_input_of_a_demo_like_trace_edited_is_reproduced_refused_or_found_no_earlier_than_the_edit()
 {
    let trace = Trace::parse(&trace_support::demo_like_trace()).unwrap();
    let (mut same, mut at_the_edit, mut later, mut refused, mut unedited) = (0, 0, 0, 0, 0);
    for (i, record) in trace.records.iter().enumerate() {
        let RecordBody::Input { input, .. } = &record.body else {
            continue;
        };
        for field in 0.. {
            let mut changed = input.clone();
            if !edit_scalar(&mut changed, &mut { field }) {
                if field == 0 {
                    unedited += 1;
                }
                break;
            }
            let mut edited = trace.clone();
            if let RecordBody::Input { input, .. } = &mut edited.records[i].body {
                *input = changed.clone();
            }
            let what = format!("{} seq {} edited to {changed}", record.actor, record.seq);
            match edited.replay_actor(&record.actor) {
                Ok(ReplayOutcome::Reproduced { .. }) => same += 1,
                Ok(ReplayOutcome::Diverged(d)) => {
                    let cause = d.cause.as_ref().map(|c| c.seq);
                    if cause == Some(record.seq) {
                        at_the_edit += 1;
                    } else {
                        assert!(cause > Some(record.seq), "never before the edit: {what}: {d}");
                        assert!(d.seq > record.seq, "{what}: {d}");
                        println!("later: {what}: {d}");
                        later += 1;
                    }
                }
                Err(e) => {
                    assert_eq!(e.code(), "replay_bad_input", "{what}: {e}");
                    assert!(
                        e.to_string().starts_with(&format!("seq {}:", record.seq)),
                        "{what}: {e}"
                    );
                    refused += 1;
                }
            }
        }
    }
    println!(
        "edits: reproduced {same}, diverged at the edit {at_the_edit}, later {later}, refused {refused}; inputs without a scalar {unedited}"
    );
    assert!(
        at_the_edit >= 10 && refused >= 10 && same >= 10,
        "the sweep covers each way"
    );
    // On 2026-12-05: 64 reproduced, 142 at the edit, 41 later, 138
    // refused. The later ones are kept values (docs/traces.md, per-actor
    // replay): a way to name them at the edit is not built.
}
