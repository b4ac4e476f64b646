//! Cluster awareness: the real `kube` client and reflectors against a fake API server (list and
//! watch responses in the API's shapes), the inventory they keep, and the checks it feeds.

use std::time::Duration;

use backend::cluster::{Clusters, ResourceState};
use mesh::config::{ClusterConfig, EnvironmentConfig, TeamConfig};
use serde_json::{Value, json};
use signalbox_tests::fake_kube::{FakeKube, namespace, resource_path, status};

/// The dev environment of the example configuration, reading its cluster through `kubeconfig`.
fn catalog(kubeconfig: &std::path::Path) -> mesh::Catalog {
    let env: EnvironmentConfig = serde_json::from_value(json!({
        "name": "dev",
        "hosts": ["api.dev.example.com"],
        "ingressGateway": "istio-ingress/public-gw",
        "mesh": {"flavour": "istio", "version": "1.24"},
        "sidecar": {"registryOnly": true},
    }))
    .expect("environment");
    let env = EnvironmentConfig {
        cluster: Some(ClusterConfig {
            kubeconfig: Some(kubeconfig.display().to_string()),
            context: Some("fake".to_owned()),
            ..ClusterConfig::default()
        }),
        ..env
    };
    let teams: Vec<TeamConfig> = serde_json::from_value(json!([
        {"name": "team-a", "groups": ["team-a"], "namespaces": ["team-a"]},
        {"name": "team-b", "groups": ["team-b"], "namespaces": ["team-b"]},
    ]))
    .expect("teams");
    mesh::Catalog::from_config(vec![env], teams).expect("catalog")
}

fn service(namespace: &str, name: &str, ports: &[(u16, &str)]) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "3"},
        "spec": {"ports": ports.iter().map(|(port, name)| json!({"port": port, "name": name})).collect::<Vec<_>>()},
    })
}

/// A VirtualService someone wrote by hand, serving a prefix on the shared host.
fn hand_made_route(prefix: &str) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "orders-legacy", "namespace": "legacy", "resourceVersion": "7"},
        "spec": {
            "hosts": ["api.dev.example.com"],
            "gateways": ["istio-ingress/public-gw"],
            "http": [{"match": [{"uri": {"prefix": prefix}}], "route": [{"destination": {"host": "orders.legacy.svc.cluster.local"}}]}],
        },
    })
}

const NAMESPACES: &str = "/api/v1/namespaces";

/// The resources every test serves: team-a in the mesh with its orders Service, a hand-made
/// route on /orders.
async fn serve_dev(kube: &FakeKube) {
    kube.list(
        NAMESPACES,
        "Namespace",
        "10",
        vec![
            namespace("team-a", json!({"istio-injection": "enabled"}), "4"),
            namespace("team-b", json!({}), "5"),
            namespace("legacy", json!({"istio-injection": "enabled"}), "6"),
        ],
        100,
        5,
    )
    .await;
    kube.list(
        "/api/v1/services",
        "Service",
        "11",
        vec![service("team-a", "orders", &[(8080, "http")])],
        100,
        5,
    )
    .await;
    kube.list(
        &resource_path("networking.istio.io", "v1", "virtualservices"),
        "VirtualService",
        "12",
        vec![hand_made_route("/orders")],
        100,
        5,
    )
    .await;
}

async fn connect(kube: &FakeKube, dir: &std::path::Path) -> (mesh::Catalog, Clusters) {
    let catalog = catalog(&kube.kubeconfig(dir));
    let clusters = Clusters::connect(&catalog, dir).await;
    (catalog, clusters)
}

#[tokio::test]
async fn the_inventory_feeds_the_checks_a_hand_made_route_a_missing_port_and_a_namespace_outside_the_mesh()
 {
    let kube = FakeKube::start().await;
    serve_dev(&kube).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (catalog, clusters) = connect(&kube, dir.path()).await;
    let cluster = clusters.get("dev").expect("dev has a cluster");
    assert!(
        cluster.ready(Duration::from_secs(20)).await,
        "{:#?}",
        cluster.status()
    );
    let observed = clusters.observations(&catalog);
    let route = |path: &str, namespace: &str, port: u16| {
        mesh::Request::from_value(&json!({
            "kind": "ApiRoute", "environment": "dev", "team": "team-a", "host": "api.dev.example.com",
            "path": path, "target": {"namespace": namespace, "service": "orders", "port": port},
        }))
        .expect("a route")
    };
    let problems = mesh::plan_observed(
        &catalog,
        Some(&observed),
        &[],
        &[route("/orders/v2", "team-a", 8080)],
    )
    .expect_err("the hand-made route holds /orders");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].field, "path");
    assert!(
        problems[0]
            .message
            .contains("VirtualService legacy/orders-legacy"),
        "{problems:?}"
    );
    let problems = mesh::plan_observed(
        &catalog,
        Some(&observed),
        &[],
        &[route("/shop", "team-a", 8081)],
    )
    .expect_err("orders does not expose 8081");
    assert_eq!(problems[0].field, "target.port", "{problems:?}");
    assert!(
        problems[0].message.contains("exposes 8080 (http)"),
        "{problems:?}"
    );
    let egress = mesh::Request::from_value(&json!({
        "kind": "Egress", "environment": "dev", "team": "team-b", "namespace": "team-b",
        "hosts": ["api.example.org"], "ports": [{"number": 443, "protocol": "TLS"}],
    }))
    .expect("egress");
    let problems = mesh::plan_observed(&catalog, Some(&observed), &[], &[egress])
        .expect_err("team-b is not in the mesh");
    assert!(
        problems[0]
            .message
            .contains("namespace team-b is outside the mesh in dev"),
        "{problems:?}"
    );
    mesh::plan_observed(
        &catalog,
        Some(&observed),
        &[],
        &[route("/shop", "team-a", 8080)],
    )
    .expect("a free path to a Service port that exists");

    // The egress hole the environment page reports.
    let holes = backend::cluster::inventory::egress_holes(
        catalog.environment("dev").expect("dev"),
        &["team-a".to_owned(), "team-b".to_owned()],
        &observed["dev"],
    );
    assert_eq!(holes.outside_mesh, ["team-b"]);
    assert_eq!(
        holes.without_registry_only,
        ["team-a"],
        "no REGISTRY_ONLY Sidecar in team-a"
    );
}

#[tokio::test]
async fn a_watch_that_ends_with_410_gone_lists_again_and_resumes() {
    let kube = FakeKube::start().await;
    serve_dev(&kube).await;
    // The first namespace list, then a watch from its version that the server has compacted.
    kube.list(
        NAMESPACES,
        "Namespace",
        "100",
        vec![namespace(
            "team-a",
            json!({"istio-injection": "enabled"}),
            "90",
        )],
        1,
        1,
    )
    .await;
    kube.watch(
        NAMESPACES,
        "100",
        vec![(
            "ERROR",
            status(410, "Expired", "too old resource version: 100 (150)"),
        )],
    )
    .await;
    // The list after it shows a namespace added meanwhile; the watch from there carries one more.
    kube.list(
        NAMESPACES,
        "Namespace",
        "150",
        vec![
            namespace("team-a", json!({"istio-injection": "enabled"}), "90"),
            namespace("team-b", json!({"istio-injection": "enabled"}), "140"),
        ],
        1,
        2,
    )
    .await;
    kube.watch(
        NAMESPACES,
        "150",
        vec![(
            "ADDED",
            namespace("team-c", json!({"istio-injection": "enabled"}), "160"),
        )],
    )
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (catalog, clusters) = connect(&kube, dir.path()).await;
    let cluster = clusters.get("dev").expect("dev has a cluster");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let observed = clusters.observations(&catalog);
        let names: Vec<String> = observed
            .get("dev")
            .map(|o| o.namespaces.keys().cloned().collect())
            .unwrap_or_default();
        if names == ["team-a", "team-b", "team-c"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "namespaces {names:?}; {:#?}",
            cluster.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        kube.lists_of(NAMESPACES).await >= 2,
        "listed again after 410 Gone"
    );
    let status = cluster.status();
    let namespaces = status
        .resources
        .iter()
        .find(|r| r.resource == "namespaces")
        .expect("namespaces are read");
    assert_eq!(namespaces.state, ResourceState::Ready);
}

#[tokio::test]
async fn a_403_is_reported_as_missing_rbac_with_the_verb_and_resource() {
    let kube = FakeKube::start().await;
    serve_dev(&kube).await;
    kube.forbid(
        &resource_path("networking.istio.io", "v1", "virtualservices"),
        "virtualservices.networking.istio.io",
    )
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (catalog, clusters) = connect(&kube, dir.path()).await;
    let cluster = clusters.get("dev").expect("dev has a cluster");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let state = loop {
        let status = cluster.status();
        let state = status
            .resources
            .iter()
            .find(|r| r.resource == "virtualservices.networking.istio.io")
            .map(|r| r.state.clone())
            .expect("virtual services are read");
        if matches!(state, ResourceState::Forbidden(_)) {
            break state;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ResourceState::Forbidden(message) = state else {
        unreachable!()
    };
    assert!(
        message.contains("missing RBAC")
            && message.contains("may not list virtualservices.networking.istio.io")
            && message.contains("deploy/clusterrole.yaml"),
        "{message}"
    );
    // Without the routes, the cluster is not complete: checks fall back to stored state.
    assert!(!cluster.complete());
    assert!(clusters.observations(&catalog).is_empty());
    // A CRD that is not installed (Argo CD here) is reported as not served, not as a failure.
    let argo = cluster
        .status()
        .resources
        .into_iter()
        .find(|r| r.resource == "applications.argoproj.io")
        .expect("applications are read");
    assert_eq!(argo.state, ResourceState::NotServed);
}

#[tokio::test]
async fn only_platform_admins_adopt_a_hand_made_route_which_then_holds_the_path_as_a_lease() {
    use backend::audit::Origin;
    use backend::auth::Roles;
    use backend::requests::{self, Actor, Checks, Operation, Submission, WorkflowError};
    let app = signalbox_tests::TestApp::spawn().await;
    let mut observed = mesh::observed::Observed::default();
    observed.namespaces.insert(
        "team-a".to_owned(),
        mesh::observed::ObservedNamespace {
            in_mesh: true,
            registry_only: true,
        },
    );
    observed.services.insert(
        "team-a".to_owned(),
        [(
            "orders".to_owned(),
            vec![mesh::observed::ObservedPort {
                port: 8080,
                name: None,
            }],
        )]
        .into(),
    );
    observed.foreign_routes.push(mesh::observed::ForeignRoute {
        object: "legacy/orders-legacy".to_owned(),
        host: "api.dev.example.com".to_owned(),
        path: "/orders".to_owned(),
        exact: false,
    });
    let observations = mesh::observed::Observations::from([("dev".to_owned(), observed)]);
    let checks = Checks {
        catalog: &app.catalog,
        observed: Some(&observations),
    };
    let adoption = mesh::Request::from_value(&json!({
        "kind": "ApiRoute", "environment": "dev", "team": "team-a", "host": "api.dev.example.com",
        "path": "/orders", "target": {"namespace": "team-a", "service": "orders", "port": 8080},
        "adopts": "legacy/orders-legacy",
    }))
    .expect("an adoption");
    let submit = |roles: Roles, request: mesh::Request| {
        let pool = app.pool.clone();
        async move {
            requests::submit(
                &pool,
                checks,
                Actor {
                    subject: "someone",
                    name: "Someone",
                    roles: &roles,
                    origin: &Origin::NONE,
                },
                Submission {
                    request,
                    justification: "take over the legacy route".to_owned(),
                    key: uuid::Uuid::new_v4(),
                    operation: Operation::Create,
                    supersedes: None,
                },
            )
            .await
        }
    };
    let requester = Roles {
        requester_for: ["team-a".to_owned()].into(),
        ..Roles::default()
    };
    let Err(WorkflowError::Refused(problems)) = submit(requester.clone(), adoption.clone()).await
    else {
        panic!("a requester may not adopt");
    };
    assert_eq!(problems[0].field, "adopts");
    assert!(
        problems[0].message.contains("only platform admins"),
        "{problems:?}"
    );
    let admin = Roles {
        platform_admin: true,
        ..Roles::default()
    };
    submit(admin, adoption).await.expect("an admin adopts it");
    // The path is now claimed by team-a: team-b's request conflicts with the lease.
    let other = mesh::Request::from_value(&json!({
        "kind": "ApiRoute", "environment": "dev", "team": "team-b", "host": "api.dev.example.com",
        "path": "/orders/v2", "target": {"namespace": "team-b", "service": "search", "port": 8080},
    }))
    .expect("a route");
    let team_b = Roles {
        requester_for: ["team-b".to_owned()].into(),
        ..Roles::default()
    };
    let Err(WorkflowError::Refused(problems)) = requests::submit(
        &app.pool,
        &app.catalog,
        Actor {
            subject: "bob",
            name: "Bob",
            roles: &team_b,
            origin: &Origin::NONE,
        },
        Submission {
            request: other,
            justification: "v2".to_owned(),
            key: uuid::Uuid::new_v4(),
            operation: Operation::Create,
            supersedes: None,
        },
    )
    .await
    else {
        panic!("the adopted path is team-a's");
    };
    assert!(problems[0].message.contains("team team-a"), "{problems:?}");
    app.stop().await;
}
