//! Property: for generated desired and live states, applying the plan to the (strict) local
//! backend succeeds, planning again shows no change, and the step levels respect every
//! dependency.

use std::collections::BTreeMap;

use flagops::apply;
use flagops::backend::local::LocalBackend;
use flagops::backend::{Backend, LiveState};
use flagops::config::Environment;
use flagops::plan::{self, Action, Plan};
use flagops::vendor::posthog::Flag;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::flag;
use flagops::model::VendorFlag as _;

const KEYS: usize = 6;

#[derive(Debug, Clone)]
struct Spec {
    active: bool,
    rollout: Option<u8>,
    tags: Vec<&'static str>,
    deps: Vec<bool>,
    deps_as_depends_on: bool,
    multivariate: bool,
    payload: Option<i64>,
    name: &'static str,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::bool::weighted(0.7),
        prop::option::of(prop::sample::select(vec![0u8, 10, 50, 100])),
        prop::sample::subsequence(vec!["a", "B", " c"], 0..=3),
        prop::collection::vec(prop::bool::weighted(0.5), KEYS),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(0i64..3),
        prop::sample::select(vec!["", "Name", "Other"]),
    )
        .prop_map(
            |(active, rollout, tags, deps, deps_as_depends_on, multivariate, payload, name)| Spec {
                active,
                rollout,
                tags,
                deps,
                deps_as_depends_on,
                multivariate,
                payload,
                name,
            },
        )
}

fn key(i: usize) -> String {
    format!("k{i}")
}

/// The flag `k<i>` with dependencies on the lower-numbered keys `keep` allows.
fn build_flag(i: usize, s: &Spec, keep: impl Fn(usize) -> bool, allow_depends_on: bool) -> Flag {
    let deps: Vec<String> = (0..i).filter(|&j| s.deps[j] && keep(j)).map(key).collect();
    let mut properties: Vec<Value> = Vec::new();
    let mut depends_on: Vec<String> = Vec::new();
    if s.deps_as_depends_on && allow_depends_on {
        depends_on = deps;
    } else {
        properties = deps
            .iter()
            .map(|d| json!({"type": "flag", "flag": d, "value": true}))
            .collect();
    }
    let mut condition = json!({"properties": properties});
    if let Some(r) = s.rollout {
        condition["rollout_percentage"] = json!(r);
    }
    let mut value = json!({"key": key(i), "name": s.name, "active": s.active, "tags": s.tags,
        "conditions": [condition], "depends_on": depends_on});
    if s.multivariate {
        value["variants"] = json!([{"key": "control", "rollout_percentage": 50}, {"key": "test", "rollout_percentage": 50.0}]);
        if let Some(p) = s.payload {
            value["payloads"] = json!({"test": {"n": p}});
        }
    } else if let Some(p) = s.payload {
        value["payloads"] = json!({"true": p});
    }
    flag(value)
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Seed the backend with a valid live state: dependencies only on earlier live flags, and
/// enabled flags only on enabled ones.
fn seed(backend: &LocalBackend, live: &[Option<Spec>]) {
    let mut enabled: BTreeMap<usize, bool> = BTreeMap::new();
    for (i, s) in live.iter().enumerate() {
        let Some(s) = s else { continue };
        let keep = |j: usize| enabled.get(&j).is_some_and(|&on| on || !s.active);
        let f = build_flag(i, s, keep, false);
        block(backend.create(&f)).expect("seeding a valid live flag");
        enabled.insert(i, s.active);
    }
}

fn check_order(plan: &Plan, live: &LiveState) {
    let level: BTreeMap<&str, (usize, Action, bool)> = plan
        .steps
        .iter()
        .map(|s| {
            (
                s.key.as_str(),
                (
                    s.level,
                    s.action,
                    s.desired.as_ref().is_some_and(|d| d.active && !d.archived),
                ),
            )
        })
        .collect();
    for step in &plan.steps {
        let Some(desired) = &step.desired else {
            continue;
        };
        for dep in desired.dependencies() {
            if let Some(&(dep_level, action, dep_enabled)) = level.get(dep.as_str()) {
                let must_wait = action == Action::Create
                    || (action == Action::Update && dep_enabled && desired.active);
                if must_wait {
                    assert!(
                        dep_level < step.level,
                        "`{}` runs before its dependency `{dep}`",
                        step.key
                    );
                }
            }
        }
        if step.action == Action::Delete || step.disables() {
            for dependent in &live.flags {
                let on = dependent.flag.active && !dependent.flag.archived;
                if on
                    && dependent.flag.dependencies().contains(&step.key)
                    && let Some(&(l, _, _)) = level.get(dependent.flag.key.as_str())
                {
                    assert!(
                        l < step.level,
                        "`{}` is switched off before its dependent `{}`",
                        step.key,
                        dependent.flag.key
                    );
                }
            }
        }
    }
    for pair in plan.steps.windows(2) {
        assert!(pair[0].level <= pair[1].level, "steps are sorted by level");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn apply_then_plan_again_shows_no_change(
        desired in prop::collection::vec(prop::option::of(spec()), KEYS),
        live in prop::collection::vec(prop::option::of(spec()), KEYS),
        prune in any::<bool>(),
        protect_last in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path().join("state.json"), "test");
        seed(&backend, &live);
        let live_state = block(backend.list()).unwrap();
        // Like a repository that passes `validate`: dependencies only on flags it defines, and
        // enabled flags only on enabled ones.
        let wanted: Vec<Flag> = desired
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let s = s.as_ref()?;
                let keep = |j: usize| desired[j].as_ref().is_some_and(|d| d.active || !s.active);
                Some(build_flag(i, s, keep, true))
            })
            .collect();
        let policy = Environment {
            prune,
            protect: if protect_last { vec![key(KEYS - 1)] } else { Vec::new() },
            ..Environment::default()
        };
        let Ok(plan) = plan::build(&wanted, &live_state, &policy) else {
            return Ok(());
        };
        check_order(&plan, &live_state);
        let report = block(apply::run(&plan, &backend, &apply::Options::default(), &apply::Quiet)).unwrap();
        prop_assert!(report.succeeded(), "{:?}\nplan: {}", report, serde_json::to_string_pretty(&plan).unwrap());
        let after = block(backend.list()).unwrap();
        let again = plan::build(&wanted, &after, &policy).expect("the second plan is accepted");
        prop_assert!(!again.has_changes(), "{}", serde_json::to_string_pretty(&again.steps).unwrap());
    }
}
