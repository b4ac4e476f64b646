//! Gitea and Forgejo through their REST API (`/api/v1`): one commit per change through the
//! "change files" endpoint (create, update and delete in one request, on a new branch made from
//! the base branch), and a pull request. An existing branch made on the same base is reused, one
//! made on an older base is replaced; the branch's pull request is looked up before one is made.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use reqwest::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::rest::{Auth, Credentials, Operation, Rest, compare, with_previous, within};
use super::{ChangeSet, Forge, ForgeError, Published, PullRef, PullRequest, PullState};

/// A Gitea or Forgejo repository's API.
#[derive(Debug, Clone)]
pub struct Gitea {
    rest: Rest,
}

#[derive(Debug, Deserialize)]
struct Pull {
    number: i64,
    html_url: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    merged: bool,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    head: Option<Head>,
}

#[derive(Debug, Deserialize)]
struct Head {
    #[serde(rename = "ref")]
    branch: String,
}

#[derive(Debug, Deserialize)]
struct TreeEntry {
    path: String,
    #[serde(rename = "type")]
    kind: String,
    sha: String,
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

impl Gitea {
    /// A client for `api` (`https://HOST/api/v1`).
    pub fn new(api: &str, token: SecretString, timeout: Duration) -> Self {
        let extra = vec![("Accept", "application/json")];
        Self {
            rest: Rest::new(
                "Gitea",
                api,
                Credentials::Token(token),
                Auth::Token,
                extra,
                timeout,
            ),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<Value>, ForgeError> {
        self.rest.optional(method, path, body).await
    }

    async fn must(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ForgeError> {
        self.rest.must(method, path, body).await
    }

    async fn branch_head(&self, repo: &str, branch: &str) -> Result<Option<String>, ForgeError> {
        let found = self
            .call(
                Method::GET,
                &format!("/repos/{repo}/branches/{branch}"),
                None,
            )
            .await?;
        Ok(found.and_then(|v| v["commit"]["id"].as_str().map(str::to_owned)))
    }

    /// Every file under `root` at commit `sha`, with its blob id (all pages).
    async fn files_under(
        &self,
        repo: &str,
        root: &str,
        sha: &str,
    ) -> Result<BTreeMap<String, String>, ForgeError> {
        let mut files = BTreeMap::new();
        for page in 1.. {
            let tree = self
                .must(
                    Method::GET,
                    &format!(
                        "/repos/{repo}/git/trees/{sha}?recursive=true&per_page=1000&page={page}"
                    ),
                    None,
                )
                .await?;
            let entries: Vec<TreeEntry> =
                serde_json::from_value(tree["tree"].clone()).unwrap_or_default();
            let empty = entries.is_empty();
            for entry in entries {
                if entry.kind == "blob" && within(&entry.path, root) {
                    files.insert(entry.path, entry.sha);
                }
            }
            if empty || tree["truncated"].as_bool() != Some(true) {
                break;
            }
        }
        Ok(files)
    }

    /// The pull request whose head is `branch`, among the repository's newest.
    async fn find_pull(&self, repo: &str, branch: &str) -> Result<Option<Pull>, ForgeError> {
        for page in 1..=5 {
            let list = self
                .must(
                    Method::GET,
                    &format!(
                        "/repos/{repo}/pulls?state=all&sort=recentupdate&limit=50&page={page}"
                    ),
                    None,
                )
                .await?;
            let pulls: Vec<Pull> = serde_json::from_value(list)
                .map_err(|e| ForgeError::transient(format!("Gitea's pull request list: {e}")))?;
            if pulls.is_empty() {
                break;
            }
            if let Some(found) = pulls
                .into_iter()
                .find(|p| p.head.as_ref().is_some_and(|h| h.branch == branch))
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The ids of the repository's labels with these names (labels that do not exist are skipped).
    async fn label_ids(&self, repo: &str, names: &[String]) -> Result<Vec<i64>, ForgeError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let labels = self
            .must(Method::GET, &format!("/repos/{repo}/labels?limit=50"), None)
            .await?;
        Ok(labels
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| {
                l["name"]
                    .as_str()
                    .is_some_and(|n| names.iter().any(|w| w == n))
            })
            .filter_map(|l| l["id"].as_i64())
            .collect())
    }
}

#[async_trait]
impl Forge for Gitea {
    fn name(&self) -> &'static str {
        "gitea"
    }

    async fn publish(&self, change: &ChangeSet) -> Result<Published, ForgeError> {
        let repo = &change.repository;
        let base = self
            .branch_head(repo, &change.base_branch)
            .await?
            .ok_or_else(|| {
                ForgeError::Permanent(format!(
                    "Gitea: {repo} has no branch {}",
                    change.base_branch
                ))
            })?;
        let existing = self.files_under(repo, &change.root, &base).await?;
        let (operations, changed) = compare(change, &existing);
        if changed.is_empty() {
            return Ok(Published::AlreadyThere { base_sha: base });
        }
        let operations: Vec<Value> = operations
            .iter()
            .map(|operation| match operation {
                Operation::Create(file) => {
                    json!({"operation": "create", "path": file.path, "content": b64(&file.contents)})
                }
                Operation::Update(file, sha) => json!({
                    "operation": "update", "path": file.path, "content": b64(&file.contents), "sha": sha
                }),
                Operation::Delete(path, sha) => {
                    json!({"operation": "delete", "path": path, "sha": sha})
                }
            })
            .collect();
        let changed = with_previous(&self.rest, changed, &existing, |sha| {
            format!("/repos/{repo}/git/blobs/{sha}")
        })
        .await?;

        let reused = match self.branch_head(repo, &change.branch).await? {
            Some(head) => {
                let commit = self
                    .must(
                        Method::GET,
                        &format!("/repos/{repo}/git/commits/{head}"),
                        None,
                    )
                    .await?;
                let parent = commit["parents"][0]["sha"].as_str().map(str::to_owned);
                if parent.as_deref() == Some(base.as_str()) {
                    Some(head)
                } else {
                    // Made on an older base: replace it.
                    self.must(
                        Method::DELETE,
                        &format!("/repos/{repo}/branches/{}", change.branch),
                        None,
                    )
                    .await?;
                    None
                }
            }
            None => None,
        };
        let head = match reused {
            Some(head) => head,
            None => {
                let committed = self
                    .must(
                        Method::POST,
                        &format!("/repos/{repo}/contents"),
                        Some(json!({
                            "branch": change.base_branch,
                            "new_branch": change.branch,
                            "message": format!("{}\n\n{}", change.title, change.body),
                            "files": operations,
                        })),
                    )
                    .await?;
                committed["commit"]["sha"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ForgeError::transient("Gitea's new commit has no sha"))?
            }
        };
        let pull = match self.find_pull(repo, &change.branch).await? {
            Some(found) => found,
            None => {
                let labels = self.label_ids(repo, &change.labels).await?;
                let created = self
                    .must(
                        Method::POST,
                        &format!("/repos/{repo}/pulls"),
                        Some(json!({
                            "head": change.branch,
                            "base": change.base_branch,
                            "title": change.title,
                            "body": change.body,
                            "labels": labels,
                            "reviewers": change.reviewers,
                        })),
                    )
                    .await?;
                serde_json::from_value(created)
                    .map_err(|e| ForgeError::transient(format!("Gitea's new pull request: {e}")))?
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
                    .must(
                        Method::GET,
                        &format!("/repos/{}/pulls/{number}", pull.repository),
                        None,
                    )
                    .await?;
                serde_json::from_value::<Pull>(value)
                    .map_err(|e| ForgeError::transient(format!("Gitea's pull request: {e}")))?
            }
            None => match self.find_pull(&pull.repository, &pull.branch).await? {
                Some(found) => found,
                None => return Ok(PullState::Closed),
            },
        };
        Ok(if found.merged {
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
