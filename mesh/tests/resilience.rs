//! Resilience and transport security as request kinds: a route's timeout and retries (with
//! `retryOn`), `CircuitBreaker` (connection limits and outlier detection in the Service's one
//! DestinationRule) and `MutualTls` (namespace-wide or one workload's PeerAuthentication). Valid
//! requests render objects that pass both API versions' schemas and webhook rules (the plan
//! validates every object it renders); every refusal is checked with its message.

mod common;

use common::{catalog, message, objects_of, parse_one, refusal, route};
use mesh::plan::plan;
use mesh::{ProblemKind, Request, parse_documents, render_state};
use serde_json::Value;

fn of_kind<'a>(objects: &'a [Value], kind: &str, namespace: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|o| o["kind"] == kind && o["metadata"]["namespace"] == namespace)
        .collect()
}

const ROUTE: &str = "kind: ApiRoute\nenvironment: dev\nteam: team-a\nhost: api.dev.example.com\n\
                     path: /orders\ntarget: {namespace: team-a, service: orders, port: 8080}\n";

// ---- timeouts and retries ----

#[test]
fn retry_on_is_rendered_and_round_trips() {
    let request = parse_one(&format!(
        "{ROUTE}timeout: 5s\nretries: {{attempts: 2, perTryTimeout: 1s, retryOn: \"5xx, connect-failure,503\"}}\n"
    ));
    let back = Request::from_value(&request.to_value()).expect("round trip");
    assert_eq!(back.kind(), request.kind());
    let plan = plan(&catalog(), &[], &[request]).expect("plans");
    let objects = objects_of(&plan);
    let delegate = of_kind(&objects, "VirtualService", "team-a")[0];
    let retries = &delegate["spec"]["http"][0]["retries"];
    assert_eq!(retries["retryOn"], "5xx,connect-failure,503");
    assert_eq!(retries["perTryTimeout"], "1s");
    assert_eq!(delegate["spec"]["http"][0]["timeout"], "5s");
}

#[test]
fn retry_refusals_name_the_field_and_what_is_accepted() {
    let problems = refusal(&format!("{ROUTE}retries: {{attempts: 0, retryOn: 5xx}}\n"));
    assert!(
        message(&problems, "retries.retryOn").contains("attempts of at least 1"),
        "{problems:?}"
    );

    let problems = refusal(&format!(
        "{ROUTE}retries: {{attempts: 2, retryOn: \"5xx,sometimes\"}}\n"
    ));
    let said = message(&problems, "retries.retryOn");
    assert!(
        said.contains("\"sometimes\" is not a retry condition"),
        "{said}"
    );
    assert!(said.contains("connect-failure"), "{said}");
    assert!(said.contains("HTTP status codes"), "{said}");

    let problems = refusal(&format!(
        "{ROUTE}retries: {{attempts: 2, retryOn: \"600\"}}\n"
    ));
    message(&problems, "retries.retryOn");

    // Three tries of 2s do not fit in 5s: the third would be cut short.
    let problems = refusal(&format!(
        "{ROUTE}timeout: 5s\nretries: {{attempts: 2, perTryTimeout: 2s}}\n"
    ));
    let said = message(&problems, "retries.perTryTimeout");
    assert!(said.contains("6000ms"), "{said}");
    assert!(said.contains("at most 1666ms"), "{said}");
    // Exactly fitting is fine.
    parse_one(&format!(
        "{ROUTE}timeout: 6s\nretries: {{attempts: 2, perTryTimeout: 2s}}\n"
    ));

    let problems = refusal(&format!("{ROUTE}timeout: 0.5ms\n"));
    assert!(
        message(&problems, "timeout").contains("1 ms to 24 h"),
        "{problems:?}"
    );
    let problems = refusal(&format!("{ROUTE}timeout: 1.0005s\n"));
    assert!(
        message(&problems, "timeout").contains("millisecond"),
        "{problems:?}"
    );
    let problems = refusal(&format!("{ROUTE}timeout: 0ms\n"));
    assert!(
        message(&problems, "timeout").contains("at least 1ms"),
        "{problems:?}"
    );
}

// ---- mTLS ----

fn mtls(env: &str, namespace: &str, mode: &str) -> Request {
    parse_one(&format!(
        "kind: MutualTls\nenvironment: {env}\nteam: team-a\nnamespace: {namespace}\nmode: {mode}\n"
    ))
    .with_origin(format!("mtls {namespace} {mode}"))
}

#[test]
fn namespace_wide_mtls_sets_the_one_peer_authentication_of_the_namespace() {
    for env in ["dev", "prod"] {
        let plan = plan(&catalog(), &[], &[mtls(env, "team-a", "PERMISSIVE")]).expect("plans");
        let objects = objects_of(&plan);
        let peer = of_kind(&objects, "PeerAuthentication", "team-a");
        assert_eq!(
            peer.len(),
            1,
            "{env}: one namespace-wide PeerAuthentication"
        );
        assert_eq!(peer[0]["metadata"]["name"], "default");
        assert_eq!(peer[0]["spec"]["mtls"]["mode"], "PERMISSIVE");
        assert!(peer[0]["spec"].get("selector").is_none());
        let expected = if env == "dev" {
            "security.istio.io/v1"
        } else {
            "security.istio.io/v1beta1"
        };
        assert_eq!(peer[0]["apiVersion"], expected);
    }
    // The granted state keeps the setting; other namespaces keep the environment's default.
    let state = render_state(&catalog(), &[mtls("dev", "team-a", "PERMISSIVE")]).expect("state");
    let objects = objects_of(&state);
    assert_eq!(
        of_kind(&objects, "PeerAuthentication", "team-a")[0]["spec"]["mtls"]["mode"],
        "PERMISSIVE"
    );
    assert_eq!(
        of_kind(&objects, "PeerAuthentication", "team-b")[0]["spec"]["mtls"]["mode"],
        "STRICT"
    );
}

#[test]
fn a_second_namespace_wide_mtls_setting_is_refused_with_the_one_that_holds() {
    let granted = [mtls("dev", "team-a", "STRICT")];
    let problems = plan(&catalog(), &granted, &[mtls("dev", "team-a", "PERMISSIVE")]).unwrap_err();
    assert_eq!(problems[0].kind, ProblemKind::Conflict, "{problems:?}");
    assert_eq!(problems[0].field, "mode");
    assert!(
        problems[0].message.contains(
            "namespace team-a already has its mTLS setting (STRICT, granted by mtls team-a STRICT)"
        ),
        "{problems:?}"
    );
    let problems = plan(&catalog(), &granted, &[mtls("dev", "team-a", "STRICT")]).unwrap_err();
    assert_eq!(
        problems[0].kind,
        ProblemKind::AlreadyGranted,
        "{problems:?}"
    );
    // Twice in one batch.
    let problems = plan(
        &catalog(),
        &[],
        &[
            mtls("dev", "team-a", "STRICT"),
            mtls("dev", "team-a", "PERMISSIVE"),
        ],
    )
    .unwrap_err();
    assert_eq!(problems[0].kind, ProblemKind::Conflict, "{problems:?}");
}

#[test]
fn mtls_refusals_say_what_is_accepted() {
    let base = "kind: MutualTls\nenvironment: dev\nteam: team-a\nnamespace: team-a\n";
    let problems = refusal(&format!(
        "{base}mode: STRICT\nportLevelMtls: {{\"9090\": PERMISSIVE}}\n"
    ));
    assert!(
        message(&problems, "portLevelMtls").contains("needs a workload"),
        "{problems:?}"
    );
    let problems = refusal(&format!("{base}mode: DISABLE\n"));
    assert!(
        message(&problems, "mode").contains("use PERMISSIVE"),
        "{problems:?}"
    );
    let problems = refusal(&format!("{base}mode: strict\n"));
    assert!(
        message(&problems, "mode").contains("expected STRICT or PERMISSIVE"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{base}workload: billing\nmode: STRICT\nportLevelMtls: {{\"99999\": PERMISSIVE}}\n"
    ));
    message(&problems, "portLevelMtls.99999");
    let problems = refusal(&format!(
        "{base}workload: billing\nmode: STRICT\nportLevelMtls: {{\"9090\": STRICT}}\n"
    ));
    assert!(
        message(&problems, "portLevelMtls").contains("leave portLevelMtls out"),
        "{problems:?}"
    );

    // The platform's namespaces and other teams' are not the team's to set.
    let request = parse_one(
        "kind: MutualTls\nenvironment: dev\nteam: team-a\nnamespace: istio-system\nmode: PERMISSIVE\n",
    );
    let problems = plan(&catalog(), &[], &[request]).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.field == "namespace" && p.message.contains("stay with the platform")),
        "{problems:?}"
    );
    let request = parse_one(
        "kind: MutualTls\nenvironment: dev\nteam: team-a\nnamespace: team-b\nmode: PERMISSIVE\n",
    );
    let problems = plan(&catalog(), &[], &[request]).unwrap_err();
    assert!(
        problems[0].message.contains("held by team team-b"),
        "{problems:?}"
    );
}

#[test]
fn a_workload_gets_its_own_peer_authentication_with_ports_set_apart() {
    let request = parse_one(
        "kind: MutualTls\nenvironment: prod\nteam: team-a\nnamespace: team-a\nworkload: billing\n\
         mode: STRICT\nportLevelMtls: {9090: PERMISSIVE}\n",
    );
    assert_eq!(request.summary(), "mTLS STRICT for team-a/billing");
    let plan = plan(&catalog(), &[], std::slice::from_ref(&request)).expect("plans");
    let objects = objects_of(&plan);
    let peers = of_kind(&objects, "PeerAuthentication", "team-a");
    let workload = peers
        .iter()
        .find(|p| p["metadata"]["name"] == "billing-mtls")
        .expect("the workload's PeerAuthentication");
    assert_eq!(
        workload["spec"]["selector"]["matchLabels"]["app"],
        "billing"
    );
    assert_eq!(
        workload["spec"]["portLevelMtls"]["9090"]["mode"],
        "PERMISSIVE"
    );
    // The namespace-wide one stays the only one without a selector.
    let state = render_state(&catalog(), std::slice::from_ref(&request)).expect("state");
    let objects = objects_of(&state);
    let peers = of_kind(&objects, "PeerAuthentication", "team-a");
    assert_eq!(peers.len(), 2);
    let wide: Vec<_> = peers
        .iter()
        .filter(|p| p["spec"].get("selector").is_none())
        .collect();
    assert_eq!(wide.len(), 1);
    assert_eq!(
        Request::from_value(&request.to_value())
            .expect("round trip")
            .kind(),
        request.kind()
    );
}

// ---- circuit breaking ----

const BREAKER: &str =
    "kind: CircuitBreaker\nenvironment: dev\nteam: team-a\nnamespace: team-a\nservice: orders\n";

fn breaker(extra: &str) -> Request {
    parse_one(&format!("{BREAKER}{extra}")).with_origin("breaker")
}

#[test]
fn a_circuit_breaker_renders_the_services_one_destination_rule() {
    let request = breaker(
        "callers: [team-b]\nconnectionPool:\n  tcp: {maxConnections: 100, connectTimeout: 250ms}\n  \
         http: {http1MaxPendingRequests: 50, http2MaxRequests: 200, maxRequestsPerConnection: 10, maxRetries: 3}\n\
         outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 100, minHealthPercent: 50}\n",
    );
    assert_eq!(
        request.summary(),
        "connection limits and outlier detection for team-a/orders"
    );
    assert_eq!(
        Request::from_value(&request.to_value())
            .expect("round trip")
            .kind(),
        request.kind()
    );
    for env in ["dev", "prod"] {
        let request = Request::from_value(&{
            let mut v = request.to_value();
            v["environment"] = env.into();
            v
        })
        .expect("parses");
        let plan = plan(&catalog(), &[], &[request]).expect("plans");
        let objects = objects_of(&plan);
        let rules: Vec<_> = of_kind(&objects, "DestinationRule", "team-a");
        assert_eq!(rules.len(), 1, "{env}: {rules:?}");
        let spec = &rules[0]["spec"];
        assert_eq!(rules[0]["metadata"]["name"], "orders");
        assert_eq!(spec["host"], "orders.team-a.svc.cluster.local");
        assert_eq!(spec["exportTo"], serde_json::json!([".", "team-b"]));
        assert_eq!(
            spec["trafficPolicy"]["connectionPool"]["tcp"]["maxConnections"],
            100
        );
        assert_eq!(
            spec["trafficPolicy"]["connectionPool"]["tcp"]["connectTimeout"],
            "0.250s"
        );
        assert_eq!(
            spec["trafficPolicy"]["connectionPool"]["http"]["maxRetries"],
            3
        );
        assert_eq!(
            spec["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"],
            5
        );
        assert_eq!(
            spec["trafficPolicy"]["outlierDetection"]["baseEjectionTime"],
            "30s"
        );
        assert!(spec["trafficPolicy"].get("tls").is_none());
        assert!(spec.get("subsets").is_none());
    }
}

#[test]
fn a_routed_service_exports_its_limits_to_the_ingress_gateway() {
    let routed = parse_one(ROUTE).with_origin("route");
    let request = breaker("connectionPool: {http: {http2MaxRequests: 100}}\n");
    let planned = plan(&catalog(), &[routed], &[request]).expect("plans");
    let objects = objects_of(&planned);
    let rule = of_kind(&objects, "DestinationRule", "team-a")[0];
    assert_eq!(
        rule["spec"]["exportTo"],
        serde_json::json!([".", "istio-ingress"])
    );
    // A route to another Service leaves it alone.
    let other = route("dev", "team-a", "/svc", "prefix");
    let plan = plan(
        &catalog(),
        &[other],
        &[breaker("connectionPool: {http: {http2MaxRequests: 100}}\n")],
    )
    .expect("plans");
    let objects = objects_of(&plan);
    assert_eq!(
        of_kind(&objects, "DestinationRule", "team-a")[0]["spec"]["exportTo"],
        serde_json::json!(["."])
    );
}

#[test]
fn circuit_breaker_refusals_say_what_is_accepted() {
    let problems = refusal(&format!(
        "{BREAKER}connectionPool: {{http: {{http2MaxRequests: 0}}}}\n"
    ));
    assert!(
        message(&problems, "connectionPool.http.http2MaxRequests")
            .contains("Envoy reads 0 as no limit"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{BREAKER}connectionPool: {{tcp: {{maxConnections: 3000000000}}}}\n"
    ));
    assert!(
        message(&problems, "connectionPool.tcp.maxConnections").contains("1 to 2147483647"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{BREAKER}outlierDetection: {{consecutive5xxErrors: 3, maxEjectionPercent: 100}}\n"
    ));
    assert!(
        message(&problems, "outlierDetection.maxEjectionPercent")
            .contains("minHealthPercent above 0"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{BREAKER}outlierDetection: {{maxEjectionPercent: 100, minHealthPercent: 0}}\n"
    ));
    message(&problems, "outlierDetection.maxEjectionPercent");
    let problems = refusal(&format!(
        "{BREAKER}outlierDetection: {{maxEjectionPercent: 120}}\n"
    ));
    assert!(
        message(&problems, "outlierDetection.maxEjectionPercent").contains("1 to 100"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{BREAKER}connectionPool: {{http: {{maxRetries: 3}}}}\ntls: {{mode: DISABLE}}\n"
    ));
    assert!(
        message(&problems, "tls").contains("automatic mTLS"),
        "{problems:?}"
    );
    let problems = refusal(BREAKER);
    assert!(
        message(&problems, "connectionPool").contains("outlierDetection"),
        "{problems:?}"
    );
    let problems = refusal(&format!("{BREAKER}connectionPool: {{tcp: {{}}}}\n"));
    assert!(
        message(&problems, "connectionPool").contains("sets no limit"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{BREAKER}callers: [team-a, team-b, team-b]\noutlierDetection: {{consecutive5xxErrors: 3}}\n"
    ));
    assert!(
        message(&problems, "callers[0]").contains("own namespace"),
        "{problems:?}"
    );
    assert!(
        message(&problems, "callers[2]").contains("twice"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{BREAKER}outlierDetection: {{consecutive5xxErrors: 3, interval: 0s}}\n"
    ));
    message(&problems, "outlierDetection.interval");
}

#[test]
fn a_second_circuit_breaker_for_one_service_is_refused() {
    let granted = [breaker("connectionPool: {http: {http2MaxRequests: 100}}\n")];
    let problems = plan(
        &catalog(),
        &granted,
        &[breaker("outlierDetection: {consecutive5xxErrors: 3}\n")],
    )
    .unwrap_err();
    assert_eq!(problems[0].kind, ProblemKind::Conflict);
    assert_eq!(problems[0].field, "service");
    assert!(
        problems[0]
            .message
            .contains("already has a circuit breaker in dev (granted by breaker)"),
        "{problems:?}"
    );
}

#[test]
fn new_kinds_in_a_namespace_the_team_does_not_hold_are_refused() {
    let request = parse_one(
        "kind: CircuitBreaker\nenvironment: dev\nteam: team-a\nnamespace: team-b\nservice: x\n\
         outlierDetection: {consecutive5xxErrors: 3}\n",
    );
    let problems = plan(&catalog(), &[], &[request]).unwrap_err();
    assert!(
        problems[0].message.contains("held by team team-b"),
        "{problems:?}"
    );
}

#[test]
fn snapshots_of_resilience_and_mtls_in_both_api_versions() {
    for (env, version) in [("dev", "v1"), ("prod", "v1beta1")] {
        let requests = parse_documents(
            "r.yaml",
            &format!(
                "kind: ApiRoute\nenvironment: {env}\nteam: team-a\nhost: api.{env}.example.com\n\
                 path: /orders\ntarget: {{namespace: team-a, service: orders, port: 8080}}\n\
                 timeout: 3s\nretries: {{attempts: 2, perTryTimeout: 1s, retryOn: \"gateway-error,connect-failure\"}}\n\
                 ---\nkind: CircuitBreaker\nenvironment: {env}\nteam: team-a\nnamespace: team-a\n\
                 service: orders\ncallers: [team-b]\nconnectionPool: {{http: {{http2MaxRequests: 200}}}}\n\
                 outlierDetection: {{consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50}}\n\
                 ---\nkind: MutualTls\nenvironment: {env}\nteam: team-a\nnamespace: team-a\nmode: STRICT\n\
                 ---\nkind: MutualTls\nenvironment: {env}\nteam: team-a\nnamespace: team-a\n\
                 workload: metrics-exporter\nmode: STRICT\nportLevelMtls: {{\"9102\": PERMISSIVE}}\n"
            ),
        )
        .expect("parses");
        let plan = plan(&catalog(), &[], &requests).expect("plans");
        insta::assert_snapshot!(
            format!("{env}_resilience_and_mtls_{version}"),
            plan.to_multi_document_yaml()
        );
    }
}
