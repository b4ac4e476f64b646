//! Checks against what the cluster runs: the target Service and port exist, the namespace is in
//! the mesh, and a path a hand-made VirtualService serves is a conflict naming it.

mod common;

use std::collections::BTreeMap;

use common::{catalog, onboarding, parse_one};
use mesh::observed::{ForeignRoute, Observations, Observed, ObservedNamespace, ObservedPort};
use mesh::{ProblemKind, plan_observed};

fn dev_cluster() -> Observations {
    let mut observed = Observed::default();
    for (name, in_mesh) in [("team-a", true), ("team-b", false), ("legacy", true)] {
        observed.namespaces.insert(
            name.to_owned(),
            ObservedNamespace {
                in_mesh,
                registry_only: false,
            },
        );
    }
    observed.services.insert(
        "team-a".to_owned(),
        BTreeMap::from([
            (
                "orders".to_owned(),
                vec![
                    ObservedPort {
                        port: 8080,
                        name: Some("http".to_owned()),
                    },
                    ObservedPort {
                        port: 9090,
                        name: None,
                    },
                ],
            ),
            ("payments".to_owned(), vec![]),
        ]),
    );
    observed.foreign_routes.push(ForeignRoute {
        object: "legacy/orders-legacy".to_owned(),
        host: "api.dev.example.com".to_owned(),
        path: "/orders".to_owned(),
        exact: false,
    });
    observed.foreign_routes.push(ForeignRoute {
        object: "legacy/cart".to_owned(),
        host: "api.dev.example.com".to_owned(),
        path: "/shop/cart".to_owned(),
        exact: true,
    });
    Observations::from([("dev".to_owned(), observed)])
}

fn route(path: &str, namespace: &str, service: &str, port: u16) -> mesh::Request {
    parse_one(&format!(
        "kind: ApiRoute\nenvironment: dev\nteam: team-a\nhost: api.dev.example.com\npath: {path}\n\
         target: {{namespace: {namespace}, service: {service}, port: {port}}}\n"
    ))
}

fn problems(request: mesh::Request) -> Vec<mesh::Problem> {
    plan_observed(&catalog(), Some(&dev_cluster()), &[], &[request])
        .err()
        .unwrap_or_default()
}

#[test]
fn a_path_under_a_hand_made_virtual_service_is_a_conflict_naming_it() {
    let found = problems(route("/orders/v2", "team-a", "orders", 8080));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field, "path");
    assert_eq!(found[0].kind, ProblemKind::Conflict);
    assert!(
        found[0].message.contains("prefix /orders")
            && found[0]
                .message
                .contains("VirtualService legacy/orders-legacy")
            && found[0].message.contains("did not generate"),
        "{found:?}"
    );
    // Envoy's prefix is a string prefix: /orders takes /orders-archive too.
    assert_eq!(
        problems(route("/orders-archive", "team-a", "orders", 8080)).len(),
        1
    );
    // A prefix above a hand-made route would take its requests.
    let found = problems(route("/shop", "team-a", "orders", 8080));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].message.contains("overlaps exact /shop/cart"),
        "{found:?}"
    );
    assert_eq!(
        problems(route("/shopping", "team-a", "orders", 8080)),
        vec![]
    );
    // Elsewhere on the host, nothing is in the way.
    assert_eq!(
        problems(route("/payments", "team-a", "orders", 8080)),
        vec![]
    );
}

#[test]
fn a_missing_service_or_port_is_a_field_message_listing_what_runs() {
    let found = problems(route("/pay", "team-a", "billing", 8080));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field, "target.service");
    assert!(
        found[0].message.contains(
            "there is no Service billing in namespace team-a in dev; it runs orders, payments"
        ),
        "{found:?}"
    );
    let found = problems(route("/pay", "team-a", "orders", 8081));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field, "target.port");
    assert!(
        found[0]
            .message
            .contains("Service orders in namespace team-a exposes 8080 (http), 9090; 8081 is not one of its ports"),
        "{found:?}"
    );
}

#[test]
fn a_namespace_outside_the_mesh_is_refused_with_how_to_onboard_it() {
    let egress = parse_one(
        "kind: Egress\nenvironment: dev\nteam: team-b\nnamespace: team-b\nhosts: [api.example.org]\n\
         ports: [{number: 443, protocol: TLS}]\n",
    );
    let found = problems(egress);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field, "namespace");
    assert!(
        found[0]
            .message
            .contains("namespace team-b is outside the mesh in dev")
            && found[0].message.contains("without mesh membership")
            && found[0].message.contains("kind Onboarding"),
        "{found:?}"
    );
    // A namespace onboarded by request gets its membership with the baseline: not refused.
    let granted = [onboarding("dev", "team-a", "team-a-batch")];
    let batch = parse_one(
        "kind: Egress\nenvironment: dev\nteam: team-a\nnamespace: team-a-batch\nhosts: [api.example.org]\n\
         ports: [{number: 443, protocol: TLS}]\n",
    );
    plan_observed(&catalog(), Some(&dev_cluster()), &granted, &[batch])
        .expect("onboarded by request");
    // An environment whose cluster could not be read is checked from stored state alone.
    let prod = parse_one(
        "kind: ApiRoute\nenvironment: prod\nteam: team-a\nhost: api.prod.example.com\npath: /orders\n\
         target: {namespace: team-a, service: nowhere, port: 1}\n",
    );
    plan_observed(&catalog(), Some(&dev_cluster()), &[], &[prod]).expect("prod is not observed");
}

#[test]
fn adopting_the_hand_made_route_takes_its_path_and_only_that_object_is_set_aside() {
    let adopting = |adopts: &str, path: &str| {
        parse_one(&format!(
            "kind: ApiRoute\nenvironment: dev\nteam: team-a\nhost: api.dev.example.com\npath: {path}\n\
             target: {{namespace: team-a, service: orders, port: 8080}}\nadopts: {adopts}\n"
        ))
    };
    assert_eq!(
        problems(adopting("legacy/orders-legacy", "/orders")),
        vec![]
    );
    // Another hand-made route in the way still conflicts.
    let found = problems(adopting("legacy/orders-legacy", "/shop"));
    assert!(
        found
            .iter()
            .any(|p| p.field == "adopts" && p.message.contains("does not serve prefix /shop")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.field == "path" && p.message.contains("legacy/cart")),
        "{found:?}"
    );
    let round_trip = adopting("legacy/orders-legacy", "/orders");
    assert_eq!(round_trip.to_value()["adopts"], "legacy/orders-legacy");
    let refused = mesh::parse_documents(
        "a.yaml",
        "kind: ApiRoute\nenvironment: dev\nteam: team-a\nhost: api.dev.example.com\npath: /a\n\
         target: {namespace: team-a, service: orders, port: 8080}\nadopts: orders-legacy\n",
    )
    .unwrap_err();
    assert_eq!(refused[0].field, "adopts", "{refused:?}");
}
