//! PostHog's rules about one resolved flag on its own (`rules::FlagRules` for its `Flag`):
//! variants, payloads, conditions, properties and the object-level constraints PostHog
//! enforces.

mod value;

use std::collections::BTreeMap;

use crate::finding::{Collapsed, Severity};
use crate::model::Reference;
use crate::rules::{FlagRules, Problem};
use crate::vendor::posthog::{
    BucketingIdentifier, Flag, Grouping, Operator, Property, PropertyType,
};

impl FlagRules for Flag {
    fn problems(&self, known: &BTreeMap<&str, &Flag>) -> Vec<Problem> {
        check(self, known)
    }

    fn needs(code: &str) -> &'static [&'static str] {
        needs(code)
    }

    fn read_by_references() -> &'static [&'static str] {
        // Which variants exist.
        &["variants"]
    }

    fn state_fields() -> &'static [&'static str] {
        &["active", "archived"]
    }

    fn off(&self) -> (&'static str, &'static str) {
        // An archived flag is off (`Flag::is_enabled`).
        if self.archived {
            ("archived", "archived")
        } else {
            ("active", "disabled")
        }
    }

    fn evaluates(reference: &Reference) -> bool {
        // `depends_on` is ordering only: PostHog guards real flag dependencies.
        reference.field == "conditions"
    }
}

/// The top-level fields a rule reads besides the place it reports: when a flag's field was
/// left out for a schema error, the rules needing it are skipped for that flag (the place
/// itself is checked by the caller).
fn needs(code: &str) -> &'static [&'static str] {
    match code {
        "variant-sum" | "duplicate-variant" | "variant-override" => &["variants"],
        "payload-key" => &["payloads", "variants"],
        "aggregation" | "flag-reference" => &["aggregation_group_type_index", "aggregation"],
        "no-conditions" => &["conditions"],
        "encrypted-payloads" => &["has_encrypted_payloads", "is_remote_configuration"],
        "continuity" => &["ensure_experience_continuity", "bucketing_identifier"],
        "archived-active" => &["archived", "active"],
        _ => &[],
    }
}

/// The problems of one flag, repeats of one rule over one list collapsed as they come.
#[derive(Default)]
struct Problems(Collapsed<Problem>);

impl Problems {
    fn push(&mut self, problem: Problem) {
        let pointer = problem.pointer.clone();
        self.0.push(problem.code, &pointer, problem);
    }
}

/// Every rule that needs only the flag itself and the flags it may reference.
fn check(flag: &Flag, known: &BTreeMap<&str, &Flag>) -> Vec<Problem> {
    let mut out = Problems::default();
    check_variants(flag, &mut out);
    check_payloads(flag, &mut out);
    check_conditions(flag, known, &mut out);
    check_object(flag, &mut out);
    if flag.aggregation.is_some() && flag.aggregation_group_type_index.is_some() {
        out.push(Problem::error(
            "group-type",
            "/aggregation",
            "`aggregation` and `aggregation_group_type_index` both name the flag's group type; keep one",
        ));
    }
    out.0
        .finish()
        .map(|(mut problem, suffix)| {
            problem.message.push_str(&suffix);
            problem
        })
        .collect()
}

fn check_variants(flag: &Flag, out: &mut Problems) {
    if flag.variants.is_empty() {
        return;
    }
    let sum: f64 = flag
        .variants
        .iter()
        .map(|v| v.rollout_percentage.get())
        .sum();
    if (sum - 100.0).abs() > 1e-9 {
        out.push(
            Problem::error(
                "variant-sum",
                "/variants",
                format!("variant rollout percentages add up to {sum}, not 100"),
            )
            .help("adjust the variants' `rollout_percentage` so they sum to 100"),
        );
    }
    let mut seen = BTreeMap::new();
    for (i, variant) in flag.variants.iter().enumerate() {
        if let Some(first) = seen.insert(variant.key.as_str(), i) {
            out.push(Problem::error(
                "duplicate-variant",
                format!("/variants/{i}/key"),
                format!(
                    "variant `{}` is defined twice (first as variant {})",
                    variant.key,
                    first + 1
                ),
            ));
            seen.insert(variant.key.as_str(), first);
        }
    }
}

fn check_payloads(flag: &Flag, out: &mut Problems) {
    for key in flag.payloads.keys() {
        let pointer = format!("/payloads/{}", crate::util::escape_pointer(key));
        if flag.is_multivariate() {
            if !flag.variants.iter().any(|v| &v.key == key) {
                let names: Vec<&str> = flag.variants.iter().map(|v| v.key.as_str()).collect();
                out.push(
                    Problem::error(
                        "payload-key",
                        pointer,
                        format!("payload for `{key}`, which is not a variant of this flag"),
                    )
                    .help(format!("variants are: {}", names.join(", ")))
                    .on_key(),
                );
            }
        } else if key != "true" {
            out.push(
                Problem::error(
                    "payload-key",
                    pointer,
                    format!(
                        "a boolean flag only serves the `true` payload; `{key}` is never served"
                    ),
                )
                .help("rename the key to `true` or remove it")
                .on_key(),
            );
        }
    }
}

fn check_conditions(flag: &Flag, known: &BTreeMap<&str, &Flag>, out: &mut Problems) {
    if flag.conditions.is_empty() {
        out.push(
            Problem::warning("no-conditions", "/conditions", "flag has no conditions, so it is off for everyone")
                .help("add a condition (`- rollout_percentage: 0` keeps it off); PostHog refuses to create a flag without one"),
        );
    }
    for (ci, condition) in flag.conditions.iter().enumerate() {
        let at = format!("/conditions/{ci}");
        if let Some(variant) = &condition.variant
            && !flag.variants.iter().any(|v| &v.key == variant)
        {
            let why = if flag.is_multivariate() {
                "is not a variant of this flag"
            } else {
                "is set on a boolean flag"
            };
            out.push(Problem::error(
                "variant-override",
                format!("{at}/variant"),
                format!("variant override `{variant}` {why}; evaluators ignore it"),
            ));
        }
        if condition.aggregation.is_some() && condition.aggregation_group_type_index.is_some() {
            out.push(Problem::error(
                "group-type",
                format!("{at}/aggregation"),
                "`aggregation` and `aggregation_group_type_index` both name the condition's group type; keep one",
            ));
        }
        let aggregation = flag.condition_grouping(condition);
        for (pi, property) in condition.properties.iter().enumerate() {
            let p = format!("{at}/properties/{pi}");
            if property.kind == PropertyType::Flag {
                check_flag_property(flag, property, aggregation, known, &p, out);
                continue;
            }
            if property.key.is_none() {
                out.push(Problem::error(
                    "property-key",
                    p.clone(),
                    format!("a `{}` property needs `key`", property.kind.as_str()),
                ));
            }
            if property.flag.is_some() {
                out.push(Problem::error(
                    "property-key",
                    format!("{p}/flag"),
                    "only `type: flag` properties take `flag`",
                ));
            }
            check_names(property, &p, out);
            // A cohort named by `cohort` has its id only in a project: its operator is
            // checked as if the id were written.
            let placeholder = serde_json::Value::from(1);
            let value = match (&property.cohort, property.kind) {
                (Some(_), PropertyType::Cohort) => Some(&placeholder),
                _ => property.value.as_ref(),
            };
            if let Some(problem) = value::check(property.kind, property.effective_operator(), value)
            {
                let pointer = if problem.on_operator {
                    format!("{p}/operator")
                } else if property.value.is_some() {
                    format!("{p}/value")
                } else {
                    p.clone()
                };
                out.push(Problem {
                    severity: if problem.is_error {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                    code: problem.code,
                    pointer,
                    message: problem.message,
                    help: None,
                    on_key: false,
                });
            }
            let group = Grouping::of(property.group_type.as_deref(), property.group_type_index);
            match (property.kind, aggregation) {
                (PropertyType::Group, _) if group.is_none() => {
                    out.push(Problem::error("group-type", p.clone(), "a `group` property needs `group_type_index` (or `group_type`, its name)"));
                }
                (PropertyType::Group, None) => out.push(Problem::error(
                    "aggregation",
                    p.clone(),
                    "group property in a condition aggregated by persons never matches",
                ).help("set `aggregation_group_type_index` (or `aggregation`) on the condition or the flag")),
                (PropertyType::Group, Some(g)) if group.is_some_and(|own| own.differs_from(g)) => {
                    let (field, own) = match group {
                        Some(Grouping::Name(name)) => ("group_type", format!("group type `{name}`")),
                        _ => ("group_type_index", format!("group type {}", property.group_type_index.unwrap_or_default())),
                    };
                    let agg = match g {
                        Grouping::Index(i) => i.to_string(),
                        Grouping::Name(name) => format!("`{name}`"),
                    };
                    out.push(Problem::error(
                        "aggregation",
                        format!("{p}/{field}"),
                        format!("{own} differs from the condition's aggregation ({agg}); it never matches"),
                    ));
                }
                (PropertyType::Person | PropertyType::Cohort | PropertyType::PersonMetadata, Some(g)) => out.push(Problem::error(
                    "aggregation",
                    p.clone(),
                    format!("{} property in a condition aggregated by {g} never matches", property.kind.as_str()),
                )),
                _ => {}
            }
        }
    }
}

/// `cohort` and `group_type` (names resolved when planning) where they belong, and not
/// beside the id or index they replace.
fn check_names(property: &Property, p: &str, out: &mut Problems) {
    if property.cohort.is_some() {
        if property.kind != PropertyType::Cohort {
            out.push(Problem::error(
                "cohort-name",
                format!("{p}/cohort"),
                "only `type: cohort` properties take `cohort`",
            ));
        } else if property.value.is_some() {
            out.push(Problem::error(
                "cohort-name",
                format!("{p}/cohort"),
                "`cohort` and `value` both name the cohort; keep one (the name, to use the same file in every project)",
            ));
        }
    }
    if property.group_type.is_some() {
        if property.kind != PropertyType::Group {
            out.push(Problem::error(
                "group-type",
                format!("{p}/group_type"),
                "only `type: group` properties take `group_type`",
            ));
        } else if property.group_type_index.is_some() {
            out.push(Problem::error(
                "group-type",
                format!("{p}/group_type"),
                "`group_type` and `group_type_index` both name the group type; keep one",
            ));
        }
    }
}

fn check_flag_property(
    flag: &Flag,
    property: &crate::vendor::posthog::Property,
    aggregation: Option<Grouping<'_>>,
    known: &BTreeMap<&str, &Flag>,
    p: &str,
    out: &mut Problems,
) {
    if property.key.is_some() {
        out.push(
            Problem::error(
                "flag-reference",
                format!("{p}/key"),
                "a `type: flag` property names its flag with `flag`, not `key`",
            )
            .help("write `flag: <other flag key>`; flagops resolves it to PostHog's id"),
        );
    }
    let Some(target) = &property.flag else {
        if property.key.is_none() {
            out.push(Problem::error(
                "flag-reference",
                p.to_owned(),
                "a `type: flag` property needs `flag` (the key of the flag it depends on)",
            ));
        }
        return;
    };
    if property.effective_operator() != Operator::FlagEvaluatesTo {
        out.push(Problem::error(
            "operator",
            format!("{p}/operator"),
            "a `type: flag` property uses `flag_evaluates_to`",
        ));
    }
    if let Some(g) = aggregation {
        out.push(Problem::error(
            "flag-reference",
            p.to_owned(),
            format!("flag dependencies are only allowed in conditions aggregated by persons (this one uses {g})"),
        ));
    }
    if target == &flag.key {
        return; // reported as a cycle
    }
    match property.value.as_ref() {
        Some(serde_json::Value::Bool(_)) => {}
        Some(serde_json::Value::String(variant)) => {
            if let Some(other) = known.get(target.as_str())
                && !other.variants.iter().any(|v| &v.key == variant)
            {
                let why = if other.is_multivariate() {
                    format!("`{target}` has no variant `{variant}`")
                } else {
                    format!("`{target}` is a boolean flag; compare with `true` or `false`")
                };
                out.push(Problem::error("flag-variant", format!("{p}/value"), why));
            }
        }
        _ => out.push(Problem::error(
            "value-type",
            format!("{p}/value"),
            "a flag dependency's `value` is `true`, `false` or a variant key",
        )),
    }
}

fn check_object(flag: &Flag, out: &mut Problems) {
    if flag.has_encrypted_payloads && !flag.is_remote_configuration {
        out.push(
            Problem::error(
                "encrypted-payloads",
                "/has_encrypted_payloads",
                "encrypted payloads are only allowed on remote-configuration flags",
            )
            .help("set `is_remote_configuration: true` or drop `has_encrypted_payloads`"),
        );
    }
    if flag.ensure_experience_continuity
        && flag.bucketing_identifier == BucketingIdentifier::DeviceId
    {
        out.push(Problem::error(
            "continuity",
            "/ensure_experience_continuity",
            "`ensure_experience_continuity` cannot be combined with `bucketing_identifier: device_id`",
        ));
    }
    if flag.archived && flag.active {
        out.push(Problem::error(
            "archived-active",
            "/archived",
            "an archived flag must be disabled (`active: false`)",
        ));
    }
    let mut seen = BTreeMap::new();
    for (i, tag) in flag.tags.iter().enumerate() {
        let normal = crate::vendor::posthog::normalize::tag(tag);
        if normal != *tag {
            out.push(
                Problem::warning(
                    "tag-case",
                    format!("/tags/{i}"),
                    format!("PostHog stores tag `{tag}` as `{normal}`"),
                )
                .help(format!("write `{normal}`")),
            );
        }
        if seen.insert(normal.clone(), i).is_some() {
            out.push(Problem::warning(
                "duplicate-tag",
                format!("/tags/{i}"),
                format!("tag `{normal}` is listed twice"),
            ));
        }
    }
    for (i, context) in flag.evaluation_contexts.iter().enumerate() {
        if context.chars().count() > 255 {
            out.push(Problem::error(
                "evaluation-context",
                format!("/evaluation_contexts/{i}"),
                "an evaluation context is at most 255 characters",
            ));
        }
    }
}
