//! Apply: carry out a plan's steps against a backend, level by level.
//!
//! The plan is executed as reviewed; nothing is re-diffed.
//!
//! 1. The live state is read once (one list) to check every step's precondition (`step`).
//! 2. Levels run in order; the steps of one level run concurrently, at most
//!    `Options::concurrency` at a time. A step whose prerequisite (`Plan::prerequisites`) did
//!    not succeed is skipped, and so, transitively, are its own dependents; unrelated steps go
//!    on. Creating a flag teaches the adapter its id, so dependents created in a later level
//!    are written with it.
//! 3. The flags written are read back (one list) and compared with the desired state; any
//!    field the server changed on its own becomes a warning.
//!
//! Pacing (request budgets, 429 `Retry-After`) and repeats of reads belong to the adapters'
//! request paths; the repeat of a write whose outcome is unknown belongs here (`step`).

mod report;
mod step;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;

use crate::backend::pacing::RetryPolicy;
use crate::backend::{Backend, BackendError};
use crate::plan::{Action, Change, Plan, Step, drift};

pub use report::{Counts, FailureCode, Outcome, Report, StepReport, Warning};

/// How to apply.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Most steps of one level in flight at once (at least 1).
    pub concurrency: usize,
    /// Repeats of writes whose outcome was unknown (after checking).
    pub retry: RetryPolicy,
    /// Set (by a Ctrl-C handler) to start no further step: the steps in flight finish and
    /// the rest are reported as interrupted.
    pub stop: Option<&'static AtomicBool>,
}

impl Options {
    /// The default number of steps in flight.
    pub const CONCURRENCY: u16 = 4;
}

impl Default for Options {
    fn default() -> Self {
        Options {
            concurrency: usize::from(Self::CONCURRENCY),
            retry: RetryPolicy::default(),
            stop: None,
        }
    }
}

/// Told about the apply as it goes (a progress bar, log lines).
pub trait Progress: Sync {
    /// The apply starts `total` steps.
    fn started(&self, _total: usize) {}
    /// One step ended (applied, failed or skipped).
    fn finished(&self, _step: &StepReport) {}
}

/// A `Progress` that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {}

/// Apply `plan` to `backend`. Fails (having changed nothing) only if the live state cannot
/// be read first; every step's own failure is in the report.
pub async fn run<B: Backend>(
    plan: &Plan,
    backend: &B,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Report, BackendError> {
    progress.started(plan.steps.len());
    let current = backend.list().await?;
    let prerequisites = plan.prerequisites();
    let mut outcomes: BTreeMap<&str, Outcome> = BTreeMap::new();
    for level in plan.levels() {
        let mut runnable = Vec::new();
        for step in level {
            match blocked(step, &prerequisites, &outcomes) {
                Some(outcome) => {
                    progress.finished(&report_of(step, outcome.clone()));
                    outcomes.insert(&step.key, outcome);
                }
                None => runnable.push(step),
            }
        }
        let current = &current;
        let done: Vec<(&str, Outcome)> = futures_util::stream::iter(runnable)
            .map(|step| async move {
                let outcome = if options.stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                    Outcome::failed(
                        FailureCode::Interrupted,
                        "not started: the apply was interrupted; nothing was changed for this flag",
                    )
                } else {
                    step::execute(step, backend, current, &options.retry).await
                };
                progress.finished(&report_of(step, outcome.clone()));
                (step.key.as_str(), outcome)
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        outcomes.extend(done);
    }
    let steps: Vec<StepReport> = plan
        .steps
        .iter()
        .map(|step| {
            let outcome = outcomes
                .remove(step.key.as_str())
                .unwrap_or_else(|| Outcome::failed(FailureCode::Error, "the step did not run"));
            report_of(step, outcome)
        })
        .collect();
    let warnings = verify(plan, &steps, backend).await;
    Ok(Report {
        steps,
        untouched: plan.unchanged.clone(),
        warnings,
    })
}

fn report_of(step: &Step, outcome: Outcome) -> StepReport {
    StepReport {
        key: step.key.clone(),
        action: step.action,
        level: step.level,
        outcome,
    }
}

/// `Skipped` if a prerequisite of `step` did not succeed (the first, by key).
fn blocked(
    step: &Step,
    prerequisites: &BTreeMap<String, BTreeSet<String>>,
    outcomes: &BTreeMap<&str, Outcome>,
) -> Option<Outcome> {
    for before in prerequisites.get(&step.key).into_iter().flatten() {
        match outcomes.get(before.as_str()) {
            Some(Outcome::Failed { .. }) => {
                return Some(Outcome::Skipped {
                    after: before.clone(),
                    failed: before.clone(),
                });
            }
            Some(Outcome::Skipped { failed, .. }) => {
                return Some(Outcome::Skipped {
                    after: before.clone(),
                    failed: failed.clone(),
                });
            }
            Some(Outcome::Applied { .. }) | None => {}
        }
    }
    None
}

/// Read the written flags back (one list) and compare them with the desired state.
async fn verify<B: Backend>(plan: &Plan, steps: &[StepReport], backend: &B) -> Vec<Warning> {
    let applied: BTreeSet<&str> = steps
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Applied { .. }))
        .map(|s| s.key.as_str())
        .collect();
    if applied.is_empty() {
        return Vec::new();
    }
    let live = match backend.list().await {
        Ok(live) => live,
        Err(e) => {
            return vec![Warning {
                key: None,
                message: format!("the flags could not be read back to confirm the apply: {e}"),
                changes: Vec::new(),
            }];
        }
    };
    let mut warnings = Vec::new();
    for step in plan
        .steps
        .iter()
        .filter(|s| applied.contains(s.key.as_str()))
    {
        let found = live.get(&step.key);
        let warning = |message: &str, changes: Vec<Change>| Warning {
            key: Some(step.key.clone()),
            message: message.to_owned(),
            changes,
        };
        match (step.action, found, &step.desired) {
            (Action::Delete, Some(_), _) => {
                warnings.push(warning(
                    "the flag is still live after it was deleted",
                    Vec::new(),
                ));
            }
            (Action::Delete, None, _) | (_, _, None) => {}
            (_, None, Some(_)) => {
                warnings.push(warning("the flag is not live after the apply", Vec::new()));
            }
            (_, Some(found), Some(desired)) => {
                let changes = drift(desired, &found.flag);
                if !changes.is_empty() {
                    warnings.push(warning(
                        "the server changed the flag on its own after it was written",
                        changes,
                    ));
                }
            }
        }
    }
    warnings.sort_by(|a, b| a.key.cmp(&b.key));
    warnings
}

#[cfg(test)]
mod tests;
