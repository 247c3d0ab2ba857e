//! The plan as JSON: the versioned document `plan --format json` prints and `plan --out`
//! saves (`docs/plan-format.md` describes it).

use serde_json::json;

use crate::plan::{FORMAT_VERSION, Plan, PlanError};

/// The plan document, pretty-printed, with a final newline.
pub fn render(plan: &Plan) -> String {
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
