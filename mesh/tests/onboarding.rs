//! Namespace onboarding: every namespace a team holds gets its baseline (mesh membership,
//! namespace-wide mTLS, the Sidecar and, where all egress goes through the gateway, a
//! NetworkPolicy), and a team asks for a further namespace with a request of kind Onboarding.

mod common;

use common::{catalog, catalog_file, onboarding, parse_one, route};
use mesh::config::{EgressConfig, OnboardingConfig};
use mesh::validate::{SchemaVersion, validation_errors};
use mesh::{Catalog, ProblemKind, parse_documents, plan, render_state};
use serde_json::{Value, json};

fn objects_of(plan: &mesh::Plan) -> Vec<Value> {
    plan.files
        .iter()
        .filter(|f| !f.path.ends_with("kustomization.yaml"))
        .map(|f| serde_norway::from_str(&f.contents).expect("rendered YAML parses"))
        .collect()
}

fn in_namespace<'a>(objects: &'a [Value], kind: &str, namespace: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|o| {
            o["kind"] == kind
                && (o["metadata"]["namespace"] == namespace
                    || (kind == "Namespace" && o["metadata"]["name"] == namespace))
        })
        .collect()
}

/// The example catalog with `dev`'s onboarding (and optionally egress) configuration replaced.
fn catalog_with(onboarding: OnboardingConfig, egress: Option<EgressConfig>) -> Catalog {
    let mut file = catalog_file();
    file.environments[0].onboarding = onboarding;
    if let Some(egress) = egress {
        file.environments[0].egress = egress;
    }
    Catalog::from_config(file.environments, file.teams).expect("valid catalog")
}

fn required_gateway() -> EgressConfig {
    EgressConfig {
        mode: "gateway".to_owned(),
        gateway: Some("istio-egress/egress-gw".to_owned()),
        required: true,
        ..EgressConfig::default()
    }
}

#[test]
fn an_onboarding_request_parses_round_trips_and_names_unknown_fields() {
    let request =
        parse_one("kind: Onboarding\nenvironment: dev\nteam: team-a\nnamespace: team-a-batch\n");
    assert_eq!(request.kind_name(), "Onboarding");
    assert_eq!(request.namespace().as_str(), "team-a-batch");
    assert_eq!(
        request.summary(),
        "onboard namespace team-a-batch for team team-a"
    );
    let back: mesh::Request = serde_json::from_value(request.to_value()).expect("round trip");
    assert_eq!(back.kind(), request.kind());

    let problems = parse_documents(
        "o.yaml",
        "kind: Onboarding\nenvironment: dev\nteam: team-a\nnamespace: Team_A\nmtls: STRICT\n",
    )
    .unwrap_err();
    assert_eq!(problems[0].field, "mtls", "{problems:?}");
    assert!(problems[0].message.contains("expected"), "{problems:?}");
    let problems = parse_documents(
        "o.yaml",
        "kind: Onboarding\nenvironment: dev\nteam: team-a\nnamespace: Team_A\n",
    )
    .unwrap_err();
    assert_eq!(problems[0].field, "namespace", "{problems:?}");
}

#[test]
fn a_route_in_a_namespace_the_team_does_not_hold_says_how_to_onboard_it() {
    let request = parse_one(
        "kind: ApiRoute\nenvironment: dev\nteam: team-a\nhost: api.dev.example.com\npath: /batch\n\
         target: {namespace: team-a-batch, service: batch, port: 8080}\n",
    );
    let problems = plan(&catalog(), &[], &[request]).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].field, "target.namespace");
    let message = &problems[0].message;
    assert!(
        message.contains("team team-a does not hold namespace team-a-batch in dev")
            && message.contains("choose one of team-a")
            && message.contains(
                "kind Onboarding (environment: dev, team: team-a, namespace: team-a-batch)"
            ),
        "{message}"
    );
    // Another team's namespace is named as such.
    let problems = plan(&catalog(), &[], &[egress_from("team-b")]).unwrap_err();
    assert!(
        problems[0]
            .message
            .contains("namespace team-b is held by team team-b in dev"),
        "{problems:?}"
    );
}

/// Team A's egress from `namespace` in dev.
fn egress_from(namespace: &str) -> mesh::Request {
    mesh::Request::from_value(&json!({
        "kind": "Egress", "environment": "dev", "team": "team-a", "namespace": namespace,
        "hosts": ["api.example.org"], "ports": [{"number": 443, "protocol": "TLS"}],
    }))
    .expect("parses")
}

#[test]
fn a_granted_onboarding_brings_the_namespace_and_its_baseline() {
    let granted = [onboarding("dev", "team-a", "team-a-batch")];
    let batch_route = parse_one(
        "kind: ApiRoute\nenvironment: dev\nteam: team-a\nhost: api.dev.example.com\npath: /batch\n\
         target: {namespace: team-a-batch, service: batch, port: 8080}\n",
    );
    let plan = plan(&catalog(), &granted, &[batch_route]).expect("the team holds it now");
    let objects = objects_of(&plan);
    assert_eq!(
        in_namespace(&objects, "VirtualService", "team-a-batch").len(),
        1
    );
    for kind in ["Namespace", "PeerAuthentication", "Sidecar"] {
        assert_eq!(
            in_namespace(&objects, kind, "team-a-batch").len(),
            1,
            "{kind} of team-a-batch in {:#?}",
            plan.files.iter().map(|f| &f.path).collect::<Vec<_>>()
        );
    }
    let namespace = in_namespace(&objects, "Namespace", "team-a-batch")[0];
    assert_eq!(
        namespace["metadata"]["labels"]["istio-injection"],
        "enabled"
    );
    assert_eq!(
        namespace["metadata"]["annotations"]["argocd.argoproj.io/sync-options"],
        "Prune=false,Delete=false",
        "Argo CD must never delete a team's namespace"
    );
    // Another team's route there is still refused.
    let other = parse_one(
        "kind: ApiRoute\nenvironment: dev\nteam: team-b\nhost: api.dev.example.com\npath: /b\n\
         target: {namespace: team-a-batch, service: b, port: 8080}\n",
    );
    let problems = mesh::plan(&catalog(), &granted, &[other]).unwrap_err();
    assert!(
        problems[0].message.contains("held by team team-a in dev"),
        "{problems:?}"
    );
    // The onboarding holds in its environment only.
    let prod_route = parse_one(
        "kind: ApiRoute\nenvironment: prod\nteam: team-a\nhost: api.prod.example.com\npath: /batch\n\
         target: {namespace: team-a-batch, service: batch, port: 8080}\n",
    );
    let problems = mesh::plan(&catalog(), &granted, &[prod_route]).unwrap_err();
    assert!(
        problems[0]
            .message
            .contains("does not hold namespace team-a-batch in prod"),
        "{problems:?}"
    );
}

#[test]
fn an_onboarding_and_a_route_in_one_batch_plan_together_in_either_order() {
    let batch = parse_documents(
        "batch.yaml",
        "kind: Onboarding\nenvironment: prod\nteam: team-a\nnamespace: team-a-batch\n---\n\
         kind: Egress\nenvironment: prod\nteam: team-a\nnamespace: team-a-batch\nhosts: [api.stripe.com]\n\
         ports: [{number: 443, protocol: TLS}]\n",
    )
    .expect("parses");
    let plan = plan(&catalog(), &[], &batch).expect("onboarded first, then the grant");
    let objects = objects_of(&plan);
    // OpenShift Service Mesh 2.x joins through a ServiceMeshMember, not a label.
    let member = in_namespace(&objects, "ServiceMeshMember", "team-a-batch");
    assert_eq!(member.len(), 1);
    assert_eq!(member[0]["apiVersion"], "maistra.io/v1");
    assert_eq!(
        member[0]["spec"]["controlPlaneRef"],
        json!({"name": "basic", "namespace": "istio-system"})
    );
    assert!(in_namespace(&objects, "Namespace", "team-a-batch").is_empty());
    let peer = in_namespace(&objects, "PeerAuthentication", "team-a-batch");
    assert_eq!(peer[0]["apiVersion"], "security.istio.io/v1beta1");
    assert_eq!(peer[0]["spec"], json!({"mtls": {"mode": "STRICT"}}));
    assert_eq!(
        in_namespace(&objects, "ServiceEntry", "team-a-batch").len(),
        1
    );

    // The other order plans the same: onboardings are checked before what builds on them.
    let mut reversed = batch.clone();
    reversed.reverse();
    let again = mesh::plan(&catalog(), &[], &reversed).expect("either order plans");
    assert_eq!(again.files, plan.files);
}

#[test]
fn onboarding_a_held_platform_or_system_namespace_is_refused_with_the_reason() {
    let cases = [
        (
            "team-b",
            ProblemKind::Conflict,
            "held by team team-b in dev",
        ),
        (
            "team-a",
            ProblemKind::AlreadyGranted,
            "already team team-a's in dev: the platform configured it",
        ),
        (
            "istio-ingress",
            ProblemKind::Policy,
            "belongs to the platform in dev",
        ),
        (
            "istio-system",
            ProblemKind::Policy,
            "belongs to the platform in dev",
        ),
        (
            "kube-system",
            ProblemKind::Policy,
            "belongs to the platform in dev",
        ),
        ("kube-public", ProblemKind::Policy, "system namespace"),
        (
            "openshift-monitoring",
            ProblemKind::Policy,
            "system namespace",
        ),
        ("default", ProblemKind::Policy, "system namespace"),
    ];
    for (namespace, kind, expected) in cases {
        let problems =
            plan(&catalog(), &[], &[onboarding("dev", "team-a", namespace)]).unwrap_err();
        assert_eq!(problems.len(), 1, "{namespace}: {problems:?}");
        assert_eq!(problems[0].field, "namespace");
        assert_eq!(problems[0].kind, kind, "{namespace}: {problems:?}");
        assert!(
            problems[0].message.contains(expected),
            "{namespace}: {problems:?}"
        );
    }
    // Onboarded before, by the same team or another one.
    let granted = [onboarding("dev", "team-b", "shared-batch")];
    let problems = plan(
        &catalog(),
        &granted,
        &[onboarding("dev", "team-a", "shared-batch")],
    )
    .unwrap_err();
    assert_eq!(problems[0].kind, ProblemKind::Conflict);
    assert!(
        problems[0].message.contains("held by team team-b in dev"),
        "{problems:?}"
    );
    let problems = plan(
        &catalog(),
        &granted,
        &[onboarding("dev", "team-b", "shared-batch")],
    )
    .unwrap_err();
    assert_eq!(problems[0].kind, ProblemKind::AlreadyGranted);
    assert!(
        problems[0].message.contains("onboarded before"),
        "{problems:?}"
    );
    // Twice in one batch.
    let problems = plan(
        &catalog(),
        &[],
        &[
            onboarding("dev", "team-a", "twice"),
            onboarding("dev", "team-a", "twice"),
        ],
    )
    .unwrap_err();
    assert!(
        problems[0].message.contains("asked for twice"),
        "{problems:?}"
    );
}

#[test]
fn permissive_mtls_and_a_revision_label_come_from_the_environment() {
    let catalog = catalog_with(
        OnboardingConfig {
            mtls: Some("PERMISSIVE".to_owned()),
            revision: Some("1-24".to_owned()),
            ..OnboardingConfig::default()
        },
        None,
    );
    let plan = plan(
        &catalog,
        &[],
        &[onboarding("dev", "team-a", "team-a-batch")],
    )
    .expect("plans");
    let objects = objects_of(&plan);
    let namespace = in_namespace(&objects, "Namespace", "team-a-batch")[0];
    assert_eq!(namespace["metadata"]["labels"]["istio.io/rev"], "1-24");
    assert!(
        namespace["metadata"]["labels"]
            .get("istio-injection")
            .is_none()
    );
    let peer = in_namespace(&objects, "PeerAuthentication", "team-a-batch")[0];
    assert_eq!(peer["apiVersion"], "security.istio.io/v1");
    assert_eq!(peer["spec"]["mtls"]["mode"], "PERMISSIVE");
    // Only the new namespace's folder is in the pull request.
    assert!(
        plan.files
            .iter()
            .all(|f| f.path.starts_with("dev/team-a-batch/")),
        "{:?}",
        plan.files.iter().map(|f| &f.path).collect::<Vec<_>>()
    );
}

#[test]
fn where_all_egress_goes_through_the_gateway_pods_reach_only_dns_the_mesh_and_the_gateway() {
    let catalog = catalog_with(OnboardingConfig::default(), Some(required_gateway()));
    let state = render_state(&catalog, &[onboarding("dev", "team-a", "team-a-batch")]).unwrap();
    let objects = objects_of(&state);
    for namespace in ["team-a", "team-b", "team-a-batch"] {
        let policies = in_namespace(&objects, "NetworkPolicy", namespace);
        assert_eq!(policies.len(), 1, "{namespace}");
        let spec = &policies[0]["spec"];
        assert_eq!(spec["podSelector"], json!({}));
        assert_eq!(spec["policyTypes"], json!(["Egress"]));
        let peers: Vec<&Value> = spec["egress"]
            .as_array()
            .unwrap()
            .iter()
            .map(|rule| &rule["to"][0])
            .collect();
        assert_eq!(
            peers,
            [
                &json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}),
                &json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}}}),
                &json!({"namespaceSelector": {"matchLabels": {"istio-injection": "enabled"}}}),
                &json!({
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-egress"}},
                    "podSelector": {"matchLabels": {"istio": "egressgateway"}}
                }),
            ]
        );
        assert_eq!(
            spec["egress"][0]["ports"][0],
            json!({"protocol": "UDP", "port": 53}),
            "DNS only on its ports"
        );
        assert!(spec["egress"][1].get("ports").is_none());
    }
    // Without the requirement, direct egress stays possible: no NetworkPolicy.
    let optional = EgressConfig {
        required: false,
        ..required_gateway()
    };
    let catalog = catalog_with(OnboardingConfig::default(), Some(optional));
    let state = render_state(&catalog, &[onboarding("dev", "team-a", "team-a-batch")]).unwrap();
    assert!(
        objects_of(&state)
            .iter()
            .all(|o| o["kind"] != "NetworkPolicy"),
        "no NetworkPolicy when egress may bypass the gateway"
    );
}

#[test]
fn on_openshift_service_mesh_the_mesh_is_selected_by_member_label_and_dns_runs_in_openshift_dns() {
    let mut file = catalog_file();
    file.environments[1].egress = required_gateway();
    file.environments[1].onboarding.control_plane = Some("prod-mesh".to_owned());
    let catalog = Catalog::from_config(file.environments, file.teams).expect("valid");
    let state = render_state(&catalog, &[route("prod", "team-a", "/a", "prefix")]).unwrap();
    let objects = objects_of(&state);
    let policy = in_namespace(&objects, "NetworkPolicy", "team-a")[0];
    assert_eq!(
        policy["spec"]["egress"][0]["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "openshift-dns"
    );
    assert_eq!(
        policy["spec"]["egress"][2]["to"][0]["namespaceSelector"]["matchLabels"],
        json!({"maistra.io/member-of": "istio-system"})
    );
    let member = in_namespace(&objects, "ServiceMeshMember", "team-a")[0];
    assert_eq!(member["spec"]["controlPlaneRef"]["name"], "prod-mesh");
}

#[test]
fn onboarding_configuration_mistakes_name_the_field() {
    let cases: [(usize, OnboardingConfig, &str, &str); 4] = [
        (
            0,
            OnboardingConfig {
                mtls: Some("strict".to_owned()),
                ..OnboardingConfig::default()
            },
            "environments[0].onboarding.mtls",
            "expected STRICT or PERMISSIVE",
        ),
        (
            0,
            OnboardingConfig {
                control_plane: Some("basic".to_owned()),
                ..OnboardingConfig::default()
            },
            "environments[0].onboarding.controlPlane",
            "only applies to OpenShift Service Mesh 2.x",
        ),
        (
            1,
            OnboardingConfig {
                revision: Some("canary".to_owned()),
                ..OnboardingConfig::default()
            },
            "environments[1].onboarding.revision",
            "ServiceMeshMember",
        ),
        (
            0,
            OnboardingConfig {
                revision: Some("bad revision".to_owned()),
                ..OnboardingConfig::default()
            },
            "environments[0].onboarding.revision",
            "not a revision name",
        ),
    ];
    for (env, config, field, expected) in cases {
        let mut file = catalog_file();
        file.environments[env].onboarding = config;
        let problems = Catalog::from_config(file.environments, file.teams).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.field == field && p.message.contains(expected)),
            "{field}: {problems:?}"
        );
    }
}

#[test]
fn the_validator_checks_the_baseline_kinds_by_their_own_group() {
    let version = SchemaVersion::Istio1_24;
    let errors = |object: Value| -> Vec<String> {
        validation_errors(version, &object)
            .into_iter()
            .map(|f| f.to_string())
            .collect()
    };
    let namespaced = errors(json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "team-a", "namespace": "team-a"},
    }));
    assert!(
        namespaced
            .iter()
            .any(|e| e.starts_with("metadata.namespace: Forbidden")),
        "{namespaced:?}"
    );
    let wrong_group = errors(json!({
        "apiVersion": "networking.istio.io/v1", "kind": "PeerAuthentication",
        "metadata": {"name": "default", "namespace": "team-a"}, "spec": {},
    }));
    assert!(
        wrong_group.iter().any(|e| e.contains(
            "serves PeerAuthentication as security.istio.io/v1, security.istio.io/v1beta1"
        )),
        "{wrong_group:?}"
    );
    let bad_policy = errors(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "egress", "namespace": "team-a"},
        "spec": {"policyTypes": ["Outbound"], "egress": [{"ports": [{"protocol": "ICMP", "port": 53}]}]},
    }));
    for expected in [
        "spec.podSelector: Required value",
        "spec.policyTypes[0]: Unsupported value: \"Outbound\"",
        "spec.egress[0].ports[0].protocol: Unsupported value: \"ICMP\"",
    ] {
        assert!(
            bad_policy.iter().any(|e| e.starts_with(expected)),
            "{expected}: {bad_policy:?}"
        );
    }
    let member = errors(json!({
        "apiVersion": "maistra.io/v1", "kind": "ServiceMeshMember",
        "metadata": {"name": "default", "namespace": "team-a"},
        "spec": {"controlPlaneRef": {"name": "basic"}},
    }));
    assert!(
        member
            .iter()
            .any(|e| e.starts_with("spec.controlPlaneRef.namespace: Required value")),
        "{member:?}"
    );
}
