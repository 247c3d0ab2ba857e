//! Plain and tagged scalars → JSON values, with the YAML 1.2 core schema.

use std::borrow::Cow;

use saphyr_parser::{ScalarStyle, Tag};
use serde_json::{Number, Value};

/// Resolve a scalar with the YAML 1.2 core schema. A string keeps the parser's own text.
pub(super) fn resolve_scalar(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Tag>,
) -> Result<Value, String> {
    let string = |text: Cow<'_, str>| Value::String(text.into_owned());
    if let Some(tag) = tag {
        if !tag.is_yaml_core_schema() {
            return Err(format!("unsupported tag `{}{}`", tag.handle, tag.suffix));
        }
        return match tag.suffix.as_str() {
            "str" => Ok(string(text)),
            "null" => Ok(Value::Null),
            "bool" => resolve_bool(&text).ok_or_else(|| format!("`{text}` is not a boolean")),
            "int" => resolve_int(&text).ok_or_else(|| format!("`{text}` is not an integer")),
            "float" => resolve_float(&text)
                .or_else(|| resolve_int(&text).map(Ok))
                .unwrap_or_else(|| Err(format!("`{text}` is not a number"))),
            other => Err(format!("unsupported tag `!!{other}`")),
        };
    }
    if style != ScalarStyle::Plain {
        return Ok(string(text));
    }
    if matches!(&*text, "" | "~" | "null" | "Null" | "NULL") {
        return Ok(Value::Null);
    }
    if let Some(b) = resolve_bool(&text) {
        return Ok(b);
    }
    if let Some(i) = resolve_int(&text) {
        return Ok(i);
    }
    match resolve_float(&text) {
        Some(result) => result,
        None => Ok(string(text)),
    }
}

fn resolve_bool(text: &str) -> Option<Value> {
    match text {
        "true" | "True" | "TRUE" => Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => Some(Value::Bool(false)),
        _ => None,
    }
}

fn resolve_int(text: &str) -> Option<Value> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(hex) = digits.strip_prefix("0x") {
        (16, hex)
    } else if let Some(oct) = digits.strip_prefix("0o") {
        (8, oct)
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        let n = i64::try_from(magnitude).ok()?;
        Some(Value::Number(Number::from(-n)))
    } else {
        Some(Value::Number(Number::from(magnitude)))
    }
}

/// `None`: not a float; `Some(Err)`: a float JSON cannot hold.
fn resolve_float(text: &str) -> Option<Result<Value, String>> {
    let unsigned = text.trim_start_matches(['-', '+']);
    if unsigned.eq_ignore_ascii_case(".inf") || unsigned.eq_ignore_ascii_case(".nan") {
        return Some(Err(format!(
            "`{text}` is not a finite number; JSON cannot hold it"
        )));
    }
    let looks_numeric = text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    if !looks_numeric {
        return None;
    }
    let f: f64 = text.parse().ok()?;
    // A literal past f64's range parses as infinity: refuse it rather than keep it as text.
    Some(
        Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("`{text}` is too large for a number; JSON cannot hold it")),
    )
}
