//! Operator/value compatibility: what each PostHog operator accepts as a value.

use serde_json::Value;

use crate::vendor::posthog::{Operator, PropertyType};

/// One problem with a property's operator or value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValueProblem {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// An error, or merely ignored by evaluators (a warning).
    pub(crate) is_error: bool,
    /// The problem is about `operator` (else about `value`).
    pub(crate) on_operator: bool,
}

// Returns `Option` so that every arm of `check` reads the same.
#[allow(clippy::unnecessary_wraps)]
fn error(code: &'static str, message: String) -> Option<ValueProblem> {
    Some(ValueProblem {
        code,
        message,
        is_error: true,
        on_operator: false,
    })
}

/// Check a non-flag property's operator against its type and value.
pub(crate) fn check(
    kind: PropertyType,
    op: Operator,
    value: Option<&Value>,
) -> Option<ValueProblem> {
    let name = op.as_str();
    let cohort_op = matches!(op, Operator::In | Operator::NotIn);
    if kind == PropertyType::Cohort && !(cohort_op || op == Operator::Exact) {
        return Some(ValueProblem {
            code: "operator",
            message: format!("cohort properties take `in` or `not_in`, not `{name}`"),
            is_error: true,
            on_operator: true,
        });
    }
    if cohort_op && kind != PropertyType::Cohort {
        return Some(ValueProblem {
            code: "operator",
            message: format!("`{name}` only applies to cohort properties"),
            is_error: true,
            on_operator: true,
        });
    }
    if op == Operator::FlagEvaluatesTo {
        return Some(ValueProblem {
            code: "operator",
            message: "`flag_evaluates_to` only applies to `type: flag` properties".to_owned(),
            is_error: true,
            on_operator: true,
        });
    }
    if matches!(op, Operator::IsSet | Operator::IsNotSet) {
        // PostHog's UI stores the operator name as the value; anything else is ignored.
        return match value {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s == name => None,
            Some(_) => Some(ValueProblem {
                code: "ignored-value",
                message: format!("`{name}` ignores `value`"),
                is_error: false,
                on_operator: false,
            }),
        };
    }
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return error(
            "missing-value",
            format!("operator `{name}` needs a `value`"),
        );
    };
    if kind == PropertyType::Cohort {
        let is_id = value.as_i64().is_some()
            || value
                .as_str()
                .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
        return if is_id {
            None
        } else {
            error(
                "value-type",
                format!("a cohort `value` is the cohort's numeric id, not {value}"),
            )
        };
    }
    match op {
        Operator::Regex | Operator::NotRegex => match value.as_str() {
            None => error("value-type", format!("`{name}` needs a string pattern")),
            Some(pattern) => regex_problem(pattern),
        },
        Operator::IcontainsMulti | Operator::NotIcontainsMulti => match value.as_array() {
            Some(items) if !items.is_empty() && items.iter().all(Value::is_string) => None,
            _ => error(
                "value-type",
                format!("`{name}` needs a non-empty list of strings"),
            ),
        },
        op if op.is_semver() => match value.as_str() {
            Some(v) if is_semver(v, op == Operator::SemverWildcard) => None,
            Some(v) => error(
                "semver",
                format!("`{v}` is not a valid version for `{name}`"),
            ),
            None => error(
                "value-type",
                format!("`{name}` needs a version string such as \"1.2.3\""),
            ),
        },
        op if op.is_date() => match value.as_str() {
            Some(v) if is_date(v) => None,
            Some(v) => error(
                "date",
                format!("`{v}` is not a date (use `2026-01-31`, an ISO timestamp, or `-30d`)"),
            ),
            None => error("value-type", format!("`{name}` needs a date string")),
        },
        Operator::Gt | Operator::Gte | Operator::Lt | Operator::Lte => match value {
            Value::Number(_) | Value::String(_) => None,
            _ => error(
                "value-type",
                format!("`{name}` needs a number or string, not {value}"),
            ),
        },
        Operator::Icontains | Operator::NotIcontains => match value {
            Value::String(_) | Value::Number(_) => None,
            _ => error(
                "value-type",
                format!("`{name}` needs a string, not {value}"),
            ),
        },
        _ => match value {
            Value::Object(_) => error(
                "value-type",
                format!("`{name}` cannot compare with an object"),
            ),
            _ => None,
        },
    }
}

/// A version as PostHog's semver operators accept it: `1`, `1.2`, `1.2.3`, optional `v`,
/// pre-release and build suffixes; with `wildcard`, the last part may be `*` or `x`.
pub(crate) fn is_semver(text: &str, wildcard: bool) -> bool {
    let text = text.trim();
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let core = text.split(['-', '+']).next().unwrap_or_default();
    if core.len() < text.len() {
        let rest = &text[core.len() + 1..];
        if rest.is_empty()
            || !rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        {
            return false;
        }
    }
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return false;
    }
    parts.iter().enumerate().all(|(i, p)| {
        (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            || (wildcard && i == parts.len() - 1 && i > 0 && matches!(*p, "*" | "x" | "X"))
    })
}

/// A date as PostHog's date operators accept it: ISO date or timestamp, or relative
/// (`-30d`, `-2w`, `-6m`, `-1y`, `-12h`).
pub(crate) fn is_date(text: &str) -> bool {
    let relative = text
        .strip_prefix('-')
        .unwrap_or(text)
        .strip_suffix(['h', 'd', 'w', 'm', 'y', 'H', 'D', 'W', 'M', 'Y'])
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    relative
        || text.parse::<jiff::civil::Date>().is_ok()
        || text.parse::<jiff::civil::DateTime>().is_ok()
        || text.parse::<jiff::Timestamp>().is_ok()
}

/// The problem with regex `pattern`, if any. Compiling a pattern costs far more than the
/// rest of a flag's rules and the same pattern recurs across flags and environments: each
/// distinct pattern is compiled once per thread.
fn regex_problem(pattern: &str) -> Option<ValueProblem> {
    thread_local! {
        static SEEN: std::cell::RefCell<std::collections::HashMap<String, Option<ValueProblem>>> =
            std::cell::RefCell::default();
    }
    if let Some(known) = SEEN.with_borrow(|seen| seen.get(pattern).cloned()) {
        return known;
    }
    let problem = regex::Regex::new(pattern).err().and_then(|e| {
        // PostHog's flag-evaluation service is written in Rust and compiles patterns
        // with the `regex` crate; a pattern that only a backtracking engine accepts
        // (look-around, backreferences) is stored by the API but never matches there.
        if fancy_regex::Regex::new(pattern).is_ok() {
            return error(
                "regex",
                format!(
                    "regex `{pattern}` uses look-around or backreferences, which \
                     PostHog's flag-evaluation service (Rust `regex` syntax) cannot evaluate"
                ),
            );
        }
        let first = e
            .to_string()
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .trim_start_matches("error: ")
            .to_owned();
        error(
            "regex",
            format!("regex `{pattern}` does not compile: {first}"),
        )
    });
    SEEN.with_borrow_mut(|seen| seen.insert(pattern.to_owned(), problem.clone()));
    problem
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pattern_seen_before_gets_the_same_answer() {
        let bad = regex_problem("(a").unwrap();
        assert!(
            bad.message.starts_with("regex `(a` does not compile: "),
            "{bad:?}"
        );
        assert_eq!(regex_problem("a|b"), None);
        assert_eq!(regex_problem("(a"), Some(bad));
        assert_eq!(regex_problem("a|b"), None);
        let look = regex_problem("a(?=b)").unwrap();
        assert!(look.message.contains("look-around"), "{look:?}");
        assert_eq!(regex_problem("a(?=b)"), Some(look));
    }

    #[test]
    fn semver_accepts_posthog_forms() {
        for ok in ["1.2.3", "v1.2.3", "1.2", "1", "1.2.3-beta.1", "1.2.3+build"] {
            assert!(is_semver(ok, false), "{ok}");
        }
        for bad in ["", "a.b", "1.2.3.4", "1..2", "1.2.3-", "1.*"] {
            assert!(!is_semver(bad, false), "{bad}");
        }
        assert!(is_semver("1.2.*", true));
        assert!(!is_semver("*", true));
    }

    #[test]
    fn dates() {
        for ok in [
            "2026-01-31",
            "2026-01-31T10:00:00",
            "2026-01-31T10:00:00Z",
            "-30d",
            "7d",
            "-1y",
        ] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in ["yesterday", "2026-13-01", "-d", "30"] {
            assert!(!is_date(bad), "{bad}");
        }
    }

    #[test]
    fn operator_value_compatibility() {
        let p = PropertyType::Person;
        assert!(check(p, Operator::Exact, Some(&json!("a"))).is_none());
        assert_eq!(
            check(p, Operator::In, Some(&json!(1))).unwrap().code,
            "operator"
        );
        assert_eq!(
            check(p, Operator::Exact, None).unwrap().code,
            "missing-value"
        );
        let set = check(p, Operator::IsSet, Some(&json!("x"))).unwrap();
        assert!(!set.is_error);
        assert!(check(p, Operator::IsSet, Some(&json!("is_set"))).is_none());
        assert_eq!(
            check(p, Operator::Regex, Some(&json!("(a"))).unwrap().code,
            "regex"
        );
        assert_eq!(
            check(p, Operator::SemverGt, Some(&json!("x")))
                .unwrap()
                .code,
            "semver"
        );
        assert_eq!(
            check(p, Operator::IsDateAfter, Some(&json!("soon")))
                .unwrap()
                .code,
            "date"
        );
        assert_eq!(
            check(p, Operator::IcontainsMulti, Some(&json!("a")))
                .unwrap()
                .code,
            "value-type"
        );
        let c = PropertyType::Cohort;
        assert!(check(c, Operator::In, Some(&json!(42))).is_none());
        assert_eq!(
            check(c, Operator::Icontains, Some(&json!(42)))
                .unwrap()
                .code,
            "operator"
        );
        assert_eq!(
            check(c, Operator::In, Some(&json!("abc"))).unwrap().code,
            "value-type"
        );
    }
}
