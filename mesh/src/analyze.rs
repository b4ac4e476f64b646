//! The whole-plan analyzer: what Istio accepts object by object but routes badly once the objects
//! meet, checked over every object of a plan (touched or not), each finding with the code
//! `istioctl analyze` uses for it where one exists:
//! - IST0130 a rule that can never be reached, IST0131 a match an earlier rule always takes;
//! - a delegate that does not exist, has hosts, or is not exported to the root's namespace, and a
//!   delegate rule that matches outside what the root sends it (no analyzer checks delegates);
//! - IST0132 a VirtualService host that the Gateway it binds to does not serve;
//! - IST0101 a route to an external host on a port its ServiceEntry does not define;
//! - IST0177 one external host defined in two namespaces that see each other's entries, with
//!   different protocols on a port (a conflict), or with different ports (a warning);
//! - IST0101 (Kiali KIA1107) a route to a subset that no DestinationRule of its Service defines,
//!   and a subset the ingress gateway cannot resolve because the DestinationRule defining it is
//!   not exported to the gateway's namespace;
//! - IST0127 (Kiali KIA0004 for AuthorizationPolicy) a policy whose workload selector names no
//!   workload the plan routes to or sets traffic policy for (a warning: the pods may still carry
//!   the label).
//!
//! Objects are read as the JSON they serialize to, so the same checks apply to objects read back
//! from a repository or a cluster.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::problem::{Problem, ProblemKind};

/// What the analyzer found: errors refuse the plan, warnings are shown with it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Findings {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

/// One object as the analyzer reads it.
struct Object<'a> {
    kind: &'a str,
    name: &'a str,
    namespace: &'a str,
    spec: &'a Value,
}

impl Object<'_> {
    fn subject(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }
}

fn read(value: &Value) -> Option<Object<'_>> {
    Some(Object {
        kind: value["kind"].as_str()?,
        name: value["metadata"]["name"].as_str()?,
        namespace: value["metadata"]["namespace"].as_str().unwrap_or("default"),
        spec: &value["spec"],
    })
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Analyzes every object together.
pub fn analyze(objects: &[Value]) -> Findings {
    let objects: Vec<Object<'_>> = objects.iter().filter_map(read).collect();
    let mut findings = Findings::default();
    for object in objects.iter().filter(|o| o.kind == "VirtualService") {
        shadowed_rules(object, &mut findings);
    }
    delegates(&objects, &mut findings);
    gateway_hosts(&objects, &mut findings);
    external_ports(&objects, &mut findings);
    service_entry_hosts(&objects, &mut findings);
    subsets(&objects, &mut findings);
    policy_selectors(&objects, &mut findings);
    findings
}

/// Whether an object of `namespace` exporting to `export_to` is seen from `viewer`.
fn visible_from(namespace: &str, export_to: &[&str], viewer: &str) -> bool {
    export_to.is_empty()
        || export_to.contains(&"*")
        || export_to.contains(&viewer)
        || (viewer == namespace && export_to.contains(&"."))
}

/// IST0101 / KIA1107: every subset a route of a team's VirtualService names is defined by a
/// DestinationRule of that Service, and that rule is seen where the route is evaluated: in the
/// VirtualService's namespace, and, for a delegate, in the namespaces it is exported to (the
/// ingress gateway's). Only Services of the VirtualService's own namespace are checked: the
/// platform's (the egress gateway's) come with their own rules.
fn subsets(objects: &[Object<'_>], findings: &mut Findings) {
    let rules: Vec<&Object<'_>> = objects
        .iter()
        .filter(|o| o.kind == "DestinationRule")
        .collect();
    for service in objects.iter().filter(|o| o.kind == "VirtualService") {
        let own_suffix = format!(".{}.svc.cluster.local", service.namespace);
        let delegate = service.spec["hosts"].as_array().is_none_or(Vec::is_empty);
        let viewers: Vec<&str> = if delegate {
            strings(&service.spec["exportTo"])
                .into_iter()
                .filter(|ns| *ns != "." && *ns != "*")
                .collect()
        } else {
            Vec::new()
        };
        for (i, rule) in service.spec["http"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            for (j, destination) in rule["route"].as_array().into_iter().flatten().enumerate() {
                let host = destination["destination"]["host"].as_str().unwrap_or("");
                let Some(subset) = destination["destination"]["subset"].as_str() else {
                    continue;
                };
                if !host.ends_with(&own_suffix) {
                    continue;
                }
                let field = format!("spec.http[{i}].route[{j}].destination.subset");
                let defining: Vec<&&Object<'_>> = rules
                    .iter()
                    .filter(|r| {
                        r.spec["host"].as_str() == Some(host)
                            && r.spec["subsets"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .any(|s| s["name"].as_str() == Some(subset))
                    })
                    .collect();
                if defining.is_empty() {
                    findings.errors.push(problem(
                        ProblemKind::Internal,
                        field,
                        format!(
                            "IST0101 ReferencedResourceNotFound (KIA1107): {} routes to subset \
                             {subset} of {host}, which no DestinationRule defines",
                            service.subject()
                        ),
                    ));
                    continue;
                }
                for viewer in &viewers {
                    let seen = defining
                        .iter()
                        .any(|r| visible_from(r.namespace, &strings(&r.spec["exportTo"]), viewer));
                    if !seen {
                        findings.errors.push(problem(
                            ProblemKind::Internal,
                            field.clone(),
                            format!(
                                "IST0101 ReferencedResourceNotFound: {} is evaluated in \
                                 namespace {viewer} (the ingress gateway's), which does not see \
                                 the DestinationRule defining subset {subset} of {host}; export \
                                 it there",
                                service.subject()
                            ),
                        ));
                    }
                }
            }
        }
    }
}

/// IST0127 (Kiali KIA0004 for AuthorizationPolicy): a policy selecting `app: <workload>` where the
/// plan neither routes to a Service of that name in the namespace nor sets its traffic policy.
fn policy_selectors(objects: &[Object<'_>], findings: &mut Findings) {
    let mut known: BTreeSet<String> = BTreeSet::new();
    for object in objects {
        match object.kind {
            "VirtualService" => {
                for section in ["http", "tls", "tcp"] {
                    for rule in object.spec[section].as_array().into_iter().flatten() {
                        for destination in rule["route"].as_array().into_iter().flatten() {
                            if let Some(host) = destination["destination"]["host"].as_str() {
                                known.insert(host.to_owned());
                            }
                        }
                    }
                }
            }
            "DestinationRule" => {
                if let Some(host) = object.spec["host"].as_str() {
                    known.insert(host.to_owned());
                }
            }
            _ => {}
        }
    }
    for policy in objects.iter().filter(|o| {
        matches!(
            o.kind,
            "AuthorizationPolicy" | "RequestAuthentication" | "PeerAuthentication"
        )
    }) {
        let Some(app) = policy.spec["selector"]["matchLabels"]["app"].as_str() else {
            continue;
        };
        let host = format!("{app}.{}.svc.cluster.local", policy.namespace);
        if known.contains(&host) {
            continue;
        }
        let kiali = if policy.kind == "AuthorizationPolicy" {
            " (KIA0004)"
        } else {
            ""
        };
        findings.warnings.push(problem(
            ProblemKind::Policy,
            "spec.selector.matchLabels.app",
            format!(
                "IST0127 NoMatchingWorkloadsFound{kiali}: {} selects app: {app}, and no granted \
                 route or traffic policy names a Service {app} in {}; it applies only if pods \
                 there carry that label",
                policy.subject(),
                policy.namespace
            ),
        ));
    }
}

/// A URI match as the analyzer compares them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Uri {
    Exact(String),
    Prefix(String),
    /// Regex, or a match on something other than the URI: never assumed to cover or be covered.
    Other,
}

fn uris(rule: &Value) -> Option<Vec<Uri>> {
    let matches = rule.get("match")?.as_array()?;
    Some(
        matches
            .iter()
            .map(|m| {
                let only_uri = m.as_object().is_some_and(|o| o.len() == 1);
                match (&m["uri"]["exact"], &m["uri"]["prefix"]) {
                    (Value::String(exact), _) if only_uri => Uri::Exact(exact.clone()),
                    (_, Value::String(prefix)) if only_uri => Uri::Prefix(prefix.clone()),
                    _ => Uri::Other,
                }
            })
            .collect(),
    )
}

/// Whether every request `inner` takes, `outer` takes too.
fn covers(outer: &Uri, inner: &Uri) -> bool {
    match (outer, inner) {
        (Uri::Exact(a), Uri::Exact(b)) => a == b,
        (Uri::Prefix(p), Uri::Exact(b) | Uri::Prefix(b)) => b.starts_with(p.as_str()),
        _ => false,
    }
}

fn rule_label(rule: &Value, index: usize) -> String {
    match rule["name"].as_str() {
        Some(name) => format!("rule {index} ({name})"),
        None => format!("rule {index}"),
    }
}

/// IST0130 / IST0131 over one VirtualService's HTTP rules, in order.
fn shadowed_rules(object: &Object<'_>, findings: &mut Findings) {
    let rules = object.spec["http"].as_array().cloned().unwrap_or_default();
    let parsed: Vec<Option<Vec<Uri>>> = rules.iter().map(uris).collect();
    let catch_all = parsed.iter().position(Option::is_none);
    for (i, rule) in rules.iter().enumerate() {
        let field = format!("spec.http[{i}]");
        // An earlier rule without matches takes every request.
        if let Some(j) = catch_all.filter(|j| *j < i) {
            findings.warnings.push(problem(
                ProblemKind::Internal,
                &field,
                format!(
                    "IST0130 VirtualServiceUnreachableRule: {} of {} can never be reached: {} \
                     before it matches every request",
                    rule_label(rule, i),
                    object.subject(),
                    rule_label(&rules[j], j)
                ),
            ));
            continue;
        }
        let Some(own) = &parsed[i] else { continue };
        let mut covered = Vec::new();
        for (k, uri) in own.iter().enumerate() {
            let by = parsed[..i].iter().position(|theirs| {
                theirs
                    .as_ref()
                    .is_some_and(|theirs| theirs.iter().any(|t| covers(t, uri)))
            });
            if let Some(j) = by {
                covered.push((k, j));
            }
        }
        if !own.is_empty() && covered.len() == own.len() {
            findings.warnings.push(problem(
                ProblemKind::Internal,
                &field,
                format!(
                    "IST0130 VirtualServiceUnreachableRule: {} of {} can never be reached: \
                     earlier rules match every request it matches",
                    rule_label(rule, i),
                    object.subject()
                ),
            ));
        } else {
            for (k, j) in covered {
                findings.warnings.push(problem(
                    ProblemKind::Internal,
                    format!("{field}.match[{k}]"),
                    format!(
                        "IST0131 VirtualServiceIneffectiveMatch: match {k} of {} in {} is never \
                         used: {} takes every such request",
                        rule_label(rule, i),
                        object.subject(),
                        rule_label(&rules[j], j)
                    ),
                ));
            }
        }
    }
}

/// Every delegate a root names exists, is a delegate (no hosts), is exported to the root's
/// namespace, and matches only inside what the root sends it.
fn delegates(objects: &[Object<'_>], findings: &mut Findings) {
    let services: BTreeMap<(&str, &str), &Object<'_>> = objects
        .iter()
        .filter(|o| o.kind == "VirtualService")
        .map(|o| ((o.namespace, o.name), o))
        .collect();
    // (delegate namespace, name) -> the matches roots send it
    let mut sent: BTreeMap<(&str, &str), Vec<Uri>> = BTreeMap::new();
    for root in services.values() {
        let rules = root.spec["http"].as_array().into_iter().flatten();
        for (i, rule) in rules.enumerate() {
            let Some(delegate) = rule.get("delegate") else {
                continue;
            };
            let (Some(name), namespace) = (
                delegate["name"].as_str(),
                delegate["namespace"].as_str().unwrap_or(root.namespace),
            ) else {
                continue;
            };
            let field = format!("spec.http[{i}].delegate");
            let Some((key, target)) = services.get_key_value(&(namespace, name)) else {
                findings.errors.push(problem(
                    ProblemKind::Internal,
                    &field,
                    format!(
                        "{} of {} delegates to VirtualService {namespace}/{name}, which does not \
                         exist: every request it matches would fail",
                        rule_label(rule, i),
                        root.subject()
                    ),
                ));
                continue;
            };
            if !strings(&target.spec["hosts"]).is_empty() {
                findings.errors.push(problem(
                    ProblemKind::Internal,
                    &field,
                    format!(
                        "{} is a delegate of {} but has hosts; Istio ignores a delegate with hosts",
                        target.subject(),
                        root.subject()
                    ),
                ));
            }
            let export_to = strings(&target.spec["exportTo"]);
            if !export_to.is_empty()
                && !export_to.iter().any(|to| {
                    *to == "*"
                        || *to == root.namespace
                        || (*to == "." && target.namespace == root.namespace)
                })
            {
                findings.errors.push(problem(
                    ProblemKind::Internal,
                    &field,
                    format!(
                        "{} is not exported to {}, the namespace of {} that delegates to it",
                        target.subject(),
                        root.namespace,
                        root.subject()
                    ),
                ));
            }
            sent.entry(*key)
                .or_default()
                .extend(uris(rule).unwrap_or_default());
        }
    }
    for (key, from_root) in sent {
        let Some(delegate) = services.get(&key) else {
            continue;
        };
        let rules = delegate.spec["http"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (i, rule) in rules.iter().enumerate() {
            for (k, uri) in uris(rule).unwrap_or_default().iter().enumerate() {
                if *uri != Uri::Other && !from_root.iter().any(|sent| covers(sent, uri)) {
                    findings.errors.push(problem(
                        ProblemKind::Internal,
                        format!("spec.http[{i}].match[{k}]"),
                        format!(
                            "{} of delegate {} matches {} outside what its root sends it; those \
                             requests never reach it",
                            rule_label(rule, i),
                            delegate.subject(),
                            describe(uri)
                        ),
                    ));
                }
            }
        }
    }
}

fn describe(uri: &Uri) -> String {
    match uri {
        Uri::Exact(path) => format!("exact {path}"),
        Uri::Prefix(path) => format!("prefix {path}"),
        Uri::Other => "a non-URI match".to_owned(),
    }
}

/// IST0132: a VirtualService bound to a Gateway of the plan serves only hosts the Gateway serves.
fn gateway_hosts(objects: &[Object<'_>], findings: &mut Findings) {
    let gateways: BTreeMap<String, &Object<'_>> = objects
        .iter()
        .filter(|o| o.kind == "Gateway")
        .map(|o| (format!("{}/{}", o.namespace, o.name), o))
        .collect();
    for service in objects.iter().filter(|o| o.kind == "VirtualService") {
        for bound in strings(&service.spec["gateways"]) {
            let reference = if bound.contains('/') {
                bound.to_owned()
            } else {
                format!("{}/{bound}", service.namespace)
            };
            let Some(gateway) = gateways.get(&reference) else {
                continue;
            };
            let served: Vec<&str> = gateway.spec["servers"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|server| strings(&server["hosts"]))
                .collect();
            for host in strings(&service.spec["hosts"]) {
                let on_gateway = served.iter().any(|entry| {
                    let (namespace, name) = entry.split_once('/').unwrap_or(("*", entry));
                    let namespace_ok = matches!(namespace, "*" | ".")
                        && (namespace != "." || gateway.namespace == service.namespace)
                        || namespace == service.namespace;
                    let host_ok = name == "*"
                        || name == host
                        || name
                            .strip_prefix("*.")
                            .is_some_and(|suffix| host.ends_with(&format!(".{suffix}")));
                    namespace_ok && host_ok
                });
                if !on_gateway {
                    findings.warnings.push(problem(
                        ProblemKind::Internal,
                        "spec.hosts",
                        format!(
                            "IST0132 VirtualServiceHostNotFoundInGateway: {} serves {host} on \
                             Gateway {reference}, which does not list it for namespace {}",
                            service.subject(),
                            service.namespace
                        ),
                    ));
                }
            }
        }
    }
}

/// The ServiceEntries of the plan: host -> (namespace, export_to, port -> protocol).
type EntryMap<'a> = BTreeMap<&'a str, Vec<(&'a str, Vec<&'a str>, BTreeMap<u64, String>)>>;

fn service_entries<'a>(objects: &'a [Object<'a>]) -> EntryMap<'a> {
    let mut entries: EntryMap<'a> = BTreeMap::new();
    for entry in objects.iter().filter(|o| o.kind == "ServiceEntry") {
        let ports: BTreeMap<u64, String> = entry.spec["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|port| {
                Some((
                    port["number"].as_u64()?,
                    port["protocol"].as_str().unwrap_or("").to_ascii_uppercase(),
                ))
            })
            .collect();
        for host in strings(&entry.spec["hosts"]) {
            entries.entry(host).or_default().push((
                entry.namespace,
                strings(&entry.spec["exportTo"]),
                ports.clone(),
            ));
        }
    }
    entries
}

/// IST0101: a route to an external host of the plan uses a port its ServiceEntry defines.
fn external_ports(objects: &[Object<'_>], findings: &mut Findings) {
    let entries = service_entries(objects);
    for service in objects.iter().filter(|o| o.kind == "VirtualService") {
        for section in ["http", "tls", "tcp"] {
            for (i, rule) in service.spec[section]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                for (j, destination) in rule["route"].as_array().into_iter().flatten().enumerate() {
                    let host = destination["destination"]["host"].as_str().unwrap_or("");
                    let Some(port) = destination["destination"]["port"]["number"].as_u64() else {
                        continue;
                    };
                    let Some(defined) = entries.get(host) else {
                        continue;
                    };
                    let visible: Vec<_> = defined
                        .iter()
                        .filter(|(namespace, _, _)| *namespace == service.namespace)
                        .collect();
                    if !visible.is_empty()
                        && !visible
                            .iter()
                            .any(|(_, _, ports)| ports.contains_key(&port))
                    {
                        findings.errors.push(problem(
                            ProblemKind::Internal,
                            format!("spec.{section}[{i}].route[{j}].destination.port"),
                            format!(
                                "IST0101 ReferencedResourceNotFound: {} routes to {host} port \
                                 {port}, which its ServiceEntry does not define",
                                service.subject()
                            ),
                        ));
                    }
                }
            }
        }
    }
}

/// Whether namespaces `a` (exporting `a_to`) and `b` (exporting `b_to`) have a namespace that
/// sees both entries.
fn seen_together(a: &str, a_to: &[&str], b: &str, b_to: &[&str]) -> bool {
    let audience = |namespace: &str, to: &[&str]| -> Option<BTreeSet<String>> {
        if to.is_empty() || to.contains(&"*") {
            return None; // everyone
        }
        Some(
            to.iter()
                .map(|t| {
                    if *t == "." {
                        namespace.to_owned()
                    } else {
                        (*t).to_owned()
                    }
                })
                .collect(),
        )
    };
    match (audience(a, a_to), audience(b, b_to)) {
        (None, _) | (_, None) => true,
        (Some(x), Some(y)) => !x.is_disjoint(&y),
    }
}

/// IST0177: one external host in two namespaces that some namespace sees together.
fn service_entry_hosts(objects: &[Object<'_>], findings: &mut Findings) {
    for (host, defined) in service_entries(objects) {
        for (i, (a, a_to, a_ports)) in defined.iter().enumerate() {
            for (b, b_to, b_ports) in &defined[i + 1..] {
                if a == b || !seen_together(a, a_to, b, b_to) {
                    continue;
                }
                let clash = a_ports
                    .iter()
                    .find(|(port, protocol)| b_ports.get(port).is_some_and(|p| p != *protocol));
                if let Some((port, protocol)) = clash {
                    findings.errors.push(problem(
                        ProblemKind::Conflict,
                        "hosts",
                        format!(
                            "IST0177 ConflictingServiceEntryProtocol: {host} port {port} is {protocol} \
                             in namespace {a} and {} in namespace {b}, and both entries are seen \
                             together; use the same protocol",
                            b_ports[port]
                        ),
                    ));
                } else if a_ports.keys().ne(b_ports.keys()) {
                    findings.warnings.push(problem(
                        ProblemKind::Conflict,
                        "hosts",
                        format!(
                            "IST0177 ConflictingServiceEntryProtocol: {host} is defined in \
                             namespaces {a} and {b} with different ports, and both entries are \
                             seen together; Istio merges them in an unspecified order"
                        ),
                    ));
                }
            }
        }
    }
}

fn problem(kind: ProblemKind, field: impl Into<String>, message: String) -> Problem {
    Problem::new(kind, field, message)
}
