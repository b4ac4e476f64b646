//! Approval → pull request latency: approves requests one after another on a server with one
//! delivery worker and the local git forge, and prints, from the request timelines, how long each
//! waited for a worker (approved → delivering) and how long the delivery itself took (delivering
//! → pull request opened), p50 and p99 of each and of the whole. Goal: p50 of the whole ≤ 1 s.
//!   cargo run -p signalbox-tests --example delivery_latency [-- COUNT]   (bench/delivery.sh)

use std::time::Duration;

use backend::auth::Roles;
use backend::requests::{self, Actor, Decision, Operation, Submission};
use signalbox_tests::TestApp;
use uuid::Uuid;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn line(name: &str, mut values: Vec<f64>) {
    values.sort_by(|a, b| a.total_cmp(b));
    println!(
        "  {name:<28} p50 {:>7.1} ms   p99 {:>7.1} ms",
        percentile(&values, 50.0),
        percentile(&values, 99.0)
    );
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    let app = TestApp::spawn_with(|settings| {
        settings.delivery.workers = 1;
        // The worker wakes on the approval's notification; polling is only the fallback.
        settings.delivery.poll_interval_seconds = 30;
        settings.delivery.follow_interval_seconds = 3600;
    })
    .await;
    let requester = Roles {
        requester_for: ["team-a".to_owned()].into(),
        ..Roles::default()
    };
    let approver = Roles {
        approver_for_environments: ["dev".to_owned()].into(),
        ..Roles::default()
    };
    let mut ids = Vec::new();
    for n in 0..count {
        let request = mesh::Request::from_value(&serde_json::json!({
            "kind": "ApiRoute", "environment": "dev", "team": "team-a",
            "host": "api.dev.example.com", "path": format!("/bench-{n}"), "match": "prefix",
            "target": {"namespace": "team-a", "service": "orders", "port": 8080}
        }))
        .expect("a valid route");
        let id = requests::submit(
            &app.pool,
            &app.catalog,
            Actor {
                subject: "alice",
                name: "Alice",
                roles: &requester,
                origin: &backend::audit::Origin::NONE,
            },
            Submission {
                request,
                justification: "benchmark".to_owned(),
                key: Uuid::new_v4(),
                operation: Operation::Create,
                supersedes: None,
            },
        )
        .await
        .expect("submitted");
        requests::decide(
            &app.pool,
            &app.catalog,
            Actor {
                subject: "carol",
                name: "Carol",
                roles: &approver,
                origin: &backend::audit::Origin::NONE,
            },
            id,
            1,
            Decision::Approve,
            "",
        )
        .await
        .expect("approved");
        // One at a time: latency, not throughput.
        for _ in 0..1000 {
            let state: String = sqlx::query_scalar("select state from requests where id = $1")
                .bind(id)
                .fetch_one(&app.pool)
                .await
                .expect("state");
            if state == "pr_open" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        ids.push(id);
    }
    let rows: Vec<(f64, f64, f64)> = sqlx::query_as(
        r#"
        select (extract(epoch from (d.at - a.at)) * 1000)::float8,
               (extract(epoch from (p.at - d.at)) * 1000)::float8,
               (extract(epoch from (p.at - a.at)) * 1000)::float8
        from unnest($1::uuid[]) as r(id)
        join request_events a on a.request_id = r.id and a.action = 'approved'
        join request_events d on d.request_id = r.id and d.action = 'delivering'
        join request_events p on p.request_id = r.id and p.action = 'pr_opened'
        "#,
    )
    .bind(&ids)
    .fetch_all(&app.pool)
    .await
    .expect("timelines read");
    assert_eq!(rows.len(), count, "every request got its pull request");
    println!("approval → pull request over {count} requests (one worker, local git forge):");
    line("waiting for the worker", rows.iter().map(|r| r.0).collect());
    line("delivering", rows.iter().map(|r| r.1).collect());
    line(
        "approval → pull request",
        rows.iter().map(|r| r.2).collect(),
    );
    let mut whole: Vec<f64> = rows.iter().map(|r| r.2).collect();
    whole.sort_by(|a, b| a.total_cmp(b));
    println!(
        "  goal: p50 ≤ 1000 ms → {}",
        if percentile(&whole, 50.0) <= 1000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    app.stop().await;
}
