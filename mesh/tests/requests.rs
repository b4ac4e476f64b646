//! Parsing the public request format and checking requests against the catalog's policy.

mod common;

use common::{catalog, parse_one};
use mesh::request::{PathMatch, RequestKind};
use mesh::{ProblemKind, parse_documents, policy};

const EXAMPLE: &str = include_str!("fixtures/requests/orders.yaml");

#[test]
fn the_issue_example_parses_into_a_route_and_an_egress() {
    let requests = parse_documents("orders.yaml", EXAMPLE).expect("example parses");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].origin(), Some("orders.yaml#1"));
    let RequestKind::ApiRoute(route) = requests[0].kind() else {
        panic!("route first")
    };
    assert_eq!(route.path().as_str(), "/orders/v1");
    assert_eq!(route.path_match(), PathMatch::Prefix);
    assert_eq!(route.rewrite().map(|r| r.as_str()), Some("/v1"));
    assert_eq!(route.timeout().map(|t| t.as_millis()), Some(10_000));
    assert_eq!(route.retries().map(|r| r.attempts()), Some(3));
    let RequestKind::Egress(egress) = requests[1].kind() else {
        panic!("egress second")
    };
    assert_eq!(egress.hosts()[0].as_str(), "api.stripe.com");
    assert!(!egress.via_egress_gateway());
}

#[test]
fn a_single_request_is_named_by_its_source_alone() {
    let request = parse_one(
        "kind: Egress\nenvironment: dev\nteam: team-a\nnamespace: team-a\nhosts: [a.example.org]\nports: [{number: 443, protocol: TLS}]\n",
    );
    assert_eq!(request.origin(), Some("test.yaml"));
}

#[test]
fn json_documents_and_arrays_parse_like_yaml() {
    let json = r#"[{"kind":"Egress","environment":"dev","team":"team-a","namespace":"team-a","hosts":["a.example.org"],"ports":[{"number":443,"protocol":"TLS"}]},
                   {"kind":"ApiRoute","environment":"dev","team":"team-a","host":"api.dev.example.com","path":"/x","target":{"namespace":"team-a","service":"x","port":80}}]"#;
    let requests = parse_documents("api", json).expect("json parses");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].kind_name(), "ApiRoute");
}

#[test]
fn unknown_fields_are_refused_with_their_path() {
    let text = EXAMPLE
        .replace("timeout: 5s", "timeout: 5s\ntimout: 6s")
        .replace("port: 8080}", "port: 8080, weight: 3}");
    let problems = parse_documents("orders.yaml", &text).expect_err("unknown fields");
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(
        shown
            .iter()
            .any(|p| p.starts_with("orders.yaml#1: target.weight: is not a known field")),
        "{shown:?}"
    );
}

#[test]
fn top_level_unknown_field_names_the_field() {
    let problems = parse_documents("a.yaml", "kind: Egress\nenvironment: dev\nteam: t\nnamespace: t\nhosts: [a.example.org]\nports: []\nextra: 1\n").unwrap_err();
    assert_eq!(problems[0].field, "extra");
    assert!(problems[0].message.contains("expected"));
}

#[test]
fn every_bad_field_is_reported_at_once_with_its_path() {
    let text = "kind: ApiRoute\nenvironment: Prod\nteam: team-a\nhost: api.prod.example.com\npath: /a/../b\nmatch: regex\n\
                rewrite: v1\ntarget: {namespace: team-a, service: orders, port: 0}\ntimeout: 0.0001s\n\
                retries: {attempts: 0, perTryTimeout: 2s}\n";
    let problems = parse_documents("r.yaml", text).unwrap_err();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    for expected in [
        "environment",
        "path",
        "match",
        "rewrite",
        "target.port",
        "timeout",
        "retries.perTryTimeout",
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} missing from {fields:?}"
        );
    }
    assert!(
        problems
            .iter()
            .all(|p| p.source.as_deref() == Some("r.yaml") && p.kind == ProblemKind::Invalid)
    );
}

#[test]
fn wrong_types_name_the_field() {
    let problems = parse_documents("r.yaml", "kind: ApiRoute\nenvironment: dev\nteam: a\nhost: h.com\npath: /a\ntarget: {namespace: a, service: b, port: \"8080\"}\n").unwrap_err();
    assert_eq!(problems[0].field, "target.port");
}

#[test]
fn missing_fields_and_kinds_are_named() {
    let problems = parse_documents("r.yaml", "kind: ApiRoute\nenvironment: dev\n").unwrap_err();
    assert!(
        problems[0].field == "team" && problems[0].message == "is required",
        "{problems:?}"
    );
    let problems = parse_documents("r.yaml", "environment: dev\n").unwrap_err();
    assert_eq!(problems[0].field, "kind");
    let problems = parse_documents("r.yaml", "kind: Route\n").unwrap_err();
    assert!(
        problems[0]
            .message
            .contains("expected ApiRoute, Egress, Onboarding, "),
        "{problems:?}"
    );
    for kind in mesh::request::KIND_NAMES {
        assert!(problems[0].message.contains(kind), "{kind}: {problems:?}");
    }
}

#[test]
fn empty_or_non_mapping_input_is_refused() {
    for text in ["", "---\n", "- 1\n", "just text", "kind: [\n"] {
        let problems = parse_documents("r.yaml", text).expect_err(text);
        assert!(!problems.is_empty());
    }
}

#[test]
fn yaml_aliases_and_tags_do_not_smuggle_values() {
    let text = "kind: Egress\nenvironment: &e dev\nteam: *e\nnamespace: !!str team-a\nhosts: [a.example.org]\nports: [{number: 443, protocol: TLS}]\n";
    let request = parse_one(text);
    assert_eq!(request.team().as_str(), "dev");
}

#[test]
fn duplicate_hosts_and_ports_are_refused() {
    let problems = parse_documents("e.yaml", "kind: Egress\nenvironment: dev\nteam: team-a\nnamespace: team-a\nhosts: [a.example.org, a.example.org]\nports: [{number: 443, protocol: TLS}, {number: 443, protocol: HTTPS}]\n").unwrap_err();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["hosts[1]", "ports[1].number"]);
}

#[test]
fn requests_round_trip_through_their_json_form() {
    for request in parse_documents("orders.yaml", EXAMPLE).unwrap() {
        let json = serde_json::to_string(&request).unwrap();
        let back: mesh::Request = serde_json::from_str(&json).unwrap();
        assert_eq!(back.kind(), request.kind());
    }
}

#[test]
fn stored_json_that_no_longer_parses_is_refused_with_the_field() {
    let error = serde_json::from_str::<mesh::Request>(r#"{"kind":"Egress","environment":"dev","team":"a","namespace":"a","hosts":["*"],"ports":[{"number":443,"protocol":"TLS"}]}"#).unwrap_err();
    assert!(error.to_string().contains("hosts[0]"), "{error}");
}

#[test]
fn oversized_input_is_refused() {
    let big = "#".repeat(mesh::request::MAX_SOURCE_BYTES + 1);
    assert!(
        parse_documents("big.yaml", &big).unwrap_err()[0]
            .message
            .contains("bytes")
    );
}

fn policy_fields(text: &str) -> Vec<String> {
    let request = parse_one(text);
    match policy::check(&catalog(), &request) {
        Ok(()) => Vec::new(),
        Err(problems) => {
            assert!(
                problems
                    .iter()
                    .all(|p| p.kind == ProblemKind::Policy
                        && p.source.as_deref() == Some("test.yaml"))
            );
            problems.into_iter().map(|p| p.field).collect()
        }
    }
}

#[test]
fn the_issue_example_passes_policy() {
    for request in parse_documents("orders.yaml", EXAMPLE).unwrap() {
        policy::check(&catalog(), &request).expect("example passes policy");
    }
}

/// The fields of the problems planning the request alone reports.
fn plan_fields(text: &str) -> Vec<String> {
    match mesh::plan(&catalog(), &[], &[parse_one(text)]) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.into_iter().map(|p| p.field).collect(),
    }
}

#[test]
fn a_team_may_only_target_namespaces_it_owns() {
    let fields = plan_fields(
        "kind: ApiRoute\nenvironment: prod\nteam: team-a\nhost: api.prod.example.com\npath: /x\ntarget: {namespace: team-b, service: x, port: 80}\n",
    );
    assert_eq!(fields, ["target.namespace"]);
    let fields = plan_fields(
        "kind: Egress\nenvironment: prod\nteam: team-b\nnamespace: team-a\nhosts: [a.example.org]\nports: [{number: 443, protocol: TLS}]\n",
    );
    assert_eq!(fields, ["namespace"]);
}

#[test]
fn unknown_environment_and_team_are_refused() {
    let fields = policy_fields(
        "kind: Egress\nenvironment: qa\nteam: team-z\nnamespace: team-a\nhosts: [a.example.org]\nports: [{number: 443, protocol: TLS}]\n",
    );
    assert_eq!(fields, ["environment", "team"]);
}

#[test]
fn route_host_must_be_a_shared_host_of_the_environment() {
    let fields = policy_fields(
        "kind: ApiRoute\nenvironment: prod\nteam: team-a\nhost: api.dev.example.com\npath: /x\ntarget: {namespace: team-a, service: x, port: 80}\n",
    );
    assert_eq!(fields, ["host"]);
}

#[test]
fn reserved_prefixes_cannot_be_leased_shadowed_or_entered() {
    for (path, path_match) in [
        ("/admin", "prefix"),
        ("/admin/users", "exact"),
        ("/", "prefix"),
        ("/internal/", "prefix"),
    ] {
        let text = format!(
            "kind: ApiRoute\nenvironment: prod\nteam: team-a\nhost: api.prod.example.com\npath: {path}\nmatch: {path_match}\ntarget: {{namespace: team-a, service: x, port: 80}}\n"
        );
        assert!(policy_fields(&text).contains(&"path".to_owned()), "{path}");
    }
    let ok = "kind: ApiRoute\nenvironment: prod\nteam: team-a\nhost: api.prod.example.com\npath: /administration\ntarget: {namespace: team-a, service: x, port: 80}\n";
    assert!(policy_fields(ok).is_empty());
}

#[test]
fn cluster_internal_and_denied_hosts_are_refused() {
    for host in [
        "orders.team-b.svc.cluster.local",
        "x.svc",
        "metadata.google.internal",
        "vpn.corp.example.com",
        "*.example.com",
        "api.dev.example.com",
    ] {
        let text = format!(
            "kind: Egress\nenvironment: dev\nteam: team-a\nnamespace: team-a\nhosts: [\"{host}\"]\nports: [{{number: 443, protocol: TLS}}]\n"
        );
        let mut fields = policy_fields(&text);
        fields.dedup();
        assert_eq!(fields, ["hosts[0]"], "{host}");
    }
}

#[test]
fn wildcards_need_the_environment_to_allow_them() {
    let text = "kind: Egress\nenvironment: ENV\nteam: team-a\nnamespace: team-a\nhosts: [\"*.stripe.com\"]\nports: [{number: 443, protocol: TLS}]\n";
    assert!(policy_fields(&text.replace("ENV", "dev")).is_empty());
    assert_eq!(policy_fields(&text.replace("ENV", "prod")), ["hosts[0]"]);
}

#[test]
fn ports_and_protocols_come_from_the_allowed_lists() {
    let fields = policy_fields(
        "kind: Egress\nenvironment: prod\nteam: team-a\nnamespace: team-a\nhosts: [a.example.org]\nports: [{number: 8443, protocol: TLS}, {number: 443, protocol: TCP}]\naddresses: [203.0.113.10]\n",
    );
    assert_eq!(fields, ["ports[0].number", "ports[1].protocol"]);
}

#[test]
fn the_egress_gateway_is_only_offered_where_it_exists() {
    let text = "kind: Egress\nenvironment: ENV\nteam: team-a\nnamespace: team-a\nhosts: [a.example.org]\nports: [{number: 443, protocol: TLS}]\nviaEgressGateway: true\n";
    assert_eq!(
        policy_fields(&text.replace("ENV", "dev")),
        ["viaEgressGateway"]
    );
    assert!(policy_fields(&text.replace("ENV", "prod")).is_empty());
}

#[test]
fn a_namespace_the_team_does_not_hold_is_refused_with_how_to_onboard_it() {
    let text = "kind: Egress\nenvironment: dev\nteam: team-a\nnamespace: payments\nhosts: [api.stripe.com]\nports: [{number: 443, protocol: TLS}]\n";
    let request = common::parse_one(text);
    let problems = mesh::plan(&common::catalog(), &[], &[request]).expect_err("refused");
    let message = &problems
        .iter()
        .find(|p| p.field == "namespace")
        .expect("a namespace problem")
        .message;
    assert!(
        message.contains("does not hold namespace payments")
            && message.contains("choose one of team-a")
            && message.contains("onboard payments first"),
        "{message}"
    );
}
