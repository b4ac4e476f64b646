//! Where to look at a grant in the environment's tools, and how a live route is doing.
//!
//! Links are built from the environment's `observability` base URLs: Kiali's graph of the
//! namespace, Grafana's Istio service dashboard with its variables filled in, and Jaeger's traces
//! of the service (Istio names a workload's traces `<service>.<namespace>`). A live route's
//! request rate and success rate over the last hour come from Prometheus' `/api/v1/query`, from
//! `istio_requests_total` as reported by the destination.

use std::time::Duration;

use mesh::catalog::Environment;
use mesh::request::RequestKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One link to a tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// `Kiali: team-a graph`.
    pub label: String,
    pub url: String,
}

/// Grafana's Istio Service Dashboard, as Istio ships it (`istio-service-dashboard.json`).
pub const GRAFANA_SERVICE_DASHBOARD: &str = "d/LJ_uJAvmk/istio-service-dashboard";

fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The in-cluster host of a route's Service.
pub fn service_host(namespace: &str, service: &str) -> String {
    format!("{service}.{namespace}.svc.cluster.local")
}

/// The links of a request's grant in its environment's tools (none configured: none).
pub fn links(env: &Environment, request: &mesh::Request) -> Vec<Link> {
    let tools = &env.observability;
    let namespace = request.namespace().as_str();
    let mut out = Vec::new();
    if let Some(kiali) = &tools.kiali {
        out.push(Link {
            label: format!("Kiali: graph of {namespace}"),
            url: format!(
                "{}/console/graph/namespaces/?namespaces={}",
                base(kiali),
                encode(namespace)
            ),
        });
    }
    // The Service a grant is about (a policy's workload goes by its Service's name).
    let service = match request.kind() {
        RequestKind::ApiRoute(route) => Some(route.target().service().as_str()),
        RequestKind::CircuitBreaker(breaker) => Some(breaker.service().as_str()),
        RequestKind::Authorization(authz) => Some(authz.workload().as_str()),
        RequestKind::JwtAuthentication(jwt) => Some(jwt.workload().as_str()),
        _ => None,
    };
    if let Some(service) = service {
        let host = service_host(namespace, service);
        if let Some(grafana) = &tools.grafana {
            out.push(Link {
                label: format!("Grafana: {service} service dashboard"),
                url: format!(
                    "{}/{GRAFANA_SERVICE_DASHBOARD}?var-service={}&var-dstns={}",
                    base(grafana),
                    encode(&host),
                    encode(namespace)
                ),
            });
        }
        if let Some(jaeger) = &tools.jaeger {
            out.push(Link {
                label: format!("Jaeger: traces of {service}"),
                url: format!(
                    "{}/search?service={}",
                    base(jaeger),
                    encode(&format!("{service}.{namespace}"))
                ),
            });
        }
    }
    if let RequestKind::Egress(egress) = request.kind() {
        // Istio reports calls to an external host with the host as the destination service.
        if let Some(grafana) = &tools.grafana {
            for host in egress.hosts() {
                out.push(Link {
                    label: format!("Grafana: calls to {host}"),
                    url: format!(
                        "{}/{GRAFANA_SERVICE_DASHBOARD}?var-service={}",
                        base(grafana),
                        encode(host.as_str())
                    ),
                });
            }
        }
    }
    out
}

/// A live route over the last hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum Health {
    /// The environment has no Prometheus configured.
    NotConfigured,
    /// Prometheus answered: requests per second, and the share not answered 5xx (none without
    /// traffic).
    Measured {
        requests_per_second: f64,
        success_rate: Option<f64>,
    },
    /// Prometheus could not be asked, or answered something else.
    Unavailable { reason: String },
}

/// The last hour of a route's Service from Prometheus.
pub async fn route_health(
    http: &reqwest::Client,
    env: &Environment,
    namespace: &str,
    service: &str,
) -> Health {
    let Some(prometheus) = &env.observability.prometheus else {
        return Health::NotConfigured;
    };
    let host = service_host(namespace, service);
    let selector = format!(
        "reporter=\"destination\",destination_service=\"{}\"",
        host.replace('"', "")
    );
    let total = format!("sum(rate(istio_requests_total{{{selector}}}[1h]))");
    let ok = format!("sum(rate(istio_requests_total{{{selector},response_code!~\"5..\"}}[1h]))");
    let ask = |query: String| async move {
        let response = http
            .get(format!("{}/api/v1/query", base(prometheus)))
            .query(&[("query", query)])
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .map_err(|e| format!("Prometheus did not answer: {e}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("Prometheus answered {status} without JSON: {e}"))?;
        scalar(&body)
    };
    let (total, ok) = match (ask(total).await, ask(ok).await) {
        (Ok(total), Ok(ok)) => (total, ok),
        (Err(reason), _) | (_, Err(reason)) => return Health::Unavailable { reason },
    };
    let rate = total.unwrap_or(0.0);
    Health::Measured {
        requests_per_second: rate,
        success_rate: (rate > 0.0).then(|| ok.unwrap_or(0.0) / rate),
    }
}

/// The value of an instant query's answer: `None` for an empty vector (no series: no traffic).
fn scalar(body: &Value) -> Result<Option<f64>, String> {
    if body["status"] != "success" {
        return Err(format!(
            "Prometheus refused the query: {}",
            body["error"].as_str().unwrap_or("no reason given")
        ));
    }
    let result = &body["data"]["result"];
    let value = match body["data"]["resultType"].as_str() {
        Some("vector") => match result.as_array().map(Vec::as_slice) {
            Some([]) => return Ok(None),
            Some([first, ..]) => &first["value"][1],
            None => return Err("Prometheus answered without a result".to_owned()),
        },
        Some("scalar") => &result[1],
        other => return Err(format!("Prometheus answered a {other:?} result")),
    };
    let number = value
        .as_str()
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| format!("Prometheus answered {value} where a number was expected"))?;
    Ok(Some(if number.is_finite() { number } else { 0.0 }))
}

impl Health {
    /// One line for the request page.
    pub fn describe(&self) -> String {
        match self {
            Self::NotConfigured => {
                "Request and success rates need Prometheus: set observability.prometheus for this \
                 environment."
                    .to_owned()
            }
            Self::Measured {
                requests_per_second,
                success_rate: None,
            } if *requests_per_second == 0.0 => "No requests in the last hour.".to_owned(),
            Self::Measured {
                requests_per_second,
                success_rate,
            } => format!(
                "Last hour: {:.2} requests per second, {} successful (not 5xx).",
                requests_per_second,
                success_rate
                    .map(|r| format!("{:.1}%", r * 100.0))
                    .unwrap_or_else(|| "none".to_owned())
            ),
            Self::Unavailable { reason } => format!("Rates unavailable: {reason}."),
        }
    }
}
