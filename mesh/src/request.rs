//! The public request format (`ApiRoute`, `Egress`) and its parsing into typed requests.
//!
//! The same shape arrives as YAML files (the CLI, the GitOps-minded user), as JSON from the API
//! and the browser form, and as stored JSON in the database. [`parse_documents`] accepts a
//! multi-document YAML text or a JSON document or array; each document is one request, or a list
//! of requests. Unknown fields are refused with their path, every value is parsed into its
//! newtype, and each problem names the source (`orders.yaml`, or `orders.yaml#2` for the second
//! of several requests) and the field.
//!
//! Parsing does not consult the environment's policy or other requests: see [`crate::policy`]
//! and [`crate::plan`].

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::names::{
    Cidr, DnsLabel, Duration, EgressHost, Fqdn, ParseError, PathPrefix, Port, Protocol, ServiceName,
};
use crate::problem::{Problem, quoted};

/// The largest request text accepted, in bytes (a form or file, not a bulk import).
pub const MAX_SOURCE_BYTES: usize = 1024 * 1024;
/// The most requests one source may hold.
pub const MAX_REQUESTS: usize = 100;
/// The most hosts one egress request may name.
pub const MAX_EGRESS_HOSTS: usize = 16;
/// The most ports one egress request may name.
pub const MAX_EGRESS_PORTS: usize = 8;
/// At most this many address blocks per egress request.
pub const MAX_EGRESS_ADDRESSES: usize = 16;
/// The most retry attempts a route may ask for.
pub const MAX_RETRY_ATTEMPTS: u32 = 10;

/// How a leased path matches request paths (see [`PathPrefix`] for the trailing-slash rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PathMatch {
    /// Only this exact path.
    Exact,
    /// This path and every path below it, segment-wise.
    Prefix,
}

impl PathMatch {
    /// The public spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Prefix => "prefix",
        }
    }
}

impl fmt::Display for PathMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an `ApiRoute` sends traffic: a Service port in a namespace of the team.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    namespace: DnsLabel,
    service: ServiceName,
    port: Port,
}

impl Target {
    /// The namespace of the Service (and of the team's delegate VirtualService).
    pub fn namespace(&self) -> &DnsLabel {
        &self.namespace
    }
    /// The Service name.
    pub fn service(&self) -> &ServiceName {
        &self.service
    }
    /// The Service port.
    pub fn port(&self) -> Port {
        self.port
    }
}

/// Retry policy of a route. `attempts: 0` turns Istio's default retries off; a per-try timeout
/// then makes no sense and is refused (Istio's webhook refuses it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Retries {
    attempts: u32,
    per_try_timeout: Option<Duration>,
}

impl Retries {
    /// How many retries, 0 to [`MAX_RETRY_ATTEMPTS`].
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
    /// Timeout of each try.
    pub fn per_try_timeout(&self) -> Option<Duration> {
        self.per_try_timeout
    }
}

/// Expose a path of a shared host, served by a Service of the team.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiRoute {
    environment: DnsLabel,
    team: DnsLabel,
    host: Fqdn,
    path: PathPrefix,
    path_match: PathMatch,
    rewrite: Option<PathPrefix>,
    target: Target,
    timeout: Option<Duration>,
    retries: Option<Retries>,
}

impl ApiRoute {
    /// The environment.
    pub fn environment(&self) -> &DnsLabel {
        &self.environment
    }
    /// The requesting team.
    pub fn team(&self) -> &DnsLabel {
        &self.team
    }
    /// The shared host.
    pub fn host(&self) -> &Fqdn {
        &self.host
    }
    /// The leased path.
    pub fn path(&self) -> &PathPrefix {
        &self.path
    }
    /// Exact or prefix.
    pub fn path_match(&self) -> PathMatch {
        self.path_match
    }
    /// What the leased path is replaced with before the request reaches the Service.
    pub fn rewrite(&self) -> Option<&PathPrefix> {
        self.rewrite.as_ref()
    }
    /// The Service the route sends traffic to.
    pub fn target(&self) -> &Target {
        &self.target
    }
    /// Request timeout.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
    /// Retry policy.
    pub fn retries(&self) -> Option<Retries> {
        self.retries
    }
}

/// One port an egress request opens, with the protocol the application speaks on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EgressPort {
    number: Port,
    protocol: Protocol,
}

impl EgressPort {
    /// A port and protocol pair.
    pub fn new(number: Port, protocol: Protocol) -> Self {
        Self { number, protocol }
    }
    /// The port number.
    pub fn number(&self) -> Port {
        self.number
    }
    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }
}

/// Let a namespace reach external hosts on some ports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Egress {
    environment: DnsLabel,
    team: DnsLabel,
    namespace: DnsLabel,
    hosts: Vec<EgressHost>,
    ports: Vec<EgressPort>,
    addresses: Vec<Cidr>,
    via_egress_gateway: bool,
}

impl Egress {
    /// The environment.
    pub fn environment(&self) -> &DnsLabel {
        &self.environment
    }
    /// The requesting team.
    pub fn team(&self) -> &DnsLabel {
        &self.team
    }
    /// The namespace whose workloads get egress.
    pub fn namespace(&self) -> &DnsLabel {
        &self.namespace
    }
    /// The external hosts, without duplicates, in the order given.
    pub fn hosts(&self) -> &[EgressHost] {
        &self.hosts
    }
    /// The ports, with unique numbers, in the order given.
    pub fn ports(&self) -> &[EgressPort] {
        &self.ports
    }
    /// Whether traffic goes through the environment's egress gateway.
    pub fn via_egress_gateway(&self) -> bool {
        self.via_egress_gateway
    }
    /// The external addresses plain TCP is matched on (empty unless a port is TCP).
    pub fn addresses(&self) -> &[Cidr] {
        &self.addresses
    }
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// Expose a path on a shared host.
    ApiRoute(ApiRoute),
    /// Reach external hosts from a namespace.
    Egress(Egress),
}

/// A parsed request, with where it came from (for problem messages; not serialized).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawRequest", into = "RawRequest")]
pub struct Request {
    kind: RequestKind,
    origin: Option<String>,
}

impl Request {
    /// What the request asks for.
    pub fn kind(&self) -> &RequestKind {
        &self.kind
    }

    /// `ApiRoute` or `Egress`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            RequestKind::ApiRoute(_) => "ApiRoute",
            RequestKind::Egress(_) => "Egress",
        }
    }

    /// The environment the request is for.
    pub fn environment(&self) -> &DnsLabel {
        match &self.kind {
            RequestKind::ApiRoute(r) => &r.environment,
            RequestKind::Egress(e) => &e.environment,
        }
    }

    /// The team asking.
    pub fn team(&self) -> &DnsLabel {
        match &self.kind {
            RequestKind::ApiRoute(r) => &r.team,
            RequestKind::Egress(e) => &e.team,
        }
    }

    /// One line for lists and titles: `api.prod.example.com/orders/v1 → team-a/orders:8080`, or
    /// `team-a → api.stripe.com:443/TLS`.
    pub fn summary(&self) -> String {
        match &self.kind {
            RequestKind::ApiRoute(r) => format!(
                "{}{}{} → {}/{}:{}",
                r.host,
                r.path,
                if r.path_match == PathMatch::Exact {
                    " (exact)"
                } else {
                    ""
                },
                r.target.namespace,
                r.target.service,
                r.target.port
            ),
            RequestKind::Egress(e) => {
                let hosts: Vec<String> = e.hosts.iter().map(ToString::to_string).collect();
                let ports: Vec<String> = e
                    .ports
                    .iter()
                    .map(|p| format!("{}/{}", p.number, p.protocol))
                    .collect();
                format!(
                    "{} → {} on {}",
                    e.namespace,
                    hosts.join(", "),
                    ports.join(", ")
                )
            }
        }
    }

    /// The label problems about this request carry as their source (file name, `file#2`,
    /// `request 42`).
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// Sets the label problems about this request carry, e.g. `request 42` for a stored one.
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Parses one request from a JSON value of the public format.
    pub fn from_value(value: &Value) -> Result<Request, Vec<Problem>> {
        parse_value(value)
    }

    /// The request in the public format, as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(RawRequest::from(self.clone())).expect("raw requests serialize")
    }
}

/// Parses a multi-document YAML text, or a JSON document or array, of requests.
///
/// `source` names the text in problems (a file name, `form`); with several requests, each is
/// `source#N` (1-based). Empty documents are skipped; a text without any request is refused.
pub fn parse_documents(source: &str, text: &str) -> Result<Vec<Request>, Vec<Problem>> {
    let whole =
        |message: String| vec![Problem::invalid("document", message).in_source(Some(source))];
    if text.len() > MAX_SOURCE_BYTES {
        return Err(whole(format!(
            "is {} bytes; at most {MAX_SOURCE_BYTES} are accepted",
            text.len()
        )));
    }
    let mut values = Vec::new();
    for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = match Value::deserialize(document) {
            Ok(v) => v,
            Err(e) => {
                return Err(whole(format!(
                    "document {} is not valid YAML or JSON: {}",
                    index + 1,
                    e
                )));
            }
        };
        match value {
            Value::Null => {}
            Value::Array(items) => values.extend(items),
            other => values.push(other),
        }
        if values.len() > MAX_REQUESTS {
            return Err(whole(format!(
                "holds more than {MAX_REQUESTS} requests; split it"
            )));
        }
    }
    if values.is_empty() {
        return Err(whole(
            "holds no request; expected a mapping with kind: ApiRoute or kind: Egress".to_owned(),
        ));
    }
    let several = values.len() > 1;
    let mut requests = Vec::new();
    let mut problems = Vec::new();
    for (index, value) in values.iter().enumerate() {
        let origin = if several {
            format!("{source}#{}", index + 1)
        } else {
            source.to_owned()
        };
        match parse_value(value) {
            Ok(request) => requests.push(request.with_origin(origin)),
            Err(found) => problems.extend(found.into_iter().map(|p| p.in_source(Some(&origin)))),
        }
    }
    if problems.is_empty() {
        Ok(requests)
    } else {
        Err(problems)
    }
}

fn parse_value(value: &Value) -> Result<Request, Vec<Problem>> {
    let Value::Object(map) = value else {
        return Err(vec![Problem::invalid(
            "document",
            "must be a mapping with kind: ApiRoute or kind: Egress",
        )]);
    };
    let mut body = map.clone();
    let kind = body.remove("kind");
    let kind = match kind.as_ref().and_then(Value::as_str) {
        Some("ApiRoute") => RawKind::ApiRoute(deserialize_at::<RawApiRoute>(Value::Object(body))?),
        Some("Egress") => RawKind::Egress(deserialize_at::<RawEgress>(Value::Object(body))?),
        Some(other) => {
            return Err(vec![Problem::invalid(
                "kind",
                format!(
                    "{} is not a request kind; expected ApiRoute or Egress",
                    quoted(other)
                ),
            )]);
        }
        None => {
            return Err(vec![Problem::invalid(
                "kind",
                "is required: ApiRoute or Egress",
            )]);
        }
    };
    kind.parse()
}

/// Deserializes with the path of the failing field, turning serde's message into a problem
/// about that field.
fn deserialize_at<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Vec<Problem>> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let message = error.inner().to_string();
        let named = |prefix: &str| {
            message
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('`').next())
                .map(str::to_owned)
        };
        let (field, message) = if let Some(name) = named("unknown field `") {
            let expected = message
                .split_once(", expected")
                .map(|(_, e)| e.trim())
                .unwrap_or("");
            let field = if path == name || path.ends_with(&format!(".{name}")) {
                path
            } else {
                crate::problem::join_field(&path, &name)
            };
            (field, format!("is not a known field; expected {expected}"))
        } else if let Some(name) = named("missing field `") {
            (
                crate::problem::join_field(&path, &name),
                "is required".to_owned(),
            )
        } else {
            (
                if path.is_empty() {
                    "document".to_owned()
                } else {
                    path
                },
                message,
            )
        };
        vec![Problem::invalid(field, message)]
    })
}

/// The public format, as serde sees it. Strings stay strings here; [`RawKind::parse`] turns them
/// into newtypes with field-named problems.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind")]
enum RawRequest {
    ApiRoute(RawApiRoute),
    Egress(RawEgress),
}

enum RawKind {
    ApiRoute(RawApiRoute),
    Egress(RawEgress),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawApiRoute {
    environment: String,
    team: String,
    host: String,
    path: String,
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    path_match: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rewrite: Option<String>,
    target: RawTarget,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retries: Option<RawRetries>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTarget {
    namespace: String,
    service: String,
    port: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRetries {
    attempts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    per_try_timeout: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawEgress {
    environment: String,
    team: String,
    namespace: String,
    hosts: Vec<String>,
    ports: Vec<RawEgressPort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    via_egress_gateway: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawEgressPort {
    number: i64,
    protocol: String,
}

/// Collects field problems while parsing one request.
struct Fields {
    problems: Vec<Problem>,
}

impl Fields {
    fn take<T>(&mut self, field: &str, result: Result<T, ParseError>) -> Option<T> {
        result
            .map_err(|e| self.problems.push(Problem::invalid(field, e.message())))
            .ok()
    }
}

impl RawKind {
    fn parse(self) -> Result<Request, Vec<Problem>> {
        let mut f = Fields {
            problems: Vec::new(),
        };
        let kind = match self {
            RawKind::ApiRoute(raw) => parse_api_route(&mut f, raw).map(RequestKind::ApiRoute),
            RawKind::Egress(raw) => parse_egress(&mut f, raw).map(RequestKind::Egress),
        };
        match kind {
            Some(kind) if f.problems.is_empty() => Ok(Request { kind, origin: None }),
            _ => Err(f.problems),
        }
    }
}

fn parse_api_route(f: &mut Fields, raw: RawApiRoute) -> Option<ApiRoute> {
    let environment = f.take("environment", DnsLabel::parse(&raw.environment));
    let team = f.take("team", DnsLabel::parse(&raw.team));
    let host = f.take("host", Fqdn::parse(&raw.host));
    let path = f.take("path", PathPrefix::parse(&raw.path));
    let path_match = match raw.path_match.as_deref() {
        None | Some("prefix") => Some(PathMatch::Prefix),
        Some("exact") => Some(PathMatch::Exact),
        Some(other) => f.take(
            "match",
            Err(ParseError::new(format!(
                "{} is not a match type; expected prefix or exact",
                quoted(other)
            ))),
        ),
    };
    let rewrite = raw
        .rewrite
        .as_deref()
        .map(|r| f.take("rewrite", PathPrefix::parse(r)));
    let namespace = f.take("target.namespace", DnsLabel::parse(&raw.target.namespace));
    let service = f.take("target.service", ServiceName::parse(&raw.target.service));
    let port = f.take("target.port", Port::try_from(raw.target.port));
    let timeout = raw
        .timeout
        .as_deref()
        .map(|t| f.take("timeout", Duration::parse(t)));
    let retries = match &raw.retries {
        Some(r) => {
            let attempts = match u32::try_from(r.attempts) {
                Ok(a) if a <= MAX_RETRY_ATTEMPTS => Some(a),
                _ => f.take(
                    "retries.attempts",
                    Err(ParseError::new(format!(
                        "{} is not accepted; expected 0 to {MAX_RETRY_ATTEMPTS}",
                        r.attempts
                    ))),
                ),
            };
            let per_try_timeout = r
                .per_try_timeout
                .as_deref()
                .map(|t| f.take("retries.perTryTimeout", Duration::parse(t)));
            if attempts == Some(0) && per_try_timeout.is_some() {
                f.problems.push(Problem::invalid(
                    "retries.perTryTimeout",
                    "needs retries.attempts of at least 1 (attempts: 0 turns retries off)",
                ));
            }
            Some(
                attempts
                    .zip(present(per_try_timeout))
                    .map(|(attempts, per_try_timeout)| Retries {
                        attempts,
                        per_try_timeout,
                    }),
            )
        }
        None => None,
    };
    if let (Some(path), Some(PathMatch::Prefix), Some(Some(rewrite))) =
        (&path, path_match, &rewrite)
        && path.has_trailing_slash()
        && !rewrite.has_trailing_slash()
    {
        f.problems.push(Problem::invalid(
            "rewrite",
            format!(
                "must end with '/' like the path {} it replaces, or paths below it would be glued \
                 to the rewrite ({}x -> {}x)",
                path, path, rewrite
            ),
        ));
    }
    Some(ApiRoute {
        environment: environment?,
        team: team?,
        host: host?,
        path: path?,
        path_match: path_match?,
        rewrite: present(rewrite)?,
        target: Target {
            namespace: namespace?,
            service: service?,
            port: port?,
        },
        timeout: present(timeout)?,
        retries: present(retries)?,
    })
}

/// An optional field that was given but did not parse (`Some(None)`) spoils the request; an
/// absent one (`None`) is fine.
fn present<T>(value: Option<Option<T>>) -> Option<Option<T>> {
    match value {
        None => Some(None),
        Some(None) => None,
        Some(Some(v)) => Some(Some(v)),
    }
}

fn parse_egress(f: &mut Fields, raw: RawEgress) -> Option<Egress> {
    let environment = f.take("environment", DnsLabel::parse(&raw.environment));
    let team = f.take("team", DnsLabel::parse(&raw.team));
    let namespace = f.take("namespace", DnsLabel::parse(&raw.namespace));
    if raw.hosts.is_empty() || raw.hosts.len() > MAX_EGRESS_HOSTS {
        f.problems.push(Problem::invalid(
            "hosts",
            format!(
                "must name 1 to {MAX_EGRESS_HOSTS} hosts, not {}",
                raw.hosts.len()
            ),
        ));
    }
    let mut hosts: Vec<EgressHost> = Vec::new();
    for (i, raw_host) in raw.hosts.iter().enumerate() {
        let field = format!("hosts[{i}]");
        if let Some(host) = f.take(&field, EgressHost::parse(raw_host)) {
            if let Some(first) = hosts.iter().position(|h| *h == host) {
                f.problems.push(Problem::invalid(
                    field,
                    format!("repeats hosts[{first}] ({host})"),
                ));
            } else {
                hosts.push(host);
            }
        }
    }
    if raw.ports.is_empty() || raw.ports.len() > MAX_EGRESS_PORTS {
        f.problems.push(Problem::invalid(
            "ports",
            format!(
                "must name 1 to {MAX_EGRESS_PORTS} ports, not {}",
                raw.ports.len()
            ),
        ));
    }
    let mut ports: Vec<EgressPort> = Vec::new();
    for (i, raw_port) in raw.ports.iter().enumerate() {
        let number = f.take(
            &format!("ports[{i}].number"),
            Port::try_from(raw_port.number),
        );
        let protocol = f.take(
            &format!("ports[{i}].protocol"),
            Protocol::parse(&raw_port.protocol),
        );
        if let (Some(number), Some(protocol)) = (number, protocol) {
            if let Some(first) = ports.iter().position(|p| p.number == number) {
                f.problems.push(Problem::invalid(
                    format!("ports[{i}].number"),
                    format!("repeats ports[{first}] ({number}); one protocol per port"),
                ));
            } else {
                ports.push(EgressPort { number, protocol });
            }
        }
    }
    if raw.addresses.len() > MAX_EGRESS_ADDRESSES {
        f.problems.push(Problem::invalid(
            "addresses",
            format!(
                "must name at most {MAX_EGRESS_ADDRESSES} address blocks, not {}",
                raw.addresses.len()
            ),
        ));
    }
    let mut addresses: Vec<Cidr> = Vec::new();
    for (i, raw_address) in raw.addresses.iter().enumerate() {
        let field = format!("addresses[{i}]");
        if let Some(address) = f.take(&field, Cidr::parse(raw_address)) {
            if let Some(first) = addresses.iter().position(|a| a.overlaps(&address)) {
                f.problems.push(Problem::invalid(
                    field,
                    format!("overlaps addresses[{first}] ({})", addresses[first]),
                ));
            } else {
                addresses.push(address);
            }
        }
    }
    let via_egress_gateway = raw.via_egress_gateway.unwrap_or(false);
    // Plain TCP carries no host name: Istio can only tell TCP destinations apart by address.
    if let Some(tcp) = ports.iter().position(|p| p.protocol == Protocol::Tcp) {
        if raw.addresses.is_empty() {
            f.problems.push(Problem::invalid(
                "addresses",
                format!(
                    "are required for plain TCP (ports[{tcp}]): TCP carries no host name, so the \
                     sidecar can only match it by address; list the external service's addresses \
                     (CIDR, e.g. 203.0.113.10/32), or use TLS"
                ),
            ));
        }
        for (i, host) in hosts.iter().enumerate() {
            if let EgressHost::Wildcard(_) = host {
                f.problems.push(Problem::invalid(
                    format!("hosts[{i}]"),
                    format!(
                        "{host} is a wildcard, which plain TCP cannot be matched on; name the \
                         host, or use TLS"
                    ),
                ));
            }
        }
        if hosts.len() > 1 {
            f.problems.push(Problem::invalid(
                "hosts",
                "plain TCP takes one host per request, with its addresses; ask for the other \
                 hosts in requests of their own",
            ));
        }
        if via_egress_gateway {
            f.problems.push(Problem::invalid(
                "viaEgressGateway",
                "plain TCP cannot go through the egress gateway, which routes on the TLS server \
                 name; use TLS, or leave viaEgressGateway out",
            ));
        }
    }
    Some(Egress {
        environment: environment?,
        team: team?,
        namespace: namespace?,
        hosts,
        ports,
        addresses,
        via_egress_gateway,
    })
}

/// Why a stored request no longer parses (serde's `try_from` needs one error value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError(pub Vec<Problem>);

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("; "))
    }
}

impl std::error::Error for RequestError {}

impl TryFrom<RawRequest> for Request {
    type Error = RequestError;
    fn try_from(raw: RawRequest) -> Result<Self, Self::Error> {
        let kind = match raw {
            RawRequest::ApiRoute(r) => RawKind::ApiRoute(r),
            RawRequest::Egress(e) => RawKind::Egress(e),
        };
        kind.parse().map_err(RequestError)
    }
}

impl From<Request> for RawRequest {
    fn from(request: Request) -> Self {
        match request.kind {
            RequestKind::ApiRoute(r) => RawRequest::ApiRoute(RawApiRoute {
                environment: r.environment.to_string(),
                team: r.team.to_string(),
                host: r.host.to_string(),
                path: r.path.to_string(),
                path_match: Some(r.path_match.as_str().to_owned()),
                rewrite: r.rewrite.map(|p| p.to_string()),
                target: RawTarget {
                    namespace: r.target.namespace.to_string(),
                    service: r.target.service.to_string(),
                    port: i64::from(r.target.port.get()),
                },
                timeout: r.timeout.map(|t| t.to_string()),
                retries: r.retries.map(|x| RawRetries {
                    attempts: i64::from(x.attempts),
                    per_try_timeout: x.per_try_timeout.map(|t| t.to_string()),
                }),
            }),
            RequestKind::Egress(e) => RawRequest::Egress(RawEgress {
                environment: e.environment.to_string(),
                team: e.team.to_string(),
                namespace: e.namespace.to_string(),
                hosts: e.hosts.iter().map(ToString::to_string).collect(),
                ports: e
                    .ports
                    .iter()
                    .map(|p| RawEgressPort {
                        number: i64::from(p.number.get()),
                        protocol: p.protocol.to_string(),
                    })
                    .collect(),
                addresses: e.addresses.iter().map(ToString::to_string).collect(),
                via_egress_gateway: Some(e.via_egress_gateway),
            }),
        }
    }
}
