//! Benchmarks that print their figures: the path-lease conflict check at 100k leases against a
//! linear scan (and the ratio), and render + validate throughput in objects per second.
//! Quick on 2 cores: `cargo bench -p mesh -- --quick`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mesh::config::{EnvironmentConfig, TeamConfig};
use mesh::leases::{PathLeases, relation};
use mesh::names::{DnsLabel, PathPrefix};
use mesh::request::PathMatch;
use mesh::{Catalog, Request, parse_documents, plan};

const LEASES: usize = 100_000;

fn lease_paths() -> Vec<(PathPrefix, DnsLabel)> {
    (0..LEASES)
        .map(|i| {
            let path = format!("/api{}/v{}/r{}", i % 500, (i / 500) % 20, i / 10_000);
            let team = DnsLabel::parse(&format!("team-{}", i % 50)).expect("team label");
            (PathPrefix::parse(&path).expect("bench path"), team)
        })
        .collect()
}

fn linear_conflicts(
    leases: &[(PathPrefix, DnsLabel)],
    path: &PathPrefix,
    team: &DnsLabel,
) -> usize {
    leases
        .iter()
        .filter(|(p, owner)| {
            relation(path, PathMatch::Prefix, p, PathMatch::Prefix)
                .is_some_and(|o| o == mesh::leases::Overlap::Equal || owner != team)
        })
        .count()
}

fn per_call<R>(mut f: impl FnMut() -> R, budget: Duration) -> Duration {
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < budget || calls < 3 {
        black_box(f());
        calls += 1;
    }
    start.elapsed() / calls
}

fn conflict_check(c: &mut Criterion) {
    let leases = lease_paths();
    let mut table = PathLeases::new();
    for (i, (path, team)) in leases.iter().enumerate() {
        table
            .insert(path.clone(), PathMatch::Prefix, team.clone(), i)
            .expect("bench leases are disjoint");
    }
    let probe = PathPrefix::parse("/api250/v7/r3/items").expect("probe");
    let team = DnsLabel::parse("team-1").expect("team");
    let trie = per_call(
        || table.conflicts(&probe, PathMatch::Prefix, &team),
        Duration::from_millis(300),
    );
    let linear = per_call(
        || linear_conflicts(&leases, &probe, &team),
        Duration::from_millis(300),
    );
    println!(
        "conflict check at {LEASES} leases: trie {:.2} µs, linear scan {:.2} µs, ratio {:.0}x",
        trie.as_secs_f64() * 1e6,
        linear.as_secs_f64() * 1e6,
        linear.as_secs_f64() / trie.as_secs_f64()
    );
    let mut group = c.benchmark_group("conflict_check_100k");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(1))
        .warm_up_time(Duration::from_millis(200));
    group.bench_function("trie", |b| {
        b.iter(|| {
            table
                .conflicts(black_box(&probe), PathMatch::Prefix, &team)
                .len()
        })
    });
    group.bench_function("linear_scan", |b| {
        b.iter(|| linear_conflicts(&leases, black_box(&probe), &team))
    });
    group.finish();
}

#[derive(serde::Deserialize)]
struct CatalogFile {
    environments: Vec<EnvironmentConfig>,
    teams: Vec<TeamConfig>,
}

fn requests(count: usize) -> Vec<Request> {
    let mut text = String::new();
    for i in 0..count {
        let env = if i % 2 == 0 { "dev" } else { "prod" };
        let team = if i % 3 == 0 { "team-a" } else { "team-b" };
        if i % 4 == 3 {
            text.push_str(&format!(
                "---\nkind: Egress\nenvironment: {env}\nteam: {team}\nnamespace: {team}\nhosts: [api{i}.partner.com]\nports: [{{number: 443, protocol: TLS}}]\n"
            ));
        } else {
            text.push_str(&format!(
                "---\nkind: ApiRoute\nenvironment: {env}\nteam: {team}\nhost: api.{env}.example.com\npath: /svc{i}/v1\nrewrite: /v1\n\
                 target: {{namespace: {team}, service: svc{i}, port: 8080}}\ntimeout: 5s\n"
            ));
        }
    }
    parse_documents("bench.yaml", &text).expect("bench requests parse")
}

fn render_and_validate(c: &mut Criterion) {
    let file: CatalogFile =
        serde_json::from_str(include_str!("../tests/fixtures/catalog.json")).expect("catalog");
    let catalog = Catalog::from_config(file.environments, file.teams).expect("catalog");
    let new = requests(100);
    let objects = plan(&catalog, &[], &new)
        .expect("bench plan")
        .files
        .iter()
        .filter(|f| !f.path.ends_with("kustomization.yaml"))
        .count();
    let elapsed = per_call(|| plan(&catalog, &[], &new), Duration::from_millis(500));
    println!(
        "render + validate: {objects} objects from {} requests in {:.2} ms = {:.0} objects/s",
        new.len(),
        elapsed.as_secs_f64() * 1e3,
        objects as f64 / elapsed.as_secs_f64()
    );
    let mut group = c.benchmark_group("render_validate");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(1))
        .warm_up_time(Duration::from_millis(200));
    group.bench_function("plan_100_requests", |b| {
        b.iter(|| plan(&catalog, &[], black_box(&new)).map(|p| p.files.len()))
    });
    group.finish();
}

criterion_group!(benches, conflict_check, render_and_validate);
criterion_main!(benches);
