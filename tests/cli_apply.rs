//! `flagops apply` end to end: confirmation rules, report formats, progress lines and exit
//! codes, on `backend: local` and against the fake PostHog server (saved plans refused or gone
//! stale: `cli_apply_saved`).

use serde_json::Value;

use crate::support::fake_posthog::{FakePosthog, PROJECT_ID, WRITE_KEY};
use crate::support::{TempRepo, flagops_with_env};

pub(crate) const CONFIG: &str = "backend: local\nenvironments:\n  staging: {}\n  production: {}\n";
pub(crate) const BASE: &str = "key: base\nconditions:\n  - rollout_percentage: 100\n";
pub(crate) const CHILD: &str = "key: child\nconditions:\n  - properties:\n      - { type: flag, flag: base, value: true }\n    rollout_percentage: 10\n";

pub(crate) fn repo() -> TempRepo {
    TempRepo::new(CONFIG, &[("base.yaml", BASE), ("child.yaml", CHILD)])
}

pub(crate) fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn the_json_report_lists_every_step_and_stderr_does_not_repeat_them() {
    let repo = repo();
    let run = repo.run(&[
        "apply",
        "--env",
        "staging",
        "--auto-approve",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc = json(&run.stdout);
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["environment"], "staging");
    assert_eq!(doc["succeeded"], true);
    assert_eq!(
        doc["summary"],
        serde_json::json!({"applied": 2, "already_applied": 0, "failed": 0, "skipped": 0, "untouched": 0})
    );
    assert_eq!(doc["steps"][0]["key"], "base");
    assert_eq!(doc["steps"][0]["action"], "create");
    assert_eq!(doc["steps"][0]["status"], "applied");
    assert_eq!(doc["steps"][1]["level"], 1);
    // Without a terminal the report lists every step: stderr does not repeat them.
    assert_eq!(run.stderr, "applying 2 steps…\n");

    // Nothing left to do: exit 0, and the report says what was untouched.
    let run = repo.run(&[
        "apply",
        "--env",
        "staging",
        "--auto-approve",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc = json(&run.stdout);
    assert_eq!(doc["steps"], serde_json::json!([]));
    assert_eq!(doc["untouched"], serde_json::json!(["base", "child"]));
    let run = repo.run(&["apply", "--env", "staging", "--auto-approve"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "No changes: `staging` already matches the repository.\n"
    );
}

/// Without a terminal and without `--auto-approve`, an apply with nothing to do exits 0 (the
/// README's table), and one with changes is refused with exit 2 before anything is written.
#[test]
fn without_a_terminal_no_changes_is_success_and_changes_need_auto_approve() {
    let repo = repo();
    let run = repo.run(&["apply", "--env", "staging"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(!repo.state_file().exists(), "nothing was applied");
    assert_eq!(
        repo.run(&["apply", "--env", "staging", "--auto-approve"])
            .code,
        0
    );
    let run = repo.run(&["apply", "--env", "staging"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "No changes: `staging` already matches the repository.\n"
    );
    assert_eq!(run.stderr, "");
}

/// The markdown report says what changed in each updated flag, in the plan's words.
#[test]
fn the_markdown_report_says_what_changed_per_flag() {
    let repo = repo();
    assert_eq!(
        repo.run(&["apply", "--env", "staging", "--auto-approve"])
            .code,
        0
    );
    repo.write(
        "child.yaml",
        "key: child\nconditions:\n  - properties:\n      - { type: flag, flag: base, value: true }\n    rollout_percentage: 30\n",
    );
    let run = repo.run(&[
        "apply",
        "--env",
        "staging",
        "--auto-approve",
        "--format",
        "markdown",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "### ✅ flagops apply: `staging`\n\n**1 applied, 0 already applied, 0 failed, 0 skipped, 1 untouched.**\n\n\
         | flag | action | result | details |\n|---|---|---|---|\n\
         | `child` | update | applied | updated `child`; rollout 10% → 30% in condition 1 |\n\
         \n<details><summary>1 untouched (already in sync)</summary>\n\n`base`\n\n</details>\n"
    );
}

#[test]
fn the_human_and_markdown_reports() {
    let repo = repo();
    let run = repo.run(&["apply", "--env", "staging", "--auto-approve"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.ends_with(
            "created `base`\ncreated `child`\n\nApply complete for `staging`: 2 applied, 0 already applied, 0 failed, 0 skipped, 0 untouched.\n"
        ),
        "{}",
        run.stdout
    );
    let run = repo.run(&[
        "apply",
        "--env",
        "production",
        "--auto-approve",
        "--format",
        "markdown",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "### ✅ flagops apply: `production`\n\n**2 applied, 0 already applied, 0 failed, 0 skipped, 0 untouched.**\n\n\
         | flag | action | result | details |\n|---|---|---|---|\n\
         | `base` | create | applied | created `base` |\n\
         | `child` | create | applied | created `child` |\n"
    );
}

#[test]
fn concurrency_must_be_between_1_and_64() {
    let run = repo().run(&[
        "apply",
        "--env",
        "staging",
        "--auto-approve",
        "--concurrency",
        "0",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--concurrency"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_against_posthog_with_a_configured_rate_limit() {
    let fake = FakePosthog::start().await;
    let config = format!(
        "backend: posthog\nenvironments:\n  staging:\n    host: {}\n    project_id: {PROJECT_ID}\n    \
         api_key_env: FLAGOPS_FAKE_KEY\n    rate_limit: {{ per_minute: 6000 }}\n",
        fake.base_url()
    );
    let repo = TempRepo::new(&config, &[("base.yaml", BASE), ("child.yaml", CHILD)]);
    let dir = repo.path().to_owned();
    let run = tokio::task::spawn_blocking(move || {
        flagops_with_env(
            &dir,
            &[
                "apply",
                "--env",
                "staging",
                "--auto-approve",
                "--concurrency",
                "2",
                "--format",
                "json",
            ],
            &[("FLAGOPS_FAKE_KEY", WRITE_KEY)],
        )
    })
    .await
    .unwrap();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(json(&run.stdout)["summary"]["applied"], 2);
    assert!(!run.stdout.contains(WRITE_KEY) && !run.stderr.contains(WRITE_KEY));
    let base = fake.flag("base").unwrap();
    let child = fake.flag("child").unwrap();
    assert_eq!(
        child["filters"]["groups"][0]["properties"][0]["key"],
        base["id"].to_string()
    );
    let dir = repo.path().to_owned();
    let run = tokio::task::spawn_blocking(move || {
        flagops_with_env(
            &dir,
            &["plan", "--env", "staging", "--detailed-exitcode"],
            &[("FLAGOPS_FAKE_KEY", WRITE_KEY)],
        )
    })
    .await
    .unwrap();
    assert_eq!(run.code, 0, "{run:?}");
}

/// Run `flagops -C <repo> args…` on a pseudo-terminal (util-linux `script`), typing `input`.
fn on_terminal(repo: &TempRepo, args: &str, input: &str) -> (i32, String) {
    use std::io::Write;
    let command = format!(
        "{} -C {} {args}",
        env!("CARGO_BIN_EXE_flagops"),
        repo.path().display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs a command on a pseudo-terminal");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).replace('\r', ""),
    )
}

#[test]
fn on_a_terminal_apply_asks_and_only_yes_applies() {
    let repo = repo();
    let (code, out) = on_terminal(&repo, "apply --env staging", "no\n");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "Apply these changes to `staging`? Only `yes` is accepted.\n  Enter a value: "
        ),
        "{out}"
    );
    assert!(
        out.contains("apply cancelled; nothing was changed"),
        "{out}"
    );
    assert!(!repo.state_file().exists());

    let (code, out) = on_terminal(&repo, "apply --env staging", "yes\n");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Apply complete for `staging`: 2 applied, 0 already applied, 0 failed, 0 skipped, 0 untouched."),
        "{out}"
    );
    assert!(repo.state_file().is_file());
}

/// The first Ctrl-C starts no further step, lets the request in flight finish and still prints
/// the report; what it says was applied is exactly what is live, and the exit code is 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_starting_steps_and_still_reports_exactly_what_was_applied() {
    use crate::support::fake_posthog::Fault;
    use std::io::BufRead;

    let fake = FakePosthog::start().await;
    let config = format!(
        "backend: posthog\nenvironments:\n  staging:\n    host: {}\n    project_id: {PROJECT_ID}\n    \
         api_key_env: FLAGOPS_FAKE_KEY\n",
        fake.base_url()
    );
    let files: Vec<(String, String)> = (0..6)
        .map(|i| {
            (
                format!("f{i}.yaml"),
                format!("key: f{i}\nconditions:\n  - rollout_percentage: 10\n"),
            )
        })
        .collect();
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let repo = TempRepo::new(&config, &borrowed);
    // Every request takes a while, so the interrupt lands while steps remain.
    fake.inject(Fault::Slow {
        delay: std::time::Duration::from_millis(300),
        times: 1_000,
    });
    let dir = repo.path().to_owned();
    let fake = std::sync::Arc::new(fake);
    let shared = std::sync::Arc::clone(&fake);
    let (code, stdout) = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flagops"))
            .args(["-C"])
            .arg(&dir)
            .args([
                "apply",
                "--env",
                "staging",
                "--auto-approve",
                "--concurrency",
                "1",
                "--format",
                "json",
            ])
            .env_clear()
            .env("NO_COLOR", "1")
            .env("FLAGOPS_FAKE_KEY", WRITE_KEY)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for the first created flag, then interrupt.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while shared.flags().is_empty() {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let killed = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let stderr = child.stderr.take().unwrap();
        let rest: Vec<String> = std::io::BufReader::new(stderr)
            .lines()
            .map(Result::unwrap)
            .collect();
        let output = child.wait_with_output().unwrap();
        assert!(
            rest.iter().any(|l| l.starts_with("interrupted (SIGINT): ")),
            "{rest:?}"
        );
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!(code, Some(130), "{stdout}");
    let doc = json(&stdout);
    let applied = doc["summary"]["applied"].as_u64().unwrap();
    assert!((1..6).contains(&applied), "{stdout}");
    let interrupted = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["code"] == "interrupted")
        .count() as u64;
    assert_eq!(applied + interrupted, 6, "{stdout}");
    assert_eq!(
        fake.flags().len() as u64,
        applied,
        "live flags differ from the report"
    );
}

/// A `PLAN_FILE` that is a FIFO is refused at once (exit 2), never opened: reading it would
/// wait for a writer forever.
#[cfg(unix)]
#[test]
fn a_plan_file_that_is_a_fifo_is_refused_not_a_hang() {
    let repo = repo();
    let fifo = repo.path().join("plan.json");
    crate::support::mkfifo(&fifo);
    let run = repo.run(&["apply", "--env", "staging", "plan.json"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "error: cannot read the plan `{}`: it is not a regular file\n",
            fifo.display()
        )
    );
}

/// The plan `apply` shows before it writes names where it writes, as `plan` does.
#[test]
fn apply_shows_its_plan_with_the_target_in_the_header() {
    let repo = repo();
    let run = repo.run(&["apply", "--env", "staging", "--auto-approve"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with(
            "plan for environment `staging` (backend `local`, local state file `.flagops/state.json`)\n"
        ),
        "{}",
        run.stdout
    );
}
