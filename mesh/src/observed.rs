//! What an environment's cluster runs, as far as the checks need it: namespaces and their mesh
//! membership, Services and their ports, and the paths VirtualServices that Signalbox did not
//! generate already serve on the shared hosts.
//!
//! The backend keeps this up to date from watches (or a fixture in the demo) and hands it to
//! [`crate::plan::plan_observed`]; this module only holds the data and the lookups, so the same
//! checks run wherever an [`Observed`] is at hand. An environment without one is checked from
//! stored state alone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One namespace as the cluster shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedNamespace {
    /// Enrolled in the mesh: the injection or revision label, or a ServiceMeshMember (or the
    /// ServiceMeshMemberRoll) on OpenShift Service Mesh 2.x.
    pub in_mesh: bool,
    /// A Sidecar without a workload selector sets `outboundTrafficPolicy: REGISTRY_ONLY`.
    pub registry_only: bool,
}

/// One port of a Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedPort {
    /// The port number.
    pub port: u16,
    /// The port's name, if any (`http`, `grpc-api`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A path a VirtualService Signalbox did not generate serves on a shared host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForeignRoute {
    /// `namespace/name` of the VirtualService.
    pub object: String,
    /// The shared host.
    pub host: String,
    /// The matched path (`/` for a rule without a URI match, which takes every path).
    pub path: String,
    /// `exact` match; otherwise a prefix, which Envoy compares as a plain string prefix.
    pub exact: bool,
}

/// One environment's cluster, read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    /// Namespaces by name.
    pub namespaces: BTreeMap<String, ObservedNamespace>,
    /// Services by namespace, then name, with their ports.
    pub services: BTreeMap<String, BTreeMap<String, Vec<ObservedPort>>>,
    /// Paths served on shared hosts by VirtualServices Signalbox did not generate.
    pub foreign_routes: Vec<ForeignRoute>,
}

impl Observed {
    /// The Services of a namespace with their ports (empty when it runs none).
    pub fn services_in(&self, namespace: &str) -> impl Iterator<Item = (&str, &[ObservedPort])> {
        self.services
            .get(namespace)
            .into_iter()
            .flatten()
            .map(|(name, ports)| (name.as_str(), ports.as_slice()))
    }

    /// The foreign routes on a shared host that take requests for `path` (as `exact` or a
    /// prefix), or that a prefix `path` would take requests from.
    pub fn routes_overlapping<'a>(
        &'a self,
        host: &'a str,
        path: &'a str,
        exact: bool,
    ) -> impl Iterator<Item = &'a ForeignRoute> + 'a {
        self.foreign_routes.iter().filter(move |route| {
            if route.host != host {
                return false;
            }
            // Envoy's prefix is a plain string prefix: `/orders` takes `/orders-x` too.
            let theirs_takes_ours = if route.exact {
                route.path == path
            } else {
                path.starts_with(&route.path)
            };
            // Ours is segment-wise: `/orders` takes `/orders` and `/orders/…`, not `/orders-x`.
            let stem = path.trim_end_matches('/');
            let ours_takes_theirs = !exact
                && (route.path == path
                    || route.path == stem
                    || route.path.starts_with(&format!("{stem}/")));
            theirs_takes_ours || ours_takes_theirs
        })
    }
}

/// Every environment's cluster that could be read, by environment name.
pub type Observations = BTreeMap<String, Observed>;
