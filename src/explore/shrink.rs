//! Greedy shrinking of a failing [`Plan`]: fewer readers, fewer actions,
//! shorter faults, compressed times — each candidate re-run, kept only
//! while it still breaks the same invariant.

use std::time::Duration;

use super::generate::subject;
use super::{Plan, Timed, run_plan};
use crate::scenario::{Action, BackendAction, Invariant, Violation, WorldAction};

/// A shrunk plan and what it still breaks.
#[derive(Debug, Clone, PartialEq)]
pub struct ShrinkResult {
    /// The smallest plan found.
    pub plan: Plan,
    /// Its first violation of the invariant.
    pub violation: Violation,
    /// How many candidates were run.
    pub runs: usize,
}

struct Shrinker {
    invariant: Invariant,
    budget: usize,
    runs: usize,
}

impl Shrinker {
    /// Whether `plan` still breaks the invariant (and the budget lasts).
    fn fails(&mut self, plan: &Plan) -> Option<Violation> {
        if self.runs >= self.budget {
            return None;
        }
        self.runs += 1;
        let outcome = run_plan(plan).ok()?;
        outcome
            .violations
            .into_iter()
            .find(|v| v.invariant == self.invariant)
    }
}

/// Shrinks `plan`, which breaks `invariant`, running at most `budget`
/// candidates. `None` when the plan does not break it at all.
pub fn shrink(plan: &Plan, invariant: Invariant, budget: usize) -> Option<ShrinkResult> {
    let mut shrinker = Shrinker {
        invariant,
        budget: budget.max(1),
        runs: 0,
    };
    let mut violation = shrinker.fails(plan)?;
    let mut best = plan.clone();
    loop {
        let mut progressed = false;
        for candidate in candidates(&best) {
            if shrinker.runs >= shrinker.budget {
                break;
            }
            if let Some(v) = shrinker.fails(&candidate) {
                best = candidate;
                violation = v;
                progressed = true;
                break;
            }
        }
        if !progressed {
            break;
        }
    }
    Some(ShrinkResult {
        plan: best,
        violation,
        runs: shrinker.runs,
    })
}

/// Smaller plans than `plan`, the biggest cuts first.
fn candidates(plan: &Plan) -> Vec<Plan> {
    let mut out = Vec::new();
    // Fewer readers: one gone, with every action naming it.
    for reader in &plan.readers {
        let mut smaller = plan.clone();
        smaller.readers.retain(|r| r.serial != reader.serial);
        if smaller.saved.as_ref() == Some(&reader.serial) {
            smaller.saved = None;
        }
        smaller
            .actions
            .retain(|a| subject(&a.action) != Some(&reader.serial));
        out.push(smaller);
    }
    // No reader saved by an earlier run.
    if plan.saved.is_some() {
        let mut smaller = plan.clone();
        smaller.saved = None;
        out.push(smaller);
    }
    // Fewer actions: chunks, halves first, down to single actions.
    let n = plan.actions.len();
    let mut chunk = n.div_ceil(2);
    while chunk >= 1 && n > 0 {
        let mut start = 0;
        while start < n {
            let mut smaller = plan.clone();
            smaller.actions.drain(start..(start + chunk).min(n));
            out.push(smaller);
            start += chunk;
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    // A shorter safety phase: it ends soon after its last action.
    let last = plan.actions.last().map_or(Duration::ZERO, |a| a.at);
    let end = (last + Duration::from_secs(1)).max(Duration::from_secs(1));
    if end < plan.safety {
        let mut smaller = plan.clone();
        smaller.safety = end;
        out.push(smaller);
    }
    // Compressed times: every action at half its time.
    if last > Duration::from_secs(1) {
        let mut smaller = plan.clone();
        for a in &mut smaller.actions {
            a.at /= 2;
        }
        smaller.safety = (smaller.safety / 2).max(Duration::from_secs(1));
        out.push(smaller);
    }
    // Shorter faults.
    for (i, timed) in plan.actions.iter().enumerate() {
        if let Some(action) = halved(timed) {
            let mut smaller = plan.clone();
            smaller.actions[i].action = action;
            out.push(smaller);
        }
    }
    out
}

/// The action with its duration halved, when it has one worth halving.
fn halved(timed: &Timed) -> Option<Action> {
    let half = |d: Duration| (d >= Duration::from_millis(200)).then_some(d / 2);
    match &timed.action {
        Action::World(WorldAction::LoseLink {
            serial,
            duration: Some(d),
        }) => Some(Action::World(WorldAction::LoseLink {
            serial: serial.clone(),
            duration: Some(half(*d)?),
        })),
        Action::Backend(BackendAction::Down { duration: Some(d) }) => {
            Some(Action::Backend(BackendAction::Down {
                duration: Some(half(*d)?),
            }))
        }
        Action::Backend(BackendAction::Latency { route, latency }) => {
            Some(Action::Backend(BackendAction::Latency {
                route: *route,
                latency: half(*latency)?,
            }))
        }
        _ => None,
    }
}
