//! Gitea and Forgejo through their REST API (`/api/v1`): one commit per change through the
//! "change files" endpoint (create, update and delete in one request, on a new branch made from
//! the base branch), and a pull request. An existing branch made on the same base is reused, one
//! made on an older base is replaced; the branch's pull request is looked up before one is made.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ChangeSet, ChangedFile, FileStatus, Forge, ForgeError, Published, PullRef, PullRequest,
    PullState, blob_id,
};

/// A Gitea or Forgejo repository's API.
#[derive(Debug, Clone)]
pub struct Gitea {
    http: reqwest::Client,
    /// `https://HOST/api/v1`.
    api: String,
    token: SecretString,
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

    /// One call: `Ok(None)` for 404.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<Value>, ForgeError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.api))
            .header(
                "Authorization",
                format!("token {}", self.token.expose_secret()),
            )
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| {
            ForgeError::transient(if e.is_timeout() {
                format!("Gitea did not answer {method} {path} in time")
            } else {
                format!("Gitea could not be reached for {method} {path}: {e}")
            })
        })?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.map_err(|e| {
            ForgeError::transient(format!("Gitea's answer to {method} {path} broke off: {e}"))
        })?;
        if status.is_success() {
            if text.trim().is_empty() {
                return Ok(Some(Value::Null));
            }
            return serde_json::from_str(&text).map(Some).map_err(|e| {
                ForgeError::transient(format!(
                    "Gitea's answer to {method} {path} is not JSON: {e}"
                ))
            });
        }
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(200).collect());
        let what = format!("Gitea answered {method} {path} with {status}: {message}");
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
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

    async fn must(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ForgeError> {
        self.call(method, path, body)
            .await?
            .ok_or_else(|| ForgeError::Permanent(format!("Gitea: {path} was not found")))
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
                let inside = root.is_empty()
                    || entry
                        .path
                        .strip_prefix(root)
                        .is_some_and(|rest| rest.starts_with('/'));
                if entry.kind == "blob" && inside {
                    files.insert(entry.path, entry.sha);
                }
            }
            if empty || tree["truncated"].as_bool() != Some(true) {
                break;
            }
        }
        Ok(files)
    }

    async fn blob(&self, repo: &str, sha: &str) -> Result<String, ForgeError> {
        let blob = self
            .must(Method::GET, &format!("/repos/{repo}/git/blobs/{sha}"), None)
            .await?;
        let encoded: String = blob["content"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| ForgeError::transient(format!("Gitea blob {sha} is not base64: {e}")))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
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
        let mut operations = Vec::new();
        let mut changed = Vec::new();
        for file in &change.files {
            let (operation, status) = match existing.get(&file.path) {
                None => (
                    json!({"operation": "create", "path": file.path, "content": b64(&file.contents)}),
                    FileStatus::Added,
                ),
                Some(sha) if *sha == blob_id(&file.contents) => continue,
                Some(sha) => (
                    json!({"operation": "update", "path": file.path, "content": b64(&file.contents), "sha": sha}),
                    FileStatus::Modified,
                ),
            };
            operations.push(operation);
            changed.push(ChangedFile {
                path: file.path.clone(),
                status,
                contents: Some(file.contents.clone()),
                previous: None,
            });
        }
        for (path, sha) in &existing {
            if !change.files.iter().any(|f| f.path == *path) {
                operations.push(json!({"operation": "delete", "path": path, "sha": sha}));
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
