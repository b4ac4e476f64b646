//! Rendered pull requests for representative requests in both API versions (insta snapshots in
//! `tests/snapshots/`, reviewed), and the plan's guarantees: determinism, kustomizations that
//! list every file of a directory, only touched files, validation of everything returned.

mod common;

use common::{catalog, egress, parse_one, route};
use mesh::validate::{SchemaVersion, validation_errors};
use mesh::{parse_documents, plan};

const EXAMPLE: &str = include_str!("fixtures/requests/orders.yaml");

#[test]
fn prod_example_renders_v1beta1_objects() {
    let requests = parse_documents("orders.yaml", EXAMPLE).unwrap();
    let plan = plan(&catalog(), &[], &requests).expect("example plans");
    assert!(
        plan.files
            .iter()
            .all(|f| !f.contents.contains("networking.istio.io/v1\n"))
    );
    insta::assert_snapshot!("prod_orders_v1beta1", plan.to_multi_document_yaml());
}

#[test]
fn prod_egress_through_the_gateway_renders_the_gateway_variant() {
    let text = "kind: Egress\nenvironment: prod\nteam: team-b\nnamespace: team-b\nhosts: [api.partner.com]\nports: [{number: 443, protocol: TLS}]\nviaEgressGateway: true\n";
    let granted = [parse_one(
        &text
            .replace("team-b", "team-a")
            .replace("api.partner.com", "api.stripe.com"),
    )];
    let plan = plan(&catalog(), &granted, &[parse_one(text)]).expect("gateway egress plans");
    insta::assert_snapshot!("prod_egress_gateway_v1beta1", plan.to_multi_document_yaml());
}

#[test]
fn dev_routes_and_wildcard_egress_render_v1_objects() {
    let text = "kind: ApiRoute\nenvironment: dev\nteam: team-b\nhost: api.dev.example.com\npath: /pay/\nrewrite: /\ntarget: {namespace: team-b, service: pay, port: 80}\ntimeout: 1.5s\n\
                ---\nkind: ApiRoute\nenvironment: dev\nteam: team-b\nhost: api.dev.example.com\npath: /pay/health\nmatch: exact\ntarget: {namespace: team-b, service: pay-health, port: 8081}\nretries: {attempts: 0}\n\
                ---\nkind: Egress\nenvironment: dev\nteam: team-b\nnamespace: team-b\nhosts: [\"*.partner.com\", api.stripe.com]\nports: [{number: 443, protocol: HTTPS}, {number: 8443, protocol: TLS}]\n";
    let requests = parse_documents("pay.yaml", text).unwrap();
    let granted = [route("dev", "team-a", "/orders", "prefix")];
    let plan = plan(&catalog(), &granted, &requests).expect("dev requests plan");
    insta::assert_snapshot!("dev_routes_and_egress_v1", plan.to_multi_document_yaml());
}

#[test]
fn plans_are_byte_for_byte_deterministic() {
    let requests = parse_documents("orders.yaml", EXAMPLE).unwrap();
    let granted = [
        route("prod", "team-b", "/pay", "prefix"),
        egress("prod", "team-b", "api.x.com"),
    ];
    let first = plan(&catalog(), &granted, &requests)
        .unwrap()
        .to_multi_document_yaml();
    for _ in 0..5 {
        assert_eq!(
            plan(&catalog(), &granted, &requests)
                .unwrap()
                .to_multi_document_yaml(),
            first
        );
    }
}

#[test]
fn only_touched_files_are_returned_but_kustomizations_list_the_whole_directory() {
    let granted = [
        egress("dev", "team-a", "api.one.com"),
        route("dev", "team-b", "/b", "prefix"),
    ];
    let plan = plan(
        &catalog(),
        &granted,
        &[egress("dev", "team-a", "api.two.com")],
    )
    .unwrap();
    let paths: Vec<&str> = plan.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "dev/team-a/kustomization.yaml",
            "dev/team-a/namespace-team-a.yaml",
            "dev/team-a/peerauthentication-default.yaml",
            "dev/team-a/serviceentry-api.two.com.yaml",
            "dev/team-a/sidecar-default.yaml",
        ]
    );
    let kustomization = &plan.files[0].contents;
    assert!(kustomization.contains("- serviceentry-api.one.com.yaml\n- serviceentry-api.two.com.yaml\n- sidecar-default.yaml\n"), "{kustomization}");
    assert!(
        plan.files[4].contents.contains("'*/*.svc.cluster.local'"),
        "the Sidecar keeps the in-cluster services"
    );
}

/// The egress hosts of every generated Sidecar, by path.
fn sidecars(plan: &mesh::Plan) -> Vec<(String, Vec<String>)> {
    plan.files
        .iter()
        .filter(|f| f.path.ends_with("/sidecar-default.yaml"))
        .map(|f| {
            let value: serde_json::Value = serde_norway::from_str(&f.contents).expect("yaml");
            let hosts = value["spec"]["egress"][0]["hosts"]
                .as_array()
                .expect("hosts")
                .iter()
                .map(|h| h.as_str().expect("a string").to_owned())
                .collect();
            (f.path.clone(), hosts)
        })
        .collect()
}

#[test]
fn a_first_egress_grant_keeps_the_namespace_reaching_the_rest_of_the_cluster() {
    // The Sidecar of a first grant used to list only ./*, istio-system/* and the granted host,
    // cutting the namespace off from every other namespace and from the Kubernetes API.
    let plan = plan(
        &catalog(),
        &[],
        &[egress("dev", "team-a", "api.stripe.com")],
    )
    .unwrap();

    let found = sidecars(&plan);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].1,
        ["./*", "istio-system/*", "*/*.svc.cluster.local"],
        "the namespace itself (and its grants), the control plane and in-cluster services"
    );
}

#[test]
fn every_team_namespace_gets_a_baseline_sidecar_with_or_without_grants() {
    let state =
        mesh::render_state(&catalog(), &[egress("dev", "team-a", "api.stripe.com")]).unwrap();

    let paths: Vec<String> = sidecars(&state).into_iter().map(|(p, _)| p).collect();
    let teams = common::catalog_file().teams;
    for team in teams {
        for namespace in team.namespaces {
            let path = format!("dev/{namespace}/sidecar-default.yaml");
            assert!(paths.contains(&path), "{path} missing from {paths:?}");
        }
    }
}

/// The outbound traffic policy of every generated Sidecar.
fn sidecar_modes(plan: &mesh::Plan) -> Vec<String> {
    plan.files
        .iter()
        .filter(|f| f.path.ends_with("/sidecar-default.yaml"))
        .map(|f| {
            let value: serde_json::Value = serde_norway::from_str(&f.contents).expect("yaml");
            value["spec"]["outboundTrafficPolicy"]["mode"]
                .as_str()
                .expect("a mode")
                .to_owned()
        })
        .collect()
}

#[test]
fn without_registry_only_the_baseline_sidecar_is_still_generated_and_allows_any() {
    // Before, an environment that did not ask for REGISTRY_ONLY got no Sidecar at all.
    let mut file = common::catalog_file();
    for env in &mut file.environments {
        env.sidecar.registry_only = false;
    }
    let allow_any = mesh::Catalog::from_config(file.environments, file.teams).unwrap();
    let state = mesh::render_environment(&allow_any, "dev", &[])
        .unwrap()
        .unwrap();
    let modes = sidecar_modes(&state);
    assert!(!modes.is_empty());
    assert!(modes.iter().all(|m| m == "ALLOW_ANY"), "{modes:?}");
    let with = mesh::render_environment(&catalog(), "dev", &[])
        .unwrap()
        .unwrap();
    let modes = sidecar_modes(&with);
    assert!(!modes.is_empty() && modes.iter().all(|m| m == "REGISTRY_ONLY"));
}

#[test]
fn the_sidecar_keeps_the_configured_control_plane_namespace() {
    let mut file = common::catalog_file();
    file.environments[0].sidecar.control_plane_namespace = Some("istio-system-prod".to_owned());
    let env = file.environments[0].name.clone();
    let catalog =
        mesh::Catalog::from_config(file.environments.clone(), file.teams.clone()).unwrap();
    let state = mesh::render_environment(&catalog, &env, &[])
        .unwrap()
        .unwrap();
    let hosts: Vec<Vec<String>> = sidecars(&state)
        .into_iter()
        .filter(|(path, _)| path.starts_with(&format!("{env}/")))
        .map(|(_, hosts)| hosts)
        .collect();
    assert!(!hosts.is_empty());
    for hosts in hosts {
        assert_eq!(
            hosts,
            ["./*", "istio-system-prod/*", "*/*.svc.cluster.local"]
        );
    }

    file.environments[0].sidecar.control_plane_namespace = Some("Istio System".to_owned());
    let problems = mesh::Catalog::from_config(file.environments, file.teams).expect_err("refused");
    assert!(
        problems
            .iter()
            .any(|p| p.field.contains("sidecar.controlPlaneNamespace")),
        "{problems:?}"
    );
}

#[test]
fn a_new_route_brings_its_namespace_sidecar_so_the_kustomization_builds() {
    let plan = plan(&catalog(), &[], &[route("dev", "team-b", "/b", "prefix")]).unwrap();

    let paths: Vec<&str> = plan.files.iter().map(|f| f.path.as_str()).collect();
    assert!(
        paths.contains(&"dev/team-b/sidecar-default.yaml"),
        "{paths:?}"
    );
}

#[test]
fn a_team_can_add_sidecar_hosts_for_services_it_calls() {
    let mut file = common::catalog_file();
    file.teams[0].sidecar_egress_hosts = vec!["payments/*".to_owned()];
    let team = file.teams[0].name.clone();
    let namespace = file.teams[0].namespaces[0].clone();
    let catalog = mesh::Catalog::from_config(file.environments, file.teams).unwrap();

    let state = mesh::render_state(&catalog, &[route("dev", &team, "/x", "prefix")]).unwrap();

    let (_, hosts) = sidecars(&state)
        .into_iter()
        .find(|(p, _)| *p == format!("dev/{namespace}/sidecar-default.yaml"))
        .expect("the team's sidecar");
    assert!(hosts.contains(&"payments/*".to_owned()), "{hosts:?}");
    assert!(
        hosts.contains(&"*/*.svc.cluster.local".to_owned()),
        "{hosts:?}"
    );
}

#[test]
fn root_virtual_service_is_regenerated_from_every_lease_of_its_host() {
    let granted = [
        route("prod", "team-b", "/pay", "prefix"),
        route("prod", "team-a", "/a/b/c", "exact"),
    ];
    let plan = plan(
        &catalog(),
        &granted,
        &[route("prod", "team-a", "/orders/v1", "prefix")],
    )
    .unwrap();
    let root = plan
        .files
        .iter()
        .find(|f| f.path.ends_with("-root.yaml"))
        .unwrap();
    let order: Vec<usize> = [
        "exact: /a/b/c",
        "exact: /orders/v1",
        "exact: /pay",
        "default-404",
    ]
    .iter()
    .map(|needle| {
        root.contents
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} missing"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "most specific first, catch-all last: {order:?}"
    );
    assert!(
        !plan
            .files
            .iter()
            .any(|f| f.path == "prod/team-b/virtualservice-api-prod-example-com.yaml"),
        "team-b's delegate is untouched"
    );
}

#[test]
fn every_returned_object_passes_validation_after_reading_it_back() {
    let requests = parse_documents("orders.yaml", EXAMPLE).unwrap();
    let plan = plan(&catalog(), &[], &requests).unwrap();
    for file in plan
        .files
        .iter()
        .filter(|f| !f.path.ends_with("kustomization.yaml"))
    {
        let value: serde_json::Value = serde_norway::from_str(&file.contents).unwrap();
        assert_eq!(
            validation_errors(SchemaVersion::Istio1_20, &value),
            [],
            "{}",
            file.path
        );
    }
}

#[test]
fn multi_document_output_marks_every_file() {
    let requests = parse_documents("orders.yaml", EXAMPLE).unwrap();
    let plan = plan(&catalog(), &[], &requests).unwrap();
    let yaml = plan.to_multi_document_yaml();
    assert_eq!(yaml.matches("# file: ").count(), plan.files.len());
    let documents: Vec<serde_json::Value> = serde_norway::Deserializer::from_str(&yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(documents.len(), plan.files.len());
}

#[test]
fn a_plan_without_new_requests_has_no_files() {
    let plan = plan(&catalog(), &[route("prod", "team-a", "/x", "prefix")], &[]).unwrap();
    assert!(plan.files.is_empty());
}

/// Every `uri` match of every HTTP route of a VirtualService file, as `exact:/x` or `prefix:/x/`.
fn uri_matches_of(plan: &mesh::Plan, path: &str) -> Vec<String> {
    let file = plan
        .files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} is in the plan"));
    let value: serde_json::Value = serde_norway::from_str(&file.contents).expect("yaml");
    let mut found = Vec::new();
    for route in value["spec"]["http"].as_array().expect("http routes") {
        for m in route["match"].as_array().into_iter().flatten() {
            for (kind, text) in m["uri"].as_object().expect("uri") {
                found.push(format!("{kind}:{}", text.as_str().expect("string")));
            }
        }
    }
    found
}

#[test]
fn a_prefix_beside_an_exact_lease_of_the_same_path_adds_no_unreachable_match() {
    // Holding exact /orders and asking for prefix /orders used to add a second exact /orders
    // match that could never be reached, in the root and in the delegate.
    let granted = [route("dev", "team-a", "/orders", "exact")];
    let plan = plan(
        &catalog(),
        &granted,
        &[route("dev", "team-a", "/orders", "prefix")],
    )
    .unwrap();

    for file in [
        "dev/istio-ingress/virtualservice-api-dev-example-com-root.yaml",
        "dev/team-a/virtualservice-api-dev-example-com.yaml",
    ] {
        let matches = uri_matches_of(&plan, file);
        let exact = matches.iter().filter(|m| *m == "exact:/orders").count();
        assert_eq!(exact, 1, "{file}: {matches:?}");
        assert!(
            matches.contains(&"prefix:/orders/".to_owned()),
            "{file}: {matches:?}"
        );
    }
}

#[test]
fn a_prefix_beside_a_slash_prefix_lease_of_the_same_path_adds_no_unreachable_match() {
    // Holding prefix /shop/ and asking for prefix /shop added a second prefix /shop/ match that
    // the first always took (IST0131); and with exact /shop held too, a rule without any match,
    // which would take every request of the host.
    let granted = [route("dev", "team-a", "/shop/", "prefix")];
    let first = plan(
        &catalog(),
        &granted,
        &[route("dev", "team-a", "/shop", "prefix")],
    )
    .unwrap();
    for file in [
        "dev/istio-ingress/virtualservice-api-dev-example-com-root.yaml",
        "dev/team-a/virtualservice-api-dev-example-com.yaml",
    ] {
        let matches = uri_matches_of(&first, file);
        assert_eq!(
            matches.iter().filter(|m| *m == "prefix:/shop/").count(),
            1,
            "{file}: {matches:?}"
        );
        assert!(
            matches.contains(&"exact:/shop".to_owned()),
            "{file}: {matches:?}"
        );
    }
    let all_held = [
        route("dev", "team-a", "/shop/", "prefix"),
        route("dev", "team-a", "/shop", "exact"),
    ];
    let second = plan(
        &catalog(),
        &all_held,
        &[route("dev", "team-a", "/shop", "prefix")],
    )
    .unwrap();
    assert!(second.warnings.is_empty(), "{:?}", second.warnings);
    for file in [
        "dev/istio-ingress/virtualservice-api-dev-example-com-root.yaml",
        "dev/team-a/virtualservice-api-dev-example-com.yaml",
    ] {
        let contents = &second
            .files
            .iter()
            .find(|f| f.path == file)
            .expect(file)
            .contents;
        let value: serde_json::Value = serde_norway::from_str(contents).expect("yaml");
        for rule in value["spec"]["http"].as_array().expect("rules") {
            assert!(
                rule.get("match").is_some() || rule.get("directResponse").is_some(),
                "{file}: a rule without matches {rule}"
            );
        }
    }
}

#[test]
fn every_http_route_has_a_stable_unique_name() {
    let granted = [
        route("dev", "team-a", "/a/b", "prefix"),
        route("dev", "team-a", "/orders", "exact"),
        route("dev", "team-b", "/a-b", "prefix"),
    ];
    let state = mesh::render_state(&catalog(), &granted).unwrap();
    let again = mesh::render_state(&catalog(), &granted).unwrap();
    assert_eq!(state, again);

    for file in state
        .files
        .iter()
        .filter(|f| f.path.contains("virtualservice-"))
    {
        let value: serde_json::Value = serde_norway::from_str(&file.contents).expect("yaml");
        let names: Vec<&str> = value["spec"]["http"]
            .as_array()
            .expect("http")
            .iter()
            .map(|route| {
                route["name"]
                    .as_str()
                    .unwrap_or_else(|| panic!("unnamed route in {}", file.path))
            })
            .collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{}: {names:?}", file.path);
    }
    let root = state
        .files
        .iter()
        .find(|f| f.path.ends_with("-root.yaml"))
        .expect("root");
    assert!(root.contents.contains("name: a-b-"), "{}", root.contents);
    assert!(
        root.contents.contains("name: orders-exact-"),
        "{}",
        root.contents
    );
}

/// An egress request of team-a's namespace in prod through the egress gateway.
fn gateway_egress(host: &str, ports: &str) -> mesh::Request {
    parse_one(&format!(
        "kind: Egress\nenvironment: prod\nteam: team-a\nnamespace: team-a\nhosts: [\"{host}\"]\n\
         ports: {ports}\nviaEgressGateway: true\n"
    ))
}

#[test]
fn sidecars_reach_the_egress_gateway_on_its_own_port_and_it_leaves_on_the_requested_one() {
    // A grant on 8443 used to send sidecars to gateway port 8443, which its Service does not
    // expose.
    let mut file = common::catalog_file();
    file.environments[1].policy.allowed_ports = Some(vec![443, 8443]);
    let catalog = mesh::Catalog::from_config(file.environments, file.teams).unwrap();
    let plan = plan(
        &catalog,
        &[],
        &[gateway_egress(
            "api.partner.com",
            "[{number: 8443, protocol: TLS}]",
        )],
    )
    .unwrap();

    let vs = plan
        .files
        .iter()
        .find(|f| f.path == "prod/team-a/virtualservice-api.partner.com.yaml")
        .expect("the egress VirtualService");
    let value: serde_json::Value = serde_norway::from_str(&vs.contents).unwrap();
    let tls = value["spec"]["tls"].as_array().unwrap();
    assert_eq!(
        tls[0]["match"][0]["port"], 8443,
        "sidecars catch the app's port"
    );
    assert_eq!(tls[0]["route"][0]["destination"]["port"]["number"], 443);
    assert_eq!(
        tls[1]["match"][0]["port"], 443,
        "the gateway listens on 443"
    );
    assert_eq!(tls[1]["route"][0]["destination"]["port"]["number"], 8443);
    let gateway = plan
        .files
        .iter()
        .find(|f| f.path.ends_with("/gateway-egress-gw.yaml"))
        .expect("the egress Gateway");
    assert!(
        gateway.contents.contains("number: 443"),
        "{}",
        gateway.contents
    );
    assert!(!gateway.contents.contains("8443"), "{}", gateway.contents);
}

#[test]
fn through_the_egress_gateway_a_host_takes_one_port() {
    let mut file = common::catalog_file();
    file.environments[1].policy.allowed_ports = Some(vec![443, 8443]);
    let catalog = mesh::Catalog::from_config(file.environments, file.teams).unwrap();

    let two_ports = plan(
        &catalog,
        &[],
        &[gateway_egress(
            "api.partner.com",
            "[{number: 443, protocol: TLS}, {number: 8443, protocol: TLS}]",
        )],
    )
    .unwrap_err();
    assert_eq!(two_ports[0].field, "ports");
    assert!(
        two_ports[0].message.contains("one port"),
        "{}",
        two_ports[0].message
    );

    let granted = [gateway_egress(
        "api.partner.com",
        "[{number: 443, protocol: TLS}]",
    )];
    let other_port = plan(
        &catalog,
        &granted,
        &[gateway_egress(
            "api.partner.com",
            "[{number: 8443, protocol: TLS}]",
        )],
    )
    .unwrap_err();
    assert_eq!(other_port[0].field, "hosts[0]");
    assert!(
        other_port[0]
            .message
            .contains("already goes through the egress gateway on port 443"),
        "{}",
        other_port[0].message
    );
}

/// The example catalog with `/.well-known` served by the platform in every environment.
fn catalog_with_platform_routes() -> mesh::Catalog {
    let mut file = common::catalog_file();
    for env in &mut file.environments {
        env.platform_routes = vec![mesh::config::PlatformRouteConfig {
            prefix: "/.well-known".to_owned(),
            service: "well-known.platform.svc.cluster.local".to_owned(),
            port: 8080,
        }];
    }
    mesh::Catalog::from_config(file.environments, file.teams).expect("valid")
}

/// The `http` rule names of the root VirtualService in `plan`.
fn root_rule_names(plan: &mesh::Plan) -> Vec<String> {
    let root = plan
        .files
        .iter()
        .find(|f| f.path.contains("-root.yaml"))
        .expect("a root VirtualService");
    let value: serde_json::Value = serde_norway::from_str(&root.contents).expect("yaml");
    value["spec"]["http"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|rule| rule["name"].as_str().expect("named").to_owned())
        .collect()
}

#[test]
fn platform_routes_come_first_in_the_root_and_their_prefixes_are_reserved() {
    let catalog = catalog_with_platform_routes();
    let plan = plan(
        &catalog,
        &[],
        &[route("dev", "team-a", "/orders", "prefix")],
    )
    .unwrap();
    let names = root_rule_names(&plan);
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names[0].starts_with("platform-well-known-"), "{names:?}");
    assert!(names[1].starts_with("orders-"), "{names:?}");
    assert_eq!(names[2], "default-404");
    insta::assert_snapshot!("dev_platform_routes_v1", plan.to_multi_document_yaml());

    // Nobody may lease the platform's prefix, or anything under it.
    for path in ["/.well-known", "/.well-known/openid-configuration"] {
        let refused = plan_err(&catalog, route("dev", "team-a", path, "prefix"));
        assert!(
            refused.iter().any(|p| p.message.contains("reserved")),
            "{path}: {refused:?}"
        );
    }
}

fn plan_err(catalog: &mesh::Catalog, request: mesh::Request) -> Vec<mesh::Problem> {
    match plan(catalog, &[], &[request]) {
        Ok(_) => panic!("accepted"),
        Err(problems) => problems,
    }
}

#[test]
fn a_host_without_routes_still_serves_the_platform_prefixes() {
    let state = mesh::render_environment(&catalog_with_platform_routes(), "prod", &[])
        .unwrap()
        .unwrap();
    let names = root_rule_names(&state);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].starts_with("platform-well-known-"));
    insta::assert_snapshot!(
        "prod_platform_routes_v1beta1",
        state.to_multi_document_yaml()
    );
    // Without platform routes, a host nobody routes on has no root.
    let plain = mesh::render_environment(&catalog(), "prod", &[])
        .unwrap()
        .unwrap();
    assert!(!plain.files.iter().any(|f| f.path.contains("-root.yaml")));
}

#[test]
fn platform_route_config_is_checked_field_by_field() {
    let mut file = common::catalog_file();
    file.environments[0].platform_routes = vec![
        mesh::config::PlatformRouteConfig {
            prefix: "/".to_owned(),
            service: "a.platform.svc.cluster.local".to_owned(),
            port: 80,
        },
        mesh::config::PlatformRouteConfig {
            prefix: "/.well-known".to_owned(),
            service: "not a host".to_owned(),
            port: 70000,
        },
    ];
    let problems = mesh::Catalog::from_config(file.environments, file.teams).expect_err("refused");
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    for field in [
        "platformRoutes[0].prefix",
        "platformRoutes[1].service",
        "platformRoutes[1].port",
    ] {
        assert!(
            fields.iter().any(|f| f.ends_with(field)),
            "{field} in {fields:?}"
        );
    }
}
