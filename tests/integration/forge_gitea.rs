//! The Gitea/Forgejo forge's real client code against a fake Gitea (wiremock) with the API v1's
//! documented shapes: one "change files" commit on a new branch and a labelled pull request; an
//! answer lost once the pull request was created, after which the retry reuses branch and pull
//! request; a branch left on an older base replaced; errors that say whether to retry.

use std::time::Duration;

use backend::forge::{ChangeSet, FileStatus, Forge, ForgeError, Gitea, Published, blob_id};
use base64::Engine as _;
use secrecy::SecretString;
use serde_json::{Value, json};
use signalbox_tests::forge_fixtures::{self as fixtures, BRANCH, ok};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REPO: &str = "/repos/platform/mesh-config";
const KEPT: &str = "kind: Kept\n";
const OLD: &str = "kind: Old\n";

fn change() -> ChangeSet {
    fixtures::change(
        &[
            ("dev/kept.yaml", KEPT),
            (
                "dev/old.yaml",
                "kind: Changed
",
            ),
        ],
        "Change /orders for team-a in dev",
        &["mesh"],
        &[],
    )
}

fn gitea(server: &MockServer, timeout: Duration) -> Gitea {
    Gitea::new(&server.uri(), SecretString::from("gt-token"), timeout)
}

fn pull_json() -> Value {
    json!({"number": 4, "state": "open", "merged": false, "html_url": "https://gitea.example/platform/mesh-config/pulls/4", "head": {"ref": BRANCH}})
}

async fn mount_base(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/branches/main")))
        .and(header("authorization", "token gt-token"))
        .respond_with(ok(json!({"name": "main", "commit": {"id": "base1"}})))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/trees/base1")))
        .respond_with(ok(
            json!({"sha": "base1", "truncated": false, "page": 1, "tree": [
                {"path": "dev/kept.yaml", "type": "blob", "sha": blob_id(KEPT)},
                {"path": "dev/old.yaml", "type": "blob", "sha": "oldblob"},
                {"path": "prod/x.yaml", "type": "blob", "sha": "prodblob"}
            ]}),
        ))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/blobs/oldblob")))
        .respond_with(ok(json!({"sha": "oldblob", "encoding": "base64", "content": base64::engine::general_purpose::STANDARD.encode(OLD)})))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/labels")))
        .respond_with(ok(
            json!([{"id": 31, "name": "mesh"}, {"id": 32, "name": "other"}]),
        ))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_change_becomes_one_commit_on_a_new_branch_and_a_labelled_pull_request() {
    let server = MockServer::start().await;
    mount_base(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/branches/{BRANCH}")))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"message": "branch not found"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/contents")))
        .and(body_partial_json(
            json!({"branch": "main", "new_branch": BRANCH}),
        ))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"commit": {"sha": "commit1"}, "files": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/pulls")))
        .respond_with(ok(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/pulls")))
        .and(body_partial_json(
            json!({"head": BRANCH, "base": "main", "labels": [31]}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(pull_json()))
        .expect(1)
        .mount(&server)
        .await;

    let Published::Pull(pull) = gitea(&server, Duration::from_secs(5))
        .publish(&change())
        .await
        .expect("publishes")
    else {
        panic!("a pull request")
    };
    assert_eq!((pull.number, pull.head_sha.as_str()), (Some(4), "commit1"));
    let files: Vec<(&str, FileStatus)> = pull
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.status))
        .collect();
    assert_eq!(
        files,
        [("dev/old.yaml", FileStatus::Modified)],
        "the unchanged file is left out"
    );
    assert_eq!(pull.files[0].previous.as_deref(), Some(OLD));
    let bodies: Vec<Value> = server
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .filter(|r| r.url.path().ends_with("/contents"))
        .map(|r| serde_json::from_slice(&r.body).expect("json"))
        .collect();
    let operation = &bodies[0]["files"][0];
    assert_eq!(operation["operation"], "update");
    assert_eq!(
        operation["sha"], "oldblob",
        "an update names the blob it replaces"
    );
}

#[tokio::test]
async fn after_an_answer_lost_once_the_pull_request_was_created_the_retry_reuses_it() {
    let server = MockServer::start().await;
    mount_base(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/branches/{BRANCH}")))
        .respond_with(ResponseTemplate::new(404))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/branches/{BRANCH}")))
        .respond_with(ok(json!({"name": BRANCH, "commit": {"id": "commit1"}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/commits/commit1")))
        .respond_with(ok(json!({"sha": "commit1", "parents": [{"sha": "base1"}]})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/contents")))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"commit": {"sha": "commit1"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/pulls")))
        .respond_with(ok(json!([])))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).and(path(format!("{REPO}/pulls")))
        .respond_with(ok(json!([{"number": 2, "html_url": "u2", "state": "open", "head": {"ref": "someone-else"}}, pull_json()])))
        .mount(&server).await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/pulls")))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(pull_json())
                .set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let forge = gitea(&server, Duration::from_millis(800));
    assert!(matches!(
        forge.publish(&change()).await,
        Err(ForgeError::Transient { .. })
    ));
    let Published::Pull(pull) = forge.publish(&change()).await.expect("the retry publishes") else {
        panic!("a pull request")
    };
    assert_eq!((pull.number, pull.head_sha.as_str()), (Some(4), "commit1"));
}

#[tokio::test]
async fn a_branch_left_on_an_older_base_is_replaced() {
    let server = MockServer::start().await;
    mount_base(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/branches/{BRANCH}")))
        .respond_with(ok(json!({"name": BRANCH, "commit": {"id": "stale"}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/commits/stale")))
        .respond_with(ok(json!({"sha": "stale", "parents": [{"sha": "base0"}]})))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("{REPO}/branches/{BRANCH}")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/contents")))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"commit": {"sha": "commit2"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/pulls")))
        .respond_with(ok(json!([pull_json()])))
        .mount(&server)
        .await;
    let Published::Pull(pull) = gitea(&server, Duration::from_secs(5))
        .publish(&change())
        .await
        .expect("publishes")
    else {
        panic!("a pull request")
    };
    assert_eq!(pull.head_sha, "commit2");
}

#[tokio::test]
async fn errors_say_whether_to_retry_and_states_are_read() {
    let server = MockServer::start().await;
    let main = format!("{REPO}/branches/main");
    Mock::given(method("GET"))
        .and(path(&main))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"message": "internal error"})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(&main))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "5")
                .set_body_json(json!({"message": "slow down"})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(&main))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"message": "token does not have write access"})),
        )
        .mount(&server)
        .await;
    for (number, merged, state) in [
        (1, false, "open"),
        (2, true, "closed"),
        (3, false, "closed"),
    ] {
        Mock::given(method("GET")).and(path(format!("{REPO}/pulls/{number}")))
            .respond_with(ok(json!({"number": number, "merged": merged, "state": state, "html_url": "u", "merge_commit_sha": "m2"})))
            .mount(&server).await;
    }
    let forge = gitea(&server, Duration::from_secs(5));
    match forge.publish(&change()).await {
        Err(ForgeError::Transient {
            message,
            retry_after: None,
        }) => assert!(message.contains("500"), "{message}"),
        other => panic!("{other:?}"),
    }
    match forge.publish(&change()).await {
        Err(ForgeError::Transient { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(5)))
        }
        other => panic!("{other:?}"),
    }
    match forge.publish(&change()).await {
        Err(ForgeError::Permanent(message)) => {
            assert!(message.contains("lacks permission"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    fixtures::assert_reads_open_merged_closed(&forge).await;
}
