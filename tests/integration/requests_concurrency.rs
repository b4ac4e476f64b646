//! Races the workflow must win: many decisions on one request at once, and many submissions
//! for overlapping paths at once. Run against the backend's workflow directly, many tasks
//! sharing one pool, the way several server replicas share one database.

use std::sync::Arc;

use backend::auth::Roles;
use backend::requests::{self, Actor, Decision, Operation, Submission, WorkflowError};
use signalbox_tests::TestApp;
use uuid::Uuid;

fn roles(requester_for: &[&str], approver_in: &[&str]) -> Roles {
    Roles {
        requester_for: requester_for.iter().map(|t| (*t).to_owned()).collect(),
        approver_for_environments: approver_in.iter().map(|e| (*e).to_owned()).collect(),
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

fn submission(request: mesh::Request) -> Submission {
    Submission {
        request,
        justification: "race".to_owned(),
        key: Uuid::new_v4(),
        operation: Operation::Create,
        supersedes: None,
    }
}

#[tokio::test]
async fn fifty_concurrent_decisions_make_exactly_one_transition_and_one_event() {
    let app = TestApp::spawn_with(|settings| settings.database.max_connections = 20).await;
    let requester = roles(&["team-a"], &[]);
    let id = requests::submit(
        &app.pool,
        &app.catalog,
        Actor {
            subject: "alice",
            name: "Alice",
            roles: &requester,
            origin: &backend::audit::Origin::NONE,
        },
        submission(route("team-a", "/orders")),
    )
    .await
    .expect("submitted");

    let approver = Arc::new(roles(&[], &["dev"]));
    let mut tasks = Vec::new();
    for n in 0..50 {
        let pool = app.pool.clone();
        let catalog = app.catalog.clone();
        let approver = approver.clone();
        tasks.push(tokio::spawn(async move {
            let subject = format!("approver-{n}");
            let actor = Actor {
                subject: &subject,
                name: &subject,
                roles: &approver,
                origin: &backend::audit::Origin::NONE,
            };
            let decision = if n % 2 == 0 {
                Decision::Approve
            } else {
                Decision::Reject
            };
            requests::decide(&pool, &catalog, actor, id, 1, decision, "decided").await
        }));
    }
    let mut applied = 0;
    for task in tasks {
        match task.await.expect("task joins") {
            Ok(_) => applied += 1,
            Err(WorkflowError::Stale(message)) => assert!(
                message.contains("this request") && message.contains("now"),
                "{message}"
            ),
            Err(other) => panic!("unexpected: {other}"),
        }
    }

    assert_eq!(applied, 1, "exactly one decision applies");
    let decisions: i64 = sqlx::query_scalar(
        "select count(*) from request_events where request_id = $1 and action <> 'submitted'",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert_eq!(decisions, 1, "exactly one event records it");
    let version: i32 = sqlx::query_scalar("select version from requests where id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("version");
    assert_eq!(version, 2, "exactly one transition");
    app.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_submissions_of_overlapping_paths_accept_exactly_one() {
    let app = TestApp::spawn_with(|settings| settings.database.max_connections = 20).await;
    let mut tasks = Vec::new();
    for n in 0..50 {
        let pool = app.pool.clone();
        let catalog = app.catalog.clone();
        tasks.push(tokio::spawn(async move {
            // team-a asks for /orders, team-b for /orders/v1 below it: any two overlap.
            let (team, path) = if n % 2 == 0 {
                ("team-a", "/orders")
            } else {
                ("team-b", "/orders/v1")
            };
            let member = roles(&[team], &[]);
            let subject = format!("{team}-member-{n}");
            let actor = Actor {
                subject: &subject,
                name: &subject,
                roles: &member,
                origin: &backend::audit::Origin::NONE,
            };
            requests::submit(&pool, &catalog, actor, submission(route(team, path))).await
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        match task.await.expect("task joins") {
            Ok(_) => accepted += 1,
            Err(WorkflowError::Refused(problems)) => {
                assert_eq!(problems[0].field, "path", "{problems:?}");
            }
            Err(other) => panic!("unexpected: {other}"),
        }
    }

    assert_eq!(accepted, 1);
    let rows: i64 = sqlx::query_scalar("select count(*) from requests")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(rows, 1);
    app.stop().await;
}
