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
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use super::{
    ChangeSet, ChangedFile, FileStatus, Forge, ForgeError, Published, PullRef, PullRequest,
    PullState,
};

/// A GitHub repository's API.
#[derive(Debug, Clone)]
pub struct GitHub {
    http: reqwest::Client,
    /// `https://api.github.com`, or `https://HOST/api/v3` for GitHub Enterprise.
    api: String,
    token: SecretString,
}

impl GitHub {
    pub const DEFAULT_API: &'static str = "https://api.github.com";

    /// A client for `api` with `token`; every call gives up after `timeout`.
    pub fn new(api: &str, token: SecretString, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent("signalbox")
            .build()
            .expect("an HTTP client with default TLS builds");
        Self {
            http,
            api: api.trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// One API call; non-success answers become [`ForgeError`]s that say whether to retry.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ForgeError> {
        self.call_optional(method, path, body)
            .await?
            .ok_or_else(|| ForgeError::Permanent(format!("GitHub: {path} was not found")))
    }

    /// Like [`GitHub::call`], with `None` for 404.
    async fn call_optional(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<Value>, ForgeError> {
        let url = format!("{}{path}", self.api);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(self.token.expose_secret())
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| {
            ForgeError::transient(if e.is_timeout() {
                format!("GitHub did not answer {method} {path} in time")
            } else {
                format!("GitHub could not be reached for {method} {path}: {e}")
            })
        })?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let retry_after = retry_after(response.headers());
        let rate_limited = status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::FORBIDDEN
                && response
                    .headers()
                    .get("x-ratelimit-remaining")
                    .is_some_and(|v| v == "0"));
        let text = response.text().await.map_err(|e| {
            ForgeError::transient(format!("GitHub's answer to {method} {path} broke off: {e}"))
        })?;
        if status.is_success() {
            return serde_json::from_str(&text).map(Some).map_err(|e| {
                ForgeError::transient(format!(
                    "GitHub's answer to {method} {path} is not JSON: {e}"
                ))
            });
        }
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(200).collect());
        let what = format!("GitHub answered {method} {path} with {status}: {message}");
        if rate_limited || status.is_server_error() {
            return Err(ForgeError::Transient {
                message: what,
                retry_after,
            });
        }
        Err(ForgeError::Permanent(match status {
            StatusCode::UNAUTHORIZED => format!("{what} (check the forge token)"),
            StatusCode::FORBIDDEN => format!("{what} (the token lacks permission)"),
            _ => what,
        }))
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

    async fn blob(&self, repo: &str, sha: &str) -> Result<String, ForgeError> {
        let blob = self
            .call(Method::GET, &format!("/repos/{repo}/git/blobs/{sha}"), None)
            .await?;
        let encoded: String = field::<String>(&blob["content"], "content")?
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| ForgeError::transient(format!("GitHub blob {sha} is not base64: {e}")))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
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

/// `Retry-After` in seconds, or the rate limit's reset time.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(seconds) = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(seconds));
    }
    let reset = headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now)))
}

fn within(path: &str, root: &str) -> bool {
    root.is_empty()
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
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
        let mut changed: Vec<ChangedFile> = Vec::new();
        let mut tree_entries: Vec<Value> = Vec::new();
        for file in &change.files {
            let status = match existing.get(&file.path) {
                None => FileStatus::Added,
                Some(sha) if *sha == blob_id(&file.contents) => continue,
                Some(_) => FileStatus::Modified,
            };
            tree_entries.push(json!({
                "path": file.path, "mode": "100644", "type": "blob", "content": file.contents
            }));
            changed.push(ChangedFile {
                path: file.path.clone(),
                status,
                contents: Some(file.contents.clone()),
                previous: None,
            });
        }
        for path in existing.keys() {
            if !change.files.iter().any(|f| f.path == *path) {
                tree_entries.push(json!({
                    "path": path, "mode": "100644", "type": "blob", "sha": null
                }));
                changed.push(ChangedFile {
                    path: path.clone(),
                    status: FileStatus::Deleted,
                    contents: None,
                    previous: None,
                });
            }
        }
        if changed.is_empty() {
            return Ok(Published::AlreadyThere { base_sha: base });
        }
        for file in &mut changed {
            if file.status != FileStatus::Added {
                file.previous = Some(self.blob(repo, &existing[&file.path]).await?);
            }
        }
        changed.sort_by(|a, b| a.path.cmp(&b.path));

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
