//! What GitHub Actions provides, read from the environment ([`Settings`]): the API, the
//! repository, the pull request (`--pr` or the event payload), the commit (`GITHUB_SHA`), the
//! token, and the login whose marked comments and issues are flagops' own.

use reqwest::Url;
use serde_json::Value;

use super::GitHubError;

/// The identity of the `GITHUB_TOKEN` of GitHub Actions: the default author of flagops'
/// comments and issues.
pub const ACTIONS_BOT: &str = "github-actions[bot]";

/// The variable naming the author of flagops' comments when the token is not the
/// `GITHUB_TOKEN` (a personal access token, a GitHub App's token).
pub const AUTHOR_VAR: &str = "FLAGOPS_GITHUB_COMMENT_AUTHOR";

/// What GitHub Actions provides, read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `GITHUB_API_URL` (default `https://api.github.com`).
    pub api: Url,
    /// `GITHUB_REPOSITORY`: `owner/name`.
    pub repository: String,
    /// The pull request (`--pr`, or `pull_request.number` of `GITHUB_EVENT_PATH`).
    pub pull_request: Option<u64>,
    /// `GITHUB_SHA`: the commit the workflow runs on, as set (checked where it is used, with
    /// [`is_commit_id`](super::is_commit_id)).
    pub commit: Option<String>,
    /// The login whose marked comments and issues are flagops' own: `--github-comment-author`,
    /// else `FLAGOPS_GITHUB_COMMENT_AUTHOR`, else [`ACTIONS_BOT`].
    pub author: String,
}

impl Settings {
    /// Read the settings from `var` (the process environment in production); `pr` overrides
    /// the event's pull request, `author` the variable [`AUTHOR_VAR`]. Returns the settings
    /// and the token.
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
        pr: Option<u64>,
        author: Option<&str>,
    ) -> Result<(Settings, String), GitHubError> {
        let author = match author {
            Some(login) => login.to_owned(),
            None => var(AUTHOR_VAR)
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| ACTIONS_BOT.to_owned()),
        };
        if !is_login(&author) {
            return Err(GitHubError::new(format!(
                "the comment author `{}` (`--github-comment-author` or `{AUTHOR_VAR}`) is not a GitHub login: letters, digits and `-`, at most 39, optionally followed by `[bot]`",
                crate::render::escape::terminal::detail(&author)
            )));
        }
        let token = var("GITHUB_TOKEN")
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| GitHubError::new("`GITHUB_TOKEN` is not set; GitHub Actions provides it as `secrets.GITHUB_TOKEN` (pass it in `env`)"))?;
        let api_text = var("GITHUB_API_URL")
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "https://api.github.com".to_owned());
        let api = Url::parse(api_text.trim())
            .ok()
            .filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && u.username().is_empty()
                    && u.password().is_none()
                    && u.query().is_none()
                    && u.fragment().is_none()
            })
            .ok_or_else(|| {
                GitHubError::new(
                    "`GITHUB_API_URL` is not an http(s) URL without credentials, query or fragment",
                )
            })?;
        let repository = var("GITHUB_REPOSITORY").unwrap_or_default();
        let valid = repository.split_once('/').is_some_and(|(owner, name)| {
            [owner, name].iter().all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            })
        });
        if !valid {
            return Err(GitHubError::new(
                "`GITHUB_REPOSITORY` is not set to `owner/name`; GitHub Actions sets it",
            ));
        }
        let pull_request = match pr {
            Some(n) => Some(n),
            None => match var("GITHUB_EVENT_PATH").filter(|p| !p.is_empty()) {
                None => None,
                Some(path) => event_pull_request(&path)?,
            },
        };
        let commit = var("GITHUB_SHA").filter(|c| !c.is_empty());
        Ok((
            Settings {
                api,
                repository,
                pull_request,
                commit,
                author,
            },
            token,
        ))
    }
}

/// Whether `login` is a GitHub login (`octocat`) or a GitHub App's bot (`my-app[bot]`): 1 to
/// 39 ASCII letters, digits and `-`, not starting with `-`.
fn is_login(login: &str) -> bool {
    let name = login.strip_suffix("[bot]").unwrap_or(login);
    (1..=39).contains(&name.len())
        && !name.starts_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `pull_request.number` of the event payload at `path`; `None` for another event.
fn event_pull_request(path: &str) -> Result<Option<u64>, GitHubError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        GitHubError::new(format!(
            "cannot read the event payload `GITHUB_EVENT_PATH`: {e}"
        ))
    })?;
    let event: Value = serde_json::from_str(&text).map_err(|e| {
        GitHubError::new(format!(
            "the event payload `GITHUB_EVENT_PATH` is not JSON: {e}"
        ))
    })?;
    Ok(event
        .get("pull_request")
        .and_then(|pr| pr.get("number"))
        .and_then(Value::as_u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_actions_environment() {
        let dir = tempfile::tempdir().unwrap();
        let event = dir.path().join("event.json");
        std::fs::write(&event, r#"{"pull_request": {"number": 42}}"#).unwrap();
        let event = event.to_str().unwrap().to_owned();
        let env = |name: &str| match name {
            "GITHUB_TOKEN" => Some("t0ken".to_owned()),
            "GITHUB_REPOSITORY" => Some("acme/flags".to_owned()),
            "GITHUB_API_URL" => Some("https://ghe.example/api/v3".to_owned()),
            "GITHUB_EVENT_PATH" => Some(event.clone()),
            _ => None,
        };
        let (settings, token) = Settings::from_env(env, None, None).unwrap();
        assert_eq!(token, "t0ken");
        assert_eq!(settings.pull_request, Some(42));
        assert_eq!(settings.api.as_str(), "https://ghe.example/api/v3");
        assert_eq!(
            Settings::from_env(env, Some(7), None)
                .unwrap()
                .0
                .pull_request,
            Some(7)
        );
        let bad = |name: &str| match name {
            "GITHUB_REPOSITORY" => Some("no-slash".to_owned()),
            other => env(other),
        };
        assert!(
            Settings::from_env(bad, None, None)
                .unwrap_err()
                .message
                .contains("`GITHUB_REPOSITORY`")
        );
        let creds = |name: &str| match name {
            "GITHUB_API_URL" => Some("https://u:p@ghe.example/".to_owned()),
            other => env(other),
        };
        assert!(Settings::from_env(creds, None, None).is_err());
    }

    #[test]
    fn the_trusted_author_is_the_option_then_the_variable_then_the_actions_bot() {
        let env = |name: &str| match name {
            "GITHUB_TOKEN" => Some("t0ken".to_owned()),
            "GITHUB_REPOSITORY" => Some("acme/flags".to_owned()),
            "GITHUB_SHA" => Some("0123abc".to_owned()),
            _ => None,
        };
        let (settings, _) = Settings::from_env(env, None, None).unwrap();
        assert_eq!(settings.author, ACTIONS_BOT);
        assert_eq!(settings.commit.as_deref(), Some("0123abc"));
        let var = |name: &str| match name {
            AUTHOR_VAR => Some("release-app[bot]".to_owned()),
            other => env(other),
        };
        assert_eq!(
            Settings::from_env(var, None, None).unwrap().0.author,
            "release-app[bot]"
        );
        assert_eq!(
            Settings::from_env(var, None, Some("octo-cat"))
                .unwrap()
                .0
                .author,
            "octo-cat"
        );
        for bad in [
            "",
            "-x",
            "a b",
            "x[bot][bot]",
            &"a".repeat(40),
            "ev\u{1b}[2Jil",
        ] {
            let error = Settings::from_env(env, None, Some(bad))
                .unwrap_err()
                .message;
            assert!(error.contains("is not a GitHub login"), "{bad:?}: {error}");
            assert!(!error.contains('\u{1b}'), "{error}");
        }
    }
}
