//! One step: its precondition, the call, and what to do when the call's outcome is unknown.
//!
//! - Precondition: an update or delete only runs if the live flag is still the one the plan
//!   saw (same id, version and fingerprint); a create only if the key is still free. A flag
//!   found already as desired (created, or updated since the plan) counts as applied
//!   (re-running converges).
//! - A 5xx or transport failure of a write leaves its outcome unknown. Before anything is sent
//!   again, the flag is read back (`Backend::get`): a create that went through is never sent
//!   twice, an update is repeated only if the flag still has the version it was sent against.
//!   Repeats wait with exponential backoff and jitter (`RetryPolicy`).

use crate::backend::pacing::RetryPolicy;
use crate::backend::{Backend, BackendError, LiveFlag, LiveState};
use crate::model::Flag;
use crate::model::normalize::normalize;
use crate::plan::{Action, Step, differences, fingerprint};

use super::report::{FailureCode, Outcome};

/// What re-reading a flag after an unknown outcome showed.
enum Check {
    /// The write went through.
    Done(&'static str),
    /// Nothing was written; send again against this live flag (`None` for a create).
    NotDone(Option<Box<LiveFlag>>),
    /// Someone else changed the flag.
    Changed(String),
}

const RERUN: &str = "re-run `flagops plan`";

/// Check the step's precondition against `current` (the live state read just before the
/// apply) and run it. Returns the outcome.
pub(super) async fn execute<B: Backend>(
    step: &Step,
    backend: &B,
    current: &LiveState,
    retry: &RetryPolicy,
) -> Outcome {
    let found = current.get(&step.key);
    let desired = step.desired.as_ref();
    let live = match (step.action, found) {
        (Action::Create, None) => None,
        (Action::Create, Some(found)) => {
            return match desired {
                Some(d) if differences(d, &found.flag).is_empty() => Outcome::Applied {
                    note: Some("it already existed as desired".to_owned()),
                },
                _ => Outcome::failed(
                    FailureCode::Changed,
                    format!(
                        "a flag `{}` was created since the plan was made; {RERUN}",
                        step.key
                    ),
                ),
            };
        }
        (Action::Delete, None) => {
            return Outcome::Applied {
                note: Some("it was already deleted".to_owned()),
            };
        }
        (Action::Update, None) => {
            return Outcome::failed(
                FailureCode::Changed,
                format!(
                    "`{}` was deleted since the plan was made; {RERUN}",
                    step.key
                ),
            );
        }
        (Action::Update | Action::Delete, Some(found)) => {
            if let Err(why) = unchanged(step, found) {
                // An update already done (this plan applied before, e.g. a re-run job)
                // converges like a create found done; any other change is a conflict.
                return match desired {
                    Some(d)
                        if step.action == Action::Update
                            && differences(d, &found.flag).is_empty() =>
                    {
                        Outcome::Applied {
                            note: Some("it was already as planned".to_owned()),
                        }
                    }
                    _ => Outcome::failed(FailureCode::Changed, why),
                };
            }
            Some(found.clone())
        }
    };
    let desired = match (step.action, desired) {
        (Action::Delete, _) => None,
        (_, Some(d)) => Some(d),
        (_, None) => {
            return Outcome::failed(
                FailureCode::Error,
                format!("the plan has no desired flag for `{}`", step.key),
            );
        }
    };
    perform(step, backend, live, desired, retry).await
}

/// Whether `found` is still the flag the plan saw.
fn unchanged(step: &Step, found: &LiveFlag) -> Result<(), String> {
    let Some(seen) = &step.live else {
        return Err(format!("the plan has no live flag for `{}`", step.key));
    };
    let changed = |detail: String| {
        Err(format!(
            "`{}` changed since the plan was made ({detail}); {RERUN}",
            step.key
        ))
    };
    if found.id != seen.id {
        return changed(format!("it was re-created: id {} → {}", seen.id, found.id));
    }
    if found.version != seen.version {
        let show = |v: Option<i64>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
        return changed(format!(
            "version {} → {}",
            show(seen.version),
            show(found.version)
        ));
    }
    if fingerprint(&normalize(&found.flag)) != seen.fingerprint {
        return changed("its content differs".to_owned());
    }
    Ok(())
}

/// Send the step, repeating after unknown outcomes once the flag was checked.
async fn perform<B: Backend>(
    step: &Step,
    backend: &B,
    mut live: Option<LiveFlag>,
    desired: Option<&Flag>,
    retry: &RetryPolicy,
) -> Outcome {
    let mut delays = retry.delays();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = match (step.action, &live, desired) {
            (Action::Create, _, Some(d)) => backend.create(d).await.map(drop),
            (Action::Update, Some(l), Some(d)) => backend.update(l, d).await.map(drop),
            (Action::Delete, Some(l), _) => backend.delete(l).await,
            _ => {
                return Outcome::failed(
                    FailureCode::Error,
                    format!("the plan's step for `{}` is incomplete", step.key),
                );
            }
        };
        let error = match result {
            Ok(()) => return Outcome::Applied { note: None },
            Err(error) => error,
        };
        if !unknown_outcome(&error) {
            return known_failure(step, &error);
        }
        let delay = delays.next();
        tokio::time::sleep(delay.unwrap_or(retry.initial_delay)).await;
        match check(step, backend, live.as_ref(), desired).await {
            Ok(Check::Done(note)) => {
                return Outcome::Applied {
                    note: Some(note.to_owned()),
                };
            }
            Ok(Check::Changed(why)) => return Outcome::failed(FailureCode::Changed, why),
            Ok(Check::NotDone(now)) if delay.is_some() => live = now.map(|b| *b).or(live),
            Ok(Check::NotDone(_)) => {
                return Outcome::failed(
                    FailureCode::Unavailable,
                    format!(
                        "{error}; checked: nothing was written; gave up after {attempts} attempts"
                    ),
                );
            }
            Err(check_error) => {
                return Outcome::failed(
                    FailureCode::Unavailable,
                    format!(
                        "{error}; whether it was written could not be checked ({check_error}); {RERUN}"
                    ),
                );
            }
        }
    }
}

/// A 5xx or a transport failure: the server may or may not have done it.
fn unknown_outcome(error: &BackendError) -> bool {
    matches!(
        error,
        BackendError::Server { status: 500.., .. } | BackendError::Transport(_)
    )
}

fn known_failure(step: &Step, error: &BackendError) -> Outcome {
    match error {
        BackendError::Conflict { .. } => Outcome::failed(
            FailureCode::Changed,
            format!(
                "`{}` changed since the plan was made ({error}); {RERUN}",
                step.key
            ),
        ),
        BackendError::NotFound { .. } => Outcome::failed(
            FailureCode::Changed,
            format!(
                "`{}` was deleted since the plan was made; {RERUN}",
                step.key
            ),
        ),
        BackendError::ApprovalRequired {
            change_request_id, ..
        } => Outcome::Failed {
            code: FailureCode::ApprovalRequired,
            change_request: Some(change_request_id.clone()),
            reason: error.to_string(),
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
    step: &Step,
    backend: &B,
    live: Option<&LiveFlag>,
    desired: Option<&Flag>,
) -> Result<Check, BackendError> {
    let found = backend.get(&step.key).await?;
    let done = "its answer was lost; reading the flag back showed it done";
    Ok(match (step.action, found) {
        (Action::Create, None) => Check::NotDone(None),
        (Action::Delete, None) => Check::Done(done),
        (Action::Update, None) => Check::Changed(format!(
            "`{}` was deleted during the apply; {RERUN}",
            step.key
        )),
        (_, Some(found)) => {
            if let Some(d) = desired
                && differences(d, &found.flag).is_empty()
            {
                return Ok(Check::Done(done));
            }
            match live {
                Some(l) if l.id == found.id && l.version == found.version => {
                    Check::NotDone(Some(Box::new(found)))
                }
                _ => Check::Changed(format!(
                    "`{}` was changed by someone else during the apply; {RERUN}",
                    step.key
                )),
            }
        }
    })
}
