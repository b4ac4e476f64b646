//! Authorization and JWT as request kinds: an ALLOW AuthorizationPolicy per workload (callers by
//! namespace, service account or the ingress gateway; operations by method and the team's own
//! paths), refused where callers could skip mTLS; a RequestAuthentication always paired with the
//! policy that turns away calls without a token, from an issuer the environment allows.

mod common;

use common::{catalog_file, message, objects_of, parse_one, refusal};
use mesh::config::JwtIssuerConfig;
use mesh::plan::plan;
use mesh::validate::{SchemaVersion, validation_errors};
use mesh::{Catalog, ProblemKind, Request, render_state};
use serde_json::{Value, json};

const ISSUER: &str = "https://login.example.com/realms/main";

fn catalog() -> Catalog {
    let mut file = catalog_file();
    for env in &mut file.environments {
        env.jwt.issuers = vec![JwtIssuerConfig {
            issuer: ISSUER.to_owned(),
            jwks_uri: Some(format!("{ISSUER}/protocol/openid-connect/certs")),
            jwks: None,
        }];
    }
    Catalog::from_config(file.environments, file.teams).expect("valid catalog")
}

fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn route(env: &str) -> Request {
    parse_one(&format!(
        "kind: ApiRoute\nenvironment: {env}\nteam: team-a\nhost: api.{env}.example.com\n\
         path: /orders/v1\ntarget: {{namespace: team-a, service: orders, port: 8080}}\n"
    ))
    .with_origin("route")
}

fn authz(env: &str, rules: &str) -> Request {
    parse_one(&format!(
        "kind: Authorization\nenvironment: {env}\nteam: team-a\nnamespace: team-a\n\
         workload: orders\n{rules}"
    ))
    .with_origin("authz")
}

const RULES: &str = "rules:\n- from: {namespaces: [team-b], serviceAccounts: [team-c/billing], ingressGateway: true}\n  \
                     to: {methods: [GET, POST], paths: [/orders/v1, /orders/v1/*]}\n";

#[test]
fn an_authorization_renders_one_allow_policy_for_the_workload() {
    for (env, api) in [
        ("dev", "security.istio.io/v1"),
        ("prod", "security.istio.io/v1beta1"),
    ] {
        let request = authz(env, RULES);
        assert_eq!(
            request.summary(),
            "allow namespace team-b, team-c/billing, the ingress gateway to call team-a/orders"
        );
        assert_eq!(
            Request::from_value(&request.to_value())
                .expect("round trip")
                .kind(),
            request.kind()
        );
        let planned = plan(&catalog(), &[route(env)], &[request]).expect("plans");
        let objects = objects_of(&planned);
        let policy = named(&objects, "AuthorizationPolicy", "orders-allow");
        assert_eq!(policy["apiVersion"], api);
        assert_eq!(
            policy["spec"],
            json!({
                "selector": {"matchLabels": {"app": "orders"}},
                "action": "ALLOW",
                "rules": [{
                    "from": [
                        {"source": {"namespaces": ["istio-ingress", "team-b"]}},
                        {"source": {"principals": ["*/ns/team-c/sa/billing"]}},
                    ],
                    "to": [{"operation": {"methods": ["GET", "POST"], "paths": ["/orders/v1", "/orders/v1/*"]}}],
                }],
            })
        );
    }
}

#[test]
fn deny_all_is_only_accepted_when_asked_for() {
    let problems = refusal(
        "kind: Authorization\nenvironment: dev\nteam: team-a\nnamespace: team-a\nworkload: orders\n",
    );
    assert!(
        message(&problems, "rules").contains("denies every call"),
        "{problems:?}"
    );
    let problems = refusal(
        "kind: Authorization\nenvironment: dev\nteam: team-a\nnamespace: team-a\nworkload: orders\nrules: []\n",
    );
    assert!(
        message(&problems, "rules").contains("denyAll: true"),
        "{problems:?}"
    );
    let request = authz("dev", "denyAll: true\n");
    assert_eq!(request.summary(), "deny every call to team-a/orders");
    let planned = plan(&catalog(), &[], &[request]).expect("plans");
    let objects = objects_of(&planned);
    let policy = named(&objects, "AuthorizationPolicy", "orders-allow");
    assert_eq!(
        policy["spec"],
        json!({"selector": {"matchLabels": {"app": "orders"}}, "action": "ALLOW"})
    );
}

#[test]
fn authorization_refusals_name_the_field_and_what_is_accepted() {
    let base = "kind: Authorization\nenvironment: dev\nteam: team-a\nnamespace: team-a\nworkload: orders\n";
    let problems = refusal(&format!("{base}rules:\n- {{}}\n"));
    assert!(
        message(&problems, "rules[0]").contains("allows every call"),
        "{problems:?}"
    );
    let problems = refusal(&format!("{base}rules:\n- from: {{}}\n"));
    assert!(
        message(&problems, "rules[0].from").contains("names no caller"),
        "{problems:?}"
    );
    let problems = refusal(&format!("{base}rules:\n- from: {{namespaces: []}}\n"));
    assert!(
        message(&problems, "rules[0].from.namespaces").contains("is empty"),
        "{problems:?}"
    );
    let problems = refusal(&format!("{base}rules:\n- to: {{}}\n"));
    assert!(
        message(&problems, "rules[0].to").contains("names no operation"),
        "{problems:?}"
    );
    let problems = refusal(&format!("{base}rules:\n- to: {{methods: [FETCH]}}\n"));
    assert!(
        message(&problems, "rules[0].to.methods[0]").contains("expected one of GET"),
        "{problems:?}"
    );
    let problems = refusal(&format!("{base}rules:\n- to: {{paths: [/orders*]}}\n"));
    assert!(
        message(&problems, "rules[0].to.paths[0]").contains("ends with /*"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{base}rules:\n- from: {{serviceAccounts: [billing]}}\n"
    ));
    assert!(
        message(&problems, "rules[0].from.serviceAccounts[0]").contains("namespace/name"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{base}denyAll: true\nrules:\n- from: {{namespaces: [team-b]}}\n"
    ));
    assert!(
        message(&problems, "denyAll").contains("cannot go with rules"),
        "{problems:?}"
    );
}

#[test]
fn authorization_needs_strict_mtls_and_the_teams_own_paths() {
    // A PERMISSIVE namespace: callers could skip their identity.
    let permissive = parse_one(
        "kind: MutualTls\nenvironment: dev\nteam: team-a\nnamespace: team-a\nmode: PERMISSIVE\n",
    )
    .with_origin("mtls");
    let problems = plan(
        &catalog(),
        &[route("dev"), permissive.clone()],
        &[authz("dev", RULES)],
    )
    .unwrap_err();
    assert_eq!(problems[0].field, "namespace");
    assert!(
        problems[0].message.contains("ask for mTLS STRICT first"),
        "{problems:?}"
    );
    // And once authorized, the namespace cannot turn PERMISSIVE.
    let problems = plan(
        &catalog(),
        &[route("dev"), authz("dev", RULES)],
        &[permissive],
    )
    .unwrap_err();
    assert!(
        problems[0]
            .message
            .contains("remove the authorization first"),
        "{problems:?}"
    );

    // Paths outside the team's leases.
    let problems = plan(
        &catalog(),
        &[route("dev")],
        &[authz("dev", "rules:\n- to: {paths: [/payments/*]}\n")],
    )
    .unwrap_err();
    assert_eq!(problems[0].field, "rules[0].to.paths[0]");
    assert!(
        problems[0].message.contains("prefix /orders/v1"),
        "{problems:?}"
    );
    // Paths without any route of the team.
    let problems = plan(
        &catalog(),
        &[],
        &[authz("dev", "rules:\n- to: {paths: [/orders/v1]}\n")],
    )
    .unwrap_err();
    assert!(problems[0].message.contains("none yet"), "{problems:?}");
    // A second ALLOW policy for the workload.
    let problems = plan(
        &catalog(),
        &[route("dev"), authz("dev", RULES)],
        &[authz("dev", "rules:\n- from: {namespaces: [team-d]}\n")],
    )
    .unwrap_err();
    assert_eq!(problems[0].kind, ProblemKind::Conflict);
    assert!(
        problems[0]
            .message
            .contains("already has its authorization"),
        "{problems:?}"
    );
}

fn jwt(env: &str, extra: &str) -> Request {
    parse_one(&format!(
        "kind: JwtAuthentication\nenvironment: {env}\nteam: team-a\nnamespace: team-a\n\
         workload: orders\nissuer: {ISSUER}\n{extra}"
    ))
    .with_origin("jwt")
}

#[test]
fn a_jwt_requirement_renders_the_request_authentication_and_the_policy_requiring_a_token() {
    for env in ["dev", "prod"] {
        let request = jwt(env, "audiences: [orders-api]\n");
        assert_eq!(
            request.summary(),
            format!("require a JWT from {ISSUER} on team-a/orders")
        );
        let planned = plan(&catalog(), &[], &[request]).expect("plans");
        let objects = objects_of(&planned);
        let authn = named(&objects, "RequestAuthentication", "orders-jwt");
        assert_eq!(
            authn["spec"],
            json!({
                "selector": {"matchLabels": {"app": "orders"}},
                "jwtRules": [{
                    "issuer": ISSUER,
                    "jwksUri": format!("{ISSUER}/protocol/openid-connect/certs"),
                    "audiences": ["orders-api"],
                }],
            })
        );
        let required = named(&objects, "AuthorizationPolicy", "orders-require-jwt");
        assert_eq!(
            required["spec"],
            json!({
                "selector": {"matchLabels": {"app": "orders"}},
                "action": "DENY",
                "rules": [{"from": [{"source": {"notRequestPrincipals": [format!("{ISSUER}/*")]}}]}],
            })
        );
    }
}

#[test]
fn jwt_refusals_say_what_is_accepted() {
    let other = parse_one(
        "kind: JwtAuthentication\nenvironment: dev\nteam: team-a\nnamespace: team-a\n\
         workload: orders\nissuer: https://evil.example.com\n",
    );
    let problems = plan(&catalog(), &[], &[other]).unwrap_err();
    assert_eq!(problems[0].field, "issuer");
    assert!(
        problems[0]
            .message
            .contains(&format!("expected one of {ISSUER}")),
        "{problems:?}"
    );
    // On the shared ingress gateway: every team's routes.
    let gateway = parse_one(&format!(
        "kind: JwtAuthentication\nenvironment: dev\nteam: team-a\nnamespace: istio-ingress\n\
         workload: public-gw\nissuer: {ISSUER}\n"
    ));
    let problems = plan(&catalog(), &[], &[gateway]).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.field == "namespace" && p.message.contains("every team's routes")),
        "{problems:?}"
    );
    // One issuer per workload.
    let problems = plan(
        &catalog(),
        &[jwt("dev", "")],
        &[jwt("dev", "audiences: [x]\n")],
    )
    .unwrap_err();
    assert_eq!(problems[0].kind, ProblemKind::Conflict);
    let problems = refusal(&format!(
        "kind: JwtAuthentication\nenvironment: dev\nteam: team-a\nnamespace: team-a\n\
         workload: orders\nissuer: {ISSUER}\naudiences: [\"\"]\n"
    ));
    message(&problems, "audiences[0]");
    // No issuer configured at all.
    let bare =
        Catalog::from_config(catalog_file().environments, catalog_file().teams).expect("catalog");
    let problems = plan(&bare, &[], &[jwt("dev", "")]).unwrap_err();
    assert!(
        problems[0].message.contains("allows none yet"),
        "{problems:?}"
    );
}

#[test]
fn policies_pass_both_api_versions_and_the_state_renders_them() {
    let state = render_state(
        &catalog(),
        &[route("prod"), authz("prod", RULES), jwt("prod", "")],
    )
    .expect("renders");
    let objects = objects_of(&state);
    for object in objects
        .iter()
        .filter(|o| o["kind"] == "AuthorizationPolicy" || o["kind"] == "RequestAuthentication")
    {
        for version in SchemaVersion::ALL {
            assert!(validation_errors(version, object).is_empty(), "{object}");
        }
    }
    assert_eq!(
        objects
            .iter()
            .filter(|o| o["kind"] == "AuthorizationPolicy")
            .count(),
        2
    );
}

#[test]
fn snapshots_of_authorization_and_jwt_in_both_api_versions() {
    for (env, version) in [("dev", "v1"), ("prod", "v1beta1")] {
        let planned = plan(
            &catalog(),
            &[route(env)],
            &[authz(env, RULES), jwt(env, "audiences: [orders-api]\n")],
        )
        .expect("plans");
        insta::assert_snapshot!(
            format!("{env}_authorization_and_jwt_{version}"),
            planned.to_multi_document_yaml()
        );
    }
}
