//! Validation of Istio objects: the CRD schema of the environment's Istio version, then the
//! webhook rules the schema misses.
//!
//! The schemas are vendored in `mesh/schemas/` (compact JSON made by
//! `examples/vendor_schemas.rs` from the upstream CRD bundles; one schema per kind and bundle,
//! because Istio serves every version of a kind with the same schema) and compiled once, lazily.
//! Validation behaves like the API server with strict field validation: `apiVersion`, `kind` and
//! `metadata` are checked as Kubernetes does for every object, undeclared fields are refused, CEL
//! rules are evaluated by [`cel`]'s hand-written table, and then [`webhook`] applies Istio's
//! semantic rules. Errors read like the API server's (`spec.hosts: Required value`).

mod cel;
mod schema;
mod webhook;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::is_label_key;
use crate::catalog::is_label_value;
use schema::Schema;

/// A vendored CRD schema bundle, named after the Istio release it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SchemaVersion {
    /// Istio 1.20 CRDs (serve v1alpha3 and v1beta1), used for OSSM 2.x and Istio 1.20–1.21.
    Istio1_20,
    /// Istio 1.24 CRDs (serve v1alpha3, v1beta1, v1), used for Istio 1.22–1.29 and OSSM 3.x.
    Istio1_24,
    /// Istio 1.30 CRDs, used for Istio 1.30.
    Istio1_30,
}

impl SchemaVersion {
    /// Every vendored bundle, oldest first.
    pub const ALL: [SchemaVersion; 3] = [Self::Istio1_20, Self::Istio1_24, Self::Istio1_30];

    fn source(self) -> &'static str {
        match self {
            Self::Istio1_20 => include_str!("../../schemas/istio-1.20.json"),
            Self::Istio1_24 => include_str!("../../schemas/istio-1.24.json"),
            Self::Istio1_30 => include_str!("../../schemas/istio-1.30.json"),
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Istio1_20 => 0,
            Self::Istio1_24 => 1,
            Self::Istio1_30 => 2,
        }
    }
}

impl fmt::Display for SchemaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Istio1_20 => "Istio 1.20",
            Self::Istio1_24 => "Istio 1.24",
            Self::Istio1_30 => "Istio 1.30",
        })
    }
}

/// How serious a finding is: errors make the API server (or Istio's webhook) refuse the object;
/// warnings are accepted with a warning, as `kubectl apply` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Refused.
    Error,
    /// Accepted with a warning.
    Warning,
}

/// One validation result about one field of an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Field path inside the object, e.g. `spec.http[0].route[0].destination.host`.
    pub field: String,
    /// What is wrong, in the API server's wording where there is one.
    pub message: String,
}

impl Finding {
    pub(crate) fn new(severity: Severity, field: &str, message: impl Into<String>) -> Self {
        Self {
            severity,
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

struct KindSchema {
    /// The API group (`networking.istio.io`; empty for core objects).
    group: String,
    versions: Vec<String>,
    schema: Schema,
}

impl KindSchema {
    /// `group/version`, or `version` for the core group.
    fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_owned()
        } else {
            format!("{}/{version}", self.group)
        }
    }
}

/// Built-in Kubernetes kinds Signalbox generates (Namespace, NetworkPolicy), in the same format,
/// shared by every bundle.
const KUBERNETES: &str = include_str!("../../schemas/kubernetes.json");

/// The kinds of the tools the generated config talks to (Argo CD's Application and Argo Rollouts'
/// Rollout, the parts Signalbox hands out; the OpenTelemetry Operator's Instrumentation, whole),
/// shared by every bundle.
const ECOSYSTEM: &str = include_str!("../../schemas/ecosystem.json");

type Bundle = BTreeMap<String, KindSchema>;

fn compile_bundle(version: SchemaVersion) -> Result<Bundle, String> {
    let mut bundle = BTreeMap::new();
    compile_into(&mut bundle, &version.to_string(), version.source())?;
    compile_into(&mut bundle, "Kubernetes", KUBERNETES)?;
    compile_into(&mut bundle, "ecosystem", ECOSYSTEM)?;
    Ok(bundle)
}

fn compile_into(bundle: &mut Bundle, version: &str, source: &str) -> Result<(), String> {
    let root: Value = serde_json::from_str(source).map_err(|e| format!("{version}: {e}"))?;
    let kinds = root["kinds"]
        .as_object()
        .ok_or(format!("{version}: no kinds"))?;
    for (kind, entry) in kinds {
        let group = entry["group"]
            .as_str()
            .ok_or(format!("{version} {kind}: no group"))?
            .to_owned();
        let versions = entry["versions"]
            .as_array()
            .ok_or(format!("{version} {kind}: no versions"))?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let schema = Schema::compile(&entry["schema"], kind)?;
        if bundle
            .insert(
                kind.clone(),
                KindSchema {
                    group,
                    versions,
                    schema,
                },
            )
            .is_some()
        {
            return Err(format!("{version} {kind}: defined twice"));
        }
    }
    Ok(())
}

fn bundle(version: SchemaVersion) -> &'static Result<Bundle, String> {
    static BUNDLES: [OnceLock<Result<Bundle, String>>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    BUNDLES[version.index()].get_or_init(|| compile_bundle(version))
}

/// Compiles every vendored bundle and reports the first schema the validator cannot fully
/// understand (an unknown keyword, a CEL rule without implementation). Tests call this; the
/// validators themselves report it as an error finding.
pub fn check_vendored_schemas() -> Result<(), String> {
    for version in SchemaVersion::ALL {
        bundle(version).as_ref().map_err(Clone::clone)?;
    }
    Ok(())
}

/// The kinds a bundle has schemas for, with the versions it serves them under.
pub fn served_kinds(version: SchemaVersion) -> Vec<(String, Vec<String>)> {
    match bundle(version) {
        Ok(b) => b
            .iter()
            .map(|(k, s)| (k.clone(), s.versions.clone()))
            .collect(),
        Err(_) => Vec::new(),
    }
}

const OBJECT_META: &[&str] = &[
    "name",
    "namespace",
    "labels",
    "annotations",
    "generateName",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "finalizers",
    "ownerReferences",
    "managedFields",
    "selfLink",
];

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

fn check_metadata(metadata: Option<&Value>, out: &mut Vec<Finding>) {
    let Some(metadata) = metadata else {
        out.push(Finding::new(Severity::Error, "metadata", "Required value"));
        return;
    };
    let Some(map) = metadata.as_object() else {
        out.push(Finding::new(
            Severity::Error,
            "metadata",
            "Invalid value: must be of type object",
        ));
        return;
    };
    for key in map.keys() {
        if !OBJECT_META.contains(&key.as_str()) {
            out.push(Finding::new(
                Severity::Error,
                &format!("metadata.{key}"),
                format!("unknown field \"metadata.{key}\""),
            ));
        }
    }
    match map.get("name").and_then(Value::as_str) {
        None => out.push(Finding::new(Severity::Error, "metadata.name", "Required value: name is required")),
        Some(name) if !is_dns_subdomain(name) => out.push(Finding::new(
            Severity::Error,
            "metadata.name",
            format!("Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"),
        )),
        Some(_) => {}
    }
    if let Some(ns) = map.get("namespace") {
        let ok = ns
            .as_str()
            .is_some_and(|s| crate::names::DnsLabel::parse(s).is_ok());
        if !ok {
            out.push(Finding::new(
                Severity::Error,
                "metadata.namespace",
                format!("Invalid value: {ns}: a namespace must be a DNS-1123 label"),
            ));
        }
    }
    for key in ["labels", "annotations"] {
        let Some(value) = map.get(key) else { continue };
        let Some(entries) = value.as_object() else {
            out.push(Finding::new(
                Severity::Error,
                &format!("metadata.{key}"),
                "Invalid value: must be a map of strings",
            ));
            continue;
        };
        for (k, v) in entries {
            let field = format!("metadata.{key}.{k}");
            let value_ok = v
                .as_str()
                .is_some_and(|s| key == "annotations" || is_label_value(s));
            if !is_label_key(k) || !value_ok {
                out.push(Finding::new(
                    Severity::Error,
                    &field,
                    format!("Invalid value: {v}: not a valid {}", &key[..key.len() - 1]),
                ));
            }
        }
    }
}

/// Validates one object (as JSON) against `version`'s schema for its kind and Istio's webhook
/// rules. Returns every finding, errors and warnings; an empty list means the API server would
/// accept the object silently.
pub fn validate_object(version: SchemaVersion, object: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    let bundle = match bundle(version) {
        Ok(b) => b,
        Err(e) => {
            out.push(Finding::new(
                Severity::Error,
                "",
                format!("vendored schemas do not compile: {e}"),
            ));
            return out;
        }
    };
    let Some(map) = object.as_object() else {
        out.push(Finding::new(
            Severity::Error,
            "",
            "Invalid value: an object must be a mapping",
        ));
        return out;
    };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    let Some(kind_schema) = bundle.get(kind) else {
        let known: Vec<&str> = bundle.keys().map(String::as_str).collect();
        out.push(Finding::new(
            Severity::Error,
            "kind",
            format!(
                "Unsupported value: {kind:?}: supported values: {}",
                known.join(", ")
            ),
        ));
        return out;
    };
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let served: Vec<String> = kind_schema
        .versions
        .iter()
        .map(|v| kind_schema.api_version(v))
        .collect();
    if !served.iter().any(|s| s == api_version) {
        out.push(Finding::new(
            Severity::Error,
            "apiVersion",
            format!(
                "Unsupported value: {api_version:?}: {version} serves {kind} as {}",
                served.join(", ")
            ),
        ));
    }
    check_metadata(map.get("metadata"), &mut out);
    if kind == "Namespace" {
        let metadata = map.get("metadata");
        if metadata.and_then(|m| m.get("namespace")).is_some() {
            out.push(Finding::new(
                Severity::Error,
                "metadata.namespace",
                "Forbidden: not allowed on this type",
            ));
        }
        if let Some(name) = metadata.and_then(|m| m["name"].as_str())
            && crate::names::DnsLabel::parse(name).is_err()
        {
            out.push(Finding::new(
                Severity::Error,
                "metadata.name",
                format!("Invalid value: {name:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"),
            ));
        }
    }
    let mut rest = map.clone();
    for key in ["apiVersion", "kind", "metadata"] {
        rest.remove(key);
    }
    kind_schema
        .schema
        .validate(&Value::Object(rest), "", &mut out);
    webhook::check(kind, object, &mut out);
    out
}

/// Only the errors of [`validate_object`].
pub fn validation_errors(version: SchemaVersion, object: &Value) -> Vec<Finding> {
    validate_object(version, object)
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .collect()
}
