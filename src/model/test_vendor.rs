//! A tiny flag model that is not PostHog's, for tests of the vendor-neutral core (test code
//! only, not shipped): a status instead of two switches, dependencies in a list of its
//! own, a display name an environment may ignore, secret values of its own and its own
//! field-level diff.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Reference, VendorFlag};
use crate::plan::{Change, ChangeOp, to_value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Enabled,
    Disabled,
    Archived,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Other {
    pub(crate) key: String,
    pub(crate) status: Status,
    pub(crate) requires: Vec<String>,
    /// Display text; an environment may ignore it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) name: String,
    /// Values no output may show.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) secrets: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OtherField {
    Status,
    Requires,
    Name,
    Secrets,
}

impl VendorFlag for Other {
    fn key(&self) -> &str {
        &self.key
    }
    fn is_enabled(&self) -> bool {
        self.status == Status::Enabled
    }
    fn references(&self) -> Vec<Reference> {
        self.requires
            .iter()
            .enumerate()
            .map(|(i, target)| Reference {
                target: target.clone(),
                pointer: format!("/requires/{i}"),
                field: "requires",
            })
            .collect()
    }
    fn normalized(&self) -> Self {
        let mut out = self.clone();
        out.requires.sort();
        out.requires.dedup();
        out
    }

    type Field = OtherField;

    fn diff(before: &Self, after: &Self) -> Vec<Change<OtherField>> {
        let mut out = Vec::new();
        if before.status != after.status {
            out.push(Change::new(OtherField::Status, ChangeOp::Changed).values(
                Some(to_value(&before.status)),
                Some(to_value(&after.status)),
            ));
        }
        if before.name != after.name {
            out.push(
                Change::new(OtherField::Name, ChangeOp::Changed)
                    .values(Some(json!(before.name)), Some(json!(after.name))),
            );
        }
        for r in before
            .requires
            .iter()
            .filter(|r| !after.requires.contains(r))
        {
            out.push(Change::new(OtherField::Requires, ChangeOp::Removed).item(r));
        }
        for r in after
            .requires
            .iter()
            .filter(|r| !before.requires.contains(r))
        {
            out.push(Change::new(OtherField::Requires, ChangeOp::Added).item(r));
        }
        for (k, v) in &after.secrets {
            if before.secrets.get(k) != Some(v) {
                out.push(
                    Change::new(OtherField::Secrets, ChangeOp::Changed)
                        .item(k)
                        .values(before.secrets.get(k).cloned(), Some(v.clone())),
                );
            }
        }
        out
    }

    fn ignorable_fields() -> &'static [&'static str] {
        &["name"]
    }

    fn adopt_ignored(&mut self, live: &Self, field: &str) {
        if field == "name" {
            self.name.clone_from(&live.name);
        }
    }

    fn has_secrets(&self) -> bool {
        !self.secrets.is_empty()
    }

    fn secret_values(&self) -> Option<&BTreeMap<String, Value>> {
        Some(&self.secrets)
    }

    fn secret_values_mut(&mut self) -> Option<&mut BTreeMap<String, Value>> {
        Some(&mut self.secrets)
    }

    fn is_secret_field(field: OtherField) -> bool {
        field == OtherField::Secrets
    }
}

pub(crate) fn other(key: &str, status: Status, requires: &[&str]) -> Other {
    Other {
        key: key.to_owned(),
        status,
        requires: requires.iter().map(|r| (*r).to_owned()).collect(),
        name: String::new(),
        secrets: BTreeMap::new(),
    }
}

/// The test model in the local backend: stored as itself, its dependencies sorted.
impl crate::backend::local::LocalModel for Other {
    type Stored = Other;

    fn to_stored(&self) -> Other {
        self.clone()
    }

    fn from_stored(stored: &Other) -> Self {
        stored.clone()
    }

    fn as_stored(&self) -> Self {
        self.normalized()
    }
}

impl crate::render::plan::ChangeWords for OtherField {
    fn describe(
        change: &Change<OtherField>,
        to: crate::render::escape::Inline,
    ) -> crate::render::plan::Described {
        let item = change
            .item
            .as_deref()
            .map(|i| to.name(i))
            .unwrap_or_default();
        let value = |v: Option<&Value>| v.map_or_else(String::new, |v| to.value(&v.to_string()));
        let headline = match (change.field, change.op) {
            (OtherField::Status, _) => format!(
                "status {} → {}",
                value(change.before.as_ref()),
                value(change.after.as_ref())
            ),
            (OtherField::Requires, ChangeOp::Added) => format!("now requires {item}"),
            (OtherField::Requires, _) => format!("no longer requires {item}"),
            (OtherField::Name, _) => format!("name {}", value(change.after.as_ref())),
            (OtherField::Secrets, _) => format!("secret {item} changed"),
        };
        crate::render::plan::Described::one(headline)
    }
}

impl crate::render::plan::FlagWords for Other {
    fn created(&self, to: crate::render::escape::Inline) -> Vec<crate::render::plan::Described> {
        vec![crate::render::plan::Described::one(format!(
            "status {}",
            to.value(&to_value(&self.status).to_string())
        ))]
    }

    fn risks(
        step: &crate::plan::Step<Self>,
        _to: crate::render::escape::Inline,
    ) -> Vec<crate::render::plan::Risk> {
        let risk = |rank, words: &str| crate::render::plan::Risk {
            rank,
            words: words.to_owned(),
        };
        if step.disables() {
            vec![risk(1, "switched off")]
        } else if step.enables() {
            vec![risk(4, "switched on")]
        } else {
            Vec::new()
        }
    }
}
