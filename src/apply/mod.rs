//! Apply: carry out a plan's steps against a backend, level by level.
//!
//! This is the simplest correct form: one step at a time, in plan order, stopping at the
//! first failure (the steps not run are reported). The plan is executed as reviewed; nothing
//! is re-diffed. Preconditions are the backend's own: an update or delete sends the version
//! the plan saw, and a flag changed since is refused with `Conflict`.
//!
//! Pacing, bounded concurrency within a level, retries and progress belong here too (issue 5):
//! `run` is the single entry point and `run_step` the single place a step becomes a call.

use crate::backend::{Backend, BackendError, LiveFlag};
use crate::plan::{Action, Plan, Step};

/// What happened to one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Done.
    Applied,
    /// The backend refused or failed.
    Failed(BackendError),
    /// Not attempted because an earlier step failed.
    NotRun,
}

/// The result of an apply: every step with its outcome, in plan order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// (flag key, action, outcome).
    pub steps: Vec<(String, Action, StepOutcome)>,
}

impl Report {
    /// Whether every step was applied.
    pub fn succeeded(&self) -> bool {
        self.steps
            .iter()
            .all(|(_, _, o)| *o == StepOutcome::Applied)
    }

    /// How many steps of `action` were applied.
    pub fn applied(&self, action: Action) -> usize {
        self.steps
            .iter()
            .filter(|(_, a, o)| *a == action && *o == StepOutcome::Applied)
            .count()
    }
}

/// Apply `plan` to `backend`, one step at a time.
pub async fn run<B: Backend>(plan: &Plan, backend: &B) -> Report {
    let mut steps = Vec::new();
    let mut failed = false;
    for level in plan.levels() {
        for step in level {
            let outcome = if failed {
                StepOutcome::NotRun
            } else {
                match run_step(step, backend).await {
                    Ok(()) => StepOutcome::Applied,
                    Err(e) => {
                        failed = true;
                        StepOutcome::Failed(e)
                    }
                }
            };
            steps.push((step.key.clone(), step.action, outcome));
        }
    }
    Report { steps }
}

fn seen(step: &Step) -> Result<LiveFlag, BackendError> {
    let live = step.live.as_ref().ok_or_else(|| BackendError::Invalid {
        key: step.key.clone(),
        detail: "the plan has no live flag for this step".to_owned(),
    })?;
    Ok(LiveFlag {
        id: live.id.clone(),
        flag: live.flag.clone(),
        version: live.version,
    })
}

/// Carry out one step.
pub async fn run_step<B: Backend>(step: &Step, backend: &B) -> Result<(), BackendError> {
    let desired = || {
        step.desired.as_ref().ok_or_else(|| BackendError::Invalid {
            key: step.key.clone(),
            detail: "the plan has no desired flag for this step".to_owned(),
        })
    };
    match step.action {
        Action::Create => backend.create(desired()?).await.map(drop),
        Action::Update => backend.update(&seen(step)?, desired()?).await.map(drop),
        Action::Delete => backend.delete(&seen(step)?).await,
    }
}
