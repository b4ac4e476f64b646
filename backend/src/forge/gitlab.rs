//! GitLab (gitlab.com or self-managed) through its REST API v4: one commit with create, update
//! and delete actions on the request's branch (started from the base branch), and a merge
//! request. Like every forge here it looks before it creates: an existing branch made on the same
//! base is reused, and so is the branch's merge request.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::rest::{Auth, Credentials, Operation, Rest, compare, with_previous};
use super::{ChangeSet, Forge, ForgeError, Published, PullRef, PullRequest, PullState};

/// A GitLab project's API.
#[derive(Debug, Clone)]
pub struct GitLab {
    rest: Rest,
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

    /// A client for `api` (`https://gitlab.com/api/v4`, or `https://HOST/api/v4`).
    pub fn new(api: &str, token: SecretString, timeout: Duration) -> Self {
        Self {
            rest: Rest::new(
                "GitLab",
                api,
                Credentials::Token(token),
                Auth::PrivateToken,
                Vec::new(),
                timeout,
            ),
        }
    }

    async fn must(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ForgeError> {
        self.rest.must(method, path, body).await
    }

    /// The newest commit of a branch and its parents, if the branch exists.
    async fn branch(
        &self,
        repo: &str,
        branch: &str,
    ) -> Result<Option<(String, Vec<String>)>, ForgeError> {
        let found = self
            .rest
            .optional(
                Method::GET,
                &format!(
                    "/projects/{}/repository/branches/{}",
                    project(repo),
                    encode(branch)
                ),
                None,
            )
            .await?;
        Ok(found.and_then(|v| {
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
            let Some(answer) = self.rest.call(Method::GET, &path, None).await? else {
                // The environment's folder does not exist yet.
                return Ok(files);
            };
            let entries: Vec<TreeEntry> = serde_json::from_value(answer.value)
                .map_err(|e| ForgeError::transient(format!("GitLab's tree listing: {e}")))?;
            for entry in entries.into_iter().filter(|e| e.kind == "blob") {
                files.insert(entry.path, entry.id);
            }
            page = answer
                .headers
                .get("x-next-page")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
        }
        Ok(files)
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
        let (operations, changed) = compare(change, &existing);
        if changed.is_empty() {
            return Ok(Published::AlreadyThere { base_sha: base });
        }
        let actions: Vec<Value> = operations
            .iter()
            .map(|operation| match operation {
                Operation::Create(file) => {
                    json!({"action": "create", "file_path": file.path, "content": file.contents})
                }
                Operation::Update(file, _) => {
                    json!({"action": "update", "file_path": file.path, "content": file.contents})
                }
                Operation::Delete(path, _) => json!({"action": "delete", "file_path": path}),
            })
            .collect();
        let changed = with_previous(&self.rest, changed, &existing, |sha| {
            format!("/projects/{}/repository/blobs/{sha}", project(repo))
        })
        .await?;

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
