//! Tracing onboarding as a request kind: one OpenTelemetry Instrumentation per namespace,
//! exporting to the environment's collector with a protocol that fits its port, named explicitly
//! by the injection annotation on the Namespace or on the team's Deployments (with the
//! application container named); the baseline lets the namespace reach the collector.

mod common;

use common::{catalog_file, objects_of, parse_one};
use mesh::config::{EgressConfig, TracingConfig};
use mesh::plan::plan;
use mesh::validate::{SchemaVersion, validation_errors};
use mesh::{Catalog, ProblemKind, Request, parse_documents};
use serde_json::{Value, json};

fn catalog_with(protocol: &str, port: i64) -> Catalog {
    let mut file = catalog_file();
    for env in &mut file.environments {
        env.tracing = Some(TracingConfig {
            collector: "observability/otel-collector".to_owned(),
            port,
            protocol: Some(protocol.to_owned()),
        });
    }
    Catalog::from_config(file.environments, file.teams).expect("valid catalog")
}

fn catalog() -> Catalog {
    catalog_with("http/protobuf", 4318)
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

fn tracing(env: &str, extra: &str) -> Request {
    parse_one(&format!(
        "kind: Tracing\nenvironment: {env}\nteam: team-a\nnamespace: team-a\nlanguage: java\n{extra}"
    ))
    .with_origin("tracing")
}

#[test]
fn the_namespace_gets_its_instrumentation_and_the_annotation_naming_it() {
    for env in ["dev", "prod"] {
        let request = tracing(
            env,
            "sampler: {type: parentbased_traceidratio, argument: 0.25}\n",
        );
        assert_eq!(
            request.summary(),
            "trace Java workloads in namespace team-a"
        );
        assert_eq!(
            Request::from_value(&request.to_value())
                .expect("round trip")
                .kind(),
            request.kind()
        );
        let planned = plan(&catalog(), &[], &[request]).expect("plans");
        let objects = objects_of(&planned);
        let instrumentation = find(&objects, "Instrumentation", "tracing").expect("rendered");
        assert_eq!(instrumentation["apiVersion"], "opentelemetry.io/v1alpha1");
        assert_eq!(instrumentation["metadata"]["namespace"], "team-a");
        assert_eq!(
            instrumentation["spec"],
            json!({
                "exporter": {"endpoint": "http://otel-collector.observability.svc.cluster.local:4318"},
                "propagators": ["tracecontext", "baggage", "b3"],
                "sampler": {"type": "parentbased_traceidratio", "argument": "0.25"},
                "env": [{"name": "OTEL_EXPORTER_OTLP_PROTOCOL", "value": "http/protobuf"}],
            })
        );
        for version in SchemaVersion::ALL {
            assert!(validation_errors(version, instrumentation).is_empty());
        }
        // dev labels the Namespace itself; prod (OSSM) gets a Namespace just for the annotation.
        let namespace = find(&objects, "Namespace", "team-a").expect("the Namespace");
        assert_eq!(
            namespace["metadata"]["annotations"]["instrumentation.opentelemetry.io/inject-java"],
            "tracing"
        );
        assert_eq!(
            namespace["metadata"]["annotations"]["argocd.argoproj.io/sync-options"],
            "Prune=false,Delete=false"
        );
        // Pods pick it up only when recreated.
        assert_eq!(planned.guidance.len(), 1);
        assert!(planned.guidance[0].text.contains("rollout restart"));
        // The baseline Sidecar reaches the collector.
        let sidecar = find(&objects, "Sidecar", "default").expect("the Sidecar");
        assert!(
            sidecar["spec"]["egress"][0]["hosts"]
                .as_array()
                .expect("hosts")
                .contains(&json!(
                    "observability/otel-collector.observability.svc.cluster.local"
                )),
            "{sidecar}"
        );
    }
}

#[test]
fn named_deployments_get_the_exact_pod_template_annotations() {
    let request = tracing(
        "dev",
        "deployments: [{name: orders, container: orders-app}, {name: billing, container: billing}]\n",
    );
    let planned = plan(&catalog(), &[], &[request]).expect("plans");
    let objects = objects_of(&planned);
    let namespace = find(&objects, "Namespace", "team-a").expect("the Namespace");
    assert!(
        namespace["metadata"]["annotations"]
            .get("instrumentation.opentelemetry.io/inject-java")
            .is_none(),
        "the Deployments carry the annotation instead"
    );
    let guidance = &planned.guidance[0];
    assert_eq!(guidance.title, "Annotate the Deployments in team-a");
    assert!(
        guidance.text.contains("billing, orders"),
        "{}",
        guidance.text
    );
    assert!(
        guidance
            .text
            .contains("pick the agent up only when they start")
    );
    let patches: Vec<Value> = serde_norway::Deserializer::from_str(&guidance.yaml)
        .map(|d| serde::Deserialize::deserialize(d).expect("YAML"))
        .collect();
    assert_eq!(patches.len(), 2);
    assert_eq!(
        patches[1]["spec"]["template"]["metadata"]["annotations"],
        json!({
            "instrumentation.opentelemetry.io/inject-java": "tracing",
            "instrumentation.opentelemetry.io/container-names": "orders-app",
        })
    );
}

#[test]
fn egress_through_the_gateway_lets_the_namespace_reach_the_collector() {
    let mut file = catalog_file();
    file.environments[0].egress = EgressConfig {
        mode: "gateway".to_owned(),
        gateway: Some("istio-egress/egress-gw".to_owned()),
        required: true,
        ..EgressConfig::default()
    };
    file.environments[0].tracing = Some(TracingConfig {
        collector: "observability/otel-collector".to_owned(),
        port: 4317,
        protocol: Some("grpc".to_owned()),
    });
    let catalog = Catalog::from_config(file.environments, file.teams).expect("catalog");
    let planned = plan(&catalog, &[], &[tracing("dev", "")]).expect("plans");
    let objects = objects_of(&planned);
    let policy = find(&objects, "NetworkPolicy", "egress-baseline").expect("rendered");
    let last = policy["spec"]["egress"]
        .as_array()
        .and_then(|rules| rules.last())
        .expect("rules");
    assert_eq!(
        last,
        &json!({
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}}],
            "ports": [{"protocol": "TCP", "port": 4317}],
        })
    );
    let instrumentation = find(&objects, "Instrumentation", "tracing").expect("rendered");
    assert_eq!(
        instrumentation["spec"]["env"][0]["value"], "grpc",
        "the protocol follows the collector's port"
    );
}

#[test]
fn tracing_refusals_say_what_is_accepted() {
    let refused = |text: &str| -> Vec<(String, String)> {
        parse_documents("t.yaml", text)
            .expect_err("refused")
            .into_iter()
            .map(|p| (p.field, p.message))
            .collect()
    };
    let base = "kind: Tracing\nenvironment: dev\nteam: team-a\nnamespace: team-a\n";
    let problems = refused(&format!("{base}language: cobol\n"));
    assert!(
        problems[0]
            .1
            .contains("expected java, nodejs, python or dotnet"),
        "{problems:?}"
    );
    let problems = refused(&format!(
        "{base}language: java\nsampler: {{type: parentbased_traceidratio, argument: 1.5}}\n"
    ));
    assert_eq!(problems[0].0, "sampler.argument");
    assert!(problems[0].1.contains("from 0 to 1"), "{problems:?}");
    let problems = refused(&format!(
        "{base}language: java\nsampler: {{type: traceidratio}}\n"
    ));
    assert!(problems[0].1.contains("is required"), "{problems:?}");
    let problems = refused(&format!(
        "{base}language: java\nsampler: {{type: sometimes}}\n"
    ));
    assert!(
        problems[0].1.contains("parentbased_traceidratio"),
        "{problems:?}"
    );
    let problems = refused(&format!(
        "{base}language: java\ndeployments: [{{name: orders, container: istio-proxy}}]\n"
    ));
    assert_eq!(problems[0].0, "deployments[0].container");
    assert!(problems[0].1.contains("Istio sidecar"), "{problems:?}");

    // Python cannot export over gRPC.
    let grpc = catalog_with("grpc", 4317);
    let python = parse_one(&format!("{base}language: python\n"));
    let problems = plan(&grpc, &[], &[python]).unwrap_err();
    assert_eq!(problems[0].field, "language");
    assert!(
        problems[0].message.contains("http/protobuf"),
        "{problems:?}"
    );
    // No collector configured.
    let bare =
        Catalog::from_config(catalog_file().environments, catalog_file().teams).expect("catalog");
    let problems = plan(&bare, &[], &[tracing("dev", "")]).unwrap_err();
    assert!(
        problems[0].message.contains("no OpenTelemetry collector"),
        "{problems:?}"
    );
    // One Instrumentation per namespace.
    let problems = plan(&catalog(), &[tracing("dev", "")], &[tracing("dev", "")]).unwrap_err();
    assert_eq!(problems[0].kind, ProblemKind::Conflict);
    assert!(
        problems[0].message.contains("one Instrumentation"),
        "{problems:?}"
    );
}

#[test]
fn the_collector_port_and_protocol_must_agree() {
    for (protocol, port, expected) in [
        ("http/protobuf", 4317, "OTLP uses 4318 for it"),
        ("grpc", 4318, "OTLP uses 4317 for it"),
        ("thrift", 4318, "expected http/protobuf or grpc"),
    ] {
        let mut file = catalog_file();
        file.environments[0].tracing = Some(TracingConfig {
            collector: "observability/otel-collector".to_owned(),
            port,
            protocol: Some(protocol.to_owned()),
        });
        let problems = Catalog::from_config(file.environments, file.teams).unwrap_err();
        assert!(
            problems.iter().any(|p| p.message.contains(expected)),
            "{protocol} {port}: {problems:?}"
        );
    }
}

#[test]
fn snapshots_of_tracing_in_both_api_versions() {
    for (env, version) in [("dev", "v1"), ("prod", "v1beta1")] {
        let planned = plan(&catalog(), &[], &[tracing(env, "")]).expect("plans");
        insta::assert_snapshot!(
            format!("{env}_tracing_{version}"),
            planned.to_multi_document_yaml()
        );
    }
}
