//! Vendors the Istio CRD schemas that `mesh` validates against.
//!
//! Users of the repository do not have the upstream CRD bundles, so the crate embeds a compact copy
//! of the `openAPIV3Schema` of only the kinds Signalbox generates (VirtualService, ServiceEntry,
//! Sidecar, Gateway, DestinationRule, PeerAuthentication, and OpenShift Service Mesh 2.x's
//! ServiceMeshMember), each with its API group. Descriptions are dropped and the `status` subtree (ignored on
//! writes because the CRDs enable the status subresource) is replaced by an open object, which keeps
//! the wasm bundle small. Every served version of a kind must share one schema (Istio generates
//! them identically); the script refuses a bundle where they differ, so one schema per kind and
//! bundle is exact.
//!
//! Run from the workspace root:
//! `cargo run -p mesh --example vendor_schemas -- istio-1.24-crds.yaml maistra-2.5-members.yaml mesh/schemas/istio-1.24.json`
//! where the inputs are the release's CRD bundle (`manifests/charts/base/files/crd-all.gen.yaml`
//! in Istio's repository) and the ServiceMeshMember CRD of OpenShift Service Mesh 2.x (the
//! Maistra operator's `manifests-maistra/.../maistra.io_servicemeshmembers.yaml`); the last
//! argument is the output.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde::Deserialize;
use serde_json::{Map, Value};

/// The Istio (and OpenShift Service Mesh) kinds, every field kept.
const KINDS: &[(&str, Option<&[&str]>)] = &[
    ("AuthorizationPolicy", None),
    ("DestinationRule", None),
    ("Gateway", None),
    ("PeerAuthentication", None),
    ("RequestAuthentication", None),
    ("ServiceEntry", None),
    ("ServiceMeshMember", None),
    ("Sidecar", None),
    ("VirtualService", None),
];

/// With `--ecosystem`: the kinds of the tools the generated config talks to, with the `spec`
/// fields Signalbox writes (all of them for Instrumentation, which it generates whole; for a
/// Rollout and an Application only the parts it hands to people to merge).
const ECOSYSTEM: &[(&str, Option<&[&str]>)] = &[
    ("Application", Some(&["ignoreDifferences", "syncPolicy"])),
    ("Instrumentation", None),
    ("Rollout", Some(&["strategy"])),
];

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let kinds = if args.first().map(String::as_str) == Some("--ecosystem") {
        args.remove(0);
        ECOSYSTEM
    } else {
        KINDS
    };
    let Some((output, inputs)) = args.split_last().filter(|(_, inputs)| !inputs.is_empty()) else {
        eprintln!("usage: vendor_schemas [--ecosystem] CRDS.yaml... OUTPUT.json");
        return ExitCode::from(2);
    };
    match vendor(kinds, inputs, output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("vendor_schemas: {message}");
            ExitCode::FAILURE
        }
    }
}

fn vendor(
    wanted: &[(&str, Option<&[&str]>)],
    inputs: &[String],
    output: &str,
) -> Result<(), String> {
    let mut kinds: BTreeMap<String, Value> = BTreeMap::new();
    for input in inputs {
        read_crds(wanted, input, &mut kinds)?;
    }
    if kinds.len() != wanted.len() {
        let names: Vec<&str> = wanted.iter().map(|(kind, _)| *kind).collect();
        return Err(format!(
            "expected the kinds {names:?}, found {:?}",
            kinds.keys()
        ));
    }
    let source = inputs
        .iter()
        .map(|input| {
            std::path::Path::new(input)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(input)
        })
        .collect::<Vec<_>>()
        .join(" + ");
    let mut root = Map::new();
    root.insert("kinds".into(), Value::Object(kinds.into_iter().collect()));
    root.insert("source".into(), Value::String(source));
    let mut json = serde_json::to_string(&Value::Object(root)).map_err(|e| e.to_string())?;
    json.push('\n');
    std::fs::write(output, json).map_err(|e| format!("{output}: {e}"))
}

fn read_crds(
    wanted: &[(&str, Option<&[&str]>)],
    input: &str,
    kinds: &mut BTreeMap<String, Value>,
) -> Result<(), String> {
    let text = std::fs::read_to_string(input).map_err(|e| format!("{input}: {e}"))?;
    for document in serde_norway::Deserializer::from_str(&text) {
        let crd = Value::deserialize(document).map_err(|e| format!("{input}: {e}"))?;
        let Some(kind) = crd.pointer("/spec/names/kind").and_then(Value::as_str) else {
            continue;
        };
        let Some((_, kept)) = wanted.iter().find(|(name, _)| *name == kind) else {
            continue;
        };
        let versions = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{kind}: no spec.versions"))?;
        let mut names = Vec::new();
        let mut shared: Option<Value> = None;
        for version in versions {
            let name = version["name"].as_str().ok_or("version without a name")?;
            if version["served"] != Value::Bool(true) {
                continue;
            }
            let schema = version
                .pointer("/schema/openAPIV3Schema")
                .ok_or_else(|| format!("{kind} {name}: no openAPIV3Schema"))?;
            let mut compact = compact(schema, true);
            // The envelope (apiVersion, kind, metadata) is checked apart from the schema.
            if let Some(Value::Array(required)) = compact.get_mut("required") {
                required.retain(|name| {
                    !matches!(name.as_str(), Some("apiVersion" | "kind" | "metadata"))
                });
                if required.is_empty() {
                    compact.as_object_mut().map(|m| m.remove("required"));
                }
            }
            if let Some(kept) = kept {
                keep_spec_fields(&mut compact, kept);
            }
            match &shared {
                None => shared = Some(compact),
                Some(existing) if *existing == compact => {}
                Some(_) => return Err(format!("{kind}: version {name} has a different schema")),
            }
            names.push(Value::String(name.to_owned()));
        }
        names.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{kind}: no spec.group"))?;
        let mut entry = Map::new();
        entry.insert("group".into(), Value::String(group.to_owned()));
        entry.insert(
            "schema".into(),
            shared.ok_or_else(|| format!("{kind}: no served version"))?,
        );
        entry.insert("versions".into(), Value::Array(names));
        if kinds
            .insert(kind.to_owned(), Value::Object(entry))
            .is_some()
        {
            return Err(format!("{kind} is defined twice"));
        }
    }
    Ok(())
}

/// Keeps only the named fields of `spec` (and only them among its required ones).
fn keep_spec_fields(schema: &mut Value, kept: &[&str]) {
    let Some(spec) = schema.pointer_mut("/properties/spec") else {
        return;
    };
    if let Some(Value::Object(properties)) = spec.get_mut("properties") {
        properties.retain(|name, _| kept.contains(&name.as_str()));
    }
    if let Some(Value::Array(required)) = spec.get_mut("required") {
        required.retain(|name| name.as_str().is_some_and(|n| kept.contains(&n)));
    }
}

/// Drops descriptions, replaces `status` at the top level and sorts keys so the output is stable.
fn compact(value: &Value, top: bool) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                if key == "description" {
                    continue;
                }
                let child = &map[key];
                let compacted = if top && key == "properties" {
                    compact_top_properties(child)
                } else {
                    compact(child, false)
                };
                out.insert(key.clone(), compacted);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| compact(v, false)).collect()),
        other => other.clone(),
    }
}

fn compact_top_properties(properties: &Value) -> Value {
    let Value::Object(map) = properties else {
        return compact(properties, false);
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let mut out = Map::new();
    for key in keys {
        let value = if key == "status" {
            serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
        } else {
            compact(&map[key], false)
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}
