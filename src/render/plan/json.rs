//! The plan as JSON: the versioned document `plan --format json` prints and `plan --out`
//! saves (`docs/plan-format.md` describes it).

use serde_json::{Value, json};

use crate::finding::{Finding, Severity};

use crate::model::VendorFlag;
use crate::plan::{FORMAT_VERSION, Plan, PlanError};

/// The plan document, pretty-printed, with a final newline.
pub fn render<F: VendorFlag>(plan: &Plan<F>) -> String {
    let mut text = serde_json::to_string_pretty(plan).unwrap_or_default();
    text.push('\n');
    text
}

/// A refused plan: `{format_version, environment, errors: [{code, flag, message, help}]}`.
pub fn render_error(environment: &str, error: &PlanError) -> String {
    let doc = json!({
        "format_version": FORMAT_VERSION,
        "environment": environment,
        "errors": error.problems,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// A plan not made because the repository has errors: the refused-plan document, one entry
/// per error finding with its `file`, `line` and `column` when known.
pub fn render_findings(environment: &str, findings: &[Finding]) -> String {
    let errors: Vec<Value> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| {
            let mut entry = serde_json::Map::new();
            entry.insert("code".into(), json!(f.code));
            if let Some(flag) = &f.flag {
                entry.insert("flag".into(), json!(flag));
            }
            if let Some(file) = &f.file {
                entry.insert(
                    "file".into(),
                    json!(file.to_string_lossy().replace('\\', "/")),
                );
            }
            if let Some(span) = f.span {
                entry.insert("line".into(), json!(span.start.line));
                entry.insert("column".into(), json!(span.start.column));
            }
            entry.insert("message".into(), json!(f.message));
            if let Some(help) = &f.help {
                entry.insert("help".into(), json!(help));
            }
            Value::Object(entry)
        })
        .collect();
    let doc = json!({
        "format_version": FORMAT_VERSION,
        "environment": environment,
        "errors": errors,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}
