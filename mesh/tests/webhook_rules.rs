//! One refused (or warned-about) object for every Istio webhook rule in
//! `src/validate/webhook.rs`, and the valid objects those rules must leave alone.
//!
//! Every `out.error(…)` / `out.warning(…)` call in the webhook module has at least one case
//! below: a whole VirtualService, ServiceEntry, DestinationRule, Sidecar or Gateway that differs
//! from a valid base object of its kind only where the rule looks, with the severity, field path
//! and a distinctive part of the message the rule reports. The CRD schema runs too, so a case may
//! carry an extra schema finding; a case passes when the expected webhook finding is among the
//! findings. Shared helpers (durations, ports, `exportTo`) get one case per helper call plus a
//! few cases for their other call sites.
//!
//! A coverage test counts the rule calls in the webhook source at test time, so a new rule
//! without a case here fails the suite.

use mesh::validate::{Finding, SchemaVersion, Severity, validate_object};
use serde_json::{Map, Value, json};

/// The webhook rules under test; the coverage test counts their `out.error(` and
/// `out.warning(` calls.
const WEBHOOK_SOURCE: &str = include_str!("../src/validate/webhook.rs");

/// How many `out.error(` / `out.warning(` calls the webhook module has. Kept here so that adding
/// or removing a rule makes the coverage test point at this file.
const RULE_CALLS: usize = 104;

/// Rule calls that no whole object can reach, with the reason. Every rule is reachable today;
/// `at most one egress listener may omit the port` always comes with `must be the last one`
/// (two portless listeners cannot both be last), but it is still triggered, so it is not listed.
const NOT_TRIGGERABLE: &[(&str, &str)] = &[];

/// The bundles that serve `networking.istio.io/v1`, which every object here uses.
const VERSIONS: [SchemaVersion; 2] = [SchemaVersion::Istio1_24, SchemaVersion::Istio1_30];

const NAMESPACE: &str = "shop";
const REVIEWS: &str = "reviews.shop.svc.cluster.local";

const VIRTUAL_SERVICE: &str = "VirtualService";
const SERVICE_ENTRY: &str = "ServiceEntry";
const DESTINATION_RULE: &str = "DestinationRule";
const SIDECAR: &str = "Sidecar";
const GATEWAY: &str = "Gateway";
const KINDS: [&str; 5] = [
    VIRTUAL_SERVICE,
    SERVICE_ENTRY,
    DESTINATION_RULE,
    SIDECAR,
    GATEWAY,
];

/// One invalid object and the finding it must produce: a finding with this severity, exactly
/// this field path, and a message containing `message`. A `message` starting with `^` must
/// start the finding's message instead; the cases whose CEL schema rule reports the same text
/// at the same field (prefixed with `Invalid value: …:`) use it to tell the webhook's finding
/// apart.
struct Case {
    name: &'static str,
    object: Value,
    field: &'static str,
    message: &'static str,
    severity: Severity,
}

impl Case {
    fn expects(&self, finding: &Finding) -> bool {
        let message = match self.message.strip_prefix('^') {
            Some(start) => finding.message.starts_with(start),
            None => finding.message.contains(self.message),
        };
        finding.severity == self.severity && finding.field == self.field && message
    }
}

fn error(name: &'static str, object: Value, field: &'static str, message: &'static str) -> Case {
    Case {
        name,
        object,
        field,
        message,
        severity: Severity::Error,
    }
}

fn warning(name: &'static str, object: Value, field: &'static str, message: &'static str) -> Case {
    Case {
        name,
        object,
        field,
        message,
        severity: Severity::Warning,
    }
}

// ---------------------------------------------------------------------------------------------
// Base objects and builders
// ---------------------------------------------------------------------------------------------

/// JSON merge patch (RFC 7386): objects merge key by key, `null` removes a key, anything else
/// (arrays included) replaces.
fn merge(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(entries) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let map = target
                .as_object_mut()
                .expect("target was just made an object");
            for (key, value) in entries {
                if value.is_null() {
                    map.remove(&key);
                } else {
                    merge(map.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        other => *target = other,
    }
}

fn merged(mut base: Value, patch: Value) -> Value {
    merge(&mut base, patch);
    base
}

/// The plain HTTP route of the base VirtualService.
fn base_http_route() -> Value {
    json!({"route": [{"destination": {"host": REVIEWS}}]})
}

/// The plain HTTP server of the base Gateway.
fn base_server() -> Value {
    json!({"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["shop.example.com"]})
}

/// A small valid object of `kind`, accepted without findings.
fn base(kind: &str) -> Value {
    let (name, spec) = match kind {
        VIRTUAL_SERVICE => (
            "reviews",
            json!({"hosts": [REVIEWS], "http": [base_http_route()]}),
        ),
        SERVICE_ENTRY => (
            "partner-api",
            json!({
                "hosts": ["api.example.com"],
                "location": "MESH_EXTERNAL",
                "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}],
                "resolution": "DNS",
            }),
        ),
        DESTINATION_RULE => (
            "reviews",
            json!({
                "host": REVIEWS,
                "subsets": [{"name": "v1", "labels": {"version": "v1"}}],
            }),
        ),
        SIDECAR => (
            "default",
            json!({"egress": [{"hosts": ["./*", "istio-system/*"]}]}),
        ),
        GATEWAY => (
            "public",
            json!({"selector": {"istio": "ingressgateway"}, "servers": [base_server()]}),
        ),
        other => panic!("no base object for kind {other}"),
    };
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    })
}

/// The base object of `kind` with `patch` merged into its spec.
fn with_spec(kind: &str, patch: Value) -> Value {
    merged(base(kind), json!({ "spec": patch }))
}

fn vs(patch: Value) -> Value {
    with_spec(VIRTUAL_SERVICE, patch)
}

/// The base VirtualService with `patch` merged into its only HTTP route.
fn http(patch: Value) -> Value {
    vs(json!({"http": [merged(base_http_route(), patch)]}))
}

/// The base VirtualService as a delegate (no hosts), with `patch` merged into its spec.
fn delegate(patch: Value) -> Value {
    vs(merged(json!({"hosts": null}), patch))
}

fn se(patch: Value) -> Value {
    with_spec(SERVICE_ENTRY, patch)
}

fn dr(patch: Value) -> Value {
    with_spec(DESTINATION_RULE, patch)
}

fn sidecar(patch: Value) -> Value {
    with_spec(SIDECAR, patch)
}

fn gateway(patch: Value) -> Value {
    with_spec(GATEWAY, patch)
}

/// The base Gateway with `patch` merged into its only server.
fn server(patch: Value) -> Value {
    gateway(json!({"servers": [merged(base_server(), patch)]}))
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

fn cases() -> Vec<Case> {
    [
        metadata_cases(),
        shared_helper_cases(),
        virtual_service_cases(),
        service_entry_cases(),
        destination_rule_cases(),
        sidecar_cases(),
        gateway_cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Rules on the whole object, before the kind's own rules.
fn metadata_cases() -> Vec<Case> {
    vec![
        // Only AuthorizationPolicy may carry the `istio.io/dry-run` annotation.
        error(
            "dry-run annotation",
            merged(
                base(VIRTUAL_SERVICE),
                json!({"metadata": {"annotations": {"istio.io/dry-run": "true"}}}),
            ),
            "metadata.annotations",
            "istio.io/dry-run is only supported on AuthorizationPolicy",
        ),
        // A Gateway's name must be a DNS-1123 label (no dots), stricter than Kubernetes.
        error(
            "gateway name with a dot",
            merged(
                base(GATEWAY),
                json!({"metadata": {"name": "public.gateway"}}),
            ),
            "metadata.name",
            "a Gateway name must be a DNS-1123 label",
        ),
    ]
}

/// The helpers shared by several kinds: durations, port numbers and `exportTo`.
fn shared_helper_cases() -> Vec<Case> {
    vec![
        // Durations must parse as Go durations.
        error(
            "timeout not a duration",
            http(json!({"timeout": "soon"})),
            "spec.http[0].timeout",
            "not a duration",
        ),
        // Durations must be at least 1ms.
        error(
            "timeout below 1ms",
            http(json!({"timeout": "500us"})),
            "spec.http[0].timeout",
            "duration must be at least 1ms",
        ),
        // Durations only have millisecond precision.
        error(
            "timeout below ms precision",
            http(json!({"timeout": "1.0005s"})),
            "spec.http[0].timeout",
            "only durations to ms precision are supported",
        ),
        // Same duration rule, at its perTryTimeout call site.
        error(
            "perTryTimeout below 1ms",
            http(json!({"retries": {"attempts": 2, "perTryTimeout": "0.5ms"}})),
            "spec.http[0].retries.perTryTimeout",
            "duration must be at least 1ms",
        ),
        // Port numbers must be within 1..65535 (HTTP match port).
        error(
            "http match port out of range",
            http(json!({"match": [{"port": 70000}]})),
            "spec.http[0].match[0].port",
            "port number 70000 must be in the range 1..65535",
        ),
        // Same port rule, at its destination port call site.
        error(
            "destination port zero",
            http(json!({"route": [{"destination": {"host": REVIEWS, "port": {"number": 0}}}]})),
            "spec.http[0].route[0].destination.port.number",
            "port number 0 must be in the range 1..65535",
        ),
        // Same port rule, at its TLS match call site.
        error(
            "tls match port out of range",
            vs(json!({"tls": [{
                "match": [{"sniHosts": [REVIEWS], "port": 70000}],
                "route": [{"destination": {"host": REVIEWS}}],
            }]})),
            "spec.tls[0].match[0].port",
            "port number 70000 must be in the range 1..65535",
        ),
        // Same port rule, at its ServiceEntry port call site.
        error(
            "service entry port out of range",
            se(json!({"ports": [{"number": 70000, "name": "tls", "protocol": "TLS"}]})),
            "spec.ports[0].number",
            "port number 70000 must be in the range 1..65535",
        ),
        // Same port rule, at its ServiceEntry targetPort call site.
        error(
            "service entry targetPort out of range",
            se(
                json!({"ports": [{"number": 443, "name": "tls", "protocol": "TLS", "targetPort": 70000}]}),
            ),
            "spec.ports[0].targetPort",
            "port number 70000 must be in the range 1..65535",
        ),
        // Same port rule, at its Sidecar egress call site.
        error(
            "sidecar egress port out of range",
            sidecar(json!({"egress": [
                {"port": {"number": 70000, "protocol": "HTTP", "name": "http"}, "hosts": ["./*"]},
            ]})),
            "spec.egress[0].port.number",
            "port number 70000 must be in the range 1..65535",
        ),
        // Same port rule, at its Gateway server call site.
        error(
            "gateway server port out of range",
            server(json!({"port": {"number": 70000}})),
            "spec.servers[0].port.number",
            "port number 70000 must be in the range 1..65535",
        ),
        // exportTo entries are '.', '*' or a namespace name.
        error(
            "exportTo entry not a namespace",
            vs(json!({"exportTo": ["Other_NS"]})),
            "spec.exportTo[0]",
            "exportTo must be '.', '*' or a namespace name",
        ),
        // exportTo has no duplicates; '.' is the object's own namespace.
        error(
            "exportTo duplicate of own namespace",
            vs(json!({"exportTo": [".", NAMESPACE]})),
            "spec.exportTo[1]",
            "duplicate entry in exportTo",
        ),
        // '*' (and '~' where allowed) must be the only exportTo entry.
        error(
            "exportTo star with another entry",
            vs(json!({"exportTo": ["*", "other"]})),
            "spec.exportTo[0]",
            "\"*\" must be the only entry in exportTo",
        ),
        // Same rule for '~', which only ServiceEntry allows.
        error(
            "service entry exportTo tilde with another entry",
            se(json!({"exportTo": ["~", "."]})),
            "spec.exportTo[0]",
            "\"~\" must be the only entry in exportTo",
        ),
    ]
}

fn virtual_service_cases() -> Vec<Case> {
    let other = json!({"destination": {"host": "ratings.shop.svc.cluster.local"}});
    let tcp_route = json!([{"route": [{"destination": {"host": REVIEWS}}]}]);
    vec![
        // A delegate VirtualService (no hosts) must not set gateways.
        error(
            "delegate with gateways",
            delegate(json!({"gateways": ["shop/public"]})),
            "spec.gateways",
            "a delegate VirtualService (no hosts) must not set gateways",
        ),
        // A delegate VirtualService must not set tls routes. (The SNI host is outside the
        // missing hosts too, a second finding.)
        error(
            "delegate with tls routes",
            delegate(json!({"tls": [{
                "match": [{"sniHosts": [REVIEWS]}],
                "route": [{"destination": {"host": REVIEWS}}],
            }]})),
            "spec.tls",
            "a delegate VirtualService (no hosts) must not set tls routes",
        ),
        // A delegate VirtualService must not set tcp routes.
        error(
            "delegate with tcp routes",
            delegate(json!({"tcp": tcp_route})),
            "spec.tcp",
            "a delegate VirtualService (no hosts) must not set tcp routes",
        ),
        // The host `*` is not allowed when the VirtualService applies to the mesh.
        error(
            "wildcard host on mesh",
            vs(json!({"hosts": ["*"]})),
            "spec.hosts[0]",
            "wildcard host * is not allowed for virtual services bound to the mesh gateway",
        ),
        // Hosts are (wildcard) DNS names or IPs.
        error(
            "virtual service host not a name",
            vs(json!({"hosts": ["reviews..shop"]})),
            "spec.hosts[0]",
            "not a valid host name or IP",
        ),
        // No host may equal or overlap an earlier one.
        error(
            "overlapping hosts",
            vs(json!({"hosts": ["*.example.com", "api.example.com"]})),
            "spec.hosts[1]",
            "duplicate or overlapping host with spec.hosts[0]",
        ),
        // A `namespace/name` gateway reference is made of DNS-1123 labels.
        error(
            "gateway reference with invalid name",
            vs(json!({"gateways": ["shop/Public_GW"]})),
            "spec.gateways[0]",
            "expected namespace/name of DNS-1123 labels, or mesh",
        ),
        // The legacy `name.namespace` gateway reference form is warned about.
        warning(
            "legacy gateway reference",
            vs(json!({"gateways": ["public.shop"]})),
            "spec.gateways[0]",
            "uses the legacy name.namespace form",
        ),
        // A bare gateway reference is a DNS-1123 label.
        error(
            "gateway reference not a name",
            vs(json!({"gateways": ["Public_GW"]})),
            "spec.gateways[0]",
            "not a gateway name",
        ),
        // At least one of http, tcp or tls.
        error(
            "no routes",
            vs(json!({"http": null})),
            "spec",
            "http, tcp or tls must be provided in a virtual service",
        ),
        // A TLS route has at least one match.
        error(
            "tls route without match",
            vs(json!({"tls": [{"route": [{"destination": {"host": REVIEWS}}]}]})),
            "spec.tls[0].match",
            "TLS route must have at least one match condition",
        ),
        // A TLS match has at least one SNI host.
        error(
            "tls match without sniHosts",
            vs(json!({"tls": [{
                "match": [{"port": 443}],
                "route": [{"destination": {"host": REVIEWS}}],
            }]})),
            "spec.tls[0].match[0].sniHosts",
            "TLS match must have at least one SNI host",
        ),
        // SNI hosts lie within the VirtualService's hosts.
        error(
            "sni host outside the hosts",
            vs(json!({"tls": [{
                "match": [{"sniHosts": ["other.example.com"]}],
                "route": [{"destination": {"host": REVIEWS}}],
            }]})),
            "spec.tls[0].match[0].sniHosts[0]",
            "SNI host \"other.example.com\" is not a compatible subset",
        ),
        // TCP and TLS routes need a route.
        error(
            "tcp route without route",
            vs(json!({"tcp": [{"match": [{"port": 3306}]}]})),
            "spec.tcp[0].route",
            "route is required",
        ),
        // Every route entry has a destination.
        error(
            "route entry without destination",
            vs(json!({"tcp": [{"route": [{"weight": 100}]}]})),
            "spec.tcp[0].route[0].destination",
            "destination is required",
        ),
        // A destination host is a service name, not `*`.
        error(
            "destination host wildcard",
            http(json!({"route": [{"destination": {"host": "*"}}]})),
            "spec.http[0].route[0].destination.host",
            "destination host must be a service name, not *",
        ),
        // A destination subset is a DNS-1123 label.
        error(
            "destination subset not a label",
            http(json!({"route": [{"destination": {"host": REVIEWS, "subset": "V1"}}]})),
            "spec.http[0].route[0].destination.subset",
            "subset must be a DNS-1123 label",
        ),
        // Weights are not negative.
        error(
            "negative weight",
            http(json!({"route": [{"destination": {"host": REVIEWS}, "weight": -1}]})),
            "spec.http[0].route[0].weight",
            "weight must not be negative",
        ),
        // Several destinations need a positive total weight.
        error(
            "several destinations without weight",
            http(json!({"route": [
                {"destination": {"host": REVIEWS}, "weight": 0},
                merged(other.clone(), json!({"weight": 0})),
            ]})),
            "spec.http[0].route",
            "total destination weight must be greater than 0 with several destinations",
        ),
        // A delegate VirtualService's routes must not delegate again.
        error(
            "delegate delegating again",
            delegate(json!({"http": [{"delegate": {"name": "ratings", "namespace": NAMESPACE}}]})),
            "spec.http[0].delegate",
            "a delegate VirtualService's routes must not delegate again",
        ),
        // A route with delegate sets neither route nor redirect.
        error(
            "delegate with route",
            http(json!({"delegate": {"name": "ratings", "namespace": NAMESPACE}})),
            "spec.http[0]",
            "a route with delegate must not set route or redirect",
        ),
        // Exactly one of route, redirect or directResponse.
        error(
            "route and directResponse",
            http(json!({"directResponse": {"status": 503}})),
            "spec.http[0]",
            "exactly one of route, redirect or directResponse must be set",
        ),
        // A redirect excludes fault, rewrite and directResponse.
        error(
            "redirect with rewrite",
            http(json!({"route": null, "redirect": {"uri": "/new"}, "rewrite": {"uri": "/v2"}})),
            "spec.http[0].rewrite",
            "redirect and rewrite cannot be set together",
        ),
        // A redirect sets uri, authority, scheme or port.
        error(
            "redirect without target",
            http(json!({"route": null, "redirect": {"redirectCode": 301}})),
            "spec.http[0].redirect",
            "redirect must set uri, authority, scheme or port",
        ),
        // A redirect code is a 3xx code.
        error(
            "redirect code not 3xx",
            http(json!({"route": null, "redirect": {"uri": "/new", "redirectCode": 200}})),
            "spec.http[0].redirect.redirectCode",
            "200 is not a 3xx redirect code",
        ),
        // A redirect scheme is http or https.
        error(
            "redirect scheme ftp",
            http(json!({"route": null, "redirect": {"scheme": "ftp"}})),
            "spec.http[0].redirect.scheme",
            "scheme must be http or https",
        ),
        // mirror and mirrors are exclusive.
        error(
            "mirror and mirrors",
            http(json!({"mirror": {"host": REVIEWS}, "mirrors": [other]})),
            "spec.http[0]",
            "mirror and mirrors cannot be set together",
        ),
        // mirrorPercentage is within 0..100.
        error(
            "mirror percentage above 100",
            http(json!({"mirror": {"host": REVIEWS}, "mirrorPercentage": {"value": 150.0}})),
            "spec.http[0].mirrorPercentage.value",
            "must be between 0 and 100",
        ),
        // A sourceNamespace match is a DNS-1123 label.
        error(
            "sourceNamespace not a label",
            http(json!({"match": [{"sourceNamespace": "Other_NS"}]})),
            "spec.http[0].match[0].sourceNamespace",
            "must be a DNS-1123 label",
        ),
        // Retry attempts are not negative.
        error(
            "negative retry attempts",
            http(json!({"retries": {"attempts": -1}})),
            "spec.http[0].retries.attempts",
            "attempts cannot be negative",
        ),
        // perTryTimeout and retryOn need at least one attempt.
        error(
            "retryOn without attempts",
            http(json!({"retries": {"attempts": 0, "retryOn": "5xx"}})),
            "spec.http[0].retries",
            "perTryTimeout and retryOn need attempts of at least 1",
        ),
        // retryOn lists known policies or status codes.
        error(
            "unknown retryOn policy",
            http(json!({"retries": {"attempts": 3, "retryOn": "5xx,sometimes"}})),
            "spec.http[0].retries.retryOn",
            "\"sometimes\" is not a valid retryOn policy",
        ),
        // Fault injection applies to 0 to 100 percent of requests.
        error(
            "fault percentage above 100",
            http(json!({"fault": {"abort": {"httpStatus": 503, "percentage": {"value": 150.0}}}})),
            "spec.http[0].fault.abort.percentage.value",
            "percentage must have a value between 0.0 and 100.0",
        ),
        // A number in retryOn is an HTTP status code.
        error(
            "retryOn number not a status code",
            http(json!({"retries": {"attempts": 3, "retryOn": "503,999"}})),
            "spec.http[0].retries.retryOn",
            "\"999\" is not a valid retryOn policy",
        ),
        // A rewrite sets uri or uriRegexRewrite, not both.
        error(
            "rewrite uri and uriRegexRewrite",
            http(json!({"rewrite": {
                "uri": "/v2",
                "uriRegexRewrite": {"match": "^/v1", "rewrite": "/v2"},
            }})),
            "spec.http[0].rewrite",
            "uri and uriRegexRewrite cannot both be set",
        ),
        // A rewrite sets uri, uriRegexRewrite or authority.
        error(
            "empty rewrite",
            http(json!({"rewrite": {}})),
            "spec.http[0].rewrite",
            "rewrite must specify uri, uriRegexRewrite or authority",
        ),
        // A direct response status is 200..599.
        error(
            "direct response status 100",
            http(json!({"route": null, "directResponse": {"status": 100}})),
            "spec.http[0].directResponse.status",
            "100 is not a valid HTTP status (200-599)",
        ),
        // A direct response body is at most 1MB.
        error(
            "direct response body above 1MB",
            http(json!({"route": null, "directResponse": {
                "status": 200,
                "body": {"string": "x".repeat(1024 * 1024 + 1)},
            }})),
            "spec.http[0].directResponse.body",
            "body must be at most 1MB",
        ),
        // A direct response body above 100KB is warned about.
        warning(
            "direct response body above 100KB",
            http(json!({"route": null, "directResponse": {
                "status": 200,
                "body": {"string": "x".repeat(100 * 1024 + 1)},
            }})),
            "spec.http[0].directResponse.body",
            "body larger than 100KB",
        ),
        // A prefix match is not empty (except on uri).
        error(
            "empty authority prefix",
            http(json!({"match": [{"authority": {"prefix": ""}}]})),
            "spec.http[0].match[0].authority.prefix",
            "prefix match must not be empty",
        ),
        // A regex match is at most 1024 characters.
        error(
            "regex too long",
            http(json!({"match": [{"uri": {"regex": "a".repeat(1025)}}]})),
            "spec.http[0].match[0].uri.regex",
            "regex must be at most 1024 characters",
        ),
    ]
}

fn service_entry_cases() -> Vec<Case> {
    let tcp_port = json!([{"number": 5432, "name": "postgres", "protocol": "TCP"}]);
    vec![
        // A ServiceEntry needs at least one host.
        error(
            "no hosts",
            se(json!({"hosts": null})),
            "spec.hosts",
            "a ServiceEntry needs at least one host",
        ),
        // The host `*` is refused.
        error(
            "wildcard host",
            se(json!({"hosts": ["*"], "resolution": "NONE"})),
            "spec.hosts[0]",
            "^hostname cannot be wildcard",
        ),
        // A partial wildcard (`*` not a whole leftmost label) is warned about.
        warning(
            "partial wildcard host",
            se(json!({"hosts": ["api*.example.com"], "resolution": "NONE"})),
            "spec.hosts[0]",
            "is a partial wildcard",
        ),
        // Hosts are (wildcard) DNS names.
        error(
            "service entry host not a name",
            se(json!({"hosts": ["api..example.com"]})),
            "spec.hosts[0]",
            "not a valid host name",
        ),
        // CIDR addresses only with NONE or STATIC resolution.
        error(
            "CIDR address with DNS resolution",
            se(json!({"addresses": ["10.0.0.0/24"]})),
            "spec.addresses[0]",
            "CIDR addresses are allowed only for NONE/STATIC resolution types",
        ),
        // Addresses are IPs or CIDRs.
        error(
            "address not an IP",
            se(json!({"addresses": ["not-an-ip"]})),
            "spec.addresses[0]",
            "not an IP address or CIDR",
        ),
        // Port names are DNS-1123 labels.
        error(
            "port name not a label",
            se(json!({"ports": [{"number": 443, "name": "TLS_Port", "protocol": "TLS"}]})),
            "spec.ports[0].name",
            "port name must be a DNS-1123 label",
        ),
        // Port names are unique.
        error(
            "duplicate port name",
            se(json!({"ports": [
                {"number": 443, "name": "tls", "protocol": "TLS"},
                {"number": 8443, "name": "tls", "protocol": "TLS"},
            ]})),
            "spec.ports[1].name",
            "Duplicate value: port name \"tls\"",
        ),
        // Port numbers are unique.
        error(
            "duplicate port number",
            se(json!({"ports": [
                {"number": 443, "name": "tls", "protocol": "TLS"},
                {"number": 443, "name": "https", "protocol": "HTTPS"},
            ]})),
            "spec.ports[1].number",
            "port number cannot be duplicated",
        ),
        // Port protocols are ones Istio knows.
        error(
            "unknown protocol",
            se(json!({"ports": [{"number": 21, "name": "ftp", "protocol": "FTP"}]})),
            "spec.ports[0].protocol",
            "unknown protocol",
        ),
        // A TCP (or unset) protocol port without addresses matches every IP (IST0134).
        warning(
            "tcp port without addresses",
            se(json!({"ports": tcp_port})),
            "spec.ports[0].protocol",
            "without addresses matches every IP on that port (IST0134)",
        ),
        // Several hosts with a non-HTTP, non-TLS port need resolution NONE.
        error(
            "several hosts with a tcp port",
            se(json!({
                "hosts": ["db-a.example.com", "db-b.example.com"],
                "addresses": ["192.0.2.10"],
                "ports": tcp_port,
            })),
            "spec.ports",
            "multiple hosts need HTTP or TLS ports unless resolution is NONE",
        ),
        // workloadSelector and endpoints are exclusive.
        error(
            "workloadSelector and endpoints",
            se(json!({
                "resolution": "STATIC",
                "workloadSelector": {"labels": {"app": "partner"}},
                "endpoints": [{"address": "192.0.2.1"}],
            })),
            "spec",
            "^only one of WorkloadSelector or Endpoints can be set",
        ),
        // Resolution NONE sets no endpoints.
        error(
            "NONE with endpoints",
            se(json!({"resolution": "NONE", "endpoints": [{"address": "192.0.2.1"}]})),
            "spec.endpoints",
            "NONE mode cannot set endpoints",
        ),
        // A workloadSelector has no effect with resolution NONE (warning).
        warning(
            "NONE with workloadSelector",
            se(json!({"resolution": "NONE", "workloadSelector": {"labels": {"app": "partner"}}})),
            "spec.workloadSelector",
            "workloadSelector has no effect with resolution NONE",
        ),
        // DNS resolution without endpoints needs fully qualified hosts.
        error(
            "DNS with wildcard host",
            se(json!({"hosts": ["*.example.com"]})),
            "spec.hosts[0]",
            "hosts must be fully qualified (no wildcard) with DNS resolution and no endpoints",
        ),
        // DNS_ROUND_ROBIN has at most one endpoint.
        error(
            "DNS_ROUND_ROBIN with two endpoints",
            se(json!({
                "resolution": "DNS_ROUND_ROBIN",
                "endpoints": [{"address": "a.example.com"}, {"address": "b.example.com"}],
            })),
            "spec.endpoints",
            "DNS_ROUND_ROBIN mode cannot have multiple endpoints",
        ),
        // With DNS resolution an endpoint address is an IP or a host name.
        error(
            "DNS endpoint address not a name",
            se(json!({"endpoints": [{"address": "api_backend.example.com"}]})),
            "spec.endpoints[0].address",
            "must be an IP or a host name with DNS resolution",
        ),
        // DYNAMIC_DNS hosts are wildcards.
        error(
            "DYNAMIC_DNS with a plain host",
            se(json!({"resolution": "DYNAMIC_DNS"})),
            "spec.hosts[0]",
            "DYNAMIC_DNS hosts must be wildcards",
        ),
        // DYNAMIC_DNS sets neither addresses nor endpoints.
        error(
            "DYNAMIC_DNS with addresses",
            se(json!({
                "hosts": ["*.example.com"],
                "resolution": "DYNAMIC_DNS",
                "addresses": ["192.0.2.1"],
            })),
            "spec",
            "DYNAMIC_DNS cannot set addresses or endpoints",
        ),
    ]
}

fn destination_rule_cases() -> Vec<Case> {
    vec![
        // A traffic policy has at least one field.
        error(
            "empty traffic policy",
            dr(json!({"trafficPolicy": {}})),
            "spec.trafficPolicy",
            "traffic policy must have at least one field",
        ),
        // tunnel and proxyProtocol are exclusive.
        error(
            "tunnel and proxyProtocol",
            dr(json!({"trafficPolicy": {
                "tunnel": {"targetHost": "proxy.example.com", "targetPort": 8080},
                "proxyProtocol": {"version": "V1"},
            }})),
            "spec.trafficPolicy",
            "tunnel and proxyProtocol cannot be set together",
        ),
        // Port level settings name a port.
        error(
            "port level settings without port",
            dr(json!({"trafficPolicy": {
                "portLevelSettings": [{"loadBalancer": {"simple": "ROUND_ROBIN"}}],
            }})),
            "spec.trafficPolicy.portLevelSettings[0].port",
            "port level settings need a port",
        ),
        // In SIMPLE/MUTUAL mode, credentialName excludes file-based certificates.
        error(
            "credentialName with caCertificates",
            dr(json!({"trafficPolicy": {"tls": {
                "mode": "SIMPLE",
                "credentialName": "partner-ca",
                "caCertificates": "/etc/certs/ca.pem",
            }}})),
            "spec.trafficPolicy.tls.caCertificates",
            "cannot be set together with credentialName in SIMPLE mode",
        ),
        // MUTUAL without credentialName needs clientCertificate and privateKey.
        error(
            "MUTUAL without client certificate",
            dr(json!({"trafficPolicy": {"tls": {
                "mode": "MUTUAL",
                "caCertificates": "/etc/certs/ca.pem",
            }}})),
            "spec.trafficPolicy.tls",
            "MUTUAL mode without credentialName needs clientCertificate and privateKey",
        ),
        // insecureSkipVerify excludes caCertificates and subjectAltNames.
        error(
            "insecureSkipVerify with caCertificates",
            dr(json!({"trafficPolicy": {"tls": {
                "mode": "SIMPLE",
                "insecureSkipVerify": true,
                "caCertificates": "/etc/certs/ca.pem",
            }}})),
            "spec.trafficPolicy.tls",
            "insecureSkipVerify cannot be set with caCertificates or subjectAltNames",
        ),
        // The host is a (wildcard) DNS name.
        error(
            "destination rule host not a name",
            dr(json!({"host": "reviews..svc"})),
            "spec.host",
            "not a valid host name",
        ),
        // Subset names are DNS-1123 labels.
        error(
            "subset name not a label",
            dr(json!({"subsets": [{"name": "V1", "labels": {"version": "v1"}}]})),
            "spec.subsets[0].name",
            "subset name must be a DNS-1123 label",
        ),
        // Subset names are unique.
        error(
            "duplicate subset name",
            dr(json!({"subsets": [
                {"name": "v1", "labels": {"version": "v1"}},
                {"name": "v1", "labels": {"version": "v2"}},
            ]})),
            "spec.subsets[1].name",
            "duplicate subset name \"v1\"",
        ),
        // Subset labels are valid Kubernetes labels.
        error(
            "subset label value with a space",
            dr(json!({"subsets": [{"name": "v1", "labels": {"version": "v1 beta"}}]})),
            "spec.subsets[0].labels.version",
            "not a valid Kubernetes label",
        ),
        // With a workloadSelector, exportTo is only the own namespace.
        error(
            "workloadSelector exported elsewhere",
            dr(json!({
                "workloadSelector": {"matchLabels": {"app": "productpage"}},
                "exportTo": ["other"],
            })),
            "spec.exportTo",
            "a DestinationRule with a workloadSelector may only be exported to its own namespace",
        ),
    ]
}

fn sidecar_cases() -> Vec<Case> {
    let http_port = |number: u32| json!({"number": number, "protocol": "HTTP", "name": "http"});
    vec![
        // A Sidecar configures something.
        error(
            "empty sidecar",
            sidecar(json!({"egress": null})),
            "spec",
            "sidecar: empty configuration provided",
        ),
        // The workload selector has no wildcards.
        error(
            "wildcard in selector",
            sidecar(json!({"workloadSelector": {"labels": {"app": "reviews-*"}}})),
            "spec.workloadSelector.labels.app",
            "sidecar: wildcard is not supported in selector",
        ),
        // The egress listener without a port is the last one.
        error(
            "portless egress listener first",
            sidecar(json!({"egress": [
                {"hosts": ["./*"]},
                {"port": http_port(8080), "hosts": ["./*"]},
            ]})),
            "spec.egress[0]",
            "the egress listener without a port must be the last one",
        ),
        // A unix:// bind takes port 0.
        error(
            "unix bind with a port",
            sidecar(
                json!({"egress": [{"port": http_port(8080), "bind": "unix:///var/run/app.sock", "hosts": ["./*"]}]}),
            ),
            "spec.egress[0].port.number",
            "port number must be 0 for a unix domain socket bind",
        ),
        // Egress port 0 needs a unix:// bind.
        error(
            "egress port zero without unix bind",
            sidecar(json!({"egress": [{"port": http_port(0), "hosts": ["./*"]}]})),
            "spec.egress[0].port.number",
            "port 0 needs a unix:// bind",
        ),
        // Egress listener ports are unique.
        error(
            "duplicate egress port",
            sidecar(json!({"egress": [
                {"port": http_port(8080), "hosts": ["./*"]},
                {"port": http_port(8080), "hosts": ["istio-system/*"]},
            ]})),
            "spec.egress[1].port.number",
            "egress listener ports must be unique",
        ),
        // A bind is an IP address or unix://.
        error(
            "egress bind not an IP",
            sidecar(json!({"egress": [
                {"port": http_port(8080), "bind": "localhost", "hosts": ["./*"]},
            ]})),
            "spec.egress[0].bind",
            "bind must be an IP address or unix://",
        ),
        // An egress listener has at least one host.
        error(
            "egress listener without hosts",
            sidecar(json!({"egress": [{"hosts": []}]})),
            "spec.egress[0].hosts",
            "egress listener needs at least one host",
        ),
        // Egress hosts are namespace/dnsName.
        error(
            "egress host without namespace",
            sidecar(json!({"egress": [{"hosts": [REVIEWS]}]})),
            "spec.egress[0].hosts[0]",
            "expected namespace/dnsName",
        ),
        // A duplicate egress host is warned about.
        warning(
            "duplicate egress host",
            sidecar(json!({"egress": [{"hosts": ["./*", "./*"]}]})),
            "spec.egress[0].hosts[1]",
            "duplicate egress host \"./*\"",
        ),
        // `*/*` next to other hosts is warned about.
        warning(
            "star-slash-star with other hosts",
            sidecar(json!({"egress": [{"hosts": ["*/*", "istio-system/*"]}]})),
            "spec.egress[0].hosts",
            "*/* already covers the other hosts",
        ),
        // At most one egress listener omits the port. (The first of two portless listeners is
        // also not the last one, a second finding.)
        error(
            "two portless egress listeners",
            sidecar(json!({"egress": [{"hosts": ["./*"]}, {"hosts": ["istio-system/*"]}]})),
            "spec.egress",
            "at most one egress listener may omit the port",
        ),
        // An ingress listener has a port.
        error(
            "ingress listener without port",
            sidecar(json!({"ingress": [{"defaultEndpoint": "127.0.0.1:8080"}]})),
            "spec.ingress[0].port",
            "ingress listener needs a port",
        ),
        // An ingress defaultEndpoint is a loopback/any address with a port, or unix://.
        error(
            "ingress defaultEndpoint on a pod IP",
            sidecar(json!({"ingress": [
                {"port": http_port(9080), "defaultEndpoint": "10.0.0.1:8080"},
            ]})),
            "spec.ingress[0].defaultEndpoint",
            "defaultEndpoint must be 127.0.0.1:PORT",
        ),
        // ALLOW_ANY_DYNAMIC_DNS is a mesh-wide mode, not allowed in a Sidecar.
        error(
            "ALLOW_ANY_DYNAMIC_DNS",
            sidecar(json!({"outboundTrafficPolicy": {"mode": "ALLOW_ANY_DYNAMIC_DNS"}})),
            "spec.outboundTrafficPolicy.mode",
            "ALLOW_ANY_DYNAMIC_DNS is not allowed in a Sidecar",
        ),
        // An egressProxy needs mode ALLOW_ANY.
        error(
            "egressProxy with REGISTRY_ONLY",
            sidecar(json!({"outboundTrafficPolicy": {
                "mode": "REGISTRY_ONLY",
                "egressProxy": {"host": "proxy.example.com", "port": {"number": 3128}},
            }})),
            "spec.outboundTrafficPolicy.egressProxy",
            "egressProxy needs mode ALLOW_ANY",
        ),
    ]
}

fn gateway_cases() -> Vec<Case> {
    vec![
        // A Gateway has at least one server.
        error(
            "no servers",
            gateway(json!({"servers": []})),
            "spec.servers",
            "gateway must have at least one server",
        ),
        // A server has at least one host.
        error(
            "server without hosts",
            server(json!({"hosts": []})),
            "spec.servers[0].hosts",
            "server must have at least one host",
        ),
        // A `namespace/host` server host has a namespace of *, . or a name.
        error(
            "server host namespace not a name",
            server(json!({"hosts": ["Shop_NS/shop.example.com"]})),
            "spec.servers[0].hosts[0]",
            "namespace must be *, . or a name",
        ),
        // A server host is a (wildcard) DNS name or IP.
        error(
            "server host not a name",
            server(json!({"hosts": ["shop..example.com"]})),
            "spec.servers[0].hosts[0]",
            "not a valid host",
        ),
        // A server host is a fully qualified name (`*` and IPs aside), with or without namespace.
        error(
            "server host short name",
            server(json!({"hosts": ["shop/shop"]})),
            "spec.servers[0].hosts[0]",
            "short names (non FQDN) are not allowed",
        ),
        // HTTPS and TLS servers carry TLS settings.
        error(
            "HTTPS server without tls",
            server(json!({"port": {"number": 443, "name": "https", "protocol": "HTTPS"}})),
            "spec.servers[0].tls",
            "server config must contain TLS settings for HTTPS",
        ),
        // TLS settings only on HTTPS/TLS servers (HTTP may carry httpsRedirect alone).
        error(
            "tls settings on an HTTP server",
            server(json!({"tls": {"mode": "SIMPLE", "credentialName": "shop-cert"}})),
            "spec.servers[0].tls",
            "tls settings are only allowed on HTTPS or TLS servers",
        ),
        // Server port names are unique.
        error(
            "duplicate server port name",
            gateway(json!({"servers": [
                base_server(),
                merged(base_server(), json!({"port": {"number": 8080}})),
            ]})),
            "spec.servers[1].port.name",
            "port names in servers must be unique: duplicate name \"http\"",
        ),
    ]
}

/// Valid objects beyond the bases, touching the edges the rules must accept.
fn valid_objects() -> Vec<Value> {
    vec![
        vs(json!({
            "gateways": ["mesh", "shop/public"],
            "exportTo": ["."],
            "http": [
                {
                    "match": [{"uri": {"prefix": ""}, "port": 80}],
                    "route": [
                        {"destination": {"host": REVIEWS, "subset": "v1"}, "weight": 90},
                        {"destination": {"host": REVIEWS, "subset": "v2"}, "weight": 10},
                    ],
                    "timeout": "2.5s",
                    "retries": {
                        "attempts": 3,
                        "perTryTimeout": "500ms",
                        "retryOn": "5xx,connect-failure,503",
                    },
                    "rewrite": {"uri": "/"},
                },
                {
                    "match": [{"uri": {"exact": "/old"}}],
                    "redirect": {"uri": "/new", "redirectCode": 301},
                },
                {"directResponse": {"status": 404, "body": {"string": "not here"}}},
            ],
        })),
        vs(json!({
            "hosts": ["*.example.com"],
            "gateways": ["shop/public"],
            "http": null,
            "tls": [{
                "match": [{"sniHosts": ["api.example.com"], "port": 443}],
                "route": [{"destination": {"host": "api.example.com", "port": {"number": 443}}}],
            }],
        })),
        delegate(json!({})),
        se(json!({
            "exportTo": ["~"],
            "endpoints": [{"address": "api.example.com"}],
        })),
        se(json!({
            "hosts": ["db.example.com"],
            "addresses": ["192.0.2.0/24"],
            "ports": [{"number": 5432, "name": "postgres", "protocol": "TCP"}],
            "resolution": "STATIC",
            "endpoints": [{"address": "192.0.2.10"}],
        })),
        dr(json!({
            "exportTo": ["."],
            "trafficPolicy": {
                "tls": {"mode": "SIMPLE", "credentialName": "partner-ca"},
                "portLevelSettings": [
                    {"port": {"number": 443}, "loadBalancer": {"simple": "ROUND_ROBIN"}},
                ],
            },
            "subsets": [
                {"name": "v1", "labels": {"version": "v1"}},
                {
                    "name": "v2",
                    "labels": {"version": "v2"},
                    "trafficPolicy": {"tls": {
                        "mode": "MUTUAL",
                        "clientCertificate": "/etc/certs/cert.pem",
                        "privateKey": "/etc/certs/key.pem",
                    }},
                },
            ],
        })),
        sidecar(json!({
            "workloadSelector": {"labels": {"app": "reviews"}},
            "egress": [
                {
                    "port": {"number": 8080, "protocol": "HTTP", "name": "http"},
                    "bind": "127.0.0.1",
                    "hosts": ["*/api.example.com"],
                },
                {"hosts": ["./*", "~other/*", "istio-system/*.cluster.local"]},
            ],
            "ingress": [{
                "port": {"number": 9080, "protocol": "HTTP", "name": "http"},
                "defaultEndpoint": "127.0.0.1:8080",
            }],
            "outboundTrafficPolicy": {
                "mode": "ALLOW_ANY",
                "egressProxy": {"host": "proxy.example.com", "port": {"number": 3128}},
            },
        })),
        gateway(json!({"servers": [
            merged(base_server(), json!({
                "hosts": ["shop/shop.example.com"],
                "tls": {"httpsRedirect": true},
            })),
            {
                "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                "hosts": ["*/*.example.com"],
                "tls": {"mode": "SIMPLE", "credentialName": "shop-cert"},
            },
        ]})),
    ]
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

fn describe(object: &Value, version: SchemaVersion) -> String {
    let findings: Vec<String> = validate_object(version, object)
        .iter()
        .map(|f| format!("{:?} {f}", f.severity))
        .collect();
    if findings.is_empty() {
        "no findings".to_owned()
    } else {
        findings.join("; ")
    }
}

#[test]
fn every_rule_refuses_its_case() {
    let cases = cases();
    let mut failures = Vec::new();
    for version in VERSIONS {
        for case in &cases {
            let found = validate_object(version, &case.object)
                .iter()
                .any(|f| case.expects(f));
            if !found {
                failures.push(format!(
                    "[{version}] {}: expected {:?} at {} containing {:?}; got: {}",
                    case.name,
                    case.severity,
                    case.field,
                    case.message,
                    describe(&case.object, version)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} case runs failed:\n{}",
        failures.len(),
        cases.len() * VERSIONS.len(),
        failures.join("\n")
    );
}

#[test]
fn valid_objects_have_no_findings() {
    let objects: Vec<Value> = KINDS
        .iter()
        .map(|kind| base(kind))
        .chain(valid_objects())
        .collect();
    let mut failures = Vec::new();
    for version in VERSIONS {
        for object in &objects {
            if !validate_object(version, object).is_empty() {
                failures.push(format!(
                    "[{version}] {} {}: {}",
                    object["kind"],
                    object["metadata"]["name"],
                    describe(object, version)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "valid objects have findings:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_rule_call_has_a_case() {
    let calls = WEBHOOK_SOURCE.matches("out.error(").count()
        + WEBHOOK_SOURCE.matches("out.warning(").count();
    assert_eq!(
        calls, RULE_CALLS,
        "webhook.rs has {calls} rule calls, this file expects {RULE_CALLS}: add (or remove) \
         the cases for the changed rules and update RULE_CALLS"
    );
    let cases = cases().len();
    assert!(
        cases + NOT_TRIGGERABLE.len() >= calls,
        "{cases} cases and {} documented untriggerable rules for {calls} rule calls",
        NOT_TRIGGERABLE.len()
    );
}

#[test]
fn cases_are_distinct() {
    let cases = cases();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        for earlier in &cases[..i] {
            if earlier.name == case.name {
                failures.push(format!("duplicate case name {:?}", case.name));
            }
            if (earlier.severity, earlier.field, earlier.message)
                == (case.severity, case.field, case.message)
            {
                failures.push(format!(
                    "{:?} expects the same finding as {:?}",
                    case.name, earlier.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every case is its kind's base object with a small change: same apiVersion and kind, same
/// metadata unless the rule is about metadata, and at most three spec fields changed.
#[test]
fn cases_differ_minimally_from_their_base() {
    let mut failures = Vec::new();
    for case in cases() {
        let kind = case.object["kind"].as_str().unwrap_or("");
        if !KINDS.contains(&kind) {
            failures.push(format!("{}: unknown kind {kind:?}", case.name));
            continue;
        }
        let base = base(kind);
        if case.object == base {
            failures.push(format!("{}: identical to the valid base", case.name));
        }
        if case.object["apiVersion"] != base["apiVersion"] {
            failures.push(format!("{}: apiVersion changed", case.name));
        }
        if !case.field.starts_with("metadata") && case.object["metadata"] != base["metadata"] {
            failures.push(format!("{}: metadata changed", case.name));
        }
        let empty = Map::new();
        let spec = case.object["spec"].as_object().unwrap_or(&empty);
        let base_spec = base["spec"].as_object().unwrap_or(&empty);
        let changed = spec
            .keys()
            .chain(base_spec.keys())
            .filter(|k| spec.get(*k) != base_spec.get(*k))
            .collect::<std::collections::BTreeSet<_>>();
        if changed.len() > 3 {
            failures.push(format!("{}: changes spec fields {changed:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
