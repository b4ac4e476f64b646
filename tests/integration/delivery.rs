//! Delivery: an approval queues its delivery job in the same transaction; workers turn approved
//! requests into pull requests (here: branches of a real local git repository, and a fake
//! forge for failures), follow them until merged, regenerate the others when one merges, retry
//! with backoff and give up with the reason on the request.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use backend::auth::Roles;
use backend::forge::{Forge, Forges, LocalGit};
use backend::jobs::{RetryPolicy, Worker, WorkerSettings};
use backend::requests::{self, Actor, Decision, Operation, Submission};
use signalbox_tests::TestApp;
use signalbox_tests::fake_forge::{Failure, FakeForge};
use uuid::Uuid;

fn requester() -> Roles {
    Roles {
        requester_for: ["team-a".to_owned(), "team-b".to_owned()].into(),
        ..Roles::default()
    }
}

fn approver() -> Roles {
    Roles {
        approver_for_environments: ["dev".to_owned(), "prod".to_owned()].into(),
        ..Roles::default()
    }
}

fn admin() -> Roles {
    Roles {
        platform_admin: true,
        ..Roles::default()
    }
}

fn route(team: &str, path: &str) -> mesh::Request {
    mesh::Request::from_value(&serde_json::json!({
        "kind": "ApiRoute", "environment": "dev", "team": team,
        "host": "api.dev.example.com", "path": path, "match": "prefix",
        "target": {"namespace": team, "service": "orders", "port": 8080}
    }))
    .expect("a valid route")
}

/// Submits as Alice.
async fn submitted(app: &TestApp, request: mesh::Request) -> Result<Uuid, requests::WorkflowError> {
    let roles = requester();
    requests::submit(
        &app.pool,
        &app.catalog,
        Actor {
            subject: "alice",
            name: "Alice Requester",
            roles: &roles,
            origin: &backend::audit::Origin::NONE,
        },
        Submission {
            request,
            justification: "launch".to_owned(),
            key: Uuid::new_v4(),
            operation: Operation::Create,
            supersedes: None,
        },
    )
    .await
}

/// Submits as Alice and approves as Carol (dev needs one approval).
async fn approved(app: &TestApp, request: mesh::Request) -> Uuid {
    let id = submitted(app, request).await.expect("submitted");
    let roles = approver();
    let state = requests::decide(
        &app.pool,
        &app.catalog,
        Actor {
            subject: "carol",
            name: "Carol Approver",
            roles: &roles,
            origin: &backend::audit::Origin::NONE,
        },
        id,
        1,
        Decision::Approve,
        "looks right",
    )
    .await
    .expect("approved");
    assert_eq!(state, "approved");
    id
}

fn worker(app: &TestApp, forges: Forges, name: &str) -> Worker {
    worker_with(app, forges, name, 4)
}

fn worker_with(app: &TestApp, forges: Forges, name: &str, max_attempts: u32) -> Worker {
    Worker::new(
        app.pool.clone(),
        app.catalog.clone(),
        Arc::new(forges),
        WorkerSettings {
            name: name.to_owned(),
            lease: Duration::from_secs(2),
            // Tests make follow jobs due themselves ([`look_now`]), as a webhook would.
            follow_every: Duration::from_secs(3600),
            retry: RetryPolicy {
                max_attempts,
                base: Duration::from_millis(5),
                cap: Duration::from_millis(50),
            },
            public_url: "http://signalbox.test".to_owned(),
            ..WorkerSettings::default()
        },
    )
}

/// The local forge of the test app's `dev` (the demo's `.data/gitops`, under the app's folder).
fn local_forges(app: &TestApp) -> (Forges, std::path::PathBuf) {
    let forges = Forges::from_catalog(&app.catalog, app.gitops.path()).expect("forges build");
    (forges, app.gitops.path().join(".data/gitops"))
}

/// Makes every follow job due now: what a forge webhook or the next poll does.
async fn look_now(app: &TestApp) {
    sqlx::query("update jobs set run_after = now() where kind = 'follow' and done_at is null")
        .execute(&app.pool)
        .await
        .expect("follow jobs due");
}

/// Works jobs until none is due.
async fn drain(worker: &Worker) {
    for _ in 0..200 {
        if !worker.run_once().await.expect("a job runs") {
            return;
        }
    }
    panic!("jobs kept coming");
}

async fn state_of(app: &TestApp, id: Uuid) -> String {
    sqlx::query_scalar::<_, String>("select state from requests where id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("state reads")
}

/// `select count(*) …` with the request id as `$1`.
async fn count(pool: &sqlx::PgPool, sql: &str, id: Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn actions(app: &TestApp, id: Uuid) -> Vec<String> {
    sqlx::query_scalar::<_, String>(
        "select action from request_events where request_id = $1 order by id",
    )
    .bind(id)
    .fetch_all(&app.pool)
    .await
    .expect("events read")
}

/// The conflict check a request's `action` event recorded.
async fn checked(app: &TestApp, id: Uuid, action: &str) -> serde_json::Value {
    sqlx::query_scalar(
        "select checked from request_events where request_id = $1 and action = $2 \
         order by id desc limit 1",
    )
    .bind(id)
    .bind(action)
    .fetch_one(&app.pool)
    .await
    .unwrap_or_else(|error| panic!("no {action} event: {error}"))
}

pub(crate) fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=Platform",
            "-c",
            "user.email=platform@example.com",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn branch_of(id: Uuid) -> String {
    backend::forge::branch_name("dev", id)
}

/// Every file of `dev/` on `reference`, by path.
fn files_on(repo: &Path, reference: &str) -> std::collections::BTreeMap<String, String> {
    git(
        repo,
        &["ls-tree", "-r", "--name-only", reference, "--", "dev"],
    )
    .lines()
    .map(|path| {
        (
            path.to_owned(),
            git(repo, &["show", &format!("{reference}:{path}")]),
        )
    })
    .collect()
}

#[tokio::test]
async fn an_approval_queues_its_delivery_in_the_same_transaction_and_a_rejection_does_not() {
    let app = TestApp::spawn().await;
    let id = approved(&app, route("team-a", "/orders")).await;
    let jobs: Vec<(String, bool)> = sqlx::query_as(
        "select kind, done_at is not null from jobs where request_id = $1 and kind <> 'notify'",
    )
    .bind(id)
    .fetch_all(&app.pool)
    .await
    .expect("jobs read");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].0, "deliver");
    assert!(!jobs[0].1, "the job waits for a worker");

    // A rejected request gets no job.
    let roles = requester();
    let rejected = requests::submit(
        &app.pool,
        &app.catalog,
        Actor {
            subject: "alice",
            name: "Alice",
            roles: &roles,
            origin: &backend::audit::Origin::NONE,
        },
        Submission {
            request: route("team-a", "/billing"),
            justification: "billing".to_owned(),
            key: Uuid::new_v4(),
            operation: Operation::Create,
            supersedes: None,
        },
    )
    .await
    .expect("submitted");
    let roles = approver();
    requests::decide(
        &app.pool,
        &app.catalog,
        Actor {
            subject: "carol",
            name: "Carol",
            roles: &roles,
            origin: &backend::audit::Origin::NONE,
        },
        rejected,
        1,
        Decision::Reject,
        "not this quarter",
    )
    .await
    .expect("rejected");
    let count = count(
        &app.pool,
        "select count(*) from jobs where request_id = $1 and kind <> 'notify'",
        rejected,
    )
    .await;
    assert_eq!(count, 0);
    app.stop().await;
}

#[tokio::test]
async fn the_local_forge_commits_what_mesh_renders_and_the_merge_is_followed() {
    let app = TestApp::spawn().await;
    let id = approved(&app, route("team-a", "/orders")).await;
    let (forges, repo) = local_forges(&app);
    let worker = worker(&app, forges, "w1");
    drain(&worker).await;

    assert_eq!(state_of(&app, id).await, "pr_open");
    let branch = branch_of(id);
    let committed = files_on(&repo, &branch);
    let expected = mesh::render_environment(&app.catalog, "dev", &[route("team-a", "/orders")])
        .expect("dev exists")
        .expect("renders");
    let expected: std::collections::BTreeMap<String, String> = expected
        .files
        .into_iter()
        .map(|f| (f.path, f.contents))
        .collect();
    assert_eq!(
        committed, expected,
        "the branch holds exactly what mesh renders"
    );
    assert!(
        committed.contains_key("dev/kustomization.yaml"),
        "{:?}",
        committed.keys()
    );

    // Every kustomization lists every file and subfolder of its folder.
    for (path, contents) in &committed {
        let Some(dir) = path.strip_suffix("/kustomization.yaml") else {
            continue;
        };
        let listed: std::collections::BTreeSet<&str> = contents
            .lines()
            .filter_map(|l| l.strip_prefix("- "))
            .collect();
        let present: std::collections::BTreeSet<&str> = committed
            .keys()
            .filter_map(|p| p.strip_prefix(&format!("{dir}/")))
            .map(|rest| rest.split('/').next().unwrap_or(rest))
            .filter(|name| *name != "kustomization.yaml")
            .collect();
        assert_eq!(listed, present, "{path}");
    }

    // kubectl (where installed) builds the environment's folder as Argo CD would.
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok()
    {
        let checkout = tempfile::tempdir().expect("temp dir");
        git(
            &repo,
            &[
                "worktree",
                "add",
                "--detach",
                &checkout.path().to_string_lossy(),
                &branch,
            ],
        );
        let built = Command::new("kubectl")
            .args(["kustomize", "dev"])
            .current_dir(checkout.path())
            .output()
            .expect("kubectl runs");
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let objects = String::from_utf8_lossy(&built.stdout);
        let kinds = objects.lines().filter(|l| l.starts_with("kind: ")).count();
        let generated = committed
            .keys()
            .filter(|p| !p.ends_with("kustomization.yaml"))
            .count();
        assert_eq!(
            kinds, generated,
            "every generated object is built:\n{objects}"
        );
        git(
            &repo,
            &[
                "worktree",
                "remove",
                "--force",
                &checkout.path().to_string_lossy(),
            ],
        );
    }

    // The delivery is recorded with the files as committed.
    let (head, files): (String, serde_json::Value) =
        sqlx::query_as("select head_sha, files from deliveries where request_id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .expect("delivery recorded");
    assert_eq!(head, git(&repo, &["rev-parse", &branch]).trim());
    let paths: Vec<&str> = files
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("dev/istio-ingress/virtualservice-"))
            && paths.contains(&"dev/team-a/kustomization.yaml"),
        "{paths:?}"
    );

    // A platform engineer merges the branch; the follow job sees it.
    git(
        &repo,
        &["merge", "--no-ff", "-m", "Merge the orders route", &branch],
    );
    look_now(&app).await;
    drain(&worker).await;
    assert_eq!(state_of(&app, id).await, "merged");
    assert_eq!(
        actions(&app, id).await,
        ["submitted", "approved", "delivering", "pr_opened", "merged"]
    );
    // Rendering the pull request checked the request with everything merged (nothing yet).
    assert_eq!(
        checked(&app, id, "pr_opened").await,
        serde_json::json!({"merged": 0, "problems": []})
    );
    app.stop().await;
}

#[tokio::test]
async fn two_pull_requests_at_once_are_each_correct_and_the_second_is_regenerated_after_the_first_merges()
 {
    let app = TestApp::spawn().await;
    let first = approved(&app, route("team-a", "/orders")).await;
    let second = approved(&app, route("team-b", "/billing")).await;
    let (forges, repo) = local_forges(&app);
    let worker = worker(&app, forges, "w1");
    drain(&worker).await;
    assert_eq!(state_of(&app, first).await, "pr_open");
    assert_eq!(state_of(&app, second).await, "pr_open");
    let root = "dev/istio-ingress/virtualservice-api-dev-example-com-root.yaml";
    let root_path = |files: &std::collections::BTreeMap<String, String>| {
        files
            .iter()
            .find(|(p, _)| p.starts_with("dev/istio-ingress/virtualservice-"))
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| panic!("no root VirtualService besides {root}: {:?}", files.keys()))
    };
    let before = root_path(&files_on(&repo, &branch_of(second)));
    assert!(
        before.contains("/billing") && !before.contains("/orders"),
        "{before}"
    );

    git(
        &repo,
        &["merge", "--no-ff", "-m", "Merge orders", &branch_of(first)],
    );
    look_now(&app).await;
    drain(&worker).await;
    assert_eq!(state_of(&app, first).await, "merged");
    assert_eq!(state_of(&app, second).await, "pr_open");
    let after = root_path(&files_on(&repo, &branch_of(second)));
    assert!(
        after.contains("/billing") && after.contains("/orders"),
        "the second pull request keeps the first's route once it merged:\n{after}"
    );
    assert!(
        actions(&app, second)
            .await
            .contains(&"pr_updated".to_owned())
    );
    // Regenerating checked it again, now with the first merged.
    assert_eq!(
        checked(&app, second, "pr_updated").await,
        serde_json::json!({"merged": 1, "problems": []})
    );
    // It merges cleanly on top of the first.
    git(
        &repo,
        &[
            "merge",
            "--no-ff",
            "-m",
            "Merge billing",
            &branch_of(second),
        ],
    );
    look_now(&app).await;
    drain(&worker).await;
    assert_eq!(state_of(&app, second).await, "merged");
    app.stop().await;
}

#[tokio::test]
async fn publishing_again_after_a_lost_answer_reuses_the_branch() {
    let app = TestApp::spawn().await;
    let id = approved(&app, route("team-a", "/orders")).await;
    let (forges, repo) = local_forges(&app);
    let forge: Arc<dyn Forge> = forges.get("dev").expect("dev has a forge").clone();
    let worker = worker(&app, forges, "w1");
    drain(&worker).await;
    let head = git(&repo, &["rev-parse", &branch_of(id)]);

    // The same change published again (a retry after a crash) changes nothing.
    let local = LocalGit::new(&repo);
    assert_eq!(local.path(), repo.as_path());
    let change = backend::forge::ChangeSet {
        repository: ".data/gitops".to_owned(),
        base_branch: "main".to_owned(),
        branch: branch_of(id),
        root: "dev".to_owned(),
        files: mesh::render_environment(&app.catalog, "dev", &[route("team-a", "/orders")])
            .expect("dev")
            .expect("renders")
            .files,
        title: "again".to_owned(),
        body: String::new(),
        labels: Vec::new(),
        reviewers: Vec::new(),
    };
    let again = forge.publish(&change).await.expect("publishes");
    match again {
        backend::forge::Published::Pull(pull) => assert_eq!(pull.head_sha, head.trim()),
        other => panic!("{other:?}"),
    }
    assert_eq!(git(&repo, &["rev-parse", &branch_of(id)]), head);
    let branches = git(&repo, &["branch", "--list", "signalbox/*"]);
    assert_eq!(branches.lines().count(), 1, "{branches}");
    app.stop().await;
}

#[tokio::test]
async fn failures_are_retried_and_the_last_one_marks_the_request_with_its_reason() {
    let app = TestApp::spawn().await;
    let id = approved(&app, route("team-a", "/orders")).await;
    let mut forges = Forges::default();
    let forge = Arc::new(FakeForge::failing(|_| Failure::Before));
    forges.insert("dev", forge.clone());
    let worker = worker(&app, forges, "w1");
    for _ in 0..50 {
        worker.run_once().await.expect("runs");
        if state_of(&app, id).await == "delivery_failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state_of(&app, id).await, "delivery_failed");
    assert_eq!(
        forge.calls.load(std::sync::atomic::Ordering::SeqCst),
        4,
        "max_attempts"
    );
    let reason: String = sqlx::query_scalar(
        "select body from request_events where request_id = $1 and action = 'delivery_failed'",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .expect("the failure is on the timeline");
    assert!(
        reason.contains("500 Internal Server Error") && reason.contains("4 attempts"),
        "{reason}"
    );

    // Only a platform admin may retry; the retry queues a new delivery.
    let version: i32 = sqlx::query_scalar("select version from requests where id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("version");
    let roles = requester();
    let refused = backend::jobs::retry_delivery(
        &app.pool,
        Actor {
            subject: "alice",
            name: "Alice",
            roles: &roles,
            origin: &backend::audit::Origin::NONE,
        },
        id,
        version,
    )
    .await
    .expect_err("a requester may not retry");
    assert_eq!(
        refused.to_string(),
        "Only platform admins may retry a delivery"
    );
    let roles = admin();
    backend::jobs::retry_delivery(
        &app.pool,
        Actor {
            subject: "dave",
            name: "Dave Admin",
            roles: &roles,
            origin: &backend::audit::Origin::NONE,
        },
        id,
        version,
    )
    .await
    .expect("an admin retries");
    assert_eq!(state_of(&app, id).await, "approved");
    let open = count(
        &app.pool,
        "select count(*) from jobs where request_id = $1 and kind = 'deliver' and done_at is null",
        id,
    )
    .await;
    assert_eq!(open, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_and_then_delivered() {
    let app = TestApp::spawn().await;
    let id = approved(&app, route("team-a", "/orders")).await;
    let mut forges = Forges::default();
    let forge = Arc::new(FakeForge::failing(|call| {
        if call == 0 {
            Failure::RateLimited
        } else {
            Failure::None
        }
    }));
    forges.insert("dev", forge.clone());
    let worker = worker(&app, forges, "w1");
    // The two notifications (submitted, approved) come first, then the delivery.
    for _ in 0..3 {
        worker.run_once().await.expect("runs");
    }
    let (attempts, error): (i32, Option<String>) = sqlx::query_as(
        "select attempts, last_error from jobs where request_id = $1 and kind = 'deliver'",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .expect("job");
    assert_eq!(attempts, 1);
    assert_eq!(error.as_deref(), Some("429 Too Many Requests"));
    for _ in 0..50 {
        worker.run_once().await.expect("runs");
        if state_of(&app, id).await == "pr_open" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(state_of(&app, id).await, "pr_open");
    app.stop().await;
}

#[tokio::test]
async fn three_workers_and_200_approvals_with_failures_make_exactly_200_pull_requests() {
    let app = TestApp::spawn_with(|settings| settings.database.max_connections = 20).await;
    let mut ids = Vec::new();
    for n in 0..200 {
        ids.push(
            approved(
                &app,
                route(
                    if n % 2 == 0 { "team-a" } else { "team-b" },
                    &format!("/svc-{n}"),
                ),
            )
            .await,
        );
    }
    let forge = Arc::new(FakeForge::failing(|call| match call % 7 {
        1 => Failure::Before,
        3 => Failure::AfterOpening,
        _ => Failure::None,
    }));
    let mut handles = Vec::new();
    for n in 0..3 {
        let mut forges = Forges::default();
        forges.insert("dev", forge.clone());
        // Failures are injected on two calls in seven: enough attempts to outlast them.
        let worker = worker_with(&app, forges, &format!("w{n}"), 20);
        handles.push(tokio::spawn(async move {
            worker.run(std::future::pending()).await;
        }));
    }
    // Cut every database connection once, mid-run: no job may be lost.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let admin = sqlx::PgPool::connect(&app.database.url())
        .await
        .expect("connects");
    sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()")
        .execute(&admin)
        .await
        .expect("connections cut");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let open: i64 = sqlx::query_scalar("select count(*) from requests where state = 'pr_open'")
            .fetch_one(&admin)
            .await
            .expect("count");
        if open == 200 {
            break;
        }
        if std::time::Instant::now() > deadline {
            let states: Vec<(String, i64)> =
                sqlx::query_as("select state, count(*) from requests group by state")
                    .fetch_all(&admin)
                    .await
                    .expect("states");
            let jobs: Vec<(String, i32, Option<String>, bool)> = sqlx::query_as(
                "select kind, attempts, last_error, done_at is null from jobs j \
                 join requests r on r.id = j.request_id where r.state <> 'pr_open'",
            )
            .fetch_all(&admin)
            .await
            .expect("jobs");
            panic!("only {open} of 200 delivered: {states:?}; their jobs: {jobs:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for handle in handles {
        handle.abort();
    }
    let opened = forge.pull_requests();
    assert_eq!(opened.len(), 200, "one pull request per request");
    let recorded: Vec<(String, Option<i64>)> =
        sqlx::query_as("select branch, number from deliveries")
            .fetch_all(&admin)
            .await
            .expect("deliveries");
    assert_eq!(recorded.len(), 200);
    for (branch, number) in recorded {
        assert_eq!(
            opened.get(&branch).copied(),
            number,
            "{branch} recorded its pull request"
        );
    }
    for id in ids {
        let events = count(
            &admin,
            "select count(*) from request_events where request_id = $1 and action = 'pr_opened'",
            id,
        )
        .await;
        assert_eq!(events, 1, "{id} has one pr_opened event");
    }
    admin.close().await;
    app.stop().await;
}

fn signed(secret: &str, body: &str) -> String {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[tokio::test]
async fn a_signed_github_webhook_settles_the_pull_request_and_a_wrongly_signed_one_changes_nothing()
{
    let app = TestApp::spawn_with(|settings| {
        settings.delivery.webhook_secret = Some("hook-secret".to_owned().into());
        settings.environments[0].gitops.repository = Some("platform/mesh-config".to_owned());
    })
    .await;
    let id = approved(&app, route("team-a", "/orders")).await;
    let mut forges = Forges::default();
    forges.insert("dev", Arc::new(FakeForge::default()));
    drain(&worker(&app, forges, "w1")).await;
    assert_eq!(state_of(&app, id).await, "pr_open");

    let body = serde_json::json!({
        "action": "closed",
        "number": 1,
        "pull_request": {
            "number": 1, "state": "closed", "merged": true, "merge_commit_sha": "abc123def456",
            "head": {"ref": branch_of(id)}, "base": {"ref": "main"}
        },
        "repository": {"full_name": "platform/mesh-config"}
    })
    .to_string();
    let post = |signature: Option<String>| {
        let mut request = app
            .client
            .post(app.url("/webhooks/github"))
            .header("x-github-event", "pull_request")
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request.send()
    };

    for signature in [None, Some(signed("another-secret", &body))] {
        let refused = post(signature).await.expect("sent");
        assert_eq!(refused.status(), 401);
        let text = refused.text().await.expect("body");
        assert!(text.contains("X-Hub-Signature-256"), "{text}");
        assert_eq!(state_of(&app, id).await, "pr_open", "nothing changes");
    }

    let accepted = post(Some(signed("hook-secret", &body)))
        .await
        .expect("sent");
    assert_eq!(accepted.status(), 200);
    assert_eq!(state_of(&app, id).await, "merged");
    let merged: String = sqlx::query_scalar(
        "select body from request_events where request_id = $1 and action = 'merged'",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .expect("the merge is on the timeline");
    assert!(merged.contains("abc123def456"), "{merged}");
    let open_follows = count(
        &app.pool,
        "select count(*) from jobs where request_id = $1 and kind = 'follow' and done_at is null",
        id,
    )
    .await;
    assert_eq!(open_follows, 0, "nothing is left to poll");
    app.stop().await;
}

#[tokio::test]
async fn gitlab_and_gitea_webhooks_are_checked_and_settle_their_requests() {
    let app = TestApp::spawn_with(|settings| {
        settings.delivery.webhook_secret = Some("hook-secret".to_owned().into());
        settings.environments[0].gitops.repository = Some("platform/mesh-config".to_owned());
    })
    .await;
    let merged_on_gitlab = approved(&app, route("team-a", "/orders")).await;
    let closed_on_gitea = approved(&app, route("team-b", "/billing")).await;
    // Deliveries as each forge records them.
    let mut forges = Forges::default();
    forges.insert("dev", Arc::new(FakeForge::default()));
    drain(&worker(&app, forges, "w1")).await;
    for (id, forge) in [(merged_on_gitlab, "gitlab"), (closed_on_gitea, "gitea")] {
        sqlx::query("update deliveries set forge = $2 where request_id = $1")
            .bind(id)
            .bind(forge)
            .execute(&app.pool)
            .await
            .expect("forge set");
    }

    let gitlab_body = serde_json::json!({
        "object_kind": "merge_request",
        "project": {"path_with_namespace": "platform/mesh-config"},
        "object_attributes": {"action": "merge", "state": "merged", "iid": 3,
            "source_branch": branch_of(merged_on_gitlab), "merge_commit_sha": "feedface"}
    })
    .to_string();
    let gitlab = |token: &'static str| {
        app.client
            .post(app.url("/webhooks/gitlab"))
            .header("x-gitlab-event", "Merge Request Hook")
            .header("x-gitlab-token", token)
            .header("content-type", "application/json")
            .body(gitlab_body.clone())
            .send()
    };
    assert_eq!(gitlab("wrong").await.expect("sent").status(), 401);
    assert_eq!(state_of(&app, merged_on_gitlab).await, "pr_open");
    assert_eq!(gitlab("hook-secret").await.expect("sent").status(), 200);
    assert_eq!(state_of(&app, merged_on_gitlab).await, "merged");

    let gitea_body = serde_json::json!({
        "action": "closed",
        "pull_request": {"number": 5, "merged": false, "state": "closed",
            "head": {"ref": branch_of(closed_on_gitea)}},
        "repository": {"full_name": "platform/mesh-config"}
    })
    .to_string();
    let hex = |signature: String| signature.trim_start_matches("sha256=").to_owned();
    let gitea = |signature: String| {
        app.client
            .post(app.url("/webhooks/gitea"))
            .header("x-gitea-event", "pull_request")
            .header("x-gitea-signature", signature)
            .header("content-type", "application/json")
            .body(gitea_body.clone())
            .send()
    };
    let wrong = gitea(hex(signed("another-secret", &gitea_body)))
        .await
        .expect("sent");
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong
            .text()
            .await
            .expect("body")
            .contains("X-Gitea-Signature")
    );
    assert_eq!(state_of(&app, closed_on_gitea).await, "pr_open");
    let right = gitea(hex(signed("hook-secret", &gitea_body)))
        .await
        .expect("sent");
    assert_eq!(right.status(), 200);
    assert_eq!(state_of(&app, closed_on_gitea).await, "pr_closed");

    // A closed pull request frees its claim: another team may now ask for the path.
    let roles = requester();
    requests::submit(
        &app.pool,
        &app.catalog,
        Actor {
            subject: "alice",
            name: "Alice",
            roles: &roles,
            origin: &backend::audit::Origin::NONE,
        },
        Submission {
            request: route("team-a", "/billing"),
            justification: "the path is free again".to_owned(),
            key: Uuid::new_v4(),
            operation: Operation::Create,
            supersedes: None,
        },
    )
    .await
    .expect("the closed request no longer holds /billing");
    let said = actions(&app, closed_on_gitea).await;
    assert_eq!(said.last().map(String::as_str), Some("pr_closed"));
    app.stop().await;
}

#[tokio::test]
async fn request_events_are_posted_signed_to_the_matching_webhooks_and_retried() {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let app = TestApp::spawn().await;
    let receiver = MockServer::start().await;
    // The first post fails: the notification is retried.
    Mock::given(method("POST"))
        .and(path("/hooks/dev"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hooks/dev"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hooks/prod-only"))
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .mount(&receiver)
        .await;
    let notifier = backend::jobs::notify::Notifier::new(
        vec![
            backend::jobs::notify::Target {
                url: format!("{}/hooks/dev", receiver.uri()),
                environments: vec!["dev".to_owned()],
                teams: Vec::new(),
            },
            backend::jobs::notify::Target {
                url: format!("{}/hooks/prod-only", receiver.uri()),
                environments: vec!["prod".to_owned()],
                teams: Vec::new(),
            },
        ],
        Some("notify-secret".to_owned().into()),
        Duration::from_secs(5),
    );
    let id = approved(&app, route("team-a", "/orders")).await;
    let (forges, _) = local_forges(&app);
    let worker = worker(&app, forges, "w1").with_notifier(Arc::new(notifier));
    for _ in 0..50 {
        worker.run_once().await.expect("runs");
        let open = count(
            &app.pool,
            "select count(*) from jobs where request_id = $1 and kind = 'notify' and done_at is null",
            id,
        )
        .await;
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let received = receiver.received_requests().await.expect("recorded");
    let delivered: Vec<serde_json::Value> = received
        .iter()
        .filter(|r| r.url.path() == "/hooks/dev")
        .filter_map(|r| {
            let signature = r.headers.get("x-signalbox-signature")?.to_str().ok()?;
            assert_eq!(
                signature,
                backend::jobs::notify::signature(b"notify-secret", &r.body),
                "every post is signed"
            );
            serde_json::from_slice(&r.body).ok()
        })
        .collect();
    let mut events: Vec<&str> = delivered
        .iter()
        .filter_map(|p| p["event"].as_str())
        .collect();
    events.sort_unstable();
    events.dedup();
    assert_eq!(
        events,
        ["approved", "pr_opened", "submitted"],
        "{delivered:?}"
    );
    let approved_event = delivered
        .iter()
        .find(|p| p["event"] == "approved")
        .expect("the approval was sent");
    assert_eq!(approved_event["actor"], "Carol Approver");
    assert_eq!(approved_event["request"]["id"], id.to_string());
    assert_eq!(approved_event["request"]["environment"], "dev");
    assert_eq!(approved_event["request"]["state"], "approved");
    assert_eq!(
        received
            .iter()
            .filter(|r| r.url.path() == "/hooks/dev")
            .count(),
        4,
        "three events, the first post of one retried once"
    );
    app.stop().await;
}

#[tokio::test]
async fn request_events_are_mailed_to_the_matching_recipients_through_smtp() {
    let app = TestApp::spawn().await;
    let sink = signalbox_tests::smtp_sink::SmtpSink::start().await;
    let target = |environments: &[&str]| backend::jobs::notify::Target {
        url: String::new(),
        environments: environments.iter().map(|e| (*e).to_owned()).collect(),
        teams: Vec::new(),
    };
    let email = backend::jobs::notify::Email::new(
        &format!("smtp://127.0.0.1:{}", sink.port),
        "Signalbox <signalbox@example.com>",
        vec![
            (vec!["platform@example.com".to_owned()], target(&["dev"])),
            (vec!["prod-only@example.com".to_owned()], target(&["prod"])),
        ],
    )
    .expect("email settings are valid");
    let notifier = backend::jobs::notify::Notifier::new(Vec::new(), None, Duration::from_secs(5))
        .with_email(email, "https://signalbox.example.com");
    let id = approved(&app, route("team-a", "/orders")).await;
    let mut forges = Forges::default();
    forges.insert("dev", Arc::new(FakeForge::default()));
    drain(&worker(&app, forges, "w1").with_notifier(Arc::new(notifier))).await;

    let messages = sink.messages();
    let subjects: Vec<String> = messages
        .iter()
        .filter_map(|m| {
            m.data
                .lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned))
        })
        .collect();
    assert_eq!(
        messages.len(),
        3,
        "submitted, approved, pull request opened: {subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("[Signalbox] approved: api.dev.example.com/orders")),
        "{subjects:?}"
    );
    for message in &messages {
        assert_eq!(
            message.to,
            ["<platform@example.com>"],
            "only dev's recipients"
        );
        assert_eq!(message.from, "<signalbox@example.com>");
        assert!(
            message
                .data
                .contains(&format!("https://signalbox.example.com/requests/{id}")),
            "{}",
            message.data
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn an_onboarding_is_reviewed_and_delivered_and_then_the_namespace_takes_routes() {
    let app = TestApp::spawn().await;
    let batch_route = mesh::Request::from_value(&serde_json::json!({
        "kind": "ApiRoute", "environment": "dev", "team": "team-a",
        "host": "api.dev.example.com", "path": "/batch", "match": "prefix",
        "target": {"namespace": "team-a-batch", "service": "batch", "port": 8080}
    }))
    .expect("a valid route");
    // Before the onboarding, the namespace is not the team's: the refusal says how to ask.
    let Err(requests::WorkflowError::Refused(problems)) =
        submitted(&app, batch_route.clone()).await
    else {
        panic!("a route in a namespace the team does not hold is refused");
    };
    assert!(
        problems[0].message.contains("kind Onboarding"),
        "{problems:?}"
    );

    let onboarding = mesh::Request::from_value(&serde_json::json!({
        "kind": "Onboarding", "environment": "dev", "team": "team-a", "namespace": "team-a-batch"
    }))
    .expect("a valid onboarding");
    let id = approved(&app, onboarding).await;
    let (forges, repo) = local_forges(&app);
    let worker = worker(&app, forges, "w1");
    drain(&worker).await;
    assert_eq!(state_of(&app, id).await, "pr_open");
    let committed = files_on(&repo, &branch_of(id));
    for path in [
        "dev/team-a-batch/namespace-team-a-batch.yaml",
        "dev/team-a-batch/peerauthentication-default.yaml",
        "dev/team-a-batch/sidecar-default.yaml",
        "dev/team-a-batch/kustomization.yaml",
    ] {
        assert!(
            committed.contains_key(path),
            "{path} in {:?}",
            committed.keys()
        );
    }
    assert!(
        committed["dev/kustomization.yaml"].contains("- team-a-batch\n"),
        "the environment's kustomization lists the new folder"
    );
    git(
        &repo,
        &[
            "merge",
            "--no-ff",
            "-m",
            "Onboard team-a-batch",
            &branch_of(id),
        ],
    );
    look_now(&app).await;
    drain(&worker).await;
    assert_eq!(state_of(&app, id).await, "merged");
    let events: Vec<(String, Option<String>)> = sqlx::query_as(
        "select action, namespace from audit_events where request_id = $1 order by seq",
    )
    .bind(id)
    .fetch_all(&app.pool)
    .await
    .expect("audit reads");
    assert!(
        events
            .iter()
            .all(|(_, namespace)| namespace.as_deref() == Some("team-a-batch")),
        "every step of the onboarding names its namespace: {events:?}"
    );

    // Now the team holds it: the same route is accepted.
    submitted(&app, batch_route)
        .await
        .expect("a route in the onboarded namespace is accepted");
    app.stop().await;
}

#[tokio::test]
async fn mutual_tls_and_a_circuit_breaker_are_reviewed_stored_and_delivered() {
    let app = TestApp::spawn().await;
    let mtls = mesh::Request::from_value(&serde_json::json!({
        "kind": "MutualTls", "environment": "dev", "team": "team-a", "namespace": "team-a",
        "mode": "PERMISSIVE"
    }))
    .expect("a valid mTLS request");
    let breaker = mesh::Request::from_value(&serde_json::json!({
        "kind": "CircuitBreaker", "environment": "dev", "team": "team-a", "namespace": "team-a",
        "service": "orders", "callers": ["team-b"],
        "connectionPool": {"http": {"http2MaxRequests": 100}},
        "outlierDetection": {"consecutive5xxErrors": 5, "maxEjectionPercent": 50}
    }))
    .expect("a valid circuit breaker");
    let mtls_id = approved(&app, mtls.clone()).await;
    let breaker_id = approved(&app, breaker).await;
    // A second namespace-wide setting for the namespace is refused while the first is granted.
    let second = mesh::Request::from_value(&serde_json::json!({
        "kind": "MutualTls", "environment": "dev", "team": "team-a", "namespace": "team-a",
        "mode": "STRICT"
    }))
    .expect("valid");
    let Err(requests::WorkflowError::Refused(problems)) = submitted(&app, second).await else {
        panic!("a second namespace-wide mTLS setting is refused");
    };
    assert!(
        problems[0]
            .message
            .contains("namespace team-a already has its mTLS setting (PERMISSIVE"),
        "{problems:?}"
    );
    let (forges, repo) = local_forges(&app);
    let worker = worker(&app, forges, "w1");
    drain(&worker).await;
    for (id, path, expected) in [
        (
            mtls_id,
            "dev/team-a/peerauthentication-default.yaml",
            "mode: PERMISSIVE",
        ),
        (
            breaker_id,
            "dev/team-a/destinationrule-orders.yaml",
            "http2MaxRequests: 100",
        ),
    ] {
        assert_eq!(state_of(&app, id).await, "pr_open");
        let committed = files_on(&repo, &branch_of(id));
        assert!(
            committed.get(path).is_some_and(|c| c.contains(expected)),
            "{path} holds {expected}: {:?}",
            committed.get(path)
        );
    }
    let kinds: Vec<(String,)> =
        sqlx::query_as("select kind from requests where id = any($1) order by kind")
            .bind(vec![mtls_id, breaker_id])
            .fetch_all(&app.pool)
            .await
            .expect("requests read");
    assert_eq!(
        kinds,
        vec![("CircuitBreaker".to_owned(),), ("MutualTls".to_owned(),)]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_canary_under_argo_rollouts_shows_the_team_what_to_merge_on_its_page() {
    let app = TestApp::spawn().await;
    approved(&app, route("team-a", "/orders")).await;
    let split = mesh::Request::from_value(&serde_json::json!({
        "kind": "TrafficSplit", "environment": "dev", "team": "team-a",
        "host": "api.dev.example.com", "path": "/orders", "namespace": "team-a",
        "rollout": "orders",
        "stable": {"subset": "stable"}, "canary": {"subset": "canary"}
    }))
    .expect("a valid split");
    let id = submitted(&app, split).await.expect("submitted");
    app.sign_in_as("alice").await;
    let page = app
        .get(&format!("/requests/{id}"))
        .await
        .text()
        .await
        .expect("the request page");
    for expected in [
        "Outside the pull request",
        "Argo Rollout orders in team-a",
        "canarySubsetName: canary",
        "RespectIgnoreDifferences=true",
        "destinationrule-orders.yaml",
    ] {
        assert!(page.contains(expected), "{expected} in the page");
    }
    // The split's history is its route's.
    assert!(
        page.contains("History of this route"),
        "the page links the route's history"
    );
    app.stop().await;
}

/// Makes every observe job due now, as the next look would.
async fn observe_now(app: &TestApp) {
    sqlx::query("update jobs set run_after = now() where kind = 'observe' and done_at is null")
        .execute(&app.pool)
        .await
        .expect("observe jobs due");
}

/// Waits until the cluster shows what `check` looks for in the objects of `kind`.
async fn until_seen(
    app: &TestApp,
    kind: &str,
    check: impl Fn(&[std::sync::Arc<kube::api::DynamicObject>]) -> bool,
) {
    let cluster = app.clusters.get("dev").expect("dev reads a cluster");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check(cluster.objects().of(kind)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{kind} never showed: {:#?}",
            cluster.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_merged_request_follows_argo_cd_and_its_objects_until_live_and_then_shows_drift() {
    use signalbox_tests::fake_kube::{FakeKube, namespace, resource_path};
    let kube = FakeKube::start().await;
    let application = |sync: &str, revision: &str, health: &str, version: &str| {
        serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "mesh-dev", "namespace": "argocd", "resourceVersion": version},
            "status": {"sync": {"status": sync, "revision": revision}, "health": {"status": health}},
        })
    };
    let applications = resource_path("argoproj.io", "v1alpha1", "applications");
    kube.list(
        &applications,
        "Application",
        "1",
        vec![application("OutOfSync", "0000", "Healthy", "1")],
        100,
        5,
    )
    .await;
    kube.list(
        "/api/v1/namespaces",
        "Namespace",
        "1",
        vec![namespace(
            "team-a",
            serde_json::json!({"istio-injection": "enabled"}),
            "1",
        )],
        100,
        5,
    )
    .await;
    kube.list(
        "/api/v1/services",
        "Service",
        "1",
        vec![serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "orders", "namespace": "team-a", "resourceVersion": "1"},
            "spec": {"ports": [{"port": 8080, "name": "http"}]},
        })],
        100,
        5,
    )
    .await;
    let istio = |plural: &str| resource_path("networking.istio.io", "v1", plural);
    for (path, kind) in [
        (istio("virtualservices"), "VirtualService"),
        (istio("sidecars"), "Sidecar"),
        (
            resource_path("security.istio.io", "v1", "peerauthentications"),
            "PeerAuthentication",
        ),
    ] {
        kube.list(&path, kind, "1", vec![], 100, 5).await;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = kube.kubeconfig(dir.path());
    let app = TestApp::spawn_with(|settings| {
        settings.environments[0].cluster = Some(mesh::config::ClusterConfig {
            kubeconfig: Some(kubeconfig.display().to_string()),
            context: Some("fake".to_owned()),
            application: Some("argocd/mesh-dev".to_owned()),
            ..mesh::config::ClusterConfig::default()
        });
    })
    .await;
    let cluster = app.clusters.get("dev").expect("dev reads a cluster");
    assert!(
        cluster.ready(Duration::from_secs(20)).await,
        "{:#?}",
        cluster.status()
    );

    let id = approved(&app, route("team-a", "/orders")).await;
    let (forges, repo) = local_forges(&app);
    let worker = Worker::new(
        app.pool.clone(),
        app.catalog.clone(),
        Arc::new(forges),
        WorkerSettings {
            name: "w1".to_owned(),
            follow_every: Duration::from_secs(3600),
            clusters: app.clusters.clone(),
            ..WorkerSettings::default()
        },
    );
    drain(&worker).await;
    git(
        &repo,
        &[
            "merge",
            "--no-ff",
            "-m",
            "Merge the orders route",
            &branch_of(id),
        ],
    );
    look_now(&app).await;
    drain(&worker).await;
    assert_eq!(state_of(&app, id).await, "merged");

    // Argo CD has not synced the merge yet: the request stays merged.
    observe_now(&app).await;
    drain(&worker).await;
    assert_eq!(state_of(&app, id).await, "merged");

    // Argo CD syncs the merge commit; the objects of the pull request appear in the cluster.
    let (merged_sha, files): (Option<String>, serde_json::Value) =
        sqlx::query_as("select merged_sha, files from deliveries where request_id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .expect("delivery");
    let merged_sha = merged_sha.expect("the merge commit is known");
    kube.watch(
        &applications,
        "1",
        vec![(
            "MODIFIED",
            application("Synced", &merged_sha, "Healthy", "2"),
        )],
    )
    .await;
    let mut by_kind: std::collections::BTreeMap<String, Vec<serde_json::Value>> =
        Default::default();
    for file in files.as_array().expect("files") {
        let Some(contents) = file["contents"].as_str() else {
            continue;
        };
        if file["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("kustomization.yaml"))
        {
            continue;
        }
        let mut object: serde_json::Value = serde_norway::from_str(contents).expect("yaml");
        object["metadata"]["resourceVersion"] = serde_json::json!("2");
        by_kind
            .entry(object["kind"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push(object);
    }
    assert!(by_kind.contains_key("VirtualService"), "{by_kind:?}");
    let path_of = |kind: &str| match kind {
        "VirtualService" => istio("virtualservices"),
        "Sidecar" => istio("sidecars"),
        "PeerAuthentication" => resource_path("security.istio.io", "v1", "peerauthentications"),
        "Namespace" => "/api/v1/namespaces".to_owned(),
        other => panic!("unexpected kind {other}"),
    };
    for (kind, objects) in &by_kind {
        kube.watch(
            &path_of(kind),
            "1",
            objects.iter().map(|o| ("ADDED", o.clone())).collect(),
        )
        .await;
    }
    until_seen(&app, "Application", |apps| {
        apps.iter()
            .any(|a| a.data.pointer("/status/sync/status") == Some(&serde_json::json!("Synced")))
    })
    .await;
    let virtual_services = by_kind["VirtualService"].len();
    until_seen(&app, "VirtualService", |found| {
        found.len() == virtual_services
    })
    .await;
    until_seen(&app, "Sidecar", |found| !found.is_empty()).await;
    until_seen(&app, "PeerAuthentication", |found| !found.is_empty()).await;
    observe_now(&app).await;
    drain(&worker).await;
    assert_eq!(state_of(&app, id).await, "live");
    let steps = actions(&app, id).await;
    assert!(
        steps.ends_with(&["merged".to_owned(), "synced".to_owned(), "live".to_owned()]),
        "{steps:?}"
    );

    // Someone edits the team's delegate VirtualService in the cluster: drift names it.
    let mut edited = by_kind["VirtualService"]
        .iter()
        .find(|o| o["metadata"]["namespace"] == "team-a")
        .expect("the delegate")
        .clone();
    edited["spec"]["http"][0]["route"][0]["destination"]["port"]["number"] =
        serde_json::json!(9090);
    edited["metadata"]["resourceVersion"] = serde_json::json!("3");
    kube.watch(&istio("virtualservices"), "2", vec![("MODIFIED", edited)])
        .await;
    until_seen(&app, "VirtualService", |found| {
        found
            .iter()
            .any(|o| o.metadata.resource_version.as_deref() == Some("3"))
    })
    .await;
    observe_now(&app).await;
    drain(&worker).await;
    let (body,): (String,) = sqlx::query_as(
        "select body from request_events where request_id = $1 and action = 'drifted'",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .expect("drift is recorded");
    assert!(
        body.contains("VirtualService team-a/api-dev-example-com")
            && body.contains("spec.http[0].route[0].destination.port.number")
            && body.contains("Git says 8080, the cluster has 9090"),
        "{body}"
    );
    assert_eq!(
        state_of(&app, id).await,
        "live",
        "drift is shown, the grant stays live"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_live_route_links_to_its_tools_and_shows_its_last_hour_from_prometheus() {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let prometheus = MockServer::start().await;
    let answer = |value: &str| {
        serde_json::json!({
            "status": "success",
            "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1_764_470_000.0, value]}]},
        })
    };
    let selector =
        r#"reporter="destination",destination_service="orders.team-a.svc.cluster.local""#;
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .and(query_param(
            "query",
            format!("sum(rate(istio_requests_total{{{selector}}}[1h]))"),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer("4")))
        .mount(&prometheus)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .and(query_param(
            "query",
            format!("sum(rate(istio_requests_total{{{selector},response_code!~\"5..\"}}[1h]))"),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer("3.96")))
        .mount(&prometheus)
        .await;
    let prometheus_url = prometheus.uri();
    let app = TestApp::spawn_with(move |settings| {
        settings.environments[0].observability = mesh::config::ObservabilityConfig {
            kiali: Some("https://kiali.dev.example.com/".to_owned()),
            grafana: Some("https://grafana.dev.example.com".to_owned()),
            jaeger: Some("https://jaeger.dev.example.com".to_owned()),
            prometheus: Some(prometheus_url),
        };
    })
    .await;
    let id = approved(&app, route("team-a", "/orders")).await;
    sqlx::query("update requests set state = 'live' where id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .expect("live");
    app.sign_in_as("alice").await;
    let page = app
        .get(&format!("/requests/{id}"))
        .await
        .text()
        .await
        .expect("the request page");
    for expected in [
        "https://kiali.dev.example.com/console/graph/namespaces/?namespaces=team-a",
        "https://grafana.dev.example.com/d/LJ_uJAvmk/istio-service-dashboard?var-service=orders.team-a.svc.cluster.local&amp;var-dstns=team-a",
        "https://jaeger.dev.example.com/search?service=orders.team-a",
        "Last hour: 4.00 requests per second, 99.0% successful (not 5xx).",
    ] {
        assert!(page.contains(expected), "{expected} in the page");
    }

    // Without traffic, and when Prometheus is down or not configured, the page says so.
    let env = app.catalog.environment("dev").expect("dev").clone();
    let quiet = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "status": "success", "data": {"resultType": "vector", "result": []},
        })))
        .mount(&quiet)
        .await;
    let http = backend::reqwest::Client::new();
    let with = |url: Option<String>| {
        let mut env = env.clone();
        env.observability.prometheus = url;
        env
    };
    let health = |env: mesh::catalog::Environment| {
        let http = http.clone();
        async move {
            backend::cluster::observability::route_health(&http, &env, "team-a", "orders")
                .await
                .describe()
        }
    };
    assert_eq!(
        health(with(Some(quiet.uri()))).await,
        "No requests in the last hour."
    );
    let refused = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "status": "error", "errorType": "bad_data", "error": "parse error at char 5",
        })))
        .mount(&refused)
        .await;
    let said = health(with(Some(refused.uri()))).await;
    assert!(
        said.starts_with("Rates unavailable: Prometheus refused the query: parse error"),
        "{said}"
    );
    let said = health(with(None)).await;
    assert!(said.contains("set observability.prometheus"), "{said}");
    app.stop().await;
}
