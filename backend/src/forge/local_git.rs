//! A git repository on disk as the forge: the demo's, and for teams that review elsewhere. The
//! "pull request" is the request's branch; it counts as merged once its commit is on the base
//! branch (`git merge signalbox/dev/…`), and as closed when the branch is deleted unmerged.
//!
//! It drives the git command line (present wherever git is) through plumbing commands only —
//! a temporary index, `commit-tree`, `update-ref` with the expected old value — so it never
//! touches a work tree someone may have checked out, and two workers never overwrite each other's
//! branch unseen.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{
    ChangeSet, ChangedFile, FileStatus, Forge, ForgeError, Published, PullRef, PullRequest,
    PullState,
};

const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

/// A local git repository; created (with a first empty commit on the base branch) on first use.
#[derive(Debug, Clone)]
pub struct LocalGit {
    path: PathBuf,
}

impl LocalGit {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs git in the repository; `Err` carries git's own message.
    async fn git(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        index: Option<&Path>,
    ) -> Result<Output, ForgeError> {
        let mut command = Command::new("git");
        command
            .arg("-C")
            .arg(&self.path)
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "core.hooksPath=/dev/null",
            ])
            .args(args)
            .env("GIT_AUTHOR_NAME", "Signalbox")
            .env("GIT_AUTHOR_EMAIL", "signalbox@localhost")
            .env("GIT_COMMITTER_NAME", "Signalbox")
            .env("GIT_COMMITTER_EMAIL", "signalbox@localhost")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(index) = index {
            command.env("GIT_INDEX_FILE", index);
        }
        let mut child = command
            .spawn()
            .map_err(|e| ForgeError::transient(format!("running git: {e}")))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input)
                .await
                .map_err(|e| ForgeError::transient(format!("writing to git: {e}")))?;
            drop(pipe);
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| ForgeError::transient(format!("running git: {e}")))?;
        let raw = String::from_utf8_lossy(&out.stdout).into_owned();
        Ok(Output {
            success: out.status.success(),
            stdout: raw.trim().to_owned(),
            raw,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }

    /// Runs git and insists on success.
    async fn run(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        index: Option<&Path>,
    ) -> Result<String, ForgeError> {
        let out = self.git(args, stdin, index).await?;
        if out.success {
            Ok(out.stdout)
        } else {
            Err(ForgeError::transient(format!(
                "git {} in {}: {}",
                args.first().copied().unwrap_or_default(),
                self.path.display(),
                out.stderr
            )))
        }
    }

    /// The commit a ref points at, if the ref exists.
    async fn resolve(&self, reference: &str) -> Result<Option<String>, ForgeError> {
        let spec = format!("{reference}^{{commit}}");
        let out = self
            .git(&["rev-parse", "--verify", "--quiet", &spec], None, None)
            .await?;
        Ok(out.success.then_some(out.stdout))
    }

    /// Makes the repository and its base branch exist.
    async fn ensure(&self, base_branch: &str) -> Result<String, ForgeError> {
        let base_ref = format!("refs/heads/{base_branch}");
        if !self.path.join(".git").exists() && !self.path.join("HEAD").exists() {
            tokio::fs::create_dir_all(&self.path).await.map_err(|e| {
                ForgeError::Permanent(format!("creating {}: {e}", self.path.display()))
            })?;
            let head = format!("--initial-branch={base_branch}");
            self.run(&["init", "--quiet", &head], None, None).await?;
        }
        if let Some(sha) = self.resolve(&base_ref).await? {
            return Ok(sha);
        }
        let empty_tree = self.run(&["mktree"], Some(b""), None).await?;
        let first = self
            .run(
                &["commit-tree", &empty_tree, "-F", "-"],
                Some(b"Start the GitOps repository\n"),
                None,
            )
            .await?;
        // Only if nobody created the branch meanwhile.
        let _ = self
            .git(&["update-ref", &base_ref, &first, NO_COMMIT], None, None)
            .await?;
        self.resolve(&base_ref)
            .await?
            .ok_or_else(|| ForgeError::transient(format!("{base_ref} could not be created")))
    }

    /// Builds the tree of the base commit with the environment's folder replaced by `files`.
    async fn tree_for(&self, base: &str, change: &ChangeSet) -> Result<String, ForgeError> {
        let scratch = tempfile::tempdir()
            .map_err(|e| ForgeError::transient(format!("a temporary folder: {e}")))?;
        let index = scratch.path().join("index");
        let index = Some(index.as_path());
        // The base's files outside the environment's folder stay; everything inside is replaced.
        // (Plumbing only, so bare repositories work too.)
        let mut entries = String::new();
        if !change.root.is_empty() {
            self.run(&["read-tree", base], None, index).await?;
            let old = self
                .run(
                    &["ls-tree", "-r", "--name-only", base, "--", &change.root],
                    None,
                    None,
                )
                .await?;
            for path in old.lines() {
                entries.push_str(&format!("0 {NO_COMMIT}\t{path}\n"));
            }
        }
        // Write every file's blob in one `hash-object` call.
        let mut listing = String::new();
        for (i, file) in change.files.iter().enumerate() {
            let on_disk = scratch.path().join(format!("f{i}"));
            tokio::fs::write(&on_disk, &file.contents)
                .await
                .map_err(|e| ForgeError::transient(format!("writing a temporary file: {e}")))?;
            listing.push_str(&on_disk.to_string_lossy());
            listing.push('\n');
        }
        let blobs = if change.files.is_empty() {
            String::new()
        } else {
            self.run(
                &["hash-object", "-w", "--stdin-paths"],
                Some(listing.as_bytes()),
                None,
            )
            .await?
        };
        for (file, blob) in change.files.iter().zip(blobs.lines()) {
            entries.push_str(&format!("100644 {blob}\t{}\n", file.path));
        }
        if !entries.is_empty() {
            self.run(
                &["update-index", "--add", "--index-info"],
                Some(entries.as_bytes()),
                index,
            )
            .await?;
        }
        self.run(&["write-tree"], None, index).await
    }

    /// The files `head` changes against `base`, with the contents committed.
    async fn changed_files(
        &self,
        base: &str,
        head: &str,
        change: &ChangeSet,
    ) -> Result<Vec<ChangedFile>, ForgeError> {
        let listing = self
            .run(
                &[
                    "diff-tree",
                    "-r",
                    "--no-renames",
                    "--name-status",
                    base,
                    head,
                ],
                None,
                None,
            )
            .await?;
        let mut files = Vec::new();
        for line in listing.lines() {
            let Some((status, path)) = line.split_once('\t') else {
                continue;
            };
            let status = match status {
                "A" => FileStatus::Added,
                "D" => FileStatus::Deleted,
                _ => FileStatus::Modified,
            };
            let contents = (status != FileStatus::Deleted).then(|| {
                change
                    .files
                    .iter()
                    .find(|f| f.path == path)
                    .map(|f| f.contents.clone())
                    .unwrap_or_default()
            });
            files.push(ChangedFile {
                path: path.to_owned(),
                status,
                contents,
                previous: None,
            });
        }
        // The base's version of every modified or deleted file, in one `cat-file --batch`.
        let wanted: Vec<usize> = (0..files.len())
            .filter(|&i| files[i].status != FileStatus::Added)
            .collect();
        if !wanted.is_empty() {
            let mut input = String::new();
            for &i in &wanted {
                input.push_str(&format!("{base}:{}\n", files[i].path));
            }
            let out = self
                .git(&["cat-file", "--batch"], Some(input.as_bytes()), None)
                .await?;
            if !out.success {
                return Err(ForgeError::transient(format!(
                    "git cat-file: {}",
                    out.stderr
                )));
            }
            let mut rest = out.raw.as_str();
            for &i in &wanted {
                let Some((header, after)) = rest.split_once('\n') else {
                    break;
                };
                let size = header
                    .rsplit(' ')
                    .next()
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|_| !header.ends_with("missing"));
                match size.and_then(|n| after.get(..n).map(|body| (n, body))) {
                    Some((n, body)) => {
                        files[i].previous = Some(body.to_owned());
                        rest = after[n..].strip_prefix('\n').unwrap_or(&after[n..]);
                    }
                    None => rest = after,
                }
            }
        }
        Ok(files)
    }
}

struct Output {
    success: bool,
    /// Trimmed.
    stdout: String,
    /// As written.
    raw: String,
    stderr: String,
}

#[async_trait]
impl Forge for LocalGit {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn publish(&self, change: &ChangeSet) -> Result<Published, ForgeError> {
        let base = self.ensure(&change.base_branch).await?;
        let tree = self.tree_for(&base, change).await?;
        let base_tree = self
            .run(&["rev-parse", &format!("{base}^{{tree}}")], None, None)
            .await?;
        if tree == base_tree {
            return Ok(Published::AlreadyThere { base_sha: base });
        }
        let branch_ref = format!("refs/heads/{}", change.branch);
        let existing = self.resolve(&branch_ref).await?;
        let reusable = match &existing {
            Some(head) => {
                let head_tree = self
                    .run(&["rev-parse", &format!("{head}^{{tree}}")], None, None)
                    .await?;
                let parent = self.resolve(&format!("{head}^")).await?;
                head_tree == tree && parent.as_deref() == Some(base.as_str())
            }
            None => false,
        };
        let head = match (&existing, reusable) {
            (Some(head), true) => head.clone(),
            _ => {
                let message = format!("{}\n\n{}\n", change.title, change.body);
                let commit = self
                    .run(
                        &["commit-tree", &tree, "-p", &base, "-F", "-"],
                        Some(message.as_bytes()),
                        None,
                    )
                    .await?;
                let old = existing.as_deref().unwrap_or(NO_COMMIT);
                self.run(&["update-ref", &branch_ref, &commit, old], None, None)
                    .await
                    .map_err(|e| {
                        ForgeError::transient(format!(
                            "branch {} moved while it was being updated: {e}",
                            change.branch
                        ))
                    })?;
                commit
            }
        };
        let files = self.changed_files(&base, &head, change).await?;
        Ok(Published::Pull(PullRequest {
            number: None,
            url: None,
            head_sha: head,
            files,
        }))
    }

    async fn state(&self, pull: &PullRef) -> Result<PullState, ForgeError> {
        let base_ref = format!("refs/heads/{}", pull.base_branch);
        let base = self.ensure(&pull.base_branch).await?;
        let merged = self
            .git(
                &["merge-base", "--is-ancestor", &pull.head_sha, &base_ref],
                None,
                None,
            )
            .await?;
        if merged.success {
            return Ok(PullState::Merged { sha: Some(base) });
        }
        let branch_ref = format!("refs/heads/{}", pull.branch);
        Ok(match self.resolve(&branch_ref).await? {
            Some(_) => PullState::Open,
            None => PullState::Closed,
        })
    }
}
