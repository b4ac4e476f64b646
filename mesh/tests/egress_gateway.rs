//! The egress gateway as platform teams run it: required for all egress, its pods in a namespace
//! of their own, its Gateway and DestinationRule owned by the platform; and the layouts of both
//! API versions with direct and gateway egress.

mod common;

use common::parse_one;
use mesh::config::EgressConfig;
use mesh::plan;

/// The example catalog with `egress` as the gateway configuration of `env`.
fn catalog_with(env: &str, egress: EgressConfig) -> mesh::Catalog {
    let mut file = common::catalog_file();
    for environment in &mut file.environments {
        if environment.name == env {
            environment.egress = egress.clone();
        }
    }
    mesh::Catalog::from_config(file.environments, file.teams).expect("valid")
}

fn gateway(required: bool, platform_owned: bool) -> EgressConfig {
    EgressConfig {
        mode: "gateway".to_owned(),
        gateway: Some("istio-egress/egress-gw".to_owned()),
        service: Some("egress-gw.istio-egress.svc.cluster.local".to_owned()),
        workload_namespace: Some("egress-pods".to_owned()),
        required,
        platform_owned,
        subset: platform_owned.then(|| "outbound".to_owned()),
        ..EgressConfig::default()
    }
}

fn egress(env: &str, via_gateway: Option<bool>) -> mesh::Request {
    let via = via_gateway
        .map(|v| format!("viaEgressGateway: {v}\n"))
        .unwrap_or_default();
    parse_one(&format!(
        "kind: Egress\nenvironment: {env}\nteam: team-a\nnamespace: team-a\nhosts: [api.stripe.com]\n\
         ports: [{{number: 443, protocol: TLS}}]\n{via}"
    ))
}

fn objects_of(plan: &mesh::Plan) -> Vec<serde_json::Value> {
    plan.files
        .iter()
        .filter(|f| !f.path.ends_with("kustomization.yaml"))
        .map(|f| serde_norway::from_str(&f.contents).expect("yaml"))
        .collect()
}

fn of_kind<'a>(objects: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

#[test]
fn where_the_gateway_is_required_egress_that_bypasses_it_is_refused() {
    let catalog = catalog_with("dev", gateway(true, false));
    for via in [None, Some(false)] {
        let problems = plan(&catalog, &[], &[egress("dev", via)]).expect_err("refused");
        let message = problems
            .iter()
            .find(|p| p.field == "viaEgressGateway")
            .map(|p| p.message.clone())
            .unwrap_or_else(|| panic!("{problems:?}"));
        assert!(
            message.contains("sends all egress through its egress gateway istio-egress/egress-gw")
                && message.contains("viaEgressGateway: true"),
            "{message}"
        );
    }
    plan(&catalog, &[], &[egress("dev", Some(true))]).expect("through the gateway");
}

#[test]
fn visibility_names_the_namespace_of_the_gateway_pods() {
    let catalog = catalog_with("dev", gateway(true, false));
    let plan = plan(&catalog, &[], &[egress("dev", Some(true))]).expect("plans");
    let objects = objects_of(&plan);
    let entry = of_kind(&objects, "ServiceEntry")[0];
    assert_eq!(
        entry["spec"]["exportTo"],
        serde_json::json!([".", "egress-pods"])
    );
    let route = of_kind(&objects, "VirtualService")[0];
    assert_eq!(
        route["spec"]["exportTo"],
        serde_json::json!([".", "egress-pods"])
    );
    let sidecar = of_kind(&objects, "Sidecar")[0];
    let hosts = sidecar["spec"]["egress"][0]["hosts"]
        .as_array()
        .expect("hosts");
    assert!(
        hosts.contains(&serde_json::json!("egress-pods/*")),
        "{hosts:?}"
    );

    // No team may own the namespace of the gateway pods.
    let mut file = common::catalog_file();
    file.environments[0].egress = gateway(true, false);
    file.teams[0].namespaces.push("egress-pods".to_owned());
    let problems = mesh::Catalog::from_config(file.environments, file.teams).expect_err("refused");
    assert!(
        problems.iter().any(|p| p.message.contains("egress-pods")),
        "{problems:?}"
    );
}

#[test]
fn a_platform_owned_gateway_and_destination_rule_are_referenced_not_generated() {
    let owned = plan(
        &catalog_with("dev", gateway(true, true)),
        &[],
        &[egress("dev", Some(true))],
    )
    .expect("plans");
    let objects = objects_of(&owned);
    assert!(
        of_kind(&objects, "Gateway").is_empty(),
        "the platform's Gateway stays theirs"
    );
    assert!(of_kind(&objects, "DestinationRule").is_empty());
    let route = of_kind(&objects, "VirtualService")[0];
    let to_gateway = &route["spec"]["tls"][0]["route"][0]["destination"];
    assert_eq!(to_gateway["subset"], "outbound", "the platform's subset");
    assert_eq!(
        to_gateway["host"],
        "egress-gw.istio-egress.svc.cluster.local"
    );
    assert_eq!(route["spec"]["gateways"][1], "istio-egress/egress-gw");

    let generated = plan(
        &catalog_with("dev", gateway(true, false)),
        &[],
        &[egress("dev", Some(true))],
    )
    .expect("plans");
    let objects = objects_of(&generated);
    assert_eq!(of_kind(&objects, "Gateway").len(), 1);
    assert_eq!(of_kind(&objects, "DestinationRule").len(), 1);
}

#[test]
fn gateway_settings_outside_gateway_mode_are_named() {
    let mut file = common::catalog_file();
    file.environments[0].egress = EgressConfig {
        required: true,
        workload_namespace: Some("egress-pods".to_owned()),
        ..EgressConfig::default()
    };
    file.environments[1].egress.subset = Some("outbound".to_owned());
    let problems = mesh::Catalog::from_config(file.environments, file.teams).expect_err("refused");
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    for field in [
        "egress.required",
        "egress.workloadNamespace",
        "egress.subset",
    ] {
        assert!(
            fields.iter().any(|f| f.ends_with(field)),
            "{field} in {fields:?}"
        );
    }
}

#[test]
fn layouts_of_both_api_versions_with_direct_and_gateway_egress() {
    // Istio (v1) through a required gateway whose pods run in their own namespace.
    let istio_gateway = plan(
        &catalog_with("dev", gateway(true, false)),
        &[],
        &[egress("dev", Some(true))],
    )
    .expect("plans");
    insta::assert_snapshot!(
        "dev_gateway_egress_v1",
        istio_gateway.to_multi_document_yaml()
    );
    // OpenShift Service Mesh 2.6 (v1beta1), direct.
    let ossm_direct = plan(
        &catalog_with("prod", EgressConfig::default()),
        &[],
        &[egress("prod", None)],
    )
    .expect("plans");
    insta::assert_snapshot!(
        "prod_direct_egress_v1beta1",
        ossm_direct.to_multi_document_yaml()
    );
}
