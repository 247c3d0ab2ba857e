//! A JSON value a flag carries but flagops does not look into often (a variant's value, a
//! JsonLogic rule, a cohort definition), held as its compact text.
//!
//! Part of the model, used by the vendors' flag types. A `serde_json::Value` keeps every
//! object as a B-tree (about 600 bytes for a map of one key), so a repository of 10,000
//! flags with a rule each held hundreds of bytes of maps per rule, on each side of a plan.
//! [`Json`] holds the value's compact text instead (its keys sorted, as `Value` writes them),
//! so two values are equal exactly when their texts are, and is parsed again only where a
//! rule or a message reads inside it. It reads and writes as the value itself (any serde
//! format: YAML, JSON) and its schema is the value's.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A JSON value as its compact text, keys sorted (see the module documentation).
#[derive(Clone, PartialEq, Eq)]
pub struct Json(Box<str>);

impl Json {
    /// The compact text of `value`.
    pub fn new(value: &Value) -> Json {
        Json(value.to_string().into_boxed_str())
    }

    /// The value, parsed again. The text was written from a value read within `serde_json`'s
    /// nesting limit (YAML documents are limited further), so it always reads back; were it
    /// not to, the text itself is returned as a string rather than losing it.
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or_else(|_| Value::String(self.0.to_string()))
    }

    /// The compact text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whole floats written as integers at every depth (`1.0` → `1`), as
    /// [`crate::util::canonicalize`] does to a value.
    pub fn canonicalize(&mut self) {
        if !has_float(&self.0) {
            return;
        }
        let mut value = self.value();
        crate::util::canonicalize(&mut value);
        *self = Json::new(&value);
    }
}

/// Whether compact JSON `text` holds a float: a number with a `.`, `e` or `E` (outside the
/// strings, and not the `e` of `true` or `false`). Most rules and values have none and are
/// not parsed again.
fn has_float(text: &str) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    let mut in_number = false;
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'0'..=b'9' | b'-' => in_number = true,
            b'.' | b'e' | b'E' if in_number => return true,
            _ => in_number = false,
        }
    }
    false
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(|value| Json::new(&value))
    }
}

impl JsonSchema for Json {
    fn inline_schema() -> bool {
        <Value as JsonSchema>::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        <Value as JsonSchema>::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        <Value as JsonSchema>::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        <Value as JsonSchema>::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Json;

    #[test]
    fn a_value_is_held_as_its_compact_text_with_keys_sorted() {
        let value = json!({"b": [1, 2.5, "x"], "a": {"z": null, "y": true}});
        let held = Json::new(&value);
        assert_eq!(
            held.as_str(),
            r#"{"a":{"y":true,"z":null},"b":[1,2.5,"x"]}"#
        );
        assert_eq!(held.value(), value);
        assert_eq!(format!("{held}"), held.as_str());
    }

    #[test]
    fn equal_values_are_equal_texts() {
        let a: Json = serde_json::from_str(r#"{ "x": 1, "y": [true] }"#).unwrap();
        let b: Json = serde_json::from_str(r#"{"y":[true],"x":1}"#).unwrap();
        assert_eq!(a, b);
        let c: Json = serde_json::from_str(r#"{"y":[true],"x":1.0}"#).unwrap();
        assert_ne!(a, c, "1 and 1.0 differ until canonicalized, as `Value`s do");
    }

    #[test]
    fn canonicalize_writes_whole_floats_as_integers_and_keeps_the_rest() {
        let mut held = Json::new(&json!({"n": 18.0, "f": 2.5, "s": "1.0", "e": 1e3}));
        held.canonicalize();
        assert_eq!(held.as_str(), r#"{"e":1000,"f":2.5,"n":18,"s":"1.0"}"#);
        let mut plain = Json::new(&json!({"a": [1, "b"]}));
        plain.canonicalize();
        assert_eq!(plain.as_str(), r#"{"a":[1,"b"]}"#);
        // `.` and `e` inside strings (keys and values, escaped quotes too) are not floats.
        let mut rule = Json::new(&json!({"in": ["@team0.example", {"var": "e\"1.0"}], "n": 2}));
        rule.canonicalize();
        assert_eq!(
            rule.as_str(),
            r#"{"in":["@team0.example",{"var":"e\"1.0"}],"n":2}"#
        );
        let mut after = Json::new(&json!({"s": "a\\", "x": 3.0}));
        after.canonicalize();
        assert_eq!(after.as_str(), r#"{"s":"a\\","x":3}"#);
        assert!(!super::has_float(
            r#"{"in":["@team0.example",{"var":"e\"1.0"}],"n":2}"#
        ));
        assert!(super::has_float("[1e5]"));
        assert!(super::has_float(r#"{"a":true,"b":-0.5}"#));
        assert!(!super::has_float(
            r#"{"a":true,"b":false,"c":null,"d":-12}"#
        ));
    }

    #[test]
    fn it_reads_as_the_value_and_writes_as_the_value_in_yaml_too() {
        // The repository's documents are read into a `Value` first, then into the model.
        let document = json!({"themes": ["light", "dark"], "limit": 10});
        let held = <Json as serde::Deserialize>::deserialize(&document).unwrap();
        assert_eq!(held.as_str(), r#"{"limit":10,"themes":["light","dark"]}"#);
        let yaml = serde_saphyr::to_string(&held).unwrap();
        assert_eq!(yaml.trim(), "limit: 10\nthemes:\n- light\n- dark");
    }

    #[test]
    fn its_schema_is_the_values() {
        assert_eq!(
            schemars::schema_for!(Json),
            schemars::schema_for!(serde_json::Value)
        );
    }
}
