//! The GitHub adapter: the plan as one pull-request comment, and one drift issue per
//! environment. The only code that speaks to GitHub (see `http` for the request path).
//!
//! Comments and issues are found by a hidden marker on their first line that names what
//! they are for ([`marker`]): `<!-- flagops:plan env=production dir=flags-repo -->`. Its
//! values are percent-encoded, so no environment or directory name can forge another's.
//! Only items written by the token's identity ([`Settings::author`], `github-actions[bot]`
//! unless told otherwise) are flagops' own: a marker pasted by anyone else is ignored, never
//! updated and never trusted as the reviewed plan.
//!
//! - `http`: the request path (origin, rate limits, pagination, the token kept secret);
//! - `pulls`: the pull request a commit was merged from (`apply --require-reviewed-plan`
//!   after a merge).

mod http;
mod pulls;

pub use pulls::{PullOfCommit, is_commit_id};

use reqwest::{Method, Url};
use serde_json::{Value, json};

/// The label of drift issues.
pub const DRIFT_LABEL: &str = "flagops-drift";

/// The identity of the `GITHUB_TOKEN` of GitHub Actions: the default author of flagops'
/// comments and issues.
pub const ACTIONS_BOT: &str = "github-actions[bot]";

/// The variable naming the author of flagops' comments when the token is not the
/// `GITHUB_TOKEN` (a personal access token, a GitHub App's token).
pub const AUTHOR_VAR: &str = "FLAGOPS_GITHUB_COMMENT_AUTHOR";

/// A GitHub failure, its message never holding the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubError {
    /// One line, lower-case.
    pub message: String,
}

impl GitHubError {
    fn new(message: impl Into<String>) -> Self {
        GitHubError {
            message: message.into(),
        }
    }
}

impl std::fmt::Display for GitHubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

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
    /// [`is_commit_id`]).
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

/// The login of a comment's or issue's author (`user.login`), if any.
fn author_of(item: &Value) -> Option<&str> {
    item.get("user")?.get("login")?.as_str()
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

/// The hidden marker of `kind` (`plan`, `drift`) for an environment and a config directory:
/// values percent-encoded but for `A-Z a-z 0-9 - _ . / ~`, so no name can close the comment
/// or pose as another pair.
pub fn marker(kind: &str, env: &str, dir: &str) -> String {
    format!(
        "<!-- flagops:{kind} env={} dir={} -->",
        encode(env),
        encode(dir)
    )
}

/// Percent-encoding of every byte outside `A-Z a-z 0-9 - _ . / ~`.
fn encode(value: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'/' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    if out.is_empty() {
        "%00".to_owned()
    } else {
        out
    }
}

/// The digest line under a plan comment's marker: `<!-- flagops:digest DIGEST -->`.
pub fn digest_line(digest: &str) -> String {
    format!("<!-- flagops:digest {digest} -->")
}

/// The digest a plan comment's body carries on its second line, if any: `sha256:` and 64
/// lower-case hex digits, nothing else (so it can be shown as it is).
pub fn digest_of(body: &str) -> Option<&str> {
    body.lines()
        .nth(1)?
        .trim_end()
        .strip_prefix("<!-- flagops:digest ")?
        .strip_suffix(" -->")
        .filter(|d| {
            d.strip_prefix("sha256:").is_some_and(|hex| {
                hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
        })
}

/// Whether `body` is the one marked `marker` (on its first line).
fn is_marked(body: &str, marker: &str) -> bool {
    body.lines()
        .next()
        .is_some_and(|first| first.trim_end() == marker)
}

/// The comments (or issues) carrying a marker: the first one written by the trusted author,
/// and the logins of the others who wrote one (sorted, once each), which are ignored (as is
/// a marked item without an author).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Marked {
    /// flagops' own: the first marked item by [`Settings::author`].
    pub own: Option<Value>,
    /// Who else wrote a marked item (never trusted).
    pub others: Vec<String>,
}

impl Marked {
    /// Sort `items` carrying `marker` by whether `author` (case-insensitive, as GitHub
    /// compares logins) wrote them.
    fn of(items: Vec<Value>, marker: &str, author: &str) -> Marked {
        let mut found = Marked::default();
        for item in items {
            if !item
                .get("body")
                .and_then(Value::as_str)
                .is_some_and(|b| is_marked(b, marker))
            {
                continue;
            }
            let login = author_of(&item).unwrap_or("");
            if login.eq_ignore_ascii_case(author) {
                if found.own.is_none() {
                    found.own = Some(item);
                }
            } else if !login.is_empty() {
                found.others.push(login.to_owned());
            }
        }
        found.others.sort();
        found.others.dedup();
        found
    }
}

/// What happened to a comment or issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Created, with this id (comment) or number (issue).
    Created(u64),
    /// Its body was replaced.
    Updated(u64),
    /// Its body was already this; nothing was written.
    Unchanged(u64),
    /// The issue was closed.
    Closed(u64),
    /// Nothing to do: no drift, and no open issue.
    Nothing,
}

/// A client of one repository's API.
pub struct GitHub {
    client: reqwest::Client,
    api: Url,
    repository: String,
    author: String,
    token: String,
    notice: fn(&str),
}

impl GitHub {
    /// A client of `settings.repository` with `token`; `notice` is told of long waits.
    pub fn new(settings: &Settings, token: String, notice: fn(&str)) -> Result<Self, GitHubError> {
        Ok(GitHub {
            client: Self::build_client(&token)?,
            api: settings.api.clone(),
            repository: settings.repository.clone(),
            author: settings.author.clone(),
            token,
            notice,
        })
    }

    /// Create or update flagops' own comment marked `marker` on pull request `pr` so that
    /// its body is `body` (which starts with `marker`). Every page of comments is read to find
    /// it; marked comments by others are left alone (their authors are returned).
    pub async fn upsert_comment(
        &self,
        pr: u64,
        marker: &str,
        body: &str,
    ) -> Result<(Written, Vec<String>), GitHubError> {
        let repo = &self.repository;
        let Marked { own, others } = self.find_comment(pr, marker).await?;
        if let Some(comment) = own {
            let id = id_of(&comment, "id")?;
            if comment.get("body").and_then(Value::as_str) == Some(body) {
                return Ok((Written::Unchanged(id), others));
            }
            let url = self.url(&format!("/repos/{repo}/issues/comments/{id}"))?;
            self.send(
                Method::PATCH,
                url,
                Some(&json!({ "body": body })),
                &format!("update the plan comment on pull request #{pr}"),
            )
            .await?;
            return Ok((Written::Updated(id), others));
        }
        let url = self.url(&format!("/repos/{repo}/issues/{pr}/comments"))?;
        let answer = self
            .send(
                Method::POST,
                url,
                Some(&json!({ "body": body })),
                &format!("comment on pull request #{pr}"),
            )
            .await?;
        Ok((Written::Created(id_of(&answer.body, "id")?), others))
    }

    /// The comments marked `marker` on pull request `pr` (flagops' own, and who else wrote
    /// one), reading every page of comments.
    pub async fn find_comment(&self, pr: u64, marker: &str) -> Result<Marked, GitHubError> {
        let repo = &self.repository;
        let list = self.url(&format!("/repos/{repo}/issues/{pr}/comments?per_page=100"))?;
        let comments = self
            .list(list, &format!("read the comments of pull request #{pr}"))
            .await?;
        Ok(Marked::of(comments, marker, &self.author))
    }

    /// Keep the open drift issue marked `marker` in step: `Some(body)` (there is drift)
    /// opens it or updates its body; `None` closes it with `closing` as a comment.
    pub async fn sync_issue(
        &self,
        marker: &str,
        title: &str,
        body: Option<&str>,
        closing: &str,
    ) -> Result<Written, GitHubError> {
        let repo = &self.repository;
        let list = self.url(&format!(
            "/repos/{repo}/issues?state=open&labels={DRIFT_LABEL}&per_page=100"
        ))?;
        let issues = self.list(list, "read the open drift issues").await?;
        let issues = issues
            .into_iter()
            .filter(|i| i.get("pull_request").is_none())
            .collect();
        let own = Marked::of(issues, marker, &self.author).own;
        match (own.as_ref(), body) {
            (None, None) => Ok(Written::Nothing),
            (None, Some(body)) => {
                let url = self.url(&format!("/repos/{repo}/issues"))?;
                let answer = self
                    .send(
                        Method::POST,
                        url,
                        Some(&json!({ "title": title, "body": body, "labels": [DRIFT_LABEL] })),
                        "open the drift issue",
                    )
                    .await?;
                Ok(Written::Created(id_of(&answer.body, "number")?))
            }
            (Some(issue), Some(body)) => {
                let number = id_of(issue, "number")?;
                if issue.get("body").and_then(Value::as_str) == Some(body) {
                    return Ok(Written::Unchanged(number));
                }
                let url = self.url(&format!("/repos/{repo}/issues/{number}"))?;
                self.send(
                    Method::PATCH,
                    url,
                    Some(&json!({ "body": body })),
                    &format!("update drift issue #{number}"),
                )
                .await?;
                Ok(Written::Updated(number))
            }
            (Some(issue), None) => {
                let number = id_of(issue, "number")?;
                let url = self.url(&format!("/repos/{repo}/issues/{number}/comments"))?;
                self.send(
                    Method::POST,
                    url,
                    Some(&json!({ "body": closing })),
                    &format!("comment on drift issue #{number}"),
                )
                .await?;
                let url = self.url(&format!("/repos/{repo}/issues/{number}"))?;
                self.send(
                    Method::PATCH,
                    url,
                    Some(&json!({ "state": "closed", "state_reason": "completed" })),
                    &format!("close drift issue #{number}"),
                )
                .await?;
                Ok(Written::Closed(number))
            }
        }
    }
}

/// The numeric `field` of a comment or issue.
fn id_of(item: &Value, field: &str) -> Result<u64, GitHubError> {
    item.get(field).and_then(Value::as_u64).ok_or_else(|| {
        GitHubError::new(format!(
            "GitHub's answer has no numeric `{field}`: check `GITHUB_API_URL`"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_cannot_be_forged_by_names() {
        assert_eq!(
            marker("plan", "production", "flags-repo"),
            "<!-- flagops:plan env=production dir=flags-repo -->"
        );
        // A name holding ` dir=…` or `-->` is encoded, never read as another pair.
        assert_eq!(
            marker("plan", "a dir=b -->", "."),
            "<!-- flagops:plan env=a%20dir%3Db%20--%3E dir=. -->"
        );
        assert_ne!(
            marker("plan", "a dir=b", "c"),
            marker("plan", "a", "b dir=c")
        );
        assert_eq!(
            marker("plan", "", ""),
            "<!-- flagops:plan env=%00 dir=%00 -->"
        );
    }

    #[test]
    fn the_digest_is_read_from_the_second_line_only() {
        let digest = crate::util::sha256(b"plan");
        let body = format!("<!-- m -->\n{}\nplan", digest_line(&digest));
        assert_eq!(digest_of(&body), Some(digest.as_str()));
        let third = format!("<!-- m -->\nplan\n{}", digest_line(&digest));
        assert_eq!(digest_of(&third), None);
        // Anything but a SHA-256 digest (a terminal escape, say) is not a digest.
        let forged = format!("<!-- m -->\n{}", digest_line(&format!("{digest}\u{1b}[2J")));
        assert_eq!(digest_of(&forged), None);
        assert_eq!(digest_of("<!-- m -->\n<!-- flagops:digest  -->"), None);
    }

    #[test]
    fn only_a_first_line_marker_counts() {
        let m = marker("plan", "production", ".");
        assert!(is_marked(&format!("{m}\nbody"), &m));
        assert!(!is_marked(&format!("quoted:\n{m}\nbody"), &m));
        assert!(!is_marked(&format!("{m} extra\n"), &m));
    }

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

    #[test]
    fn only_the_trusted_authors_marked_items_are_its_own() {
        let m = marker("plan", "production", ".");
        let item = |id: u64, login: &str, body: &str| json!({"id": id, "body": body, "user": {"login": login}});
        let items = vec![
            item(1, "mallory", &format!("{m}\nforged")),
            item(2, "GitHub-Actions[bot]", "LGTM"),
            item(3, "github-actions[bot]", &format!("{m}\nreal")),
            item(4, "mallory", &format!("{m}\nagain")),
            json!({"id": 5, "body": format!("{m}\nno user")}),
            item(6, "GitHub-Actions[bot]", &format!("{m}\nlater")),
        ];
        let marked = Marked::of(items, &m, ACTIONS_BOT);
        assert_eq!(marked.own.unwrap()["id"], 3);
        assert_eq!(marked.others, ["mallory"]);
        let none = Marked::of(
            vec![item(1, "mallory", &format!("{m}\nforged"))],
            &m,
            ACTIONS_BOT,
        );
        assert_eq!(none.own, None);
        assert_eq!(none.others, ["mallory"]);
    }
}
