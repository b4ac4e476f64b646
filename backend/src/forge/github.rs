//! GitHub (and GitHub Enterprise) through its REST API: the git data endpoints build the commit
//! (one tree with every changed file, deletions included, on top of the base branch's tree), a
//! ref for the request's branch, and a pull request. Every step looks first: the branch and its
//! pull request are found and reused, so a retry after a lost answer never opens a second one.
//!
//! Unchanged files are recognised without downloading them: a file's git blob id is the SHA-1
//! of its contents, computed here and compared with the base tree's entries.

use std::collections::BTreeMap;
use std::time::Duration;

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use openidconnect::PrivateSigningKey as _;
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use super::rest::{Auth, Credentials, Operation, Rest, compare, with_previous, within};
use super::{ChangeSet, Forge, ForgeError, Published, PullRef, PullRequest, PullState};

/// What every GitHub call sends.
const HEADERS: [(&str, &str); 2] = [
    ("Accept", "application/vnd.github+json"),
    ("X-GitHub-Api-Version", "2022-11-28"),
];

/// A GitHub App installation: each call uses an installation token, made from a JWT signed with
/// the App's private key (RS256) and kept until a minute before it expires.
pub struct GitHubApp {
    app_id: u64,
    installation_id: u64,
    key: CoreRsaPrivateSigningKey,
    cached: tokio::sync::Mutex<Option<(SecretString, i64)>>,
}

impl std::fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key and tokens are never printed.
        f.debug_struct("GitHubApp")
            .field("app_id", &self.app_id)
            .field("installation_id", &self.installation_id)
            .finish_non_exhaustive()
    }
}

impl GitHubApp {
    /// `key` is the App's private key as GitHub hands it out (PEM).
    pub fn new(app_id: u64, installation_id: u64, key: &SecretString) -> Result<Self, String> {
        let key = CoreRsaPrivateSigningKey::from_pem(key.expose_secret(), None)
            .map_err(|e| format!("the GitHub App key is not an RSA private key in PEM: {e}"))?;
        Ok(Self {
            app_id,
            installation_id,
            key,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// The JWT that authenticates the App itself: issued a minute ago (clock skew), valid nine
    /// minutes (GitHub allows ten).
    fn jwt(&self, now: i64) -> Result<String, ForgeError> {
        let encode = |value: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(value).expect("JSON values serialize"))
        };
        let header = encode(&json!({ "alg": "RS256", "typ": "JWT" }));
        let claims = encode(&json!({
            "iat": now - 60,
            "exp": now + 540,
            "iss": self.app_id.to_string(),
        }));
        let input = format!("{header}.{claims}");
        let signature = self
            .key
            .sign(
                &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                input.as_bytes(),
            )
            .map_err(|e| ForgeError::Permanent(format!("signing the GitHub App JWT: {e}")))?;
        Ok(format!(
            "{input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// An installation token, made anew when the kept one is about to expire.
    pub(super) async fn token(
        &self,
        http: &reqwest::Client,
        api: &str,
    ) -> Result<SecretString, ForgeError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut cached = self.cached.lock().await;
        if let Some((token, expires)) = cached.as_ref()
            && *expires - now > 60
        {
            return Ok(token.clone());
        }
        let path = format!("/app/installations/{}/access_tokens", self.installation_id);
        let response = http
            .post(format!("{api}{path}"))
            .bearer_auth(self.jwt(now)?)
            .header(HEADERS[0].0, HEADERS[0].1)
            .header(HEADERS[1].0, HEADERS[1].1)
            .send()
            .await
            .map_err(|e| {
                ForgeError::transient(format!("GitHub could not be reached for {path}: {e}"))
            })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let what = format!(
                "GitHub refused an installation token for App {} ({status}): {}",
                self.app_id,
                body["message"].as_str().unwrap_or_default()
            );
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                ForgeError::transient(what)
            } else {
                ForgeError::Permanent(format!("{what}; check the App id, installation and key"))
            });
        }
        let token = body["token"].as_str().ok_or_else(|| {
            ForgeError::transient("GitHub's installation token answer has no token")
        })?;
        let expires = body["expires_at"]
            .as_str()
            .and_then(|at| {
                time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()
            })
            .map_or(now + 600, |at| at.unix_timestamp());
        let token = SecretString::from(token.to_owned());
        *cached = Some((token.clone(), expires));
        Ok(token)
    }
}

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
        Self::with_credentials(api, Credentials::Token(token), timeout)
    }

    /// A client that signs in as a GitHub App installation.
    pub fn as_app(api: &str, app: GitHubApp, timeout: Duration) -> Self {
        Self::with_credentials(api, Credentials::GitHubApp(Arc::new(app)), timeout)
    }

    fn with_credentials(api: &str, credentials: Credentials, timeout: Duration) -> Self {
        Self {
            rest: Rest::new(
                "GitHub",
                api,
                credentials,
                Auth::Bearer,
                HEADERS.to_vec(),
                timeout,
            ),
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
