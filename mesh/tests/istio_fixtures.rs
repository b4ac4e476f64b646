//! Istio's own valid/invalid config fixtures (copied into `tests/fixtures/istio/`) for the kinds
//! Signalbox generates, run through our validator: every `*-valid` document is accepted, every
//! `*-invalid` document is refused with the error Istio expects (`_err`). The testdata has no
//! VirtualService, Sidecar or Gateway fixtures; the validated reference layouts cover those kinds
//! instead.
//!
//! The fixtures come from Istio master, so they are checked against the newest vendored bundle
//! (1.30). Documents with `apiVersion: networking.istio.io/v1alpha3` are validated as served:
//! every vendored bundle serves v1alpha3 with the same schema as v1beta1/v1.

use mesh::validate::{SchemaVersion, Severity, check_vendored_schemas, validate_object};
use serde::Deserialize;
use serde_json::Value;

fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("fixture parses"))
        .filter(|v| !v.is_null())
        .collect()
}

/// Fixture text, with one deliberate edit: the YAML scanner under serde_norway (libyaml) refuses
/// the plain scalar `001:db8::` inside a flow sequence, which Go's YAML parser accepts. The value
/// is quoted so the document reaches the validator with the same content.
fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/istio/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.replace("[1.2.3.4, 001:db8::]", "[1.2.3.4, \"001:db8::\"]")
}

/// Valid fixture documents we knowingly cannot accept, with the reason.
const NOT_ACCEPTED: &[(&str, &str, &str)] = &[
    (
        "DestinationRule",
        "bookinfo-ratings-http2-ping",
        "uses trafficPolicy.connectionPool.http.http2KeepAlive, added after Istio 1.30 (the newest \
         vendored bundle); the fixtures come from Istio master",
    ),
    (
        "RequestAuthentication",
        "full",
        "uses jwtRules[].presence, added after Istio 1.30 (the newest \
         vendored bundle)",
    ),
];

fn errors(version: SchemaVersion, object: &Value) -> Vec<String> {
    validate_object(version, object)
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.to_string())
        .collect()
}

fn assert_valid_fixture(name: &str) {
    for document in documents(&fixture(name)) {
        let found = errors(SchemaVersion::Istio1_30, &document);
        let object_name = document["metadata"]["name"].as_str().unwrap_or("");
        let kind = document["kind"].as_str().unwrap_or("");
        if let Some((_, _, reason)) = NOT_ACCEPTED
            .iter()
            .find(|(k, n, _)| *k == kind && *n == object_name)
        {
            assert!(
                !found.is_empty(),
                "{object_name} is listed as not accepted ({reason}) but passes"
            );
            continue;
        }
        assert!(
            found.is_empty(),
            "{name}: {} should be valid, got {found:?}",
            document["metadata"]["name"]
        );
    }
}

/// Invalid fixture documents about fields newer than the newest vendored bundle: refused all the
/// same (as unknown fields), with another message.
const REFUSED_OTHERWISE: &[(&str, &str, &str)] = &[(
    "RequestAuthentication",
    "invalid-presence-value",
    "jwtRules[].presence was added after Istio 1.30",
)];

fn assert_invalid_fixture(name: &str) -> usize {
    let mut checked = 0;
    for mut document in documents(&fixture(name)) {
        let expected = document
            .as_object_mut()
            .and_then(|m| m.remove("_err"))
            .and_then(|e| e.as_str().map(str::to_owned))
            .expect("every invalid fixture names its error");
        let found = errors(SchemaVersion::Istio1_30, &document);
        let (kind, object_name) = (
            document["kind"].as_str().unwrap_or(""),
            document["metadata"]["name"].as_str().unwrap_or(""),
        );
        if REFUSED_OTHERWISE
            .iter()
            .any(|(k, n, _)| *k == kind && *n == object_name)
        {
            assert!(!found.is_empty(), "{object_name} is refused");
            continue;
        }
        assert!(
            found.iter().any(|f| f.contains(&expected)),
            "{name}: {} should fail with {expected:?}, got {found:?}",
            document["metadata"]["name"]
        );
        checked += 1;
    }
    checked
}

#[test]
fn vendored_schemas_compile_with_every_cel_rule_implemented() {
    check_vendored_schemas().expect("vendored schemas compile");
}

#[test]
fn vendored_bundles_serve_the_expected_api_versions() {
    let served = |v| mesh::validate::served_kinds(v);
    // Kinds outside networking.istio.io, served the same way by every bundle.
    let other = |kind: &str, istio_1_20: bool| -> Option<&'static [&'static str]> {
        match kind {
            // Istio 1.20 already served authorization and request authentication as v1 too;
            // Signalbox writes v1beta1 there, as OSSM 2.6 documents.
            "PeerAuthentication" if istio_1_20 => Some(&["v1beta1"]),
            "PeerAuthentication" | "AuthorizationPolicy" | "RequestAuthentication" => {
                Some(&["v1", "v1beta1"])
            }
            "ServiceMeshMember" | "Namespace" | "NetworkPolicy" => Some(&["v1"]),
            "Application" | "Rollout" | "Instrumentation" => Some(&["v1alpha1"]),
            _ => None,
        }
    };
    // Istio's nine kinds, Kubernetes' two and the ecosystem's three.
    let kinds = served(SchemaVersion::Istio1_20);
    assert_eq!(kinds.len(), 14);
    for (kind, versions) in kinds {
        let expected = other(&kind, true).unwrap_or(&["v1alpha3", "v1beta1"]);
        assert_eq!(versions, expected, "{kind}");
    }
    for version in [SchemaVersion::Istio1_24, SchemaVersion::Istio1_30] {
        let kinds = served(version);
        assert_eq!(kinds.len(), 14);
        for (kind, versions) in kinds {
            let expected = other(&kind, false).unwrap_or(&["v1", "v1alpha3", "v1beta1"]);
            assert_eq!(versions, expected, "{kind}");
        }
    }
}

#[test]
fn istio_valid_authorization_policies_pass() {
    assert_valid_fixture("authz-valid.yaml");
}

#[test]
fn istio_invalid_authorization_policies_fail_with_the_expected_error() {
    assert!(assert_invalid_fixture("authz-invalid.yaml") > 0);
}

#[test]
fn istio_valid_request_authentications_pass() {
    assert_valid_fixture("reqauth-valid.yaml");
}

#[test]
fn istio_invalid_request_authentications_fail_with_the_expected_error() {
    assert!(assert_invalid_fixture("reqauth-invalid.yaml") > 0);
}

#[test]
fn istio_valid_peer_authentications_pass() {
    assert_valid_fixture("peerauth-valid.yaml");
}

#[test]
fn istio_invalid_peer_authentications_fail_with_the_expected_error() {
    assert_eq!(assert_invalid_fixture("peerauth-invalid.yaml"), 6);
}

#[test]
fn istio_valid_service_entries_pass() {
    assert_valid_fixture("serviceentry-valid.yaml");
}

#[test]
fn istio_invalid_service_entries_fail_with_the_expected_error() {
    assert_eq!(assert_invalid_fixture("serviceentry-invalid.yaml"), 12);
}

#[test]
fn istio_valid_destination_rules_pass() {
    assert_valid_fixture("destinationrule-valid.yaml");
}

#[test]
fn istio_invalid_destination_rules_fail_with_the_expected_error() {
    assert_eq!(assert_invalid_fixture("destinationrule-invalid.yaml"), 3);
}

#[test]
fn validated_reference_layouts_pass_every_v1_bundle() {
    for layout in [
        "layout-egress-direct.yaml",
        "layout-egress-gateway.yaml",
        "layout-ingress-delegate.yaml",
        "layout-ingress-merge.yaml",
    ] {
        for document in documents(&fixture(&format!("layouts/{layout}"))) {
            for version in [SchemaVersion::Istio1_24, SchemaVersion::Istio1_30] {
                let found = errors(version, &document);
                assert!(found.is_empty(), "{layout} on {version}: {found:?}");
            }
        }
    }
}

#[test]
fn v1_objects_are_refused_by_the_bundle_that_does_not_serve_v1() {
    let document = &documents(&fixture("layouts/layout-egress-direct.yaml"))[0];
    let found = errors(SchemaVersion::Istio1_20, document);
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("apiVersion: Unsupported value")),
        "{found:?}"
    );
}

#[test]
fn unknown_fields_are_refused_like_strict_field_validation() {
    let mut document = documents(&fixture("layouts/layout-egress-direct.yaml"))[0].clone();
    document["spec"]["ports"][0]["tls"] = Value::Bool(true);
    document["spec"]["hostz"] = Value::Array(vec![]);
    let found = errors(SchemaVersion::Istio1_24, &document);
    assert!(
        found.contains(&"spec.ports[0].tls: unknown field \"spec.ports[0].tls\"".to_owned()),
        "{found:?}"
    );
    assert!(
        found.contains(&"spec.hostz: unknown field \"spec.hostz\"".to_owned()),
        "{found:?}"
    );
}

#[test]
fn unknown_metadata_and_root_fields_are_refused() {
    let mut document = documents(&fixture("layouts/layout-egress-direct.yaml"))[0].clone();
    document["metadata"]["nmae"] = Value::String("x".into());
    document["extra"] = Value::Bool(true);
    let found = errors(SchemaVersion::Istio1_24, &document);
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("metadata.nmae: unknown field")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|f| f.starts_with("extra: unknown field")),
        "{found:?}"
    );
}
