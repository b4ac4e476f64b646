//! The GitLab forge's real client code against a fake GitLab (wiremock) answering with the REST
//! API v4's documented shapes: one commit with create/update/delete actions and a merge request;
//! a 500, a 429 with `Retry-After`, a refused token; and an answer lost once the merge request
//! was created, after which the retry reuses the branch and the merge request.

use std::time::Duration;

use backend::forge::{ChangeSet, FileStatus, Forge, ForgeError, GitLab, Published, blob_id};
use base64::Engine as _;
use secrecy::SecretString;
use serde_json::{Value, json};
use signalbox_tests::forge_fixtures::{self as fixtures, BRANCH, ok};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PROJECT: &str = "/projects/platform%2Fmesh-config";
const BRANCH_IN_URL: &str = "signalbox%2Fdev%2F0123456789abcdef0123456789abcdef";
const KEPT: &str = "kind: Kept\n";
const OLD: &str = "kind: Old\n";

fn change() -> ChangeSet {
    fixtures::change(
        &[
            ("dev/kept.yaml", KEPT),
            (
                "dev/new.yaml",
                "kind: New
",
            ),
        ],
        "Add /orders for team-a in dev",
        &["mesh", "signalbox"],
        &["platform-lead"],
    )
}

fn gitlab(server: &MockServer, timeout: Duration) -> GitLab {
    GitLab::new(&server.uri(), SecretString::from("gl-token"), timeout)
}

fn merge_request() -> Value {
    json!({"iid": 12, "state": "opened", "web_url": "https://gitlab.example/platform/mesh-config/-/merge_requests/12"})
}

async fn mount_base(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/repository/branches/main")))
        .and(header("private-token", "gl-token"))
        .respond_with(ok(
            json!({"name": "main", "commit": {"id": "base1", "parent_ids": []}}),
        ))
        .mount(server)
        .await;
    // The folder's listing comes in two pages.
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/repository/tree")))
        .and(query_param("path", "dev"))
        .and(query_param("page", "1"))
        .respond_with(
            ok(json!([{"id": blob_id(KEPT), "path": "dev/kept.yaml", "type": "blob", "name": "kept.yaml", "mode": "100644"}]))
                .insert_header("x-next-page", "2"),
        )
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/repository/tree")))
        .and(query_param("page", "2"))
        .respond_with(
            ok(json!([
                {"id": "oldblob", "path": "dev/old.yaml", "type": "blob", "name": "old.yaml", "mode": "100644"},
                {"id": "sub", "path": "dev/team-a", "type": "tree", "name": "team-a", "mode": "040000"}
            ]))
            .insert_header("x-next-page", ""),
        )
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/repository/blobs/oldblob")))
        .respond_with(ok(json!({"sha": "oldblob", "encoding": "base64", "content": base64::engine::general_purpose::STANDARD.encode(OLD)})))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "{PROJECT}/repository/branches/{BRANCH_IN_URL}"
        )))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"message": "404 Branch Not Found"})),
        )
        .up_to_n_times(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PROJECT}/repository/commits")))
        .and(body_partial_json(
            json!({"branch": BRANCH, "start_sha": "base1", "force": false}),
        ))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": "commit1", "parent_ids": ["base1"]})),
        )
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_change_becomes_one_commit_and_a_merge_request() {
    let server = MockServer::start().await;
    mount_base(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/merge_requests")))
        .and(query_param("source_branch", BRANCH))
        .respond_with(ok(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PROJECT}/merge_requests")))
        .and(body_partial_json(
            json!({"source_branch": BRANCH, "target_branch": "main", "labels": "mesh,signalbox"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(merge_request()))
        .expect(1)
        .mount(&server)
        .await;

    Mock::given(method("GET"))
        .and(path("/users"))
        .and(query_param("username", "platform-lead"))
        .respond_with(ok(json!([{"id": 42, "username": "platform-lead"}])))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("{PROJECT}/merge_requests/12")))
        .and(body_partial_json(json!({"reviewer_ids": [42]})))
        .respond_with(ok(merge_request()))
        .expect(1)
        .mount(&server)
        .await;
    let published = gitlab(&server, Duration::from_secs(5))
        .publish(&change())
        .await
        .expect("publishes");
    let Published::Pull(pull) = published else {
        panic!("{published:?}")
    };
    assert_eq!(pull.number, Some(12));
    assert_eq!(pull.head_sha, "commit1");
    let files: Vec<(&str, FileStatus)> = pull
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.status))
        .collect();
    assert_eq!(
        files,
        [
            ("dev/new.yaml", FileStatus::Added),
            ("dev/old.yaml", FileStatus::Deleted)
        ]
    );
    assert_eq!(pull.files[1].previous.as_deref(), Some(OLD));

    let commits: Vec<Value> = server
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .filter(|r| r.url.path().ends_with("/repository/commits"))
        .map(|r| serde_json::from_slice(&r.body).expect("json"))
        .collect();
    let actions: Vec<(&str, &str)> = commits[0]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap_or(""),
                a["file_path"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [("create", "dev/new.yaml"), ("delete", "dev/old.yaml")]
    );
}

#[tokio::test]
async fn after_an_answer_lost_once_the_merge_request_was_created_the_retry_reuses_it() {
    let server = MockServer::start().await;
    mount_base(&server).await;
    Mock::given(method("GET"))
        .and(path(format!(
            "{PROJECT}/repository/branches/{BRANCH_IN_URL}"
        )))
        .respond_with(ok(
            json!({"name": BRANCH, "commit": {"id": "commit1", "parent_ids": ["base1"]}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/merge_requests")))
        .respond_with(ok(json!([])))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{PROJECT}/merge_requests")))
        .respond_with(ok(json!([merge_request()])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PROJECT}/merge_requests")))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(merge_request())
                .set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let forge = gitlab(&server, Duration::from_millis(800));
    let first = forge.publish(&change()).await;
    assert!(
        matches!(first, Err(ForgeError::Transient { .. })),
        "{first:?}"
    );
    let Published::Pull(pull) = forge.publish(&change()).await.expect("the retry publishes") else {
        panic!("a merge request")
    };
    assert_eq!((pull.number, pull.head_sha.as_str()), (Some(12), "commit1"));
    // `expect(1)` on the commit and the merge request is checked as the server drops.
}

#[tokio::test]
async fn errors_say_whether_to_retry_and_how_long_to_wait() {
    let server = MockServer::start().await;
    let main = format!("{PROJECT}/repository/branches/main");
    Mock::given(method("GET"))
        .and(path(&main))
        .respond_with(
            ResponseTemplate::new(502).set_body_json(json!({"message": "502 Bad Gateway"})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(&main))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "11")
                .set_body_json(json!({"message": "Retry later"})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(&main))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "401 Unauthorized"})),
        )
        .mount(&server)
        .await;
    let forge = gitlab(&server, Duration::from_secs(5));
    assert!(matches!(
        forge.publish(&change()).await,
        Err(ForgeError::Transient {
            retry_after: None,
            ..
        })
    ));
    match forge.publish(&change()).await {
        Err(ForgeError::Transient { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(11)))
        }
        other => panic!("{other:?}"),
    }
    match forge.publish(&change()).await {
        Err(ForgeError::Permanent(message)) => {
            assert!(message.contains("check the forge token"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_state_of_a_merge_request_is_open_merged_or_closed() {
    let server = MockServer::start().await;
    for (iid, state) in [(1, "opened"), (2, "merged"), (3, "closed")] {
        Mock::given(method("GET"))
            .and(path(format!("{PROJECT}/merge_requests/{iid}")))
            .respond_with(ok(
                json!({"iid": iid, "state": state, "web_url": "u", "merge_commit_sha": "m2"}),
            ))
            .mount(&server)
            .await;
    }
    let forge = gitlab(&server, Duration::from_secs(5));
    fixtures::assert_reads_open_merged_closed(&forge).await;
}
