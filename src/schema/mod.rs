//! JSON Schemas generated from the Rust types, and checking documents against them.
//!
//! `generate` produces the committed files under `schemas/` (editors use them through the
//! `yaml-language-server` modeline); `check` runs the same schema over a parsed document with
//! the `jsonschema` crate, offline, and turns each violation into a located `Finding`.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::LazyLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::config::Config;
use crate::finding::Finding;
use crate::model::FlagSpec;
use crate::source::yaml::Locations;

/// A generated schema file: its name under `schemas/` and its content.
pub struct SchemaFile {
    /// File name, e.g. `posthog-flag.schema.json`.
    pub name: &'static str,
    /// Pretty-printed JSON with a trailing newline.
    pub content: String,
}

/// File name of the config schema.
pub const CONFIG_SCHEMA: &str = "flagops.schema.json";
/// File name of the flag schema.
pub const FLAG_SCHEMA: &str = "posthog-flag.schema.json";

fn generate_value<T: schemars::JsonSchema>(id: &str, title: &str) -> Value {
    let generator = SchemaSettings::draft07().into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Value::Object(map) = &mut schema {
        map.insert("$id".into(), Value::String(id.into()));
        map.insert("title".into(), Value::String(title.into()));
    }
    schema
}

/// The schema of `flagops.yaml`.
pub fn config_schema() -> Value {
    generate_value::<Config>(
        "https://flagops.dev/schemas/flagops.schema.json",
        "flagops config",
    )
}

/// The schema of one flag document (PostHog shape).
pub fn flag_schema() -> Value {
    generate_value::<FlagSpec>(
        "https://flagops.dev/schemas/posthog-flag.schema.json",
        "flagops PostHog flag",
    )
}

/// File name of the Mixpanel flag schema (not yet in [`generate`]: the CLI does not manage
/// Mixpanel repositories yet; a unit test keeps the committed file current).
pub const MIXPANEL_FLAG_SCHEMA: &str = "mixpanel-flag.schema.json";

/// The schema of one Mixpanel flag document.
pub fn mixpanel_flag_schema() -> Value {
    generate_value::<crate::vendor::mixpanel::MixpanelSpec>(
        "https://flagops.dev/schemas/mixpanel-flag.schema.json",
        "flagops Mixpanel flag",
    )
}

/// Every schema file, in a stable order.
pub fn generate() -> Vec<SchemaFile> {
    let render = |v: Value| {
        let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
        s.push('\n');
        s
    };
    vec![
        SchemaFile {
            name: CONFIG_SCHEMA,
            content: render(config_schema()),
        },
        SchemaFile {
            name: FLAG_SCHEMA,
            content: render(flag_schema()),
        },
    ]
}

fn compile(schema: &Value) -> Validator {
    // The schemas are generated from our own types and reference nothing outside themselves;
    // the crate is built without remote resolvers, so nothing is ever fetched.
    match jsonschema::options()
        .should_validate_formats(false)
        .build(schema)
    {
        Ok(validator) => validator,
        Err(e) => unreachable!("generated schema does not compile: {e}"),
    }
}

static FLAG_VALIDATOR: LazyLock<(Value, Validator)> = LazyLock::new(|| {
    let schema = flag_schema();
    let validator = compile(&schema);
    (schema, validator)
});

static CONFIG_VALIDATOR: LazyLock<(Value, Validator)> = LazyLock::new(|| {
    let schema = config_schema();
    let validator = compile(&schema);
    (schema, validator)
});

/// Which schema to check against.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `flagops.yaml`.
    Config,
    /// A flag document.
    Flag,
}

/// Check `value` against the schema; one finding per violation, located through `locations`.
pub fn check(kind: Kind, value: &Value, locations: &Locations, file: &Path) -> Vec<Finding> {
    violations(kind, value, locations, file, &mut |_| {})
}

/// Like `check`, and calls `at` with the JSON pointer of the value each violation is about
/// (for a missing field, the mapping that lacks it; for an unknown field, that field), so that
/// the loader can leave exactly the broken parts out and still check the rest. Repeats of one
/// violation over the items of one list (20,000 labels of the wrong type) collapse into the
/// first finding, which counts the rest.
pub fn violations(
    kind: Kind,
    value: &Value,
    locations: &Locations,
    file: &Path,
    at: &mut dyn FnMut(&str),
) -> Vec<Finding> {
    let (schema, validator) = match kind {
        Kind::Config => &*CONFIG_VALIDATOR,
        Kind::Flag => &*FLAG_VALIDATOR,
    };
    let flag = match kind {
        Kind::Flag => value.get("key").and_then(Value::as_str),
        Kind::Config => None,
    };
    let mut findings = crate::finding::Collapsed::default();
    for error in validator.iter_errors(value) {
        for (pointer, mut finding) in describe(&error, schema, locations) {
            at(&pointer);
            finding = finding.in_file(file);
            if let Some(key) = flag {
                finding = finding.for_flag(key);
            }
            findings.push(finding.code, &pointer, finding);
        }
    }
    findings
        .finish()
        .map(|(mut finding, suffix)| {
            finding.message.push_str(&suffix);
            finding
        })
        .collect()
}

/// Turn a JSON pointer into a readable field path: `/rules/0/percentage` →
/// `rules[0].percentage`.
pub fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            let _ = write!(out, "[{segment}]");
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

fn describe(
    error: &ValidationError<'_>,
    schema: &Value,
    locations: &Locations,
) -> Vec<(String, Finding)> {
    let pointer = error.instance_path().as_str().to_owned();
    let at = |p: &str| Finding::error("schema", "").field(field_path(p));
    let instance = error.instance();
    let shown = short(instance);
    let finding = match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let known = known_properties(schema, error.schema_path().as_str());
            return unexpected
                .iter()
                .map(|name| {
                    let child = format!("{pointer}/{}", crate::source::yaml::escape_pointer(name));
                    let mut f = at(&child).at(locations.key(&child));
                    f.message = format!("unknown field `{name}`");
                    if let Some(best) = closest(name, &known) {
                        f = f.help(format!("did you mean `{best}`?"));
                    } else if !known.is_empty() {
                        f = f.help(format!("expected one of: {}", known.join(", ")));
                    }
                    (child, f)
                })
                .collect();
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let mut f = at(&pointer).at(locations.value(&pointer));
            f.message = format!("missing required field `{name}`");
            f
        }
        ValidationErrorKind::Enum { options } => {
            let list: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(option_text).collect())
                .unwrap_or_default();
            not_one_of(at(&pointer).at(locations.value(&pointer)), instance, &list)
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            if let Some(found) = describe_alternatives(error, context, schema, locations) {
                return found;
            }
            let mut f = at(&pointer).at(locations.value(&pointer));
            f.message = error.masked().to_string();
            f
        }
        ValidationErrorKind::Type { kind } => {
            let mut f = at(&pointer).at(locations.value(&pointer));
            let expected = type_words(kind);
            f.message = format!("{shown} has the wrong type (expected {expected})");
            if let Some(help) = type_help(instance, &expected) {
                f = f.help(help);
            }
            f
        }
        ValidationErrorKind::Pattern { pattern } => {
            let mut f = at(&pointer).at(locations.value(&pointer));
            // A pattern only applies to strings: the value needs no JSON quotes.
            let text = instance
                .as_str()
                .filter(|s| !s.is_empty())
                .map_or_else(|| shown.clone(), short_text);
            f.message = format!("{text} does not match `{pattern}`");
            if let Some(help) = pattern_help(pattern) {
                f = f.help(help);
            }
            f
        }
        ValidationErrorKind::Minimum { limit } => {
            let mut f = at(&pointer).at(locations.value(&pointer));
            f.message = format!("{shown} is less than the minimum of {limit}");
            f
        }
        ValidationErrorKind::Maximum { limit } => {
            let mut f = at(&pointer).at(locations.value(&pointer));
            f.message = format!("{shown} is greater than the maximum of {limit}");
            f
        }
        ValidationErrorKind::MaxLength { limit } => {
            let mut f = at(&pointer).at(locations.value(&pointer));
            f.message = format!("value is longer than {limit} characters");
            f
        }
        ValidationErrorKind::MinLength { limit } => {
            let mut f = at(&pointer).at(locations.value(&pointer));
            f.message = if *limit == 1 {
                "value must not be empty".to_owned()
            } else {
                format!("value is shorter than {limit} characters")
            };
            f
        }
        ValidationErrorKind::MinItems { limit } => {
            let mut f = at(&pointer).at(locations.value(&pointer));
            f.message = format!(
                "list must have at least {limit} item{}",
                if *limit == 1 { "" } else { "s" }
            );
            f
        }
        ValidationErrorKind::MaxItems { limit } => {
            let mut f = at(&pointer).at(locations.value(&pointer));
            f.message = format!("list has more than {limit} items");
            f
        }
        _ => {
            let mut f = at(&pointer).at(locations.value(&pointer));
            f.message = error.masked().to_string();
            f
        }
    };
    vec![(pointer, finding)]
}

/// `boolean`, `string or number`: the expected JSON types. `null` is left out when other
/// types are allowed, since it only stands for an absent optional field.
fn type_words(kind: &TypeKind) -> String {
    let names: Vec<&str> = match kind {
        TypeKind::Single(t) => vec![t.as_str()],
        TypeKind::Multiple(set) => set.iter().map(jsonschema::JsonType::as_str).collect(),
    };
    let shown: Vec<&str> = names.iter().copied().filter(|n| *n != "null").collect();
    if shown.is_empty() {
        names.join(" or ")
    } else {
        shown.join(" or ")
    }
}

/// What to write instead of a value of the wrong type, when YAML is the likely cause.
fn type_help(instance: &Value, expected: &str) -> Option<String> {
    let words: Vec<&str> = expected.split(" or ").collect();
    match instance {
        Value::String(s)
            if words.contains(&"boolean")
                && ["yes", "no", "on", "off", "y", "n"].contains(&s.to_lowercase().as_str()) =>
        {
            Some(format!(
                "YAML 1.2 reads `{s}` as a string; write `true` or `false`"
            ))
        }
        Value::Number(_) | Value::Bool(_) if words == ["string"] => {
            Some(format!("quote it to make it a string: `\"{instance}\"`"))
        }
        _ => None,
    }
}

/// What the patterns of the generated schemas allow, in words.
fn pattern_help(pattern: &str) -> Option<&'static str> {
    match pattern {
        "^[a-zA-Z0-9_-]+$" => Some("use only letters, digits, `_` and `-`"),
        "^[a-zA-Z0-9_./-]+$" => Some("use only letters, digits, `_`, `.`, `/` and `-`"),
        "^https?://" => Some("write the full URL, e.g. `https://us.posthog.com`"),
        "^[A-Za-z_][A-Za-z0-9_]*$" => {
            Some("write the name of an environment variable, e.g. `POSTHOG_API_KEY`")
        }
        _ => None,
    }
}

fn option_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// "`x` is not one of: a, b" with a suggestion (or PostHog's operator aliases).
fn not_one_of(mut f: Finding, instance: &Value, list: &[String]) -> Finding {
    // An enum value is a name: show a string without its JSON quotes.
    let shown = instance
        .as_str()
        .map_or_else(|| short(instance), short_text);
    f.message = format!("{shown} is not one of: {}", list.join(", "));
    if let Some(alias) = instance.as_str().and_then(|s| match s {
        "min" => Some("gte"),
        "max" => Some("lte"),
        _ => None,
    }) {
        f = f.help(format!(
            "PostHog rewrites `{}` to `{alias}`; write `{alias}`",
            instance.as_str().unwrap_or_default()
        ));
    } else if let Some(best) = instance.as_str().and_then(|s| closest(s, list)) {
        f = f.help(format!("did you mean `{best}`?"));
    }
    f
}

/// Explain an `anyOf`/`oneOf` failure by its alternatives. Optional fields are
/// `anyOf: [T, null]` and documented enums are `oneOf` of constants; the generic
/// "not valid under any of the schemas" says neither what was wrong nor what is allowed.
fn describe_alternatives(
    error: &ValidationError<'_>,
    context: &[Vec<ValidationError<'static>>],
    schema: &Value,
    locations: &Locations,
) -> Option<Vec<(String, Finding)>> {
    let here = error.instance_path().as_str();
    // An enum written as one constant per alternative.
    let constants: Option<Vec<String>> = context
        .iter()
        .map(|branch| {
            branch.iter().find_map(|e| match e.kind() {
                ValidationErrorKind::Constant { expected_value } => {
                    Some(option_text(expected_value))
                }
                _ => None,
            })
        })
        .collect();
    if let Some(list) = constants.filter(|l| !l.is_empty()) {
        let f = Finding::error("schema", "")
            .field(field_path(here))
            .at(locations.value(here));
        return Some(vec![(
            here.to_owned(),
            not_one_of(f, error.instance(), &list),
        )]);
    }
    // Alternatives the value does not even have the type of say nothing useful; when
    // exactly one alternative is left, its errors are the real ones.
    let informative: Vec<&Vec<ValidationError<'static>>> = context
        .iter()
        .filter(|branch| {
            !branch.iter().all(|e| {
                matches!(e.kind(), ValidationErrorKind::Type { .. })
                    && e.instance_path().as_str() == here
            })
        })
        .collect();
    match informative.as_slice() {
        [branch] => Some(
            branch
                .iter()
                .flat_map(|e| describe(e, schema, locations))
                .collect(),
        ),
        _ => None,
    }
}

fn short(value: &Value) -> String {
    short_text(&value.to_string())
}

fn short_text(text: &str) -> String {
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(37).collect();
        format!("`{cut}...`")
    } else {
        format!("`{text}`")
    }
}

/// The property names allowed where an `additionalProperties` error was raised.
fn known_properties(schema: &Value, schema_path: &str) -> Vec<String> {
    let parent = schema_path
        .strip_suffix("/additionalProperties")
        .unwrap_or(schema_path);
    schema
        .pointer(parent)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|props| props.keys().cloned().collect())
        .unwrap_or_default()
}

/// The closest candidate by edit distance, if close enough to be a likely typo.
pub fn closest<'a>(name: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_read_naturally() {
        assert_eq!(
            field_path("/rules/0/properties/1/value"),
            "rules[0].properties[1].value"
        );
        assert_eq!(field_path(""), "");
        assert_eq!(field_path("/values/a~1b"), "values.a/b");
    }

    #[test]
    fn closest_suggests_typos_only() {
        let known = vec!["percentage".to_owned(), "variant".to_owned()];
        assert_eq!(closest("percentge", &known), Some("percentage"));
        assert_eq!(closest("zzz", &known), None);
    }
}
