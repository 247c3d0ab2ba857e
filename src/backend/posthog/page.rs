//! One page of PostHog's flag list, as text → the flags it holds, each kept as the compact
//! text of the fields the adapter reads ([`FLAG_FIELDS`]); the other fields are skipped while
//! the page is parsed, never allocated. `pages` reads the pages; this reads one.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::wire::{Listed, Page};
use crate::backend::http::{Call, json_kind, read_json};
use crate::backend::{BackendError, BackendResult};

/// The fields of a listed flag that are kept: every field `WireFlag` reads.
pub(super) const FLAG_FIELDS: [&str; 16] = [
    "id",
    "key",
    "name",
    "filters",
    "active",
    "deleted",
    "archived",
    "version",
    "tags",
    "evaluation_contexts",
    "evaluation_tags",
    "ensure_experience_continuity",
    "is_remote_configuration",
    "has_encrypted_payloads",
    "evaluation_runtime",
    "bucketing_identifier",
];

/// A list page, parsed straight from the answer's text, each flag with its [`FLAG_FIELDS`]
/// only; an answer that is not one is read as JSON again to say what it is instead.
pub(super) fn read_page(text: String, status: u16, call: &Call<'_>) -> BackendResult<FlagPage> {
    if let Ok(page) = serde_json::from_str::<KeptPage>(&text) {
        return Ok(FlagPage {
            next: page.next,
            count: page.count,
            results: page.results.into_iter().map(|flag| flag.0).collect(),
        });
    }
    let page = parse_page(read_json(text, status, call)?, call)?;
    Ok(FlagPage {
        next: page.next,
        count: page.count,
        results: page.results.iter().map(Listed::from_object).collect(),
    })
}

/// One page of the flag list, its flags as [`Listed`].
#[derive(Debug)]
pub(super) struct FlagPage {
    /// The link to the next page, if any.
    pub(super) next: Option<String>,
    /// How many flags the whole list holds, as the server said it.
    pub(super) count: Option<Value>,
    /// The page's flags.
    pub(super) results: Vec<Listed>,
}

/// A list page whose flags keep their [`FLAG_FIELDS`] only.
#[derive(Deserialize)]
struct KeptPage {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    count: Option<Value>,
    results: Vec<Kept>,
}

/// A flag object with its [`FLAG_FIELDS`] only (the others skipped unread), their values
/// copied as written into one compact object.
struct Kept(Listed);

impl<'de> Deserialize<'de> for Kept {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(KeptVisitor)
    }
}

struct KeptVisitor;

impl<'de> Visitor<'de> for KeptVisitor {
    type Value = Kept;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a flag object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kept, A::Error> {
        // By field, so that a field written twice keeps its last value (as a JSON object
        // read whole does).
        let mut kept: [Option<&'de RawValue>; FLAG_FIELDS.len()] = [None; FLAG_FIELDS.len()];
        while let Some(FieldName(index)) = map.next_key()? {
            match index {
                Some(i) => kept[i] = Some(map.next_value()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let value = |name: &str| {
            let i = FLAG_FIELDS.iter().position(|f| *f == name)?;
            serde_json::from_str::<Value>(kept[i]?.get()).ok()
        };
        let mut text = String::with_capacity(
            kept.iter()
                .flatten()
                .map(|v| v.get().len() + 24)
                .sum::<usize>()
                + 2,
        );
        text.push('{');
        for (name, raw) in FLAG_FIELDS.iter().zip(kept) {
            if let Some(raw) = raw {
                if text.len() > 1 {
                    text.push(',');
                }
                text.push('"');
                text.push_str(name);
                text.push_str("\":");
                text.push_str(raw.get());
            }
        }
        text.push('}');
        Ok(Kept(Listed {
            id: value("id").as_ref().and_then(Value::as_i64),
            key: value("key").and_then(|k| k.as_str().map(str::to_owned)),
            deleted: value("deleted").as_ref().and_then(Value::as_bool) == Some(true),
            text: text.into_boxed_str(),
        }))
    }
}

/// A key of a flag object: the index of one of [`FLAG_FIELDS`], or `None` (not allocated).
struct FieldName(Option<usize>);

impl<'de> Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(FieldNameVisitor)
    }
}

struct FieldNameVisitor;

impl Visitor<'_> for FieldNameVisitor {
    type Value = FieldName;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<FieldName, E> {
        Ok(FieldName(FLAG_FIELDS.iter().position(|f| *f == name)))
    }
}

/// A list page: an object whose `results` is an array. Anything else (an array, an object
/// without `results`) is an error, never an empty list: reading "no flags" from a broken
/// answer would make a plan create every flag.
fn parse_page(answer: Value, call: &Call<'_>) -> BackendResult<Page> {
    let unexpected = |what: String| BackendError::Server {
        status: 200,
        detail: Some(format!(
            "unexpected answer to `{}`: {what}; check that `host` is the PostHog API origin",
            call.action
        )),
    };
    let Value::Object(object) = &answer else {
        return Err(unexpected(format!(
            "expected a JSON object with `results`, got {}",
            json_kind(&answer)
        )));
    };
    match object.get("results") {
        Some(Value::Array(_)) => {}
        Some(other) => {
            return Err(unexpected(format!(
                "`results` is {}, not an array",
                json_kind(other)
            )));
        }
        None => return Err(unexpected("the object has no `results`".to_owned())),
    }
    serde_json::from_value(answer).map_err(|e| unexpected(format!("invalid list page ({e})")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::backend::posthog::wire::WireFlag;

    fn call() -> Call<'static> {
        Call {
            key: None,
            action: "list".into(),
            access: crate::backend::http::Access::Read,
        }
    }

    /// A flag with every field `WireFlag` reads and some it does not, as PostHog lists it.
    fn listed() -> Value {
        json!({
            "id": 7, "key": "a", "name": "A", "active": false, "deleted": false, "archived": true,
            "version": 3, "tags": ["t"], "evaluation_contexts": ["web"], "evaluation_tags": ["old"],
            "ensure_experience_continuity": true, "is_remote_configuration": false,
            "has_encrypted_payloads": false, "evaluation_runtime": "server",
            "bucketing_identifier": "device_id",
            "filters": {"groups": [{"properties": [], "rollout_percentage": 5}], "extra": {"x": 1}},
            "created_by": {"id": 1, "email": "someone@example.com"},
            "experiment_set": [1, 2], "surveys": [], "usage_dashboard": null, "can_edit": true
        })
    }

    #[test]
    fn a_kept_flag_reads_as_the_whole_one_without_the_other_fields() {
        let page = json!({"count": 1, "next": null, "results": [listed()]}).to_string();
        let call = call();
        let page = read_page(page.clone(), 200, &call).unwrap();
        let kept = &page.results[0];
        assert_eq!(
            (kept.id, kept.key.as_deref(), kept.deleted),
            (Some(7), Some("a"), false)
        );
        let object = kept.object();
        let mut names: Vec<&str> = object.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut expected = FLAG_FIELDS.to_vec();
        expected.sort_unstable();
        assert_eq!(names, expected);
        // Every field `WireFlag` reads is kept (a field added to it must be added here).
        let whole: WireFlag = serde_json::from_value(listed()).unwrap();
        let from_kept: WireFlag = serde_json::from_str(&kept.text).unwrap();
        assert_eq!(format!("{whole:?}"), format!("{from_kept:?}"));
        assert_eq!(object["filters"], listed()["filters"]);
    }

    #[test]
    fn a_field_written_twice_keeps_its_last_value_as_a_whole_object_does() {
        let call = call();
        let text = r#"{"count": 1, "next": null, "results": [{"id": 1, "key": "a", "active": true, "deleted": true, "key": "b", "deleted": false, "x": {"y": [1]}}]}"#;
        let page = read_page(text.to_owned(), 200, &call).unwrap();
        let kept = &page.results[0];
        assert_eq!(
            (kept.id, kept.key.as_deref(), kept.deleted),
            (Some(1), Some("b"), false)
        );
        assert_eq!(
            &*kept.text,
            r#"{"id":1,"key":"b","active":true,"deleted":false}"#
        );
    }

    #[test]
    fn a_page_that_is_not_one_says_what_it_is() {
        let call = call();
        let error = |text: &str| {
            read_page(text.to_owned(), 200, &call)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error(r#"{"results": [1]}"#),
            "unexpected answer to `list`: invalid list page (invalid type: integer `1`, expected a map); check that `host` is the PostHog API origin"
        );
        assert_eq!(
            error(r#"{"results": {}}"#),
            "unexpected answer to `list`: `results` is an object, not an array; check that `host` is the PostHog API origin"
        );
    }
}
