//! Path lease conflicts, through the lease trie and through `plan`: equal prefixes, shadowing in
//! both directions, exact versus prefix, trailing slashes, other hosts and other environments.

mod common;

use common::{catalog, egress, route};
use mesh::leases::{Overlap, PathLeases, relation, serves};
use mesh::names::{DnsLabel, PathPrefix};
use mesh::request::PathMatch;
use mesh::{ProblemKind, plan};
use proptest::prelude::*;

fn path(p: &str) -> PathPrefix {
    PathPrefix::parse(p).unwrap()
}

fn team(t: &str) -> DnsLabel {
    DnsLabel::parse(t).unwrap()
}

fn leases(entries: &[(&str, PathMatch, &str)]) -> PathLeases<usize> {
    let mut table = PathLeases::new();
    for (i, (p, m, t)) in entries.iter().enumerate() {
        table
            .insert(path(p), *m, team(t), i)
            .expect("fixture leases do not conflict");
    }
    table
}

use PathMatch::{Exact, Prefix};

fn overlaps(table: &PathLeases<usize>, p: &str, m: PathMatch) -> Vec<(Overlap, String)> {
    table
        .overlapping(&path(p), m)
        .iter()
        .map(|o| (o.overlap, o.lease.path.to_string()))
        .collect()
}

#[test]
fn equal_prefix_is_reported_as_equal() {
    let table = leases(&[("/orders", Prefix, "team-a")]);
    assert_eq!(
        overlaps(&table, "/orders", Prefix),
        [(Overlap::Equal, "/orders".into())]
    );
}

#[test]
fn a_longer_prefix_falls_under_a_shorter_one() {
    let table = leases(&[("/orders", Prefix, "team-a")]);
    assert_eq!(
        overlaps(&table, "/orders/v1", Prefix),
        [(Overlap::FallsUnder, "/orders".into())]
    );
}

#[test]
fn a_shorter_prefix_shadows_a_longer_one() {
    let table = leases(&[("/orders/v1/items", Prefix, "team-a")]);
    assert_eq!(
        overlaps(&table, "/orders", Prefix),
        [(Overlap::Shadows, "/orders/v1/items".into())]
    );
}

#[test]
fn prefixes_are_segment_aware() {
    let table = leases(&[("/orders", Prefix, "team-a")]);
    assert!(overlaps(&table, "/ordersx", Prefix).is_empty());
    assert!(overlaps(&table, "/order", Prefix).is_empty());
    assert!(table.serving("/ordersx").is_none());
    assert_eq!(table.serving("/orders/v1?x=1").map(|l| l.value), Some(0));
}

#[test]
fn exact_path_falls_under_a_prefix_and_a_prefix_shadows_an_exact_path() {
    let table = leases(&[("/orders", Prefix, "team-a")]);
    assert_eq!(
        overlaps(&table, "/orders", Exact),
        [(Overlap::FallsUnder, "/orders".into())]
    );
    assert_eq!(
        overlaps(&table, "/orders/v1", Exact),
        [(Overlap::FallsUnder, "/orders".into())]
    );
    let table = leases(&[("/orders/health", Exact, "team-a")]);
    assert_eq!(
        overlaps(&table, "/orders", Prefix),
        [(Overlap::Shadows, "/orders/health".into())]
    );
    assert!(overlaps(&table, "/orders", Exact).is_empty());
}

#[test]
fn trailing_slash_prefix_does_not_cover_the_path_without_it() {
    let table = leases(&[("/orders/", Prefix, "team-a")]);
    assert!(overlaps(&table, "/orders", Exact).is_empty());
    assert_eq!(
        overlaps(&table, "/orders/", Exact),
        [(Overlap::FallsUnder, "/orders/".into())]
    );
    assert_eq!(
        overlaps(&table, "/orders/x", Prefix),
        [(Overlap::FallsUnder, "/orders/".into())]
    );
    assert_eq!(
        overlaps(&table, "/orders", Prefix),
        [(Overlap::Shadows, "/orders/".into())]
    );
    assert!(table.serving("/orders").is_none());
    assert!(table.serving("/orders/").is_some());
}

#[test]
fn exact_paths_with_and_without_trailing_slash_are_different() {
    let table = leases(&[("/orders", Exact, "team-a")]);
    assert!(overlaps(&table, "/orders/", Exact).is_empty());
    assert_eq!(
        overlaps(&table, "/orders", Exact),
        [(Overlap::Equal, "/orders".into())]
    );
}

#[test]
fn the_root_prefix_covers_everything() {
    let table = leases(&[("/", Prefix, "team-a")]);
    assert_eq!(
        overlaps(&table, "/anything/deep", Exact),
        [(Overlap::FallsUnder, "/".into())]
    );
    assert_eq!(
        overlaps(&table, "/", Exact),
        [(Overlap::FallsUnder, "/".into())]
    );
}

#[test]
fn another_teams_overlap_conflicts_but_the_same_team_may_nest() {
    let table = leases(&[("/orders", Prefix, "team-a"), ("/pay/v1", Prefix, "team-b")]);
    assert!(
        table
            .conflicts(&path("/orders/v2"), Prefix, &team("team-a"))
            .is_empty()
    );
    assert_eq!(
        table
            .conflicts(&path("/orders/v2"), Prefix, &team("team-b"))
            .len(),
        1
    );
    assert_eq!(
        table
            .conflicts(&path("/orders"), Prefix, &team("team-a"))
            .len(),
        1,
        "equal always conflicts"
    );
    let shadowed = table.conflicts(&path("/pay"), Prefix, &team("team-a"));
    assert_eq!(shadowed[0].lease.owner.as_str(), "team-b");
    assert!(
        table
            .conflicts(&path("/pay"), Prefix, &team("team-b"))
            .is_empty()
    );
}

#[test]
fn shadowing_reports_one_witness_per_owner_below() {
    let table = leases(&[
        ("/a/b", Prefix, "team-a"),
        ("/a/c/d", Exact, "team-b"),
        ("/a/c/e", Exact, "team-b"),
    ]);
    let found = overlaps(&table, "/a", Prefix);
    assert_eq!(
        found,
        [
            (Overlap::Shadows, "/a/b".into()),
            (Overlap::Shadows, "/a/c/d".into())
        ]
    );
}

#[test]
fn most_specific_lease_serves_and_comes_first_in_routing_order() {
    let table = leases(&[
        ("/a", Prefix, "team-a"),
        ("/a/", Prefix, "team-a"),
        ("/a/b", Exact, "team-a"),
        ("/a/b/c", Prefix, "team-a"),
        ("/z", Exact, "team-a"),
    ]);
    let order: Vec<String> = table
        .in_routing_order()
        .iter()
        .map(|l| format!("{} {}", l.path_match, l.path))
        .collect();
    assert_eq!(
        order,
        [
            "prefix /a/b/c",
            "exact /a/b",
            "exact /z",
            "prefix /a/",
            "prefix /a"
        ]
    );
    assert_eq!(table.serving("/a").unwrap().value, 0);
    assert_eq!(table.serving("/a/x").unwrap().value, 1);
    assert_eq!(table.serving("/a/b").unwrap().value, 2);
    assert_eq!(table.serving("/a/b/").unwrap().value, 1);
    assert_eq!(table.serving("/a/b/c/d").unwrap().value, 3);
    assert!(table.serving("/b").is_none());
}

#[test]
fn removing_a_lease_frees_the_path_and_the_counters() {
    let mut table = leases(&[("/a/b", Prefix, "team-b")]);
    assert_eq!(
        table.conflicts(&path("/a"), Prefix, &team("team-a")).len(),
        1
    );
    assert_eq!(table.remove(&path("/a/b"), Prefix), Some(0));
    assert!(
        table
            .conflicts(&path("/a"), Prefix, &team("team-a"))
            .is_empty()
    );
    assert!(table.is_empty());
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("ab".to_owned()),
        Just("".to_owned())
    ]
}

fn lease_path() -> impl Strategy<Value = PathPrefix> {
    prop::collection::vec(segment(), 1..4).prop_filter_map("valid path", |segments| {
        PathPrefix::parse(&format!("/{}", segments.join("/"))).ok()
    })
}

fn lease_match() -> impl Strategy<Value = PathMatch> {
    prop_oneof![Just(Exact), Just(Prefix)]
}

proptest! {
    #[test]
    fn trie_agrees_with_the_linear_reference(
        existing in prop::collection::vec((lease_path(), lease_match(), 0..3u8), 0..12),
        probe in (lease_path(), lease_match()),
        request_path in lease_path(),
    ) {
        let mut table = PathLeases::new();
        let mut kept: Vec<(PathPrefix, PathMatch, DnsLabel)> = Vec::new();
        for (p, m, t) in existing {
            let owner = team(&format!("team-{t}"));
            let expected_conflict = kept.iter().any(|(kp, km, kt)| {
                relation(&p, m, kp, *km).is_some_and(|o| o == Overlap::Equal || *kt != owner)
            });
            let inserted = table.insert(p.clone(), m, owner.clone(), kept.len()).is_ok();
            prop_assert_eq!(inserted, !expected_conflict);
            if inserted {
                kept.push((p, m, owner));
            }
        }
        // Every overlap the trie reports is real, and every ancestor/equal overlap is found.
        let found = table.overlapping(&probe.0, probe.1);
        for o in &found {
            prop_assert_eq!(relation(&probe.0, probe.1, &o.lease.path, o.lease.path_match), Some(o.overlap));
        }
        for (kp, km, _) in &kept {
            if let Some(overlap) = relation(&probe.0, probe.1, kp, *km)
                && overlap != Overlap::Shadows
            {
                prop_assert!(found.iter().any(|o| &o.lease.path == kp && o.lease.path_match == *km));
            }
        }
        let any_shadowed = kept.iter().any(|(kp, km, _)| relation(&probe.0, probe.1, kp, *km) == Some(Overlap::Shadows));
        prop_assert_eq!(any_shadowed, found.iter().any(|o| o.overlap == Overlap::Shadows));
        // The serving lease serves the path, and no more specific lease in routing order does.
        let order = table.in_routing_order();
        let first = order.iter().find(|l| serves(&l.path, l.path_match, request_path.as_str()));
        prop_assert_eq!(table.serving(request_path.as_str()).map(|l| l.value), first.map(|l| l.value));
    }
}

fn problems_of(granted: &[mesh::Request], new: &[mesh::Request]) -> Vec<mesh::Problem> {
    plan(&catalog(), granted, new).expect_err("conflict expected")
}

#[test]
fn plan_refuses_an_equal_prefix_of_another_team() {
    let problems = problems_of(
        &[route("prod", "team-a", "/orders", "prefix")],
        &[route("prod", "team-b", "/orders", "prefix")],
    );
    assert_eq!(problems.len(), 1);
    assert_eq!(
        (problems[0].kind, problems[0].field.as_str()),
        (ProblemKind::Conflict, "path")
    );
    assert_eq!(
        problems[0].to_string(),
        "team-b/orders: path: prefix /orders is the same as prefix /orders (leased to team team-a by team-a/orders) on api.prod.example.com in prod; choose a path outside it"
    );
}

#[test]
fn plan_reports_the_same_lease_of_the_same_team_as_already_granted() {
    let problems = problems_of(
        &[route("prod", "team-a", "/orders", "prefix")],
        &[route("prod", "team-a", "/orders", "prefix")],
    );
    assert_eq!(problems[0].kind, ProblemKind::AlreadyGranted);
}

#[test]
fn plan_refuses_shadowing_in_both_directions() {
    let under = problems_of(
        &[route("prod", "team-a", "/orders", "prefix")],
        &[route("prod", "team-b", "/orders/v1", "prefix")],
    );
    assert!(
        under[0].message.contains("falls under prefix /orders"),
        "{under:?}"
    );
    let over = problems_of(
        &[route("prod", "team-a", "/orders/v1", "prefix")],
        &[route("prod", "team-b", "/orders", "prefix")],
    );
    assert!(
        over[0].message.contains("would shadow prefix /orders/v1"),
        "{over:?}"
    );
}

#[test]
fn plan_refuses_exact_under_another_teams_prefix_and_the_trailing_slash_twin() {
    let exact = problems_of(
        &[route("prod", "team-a", "/orders", "prefix")],
        &[route("prod", "team-b", "/orders", "exact")],
    );
    assert!(
        exact[0]
            .message
            .contains("exact /orders falls under prefix /orders")
    );
    let slash = problems_of(
        &[route("prod", "team-a", "/orders", "prefix")],
        &[route("prod", "team-b", "/orders/", "prefix")],
    );
    assert!(
        slash[0]
            .message
            .contains("prefix /orders/ falls under prefix /orders")
    );
}

#[test]
fn plan_accepts_the_trailing_slash_prefix_beside_an_exact_path_without_it() {
    plan(
        &catalog(),
        &[route("prod", "team-a", "/orders", "exact")],
        &[route("prod", "team-b", "/orders/", "prefix")],
    )
    .expect("/orders (exact) and /orders/ (prefix) are disjoint");
}

#[test]
fn plan_accepts_the_same_path_on_another_environment() {
    plan(
        &catalog(),
        &[route("prod", "team-a", "/orders", "prefix")],
        &[route("dev", "team-b", "/orders", "prefix")],
    )
    .expect("leases are per environment");
}

#[test]
fn plan_accepts_the_same_path_on_another_host() {
    let mut file = common::catalog_file();
    file.environments[1]
        .hosts
        .push("partners.prod.example.com".into());
    let catalog = mesh::Catalog::from_config(file.environments, file.teams).unwrap();
    let other_host = common::parse_one(
        "kind: ApiRoute\nenvironment: prod\nteam: team-b\nhost: partners.prod.example.com\npath: /orders\ntarget: {namespace: team-b, service: x, port: 80}\n",
    );
    plan(
        &catalog,
        &[route("prod", "team-a", "/orders", "prefix")],
        &[other_host],
    )
    .expect("leases are per host");
}

#[test]
fn plan_checks_new_requests_against_the_new_ones_before_them() {
    let problems = problems_of(
        &[],
        &[
            route("prod", "team-a", "/orders", "prefix"),
            route("prod", "team-b", "/orders/x", "exact"),
        ],
    );
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].source.as_deref(), Some("team-b/orders/x"));
    assert!(
        problems[0]
            .message
            .contains("requested by team team-a in team-a/orders"),
        "{problems:?}"
    );
}

#[test]
fn plan_reports_duplicate_egress_as_already_granted() {
    let problems = problems_of(
        &[egress("dev", "team-a", "api.stripe.com")],
        &[egress("dev", "team-a", "api.stripe.com")],
    );
    assert_eq!(problems.len(), 1);
    assert_eq!(
        (problems[0].kind, problems[0].field.as_str()),
        (ProblemKind::AlreadyGranted, "hosts[0]")
    );
    assert!(
        problems[0]
            .message
            .contains("already granted to namespace team-a in dev")
    );
}

#[test]
fn plan_grants_the_same_egress_host_to_another_namespace() {
    plan(
        &catalog(),
        &[egress("dev", "team-a", "api.stripe.com")],
        &[egress("dev", "team-b", "api.stripe.com")],
    )
    .expect("egress grants are per namespace");
}
