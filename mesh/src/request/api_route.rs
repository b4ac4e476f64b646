//! `kind: ApiRoute`: expose a path of a shared host, served by a Service of the team.
//!
//! ```yaml
//! kind: ApiRoute
//! environment: prod
//! team: team-a
//! host: api.prod.example.com
//! path: /orders/v1
//! match: prefix          # or exact; default prefix
//! rewrite: /v1           # optional
//! target: { namespace: team-a, service: orders, port: 8080 }
//! timeout: 5s            # optional
//! retries: { attempts: 2, perTryTimeout: 2s, retryOn: "5xx,connect-failure" }  # optional
//! adopts: legacy/orders-legacy  # optional, platform admins only
//! ```
//!
//! `adopts` names a VirtualService Signalbox did not generate that serves the path today: its
//! routes do not count as a conflict for this request, which once granted holds the path as the
//! team's lease (the platform deletes the hand-made object when Signalbox's is live).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Fields, Kind, present};
use crate::names::{
    DnsLabel, Duration, Fqdn, NamespacedName, ParseError, PathPrefix, Port, ServiceName,
};
use crate::problem::{Problem, quoted};

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
/// or retry conditions then make no sense and are refused (Istio's webhook refuses them too).
/// With a route timeout, every try must fit in it: `perTryTimeout × (attempts + 1)` at most the
/// timeout, or the later retries would be cut short without anyone noticing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Retries {
    attempts: u32,
    per_try_timeout: Option<Duration>,
    retry_on: Vec<String>,
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
    /// The conditions that trigger a retry (Envoy's `x-envoy-retry-on` policies or HTTP status
    /// codes); empty means Istio's default.
    pub fn retry_on(&self) -> &[String] {
        &self.retry_on
    }
}

/// The retry conditions Envoy knows (`x-envoy-retry-on` and `x-envoy-retry-grpc-on`), which
/// Istio's webhook accepts besides HTTP status codes.
pub const RETRY_ON: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// Parses `retryOn`: comma-separated conditions from [`RETRY_ON`] or HTTP status codes.
fn parse_retry_on(value: &str) -> Result<Vec<String>, ParseError> {
    let mut out: Vec<String> = Vec::new();
    for token in value.split(',').map(str::trim) {
        let status = token
            .parse::<u16>()
            .is_ok_and(|code| (100..=599).contains(&code));
        if token.is_empty() || !(status || RETRY_ON.contains(&token)) {
            return Err(ParseError::new(format!(
                "{} is not a retry condition; expected a comma-separated list of {} or HTTP \
                 status codes (100 to 599)",
                quoted(token),
                RETRY_ON.join(", ")
            )));
        }
        if !out.iter().any(|seen| seen == token) {
            out.push(token.to_owned());
        }
    }
    Ok(out)
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
    adopts: Option<NamespacedName>,
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
    pub fn retries(&self) -> Option<&Retries> {
        self.retries.as_ref()
    }
    /// The hand-made VirtualService (`namespace/name`) whose path this request takes over.
    pub fn adopts(&self) -> Option<&NamespacedName> {
        self.adopts.as_ref()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawApiRoute {
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    adopts: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawTarget {
    namespace: String,
    service: String,
    port: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawRetries {
    attempts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    per_try_timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_on: Option<String>,
}

fn parse_api_route(f: &mut Fields, raw: RawApiRoute) -> Option<ApiRoute> {
    let environment = f.take("environment", DnsLabel::parse(&raw.environment));
    let team = f.take("team", DnsLabel::parse(&raw.team));
    let host = f.take("host", Fqdn::parse(&raw.host));
    let path = f.take("path", PathPrefix::parse(&raw.path));
    let adopts = raw.adopts.as_deref().map(|a| {
        f.take(
            "adopts",
            NamespacedName::parse(a).map_err(|e| {
                ParseError::new(format!(
                    "{}; the hand-made VirtualService as namespace/name",
                    e.message()
                ))
            }),
        )
    });
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
            let retry_on = r
                .retry_on
                .as_deref()
                .map(|on| f.take("retries.retryOn", parse_retry_on(on)));
            if attempts == Some(0) && per_try_timeout.is_some() {
                f.problems.push(Problem::invalid(
                    "retries.perTryTimeout",
                    "needs retries.attempts of at least 1 (attempts: 0 turns retries off)",
                ));
            }
            if attempts == Some(0) && retry_on.is_some() {
                f.problems.push(Problem::invalid(
                    "retries.retryOn",
                    "needs retries.attempts of at least 1 (attempts: 0 turns retries off)",
                ));
            }
            if let (Some(attempts), Some(Some(per_try)), Some(Some(timeout))) =
                (attempts, per_try_timeout, timeout)
            {
                let budget = per_try.as_millis().saturating_mul(u64::from(attempts) + 1);
                if budget > timeout.as_millis() {
                    f.problems.push(Problem::invalid(
                        "retries.perTryTimeout",
                        format!(
                            "{per_try} per try × {} tries ({} attempt{} + the first) is {}ms, \
                             longer than the route's timeout {timeout}: the later retries would \
                             be cut short; make perTryTimeout at most {}ms, fewer attempts, or \
                             the timeout longer",
                            attempts + 1,
                            attempts,
                            if attempts == 1 { "" } else { "s" },
                            budget,
                            timeout.as_millis() / (u64::from(attempts) + 1)
                        ),
                    ));
                }
            }
            Some(
                attempts
                    .zip(present(per_try_timeout))
                    .zip(present(retry_on))
                    .map(|((attempts, per_try_timeout), retry_on)| Retries {
                        attempts,
                        per_try_timeout,
                        retry_on: retry_on.unwrap_or_default(),
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
        adopts: present(adopts)?,
    })
}

impl Kind for ApiRoute {
    const NAME: &'static str = "ApiRoute";
    type Raw = RawApiRoute;

    fn parse(f: &mut Fields, raw: RawApiRoute) -> Option<Self> {
        parse_api_route(f, raw)
    }

    fn to_raw(&self) -> RawApiRoute {
        RawApiRoute {
            environment: self.environment.to_string(),
            team: self.team.to_string(),
            host: self.host.to_string(),
            path: self.path.to_string(),
            path_match: Some(self.path_match.as_str().to_owned()),
            rewrite: self.rewrite.as_ref().map(ToString::to_string),
            target: RawTarget {
                namespace: self.target.namespace.to_string(),
                service: self.target.service.to_string(),
                port: i64::from(self.target.port.get()),
            },
            timeout: self.timeout.map(|t| t.to_string()),
            retries: self.retries.as_ref().map(|x| RawRetries {
                attempts: i64::from(x.attempts),
                per_try_timeout: x.per_try_timeout.map(|t| t.to_string()),
                retry_on: (!x.retry_on.is_empty()).then(|| x.retry_on.join(",")),
            }),
            adopts: self.adopts.as_ref().map(ToString::to_string),
        }
    }

    fn environment(&self) -> &DnsLabel {
        &self.environment
    }

    fn team(&self) -> &DnsLabel {
        &self.team
    }

    fn namespace(&self) -> &DnsLabel {
        &self.target.namespace
    }

    fn summary(&self) -> String {
        format!(
            "{}{}{} → {}/{}:{}",
            self.host,
            self.path,
            if self.path_match == PathMatch::Exact {
                " (exact)"
            } else {
                ""
            },
            self.target.namespace,
            self.target.service,
            self.target.port
        )
    }
}
