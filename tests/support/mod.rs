//! Shared test helpers: flags from JSON, live states, temp repositories, the binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flagops::backend::{LiveFlag, LiveState};
use flagops::model::{Flag, FlagSpec};
use serde_json::Value;

/// A resolved flag from its file form as JSON.
pub(crate) fn flag(value: Value) -> Flag {
    let spec: FlagSpec = serde_json::from_value(value).expect("a valid flag");
    spec.resolve(None).0
}

/// A live state from (id, version, flag) triples.
pub(crate) fn live(flags: Vec<(u64, i64, Value)>) -> LiveState {
    let mut flags: Vec<LiveFlag> = flags
        .into_iter()
        .map(|(id, version, v)| LiveFlag {
            id: id.to_string(),
            flag: flag(v),
            version: Some(version),
        })
        .collect();
    flags.sort_by(|a, b| a.flag.key.cmp(&b.flag.key));
    LiveState {
        flags,
        unsupported: Vec::new(),
    }
}

/// A temporary flag repository.
pub(crate) struct TempRepo {
    pub(crate) dir: tempfile::TempDir,
}

impl TempRepo {
    /// A repository with `config` as `flagops.yaml` and the given flag files under `flags/`.
    pub(crate) fn new(config: &str, files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("flagops.yaml"), config).expect("write config");
        std::fs::create_dir_all(dir.path().join("flags")).expect("flags dir");
        let repo = TempRepo { dir };
        for (name, text) in files {
            repo.write(name, text);
        }
        repo
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `flags/<name>`.
    pub(crate) fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join("flags").join(name), text).expect("write flag");
    }

    /// Remove `flags/<name>`.
    pub(crate) fn remove(&self, name: &str) {
        std::fs::remove_file(self.dir.path().join("flags").join(name)).expect("remove flag");
    }

    pub(crate) fn state_file(&self) -> PathBuf {
        self.dir.path().join(".flagops/state.json")
    }

    /// Run `flagops -C <repo> <args>` with a clean, colourless environment.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_flagops"))
            .arg("-C")
            .arg(self.dir.path())
            .args(args)
            .env_clear()
            .env("NO_COLOR", "1")
            .output()
            .expect("run flagops");
        Run::from(output)
    }
}

/// The outcome of one run of the binary.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}
