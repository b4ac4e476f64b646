//! The whole-plan analyzer, one case per finding, on objects written as an operator would find
//! them; and through `plan`, the one finding requests themselves can cause.

mod common;

use mesh::analyze::analyze;
use serde_json::{Value, json};

fn vs(namespace: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
           "metadata": {"name": name, "namespace": namespace}, "spec": spec})
}

fn exact(path: &str) -> Value {
    json!({"uri": {"exact": path}})
}

fn prefix(path: &str) -> Value {
    json!({"uri": {"prefix": path}})
}

fn root(rules: Value) -> Value {
    vs(
        "istio-ingress",
        "api-root",
        json!({"hosts": ["api.example.com"], "gateways": ["istio-ingress/public-gw"], "http": rules}),
    )
}

fn delegate(namespace: &str, rules: Value, export_to: Value) -> Value {
    vs(
        namespace,
        "api",
        json!({"exportTo": export_to, "http": rules}),
    )
}

fn messages(findings: &[mesh::Problem]) -> Vec<String> {
    findings.iter().map(|p| p.message.clone()).collect()
}

fn one_with(findings: &[mesh::Problem], code: &str) -> String {
    let found: Vec<String> = messages(findings)
        .into_iter()
        .filter(|m| m.contains(code))
        .collect();
    assert_eq!(found.len(), 1, "{code} in {findings:?}");
    found[0].clone()
}

#[test]
fn a_rule_after_a_catch_all_or_under_earlier_prefixes_is_unreachable() {
    let findings = analyze(&[
        root(json!([
            {"name": "orders", "match": [prefix("/orders")], "delegate": {"name": "api", "namespace": "team-a"}},
            {"name": "orders-v1", "match": [exact("/orders/v1"), prefix("/orders/v1/")], "delegate": {"name": "api", "namespace": "team-a"}},
            {"name": "default-404", "directResponse": {"status": 404}},
            {"name": "late", "match": [prefix("/late")], "directResponse": {"status": 404}}
        ])),
        delegate(
            "team-a",
            json!([{"match": [prefix("/orders")], "route": []}]),
            json!(["istio-ingress"]),
        ),
    ]);
    let unreachable: Vec<String> = messages(&findings.warnings)
        .into_iter()
        .filter(|m| m.starts_with("IST0130"))
        .collect();
    assert_eq!(unreachable.len(), 2, "{unreachable:?}");
    assert!(
        unreachable[0].contains("rule 1 (orders-v1)"),
        "{unreachable:?}"
    );
    assert!(
        unreachable[1].contains("rule 3 (late)") && unreachable[1].contains("rule 2 (default-404)")
    );
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
}

#[test]
fn a_match_an_earlier_rule_always_takes_is_ineffective() {
    // A team holding exact /orders and asking for prefix /orders used to get a second exact
    // /orders match that could never be reached.
    let findings = analyze(&[
        root(json!([
            {"name": "orders-exact", "match": [exact("/orders")], "delegate": {"name": "api", "namespace": "team-a"}},
            {"name": "orders", "match": [exact("/orders"), prefix("/orders/")], "delegate": {"name": "api", "namespace": "team-a"}}
        ])),
        delegate(
            "team-a",
            json!([{"match": [exact("/orders")]}, {"match": [prefix("/orders/")]}]),
            json!(["istio-ingress"]),
        ),
    ]);
    let message = one_with(&findings.warnings, "IST0131");
    assert!(
        message.contains("match 0 of rule 1 (orders)") && message.contains("rule 0 (orders-exact)"),
        "{message}"
    );
}

#[test]
fn delegates_must_exist_be_delegates_be_exported_and_match_inside_the_root() {
    let rules = json!([
        {"name": "a", "match": [prefix("/a/")], "delegate": {"name": "api", "namespace": "team-a"}},
        {"name": "b", "match": [prefix("/b/")], "delegate": {"name": "api", "namespace": "team-b"}},
        {"name": "c", "match": [prefix("/c/")], "delegate": {"name": "api", "namespace": "team-c"}},
        {"name": "d", "match": [prefix("/d/")], "delegate": {"name": "missing", "namespace": "team-d"}}
    ]);
    let with_hosts = vs(
        "team-b",
        "api",
        json!({"hosts": ["api.example.com"], "http": [{"match": [prefix("/b/")]}]}),
    );
    let findings = analyze(&[
        root(rules),
        delegate(
            "team-a",
            json!([{"match": [prefix("/a/")]}, {"match": [prefix("/elsewhere")]}]),
            json!(["istio-ingress"]),
        ),
        with_hosts,
        delegate("team-c", json!([{"match": [prefix("/c/")]}]), json!(["."])),
    ]);
    let errors = messages(&findings.errors);
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(
        errors
            .iter()
            .any(|m| m.contains("team-d/missing, which does not exist"))
    );
    assert!(
        errors
            .iter()
            .any(|m| m.contains("VirtualService team-b/api is a delegate")
                && m.contains("has hosts"))
    );
    assert!(
        errors
            .iter()
            .any(|m| m.contains("team-c/api is not exported to istio-ingress"))
    );
    assert!(
        errors
            .iter()
            .any(|m| m.contains("matches prefix /elsewhere outside what its root sends it"))
    );
}

#[test]
fn a_host_the_bound_gateway_does_not_list_is_reported() {
    let gateway = json!({"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": {"name": "egress-gw", "namespace": "istio-egress"},
        "spec": {"selector": {"istio": "egressgateway"}, "servers": [{"port": {"number": 443, "name": "tls", "protocol": "TLS"},
            "hosts": ["team-a/api.stripe.com"], "tls": {"mode": "PASSTHROUGH"}}]}});
    let served = vs(
        "team-a",
        "stripe",
        json!({"hosts": ["api.stripe.com"], "gateways": ["mesh", "istio-egress/egress-gw"]}),
    );
    let unlisted = vs(
        "team-b",
        "stripe",
        json!({"hosts": ["api.stripe.com"], "gateways": ["mesh", "istio-egress/egress-gw"]}),
    );
    let findings = analyze(&[gateway, served, unlisted]);
    let message = one_with(&findings.warnings, "IST0132");
    assert!(
        message.contains("VirtualService team-b/stripe serves api.stripe.com"),
        "{message}"
    );
}

fn entry(namespace: &str, host: &str, port: u64, protocol: &str, export_to: Value) -> Value {
    json!({"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
        "metadata": {"name": host, "namespace": namespace},
        "spec": {"hosts": [host], "exportTo": export_to, "location": "MESH_EXTERNAL",
                 "ports": [{"number": port, "name": format!("p-{port}"), "protocol": protocol}], "resolution": "DNS"}})
}

#[test]
fn a_route_to_an_external_port_its_entry_does_not_define_is_refused() {
    let route = vs(
        "team-a",
        "stripe",
        json!({"hosts": ["api.stripe.com"], "tls": [{"match": [{"port": 443, "sniHosts": ["api.stripe.com"]}],
        "route": [{"destination": {"host": "api.stripe.com", "port": {"number": 8443}}}]}]}),
    );
    let findings = analyze(&[
        entry("team-a", "api.stripe.com", 443, "TLS", json!(["."])),
        route,
    ]);
    let message = one_with(&findings.errors, "IST0101");
    assert!(message.contains("api.stripe.com port 8443"), "{message}");
}

#[test]
fn one_host_in_two_namespaces_seen_together_must_agree() {
    let apart = analyze(&[
        entry("team-a", "api.partner.com", 443, "TLS", json!(["."])),
        entry("team-b", "api.partner.com", 443, "HTTPS", json!(["."])),
    ]);
    assert!(
        apart.errors.is_empty() && apart.warnings.is_empty(),
        "each sees only its own"
    );
    let together = analyze(&[
        entry(
            "team-a",
            "api.partner.com",
            443,
            "TLS",
            json!([".", "istio-egress"]),
        ),
        entry(
            "team-b",
            "api.partner.com",
            443,
            "HTTPS",
            json!([".", "istio-egress"]),
        ),
    ]);
    let message = one_with(&together.errors, "IST0177");
    assert!(
        message.contains("port 443 is TLS in namespace team-a and HTTPS in namespace team-b"),
        "{message}"
    );
    let ports = analyze(&[
        entry("team-a", "api.partner.com", 443, "TLS", json!(["*"])),
        entry("team-b", "api.partner.com", 8443, "TLS", json!(["*"])),
    ]);
    assert!(one_with(&ports.warnings, "IST0177").contains("different ports"));
}

#[test]
fn requests_that_would_define_one_host_two_ways_through_the_gateway_are_refused_with_the_code() {
    let through = |team: &str, protocol: &str| {
        common::parse_one(&format!(
            "kind: Egress\nenvironment: prod\nteam: {team}\nnamespace: {team}\nhosts: [api.partner.com]\n\
             ports: [{{number: 443, protocol: {protocol}}}]\nviaEgressGateway: true\n"
        ))
    };
    let problems = mesh::plan(
        &common::catalog(),
        &[through("team-a", "TLS")],
        &[through("team-b", "HTTPS")],
    )
    .expect_err("refused");
    assert!(
        problems.iter().any(|p| p.message.starts_with("IST0177")),
        "{problems:?}"
    );
}

#[test]
fn generated_plans_have_no_findings() {
    let requests = [
        common::route("dev", "team-a", "/orders", "prefix"),
        common::route("dev", "team-a", "/orders/v1", "exact"),
        common::route("dev", "team-b", "/payments", "prefix"),
        common::route("dev", "team-b", "/payments/", "exact"),
        common::egress("dev", "team-a", "api.stripe.com"),
    ];
    let plan = mesh::render_state(&common::catalog(), &requests).expect("plans");
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

fn destination_rule(namespace: &str, host: &str, export_to: Value, subsets: Value) -> Value {
    json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
           "metadata": {"name": "orders", "namespace": namespace},
           "spec": {"host": host, "exportTo": export_to, "subsets": subsets}})
}

fn split_delegate() -> Value {
    delegate(
        "team-a",
        json!([{"name": "orders", "match": [prefix("/orders/")], "route": [
            {"destination": {"host": "orders.team-a.svc.cluster.local", "subset": "stable", "port": {"number": 8080}}, "weight": 90},
            {"destination": {"host": "orders.team-a.svc.cluster.local", "subset": "canary", "port": {"number": 8080}}, "weight": 10}
        ]}]),
        json!(["istio-ingress"]),
    )
}

#[test]
fn a_subset_no_destination_rule_defines_is_ist0101() {
    let findings = analyze(&[
        split_delegate(),
        destination_rule(
            "team-a",
            "orders.team-a.svc.cluster.local",
            json!([".", "istio-ingress"]),
            json!([{"name": "stable", "labels": {"version": "v1"}}]),
        ),
    ]);
    let message = one_with(&findings.errors, "KIA1107");
    assert!(message.contains("IST0101"), "{message}");
    assert!(
        message.contains("subset canary of orders.team-a.svc.cluster.local"),
        "{message}"
    );
    assert_eq!(
        findings.errors[0].field,
        "spec.http[0].route[1].destination.subset"
    );
}

#[test]
fn a_destination_rule_the_gateway_does_not_see_is_reported() {
    let findings = analyze(&[
        split_delegate(),
        destination_rule(
            "team-a",
            "orders.team-a.svc.cluster.local",
            json!(["."]),
            json!([{"name": "stable", "labels": {"version": "v1"}}, {"name": "canary", "labels": {"version": "v2"}}]),
        ),
    ]);
    assert_eq!(findings.errors.len(), 2, "{findings:?}");
    assert!(
        findings.errors[0].message.contains(
            "evaluated in namespace istio-ingress (the ingress gateway's), which does not see"
        ),
        "{findings:?}"
    );
    // Exported there, or to everyone: fine.
    for export_to in [json!([".", "istio-ingress"]), json!(["*"])] {
        let findings = analyze(&[
            split_delegate(),
            destination_rule(
                "team-a",
                "orders.team-a.svc.cluster.local",
                export_to,
                json!([{"name": "stable"}, {"name": "canary"}]),
            ),
        ]);
        assert!(findings.errors.is_empty(), "{findings:?}");
    }
}

#[test]
fn a_policy_selecting_no_routed_workload_is_a_warning() {
    let policy = |kind: &str, app: &str| {
        json!({"apiVersion": "security.istio.io/v1", "kind": kind,
               "metadata": {"name": format!("{app}-p"), "namespace": "team-a"},
               "spec": {"selector": {"matchLabels": {"app": app}}, "action": "ALLOW"}})
    };
    let findings = analyze(&[
        split_delegate(),
        policy("AuthorizationPolicy", "orders"),
        policy("AuthorizationPolicy", "ordrs"),
        policy("RequestAuthentication", "payments"),
    ]);
    let warnings = messages(&findings.warnings);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("IST0127 NoMatchingWorkloadsFound (KIA0004): AuthorizationPolicy team-a/ordrs-p selects app: ordrs"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].contains("RequestAuthentication team-a/payments-p selects app: payments"),
        "{warnings:?}"
    );
}
