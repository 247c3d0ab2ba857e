//! `flagops plan` on `backend: mixpanel` end to end, against the strict fake Mixpanel: the
//! three formats snapshotted (the fake's port, the `modified` times, the config's digest and
//! the creation time replaced by placeholders), `--detailed-exitcode`, the requests a plan
//! takes (workspace discovery and one list; one list with `workspace_id`), and a saved plan
//! applied.

use serde_json::{Value, json};

use crate::cli_mixpanel_apply::{lines, list, plan_requests};
use crate::support::fake_mixpanel::{FakeMixpanel, WORKSPACE_ID};
use crate::support::{Run, TempRepo, flagops_against_fake_mixpanel, mixpanel_repo};

const CHECKOUT: &str = "\
key: checkout
name: Checkout
status: enabled
tags: [payments, web]
variants:
  - { key: control, value: { color: grey }, is_control: true, split: 50 }
  - { key: treatment, value: { color: blue }, split: 50 }
rollout:
  - name: Premium
    rollout_percentage: 50
    variant_splits: { control: 10, treatment: 90 }
    runtime_evaluation_rule: { \"==\": [ { var: plan }, premium ] }
test_users: { qa@example.com: treatment, dev@example.com: control }
";

const SUNSET: &str =
    "key: sunset\nname: Sunset\nstatus: disabled\nrollout:\n  - rollout_percentage: 100\n";

const NEW_GATE: &str = "\
key: new-gate
description: Gates the new checkout API
status: enabled
serving_method: server
rollout:
  - rollout_percentage: 12.5
    runtime_event_rule: { event_name: Signed up, duration: end_of_session }
depends_on: [checkout]
";

/// Live: `checkout` as it was, `sunset` on, `legacy` (not in the repository).
fn seed(fake: &FakeMixpanel) {
    fake.seed(vec![
        json!({
            "key": "checkout", "name": "Checkout", "status": "enabled", "serving_method": "client",
            "tags": ["payments", "old"], "hash_salt": "0123456789abcdef0123456789abcdef",
            "ruleset": {
                "variants": [
                    {"key": "control", "value": {"color": "grey"}, "is_control": true, "split": 0.5},
                    {"key": "treatment", "value": {"color": "red"}, "is_control": false, "split": 0.5}
                ],
                "rollout": [{
                    "name": "Premium", "rollout_percentage": 0.25,
                    "variant_splits": {"control": 0.1, "treatment": 0.9},
                    "runtime_evaluation_rule": {"==": [{"var": "plan"}, "premium"]}
                }],
                "test": {"users": {"qa@example.com": "treatment"}}
            }
        }),
        json!({
            "key": "sunset", "name": "Sunset", "status": "enabled", "serving_method": "client",
            "hash_salt": "fedcba9876543210fedcba9876543210",
            "ruleset": {"variants": [], "rollout": [{"rollout_percentage": 1.0, "variant_splits": {}}]}
        }),
        json!({
            "key": "legacy", "name": "Legacy", "status": "disabled", "serving_method": "client",
            "hash_salt": "00000000000000000000000000000000",
            "ruleset": {"variants": [], "rollout": [{"rollout_percentage": 0.05, "variant_splits": {}}]}
        }),
    ]);
}

fn repo(fake: &FakeMixpanel, extra: &str) -> TempRepo {
    mixpanel_repo(
        &fake.base_url(),
        extra,
        &[
            ("checkout.yaml", CHECKOUT),
            ("sunset.yaml", SUNSET),
            ("new-gate.yaml", NEW_GATE),
        ],
    )
}

async fn plan(repo: &TempRepo, more: &[&str]) -> Run {
    let mut args = vec!["plan", "--env", "live"];
    args.extend_from_slice(more);
    flagops_against_fake_mixpanel(repo.path(), &args).await
}

/// The fake's port replaced.
fn portless(text: &str, fake: &FakeMixpanel) -> String {
    text.replace(&fake.base_url(), "http://127.0.0.1:PORT")
}

/// The plan document as printed, with what changes from run to run replaced: the creation
/// time, flagops' version, the config's digest (the config holds the fake's port) and the
/// live flags' `modified` times (their tokens).
fn stable_json(text: &str, fake: &FakeMixpanel) -> String {
    let doc: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(
        doc["metadata"]["flagops_version"],
        env!("CARGO_PKG_VERSION")
    );
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let replaced = [
            ("\"created_at\": ", "<created_at>"),
            ("\"flagops_version\": ", "<version>"),
            ("\"sha256\": ", "<sha256 of flagops.yaml>"),
            ("\"version\": ", "<modified>"),
        ]
        .into_iter()
        .find(|(key, _)| trimmed.starts_with(key))
        .map(|(key, placeholder)| {
            let comma = if trimmed.ends_with(',') { "," } else { "" };
            format!("{indent}{key}\"{placeholder}\"{comma}")
        });
        out.push_str(&replaced.unwrap_or_else(|| line.to_owned()));
        out.push('\n');
    }
    portless(&out, fake)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_in_every_format() {
    let fake = FakeMixpanel::start().await;
    seed(&fake);
    let repo = repo(&fake, "    prune: true\n");

    let human = plan(&repo, &[]).await;
    human.expect_code(0);
    assert_eq!(human.stderr, "sent 2 requests to Mixpanel\n");
    insta::assert_snapshot!("human", portless(&human.stdout, &fake));
    assert_eq!(fake.requests().len(), 2);

    let markdown = plan(&repo, &["--format", "markdown"]).await;
    markdown.expect_code(0);
    let (body, footer) = markdown.stdout.trim_end().rsplit_once('\n').unwrap();
    let created = footer
        .strip_prefix(concat!("<sub>flagops ", env!("CARGO_PKG_VERSION"), " · "))
        .and_then(|f| f.strip_suffix("</sub>"))
        .unwrap_or_else(|| panic!("footer: {footer}"));
    assert!(created.ends_with('Z') && created.len() == 20, "{created}");
    insta::assert_snapshot!("markdown", portless(body, &fake));

    let json = plan(&repo, &["--format", "json"]).await;
    json.expect_code(0);
    insta::assert_snapshot!("json", stable_json(&json.stdout, &fake));

    // Planning wrote nothing.
    assert!(fake.requests().iter().all(|r| r.method == "GET"));
    assert_eq!(fake.flags().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detailed_exitcode_and_the_requests_of_a_plan() {
    let fake = FakeMixpanel::start().await;
    seed(&fake);
    let repo = repo(&fake, "");
    let run = plan(&repo, &["--detailed-exitcode"]).await;
    run.expect_code(2);
    assert!(
        run.stdout
            .ends_with("Plan: 1 to create, 2 to update, 0 to delete.\n"),
        "{}",
        run.stdout
    );
    // Without `prune`, `legacy` is left alone and said so.
    assert!(run.stdout.contains("`legacy`"), "{}", run.stdout);
    // Workspace discovery, then one list with the archived flags.
    assert_eq!(lines(&fake), plan_requests());

    // With `workspace_id`, one request.
    let repo = self::repo(&fake, &format!("    workspace_id: {WORKSPACE_ID}\n"));
    fake.clear_requests();
    plan(&repo, &["--detailed-exitcode"]).await.expect_code(2);
    assert_eq!(lines(&fake), [list()]);

    // In sync: exit 0.
    flagops_against_fake_mixpanel(repo.path(), &["apply", "--env", "live", "--auto-approve"])
        .await
        .expect_code(0);
    fake.clear_requests();
    let run = plan(&repo, &["--detailed-exitcode"]).await;
    run.expect_code(0);
    assert!(
        run.stdout
            .ends_with("Plan: 0 to create, 0 to update, 0 to delete.\n"),
        "{}",
        run.stdout
    );
    assert_eq!(fake.requests().len(), 1);

    // An error: exit 1, whatever `--detailed-exitcode` says.
    let broken = TempRepo::new(
        &crate::support::mixpanel_repo_config(&fake.base_url(), "    workspace_id: 1\n"),
        &[("checkout.yaml", CHECKOUT)],
    );
    let run = plan(&broken, &["--detailed-exitcode"]).await;
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .starts_with("error: cannot read the live flags of `live`: "),
        "{}",
        run.stderr
    );
}

/// `plan --out` saves the plan; `apply FILE` carries out exactly that plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_applied() {
    let fake = FakeMixpanel::start().await;
    seed(&fake);
    let repo = repo(&fake, "");
    plan(&repo, &["--out", "plan.json"]).await.expect_code(0);
    let run = flagops_against_fake_mixpanel(
        repo.path(),
        &["apply", "plan.json", "--env", "live", "--auto-approve"],
    )
    .await;
    run.expect_code(0);
    assert!(
        run.stdout.ends_with(
            "Apply complete for `live`: 3 applied, 0 already applied, 0 failed, 0 skipped, 0 untouched.\n"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        fake.flag("legacy").unwrap()["status"],
        "disabled",
        "no prune: untouched"
    );
    assert_eq!(fake.flag("sunset").unwrap()["status"], "disabled");
    assert_eq!(
        fake.flag("checkout").unwrap()["ruleset"]["rollout"][0]["rollout_percentage"],
        json!(0.5)
    );
    assert_eq!(
        fake.flag("new-gate").unwrap()["ruleset"]["rollout"][0]["rollout_percentage"],
        json!(0.125)
    );
}

/// A variant's value changing moves no user: Mixpanel's evaluators assign by the hash and the
/// splits only (mixpanel-python `_get_assigned_variant`), so the plan should not warn that
/// users are re-assigned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variant_value_change_reassigns_no_one() {
    let fake = FakeMixpanel::start().await;
    seed(&fake);
    let repo = mixpanel_repo(
        &fake.base_url(),
        "",
        &[(
            "checkout.yaml",
            &CHECKOUT
                .replace("rollout_percentage: 50", "rollout_percentage: 25")
                .replace("[payments, web]", "[payments, old]")
                .replace(", dev@example.com: control", ""),
        )],
    );
    let run = plan(&repo, &[]).await;
    run.expect_code(0);
    assert!(
        run.stdout.contains(
            "  ~ update `checkout`\n      variant `treatment` value {\"color\":\"red\"} → {\"color\":\"blue\"}\n"
        ),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("re-assigned"), "{}", run.stdout);
}
