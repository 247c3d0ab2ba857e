//! Small helpers shared by several layers, so that no layer reaches into another for them:
//! content digests (the config hash of a saved plan, flag fingerprints, import's file names)
//! JSON-pointer escaping, the canonical form of JSON values, and reading a file flagops
//! keeps (a state file, a saved plan) within a size limit.

use std::borrow::Cow;
use std::fmt::Write;
use std::io::Read as _;
use std::path::Path;

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

/// Write a JSON value's whole floats as integers, recursively (`1.0` → `1`), in place.
pub fn canonicalize(value: &mut Value) {
    match value {
        Value::Number(n) => *n = canonical_number(n),
        Value::Array(items) => items.iter_mut().for_each(canonicalize),
        Value::Object(map) => map.values_mut().for_each(canonicalize),
        _ => {}
    }
}

/// Strings as a set: sorted, each once.
pub fn sorted_set(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut set: Vec<String> = items.into_iter().collect();
    set.sort_unstable();
    set.dedup();
    set
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

/// A serde message about a file a person may have edited, without the Rust type names serde
/// puts in it: `expected struct StateFile` says nothing to a user. A struct becomes "an
/// object" (serde reads a struct from an array too, hence its "invalid length N, expected
/// struct X with M elements" for an array: "expected an object, found an array").
pub fn without_type_names(message: &str) -> String {
    const STRUCT: &str = "expected struct ";
    if message.starts_with("invalid length ") && message.contains(STRUCT) {
        return "expected an object, found an array".to_owned();
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(STRUCT) {
        out.push_str(&rest[..at]);
        out.push_str("expected an object");
        rest = &rest[at + STRUCT.len()..];
        let name = rest
            .find(|c: char| !c.is_alphanumeric() && c != '_')
            .unwrap_or(rest.len());
        rest = &rest[name..];
    }
    out.push_str(rest);
    out
}

/// Why [`read_bounded`] gave no text.
#[derive(Debug)]
pub enum Unread {
    /// The path is not a regular file (a FIFO or a device would block or never end): it was
    /// not opened.
    NotAFile,
    /// The file is larger than the limit (by its size, or by what a read found).
    TooLarge,
    /// The file could not be looked at or read (`NotFound` when it is not there).
    Io(std::io::Error),
}

/// The text of the regular file at `path`, at most `limit` bytes: a FIFO or device is never
/// opened, and a file is never read past the limit, even one that grew since it was sized.
pub fn read_bounded(path: &Path, limit: u64) -> Result<String, Unread> {
    let meta = std::fs::metadata(path).map_err(Unread::Io)?;
    if !meta.is_file() {
        return Err(Unread::NotAFile);
    }
    if meta.len() > limit {
        return Err(Unread::TooLarge);
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(limit + 1).read_to_string(&mut text))
        .map_err(Unread::Io)?;
    if text.len() as u64 > limit {
        return Err(Unread::TooLarge);
    }
    Ok(text)
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

    #[test]
    fn canonicalize_writes_whole_floats_as_integers_at_every_depth() {
        let mut value = serde_json::json!({
            "a": [1.0, 2.5, {"b": -3.0}],
            "c": 9_007_199_254_740_992.0,
            "d": "1.0"
        });
        super::canonicalize(&mut value);
        assert_eq!(
            value.to_string(),
            r#"{"a":[1,2.5,{"b":-3}],"c":9007199254740992.0,"d":"1.0"}"#
        );
    }

    #[test]
    fn a_sorted_set_holds_each_string_once_in_order() {
        let items = ["b", "a", "b", "", "a"].map(str::to_owned);
        assert_eq!(super::sorted_set(items), ["", "a", "b"]);
    }

    #[test]
    fn serde_messages_lose_their_type_names() {
        assert_eq!(
            super::without_type_names(
                "invalid length 0, expected struct StateFile with 2 elements"
            ),
            "expected an object, found an array"
        );
        assert_eq!(
            super::without_type_names("invalid type: string \"x\", expected struct Metadata"),
            "invalid type: string \"x\", expected an object"
        );
        assert_eq!(
            super::without_type_names("missing field `flags`"),
            "missing field `flags`"
        );
    }
}
