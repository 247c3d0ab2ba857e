//! Apply: carry out a plan's steps against a backend, level by level.
//!
//! The plan is executed as reviewed; nothing is re-diffed.
//!
//! 1. The live state is read once (one list) to check every step's precondition (`step`).
//! 2. Levels run in order; the steps of one level run concurrently, at most
//!    `Options::concurrency` at a time. A step whose prerequisite (`Plan::prerequisites`) did
//!    not succeed is skipped, and so, transitively, are its own dependents; unrelated steps go
//!    on. Creating a flag teaches the adapter its id, so dependents created in a later level
//!    are written with it. Before each later level the backend may read the live state again
//!    (`Backend::refresh`: one list for Mixpanel, whose preconditions are checked against the
//!    adapter's latest read; nothing for PostHog, which refuses stale versions itself); if that
//!    read fails, the level's steps are not applied.
//! 3. The flags written are read back (one list) and compared with the desired state. A flag
//!    not as written (gone, back, or different from the server's own answer to the write) is
//!    a failed step (`lost`): someone else changed it since, or the server did not keep the
//!    write; which of them cannot be known from here. A field the server's answer to the write
//!    already had differently is the server normalising what it stored: a warning.
//! 4. A stop (`Options::stop`, set on SIGINT, SIGTERM, SIGHUP) starts no further step, ends
//!    the waits of the steps that wait (nothing is sent), gives requests on the wire
//!    `Options::grace` to finish, and skips the read back; the report still comes.
//!
//! Pacing (request budgets, 429 `Retry-After`) and repeats of reads belong to the adapters'
//! request paths; the repeat of a write whose outcome is unknown belongs here (`step`).
//!
//! Apply is generic over the backend and so over its flag model (`Backend::Flag`, a
//! `model::VendorFlag`): the report's changes name that model's fields.

mod report;
mod step;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;

use crate::backend::pacing::{RetryPolicy, Waits};
use crate::backend::{Backend, BackendError, LiveFlag, LiveState};
use crate::model::VendorFlag;
use crate::plan::{Action, Change, Plan, Revision, Step, drift};
use crate::vendor::posthog::Field;

pub use report::{Counts, FailureCode, Outcome, Report, StepReport, Warning};

/// How to apply.
#[derive(Debug, Clone)]
pub struct Options {
    /// Most steps of one level in flight at once (at least 1).
    pub concurrency: usize,
    /// Repeats of writes whose outcome was unknown (after checking).
    pub retry: RetryPolicy,
    /// Turned `true` (by a signal handler) to stop: no further step starts, the steps waiting
    /// (rate limit, request budget) stop waiting and send nothing, the requests on the wire
    /// get `grace` to finish; the report still comes.
    pub stop: Option<watch::Receiver<bool>>,
    /// How long requests on the wire may take to finish once stopped.
    pub grace: Duration,
}

impl Options {
    /// The default number of steps in flight.
    pub const CONCURRENCY: u16 = 4;
    /// The default grace period for requests on the wire after a stop.
    pub const GRACE: Duration = Duration::from_secs(5);
}

impl Default for Options {
    fn default() -> Self {
        Options {
            concurrency: usize::from(Self::CONCURRENCY),
            retry: RetryPolicy::default(),
            stop: None,
            grace: Self::GRACE,
        }
    }
}

/// Told about the apply as it goes (a progress bar, log lines).
pub trait Progress<K = Field>: Sync {
    /// The apply starts `total` steps.
    fn started(&self, _total: usize) {}
    /// One step ended (applied, failed or skipped).
    fn finished(&self, _step: &StepReport<K>) {}
}

/// A `Progress` that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl<K> Progress<K> for Quiet {}

/// The field type of a backend's flag model: what its changes name.
type FieldOf<B> = <<B as Backend>::Flag as VendorFlag>::Field;

/// How a piece of work under a stop ended.
enum Guarded<T> {
    /// It finished (before or after the stop).
    Done(T),
    /// Stopped while it waited: nothing more was sent.
    Parked,
    /// Stopped, and a request was still on the wire after the grace period.
    OnTheWire,
}

/// Run `work` in its own pacer scope; once `options.stop` turns, waits end at once and a
/// request on the wire has `options.grace` to finish.
async fn guarded<F: Future>(work: F, options: &Options) -> Guarded<F::Output> {
    let Some(stop) = &options.stop else {
        return Guarded::Done(work.await);
    };
    let waits = Waits::new(stop.clone());
    let work = waits.scope(work);
    tokio::pin!(work);
    tokio::select! {
        out = &mut work => return Guarded::Done(out),
        () = waits.cancelled() => {}
    }
    tokio::select! {
        out = &mut work => Guarded::Done(out),
        () = waits.parked() => Guarded::Parked,
        () = tokio::time::sleep(options.grace) => {
            if waits.on_wire() { Guarded::OnTheWire } else { Guarded::Parked }
        }
    }
}

fn stopped(options: &Options) -> bool {
    options.stop.as_ref().is_some_and(|s| *s.borrow())
}

/// The advice after a conflict or a lost change.
pub fn rerun(environment: &str) -> String {
    format!("re-run `flagops plan --env {environment}`")
}

/// Apply `plan` to `backend`. Fails (having changed nothing) only if the live state cannot
/// be read first; every step's own failure is in the report.
pub async fn run<B: Backend>(
    plan: &Plan<B::Flag>,
    backend: &B,
    options: &Options,
    progress: &dyn Progress<FieldOf<B>>,
) -> Result<Report<FieldOf<B>>, BackendError> {
    run_from(plan, None, backend, options, progress).await
}

/// [`run`], checking the steps against `fresh` instead of reading the live state first when
/// the plan was made from it a moment ago (no pause for a confirmation in between): one read
/// fewer, which counts where the service allows few (Mixpanel).
pub async fn run_from<B: Backend>(
    plan: &Plan<B::Flag>,
    fresh: Option<LiveState<B::Flag>>,
    backend: &B,
    options: &Options,
    progress: &dyn Progress<FieldOf<B>>,
) -> Result<Report<FieldOf<B>>, BackendError> {
    progress.started(plan.steps.len());
    let not_started = || {
        Outcome::failed(
            FailureCode::Interrupted,
            "not started: the apply was interrupted; nothing was changed for this flag",
        )
    };
    let listed = match fresh {
        Some(fresh) => Guarded::Done(Ok(fresh)),
        None => guarded(backend.list(), options).await,
    };
    let current = match listed {
        Guarded::Done(current) => current?,
        Guarded::Parked | Guarded::OnTheWire => {
            let steps: Vec<StepReport<FieldOf<B>>> = plan
                .steps
                .iter()
                .map(|step| report_of(step, not_started()))
                .collect();
            for step in &steps {
                progress.finished(step);
            }
            return Ok(Report {
                steps,
                untouched: plan.unchanged.clone(),
                warnings: Vec::new(),
            });
        }
    };
    let rerun = rerun(&plan.metadata.environment);
    let prerequisites = plan.prerequisites();
    let mut outcomes: BTreeMap<&str, Outcome<FieldOf<B>>> = BTreeMap::new();
    let mut written: BTreeMap<&str, LiveFlag<B::Flag>> = BTreeMap::new();
    for (n, level) in plan.levels().into_iter().enumerate() {
        // A later level first reads the live state again where the service wants it (one
        // read per level, not per flag); a failed read fails that level's steps.
        let unread = if n == 0 || stopped(options) {
            None
        } else {
            match guarded(backend.refresh(), options).await {
                Guarded::Done(Ok(())) => None,
                Guarded::Done(Err(e)) => Some(Outcome::failed(
                    FailureCode::Unavailable,
                    format!(
                        "not applied: the live flags could not be read again before this level: {e}"
                    ),
                )),
                Guarded::Parked | Guarded::OnTheWire => Some(not_started()),
            }
        };
        let mut runnable = Vec::new();
        for step in level {
            match blocked(step, &prerequisites, &outcomes).or_else(|| unread.clone()) {
                Some(outcome) => {
                    progress.finished(&report_of(step, outcome.clone()));
                    outcomes.insert(&step.key, outcome);
                }
                None => runnable.push(step),
            }
        }
        let current = &current;
        let rerun = rerun.as_str();
        let done: Vec<_> = futures_util::stream::iter(runnable)
            .map(|step| async move {
                let (outcome, seen) = if stopped(options) {
                    (not_started(), None)
                } else {
                    run_step(step, backend, current, options, rerun).await
                };
                progress.finished(&report_of(step, outcome.clone()));
                (step.key.as_str(), outcome, seen)
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        for (key, outcome, seen) in done {
            outcomes.insert(key, outcome);
            if let Some(seen) = seen {
                written.insert(key, seen);
            }
        }
    }
    let warnings = verify(plan, &mut outcomes, &written, backend, options, &rerun).await;
    let steps: Vec<StepReport<FieldOf<B>>> = plan
        .steps
        .iter()
        .map(|step| {
            let outcome = outcomes
                .remove(step.key.as_str())
                .unwrap_or_else(|| Outcome::failed(FailureCode::Error, "the step did not run"));
            report_of(step, outcome)
        })
        .collect();
    Ok(Report {
        steps,
        untouched: plan.unchanged.clone(),
        warnings,
    })
}

/// One step under the stop: a step stopped while it waited sent nothing (or nothing that
/// was kept: a 429 does nothing); one whose write is still on the wire, or whose lost
/// answer was not checked yet, may have been applied.
async fn run_step<B: Backend>(
    step: &Step<B::Flag>,
    backend: &B,
    current: &LiveState<B::Flag>,
    options: &Options,
    rerun: &str,
) -> (Outcome<FieldOf<B>>, Option<LiveFlag<B::Flag>>) {
    let uncertain = AtomicBool::new(false);
    let context = step::Context {
        retry: &options.retry,
        rerun,
        uncertain: &uncertain,
        stop: options.stop.as_ref(),
    };
    let unknown = |why: &str| step::unknown(why, rerun);
    match guarded(step::execute(step, backend, current, &context), options).await {
        Guarded::Done(done) => done,
        Guarded::Parked if uncertain.load(Ordering::SeqCst) => (unknown(step::UNCHECKED), None),
        Guarded::Parked => (
            Outcome::failed(
                FailureCode::Interrupted,
                "interrupted while it waited (rate limit or request budget); nothing was changed for this flag (a request answered 429 is not carried out)",
            ),
            None,
        ),
        Guarded::OnTheWire => (
            unknown(&format!(
                "while its request was on the wire, and no answer came within {} s",
                options.grace.as_secs()
            )),
            None,
        ),
    }
}

fn report_of<F: VendorFlag>(step: &Step<F>, outcome: Outcome<F::Field>) -> StepReport<F::Field> {
    StepReport {
        key: step.key.clone(),
        action: step.action,
        level: step.level,
        outcome,
        changes: step.changes.clone(),
    }
}

/// `Skipped` if a prerequisite of `step` did not succeed (the first, by key).
fn blocked<F: VendorFlag>(
    step: &Step<F>,
    prerequisites: &BTreeMap<String, BTreeSet<String>>,
    outcomes: &BTreeMap<&str, Outcome<F::Field>>,
) -> Option<Outcome<F::Field>> {
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

/// Read the written flags back (one list) and compare them with what the server answered to
/// each write. A flag not as written is a failed step (`lost`); fields the server
/// normalised when it stored the write (its answer already had them) are a warning.
async fn verify<'a, B: Backend>(
    plan: &'a Plan<B::Flag>,
    outcomes: &mut BTreeMap<&'a str, Outcome<FieldOf<B>>>,
    written: &BTreeMap<&str, LiveFlag<B::Flag>>,
    backend: &B,
    options: &Options,
    rerun: &str,
) -> Vec<Warning<FieldOf<B>>> {
    let sent: Vec<&'a Step<B::Flag>> = plan
        .steps
        .iter()
        .filter(|s| {
            matches!(
                outcomes.get(s.key.as_str()),
                Some(Outcome::Applied { already: false, .. })
            )
        })
        .collect();
    if sent.is_empty() {
        return Vec::new();
    }
    let unconfirmed = |why: String| {
        vec![Warning {
            key: None,
            message: format!("{why}; {rerun} to see what is live"),
            changes: Vec::new(),
        }]
    };
    let interrupted = || {
        unconfirmed(
            "the apply was interrupted: the flags written were not read back to confirm them"
                .to_owned(),
        )
    };
    if stopped(options) {
        return interrupted();
    }
    let live = match guarded(backend.list(), options).await {
        Guarded::Done(Ok(live)) => live,
        Guarded::Done(Err(e)) => {
            return unconfirmed(format!(
                "the flags could not be read back to confirm the apply: {e}"
            ));
        }
        Guarded::Parked | Guarded::OnTheWire => return interrupted(),
    };
    let mut warnings = Vec::new();
    for step in sent {
        // A flag the service put away on delete (Mixpanel) is still listed: gone, for a delete.
        let found = live
            .get(&step.key)
            .filter(|f| step.action != Action::Delete || !f.flag.is_archived());
        let lost = |what: String, changes: Vec<Change<FieldOf<B>>>| Outcome::Failed {
            code: FailureCode::Lost,
            reason: format!(
                "written, but when read back after the apply the flag {what}: deleted or changed since by someone else (another apply, a person), or the server did not keep the write; {rerun}"
            ),
            change_request: None,
            changes,
        };
        let verdict = match (step.action, found, &step.desired) {
            (Action::Delete, Some(found), _) => {
                Some(lost(format!("was live (id {})", found.id), Vec::new()))
            }
            (Action::Delete, None, _) | (_, _, None) => None,
            (_, None, Some(_)) => Some(lost("was not live".to_owned(), Vec::new())),
            (_, Some(found), Some(desired)) => {
                let changes = drift(desired, &found.flag);
                let answered = written.get(step.key.as_str());
                // Unchanged since the server's answer: same id and token (every write changes
                // it), or, for a backend without tokens, the same content.
                let as_answered = answered.is_some_and(|a| {
                    a.id == found.id && Revision::of(a).still_as_answered(&Revision::of(found))
                });
                if changes.is_empty() {
                    None
                } else if as_answered {
                    // The server's own answer to the write already had these values: it
                    // normalised the flag as it stored it.
                    warnings.push(Warning {
                        key: Some(step.key.clone()),
                        message: "the server stored some fields differently from how they were written (its answer to the write already had them)".to_owned(),
                        changes,
                    });
                    None
                } else {
                    let version = match (answered.and_then(|a| a.token.as_ref()), &found.token) {
                        (Some(a), Some(b)) if a != b => format!(" (version {a} → {b})"),
                        _ => String::new(),
                    };
                    Some(lost(
                        format!("differed from what was written{version}"),
                        changes,
                    ))
                }
            }
        };
        if let Some(outcome) = verdict {
            outcomes.insert(step.key.as_str(), outcome);
        }
    }
    warnings.sort_by(|a, b| a.key.cmp(&b.key));
    warnings
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vendor_tests;
