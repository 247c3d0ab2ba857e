//! Whether a JsonLogic rule (a rollout group's `runtime_evaluation_rule`, a runtime event's
//! `property_filters`) is one Mixpanel's evaluators can run.
//!
//! The operators are those of the JsonLogic evaluator Mixpanel's Python SDK runs
//! (`json-logic` 0.7.0a0: its `operations` table plus `var`, `missing` and `missing_some`),
//! with the two operators Mixpanel's SDKs add (`semver_compare`, `datetime_compare`). An
//! operation is an object with exactly one key; its arguments are a list, or one value (the
//! unary shorthand). Each operator takes the number of arguments its function accepts (a
//! call with another number fails at evaluation). `var` names a property with a non-empty
//! string (or `[name]`, `[name, default]`).

use serde_json::Value;

use crate::source::yaml::escape_pointer;

/// How many arguments an operator takes: at least `.0`, at most `.1` (`None`: any number).
type Arity = (usize, Option<usize>);

/// The operators Mixpanel's evaluators know, with their arity.
pub(crate) const OPERATORS: [(&str, Arity); 31] = [
    ("==", (2, Some(2))),
    ("===", (2, Some(2))),
    ("!=", (2, Some(2))),
    ("!==", (2, Some(2))),
    (">", (2, Some(2))),
    (">=", (2, Some(2))),
    ("<", (2, None)),
    ("<=", (2, None)),
    ("!", (1, Some(1))),
    ("!!", (1, Some(1))),
    ("%", (2, Some(2))),
    ("and", (0, None)),
    ("or", (0, None)),
    ("?:", (3, Some(3))),
    ("if", (0, None)),
    ("log", (1, Some(1))),
    ("in", (2, Some(2))),
    ("cat", (0, None)),
    ("+", (0, None)),
    ("*", (0, None)),
    ("-", (1, Some(2))),
    ("/", (1, Some(2))),
    ("min", (1, None)),
    ("max", (1, None)),
    ("merge", (0, None)),
    ("count", (0, None)),
    ("var", (1, Some(2))),
    ("missing", (0, None)),
    ("missing_some", (2, Some(2))),
    ("semver_compare", (3, Some(3))),
    ("datetime_compare", (3, Some(3))),
];

/// The comparisons `semver_compare` and `datetime_compare` take as their second argument.
const COMPARATORS: [&str; 6] = ["=", "!=", "<", "<=", ">", ">="];

/// A problem in a JsonLogic rule: where (a JSON pointer below the rule) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogicProblem {
    pub(crate) pointer: String,
    pub(crate) message: String,
}

/// Every problem of `rule`, whose pointer is `at`.
pub(crate) fn check(rule: &Value, at: &str) -> Vec<LogicProblem> {
    let mut out = Vec::new();
    walk(rule, at, &mut out);
    out
}

fn problem(out: &mut Vec<LogicProblem>, pointer: String, message: String) {
    out.push(LogicProblem { pointer, message });
}

fn walk(node: &Value, at: &str, out: &mut Vec<LogicProblem>) {
    match node {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            let mut keys = map.keys();
            let (Some(operator), None) = (keys.next(), keys.next()) else {
                let what = if map.is_empty() {
                    "an empty object".to_owned()
                } else {
                    format!("an object with {} keys", map.len())
                };
                problem(
                    out,
                    at.to_owned(),
                    format!("{what} is not a JsonLogic operation (one key: the operator)"),
                );
                return;
            };
            let args = &map[operator];
            let here = format!("{at}/{}", escape_pointer(operator));
            let Some((_, (least, most))) = OPERATORS.iter().find(|(op, _)| op == operator) else {
                problem(
                    out,
                    here,
                    format!("`{operator}` is not an operator Mixpanel's evaluators know"),
                );
                return;
            };
            let list: Vec<(&Value, String)> = match args {
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (v, format!("{here}/{i}")))
                    .collect(),
                one => vec![(one, here.clone())],
            };
            let count = list.len();
            if count < *least || most.is_some_and(|m| count > m) {
                let (wanted, bound) = match (least, most) {
                    (l, Some(m)) if l == m => (format!("{l}"), *m),
                    (l, Some(m)) => (format!("{l} to {m}"), *m),
                    (l, None) => (format!("at least {l}"), *l),
                };
                problem(
                    out,
                    here.clone(),
                    format!(
                        "`{operator}` takes {wanted} {}, not {count}",
                        if bound == 1 { "argument" } else { "arguments" }
                    ),
                );
            }
            match operator.as_str() {
                "var" => check_var(&list, &here, out),
                "semver_compare" | "datetime_compare" => {
                    if let Some((Value::String(c), p)) = list.get(1)
                        && !COMPARATORS.contains(&c.as_str())
                    {
                        problem(
                            out,
                            p.clone(),
                            format!(
                                "`{operator}` compares with one of {}, not `{c}`",
                                COMPARATORS.join(", ")
                            ),
                        );
                    }
                }
                _ => {}
            }
            if operator != "var" {
                for (value, pointer) in &list {
                    walk(value, pointer, out);
                }
            }
        }
        _ => {}
    }
}

fn check_var(list: &[(&Value, String)], here: &str, out: &mut Vec<LogicProblem>) {
    match list.first() {
        Some((Value::String(name), _)) if !name.is_empty() => {}
        Some((_, pointer)) => problem(
            out,
            pointer.clone(),
            "`var` names a property with a non-empty string".to_owned(),
        ),
        None => problem(
            out,
            here.to_owned(),
            "`var` names a property with a non-empty string".to_owned(),
        ),
    }
    // A default value is any value, but an operation in it runs.
    if let Some((default, pointer)) = list.get(1) {
        walk(default, pointer, out);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn problems(rule: &Value) -> Vec<(String, String)> {
        check(rule, "/r")
            .into_iter()
            .map(|p| (p.pointer, p.message))
            .collect()
    }

    #[test]
    fn well_formed_rules_pass() {
        for rule in [
            json!({"==": [{"var": "plan"}, "premium"]}),
            json!({"and": [{"in": [{"var": "country"}, ["fr", "de"]]}, {">=": [{"var": ["age", 0]}, 18]}]}),
            json!({"!": {"var": "banned"}}),
            json!({"<": [1, {"var": "n"}, 10]}),
            json!({"semver_compare": [{"var": "app_version"}, ">=", "2.1.0"]}),
            json!({"datetime_compare": [{"var": "signup"}, "<", 1_700_000_000_000_u64]}),
            json!({"missing_some": [1, ["a", "b"]]}),
            json!({"if": [{"var": "a"}, "x", "y"]}),
            json!(true),
            json!([{"var": "a"}]),
        ] {
            assert_eq!(problems(&rule), vec![], "{rule}");
        }
    }

    #[test]
    fn unknown_operators_are_named_where_they_are() {
        assert_eq!(
            problems(&json!({"and": [{"==": [1, 1]}, {"some": [[1], {"var": ""}]}]})),
            vec![(
                "/r/and/1/some".to_owned(),
                "`some` is not an operator Mixpanel's evaluators know".to_owned()
            )]
        );
        assert_eq!(
            problems(&json!({"a/b": 1})),
            vec![(
                "/r/a~1b".to_owned(),
                "`a/b` is not an operator Mixpanel's evaluators know".to_owned()
            )]
        );
    }

    #[test]
    fn an_operation_has_one_key() {
        assert_eq!(
            problems(&json!({"==": [1, 1], "!=": [1, 2]})),
            vec![(
                "/r".to_owned(),
                "an object with 2 keys is not a JsonLogic operation (one key: the operator)"
                    .to_owned()
            )]
        );
        assert_eq!(
            problems(&json!({"or": [{}]})),
            vec![(
                "/r/or/0".to_owned(),
                "an empty object is not a JsonLogic operation (one key: the operator)".to_owned()
            )]
        );
    }

    #[test]
    fn arity_is_checked() {
        assert_eq!(
            problems(&json!({"==": [{"var": "a"}]})),
            vec![(
                "/r/==".to_owned(),
                "`==` takes 2 arguments, not 1".to_owned()
            )]
        );
        assert_eq!(
            problems(&json!({"!": [true, false]})),
            vec![("/r/!".to_owned(), "`!` takes 1 argument, not 2".to_owned())]
        );
        assert_eq!(
            problems(&json!({"min": []})),
            vec![(
                "/r/min".to_owned(),
                "`min` takes at least 1 argument, not 0".to_owned()
            )]
        );
        assert_eq!(
            problems(&json!({"-": [1, 2, 3]})),
            vec![(
                "/r/-".to_owned(),
                "`-` takes 1 to 2 arguments, not 3".to_owned()
            )]
        );
    }

    #[test]
    fn var_references_are_non_empty_strings() {
        let message = "`var` names a property with a non-empty string".to_owned();
        assert_eq!(
            problems(&json!({"==": [{"var": 1}, 1]})),
            vec![("/r/==/0/var".to_owned(), message.clone())]
        );
        assert_eq!(
            problems(&json!({"==": [{"var": [""]}, 1]})),
            vec![("/r/==/0/var/0".to_owned(), message.clone())]
        );
        assert_eq!(
            problems(&json!({"var": {"cat": ["a", "b"]}})),
            vec![("/r/var".to_owned(), message)]
        );
        assert_eq!(
            problems(&json!({"var": ["a", {"nope": 1}]})),
            vec![(
                "/r/var/1/nope".to_owned(),
                "`nope` is not an operator Mixpanel's evaluators know".to_owned()
            )]
        );
    }

    #[test]
    fn custom_comparisons_name_a_known_comparator() {
        assert_eq!(
            problems(&json!({"semver_compare": [{"var": "v"}, "~>", "1.0.0"]})),
            vec![(
                "/r/semver_compare/1".to_owned(),
                "`semver_compare` compares with one of =, !=, <, <=, >, >=, not `~>`".to_owned()
            )]
        );
    }
}
