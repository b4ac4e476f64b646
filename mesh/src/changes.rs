//! What a pull request changes: two states of the GitOps repository (see
//! [`crate::plan::render_state`]) compared file by file, and each changed file as a line diff, the
//! way a pull request's "Files changed" tab shows it.

use serde::{Deserialize, Serialize};
use similar::{ChangeTag, TextDiff};

use crate::plan::Plan;

/// How one line of a file diff reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LineChange {
    /// Unchanged context.
    Same,
    /// Added by the change.
    Added,
    /// Removed by the change.
    Removed,
}

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    pub change: LineChange,
    pub text: String,
}

/// Whether a file is new, changed or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FileStatus {
    Added,
    Modified,
    Removed,
}

impl FileStatus {
    /// The word a pull request uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Modified => "modified",
            Self::Removed => "removed",
        }
    }
}

/// One file the change touches, with its whole text after the change and the diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: String,
    pub status: FileStatus,
    /// The file after the change (empty when removed).
    pub contents: String,
    pub lines: Vec<DiffLine>,
}

/// The files that differ between two states, in path order.
pub fn changes(before: &Plan, after: &Plan) -> Vec<FileChange> {
    let mut paths: Vec<&str> = before
        .files
        .iter()
        .chain(&after.files)
        .map(|file| file.path.as_str())
        .collect();
    paths.sort_unstable();
    paths.dedup();
    let find = |plan: &'_ Plan, path: &str| -> Option<String> {
        plan.files
            .iter()
            .find(|file| file.path == path)
            .map(|file| file.contents.clone())
    };
    paths
        .into_iter()
        .filter_map(|path| {
            let old = find(before, path);
            let new = find(after, path);
            let status = match (&old, &new) {
                (None, Some(_)) => FileStatus::Added,
                (Some(_), None) => FileStatus::Removed,
                (Some(a), Some(b)) if a != b => FileStatus::Modified,
                _ => return None,
            };
            let old = old.unwrap_or_default();
            let new = new.unwrap_or_default();
            Some(FileChange {
                path: path.to_owned(),
                status,
                lines: diff_lines(&old, &new),
                contents: new,
            })
        })
        .collect()
}

/// A line diff of two texts (every line, unchanged ones as context).
pub fn diff_lines(old: &str, new: &str) -> Vec<DiffLine> {
    TextDiff::from_lines(old, new)
        .iter_all_changes()
        .map(|change| DiffLine {
            change: match change.tag() {
                ChangeTag::Equal => LineChange::Same,
                ChangeTag::Insert => LineChange::Added,
                ChangeTag::Delete => LineChange::Removed,
            },
            text: change.value().trim_end_matches('\n').to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::RenderedFile;

    fn plan(files: &[(&str, &str)]) -> Plan {
        Plan {
            files: files
                .iter()
                .map(|(path, contents)| RenderedFile {
                    path: (*path).to_owned(),
                    contents: (*contents).to_owned(),
                })
                .collect(),
            ..Plan::default()
        }
    }

    #[test]
    fn unchanged_files_are_left_out_and_the_rest_say_how_they_changed() {
        let before = plan(&[
            ("a.yaml", "x: 1\n"),
            ("b.yaml", "y: 1\n"),
            ("c.yaml", "z\n"),
        ]);
        let after = plan(&[
            ("a.yaml", "x: 1\n"),
            ("b.yaml", "y: 2\n"),
            ("d.yaml", "w\n"),
        ]);
        let found: Vec<(String, FileStatus)> = changes(&before, &after)
            .into_iter()
            .map(|c| (c.path, c.status))
            .collect();
        assert_eq!(
            found,
            vec![
                ("b.yaml".to_owned(), FileStatus::Modified),
                ("c.yaml".to_owned(), FileStatus::Removed),
                ("d.yaml".to_owned(), FileStatus::Added),
            ]
        );
    }

    #[test]
    fn a_modified_file_marks_only_the_lines_that_changed() {
        let lines = diff_lines("a\nb\nc\n", "a\nB\nc\n");
        let marked: Vec<(LineChange, &str)> =
            lines.iter().map(|l| (l.change, l.text.as_str())).collect();
        assert_eq!(
            marked,
            vec![
                (LineChange::Same, "a"),
                (LineChange::Removed, "b"),
                (LineChange::Added, "B"),
                (LineChange::Same, "c"),
            ]
        );
    }
}
