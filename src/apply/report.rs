//! What an apply did: one entry per plan step, the flags it left untouched, and warnings.
//!
//! A value (serde-serializable); `render::apply` prints it as text, JSON or markdown.

use serde::Serialize;

use crate::plan::{Action, Change};

/// The result of an apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Every step of the plan with its outcome, in plan order.
    pub steps: Vec<StepReport>,
    /// Flags of the repository that were already in sync (not touched), sorted.
    pub untouched: Vec<String>,
    /// Things to look at that did not fail the apply (fields the server changed on its own,
    /// a re-read that failed), sorted by flag.
    pub warnings: Vec<Warning>,
}

/// One step and what happened to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    /// The flag key.
    pub key: String,
    /// What the plan wanted.
    pub action: Action,
    /// The plan's level.
    pub level: usize,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What happened to one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Done (or found already done after a lost answer: see `note`).
    Applied {
        /// How it was confirmed, when not by the server's answer.
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Not done; nothing was changed for this flag.
    Failed {
        /// Why, as a stable code.
        code: FailureCode,
        /// Why, in a sentence.
        reason: String,
        /// The change request opened instead (`approval_required`).
        #[serde(skip_serializing_if = "Option::is_none")]
        change_request: Option<String>,
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
    /// Not started because the apply was interrupted (Ctrl-C).
    Interrupted,
}

/// Something to look at after an apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    /// The flag concerned, if one.
    pub key: Option<String>,
    /// One sentence.
    pub message: String,
    /// The differences found (desired → live), when the server changed fields on its own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

/// Counts of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Steps done.
    pub applied: usize,
    /// Steps that failed.
    pub failed: usize,
    /// Steps not attempted.
    pub skipped: usize,
    /// Flags already in sync.
    pub untouched: usize,
}

impl Report {
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
                Outcome::Applied { .. } => counts.applied += 1,
                Outcome::Failed { .. } => counts.failed += 1,
                Outcome::Skipped { .. } => counts.skipped += 1,
            }
        }
        counts
    }
}

impl Outcome {
    /// A failure with `code` and `reason`.
    pub(crate) fn failed(code: FailureCode, reason: impl Into<String>) -> Self {
        Outcome::Failed {
            code,
            reason: reason.into(),
            change_request: None,
        }
    }
}
