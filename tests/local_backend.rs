//! The local backend follows PostHog's rules: versions, conflicts, soft delete, dependency
//! checks, key uniqueness; and its file is written atomically as sorted, pretty JSON.

use flagops::backend::local::{LocalBackend, StateFile};
use flagops::backend::{Backend, BackendError, LiveFlag};
use serde_json::json;

use crate::support::flag;

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn backend() -> (tempfile::TempDir, LocalBackend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let b = LocalBackend::new(dir.path().join(".flagops/state.json"), "test");
    (dir, b)
}

fn depends_on(key: &str, target: &str) -> flagops::vendor::posthog::Flag {
    flag(
        json!({"key": key, "conditions": [{"properties": [{"type": "flag", "flag": target, "value": true}]}]}),
    )
}

#[test]
fn a_missing_file_is_an_empty_state() {
    let (_dir, b) = backend();
    let state = block(b.list()).unwrap();
    assert!(state.flags.is_empty());
    assert!(!b.path().exists(), "listing does not create the file");
}

#[test]
fn versions_start_at_one_and_grow_per_write() {
    let (_dir, b) = backend();
    let created = block(b.create(&flag(json!({"key": "a", "conditions": [{}]})))).unwrap();
    assert_eq!(
        (created.id.as_str(), created.token.clone()),
        ("1", Some(1.into()))
    );
    let updated = block(b.update(&created, &flag(json!({"key": "a", "name": "A"})))).unwrap();
    assert_eq!(updated.token, Some(2.into()));
    assert_eq!(updated.flag.name, "A");
    let second = block(b.create(&flag(json!({"key": "b"})))).unwrap();
    assert_eq!(second.id, "2");
}

#[test]
fn a_stale_version_is_a_conflict() {
    let (_dir, b) = backend();
    let created = block(b.create(&flag(json!({"key": "a"})))).unwrap();
    block(b.update(&created, &flag(json!({"key": "a", "name": "first"})))).unwrap();
    let err = block(b.update(&created, &flag(json!({"key": "a", "name": "second"})))).unwrap_err();
    assert_eq!(
        err,
        BackendError::Conflict {
            key: "a".into(),
            detail: "it is at version 2, the caller read version 1".into()
        }
    );
    assert!(matches!(
        block(b.delete(&created)),
        Err(BackendError::Conflict { .. })
    ));
    assert_eq!(block(b.get("a")).unwrap().unwrap().flag.name, "first");
}

#[test]
fn deletes_are_soft_and_the_key_can_be_created_again() {
    let (_dir, b) = backend();
    let created = block(b.create(&flag(json!({"key": "a"})))).unwrap();
    block(b.delete(&created)).unwrap();
    assert!(block(b.list()).unwrap().flags.is_empty());
    assert_eq!(block(b.get("a")).unwrap(), None);
    let state = b.environment_state().unwrap();
    assert_eq!(state.flags.len(), 1);
    assert!(state.flags[0].deleted);
    assert_eq!(state.flags[0].version, 2);
    // Deleting again: not found.
    let again = LiveFlag {
        token: Some(2.into()),
        ..created.clone()
    };
    assert_eq!(
        block(b.delete(&again)),
        Err(BackendError::NotFound { key: "a".into() })
    );
    let recreated = block(b.create(&flag(json!({"key": "a"})))).unwrap();
    assert_eq!(recreated.id, "2");
    assert_eq!(block(b.list()).unwrap().flags.len(), 1);
}

#[test]
fn keys_are_unique_among_live_flags() {
    let (_dir, b) = backend();
    block(b.create(&flag(json!({"key": "a"})))).unwrap();
    assert_eq!(
        block(b.create(&flag(json!({"key": "a"})))).unwrap_err(),
        BackendError::Invalid {
            key: "a".into(),
            detail: "there is already a feature flag with this key".into()
        }
    );
}

#[test]
fn dependencies_must_exist_and_be_enabled() {
    let (_dir, b) = backend();
    assert_eq!(
        block(b.create(&depends_on("child", "parent")))
            .unwrap_err()
            .to_string(),
        "flag `child`: the dependency `parent` does not exist"
    );
    let parent = block(b.create(&flag(json!({"key": "parent", "active": false})))).unwrap();
    assert_eq!(
        block(b.create(&depends_on("child", "parent")))
            .unwrap_err()
            .to_string(),
        "flag `child`: cannot depend on the disabled flag `parent`"
    );
    let parent = block(b.update(&parent, &flag(json!({"key": "parent"})))).unwrap();
    block(b.create(&depends_on("child", "parent"))).unwrap();
    assert_eq!(
        block(b.update(&parent, &flag(json!({"key": "parent", "active": false}))))
            .unwrap_err()
            .to_string(),
        "flag `parent`: cannot disable this flag because enabled flags depend on it: `child`"
    );
    assert_eq!(
        block(b.delete(&parent)).unwrap_err().to_string(),
        "flag `parent`: cannot delete this flag because enabled flags depend on it: `child`"
    );
    assert_eq!(
        block(b.create(&depends_on("self", "self")))
            .unwrap_err()
            .to_string(),
        "flag `self`: a flag cannot depend on itself"
    );
}

#[test]
fn cycles_are_refused_with_their_path() {
    let (_dir, b) = backend();
    let a = block(b.create(&flag(json!({"key": "a"})))).unwrap();
    block(b.create(&depends_on("b", "a"))).unwrap();
    assert_eq!(
        block(b.update(&a, &depends_on("a", "b")))
            .unwrap_err()
            .to_string(),
        "flag `a`: circular dependency: a → b → a"
    );
}

#[test]
fn the_file_is_sorted_pretty_json_written_atomically() {
    let (dir, b) = backend();
    block(b.create(&flag(json!({"key": "zeta", "tags": [" Beta", "beta"]})))).unwrap();
    block(b.create(&flag(json!({"key": "alpha", "depends_on": ["zeta"]})))).unwrap();
    let text = std::fs::read_to_string(b.path()).unwrap();
    assert!(text.ends_with("}\n"));
    assert!(
        text.contains("\n  \"environments\": {\n    \"test\": {\n"),
        "{text}"
    );
    let file: StateFile = serde_json::from_str(&text).unwrap();
    let state = &file.environments["test"];
    let keys: Vec<&str> = state.flags.iter().map(|f| f.flag.key.as_str()).collect();
    assert_eq!(keys, ["alpha", "zeta"]);
    // What PostHog stores: tags lower-cased and deduplicated, no `depends_on`.
    assert_eq!(state.flags[1].flag.tags, Some(vec!["beta".to_owned()]));
    assert_eq!(state.flags[0].flag.depends_on, None);
    // No temporary file is left behind; the empty lock file that keeps other processes out
    // stays.
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join(".flagops"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["state.json", "state.json.lock"]);
}

#[test]
fn a_corrupt_file_is_reported_with_its_position() {
    let (_dir, b) = backend();
    std::fs::create_dir_all(b.path().parent().unwrap()).unwrap();
    std::fs::write(b.path(), "{\n  \"format_version\": 1,\n  oops\n}").unwrap();
    let err = block(b.list()).unwrap_err().to_string();
    assert!(err.starts_with("the state file `"), "{err}");
    assert!(err.contains("(line 3, column 3)"), "{err}");
    // A failed write leaves the file as it was.
    assert!(block(b.create(&flag(json!({"key": "a"})))).is_err());
    assert_eq!(
        std::fs::read_to_string(b.path()).unwrap(),
        "{\n  \"format_version\": 1,\n  oops\n}"
    );
}

/// Hand-edited state files: each is an error naming the place once (no `at line … column …`
/// repeated from the JSON parser), wrong types and duplicate keys (which serde would resolve
/// silently, the last winning) included.
#[test]
fn a_hand_edited_state_file_is_an_error_naming_the_place_once() {
    for (text, problem) in [
        ("", "EOF while parsing a value (line 1, column 1)"),
        (
            "{\"format_version\": 1, \"format_version\": 1}",
            "duplicate key `format_version` (line 1, column 38)",
        ),
        (
            "{\"format_version\": 1, \"environments\": {\"test\": {\"next_id\": 1, \"flags\": []}, \"test\": {\"next_id\": 1, \"flags\": []}}}",
            "duplicate key `test` (line 1, column 82)",
        ),
        (
            "{\"format_version\": 1, \"environments\": {\"test\": {\"next_id\": 2, \"flags\": [{\"id\": 1, \"version\": 1, \"flag\": {\"key\": \"a\", \"payloads\": {\"true\": 1, \"true\": 2}}}]}}}",
            "duplicate key `true` (line 1, column 147)",
        ),
        (
            "{\"format_version\": 1, \"environments\": {\"test\": {\"next_id\": \"x\", \"flags\": []}}}",
            "invalid type: string \"x\", expected u64 (line 1, column 62)",
        ),
        // No Rust type's name: serde's "expected struct StateFile with 2 elements".
        (
            "[]",
            "expected an object, found an array (line 1, column 2)",
        ),
        (
            "{\"format_version\": 1, \"environments\": {\"test\": \"x\"}}",
            "invalid type: string \"x\", expected an object (line 1, column 50)",
        ),
        (
            "{\"format_version\": 1, \"environments\": {\"test\": {\"next_id\": 2, \"flags\": [{\"id\": 1, \"version\": 1, \"flag\": {\"key\": 5}}]}}}",
            "invalid type: integer `5`, expected a string (line 1, column 113)",
        ),
    ] {
        let (_dir, b) = backend();
        std::fs::create_dir_all(b.path().parent().unwrap()).unwrap();
        std::fs::write(b.path(), text).unwrap();
        let err = block(b.list()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "the state file `{}` is not valid: {problem}",
                b.path().display()
            ),
            "{text}"
        );
    }
}

/// A hand-edited state that no sequence of writes produces is refused, naming what is wrong;
/// a counter at its largest value is an error on the write that would overflow it, never a
/// panic or a reused id.
#[test]
fn an_inconsistent_or_exhausted_state_is_an_error_not_a_panic() {
    let stored = |id: u64, version: i64, key: &str| json!({"id": id, "version": version, "flag": {"key": key, "conditions": [{"rollout_percentage": 1}]}});
    for (next_id, flags, problem) in [
        (
            3,
            vec![stored(1, 1, "a"), stored(1, 1, "b")],
            "environment `test` has two flags with id 1",
        ),
        (
            1,
            vec![stored(1, 1, "a")],
            "environment `test`: flag `a` has id 1, not below `next_id` 1",
        ),
        (
            2,
            vec![stored(1, 0, "a")],
            "environment `test`: flag `a` has version 0; versions start at 1",
        ),
        (
            3,
            vec![stored(1, 1, "a"), stored(2, 1, "a")],
            "environment `test` has two live flags with key `a`",
        ),
    ] {
        let (_dir, b) = backend();
        std::fs::create_dir_all(b.path().parent().unwrap()).unwrap();
        let state = json!({"format_version": 1, "environments": {"test": {"next_id": next_id, "flags": flags}}});
        std::fs::write(b.path(), state.to_string()).unwrap();
        let err = block(b.list()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "the state file `{}` is not valid: {problem}",
                b.path().display()
            )
        );
    }

    let (_dir, b) = backend();
    std::fs::create_dir_all(b.path().parent().unwrap()).unwrap();
    let state = json!({"format_version": 1, "environments": {"test": {
        "next_id": u64::MAX, "flags": [stored(1, i64::MAX, "a")]}}});
    let text = state.to_string();
    std::fs::write(b.path(), &text).unwrap();
    let exhausted = |counter: &str| {
        format!(
            "the state file `{}` is not valid: `{counter}` is at its largest value and cannot grow",
            b.path().display()
        )
    };
    let err = block(b.create(&flag(json!({"key": "b"})))).unwrap_err();
    assert_eq!(err.to_string(), exhausted("next_id"));
    let live = block(b.list()).unwrap().flags.remove(0);
    let err = block(b.update(&live, &flag(json!({"key": "a", "active": false})))).unwrap_err();
    assert_eq!(err.to_string(), exhausted("version"));
    let err = block(b.delete(&live)).unwrap_err();
    assert_eq!(err.to_string(), exhausted("version"));
    assert_eq!(
        std::fs::read_to_string(b.path()).unwrap(),
        text,
        "nothing written"
    );
}

/// A state file that is a FIFO or a device is refused at once, never opened (reading would
/// block or never end); so is one over the size limit.
#[cfg(unix)]
#[test]
fn a_state_file_that_is_not_a_regular_file_is_refused_without_reading() {
    let (_dir, b) = backend();
    std::fs::create_dir_all(b.path().parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("/dev/zero", b.path()).unwrap();
    let started = std::time::Instant::now();
    let err = block(b.list()).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "cannot read the state file `{}`: it is not a regular file",
            b.path().display()
        )
    );
    std::fs::remove_file(b.path()).unwrap();
    crate::support::mkfifo(b.path());
    let err = block(b.list()).unwrap_err().to_string();
    assert!(err.ends_with("it is not a regular file"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    std::fs::remove_file(b.path()).unwrap();
    // The lock file too: opening a FIFO to write would wait for a reader.
    let lock = b.path().with_file_name("state.json.lock");
    crate::support::mkfifo(&lock);
    let err = block(b.create(&flag(json!({"key": "a"}))))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "cannot lock the state file `{}`: `{}` is not a regular file",
            b.path().display(),
            lock.display()
        )
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    std::fs::remove_file(&lock).unwrap();
    let file = std::fs::File::create(b.path()).unwrap();
    file.set_len(flagops::backend::local::MAX_STATE_BYTES + 1)
        .unwrap();
    let err = block(b.list()).unwrap_err().to_string();
    assert!(
        err.ends_with("it is larger than 268435456 bytes (256 MiB)"),
        "{err}"
    );
}

/// Two flagops processes on one state file (here: two backends, as two processes would have)
/// must not lose each other's writes: every write holds a lock on the file's `.lock` sibling.
#[test]
fn concurrent_writers_on_one_state_file_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".flagops/state.json");
    let writers: Vec<std::thread::JoinHandle<()>> = (0..2)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                let backend = LocalBackend::new(path, "staging");
                for i in 0..40 {
                    let key = format!("w{w}-{i}");
                    block(backend.create(&flag(json!({"key": key, "conditions": [{}]})))).unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let state = block(LocalBackend::new(&path, "staging").list()).unwrap();
    assert_eq!(state.flags.len(), 80);
}
