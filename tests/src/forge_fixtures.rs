//! What the forge tests share: the repository and branch they publish to, the change they
//! publish, and the check that a forge reads open, merged and closed pull requests.

use backend::forge::{ChangeSet, Forge, PullRef, PullState};
use serde_json::Value;
use wiremock::ResponseTemplate;

pub const REPOSITORY: &str = "platform/mesh-config";
pub const BRANCH: &str = "signalbox/dev/0123456789abcdef0123456789abcdef";

/// `200 OK` with a JSON body.
pub fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// A change of `dev/` holding `files` (path, contents).
pub fn change(
    files: &[(&str, &str)],
    title: &str,
    labels: &[&str],
    reviewers: &[&str],
) -> ChangeSet {
    let owned = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
    ChangeSet {
        repository: REPOSITORY.to_owned(),
        base_branch: "main".to_owned(),
        branch: BRANCH.to_owned(),
        root: "dev".to_owned(),
        files: files
            .iter()
            .map(|(path, contents)| mesh::RenderedFile {
                path: (*path).to_owned(),
                contents: (*contents).to_owned(),
            })
            .collect(),
        title: title.to_owned(),
        body: "| Request | ... |".to_owned(),
        labels: owned(labels),
        reviewers: owned(reviewers),
    }
}

/// The recorded pull request `number` of [`BRANCH`].
pub fn pull_ref(number: i64) -> PullRef {
    PullRef {
        repository: REPOSITORY.to_owned(),
        base_branch: "main".to_owned(),
        branch: BRANCH.to_owned(),
        number: Some(number),
        head_sha: "commit1".to_owned(),
    }
}

/// The forge's fake answers pull request 1 as open, 2 as merged at `m2`, 3 as closed.
pub async fn assert_reads_open_merged_closed(forge: &dyn Forge) {
    assert_eq!(
        forge.state(&pull_ref(1)).await.expect("state"),
        PullState::Open
    );
    assert_eq!(
        forge.state(&pull_ref(2)).await.expect("state"),
        PullState::Merged {
            sha: Some("m2".to_owned())
        }
    );
    assert_eq!(
        forge.state(&pull_ref(3)).await.expect("state"),
        PullState::Closed
    );
}
