//! What the hosted forges (GitHub, GitLab, Gitea/Forgejo) share: one JSON client that turns each
//! answer into a value or a [`ForgeError`] saying whether to retry and how long to wait, and the
//! comparison of an environment's files with what the base branch holds.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::{ChangeSet, ChangedFile, FileStatus, ForgeError, blob_id};

/// What a call authenticates with.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A personal, project or bot token.
    Token(SecretString),
    /// A GitHub App installation: short-lived tokens made from the App's key.
    GitHubApp(std::sync::Arc<super::github::GitHubApp>),
}

/// How a forge wants its token.
#[derive(Debug, Clone, Copy)]
pub(super) enum Auth {
    /// `Authorization: Bearer <token>` (GitHub).
    Bearer,
    /// `PRIVATE-TOKEN: <token>` (GitLab).
    PrivateToken,
    /// `Authorization: token <token>` (Gitea, Forgejo).
    Token,
}

/// A forge's REST API.
#[derive(Debug, Clone)]
pub(super) struct Rest {
    /// Names the forge in messages.
    forge: &'static str,
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
    auth: Auth,
    /// Headers every call sends (API version, media type).
    extra: Vec<(&'static str, &'static str)>,
}

/// A successful answer: its JSON (null when empty) and its headers.
pub(super) struct Answer {
    pub value: Value,
    pub headers: HeaderMap,
}

impl Rest {
    pub(super) fn new(
        forge: &'static str,
        base: &str,
        credentials: Credentials,
        auth: Auth,
        extra: Vec<(&'static str, &'static str)>,
        timeout: Duration,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent("signalbox")
            .build()
            .expect("an HTTP client with default TLS builds");
        Self {
            forge,
            http,
            base: base.trim_end_matches('/').to_owned(),
            credentials,
            auth,
            extra,
        }
    }

    /// One call: `Ok(None)` for 404. 5xx, 429, a rate-limit 403, timeouts and broken answers are
    /// transient (with the wait `Retry-After` or the rate limit's reset asks for); other
    /// refusals are permanent.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<Answer>, ForgeError> {
        let forge = self.forge;
        let token = match &self.credentials {
            Credentials::Token(token) => token.clone(),
            Credentials::GitHubApp(app) => app.token(&self.http, &self.base).await?,
        };
        let token = token.expose_secret();
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        request = match self.auth {
            Auth::Bearer => request.bearer_auth(token),
            Auth::PrivateToken => request.header("PRIVATE-TOKEN", token),
            Auth::Token => request.header("Authorization", format!("token {token}")),
        };
        for (name, value) in &self.extra {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| {
            ForgeError::transient(if e.is_timeout() {
                format!("{forge} did not answer {method} {path} in time")
            } else {
                format!("{forge} could not be reached for {method} {path}: {e}")
            })
        })?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let headers = response.headers().clone();
        let rate_limited = status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::FORBIDDEN
                && headers
                    .get("x-ratelimit-remaining")
                    .is_some_and(|v| v == "0"));
        let text = response.text().await.map_err(|e| {
            ForgeError::transient(format!(
                "{forge}'s answer to {method} {path} broke off: {e}"
            ))
        })?;
        if status.is_success() {
            let value = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).map_err(|e| {
                    ForgeError::transient(format!(
                        "{forge}'s answer to {method} {path} is not JSON: {e}"
                    ))
                })?
            };
            return Ok(Some(Answer { value, headers }));
        }
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .map(|v| match &v["message"] {
                Value::String(s) => s.clone(),
                Value::Null => v["error"].as_str().unwrap_or_default().to_owned(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| text.chars().take(200).collect());
        let what = format!("{forge} answered {method} {path} with {status}: {message}");
        if rate_limited || status.is_server_error() {
            return Err(ForgeError::Transient {
                message: what,
                retry_after: retry_after(&headers),
            });
        }
        Err(ForgeError::Permanent(match status {
            StatusCode::UNAUTHORIZED => format!("{what} (check the forge token)"),
            StatusCode::FORBIDDEN => format!("{what} (the token lacks permission)"),
            _ => what,
        }))
    }

    /// Like [`Rest::call`], the value only, `None` for 404.
    pub(super) async fn optional(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<Value>, ForgeError> {
        Ok(self.call(method, path, body).await?.map(|a| a.value))
    }

    /// Like [`Rest::call`], where 404 is an error too.
    pub(super) async fn must(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ForgeError> {
        self.optional(method, path, body)
            .await?
            .ok_or_else(|| ForgeError::Permanent(format!("{}: {path} was not found", self.forge)))
    }

    /// A blob's text from an answer with base64 `content`.
    pub(super) async fn blob(&self, path: &str) -> Result<String, ForgeError> {
        let blob = self.must(Method::GET, path, None).await?;
        let encoded: String = blob["content"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| {
                ForgeError::transient(format!("{}: {path} is not base64: {e}", self.forge))
            })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// `Retry-After` in seconds, or the rate limit's reset time (unix seconds).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(seconds) = number("retry-after") {
        return Some(Duration::from_secs(seconds));
    }
    let reset = number("x-ratelimit-reset")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now)))
}

/// One file operation of a commit.
pub(super) enum Operation<'a> {
    Create(&'a mesh::RenderedFile),
    /// The file and the blob it replaces.
    Update(&'a mesh::RenderedFile, &'a str),
    /// The path and the blob deleted.
    Delete(&'a str, &'a str),
}

/// What the change does to the base branch, whose files under the environment's folder are
/// `existing` (path → blob id): the operations of the commit, and the files as the pull request
/// will show them (previous contents still to be filled in). Files whose blob id is unchanged
/// are left out.
pub(super) fn compare<'a>(
    change: &'a ChangeSet,
    existing: &'a BTreeMap<String, String>,
) -> (Vec<Operation<'a>>, Vec<ChangedFile>) {
    let mut operations = Vec::new();
    let mut changed = Vec::new();
    for file in &change.files {
        let status = match existing.get(&file.path) {
            None => {
                operations.push(Operation::Create(file));
                FileStatus::Added
            }
            Some(sha) if *sha == blob_id(&file.contents) => continue,
            Some(sha) => {
                operations.push(Operation::Update(file, sha));
                FileStatus::Modified
            }
        };
        changed.push(ChangedFile {
            path: file.path.clone(),
            status,
            contents: Some(file.contents.clone()),
            previous: None,
        });
    }
    for (path, sha) in existing {
        if !change.files.iter().any(|f| f.path == *path) {
            operations.push(Operation::Delete(path, sha));
            changed.push(ChangedFile {
                path: path.clone(),
                status: FileStatus::Deleted,
                contents: None,
                previous: None,
            });
        }
    }
    (operations, changed)
}

/// Fills in the base branch's contents of every modified or deleted file (`blob_path` gives the
/// API path of a blob id), and orders the files by path.
pub(super) async fn with_previous(
    rest: &Rest,
    mut changed: Vec<ChangedFile>,
    existing: &BTreeMap<String, String>,
    blob_path: impl Fn(&str) -> String,
) -> Result<Vec<ChangedFile>, ForgeError> {
    for file in &mut changed {
        if file.status != FileStatus::Added {
            file.previous = Some(rest.blob(&blob_path(&existing[&file.path])).await?);
        }
    }
    changed.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(changed)
}

/// Whether `path` lies in the environment's folder `root` (every path lies in the empty root).
pub(super) fn within(path: &str, root: &str) -> bool {
    root.is_empty()
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}
