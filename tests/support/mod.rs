//! Shared helpers: running the built `flagops` binary in a clean environment, and building
//! throw-away flag repositories in temporary directories; a strict fake PostHog API.
//!
//! Each test module uses a part of these.
#![allow(dead_code, unreachable_pub)]

pub mod fake_github;
pub mod fake_mixpanel;
pub mod fake_posthog;
pub mod faults;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// A PostHog config with the two environments the fixtures and CLI tests use.
pub(crate) const POSTHOG_CONFIG: &str = "\
backend: posthog
flags: flags/
environments:
  staging:
    host: https://us.posthog.com
    project_id: 1
    api_key_env: POSTHOG_API_KEY_STAGING
  production:
    host: https://eu.posthog.com
    project_id: 2
    api_key_env: POSTHOG_API_KEY_PROD
    prune: true
    max_deletes: 5
    protect: [billing-*]
";

/// The outcome of one run of the binary.
#[derive(Debug)]
pub(crate) struct Run {
    /// Exit code (`-1` when killed by a signal).
    pub(crate) code: i32,
    /// Everything written to stdout.
    pub(crate) stdout: String,
    /// Everything written to stderr.
    pub(crate) stderr: String,
}

impl Run {
    /// Assert the exit code, showing both streams when it differs.
    #[track_caller]
    pub(crate) fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Run `flagops args…` in `dir` with an empty environment plus `NO_COLOR=1` and `envs`.
pub(crate) fn flagops_with_env(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_flagops"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("NO_COLOR", "1")
        .envs(envs.iter().copied())
        .output()
        .expect("run flagops");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// Run `flagops args…` in `dir` with an empty environment plus `NO_COLOR=1`.
pub(crate) fn flagops(dir: &Path, args: &[&str]) -> Run {
    flagops_with_env(dir, args, &[])
}

/// A flag repository in a temporary directory, deleted when dropped.
pub(crate) struct Repo {
    dir: TempDir,
}

impl Repo {
    /// An empty directory.
    pub(crate) fn empty() -> Self {
        Repo {
            dir: tempfile::tempdir().expect("create a temp dir"),
        }
    }

    /// A repository with `POSTHOG_CONFIG` and an empty `flags/` directory.
    pub(crate) fn posthog() -> Self {
        let repo = Repo::empty();
        repo.write("flagops.yaml", POSTHOG_CONFIG);
        fs::create_dir_all(repo.path().join("flags")).expect("create flags/");
        repo
    }

    /// The repository directory.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `contents` to `relative` (parent directories are created).
    pub(crate) fn write(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent dir");
        }
        fs::write(&path, contents).expect("write file");
        path
    }

    /// Run `flagops args…` in the repository.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        flagops(self.path(), args)
    }
}

/// The crate's root directory.
pub(crate) fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A resolved flag from its file form as JSON.
pub(crate) fn flag(value: serde_json::Value) -> flagops::vendor::posthog::Flag {
    let spec: flagops::vendor::posthog::FlagSpec =
        serde_json::from_value(value).expect("a valid flag");
    spec.resolve(None).0
}

/// A live state from (id, version, flag) triples.
pub(crate) fn live(flags: Vec<(u64, i64, serde_json::Value)>) -> flagops::backend::LiveState {
    let mut flags: Vec<flagops::backend::LiveFlag> = flags
        .into_iter()
        .map(|(id, version, v)| flagops::backend::LiveFlag {
            id: id.to_string(),
            flag: flag(v),
            token: Some(version.into()),
        })
        .collect();
    flags.sort_by(|a, b| a.flag.key.cmp(&b.flag.key));
    flagops::backend::LiveState {
        flags,
        unsupported: Vec::new(),
    }
}

/// A temporary flag repository with a given config and flag files under `flags/`.
pub(crate) struct TempRepo {
    pub(crate) dir: TempDir,
}

impl TempRepo {
    /// A repository with `config` as `flagops.yaml` and the given flag files under `flags/`.
    pub(crate) fn new(config: &str, files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("flagops.yaml"), config).expect("write config");
        fs::create_dir_all(dir.path().join("flags")).expect("flags dir");
        let repo = TempRepo { dir };
        for (name, text) in files {
            repo.write(name, text);
        }
        repo
    }

    /// The repository directory.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `flags/<name>`.
    pub(crate) fn write(&self, name: &str, text: &str) {
        fs::write(self.dir.path().join("flags").join(name), text).expect("write flag");
    }

    /// Remove `flags/<name>`.
    pub(crate) fn remove(&self, name: &str) {
        fs::remove_file(self.dir.path().join("flags").join(name)).expect("remove flag");
    }

    /// The local backend's state file.
    pub(crate) fn state_file(&self) -> PathBuf {
        self.dir.path().join(".flagops/state.json")
    }

    /// Run `flagops -C <repo> <args>` with a clean, colourless environment.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        let mut full = vec!["-C", self.dir.path().to_str().expect("UTF-8 temp path")];
        full.extend_from_slice(args);
        flagops(self.dir.path(), &full)
    }
}

/// The variable the PostHog repositories of [`posthog_repo_config`] read their key from.
pub(crate) const FAKE_KEY_VAR: &str = "FLAGOPS_TEST_FAKE_POSTHOG_KEY";

/// A `backend: posthog` config whose environment `live` is the fake at `base_url`
/// (project [`fake_posthog::PROJECT_ID`], key in [`FAKE_KEY_VAR`]).
pub(crate) fn posthog_repo_config(base_url: &str) -> String {
    format!(
        "backend: posthog\nflags: flags/\nenvironments:\n  live:\n    host: {base_url}\n    project_id: {}\n    api_key_env: {FAKE_KEY_VAR}\n",
        fake_posthog::PROJECT_ID
    )
}

/// Run `flagops args…` in `dir` off the async runtime (the fake must keep serving), with
/// the fake's write key in [`FAKE_KEY_VAR`] of the child process only.
pub(crate) async fn flagops_against_fake(dir: &Path, args: &[&str]) -> Run {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        flagops_with_env(&dir, &args, &[(FAKE_KEY_VAR, fake_posthog::WRITE_KEY)])
    })
    .await
    .expect("run flagops")
}

/// Make a FIFO (named pipe) at `path`, with the `mkfifo` program (coreutils).
#[cfg(unix)]
pub fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo {}", path.display());
}

/// The variable the Mixpanel repositories of [`mixpanel_repo_config`] read the service
/// account's username from.
pub(crate) const MIXPANEL_USERNAME_VAR: &str = "FLAGOPS_TEST_MIXPANEL_USERNAME";
/// The variable they read the service account's secret from.
pub(crate) const MIXPANEL_SECRET_VAR: &str = "FLAGOPS_TEST_MIXPANEL_SECRET";

/// A `backend: mixpanel` config whose environment `live` is the fake at `base_url` (project
/// [`fake_mixpanel::PROJECT_ID`], workspace discovered, service account in
/// [`MIXPANEL_USERNAME_VAR`] and [`MIXPANEL_SECRET_VAR`]); `extra` is more settings of `live`,
/// each line indented by four spaces (e.g. `"    prune: true\n"`).
pub(crate) fn mixpanel_repo_config(base_url: &str, extra: &str) -> String {
    format!(
        "backend: mixpanel\nflags: flags/\nenvironments:\n  live:\n    host: {base_url}\n    \
         project_id: {}\n    username_env: {MIXPANEL_USERNAME_VAR}\n    secret_env: \
         {MIXPANEL_SECRET_VAR}\n{extra}",
        fake_mixpanel::PROJECT_ID
    )
}

/// A repository with [`mixpanel_repo_config`] and the given files under `flags/`.
pub(crate) fn mixpanel_repo(base_url: &str, extra: &str, files: &[(&str, &str)]) -> TempRepo {
    TempRepo::new(&mixpanel_repo_config(base_url, extra), files)
}

/// Run `flagops args…` in `dir` off the async runtime (the fake must keep serving), with the
/// fake Mixpanel's service account in the child's environment only.
pub(crate) async fn flagops_against_fake_mixpanel(dir: &Path, args: &[&str]) -> Run {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        flagops_with_env(
            &dir,
            &args,
            &[
                (MIXPANEL_USERNAME_VAR, fake_mixpanel::SA_USERNAME),
                (MIXPANEL_SECRET_VAR, fake_mixpanel::SA_SECRET),
            ],
        )
    })
    .await
    .expect("run flagops")
}
