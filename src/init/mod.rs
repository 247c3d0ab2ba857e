//! `init`: the files of a new flag repository, ready to validate.
//!
//! Pure: [`files`] returns every file `flagops init` writes (path relative to the repository
//! and content) for a backend, and [`next_steps`] what to do after. The templates are the
//! files under `src/init/templates/`, compiled in; the schemas are the same ones `flagops
//! schema` writes (`crate::schema::generate`), so `schema --check` passes in a new repository.
//! Every YAML file's modeline points at `schemas/` relative to that file. `cli::init` refuses
//! to overwrite anything and writes them.

use crate::config::{BackendKind, Service};
use crate::schema;

/// What to initialise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The backend the config names.
    pub backend: BackendKind,
    /// Also write GitHub Actions workflows under `.github/workflows/`.
    pub github: bool,
}

/// One file of a new repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitFile {
    /// Path relative to the repository, `/`-separated.
    pub path: String,
    /// The whole content.
    pub content: String,
}

/// The example flag's file, relative to the repository.
pub const EXAMPLE_FLAG: &str = "flags/example-flag.yaml";

const CONFIG_POSTHOG: &str = include_str!("templates/flagops.posthog.yaml");
const CONFIG_LOCAL: &str = include_str!("templates/flagops.local.yaml");
const FLAG: &str = include_str!("templates/example-flag.yaml");
const STATE_GITIGNORE: &str = include_str!("templates/state.gitignore");
const PULL_REQUEST_POSTHOG: &str = include_str!("templates/pull-request.posthog.yml");
const PULL_REQUEST_LOCAL: &str = include_str!("templates/pull-request.local.yml");
const APPLY_POSTHOG: &str = include_str!("templates/apply.posthog.yml");

/// Every file of a new repository, in the order they are written and listed: the config, the
/// example flag, the schemas, then (local backend) the state directory's `.gitignore`, then
/// (with `github`) the workflows. With `backend: local` there is no apply workflow: the
/// state file lives on one machine, so an apply in CI would change nothing that lasts.
pub fn files(options: Options) -> Vec<InitFile> {
    let file = |path: &str, content: &str| InitFile {
        path: path.to_owned(),
        content: content.to_owned(),
    };
    let local = options.backend == BackendKind::Local;
    let mut out = vec![
        file(
            crate::config::CONFIG_FILE,
            if local { CONFIG_LOCAL } else { CONFIG_POSTHOG },
        ),
        file(EXAMPLE_FLAG, FLAG),
    ];
    let service = match options.backend {
        BackendKind::Mixpanel => Service::Mixpanel,
        BackendKind::Posthog | BackendKind::Local => Service::Posthog,
    };
    out.extend(
        schema::generate(Some(service))
            .into_iter()
            .map(|s| InitFile {
                path: format!("schemas/{}", s.name),
                content: s.content,
            }),
    );
    if local {
        out.push(file(".flagops/.gitignore", STATE_GITIGNORE));
    }
    if options.github {
        if local {
            out.push(file(
                ".github/workflows/flags-pull-request.yml",
                PULL_REQUEST_LOCAL,
            ));
        } else {
            out.push(file(
                ".github/workflows/flags-pull-request.yml",
                PULL_REQUEST_POSTHOG,
            ));
            out.push(file(".github/workflows/flags-apply.yml", APPLY_POSTHOG));
        }
    }
    out
}

/// What to do after `init`, one numbered step a line. `flagops` is the command to show
/// (with `-C DIR` when the repository is not the current directory).
pub fn next_steps(options: Options, flagops: &str) -> Vec<String> {
    let mut steps = Vec::new();
    match options.backend {
        BackendKind::Posthog => {
            steps
                .push("in flagops.yaml, set each environment's `host` and `project_id`".to_owned());
            steps.push(
                "export POSTHOG_API_KEY_STAGING and POSTHOG_API_KEY_PROD (personal API keys)"
                    .to_owned(),
            );
            steps.push(format!(
                "`{flagops} import --env staging` writes the flags you already have"
            ));
            steps.push(format!(
                "`{flagops} validate`, then `{flagops} plan --env staging`"
            ));
        }
        BackendKind::Mixpanel => {
            steps.push(
                "in flagops.yaml, set each environment's `project_id` and `region`".to_owned(),
            );
            steps.push(
                "export MIXPANEL_SA_USERNAME and MIXPANEL_SA_SECRET (a service account)".to_owned(),
            );
            steps.push(format!(
                "`{flagops} import --env staging` writes the flags you already have"
            ));
            steps.push(format!(
                "`{flagops} validate`, then `{flagops} plan --env staging`"
            ));
        }
        BackendKind::Local => {
            steps.push(format!(
                "`{flagops} validate`, then `{flagops} plan --env staging`"
            ));
            steps.push(format!(
                "`{flagops} apply --env staging` makes the local state ({}) match",
                ".flagops/state.json"
            ));
        }
    }
    if options.github {
        steps.push(
            "in .github/workflows/, replace `<owner>/flagops@<sha>` with the flagops action \
             you use (pinned to a commit)"
                .to_owned(),
        );
        let last = match options.backend {
            BackendKind::Posthog => {
                "add POSTHOG_API_KEY_STAGING and POSTHOG_API_KEY_PROD as repository secrets"
            }
            BackendKind::Mixpanel => {
                "add MIXPANEL_SA_USERNAME and MIXPANEL_SA_SECRET as repository secrets"
            }
            // Said, so that the missing apply workflow is not taken for an oversight.
            BackendKind::Local => {
                "no apply workflow: the local state lives on one machine; with `backend: \
                 posthog`, `flagops init --github` writes one"
            }
        };
        steps.push(last.to_owned());
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(options: Options) -> Vec<String> {
        files(options).into_iter().map(|f| f.path).collect()
    }

    #[test]
    fn each_backend_gets_its_files_and_no_apply_workflow_for_local() {
        let posthog = Options {
            backend: BackendKind::Posthog,
            github: true,
        };
        assert_eq!(
            paths(posthog),
            [
                "flagops.yaml",
                "flags/example-flag.yaml",
                "schemas/flagops.schema.json",
                "schemas/posthog-flag.schema.json",
                ".github/workflows/flags-pull-request.yml",
                ".github/workflows/flags-apply.yml",
            ]
        );
        let local = Options {
            backend: BackendKind::Local,
            github: false,
        };
        assert_eq!(
            paths(local),
            [
                "flagops.yaml",
                "flags/example-flag.yaml",
                "schemas/flagops.schema.json",
                "schemas/posthog-flag.schema.json",
                ".flagops/.gitignore",
            ]
        );
    }

    #[test]
    fn every_yaml_modeline_points_at_the_schema_relative_to_its_file() {
        for backend in [BackendKind::Posthog, BackendKind::Local] {
            let all = files(Options {
                backend,
                github: false,
            });
            for file in all.iter().filter(|f| {
                std::path::Path::new(&f.path)
                    .extension()
                    .is_some_and(|x| x == "yaml")
            }) {
                let depth = file.path.matches('/').count();
                let schema = if file.path == "flagops.yaml" {
                    "flagops.schema.json"
                } else {
                    "posthog-flag.schema.json"
                };
                let first = file.content.lines().next().unwrap_or_default();
                assert_eq!(
                    first,
                    format!(
                        "# yaml-language-server: $schema={}schemas/{schema}",
                        "../".repeat(depth)
                    ),
                    "{}",
                    file.path
                );
                assert!(
                    all.iter().any(|f| f.path == format!("schemas/{schema}")),
                    "{}",
                    file.path
                );
            }
        }
    }

    #[test]
    fn the_config_names_its_backend_and_only_its_options() {
        let config = |backend| {
            files(Options {
                backend,
                github: false,
            })
            .remove(0)
            .content
        };
        let posthog = config(BackendKind::Posthog);
        assert!(posthog.contains("\nbackend: posthog "));
        assert!(posthog.contains("api_key_env: POSTHOG_API_KEY_STAGING"));
        assert!(!posthog.contains("\nstate:"));
        let local = config(BackendKind::Local);
        assert!(local.contains("\nbackend: local "));
        assert!(local.contains("\nstate: .flagops/state.json "));
        assert!(!local.contains("    api_key_env:"));
    }
}
