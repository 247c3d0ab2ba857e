//! Small helpers shared by several layers, so that no layer reaches into another for them:
//! content digests (the config hash of a saved plan, flag fingerprints, import's file names)
//! JSON-pointer escaping and the canonical form of JSON values.

use std::borrow::Cow;
use std::fmt::Write;

use serde_json::{Number, Value};

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::from("sha256:");
    for byte in hash {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Escape a key for use in a JSON pointer (RFC 6901).
pub fn escape_pointer(key: &str) -> Cow<'_, str> {
    if key.contains(['~', '/']) {
        Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(key)
    }
}

/// A JSON value with whole floats written as integers, recursively (`1.0` → `1`).
pub fn canonical_value(value: &Value) -> Value {
    match value {
        Value::Number(n) => Value::Number(canonical_number(n)),
        Value::Array(items) => Value::Array(items.iter().map(canonical_value).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), canonical_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn canonical_number(n: &Number) -> Number {
    if n.is_i64() || n.is_u64() {
        return n.clone();
    }
    match n.as_f64() {
        // Integers beyond 2^53 are not exact as floats; keep the float.
        #[allow(clippy::cast_possible_truncation)]
        Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => Number::from(f as i64),
        _ => n.clone(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_is_prefixed_lower_case_hex() {
        assert_eq!(
            super::sha256(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
