//! Istio's validating-webhook rules that the CRD schemas do not express.
//!
//! Source: istio/istio `pkg/config/validation` (`validation.go`, `virtualservice.go`). Implemented for
//! the five kinds Signalbox generates:
//! - VirtualService: host syntax, `*` not on mesh, duplicate/overlapping hosts; delegates (no
//!   hosts) without gateways/tls/tcp and without nested delegation; gateway references; at least
//!   one of http/tcp/tls; route/redirect/directResponse/delegate exclusivity, redirect exclusions,
//!   mirror vs mirrors; match string prefixes non-empty (except uri), regex length, match ports;
//!   destination hosts, subsets and ports; weights; timeout, perTryTimeout (≥1 ms, millisecond
//!   precision); retries attempts vs perTryTimeout/retryOn, retryOn tokens; rewrite and redirect
//!   shapes; directResponse status and body size; TLS routes with sniHosts within the hosts;
//!   TCP routes with a route; exportTo.
//! - ServiceEntry: hosts (`*` refused, partial wildcards warned), addresses IP/CIDR, CIDR only
//!   with NONE/STATIC, unique DNS-label port names and unique numbers, known protocols,
//!   resolution rules (NONE, STATIC, DNS, DNS_ROUND_ROBIN, DYNAMIC_DNS), several hosts with a
//!   non-HTTP non-TLS port, workloadSelector xor endpoints, exportTo (`~` allowed alone).
//! - DestinationRule: host, unique DNS-label subsets, non-empty traffic policies, portLevelSettings
//!   with a port, tunnel vs proxyProtocol, client TLS field combinations, exportTo with a
//!   workloadSelector.
//! - Sidecar: not empty, selector without wildcards, `namespace/host` egress hosts, one portless
//!   egress listener and last, unique ports, bind addresses, ingress ports and default
//!   endpoints, outbound traffic policy modes.
//! - Gateway: name a DNS label, servers with hosts, TLS settings matching the protocol, unique
//!   port names.
//!
//! Not implemented (Signalbox never generates these fields; the schema still checks their
//! shape): Go RE2 regex compilation, header name/value syntax, JWT-claim routing on mesh
//! gateways, WorkloadEntry-level validation of STATIC endpoints, the `istio.io/dry-run`
//! annotation rule (only AuthorizationPolicy may carry it; these kinds refuse it outright here).

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::cel::parse_go_duration_nanos;
use super::{Finding, Severity};

struct Out<'a>(&'a mut Vec<Finding>);

impl Out<'_> {
    fn error(&mut self, field: impl AsRef<str>, message: impl Into<String>) {
        self.0
            .push(Finding::new(Severity::Error, field.as_ref(), message));
    }
    fn warning(&mut self, field: impl AsRef<str>, message: impl Into<String>) {
        self.0
            .push(Finding::new(Severity::Warning, field.as_ref(), message));
    }
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn strings<'a>(value: &'a Value, key: &str) -> Vec<&'a str> {
    list(value, key).iter().filter_map(Value::as_str).collect()
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_dns_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.split('.').all(is_dns1123_label)
}

/// Istio's `ValidateWildcardDomain`: a DNS name whose leftmost label may be exactly `*`.
fn is_wildcard_domain(s: &str) -> bool {
    if s == "*" {
        return true;
    }
    match s.strip_prefix("*.") {
        Some(rest) => is_dns_name(rest),
        None => is_dns_name(s),
    }
}

fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    bits.parse::<u8>().is_ok_and(|b| b <= max) && !bits.starts_with('+')
}

/// Whether host `inner` is matched by host pattern `outer` (equal, or under its wildcard).
fn host_within(inner: &str, outer: &str) -> bool {
    if inner == outer || outer == "*" {
        return true;
    }
    match outer.strip_prefix('*') {
        Some(suffix) => inner.ends_with(suffix) && inner.len() > suffix.len(),
        None => false,
    }
}

fn check_duration(out: &mut Out<'_>, field: &str, value: Option<&Value>) {
    let Some(value) = value else { return };
    let Some(nanos) = value.as_str().and_then(parse_go_duration_nanos) else {
        out.error(field, format!("Invalid value: {value}: not a duration"));
        return;
    };
    if nanos < 1_000_000 {
        out.error(field, "duration must be at least 1ms");
    } else if nanos % 1_000_000 != 0 {
        out.error(field, "only durations to ms precision are supported");
    }
}

fn check_port(out: &mut Out<'_>, field: &str, value: Option<&Value>) {
    if let Some(v) = value
        && !v.as_i64().is_some_and(|n| (1..=65535).contains(&n))
    {
        out.error(
            field,
            format!("port number {v} must be in the range 1..65535"),
        );
    }
}

/// `exportTo`: no duplicates (`.` is the own namespace), `*` alone, `~` alone where allowed,
/// otherwise DNS labels.
fn check_export_to(
    out: &mut Out<'_>,
    spec: &Value,
    own_namespace: Option<&str>,
    allow_tilde: bool,
) {
    let entries = strings(spec, "exportTo");
    let resolved: Vec<&str> = entries
        .iter()
        .map(|e| {
            if *e == "." {
                own_namespace.unwrap_or(".")
            } else {
                e
            }
        })
        .collect();
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("spec.exportTo[{i}]");
        let valid = matches!(*entry, "." | "*")
            || (allow_tilde && *entry == "~")
            || is_dns1123_label(entry);
        if !valid {
            out.error(
                &field,
                format!(
                    "Invalid value: {entry:?}: exportTo must be '.', '*'{} or a namespace name",
                    if allow_tilde { ", '~'" } else { "" }
                ),
            );
        }
        if resolved[..i].contains(&resolved[i]) {
            out.error(&field, format!("duplicate entry in exportTo: {entry:?}"));
        }
        if (*entry == "*" || *entry == "~") && entries.len() > 1 {
            out.error(
                &field,
                format!("{entry:?} must be the only entry in exportTo"),
            );
        }
    }
}

/// Runs the rules of `kind` on a whole object (apiVersion, kind, metadata, spec).
pub(crate) fn check(kind: &str, object: &Value, findings: &mut Vec<Finding>) {
    let mut out = Out(findings);
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str);
    if let Some(annotations) = object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        && annotations.contains_key("istio.io/dry-run")
    {
        out.error(
            "metadata.annotations",
            "istio.io/dry-run is only supported on AuthorizationPolicy",
        );
    }
    let Some(spec) = object.get("spec").filter(|s| s.is_object()) else {
        return;
    };
    match kind {
        "VirtualService" => virtual_service(&mut out, spec, namespace),
        "ServiceEntry" => service_entry(&mut out, spec, namespace),
        "DestinationRule" => destination_rule(&mut out, spec, namespace),
        "Sidecar" => sidecar(&mut out, spec),
        "Gateway" => {
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !is_dns1123_label(name) {
                out.error(
                    "metadata.name",
                    format!(
                        "Invalid value: {name:?}: a Gateway name must be a DNS-1123 label (no dots)"
                    ),
                );
            }
            gateway(&mut out, spec);
        }
        _ => {}
    }
}

use crate::request::api_route::RETRY_ON;

fn virtual_service(out: &mut Out<'_>, spec: &Value, namespace: Option<&str>) {
    let hosts = strings(spec, "hosts");
    let gateways = strings(spec, "gateways");
    let is_delegate = hosts.is_empty();
    let on_mesh = gateways.is_empty() || gateways.contains(&"mesh");
    if is_delegate {
        if !gateways.is_empty() {
            out.error(
                "spec.gateways",
                "a delegate VirtualService (no hosts) must not set gateways",
            );
        }
        if !list(spec, "tls").is_empty() {
            out.error(
                "spec.tls",
                "a delegate VirtualService (no hosts) must not set tls routes",
            );
        }
        if !list(spec, "tcp").is_empty() {
            out.error(
                "spec.tcp",
                "a delegate VirtualService (no hosts) must not set tcp routes",
            );
        }
    }
    for (i, host) in hosts.iter().enumerate() {
        let field = format!("spec.hosts[{i}]");
        if *host == "*" && on_mesh {
            out.error(
                &field,
                "wildcard host * is not allowed for virtual services bound to the mesh gateway",
            );
        } else if !is_wildcard_domain(host) && !is_ip(host) {
            out.error(
                &field,
                format!("Invalid value: {host:?}: not a valid host name or IP"),
            );
        }
        for (j, earlier) in hosts[..i].iter().enumerate() {
            if host_within(host, earlier) || host_within(earlier, host) {
                out.error(
                    &field,
                    format!("duplicate or overlapping host with spec.hosts[{j}] ({earlier})"),
                );
            }
        }
    }
    for (i, gw) in gateways.iter().enumerate() {
        let field = format!("spec.gateways[{i}]");
        if *gw == "mesh" {
            continue;
        }
        match gw.split_once('/') {
            Some((ns, name)) if !is_dns1123_label(ns) || !is_dns1123_label(name) => {
                out.error(
                    &field,
                    format!(
                        "Invalid value: {gw:?}: expected namespace/name of DNS-1123 labels, or mesh"
                    ),
                );
            }
            Some(_) => {}
            None if gw.contains('.') => out.warning(
                &field,
                format!("{gw:?} uses the legacy name.namespace form; write namespace/name"),
            ),
            None if !is_dns1123_label(gw) => {
                out.error(&field, format!("Invalid value: {gw:?}: not a gateway name"))
            }
            None => {}
        }
    }
    if list(spec, "http").is_empty() && list(spec, "tcp").is_empty() && list(spec, "tls").is_empty()
    {
        out.error(
            "spec",
            "http, tcp or tls must be provided in a virtual service",
        );
    }
    for (i, route) in list(spec, "http").iter().enumerate() {
        http_route(out, &format!("spec.http[{i}]"), route, is_delegate);
    }
    for (i, route) in list(spec, "tls").iter().enumerate() {
        let at = format!("spec.tls[{i}]");
        let matches = list(route, "match");
        if matches.is_empty() {
            out.error(
                format!("{at}.match"),
                "TLS route must have at least one match condition",
            );
        }
        for (j, m) in matches.iter().enumerate() {
            let sni = strings(m, "sniHosts");
            if sni.is_empty() {
                out.error(
                    format!("{at}.match[{j}].sniHosts"),
                    "TLS match must have at least one SNI host",
                );
            }
            for (k, host) in sni.iter().enumerate() {
                if !hosts.iter().any(|h| host_within(host, h)) {
                    out.error(format!("{at}.match[{j}].sniHosts[{k}]"), format!("SNI host {host:?} is not a compatible subset of any of the virtual service hosts"));
                }
            }
            check_port(out, &format!("{at}.match[{j}].port"), m.get("port"));
        }
        destinations(out, &at, route);
    }
    for (i, route) in list(spec, "tcp").iter().enumerate() {
        destinations(out, &format!("spec.tcp[{i}]"), route);
    }
    check_export_to(out, spec, namespace, false);
}

fn destinations(out: &mut Out<'_>, at: &str, route: &Value) {
    let routes = list(route, "route");
    if routes.is_empty() {
        out.error(format!("{at}.route"), "route is required");
    }
    let mut total: i64 = 0;
    for (k, dest) in routes.iter().enumerate() {
        let field = format!("{at}.route[{k}]");
        match dest.get("destination") {
            None => out.error(format!("{field}.destination"), "destination is required"),
            Some(d) => {
                let host = text(d, "host").unwrap_or("");
                if host == "*" || !is_wildcard_domain(host) {
                    out.error(format!("{field}.destination.host"), format!("Invalid value: {host:?}: destination host must be a service name, not *"));
                }
                if let Some(subset) = text(d, "subset")
                    && !is_dns1123_label(subset)
                {
                    out.error(
                        format!("{field}.destination.subset"),
                        format!("Invalid value: {subset:?}: subset must be a DNS-1123 label"),
                    );
                }
                check_port(
                    out,
                    &format!("{field}.destination.port.number"),
                    d.pointer("/port/number"),
                );
            }
        }
        let weight = dest.get("weight").and_then(Value::as_i64).unwrap_or(0);
        if weight < 0 {
            out.error(format!("{field}.weight"), "weight must not be negative");
        }
        total += weight.max(0);
    }
    if routes.len() > 1 && total == 0 {
        out.error(
            format!("{at}.route"),
            "total destination weight must be greater than 0 with several destinations",
        );
    }
}

fn http_route(out: &mut Out<'_>, at: &str, route: &Value, in_delegate: bool) {
    let has = |k: &str| route.get(k).is_some_and(|v| !v.is_null());
    let has_route = !list(route, "route").is_empty();
    if has("delegate") {
        if in_delegate {
            out.error(
                format!("{at}.delegate"),
                "a delegate VirtualService's routes must not delegate again",
            );
        }
        if has_route || has("redirect") {
            out.error(at, "a route with delegate must not set route or redirect");
        }
    } else {
        let set = [has_route, has("redirect"), has("directResponse")]
            .iter()
            .filter(|b| **b)
            .count();
        if set != 1 {
            out.error(
                at,
                "exactly one of route, redirect or directResponse must be set",
            );
        }
    }
    // Fault injection applies to a percentage of requests: 0 to 100.
    for fault in ["delay", "abort"] {
        if let Some(value) = route["fault"][fault]["percentage"]["value"].as_f64()
            && !(0.0..=100.0).contains(&value)
        {
            out.error(
                format!("{at}.fault.{fault}.percentage.value"),
                "percentage must have a value between 0.0 and 100.0",
            );
        }
    }
    if has("redirect") {
        for other in ["fault", "rewrite", "directResponse"] {
            if has(other) {
                out.error(
                    format!("{at}.{other}"),
                    format!("redirect and {other} cannot be set together"),
                );
            }
        }
        let redirect = &route["redirect"];
        if ["uri", "authority", "scheme", "port", "derivePort"]
            .iter()
            .all(|k| redirect.get(*k).is_none())
        {
            out.error(
                format!("{at}.redirect"),
                "redirect must set uri, authority, scheme or port",
            );
        }
        if let Some(code) = redirect.get("redirectCode").and_then(Value::as_i64)
            && !(300..=399).contains(&code)
        {
            out.error(
                format!("{at}.redirect.redirectCode"),
                format!("{code} is not a 3xx redirect code"),
            );
        }
        if let Some(scheme) = text(redirect, "scheme")
            && !matches!(scheme, "http" | "https")
        {
            out.error(
                format!("{at}.redirect.scheme"),
                "scheme must be http or https",
            );
        }
    }
    if has("mirror") && has("mirrors") {
        out.error(at, "mirror and mirrors cannot be set together");
    }
    if let Some(percentage) = route
        .pointer("/mirrorPercentage/value")
        .and_then(Value::as_f64)
        && !(0.0..=100.0).contains(&percentage)
    {
        out.error(
            format!("{at}.mirrorPercentage.value"),
            "must be between 0 and 100",
        );
    }
    for (j, m) in list(route, "match").iter().enumerate() {
        let mat = format!("{at}.match[{j}]");
        for key in ["uri", "scheme", "method", "authority"] {
            if let Some(sm) = m.get(key) {
                string_match(out, &format!("{mat}.{key}"), sm, key == "uri");
            }
        }
        for key in ["headers", "queryParams", "withoutHeaders"] {
            if let Some(map) = m.get(key).and_then(Value::as_object) {
                for (name, sm) in map {
                    string_match(out, &format!("{mat}.{key}.{name}"), sm, false);
                }
            }
        }
        if let Some(ns) = text(m, "sourceNamespace")
            && !is_dns1123_label(ns)
        {
            out.error(format!("{mat}.sourceNamespace"), "must be a DNS-1123 label");
        }
        check_port(out, &format!("{mat}.port"), m.get("port"));
    }
    if has_route {
        destinations(out, at, route);
    }
    check_duration(out, &format!("{at}.timeout"), route.get("timeout"));
    if let Some(retries) = route.get("retries") {
        let attempts = retries.get("attempts").and_then(Value::as_i64).unwrap_or(0);
        if attempts < 0 {
            out.error(
                format!("{at}.retries.attempts"),
                "attempts cannot be negative",
            );
        }
        if attempts == 0
            && (retries.get("perTryTimeout").is_some() || retries.get("retryOn").is_some())
        {
            out.error(
                format!("{at}.retries"),
                "perTryTimeout and retryOn need attempts of at least 1",
            );
        }
        check_duration(
            out,
            &format!("{at}.retries.perTryTimeout"),
            retries.get("perTryTimeout"),
        );
        if let Some(on) = text(retries, "retryOn") {
            for token in on.split(',') {
                let token = token.trim();
                // A policy name, or an HTTP status code (100 to 599).
                let status = token
                    .parse::<u16>()
                    .is_ok_and(|code| (100..=599).contains(&code));
                if !RETRY_ON.contains(&token) && !status {
                    out.error(
                        format!("{at}.retries.retryOn"),
                        format!("{token:?} is not a valid retryOn policy"),
                    );
                }
            }
        }
    }
    if let Some(rewrite) = route.get("rewrite") {
        let uri = rewrite.get("uri").is_some();
        let regex = rewrite.get("uriRegexRewrite").is_some();
        if uri && regex {
            out.error(
                format!("{at}.rewrite"),
                "uri and uriRegexRewrite cannot both be set",
            );
        }
        if !uri && !regex && rewrite.get("authority").is_none() {
            out.error(
                format!("{at}.rewrite"),
                "rewrite must specify uri, uriRegexRewrite or authority",
            );
        }
    }
    if let Some(direct) = route.get("directResponse") {
        let status = direct.get("status").and_then(Value::as_i64).unwrap_or(0);
        if !(200..=599).contains(&status) {
            out.error(
                format!("{at}.directResponse.status"),
                format!("{status} is not a valid HTTP status (200-599)"),
            );
        }
        let body_len = direct
            .get("body")
            .map(|b| text(b, "string").or(text(b, "bytes")).map_or(0, str::len))
            .unwrap_or(0);
        if body_len > 1024 * 1024 {
            out.error(
                format!("{at}.directResponse.body"),
                "body must be at most 1MB",
            );
        } else if body_len > 100 * 1024 {
            out.warning(
                format!("{at}.directResponse.body"),
                "body larger than 100KB",
            );
        }
    }
}

fn string_match(out: &mut Out<'_>, field: &str, sm: &Value, prefix_may_be_empty: bool) {
    if let Some(prefix) = text(sm, "prefix")
        && prefix.is_empty()
        && !prefix_may_be_empty
    {
        out.error(format!("{field}.prefix"), "prefix match must not be empty");
    }
    if let Some(regex) = text(sm, "regex")
        && regex.len() > 1024
    {
        out.error(
            format!("{field}.regex"),
            "regex must be at most 1024 characters",
        );
    }
}

fn service_entry(out: &mut Out<'_>, spec: &Value, namespace: Option<&str>) {
    let hosts = strings(spec, "hosts");
    if hosts.is_empty() {
        out.error(
            "spec.hosts",
            "Required value: a ServiceEntry needs at least one host",
        );
    }
    let resolution = text(spec, "resolution").unwrap_or("NONE");
    let has_endpoints = spec.get("endpoints").is_some();
    let has_selector = spec.get("workloadSelector").is_some();
    for (i, host) in hosts.iter().enumerate() {
        let field = format!("spec.hosts[{i}]");
        if *host == "*" {
            out.error(&field, "hostname cannot be wildcard");
        } else if host.contains('*') && !host.starts_with("*.") {
            out.warning(&field, format!("{host:?} is a partial wildcard; only a whole leftmost * label matches as a wildcard"));
        } else if !is_wildcard_domain(host) {
            out.error(
                &field,
                format!("Invalid value: {host:?}: not a valid host name"),
            );
        }
    }
    for (i, address) in strings(spec, "addresses").iter().enumerate() {
        let field = format!("spec.addresses[{i}]");
        if is_cidr(address) {
            if !matches!(resolution, "NONE" | "STATIC") {
                out.error(
                    &field,
                    "CIDR addresses are allowed only for NONE/STATIC resolution types",
                );
            }
        } else if !is_ip(address) {
            out.error(
                &field,
                format!("Invalid value: {address:?}: not an IP address or CIDR"),
            );
        }
    }
    let ports = list(spec, "ports");
    let mut non_http_tls = false;
    for (i, port) in ports.iter().enumerate() {
        let at = format!("spec.ports[{i}]");
        let name = text(port, "name").unwrap_or("");
        if !is_dns1123_label(name) {
            out.error(
                format!("{at}.name"),
                format!("Invalid value: {name:?}: port name must be a DNS-1123 label"),
            );
        }
        if ports[..i].iter().any(|p| text(p, "name") == Some(name)) {
            out.error(
                format!("{at}.name"),
                format!("Duplicate value: port name {name:?}"),
            );
        }
        check_port(out, &format!("{at}.number"), port.get("number"));
        if ports[..i]
            .iter()
            .any(|p| p.get("number") == port.get("number"))
        {
            out.error(format!("{at}.number"), "port number cannot be duplicated");
        }
        check_port(out, &format!("{at}.targetPort"), port.get("targetPort"));
        let protocol = text(port, "protocol").unwrap_or("");
        let upper = protocol.to_ascii_uppercase();
        let known = [
            "",
            "TCP",
            "UDP",
            "GRPC",
            "GRPC-WEB",
            "HTTP",
            "HTTP_PROXY",
            "HTTP2",
            "HTTPS",
            "TLS",
            "MONGO",
            "REDIS",
            "MYSQL",
        ];
        if !known.contains(&upper.as_str()) {
            out.error(
                format!("{at}.protocol"),
                format!("Unsupported value: {protocol:?}: unknown protocol"),
            );
        }
        let http = matches!(
            upper.as_str(),
            "HTTP" | "HTTP2" | "GRPC" | "GRPC-WEB" | "HTTP_PROXY"
        );
        let tls = matches!(upper.as_str(), "HTTPS" | "TLS");
        non_http_tls |= !http && !tls;
        if (upper.is_empty() || upper == "TCP") && strings(spec, "addresses").is_empty() {
            out.warning(format!("{at}.protocol"), "a TCP (or unset) protocol port without addresses matches every IP on that port (IST0134)");
        }
    }
    if non_http_tls && hosts.len() > 1 && resolution != "NONE" {
        out.error(
            "spec.ports",
            "multiple hosts need HTTP or TLS ports unless resolution is NONE",
        );
    }
    if has_selector && has_endpoints {
        out.error(
            "spec",
            "only one of WorkloadSelector or Endpoints can be set",
        );
    }
    let endpoints = list(spec, "endpoints");
    match resolution {
        "NONE" => {
            if has_endpoints {
                out.error("spec.endpoints", "NONE mode cannot set endpoints");
            }
            if has_selector {
                out.warning(
                    "spec.workloadSelector",
                    "workloadSelector has no effect with resolution NONE",
                );
            }
        }
        "DNS" | "DNS_ROUND_ROBIN" => {
            if !has_endpoints {
                for (i, host) in hosts.iter().enumerate() {
                    if host.contains('*') {
                        out.error(format!("spec.hosts[{i}]"), format!("{host:?}: hosts must be fully qualified (no wildcard) with DNS resolution and no endpoints"));
                    }
                }
            }
            if resolution == "DNS_ROUND_ROBIN" && endpoints.len() > 1 {
                out.error(
                    "spec.endpoints",
                    "DNS_ROUND_ROBIN mode cannot have multiple endpoints",
                );
            }
            for (i, endpoint) in endpoints.iter().enumerate() {
                if let Some(address) = text(endpoint, "address")
                    && !is_ip(address)
                    && !is_dns_name(address)
                {
                    out.error(
                        format!("spec.endpoints[{i}].address"),
                        format!("{address:?} must be an IP or a host name with DNS resolution"),
                    );
                }
            }
        }
        "DYNAMIC_DNS" => {
            for (i, host) in hosts.iter().enumerate() {
                if !host.starts_with("*.") {
                    out.error(
                        format!("spec.hosts[{i}]"),
                        "DYNAMIC_DNS hosts must be wildcards",
                    );
                }
            }
            if spec.get("addresses").is_some() || has_endpoints {
                out.error("spec", "DYNAMIC_DNS cannot set addresses or endpoints");
            }
        }
        _ => {}
    }
    check_export_to(out, spec, namespace, true);
}

fn traffic_policy(out: &mut Out<'_>, at: &str, policy: &Value, port_level: bool) {
    let Some(map) = policy.as_object() else {
        return;
    };
    let meaningful = map
        .keys()
        .filter(|k| *k != "portLevelSettings" || !port_level)
        .count();
    if meaningful == 0 || (map.len() == 1 && map.contains_key("port")) {
        out.error(at, "traffic policy must have at least one field");
    }
    if map.contains_key("tunnel") && map.contains_key("proxyProtocol") {
        out.error(at, "tunnel and proxyProtocol cannot be set together");
    }
    if let Some(tls) = map.get("tls") {
        client_tls(out, &format!("{at}.tls"), tls);
    }
    if !port_level {
        for (i, setting) in map
            .get("portLevelSettings")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .enumerate()
        {
            let field = format!("{at}.portLevelSettings[{i}]");
            if setting.get("port").is_none() {
                out.error(format!("{field}.port"), "port level settings need a port");
            }
            traffic_policy(out, &field, setting, true);
        }
    }
}

fn client_tls(out: &mut Out<'_>, at: &str, tls: &Value) {
    let mode = text(tls, "mode").unwrap_or("DISABLE");
    let has = |k: &str| {
        tls.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if matches!(mode, "SIMPLE" | "MUTUAL") && has("credentialName") {
        for k in ["clientCertificate", "privateKey", "caCertificates", "caCrl"] {
            if has(k) {
                out.error(
                    format!("{at}.{k}"),
                    format!("cannot be set together with credentialName in {mode} mode"),
                );
            }
        }
    }
    if mode == "MUTUAL"
        && !has("credentialName")
        && !(has("clientCertificate") && has("privateKey"))
    {
        out.error(
            at,
            "MUTUAL mode without credentialName needs clientCertificate and privateKey",
        );
    }
    if tls.get("insecureSkipVerify").and_then(Value::as_bool) == Some(true)
        && (has("caCertificates") || tls.get("subjectAltNames").is_some())
    {
        out.error(
            at,
            "insecureSkipVerify cannot be set with caCertificates or subjectAltNames",
        );
    }
}

fn destination_rule(out: &mut Out<'_>, spec: &Value, namespace: Option<&str>) {
    let host = text(spec, "host").unwrap_or("");
    if !is_wildcard_domain(host) {
        out.error(
            "spec.host",
            format!("Invalid value: {host:?}: not a valid host name"),
        );
    }
    if let Some(policy) = spec.get("trafficPolicy") {
        traffic_policy(out, "spec.trafficPolicy", policy, false);
    }
    let subsets = list(spec, "subsets");
    for (i, subset) in subsets.iter().enumerate() {
        let at = format!("spec.subsets[{i}]");
        let name = text(subset, "name").unwrap_or("");
        if !is_dns1123_label(name) {
            out.error(
                format!("{at}.name"),
                format!("Invalid value: {name:?}: subset name must be a DNS-1123 label"),
            );
        }
        if subsets[..i].iter().any(|s| text(s, "name") == Some(name)) {
            out.error(
                format!("{at}.name"),
                format!("duplicate subset name {name:?}"),
            );
        }
        if let Some(labels) = subset.get("labels").and_then(Value::as_object) {
            for (k, v) in labels {
                if !crate::catalog::is_label_key(k)
                    || !v.as_str().is_some_and(crate::catalog::is_label_value)
                {
                    out.error(format!("{at}.labels.{k}"), "not a valid Kubernetes label");
                }
            }
        }
        if let Some(policy) = subset.get("trafficPolicy") {
            traffic_policy(out, &format!("{at}.trafficPolicy"), policy, false);
        }
    }
    if spec.get("workloadSelector").is_some() {
        let export = strings(spec, "exportTo");
        if export.iter().any(|e| *e != "." && Some(*e) != namespace) {
            out.error("spec.exportTo", "a DestinationRule with a workloadSelector may only be exported to its own namespace");
        }
    }
    check_export_to(out, spec, namespace, false);
}

fn sidecar_host_ok(host: &str) -> bool {
    let Some((ns, dns)) = host.split_once('/') else {
        return false;
    };
    let ns_ok = matches!(ns, "*" | ".")
        || ns.strip_prefix('~').map_or(is_dns1123_label(ns), |rest| {
            rest.is_empty() || is_dns1123_label(rest)
        });
    let dns_ok = dns == "*"
        || dns.strip_prefix("*.").is_some_and(is_dns_name)
        || (is_dns_name(dns) && dns.contains('.'));
    ns_ok && dns_ok
}

fn sidecar(out: &mut Out<'_>, spec: &Value) {
    let egress = list(spec, "egress");
    let ingress = list(spec, "ingress");
    if egress.is_empty()
        && ingress.is_empty()
        && spec.get("outboundTrafficPolicy").is_none()
        && spec.get("inboundConnectionPool").is_none()
    {
        out.error("spec", "sidecar: empty configuration provided");
    }
    if let Some(labels) = spec
        .pointer("/workloadSelector/labels")
        .and_then(Value::as_object)
    {
        for (k, v) in labels {
            if k.contains('*') || v.as_str().is_some_and(|s| s.contains('*')) {
                out.error(
                    format!("spec.workloadSelector.labels.{k}"),
                    "sidecar: wildcard is not supported in selector",
                );
            }
        }
    }
    let mut portless = 0;
    let mut ports_seen: Vec<i64> = Vec::new();
    for (i, listener) in egress.iter().enumerate() {
        let at = format!("spec.egress[{i}]");
        match listener.get("port") {
            None => {
                portless += 1;
                if i + 1 != egress.len() {
                    out.error(
                        &at,
                        "the egress listener without a port must be the last one",
                    );
                }
            }
            Some(port) => {
                let number = port.get("number").and_then(Value::as_i64).unwrap_or(0);
                let bind = text(listener, "bind").unwrap_or("");
                if number == 0 && !bind.starts_with("unix://") {
                    out.error(format!("{at}.port.number"), "port 0 needs a unix:// bind");
                } else if number != 0 && bind.starts_with("unix://") {
                    out.error(
                        format!("{at}.port.number"),
                        "port number must be 0 for a unix domain socket bind",
                    );
                } else if number != 0 {
                    check_port(out, &format!("{at}.port.number"), port.get("number"));
                }
                if ports_seen.contains(&number) {
                    out.error(
                        format!("{at}.port.number"),
                        "egress listener ports must be unique",
                    );
                }
                ports_seen.push(number);
            }
        }
        if let Some(bind) = text(listener, "bind")
            && !bind.starts_with("unix://")
            && !is_ip(bind)
        {
            out.error(
                format!("{at}.bind"),
                "bind must be an IP address or unix://",
            );
        }
        let hosts = strings(listener, "hosts");
        if hosts.is_empty() {
            out.error(
                format!("{at}.hosts"),
                "egress listener needs at least one host",
            );
        }
        for (j, host) in hosts.iter().enumerate() {
            if !sidecar_host_ok(host) {
                out.error(format!("{at}.hosts[{j}]"), format!("Invalid value: {host:?}: expected namespace/dnsName (namespace *, ., ~ or a name; dnsName *, *.suffix or a fully qualified name)"));
            }
            if hosts[..j].contains(host) {
                out.warning(
                    format!("{at}.hosts[{j}]"),
                    format!("duplicate egress host {host:?}"),
                );
            }
        }
        if hosts.contains(&"*/*") && hosts.len() > 1 {
            out.warning(format!("{at}.hosts"), "*/* already covers the other hosts");
        }
    }
    if portless > 1 {
        out.error(
            "spec.egress",
            "at most one egress listener may omit the port",
        );
    }
    for (i, listener) in ingress.iter().enumerate() {
        let at = format!("spec.ingress[{i}]");
        if listener.get("port").is_none() {
            out.error(format!("{at}.port"), "ingress listener needs a port");
        }
        if let Some(endpoint) = text(listener, "defaultEndpoint") {
            let ok = endpoint.starts_with("unix://")
                || ["127.0.0.1:", "0.0.0.0:", "[::1]:", "[::]:"]
                    .iter()
                    .any(|p| {
                        endpoint
                            .strip_prefix(p)
                            .is_some_and(|port| port.parse::<u16>().is_ok_and(|n| n > 0))
                    });
            if !ok {
                out.error(format!("{at}.defaultEndpoint"), "defaultEndpoint must be 127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT, [::]:PORT or unix://");
            }
        }
    }
    if let Some(policy) = spec.get("outboundTrafficPolicy") {
        let mode = text(policy, "mode").unwrap_or("REGISTRY_ONLY");
        if mode == "ALLOW_ANY_DYNAMIC_DNS" {
            out.error(
                "spec.outboundTrafficPolicy.mode",
                "ALLOW_ANY_DYNAMIC_DNS is not allowed in a Sidecar",
            );
        }
        if policy.get("egressProxy").is_some() && mode != "ALLOW_ANY" {
            out.error(
                "spec.outboundTrafficPolicy.egressProxy",
                "egressProxy needs mode ALLOW_ANY",
            );
        }
    }
}

fn gateway(out: &mut Out<'_>, spec: &Value) {
    let servers = list(spec, "servers");
    if servers.is_empty() {
        out.error("spec.servers", "gateway must have at least one server");
    }
    let mut names: Vec<&str> = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let at = format!("spec.servers[{i}]");
        let hosts = strings(server, "hosts");
        if hosts.is_empty() {
            out.error(format!("{at}.hosts"), "server must have at least one host");
        }
        for (j, host) in hosts.iter().enumerate() {
            let dns = host.split_once('/').map_or(*host, |(ns, dns)| {
                if !(matches!(ns, "*" | ".") || is_dns1123_label(ns)) {
                    out.error(
                        format!("{at}.hosts[{j}]"),
                        format!("Invalid value: {host:?}: namespace must be *, . or a name"),
                    );
                }
                dns
            });
            if !is_wildcard_domain(dns) && !is_ip(dns) {
                out.error(
                    format!("{at}.hosts[{j}]"),
                    format!("Invalid value: {host:?}: not a valid host"),
                );
            } else if dns != "*" && !dns.contains('.') && !is_ip(dns) {
                out.error(
                    format!("{at}.hosts[{j}]"),
                    format!("Invalid value: {host:?}: short names (non FQDN) are not allowed"),
                );
            }
        }
        let port = server.get("port").unwrap_or(&Value::Null);
        check_port(out, &format!("{at}.port.number"), port.get("number"));
        let protocol = text(port, "protocol").unwrap_or("").to_ascii_uppercase();
        let tls = server.get("tls").and_then(Value::as_object);
        if matches!(protocol.as_str(), "HTTPS" | "TLS") && tls.is_none() {
            out.error(
                format!("{at}.tls"),
                format!("server config must contain TLS settings for {protocol}"),
            );
        }
        if let Some(tls) = tls
            && !matches!(protocol.as_str(), "HTTPS" | "TLS")
            && !(protocol == "HTTP" && only_https_redirect(tls))
        {
            out.error(
                format!("{at}.tls"),
                "tls settings are only allowed on HTTPS or TLS servers",
            );
        }
        if let Some(name) = text(port, "name") {
            if names.contains(&name) {
                out.error(
                    format!("{at}.port.name"),
                    format!("port names in servers must be unique: duplicate name {name:?}"),
                );
            }
            names.push(name);
        }
    }
}

fn only_https_redirect(tls: &Map<String, Value>) -> bool {
    tls.keys().all(|k| k == "httpsRedirect")
}
