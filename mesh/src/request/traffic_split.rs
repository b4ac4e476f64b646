//! `kind: TrafficSplit`: canary and blue/green releases on a route the team holds, by subsets of
//! the route's Service or by two Services, with fixed weights or with Argo Rollouts moving them.
//!
//! ```yaml
//! kind: TrafficSplit
//! environment: prod
//! team: team-a
//! host: api.prod.example.com
//! path: /orders/v1                 # a route of the team on that host
//! namespace: team-a                # the route's namespace
//! stable: {subset: stable, labels: {version: v1}, weight: 90}
//! canary: {subset: canary, labels: {version: v2}, weight: 10}
//! ```
//!
//! By Services instead: `stable: {service: orders, weight: 90}`, `canary: {service:
//! orders-canary, weight: 10}`, both on the route's port. Weights are whole percentages that sum
//! to 100; blue/green is a flip between 100/0 and 0/100. With `rollout: <name>` an Argo Rollout
//! of that name moves the weights: the split starts at stable 100 / canary 0 and labels may be left
//! out (Rollouts adds its pod-template hash to the subsets).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Fields, Kind, present};
use crate::names::{DnsLabel, Fqdn, ParseError, PathPrefix, ServiceName};
use crate::problem::{Problem, quoted};

/// The most labels a subset may select on.
pub const MAX_SUBSET_LABELS: usize = 8;

/// Where one side of a split goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A subset of the route's Service, selecting pods by labels.
    Subset {
        /// Subset name.
        name: DnsLabel,
        /// Pod labels (may be empty under Argo Rollouts).
        labels: BTreeMap<String, String>,
    },
    /// A Service of the route's namespace, on the route's port.
    Service(ServiceName),
}

/// One side of a split: where, and its share.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Side {
    backend: Backend,
    weight: u8,
}

impl Side {
    /// Where this side's traffic goes.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }
    /// Its share, in percent.
    pub fn weight(&self) -> u8 {
        self.weight
    }
}

/// Split a route's traffic between stable and canary.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrafficSplit {
    environment: DnsLabel,
    team: DnsLabel,
    host: Fqdn,
    path: PathPrefix,
    namespace: DnsLabel,
    stable: Side,
    canary: Side,
    rollout: Option<DnsLabel>,
}

impl TrafficSplit {
    /// The environment.
    pub fn environment(&self) -> &DnsLabel {
        &self.environment
    }
    /// The team asking.
    pub fn team(&self) -> &DnsLabel {
        &self.team
    }
    /// The route's shared host.
    pub fn host(&self) -> &Fqdn {
        &self.host
    }
    /// The route's path.
    pub fn path(&self) -> &PathPrefix {
        &self.path
    }
    /// The route's namespace.
    pub fn namespace(&self) -> &DnsLabel {
        &self.namespace
    }
    /// The stable side.
    pub fn stable(&self) -> &Side {
        &self.stable
    }
    /// The canary side.
    pub fn canary(&self) -> &Side {
        &self.canary
    }
    /// The Argo Rollout moving the weights, if any.
    pub fn rollout(&self) -> Option<&DnsLabel> {
        self.rollout.as_ref()
    }
    /// `api.prod.example.com/orders/v1 stable 90% / canary 10%`, for messages.
    pub fn summary_line(&self) -> String {
        Kind::summary(self)
    }

    /// Whether the split is by subsets of the route's Service.
    pub fn by_subset(&self) -> bool {
        matches!(self.stable.backend, Backend::Subset { .. })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawSide {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subset: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weight: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawTrafficSplit {
    environment: String,
    team: String,
    host: String,
    path: String,
    namespace: String,
    stable: RawSide,
    canary: RawSide,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rollout: Option<String>,
}

/// A label key as Kubernetes accepts it: an optional DNS-subdomain prefix and `/`, then a name of
/// at most 63 alphanumerics, `-`, `_` or `.`, starting and ending alphanumeric.
fn label_key_ok(key: &str) -> bool {
    let name = key.rsplit_once('/').map_or(key, |(prefix, name)| {
        if prefix.is_empty()
            || prefix.len() > 253
            || !prefix.split('.').all(|part| DnsLabel::parse(part).is_ok())
        {
            ""
        } else {
            name
        }
    });
    label_value_ok(name) && !name.is_empty()
}

/// A label value: at most 63 alphanumerics, `-`, `_` or `.`, starting and ending alphanumeric.
fn label_value_ok(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && value.as_bytes()[0].is_ascii_alphanumeric()
            && value.as_bytes()[value.len() - 1].is_ascii_alphanumeric())
}

fn parse_side(f: &mut Fields, at: &str, raw: RawSide, rollout: bool) -> Option<Side> {
    let weight = match raw.weight {
        None if rollout => Some(None),
        None => {
            f.problems.push(Problem::invalid(
                format!("{at}.weight"),
                "is required: a whole percentage from 0 to 100 (stable and canary sum to 100)",
            ));
            None
        }
        Some(w) => match u8::try_from(w) {
            Ok(w) if w <= 100 => Some(Some(w)),
            _ => {
                f.problems.push(Problem::invalid(
                    format!("{at}.weight"),
                    format!("{w} is not accepted; expected a whole percentage from 0 to 100"),
                ));
                None
            }
        },
    };
    let backend = match (raw.subset, raw.service) {
        (Some(_), Some(_)) => {
            f.problems.push(Problem::invalid(
                at,
                "names both a subset and a service; split by subsets of the route's Service \
                 (subset and labels) or by two Services (service), not both",
            ));
            None
        }
        (None, None) => {
            f.problems.push(Problem::invalid(
                at,
                "needs a subset (with labels) of the route's Service, or a service",
            ));
            None
        }
        (Some(subset), None) => {
            let name = f.take(&format!("{at}.subset"), DnsLabel::parse(&subset));
            let mut labels_ok = true;
            if raw.labels.len() > MAX_SUBSET_LABELS {
                f.problems.push(Problem::invalid(
                    format!("{at}.labels"),
                    format!(
                        "has {} labels; at most {MAX_SUBSET_LABELS}",
                        raw.labels.len()
                    ),
                ));
                labels_ok = false;
            }
            for (key, value) in &raw.labels {
                if !label_key_ok(key) {
                    f.problems.push(Problem::invalid(
                        format!("{at}.labels"),
                        format!(
                            "{} is not a label key; expected at most 63 letters, digits, '-', \
                             '_' or '.', starting and ending with a letter or digit, with an \
                             optional DNS prefix and '/'",
                            quoted(key)
                        ),
                    ));
                    labels_ok = false;
                } else if !label_value_ok(value) || value.contains('*') {
                    f.problems.push(Problem::invalid(
                        format!("{at}.labels.{key}"),
                        format!(
                            "{} is not a label value; expected at most 63 letters, digits, '-', \
                             '_' or '.', starting and ending with a letter or digit",
                            quoted(value)
                        ),
                    ));
                    labels_ok = false;
                }
            }
            if raw.labels.is_empty() && !rollout {
                f.problems.push(Problem::invalid(
                    format!("{at}.labels"),
                    "are required: the pod labels that tell this subset apart, such as \
                     {version: v2} (only under Argo Rollouts may they be left out)",
                ));
                labels_ok = false;
            }
            match (name, labels_ok) {
                (Some(name), true) => Some(Backend::Subset {
                    name,
                    labels: raw.labels,
                }),
                _ => None,
            }
        }
        (None, Some(service)) => {
            if !raw.labels.is_empty() {
                f.problems.push(Problem::invalid(
                    format!("{at}.labels"),
                    "apply to subsets only; a Service selects its own pods",
                ));
            }
            f.take(&format!("{at}.service"), ServiceName::parse(&service))
                .filter(|_| raw.labels.is_empty())
                .map(Backend::Service)
        }
    };
    Some(Side {
        backend: backend?,
        // Under Rollouts the weights start at stable 100 / canary 0 (checked below).
        weight: weight?.unwrap_or(if at == "stable" { 100 } else { 0 }),
    })
}

impl Kind for TrafficSplit {
    const NAME: &'static str = "TrafficSplit";
    type Raw = RawTrafficSplit;

    fn parse(f: &mut Fields, raw: RawTrafficSplit) -> Option<Self> {
        let environment = f.take("environment", DnsLabel::parse(&raw.environment));
        let team = f.take("team", DnsLabel::parse(&raw.team));
        let host = f.take("host", Fqdn::parse(&raw.host));
        let path = f.take("path", PathPrefix::parse(&raw.path));
        let namespace = f.take("namespace", DnsLabel::parse(&raw.namespace));
        let rollout = raw.rollout.as_deref().map(|r| {
            f.take(
                "rollout",
                DnsLabel::parse(r).map_err(|e| {
                    ParseError::new(format!("{}; the name of the Argo Rollout", e.message()))
                }),
            )
        });
        let under_rollouts = raw.rollout.is_some();
        let stable = parse_side(f, "stable", raw.stable, under_rollouts);
        let canary = parse_side(f, "canary", raw.canary, under_rollouts);
        let (stable, canary) = (stable?, canary?);
        let mut ok = true;
        match (&stable.backend, &canary.backend) {
            (Backend::Subset { .. }, Backend::Service(_))
            | (Backend::Service(_), Backend::Subset { .. }) => {
                f.problems.push(Problem::invalid(
                    "canary",
                    "splits differently from stable; give both a subset, or both a service",
                ));
                ok = false;
            }
            (
                Backend::Subset {
                    name: a,
                    labels: la,
                },
                Backend::Subset {
                    name: b,
                    labels: lb,
                },
            ) => {
                if a == b {
                    f.problems.push(Problem::invalid(
                        "canary.subset",
                        format!("{b} is the stable subset too; give the canary a name of its own"),
                    ));
                    ok = false;
                } else if !la.is_empty() && la == lb {
                    f.problems.push(Problem::invalid(
                        "canary.labels",
                        "select the same pods as the stable subset; the canary needs labels of \
                         its own, such as {version: v2}",
                    ));
                    ok = false;
                }
            }
            (Backend::Service(a), Backend::Service(b)) if a == b => {
                f.problems.push(Problem::invalid(
                    "canary.service",
                    format!("{b} is the stable Service too; name the canary's Service"),
                ));
                ok = false;
            }
            _ => {}
        }
        let sum = u16::from(stable.weight) + u16::from(canary.weight);
        if under_rollouts && (stable.weight, canary.weight) != (100, 0) {
            f.problems.push(Problem::invalid(
                "canary.weight",
                "starts at 0 under Argo Rollouts (stable 100): the Rollout moves the weights \
                 during a release and sets them back; leave both weights out",
            ));
            ok = false;
        } else if sum != 100 {
            f.problems.push(Problem::invalid(
                "canary.weight",
                format!(
                    "stable {} + canary {} is {sum}; the weights are percentages that sum to 100",
                    stable.weight, canary.weight
                ),
            ));
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(Self {
            environment: environment?,
            team: team?,
            host: host?,
            path: path?,
            namespace: namespace?,
            stable,
            canary,
            rollout: present(rollout)?,
        })
    }

    fn to_raw(&self) -> RawTrafficSplit {
        let side = |side: &Side| {
            let (subset, labels, service) = match &side.backend {
                Backend::Subset { name, labels } => (Some(name.to_string()), labels.clone(), None),
                Backend::Service(service) => (None, BTreeMap::new(), Some(service.to_string())),
            };
            RawSide {
                subset,
                labels,
                service,
                weight: self.rollout.is_none().then_some(i64::from(side.weight)),
            }
        };
        RawTrafficSplit {
            environment: self.environment.to_string(),
            team: self.team.to_string(),
            host: self.host.to_string(),
            path: self.path.to_string(),
            namespace: self.namespace.to_string(),
            stable: side(&self.stable),
            canary: side(&self.canary),
            rollout: self.rollout.as_ref().map(ToString::to_string),
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
        let name = |side: &Side| match &side.backend {
            Backend::Subset { name, .. } => name.to_string(),
            Backend::Service(service) => service.to_string(),
        };
        match &self.rollout {
            Some(rollout) => format!(
                "{}{}: {} / {} moved by Rollout {rollout}",
                self.host,
                self.path,
                name(&self.stable),
                name(&self.canary)
            ),
            None => format!(
                "{}{}: {} {}% / {} {}%",
                self.host,
                self.path,
                name(&self.stable),
                self.stable.weight,
                name(&self.canary),
                self.canary.weight
            ),
        }
    }
}
