//! `plan --github-comment` and `plan --github-issue`: the plan's Markdown posted through the
//! GitHub adapter (`crate::github`), and what happened said on stderr; `apply
//! --require-reviewed-plan`: the plan applied only when it is the one the pull request's
//! comment shows.

use std::path::Path;

use super::output::stderr;
use crate::error::{Error, Result};
use crate::github::{
    GitHub, Marked, PullOfCommit, Settings, Written, digest_line, digest_of, is_commit_id, marker,
};
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
        author: Option<&str>,
        env: &str,
        dir: &Path,
    ) -> Result<Option<Posting>> {
        if !comment && !issue {
            if author.is_some() {
                return Err(Error::usage(
                    "`--github-comment-author` needs `--github-comment` or `--github-issue`",
                ));
            }
            return Ok(None);
        }
        let (settings, token) = Settings::from_env(|name| std::env::var(name).ok(), pr, author)
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
        let (written, others) = self
            .client
            .upsert_comment(pr, &marker, &body)
            .await
            .map_err(|e| Error::failure(e.message))?;
        if let Some(names) = logins(&others) {
            stderr(&format!(
                "ignored the plan marker in a comment by {names}: only comments by `{}` are flagops' own (set `--github-comment-author` when the token is another account's)\n",
                self.settings.author
            ));
        }
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
/// creation time and its commit. A saved plan and the plan it was made with have the same
/// one, and so do the plan made on the pull request and the plan made after the merge (a new
/// commit) when the steps, the unchanged, unmanaged and unsupported flags, the environment,
/// the config file and the flagops version are the same.
pub(crate) fn digest<F: VendorFlag>(plan: &Plan<F>) -> String {
    let mut plan = timeless(plan);
    plan.metadata.git = None;
    crate::util::sha256(crate::render::plan::json::render(&plan).as_bytes())
}

/// What `apply --require-reviewed-plan` is told: the pull request (`--pr`), the trusted
/// comment author (`--github-comment-author`), and the plan file, if a saved plan is applied.
pub(crate) struct Review<'a> {
    pub(crate) pr: Option<u64>,
    pub(crate) author: Option<&'a str>,
    pub(crate) plan_file: Option<&'a Path>,
}

/// For `apply --require-reviewed-plan`: refuse `plan` (about to be applied to `env`) unless
/// its digest is the one flagops' plan comment for `env` and `dir` shows on the pull request:
/// `--pr`, the event's, or (a push after the merge) the one `GITHUB_SHA` was merged from.
pub(crate) fn require_reviewed<F: VendorFlag>(
    runtime: &tokio::runtime::Runtime,
    review: &Review<'_>,
    env: &str,
    dir: &Path,
    plan: &Plan<F>,
) -> Result<()> {
    let (settings, token) =
        Settings::from_env(|name| std::env::var(name).ok(), review.pr, review.author)
            .map_err(|e| Error::usage(e.message))?;
    let client = GitHub::new(&settings, token, announce).map_err(|e| Error::failure(e.message))?;
    let pr = match settings.pull_request {
        Some(pr) => pr,
        None => runtime.block_on(merged_pull_request(&client, &settings, env))?,
    };
    let marker = marker("plan", env, &dir_label(dir));
    let Marked { own, others } = runtime
        .block_on(client.find_comment(pr, &marker))
        .map_err(|e| Error::failure(e.message))?;
    let body = own
        .as_ref()
        .and_then(|c| c.get("body"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let reviewed = match digest_of(body) {
        Some(digest) => digest,
        None if own.is_none() => {
            let author = &settings.author;
            let note = logins(&others)
                .map(|n| format!(" (the marker in a comment by {n} is not trusted)"))
                .unwrap_or_default();
            return Err(Error::failure(format!(
                "pull request #{pr} has no plan comment for `{env}` by `{author}`{note}; nothing was applied"
            ))
            .hint(format!(
                "post the plan with `flagops plan --env {env} --github-comment --pr {pr}`, review it, then apply"
            )));
        }
        None => {
            return Err(Error::failure(format!(
                "the plan comment for `{env}` on pull request #{pr} shows no plan (it was refused); nothing was applied"
            ))
            .hint(format!(
                "fix what it shows, post the plan again with `flagops plan --env {env} --github-comment --pr {pr}`, review it, then apply"
            )));
        }
    };
    let digest = digest(plan);
    if digest == reviewed {
        return Ok(());
    }
    Err(match review.plan_file {
        Some(file) => Error::failure(format!(
            "`{}` is not the plan shown on pull request #{pr} (its digest is {digest}, the comment shows {reviewed}); nothing was applied",
            file.display()
        ))
        .hint("make the plan again with `--github-comment --out`, review it, then apply it"),
        None => Error::failure(format!(
            "the plan for `{env}` is not the one shown on pull request #{pr} (its digest is {digest}, the comment shows {reviewed}): the definitions or the live flags changed since the review; nothing was applied"
        ))
        .hint(format!(
            "post the current plan with `flagops plan --env {env} --github-comment --pr {pr}`, review it, then apply again"
        )),
    })
}

/// The pull request the workflow's commit (`GITHUB_SHA`) came from, when the event names none
/// (a push after the merge).
async fn merged_pull_request(client: &GitHub, settings: &Settings, env: &str) -> Result<u64> {
    let Some(sha) = &settings.commit else {
        return Err(Error::usage(
            "`--require-reviewed-plan` needs a pull request: the event has no `pull_request`, `--pr` was not given and `GITHUB_SHA` is not set",
        ));
    };
    if !is_commit_id(sha) {
        return Err(Error::usage(format!(
            "`GITHUB_SHA` is not a full commit id (40 or 64 lower-case hexadecimal digits): `{}`",
            crate::render::escape::terminal::detail(sha)
        )));
    }
    match client
        .pull_request_of(sha)
        .await
        .map_err(|e| Error::failure(e.message))?
    {
        PullOfCommit::Found(pr) => Ok(pr),
        PullOfCommit::None => Err(Error::failure(format!(
            "commit {sha} is in no pull request, so no plan for `{env}` was reviewed; nothing was applied"
        ))
        .hint("merge changes through a pull request whose plan comment shows the plan, or name the pull request with `--pr N`")),
        PullOfCommit::Ambiguous(prs) => Err(Error::failure(format!(
            "commit {sha} is in pull requests {} and none of them was merged as it; nothing was applied",
            prs.iter().map(|n| format!("#{n}")).collect::<Vec<_>>().join(", ")
        ))
        .hint("name the reviewed pull request with `--pr N`")),
    }
}

/// `logins` as a list of code spans (server text, escaped); `None` when empty.
fn logins(logins: &[String]) -> Option<String> {
    (!logins.is_empty()).then(|| {
        logins
            .iter()
            .map(|o| format!("`{}`", crate::render::escape::terminal::detail(o)))
            .collect::<Vec<_>>()
            .join(", ")
    })
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
