//! The GitHub forge's real client code against a fake GitHub (wiremock) that answers with the
//! REST API's documented shapes: the happy path, a 500, a 429 with `Retry-After`, a timeout, a
//! refused token, and an answer lost right after the pull request was created, after which the
//! retry finds the branch and the pull request and reuses both.

use std::time::Duration;

use backend::forge::{
    ChangeSet, FileStatus, Forge, ForgeError, GitHub, Published, PullState, blob_id,
};
use base64::Engine as _;
use secrecy::SecretString;
use serde_json::{Value, json};
use signalbox_tests::forge_fixtures::{self as fixtures, BRANCH, ok};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REPO: &str = "/repos/platform/mesh-config";
const KEPT: &str = "apiVersion: v1\nkind: Kept\n";
const OLD: &str = "apiVersion: v1\nkind: Old\n";

fn change() -> ChangeSet {
    fixtures::change(
        &[
            ("dev/kept.yaml", KEPT),
            (
                "dev/new.yaml",
                "apiVersion: v1
kind: New
",
            ),
        ],
        "Add /orders for team-a in dev",
        &["mesh"],
        &["platform-lead"],
    )
}

fn github(server: &MockServer, timeout: Duration) -> GitHub {
    GitHub::new(&server.uri(), SecretString::from("t0ken"), timeout)
}

/// The base branch: `main` at `base1`, whose tree holds a file the change keeps as it is, one it
/// deletes, and one outside the environment's folder.
async fn mount_base(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/ref/heads/main")))
        .and(header("authorization", "Bearer t0ken"))
        .respond_with(ok(
            json!({"ref": "refs/heads/main", "object": {"sha": "base1", "type": "commit"}}),
        ))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/commits/base1")))
        .respond_with(ok(
            json!({"sha": "base1", "tree": {"sha": "tree0"}, "parents": []}),
        ))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/trees/tree0")))
        .and(query_param("recursive", "1"))
        .respond_with(ok(json!({"sha": "tree0", "truncated": false, "tree": [
            {"path": "README.md", "mode": "100644", "type": "blob", "sha": "readme"},
            {"path": "dev", "mode": "040000", "type": "tree", "sha": "devtree"},
            {"path": "dev/kept.yaml", "mode": "100644", "type": "blob", "sha": blob_id(KEPT)},
            {"path": "dev/old.yaml", "mode": "100644", "type": "blob", "sha": "oldblob"},
            {"path": "prod/kustomization.yaml", "mode": "100644", "type": "blob", "sha": "prodk"}
        ]})))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/blobs/oldblob")))
        .respond_with(ok(json!({
            "sha": "oldblob", "encoding": "base64",
            "content": base64::engine::general_purpose::STANDARD.encode(OLD)
        })))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/git/trees")))
        .and(body_partial_json(json!({"base_tree": "tree0"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sha": "tree1"})))
        .mount(server)
        .await;
}

/// The branch does not exist yet; creating the commit and the ref works once.
async fn mount_new_branch(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/ref/heads/{BRANCH}")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .up_to_n_times(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/git/commits")))
        .and(body_partial_json(
            json!({"tree": "tree1", "parents": ["base1"]}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sha": "commit1"})))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/git/refs")))
        .and(body_partial_json(
            json!({"ref": format!("refs/heads/{BRANCH}"), "sha": "commit1"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"ref": format!("refs/heads/{BRANCH}"), "object": {"sha": "commit1"}}),
        ))
        .expect(1)
        .mount(server)
        .await;
}

fn pull_json() -> Value {
    json!({
        "number": 7, "state": "open", "merged": false,
        "html_url": "https://github.example/platform/mesh-config/pull/7"
    })
}

#[tokio::test]
async fn a_change_becomes_one_commit_on_its_branch_and_a_labelled_pull_request() {
    let server = MockServer::start().await;
    mount_base(&server).await;
    mount_new_branch(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/pulls")))
        .and(query_param("head", format!("platform:{BRANCH}")))
        .respond_with(ok(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/pulls")))
        .and(body_partial_json(
            json!({"head": BRANCH, "base": "main", "title": "Add /orders for team-a in dev"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(pull_json()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/issues/7/labels")))
        .and(body_partial_json(json!({"labels": ["mesh"]})))
        .respond_with(ok(json!([{"name": "mesh"}])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/pulls/7/requested_reviewers")))
        .and(body_partial_json(json!({"reviewers": ["platform-lead"]})))
        .respond_with(ResponseTemplate::new(201).set_body_json(pull_json()))
        .expect(1)
        .mount(&server)
        .await;

    let published = github(&server, Duration::from_secs(5))
        .publish(&change())
        .await
        .expect("publishes");
    let Published::Pull(pull) = published else {
        panic!("{published:?}");
    };
    assert_eq!(pull.number, Some(7));
    assert_eq!(
        pull.url.as_deref(),
        Some("https://github.example/platform/mesh-config/pull/7")
    );
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
        ],
        "the unchanged file is left out, the file no longer rendered is deleted"
    );
    assert_eq!(pull.files[1].previous.as_deref(), Some(OLD));

    // The tree deletes dev/old.yaml, adds dev/new.yaml, and leaves prod/ and README.md alone.
    let trees: Vec<Value> = server
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .filter(|r| r.url.path().ends_with("/git/trees") && r.method.as_str() == "POST")
        .map(|r| serde_json::from_slice(&r.body).expect("json"))
        .collect();
    let entries = trees[0]["tree"].as_array().expect("entries");
    let paths: Vec<&str> = entries.iter().filter_map(|e| e["path"].as_str()).collect();
    assert_eq!(paths, ["dev/new.yaml", "dev/old.yaml"]);
    assert_eq!(entries[1]["sha"], Value::Null);
}

#[tokio::test]
async fn a_server_error_and_a_rate_limit_are_transient_and_a_rate_limit_says_how_long_to_wait() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/ref/heads/main")))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"message": "Server Error"})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/ref/heads/main")))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .set_body_json(json!({"message": "API rate limit exceeded"})),
        )
        .mount(&server)
        .await;
    let forge = github(&server, Duration::from_secs(5));
    match forge.publish(&change()).await {
        Err(ForgeError::Transient {
            message,
            retry_after: None,
        }) => {
            assert!(
                message.contains("500") && message.contains("Server Error"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    match forge.publish(&change()).await {
        Err(ForgeError::Transient {
            message,
            retry_after,
        }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert!(message.contains("rate limit"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_slow_forge_times_out_as_transient_and_a_refused_token_is_permanent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/ref/heads/main")))
        .respond_with(ok(json!({"object": {"sha": "base1"}})).set_delay(Duration::from_secs(3)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/ref/heads/main")))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials"})),
        )
        .mount(&server)
        .await;
    let forge = github(&server, Duration::from_millis(300));
    match forge.publish(&change()).await {
        Err(ForgeError::Transient { message, .. }) => {
            assert!(message.contains("in time"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    match forge.publish(&change()).await {
        Err(ForgeError::Permanent(message)) => {
            assert!(
                message.contains("401") && message.contains("check the forge token"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn after_an_answer_lost_once_the_pull_request_was_created_the_retry_reuses_it() {
    let server = MockServer::start().await;
    mount_base(&server).await;
    mount_new_branch(&server).await;
    // Second attempt: the branch exists, at the commit the first attempt made.
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/ref/heads/{BRANCH}")))
        .respond_with(ok(json!({"object": {"sha": "commit1"}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/commits/commit1")))
        .respond_with(ok(
            json!({"sha": "commit1", "tree": {"sha": "tree1"}, "parents": [{"sha": "base1"}]}),
        ))
        .mount(&server)
        .await;
    // No pull request yet on the first look; the one created by the first attempt afterwards.
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/pulls")))
        .and(query_param("head", format!("platform:{BRANCH}")))
        .respond_with(ok(json!([])))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/pulls")))
        .and(query_param("head", format!("platform:{BRANCH}")))
        .respond_with(ok(json!([pull_json()])))
        .mount(&server)
        .await;
    // GitHub creates the pull request, but the answer never arrives in time.
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
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/issues/7/labels")))
        .respond_with(ok(json!([])))
        .mount(&server)
        .await;

    let forge = github(&server, Duration::from_millis(800));
    let first = forge.publish(&change()).await;
    assert!(
        matches!(first, Err(ForgeError::Transient { .. })),
        "{first:?}"
    );
    let second = forge.publish(&change()).await.expect("the retry publishes");
    let Published::Pull(pull) = second else {
        panic!("{second:?}");
    };
    assert_eq!(pull.number, Some(7));
    assert_eq!(pull.head_sha, "commit1", "the branch's commit is reused");
    // `expect(1)` on the commit, the ref and the pull request is checked as the server drops.
}

#[tokio::test]
async fn the_state_of_a_pull_request_is_open_merged_or_closed() {
    let server = MockServer::start().await;
    for (number, body) in [
        (
            1,
            json!({"number": 1, "state": "open", "merged": false, "html_url": "u"}),
        ),
        (
            2,
            json!({"number": 2, "state": "closed", "merged": true, "merge_commit_sha": "m2", "html_url": "u"}),
        ),
        (
            3,
            json!({"number": 3, "state": "closed", "merged": false, "html_url": "u"}),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("{REPO}/pulls/{number}")))
            .respond_with(ok(body))
            .mount(&server)
            .await;
    }
    let forge = github(&server, Duration::from_secs(5));
    fixtures::assert_reads_open_merged_closed(&forge).await;
}

#[tokio::test]
async fn as_a_github_app_each_call_uses_an_installation_token_made_from_a_signed_jwt() {
    let server = MockServer::start().await;
    let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let expires = expires
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats");
    Mock::given(method("POST"))
        .and(path("/app/installations/99/access_tokens"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"token": "ghs_installation", "expires_at": expires})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/pulls/7")))
        .and(header("authorization", "Bearer ghs_installation"))
        .respond_with(ok(pull_json()))
        .expect(2)
        .mount(&server)
        .await;
    let key = SecretString::from(include_str!("../fixtures/oidc-signing-key.pem").to_owned());
    let app = backend::forge::GitHubApp::new(12345, 99, &key).expect("an RSA key");
    let forge = GitHub::as_app(&server.uri(), app, Duration::from_secs(5));
    let pull = fixtures::pull_ref(7);
    assert_eq!(forge.state(&pull).await.expect("state"), PullState::Open);
    assert_eq!(
        forge.state(&pull).await.expect("state"),
        PullState::Open,
        "the installation token is kept while it is valid"
    );

    // The token request carried the App's JWT: RS256, issued by the App, short-lived.
    let requests = server.received_requests().await.expect("recorded");
    let jwt = requests
        .iter()
        .find(|r| r.url.path().ends_with("/access_tokens"))
        .and_then(|r| {
            r.headers
                .get("authorization")?
                .to_str()
                .ok()?
                .strip_prefix("Bearer ")
                .map(str::to_owned)
        })
        .expect("a bearer JWT");
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let decode = |part: &str| -> Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .expect("base64url"),
        )
        .expect("json")
    };
    assert_eq!(decode(parts[0])["alg"], "RS256");
    let claims = decode(parts[1]);
    assert_eq!(claims["iss"], "12345");
    let lifetime = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
    assert!(
        lifetime > 0 && lifetime <= 600,
        "GitHub accepts at most ten minutes: {lifetime}"
    );

    // A key that is not one is refused when the forge is set up.
    let refused = backend::forge::GitHubApp::new(1, 1, &SecretString::from("not a key".to_owned()))
        .err()
        .unwrap_or_default();
    assert!(refused.contains("not an RSA private key"), "{refused}");
}
