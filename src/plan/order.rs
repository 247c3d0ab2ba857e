//! Dependency checks on the state a plan leads to, and the order of its steps.
//!
//! The state after the plan is every repository flag as desired, plus every live flag the
//! plan does not delete. In it, an enabled flag may only depend (through a `type: flag`
//! property; `depends_on` is ordering only) on enabled flags, a flag the
//! plan writes may only depend on flags that exist, and there is no cycle. These are checked
//! before anything runs, never discovered halfway through an apply.
//!
//! Order: a step that writes flag X waits for the step creating a flag X depends on (and for
//! the step enabling it, when X is enabled); a step that disables or deletes flag D waits for
//! the steps of the live flags that depend on D while enabled. Levels are the longest path
//! in that graph (`graph::DependencyGraph`).

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, Problem, Step};
use crate::backend::LiveState;
use crate::graph::{DependencyGraph, format_cycle};
use crate::model::VendorFlag;

/// One flag in the state after the plan.
struct After {
    enabled: bool,
    dependencies: BTreeSet<String>,
    /// The subset of `dependencies` its evaluation needs (`depends_on` is ordering only).
    evaluation: BTreeSet<String>,
    written: bool,
}

/// Problems with the state the plan leads to.
pub(super) fn check_final_state<F: VendorFlag>(
    steps: &[Step<F>],
    live: &LiveState<F>,
    wanted: &BTreeMap<&str, &F>,
) -> Vec<Problem> {
    let deleted: BTreeSet<&str> = steps
        .iter()
        .filter(|s| s.action == Action::Delete)
        .map(|s| s.key.as_str())
        .collect();
    let written: BTreeSet<&str> = steps
        .iter()
        .filter(|s| s.action != Action::Delete)
        .map(|s| s.key.as_str())
        .collect();
    let mut after: BTreeMap<&str, After> = BTreeMap::new();
    for current in &live.flags {
        let key = current.flag.key();
        if !deleted.contains(key) {
            let state = After {
                enabled: current.flag.is_enabled(),
                dependencies: current.flag.dependencies(),
                evaluation: current.flag.evaluation_dependencies(),
                written: false,
            };
            after.insert(key, state);
        }
    }
    for u in &live.unsupported {
        // What it depends on is unknown; it exists and may be enabled.
        after.insert(
            &u.key,
            After {
                enabled: true,
                dependencies: BTreeSet::new(),
                evaluation: BTreeSet::new(),
                written: false,
            },
        );
    }
    for (&key, flag) in wanted {
        let state = After {
            enabled: flag.is_enabled(),
            dependencies: flag.dependencies(),
            evaluation: flag.evaluation_dependencies(),
            written: written.contains(key),
        };
        after.insert(key, state);
    }

    let mut problems = Vec::new();
    for (&key, state) in &after {
        if !(state.enabled || state.written) {
            continue;
        }
        let place = if wanted.contains_key(key) {
            ""
        } else {
            " (live, not in the repository)"
        };
        for target in &state.dependencies {
            match after.get(target.as_str()) {
                None if deleted.contains(target.as_str()) => problems.push(Problem::new(
                    "deleted-dependency",
                    Some(key),
                    format!("`{key}`{place} depends on `{target}`, which this plan deletes"),
                    "keep the dependency in the repository, or remove the dependency first",
                )),
                None => problems.push(Problem::new(
                    "missing-dependency",
                    Some(key),
                    format!("`{key}`{place} depends on `{target}`, which is neither in the repository nor live"),
                    "add the flag to the repository, or remove the dependency",
                )),
                Some(t) if state.enabled && !t.enabled && state.evaluation.contains(target) => problems.push(Problem::new(
                    "disabled-dependency",
                    Some(key),
                    format!("`{key}`{place} is enabled but depends on `{target}`, which would be disabled"),
                    "enable the dependency, disable this flag, or remove the dependency",
                )),
                Some(_) => {}
            }
        }
    }
    let graph = DependencyGraph::new(after.iter().map(|(k, s)| (*k, s.dependencies.clone())));
    for cycle in graph.cycles() {
        problems.push(Problem::new(
            "cycle",
            cycle.first().map(String::as_str),
            format!("dependency cycle: {}", format_cycle(&cycle)),
            "remove one of the dependencies to break the cycle",
        ));
    }
    problems
}

/// For each step, the keys of the steps it must wait for. Computed from the steps alone (the
/// live flags the order depends on are the steps' own `live` snapshots), so that `apply` can
/// recompute it from a saved plan.
pub(crate) fn waits<F: VendorFlag>(steps: &[Step<F>]) -> BTreeMap<String, BTreeSet<String>> {
    let by_key: BTreeMap<&str, &Step<F>> = steps.iter().map(|s| (s.key.as_str(), s)).collect();
    let mut waits: BTreeMap<String, BTreeSet<String>> = steps
        .iter()
        .map(|s| (s.key.clone(), BTreeSet::new()))
        .collect();
    for step in steps {
        if step.action == Action::Delete {
            continue;
        }
        let writes_enabled = step.desired.as_ref().is_some_and(F::is_enabled);
        for target in step.dependencies() {
            let Some(dep) = by_key.get(target.as_str()) else {
                continue;
            };
            let needed = dep.action == Action::Create
                || (writes_enabled
                    && dep.action == Action::Update
                    && dep.desired.as_ref().is_some_and(F::is_enabled));
            if needed && target != step.key {
                waits.entry(step.key.clone()).or_default().insert(target);
            }
        }
    }
    for step in steps {
        let switched_off = step.action == Action::Delete || step.disables();
        if !switched_off {
            continue;
        }
        for dependent in steps {
            let Some(live) = &dependent.live else {
                continue;
            };
            if dependent.key != step.key
                && live.flag.is_enabled()
                && live.flag.dependencies().contains(&step.key)
            {
                waits
                    .entry(step.key.clone())
                    .or_default()
                    .insert(dependent.key.clone());
            }
        }
    }
    waits
}

/// The level of each step, or the problems that make the steps impossible to order.
pub(super) fn levels<F: VendorFlag>(
    steps: &[Step<F>],
) -> Result<BTreeMap<String, usize>, Vec<Problem>> {
    let waits = waits(steps);
    let graph = DependencyGraph::new(waits);
    let Some(levels) = graph.levels() else {
        return Err(graph
            .cycles()
            .into_iter()
            .map(|cycle| {
                Problem::new(
                    "order",
                    cycle.first().map(String::as_str),
                    format!("the steps cannot be ordered: {}", format_cycle(&cycle)),
                    "split the change into two plans",
                )
            })
            .collect());
    };
    Ok(levels
        .into_iter()
        .enumerate()
        .flat_map(|(level, keys)| keys.into_iter().map(move |k| (k, level)))
        .collect())
}
