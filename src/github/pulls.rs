//! The pull request a commit came from, for `apply --require-reviewed-plan` on a push after a
//! merge (the event has no pull request): GitHub's commit → pulls endpoint
//! (`GET /repos/{owner}/{repo}/commits/{sha}/pulls`), every page read. The merged pull request
//! whose `merge_commit_sha` is the commit is chosen (a merge commit, a squash, the last commit
//! of a rebase); else the only pull request listed; else none ([`PullOfCommit`]).

use serde_json::Value;

use super::{GitHub, GitHubError};

/// Which pull request a commit came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullOfCommit {
    /// This one.
    Found(u64),
    /// The commit is in no pull request.
    None,
    /// Several pull requests hold the commit and none was merged as it: their numbers, sorted.
    Ambiguous(Vec<u64>),
}

/// Whether `sha` is a full commit id: 40 (SHA-1) or 64 (SHA-256) lower-case hex digits.
pub fn is_commit_id(sha: &str) -> bool {
    matches!(sha.len(), 40 | 64)
        && sha
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The pull request of `sha` among the `pulls` GitHub lists for it.
fn choose(pulls: &[Value], sha: &str) -> PullOfCommit {
    let number = |p: &Value| p.get("number").and_then(Value::as_u64);
    let merged_as_sha = |p: &&Value| {
        p.get("merged_at").is_some_and(|m| !m.is_null())
            && p.get("merge_commit_sha").and_then(Value::as_str) == Some(sha)
    };
    let mut merged: Vec<u64> = pulls
        .iter()
        .filter(merged_as_sha)
        .filter_map(number)
        .collect();
    let mut all: Vec<u64> = pulls.iter().filter_map(number).collect();
    merged.sort_unstable();
    merged.dedup();
    all.sort_unstable();
    all.dedup();
    match (merged.as_slice(), all.as_slice()) {
        ([one], _) | ([], [one]) => PullOfCommit::Found(*one),
        ([], []) => PullOfCommit::None,
        ([], _) => PullOfCommit::Ambiguous(all),
        (_, _) => PullOfCommit::Ambiguous(merged),
    }
}

impl GitHub {
    /// The pull request commit `sha` (checked with [`is_commit_id`] by the caller) came from.
    pub async fn pull_request_of(&self, sha: &str) -> Result<PullOfCommit, GitHubError> {
        let repo = &self.repository;
        let url = self.url(&format!("/repos/{repo}/commits/{sha}/pulls?per_page=100"))?;
        let pulls = self
            .list(url, &format!("find the pull request of commit {sha}"))
            .await?;
        Ok(choose(&pulls, sha))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn pull(number: u64, merged: bool, merge_commit_sha: &str) -> Value {
        json!({
            "number": number,
            "state": if merged { "closed" } else { "open" },
            "merged_at": if merged { json!("2026-01-01T00:00:00Z") } else { Value::Null },
            "merge_commit_sha": merge_commit_sha,
        })
    }

    #[test]
    fn the_pull_request_merged_as_the_commit_is_chosen() {
        let other = "f".repeat(40);
        // Open pull requests have a merge_commit_sha too (the test merge): not merged.
        let pulls = [
            pull(3, false, SHA),
            pull(9, true, SHA),
            pull(4, true, &other),
        ];
        assert_eq!(choose(&pulls, SHA), PullOfCommit::Found(9));
        assert_eq!(
            choose(&[pull(3, false, SHA), pull(4, true, &other)], SHA),
            PullOfCommit::Ambiguous(vec![3, 4])
        );
        // The only pull request holding the commit (a rebase's earlier commit, a branch).
        assert_eq!(
            choose(&[pull(4, true, &other)], SHA),
            PullOfCommit::Found(4)
        );
        assert_eq!(choose(&[], SHA), PullOfCommit::None);
        assert_eq!(
            choose(&[pull(7, true, SHA), pull(2, true, SHA)], SHA),
            PullOfCommit::Ambiguous(vec![2, 7])
        );
        assert_eq!(
            choose(&[json!({"title": "no number"})], SHA),
            PullOfCommit::None
        );
    }

    #[test]
    fn commit_ids_are_full_lower_case_hex() {
        assert!(is_commit_id(SHA));
        assert!(is_commit_id(&"a".repeat(64)));
        assert!(!is_commit_id(&SHA.to_uppercase()));
        assert!(!is_commit_id(&SHA[..39]));
        assert!(!is_commit_id(
            "../../issues/5/comments?x=0123456789abcdef0123456789ab"
        ));
    }
}
