//! The plan: what would change in one environment, in what order, and why.
//!
//! Pure: [`build`] is a function of the desired flags (already resolved for the environment),
//! the live state and the environment's policy. Both sides are normalized
//! (`VendorFlag::normalized`) before they are compared, so a flag in sync never shows a change.
//! On updates, the fields the environment `ignore`s take their live value (never a change).
//! The result is a value: `plan --format json` prints it, `plan --out` saves it, `apply`
//! executes it and never re-diffs.
//!
//! - `diff`: the vocabulary of a field-level change (each vendor's model produces them) and
//!   the comparison of a live flag with its desired form;
//! - `order`: the state after the plan, its dependency checks, and the step levels;
//! - `digest`: fingerprints, the config hash and the masking of secret values;
//! - `policy`: `prune`, `protect` and `max_deletes`, for plans and saved plans;
//! - `revision`: what a step's precondition compares (concurrency token and fingerprint).
//!
//! The plan's types and [`build`] are generic over the vendor's flag model
//! (`model::VendorFlag`, PostHog's `Flag` by default): the vendor gives the diff, the fields
//! an environment may ignore and its secret values; order, policy, revisions and masking are
//! vendor-neutral.
//!
//! The saved document (`format_version` 1) is described in `docs/plan-format.md`.

#![deny(clippy::print_stdout, clippy::print_stderr)]

mod diff;
mod digest;
mod order;
mod policy;
mod revision;
pub mod split;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backend::{LiveFlag, LiveState, Token, Unsupported};
use crate::config::Environment;
use crate::model::VendorFlag;
use crate::vendor::posthog::Flag;

pub use diff::{Change, ChangeOp, Field, diff, differences, drift, pairs};
pub use digest::{ENCRYPTED_SENTINEL, MASK, fingerprint, sha256, unmask};
pub use policy::{Policy, Violation};
pub use revision::Revision;

/// The version of the plan document. Readers refuse other major versions.
pub const FORMAT_VERSION: u32 = 1;

/// A plan for one environment, flags in the vendor's model `F` (PostHog's [`Flag`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "F: Deserialize<'de>"))]
pub struct Plan<F: VendorFlag = Flag> {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Where and when the plan was made (filled in by the command).
    pub metadata: Metadata,
    /// Counts.
    pub summary: Summary,
    /// Steps in apply order: by level, then by key.
    pub steps: Vec<Step<F>>,
    /// Flags in the repository whose live state already matches, sorted.
    pub unchanged: Vec<String>,
    /// Live flags not in the repository that the plan leaves alone, sorted by key.
    pub unmanaged: Vec<Unmanaged>,
    /// Live flags flagops cannot represent (not in the repository), sorted by key.
    pub unsupported: Vec<Unsupported>,
    /// The environment's `ignore` list: fields left out of updates (the live value is kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
}

/// Where and when a plan was made: what `apply` checks before running a saved plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The flagops version that made the plan.
    pub flagops_version: String,
    /// The environment name.
    pub environment: String,
    /// The backend kind (`local`, `posthog`, `mixpanel`).
    pub backend: String,
    /// Whose flag model the plan's flags are in, when not PostHog's (`mixpanel`; for
    /// `backend: local`, the service it emulates). Absent: `posthog` (and every plan saved
    /// before this key existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The config file and its hash.
    pub config: ConfigRef,
    /// The git commit of the repository, when it is in one.
    #[serde(default)]
    pub git: Option<GitRef>,
    /// RFC 3339 timestamp (UTC).
    pub created_at: String,
}

/// The config a plan was made with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRef {
    /// The config file, relative to the repository directory.
    pub path: String,
    /// `sha256:<hex>` of the file's bytes.
    pub sha256: String,
}

/// The git commit a plan was made at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRef {
    /// Full commit id of `HEAD`.
    pub commit: String,
    /// Whether the config or a flag file differed from `HEAD` (modified, deleted or untracked):
    /// the plan is then not reproducible from the commit.
    pub dirty: bool,
}

/// Counts of a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Flags to create.
    pub create: usize,
    /// Flags to update.
    pub update: usize,
    /// Flags to delete (soft).
    pub delete: usize,
    /// Flags already in sync.
    pub unchanged: usize,
    /// Live flags left alone.
    pub unmanaged: usize,
    /// Live flags that cannot be managed.
    pub unsupported: usize,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create the flag.
    Create,
    /// Change the live flag.
    Update,
    /// Soft-delete the live flag.
    Delete,
}

impl Action {
    /// The verb used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// One flag's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "F: Deserialize<'de>"))]
pub struct Step<F: VendorFlag = Flag> {
    /// Apply level: every step of level n runs after every step of level n-1; steps of one
    /// level are independent.
    pub level: usize,
    /// What to do.
    pub action: Action,
    /// The flag key.
    pub key: String,
    /// Why (deletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Field-level changes (updates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change<F::Field>>,
    /// The live flag as the plan saw it (updates and deletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveSnapshot<F>>,
    /// The flag as it should be (creates and updates), normalized, dependencies by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<F>,
    /// Payload keys whose values are masked in this step (`desired`, `live` and `changes`),
    /// with the `sha256:` digest of the desired value so `apply` can check that the value it
    /// reads from the repository is the one that was reviewed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub masked_payloads: BTreeMap<String, String>,
}

impl<F: VendorFlag> Step<F> {
    /// Whether the step turns the flag on (create enabled, or update from disabled to enabled).
    pub fn enables(&self) -> bool {
        let after = self.desired.as_ref().is_some_and(F::is_enabled);
        let before = self.live.as_ref().is_some_and(|l| l.flag.is_enabled());
        after && !before
    }

    /// Whether the step turns the flag off (delete of an enabled flag, or disable).
    pub fn disables(&self) -> bool {
        let after = self.desired.as_ref().is_some_and(F::is_enabled);
        let before = self.live.as_ref().is_some_and(|l| l.flag.is_enabled());
        before && !after
    }

    /// The keys of the flags the step's desired flag depends on.
    pub(crate) fn dependencies(&self) -> BTreeSet<String> {
        self.desired
            .as_ref()
            .map(F::dependencies)
            .unwrap_or_default()
    }
}

/// What the plan saw of a live flag: enough for `apply` to refuse stale work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "F: Deserialize<'de>"))]
pub struct LiveSnapshot<F = Flag> {
    /// The backend id.
    pub id: String,
    /// The service's concurrency token (PostHog `version`), opaque; `null` when it has none.
    #[serde(rename = "version")]
    pub token: Option<Token>,
    /// [`fingerprint`] of the normalized live flag.
    pub fingerprint: String,
    /// The live flag, normalized.
    pub flag: F,
}

impl<F> LiveSnapshot<F> {
    /// The revision the plan saw: what a step's precondition compares.
    pub fn revision(&self) -> Revision {
        Revision {
            token: self.token.clone(),
            fingerprint: self.fingerprint.clone(),
        }
    }
}

/// A live flag the plan leaves alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmanaged {
    /// Flag key.
    pub key: String,
    /// Backend id.
    pub id: String,
    /// Why it is left alone.
    pub reason: UnmanagedReason,
}

/// Why a live flag outside the repository is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnmanagedReason {
    /// The environment does not set `prune`.
    PruneOff,
    /// The key matches a `protect` pattern.
    Protected,
}

/// Why a plan was refused: every problem found, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("the plan was refused: {}", problem_count(.problems))]
pub struct PlanError {
    /// What is wrong.
    pub problems: Vec<Problem>,
}

fn problem_count(problems: &[Problem]) -> String {
    match problems.len() {
        1 => "1 problem".to_owned(),
        n => format!("{n} problems"),
    }
}

/// One reason a plan is refused.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Problem {
    /// Stable kebab-case code (`max-deletes`, `protected`, `missing-dependency`, …).
    pub code: &'static str,
    /// The flag concerned, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// One sentence, lower-case start, names in backticks.
    pub message: String,
    /// What to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Problem {
    fn new(code: &'static str, flag: Option<&str>, message: String, help: &str) -> Self {
        Problem {
            code,
            flag: flag.map(str::to_owned),
            message,
            help: (!help.is_empty()).then(|| help.to_owned()),
        }
    }
}

impl<F: VendorFlag> Plan<F> {
    /// Whether applying the plan would change anything.
    pub fn has_changes(&self) -> bool {
        !self.steps.is_empty()
    }

    /// For each step's key, the keys of the steps that must succeed before it runs.
    pub fn prerequisites(&self) -> BTreeMap<String, BTreeSet<String>> {
        order::waits(&self.steps)
    }

    /// The steps grouped by level, lowest first (levels no step has are skipped: a saved
    /// plan's levels are read from a file, and must not size an allocation).
    pub fn levels(&self) -> Vec<Vec<&Step<F>>> {
        let mut levels: BTreeMap<usize, Vec<&Step<F>>> = BTreeMap::new();
        for step in &self.steps {
            levels.entry(step.level).or_default().push(step);
        }
        levels.into_values().collect()
    }
}

/// Compare `desired` (the repository's flags resolved for the environment) with `live` under
/// `policy`, and order the changes. Refuses (with every problem) an `ignore` list naming a
/// field the model cannot keep (`VendorFlag::ignorable_fields`), and plans that exceed
/// `max_deletes`, disable a protected flag, touch a flag flagops cannot represent, leave an
/// enabled flag depending on a missing, disabled or deleted flag, or contain a cycle.
pub fn build<F: VendorFlag>(
    desired: &[F],
    live: &LiveState<F>,
    policy: &Environment,
) -> Result<Plan<F>, PlanError> {
    let mut problems = Vec::new();
    let rules = Policy::new(policy).map_err(|p| PlanError { problems: vec![p] })?;
    for field in &policy.ignore {
        let name = field.as_str();
        if !F::ignorable_fields().contains(&name) {
            problems.push(Problem::new(
                "ignore-field",
                None,
                format!("`ignore` names `{name}`, which this service's flags cannot keep"),
                "remove it from the environment's `ignore`",
            ));
        }
    }

    let mut wanted: BTreeMap<&str, &F> = BTreeMap::new();
    for flag in desired {
        if wanted.insert(flag.key(), flag).is_some() {
            problems.push(Problem::new(
                "duplicate-flag",
                Some(flag.key()),
                format!("flag `{}` is defined twice", flag.key()),
                "keep one definition per key",
            ));
        }
    }
    let unsupported: BTreeMap<&str, &Unsupported> = live
        .unsupported
        .iter()
        .map(|u| (u.key.as_str(), u))
        .collect();

    let mut steps = Vec::new();
    let mut unchanged = Vec::new();
    for (&key, &flag) in &wanted {
        if let Some(u) = unsupported.get(key) {
            problems.push(Problem::new(
                "unsupported-flag",
                Some(key),
                format!("`{key}` exists in the environment but flagops cannot manage it: {}", u.reason),
                "remove the flag from the repository, or change it in the service so flagops can read it",
            ));
            continue;
        }
        let mut want = flag.normalized();
        match live.get(key) {
            None => steps.push(new_step(Action::Create, key, None, Some(want), Vec::new())),
            Some(current) => {
                let have = current.flag.normalized();
                want.adopt_display_fields(&have);
                for field in &policy.ignore {
                    want.adopt_ignored(&have, field.as_str());
                }
                let changes = diff::diff(&*have.reveal_unknown(&want), &want);
                if changes.is_empty() {
                    unchanged.push(key.to_owned());
                    continue;
                }
                if let Some((message, help)) = F::refused_update(&current.flag, &want) {
                    problems.push(Problem::new("service-refuses", Some(key), message, &help));
                    continue;
                }
                let snapshot = snapshot(current, have);
                steps.push(new_step(
                    Action::Update,
                    key,
                    Some(snapshot),
                    Some(want),
                    changes,
                ));
            }
        }
    }

    let mut unmanaged = Vec::new();
    for current in &live.flags {
        let key = current.flag.key();
        // A flag put away by the service (a soft delete) is already out of the way.
        if wanted.contains_key(key) || current.flag.is_archived() {
            continue;
        }
        let reason = if !rules.prunes() {
            UnmanagedReason::PruneOff
        } else if rules.is_protected(key) {
            UnmanagedReason::Protected
        } else {
            let mut step = new_step(
                Action::Delete,
                key,
                Some(snapshot(current, current.flag.normalized())),
                None,
                Vec::new(),
            );
            step.reason = Some("not in the repository; `prune` is on".to_owned());
            steps.push(step);
            continue;
        };
        unmanaged.push(Unmanaged {
            key: key.to_owned(),
            id: current.id.clone(),
            reason,
        });
    }
    unmanaged.sort_by(|a, b| a.key.cmp(&b.key));

    problems.extend(rules.violations(&steps).iter().map(Violation::problem));

    problems.extend(order::check_final_state(&steps, live, &wanted));
    if problems.is_empty() {
        match order::levels(&steps) {
            Ok(levels) => {
                for step in &mut steps {
                    step.level = levels.get(&step.key).copied().unwrap_or(0);
                }
            }
            Err(more) => problems.extend(more),
        }
    }
    if !problems.is_empty() {
        problems.sort();
        problems.dedup();
        return Err(PlanError { problems });
    }

    steps.sort_by(|a, b| (a.level, &a.key).cmp(&(b.level, &b.key)));
    for step in &mut steps {
        digest::mask(step);
    }
    let unsupported: Vec<Unsupported> = live
        .unsupported
        .iter()
        .filter(|u| !wanted.contains_key(u.key.as_str()))
        .cloned()
        .collect();
    let count = |action| steps.iter().filter(|s| s.action == action).count();
    let summary = Summary {
        create: count(Action::Create),
        update: count(Action::Update),
        delete: count(Action::Delete),
        unchanged: unchanged.len(),
        unmanaged: unmanaged.len(),
        unsupported: unsupported.len(),
    };
    // In the model's order of its ignorable fields (all of them are, or the plan was refused).
    let mut ignore = policy.ignore.clone();
    let rank = |f: &String| F::ignorable_fields().iter().position(|i| i == f);
    ignore.sort_by_key(rank);
    ignore.dedup();
    Ok(Plan {
        format_version: FORMAT_VERSION,
        metadata: Metadata::default(),
        summary,
        steps,
        unchanged,
        unmanaged,
        unsupported,
        ignore,
    })
}

fn new_step<F: VendorFlag>(
    action: Action,
    key: &str,
    live: Option<LiveSnapshot<F>>,
    desired: Option<F>,
    changes: Vec<Change<F::Field>>,
) -> Step<F> {
    Step {
        level: 0,
        action,
        key: key.to_owned(),
        reason: None,
        changes,
        live,
        desired,
        masked_payloads: BTreeMap::new(),
    }
}

fn snapshot<F: VendorFlag>(current: &LiveFlag<F>, normalized: F) -> LiveSnapshot<F> {
    LiveSnapshot {
        id: current.id.clone(),
        token: current.token.clone(),
        fingerprint: fingerprint(&normalized),
        flag: normalized,
    }
}

/// A JSON value for a change or a rendering (`null` if it cannot be one).
pub fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vendor_tests;
