//! Rendering: the Istio objects that deliver a set of granted routes and egress grants.
//!
//! Objects are typed structs serialized in declaration order, so output does not depend on map
//! ordering features of serde_json or on hash seeds: the same state always renders the same
//! bytes. What is generated (names in `backticks`):
//! - per (environment, shared host): the root VirtualService `<host-with-dashes>-root` in the
//!   environment's root namespace, bound to the ingress gateway, one rule per lease in routing
//!   order (most specific first, see [`crate::leases`]) delegating to the owning namespace, and a
//!   single `default-404` catch-all last; the environment's platform routes (reserved prefixes
//!   served by platform Services) come first;
//! - per (environment, shared host, team namespace): the delegate VirtualService
//!   `<host-with-dashes>` with no hosts and no gateways, exported to the root namespace only;
//!   a `prefix /p` lease matches `exact /p` and `prefix /p/` (Istio's prefix is a plain string
//!   prefix, this keeps `/ordersx` out), and a rewrite is applied per match so `/p/x` becomes
//!   `/rewrite/x`;
//! - per (environment, namespace, external host): a ServiceEntry named after the host
//!   (`wc--any.<domain>` for `*.<domain>`; `wc--` labels can never be real hosts) with
//!   `exportTo: ["."]`,
//!   `MESH_EXTERNAL`, `resolution: DNS` (`NONE` for wildcards, and for plain TCP, which is
//!   matched on its granted `addresses`), every granted port;
//! - per team namespace, granted or not: the baseline Sidecar `default` keeping the namespace,
//!   the control plane and in-cluster services reachable, `REGISTRY_ONLY` where the environment
//!   asks for it (else `ALLOW_ANY`);
//! - egress through the gateway: the ServiceEntry is also exported to the gateway namespace, a
//!   VirtualService per host routes SNI traffic from the sidecars to the gateway and from the
//!   gateway out, a DestinationRule `egress-gateway` per namespace defines the subset, and one
//!   Gateway per environment (the configured name) lists every `namespace/host` per port.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::catalog::{EgressGateway, Environment, Membership, Team};
use crate::catalog::{JwtIssuer, JwtKeys, MtlsMode};
use crate::names::ServiceName;
use crate::names::{Cidr, DnsLabel, EgressHost, Fqdn, Port, Protocol};
use crate::request::traffic_split::Backend;
use crate::request::{
    ApiRoute, Authorization, CircuitBreaker, JwtAuthentication, MutualTls, PathMatch, Tracing,
    TrafficSplit,
};

/// Label put on every generated object so inventories can tell Signalbox's objects apart.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "signalbox");

/// Kubernetes object metadata, as much as Signalbox sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// Object name.
    pub name: String,
    /// Object namespace (empty for a Namespace, which has none).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Labels (always the managed-by label).
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One generated Istio object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioObject {
    /// `networking.istio.io/v1` or `/v1beta1`.
    pub api_version: &'static str,
    /// The kind.
    pub kind: &'static str,
    /// Name, namespace, labels.
    pub metadata: Metadata,
    /// The kind's spec.
    #[serde(skip_serializing_if = "Spec::is_empty")]
    pub spec: Spec,
}

impl IstioObject {
    /// The namespace the object's file is kept under: its own, or for a Namespace its name.
    pub fn folder_namespace(&self) -> &str {
        if self.metadata.namespace.is_empty() {
            &self.metadata.name
        } else {
            &self.metadata.namespace
        }
    }
}

/// The spec of a generated object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Spec {
    /// VirtualService spec.
    VirtualService(VirtualServiceSpec),
    /// ServiceEntry spec.
    ServiceEntry(ServiceEntrySpec),
    /// Sidecar spec.
    Sidecar(SidecarSpec),
    /// Gateway spec.
    Gateway(GatewaySpec),
    /// DestinationRule spec.
    DestinationRule(DestinationRuleSpec),
    /// PeerAuthentication spec.
    PeerAuthentication(PeerAuthenticationSpec),
    /// ServiceMeshMember spec (OpenShift Service Mesh 2.x).
    ServiceMeshMember(ServiceMeshMemberSpec),
    /// NetworkPolicy spec.
    NetworkPolicy(NetworkPolicySpec),
    /// AuthorizationPolicy spec.
    AuthorizationPolicy(AuthorizationPolicySpec),
    /// RequestAuthentication spec.
    RequestAuthentication(RequestAuthenticationSpec),
    /// OpenTelemetry Instrumentation spec.
    Instrumentation(InstrumentationSpec),
    /// No spec (a Namespace, which Signalbox only labels).
    Empty,
}

impl Spec {
    fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }
}

/// PeerAuthentication spec: namespace-wide mTLS, or one workload's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerAuthenticationSpec {
    /// The workload (absent: the whole namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// The mode.
    pub mtls: MtlsSetting,
    /// Ports of the workload with a mode of their own, by port number.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub port_level_mtls: BTreeMap<String, MtlsSetting>,
}

/// AuthorizationPolicy spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizationPolicySpec {
    /// The workload.
    pub selector: WorkloadSelector,
    /// `ALLOW` or `DENY`.
    pub action: &'static str,
    /// Rules (none: an ALLOW denies every call).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<AuthorizationRule>,
}

/// One authorization rule: any of `from`, and any of `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizationRule {
    /// Sources (any of them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<RuleFrom>,
    /// Operations (any of them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<RuleTo>,
}

/// `from[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleFrom {
    /// The source.
    pub source: RuleSource,
}

/// A source: every field set must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RuleSource {
    /// mTLS identities.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Namespaces of the callers' mTLS identities.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Request principals that do not match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_request_principals: Vec<String>,
}

/// `to[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleTo {
    /// The operation.
    pub operation: RuleOperation,
}

/// An operation: every field set must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleOperation {
    /// HTTP methods.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Paths (`/p` exact, `/p/*` below).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
}

/// RequestAuthentication spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestAuthenticationSpec {
    /// The workload.
    pub selector: WorkloadSelector,
    /// The accepted issuers.
    pub jwt_rules: Vec<JwtRule>,
}

/// One accepted issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtRule {
    /// `iss`.
    pub issuer: String,
    /// Where its keys are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Its keys, inline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    /// Accepted audiences.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
}

/// OpenTelemetry Instrumentation spec, the parts Signalbox sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstrumentationSpec {
    /// Where spans go.
    pub exporter: InstrumentationExporter,
    /// Trace context formats read and written: W3C (`tracecontext`, `baggage`) and B3, which the
    /// sidecars propagate.
    pub propagators: Vec<&'static str>,
    /// Which traces are kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler: Option<InstrumentationSampler>,
    /// Environment of the instrumented containers (the OTLP protocol).
    pub env: Vec<EnvVar>,
}

/// `exporter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstrumentationExporter {
    /// The collector's OTLP endpoint.
    pub endpoint: String,
}

/// `sampler`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstrumentationSampler {
    /// The sampler.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its argument (a ratio).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argument: Option<String>,
}

/// A container environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvVar {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// The pods a policy applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSelector {
    /// Labels the pods carry.
    pub match_labels: BTreeMap<String, String>,
}

impl WorkloadSelector {
    /// The pods labelled `app: <workload>`.
    pub fn app(workload: &DnsLabel) -> Self {
        Self {
            match_labels: BTreeMap::from([("app".to_owned(), workload.to_string())]),
        }
    }
}

/// `mtls.mode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MtlsSetting {
    /// `STRICT` or `PERMISSIVE`.
    pub mode: &'static str,
}

/// ServiceMeshMember spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMeshMemberSpec {
    /// The control plane joined.
    pub control_plane_ref: ControlPlaneRef,
}

/// `controlPlaneRef`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlPlaneRef {
    /// ServiceMeshControlPlane name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
}

/// NetworkPolicy spec, egress only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Every pod of the namespace (`{}`).
    pub pod_selector: LabelSelector,
    /// `[Egress]`.
    pub policy_types: Vec<&'static str>,
    /// What the pods may reach.
    pub egress: Vec<NetworkPolicyEgressRule>,
}

/// A label selector; empty selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels to match.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

/// One egress rule of a NetworkPolicy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkPolicyEgressRule {
    /// Peers (any of).
    pub to: Vec<NetworkPolicyPeer>,
    /// Ports (any of; none means every port).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<NetworkPolicyPort>,
}

/// A NetworkPolicy peer: pods selected by namespace and optionally by labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyPeer {
    /// Namespaces.
    pub namespace_selector: LabelSelector,
    /// Pods in them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
}

/// A NetworkPolicy port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkPolicyPort {
    /// `UDP` or `TCP`.
    pub protocol: &'static str,
    /// The port.
    pub port: u16,
}

/// VirtualService spec, the fields Signalbox uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceSpec {
    /// Hosts (empty for a delegate).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Gateways (empty for a delegate).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Namespaces that see the object.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    /// HTTP rules.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpRoute>,
    /// TLS (SNI) rules.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<TlsRoute>,
}

/// One HTTP rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    /// Rule name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Matches (any of).
    #[serde(rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HttpMatch>,
    /// Path rewrite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<Rewrite>,
    /// Delegation to a team's VirtualService.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegate: Option<Delegate>,
    /// Destinations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<RouteDestination>,
    /// Request timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Retry policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<HttpRetry>,
    /// Fixed response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_response: Option<DirectResponse>,
}

/// One HTTP match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpMatch {
    /// URI match.
    pub uri: StringMatch,
}

/// An exact or prefix string match (a struct, not an enum, so YAML shows `exact: /p` rather than
/// a `!exact` tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StringMatch {
    /// Exact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// Prefix (plain string prefix in Envoy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

impl StringMatch {
    /// Matches exactly `path`.
    pub fn exact(path: impl Into<String>) -> Self {
        Self {
            exact: Some(path.into()),
            prefix: None,
        }
    }

    /// Matches every string starting with `prefix`.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self {
            exact: None,
            prefix: Some(prefix.into()),
        }
    }
}

/// URI rewrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rewrite {
    /// Replacement of the matched path or prefix.
    pub uri: String,
}

/// Delegate reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delegate {
    /// Delegate VirtualService name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
}

/// A weighted destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteDestination {
    /// Where to.
    pub destination: Destination,
    /// Share of the traffic, in percent (only with several destinations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u8>,
}

/// A destination host, subset and port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    /// Service host.
    pub host: String,
    /// Subset of a DestinationRule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    /// Port.
    pub port: PortSelector,
}

/// Port selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortSelector {
    /// Port number.
    pub number: u16,
}

/// Retry policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRetry {
    /// Attempts.
    pub attempts: u32,
    /// Per-try timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<String>,
    /// Retry conditions, comma-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<String>,
}

/// Fixed response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirectResponse {
    /// HTTP status.
    pub status: u16,
}

/// One TLS (SNI) rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsRoute {
    /// Matches.
    #[serde(rename = "match")]
    pub matches: Vec<TlsMatch>,
    /// Destinations.
    pub route: Vec<RouteDestination>,
}

/// One TLS match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsMatch {
    /// Gateways the match applies to.
    pub gateways: Vec<String>,
    /// Port.
    pub port: u16,
    /// SNI names.
    pub sni_hosts: Vec<String>,
}

/// ServiceEntry spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntrySpec {
    /// Hosts.
    pub hosts: Vec<String>,
    /// Addresses (CIDR) plain TCP is matched on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Namespaces that see the entry.
    pub export_to: Vec<String>,
    /// `MESH_EXTERNAL`.
    pub location: &'static str,
    /// Ports.
    pub ports: Vec<ServicePort>,
    /// `DNS` or `NONE`.
    pub resolution: &'static str,
}

/// A ServiceEntry port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServicePort {
    /// Number.
    pub number: u16,
    /// Name, `<protocol>-<number>`.
    pub name: String,
    /// Protocol.
    pub protocol: &'static str,
}

/// Sidecar spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SidecarSpec {
    /// Egress listeners (one, portless).
    pub egress: Vec<SidecarEgress>,
    /// Outbound policy.
    pub outbound_traffic_policy: OutboundTrafficPolicy,
}

/// A Sidecar egress listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SidecarEgress {
    /// `namespace/host` entries.
    pub hosts: Vec<String>,
}

/// Outbound traffic policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboundTrafficPolicy {
    /// `REGISTRY_ONLY`.
    pub mode: &'static str,
}

/// Gateway spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewaySpec {
    /// Pod selector.
    pub selector: BTreeMap<String, String>,
    /// Servers.
    pub servers: Vec<GatewayServer>,
}

/// A Gateway server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayServer {
    /// Port.
    pub port: ServicePort,
    /// `namespace/host` entries.
    pub hosts: Vec<String>,
    /// TLS mode.
    pub tls: ServerTls,
}

/// Gateway server TLS settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerTls {
    /// `PASSTHROUGH`.
    pub mode: &'static str,
}

/// DestinationRule spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRuleSpec {
    /// Host.
    pub host: String,
    /// Namespaces that see the rule.
    pub export_to: Vec<String>,
    /// Connection limits and outlier detection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
    /// Subsets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<Subset>,
}

/// A DestinationRule's traffic policy, the parts Signalbox sets (never `tls`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficPolicy {
    /// Connection pool limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// Outlier detection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetectionSettings>,
}

/// `connectionPool`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionPoolSettings {
    /// TCP limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpSettings>,
    /// HTTP limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSettings>,
}

/// `connectionPool.tcp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpSettings {
    /// Most connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// Connect timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<String>,
}

/// `connectionPool.http`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpSettings {
    /// Most pending requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http1_max_pending_requests: Option<u32>,
    /// Most concurrent requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http2_max_requests: Option<u32>,
    /// Most requests per connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests_per_connection: Option<u32>,
    /// Most concurrent retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Idle timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<String>,
}

/// `outlierDetection`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutlierDetectionSettings {
    /// 5xx in a row.
    #[serde(
        rename = "consecutive5xxErrors",
        skip_serializing_if = "Option::is_none"
    )]
    pub consecutive_5xx_errors: Option<u32>,
    /// Gateway errors in a row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_gateway_errors: Option<u32>,
    /// Check interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Base ejection time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_ejection_time: Option<String>,
    /// Most endpoints ejected, percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ejection_percent: Option<u32>,
    /// Least healthy share for ejection, percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_health_percent: Option<u32>,
}

impl TrafficPolicy {
    /// The traffic policy of a circuit breaker request.
    pub fn of(breaker: &CircuitBreaker) -> Self {
        let d = |v: Option<crate::names::Duration>| v.map(|d| d.to_istio());
        Self {
            connection_pool: breaker.connection_pool().map(|p| ConnectionPoolSettings {
                tcp: p.tcp.map(|t| TcpSettings {
                    max_connections: t.max_connections,
                    connect_timeout: d(t.connect_timeout),
                }),
                http: p.http.map(|h| HttpSettings {
                    http1_max_pending_requests: h.http1_max_pending_requests,
                    http2_max_requests: h.http2_max_requests,
                    max_requests_per_connection: h.max_requests_per_connection,
                    max_retries: h.max_retries,
                    idle_timeout: d(h.idle_timeout),
                }),
            }),
            outlier_detection: breaker
                .outlier_detection()
                .map(|o| OutlierDetectionSettings {
                    consecutive_5xx_errors: o.consecutive_5xx_errors,
                    consecutive_gateway_errors: o.consecutive_gateway_errors,
                    interval: d(o.interval),
                    base_ejection_time: d(o.base_ejection_time),
                    max_ejection_percent: o.max_ejection_percent,
                    min_health_percent: o.min_health_percent,
                }),
        }
    }
}

/// A DestinationRule subset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subset {
    /// Name.
    pub name: String,
    /// The pods' labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The ports granted for one external host in one namespace, and how it is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostGrant {
    /// Granted ports with their protocol.
    pub ports: BTreeMap<Port, Protocol>,
    /// The addresses plain TCP is matched on.
    pub addresses: BTreeSet<Cidr>,
    /// Whether traffic goes through the egress gateway.
    pub via_gateway: bool,
}

/// Name of the subset the egress-gateway DestinationRule defines.
pub const EGRESS_SUBSET: &str = "egress";
/// Name of the per-namespace egress-gateway DestinationRule.
pub const EGRESS_DESTINATION_RULE: &str = "egress-gateway";
/// Name of the generated per-namespace Sidecar.
pub const SIDECAR_NAME: &str = "default";

fn metadata(name: impl Into<String>, namespace: &str) -> Metadata {
    Metadata {
        name: name.into(),
        namespace: namespace.to_owned(),
        labels: BTreeMap::from([(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned())]),
        annotations: BTreeMap::new(),
    }
}

fn object(env: &Environment, kind: &'static str, metadata: Metadata, spec: Spec) -> IstioObject {
    IstioObject {
        api_version: env.api_version().as_str(),
        kind,
        metadata,
        spec,
    }
}

/// The name stem for objects about a shared host: dots become dashes (`api-prod-example-com`).
pub fn host_stem(host: &Fqdn) -> String {
    host.as_str().replace('.', "-")
}

/// Name of the root VirtualService of a shared host.
pub fn root_name(host: &Fqdn) -> String {
    format!("{}-root", host_stem(host))
}

/// Name of the ServiceEntry (and egress VirtualService) of an external host.
pub fn egress_name(host: &EgressHost) -> String {
    match host {
        EgressHost::Exact(h) => h.to_string(),
        EgressHost::Wildcard(w) => format!("wc--any.{}", w.suffix()),
    }
}

fn port_name(protocol: Protocol, port: Port) -> String {
    format!("{}-{}", protocol.as_str().to_ascii_lowercase(), port)
}

/// The stable name of a lease's HTTP route, the same in the root and in the delegate: the path as
/// a slug, `-exact` for exact matches, and a short hash of the path so that `/a/b` and `/a-b`
/// never share a name. Envoy statistics and Argo Rollouts' `trafficRouting.istio` refer to it.
pub fn route_name(route: &ApiRoute) -> String {
    let kind = match route.path_match() {
        PathMatch::Exact => "-exact",
        PathMatch::Prefix => "",
    };
    let path = route.path().as_str();
    format!(
        "{}{kind}-{:06x}",
        path_slug(path),
        path_hash(route.path_match().as_str(), path)
    )
}

/// The stable name of a platform route: `platform-`, the prefix as a slug, and its hash.
pub fn platform_route_name(prefix: &str) -> String {
    format!(
        "platform-{}-{:06x}",
        path_slug(prefix),
        path_hash("platform", prefix)
    )
}

/// A path as a lowercase slug of at most 40 characters (`root` for `/`).
fn path_slug(path: &str) -> String {
    let mut slug = String::new();
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { "root" } else { slug };
    let slug: String = slug.chars().take(40).collect();
    slug.trim_end_matches('-').to_owned()
}

/// FNV-1a over a kind and a path, 24 bits: stable across releases and platforms.
fn path_hash(kind: &str, path: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in kind.bytes().chain(path.bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash & 0x00ff_ffff
}

/// The matches of a prefix: `exact /p` and `prefix /p/` (Istio's prefix is a plain string
/// prefix, so `prefix /p` would also take `/px`), or only `prefix /p/` when it ends with `/`.
fn prefix_matches(prefix: &str) -> Vec<HttpMatch> {
    if prefix.ends_with('/') {
        return vec![HttpMatch {
            uri: StringMatch::prefix(prefix.to_owned()),
        }];
    }
    vec![
        HttpMatch {
            uri: StringMatch::exact(prefix.to_owned()),
        },
        HttpMatch {
            uri: StringMatch::prefix(format!("{prefix}/")),
        },
    ]
}

/// The matches other leases of a host already take: `exact /p` of an exact lease, `prefix /p/` of
/// a prefix lease written with its slash. A prefix lease of `/p` leaves each out, since the more
/// specific lease before it takes every such request (IST0131 otherwise).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldMatches {
    exact: BTreeSet<String>,
    prefix: BTreeSet<String>,
}

/// The [`HeldMatches`] of a host's leases.
pub fn held_matches<'a>(routes: impl IntoIterator<Item = &'a ApiRoute>) -> HeldMatches {
    let mut held = HeldMatches::default();
    for route in routes {
        let path = route.path().as_str().to_owned();
        match route.path_match() {
            PathMatch::Exact => {
                held.exact.insert(path);
            }
            PathMatch::Prefix if route.path().has_trailing_slash() => {
                held.prefix.insert(path);
            }
            PathMatch::Prefix => {}
        }
    }
    held
}

fn uri_matches(route: &ApiRoute, held: &HeldMatches) -> Vec<(StringMatch, Option<String>)> {
    let path = route.path().as_str();
    let rewrite = route.rewrite().map(|r| r.as_str().to_owned());
    match route.path_match() {
        PathMatch::Exact => vec![(StringMatch::exact(path.to_owned()), rewrite)],
        PathMatch::Prefix if route.path().has_trailing_slash() => {
            vec![(StringMatch::prefix(path.to_owned()), rewrite)]
        }
        PathMatch::Prefix => {
            let below = rewrite.as_ref().map(|r| {
                if r.ends_with('/') {
                    r.clone()
                } else {
                    format!("{r}/")
                }
            });
            let mut matches = Vec::with_capacity(2);
            if !held.exact.contains(path) {
                matches.push((StringMatch::exact(path.to_owned()), rewrite));
            }
            let below_path = format!("{path}/");
            if !held.prefix.contains(&below_path) {
                matches.push((StringMatch::prefix(below_path), below));
            }
            matches
        }
    }
}

/// The root VirtualService of a shared host, from its leases in routing order.
pub fn root_virtual_service(env: &Environment, host: &Fqdn, routes: &[&ApiRoute]) -> IstioObject {
    let held = held_matches(routes.iter().copied());
    // The platform's own prefixes first: they are reserved, so no lease overlaps them.
    let platform = env.platform_routes.iter().map(|platform| HttpRoute {
        name: Some(platform_route_name(platform.prefix.as_str())),
        matches: prefix_matches(platform.prefix.as_str()),
        route: vec![RouteDestination {
            destination: Destination {
                host: platform.service.to_string(),
                subset: None,
                port: PortSelector {
                    number: platform.port.get(),
                },
            },
            weight: None,
        }],
        ..HttpRoute::default()
    });
    let mut http: Vec<HttpRoute> = platform.collect();
    // A lease whose every match more specific leases take adds no rule: a rule without matches
    // would take every request.
    http.extend(routes.iter().filter_map(|route| {
        let matches: Vec<HttpMatch> = uri_matches(route, &held)
            .into_iter()
            .map(|(uri, _)| HttpMatch { uri })
            .collect();
        (!matches.is_empty()).then(|| HttpRoute {
            name: Some(route_name(route)),
            matches,
            delegate: Some(Delegate {
                name: host_stem(host),
                namespace: route.target().namespace().to_string(),
            }),
            ..HttpRoute::default()
        })
    }));
    http.push(HttpRoute {
        name: Some("default-404".to_owned()),
        direct_response: Some(DirectResponse { status: 404 }),
        ..HttpRoute::default()
    });
    object(
        env,
        "VirtualService",
        metadata(root_name(host), env.root_namespace.as_str()),
        Spec::VirtualService(VirtualServiceSpec {
            hosts: vec![host.to_string()],
            gateways: vec![env.ingress_gateway.to_string()],
            http,
            ..VirtualServiceSpec::default()
        }),
    )
}

/// A team namespace's delegate VirtualService for a shared host, from its leases in routing order;
/// `held` are the matches the host's more specific leases take ([`held_matches`]), whichever
/// namespace serves them.
pub fn delegate_virtual_service(
    env: &Environment,
    host: &Fqdn,
    namespace: &DnsLabel,
    routes: &[(&ApiRoute, Option<&TrafficSplit>)],
    held: &HeldMatches,
) -> IstioObject {
    let mut http = Vec::new();
    for (route, split) in routes {
        let template = HttpRoute {
            route: route_destinations(route, *split),
            timeout: route.timeout().map(|t| t.to_istio()),
            retries: route.retries().map(|r| HttpRetry {
                attempts: r.attempts(),
                per_try_timeout: r.per_try_timeout().map(|t| t.to_istio()),
                retry_on: (!r.retry_on().is_empty()).then(|| r.retry_on().join(",")),
            }),
            ..HttpRoute::default()
        };
        let matches = uri_matches(route, held);
        if matches.is_empty() {
            // More specific leases take every request of this one (see the root).
            continue;
        }
        let (name, suffix) = delegate_route_name(route, *split);
        if route.rewrite().is_none() {
            http.push(HttpRoute {
                name: Some(format!("{name}{suffix}")),
                matches: matches
                    .into_iter()
                    .map(|(uri, _)| HttpMatch { uri })
                    .collect(),
                ..template
            });
        } else {
            for (i, (uri, rewrite)) in matches.into_iter().enumerate() {
                // The exact path and the paths below it rewrite differently: two routes.
                let name = if i == 0 {
                    format!("{name}{suffix}")
                } else {
                    format!("{name}-below{suffix}")
                };
                http.push(HttpRoute {
                    name: Some(name),
                    matches: vec![HttpMatch { uri }],
                    rewrite: rewrite.map(|uri| Rewrite { uri }),
                    ..template.clone()
                });
            }
        }
    }
    object(
        env,
        "VirtualService",
        metadata(host_stem(host), namespace.as_str()),
        Spec::VirtualService(VirtualServiceSpec {
            export_to: vec![env.root_namespace.to_string()],
            http,
            ..VirtualServiceSpec::default()
        }),
    )
}

/// The suffix of the delegate routes whose weights Argo Rollouts moves: the environment's Argo
/// CD Application ignores the weights of exactly these routes (see
/// [`application_ignore_differences`]).
pub const ROLLOUT_ROUTE_SUFFIX: &str = "-rollout";

/// A delegate route's name and the suffix its names carry (`-rollout` under Argo Rollouts).
fn delegate_route_name(route: &ApiRoute, split: Option<&TrafficSplit>) -> (String, &'static str) {
    let suffix = match split {
        Some(split) if split.rollout().is_some() => ROLLOUT_ROUTE_SUFFIX,
        _ => "",
    };
    (route_name(route), suffix)
}

/// The names of the delegate routes a route renders to (two with a rewrite: the exact path and
/// the paths below it), as a Rollout names them.
pub fn delegate_route_names(route: &ApiRoute, split: Option<&TrafficSplit>) -> Vec<String> {
    let (name, suffix) = delegate_route_name(route, split);
    let mut names = vec![format!("{name}{suffix}")];
    if route.rewrite().is_some() && route.path_match() == PathMatch::Prefix {
        names.push(format!("{name}-below{suffix}"));
    }
    names
}

/// The in-cluster host of a Service.
pub fn service_host(namespace: &DnsLabel, service: &ServiceName) -> String {
    format!("{service}.{namespace}.svc.cluster.local")
}

/// Where a route sends its traffic: its Service, or the two sides of its split with their weights.
fn route_destinations(route: &ApiRoute, split: Option<&TrafficSplit>) -> Vec<RouteDestination> {
    let target = route.target();
    let destination =
        |service: &ServiceName, subset: Option<String>, weight: Option<u8>| RouteDestination {
            destination: Destination {
                host: service_host(target.namespace(), service),
                subset,
                port: PortSelector {
                    number: target.port().get(),
                },
            },
            weight,
        };
    let Some(split) = split else {
        return vec![destination(target.service(), None, None)];
    };
    [split.stable(), split.canary()]
        .into_iter()
        .map(|side| match side.backend() {
            Backend::Subset { name, .. } => destination(
                target.service(),
                Some(name.to_string()),
                Some(side.weight()),
            ),
            Backend::Service(service) => destination(service, None, Some(side.weight())),
        })
        .collect()
}

/// The subsets a split by subsets defines in its Service's DestinationRule.
pub fn split_subsets(split: &TrafficSplit) -> Vec<Subset> {
    [split.stable(), split.canary()]
        .into_iter()
        .filter_map(|side| match side.backend() {
            Backend::Subset { name, labels } => Some(Subset {
                name: name.to_string(),
                labels: labels.clone(),
            }),
            Backend::Service(_) => None,
        })
        .collect()
}

/// The `spec.strategy` a team's Rollout needs for Argo Rollouts to move a split's weights: the
/// team's delegate VirtualService and its named routes (Rollouts cannot reach destinations behind
/// the root's `delegate`), and the DestinationRule with its subsets, or the two Services.
pub fn rollout_strategy(route: &ApiRoute, split: &TrafficSplit) -> serde_json::Value {
    let virtual_service = serde_json::json!({
        "name": host_stem(route.host()),
        "routes": delegate_route_names(route, Some(split)),
    });
    let side_name = |side: &crate::request::traffic_split::Side| match side.backend() {
        Backend::Subset { name, .. } => name.to_string(),
        Backend::Service(service) => service.to_string(),
    };
    let mut istio = serde_json::Map::new();
    istio.insert("virtualService".into(), virtual_service);
    let mut canary = serde_json::Map::new();
    if split.by_subset() {
        istio.insert(
            "destinationRule".into(),
            serde_json::json!({
                "name": route.target().service().to_string(),
                "canarySubsetName": side_name(split.canary()),
                "stableSubsetName": side_name(split.stable()),
            }),
        );
    } else {
        canary.insert("canaryService".into(), side_name(split.canary()).into());
        canary.insert("stableService".into(), side_name(split.stable()).into());
    }
    canary.insert(
        "trafficRouting".into(),
        serde_json::json!({ "istio": istio }),
    );
    serde_json::json!({ "canary": canary })
}

/// What the Argo CD Application of an environment needs so that the weights Argo Rollouts moves
/// are not reverted on the next sync: `ignoreDifferences` on the weights of the routes named
/// `*-rollout`, respected on sync. The same for every environment, so it is set once (the
/// Applications in `deploy/argocd` carry it).
pub fn application_ignore_differences() -> serde_json::Value {
    serde_json::json!({
        "ignoreDifferences": [{
            "group": "networking.istio.io",
            "kind": "VirtualService",
            "jqPathExpressions": [format!(
                ".spec.http[] | select(.name | endswith(\"{ROLLOUT_ROUTE_SUFFIX}\")) | .route[].weight"
            )],
        }],
        "syncPolicy": {
            "syncOptions": ["RespectIgnoreDifferences=true"],
        },
    })
}

/// The ServiceEntry for one external host of a namespace.
pub fn service_entry(
    env: &Environment,
    namespace: &DnsLabel,
    host: &EgressHost,
    grant: &HostGrant,
    gateway: Option<&EgressGateway>,
) -> IstioObject {
    let mut export_to = vec![".".to_owned()];
    if let (true, Some(gw)) = (grant.via_gateway, gateway) {
        // The gateway's pods resolve the host too: visible where they run.
        export_to.push(gw.workload_namespace().to_owned());
    }
    object(
        env,
        "ServiceEntry",
        metadata(egress_name(host), namespace.as_str()),
        Spec::ServiceEntry(ServiceEntrySpec {
            hosts: vec![host.to_string()],
            addresses: grant.addresses.iter().map(ToString::to_string).collect(),
            export_to,
            location: "MESH_EXTERNAL",
            ports: grant
                .ports
                .iter()
                .map(|(port, protocol)| ServicePort {
                    number: port.get(),
                    name: port_name(*protocol, *port),
                    protocol: protocol.as_str(),
                })
                .collect(),
            // CIDR addresses are only accepted with NONE: the connection goes to the address
            // the application dialled, which the addresses match.
            resolution: match host {
                EgressHost::Exact(_) if grant.addresses.is_empty() => "DNS",
                _ => "NONE",
            },
        }),
    )
}

/// The baseline Sidecar of a team namespace: REGISTRY_ONLY, its own namespace (which holds its
/// egress grants, exported to `.`), the control plane and the in-cluster services it may call
/// (environment and team configuration), and the egress gateway's workload namespace when a grant
/// goes through it.
pub fn sidecar(
    env: &Environment,
    team: &Team,
    namespace: &DnsLabel,
    gateway: Option<&EgressGateway>,
) -> IstioObject {
    let mut entries: Vec<String> = env.sidecar.egress_hosts.clone();
    let mut extra: Vec<String> = team.sidecar_egress_hosts.clone();
    if let Some(gw) = gateway {
        extra.push(format!("{}/*", gw.workload_namespace()));
    }
    // Traces reach the environment's collector whatever the in-cluster hosts allow.
    if let Some(tracing) = &env.tracing {
        extra.push(format!(
            "{ns}/{name}.{ns}.svc.cluster.local",
            ns = tracing.collector.namespace(),
            name = tracing.collector.name()
        ));
    }
    extra.sort();
    for entry in extra {
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    }
    object(
        env,
        "Sidecar",
        metadata(SIDECAR_NAME, namespace.as_str()),
        Spec::Sidecar(SidecarSpec {
            egress: vec![SidecarEgress { hosts: entries }],
            outbound_traffic_policy: OutboundTrafficPolicy {
                mode: if env.sidecar.registry_only {
                    "REGISTRY_ONLY"
                } else {
                    "ALLOW_ANY"
                },
            },
        }),
    )
}

/// Name of a namespace's PeerAuthentication (namespace-wide: no selector).
pub const PEER_AUTHENTICATION_NAME: &str = "default";
/// Name of a namespace's ServiceMeshMember (OpenShift Service Mesh requires `default`).
pub const MEMBER_NAME: &str = "default";
/// Name of a namespace's egress NetworkPolicy.
pub const EGRESS_NETWORK_POLICY: &str = "egress-baseline";
/// Argo CD never prunes or deletes a Namespace it synced: removing the file must not take the
/// team's workloads with it.
pub const KEEP_NAMESPACE: (&str, &str) = (
    "argocd.argoproj.io/sync-options",
    "Prune=false,Delete=false",
);

/// How a team namespace joins the mesh: a ServiceMeshMember (OpenShift Service Mesh 2.x), or the
/// Namespace itself with the injection label.
pub fn membership(env: &Environment, namespace: &DnsLabel) -> IstioObject {
    match &env.onboarding.membership {
        Membership::Member { control_plane } => IstioObject {
            api_version: "maistra.io/v1",
            kind: "ServiceMeshMember",
            metadata: metadata(MEMBER_NAME, namespace.as_str()),
            spec: Spec::ServiceMeshMember(ServiceMeshMemberSpec {
                control_plane_ref: ControlPlaneRef {
                    name: control_plane.name().to_string(),
                    namespace: control_plane.namespace().to_string(),
                },
            }),
        },
        Membership::Label { key, value } => {
            let mut meta = metadata(namespace.to_string(), "");
            meta.labels.insert(key.clone(), value.clone());
            meta.annotations
                .insert(KEEP_NAMESPACE.0.to_owned(), KEEP_NAMESPACE.1.to_owned());
            IstioObject {
                api_version: "v1",
                kind: "Namespace",
                metadata: meta,
                spec: Spec::Empty,
            }
        }
    }
}

/// The namespace-wide PeerAuthentication of a team namespace.
pub fn peer_authentication(
    env: &Environment,
    namespace: &DnsLabel,
    mode: Option<MtlsMode>,
) -> IstioObject {
    IstioObject {
        api_version: env.api_version().security(),
        kind: "PeerAuthentication",
        metadata: metadata(PEER_AUTHENTICATION_NAME, namespace.as_str()),
        spec: Spec::PeerAuthentication(PeerAuthenticationSpec {
            selector: None,
            mtls: MtlsSetting {
                mode: mode.unwrap_or(env.onboarding.mtls).as_str(),
            },
            port_level_mtls: BTreeMap::new(),
        }),
    }
}

/// The name of a workload's PeerAuthentication: `<workload>-mtls` (never the namespace-wide
/// `default`).
pub fn workload_peer_authentication_name(workload: &DnsLabel) -> String {
    format!("{workload}-mtls")
}

/// A workload's own PeerAuthentication, selecting its pods by their `app` label, with its ports
/// set apart.
pub fn workload_peer_authentication(env: &Environment, mtls: &MutualTls) -> Option<IstioObject> {
    let workload = mtls.workload()?;
    Some(IstioObject {
        api_version: env.api_version().security(),
        kind: "PeerAuthentication",
        metadata: metadata(
            workload_peer_authentication_name(workload),
            mtls.namespace().as_str(),
        ),
        spec: Spec::PeerAuthentication(PeerAuthenticationSpec {
            selector: Some(WorkloadSelector::app(workload)),
            mtls: MtlsSetting {
                mode: mtls.mode().as_str(),
            },
            port_level_mtls: mtls
                .port_level()
                .iter()
                .map(|(port, mode)| {
                    (
                        port.to_string(),
                        MtlsSetting {
                            mode: mode.as_str(),
                        },
                    )
                })
                .collect(),
        }),
    })
}

/// The one DestinationRule of a team's Service (named after it), carrying its circuit breaker,
/// exported to its own namespace and every namespace that calls it.
pub fn service_destination_rule(
    env: &Environment,
    namespace: &DnsLabel,
    service: &ServiceName,
    traffic_policy: Option<TrafficPolicy>,
    subsets: Vec<Subset>,
    callers: &BTreeSet<&DnsLabel>,
) -> IstioObject {
    let mut export_to = vec![".".to_owned()];
    export_to.extend(
        callers
            .iter()
            .filter(|caller| **caller != namespace)
            .map(ToString::to_string),
    );
    object(
        env,
        "DestinationRule",
        metadata(service.to_string(), namespace.as_str()),
        Spec::DestinationRule(DestinationRuleSpec {
            host: service_host(namespace, service),
            export_to,
            traffic_policy,
            subsets,
        }),
    )
}

fn namespace_named(name: &str) -> LabelSelector {
    LabelSelector {
        match_labels: BTreeMap::from([("kubernetes.io/metadata.name".to_owned(), name.to_owned())]),
    }
}

/// Where all egress goes through the gateway: the NetworkPolicy letting a team namespace's pods
/// reach only the cluster DNS, the control plane, the mesh's namespaces and the egress gateway
/// pods, so a pod without a sidecar (or one bypassing it) cannot leave the cluster directly.
pub fn egress_network_policy(
    env: &Environment,
    namespace: &DnsLabel,
    gateway: &EgressGateway,
) -> IstioObject {
    let onboarding = &env.onboarding;
    let (key, value) = onboarding.membership.member_label();
    let dns_ports = [("UDP", 53), ("TCP", 53), ("UDP", 5353), ("TCP", 5353)]
        .into_iter()
        .map(|(protocol, port)| NetworkPolicyPort { protocol, port })
        .collect();
    let rule = |peer: NetworkPolicyPeer, ports: Vec<NetworkPolicyPort>| NetworkPolicyEgressRule {
        to: vec![peer],
        ports,
    };
    IstioObject {
        api_version: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: metadata(EGRESS_NETWORK_POLICY, namespace.as_str()),
        spec: Spec::NetworkPolicy(NetworkPolicySpec {
            pod_selector: LabelSelector::default(),
            policy_types: vec!["Egress"],
            egress: vec![
                rule(
                    NetworkPolicyPeer {
                        namespace_selector: namespace_named(onboarding.dns_namespace.as_str()),
                        pod_selector: None,
                    },
                    dns_ports,
                ),
                rule(
                    NetworkPolicyPeer {
                        namespace_selector: namespace_named(
                            onboarding.control_plane_namespace.as_str(),
                        ),
                        pod_selector: None,
                    },
                    Vec::new(),
                ),
                rule(
                    NetworkPolicyPeer {
                        namespace_selector: LabelSelector {
                            match_labels: BTreeMap::from([(key, value)]),
                        },
                        pod_selector: None,
                    },
                    Vec::new(),
                ),
                rule(
                    NetworkPolicyPeer {
                        namespace_selector: namespace_named(gateway.workload_namespace()),
                        pod_selector: Some(LabelSelector {
                            match_labels: gateway.selector.clone(),
                        }),
                    },
                    Vec::new(),
                ),
            ]
            .into_iter()
            // Traces reach the collector even when its namespace is outside the mesh.
            .chain(env.tracing.as_ref().map(|tracing| {
                rule(
                    NetworkPolicyPeer {
                        namespace_selector: namespace_named(tracing.collector.namespace().as_str()),
                        pod_selector: None,
                    },
                    vec![NetworkPolicyPort {
                        protocol: "TCP",
                        port: tracing.port.get(),
                    }],
                )
            }))
            .collect(),
        }),
    }
}

/// The VirtualService sending one external host's TLS traffic through the egress gateway.
pub fn egress_virtual_service(
    env: &Environment,
    namespace: &DnsLabel,
    host: &Fqdn,
    grant: &HostGrant,
    gateway: &EgressGateway,
) -> IstioObject {
    let gw_ref = gateway.gateway.to_string();
    let mut tls = Vec::new();
    for port in grant.ports.keys() {
        // Sidecars catch the application's own port and send it to a port the gateway's
        // Service exposes; the gateway leaves on the application's port.
        tls.push(TlsRoute {
            matches: vec![TlsMatch {
                gateways: vec!["mesh".to_owned()],
                port: port.get(),
                sni_hosts: vec![host.to_string()],
            }],
            route: vec![RouteDestination {
                destination: Destination {
                    host: gateway.service.to_string(),
                    subset: Some(gateway.subset.clone()),
                    port: PortSelector {
                        number: gateway.port.get(),
                    },
                },
                weight: None,
            }],
        });
        tls.push(TlsRoute {
            matches: vec![TlsMatch {
                gateways: vec![gw_ref.clone()],
                port: gateway.port.get(),
                sni_hosts: vec![host.to_string()],
            }],
            route: vec![RouteDestination {
                destination: Destination {
                    host: host.to_string(),
                    subset: None,
                    port: PortSelector { number: port.get() },
                },
                weight: None,
            }],
        });
    }
    object(
        env,
        "VirtualService",
        metadata(host.to_string(), namespace.as_str()),
        Spec::VirtualService(VirtualServiceSpec {
            hosts: vec![host.to_string()],
            gateways: vec!["mesh".to_owned(), gw_ref],
            export_to: vec![".".to_owned(), gateway.workload_namespace().to_owned()],
            tls,
            ..VirtualServiceSpec::default()
        }),
    )
}

/// The DestinationRule defining the egress gateway subset for a namespace.
pub fn egress_destination_rule(
    env: &Environment,
    namespace: &DnsLabel,
    gateway: &EgressGateway,
) -> IstioObject {
    object(
        env,
        "DestinationRule",
        metadata(EGRESS_DESTINATION_RULE, namespace.as_str()),
        Spec::DestinationRule(DestinationRuleSpec {
            host: gateway.service.to_string(),
            export_to: vec![".".to_owned()],
            traffic_policy: None,
            subsets: vec![Subset {
                name: EGRESS_SUBSET.to_owned(),
                labels: BTreeMap::new(),
            }],
        }),
    )
}

/// The name of a workload's ALLOW policy (`<workload>-allow`).
pub fn authorization_name(workload: &DnsLabel) -> String {
    format!("{workload}-allow")
}

/// The AuthorizationPolicy of an `Authorization` request: ALLOW for its workload, each rule's
/// callers as sources (namespaces, and the ingress gateway's namespace, in one source; service
/// accounts as principals of any trust domain in another: sources are alternatives) and its
/// operations. No rules: the explicit deny-all.
pub fn authorization_policy(env: &Environment, authz: &Authorization) -> IstioObject {
    let rules = authz
        .rules()
        .iter()
        .map(|rule| {
            let mut from = Vec::new();
            if let Some(callers) = &rule.from {
                let mut namespaces: Vec<String> =
                    callers.namespaces.iter().map(ToString::to_string).collect();
                if callers.ingress_gateway {
                    namespaces.push(env.ingress_gateway.namespace().to_string());
                }
                namespaces.sort();
                namespaces.dedup();
                if !namespaces.is_empty() {
                    from.push(RuleFrom {
                        source: RuleSource {
                            namespaces,
                            ..RuleSource::default()
                        },
                    });
                }
                if !callers.service_accounts.is_empty() {
                    from.push(RuleFrom {
                        source: RuleSource {
                            principals: callers
                                .service_accounts
                                .iter()
                                .map(|(ns, name)| format!("*/ns/{ns}/sa/{name}"))
                                .collect(),
                            ..RuleSource::default()
                        },
                    });
                }
            }
            let to = rule
                .to
                .iter()
                .map(|operations| RuleTo {
                    operation: RuleOperation {
                        methods: operations.methods.clone(),
                        paths: operations.paths.iter().map(|p| p.to_istio()).collect(),
                    },
                })
                .collect();
            AuthorizationRule { from, to }
        })
        .collect();
    IstioObject {
        api_version: env.api_version().security(),
        kind: "AuthorizationPolicy",
        metadata: metadata(
            authorization_name(authz.workload()),
            authz.namespace().as_str(),
        ),
        spec: Spec::AuthorizationPolicy(AuthorizationPolicySpec {
            selector: WorkloadSelector::app(authz.workload()),
            action: "ALLOW",
            rules,
        }),
    }
}

/// The two objects of a `JwtAuthentication` request: the RequestAuthentication
/// (`<workload>-jwt`) validating tokens of the issuer, and the AuthorizationPolicy
/// (`<workload>-require-jwt`) denying calls without a request principal of that issuer, which a
/// RequestAuthentication alone lets through.
pub fn jwt_objects(
    env: &Environment,
    jwt: &JwtAuthentication,
    issuer: &JwtIssuer,
) -> [IstioObject; 2] {
    let (jwks_uri, jwks) = match &issuer.keys {
        JwtKeys::Uri(uri) => (Some(uri.clone()), None),
        JwtKeys::Inline(keys) => (None, Some(keys.clone())),
    };
    let selector = WorkloadSelector::app(jwt.workload());
    [
        IstioObject {
            api_version: env.api_version().security(),
            kind: "RequestAuthentication",
            metadata: metadata(format!("{}-jwt", jwt.workload()), jwt.namespace().as_str()),
            spec: Spec::RequestAuthentication(RequestAuthenticationSpec {
                selector: selector.clone(),
                jwt_rules: vec![JwtRule {
                    issuer: issuer.issuer.clone(),
                    jwks_uri,
                    jwks,
                    audiences: jwt.audiences().to_vec(),
                }],
            }),
        },
        IstioObject {
            api_version: env.api_version().security(),
            kind: "AuthorizationPolicy",
            metadata: metadata(
                format!("{}-require-jwt", jwt.workload()),
                jwt.namespace().as_str(),
            ),
            spec: Spec::AuthorizationPolicy(AuthorizationPolicySpec {
                selector,
                action: "DENY",
                rules: vec![AuthorizationRule {
                    from: vec![RuleFrom {
                        source: RuleSource {
                            not_request_principals: vec![format!("{}/*", issuer.issuer)],
                            ..RuleSource::default()
                        },
                    }],
                    to: Vec::new(),
                }],
            }),
        },
    ]
}

/// The name of a namespace's Instrumentation, which injection annotations name explicitly.
pub const INSTRUMENTATION_NAME: &str = "tracing";

/// The Instrumentation of a `Tracing` request: the environment's collector, its protocol, the
/// sampler.
pub fn instrumentation(tracing: &Tracing, collector: &crate::catalog::Tracing) -> IstioObject {
    IstioObject {
        api_version: "opentelemetry.io/v1alpha1",
        kind: "Instrumentation",
        metadata: metadata(INSTRUMENTATION_NAME, tracing.namespace().as_str()),
        spec: Spec::Instrumentation(InstrumentationSpec {
            exporter: InstrumentationExporter {
                endpoint: collector.endpoint(),
            },
            propagators: vec!["tracecontext", "baggage", "b3"],
            sampler: tracing.sampler().map(|s| InstrumentationSampler {
                kind: s.kind.clone(),
                argument: s.argument.clone(),
            }),
            env: vec![EnvVar {
                name: "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
                value: collector.protocol.as_str().to_owned(),
            }],
        }),
    }
}

/// A Namespace carrying the tracing injection annotation, for meshes whose membership is not the
/// Namespace itself (OpenShift Service Mesh 2.x); never pruned or deleted by Argo CD.
pub fn annotated_namespace(namespace: &DnsLabel, annotations: &[(String, String)]) -> IstioObject {
    let mut meta = metadata(namespace.to_string(), "");
    meta.annotations
        .insert(KEEP_NAMESPACE.0.to_owned(), KEEP_NAMESPACE.1.to_owned());
    meta.annotations.extend(annotations.iter().cloned());
    IstioObject {
        api_version: "v1",
        kind: "Namespace",
        metadata: meta,
        spec: Spec::Empty,
    }
}

/// The pod-template annotations a Deployment carries to be instrumented: the injection naming
/// the namespace's Instrumentation, and the application container (so the agent never lands in
/// the Istio sidecar).
pub fn deployment_tracing_annotations(
    tracing: &Tracing,
    container: &DnsLabel,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            tracing.language().inject_annotation(),
            INSTRUMENTATION_NAME.to_owned(),
        ),
        (
            "instrumentation.opentelemetry.io/container-names".to_owned(),
            container.to_string(),
        ),
    ])
}

/// The environment's egress Gateway: one TLS passthrough server on the gateway's port, listing
/// every `namespace/host` routed through it.
pub fn egress_gateway(env: &Environment, gateway: &EgressGateway, hosts: &[String]) -> IstioObject {
    object(
        env,
        "Gateway",
        metadata(
            gateway.gateway.name().to_string(),
            gateway.gateway.namespace().as_str(),
        ),
        Spec::Gateway(GatewaySpec {
            selector: gateway.selector.clone(),
            servers: vec![GatewayServer {
                port: ServicePort {
                    number: gateway.port.get(),
                    name: port_name(Protocol::Tls, gateway.port),
                    protocol: "TLS",
                },
                hosts: hosts.to_vec(),
                tls: ServerTls {
                    mode: "PASSTHROUGH",
                },
            }],
        }),
    )
}

/// The `kustomization.yaml` listing a directory's files (names relative to the directory).
pub fn kustomization(resources: &[String]) -> String {
    let mut out = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
    );
    for resource in resources {
        out.push_str("- ");
        out.push_str(resource);
        out.push('\n');
    }
    out
}
