//! One step: its precondition, the call, and what to do when the call's outcome is unknown.
//!
//! - Precondition: an update or delete only runs if the live flag is still the one the plan
//!   saw (same id and `plan::Revision`: concurrency token and fingerprint); a create only if
//!   the key is still free. A flag found already as desired (created, or updated since the
//!   plan) counts as applied (re-running converges).
//! - A 5xx or transport failure of a write leaves its outcome unknown. Before anything is sent
//!   again, the flag is read back (`Backend::get`): a create that went through is never sent
//!   twice, an update is repeated only if the flag is still the revision it was sent against.
//!   Repeats wait with exponential backoff and jitter (`RetryPolicy`).

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

use crate::backend::pacing::{RetryPolicy, Waits};
use crate::backend::{Backend, BackendError, LiveFlag, LiveState};
use crate::model::VendorFlag;
use crate::plan::{Action, Revision, Step, differences};

use super::FieldOf;
use super::report::{FailureCode, Outcome};

/// What re-reading a flag after an unknown outcome showed.
enum Check<F> {
    /// The write went through; the flag as read back.
    Done(&'static str, Option<Box<LiveFlag<F>>>),
    /// Nothing was written; send again against this live flag (`None` for a create).
    NotDone(Option<Box<LiveFlag<F>>>),
    /// Someone else changed the flag.
    Changed(String),
}

/// What a step needs besides the step: how to repeat, what to tell the user to run, and
/// where to say that a write's outcome is unknown (for an interrupt to report it).
pub(super) struct Context<'a> {
    /// Repeats of writes whose outcome is unknown.
    pub(super) retry: &'a RetryPolicy,
    /// The advice after a conflict: "re-run `flagops plan --env NAME`".
    pub(super) rerun: &'a str,
    /// Set while a write's answer was lost and not yet checked.
    pub(super) uncertain: &'a AtomicBool,
    /// Turns `true` when the apply is stopped: the backoff before a check ends at once.
    pub(super) stop: Option<&'a watch::Receiver<bool>>,
}

/// Why a step stopped after a lost answer has an unknown outcome.
pub(super) const UNCHECKED: &str = "after the answer to its write was lost, before it was checked";

/// A step interrupted (`why`) when a write of it may have reached the server.
pub(super) fn unknown<K>(why: &str, rerun: &str) -> Outcome<K> {
    Outcome::failed(
        FailureCode::OutcomeUnknown,
        format!("interrupted {why}: it may or may not have been applied; {rerun}"),
    )
}

/// Check the step's precondition against `current` (the live state read just before the
/// apply) and run it. Returns the outcome and the flag as the server last showed it (its
/// answer to the write, or a read), for the verification read to compare with.
pub(super) async fn execute<B: Backend>(
    step: &Step<B::Flag>,
    backend: &B,
    current: &LiveState<B::Flag>,
    context: &Context<'_>,
) -> (Outcome<FieldOf<B>>, Option<LiveFlag<B::Flag>>) {
    let found = current.get(&step.key);
    let desired = step.desired.as_ref();
    let rerun = context.rerun;
    let live = match (step.action, found) {
        (Action::Create, None) => None,
        (Action::Create, Some(found)) => {
            return match desired {
                Some(d) if differences(d, &found.flag).is_empty() => (
                    Outcome::already("it already existed as desired"),
                    Some(found.clone()),
                ),
                _ => (
                    Outcome::failed(
                        FailureCode::Changed,
                        format!(
                            "a flag `{}` was created since the plan was made; {rerun}",
                            step.key
                        ),
                    ),
                    None,
                ),
            };
        }
        (Action::Delete, None) => {
            return (Outcome::already("it was already deleted"), None);
        }
        (Action::Update, None) => {
            return (
                Outcome::failed(
                    FailureCode::Changed,
                    format!(
                        "`{}` was deleted since the plan was made; {rerun}",
                        step.key
                    ),
                ),
                None,
            );
        }
        (Action::Update | Action::Delete, Some(found)) => {
            if let Err(why) = unchanged(step, found, rerun) {
                // An update already done (this plan applied before, e.g. a re-run job)
                // converges like a create found done; any other change is a conflict.
                return match desired {
                    Some(d)
                        if step.action == Action::Update
                            && differences(d, &found.flag).is_empty() =>
                    {
                        (
                            Outcome::already("it was already as planned"),
                            Some(found.clone()),
                        )
                    }
                    _ => (Outcome::failed(FailureCode::Changed, why), None),
                };
            }
            Some(found.clone())
        }
    };
    let desired = match (step.action, desired) {
        (Action::Delete, _) => None,
        (_, Some(d)) => Some(d),
        (_, None) => {
            return (
                Outcome::failed(
                    FailureCode::Error,
                    format!("the plan has no desired flag for `{}`", step.key),
                ),
                None,
            );
        }
    };
    perform(step, backend, live, desired, context).await
}

/// Whether `found` is still the flag the plan saw.
fn unchanged<F: VendorFlag>(
    step: &Step<F>,
    found: &LiveFlag<F>,
    rerun: &str,
) -> Result<(), String> {
    let Some(seen) = &step.live else {
        return Err(format!("the plan has no live flag for `{}`", step.key));
    };
    let changed = |detail: String| {
        Err(format!(
            "`{}` changed since the plan was made ({detail}); {rerun}",
            step.key
        ))
    };
    if found.id != seen.id {
        return changed(format!("it was re-created: id {} → {}", seen.id, found.id));
    }
    match seen.revision().change_to(&Revision::of(found)) {
        Some(detail) => changed(detail),
        None => Ok(()),
    }
}

/// Send the step, repeating after unknown outcomes once the flag was checked.
async fn perform<B: Backend>(
    step: &Step<B::Flag>,
    backend: &B,
    mut live: Option<LiveFlag<B::Flag>>,
    desired: Option<&B::Flag>,
    context: &Context<'_>,
) -> (Outcome<FieldOf<B>>, Option<LiveFlag<B::Flag>>) {
    let retry = context.retry;
    let rerun = context.rerun;
    let mut delays = retry.delays();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = match (step.action, &live, desired) {
            (Action::Create, _, Some(d)) => backend.create(d).await.map(Some),
            (Action::Update, Some(l), Some(d)) => backend.update(l, d).await.map(Some),
            (Action::Delete, Some(l), _) => backend.delete(l).await.map(|()| None),
            _ => {
                return (
                    Outcome::failed(
                        FailureCode::Error,
                        format!("the plan's step for `{}` is incomplete", step.key),
                    ),
                    None,
                );
            }
        };
        let error = match result {
            Ok(stored) => return (Outcome::applied(None), stored),
            Err(error) => error,
        };
        if !error.is_outcome_unknown() {
            return (known_failure(step, &error, rerun), None);
        }
        context.uncertain.store(true, Ordering::SeqCst);
        let delay = delays.next();
        let stopped = async {
            match context.stop {
                Some(signal) => Waits::new(signal.clone()).cancelled().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = tokio::time::sleep(delay.unwrap_or(retry.initial_delay)) => {}
            () = stopped => return (unknown(UNCHECKED, rerun), None),
        }
        let checked = check(step, backend, live.as_ref(), desired, rerun).await;
        context.uncertain.store(false, Ordering::SeqCst);
        match checked {
            Ok(Check::Done(note, found)) => {
                return (Outcome::applied(Some(note)), found.map(|f| *f));
            }
            Ok(Check::Changed(why)) => return (Outcome::failed(FailureCode::Changed, why), None),
            Ok(Check::NotDone(now)) if delay.is_some() => live = now.map(|b| *b).or(live),
            Ok(Check::NotDone(_)) => {
                return (
                    Outcome::failed(
                        FailureCode::Unavailable,
                        format!(
                            "{error}; checked: nothing was written; gave up after {attempts} attempts"
                        ),
                    ),
                    None,
                );
            }
            Err(check_error) => {
                return (
                    Outcome::failed(
                        FailureCode::Unavailable,
                        format!(
                            "{error}; whether it was written could not be checked ({check_error}); {rerun}"
                        ),
                    ),
                    None,
                );
            }
        }
    }
}

fn known_failure<F: VendorFlag>(
    step: &Step<F>,
    error: &BackendError,
    rerun: &str,
) -> Outcome<F::Field> {
    match error {
        BackendError::Conflict { .. } => Outcome::failed(
            FailureCode::Changed,
            format!(
                "`{}` changed since the plan was made ({error}); {rerun}",
                step.key
            ),
        ),
        BackendError::NotFound { .. } => Outcome::failed(
            FailureCode::Changed,
            format!(
                "`{}` was deleted since the plan was made; {rerun}",
                step.key
            ),
        ),
        BackendError::ApprovalRequired {
            change_request_id, ..
        } => Outcome::Failed {
            code: FailureCode::ApprovalRequired,
            change_request: Some(change_request_id.clone()),
            reason: error.to_string(),
            changes: Vec::new(),
        },
        BackendError::Invalid { .. } => Outcome::failed(FailureCode::Invalid, error.to_string()),
        BackendError::RateLimited { .. } | BackendError::Server { .. } => {
            Outcome::failed(FailureCode::Unavailable, error.to_string())
        }
        BackendError::Auth(_)
        | BackendError::Unsupported { .. }
        | BackendError::Io(_)
        | BackendError::Transport(_) => Outcome::failed(FailureCode::Error, error.to_string()),
    }
}

/// Read the flag back after an unknown outcome.
async fn check<B: Backend>(
    step: &Step<B::Flag>,
    backend: &B,
    live: Option<&LiveFlag<B::Flag>>,
    desired: Option<&B::Flag>,
    rerun: &str,
) -> Result<Check<B::Flag>, BackendError> {
    let found = backend.get(&step.key).await?;
    let done = "its answer was lost; reading the flag back showed it done";
    Ok(match (step.action, found) {
        (Action::Create, None) => Check::NotDone(None),
        (Action::Delete, None) => Check::Done(done, None),
        (Action::Update, None) => Check::Changed(format!(
            "`{}` was deleted during the apply; {rerun}",
            step.key
        )),
        (_, Some(found)) => {
            if let Some(d) = desired
                && differences(d, &found.flag).is_empty()
            {
                return Ok(Check::Done(done, Some(Box::new(found))));
            }
            match live {
                Some(l) if l.id == found.id && Revision::of(l).is(&Revision::of(&found)) => {
                    Check::NotDone(Some(Box::new(found)))
                }
                _ => Check::Changed(format!(
                    "`{}` was changed during the apply, not by this step (another writer, or the server); {rerun}",
                    step.key
                )),
            }
        }
    })
}
