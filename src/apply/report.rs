//! What an apply did: one entry per plan step, the flags it left untouched, and warnings.
//!
//! A value (serde-serializable); `render::apply` prints it as text, JSON or markdown. Its
//! changes name the fields of the vendor's model `K` (`VendorFlag::Field`, PostHog's by
//! default).

use serde::Serialize;

use crate::plan::{Action, Change};
use crate::vendor::posthog::Field;

/// The result of an apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report<K = Field> {
    /// Every step of the plan with its outcome, in plan order.
    pub steps: Vec<StepReport<K>>,
    /// Flags of the repository that were already in sync (not touched), sorted.
    pub untouched: Vec<String>,
    /// Things to look at that did not fail the apply (fields the server normalised when it
    /// stored a write, a re-read that failed or was not made), sorted by flag.
    pub warnings: Vec<Warning<K>>,
}

/// One step and what happened to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport<K = Field> {
    /// The flag key.
    pub key: String,
    /// What the plan wanted.
    pub action: Action,
    /// The plan's level.
    pub level: usize,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome<K>,
    /// The plan's field-level changes (updates), for the reports to say what changed (the
    /// JSON report leaves them to the plan).
    #[serde(skip)]
    pub changes: Vec<Change<K>>,
}

/// What happened to one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome<K = Field> {
    /// Done (or found already done after a lost answer: see `note`).
    Applied {
        /// How it was confirmed, when not by the server's answer.
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// The flag was already as the step wants it: nothing was sent (a re-run).
        #[serde(rename = "already_applied", skip_serializing_if = "std::ops::Not::not")]
        already: bool,
    },
    /// Not done, or not as written (see `code`: `lost` was written and then found otherwise
    /// when read back, `outcome_unknown` may have been written).
    Failed {
        /// Why, as a stable code.
        code: FailureCode,
        /// Why, in a sentence.
        reason: String,
        /// The change request opened instead (`approval_required`).
        #[serde(skip_serializing_if = "Option::is_none")]
        change_request: Option<String>,
        /// What differs from what was written (`lost`; written → found).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        changes: Vec<Change<K>>,
    },
    /// Not attempted because a step it depends on did not succeed.
    Skipped {
        /// The step this one waited for directly.
        after: String,
        /// The failed step at the root of it.
        failed: String,
    },
}

/// Why a step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// The live flag changed since the plan was made (precondition, or the server's 409).
    Changed,
    /// The change needs approval; a change request was opened.
    ApprovalRequired,
    /// The server refused the content.
    Invalid,
    /// Rate limits, 5xx or transport errors that outlasted the retries; the outcome was
    /// checked and nothing was written.
    Unavailable,
    /// Anything else (authorization, unsupported flag, local state file).
    Error,
    /// Not started, or stopped while it waited (rate limit, request budget, backoff) before
    /// anything was sent, because the apply was interrupted (SIGINT, SIGTERM, SIGHUP).
    Interrupted,
    /// The apply was interrupted while the step's request was on the wire, and the answer
    /// did not come within the grace period (or a lost answer was not yet checked): it may
    /// or may not have been applied.
    OutcomeUnknown,
    /// Written, but the flag read back afterwards is not as written: deleted, re-created or
    /// changed by someone else (a concurrent apply, a person) or not kept by the server.
    Lost,
}

/// Something to look at after an apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning<K = Field> {
    /// The flag concerned, if one.
    pub key: Option<String>,
    /// One sentence.
    pub message: String,
    /// The differences found (desired → live), when the server changed fields on its own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change<K>>,
}

/// Counts of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Steps done, including those found already done (`already_applied`).
    pub applied: usize,
    /// Of `applied`, the steps found already done: nothing was sent for them.
    pub already_applied: usize,
    /// Steps that failed.
    pub failed: usize,
    /// Steps not attempted.
    pub skipped: usize,
    /// Flags already in sync.
    pub untouched: usize,
}

impl<K> Report<K> {
    /// Whether every step was applied.
    pub fn succeeded(&self) -> bool {
        self.steps
            .iter()
            .all(|s| matches!(s.outcome, Outcome::Applied { .. }))
    }

    /// How many steps of `action` were applied.
    pub fn applied(&self, action: Action) -> usize {
        self.steps
            .iter()
            .filter(|s| s.action == action && matches!(s.outcome, Outcome::Applied { .. }))
            .count()
    }

    /// The counts.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts {
            untouched: self.untouched.len(),
            ..Counts::default()
        };
        for step in &self.steps {
            match step.outcome {
                Outcome::Applied { already, .. } => {
                    counts.applied += 1;
                    counts.already_applied += usize::from(already);
                }
                Outcome::Failed { .. } => counts.failed += 1,
                Outcome::Skipped { .. } => counts.skipped += 1,
            }
        }
        counts
    }
}

impl<K> Outcome<K> {
    /// Done by this apply (`note`: how it was confirmed, when not by the server's answer).
    pub(crate) fn applied(note: Option<&str>) -> Self {
        Outcome::Applied {
            note: note.map(str::to_owned),
            already: false,
        }
    }

    /// Found already done: nothing was sent.
    pub(crate) fn already(note: &str) -> Self {
        Outcome::Applied {
            note: Some(note.to_owned()),
            already: true,
        }
    }

    /// A failure with `code` and `reason`.
    pub(crate) fn failed(code: FailureCode, reason: impl Into<String>) -> Self {
        Outcome::Failed {
            code,
            reason: reason.into(),
            change_request: None,
            changes: Vec::new(),
        }
    }
}
