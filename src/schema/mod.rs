//! JSON Schemas generated from the Rust types, and checking documents against them.
//!
//! `generate` produces the committed files under `schemas/` (editors use them through the
//! `yaml-language-server` modeline); `check` runs the same schema over a parsed document with
//! the `jsonschema` crate, offline, and turns each violation into a located `Finding`.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
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
    let generator = SchemaSettings::draft2020_12().into_generator();
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
    let (schema, validator) = match kind {
        Kind::Config => &*CONFIG_VALIDATOR,
        Kind::Flag => &*FLAG_VALIDATOR,
    };
    let flag = match kind {
        Kind::Flag => value.get("key").and_then(Value::as_str),
        Kind::Config => None,
    };
    let mut findings = Vec::new();
    for error in validator.iter_errors(value) {
        for mut finding in describe(&error, schema, locations) {
            finding = finding.in_file(file);
            if let Some(key) = flag {
                finding = finding.for_flag(key);
            }
            findings.push(finding);
        }
    }
    findings
}

/// Turn a JSON pointer into a readable field path: `/conditions/0/rollout_percentage` →
/// `conditions[0].rollout_percentage`.
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

fn describe(error: &ValidationError<'_>, schema: &Value, locations: &Locations) -> Vec<Finding> {
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
                    f
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
                .map(|a| {
                    a.iter()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let mut f = at(&pointer).at(locations.value(&pointer));
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
            } else if let Some(best) = instance.as_str().and_then(|s| closest(s, &list)) {
                f = f.help(format!("did you mean `{best}`?"));
            }
            f
        }
        ValidationErrorKind::Type { kind } => {
            let mut f = at(&pointer).at(locations.value(&pointer));
            let expected = format!("{kind:?}").to_lowercase();
            f.message = format!(
                "{shown} has the wrong type (expected {})",
                type_words(&expected)
            );
            f
        }
        ValidationErrorKind::Pattern { pattern } => {
            let mut f = at(&pointer).at(locations.value(&pointer));
            f.message = format!("{shown} does not match `{pattern}`");
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
    vec![finding]
}

fn type_words(debug: &str) -> String {
    // `single(integer)` / `multiple(...)` → plain words.
    let inner = debug
        .trim_start_matches("single(")
        .trim_start_matches("multiple(")
        .trim_end_matches(')');
    inner.replace(" | ", " or ")
}

fn short(value: &Value) -> String {
    let text = value.to_string();
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
            field_path("/conditions/0/properties/1/value"),
            "conditions[0].properties[1].value"
        );
        assert_eq!(field_path(""), "");
        assert_eq!(field_path("/payloads/a~1b"), "payloads.a/b");
    }

    #[test]
    fn closest_suggests_typos_only() {
        let known = vec!["rollout_percentage".to_owned(), "variant".to_owned()];
        assert_eq!(
            closest("rollout_percentge", &known),
            Some("rollout_percentage")
        );
        assert_eq!(closest("zzz", &known), None);
    }
}
