//! Cohorts and group types by name: what a flag needs of its project's catalogue, its names
//! resolved to one project's ids (the plan), and ids written back as names (import).
//!
//! A cohort property names its cohort with `cohort: <name>` or `value: <id>`; a condition or
//! the flag aggregates by `aggregation: <group type name>` or `aggregation_group_type_index`;
//! a group property names its group type with `group_type` or `group_type_index`. Resolving
//! replaces each name by the environment's id (the plan, the written filters and every later
//! comparison use ids), and checks every cohort the flag uses, by name or by id: it must exist
//! in the project, not be deleted, and have no behavioural filters (itself or through a
//! cohort it includes), which PostHog refuses in flags.

use serde_json::{Value, json};

use super::flag::Flag;
use super::property::{Property, PropertyType};
use crate::model::catalogue::Lookup;
use crate::model::{Catalogue, Needs, Unresolved};

/// The id a cohort property's `value` holds (a number, or digits in a string).
pub(super) fn cohort_id(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// What `flag` needs of its project's catalogue.
pub(super) fn needs(flag: &Flag) -> Needs {
    let mut needs = Needs::default();
    let group_type = |name: &Option<String>, needs: &mut Needs| {
        if name.is_some() {
            needs.group_types = true;
            needs.names += 1;
        }
    };
    group_type(&flag.aggregation, &mut needs);
    for condition in &flag.conditions {
        group_type(&condition.aggregation, &mut needs);
        for property in &condition.properties {
            group_type(&property.group_type, &mut needs);
            if property.kind == PropertyType::Cohort {
                needs.cohorts = true;
                needs.cohort_ids.extend(cohort_id(property.value.as_ref()));
                needs.names += usize::from(property.cohort.is_some());
            }
        }
    }
    needs
}

/// What `flag` (a live flag) needs of the catalogue for its ids to be written as names.
pub(super) fn naming_needs(flag: &Flag) -> Needs {
    let mut needs = Needs {
        group_types: flag.aggregation_group_type_index.is_some(),
        ..Needs::default()
    };
    for condition in &flag.conditions {
        needs.group_types |= condition.aggregation_group_type_index.is_some();
        for property in &condition.properties {
            needs.group_types |= property.group_type_index.is_some();
            needs.cohorts |= property.kind == PropertyType::Cohort;
        }
    }
    needs
}

/// Resolve `flag`'s names with `catalogue` and check the cohorts it uses. A name that does
/// not resolve stays as written (with its problem).
pub(super) fn resolve(flag: &mut Flag, catalogue: &Catalogue) -> Vec<Unresolved> {
    let mut out = Vec::new();
    if let Some(name) = &flag.aggregation
        && let Some(index) = group_type(name, "/aggregation".to_owned(), catalogue, &mut out)
    {
        flag.aggregation_group_type_index = Some(index);
        flag.aggregation = None;
    }
    for (ci, condition) in flag.conditions.iter_mut().enumerate() {
        if let Some(name) = &condition.aggregation
            && let Some(index) = group_type(
                name,
                format!("/conditions/{ci}/aggregation"),
                catalogue,
                &mut out,
            )
        {
            condition.aggregation_group_type_index = Some(index);
            condition.aggregation = None;
        }
        for (pi, property) in condition.properties.iter_mut().enumerate() {
            let at = format!("/conditions/{ci}/properties/{pi}");
            if let Some(name) = &property.group_type
                && let Some(index) =
                    group_type(name, format!("{at}/group_type"), catalogue, &mut out)
            {
                property.group_type_index = Some(index);
                property.group_type = None;
            }
            if property.kind == PropertyType::Cohort {
                cohort(property, &at, catalogue, &mut out);
            }
        }
    }
    out
}

fn group_type(
    name: &str,
    pointer: String,
    catalogue: &Catalogue,
    out: &mut Vec<Unresolved>,
) -> Option<u32> {
    let (code, message, help) = match catalogue.group_type_named(name) {
        Lookup::Found(index) => return Some(index),
        Lookup::Missing => (
            "missing-group-type",
            format!("the project has no group type named `{name}`"),
            "create it in the project first (PostHog adds a group type when it first receives an event with that group), or check the spelling",
        ),
        Lookup::Ambiguous(ids) => (
            "ambiguous-group-type",
            format!("the project has {} group types named `{name}`", ids.len()),
            "name the group type by index (`group_type_index` or `aggregation_group_type_index`)",
        ),
        Lookup::Unknown => (
            "unknown-group-type",
            format!(
                "the group types of this environment are not known, so `{name}` cannot be resolved"
            ),
            "with `backend: local`, list the environment's group types under `group_types` in the state file",
        ),
    };
    out.push(Unresolved {
        pointer,
        code,
        message,
        help: help.to_owned(),
    });
    None
}

fn cohort(property: &mut Property, at: &str, catalogue: &Catalogue, out: &mut Vec<Unresolved>) {
    let (id, pointer) = match property.cohort.clone() {
        Some(name) => {
            let pointer = format!("{at}/cohort");
            let unresolved = |code, message: String, help: &str| Unresolved {
                pointer: pointer.clone(),
                code,
                message,
                help: help.to_owned(),
            };
            match catalogue.cohort_named(&name) {
                Lookup::Found(c) => {
                    property.value = Some(json!(c.id));
                    property.cohort = None;
                    (c.id, pointer)
                }
                Lookup::Missing => {
                    // Only a deleted cohort has the name: refused below as deleted.
                    if let Some(id) = catalogue.deleted_cohort_named(&name) {
                        (id, pointer)
                    } else {
                        out.push(unresolved(
                            "missing-cohort",
                            format!("the project has no cohort named `{name}`"),
                            "create the cohort in this project first, or check the spelling (names are compared exactly)",
                        ));
                        return;
                    }
                }
                Lookup::Ambiguous(ids) => {
                    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
                    out.push(unresolved(
                        "ambiguous-cohort",
                        format!(
                            "the project has {} cohorts named `{name}` (ids {})",
                            ids.len(),
                            ids.join(", ")
                        ),
                        "rename all but one in the project, or name the cohort by id (`value: <id>`)",
                    ));
                    return;
                }
                Lookup::Unknown => {
                    out.push(unresolved(
                        "unknown-cohort",
                        format!("the cohorts of this environment are not known, so `{name}` cannot be resolved"),
                        "with `backend: local`, list the environment's cohorts under `cohorts` in the state file",
                    ));
                    return;
                }
            }
        }
        None => match cohort_id(property.value.as_ref()) {
            Some(id) => (id, format!("{at}/value")),
            None => return, // `validate` reports a value that is not an id
        },
    };
    if let Some((code, message)) = catalogue.cohort_refusal(id) {
        let help = match code {
            "behavioral-cohort" => {
                "target person properties directly, or use a cohort of person properties or a static cohort"
            }
            _ => "create the cohort in this project first, or target another one",
        };
        out.push(Unresolved {
            pointer,
            code,
            message,
            help: help.to_owned(),
        });
    }
}

/// Write the ids of `flag` (a live flag) as names where `catalogue` gives a unique one; a
/// note for each id kept.
pub(super) fn name_ids(flag: &mut Flag, catalogue: &Catalogue) -> Vec<String> {
    let mut notes = Vec::new();
    let key = flag.key.clone();
    let type_name = |index: Option<u32>, notes: &mut Vec<String>| -> Option<String> {
        let index = index?;
        match catalogue.group_type_name(index) {
            Some(name) if catalogue.group_type_named(name) == Lookup::Found(index) => {
                Some(name.to_owned())
            }
            _ => {
                if catalogue.group_types.is_some() {
                    notes.push(format!(
                        "`{key}`: group type {index} is written by index: the project has no unique name for it"
                    ));
                }
                None
            }
        }
    };
    if let Some(name) = type_name(flag.aggregation_group_type_index, &mut notes) {
        flag.aggregation = Some(name);
        flag.aggregation_group_type_index = None;
    }
    for condition in &mut flag.conditions {
        if let Some(name) = type_name(condition.aggregation_group_type_index, &mut notes) {
            condition.aggregation = Some(name);
            condition.aggregation_group_type_index = None;
        }
        for property in &mut condition.properties {
            if let Some(name) = type_name(property.group_type_index, &mut notes) {
                property.group_type = Some(name);
                property.group_type_index = None;
            }
        }
    }
    for condition in &mut flag.conditions {
        for property in &mut condition.properties {
            if property.kind != PropertyType::Cohort {
                continue;
            }
            let Some(id) = cohort_id(property.value.as_ref()) else {
                continue;
            };
            let Some(found) = catalogue.cohort(id) else {
                if catalogue.cohorts.is_some() {
                    notes.push(format!(
                        "`{}`: cohort {id} is written by id: it is not in the project's cohort list",
                        flag.key
                    ));
                }
                continue;
            };
            match catalogue.cohort_named(&found.name) {
                Lookup::Found(c) if c.id == id => {
                    property.cohort = Some(found.name.clone());
                    property.value = None;
                }
                _ => notes.push(format!(
                    "`{}`: cohort {id} is written by id: its name `{}` is not unique in the project",
                    flag.key, found.name
                )),
            }
        }
    }
    notes.dedup();
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::catalogue::{Cohort, GroupType};
    use crate::vendor::posthog::{Condition, FlagSpec};

    fn catalogue() -> Catalogue {
        let cohort = |id, name: &str| Cohort {
            id,
            name: name.into(),
            ..Cohort::default()
        };
        Catalogue {
            cohorts: Some(vec![
                cohort(11, "Beta"),
                cohort(12, "Twin"),
                cohort(13, "Twin"),
                Cohort {
                    deleted: true,
                    ..cohort(14, "Gone")
                },
            ]),
            group_types: Some(vec![GroupType {
                index: 1,
                name: "company".into(),
            }]),
        }
    }

    fn flag(doc: &Value) -> Flag {
        let spec: FlagSpec = serde_json::from_value(doc.clone()).unwrap();
        spec.resolve(None).0
    }

    #[test]
    fn names_become_ids_and_ids_become_unique_names() {
        let mut f = flag(
            &json!({"key": "a", "aggregation": "company", "conditions": [
                {"properties": [{"type": "group", "group_type": "company", "key": "plan", "value": "x"}]},
                {"properties": [{"type": "cohort", "key": "id", "cohort": "Beta", "operator": "in"}],
                 "aggregation": "company"},
            ]}),
        );
        let needs = needs(&f);
        assert!(needs.cohorts && needs.group_types);
        assert_eq!(needs.names, 4);
        assert_eq!(resolve(&mut f, &catalogue()), Vec::new());
        assert_eq!(f.aggregation_group_type_index, Some(1));
        assert_eq!(f.aggregation, None);
        assert_eq!(f.conditions[0].properties[0].group_type_index, Some(1));
        assert_eq!(f.conditions[1].aggregation_group_type_index, Some(1));
        let cohort = &f.conditions[1].properties[0];
        assert_eq!(
            (cohort.value.clone(), cohort.cohort.clone()),
            (Some(json!(11)), None)
        );

        let notes = name_ids(&mut f, &catalogue());
        assert_eq!(notes, Vec::<String>::new());
        assert_eq!(f.aggregation.as_deref(), Some("company"));
        assert_eq!(
            f.conditions[1].properties[0].cohort.as_deref(),
            Some("Beta")
        );
        assert_eq!(f.conditions[1].properties[0].value, None);
    }

    #[test]
    fn what_the_project_lacks_is_said_where_it_is_written() {
        let mut f = flag(&json!({"key": "a", "conditions": [{"properties": [
            {"type": "cohort", "key": "id", "cohort": "Twin"},
            {"type": "cohort", "key": "id", "cohort": "Nope"},
            {"type": "cohort", "key": "id", "value": 99},
            {"type": "group", "group_type": "team", "key": "k", "value": "v"},
            {"type": "cohort", "key": "id", "cohort": "Gone"},
        ]}]}));
        let found: Vec<(String, &str)> = resolve(&mut f, &catalogue())
            .into_iter()
            .map(|u| (u.pointer, u.code))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    "/conditions/0/properties/0/cohort".to_owned(),
                    "ambiguous-cohort"
                ),
                (
                    "/conditions/0/properties/1/cohort".to_owned(),
                    "missing-cohort"
                ),
                (
                    "/conditions/0/properties/2/value".to_owned(),
                    "missing-cohort"
                ),
                (
                    "/conditions/0/properties/3/group_type".to_owned(),
                    "missing-group-type"
                ),
                // Named, but only a deleted cohort has the name.
                (
                    "/conditions/0/properties/4/cohort".to_owned(),
                    "deleted-cohort"
                ),
            ]
        );
        let mut twin = Flag {
            key: "t".into(),
            conditions: vec![Condition {
                properties: vec![Property {
                    kind: PropertyType::Cohort,
                    key: Some("id".into()),
                    flag: None,
                    operator: None,
                    value: Some(json!(12)),
                    cohort: None,
                    negation: None,
                    group_type_index: None,
                    group_type: None,
                    label: None,
                }],
                ..Condition::default()
            }],
            ..Flag::default()
        };
        assert_eq!(
            name_ids(&mut twin, &catalogue()),
            vec!["`t`: cohort 12 is written by id: its name `Twin` is not unique in the project"]
        );
        assert_eq!(twin.conditions[0].properties[0].value, Some(json!(12)));
    }
}
