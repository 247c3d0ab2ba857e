//! The environment's policy over a plan: `prune`, `protect` and `max_deletes`.
//!
//! One decision, used twice: [`build`](super::build) refuses a plan that breaks it, and
//! `apply` refuses a saved plan that breaks it (a plan file edited by hand), each wording the
//! [`Violation`]s in its own terms.

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::{Action, Problem, Step};
use crate::config::Environment;
use crate::model::VendorFlag;

/// The policy of one environment, its `protect` patterns compiled.
#[derive(Debug, Clone)]
pub struct Policy {
    protect: GlobSet,
    prune: bool,
    max_deletes: Option<u32>,
}

/// How a plan's steps break the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation<'a> {
    /// A delete although `prune` is off.
    DeleteWithoutPrune {
        /// The flag.
        key: &'a str,
    },
    /// A delete of a protected flag.
    DeleteProtected {
        /// The flag.
        key: &'a str,
    },
    /// An update that disables a protected flag.
    DisableProtected {
        /// The flag.
        key: &'a str,
    },
    /// More deletes than `max_deletes`.
    TooManyDeletes {
        /// The flags deleted, in step order.
        keys: Vec<&'a str>,
        /// `max_deletes`.
        max: u32,
    },
}

impl Policy {
    /// Compile the environment's policy; an invalid `protect` pattern is a `config` problem.
    pub fn new(environment: &Environment) -> Result<Self, Problem> {
        let mut builder = GlobSetBuilder::new();
        for pattern in &environment.protect {
            let glob = Glob::new(pattern).map_err(|e| {
                Problem::new(
                    "config",
                    None,
                    format!("invalid `protect` pattern `{pattern}`: {}", e.kind()),
                    "",
                )
            })?;
            builder.add(glob);
        }
        let protect = builder.build().map_err(|e| {
            Problem::new(
                "config",
                None,
                format!("invalid `protect` patterns: {e}"),
                "",
            )
        })?;
        Ok(Policy {
            protect,
            prune: environment.prune,
            max_deletes: environment.max_deletes,
        })
    }

    /// Whether `key` matches a `protect` pattern.
    pub fn is_protected(&self, key: &str) -> bool {
        self.protect.is_match(key)
    }

    /// Whether live flags outside the repository are deleted.
    pub fn prunes(&self) -> bool {
        self.prune
    }

    /// Every way `steps` break the policy, in this order: deletes without `prune`, deletes
    /// of protected flags, protected flags disabled (each in step order), too many deletes.
    pub fn violations<'a, F: VendorFlag>(&self, steps: &'a [Step<F>]) -> Vec<Violation<'a>> {
        let deletes: Vec<&str> = steps
            .iter()
            .filter(|s| s.action == Action::Delete)
            .map(|s| s.key.as_str())
            .collect();
        let mut out = Vec::new();
        if !self.prune {
            out.extend(
                deletes
                    .iter()
                    .map(|&key| Violation::DeleteWithoutPrune { key }),
            );
        }
        out.extend(
            deletes
                .iter()
                .filter(|k| self.is_protected(k))
                .map(|&key| Violation::DeleteProtected { key }),
        );
        out.extend(
            steps
                .iter()
                .filter(|s| s.action == Action::Update && s.disables() && self.is_protected(&s.key))
                .map(|s| Violation::DisableProtected { key: &s.key }),
        );
        if let Some(max) = self.max_deletes
            && deletes.len() > max as usize
        {
            out.push(Violation::TooManyDeletes { keys: deletes, max });
        }
        out
    }
}

impl Violation<'_> {
    /// The violation as a reason to refuse a plan.
    pub fn problem(&self) -> Problem {
        match self {
            Violation::DeleteWithoutPrune { key } => Problem::new(
                "protected",
                Some(key),
                format!("the plan deletes `{key}` but `prune` is off in this environment"),
                "add the flag back to the repository, or turn `prune` on",
            ),
            Violation::DeleteProtected { key } => Problem::new(
                "protected",
                Some(key),
                format!("`{key}` is protected in this environment and cannot be deleted"),
                "add the flag back to the repository, or remove the key from `protect` in the config",
            ),
            Violation::DisableProtected { key } => Problem::new(
                "protected",
                Some(key),
                format!("`{key}` is protected in this environment and cannot be disabled"),
                "keep it enabled, or remove the key from `protect` in the config",
            ),
            Violation::TooManyDeletes { keys, max } => Problem::new(
                "max-deletes",
                None,
                format!(
                    "the plan deletes {} flags ({}); `max_deletes` for this environment is {max}",
                    keys.len(),
                    keys.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "add the flags back to the repository, protect them, or raise `max_deletes`",
            ),
        }
    }
}
