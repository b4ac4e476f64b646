//! The audit history at scale: seeds COUNT events (default 1,000,000) and prints, for the filtered
//! searches the audit page makes, the latency through the portal (the page's server function over
//! HTTP, signed in) next to the same SQL sent directly, p50 and p99; then export throughput (the
//! CSV export over HTTP, rows per second) next to the same query streamed directly. Each line
//! ends with the ratio (SQL time / portal time for searches, portal rate / SQL rate for the
//! export: 1.0 = the portal adds nothing).
//!   cargo run -p signalbox-tests --example audit_search [-- COUNT [RUNS]]   (bench/audit.sh)

use std::time::Instant;

use backend::audit::{Filter, Scope, search};
use futures_util::TryStreamExt as _;
use signalbox_tests::TestApp;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn p50_p99(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(|a, b| a.total_cmp(b));
    (percentile(&values, 50.0), percentile(&values, 99.0))
}

/// Seeds `count` events: 400 people, every action, three environments, 40 teams, 2,000 routes and
/// 300 external hosts, a year of timestamps, a few words of detail each. The hash columns hold
/// well-formed values; the chain itself is not what this measures.
async fn seed(pool: &sqlx::PgPool, count: i64) {
    sqlx::query(
        r#"
        insert into audit_events (seq, at, actor, actor_name, action, environment, team, host, path,
            namespace, external_hosts, before, after, detail, source_address, prev_hash, hash)
        select n,
            now() - make_interval(secs => (($1 - n) * 31536000.0 / $1)),
            'user-' || h.actor,
            'Person ' || h.actor,
            (array['submitted','approved','rejected','withdrawn','commented','delivering',
                   'pr_opened','merged','pr_closed','signed_in','signed_out','access_refused'])[1 + h.action],
            (array['dev','staging','prod'])[1 + h.env],
            'team-' || h.team,
            case when h.kind <> 3 then 'api.' || (array['dev','staging','prod'])[1 + h.env] || '.example.com' end,
            case when h.kind <> 3 then '/svc-' || h.route || '/v' || (h.route % 3 + 1) end,
            'team-' || h.team,
            case when h.kind = 3 then array['api.partner-' || (h.route % 300) || '.com'] else '{}' end,
            jsonb_build_object('state', 'submitted'),
            jsonb_build_object('state', 'approved'),
            'change ' || n || ' ' || (array['looks right','needs the v2 path','rotate keys first',
                'ok for launch','wrong namespace','retry after the freeze'])[1 + h.words],
            '10.0.' || (n % 250) || '.' || (n * 7 % 250),
            sha256(int8send(n - 1)),
            sha256(int8send(n))
        from generate_series(1, $1) as n,
        -- Independent pseudo-random choices per event, so filters combine as in real use.
        lateral (select (hashint8(n * 11 + 1) & 2147483647) % 400 as actor,
                        (hashint8(n * 13 + 2) & 2147483647) % 12 as action,
                        (hashint8(n * 17 + 3) & 2147483647) % 3 as env,
                        (hashint8(n * 19 + 4) & 2147483647) % 40 as team,
                        (hashint8(n * 23 + 5) & 2147483647) % 4 as kind,
                        (hashint8(n * 29 + 6) & 2147483647) % 2000 as route,
                        (hashint8(n * 31 + 7) & 2147483647) % 6 as words) as h
        "#,
    )
    .bind(count)
    .execute(pool)
    .await
    .expect("events seeded");
    sqlx::query("analyze audit_events")
        .execute(pool)
        .await
        .expect("analyzed");
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: i64 = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(40);
    let app = TestApp::spawn().await;
    let dave = app.visitor("dave").await;
    let started = Instant::now();
    // The visitor's sign-in wrote an event already.
    let signed_in: i64 = sqlx::query_scalar("select count(*) from audit_events")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    seed_after(&app.pool, count, signed_in).await;
    println!(
        "audit history: {count} events seeded in {:.1} s; {runs} runs per query",
        started.elapsed().as_secs_f64()
    );

    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("newest, no filter", vec![]),
        ("one person", vec![("actor", "user-17")]),
        (
            "action + environment",
            vec![("action", "merged"), ("environment", "prod")],
        ),
        (
            "team + a month",
            vec![
                ("team", "team-7"),
                ("from", &*MONTH_FROM),
                ("until", &*MONTH_UNTIL),
            ],
        ),
        (
            "host + path prefix",
            vec![("host", "api.prod.example.com"), ("path", "/svc-42")],
        ),
        (
            "external host",
            vec![("external_host", "api.partner-42.com")],
        ),
        ("free text", vec![("q", "rotate keys")]),
    ];
    println!(
        "  {:<24} {:>20} {:>20} {:>7}",
        "search (50 newest)", "portal p50 / p99 ms", "SQL p50 / p99 ms", "SQL/portal"
    );
    for (name, params) in &cases {
        let filter = search::parse_filter(params.iter().copied()).expect("valid filters");
        let fields: Vec<(String, String)> = params
            .iter()
            .enumerate()
            .flat_map(|(i, (k, v))| {
                [
                    (format!("params[{i}][0]"), (*k).to_owned()),
                    (format!("params[{i}][1]"), (*v).to_owned()),
                ]
            })
            .collect();
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut portal = Vec::new();
        let mut direct = Vec::new();
        for _ in 0..runs {
            let start = Instant::now();
            let page: app::audit::AuditPageData = dave.call("audit_events", &fields).await;
            portal.push(start.elapsed().as_secs_f64() * 1000.0);
            assert!(page.problems.is_empty());

            let start = Instant::now();
            let rows = search::page(&app.pool, &Scope::everything(), &filter, None, 51)
                .await
                .expect("query runs");
            direct.push(start.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(rows.len().min(50), page.rows.len(), "{name}: the same rows");
        }
        let (portal50, portal99) = p50_p99(portal);
        let (direct50, direct99) = p50_p99(direct);
        println!(
            "  {name:<24} {portal50:>9.2} / {portal99:>8.2} {direct50:>9.2} / {direct99:>8.2} {:>7.2}",
            direct50 / portal50
        );
    }

    // Export: a third of the history (one environment), CSV over HTTP, next to the same query
    // streamed directly.
    let start = Instant::now();
    let mut response = dave
        .client
        .get(app.url("/audit/export.csv?environment=prod"))
        .send()
        .await
        .expect("export starts");
    assert_eq!(response.status(), 200);
    let mut lines = 0_u64;
    while let Some(chunk) = response.chunk().await.expect("export streams") {
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let portal_secs = start.elapsed().as_secs_f64();
    let exported = lines - 1;

    let filter = Filter {
        environment: Some("prod".to_owned()),
        ..Filter::default()
    };
    let start = Instant::now();
    let mut rows = Box::pin(search::stream(
        app.pool.clone(),
        Scope::everything(),
        filter,
    ));
    let mut streamed = 0_u64;
    while rows.try_next().await.expect("rows stream").is_some() {
        streamed += 1;
    }
    let direct_secs = start.elapsed().as_secs_f64();
    assert_eq!(
        exported, streamed,
        "the export holds every row of the query"
    );
    let portal_rate = exported as f64 / portal_secs;
    let direct_rate = streamed as f64 / direct_secs;
    println!(
        "  export CSV, {exported} rows: portal {portal_rate:.0} rows/s, SQL {direct_rate:.0} rows/s, portal/SQL {:.2}",
        portal_rate / direct_rate
    );
    app.stop().await;
}

/// Seeds after the events already there (the bench visitor's sign-in).
async fn seed_after(pool: &sqlx::PgPool, count: i64, existing: i64) {
    if existing > 0 {
        // Keep the numbering contiguous: the seeded rows take the numbers after the sign-in.
        sqlx::query("alter table audit_events disable trigger audit_events_append_only")
            .execute(pool)
            .await
            .expect("trigger off");
        sqlx::query("update audit_events set seq = seq + $1")
            .bind(count)
            .execute(pool)
            .await
            .expect("renumbered");
        sqlx::query("alter table audit_events enable trigger audit_events_append_only")
            .execute(pool)
            .await
            .expect("trigger on");
    }
    seed(pool, count).await;
}

static MONTH_FROM: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| day_ago(60));
static MONTH_UNTIL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| day_ago(30));

fn day_ago(days: i64) -> String {
    let day = (time::OffsetDateTime::now_utc() - time::Duration::days(days)).date();
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}
