//! Integration tests: a single test binary. Every `tests/*.rs` file is a module registered
//! here; `test_no_forgotten_test_files` fails when one is not.

// Test code: a broken invariant should panic, and failure messages are built ad hoc.
#![allow(clippy::unwrap_used, clippy::format_push_string, clippy::doc_markdown)]

mod support;

mod apply_posthog;
mod apply_races;
mod cli_apply;
mod cli_apply_saved;
mod cli_apply_signals;
mod cli_git;
mod cli_git_validate;
mod cli_github;
mod cli_github_action;
mod cli_github_drift;
mod cli_github_faults;
mod cli_github_review;
mod cli_graph;
mod cli_hostile_output;
mod cli_import;
mod cli_import_files;
mod cli_init;
mod cli_misc;
mod cli_mixpanel_apply;
mod cli_mixpanel_eval;
mod cli_mixpanel_faults;
mod cli_mixpanel_hostile;
mod cli_mixpanel_import;
mod cli_mixpanel_local;
mod cli_mixpanel_plan;
mod cli_mixpanel_readme;
mod cli_mixpanel_secrets;
mod cli_mixpanel_validate;
mod cli_plan;
mod cli_plan_review;
mod cli_posthog_faults;
mod cli_schema;
mod cli_secrets;
mod cli_validate;
mod examples;
mod golden;
mod import_fixtures;
mod import_overrides;
mod import_payloads;
mod loader_props;
mod local_backend;
mod local_names;
mod mixpanel_adapter;
mod mixpanel_fake;
mod plan_posthog;
mod plan_property;
mod plan_render;
mod plan_review;
mod posthog_adapter;
mod posthog_fake;
mod posthog_fixtures;
mod posthog_hostile;
mod posthog_names;
mod posthog_pages;
mod readme_setup;
mod render_escape;
mod render_props;
mod schema_files;
mod validate_bounds;
mod validate_files;
mod validate_fixtures;

/// A test file that is not registered above would silently never run.
#[test]
fn test_no_forgotten_test_files() {
    let dir = support::crate_dir().join("tests");
    let main = std::fs::read_to_string(dir.join("main.rs")).expect("read tests/main.rs");
    let mut forgotten = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("list tests/") {
        let path = entry.expect("dir entry").path();
        let name = if path.is_dir() && path.join("mod.rs").is_file() {
            path.file_name().and_then(|n| n.to_str()).map(str::to_owned)
        } else if path.extension().is_some_and(|x| x == "rs") {
            path.file_stem().and_then(|n| n.to_str()).map(str::to_owned)
        } else {
            None
        };
        let Some(name) = name else { continue };
        if name != "main" && !main.lines().any(|l| l.trim() == format!("mod {name};")) {
            forgotten.push(name);
        }
    }
    forgotten.sort();
    assert!(
        forgotten.is_empty(),
        "add `mod …;` to tests/main.rs for: {forgotten:?}"
    );
}
