//! The objects a project's flags name besides other flags (PostHog: cohorts and group types),
//! as one project has them.
//!
//! Their ids differ per project, so a flag file may name them instead; the plan reads the
//! catalogue of the environment's project (only the parts some flag needs, [`Needs`]) and the
//! vendor's model resolves the names to that project's ids (`VendorFlag::resolve_names`),
//! or says what the project lacks ([`Unresolved`]). `import` goes the other way.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// What of the catalogue a flag (or a set of flags) needs to be planned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Some cohort is named or referenced by id: the project's cohorts are read.
    pub cohorts: bool,
    /// The cohort ids referenced (a deleted one is not in the project's list; its id is
    /// looked up alone to say so).
    pub cohort_ids: BTreeSet<i64>,
    /// Some group type is named: the project's group types are read.
    pub group_types: bool,
    /// How many names (of cohorts and group types) are used: what only a project can check.
    pub names: usize,
}

impl Needs {
    /// Whether anything needs to be read.
    pub fn any(&self) -> bool {
        self.cohorts || self.group_types
    }

    /// Add what `other` needs.
    pub fn add(&mut self, other: Needs) {
        self.cohorts |= other.cohorts;
        self.group_types |= other.group_types;
        self.cohort_ids.extend(other.cohort_ids);
        self.names += other.names;
    }
}

/// One project's cohorts and group types. A part that was not read is `None`: ids are then
/// taken as written, and names cannot be resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// The project's cohorts (deleted ones only when a flag references their id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohorts: Option<Vec<Cohort>>,
    /// The project's group types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_types: Option<Vec<GroupType>>,
}

/// One cohort, as much of it as flags care about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cohort {
    /// Its id in the project.
    pub id: i64,
    /// Its name (not unique: two cohorts may share one).
    pub name: String,
    /// Soft-deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// A dynamic cohort with behavioural (event) filters of its own, which flags cannot use
    /// (PostHog refuses them).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub behavioral: bool,
    /// The cohorts its filters include (a behavioural one among them makes it unusable too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub includes: Vec<i64>,
}

/// One group type of the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupType {
    /// Its index (what flags store).
    pub index: u32,
    /// Its name (`company`), unique in the project.
    pub name: String,
}

/// How a name resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    /// Exactly one object.
    Found(T),
    /// No object has the name.
    Missing,
    /// Several objects have it (their ids, sorted).
    Ambiguous(Vec<i64>),
    /// The part of the catalogue was not read (or the local state declares none).
    Unknown,
}

impl Catalogue {
    /// The cohort with `id`, deleted or not.
    pub fn cohort(&self, id: i64) -> Option<&Cohort> {
        self.cohorts.as_ref()?.iter().find(|c| c.id == id)
    }

    /// The live cohort named `name`.
    pub fn cohort_named(&self, name: &str) -> Lookup<&Cohort> {
        let Some(cohorts) = &self.cohorts else {
            return Lookup::Unknown;
        };
        let found: Vec<&Cohort> = cohorts
            .iter()
            .filter(|c| !c.deleted && c.name == name)
            .collect();
        match found.as_slice() {
            [] => Lookup::Missing,
            [one] => Lookup::Found(*one),
            many => {
                let mut ids: Vec<i64> = many.iter().map(|c| c.id).collect();
                ids.sort_unstable();
                Lookup::Ambiguous(ids)
            }
        }
    }

    /// The lowest id of a deleted cohort named `name`: what a name that no live cohort has
    /// may have meant.
    pub fn deleted_cohort_named(&self, name: &str) -> Option<i64> {
        self.cohorts
            .as_ref()?
            .iter()
            .filter(|c| c.deleted && c.name == name)
            .map(|c| c.id)
            .min()
    }

    /// The index of the group type named `name`.
    pub fn group_type_named(&self, name: &str) -> Lookup<u32> {
        let Some(types) = &self.group_types else {
            return Lookup::Unknown;
        };
        let found: Vec<u32> = types
            .iter()
            .filter(|t| t.name == name)
            .map(|t| t.index)
            .collect();
        match found.as_slice() {
            [] => Lookup::Missing,
            [one] => Lookup::Found(*one),
            many => Lookup::Ambiguous(many.iter().map(|i| i64::from(*i)).collect()),
        }
    }

    /// The name of the group type at `index`, if the catalogue has it.
    pub fn group_type_name(&self, index: u32) -> Option<&str> {
        self.group_types
            .as_ref()?
            .iter()
            .find(|t| t.index == index)
            .map(|t| t.name.as_str())
    }

    /// Why the cohort `id` cannot be used in a flag, if it cannot: a code (`missing-cohort`,
    /// `deleted-cohort`, `behavioral-cohort`) and a sentence. It does not exist, was deleted,
    /// or has behavioural filters itself or through a cohort it includes. `None` when it can
    /// be used, or when the cohorts were not read.
    pub fn cohort_refusal(&self, id: i64) -> Option<(&'static str, String)> {
        self.cohorts.as_ref()?;
        let Some(cohort) = self.cohort(id) else {
            return Some(("missing-cohort", format!("cohort {id} does not exist")));
        };
        if cohort.deleted {
            return Some((
                "deleted-cohort",
                format!("cohort {id} (`{}`) was deleted", cohort.name),
            ));
        }
        // Depth-first through included cohorts; each visited once (a cycle ends).
        let mut seen = BTreeSet::new();
        let mut stack = vec![id];
        while let Some(next) = stack.pop() {
            if !seen.insert(next) {
                continue;
            }
            let Some(c) = self.cohort(next) else { continue };
            if c.behavioral {
                let message = if next == id {
                    format!(
                        "cohort {id} (`{}`) has behavioural (event) filters, which flags cannot use",
                        c.name
                    )
                } else {
                    format!(
                        "cohort {id} (`{}`) includes cohort {next} (`{}`), whose behavioural (event) filters flags cannot use",
                        cohort.name, c.name
                    )
                };
                return Some(("behavioral-cohort", message));
            }
            stack.extend(c.includes.iter().copied());
        }
        None
    }
}

/// A name or id a flag uses that the environment's project cannot give, with where it is
/// written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unresolved {
    /// JSON pointer of the name or id in the resolved flag.
    pub pointer: String,
    /// Stable kebab-case code (`unknown-cohort`, `ambiguous-cohort`, …).
    pub code: &'static str,
    /// One sentence, lower-case start, names in backticks.
    pub message: String,
    /// What to do.
    pub help: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cohort(id: i64, name: &str) -> Cohort {
        Cohort {
            id,
            name: name.into(),
            ..Cohort::default()
        }
    }

    #[test]
    fn names_resolve_once_and_refusals_follow_included_cohorts() {
        let mut behavioural = cohort(3, "Active");
        behavioural.behavioral = true;
        let mut nesting = cohort(4, "Nesting");
        nesting.includes = vec![5];
        let mut middle = cohort(5, "Middle");
        middle.includes = vec![3, 4];
        let mut gone = cohort(6, "Gone");
        gone.deleted = true;
        let catalogue = Catalogue {
            cohorts: Some(vec![
                cohort(1, "Beta"),
                cohort(2, "Twin"),
                cohort(7, "Twin"),
                behavioural,
                nesting,
                middle,
                gone,
            ]),
            group_types: Some(vec![GroupType {
                index: 2,
                name: "company".into(),
            }]),
        };
        assert_eq!(
            catalogue.cohort_named("Beta"),
            Lookup::Found(&cohort(1, "Beta"))
        );
        assert_eq!(
            catalogue.cohort_named("Twin"),
            Lookup::Ambiguous(vec![2, 7])
        );
        assert_eq!(catalogue.cohort_named("Gone"), Lookup::Missing);
        assert_eq!(catalogue.group_type_named("company"), Lookup::Found(2));
        assert_eq!(catalogue.group_type_named("team"), Lookup::Missing);
        assert_eq!(catalogue.group_type_name(2), Some("company"));
        assert_eq!(catalogue.cohort_refusal(1), None);
        assert_eq!(
            catalogue.cohort_refusal(9),
            Some(("missing-cohort", "cohort 9 does not exist".to_owned()))
        );
        assert_eq!(
            catalogue.cohort_refusal(6),
            Some(("deleted-cohort", "cohort 6 (`Gone`) was deleted".to_owned()))
        );
        assert!(
            catalogue
                .cohort_refusal(3)
                .unwrap()
                .1
                .contains("has behavioural")
        );
        // 4 → 5 → 3 (behavioural), with a cycle 4 ↔ 5 on the way.
        assert_eq!(
            catalogue.cohort_refusal(4).map(|r| r.1).as_deref(),
            Some(
                "cohort 4 (`Nesting`) includes cohort 3 (`Active`), whose behavioural (event) filters flags cannot use"
            )
        );
        let unread = Catalogue::default();
        assert_eq!(unread.cohort_refusal(9), None);
        assert_eq!(unread.cohort_named("Beta"), Lookup::Unknown);
    }
}
