//! `flagops import --force` into files a person wrote: environment overrides are kept (the
//! imported environment's values go into its override, every other environment resolves as
//! before), comments are never dropped silently, and a file in sync is left as it is. Against
//! the local backend, whose state file holds the "live" flags of each environment.

use std::collections::BTreeMap;
use std::fs;

use flagops::vendor::posthog::FlagSpec;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::Repo;

/// A local-backend repository with `environments`, and `live` as the state of each
/// environment named (flags in their file form).
fn local_repo(environments: &[&str], live: &[(&str, Vec<Value>)]) -> Repo {
    let repo = Repo::empty();
    let mut config = "backend: local\nflags: flags/\nenvironments:\n".to_owned();
    for env in environments {
        config.push_str(&format!("  {env}: {{}}\n"));
    }
    repo.write("flagops.yaml", config);
    set_live(&repo, live);
    repo
}

/// Replace the local backend's state with `live` (flags in their file form, per environment).
fn set_live(repo: &Repo, live: &[(&str, Vec<Value>)]) {
    let mut environments = serde_json::Map::new();
    for (env, flags) in live {
        let stored: Vec<Value> = flags
            .iter()
            .enumerate()
            .map(|(i, flag)| json!({"id": i + 1, "version": 1, "flag": flag}))
            .collect();
        environments.insert(
            (*env).to_owned(),
            json!({"next_id": flags.len() + 1, "flags": stored}),
        );
    }
    repo.write(
        ".flagops/state.json",
        serde_json::to_string_pretty(&json!({"format_version": 1, "environments": environments}))
            .unwrap(),
    );
}

/// Every environment's resolution of every flag of the repository, serialized.
fn resolutions(repo: &Repo, environments: &[&str]) -> BTreeMap<String, String> {
    let loaded =
        flagops::source::load::<flagops::vendor::posthog::Flag>(repo.path(), None).unwrap();
    let mut out = BTreeMap::new();
    for flag in &loaded.flags {
        for env in environments {
            out.insert(
                format!("{env}/{}", flag.spec.key),
                serde_json::to_string(&flag.spec.resolve(Some(env)).0).unwrap(),
            );
        }
    }
    out
}

const SEARCH_RANKING: &str = "\
# yaml-language-server: $schema=../schemas/posthog-flag.schema.json
key: search-ranking
name: Search ranking
conditions:
  - rollout_percentage: 10
environments:
  staging:
    conditions:
      - rollout_percentage: 100
";

#[test]
fn overrides_are_kept_and_other_environments_resolve_as_before() {
    let staging = json!({"key": "search-ranking", "name": "Search ranking",
        "conditions": [{"rollout_percentage": 100}]});
    let production = json!({"key": "search-ranking", "name": "Search ranking",
        "tags": ["search"], "conditions": [{"rollout_percentage": 50}]});
    let repo = local_repo(
        &["production", "staging"],
        &[("production", vec![production]), ("staging", vec![staging])],
    );
    repo.write("flags/search-ranking.yaml", SEARCH_RANKING);
    repo.run(&["plan", "--env", "staging", "--detailed-exitcode"])
        .expect_code(0);
    let before = resolutions(&repo, &["staging"]);

    let run = repo.run(&["import", "--env", "production", "--force"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "overwrote flags/search-ranking.yaml\nwrote schemas/posthog-flag.schema.json\n\
         imported 1 flag from `production` into `flags/`\n"
    );
    assert_eq!(run.stderr, "");
    assert_eq!(
        fs::read_to_string(repo.path().join("flags/search-ranking.yaml")).unwrap(),
        "# yaml-language-server: $schema=../schemas/posthog-flag.schema.json
key: search-ranking
name: Search ranking
conditions:
  - rollout_percentage: 10
environments:
  production:
    tags:
      - search
    conditions:
      - rollout_percentage: 50
  staging:
    conditions:
      - rollout_percentage: 100
"
    );
    assert_eq!(resolutions(&repo, &["staging"]), before);
    repo.run(&["plan", "--env", "production", "--detailed-exitcode"])
        .expect_code(0);
    repo.run(&["plan", "--env", "staging", "--detailed-exitcode"])
        .expect_code(0);

    // In sync now: importing again leaves the file alone, and needs no `--force`.
    let again = repo.run(&["import", "--env", "production"]);
    again.expect_code(0);
    assert_eq!(
        again.stdout,
        "unchanged flags/search-ranking.yaml\n\
         imported 1 flag from `production` into `flags/` (1 unchanged)\n"
    );
}

#[test]
fn a_commented_file_is_refused_and_nothing_is_written() {
    let production = json!({"key": "search-ranking", "name": "Search ranking",
        "conditions": [{"rollout_percentage": 50}]});
    let other = json!({"key": "other", "conditions": [{}]});
    let repo = local_repo(
        &["production", "staging"],
        &[("production", vec![other, production])],
    );
    let commented = SEARCH_RANKING.replace(
        "name: Search ranking\n",
        "name: Search ranking   # owned by the search team\n",
    );
    repo.write("flags/search-ranking.yaml", &commented);

    let run = repo.run(&["import", "--env", "production", "--force"]);
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "  flags/search-ranking.yaml: has comments (line 3) that a rewrite would drop; \
         edit it by hand, or remove the comments and import again\n\
         error: 1 file cannot be rewritten; nothing was written\n"
    );
    assert_eq!(
        fs::read_to_string(repo.path().join("flags/search-ranking.yaml")).unwrap(),
        commented
    );
    assert!(!repo.path().join("flags/other.yaml").exists());
    assert!(!repo.path().join("schemas").exists());

    // A commented file that already says what production holds keeps its comments.
    let in_sync = commented.replace(
        "  - rollout_percentage: 10\n",
        "  - rollout_percentage: 50\n",
    );
    repo.write("flags/search-ranking.yaml", &in_sync);
    let run = repo.run(&["import", "--env", "production", "--force"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "wrote flags/other.yaml\nunchanged flags/search-ranking.yaml\n\
         wrote schemas/posthog-flag.schema.json\n\
         imported 2 flags from `production` into `flags/` (1 unchanged)\n"
    );
    assert_eq!(
        fs::read_to_string(repo.path().join("flags/search-ranking.yaml")).unwrap(),
        in_sync
    );
}

#[test]
fn a_file_with_only_the_modeline_is_rewritten() {
    let production = json!({"key": "banner", "name": "Banner", "active": false,
        "conditions": [{"rollout_percentage": 5}]});
    let api = json!({"key": "banner-api", "conditions": [{}]});
    let repo = local_repo(&["production"], &[("production", vec![production, api])]);
    repo.write(
        "flags/banner.yaml",
        "# yaml-language-server: $schema=../old/flag.schema.json\nkey: banner\nname: Old\nconditions: [{}]\ndepends_on: [banner-api]\n",
    );
    repo.write(
        "flags/banner-api.yaml",
        "key: banner-api\nconditions: [{}]\n",
    );
    let run = repo.run(&["import", "--env", "production", "--force"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "overwrote flags/banner.yaml\nunchanged flags/banner-api.yaml\n\
         wrote schemas/posthog-flag.schema.json\n\
         imported 2 flags from `production` into `flags/` (1 unchanged)\n"
    );
    assert_eq!(
        fs::read_to_string(repo.path().join("flags/banner.yaml")).unwrap(),
        "# yaml-language-server: $schema=../schemas/posthog-flag.schema.json
key: banner
name: Banner
active: false
conditions:
  - rollout_percentage: 5
depends_on:
  - banner-api
"
    );
    repo.run(&["plan", "--env", "production", "--detailed-exitcode"])
        .expect_code(0);
}

const ENVIRONMENTS: [&str; 3] = ["dev", "production", "staging"];
/// The environment imported.
const IMPORTED: &str = "production";

fn variants() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!([{"key": "control", "rollout_percentage": 50}, {"key": "test", "rollout_percentage": 50}]),
        json!([{"key": "control", "rollout_percentage": 100}]),
    ])
}

fn condition() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop::sample::select(vec![0u8, 30, 100])),
        prop::option::of(0u8..2),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(rollout, aggregation, forced)| {
            let mut c = json!({});
            if let Some(r) = rollout {
                c["rollout_percentage"] = json!(r);
            }
            if let Some(a) = aggregation {
                c["aggregation_group_type_index"] = json!(a);
            }
            if forced {
                c["variant"] = json!("control");
            }
            c
        })
}

/// A partial flag: each top-level field present or not.
fn layer() -> impl Strategy<Value = Value> {
    (
        (
            prop::option::of(prop::sample::select(vec!["", "A", "B"])),
            prop::option::of(any::<bool>()),
            prop::option::of(prop::sample::subsequence(vec!["a", "b", "c"], 0..=3)),
            prop::option::of(prop::collection::vec(condition(), 0..=2)),
            prop::option::of(0u8..2),
        ),
        (
            // Variants, with payloads for their keys (a payload needs its variant).
            prop::option::of((variants(), prop::option::of(0i64..3))),
            prop::option::of(prop::sample::select(vec![10u8, 20])),
            prop::option::of(any::<bool>()),
            prop::option::of(0i64..2),
            prop::option::of(prop::bool::weighted(0.3)),
        ),
    )
        .prop_map(
            |(
                (name, active, tags, conditions, aggregation),
                (variants, holdout, early_exit, boolean_payload, remote),
            )| {
                let mut l = serde_json::Map::new();
                if let Some(v) = name {
                    l.insert("name".into(), json!(v));
                }
                if let Some(v) = active {
                    l.insert("active".into(), json!(v));
                }
                if let Some(v) = tags {
                    l.insert("tags".into(), json!(v));
                }
                if let Some(v) = conditions {
                    l.insert("conditions".into(), json!(v));
                }
                if let Some(v) = aggregation {
                    l.insert("aggregation_group_type_index".into(), json!(v));
                }
                match (variants, boolean_payload) {
                    (Some((v, payload)), _) => {
                        l.insert("variants".into(), v);
                        if let Some(p) = payload {
                            l.insert("payloads".into(), json!({"control": {"n": p}}));
                        }
                    }
                    (None, Some(p)) => {
                        l.insert("payloads".into(), json!({"true": p}));
                    }
                    (None, None) => {}
                }
                if let Some(v) = holdout {
                    l.insert(
                        "holdout".into(),
                        json!({"id": 7, "exclusion_percentage": v}),
                    );
                }
                if let Some(v) = early_exit {
                    l.insert("early_exit".into(), json!(v));
                }
                if let Some(v) = remote {
                    l.insert("is_remote_configuration".into(), json!(v));
                }
                Value::Object(l)
            },
        )
}

/// A flag file: a base and an override for some of the environments.
fn flag_file() -> impl Strategy<Value = Value> {
    (
        layer(),
        prop::collection::vec(prop::option::of(layer()), ENVIRONMENTS.len()),
    )
        .prop_map(|(base, overrides)| {
            let mut file = base;
            file["key"] = json!("generated");
            let environments: serde_json::Map<String, Value> = ENVIRONMENTS
                .iter()
                .zip(overrides)
                .filter_map(|(env, o)| Some(((*env).to_owned(), o?)))
                .collect();
            if !environments.is_empty() {
                file["environments"] = Value::Object(environments);
            }
            file
        })
}

/// What is live in the imported environment: the file's resolution for it with `change`
/// laid over it and, maybe, its holdout, aggregation or variants removed; made valid (the
/// payloads and forced variants it keeps name variants it has).
fn live_flag(file: &Value, change: &Value, removed: (bool, bool, bool)) -> Value {
    let spec: FlagSpec = serde_json::from_value(file.clone()).unwrap();
    let mut live = serde_json::to_value(spec.resolve(Some(IMPORTED)).0.to_spec()).unwrap();
    for (field, value) in change.as_object().unwrap() {
        live[field] = value.clone();
    }
    let live = live.as_object_mut().unwrap();
    if removed.0 {
        live.remove("holdout");
    }
    if removed.1 {
        live.remove("aggregation_group_type_index");
    }
    if removed.2 {
        live.remove("variants");
    }
    let keys: Vec<String> = match live.get("variants") {
        Some(Value::Array(v)) => v
            .iter()
            .map(|v| v["key"].as_str().unwrap().to_owned())
            .collect(),
        _ => vec!["true".to_owned()],
    };
    if let Some(Value::Object(payloads)) = live.get_mut("payloads") {
        payloads.retain(|k, _| keys.contains(k));
    }
    if let Some(Value::Array(conditions)) = live.get_mut("conditions") {
        for c in conditions {
            if c.get("variant")
                .is_some_and(|v| !keys.iter().any(|k| v == k))
            {
                c.as_object_mut().unwrap().remove("variant");
            }
        }
    }
    Value::Object(live.clone())
}

fn has_errors(repo: &Repo) -> bool {
    let loaded =
        flagops::source::load::<flagops::vendor::posthog::Flag>(repo.path(), None).unwrap();
    flagops::rules::validate(&loaded)
        .iter()
        .any(|f| f.severity == flagops::finding::Severity::Error)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_global_rejects: 4096, ..ProptestConfig::default() })]

    /// `import --env production --force` into a file with overrides for several environments:
    /// production then plans no change and every other environment resolves byte-identically.
    #[test]
    fn import_into_overrides_changes_only_the_imported_environment(
        file in flag_file(),
        change in layer(),
        removed in (prop::bool::weighted(0.2), prop::bool::weighted(0.2), prop::bool::weighted(0.2)),
    ) {
        let live = live_flag(&file, &change, removed);
        let repo = local_repo(&ENVIRONMENTS, &[(IMPORTED, vec![live.clone()])]);
        repo.write("flags/generated.yaml", serde_json::to_string(&file).unwrap());
        prop_assume!(!has_errors(&repo));
        let before = resolutions(&repo, &ENVIRONMENTS);

        let run = repo.run(&["import", "--env", IMPORTED, "--force"]);
        prop_assert_eq!(run.code, 0, "{}\n{}\nlive: {}", run.stdout, run.stderr, live);
        let written = fs::read_to_string(repo.path().join("flags/generated.yaml")).unwrap();
        let plan = repo.run(&["plan", "--env", IMPORTED, "--detailed-exitcode"]);
        prop_assert_eq!(plan.code, 0, "{}\n{}\nwritten:\n{}\nlive: {}", plan.stdout, plan.stderr, written, live);
        let after = resolutions(&repo, &ENVIRONMENTS);
        for env in ENVIRONMENTS.iter().filter(|e| **e != IMPORTED) {
            let key = format!("{env}/generated");
            prop_assert_eq!(&before[&key], &after[&key], "{} changed:\n{}", env, written);
        }
    }
}
