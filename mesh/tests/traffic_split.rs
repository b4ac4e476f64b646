//! Traffic shifting as a request kind: canary and blue/green on a route the team holds, by subsets
//! (the Service's one DestinationRule, exported to the ingress gateway) or by two Services, with
//! fixed weights or moved by Argo Rollouts (the Rollout's traffic routing and the Argo CD
//! Application's ignoreDifferences come with the plan as guidance).

mod common;

use common::{catalog, message, objects_of, parse_one, refusal};
use mesh::plan::plan;
use mesh::{ProblemKind, Request, render_state};
use serde_json::{Value, json};

fn one<'a>(objects: &'a [Value], kind: &str, namespace: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| {
            o["kind"] == kind
                && o["metadata"]["namespace"] == namespace
                && o["metadata"]["name"] == name
        })
        .unwrap_or_else(|| panic!("no {kind} {namespace}/{name} in {objects:#?}"))
}

fn route_in(env: &str) -> Request {
    parse_one(&format!(
        "kind: ApiRoute\nenvironment: {env}\nteam: team-a\nhost: api.{env}.example.com\n\
         path: /orders\ntarget: {{namespace: team-a, service: orders, port: 8080}}\n"
    ))
    .with_origin("route")
}

fn split_in(env: &str, sides: &str) -> Request {
    parse_one(&format!(
        "kind: TrafficSplit\nenvironment: {env}\nteam: team-a\nhost: api.{env}.example.com\n\
         path: /orders\nnamespace: team-a\n{sides}"
    ))
    .with_origin("split")
}

const BY_SUBSET: &str = "stable: {subset: stable, labels: {version: v1}, weight: 90}\n\
                         canary: {subset: canary, labels: {version: v2}, weight: 10}\n";

#[test]
fn a_split_by_subsets_weights_the_delegate_route_and_defines_the_subsets() {
    for env in ["dev", "prod"] {
        let split = split_in(env, BY_SUBSET);
        assert_eq!(
            split.summary(),
            format!("api.{env}.example.com/orders: stable 90% / canary 10%")
        );
        let planned = plan(&catalog(), &[route_in(env)], &[split]).expect("plans");
        let objects = objects_of(&planned);
        let delegate = one(
            &objects,
            "VirtualService",
            "team-a",
            &format!("api-{env}-example-com"),
        );
        let route = &delegate["spec"]["http"][0];
        assert!(route["name"].as_str().is_some(), "routes are named");
        assert_eq!(
            route["route"],
            json!([
                {"destination": {"host": "orders.team-a.svc.cluster.local", "subset": "stable", "port": {"number": 8080}}, "weight": 90},
                {"destination": {"host": "orders.team-a.svc.cluster.local", "subset": "canary", "port": {"number": 8080}}, "weight": 10},
            ])
        );
        let rule = one(&objects, "DestinationRule", "team-a", "orders");
        assert_eq!(rule["spec"]["host"], "orders.team-a.svc.cluster.local");
        assert_eq!(
            rule["spec"]["exportTo"],
            json!([".", "istio-ingress"]),
            "the gateway resolves the subsets, so it sees the rule"
        );
        assert_eq!(
            rule["spec"]["subsets"],
            json!([
                {"name": "canary", "labels": {"version": "v2"}},
                {"name": "stable", "labels": {"version": "v1"}},
            ])
        );
        assert!(
            planned.guidance.is_empty(),
            "no Rollouts, nothing to do outside"
        );
    }
}

#[test]
fn a_split_by_services_needs_no_destination_rule_and_a_flip_is_100_0() {
    let split = split_in(
        "dev",
        "stable: {service: orders-blue, weight: 0}\ncanary: {service: orders-green, weight: 100}\n",
    );
    let planned = plan(&catalog(), &[route_in("dev")], &[split]).expect("plans");
    let objects = objects_of(&planned);
    assert!(
        !objects.iter().any(|o| o["kind"] == "DestinationRule"),
        "{objects:#?}"
    );
    let delegate = one(&objects, "VirtualService", "team-a", "api-dev-example-com");
    let destinations = &delegate["spec"]["http"][0]["route"];
    assert_eq!(
        destinations[0]["destination"]["host"],
        "orders-blue.team-a.svc.cluster.local"
    );
    assert_eq!(destinations[0]["weight"], 0);
    assert_eq!(
        destinations[1]["destination"]["host"],
        "orders-green.team-a.svc.cluster.local"
    );
    assert_eq!(destinations[1]["weight"], 100);
}

#[test]
fn a_split_and_a_circuit_breaker_share_the_services_one_destination_rule() {
    let breaker = parse_one(
        "kind: CircuitBreaker\nenvironment: dev\nteam: team-a\nnamespace: team-a\nservice: orders\n\
         callers: [team-b]\nconnectionPool: {http: {http2MaxRequests: 100}}\n",
    )
    .with_origin("breaker");
    let state = render_state(
        &catalog(),
        &[route_in("dev"), breaker, split_in("dev", BY_SUBSET)],
    )
    .expect("renders");
    let objects = objects_of(&state);
    let rules: Vec<&Value> = objects
        .iter()
        .filter(|o| {
            o["kind"] == "DestinationRule" && o["spec"]["host"] == "orders.team-a.svc.cluster.local"
        })
        .collect();
    assert_eq!(rules.len(), 1, "one DestinationRule per host: {rules:#?}");
    let spec = &rules[0]["spec"];
    assert_eq!(spec["exportTo"], json!([".", "istio-ingress", "team-b"]));
    assert_eq!(
        spec["trafficPolicy"]["connectionPool"]["http"]["http2MaxRequests"],
        100
    );
    assert_eq!(spec["subsets"].as_array().map(Vec::len), Some(2));
}

#[test]
fn under_argo_rollouts_the_plan_says_what_the_rollout_and_the_application_need() {
    let split = parse_one(
        "kind: TrafficSplit\nenvironment: prod\nteam: team-a\nhost: api.prod.example.com\n\
         path: /orders\nnamespace: team-a\nrollout: orders\n\
         stable: {subset: stable}\ncanary: {subset: canary}\n",
    )
    .with_origin("split");
    assert_eq!(
        split.summary(),
        "api.prod.example.com/orders: stable / canary moved by Rollout orders"
    );
    let back = Request::from_value(&split.to_value()).expect("round trip");
    assert_eq!(back.kind(), split.kind());
    let planned = plan(&catalog(), &[route_in("prod")], &[split]).expect("plans");
    let objects = objects_of(&planned);
    let delegate = one(&objects, "VirtualService", "team-a", "api-prod-example-com");
    let route = &delegate["spec"]["http"][0];
    let name = route["name"].as_str().expect("named");
    assert!(name.ends_with("-rollout"), "{name}");
    assert_eq!(route["route"][0]["weight"], 100);
    assert_eq!(route["route"][1]["weight"], 0);
    let rule = one(&objects, "DestinationRule", "team-a", "orders");
    assert_eq!(
        rule["spec"]["subsets"],
        json!([{"name": "canary"}, {"name": "stable"}]),
        "Rollouts adds its pod-template hash to the subsets"
    );

    assert_eq!(planned.guidance.len(), 2, "{:#?}", planned.guidance);
    let rollout = &planned.guidance[0];
    assert_eq!(rollout.source.as_deref(), Some("split"));
    assert_eq!(rollout.title, "Argo Rollout orders in team-a");
    let object: Value = serde_norway::from_str(&rollout.yaml).expect("YAML");
    assert_eq!(
        object["spec"]["strategy"]["canary"]["trafficRouting"]["istio"],
        json!({
            "virtualService": {"name": "api-prod-example-com", "routes": [name]},
            "destinationRule": {"name": "orders", "canarySubsetName": "canary", "stableSubsetName": "stable"},
        })
    );
    let application: Value = serde_norway::from_str(&planned.guidance[1].yaml).expect("YAML");
    assert_eq!(
        application["spec"]["syncPolicy"]["syncOptions"],
        json!(["RespectIgnoreDifferences=true"])
    );
    let expression = application["spec"]["ignoreDifferences"][0]["jqPathExpressions"][0]
        .as_str()
        .expect("a jq path");
    assert!(
        expression.contains("endswith(\"-rollout\")"),
        "{expression}"
    );
    assert!(expression.ends_with(".route[].weight"), "{expression}");
}

#[test]
fn rollouts_by_services_name_the_canary_and_stable_services() {
    let split = parse_one(
        "kind: TrafficSplit\nenvironment: dev\nteam: team-a\nhost: api.dev.example.com\n\
         path: /orders\nnamespace: team-a\nrollout: orders\n\
         stable: {service: orders-stable}\ncanary: {service: orders-canary}\n",
    );
    let planned = plan(&catalog(), &[route_in("dev")], &[split]).expect("plans");
    let object: Value = serde_norway::from_str(&planned.guidance[0].yaml).expect("YAML");
    let canary = &object["spec"]["strategy"]["canary"];
    assert_eq!(canary["canaryService"], "orders-canary");
    assert_eq!(canary["stableService"], "orders-stable");
    assert!(canary["trafficRouting"]["istio"]["destinationRule"].is_null());
}

#[test]
fn split_refusals_say_what_is_accepted() {
    let base = "kind: TrafficSplit\nenvironment: dev\nteam: team-a\nhost: api.dev.example.com\n\
                path: /orders\nnamespace: team-a\n";
    let problems = refusal(&format!(
        "{base}stable: {{subset: stable, labels: {{version: v1}}, weight: 80}}\n\
         canary: {{subset: canary, labels: {{version: v2}}, weight: 10}}\n"
    ));
    assert!(
        message(&problems, "canary.weight").contains("stable 80 + canary 10 is 90"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{base}stable: {{service: a, weight: 101}}\ncanary: {{service: b, weight: 0}}\n"
    ));
    assert!(
        message(&problems, "stable.weight").contains("0 to 100"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{base}stable: {{service: a, weight: 50}}\ncanary: {{subset: b, labels: {{v: b}}, weight: 50}}\n"
    ));
    assert!(
        message(&problems, "canary").contains("both a subset, or both a service"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{base}stable: {{subset: s, weight: 50}}\ncanary: {{subset: c, labels: {{v: b}}, weight: 50}}\n"
    ));
    assert!(
        message(&problems, "stable.labels").contains("are required"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{base}stable: {{subset: s, labels: {{v: a}}, weight: 50}}\ncanary: {{subset: s, labels: {{v: b}}, weight: 50}}\n"
    ));
    assert!(
        message(&problems, "canary.subset").contains("stable subset too"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{base}stable: {{subset: s, labels: {{v: a}}, weight: 50}}\ncanary: {{subset: c, labels: {{v: a}}, weight: 50}}\n"
    ));
    assert!(
        message(&problems, "canary.labels").contains("same pods"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{base}stable: {{service: a, weight: 50}}\ncanary: {{service: a, weight: 50}}\n"
    ));
    message(&problems, "canary.service");
    let problems = refusal(&format!(
        "{base}stable: {{subset: s, service: a, weight: 50}}\ncanary: {{service: b, weight: 50}}\n"
    ));
    assert!(
        message(&problems, "stable").contains("not both"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{base}stable: {{subset: s, labels: {{\"bad key!\": a}}, weight: 50}}\ncanary: {{subset: c, labels: {{v: b}}, weight: 50}}\n"
    ));
    assert!(
        message(&problems, "stable.labels").contains("not a label key"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{base}rollout: orders\nstable: {{subset: s, weight: 90}}\ncanary: {{subset: c, weight: 10}}\n"
    ));
    assert!(
        message(&problems, "canary.weight").contains("leave both weights out"),
        "{problems:?}"
    );
    let problems = refusal(&format!(
        "{base}stable: {{service: a}}\ncanary: {{service: b}}\n"
    ));
    assert!(
        message(&problems, "stable.weight").contains("is required"),
        "{problems:?}"
    );
}

#[test]
fn a_split_needs_a_route_of_the_team_and_one_split_per_route() {
    // No route.
    let problems = plan(&catalog(), &[], &[split_in("dev", BY_SUBSET)]).unwrap_err();
    assert_eq!(problems[0].field, "path");
    assert!(
        problems[0]
            .message
            .contains("team team-a has no route api.dev.example.com/orders in dev to split; ask for the route (kind ApiRoute) first"),
        "{problems:?}"
    );
    // Another team's route.
    let theirs = parse_one(
        "kind: ApiRoute\nenvironment: dev\nteam: team-b\nhost: api.dev.example.com\n\
         path: /orders\ntarget: {namespace: team-b, service: orders, port: 8080}\n",
    );
    let split = parse_one(
        "kind: TrafficSplit\nenvironment: dev\nteam: team-a\nhost: api.dev.example.com\n\
         path: /orders\nnamespace: team-a\nstable: {service: a, weight: 50}\ncanary: {service: b, weight: 50}\n",
    );
    let problems = plan(&catalog(), &[theirs], &[split]).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("is team team-b's route")),
        "{problems:?}"
    );
    // A second split of the same route.
    let problems = plan(
        &catalog(),
        &[route_in("dev"), split_in("dev", BY_SUBSET)],
        &[split_in(
            "dev",
            "stable: {service: a, weight: 50}\ncanary: {service: b, weight: 50}\n",
        )],
    )
    .unwrap_err();
    assert_eq!(problems[0].kind, ProblemKind::Conflict);
    assert!(
        problems[0]
            .message
            .contains("already split in dev (granted by split)"),
        "{problems:?}"
    );
    // The same route and its split in one batch plan together.
    plan(
        &catalog(),
        &[],
        &[route_in("dev"), split_in("dev", BY_SUBSET)],
    )
    .expect("a route and its split together");
    // A granted split whose route was removed renders nothing and breaks nothing.
    render_state(&catalog(), &[split_in("dev", BY_SUBSET)]).expect("renders");
}

#[test]
fn snapshots_of_a_canary_in_both_api_versions() {
    for (env, version) in [("dev", "v1"), ("prod", "v1beta1")] {
        let planned =
            plan(&catalog(), &[route_in(env)], &[split_in(env, BY_SUBSET)]).expect("plans");
        insta::assert_snapshot!(
            format!("{env}_canary_by_subset_{version}"),
            planned.to_multi_document_yaml()
        );
    }
}

#[test]
fn the_rollout_and_application_fragments_pass_their_crd_schemas() {
    use mesh::validate::{SchemaVersion, validation_errors};
    let split = parse_one(
        "kind: TrafficSplit\nenvironment: prod\nteam: team-a\nhost: api.prod.example.com\n\
         path: /orders\nnamespace: team-a\nrollout: orders\n\
         stable: {subset: stable}\ncanary: {subset: canary}\n",
    );
    let by_services = parse_one(
        "kind: TrafficSplit\nenvironment: dev\nteam: team-a\nhost: api.dev.example.com\n\
         path: /orders\nnamespace: team-a\nrollout: orders\n\
         stable: {service: orders-stable}\ncanary: {service: orders-canary}\n",
    );
    for (env, split) in [("prod", split), ("dev", by_services)] {
        let planned = plan(&catalog(), &[route_in(env)], &[split]).expect("plans");
        for guidance in &planned.guidance {
            let mut object: Value = serde_norway::from_str(&guidance.yaml).expect("YAML");
            if object.get("kind").is_none() {
                object["apiVersion"] = json!("argoproj.io/v1alpha1");
                object["kind"] = json!("Application");
                object["metadata"] = json!({"name": "mesh-config-prod", "namespace": "argocd"});
            }
            for version in SchemaVersion::ALL {
                let errors = validation_errors(version, &object);
                assert!(errors.is_empty(), "{}: {errors:?}", guidance.title);
            }
        }
    }
    // A wrong field is caught: the schemas are really applied.
    let wrong = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "x", "namespace": "y"},
        "spec": {"strategy": {"canary": {"trafficRouting": {"istio": {"virtualService": {"routes": "one"}}}}}}
    });
    assert!(!validation_errors(SchemaVersion::Istio1_24, &wrong).is_empty());
}

#[test]
fn the_argo_cd_applications_in_deploy_ignore_the_rollout_weights() {
    let text = include_str!("../../deploy/argocd/applications.yaml");
    let fragment = mesh::render::application_ignore_differences();
    let mut applications = 0;
    for document in serde_norway::Deserializer::from_str(text) {
        let application: Value = serde::Deserialize::deserialize(document).expect("YAML");
        assert_eq!(
            application["spec"]["ignoreDifferences"], fragment["ignoreDifferences"],
            "{}",
            application["metadata"]["name"]
        );
        assert!(
            application["spec"]["syncPolicy"]["syncOptions"]
                .as_array()
                .is_some_and(|o| o.contains(&json!("RespectIgnoreDifferences=true")))
        );
        applications += 1;
    }
    assert_eq!(applications, 2);
}

#[test]
fn the_readme_worked_example_shows_what_the_plan_renders() {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("### A canary with Argo Rollouts")
        .expect("the worked example");
    let example = &readme[start..];
    let request_yaml = example
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the request");
    let split = parse_one(request_yaml);
    let route = parse_one(
        "kind: ApiRoute\nenvironment: prod\nteam: team-a\nhost: api.prod.example.com\n\
         path: /orders/v1\ntarget: {namespace: team-a, service: orders, port: 8080}\n",
    );
    let planned = plan(&catalog(), &[route], &[split]).expect("plans");
    let objects = objects_of(&planned);
    let delegate = one(&objects, "VirtualService", "team-a", "api-prod-example-com");
    let name = delegate["spec"]["http"][0]["name"].as_str().expect("named");
    assert!(example.contains(&format!("- name: {name}\n")), "{name}");
    assert!(example.contains(&format!("routes: [{name}]")), "{name}");
    let rollout: Value = serde_norway::from_str(&planned.guidance[0].yaml).expect("YAML");
    let routing = &rollout["spec"]["strategy"]["canary"]["trafficRouting"]["istio"];
    for (key, value) in [
        ("name: ", routing["virtualService"]["name"].as_str()),
        (
            "canarySubsetName: ",
            routing["destinationRule"]["canarySubsetName"].as_str(),
        ),
        (
            "stableSubsetName: ",
            routing["destinationRule"]["stableSubsetName"].as_str(),
        ),
    ] {
        let value = value.expect("set");
        assert!(example.contains(&format!("{key}{value}")), "{key}{value}");
    }
    assert!(example.contains(
        mesh::render::application_ignore_differences()["ignoreDifferences"][0]
            ["jqPathExpressions"][0]
            .as_str()
            .expect("a path")
    ));
}
