//! The GitHub Action itself: `action.yml` is valid YAML whose inputs all reach the run step,
//! the example workflows give it only inputs it has, and the shell tests of its scripts
//! (`scripts/tests/*.sh`: the install script against a release host on 127.0.0.1, the run
//! step on a simulated runner) pass when run with bash against the built flagops.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::crate_dir;

/// A YAML file of one document, read by flagops' own parser (every error is a failure).
fn yaml(path: &Path) -> Value {
    let parsed = flagops::source::yaml::parse(&std::fs::read_to_string(path).unwrap());
    assert!(
        parsed.errors.is_empty(),
        "{}: {:?}",
        path.display(),
        parsed.errors
    );
    assert_eq!(parsed.documents.len(), 1, "{}", path.display());
    parsed.documents.into_iter().next().unwrap().value
}

/// The inputs `action.yml` declares.
fn inputs() -> BTreeSet<String> {
    let action = yaml(&crate_dir().join("action.yml"));
    action["inputs"]
        .as_object()
        .expect("action.yml has inputs")
        .keys()
        .cloned()
        .collect()
}

#[test]
fn every_input_of_the_action_reaches_its_run_step() {
    let action = yaml(&crate_dir().join("action.yml"));
    let steps = action["runs"]["steps"].as_array().expect("composite steps");
    let run = steps
        .iter()
        .find(|s| s["id"] == "run")
        .expect("the `run` step");
    let env = run["env"].as_object().expect("the run step's env");
    let passed: BTreeSet<String> = env
        .values()
        .filter_map(Value::as_str)
        .filter_map(|v| v.strip_prefix("${{ inputs."))
        .filter_map(|v| v.strip_suffix(" }}"))
        .map(str::to_owned)
        .collect();
    assert_eq!(passed, inputs());
    // The comment author reaches flagops as the variable it reads.
    assert_eq!(
        env["FLAGOPS_GITHUB_COMMENT_AUTHOR"],
        "${{ inputs.github-comment-author }}"
    );
    assert_eq!(env["GITHUB_TOKEN"], "${{ inputs.github-token }}");
}

#[test]
fn the_example_workflows_use_only_inputs_the_action_has() {
    let inputs = inputs();
    let dir = crate_dir().join("examples/workflows");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut uses = 0;
    for file in &files {
        let workflow = yaml(file);
        for job in workflow["jobs"].as_object().unwrap().values() {
            for step in job["steps"].as_array().into_iter().flatten() {
                if !step["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("your-org/flagops@"))
                {
                    continue;
                }
                uses += 1;
                for key in step["with"].as_object().into_iter().flatten().map(|w| w.0) {
                    assert!(
                        inputs.contains(key),
                        "{}: input `{key}` is not in action.yml",
                        file.display()
                    );
                }
            }
        }
    }
    assert!(
        uses >= files.len(),
        "{uses} uses of the action in {files:?}"
    );
}

/// Run `bash scripts/tests/<name> <flagops>`; `None` when there is no bash.
fn shell_test(name: &str) -> Option<std::process::Output> {
    if Command::new("bash").arg("--version").output().is_err() {
        eprintln!("skipped scripts/tests/{name}: bash is not installed");
        return None;
    }
    let script = crate_dir().join("scripts/tests").join(name);
    Some(
        Command::new("bash")
            .arg(&script)
            .arg(env!("CARGO_BIN_EXE_flagops"))
            .current_dir(crate_dir())
            .output()
            .unwrap(),
    )
}

/// The script exited 0, every check passed and its last line is `summary`.
fn assert_passed(name: &str, summary: &str) {
    let Some(output) = shell_test(name) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let shown = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    assert_eq!(output.status.code(), Some(0), "{name}\n{shown}");
    assert_eq!(stdout.lines().last(), Some(summary), "{name}\n{shown}");
    assert!(stdout.lines().any(|l| l.starts_with("ok ")), "{shown}");
    assert!(
        !stdout.contains("FAIL") && !stderr.contains("FAIL"),
        "{name}\n{shown}"
    );
}

#[test]
fn the_install_script_passes_its_shell_tests() {
    assert_passed("install.sh", "install tests passed");
}

#[test]
fn the_action_run_step_passes_its_shell_tests() {
    assert_passed("action-run.sh", "action tests passed");
}
