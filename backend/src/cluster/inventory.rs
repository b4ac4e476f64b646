//! From cluster objects to what the checks and the environment page need.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kube::api::DynamicObject;
use mesh::catalog::Environment;
use mesh::observed::{ForeignRoute, Observed, ObservedNamespace, ObservedPort};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Resource;

/// Cluster objects by kind.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    by_kind: BTreeMap<String, Vec<Arc<DynamicObject>>>,
}

impl Objects {
    /// Adds objects of a kind.
    pub fn insert_all(&mut self, kind: &str, objects: Vec<Arc<DynamicObject>>) {
        self.by_kind
            .entry(kind.to_owned())
            .or_default()
            .extend(objects);
    }

    /// The objects of a kind.
    pub fn of(&self, kind: &str) -> &[Arc<DynamicObject>] {
        self.by_kind
            .get(kind)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// How many objects of each kind.
    pub fn counts(&self) -> Vec<(&str, usize)> {
        self.by_kind
            .iter()
            .map(|(kind, objects)| (kind.as_str(), objects.len()))
            .collect()
    }
}

fn label<'a>(object: &'a DynamicObject, key: &str) -> Option<&'a str> {
    object
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(key))
        .map(String::as_str)
}

fn name(object: &DynamicObject) -> &str {
    object.metadata.name.as_deref().unwrap_or_default()
}

fn namespace(object: &DynamicObject) -> &str {
    object.metadata.namespace.as_deref().unwrap_or_default()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Whether a generated object: Signalbox labels everything it renders.
fn generated(object: &DynamicObject) -> bool {
    label(object, mesh::render::MANAGED_BY.0) == Some(mesh::render::MANAGED_BY.1)
}

/// What the checks need from an environment's objects.
pub fn observe(env: &Environment, objects: &Objects) -> Observed {
    let mut observed = Observed::default();
    // OpenShift Service Mesh 2.x: the member roll and members enrol namespaces; the operator
    // also labels them `maistra.io/member-of`.
    let mut members: BTreeSet<String> = BTreeSet::new();
    for roll in objects.of("ServiceMeshMemberRoll") {
        for key in ["/spec/members", "/status/configuredMembers"] {
            members.extend(
                strings(roll.data.pointer(key).unwrap_or(&Value::Null))
                    .into_iter()
                    .map(str::to_owned),
            );
        }
    }
    for member in objects.of("ServiceMeshMember") {
        members.insert(namespace(member).to_owned());
    }
    for ns in objects.of("Namespace") {
        let ns_name = name(ns);
        let in_mesh = label(ns, "istio-injection") == Some("enabled")
            || label(ns, "istio.io/rev").is_some()
            || label(ns, "maistra.io/member-of").is_some()
            || members.contains(ns_name);
        observed.namespaces.insert(
            ns_name.to_owned(),
            ObservedNamespace {
                in_mesh,
                registry_only: false,
            },
        );
    }
    for sidecar in objects.of("Sidecar") {
        let namespace_wide = sidecar.data.pointer("/spec/workloadSelector").is_none();
        let registry_only = sidecar
            .data
            .pointer("/spec/outboundTrafficPolicy/mode")
            .and_then(Value::as_str)
            == Some("REGISTRY_ONLY");
        if namespace_wide
            && registry_only
            && let Some(seen) = observed.namespaces.get_mut(namespace(sidecar))
        {
            seen.registry_only = true;
        }
    }
    for service in objects.of("Service") {
        let ports = service
            .data
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|port| {
                Some(ObservedPort {
                    port: u16::try_from(port["port"].as_u64()?).ok()?,
                    name: port["name"].as_str().map(str::to_owned),
                })
            })
            .collect();
        observed
            .services
            .entry(namespace(service).to_owned())
            .or_default()
            .insert(name(service).to_owned(), ports);
    }
    let gateway = env.ingress_gateway.to_string();
    let gateway_name = env.ingress_gateway.name().to_string();
    let gateway_namespace = env.ingress_gateway.namespace().to_string();
    for service in objects.of("VirtualService") {
        if generated(service) {
            continue;
        }
        let bound = strings(
            service
                .data
                .pointer("/spec/gateways")
                .unwrap_or(&Value::Null),
        )
        .into_iter()
        .any(|g| g == gateway || (g == gateway_name && namespace(service) == gateway_namespace));
        if !bound {
            continue;
        }
        let hosts = strings(service.data.pointer("/spec/hosts").unwrap_or(&Value::Null));
        let object = format!("{}/{}", namespace(service), name(service));
        for host in env.hosts.iter().map(|h| h.as_str()) {
            if !hosts.iter().any(|h| *h == host || *h == "*") {
                continue;
            }
            for rule in service
                .data
                .pointer("/spec/http")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let matches = rule["match"].as_array().filter(|m| !m.is_empty());
                let Some(matches) = matches else {
                    // No match: the rule takes every path.
                    observed.foreign_routes.push(ForeignRoute {
                        object: object.clone(),
                        host: host.to_owned(),
                        path: "/".to_owned(),
                        exact: false,
                    });
                    continue;
                };
                for m in matches {
                    let (path, exact) =
                        match (m["uri"]["exact"].as_str(), m["uri"]["prefix"].as_str()) {
                            (Some(path), _) => (path, true),
                            (None, Some(path)) => (path, false),
                            // A regex or no URI condition: every path may match it.
                            (None, None) => ("/", false),
                        };
                    observed.foreign_routes.push(ForeignRoute {
                        object: object.clone(),
                        host: host.to_owned(),
                        path: path.to_owned(),
                        exact,
                    });
                }
            }
        }
    }
    observed
}

/// The egress hole the environment page reports: team namespaces outside the mesh (their pods
/// have no sidecar to hold them back) and, where the environment asks for `REGISTRY_ONLY`,
/// namespaces without such a Sidecar.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressHoles {
    /// Held namespaces the cluster does not enrol in the mesh (or does not have).
    pub outside_mesh: Vec<String>,
    /// Held namespaces in the mesh without a namespace-wide REGISTRY_ONLY Sidecar.
    pub without_registry_only: Vec<String>,
}

/// The holes among the namespaces teams hold in the environment.
pub fn egress_holes(env: &Environment, held: &[String], observed: &Observed) -> EgressHoles {
    let mut holes = EgressHoles::default();
    for namespace in held {
        match observed.namespaces.get(namespace) {
            Some(seen) if seen.in_mesh => {
                if env.sidecar.registry_only && !seen.registry_only {
                    holes.without_registry_only.push(namespace.clone());
                }
            }
            _ => holes.outside_mesh.push(namespace.clone()),
        }
    }
    holes
}

/// Reads a fixture: YAML documents of cluster objects (or `kind: List` documents), keeping those
/// of the resources read for the environment.
pub fn read_fixture(name: &str, text: &str, resources: &[Resource]) -> Result<Objects, String> {
    let mut objects = Objects::default();
    for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document)
            .map_err(|e| format!("fixture {name} document {}: {e}", index + 1))?;
        let items = match &value {
            Value::Null => continue,
            Value::Object(map) if map.get("kind").and_then(Value::as_str) == Some("List") => map
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            _ => vec![value],
        };
        for item in items {
            let api_version = item["apiVersion"].as_str().unwrap_or_default().to_owned();
            let kind = item["kind"].as_str().unwrap_or_default().to_owned();
            let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
            let Some(resource) = resources
                .iter()
                .find(|r| r.kind == kind && r.group == group)
            else {
                continue;
            };
            let object: DynamicObject = serde_json::from_value(item)
                .map_err(|e| format!("fixture {name} document {}: {kind}: {e}", index + 1))?;
            objects.insert_all(resource.kind, vec![Arc::new(object)]);
        }
    }
    Ok(objects)
}
