//! Properties: no input makes parsing panic, and every request that parses and passes policy
//! renders objects that read back as written and pass validation (the plan would report an
//! internal problem otherwise).

mod common;

use common::catalog;
use mesh::validate::validation_errors;
use mesh::{ProblemKind, parse_documents, plan, policy};
use proptest::prelude::*;
use serde_json::json;

fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9/._~!$&'()*+,;=:@%#|>\"` \\n-]{0,24}",
        "[а-яA-Z\\u{200b}\\u{ff0f}a-z.-]{0,12}",
        Just(String::new()),
        Just("x".repeat(600)),
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        "/[a-z0-9/._~!$&'()*+,;=:@%-]{0,24}",
        "/[a-z]{1,8}(/[a-z0-9]{1,8}){0,3}/?",
        hostile_text(),
    ]
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,10}\\.(com|io|org|example)",
        "\\*\\.[a-z]{1,10}\\.(com|io)",
        "[a-z0-9*.-]{1,20}",
        hostile_text(),
    ]
}

fn duration() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9]{1,4}(ms|s|m)", "[0-9]\\.[0-9]{1,4}s", hostile_text()]
}

fn api_route() -> impl Strategy<Value = serde_json::Value> {
    (
        prop_oneof![Just("dev"), Just("prod")],
        prop_oneof![Just("team-a"), Just("team-b")],
        path(),
        prop_oneof![Just("prefix"), Just("exact")],
        prop::option::of(path()),
        "[a-z][a-z0-9-]{0,12}",
        0i64..70000,
        prop::option::of(duration()),
        prop::option::of((0i64..12, prop::option::of(duration()))),
    )
        .prop_map(|(env, team, path, m, rewrite, service, port, timeout, retries)| {
            let mut value = json!({
                "kind": "ApiRoute", "environment": env, "team": team, "host": format!("api.{env}.example.com"),
                "path": path, "match": m, "target": {"namespace": team, "service": service, "port": port},
            });
            if let Some(r) = rewrite {
                value["rewrite"] = json!(r);
            }
            if let Some(t) = timeout {
                value["timeout"] = json!(t);
            }
            if let Some((attempts, per_try)) = retries {
                value["retries"] = json!({"attempts": attempts});
                if let Some(p) = per_try {
                    value["retries"]["perTryTimeout"] = json!(p);
                }
            }
            value
        })
}

fn egress() -> impl Strategy<Value = serde_json::Value> {
    (
        prop_oneof![Just("dev"), Just("prod")],
        prop_oneof![Just("team-a"), Just("team-b")],
        prop::collection::vec(host(), 1..4),
        prop::collection::vec((prop_oneof![Just(443i64), Just(8443), 0i64..70000], prop_oneof![Just("TLS"), Just("HTTPS"), Just("TCP"), Just("tls")]), 1..3),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(env, team, hosts, ports, via)| {
            let ports: Vec<_> = ports.into_iter().map(|(n, p)| json!({"number": n, "protocol": p})).collect();
            let mut value = json!({"kind": "Egress", "environment": env, "team": team, "namespace": team, "hosts": hosts, "ports": ports});
            if let Some(v) = via {
                value["viaEgressGateway"] = json!(v);
            }
            value
        })
}

fn onboarding() -> impl Strategy<Value = serde_json::Value> {
    (
        prop_oneof![Just("dev"), Just("prod")],
        prop_oneof![Just("team-a"), Just("team-b")],
        prop_oneof!["[a-z][a-z0-9-]{0,12}", Just("team-a".to_owned()), Just("istio-system".to_owned()), hostile_text()],
    )
        .prop_map(|(env, team, namespace)| {
            json!({"kind": "Onboarding", "environment": env, "team": team, "namespace": namespace})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse_documents("fuzz.yaml", &text);
    }

    #[test]
    fn yaml_shaped_text_never_panics(lines in prop::collection::vec("[a-zA-Z]{1,8}: [\\[\\]{}&*!|>'\"%@`#a-z0-9 :,-]{0,20}", 0..8)) {
        let _ = parse_documents("fuzz.yaml", &lines.join("\n"));
    }

    #[test]
    fn every_accepted_request_renders_valid_objects_that_read_back(request in prop_oneof![api_route(), egress(), onboarding()]) {
        let text = serde_json::to_string(&request).unwrap();
        let Ok(requests) = parse_documents("prop.json", &text) else { return Ok(()) };
        let catalog = catalog();
        if policy::check(&catalog, &requests[0]).is_err() {
            return Ok(());
        }
        let plan = match plan(&catalog, &[], &requests) {
            Ok(plan) => plan,
            Err(problems) => {
                prop_assert!(problems.iter().all(|p| p.kind != ProblemKind::Internal), "{:?}", problems);
                return Ok(());
            }
        };
        prop_assert!(!plan.files.is_empty());
        for file in plan.files.iter().filter(|f| !f.path.ends_with("kustomization.yaml")) {
            let value: serde_json::Value = serde_norway::from_str(&file.contents).unwrap();
            let env = catalog.environment(file.path.split('/').next().unwrap()).unwrap();
            prop_assert_eq!(validation_errors(env.mesh.schema_version(), &value), vec![], "{}", file.path);
            let again = serde_norway::to_string(&value).unwrap();
            let reread: serde_json::Value = serde_norway::from_str(&again).unwrap();
            prop_assert_eq!(reread, value);
        }
        // The request itself survives its JSON form unchanged.
        let json = serde_json::to_string(&requests[0]).unwrap();
        let back: mesh::Request = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back.kind(), requests[0].kind());
    }
}

/// A granted request from a small valid vocabulary: routes and egress of both teams in both
/// environments.
fn granted_request() -> impl Strategy<Value = mesh::Request> {
    (
        prop_oneof![Just("dev"), Just("prod")],
        prop_oneof![Just("team-a"), Just("team-b")],
        0u8..6,
        0u8..3,
    )
        .prop_map(|(env, team, n, kind)| match kind {
            0 => common::route(env, team, &format!("/{team}/s{n}"), "prefix"),
            1 => common::egress(env, team, &format!("api{n}.example.com")),
            // Two teams may ask for the same further namespace: the second is refused.
            _ => common::onboarding(env, team, &format!("batch-{}", n % 2)),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_onboarded_namespace_has_one_sidecar_that_keeps_in_cluster_services(
        requests in prop::collection::vec(granted_request(), 1..12)
    ) {
        let mut unique: Vec<mesh::Request> = Vec::new();
        for request in requests {
            if !unique.iter().any(|r| r.to_value() == request.to_value()) {
                unique.push(request);
            }
        }
        // Keep what a real state can hold: an onboarding refused for a namespace another team
        // holds is never granted.
        let mut granted: Vec<mesh::Request> = Vec::new();
        for request in unique {
            let mut candidate = granted.clone();
            candidate.push(request);
            if mesh::render_state(&catalog(), &candidate).is_ok() {
                granted = candidate;
            }
        }
        let state = mesh::render_state(&catalog(), &granted).expect("a valid state renders");
        let environments: std::collections::BTreeSet<String> =
            granted.iter().map(|r| r.environment().to_string()).collect();
        for env in environments {
            let mut held: Vec<String> = common::catalog_file()
                .teams
                .into_iter()
                .flat_map(|team| team.namespaces)
                .collect();
            held.extend(
                granted
                    .iter()
                    .filter(|r| r.kind_name() == "Onboarding" && r.environment().as_str() == env)
                    .map(|r| r.namespace().to_string()),
            );
            for namespace in held {
                let sidecars: Vec<&mesh::RenderedFile> = state
                    .files
                    .iter()
                    .filter(|f| {
                        f.path.starts_with(&format!("{env}/{namespace}/"))
                            && f.contents.contains("kind: Sidecar")
                    })
                    .collect();
                prop_assert_eq!(sidecars.len(), 1, "{}/{}", env, namespace);
                prop_assert!(sidecars[0].contents.contains("'*/*.svc.cluster.local'"));
                let peer_authentications = state
                    .files
                    .iter()
                    .filter(|f| {
                        f.path.starts_with(&format!("{env}/{namespace}/"))
                            && f.contents.contains("kind: PeerAuthentication")
                    })
                    .count();
                prop_assert_eq!(peer_authentications, 1, "{}/{}", env, namespace);
            }
        }
    }
}

/// A granted request of any kind and shape the generator must handle together: prefix and exact
/// routes that nest, egress direct and through the gateway.
fn nesting_request() -> impl Strategy<Value = mesh::Request> {
    (
        prop_oneof![Just("dev"), Just("prod")],
        prop_oneof![Just("team-a"), Just("team-b")],
        prop_oneof![
            Just("/shop"),
            Just("/shop/"),
            Just("/shop/cart"),
            Just("/shop/cart/"),
            Just("/api")
        ],
        prop_oneof![Just("prefix"), Just("exact")],
        0u8..3,
    )
        .prop_map(|(env, team, path, m, n)| {
            let path = if n == 0 {
                path.to_owned()
            } else {
                format!("{path}{n}")
            };
            common::route(env, team, &format!("/{team}{path}"), m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_state_passes_the_analyzer_and_names_each_object_once(
        routes in prop::collection::vec(nesting_request(), 1..10),
        grants in prop::collection::vec(granted_request(), 0..6)
    ) {
        // Keep what a real state can hold: no conflicting leases, no repeated grants.
        let mut state: Vec<mesh::Request> = Vec::new();
        for request in routes.into_iter().chain(grants) {
            let mut candidate = state.clone();
            candidate.push(request);
            if mesh::render_state(&catalog(), &candidate).is_ok() {
                state = candidate;
            }
        }
        let plan = mesh::render_state(&catalog(), &state).expect("a valid state renders");
        prop_assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
        let mut seen = std::collections::BTreeSet::new();
        for file in plan.files.iter().filter(|f| !f.path.ends_with("kustomization.yaml")) {
            let value: serde_json::Value = serde_norway::from_str(&file.contents).expect("yaml");
            // Environments are separate clusters: names are unique within one.
            let key = (
                file.path.split('/').next().unwrap_or_default().to_owned(),
                value["kind"].as_str().unwrap_or_default().to_owned(),
                value["metadata"]["namespace"].as_str().unwrap_or_default().to_owned(),
                value["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
            );
            prop_assert!(seen.insert(key.clone()), "{:?} generated twice", key);
        }
    }
}

/// A catalog whose environments allow a token issuer and have a trace collector, so every kind
/// can be granted.
fn catalog_for_every_kind() -> mesh::Catalog {
    let mut file = common::catalog_file();
    for env in &mut file.environments {
        env.jwt.issuers = vec![mesh::config::JwtIssuerConfig {
            issuer: "https://login.example.com".to_owned(),
            jwks_uri: Some("https://login.example.com/keys".to_owned()),
            jwks: None,
        }];
        env.tracing = Some(mesh::config::TracingConfig {
            collector: "observability/otel-collector".to_owned(),
            port: 4318,
            protocol: None,
        });
    }
    mesh::Catalog::from_config(file.environments, file.teams).expect("valid catalog")
}

/// A request of any kind from a small vocabulary, so that kinds meet on the same Services,
/// routes, workloads and namespaces.
fn any_kind_request() -> impl Strategy<Value = mesh::Request> {
    (
        prop_oneof![Just("dev"), Just("prod")],
        prop_oneof![Just("team-a"), Just("team-b")],
        0u8..9,
        0u8..2,
        0u8..=100,
        0u8..3,
    )
        .prop_map(|(env, team, kind, n, weight, shape)| {
            let service = ["orders", "billing"][usize::from(n)];
            let head = format!("environment: {env}\nteam: {team}\n");
            let text = match kind {
                0 => format!(
                    "kind: ApiRoute\n{head}host: api.{env}.example.com\npath: /{team}/{service}\n\
                     target: {{namespace: {team}, service: {service}, port: 8080}}\n"
                ),
                1 => {
                    let sides = match shape {
                        0 => format!(
                            "stable: {{subset: v1, labels: {{version: v1}}, weight: {}}}\n\
                             canary: {{subset: v2, labels: {{version: v2}}, weight: {weight}}}\n",
                            100 - weight
                        ),
                        1 => format!(
                            "stable: {{service: {service}, weight: {}}}\n\
                             canary: {{service: {service}-canary, weight: {weight}}}\n",
                            100 - weight
                        ),
                        _ => format!(
                            "rollout: {service}\nstable: {{subset: stable}}\ncanary: {{subset: canary}}\n"
                        ),
                    };
                    format!(
                        "kind: TrafficSplit\n{head}host: api.{env}.example.com\npath: /{team}/{service}\n\
                         namespace: {team}\n{sides}"
                    )
                }
                2 => format!(
                    "kind: CircuitBreaker\n{head}namespace: {team}\nservice: {service}\n\
                     callers: [team-c]\nconnectionPool: {{http: {{http2MaxRequests: {}}}}}\n",
                    u32::from(weight) + 1
                ),
                3 => format!(
                    "kind: MutualTls\n{head}namespace: {team}\nmode: {}\n",
                    ["STRICT", "PERMISSIVE", "STRICT"][usize::from(shape)]
                ),
                4 => format!(
                    "kind: MutualTls\n{head}namespace: {team}\nworkload: {service}\nmode: STRICT\n\
                     portLevelMtls: {{\"9090\": PERMISSIVE}}\n"
                ),
                5 => format!(
                    "kind: Authorization\n{head}namespace: {team}\nworkload: {service}\n\
                     rules:\n- from: {{namespaces: [team-c], ingressGateway: true}}\n"
                ),
                6 => format!(
                    "kind: JwtAuthentication\n{head}namespace: {team}\nworkload: {service}\n\
                     issuer: https://login.example.com\n"
                ),
                7 => format!("kind: Tracing\n{head}namespace: {team}\nlanguage: java\n"),
                _ => format!(
                    "kind: Egress\n{head}namespace: {team}\nhosts: [api{n}.example.com]\n\
                     ports: [{{number: 443, protocol: TLS}}]\n"
                ),
            };
            common::parse_one(&text)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_mix_of_granted_kinds_keeps_one_rule_per_host_one_peer_authentication_and_whole_weights(
        requests in prop::collection::vec(any_kind_request(), 1..16)
    ) {
        let catalog = catalog_for_every_kind();
        // Every team's route to each of its Services is granted, so splits, breakers and
        // policies meet on them; then what review would accept, in order, each request checked
        // against the state.
        let mut granted: Vec<mesh::Request> = Vec::new();
        for env in ["dev", "prod"] {
            for team in ["team-a", "team-b"] {
                for service in ["orders", "billing"] {
                    granted.push(common::parse_one(&format!(
                        "kind: ApiRoute\nenvironment: {env}\nteam: {team}\nhost: api.{env}.example.com\n\
                         path: /{team}/{service}\ntarget: {{namespace: {team}, service: {service}, port: 8080}}\n"
                    )));
                }
            }
        }
        for (i, request) in requests.into_iter().enumerate() {
            let request = request.with_origin(format!("request {i}"));
            match plan(&catalog, &granted, std::slice::from_ref(&request)) {
                Ok(_) => granted.push(request),
                Err(problems) => prop_assert!(
                    problems.iter().all(|p| p.kind != ProblemKind::Internal),
                    "{:?}", problems
                ),
            }
        }
        // The whole state renders: every object passes validation and the analyzer.
        let state = mesh::render_state(&catalog, &granted)
            .map_err(|p| TestCaseError::fail(format!("{p:?}")))?;
        let mut rules_per_host = std::collections::BTreeMap::new();
        let mut namespace_wide = std::collections::BTreeMap::new();
        for file in state.files.iter().filter(|f| !f.path.ends_with("kustomization.yaml")) {
            let value: serde_json::Value = serde_norway::from_str(&file.contents).expect("yaml");
            let env = file.path.split('/').next().unwrap_or_default().to_owned();
            let namespace = value["metadata"]["namespace"].as_str().unwrap_or_default().to_owned();
            match value["kind"].as_str().unwrap_or_default() {
                "DestinationRule" => {
                    let host = value["spec"]["host"].as_str().unwrap_or_default().to_owned();
                    *rules_per_host.entry((env, namespace, host)).or_insert(0) += 1;
                }
                "PeerAuthentication" if value["spec"].get("selector").is_none() => {
                    *namespace_wide.entry((env, namespace)).or_insert(0) += 1;
                }
                "VirtualService" => {
                    for rule in value["spec"]["http"].as_array().into_iter().flatten() {
                        let route = rule["route"].as_array().cloned().unwrap_or_default();
                        if route.len() > 1 {
                            let sum: u64 = route.iter().map(|d| d["weight"].as_u64().unwrap_or(0)).sum();
                            prop_assert_eq!(sum, 100, "{}", file.path);
                        }
                    }
                }
                _ => {}
            }
        }
        for (key, count) in rules_per_host {
            prop_assert_eq!(count, 1, "DestinationRules for {:?}", key);
        }
        for (key, count) in namespace_wide {
            prop_assert_eq!(count, 1, "namespace-wide PeerAuthentications in {:?}", key);
        }
    }
}
