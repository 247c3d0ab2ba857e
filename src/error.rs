//! The top-level error: what went wrong, which exit code it maps to, and hints.

use std::path::PathBuf;

use crate::finding::Finding;
use crate::source::ConfigError;

/// Exit codes shared by every command (see the README).
pub mod exit {
    /// Success; for `plan --detailed-exitcode`, no changes.
    pub const OK: u8 = 0;
    /// Findings or a failed operation.
    pub const FAILURE: u8 = 1;
    /// Usage or config error (for `plan --detailed-exitcode`: changes present).
    pub const USAGE: u8 = 2;
    /// `apply` was interrupted (Ctrl-C): 128 + SIGINT, as shells report it.
    pub const INTERRUPTED: u8 = 130;
    /// `apply` was stopped by SIGTERM: 128 + 15.
    pub const TERMINATED: u8 = 143;
    /// `apply` was stopped by SIGHUP: 128 + 1.
    pub const HANGUP: u8 = 129;
}

/// An error that ends a command.
#[derive(Debug)]
pub struct Error {
    /// Exit code.
    pub code: u8,
    /// One line, lower-case.
    pub message: String,
    /// Located problems behind the error (a bad config).
    pub findings: Vec<Finding>,
    /// The directory finding paths are relative to.
    pub root: Option<PathBuf>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Error {
    /// A usage or config error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Error {
            code: exit::USAGE,
            message: message.into(),
            findings: Vec::new(),
            root: None,
            hint: None,
        }
    }

    /// A failure (exit 1).
    pub fn failure(message: impl Into<String>) -> Self {
        Error {
            code: exit::FAILURE,
            message: message.into(),
            findings: Vec::new(),
            root: None,
            hint: None,
        }
    }

    /// Attach a hint.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A config error, with the config's directory for rendering its findings.
    pub fn config(error: &ConfigError) -> Self {
        match error {
            ConfigError::NotFound(_) => Error::usage(error.to_string())
                .hint("create `flagops.yaml`, pass `-C <dir>` or `--config <file>`"),
            ConfigError::MissingFile(_) => {
                Error::usage(error.to_string()).hint("check the path given to `--config`")
            }
            ConfigError::Invalid { findings, root, .. } => {
                let findings = findings.clone();
                let mut e = Error::usage(error.to_string());
                e.findings = findings;
                e.root = Some(root.clone());
                e
            }
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Result alias of the command layer.
pub type Result<T> = std::result::Result<T, Error>;
