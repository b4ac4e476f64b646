//! Forges: where approved requests become pull requests. One interface, one implementation per
//! forge; the delivery job only ever talks to [`Forge`].
//!
//! Every implementation is idempotent by construction: the branch name is derived from the
//! request, and publishing first looks for the branch and its pull request and reuses them, so a
//! crash between "pull request created" and "recorded" never leads to a second one.

mod gitea;
mod github;
mod gitlab;
mod local_git;
mod rest;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use gitea::Gitea;
pub use github::{GitHub, GitHubApp, blob_id};
pub use gitlab::GitLab;
pub use local_git::LocalGit;

/// Everything one pull request holds: the environment's folder regenerated as a whole.
#[derive(Debug, Clone)]
pub struct ChangeSet {
    /// `owner/name` on a hosted forge; a folder for the local forge.
    pub repository: String,
    pub base_branch: String,
    /// The branch the change is committed on; the same for every attempt of one request.
    pub branch: String,
    /// The folder the environment owns in the repository: every file under it that `files` does
    /// not list is deleted (empty: the whole repository).
    pub root: String,
    /// Every file of the environment, paths from the repository root.
    pub files: Vec<mesh::RenderedFile>,
    pub title: String,
    /// The pull request's description (Markdown), also the commit message's body.
    pub body: String,
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
}

/// How a file differs from the base branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Added,
    Modified,
    Deleted,
}

/// One file as committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedFile {
    pub path: String,
    pub status: FileStatus,
    /// The committed contents (none for a deleted file).
    pub contents: Option<String>,
    /// The contents on the base branch (none for an added file).
    #[serde(default)]
    pub previous: Option<String>,
}

/// What publishing produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// A pull request (or, locally, a branch) holds the change.
    Pull(PullRequest),
    /// The base branch already holds exactly these files: there is nothing to merge.
    AlreadyThere { base_sha: String },
}

/// A pull request as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: Option<i64>,
    pub url: Option<String>,
    /// The commit the branch points at.
    pub head_sha: String,
    /// The files the commit changes against the base branch it was made on.
    pub files: Vec<ChangedFile>,
}

/// A recorded pull request, to ask about.
#[derive(Debug, Clone)]
pub struct PullRef {
    pub repository: String,
    pub base_branch: String,
    pub branch: String,
    pub number: Option<i64>,
    pub head_sha: String,
}

/// Where a pull request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullState {
    Open,
    Merged { sha: Option<String> },
    Closed,
}

/// Why a forge call failed, and whether trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ForgeError {
    /// Worth retrying: the forge is down, slow, or asks us to wait.
    #[error("{message}")]
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Retrying will not help until someone fixes something (credentials, the repository).
    #[error("{0}")]
    Permanent(String),
}

impl ForgeError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient {
            message: message.into(),
            retry_after: None,
        }
    }
}

/// One forge.
#[async_trait]
pub trait Forge: Send + Sync + std::fmt::Debug {
    /// `local`, `github`, `gitlab` or `gitea`.
    fn name(&self) -> &'static str;

    /// Commits the change on its branch (created from the base branch, or moved onto the base's
    /// newest commit when the base has moved) and opens its pull request, reusing whatever a
    /// previous attempt left.
    async fn publish(&self, change: &ChangeSet) -> Result<Published, ForgeError>;

    /// Whether the pull request is open, merged or closed.
    async fn state(&self, pull: &PullRef) -> Result<PullState, ForgeError>;
}

/// The forge of each environment that has one.
#[derive(Debug, Clone, Default)]
pub struct Forges {
    by_environment: BTreeMap<String, Arc<dyn Forge>>,
}

impl Forges {
    /// Builds the forge of every environment whose `gitops.forge` is set. A relative local
    /// repository path is taken from `base_dir`.
    pub fn from_catalog(
        catalog: &mesh::Catalog,
        base_dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let mut forges = Self::default();
        for env in catalog.environments() {
            let Some(kind) = env.gitops.forge.as_deref() else {
                continue;
            };
            let repository = env.gitops.repository.as_deref().unwrap_or_default();
            let forge: Arc<dyn Forge> = match kind {
                "local" => Arc::new(LocalGit::new(base_dir.join(repository))),
                "github" => {
                    let api = env.gitops.api_url.as_deref().unwrap_or(GitHub::DEFAULT_API);
                    match &env.gitops.github_app {
                        Some(app) => {
                            let key = app_key_of(env)?;
                            let app = GitHubApp::new(app.app_id, app.installation_id, &key)
                                .map_err(|problem| {
                                    anyhow::anyhow!("environment {}: {problem}", env.name)
                                })?;
                            Arc::new(GitHub::as_app(api, app, Duration::from_secs(30)))
                        }
                        None => Arc::new(GitHub::new(api, token_of(env)?, Duration::from_secs(30))),
                    }
                }
                "gitlab" => {
                    let token = token_of(env)?;
                    let api = env.gitops.api_url.as_deref().unwrap_or(GitLab::DEFAULT_API);
                    Arc::new(GitLab::new(api, token, Duration::from_secs(30)))
                }
                "gitea" => {
                    let token = token_of(env)?;
                    let Some(api) = env.gitops.api_url.as_deref() else {
                        anyhow::bail!(
                            "environment {}: gitops.apiUrl is required for Gitea and Forgejo \
                             (https://HOST/api/v1)",
                            env.name
                        );
                    };
                    Arc::new(Gitea::new(api, token, Duration::from_secs(30)))
                }
                other => anyhow::bail!(
                    "environment {}: delivery to {other} is not available yet; use forge = \
                     \"github\", \"gitlab\" or \"local\", or leave gitops.forge unset",
                    env.name
                ),
            };
            forges.by_environment.insert(env.name.to_string(), forge);
        }
        Ok(forges)
    }

    /// Uses `forge` for `environment` (tests put fakes here).
    pub fn insert(&mut self, environment: impl Into<String>, forge: Arc<dyn Forge>) {
        self.by_environment.insert(environment.into(), forge);
    }

    pub fn get(&self, environment: &str) -> Option<&Arc<dyn Forge>> {
        self.by_environment.get(environment)
    }
}

/// The forge token of an environment: `SIGNALBOX_GITOPS_TOKEN_<ENV>` (the environment's name in
/// capitals, `-` as `_`), else `SIGNALBOX_GITOPS_TOKEN`. Never logged.
fn token_of(env: &mesh::catalog::Environment) -> anyhow::Result<secrecy::SecretString> {
    let specific = format!(
        "SIGNALBOX_GITOPS_TOKEN_{}",
        env.name.as_str().to_ascii_uppercase().replace('-', "_")
    );
    std::env::var(&specific)
        .or_else(|_| std::env::var("SIGNALBOX_GITOPS_TOKEN"))
        .map(secrecy::SecretString::from)
        .map_err(|_| {
            anyhow::anyhow!(
                "environment {} delivers to {}: set {specific} (or SIGNALBOX_GITOPS_TOKEN) to a \
                 token that may push branches and open pull requests",
                env.name,
                env.gitops.forge.as_deref().unwrap_or_default()
            )
        })
}

/// The GitHub App private key (PEM) of an environment: `SIGNALBOX_GITOPS_APP_KEY_<ENV>`, else
/// `SIGNALBOX_GITOPS_APP_KEY`. Never logged.
fn app_key_of(env: &mesh::catalog::Environment) -> anyhow::Result<secrecy::SecretString> {
    let specific = format!(
        "SIGNALBOX_GITOPS_APP_KEY_{}",
        env.name.as_str().to_ascii_uppercase().replace('-', "_")
    );
    std::env::var(&specific)
        .or_else(|_| std::env::var("SIGNALBOX_GITOPS_APP_KEY"))
        .map(secrecy::SecretString::from)
        .map_err(|_| {
            anyhow::anyhow!(
                "environment {} signs in to GitHub as an App: set {specific} (or \
                 SIGNALBOX_GITOPS_APP_KEY) to the App's private key (PEM)",
                env.name
            )
        })
}

/// The branch of a request: deterministic, so every attempt finds what the previous one made.
pub fn branch_name(environment: &str, request: uuid::Uuid) -> String {
    format!("signalbox/{environment}/{}", request.simple())
}
