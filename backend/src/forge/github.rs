//! GitHub (and GitHub Enterprise) through its REST API: the git data endpoints build the commit
//! (one tree with every changed file, deletions included, on top of the base branch's tree), a
//! ref for the request's branch, and a pull request. Every step looks first: the branch and its
//! pull request are found and reused, so a retry after a lost answer never opens a second one.
//!
//! Unchanged files are recognised without downloading them: a file's git blob id is the SHA-1
//! of its contents, computed here and compared with the base tree's entries.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use super::rest::{Auth, Operation, Rest, compare, with_previous, within};
use super::{ChangeSet, Forge, ForgeError, Published, PullRef, PullRequest, PullState};

/// A GitHub repository's API.
#[derive(Debug, Clone)]
pub struct GitHub {
    rest: Rest,
}

impl GitHub {
    pub const DEFAULT_API: &'static str = "https://api.github.com";

    /// A client for `api` (`https://api.github.com`, or `https://HOST/api/v3` for GitHub
    /// Enterprise) with `token`; every call gives up after `timeout`.
    pub fn new(api: &str, token: SecretString, timeout: Duration) -> Self {
        let extra = vec![
            ("Accept", "application/vnd.github+json"),
            ("X-GitHub-Api-Version", "2022-11-28"),
        ];
        Self {
            rest: Rest::new("GitHub", api, token, Auth::Bearer, extra, timeout),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ForgeError> {
        self.rest.must(method, path, body).await
    }

    async fn call_optional(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<Value>, ForgeError> {
        self.rest.optional(method, path, body).await
    }

    async fn branch_head(&self, repo: &str, branch: &str) -> Result<Option<String>, ForgeError> {
        let found = self
            .call_optional(
                Method::GET,
                &format!("/repos/{repo}/git/ref/heads/{branch}"),
                None,
            )
            .await?;
        Ok(found.and_then(|v| v["object"]["sha"].as_str().map(str::to_owned)))
    }

    async fn commit(&self, repo: &str, sha: &str) -> Result<CommitInfo, ForgeError> {
        let commit = self
            .call(
                Method::GET,
                &format!("/repos/{repo}/git/commits/{sha}"),
                None,
            )
            .await?;
        Ok(CommitInfo {
            tree: field(&commit["tree"]["sha"], "tree")?,
            parents: commit["parents"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["sha"].as_str().map(str::to_owned))
                .collect(),
        })
    }

    /// The pull request whose head is `branch`, open or not.
    async fn find_pull(&self, repo: &str, branch: &str) -> Result<Option<Pull>, ForgeError> {
        let owner = repo.split('/').next().unwrap_or_default();
        let found = self
            .call(
                Method::GET,
                &format!("/repos/{repo}/pulls?state=all&head={owner}:{branch}"),
                None,
            )
            .await?;
        let pulls: Vec<Pull> = serde_json::from_value(found)
            .map_err(|e| ForgeError::transient(format!("GitHub's pull request list: {e}")))?;
        Ok(pulls.into_iter().next())
    }
}

struct CommitInfo {
    tree: String,
    parents: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Pull {
    number: i64,
    html_url: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TreeEntry {
    path: String,
    #[serde(rename = "type")]
    kind: String,
    sha: String,
}

/// A file's git blob id: SHA-1 over `blob <length>\0<contents>`.
pub fn blob_id(contents: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {}\0", contents.len()).as_bytes());
    hasher.update(contents.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn field<T: serde::de::DeserializeOwned>(value: &Value, name: &str) -> Result<T, ForgeError> {
    serde_json::from_value(value.clone())
        .map_err(|_| ForgeError::transient(format!("GitHub's answer lacks {name}")))
}

#[async_trait]
impl Forge for GitHub {
    fn name(&self) -> &'static str {
        "github"
    }

    async fn publish(&self, change: &ChangeSet) -> Result<Published, ForgeError> {
        let repo = &change.repository;
        let base = self
            .branch_head(repo, &change.base_branch)
            .await?
            .ok_or_else(|| {
                ForgeError::Permanent(format!(
                    "GitHub: {repo} has no branch {}",
                    change.base_branch
                ))
            })?;
        let base_tree = self.commit(repo, &base).await?.tree;
        let tree = self
            .call(
                Method::GET,
                &format!("/repos/{repo}/git/trees/{base_tree}?recursive=1"),
                None,
            )
            .await?;
        if tree["truncated"].as_bool() == Some(true) {
            return Err(ForgeError::Permanent(format!(
                "GitHub: the tree of {repo} is too large to list in one answer"
            )));
        }
        let entries: Vec<TreeEntry> = field(&tree["tree"], "tree")?;
        let existing: BTreeMap<String, String> = entries
            .into_iter()
            .filter(|e| e.kind == "blob" && within(&e.path, &change.root))
            .map(|e| (e.path, e.sha))
            .collect();
        let (operations, changed) = compare(change, &existing);
        if changed.is_empty() {
            return Ok(Published::AlreadyThere { base_sha: base });
        }
        let tree_entries: Vec<Value> = operations
            .iter()
            .map(|operation| match operation {
                Operation::Create(file) | Operation::Update(file, _) => json!({
                    "path": file.path, "mode": "100644", "type": "blob", "content": file.contents
                }),
                Operation::Delete(path, _) => json!({
                    "path": path, "mode": "100644", "type": "blob", "sha": null
                }),
            })
            .collect();
        let changed = with_previous(&self.rest, changed, &existing, |sha| {
            format!("/repos/{repo}/git/blobs/{sha}")
        })
        .await?;

        let new_tree = self
            .call(
                Method::POST,
                &format!("/repos/{repo}/git/trees"),
                Some(json!({ "base_tree": base_tree, "tree": tree_entries })),
            )
            .await?;
        let new_tree: String = field(&new_tree["sha"], "the new tree's sha")?;
        let branch_head = self.branch_head(repo, &change.branch).await?;
        let reusable = match &branch_head {
            Some(head) => {
                let info = self.commit(repo, head).await?;
                info.tree == new_tree && info.parents.first() == Some(&base)
            }
            None => false,
        };
        let head = match (&branch_head, reusable) {
            (Some(head), true) => head.clone(),
            _ => {
                let commit = self
                    .call(
                        Method::POST,
                        &format!("/repos/{repo}/git/commits"),
                        Some(json!({
                            "message": format!("{}\n\n{}", change.title, change.body),
                            "tree": new_tree,
                            "parents": [base],
                        })),
                    )
                    .await?;
                let sha: String = field(&commit["sha"], "the commit's sha")?;
                if branch_head.is_some() {
                    self.call(
                        Method::PATCH,
                        &format!("/repos/{repo}/git/refs/heads/{}", change.branch),
                        Some(json!({ "sha": sha, "force": true })),
                    )
                    .await?;
                } else {
                    self.call(
                        Method::POST,
                        &format!("/repos/{repo}/git/refs"),
                        Some(json!({ "ref": format!("refs/heads/{}", change.branch), "sha": sha })),
                    )
                    .await?;
                }
                sha
            }
        };
        let pull = match self.find_pull(repo, &change.branch).await? {
            Some(pull) => pull,
            None => {
                let created = self
                    .call(
                        Method::POST,
                        &format!("/repos/{repo}/pulls"),
                        Some(json!({
                            "title": change.title,
                            "head": change.branch,
                            "base": change.base_branch,
                            "body": change.body,
                        })),
                    )
                    .await?;
                let pull: Pull = serde_json::from_value(created).map_err(|e| {
                    ForgeError::transient(format!("GitHub's new pull request: {e}"))
                })?;
                if !change.labels.is_empty() {
                    self.call(
                        Method::POST,
                        &format!("/repos/{repo}/issues/{}/labels", pull.number),
                        Some(json!({ "labels": change.labels })),
                    )
                    .await?;
                }
                if !change.reviewers.is_empty() {
                    self.call(
                        Method::POST,
                        &format!("/repos/{repo}/pulls/{}/requested_reviewers", pull.number),
                        Some(json!({ "reviewers": change.reviewers })),
                    )
                    .await?;
                }
                pull
            }
        };
        Ok(Published::Pull(PullRequest {
            number: Some(pull.number),
            url: Some(pull.html_url),
            head_sha: head,
            files: changed,
        }))
    }

    async fn state(&self, pull: &PullRef) -> Result<PullState, ForgeError> {
        let found = match pull.number {
            Some(number) => {
                let value = self
                    .call(
                        Method::GET,
                        &format!("/repos/{}/pulls/{number}", pull.repository),
                        None,
                    )
                    .await?;
                serde_json::from_value::<Pull>(value)
                    .map_err(|e| ForgeError::transient(format!("GitHub's pull request: {e}")))?
            }
            None => match self.find_pull(&pull.repository, &pull.branch).await? {
                Some(found) => found,
                None => return Ok(PullState::Closed),
            },
        };
        let merged = found.merged == Some(true) || found.merged_at.is_some();
        Ok(if merged {
            PullState::Merged {
                sha: found.merge_commit_sha,
            }
        } else if found.state == "closed" {
            PullState::Closed
        } else {
            PullState::Open
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_are_git_s() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            blob_id("hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(blob_id(""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }
}
