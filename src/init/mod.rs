//! `init`: the files of a new flag repository, ready to validate.
//!
//! Pure: [`files`] returns every file `flagops init` writes (path relative to the repository
//! and content) for a backend (and, for `local`, the service it emulates), and [`next_steps`]
//! what to do after. The templates are the files under `src/init/templates/`, compiled in;
//! the schemas are the same ones `flagops schema` writes for that service
//! (`crate::schema::generate`), so `schema --check` passes in a new repository.
//! Every YAML file's modeline points at `schemas/` relative to that file. `cli::init` refuses
//! to overwrite anything and writes them.

use crate::config::{BackendKind, Service};
use crate::schema;

/// What to initialise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The backend the config names.
    pub backend: BackendKind,
    /// With `backend: local`: the service the local state follows (`emulate`); `None` is
    /// PostHog, the config's default. Ignored by the other backends.
    pub emulate: Option<Service>,
    /// Also write GitHub Actions workflows under `.github/workflows/`.
    pub github: bool,
}

impl Options {
    /// The service whose flag files the repository holds (as `Config::service` reads the
    /// config this writes).
    pub fn service(self) -> Service {
        self.backend.service(self.emulate)
    }
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
const CONFIG_MIXPANEL: &str = include_str!("templates/flagops.mixpanel.yaml");
const CONFIG_LOCAL: &str = include_str!("templates/flagops.local.yaml");
const CONFIG_LOCAL_MIXPANEL: &str = include_str!("templates/flagops.local-mixpanel.yaml");
const FLAG_POSTHOG: &str = include_str!("templates/example-flag.yaml");
const FLAG_MIXPANEL: &str = include_str!("templates/example-flag.mixpanel.yaml");
const STATE_GITIGNORE: &str = include_str!("templates/state.gitignore");
const PULL_REQUEST_POSTHOG: &str = include_str!("templates/pull-request.posthog.yml");
const PULL_REQUEST_MIXPANEL: &str = include_str!("templates/pull-request.mixpanel.yml");
const PULL_REQUEST_LOCAL: &str = include_str!("templates/pull-request.local.yml");
const APPLY_POSTHOG: &str = include_str!("templates/apply.posthog.yml");
const APPLY_MIXPANEL: &str = include_str!("templates/apply.mixpanel.yml");

/// Every file of a new repository, in the order they are written and listed: the config, the
/// example flag (of the service the repository holds), the schemas (the config's and that
/// service's flag schema), then (local backend) the state directory's `.gitignore`, then
/// (with `github`) the workflows. With `backend: local` there is no apply workflow: the
/// state file lives on one machine, so an apply in CI would change nothing that lasts.
pub fn files(options: Options) -> Vec<InitFile> {
    let file = |path: &str, content: &str| InitFile {
        path: path.to_owned(),
        content: content.to_owned(),
    };
    let service = options.service();
    let config = match (options.backend, service) {
        (BackendKind::Posthog, _) => CONFIG_POSTHOG,
        (BackendKind::Mixpanel, _) => CONFIG_MIXPANEL,
        (BackendKind::Local, Service::Posthog) => CONFIG_LOCAL,
        (BackendKind::Local, Service::Mixpanel) => CONFIG_LOCAL_MIXPANEL,
    };
    let flag = match service {
        Service::Posthog => FLAG_POSTHOG,
        Service::Mixpanel => FLAG_MIXPANEL,
    };
    let mut out = vec![
        file(crate::config::CONFIG_FILE, config),
        file(EXAMPLE_FLAG, flag),
    ];
    out.extend(
        schema::generate(Some(service))
            .into_iter()
            .map(|s| InitFile {
                path: format!("schemas/{}", s.name),
                content: s.content,
            }),
    );
    if options.backend == BackendKind::Local {
        out.push(file(".flagops/.gitignore", STATE_GITIGNORE));
    }
    if options.github {
        const PULL_REQUEST: &str = ".github/workflows/flags-pull-request.yml";
        const APPLY: &str = ".github/workflows/flags-apply.yml";
        match options.backend {
            BackendKind::Posthog => {
                out.push(file(PULL_REQUEST, PULL_REQUEST_POSTHOG));
                out.push(file(APPLY, APPLY_POSTHOG));
            }
            BackendKind::Mixpanel => {
                out.push(file(PULL_REQUEST, PULL_REQUEST_MIXPANEL));
                out.push(file(APPLY, APPLY_MIXPANEL));
            }
            BackendKind::Local => out.push(file(PULL_REQUEST, PULL_REQUEST_LOCAL)),
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
                    .to_owned()
            }
            BackendKind::Mixpanel => {
                "add MIXPANEL_SA_USERNAME and MIXPANEL_SA_SECRET as repository secrets".to_owned()
            }
            // Said, so that the missing apply workflow is not taken for an oversight.
            BackendKind::Local => {
                let (backend, init) = match options.service() {
                    Service::Posthog => ("posthog", "flagops init --github"),
                    Service::Mixpanel => ("mixpanel", "flagops init --backend mixpanel --github"),
                };
                format!(
                    "no apply workflow: the local state lives on one machine; with `backend: \
                     {backend}`, `{init}` writes one"
                )
            }
        };
        steps.push(last);
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
            emulate: None,
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
            emulate: None,
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
        let mixpanel = Options {
            backend: BackendKind::Mixpanel,
            emulate: None,
            github: true,
        };
        assert_eq!(
            paths(mixpanel),
            [
                "flagops.yaml",
                "flags/example-flag.yaml",
                "schemas/flagops.schema.json",
                "schemas/mixpanel-flag.schema.json",
                ".github/workflows/flags-pull-request.yml",
                ".github/workflows/flags-apply.yml",
            ]
        );
        let local_mixpanel = Options {
            backend: BackendKind::Local,
            emulate: Some(Service::Mixpanel),
            github: true,
        };
        assert_eq!(
            paths(local_mixpanel),
            [
                "flagops.yaml",
                "flags/example-flag.yaml",
                "schemas/flagops.schema.json",
                "schemas/mixpanel-flag.schema.json",
                ".flagops/.gitignore",
                ".github/workflows/flags-pull-request.yml",
            ]
        );
    }

    /// Every combination `init` accepts.
    fn every_options() -> Vec<Options> {
        let mut out = Vec::new();
        for (backend, emulate) in [
            (BackendKind::Posthog, None),
            (BackendKind::Mixpanel, None),
            (BackendKind::Local, None),
            (BackendKind::Local, Some(Service::Mixpanel)),
        ] {
            for github in [false, true] {
                out.push(Options {
                    backend,
                    emulate,
                    github,
                });
            }
        }
        out
    }

    #[test]
    fn every_yaml_modeline_points_at_the_schema_relative_to_its_file() {
        for options in every_options() {
            let all = files(options);
            for file in all.iter().filter(|f| {
                std::path::Path::new(&f.path)
                    .extension()
                    .is_some_and(|x| x == "yaml")
            }) {
                let depth = file.path.matches('/').count();
                let schema = if file.path == "flagops.yaml" {
                    "flagops.schema.json".to_owned()
                } else {
                    format!("{}-flag.schema.json", options.service().as_str())
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
        let config = |backend, emulate| {
            files(Options {
                backend,
                emulate,
                github: false,
            })
            .remove(0)
            .content
        };
        let posthog = config(BackendKind::Posthog, None);
        assert!(posthog.contains("\nbackend: posthog "));
        assert!(posthog.contains("api_key_env: POSTHOG_API_KEY_STAGING"));
        assert!(!posthog.contains("\nstate:"));
        let local = config(BackendKind::Local, None);
        assert!(local.contains("\nbackend: local "));
        assert!(local.contains("\nstate: .flagops/state.json "));
        assert!(!local.contains("    api_key_env:"));
        assert!(!local.contains("\nemulate:"));
        let mixpanel = config(BackendKind::Mixpanel, None);
        assert!(mixpanel.contains("\nbackend: mixpanel "));
        assert!(mixpanel.contains("    username_env: MIXPANEL_SA_USERNAME "));
        assert!(mixpanel.contains("    secret_env: MIXPANEL_SA_SECRET "));
        assert!(!mixpanel.contains("api_key_env") && !mixpanel.contains("\nstate:"));
        let emulated = config(BackendKind::Local, Some(Service::Mixpanel));
        assert!(emulated.contains("\nbackend: local "));
        assert!(emulated.contains("\nemulate: mixpanel "));
        assert!(!emulated.contains("    username_env:"));
        // `emulate: posthog` is the default: the same files as no `emulate`.
        assert_eq!(
            files(Options {
                backend: BackendKind::Local,
                emulate: Some(Service::Posthog),
                github: true,
            }),
            files(Options {
                backend: BackendKind::Local,
                emulate: None,
                github: true,
            })
        );
    }

    #[test]
    fn each_service_gets_its_example_flag_and_workflows_its_secrets() {
        for options in every_options() {
            let all = files(options);
            let flag = &all[1];
            assert_eq!(flag.path, EXAMPLE_FLAG);
            let text = &flag.content;
            match options.service() {
                Service::Posthog => assert!(text.contains("\nconditions:"), "{text}"),
                Service::Mixpanel => assert!(text.contains("\nrollout:"), "{text}"),
            }
            for workflow in all.iter().filter(|f| f.path.starts_with(".github/")) {
                let text = &workflow.content;
                let (ours, theirs) = match options.backend {
                    BackendKind::Posthog => (&["POSTHOG_API_KEY_STAGING"][..], "MIXPANEL_SA"),
                    BackendKind::Mixpanel => (
                        &["MIXPANEL_SA_USERNAME", "MIXPANEL_SA_SECRET"][..],
                        "POSTHOG_API_KEY",
                    ),
                    BackendKind::Local => (&[][..], "secrets."),
                };
                for var in ours {
                    assert!(
                        text.contains(&format!("{var}: \"${{{{ secrets.{var} }}}}\"")),
                        "{}: {var}",
                        workflow.path
                    );
                }
                assert!(!text.contains(theirs), "{}", workflow.path);
            }
        }
    }
}
