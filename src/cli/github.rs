//! `plan --github-comment` and `plan --github-issue`: the plan's Markdown posted through the
//! GitHub adapter (`crate::github`), and what happened said on stderr.

use std::path::Path;

use super::output::stderr;
use crate::error::{Error, Result};
use crate::github::{GitHub, Settings, Written, digest_line, digest_of, marker};
use crate::model::VendorFlag;
use crate::plan::Plan;
use crate::render::escape::markdown as md;
use crate::render::plan::markdown::GITHUB_COMMENT_LIMIT;

/// Bytes of a comment or issue kept for what surrounds the plan, beyond the names.
const FRAME_ROOM: usize = 512;

/// What a plan run posts to GitHub, and where.
pub(crate) struct Posting {
    client: GitHub,
    settings: Settings,
    env: String,
    dir: String,
    comment: bool,
    issue: bool,
}

/// The plan's result as GitHub shows it.
pub(crate) enum Outcome {
    /// A plan: its Markdown, its digest, and whether it has changes (drift).
    Plan {
        markdown: String,
        digest: String,
        changes: bool,
    },
    /// A refused plan or a repository with errors: the Markdown explaining it.
    Refused { markdown: String },
}

/// `dir` as the marker names it: `/`-separated, relative to `GITHUB_WORKSPACE` when inside
/// it, without `./` or a trailing `/`; `.` for the current directory.
fn dir_label(dir: &Path) -> String {
    let workspace = std::env::var_os("GITHUB_WORKSPACE");
    let dir = match &workspace {
        Some(ws) if dir.is_absolute() => dir.strip_prefix(ws).unwrap_or(dir),
        _ => dir,
    };
    let text = dir.to_string_lossy().replace('\\', "/");
    let label = text
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/");
    if text.starts_with('/') {
        format!("/{label}")
    } else if label.is_empty() {
        ".".to_owned()
    } else {
        label
    }
}

impl Posting {
    /// The posting the options ask for, checked before anything is planned; `None` without
    /// `--github-comment` or `--github-issue`.
    pub(crate) fn from_args(
        comment: bool,
        issue: bool,
        pr: Option<u64>,
        env: &str,
        dir: &Path,
    ) -> Result<Option<Posting>> {
        if !comment && !issue {
            return Ok(None);
        }
        let (settings, token) = Settings::from_env(|name| std::env::var(name).ok(), pr)
            .map_err(|e| Error::usage(e.message))?;
        let client =
            GitHub::new(&settings, token, announce).map_err(|e| Error::failure(e.message))?;
        if comment && settings.pull_request.is_none() {
            stderr(
                "no pull request (the event has no `pull_request` and `--pr` was not given): the plan comment is not posted\n",
            );
        }
        Ok(Some(Posting {
            client,
            settings,
            env: env.to_owned(),
            dir: dir_label(dir),
            comment,
            issue,
        }))
    }

    /// The most bytes of the plan's Markdown in a comment or an issue: GitHub's limit less
    /// the marker, the digest and the issue's first paragraph (which name the environment
    /// and directory).
    pub(crate) fn budget(&self) -> usize {
        let names =
            marker("drift", &self.env, &self.dir).len() + 2 * (self.env.len() + self.dir.len());
        GITHUB_COMMENT_LIMIT
            .saturating_sub(names + FRAME_ROOM)
            .max(1_000)
    }

    /// Post `outcome`: the comment, the drift issue; a failure is exit 1.
    pub(crate) fn post(&self, runtime: &tokio::runtime::Runtime, outcome: &Outcome) -> Result<()> {
        runtime.block_on(async {
            if self.comment
                && let Some(pr) = self.settings.pull_request
            {
                self.post_comment(pr, outcome).await?;
            }
            if self.issue {
                self.sync_issue(outcome).await?;
            }
            Ok(())
        })
    }

    async fn post_comment(&self, pr: u64, outcome: &Outcome) -> Result<()> {
        let marker = marker("plan", &self.env, &self.dir);
        let body = match outcome {
            Outcome::Plan {
                markdown, digest, ..
            } => format!("{marker}\n{}\n{markdown}", digest_line(digest)),
            Outcome::Refused { markdown } => format!("{marker}\n{markdown}"),
        };
        let written = self
            .client
            .upsert_comment(pr, &marker, &body)
            .await
            .map_err(|e| Error::failure(e.message))?;
        stderr(&match written {
            Written::Created(_) => format!("posted the plan comment on pull request #{pr}\n"),
            Written::Updated(_) => format!("updated the plan comment on pull request #{pr}\n"),
            _ => format!("the plan comment on pull request #{pr} is up to date\n"),
        });
        Ok(())
    }

    async fn sync_issue(&self, outcome: &Outcome) -> Result<()> {
        let (markdown, changes) = match outcome {
            Outcome::Plan {
                markdown, changes, ..
            } => (markdown, *changes),
            Outcome::Refused { .. } => {
                stderr("the plan was not made: the drift issue is left as it is\n");
                return Ok(());
            }
        };
        let env = md::code(&self.env);
        let dir = md::code(&self.dir);
        let marker = marker("drift", &self.env, &self.dir);
        let title = format!(
            "flagops: the live flags of {} differ from the definitions",
            crate::render::escape::terminal::text(&self.env)
        );
        let body = changes.then(|| {
            format!(
                "{marker}\nThe live flags of {env} differ from the definitions in {dir}: applying them would make the changes below. `flagops plan --github-issue` updates this issue and closes it when they match again.\n\n{markdown}"
            )
        });
        let closing =
            format!("The live flags of {env} match the definitions in {dir} again: closing.");
        let written = self
            .client
            .sync_issue(&marker, &title, body.as_deref(), &closing)
            .await
            .map_err(|e| Error::failure(e.message))?;
        let env = &self.env;
        stderr(&match written {
            Written::Created(n) => format!("opened drift issue #{n} for `{env}`\n"),
            Written::Updated(n) => format!("updated drift issue #{n} for `{env}`\n"),
            Written::Unchanged(n) => format!("drift issue #{n} for `{env}` is up to date\n"),
            Written::Closed(n) => {
                format!(
                    "closed drift issue #{n}: the live flags of `{env}` match the definitions\n"
                )
            }
            Written::Nothing => format!("no drift in `{env}`, no drift issue open\n"),
        });
        Ok(())
    }
}

/// The plan as a comment shows it: without its creation time, so that the same plan made
/// again is the same comment.
pub(crate) fn timeless<F: VendorFlag>(plan: &Plan<F>) -> Plan<F> {
    let mut plan = plan.clone();
    plan.metadata.created_at.clear();
    plan
}

/// The digest a plan comment carries: the SHA-256 of the plan's JSON document without its
/// creation time (a saved plan and the plan it was made with have the same one).
pub(crate) fn digest<F: VendorFlag>(plan: &Plan<F>) -> String {
    crate::util::sha256(crate::render::plan::json::render(&timeless(plan)).as_bytes())
}

/// For `apply --require-reviewed-plan`: the digest of the plan comment for `env` and `dir`
/// on the pull request (`--pr`, or the event's); an error when there is none.
pub(crate) fn reviewed_digest(
    runtime: &tokio::runtime::Runtime,
    pr: Option<u64>,
    env: &str,
    dir: &Path,
) -> Result<String> {
    let (settings, token) = Settings::from_env(|name| std::env::var(name).ok(), pr)
        .map_err(|e| Error::usage(e.message))?;
    let Some(pr) = settings.pull_request else {
        return Err(Error::usage(
            "`--require-reviewed-plan` needs a pull request: the event has no `pull_request` and `--pr` was not given",
        ));
    };
    let client = GitHub::new(&settings, token, announce).map_err(|e| Error::failure(e.message))?;
    let marker = marker("plan", env, &dir_label(dir));
    let comment = runtime
        .block_on(client.find_comment(pr, &marker))
        .map_err(|e| Error::failure(e.message))?;
    let body = comment
        .as_ref()
        .and_then(|c| c.get("body"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    match digest_of(body) {
        Some(digest) => Ok(digest.to_owned()),
        None if comment.is_none() => Err(Error::failure(format!(
            "pull request #{pr} has no plan comment for `{env}`; nothing was applied"
        ))
        .hint(format!(
            "post one with `flagops plan --env {env} --out FILE --github-comment`"
        ))),
        None => Err(Error::failure(format!(
            "the plan comment for `{env}` on pull request #{pr} shows no plan (it was refused); nothing was applied"
        ))),
    }
}

/// Long waits (rate limits) on stderr.
fn announce(line: &str) {
    stderr(&format!("{line}\n"));
}

#[cfg(test)]
mod tests {
    use super::dir_label;
    use std::path::Path;

    #[test]
    fn directories_are_named_the_same_however_they_are_written() {
        assert_eq!(dir_label(Path::new(".")), ".");
        assert_eq!(dir_label(Path::new("./flags-repo/")), "flags-repo");
        assert_eq!(dir_label(Path::new("a/./b")), "a/b");
    }
}
