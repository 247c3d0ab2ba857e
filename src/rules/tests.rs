use std::fs;

use super::*;
use crate::source;
use crate::vendor::posthog::Flag;

#[test]
fn the_flags_kept_for_an_environment_are_the_ones_it_resolves_to() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| fs::write(dir.path().join(path), text).unwrap();
    write(
        "flagops.yaml",
        "backend: local\nenvironments:\n  prod: {}\n  staging: {}\n  quiet: {}\n",
    );
    fs::create_dir(dir.path().join("flags")).unwrap();
    write(
        "flags/b.yaml",
        "key: b\nconditions: [{ rollout_percentage: 10 }]\n\
         environments:\n  prod:\n    conditions: [{ rollout_percentage: 90 }]\n",
    );
    write(
        "flags/a.yaml",
        "key: a\nconditions: [{ rollout_percentage: 1 }]\n",
    );
    write(
        "flags/c.yaml",
        "key: c\nname: C\nconditions: [{}]\nenvironments:\n  staging:\n    name: staged\n",
    );
    let repo = source::load::<Flag>(dir.path(), None).unwrap();
    let rollout = |flag: &Flag| flag.conditions[0].rollout_percentage.map(|p| p.to_string());
    // `prod` overrides `b`, `staging` overrides `c`, `quiet` nothing (its check is skipped).
    for env in ["prod", "staging", "quiet"] {
        let (findings, flags) = validate_for(&repo, env);
        assert_eq!(findings, validate(&repo), "{env}");
        let resolved: Vec<Flag> = repo.flags.iter().map(|l| l.resolve(Some(env)).0).collect();
        assert_eq!(flags, resolved, "{env}");
        let keys: Vec<&str> = flags.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"], "{env}: in the repository's order");
        let b = if env == "prod" { "90%" } else { "10%" };
        assert_eq!(rollout(&flags[1]).as_deref(), Some(b), "{env}");
        let c = if env == "staging" { "staged" } else { "C" };
        assert_eq!(flags[2].name, c, "{env}");
    }
}
