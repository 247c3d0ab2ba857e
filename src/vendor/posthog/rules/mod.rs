//! PostHog's rules about one resolved flag on its own (`rules::FlagRules` for its `Flag`):
//! variants, payloads, conditions, properties and the object-level constraints PostHog
//! enforces.

mod value;

use std::collections::BTreeMap;

use crate::finding::{Collapsed, Severity};
use crate::model::Reference;
use crate::rules::{FlagRules, Problem};
use crate::vendor::posthog::{BucketingIdentifier, Flag, Operator, PropertyType};

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
        "aggregation" | "flag-reference" => &["aggregation_group_type_index"],
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
        let aggregation = flag.condition_aggregation(condition);
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
            if let Some(problem) = value::check(
                property.kind,
                property.effective_operator(),
                property.value.as_ref(),
            ) {
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
            match (property.kind, aggregation) {
                (PropertyType::Group, _) if property.group_type_index.is_none() => {
                    out.push(Problem::error("group-type", p.clone(), "a `group` property needs `group_type_index`"));
                }
                (PropertyType::Group, None) => out.push(Problem::error(
                    "aggregation",
                    p.clone(),
                    "group property in a condition aggregated by persons never matches",
                ).help("set `aggregation_group_type_index` on the condition or the flag")),
                (PropertyType::Group, Some(g)) if property.group_type_index != Some(g) => out.push(Problem::error(
                    "aggregation",
                    format!("{p}/group_type_index"),
                    format!("group type {} differs from the condition's aggregation ({g}); it never matches", property.group_type_index.unwrap_or_default()),
                )),
                (PropertyType::Person | PropertyType::Cohort | PropertyType::PersonMetadata, Some(g)) => out.push(Problem::error(
                    "aggregation",
                    p.clone(),
                    format!("{} property in a condition aggregated by group type {g} never matches", property.kind.as_str()),
                )),
                _ => {}
            }
        }
    }
}

fn check_flag_property(
    flag: &Flag,
    property: &crate::vendor::posthog::Property,
    aggregation: Option<u32>,
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
            format!("flag dependencies are only allowed in conditions aggregated by persons (this one uses group type {g})"),
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
