//! GitLab (gitlab.com or self-managed) through its REST API v4: one commit with create, update
//! and delete actions on the request's branch (started from the base branch), and a merge
//! request. Like every forge here it looks before it creates: an existing branch made on the same
//! base is reused, and so is the branch's merge request.

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

/// A GitLab project's API.
#[derive(Debug, Clone)]
pub struct GitLab {
    http: reqwest::Client,
    /// `https://gitlab.com/api/v4`, or `https://HOST/api/v4`.
    api: String,
    token: SecretString,
}

#[derive(Debug, Deserialize)]
struct MergeRequest {
    iid: i64,
    web_url: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    squash_commit_sha: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TreeEntry {
    id: String,
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

/// `owner/name` (or a group path) as GitLab wants it in a URL: one segment.
fn project(repository: &str) -> String {
    repository.replace('/', "%2F")
}

fn encode(segment: &str) -> String {
    segment.replace('/', "%2F")
}

impl GitLab {
    pub const DEFAULT_API: &'static str = "https://gitlab.com/api/v4";

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

    /// One call: `Ok(None)` for 404, the JSON body and the `X-Next-Page` header otherwise.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<(Value, Option<String>)>, ForgeError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.api))
            .header("PRIVATE-TOKEN", self.token.expose_secret());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| {
            ForgeError::transient(if e.is_timeout() {
                format!("GitLab did not answer {method} {path} in time")
            } else {
                format!("GitLab could not be reached for {method} {path}: {e}")
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
        let next_page = response
            .headers()
            .get("x-next-page")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let text = response.text().await.map_err(|e| {
            ForgeError::transient(format!("GitLab's answer to {method} {path} broke off: {e}"))
        })?;
        if status.is_success() {
            let value = serde_json::from_str(&text).map_err(|e| {
                ForgeError::transient(format!(
                    "GitLab's answer to {method} {path} is not JSON: {e}"
                ))
            })?;
            return Ok(Some((value, next_page)));
        }
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .map(|v| match &v["message"] {
                Value::String(s) => s.clone(),
                Value::Null => v["error"].as_str().unwrap_or_default().to_owned(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| text.chars().take(200).collect());
        let what = format!("GitLab answered {method} {path} with {status}: {message}");
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
            .map(|(value, _)| value)
            .ok_or_else(|| ForgeError::Permanent(format!("GitLab: {path} was not found")))
    }

    /// The newest commit of a branch and its parents, if the branch exists.
    async fn branch(
        &self,
        repo: &str,
        branch: &str,
    ) -> Result<Option<(String, Vec<String>)>, ForgeError> {
        let found = self
            .call(
                Method::GET,
                &format!(
                    "/projects/{}/repository/branches/{}",
                    project(repo),
                    encode(branch)
                ),
                None,
            )
            .await?;
        Ok(found.and_then(|(v, _)| {
            let id = v["commit"]["id"].as_str()?.to_owned();
            let parents = v["commit"]["parent_ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect();
            Some((id, parents))
        }))
    }

    /// Every file under `root` at `reference`, with its blob id (all pages).
    async fn files_under(
        &self,
        repo: &str,
        root: &str,
        reference: &str,
    ) -> Result<BTreeMap<String, String>, ForgeError> {
        let mut files = BTreeMap::new();
        let mut page = Some("1".to_owned());
        while let Some(number) = page {
            let path = format!(
                "/projects/{}/repository/tree?ref={}&path={}&recursive=true&per_page=100&page={number}",
                project(repo),
                encode(reference),
                encode(root)
            );
            let Some((value, next)) = self.call(Method::GET, &path, None).await? else {
                // The environment's folder does not exist yet.
                return Ok(files);
            };
            let entries: Vec<TreeEntry> = serde_json::from_value(value)
                .map_err(|e| ForgeError::transient(format!("GitLab's tree listing: {e}")))?;
            for entry in entries.into_iter().filter(|e| e.kind == "blob") {
                files.insert(entry.path, entry.id);
            }
            page = next;
        }
        Ok(files)
    }

    async fn blob(&self, repo: &str, sha: &str) -> Result<String, ForgeError> {
        let blob = self
            .must(
                Method::GET,
                &format!("/projects/{}/repository/blobs/{sha}", project(repo)),
                None,
            )
            .await?;
        let encoded: String = blob["content"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| ForgeError::transient(format!("GitLab blob {sha} is not base64: {e}")))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn find_merge_request(
        &self,
        repo: &str,
        branch: &str,
    ) -> Result<Option<MergeRequest>, ForgeError> {
        let found = self
            .must(
                Method::GET,
                &format!(
                    "/projects/{}/merge_requests?source_branch={}&state=all",
                    project(repo),
                    encode(branch)
                ),
                None,
            )
            .await?;
        let list: Vec<MergeRequest> = serde_json::from_value(found)
            .map_err(|e| ForgeError::transient(format!("GitLab's merge request list: {e}")))?;
        Ok(list.into_iter().next())
    }
}

#[async_trait]
impl Forge for GitLab {
    fn name(&self) -> &'static str {
        "gitlab"
    }

    async fn publish(&self, change: &ChangeSet) -> Result<Published, ForgeError> {
        let repo = &change.repository;
        let (base, _) = self
            .branch(repo, &change.base_branch)
            .await?
            .ok_or_else(|| {
                ForgeError::Permanent(format!(
                    "GitLab: {repo} has no branch {}",
                    change.base_branch
                ))
            })?;
        let existing = self.files_under(repo, &change.root, &base).await?;
        let mut actions = Vec::new();
        let mut changed = Vec::new();
        for file in &change.files {
            let (action, status) = match existing.get(&file.path) {
                None => ("create", FileStatus::Added),
                Some(id) if *id == blob_id(&file.contents) => continue,
                Some(_) => ("update", FileStatus::Modified),
            };
            actions
                .push(json!({"action": action, "file_path": file.path, "content": file.contents}));
            changed.push(ChangedFile {
                path: file.path.clone(),
                status,
                contents: Some(file.contents.clone()),
                previous: None,
            });
        }
        for path in existing.keys() {
            if !change.files.iter().any(|f| f.path == *path) {
                actions.push(json!({"action": "delete", "file_path": path}));
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

        // The same request on the same base renders the same files: a branch made on this base
        // by an earlier attempt already holds them.
        let head = match self.branch(repo, &change.branch).await? {
            Some((head, parents)) if parents.first() == Some(&base) => head,
            current => {
                let commit = self
                    .must(
                        Method::POST,
                        &format!("/projects/{}/repository/commits", project(repo)),
                        Some(json!({
                            "branch": change.branch,
                            "start_sha": base,
                            "force": current.is_some(),
                            "commit_message": format!("{}\n\n{}", change.title, change.body),
                            "actions": actions,
                        })),
                    )
                    .await?;
                commit["id"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ForgeError::transient("GitLab's new commit has no id"))?
            }
        };
        let merge_request = match self.find_merge_request(repo, &change.branch).await? {
            Some(found) => found,
            None => {
                let created = self
                    .must(
                        Method::POST,
                        &format!("/projects/{}/merge_requests", project(repo)),
                        Some(json!({
                            "source_branch": change.branch,
                            "target_branch": change.base_branch,
                            "title": change.title,
                            "description": change.body,
                            "labels": change.labels.join(","),
                            "remove_source_branch": true,
                        })),
                    )
                    .await?;
                let created: MergeRequest = serde_json::from_value(created).map_err(|e| {
                    ForgeError::transient(format!("GitLab's new merge request: {e}"))
                })?;
                // Reviewers are user ids on GitLab: look each user name up.
                let mut reviewer_ids = Vec::new();
                for name in &change.reviewers {
                    let users = self
                        .must(
                            Method::GET,
                            &format!("/users?username={}", encode(name)),
                            None,
                        )
                        .await?;
                    if let Some(id) = users[0]["id"].as_i64() {
                        reviewer_ids.push(id);
                    }
                }
                if !reviewer_ids.is_empty() {
                    self.must(
                        Method::PUT,
                        &format!("/projects/{}/merge_requests/{}", project(repo), created.iid),
                        Some(json!({ "reviewer_ids": reviewer_ids })),
                    )
                    .await?;
                }
                created
            }
        };
        Ok(Published::Pull(PullRequest {
            number: Some(merge_request.iid),
            url: Some(merge_request.web_url),
            head_sha: head,
            files: changed,
        }))
    }

    async fn state(&self, pull: &PullRef) -> Result<PullState, ForgeError> {
        let found = match pull.number {
            Some(iid) => {
                let value = self
                    .must(
                        Method::GET,
                        &format!(
                            "/projects/{}/merge_requests/{iid}",
                            project(&pull.repository)
                        ),
                        None,
                    )
                    .await?;
                serde_json::from_value::<MergeRequest>(value)
                    .map_err(|e| ForgeError::transient(format!("GitLab's merge request: {e}")))?
            }
            None => match self
                .find_merge_request(&pull.repository, &pull.branch)
                .await?
            {
                Some(found) => found,
                None => return Ok(PullState::Closed),
            },
        };
        Ok(match found.state.as_str() {
            "merged" => PullState::Merged {
                sha: found.merge_commit_sha.or(found.squash_commit_sha),
            },
            "closed" | "locked" => PullState::Closed,
            _ => PullState::Open,
        })
    }
}
