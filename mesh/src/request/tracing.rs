//! `kind: Tracing`: OpenTelemetry auto-instrumentation for a team namespace, exporting to the
//! environment's collector, so Jaeger shows whole traces (the sidecars' spans and the
//! application's).
//!
//! ```yaml
//! kind: Tracing
//! environment: prod
//! team: team-a
//! namespace: team-a
//! language: java               # java, nodejs, python or dotnet
//! sampler: {type: parentbased_traceidratio, argument: "0.25"}   # optional
//! deployments:                 # optional: annotate these Deployments instead of the Namespace
//! - {name: orders, container: orders}
//! ```
//!
//! It renders the namespace's one `Instrumentation` (named `tracing`; the exporter endpoint and
//! protocol come from the environment's `tracing` collector, where port and protocol agree: 4318
//! with `http/protobuf`, 4317 with `grpc`). Injection names it explicitly (`"true"` silently
//! skips a namespace with none or several): without `deployments` the annotation goes on the
//! team's Namespace; with them the request page shows the exact pod-template annotations, with
//! the application container named (never the Istio sidecar), for the team to add to its
//! Deployments. Running pods pick it up only when recreated.

use serde::{Deserialize, Serialize};

use super::{Fields, Kind};
use crate::names::{DnsLabel, ParseError};
use crate::problem::{Problem, quoted};

/// The most Deployments one request may annotate.
pub const MAX_DEPLOYMENTS: usize = 32;

/// The languages the OpenTelemetry Operator instruments that Signalbox offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// The Java agent.
    Java,
    /// Node.js.
    NodeJs,
    /// Python (OTLP over http/protobuf only).
    Python,
    /// .NET (OTLP over http/protobuf only).
    DotNet,
}

impl Language {
    /// As the operator's annotations and Instrumentation fields spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Java => "java",
            Self::NodeJs => "nodejs",
            Self::Python => "python",
            Self::DotNet => "dotnet",
        }
    }

    /// Whether its SDK exports OTLP over gRPC under the operator.
    pub fn supports_grpc(self) -> bool {
        matches!(self, Self::Java | Self::NodeJs)
    }

    /// The injection annotation: `instrumentation.opentelemetry.io/inject-<language>`.
    pub fn inject_annotation(self) -> String {
        format!("instrumentation.opentelemetry.io/inject-{}", self.as_str())
    }

    fn parse(value: &str) -> Result<Self, ParseError> {
        match value {
            "java" => Ok(Self::Java),
            "nodejs" => Ok(Self::NodeJs),
            "python" => Ok(Self::Python),
            "dotnet" => Ok(Self::DotNet),
            other => Err(ParseError::new(format!(
                "{} is not a language Signalbox instruments; expected java, nodejs, python or \
                 dotnet",
                quoted(other)
            ))),
        }
    }
}

/// The samplers of the OpenTelemetry SDKs (`OTEL_TRACES_SAMPLER`).
pub const SAMPLERS: &[&str] = &[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

/// Which traces are kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sampler {
    /// One of [`SAMPLERS`].
    pub kind: String,
    /// For the ratio samplers: the share kept, 0 to 1, as written.
    pub argument: Option<String>,
}

/// A Deployment to annotate, and its application container.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The Deployment.
    pub name: DnsLabel,
    /// Its application container (not `istio-proxy`).
    pub container: DnsLabel,
}

/// Instrument a team namespace for tracing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tracing {
    environment: DnsLabel,
    team: DnsLabel,
    namespace: DnsLabel,
    language: Language,
    sampler: Option<Sampler>,
    deployments: Vec<Target>,
}

impl Tracing {
    /// The environment.
    pub fn environment(&self) -> &DnsLabel {
        &self.environment
    }
    /// The team asking.
    pub fn team(&self) -> &DnsLabel {
        &self.team
    }
    /// The namespace.
    pub fn namespace(&self) -> &DnsLabel {
        &self.namespace
    }
    /// The language instrumented.
    pub fn language(&self) -> Language {
        self.language
    }
    /// The sampler, if set.
    pub fn sampler(&self) -> Option<&Sampler> {
        self.sampler.as_ref()
    }
    /// The Deployments to annotate; empty: the Namespace is annotated.
    pub fn deployments(&self) -> &[Target] {
        &self.deployments
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawSampler {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    argument: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawTarget {
    name: String,
    container: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawTracing {
    environment: String,
    team: String,
    namespace: String,
    language: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sampler: Option<RawSampler>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    deployments: Vec<RawTarget>,
}

fn parse_sampler(f: &mut Fields, raw: RawSampler) -> Option<Sampler> {
    if !SAMPLERS.contains(&raw.kind.as_str()) {
        f.problems.push(Problem::invalid(
            "sampler.type",
            format!(
                "{} is not a sampler; expected one of {}",
                quoted(&raw.kind),
                SAMPLERS.join(", ")
            ),
        ));
        return None;
    }
    let ratio = raw.kind.ends_with("traceidratio");
    let argument = match (&raw.argument, ratio) {
        (None, true) => {
            f.problems.push(Problem::invalid(
                "sampler.argument",
                format!(
                    "is required with {}: the share of traces kept, from 0 to 1 (such as 0.25)",
                    raw.kind
                ),
            ));
            return None;
        }
        (None, false) => None,
        (Some(_), false) => {
            f.problems.push(Problem::invalid(
                "sampler.argument",
                format!(
                    "does not apply to {}; only the traceidratio samplers take one",
                    raw.kind
                ),
            ));
            return None;
        }
        (Some(value), true) => {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                other => other.to_string(),
            };
            match text.parse::<f64>() {
                Ok(share) if (0.0..=1.0).contains(&share) && !text.contains(['e', 'E']) => {
                    Some(text)
                }
                _ => {
                    f.problems.push(Problem::invalid(
                        "sampler.argument",
                        format!(
                            "{} is not a share of traces; expected a number from 0 to 1 (such as \
                             0.25)",
                            quoted(&text)
                        ),
                    ));
                    return None;
                }
            }
        }
    };
    Some(Sampler {
        kind: raw.kind,
        argument,
    })
}

impl Kind for Tracing {
    const NAME: &'static str = "Tracing";
    type Raw = RawTracing;

    fn parse(f: &mut Fields, raw: RawTracing) -> Option<Self> {
        let environment = f.take("environment", DnsLabel::parse(&raw.environment));
        let team = f.take("team", DnsLabel::parse(&raw.team));
        let namespace = f.take("namespace", DnsLabel::parse(&raw.namespace));
        let language = f.take("language", Language::parse(&raw.language));
        let sampler = raw.sampler.map(|s| parse_sampler(f, s));
        let mut ok = true;
        if raw.deployments.len() > MAX_DEPLOYMENTS {
            f.problems.push(Problem::invalid(
                "deployments",
                format!(
                    "lists {} Deployments; at most {MAX_DEPLOYMENTS} (or annotate the \
                     namespace: leave deployments out)",
                    raw.deployments.len()
                ),
            ));
            ok = false;
        }
        let mut deployments: Vec<Target> = Vec::new();
        for (i, target) in raw.deployments.iter().enumerate() {
            let name = f.take(
                &format!("deployments[{i}].name"),
                DnsLabel::parse(&target.name),
            );
            let container = f.take(
                &format!("deployments[{i}].container"),
                DnsLabel::parse(&target.container),
            );
            match (name, container) {
                (Some(_), Some(container)) if container.as_str() == "istio-proxy" => {
                    f.problems.push(Problem::invalid(
                        format!("deployments[{i}].container"),
                        "istio-proxy is the Istio sidecar; name the application's container, \
                         which the agent is injected into",
                    ));
                    ok = false;
                }
                (Some(name), Some(_)) if deployments.iter().any(|d| d.name == name) => {
                    f.problems.push(Problem::invalid(
                        format!("deployments[{i}].name"),
                        format!("{name} is listed twice"),
                    ));
                    ok = false;
                }
                (Some(name), Some(container)) => deployments.push(Target { name, container }),
                _ => ok = false,
            }
        }
        deployments.sort_by(|a, b| a.name.cmp(&b.name));
        if !ok {
            return None;
        }
        Some(Self {
            environment: environment?,
            team: team?,
            namespace: namespace?,
            language: language?,
            sampler: super::present(sampler)?,
            deployments,
        })
    }

    fn to_raw(&self) -> RawTracing {
        RawTracing {
            environment: self.environment.to_string(),
            team: self.team.to_string(),
            namespace: self.namespace.to_string(),
            language: self.language.as_str().to_owned(),
            sampler: self.sampler.as_ref().map(|s| RawSampler {
                kind: s.kind.clone(),
                argument: s.argument.clone().map(serde_json::Value::String),
            }),
            deployments: self
                .deployments
                .iter()
                .map(|d| RawTarget {
                    name: d.name.to_string(),
                    container: d.container.to_string(),
                })
                .collect(),
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
        format!(
            "trace {} workloads in namespace {}",
            match self.language {
                Language::Java => "Java",
                Language::NodeJs => "Node.js",
                Language::Python => "Python",
                Language::DotNet => ".NET",
            },
            self.namespace
        )
    }
}
