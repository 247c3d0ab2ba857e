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
//! - `settings`: what GitHub Actions provides (`GITHUB_*`, the trusted author);
//! - `http`: the request path (origin, rate limits, pagination, the token kept secret);
//! - `pulls`: the pull request a commit was merged from (`apply --require-reviewed-plan`
//!   after a merge).

mod http;
mod pulls;
mod settings;

pub use pulls::{PullOfCommit, is_commit_id};
pub use settings::{ACTIONS_BOT, AUTHOR_VAR, Settings};

use reqwest::{Method, Url};
use serde_json::{Value, json};

/// The label of drift issues.
pub const DRIFT_LABEL: &str = "flagops-drift";

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

/// The login of a comment's or issue's author (`user.login`), if any.
fn author_of(item: &Value) -> Option<&str> {
    item.get("user")?.get("login")?.as_str()
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
