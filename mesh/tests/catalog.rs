//! Building the catalog from config: the example in JSON and TOML, and refusals with config paths.

mod common;

use common::{catalog, catalog_file};
use mesh::Catalog;
use mesh::catalog::{ApiVersion, EgressMode};
use mesh::config::{EnvironmentConfig, TeamConfig};
use mesh::validate::SchemaVersion;

#[test]
fn example_catalog_maps_mesh_versions_to_api_versions() {
    let catalog = catalog();
    let dev = catalog.environment("dev").unwrap();
    let prod = catalog.environment("prod").unwrap();
    assert_eq!(dev.api_version(), ApiVersion::V1);
    assert_eq!(dev.mesh.schema_version(), SchemaVersion::Istio1_24);
    assert_eq!(prod.api_version(), ApiVersion::V1Beta1);
    assert_eq!(prod.mesh.schema_version(), SchemaVersion::Istio1_20);
    assert_eq!(prod.root_namespace.as_str(), "istio-ingress");
    assert_eq!(
        prod.path_template.as_str(),
        "<env>/<namespace>/<kind>-<name>.yaml"
    );
    assert!(
        matches!(&prod.egress, EgressMode::Gateway(gw) if gw.service.as_str() == "istio-egressgateway.istio-egress.svc.cluster.local")
    );
    assert_eq!(prod.approval.approvals_required, 2);
    assert_eq!(
        catalog
            .namespace_owner(&"team-b".try_into().unwrap())
            .unwrap()
            .name
            .as_str(),
        "team-b"
    );
    let groups = vec!["team-a".to_owned()];
    assert_eq!(catalog.teams_for_groups(&groups).count(), 1);
}

#[test]
fn istio_versions_pick_api_version_and_schema_bundle() {
    use mesh::catalog::MeshVersion;
    let case = |f: &str, v: &str| {
        let m = MeshVersion::parse(f, v).unwrap();
        (m.api_version(), m.schema_version())
    };
    assert_eq!(
        case("istio", "1.21.3"),
        (ApiVersion::V1Beta1, SchemaVersion::Istio1_20)
    );
    assert_eq!(
        case("istio", "1.22"),
        (ApiVersion::V1, SchemaVersion::Istio1_24)
    );
    assert_eq!(
        case("istio", "1.30"),
        (ApiVersion::V1, SchemaVersion::Istio1_30)
    );
    assert_eq!(
        case("openshiftServiceMesh", "3.0"),
        (ApiVersion::V1, SchemaVersion::Istio1_24)
    );
    for (f, v) in [
        ("istio", "1.19"),
        ("istio", "1.31"),
        ("istio", "2.0"),
        ("istio", "1.x"),
        ("openshiftServiceMesh", "2.3"),
        ("linkerd", "2.14"),
        ("istio", "1.24.1.2"),
    ] {
        assert!(MeshVersion::parse(f, v).is_err(), "{f} {v}");
    }
}

const TOML_EXAMPLE: &str = r#"
[[environments]]
name = "dev"
hosts = ["api.dev.example.com"]
ingressGateway = "istio-ingress/public-gw"
mesh = { flavour = "istio", version = "1.24" }
egress = { mode = "direct" }
sidecar = { registryOnly = true }
policy = { reservedPrefixes = ["/admin", "/internal"], deniedHosts = ["metadata.google.internal", "*.corp.example.com"], allowedPorts = [443, 8443], allowedProtocols = ["TLS", "HTTPS"], allowWildcardHosts = true }
approval = { approvalsRequired = 1, approverGroups = ["platform-approvers"] }

[[environments]]
name = "prod"
hosts = ["api.prod.example.com"]
ingressGateway = "istio-ingress/public-gw"
mesh = { flavour = "openshiftServiceMesh", version = "2.6" }
gitops = { repository = "platform/mesh-config", baseBranch = "main" }
egress = { mode = "gateway", gateway = "istio-egress/egress-gw" }
sidecar = { registryOnly = true }
policy = { reservedPrefixes = ["/admin", "/internal"], deniedHosts = ["metadata.google.internal", "*.corp.example.com"], allowedPorts = [443], allowedProtocols = ["TLS", "HTTPS"] }
approval = { approvalsRequired = 2, approverGroups = ["platform-approvers"] }

[[teams]]
name = "team-a"
groups = ["team-a"]
namespaces = ["team-a"]
approverGroups = ["team-a-leads"]

[[teams]]
name = "team-b"
groups = ["team-b"]
namespaces = ["team-b"]
approverGroups = ["team-b-leads"]
"#;

#[derive(Debug, serde::Deserialize)]
struct TomlFile {
    environments: Vec<EnvironmentConfig>,
    teams: Vec<TeamConfig>,
}

#[test]
fn the_toml_form_of_the_example_is_the_same_config() {
    let from_toml: TomlFile = toml::from_str(TOML_EXAMPLE).expect("TOML deserializes");
    let from_json = catalog_file();
    assert_eq!(from_toml.environments, from_json.environments);
    assert_eq!(from_toml.teams, from_json.teams);
}

#[test]
fn unknown_config_keys_are_refused() {
    let text = TOML_EXAMPLE.replace(
        "sidecar = { registryOnly = true }",
        "sidecar = { registryOnly = true, registyOnly = false }",
    );
    assert!(
        toml::from_str::<TomlFile>(&text)
            .unwrap_err()
            .to_string()
            .contains("registyOnly")
    );
}

#[test]
fn config_problems_name_their_path_and_are_all_reported() {
    let mut file = catalog_file();
    file.environments[0]
        .hosts
        .push("API.dev.example.com".into());
    file.environments[1].mesh.version = "1.24".into();
    file.environments[1].egress.gateway = None;
    file.environments[1].policy.allowed_ports = Some(vec![0]);
    file.environments[0].gitops.path_template = Some("../<name>.yaml".into());
    file.teams[1].namespaces.push("team-a".into());
    let problems = Catalog::from_config(file.environments, file.teams).unwrap_err();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    for expected in [
        "environments[0].hosts[1]",
        "environments[0].gitops.pathTemplate",
        "environments[1].mesh.version",
        "environments[1].egress.gateway",
        "environments[1].policy.allowedPorts[0]",
        "teams[1].namespaces[1]",
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} missing from {fields:?}"
        );
    }
}

#[test]
fn teams_cannot_own_the_platform_namespaces() {
    let mut file = catalog_file();
    file.teams[0].namespaces.push("istio-egress".into());
    let problems = Catalog::from_config(file.environments, file.teams).unwrap_err();
    assert_eq!(problems[0].field, "teams[0].namespaces[1]");
    assert!(problems[0].message.contains("platform"));
}

#[test]
fn duplicate_environments_and_teams_are_refused() {
    let mut file = catalog_file();
    file.environments.push(file.environments[0].clone());
    file.teams.push(file.teams[0].clone());
    let problems = Catalog::from_config(file.environments, file.teams).unwrap_err();
    assert!(problems.iter().any(|p| p.field == "environments[2].name"));
    assert!(problems.iter().any(|p| p.field == "teams[2].namespaces[0]"));
}

#[test]
fn hosts_whose_object_names_collide_are_refused() {
    let mut file = catalog_file();
    file.environments[0].hosts = vec!["a-b.example.com".into(), "a.b-example.com".into()];
    let problems = Catalog::from_config(file.environments, file.teams).unwrap_err();
    assert!(
        problems[0].message.contains("same object name"),
        "{problems:?}"
    );
}

#[test]
fn path_templates_must_keep_objects_apart() {
    use mesh::catalog::PathTemplate;
    assert!(PathTemplate::parse("clusters/<env>/<namespace>/<kind>/<name>.yaml").is_ok());
    for bad in [
        "<env>/<name>.yaml",
        "/<namespace>/<kind>-<name>.yaml",
        "<namespace>/<kind>-<name>.yml",
        "<namespace>/<kind>-<name>-<team>.yaml",
        "<namespace>//<kind>-<name>.yaml",
        "<namespace>/<kind> <name>.yaml",
    ] {
        assert!(PathTemplate::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn cluster_and_observability_mistakes_name_the_field() {
    use mesh::config::{ClusterConfig, ObservabilityConfig};
    let cases: [(ClusterConfig, ObservabilityConfig, &str, &str); 4] = [
        (
            ClusterConfig {
                in_cluster: true,
                kubeconfig: Some("k".to_owned()),
                ..ClusterConfig::default()
            },
            ObservabilityConfig::default(),
            "environments[0].cluster",
            "exactly one source",
        ),
        (
            ClusterConfig {
                fixture: Some("f.yaml".to_owned()),
                context: Some("dev".to_owned()),
                ..ClusterConfig::default()
            },
            ObservabilityConfig::default(),
            "environments[0].cluster.context",
            "only applies with kubeconfig",
        ),
        (
            ClusterConfig {
                in_cluster: true,
                application: Some("mesh-dev".to_owned()),
                ..ClusterConfig::default()
            },
            ObservabilityConfig::default(),
            "environments[0].cluster.application",
            "expected namespace/name",
        ),
        (
            ClusterConfig {
                in_cluster: true,
                ..ClusterConfig::default()
            },
            ObservabilityConfig {
                grafana: Some("grafana.example.com".to_owned()),
                ..ObservabilityConfig::default()
            },
            "environments[0].observability.grafana",
            "is not a URL",
        ),
    ];
    for (cluster, observability, field, expected) in cases {
        let mut file = common::catalog_file();
        file.environments[0].cluster = Some(cluster);
        file.environments[0].observability = observability;
        let problems = mesh::Catalog::from_config(file.environments, file.teams).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.field == field && p.message.contains(expected)),
            "{field}: {problems:?}"
        );
    }
}
