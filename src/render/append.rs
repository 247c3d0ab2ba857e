//! Keys added to a pretty-printed JSON document after its own, leaving its bytes as they
//! were: options such as `plan --base` extend a versioned document additively.

use std::fmt::Write;

use serde_json::Value;

/// `rendered` (a pretty-printed JSON object, as `serde_json::to_string_pretty` prints it,
/// with or without a final newline) with `keys` added at its end, in order, and a final
/// newline.
pub fn append_keys(rendered: &str, keys: &[(&str, Value)]) -> String {
    let body = rendered.trim_end();
    let body = body.strip_suffix('}').unwrap_or(body).trim_end();
    let mut text = body.to_owned();
    // An empty object (`{`) takes no comma before its first key.
    let mut first = text.ends_with('{');
    for (key, value) in keys {
        let value = serde_json::to_string_pretty(value)
            .unwrap_or_default()
            .replace('\n', "\n  ");
        let comma = if first { "" } else { "," };
        first = false;
        let _ = write!(text, "{comma}\n  {}: {value}", Value::from(*key));
    }
    text.push_str("\n}\n");
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::append_keys;

    #[test]
    fn keys_follow_the_documents_own_and_it_stays_valid_json() {
        let doc = serde_json::to_string_pretty(&json!({"a": {"b": [1, 2]}})).unwrap() + "\n";
        let text = append_keys(&doc, &[("z", json!({"x": "y"})), ("w", json!([]))]);
        assert_eq!(
            text,
            "{\n  \"a\": {\n    \"b\": [\n      1,\n      2\n    ]\n  },\n  \"z\": {\n    \"x\": \"y\"\n  },\n  \"w\": []\n}\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["z"]["x"], "y");
        assert_eq!(append_keys("{}", &[("k", json!(1))]), "{\n  \"k\": 1\n}\n");
    }
}
