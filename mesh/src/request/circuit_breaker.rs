//! `kind: CircuitBreaker`: connection pool limits and outlier detection for a Service of the team,
//! enforced by the callers' sidecars.
//!
//! ```yaml
//! kind: CircuitBreaker
//! environment: prod
//! team: team-a
//! namespace: team-a
//! service: orders
//! callers: [team-b]          # namespaces that call orders, besides its own (and the ingress
//!                            # gateway's, added when a route of the team targets orders)
//! connectionPool:
//!   tcp: { maxConnections: 100, connectTimeout: 2s }
//!   http: { http1MaxPendingRequests: 50, http2MaxRequests: 200, maxRequestsPerConnection: 10, maxRetries: 3 }
//! outlierDetection:
//!   consecutive5xxErrors: 5
//!   interval: 10s
//!   baseEjectionTime: 30s
//!   maxEjectionPercent: 50
//! ```
//!
//! It renders the traffic policy of the Service's one DestinationRule (Istio merges several
//! DestinationRules of one host and keeps only the first traffic policy, so Signalbox generates
//! exactly one per host, also carrying a traffic split's subsets). Limits are at least 1: Envoy
//! reads 0 as "no limit". No `tls` block: it would override the mesh's automatic mTLS.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Fields, Kind, present};
use crate::names::{DnsLabel, Duration, ParseError, ServiceName};
use crate::problem::Problem;

/// The largest limit accepted (Istio's fields are 32-bit signed integers).
pub const MAX_LIMIT: u32 = i32::MAX as u32;
/// The most caller namespaces one request may list.
pub const MAX_CALLERS: usize = 50;

/// `connectionPool.tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpPool {
    /// Most connections to all endpoints of the Service, per caller sidecar.
    pub max_connections: Option<u32>,
    /// TCP connect timeout.
    pub connect_timeout: Option<Duration>,
}

/// `connectionPool.http`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct HttpPool {
    /// Most requests waiting for a connection.
    pub http1_max_pending_requests: Option<u32>,
    /// Most concurrent requests.
    pub http2_max_requests: Option<u32>,
    /// Most requests per connection (1 turns keep-alive off).
    pub max_requests_per_connection: Option<u32>,
    /// Most concurrent retries.
    pub max_retries: Option<u32>,
    /// How long an idle connection is kept.
    pub idle_timeout: Option<Duration>,
}

/// `connectionPool`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ConnectionPool {
    /// TCP limits.
    pub tcp: Option<TcpPool>,
    /// HTTP limits.
    pub http: Option<HttpPool>,
}

/// `outlierDetection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OutlierDetection {
    /// 5xx responses in a row that eject an endpoint.
    pub consecutive_5xx_errors: Option<u32>,
    /// 502, 503 and 504 responses in a row that eject an endpoint.
    pub consecutive_gateway_errors: Option<u32>,
    /// How often endpoints are checked.
    pub interval: Option<Duration>,
    /// How long an ejected endpoint stays out (times the number of its ejections).
    pub base_ejection_time: Option<Duration>,
    /// The most endpoints, in percent, ejected at once.
    pub max_ejection_percent: Option<u32>,
    /// Below this share of healthy endpoints, in percent, nothing is ejected.
    pub min_health_percent: Option<u32>,
}

/// Connection limits and outlier detection for a Service of the team.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CircuitBreaker {
    environment: DnsLabel,
    team: DnsLabel,
    namespace: DnsLabel,
    service: ServiceName,
    callers: Vec<DnsLabel>,
    connection_pool: Option<ConnectionPool>,
    outlier_detection: Option<OutlierDetection>,
}

impl CircuitBreaker {
    /// The environment.
    pub fn environment(&self) -> &DnsLabel {
        &self.environment
    }
    /// The team asking.
    pub fn team(&self) -> &DnsLabel {
        &self.team
    }
    /// The Service's namespace.
    pub fn namespace(&self) -> &DnsLabel {
        &self.namespace
    }
    /// The Service.
    pub fn service(&self) -> &ServiceName {
        &self.service
    }
    /// Namespaces that call the Service, besides its own.
    pub fn callers(&self) -> &[DnsLabel] {
        &self.callers
    }
    /// Connection pool limits.
    pub fn connection_pool(&self) -> Option<&ConnectionPool> {
        self.connection_pool.as_ref()
    }
    /// Outlier detection.
    pub fn outlier_detection(&self) -> Option<&OutlierDetection> {
        self.outlier_detection.as_ref()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawTcpPool {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_connections: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    connect_timeout: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawHttpPool {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http1_max_pending_requests: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http2_max_requests: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_requests_per_connection: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_retries: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idle_timeout: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawConnectionPool {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tcp: Option<RawTcpPool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http: Option<RawHttpPool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawOutlierDetection {
    #[serde(
        rename = "consecutive5xxErrors",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    consecutive_5xx_errors: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    consecutive_gateway_errors: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base_ejection_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_ejection_percent: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_health_percent: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawCircuitBreaker {
    environment: String,
    team: String,
    namespace: String,
    service: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    callers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    connection_pool: Option<RawConnectionPool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outlier_detection: Option<RawOutlierDetection>,
    /// Never accepted; named so its refusal can say why.
    #[serde(default, skip_serializing)]
    tls: Option<Value>,
}

/// A limit: 1 to [`MAX_LIMIT`]; 0 is refused because Envoy reads it as no limit.
fn limit(f: &mut Fields, field: &str, value: Option<i64>) -> Option<Option<u32>> {
    let value = value?;
    let parsed = match u32::try_from(value) {
        Ok(0) => Err(ParseError::new(
            "0 is not accepted: Envoy reads 0 as no limit; leave the field out for no limit, or \
             give at least 1",
        )),
        Ok(n) if n <= MAX_LIMIT => Ok(n),
        _ => Err(ParseError::new(format!(
            "{value} is not accepted; expected 1 to {MAX_LIMIT}"
        ))),
    };
    Some(f.take(field, parsed))
}

/// A percentage from `min` to 100.
fn percent(f: &mut Fields, field: &str, value: Option<i64>, min: u32) -> Option<Option<u32>> {
    let value = value?;
    let parsed = match u32::try_from(value) {
        Ok(n) if (min..=100).contains(&n) => Ok(n),
        _ if min == 1 && value == 0 => Err(ParseError::new(
            "0 would never eject an endpoint; give 1 to 100, or leave outlierDetection out",
        )),
        _ => Err(ParseError::new(format!(
            "{value} is not accepted; expected {min} to 100 (percent)"
        ))),
    };
    Some(f.take(field, parsed))
}

fn duration(f: &mut Fields, field: &str, value: Option<&str>) -> Option<Option<Duration>> {
    value.map(|v| f.take(field, Duration::parse(v)))
}

fn parse_pool(f: &mut Fields, raw: RawConnectionPool) -> Option<ConnectionPool> {
    let tcp = raw.tcp.map(|tcp| {
        let max_connections = limit(f, "connectionPool.tcp.maxConnections", tcp.max_connections);
        let connect_timeout = duration(
            f,
            "connectionPool.tcp.connectTimeout",
            tcp.connect_timeout.as_deref(),
        );
        Some(TcpPool {
            max_connections: present(max_connections)?,
            connect_timeout: present(connect_timeout)?,
        })
    });
    let http = raw.http.map(|http| {
        let pending = limit(
            f,
            "connectionPool.http.http1MaxPendingRequests",
            http.http1_max_pending_requests,
        );
        let requests = limit(
            f,
            "connectionPool.http.http2MaxRequests",
            http.http2_max_requests,
        );
        let per_connection = limit(
            f,
            "connectionPool.http.maxRequestsPerConnection",
            http.max_requests_per_connection,
        );
        let retries = limit(f, "connectionPool.http.maxRetries", http.max_retries);
        let idle = duration(
            f,
            "connectionPool.http.idleTimeout",
            http.idle_timeout.as_deref(),
        );
        Some(HttpPool {
            http1_max_pending_requests: present(pending)?,
            http2_max_requests: present(requests)?,
            max_requests_per_connection: present(per_connection)?,
            max_retries: present(retries)?,
            idle_timeout: present(idle)?,
        })
    });
    let pool = ConnectionPool {
        tcp: present(tcp)?,
        http: present(http)?,
    };
    if pool.tcp.is_none_or(|t| t == TcpPool::default())
        && pool.http.is_none_or(|h| h == HttpPool::default())
    {
        f.problems.push(Problem::invalid(
            "connectionPool",
            "sets no limit; give tcp.maxConnections, http.http1MaxPendingRequests, \
             http.http2MaxRequests, http.maxRequestsPerConnection or http.maxRetries, or leave \
             connectionPool out",
        ));
        return None;
    }
    Some(pool)
}

fn parse_outlier(f: &mut Fields, raw: RawOutlierDetection) -> Option<OutlierDetection> {
    let at = |name: &str| format!("outlierDetection.{name}");
    let consecutive_5xx = limit(f, &at("consecutive5xxErrors"), raw.consecutive_5xx_errors);
    let consecutive_gateway = limit(
        f,
        &at("consecutiveGatewayErrors"),
        raw.consecutive_gateway_errors,
    );
    let interval = duration(f, &at("interval"), raw.interval.as_deref());
    let base = duration(
        f,
        &at("baseEjectionTime"),
        raw.base_ejection_time.as_deref(),
    );
    let max_ejection = percent(f, &at("maxEjectionPercent"), raw.max_ejection_percent, 1);
    let min_health = percent(f, &at("minHealthPercent"), raw.min_health_percent, 0);
    let detection = OutlierDetection {
        consecutive_5xx_errors: present(consecutive_5xx)?,
        consecutive_gateway_errors: present(consecutive_gateway)?,
        interval: present(interval)?,
        base_ejection_time: present(base)?,
        max_ejection_percent: present(max_ejection)?,
        min_health_percent: present(min_health)?,
    };
    if detection.max_ejection_percent == Some(100) && detection.min_health_percent.unwrap_or(0) == 0
    {
        f.problems.push(Problem::invalid(
            "outlierDetection.maxEjectionPercent",
            "100 may eject every endpoint at once and fail every call; give minHealthPercent \
             above 0 (ejection pauses while fewer endpoints are healthy), or a \
             maxEjectionPercent below 100",
        ));
        return None;
    }
    Some(detection)
}

impl Kind for CircuitBreaker {
    const NAME: &'static str = "CircuitBreaker";
    type Raw = RawCircuitBreaker;

    fn parse(f: &mut Fields, raw: RawCircuitBreaker) -> Option<Self> {
        let environment = f.take("environment", DnsLabel::parse(&raw.environment));
        let team = f.take("team", DnsLabel::parse(&raw.team));
        let namespace = f.take("namespace", DnsLabel::parse(&raw.namespace));
        let service = f.take("service", ServiceName::parse(&raw.service));
        if raw.tls.is_some() {
            f.problems.push(Problem::invalid(
                "tls",
                "is not accepted: a DestinationRule's tls settings replace the mesh's automatic \
                 mTLS to the Service (and DISABLE would turn it off); leave tls out, the mesh \
                 encrypts the calls",
            ));
        }
        if raw.callers.len() > MAX_CALLERS {
            f.problems.push(Problem::invalid(
                "callers",
                format!(
                    "lists {} namespaces; at most {MAX_CALLERS} are accepted",
                    raw.callers.len()
                ),
            ));
        }
        let mut callers: Vec<DnsLabel> = Vec::new();
        let mut callers_ok = true;
        for (i, caller) in raw.callers.iter().enumerate() {
            let field = format!("callers[{i}]");
            match f.take(&field, DnsLabel::parse(caller)) {
                Some(caller) if namespace.as_ref() == Some(&caller) => {
                    f.problems.push(Problem::invalid(
                        field,
                        format!(
                            "{caller} is the Service's own namespace, which always sees the \
                             limits; list only other namespaces"
                        ),
                    ));
                    callers_ok = false;
                }
                Some(caller) if callers.contains(&caller) => {
                    f.problems
                        .push(Problem::invalid(field, format!("{caller} is listed twice")));
                    callers_ok = false;
                }
                Some(caller) => callers.push(caller),
                None => callers_ok = false,
            }
        }
        callers.sort();
        let connection_pool = raw.connection_pool.map(|p| parse_pool(f, p));
        let outlier_detection = raw.outlier_detection.map(|o| parse_outlier(f, o));
        if connection_pool.is_none() && outlier_detection.is_none() {
            f.problems.push(Problem::invalid(
                "connectionPool",
                "is required, or outlierDetection: a circuit breaker needs connection limits, \
                 outlier detection or both",
            ));
            return None;
        }
        if raw.tls.is_some() || raw.callers.len() > MAX_CALLERS {
            return None;
        }
        Some(Self {
            environment: environment?,
            team: team?,
            namespace: namespace?,
            service: service?,
            callers: callers_ok.then_some(callers)?,
            connection_pool: present(connection_pool)?,
            outlier_detection: present(outlier_detection)?,
        })
    }

    fn to_raw(&self) -> RawCircuitBreaker {
        let n = |v: Option<u32>| v.map(i64::from);
        let d = |v: Option<Duration>| v.map(|d| d.to_string());
        RawCircuitBreaker {
            environment: self.environment.to_string(),
            team: self.team.to_string(),
            namespace: self.namespace.to_string(),
            service: self.service.to_string(),
            callers: self.callers.iter().map(ToString::to_string).collect(),
            connection_pool: self.connection_pool.map(|p| RawConnectionPool {
                tcp: p.tcp.map(|t| RawTcpPool {
                    max_connections: n(t.max_connections),
                    connect_timeout: d(t.connect_timeout),
                }),
                http: p.http.map(|h| RawHttpPool {
                    http1_max_pending_requests: n(h.http1_max_pending_requests),
                    http2_max_requests: n(h.http2_max_requests),
                    max_requests_per_connection: n(h.max_requests_per_connection),
                    max_retries: n(h.max_retries),
                    idle_timeout: d(h.idle_timeout),
                }),
            }),
            outlier_detection: self.outlier_detection.map(|o| RawOutlierDetection {
                consecutive_5xx_errors: n(o.consecutive_5xx_errors),
                consecutive_gateway_errors: n(o.consecutive_gateway_errors),
                interval: d(o.interval),
                base_ejection_time: d(o.base_ejection_time),
                max_ejection_percent: n(o.max_ejection_percent),
                min_health_percent: n(o.min_health_percent),
            }),
            tls: None,
        }
    }

    fn environment(&self) -> &DnsLabel {
        &self.environment
    }

    fn team(&self) -> &DnsLabel {
        &self.team
    }

    fn namespace(&self) -> &DnsLabel {
        &self.namespace
    }

    fn summary(&self) -> String {
        let what = match (&self.connection_pool, &self.outlier_detection) {
            (Some(_), Some(_)) => "connection limits and outlier detection",
            (Some(_), None) => "connection limits",
            _ => "outlier detection",
        };
        format!("{what} for {}/{}", self.namespace, self.service)
    }
}
