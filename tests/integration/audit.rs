//! The audit history: one event per step, written in the step's own transaction; the hash chain
//! and its check (a tampered row is named; concurrent writers never fork it); the exports hold
//! exactly the filtered rows; who sees what.

use std::sync::Arc;
use std::time::Duration;

use app::requests::{StepOutcome, SubmitOutcome};
use backend::audit::{self, Entry, Origin, Target, Verdict};
use backend::forge::Forges;
use backend::jobs::{RetryPolicy, Worker, WorkerSettings};
use signalbox_tests::TestApp;
use signalbox_tests::portal::Visitor;

/// The newest event's number (0 when there is none).
async fn head(app: &TestApp) -> i64 {
    sqlx::query_scalar("select coalesce(max(seq), 0) from audit_events")
        .fetch_one(&app.pool)
        .await
        .expect("head")
}

/// Asserts that exactly one event was written after `since`, with `action`; when `same_as` names
/// a table and a condition, that the row it selects was written by the same transaction (equal
/// `xmin`). Returns the event's number.
async fn one_event(app: &TestApp, since: i64, action: &str, same_as: Option<&str>) -> i64 {
    let events: Vec<(i64, String, String)> = sqlx::query_as(
        "select seq, action, xmin::text from audit_events where seq > $1 order by seq",
    )
    .bind(since)
    .fetch_all(&app.pool)
    .await
    .expect("events");
    let actions: Vec<&str> = events.iter().map(|(_, a, _)| a.as_str()).collect();
    assert_eq!(actions, [action], "the events written by one {action} step");
    let (seq, _, xmin) = events[0].clone();
    if let Some(sql) = same_as {
        let written_by: String = sqlx::query_scalar(sql)
            .fetch_one(&app.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(
            xmin, written_by,
            "{action}: one transaction wrote the change and its event"
        );
    }
    seq
}

fn timeline_row(action: &str, id: &str) -> String {
    format!(
        "select xmin::text from request_events where action = '{action}' \
         and request_id = '{id}' order by id desc limit 1"
    )
}

async fn submit(visitor: &Visitor, path: &str, change_of: &str) -> String {
    let key = uuid::Uuid::new_v4().to_string();
    let outcome: SubmitOutcome = visitor
        .call(
            "submit_api",
            &[
                ("key", key.as_str()),
                ("change_of", change_of),
                ("form[environment]", "dev"),
                ("form[host]", "api.dev.example.com"),
                ("form[team]", "team-a"),
                ("form[path]", path),
                ("form[path_match]", "prefix"),
                ("form[namespace]", "team-a"),
                (
                    "form[service]",
                    if change_of.is_empty() {
                        "orders"
                    } else {
                        "orders-v2"
                    },
                ),
                ("form[port]", "8080"),
                ("form[justification]", "the orders API goes live"),
            ],
        )
        .await;
    match outcome {
        SubmitOutcome::Submitted { id } => id,
        SubmitOutcome::Refused { problems } => panic!("refused: {problems:?}"),
    }
}

async fn version(visitor: &Visitor, id: &str) -> String {
    let view: app::requests::RequestView = visitor.call("load_request", &[("id", id)]).await;
    view.version.to_string()
}

async fn step(visitor: &Visitor, name: &str, fields: &[(&str, &str)]) {
    let outcome: StepOutcome = visitor.call(name, fields).await;
    if let StepOutcome::Refused { problems } = outcome {
        panic!("{name} refused: {problems:?}");
    }
}

async fn decide(visitor: &Visitor, id: &str, decision: &str, reason: &str) {
    let version = version(visitor, id).await;
    step(
        visitor,
        "decide_request",
        &[
            ("id", id),
            ("version", &version),
            ("decision", decision),
            ("reason", reason),
        ],
    )
    .await;
}

#[tokio::test]
async fn submitting_commenting_deciding_and_withdrawing_each_write_one_event_in_their_transaction()
{
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let carol = app.visitor("carol").await;

    let since = head(&app).await;
    let id = submit(&alice, "/orders", "").await;
    let seq = one_event(
        &app,
        since,
        "submitted",
        Some(&format!(
            "select xmin::text from requests where id = '{id}'"
        )),
    )
    .await;
    let (host, path, team, environment, after): (
        String,
        String,
        String,
        String,
        serde_json::Value,
    ) = sqlx::query_as(
        "select host, path, team, environment, after from audit_events where seq = $1",
    )
    .bind(seq)
    .fetch_one(&app.pool)
    .await
    .expect("the event");
    assert_eq!(
        (
            host.as_str(),
            path.as_str(),
            team.as_str(),
            environment.as_str()
        ),
        ("api.dev.example.com", "/orders", "team-a", "dev")
    );
    assert_eq!(after["request"]["path"], "/orders", "{after}");
    let page: app::requests::RequestView = alice.call("load_request", &[("id", &id)]).await;
    assert_eq!(
        page.history.as_deref(),
        Some("/audit/lineage?environment=dev&host=api.dev.example.com&path=%2Forders"),
        "the request page links its route's history"
    );

    let since = head(&app).await;
    step(
        &carol,
        "comment_on_request",
        &[("id", &id), ("body", "why not v2?")],
    )
    .await;
    one_event(
        &app,
        since,
        "commented",
        Some(&timeline_row("commented", &id)),
    )
    .await;

    let since = head(&app).await;
    decide(&carol, &id, "reject", "use /orders/v1").await;
    let seq = one_event(
        &app,
        since,
        "rejected",
        Some(&timeline_row("rejected", &id)),
    )
    .await;
    let (actor, detail, before, after): (String, String, serde_json::Value, serde_json::Value) =
        sqlx::query_as("select actor, detail, before, after from audit_events where seq = $1")
            .bind(seq)
            .fetch_one(&app.pool)
            .await
            .expect("the event");
    assert_eq!(actor, "demo:carol");
    assert_eq!(detail, "use /orders/v1");
    assert_eq!(
        (before["state"].as_str(), after["state"].as_str()),
        (Some("submitted"), Some("rejected"))
    );

    let other = submit(&alice, "/orders/v1", "").await;
    let since = head(&app).await;
    let v = version(&alice, &other).await;
    step(
        &alice,
        "withdraw_request",
        &[("id", &other), ("version", &v)],
    )
    .await;
    one_event(
        &app,
        since,
        "withdrawn",
        Some(&timeline_row("withdrawn", &other)),
    )
    .await;

    let third = submit(&alice, "/payments", "").await;
    let since = head(&app).await;
    decide(&carol, &third, "approve", "").await;
    one_event(
        &app,
        since,
        "approved",
        Some(&timeline_row("approved", &third)),
    )
    .await;

    // A refused step writes nothing.
    let since = head(&app).await;
    let stale: StepOutcome = carol
        .call(
            "decide_request",
            &[
                ("id", &third),
                ("version", "1"),
                ("decision", "approve"),
                ("reason", ""),
            ],
        )
        .await;
    assert!(matches!(stale, StepOutcome::Refused { .. }));
    assert_eq!(head(&app).await, since);

    // The source of the step is recorded.
    let (source, agent, key): (Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "select source_address, user_agent, request_key from audit_events where action = 'approved'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("the event");
    assert_eq!(source.as_deref(), Some("127.0.0.1"));
    assert!(agent.is_none() || agent.is_some_and(|a| !a.is_empty()));
    assert!(key.is_some_and(|k| !k.is_empty()), "the request id is kept");
    app.stop().await;
}

fn worker(app: &TestApp) -> Worker {
    let forges = Forges::from_catalog(&app.catalog, app.gitops.path()).expect("forges build");
    Worker::new(
        app.pool.clone(),
        app.catalog.clone(),
        Arc::new(forges),
        WorkerSettings {
            name: "audit".to_owned(),
            lease: Duration::from_secs(2),
            follow_every: Duration::from_secs(3600),
            retry: RetryPolicy {
                max_attempts: 3,
                base: Duration::from_millis(5),
                cap: Duration::from_millis(50),
            },
            public_url: "http://signalbox.test".to_owned(),
            ..WorkerSettings::default()
        },
    )
}

async fn drain(worker: &Worker, app: &TestApp) {
    for _ in 0..50 {
        sqlx::query("update jobs set run_after = now() where done_at is null")
            .execute(&app.pool)
            .await
            .expect("jobs due");
        if !worker.run_once().await.expect("a job runs") {
            return;
        }
    }
}

use crate::delivery::git;

#[tokio::test]
async fn delivery_merge_change_removal_and_a_closed_pull_request_each_write_one_event() {
    let app = TestApp::spawn().await;
    let alice = app.visitor("alice").await;
    let carol = app.visitor("carol").await;
    let worker = worker(&app);
    let repo = app.gitops.path().join(".data/gitops");

    let grant = submit(&alice, "/orders", "").await;
    decide(&carol, &grant, "approve", "").await;
    let since = head(&app).await;
    drain(&worker, &app).await;
    // Delivering opens the pull request: both steps are recorded, each once.
    let actions: Vec<String> =
        sqlx::query_scalar("select action from audit_events where seq > $1 order by seq")
            .bind(since)
            .fetch_all(&app.pool)
            .await
            .expect("events");
    assert_eq!(actions, ["delivering", "pr_opened"]);
    let xmins: Vec<String> = sqlx::query_scalar(
        "select a.xmin::text = e.xmin::text from audit_events a join request_events e \
         on e.request_id = a.request_id and e.action = a.action where a.seq > $1",
    )
    .bind(since)
    .fetch_all(&app.pool)
    .await
    .map(|same: Vec<bool>| same.iter().map(|s| s.to_string()).collect())
    .expect("xmins");
    assert_eq!(
        xmins,
        ["true", "true"],
        "each in the transaction of its step"
    );

    // Merged in the repository: following it records the merge.
    let branch_of = |id: &str| backend::forge::branch_name("dev", id.parse().expect("a uuid"));
    let branch = branch_of(&grant);
    git(&repo, &["merge", "--no-ff", "-q", "-m", "merge", &branch]);
    let since = head(&app).await;
    drain(&worker, &app).await;
    one_event(&app, since, "merged", Some(&timeline_row("merged", &grant))).await;

    // A change and a removal are submissions of their own, recorded with the grant they replace.
    let since = head(&app).await;
    let change = submit(&alice, "/orders", &grant).await;
    let seq = one_event(
        &app,
        since,
        "submitted",
        Some(&format!(
            "select xmin::text from requests where id = '{change}'"
        )),
    )
    .await;
    let before: serde_json::Value =
        sqlx::query_scalar("select before from audit_events where seq = $1")
            .bind(seq)
            .fetch_one(&app.pool)
            .await
            .expect("before");
    assert_eq!(before["grant"]["target"]["service"], "orders", "{before}");
    decide(&carol, &change, "reject", "keep v1").await;

    let since = head(&app).await;
    let key = uuid::Uuid::new_v4().to_string();
    let removal: SubmitOutcome = alice
        .call(
            "remove_grant",
            &[
                ("key", key.as_str()),
                ("id", grant.as_str()),
                ("justification", "retired"),
            ],
        )
        .await;
    let SubmitOutcome::Submitted { id: removal } = removal else {
        panic!("removal refused: {removal:?}");
    };
    let seq = one_event(
        &app,
        since,
        "submitted",
        Some(&format!(
            "select xmin::text from requests where id = '{removal}'"
        )),
    )
    .await;
    let (operation, path): (String, Option<String>) =
        sqlx::query_as("select after->>'operation', path from audit_events where seq = $1")
            .bind(seq)
            .fetch_one(&app.pool)
            .await
            .expect("the event");
    assert_eq!(
        (operation.as_str(), path.as_deref()),
        ("remove", Some("/orders"))
    );

    // The removal's pull request is closed unmerged: recorded once.
    decide(&carol, &removal, "approve", "").await;
    drain(&worker, &app).await;
    git(&repo, &["branch", "-D", &branch_of(&removal)]);
    let since = head(&app).await;
    drain(&worker, &app).await;
    one_event(
        &app,
        since,
        "pr_closed",
        Some(&timeline_row("pr_closed", &removal)),
    )
    .await;

    // The lineage of the route holds all of it, oldest first.
    let lineage: Vec<String> = sqlx::query_scalar(
        "select action from audit_events where environment = 'dev' and host = 'api.dev.example.com' \
         and path = '/orders' order by seq",
    )
    .fetch_all(&app.pool)
    .await
    .expect("lineage");
    assert_eq!(
        lineage,
        [
            "submitted",
            "approved",
            "delivering",
            "pr_opened",
            "merged",
            "submitted",
            "rejected",
            "submitted",
            "approved",
            "delivering",
            "pr_opened",
            "pr_closed"
        ]
    );
    let page = carol
        .page("/audit/lineage?environment=dev&host=api.dev.example.com&path=%2Forders")
        .await
        .1;
    assert_eq!(
        page.matches("<li data-action=").count(),
        lineage.len(),
        "{page}"
    );
    app.stop().await;
}

#[tokio::test]
async fn sign_in_sign_out_and_refused_access_are_recorded() {
    let app = TestApp::spawn().await;
    let since = head(&app).await;
    let alice = app.visitor("alice").await;
    one_event(&app, since, "signed_in", None).await;
    let (actor, detail): (String, String) =
        sqlx::query_as("select actor, detail from audit_events where action = 'signed_in'")
            .fetch_one(&app.pool)
            .await
            .expect("event");
    assert_eq!(
        (actor.as_str(), detail.as_str()),
        ("demo:alice", "as a demo persona")
    );

    let since = head(&app).await;
    let out = alice
        .client
        .post(format!("{}/auth/logout", app.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(out.status(), 303);
    one_event(&app, since, "signed_out", None).await;
    app.stop().await;

    // Someone signed in through the provider but in no group Signalbox knows.
    let (app, provider) = crate::sign_in::app_with_provider().await;
    crate::sign_in::sign_in_with(&app, &provider, "/", crate::sign_in::member_of("marketing"))
        .await;
    let since = head(&app).await;
    let refused = app
        .client
        .post(app.url(&signalbox_tests::portal::server_fn_path("waiting_count")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), 403);
    let seq = one_event(&app, since, "access_refused", None).await;
    let detail: String = sqlx::query_scalar("select detail from audit_events where seq = $1")
        .bind(seq)
        .fetch_one(&app.pool)
        .await
        .expect("event");
    assert!(detail.contains("marketing"), "{detail}");
    app.stop().await;
}

fn entry<'a>(actor: &'a str, detail: &'a str) -> Entry<'a> {
    Entry {
        actor,
        actor_name: actor,
        action: "commented",
        target: Target {
            environment: Some("dev".to_owned()),
            team: Some("team-a".to_owned()),
            ..Target::default()
        },
        before: None,
        after: Some(serde_json::json!({"state": "submitted", "n": 1})),
        detail,
        origin: &Origin::NONE,
    }
}

fn verify_cli(app: &TestApp) -> (i32, String) {
    let bin = std::env::var("SIGNALBOX_BIN").unwrap_or_else(|_| {
        signalbox_tests::test_app::workspace_root()
            .join("target/debug/signalbox")
            .display()
            .to_string()
    });
    let output = std::process::Command::new(bin)
        .args(["audit", "verify"])
        .env("SIGNALBOX_DATABASE__URL", app.database.url())
        .output()
        .expect("signalbox runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[tokio::test]
async fn twenty_concurrent_writers_leave_one_intact_chain_and_a_tampered_row_is_named() {
    let app = TestApp::spawn().await;
    let mut writers = Vec::new();
    for n in 0..20 {
        let pool = app.pool.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..5 {
                let actor = format!("writer-{n}");
                let detail = format!("note {i}");
                audit::record_alone(&pool, &entry(&actor, &detail))
                    .await
                    .expect("written");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let (count, max): (i64, i64) = sqlx::query_as("select count(*), max(seq) from audit_events")
        .fetch_one(&app.pool)
        .await
        .expect("counts");
    assert_eq!((count, max), (100, 100), "no gap and no fork");
    assert_eq!(
        audit::verify(&app.pool).await.expect("verifies"),
        Verdict::Intact { events: 100 }
    );
    let (code, said) = verify_cli(&app);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("intact: 100 events"), "{said}");

    // Updates and deletes are refused, whoever asks.
    let refused = sqlx::query("update audit_events set detail = 'edited' where seq = 37")
        .execute(&app.pool)
        .await
        .expect_err("refused");
    assert!(refused.to_string().contains("append-only"), "{refused}");
    assert!(
        sqlx::query("delete from audit_events where seq = 37")
            .execute(&app.pool)
            .await
            .is_err()
    );

    // A superuser switches the trigger off and edits one row: verification names that event.
    let mut admin = app.pool.acquire().await.expect("connection");
    sqlx::query("alter table audit_events disable trigger audit_events_append_only")
        .execute(&mut *admin)
        .await
        .expect("trigger off");
    sqlx::query("update audit_events set detail = 'nothing happened' where seq = 37")
        .execute(&mut *admin)
        .await
        .expect("edited");
    sqlx::query("alter table audit_events enable trigger audit_events_append_only")
        .execute(&mut *admin)
        .await
        .expect("trigger on");
    drop(admin);
    match audit::verify(&app.pool).await.expect("verifies") {
        Verdict::Broken {
            seq, intact_before, ..
        } => assert_eq!((seq, intact_before), (37, 36)),
        intact => panic!("not noticed: {intact:?}"),
    }
    let (code, said) = verify_cli(&app);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("broken at event 37"), "{said}");

    // The admin page says the same.
    let dave = app.visitor("dave").await;
    let check: app::audit::ChainCheck = dave.call("check_audit_chain", &[]).await;
    assert!(!check.intact);
    assert_eq!(check.broken_at, Some(37));
    let alice = app.visitor("alice").await;
    assert_eq!(alice.post("check_audit_chain", &[]).await.status(), 403);
    app.stop().await;
}

/// Sequence numbers in a CSV export, in order.
fn csv_seqs(body: &str) -> Vec<i64> {
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    reader
        .records()
        .map(|record| record.expect("a record")[0].parse().expect("a seq"))
        .collect()
}

#[tokio::test]
async fn exports_hold_exactly_the_filtered_events_in_both_formats() {
    let app = TestApp::spawn().await;
    // 300 events over two teams, some with a word to search for, one with a comma and a quote.
    for n in 0..300 {
        let team = if n % 3 == 0 { "team-b" } else { "team-a" };
        let detail = if n % 7 == 0 {
            format!("rotate, \"keys\" {n}")
        } else {
            format!("note {n}")
        };
        let mut entry = entry("carol", &detail);
        entry.target.team = Some(team.to_owned());
        audit::record_alone(&app.pool, &entry)
            .await
            .expect("written");
    }
    let dave = app.visitor("dave").await;
    let filters = "team=team-a&q=KEYS";
    let expected: Vec<i64> = sqlx::query_scalar(
        "select seq from audit_events where team = 'team-a' and detail ilike '%keys%' order by seq desc",
    )
    .fetch_all(&app.pool)
    .await
    .expect("expected");
    assert!(expected.len() > 10);

    let (status, csv) = dave.page(&format!("/audit/export.csv?{filters}")).await;
    assert_eq!(status, 200);
    assert_eq!(csv_seqs(&csv), expected);
    assert!(csv.starts_with("seq,at,actor,"), "{}", &csv[..80]);
    assert!(
        csv.contains("\"rotate, \"\"keys\"\""),
        "quoted as RFC 4180 says"
    );

    let (status, json) = dave.page(&format!("/audit/export.json?{filters}")).await;
    assert_eq!(status, 200);
    let events: Vec<serde_json::Value> = serde_json::from_str(&json).expect("a JSON array");
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(seqs, expected);
    assert!(events[0]["hash"].as_str().is_some_and(|h| h.len() == 64));

    // The page shows the same events (its first page).
    let page: app::audit::AuditPageData = dave
        .call(
            "audit_events",
            &[
                ("params[0][0]", "team"),
                ("params[0][1]", "team-a"),
                ("params[1][0]", "q"),
                ("params[1][1]", "KEYS"),
            ],
        )
        .await;
    let shown: Vec<i64> = page.rows.iter().map(|r| r.seq).collect();
    assert_eq!(shown, expected[..shown.len()]);

    // A bad filter is named, with what would be accepted.
    let (status, said) = dave.page("/audit/export.csv?from=yesterday").await;
    assert_eq!(status, 400);
    assert!(
        said.contains("from: \"yesterday\" is not a date; use YYYY-MM-DD"),
        "{said}"
    );
    app.stop().await;
}

#[tokio::test]
async fn each_person_sees_the_events_of_their_scope() {
    let app = TestApp::spawn().await;
    for (team, environment) in [("team-a", "dev"), ("team-b", "dev"), ("team-b", "prod")] {
        let mut entry = entry("someone", "x");
        entry.target.team = Some(team.to_owned());
        entry.target.environment = Some(environment.to_owned());
        audit::record_alone(&app.pool, &entry)
            .await
            .expect("written");
    }
    async fn seen(visitor: &Visitor) -> Vec<String> {
        let page: app::audit::AuditPageData = visitor
            .call(
                "audit_events",
                &[("params[0][0]", "action"), ("params[0][1]", "commented")],
            )
            .await;
        let mut rows: Vec<String> = page
            .rows
            .iter()
            .map(|row| {
                format!(
                    "{} · {}",
                    row.environment.clone().unwrap_or_default(),
                    row.team.clone().unwrap_or_default()
                )
            })
            .collect();
        rows.sort();
        rows
    }
    // Alice requests for team-a; her own sign-in is hers to see too.
    let alice = app.visitor("alice").await;
    assert_eq!(seen(&alice).await, ["dev · team-a"]);
    let (status, page) = alice.page("/audit?action=commented").await;
    assert_eq!(status, 200);
    assert_eq!(page.matches("<tr data-seq=").count(), 1, "{page}");
    let (_, csv) = alice.page("/audit/export.csv").await;
    assert_eq!(
        csv_seqs(&csv).len(),
        2,
        "her team's event and her sign-in: {csv}"
    );
    // Dave, a platform admin, sees everything.
    let dave = app.visitor("dave").await;
    assert_eq!(
        seen(&dave).await,
        ["dev · team-a", "dev · team-b", "prod · team-b"]
    );
    app.stop().await;
}
