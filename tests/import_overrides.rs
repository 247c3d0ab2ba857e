//! `flagops import --force` into files a person wrote: environment overrides are kept (the
//! imported environment's values go into its override, every other environment resolves as
//! before), comments are never dropped silently, and a file in sync is left as it is. Against
//! the local backend, whose state file holds the "live" flags of each environment.

use std::collections::BTreeMap;
use std::fs;

use flagops::model::FlagSpec;
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
    let loaded = flagops::source::load(repo.path(), None).unwrap();
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

    // In sync now: importing again leaves the file alone.
    let again = repo.run(&["import", "--env", "production", "--force"]);
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
    let repo = local_repo(&["production"], &[("production", vec![production])]);
    repo.write(
        "flags/banner.yaml",
        "# yaml-language-server: $schema=../old/flag.schema.json\nkey: banner\nname: Old\nconditions: [{}]\n",
    );
    let run = repo.run(&["import", "--env", "production", "--force"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "overwrote flags/banner.yaml\nwrote schemas/posthog-flag.schema.json\n\
         imported 1 flag from `production` into `flags/`\n"
    );
    assert_eq!(
        fs::read_to_string(repo.path().join("flags/banner.yaml")).unwrap(),
        "# yaml-language-server: $schema=../schemas/posthog-flag.schema.json
key: banner
name: Banner
active: false
conditions:
  - rollout_percentage: 5
"
    );
    repo.run(&["plan", "--env", "production", "--detailed-exitcode"])
        .expect_code(0);
}
