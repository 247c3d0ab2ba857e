//! Every repository under `examples/` validates cleanly, and every YAML file in it points
//! its editor at the committed schema through a `yaml-language-server` modeline.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::{crate_dir, flagops};
use flagops::model::VendorFlag as _;

fn example_repos() -> Vec<PathBuf> {
    let mut repos: Vec<PathBuf> = fs::read_dir(crate_dir().join("examples"))
        .expect("list examples/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("flagops.yaml").is_file())
        .collect();
    repos.sort();
    repos
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("list dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            out.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn the_expected_example_repositories_exist() {
    let names: Vec<String> = example_repos()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["mixpanel", "posthog", "quickstart"]);
}

#[test]
fn every_example_repository_validates_without_findings() {
    for repo in example_repos() {
        let run = flagops(&repo, &["validate", "--format", "json"]);
        run.expect_code(0);
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("json output");
        assert_eq!(
            doc["findings"],
            serde_json::json!([]),
            "{}: {}",
            repo.display(),
            run.stdout
        );
        assert_eq!(doc["summary"]["errors"], 0);
        assert_eq!(doc["summary"]["warnings"], 0);
        // The graph command succeeds too (no cycles, no missing flags).
        flagops(&repo, &["graph"]).expect_code(0);
    }
}

#[test]
fn the_posthog_example_covers_the_model() {
    let repo = flagops::source::load::<flagops::vendor::posthog::Flag>(
        &crate_dir().join("examples/posthog"),
        None,
    )
    .expect("load");
    assert!(repo.flags.len() >= 12, "only {} flags", repo.flags.len());
    assert_eq!(
        repo.config.environments.keys().collect::<Vec<_>>(),
        ["production", "staging"]
    );
    let production = &repo.config.environments["production"];
    assert!(production.prune && production.max_deletes.is_some() && !production.protect.is_empty());

    let all = serde_json::to_string(&repo.flags.iter().map(|f| &f.spec).collect::<Vec<_>>())
        .expect("serialize");
    for needle in [
        "\"icontains\"",
        "\"regex\"",
        "\"semver_",
        "\"is_date_",
        "\"is_set\"",
        "_multi\"",
        "\"in\"",
        "\"not_in\"",
        "\"group_type_index\"",
        "\"aggregation_group_type_index\"",
        "\"flag\":",
        "\"depends_on\"",
        "\"variants\"",
        "\"payloads\"",
        "\"variant\":",
        "\"holdout\"",
        "\"early_exit\"",
        "\"feature_enrollment\"",
        "\"ensure_experience_continuity\"",
        "\"evaluation_runtime\"",
        "\"bucketing_identifier\"",
        "\"is_remote_configuration\"",
        "\"has_encrypted_payloads\"",
        "\"evaluation_contexts\"",
        "\"tags\"",
        "\"environments\"",
    ] {
        assert!(all.contains(needle), "no example flag uses {needle}");
    }
    // A chain of three flags through `type: flag` properties.
    let graph = flagops::graph::DependencyGraph::new(repo.flags.iter().map(|f| {
        let (flag, _) = f.spec.resolve(None);
        (flag.key.clone(), flag.dependencies())
    }));
    assert!(graph.levels().expect("acyclic").len() >= 3);
    // At least one multi-document file.
    let mut files: Vec<_> = repo.flags.iter().map(|f| f.file.clone()).collect();
    let total = files.len();
    files.dedup();
    assert!(files.len() < total, "no file holds several flags");
}

/// The service whose flags `repo` holds, as its `flagops.yaml` says.
fn service(repo: &Path) -> flagops::config::Service {
    let (_, _, config) = flagops::source::load_config(repo, None).expect("load flagops.yaml");
    config.service()
}

/// Whether `file` is a config (`flagops.yaml`, `flagops.local.yaml`, …) rather than flags.
fn is_config(file: &Path) -> bool {
    file.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("flagops"))
}

/// Each example is a template: its modelines point at its own `schemas/`, so a copied example
/// keeps completion in an editor.
#[test]
fn every_example_yaml_file_carries_a_schema_modeline_into_its_own_schemas() {
    for repo in example_repos() {
        let schemas = repo.join("schemas").canonicalize().unwrap_or_else(|e| {
            panic!(
                "{}: no schemas/ ({e}); run `flagops -C {} schema`",
                repo.display(),
                repo.display()
            )
        });
        for file in yaml_files(&repo) {
            let text = fs::read_to_string(&file).expect("read");
            let first = text.lines().next().unwrap_or_default();
            let target = first
                .strip_prefix("# yaml-language-server: $schema=")
                .unwrap_or_else(|| {
                    panic!("{}: first line is not a schema modeline", file.display())
                });
            let expected = if is_config(&file) {
                "flagops.schema.json".to_owned()
            } else {
                format!("{}-flag.schema.json", service(&repo).as_str())
            };
            let resolved = file
                .parent()
                .unwrap()
                .join(target)
                .canonicalize()
                .unwrap_or_else(|e| {
                    panic!(
                        "{}: modeline `{target}` does not resolve: {e}",
                        file.display()
                    )
                });
            assert_eq!(resolved, schemas.join(&expected), "{}", file.display());
            // Every later document of a multi-document file may repeat it; none may differ.
            for line in text.lines().filter(|l| l.contains("yaml-language-server")) {
                assert_eq!(line, first, "{}", file.display());
            }
        }
    }
}

/// The committed schemas of every example are current: `schema --check` passes inside it.
#[test]
fn schema_check_passes_inside_every_example() {
    for repo in example_repos() {
        let run = flagops(&repo, &["schema", "--check"]);
        assert_eq!(
            (run.code, run.stderr.as_str()),
            (0, "schemas are up to date\n"),
            "{}: run `flagops -C examples/{} schema` and commit the result",
            repo.display(),
            repo.file_name().unwrap().to_string_lossy()
        );
    }
}

/// Every extra config of an example (`flagops.local.yaml`) validates cleanly too.
#[test]
fn every_extra_example_config_validates_without_findings() {
    let mut checked = 0;
    for repo in example_repos() {
        for file in fs::read_dir(&repo).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !is_config(&path) || name == "flagops.yaml" {
                continue;
            }
            let run = flagops(&repo, &["--config", &name, "validate", "--format", "json"]);
            run.expect_code(0);
            let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
            assert_eq!(doc["findings"], serde_json::json!([]), "{}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 1, "examples/posthog/flagops.local.yaml is gone");
}

#[test]
fn the_mixpanel_example_covers_the_model() {
    use flagops::vendor::mixpanel::MixpanelFlag;
    let root = crate_dir().join("examples/mixpanel");
    let repo = flagops::source::load::<MixpanelFlag>(&root, None).expect("load");
    assert!(repo.flags.len() >= 7, "only {} flags", repo.flags.len());
    assert_eq!(repo.config.backend, flagops::config::BackendKind::Mixpanel);
    assert_eq!(
        repo.config.environments.keys().collect::<Vec<_>>(),
        ["production", "staging"]
    );
    // An EU project: every environment on the EU region, with a service account by variable.
    for (name, env) in &repo.config.environments {
        assert_eq!(env.region, Some(flagops::config::Region::Eu), "{name}");
        assert!(env.host.is_none() && env.project_id.is_some(), "{name}");
        assert_eq!(env.username_env.as_deref(), Some("MIXPANEL_SA_USERNAME"));
        assert_eq!(env.secret_env.as_deref(), Some("MIXPANEL_SA_SECRET"));
    }
    let production = &repo.config.environments["production"];
    assert!(production.prune && production.max_deletes.is_some() && !production.protect.is_empty());
    assert!(production.workspace_id.is_some() && production.rate_limit.is_some());
    assert!(repo.config.environments["staging"].hard_delete);

    let all = serde_json::to_string(&repo.flags.iter().map(|f| &f.spec).collect::<Vec<_>>())
        .expect("serialize");
    for needle in [
        "\"variants\"",
        "\"is_control\"",
        "\"is_sticky\"",
        "\"rollout\"",
        "\"variant_splits\"",
        "\"runtime_evaluation_rule\"",
        "\"runtime_event_rule\"",
        "\"property_filters\"",
        "\"semver_compare\"",
        "\"test_users\"",
        "\"context\":\"account_id\"",
        "\"data_group_id\"",
        "\"serving_method\"",
        "\"experiment_id\"",
        "\"is_experiment_active\"",
        "\"depends_on\"",
        "\"environments\"",
        "\"tags\"",
        "\"description\"",
    ] {
        assert!(all.contains(needle), "no example flag uses {needle}");
    }
    // A feature gate (booleans), an experiment (strings) and dynamic configs (objects).
    let kinds: std::collections::BTreeSet<&str> = repo
        .flags
        .iter()
        .filter_map(|f| f.spec.variants.as_ref()?.first())
        .map(|v| match v.value.value() {
            serde_json::Value::Bool(_) => "gate",
            serde_json::Value::String(_) => "experiment",
            serde_json::Value::Object(_) => "config",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["config", "experiment", "gate"]
    );
    // A staging override in several flags, and ordering through `depends_on`.
    let staged = repo
        .flags
        .iter()
        .filter(|f| f.spec.environments.contains_key("staging"))
        .count();
    assert!(staged >= 3, "{staged} staging overrides");
    let graph = flagops::graph::DependencyGraph::new(repo.flags.iter().map(|f| {
        let (flag, _) = flagops::model::format::resolve::<MixpanelFlag>(&f.spec, None);
        (flag.key.clone(), flag.dependencies())
    }));
    assert!(graph.levels().expect("acyclic").len() >= 2);
    let mut files: Vec<_> = repo.flags.iter().map(|f| f.file.clone()).collect();
    let total = files.len();
    files.dedup();
    assert!(files.len() < total, "no file holds several flags");
}

/// A copy of `examples/<name>` in a temporary directory, without any local state.
fn example_copy(name: &str) -> crate::support::Repo {
    let repo = crate::support::Repo::empty();
    let source = crate_dir().join("examples").join(name);
    for entry in walkdir::WalkDir::new(&source)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".flagops")
    {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let relative = entry.path().strip_prefix(&source).unwrap();
            repo.write(relative.to_str().unwrap(), fs::read(entry.path()).unwrap());
        }
    }
    repo
}

/// examples/mixpanel without an account: its `flagops.local.yaml` (`backend: local`,
/// `emulate: mixpanel`) plans every flag, applies them, and then plans nothing, in each
/// environment (staging with its overrides).
#[test]
fn the_mixpanel_example_plans_applies_and_converges_without_an_account() {
    let repo = example_copy("mixpanel");
    let with = |args: &[&'static str]| [&["--config", "flagops.local.yaml"][..], args].concat();
    for env in ["staging", "production"] {
        let run = repo.run(&with(&["plan", "--env", env]));
        run.expect_code(0);
        assert!(
            run.stdout.starts_with(&format!(
                "plan for environment `{env}` (backend `local`, local state file `.flagops/state.json`)\n"
            )),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout
                .ends_with("Plan: 7 to create, 0 to update, 0 to delete.\n"),
            "{}",
            run.stdout
        );
        // Dependencies first: the gate the checkout flags depend on is level 0.
        assert!(
            run.stdout
                .contains("\n  level 1: `checkout-v2`, `kill-switch-payments`\n"),
            "{}",
            run.stdout
        );
        let run = repo.run(&with(&["apply", "--env", env, "--auto-approve"]));
        run.expect_code(0);
        assert!(
            run.stdout.ends_with(&format!(
                "Apply complete for `{env}`: 7 applied, 0 already applied, 0 failed, 0 skipped, 0 untouched.\n"
            )),
            "{}",
            run.stdout
        );
        let run = repo.run(&with(&["plan", "--env", env, "--detailed-exitcode"]));
        run.expect_code(0);
        assert!(
            run.stdout.contains(&format!(
                "\nno changes: `{env}` matches the repository (7 flags in sync)\n"
            )),
            "{}",
            run.stdout
        );
    }
    // The environments differ where the files say so: staging serves the semantic ranking
    // to everyone and has the onboarding tour on; production has neither.
    let state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(repo.path().join(".flagops/state.json")).unwrap())
            .unwrap();
    let stored = |env: &str, key: &str| -> serde_json::Value {
        state["environments"][env]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["flag"]["key"] == key)
            .unwrap_or_else(|| panic!("{env}: no `{key}`"))["flag"]
            .clone()
    };
    assert_eq!(
        stored("staging", "search-ranking")["rollout"],
        serde_json::json!([{ "rollout_percentage": 100, "variant_splits": { "bm25": 0, "hybrid": 0, "semantic": 100 } }])
    );
    assert_eq!(
        stored("production", "search-ranking")["rollout"][0]["variant_splits"],
        serde_json::json!({ "bm25": 20, "hybrid": 80, "semantic": 0 })
    );
    assert_eq!(stored("staging", "onboarding-tour")["status"], "enabled");
    // `disabled`, the default, is left out of the stored (canonical) form.
    assert_eq!(
        stored("production", "onboarding-tour")["status"],
        serde_json::Value::Null
    );
}

/// examples/mixpanel's own `flagops.yaml`, its production environment pointed at the strict
/// fake Mixpanel (`host` instead of `region: eu`, the fake's project and workspace): every
/// flag is accepted, stored as written (fractions on the wire), and a second plan is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mixpanel_example_applies_to_the_fake_mixpanel() {
    use crate::support::fake_mixpanel::{
        FakeMixpanel, PROJECT_ID, SA_SECRET, SA_USERNAME, WORKSPACE_ID,
    };
    let fake = FakeMixpanel::start().await;
    let repo = example_copy("mixpanel");
    let config = fs::read_to_string(repo.path().join("flagops.yaml")).unwrap();
    let production = "    region: eu\n    project_id: 2718281\n    workspace_id: 1618033 ";
    assert!(config.contains(production), "{config}");
    let config = config.replacen(
        production,
        &format!(
            "    host: {}\n    project_id: {PROJECT_ID}\n    workspace_id: {WORKSPACE_ID} ",
            fake.base_url()
        ),
        1,
    );
    fs::write(repo.path().join("flagops.yaml"), config).unwrap();
    let dir = repo.path().to_path_buf();
    let run = |args: &'static [&'static str]| {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            crate::support::flagops_with_env(
                &dir,
                args,
                &[
                    ("MIXPANEL_SA_USERNAME", SA_USERNAME),
                    ("MIXPANEL_SA_SECRET", SA_SECRET),
                ],
            )
        })
    };
    let apply = run(&["apply", "--env", "production", "--auto-approve"])
        .await
        .unwrap();
    apply.expect_code(0);
    assert!(
        apply.stdout.ends_with(
            "Apply complete for `production`: 7 applied, 0 already applied, 0 failed, 0 skipped, 0 untouched.\n"
        ),
        "{}\n{}",
        apply.stdout,
        apply.stderr
    );
    // Requests are precious (60 an hour by default): the plan's list (applied at once with
    // `--auto-approve`, so it is what the preconditions are checked against), a fresh list
    // before level 1, one `POST` per flag, one list to confirm; the workspace is configured,
    // so never looked up. 10 requests for 7 new flags in two levels.
    let flags = FakeMixpanel::flags_path();
    let list = format!("GET {flags}?include_archived=true");
    let post = format!("POST {flags}");
    let lines: Vec<String> = fake
        .requests()
        .iter()
        .map(crate::support::fake_mixpanel::RecordedRequest::line)
        .collect();
    let mut expected = vec![list.clone()];
    expected.extend(std::iter::repeat_n(post.clone(), 5));
    expected.push(list.clone());
    expected.extend(std::iter::repeat_n(post, 2));
    expected.push(list.clone());
    assert_eq!(lines, expected);
    // …and says so.
    assert!(
        apply.stderr.ends_with("sent 10 requests to Mixpanel\n"),
        "{}",
        apply.stderr
    );
    fake.clear_requests();
    let mut keys: Vec<String> = fake
        .flags()
        .iter()
        .map(|f| f["key"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "checkout-api-v2",
            "checkout-v2",
            "kill-switch-payments",
            "maintenance-banner",
            "onboarding-tour",
            "pricing-page-experiment",
            "search-ranking",
        ]
    );
    // Percentages are fractions on the wire; values keep their JSON types.
    let pricing = fake.flag("pricing-page-experiment").unwrap();
    assert_eq!(
        pricing["ruleset"]["rollout"][1]["rollout_percentage"],
        serde_json::json!(0.5)
    );
    let splits: Vec<&serde_json::Value> = pricing["ruleset"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["split"])
        .collect();
    assert!(splits.contains(&&serde_json::json!(0.34)), "{splits:?}");
    let ranking = fake.flag("search-ranking").unwrap();
    assert_eq!(ranking["context"], "account_id");
    assert_eq!(
        ranking["ruleset"]["rollout"][0]["variant_splits"],
        serde_json::json!({ "bm25": 0.2, "hybrid": 0.8, "semantic": 0.0 })
    );
    let again = run(&["plan", "--env", "production", "--detailed-exitcode"])
        .await
        .unwrap();
    again.expect_code(0);
    assert!(
        again
            .stdout
            .contains("\nno changes: `production` matches the repository (7 flags in sync)\n"),
        "{}",
        again.stdout
    );
    // A plan is one request, and says so.
    assert_eq!(again.stderr, "sent 1 request to Mixpanel\n");
    let lines: Vec<String> = fake
        .requests()
        .iter()
        .map(crate::support::fake_mixpanel::RecordedRequest::line)
        .collect();
    assert_eq!(lines, [list]);
}
