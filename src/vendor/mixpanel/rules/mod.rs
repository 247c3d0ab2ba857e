//! Mixpanel's rules about one resolved flag on its own (`rules::FlagRules` for its
//! `MixpanelFlag`): the limits of its request schema, its variants and splits, the variants
//! that rollout groups and test users name, and the JsonLogic its evaluators can run.
//!
//! Pointers are into the resolved flag (variants in file order), so the core places each
//! problem at file:line:column. Codes are `mixpanel-…`, or PostHog's where they mean the same
//! (`variant-sum`, `duplicate-variant`, `variant-override`, `duplicate-tag`,
//! `no-conditions`).

mod json_logic;

use std::collections::BTreeMap;

use serde_json::Value;

use super::flag::{DEFAULT_CONTEXT, MixpanelFlag, default_splits};
use super::spec::{Status, Variant};
use super::vendor::{HASH_SALT_LEN, MAX_TEXT_LEN};
use crate::finding::{Collapsed, SHOWN_PER_LIST, thousands};
use crate::model::{Json, Percent, Reference};
use crate::rules::{FlagRules, Problem};
use crate::util::escape_pointer;

/// The most variants a flag has (Mixpanel's documentation).
pub const MAX_VARIANTS: usize = 10;

/// The largest variant value, in bytes of JSON (Mixpanel: 32 KB).
pub const MAX_VALUE_BYTES: usize = 32 * 1024;

/// The contexts Mixpanel knows without a data group.
const BUILT_IN_CONTEXTS: [&str; 2] = [DEFAULT_CONTEXT, "device_id"];

impl FlagRules for MixpanelFlag {
    fn problems(&self, _known: &BTreeMap<&str, &MixpanelFlag>) -> Vec<Problem> {
        check(self)
    }

    fn needs(code: &str) -> &'static [&'static str] {
        match code {
            "mixpanel-split-key" | "mixpanel-test-user" | "variant-override" | "variant-sum" => {
                &["variants"]
            }
            "mixpanel-data-group" => &["context", "data_group_id"],
            "no-conditions" => &["status", "rollout", "test_users"],
            _ => &[],
        }
    }

    fn read_by_references() -> &'static [&'static str] {
        // No Mixpanel field names another flag: no rule reads another flag.
        &[]
    }

    fn state_fields() -> &'static [&'static str] {
        &["status"]
    }

    fn off(&self) -> (&'static str, &'static str) {
        match self.status {
            Status::Archived => ("status", "archived"),
            _ => ("status", "disabled"),
        }
    }

    fn evaluates(_reference: &Reference) -> bool {
        // The only references are `depends_on`, which orders steps only.
        false
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

/// Every rule about `flag` on its own.
fn check(flag: &MixpanelFlag) -> Vec<Problem> {
    let mut out = Problems::default();
    check_object(flag, &mut out);
    check_variants(flag, &mut out);
    check_rollout(flag, &mut out);
    check_test_users(flag, &mut out);
    out.0
        .finish()
        .map(|(mut problem, suffix)| {
            problem.message.push_str(&suffix);
            problem
        })
        .collect()
}

fn length(text: &str) -> usize {
    text.chars().count()
}

fn check_object(flag: &MixpanelFlag, out: &mut Problems) {
    for (code, field, text) in [
        ("mixpanel-key", "key", &flag.key),
        ("mixpanel-name", "name", &flag.name),
        ("mixpanel-context", "context", &flag.context),
    ] {
        if field == "name" && flag.name == flag.key {
            continue; // the default name: the key's problem, said once
        }
        let n = length(text);
        if !(1..=MAX_TEXT_LEN).contains(&n) {
            out.push(Problem::error(
                code,
                format!("/{field}"),
                format!("a {field} is 1 to {MAX_TEXT_LEN} characters; this one has {n}"),
            ));
        }
    }
    if let Some(salt) = &flag.hash_salt {
        let n = length(salt);
        if n != HASH_SALT_LEN {
            out.push(
                Problem::error(
                    "mixpanel-hash-salt",
                    "/hash_salt",
                    format!("a hash_salt is exactly {HASH_SALT_LEN} characters; this one has {n}"),
                )
                .help("leave `hash_salt` out to keep the one Mixpanel generated"),
            );
        }
    }
    if let Some(id) = &flag.experiment_id
        && !is_uuid(id)
    {
        out.push(Problem::error(
            "mixpanel-experiment-id",
            "/experiment_id",
            format!("experiment id `{id}` is not a UUID"),
        ));
    }
    if !flag.context.is_empty()
        && !BUILT_IN_CONTEXTS.contains(&flag.context.as_str())
        && flag.data_group_id.is_none()
    {
        out.push(
            Problem::warning(
                "mixpanel-data-group",
                "/context",
                format!(
                    "context `{}` is neither `distinct_id` nor `device_id`, so it names a data \
                     group's key, but `data_group_id` is not set",
                    flag.context
                ),
            )
            .help("set `data_group_id` to the data group whose key the context is"),
        );
    }
    let mut seen = BTreeMap::new();
    for (i, tag) in flag.tags.iter().enumerate() {
        if seen.insert(tag.as_str(), i).is_some() {
            out.push(Problem::warning(
                "duplicate-tag",
                format!("/tags/{i}"),
                format!("tag `{tag}` is listed twice"),
            ));
        }
    }
}

/// Whether `text` is a UUID: 8-4-4-4-12 hexadecimal digits.
fn is_uuid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The name of a JSON value's type, for messages: its compact text's first character says.
fn type_name(value: &Json) -> &'static str {
    match value.as_str().as_bytes().first() {
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        Some(b'-' | b'0'..=b'9') => "a number",
        Some(b'[') => "a list",
        Some(b'{') => "an object",
        _ => "a string",
    }
}

fn sum(splits: impl Iterator<Item = Percent>) -> f64 {
    splits.map(Percent::get).sum()
}

fn check_variants(flag: &MixpanelFlag, out: &mut Problems) {
    let variants = &flag.variants;
    if variants.is_empty() {
        return;
    }
    if variants.len() > MAX_VARIANTS {
        out.push(Problem::error(
            "mixpanel-variant-count",
            "/variants",
            format!(
                "{} variants; Mixpanel allows at most {MAX_VARIANTS}",
                variants.len()
            ),
        ));
    }
    let total = sum(variants.iter().map(|v| v.split));
    if (total - 100.0).abs() > 1e-9 {
        out.push(
            Problem::error(
                "variant-sum",
                "/variants",
                format!("variant splits add up to {}, not 100", Percent(total)),
            )
            .help("adjust the variants' `split` so they sum to 100"),
        );
    }
    let controls: Vec<(usize, &Variant)> = variants
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_control)
        .collect();
    match controls.as_slice() {
        [] => out.push(
            Problem::error("mixpanel-control", "/variants", "no variant is the control")
                .help("mark exactly one variant with `is_control: true`"),
        ),
        [(_, first), rest @ ..] => {
            for (i, v) in rest {
                out.push(Problem::error(
                    "mixpanel-control",
                    format!("/variants/{i}/is_control"),
                    format!(
                        "variant `{}` is a second control (the first is `{}`); a flag has \
                         exactly one",
                        v.key, first.key
                    ),
                ));
            }
        }
    }
    let first = &variants[0];
    let mut seen = BTreeMap::new();
    for (i, variant) in variants.iter().enumerate() {
        let at = format!("/variants/{i}");
        if let Some(earlier) = seen.insert(variant.key.as_str(), i) {
            out.push(Problem::error(
                "duplicate-variant",
                format!("{at}/key"),
                format!(
                    "variant `{}` is defined twice (first as variant {})",
                    variant.key,
                    earlier + 1
                ),
            ));
            seen.insert(variant.key.as_str(), earlier);
        }
        if !(1..=MAX_TEXT_LEN).contains(&length(&variant.key)) {
            out.push(Problem::error(
                "mixpanel-variant-key",
                format!("{at}/key"),
                format!("a variant key is 1 to {MAX_TEXT_LEN} characters"),
            ));
        }
        if type_name(&variant.value) != type_name(&first.value) {
            out.push(Problem::error(
                "mixpanel-value-type",
                format!("{at}/value"),
                format!(
                    "variant `{}` serves {} but variant `{}` serves {}; the variants of a flag \
                     serve one type",
                    variant.key,
                    type_name(&variant.value),
                    first.key,
                    type_name(&first.value)
                ),
            ));
        }
        let bytes = variant.value.as_str().len();
        if bytes > MAX_VALUE_BYTES {
            out.push(Problem::error(
                "mixpanel-value-size",
                format!("{at}/value"),
                format!(
                    "variant `{}`'s value is {bytes} bytes as JSON; Mixpanel allows at most \
                     {MAX_VALUE_BYTES}",
                    variant.key
                ),
            ));
        }
        if variant.is_control && variant.is_sticky {
            out.push(Problem::warning(
                "mixpanel-sticky-control",
                format!("{at}/is_sticky"),
                "Mixpanel never makes the control sticky; `is_sticky` is ignored",
            ));
        }
    }
}

/// The variant keys, for help texts.
fn variant_list(flag: &MixpanelFlag) -> String {
    if flag.variants.is_empty() {
        return "the flag has no variants".to_owned();
    }
    let keys: Vec<&str> = flag.variants.iter().map(|v| v.key.as_str()).collect();
    format!("variants are: {}", keys.join(", "))
}

/// The variant Mixpanel's evaluators pick for `key` (they compare case-insensitively).
fn names_variant(flag: &MixpanelFlag, key: &str) -> bool {
    flag.variants
        .iter()
        .any(|v| v.key.to_lowercase() == key.to_lowercase())
}

fn check_rollout(flag: &MixpanelFlag, out: &mut Problems) {
    if flag.rollout.is_empty() && flag.is_enabled() && flag.test_users.is_empty() {
        out.push(
            Problem::warning(
                "no-conditions",
                "/rollout",
                "the flag is enabled but has no rollout groups, so it serves no one",
            )
            .help("add a rollout group (`- rollout_percentage: 0` keeps it off)"),
        );
    }
    let defaults = default_splits(&flag.variants);
    for (gi, group) in flag.rollout.iter().enumerate() {
        let at = format!("/rollout/{gi}");
        let written = group.variant_splits != defaults;
        for key in group.variant_splits.keys() {
            if !flag.variants.iter().any(|v| &v.key == key) {
                out.push(
                    Problem::error(
                        "mixpanel-split-key",
                        format!("{at}/variant_splits/{}", escape_pointer(key)),
                        format!("`{key}` in `variant_splits` is not a variant of this flag"),
                    )
                    .help(variant_list(flag))
                    .on_key(),
                );
            }
        }
        let total = sum(group.variant_splits.values().copied());
        if written && !flag.variants.is_empty() && (total - 100.0).abs() > 1e-9 {
            out.push(Problem::error(
                "variant-sum",
                format!("{at}/variant_splits"),
                format!(
                    "variant splits of rollout group {} add up to {}, not 100",
                    gi + 1,
                    Percent(total)
                ),
            ));
        }
        if let Some(over) = &group.variant_override
            && !names_variant(flag, &over.key)
        {
            out.push(
                Problem::error(
                    "variant-override",
                    format!("{at}/variant_override/key"),
                    format!(
                        "variant override `{}` is not a variant of this flag; evaluators \
                         ignore it",
                        over.key
                    ),
                )
                .help(variant_list(flag)),
            );
        }
        for (field, replacement) in [
            (
                "runtime_evaluation_definition",
                group
                    .runtime_evaluation_definition
                    .is_some()
                    .then_some("runtime_evaluation_rule"),
            ),
            (
                "variant_override",
                group.variant_override.is_some().then_some("variant_splits"),
            ),
        ] {
            if let Some(replacement) = replacement {
                out.push(Problem::warning(
                    "mixpanel-deprecated",
                    format!("{at}/{field}"),
                    format!("`{field}` is deprecated in Mixpanel; use `{replacement}`"),
                ));
            }
        }
        if let Some(rule) = &group.runtime_evaluation_rule {
            logic(&rule.value(), &format!("{at}/runtime_evaluation_rule"), out);
        }
        if let Some(event) = &group.runtime_event_rule {
            if event.event_name.is_empty() {
                out.push(Problem::error(
                    "mixpanel-event-rule",
                    format!("{at}/runtime_event_rule/event_name"),
                    "a runtime event rule names its event",
                ));
            }
            if let Some(filters) = &event.property_filters {
                logic(
                    &filters.value(),
                    &format!("{at}/runtime_event_rule/property_filters"),
                    out,
                );
            }
        }
    }
}

fn logic(rule: &Value, at: &str, out: &mut Problems) {
    for problem in json_logic::check(rule, at) {
        out.push(Problem::error(
            "mixpanel-json-logic",
            problem.pointer,
            problem.message,
        ));
    }
}

/// Test users naming no variant; a map, so repeats are collapsed here as `Collapsed` does for
/// lists: the first few are shown and the last of them counts the rest.
fn check_test_users(flag: &MixpanelFlag, out: &mut Problems) {
    let mut wrong = flag
        .test_users
        .iter()
        .filter(|(_, variant)| !names_variant(flag, variant));
    let shown: Vec<(&String, &String)> = wrong.by_ref().take(SHOWN_PER_LIST).collect();
    let more = wrong.count();
    for (n, (user, variant)) in shown.iter().enumerate() {
        let suffix = if n + 1 == shown.len() && more > 0 {
            format!(" (and {} more in `test_users`)", thousands(more))
        } else {
            String::new()
        };
        out.push(
            Problem::error(
                "mixpanel-test-user",
                format!("/test_users/{}", escape_pointer(user)),
                format!(
                    "test user `{user}` is given variant `{variant}`, which is not a variant of \
                     this flag{suffix}"
                ),
            )
            .help(variant_list(flag)),
        );
    }
}

#[cfg(test)]
mod tests;
