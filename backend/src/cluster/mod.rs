//! Each environment's cluster, read-only: what it runs feeds every check.
//!
//! An environment with `cluster` configured is connected with `kube` (the pod's service account,
//! or a kubeconfig file and context) and kept in memory by one reflector per resource Signalbox
//! reads (namespaces, Services, the Istio networking kinds, PeerAuthentications, NetworkPolicies,
//! OpenShift Service Mesh 2.x members, Argo CD Applications): everything Signalbox generates, so
//! a merged request can be followed until the cluster holds its objects. The watches list first, then follow changes, and list again after a
//! `410 Gone` or a dropped connection, with backoff. Each resource reports its own state, so a
//! missing permission shows as such ("may not list virtualservices.networking.istio.io"), and
//! `deploy/clusterrole.yaml` is the role that grants exactly these reads.
//!
//! The demo reads a fixture file of cluster objects instead ([`Source::Fixture`]), clearly
//! marked as such wherever it is shown. An environment without a cluster, or whose cluster has
//! not been read completely, is checked from stored state alone.

pub mod inventory;
pub mod observability;
mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube::api::ApiResource;
use mesh::catalog::{Environment, MeshFlavour};
use mesh::observed::{Observations, Observed};
use serde::Serialize;

pub use inventory::{Objects, observe};
pub use watch::ResourceState;

/// One kind of object Signalbox reads from a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// API group (empty for core).
    pub group: &'static str,
    /// API version served.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Plural resource name, as RBAC names it.
    pub plural: &'static str,
    /// The checks cannot run without it (a cluster missing it is not used for checks).
    pub essential: bool,
}

impl Resource {
    /// `virtualservices.networking.istio.io`, or `namespaces` for the core group.
    pub fn rbac_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `apiVersion` of its objects.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub(crate) fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.to_owned(),
            version: self.version.to_owned(),
            api_version: self.api_version(),
            kind: self.kind.to_owned(),
            plural: self.plural.to_owned(),
        }
    }
}

/// The resources read from an environment's cluster, by its mesh: the Istio networking kinds in
/// the API version the mesh serves, and ServiceMeshMember(Roll) on OpenShift Service Mesh 2.x.
pub fn resources_for(env: &Environment) -> Vec<Resource> {
    let istio = env.api_version().version();
    let resource = |group, version, kind, plural, essential| Resource {
        group,
        version,
        kind,
        plural,
        essential,
    };
    let mut out = vec![
        resource("", "v1", "Namespace", "namespaces", true),
        resource("", "v1", "Service", "services", true),
        resource(
            "networking.istio.io",
            istio,
            "VirtualService",
            "virtualservices",
            true,
        ),
        resource(
            "networking.istio.io",
            istio,
            "ServiceEntry",
            "serviceentries",
            false,
        ),
        resource("networking.istio.io", istio, "Sidecar", "sidecars", false),
        resource("networking.istio.io", istio, "Gateway", "gateways", false),
        resource(
            "networking.istio.io",
            istio,
            "DestinationRule",
            "destinationrules",
            false,
        ),
        resource(
            "security.istio.io",
            istio,
            "PeerAuthentication",
            "peerauthentications",
            false,
        ),
        resource(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            false,
        ),
        resource(
            "argoproj.io",
            "v1alpha1",
            "Application",
            "applications",
            false,
        ),
    ];
    if env.mesh.flavour() == MeshFlavour::OpenShiftServiceMesh && env.mesh.istio_minor() <= 20 {
        out.push(resource(
            "maistra.io",
            "v1",
            "ServiceMeshMember",
            "servicemeshmembers",
            false,
        ));
        out.push(resource(
            "maistra.io",
            "v1",
            "ServiceMeshMemberRoll",
            "servicemeshmemberrolls",
            false,
        ));
    }
    out
}

/// Where an environment's inventory comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Source {
    /// The pod's service account.
    InCluster,
    /// A kubeconfig file and context.
    Kubeconfig {
        path: String,
        context: Option<String>,
    },
    /// A file of objects (the demo): not a cluster.
    Fixture { path: String },
}

impl Source {
    /// One line for the environment page.
    pub fn describe(&self) -> String {
        match self {
            Self::InCluster => "the cluster Signalbox runs in (its service account)".to_owned(),
            Self::Kubeconfig { path, context } => match context {
                Some(context) => format!("kubeconfig {path}, context {context}"),
                None => format!("kubeconfig {path}, its current context"),
            },
            Self::Fixture { path } => format!("fixture {path}"),
        }
    }
}

/// One resource's reading, for the environment page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// `virtualservices.networking.istio.io`.
    pub resource: String,
    /// What happened.
    pub state: ResourceState,
    /// How many objects are known.
    pub objects: usize,
}

/// How an environment's cluster is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// The environment.
    pub environment: String,
    /// Where the inventory comes from.
    pub source: Source,
    /// Every essential resource is read: checks use the cluster.
    pub complete: bool,
    /// Why nothing can be read at all (no client), if so.
    pub failure: Option<String>,
    /// Each resource.
    pub resources: Vec<ResourceStatus>,
}

/// One environment's cluster.
pub struct Cluster {
    environment: String,
    source: Source,
    reading: Reading,
}

enum Reading {
    /// Objects from a fixture file, read once.
    Fixture(Objects),
    /// Reflectors of a live cluster.
    Live(Vec<watch::Watched>),
    /// The client could not be built (bad kubeconfig, not in a cluster).
    Failed(String),
}

impl Cluster {
    /// The environment.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// Every object known now, by kind.
    pub fn objects(&self) -> Objects {
        match &self.reading {
            Reading::Fixture(objects) => objects.clone(),
            Reading::Live(watched) => {
                let mut objects = Objects::default();
                for w in watched {
                    objects.insert_all(w.resource.kind, w.store.state());
                }
                objects
            }
            Reading::Failed(_) => Objects::default(),
        }
    }

    /// Whether every essential resource has been listed.
    pub fn complete(&self) -> bool {
        match &self.reading {
            Reading::Fixture(_) => true,
            Reading::Live(watched) => watched
                .iter()
                .filter(|w| w.resource.essential)
                .all(|w| w.state().is_ready()),
            Reading::Failed(_) => false,
        }
    }

    /// The cluster as the checks see it, once every essential resource is read.
    pub fn observed(&self, env: &Environment) -> Option<Observed> {
        self.complete().then(|| observe(env, &self.objects()))
    }

    /// How it is read, resource by resource.
    pub fn status(&self) -> ClusterStatus {
        let (failure, resources) = match &self.reading {
            Reading::Fixture(objects) => (
                None,
                objects
                    .counts()
                    .into_iter()
                    .map(|(kind, objects)| ResourceStatus {
                        resource: kind.to_owned(),
                        state: ResourceState::Ready,
                        objects,
                    })
                    .collect(),
            ),
            Reading::Live(watched) => (
                None,
                watched
                    .iter()
                    .map(|w| ResourceStatus {
                        resource: w.resource.rbac_name(),
                        state: w.state(),
                        objects: w.store.state().len(),
                    })
                    .collect(),
            ),
            Reading::Failed(why) => (Some(why.clone()), Vec::new()),
        };
        ClusterStatus {
            environment: self.environment.clone(),
            source: self.source.clone(),
            complete: self.complete(),
            failure,
            resources,
        }
    }

    /// Waits until every essential resource is listed, or `timeout` passes (tests, start-up).
    pub async fn ready(&self, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.complete() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        true
    }
}

/// Fixtures compiled into the binary, by the name `cluster.fixture` gives them: the demo's
/// (`config/demo-cluster.yaml`).
const BUILTIN_FIXTURES: &[(&str, &str)] = &[(
    "builtin:demo",
    include_str!("../../../config/demo-cluster.yaml"),
)];

fn builtin_fixture(name: &str) -> Option<&'static str> {
    BUILTIN_FIXTURES
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .map(|(_, text)| *text)
}

/// Every environment's cluster, by environment name. Cloning shares the same reflectors.
#[derive(Clone, Default)]
pub struct Clusters {
    by_environment: Arc<BTreeMap<String, Arc<Cluster>>>,
}

impl std::fmt::Debug for Clusters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_environment.keys()).finish()
    }
}

impl Clusters {
    /// Connects every environment with a `cluster` (relative paths from `base`), starting its
    /// watches on the current tokio runtime. A cluster that cannot be reached is kept, with the
    /// reason, so the environment page says why.
    pub async fn connect(catalog: &mesh::Catalog, base: &Path) -> Self {
        let mut by_environment = BTreeMap::new();
        for env in catalog.environments() {
            let Some(config) = &env.cluster else {
                continue;
            };
            let resolve = |path: &str| -> PathBuf {
                let path = Path::new(path);
                if path.is_absolute() {
                    path.to_owned()
                } else {
                    base.join(path)
                }
            };
            let (source, reading) = if let Some(fixture) = &config.fixture {
                let source = Source::Fixture {
                    path: fixture.clone(),
                };
                let text = match builtin_fixture(fixture) {
                    Some(text) => Ok(text.to_owned()),
                    None => {
                        let path = resolve(fixture);
                        std::fs::read_to_string(&path)
                            .map_err(|e| format!("fixture {}: {e}", path.display()))
                    }
                };
                match text
                    .and_then(|text| inventory::read_fixture(fixture, &text, &resources_for(env)))
                {
                    Ok(objects) => (source, Reading::Fixture(objects)),
                    Err(why) => (source, Reading::Failed(why)),
                }
            } else {
                let source = match &config.kubeconfig {
                    Some(path) => Source::Kubeconfig {
                        path: path.clone(),
                        context: config.context.clone(),
                    },
                    None => Source::InCluster,
                };
                let kubeconfig = config.kubeconfig.as_deref().map(resolve);
                match watch::client(kubeconfig.as_deref(), config.context.as_deref()).await {
                    Ok(client) => (
                        source,
                        Reading::Live(watch::start(client, env.name.as_str(), resources_for(env))),
                    ),
                    Err(why) => {
                        tracing::warn!(environment = %env.name, %why, "cluster not readable");
                        (source, Reading::Failed(why))
                    }
                }
            };
            by_environment.insert(
                env.name.to_string(),
                Arc::new(Cluster {
                    environment: env.name.to_string(),
                    source,
                    reading,
                }),
            );
        }
        Self {
            by_environment: Arc::new(by_environment),
        }
    }

    /// The cluster of an environment, if it has one.
    pub fn get(&self, environment: &str) -> Option<&Arc<Cluster>> {
        self.by_environment.get(environment)
    }

    /// What every completely read cluster runs, for the checks.
    pub fn observations(&self, catalog: &mesh::Catalog) -> Observations {
        self.by_environment
            .iter()
            .filter_map(|(name, cluster)| {
                let env = catalog.environment(name)?;
                Some((name.clone(), cluster.observed(env)?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The shipped ClusterRole grants get, list and watch on exactly what the inventory reads,
    /// for either mesh flavour, and nothing else.
    #[test]
    fn the_shipped_cluster_role_grants_exactly_the_reads_of_the_inventory() {
        let text = include_str!("../../../deploy/clusterrole.yaml");
        let role: serde_json::Value = serde_norway::Deserializer::from_str(text)
            .map(|d| <serde_json::Value as serde::Deserialize>::deserialize(d).expect("yaml"))
            .find(|d| d["kind"] == "ClusterRole")
            .expect("a ClusterRole");
        let mut granted = BTreeSet::new();
        for rule in role["rules"].as_array().expect("rules") {
            let verbs: BTreeSet<&str> = rule["verbs"]
                .as_array()
                .expect("verbs")
                .iter()
                .filter_map(|v| v.as_str())
                .collect();
            assert_eq!(verbs, BTreeSet::from(["get", "list", "watch"]), "{rule}");
            for group in rule["apiGroups"].as_array().expect("groups") {
                for resource in rule["resources"].as_array().expect("resources") {
                    granted.insert(format!(
                        "{}|{}",
                        group.as_str().expect("group"),
                        resource.as_str().expect("resource")
                    ));
                }
            }
        }
        let config: Vec<mesh::config::EnvironmentConfig> = serde_json::from_value(serde_json::json!([
            {"name": "istio", "hosts": ["a.example.com"], "ingressGateway": "gw/gw", "mesh": {"flavour": "istio", "version": "1.24"}},
            {"name": "ossm", "hosts": ["b.example.com"], "ingressGateway": "gw2/gw", "mesh": {"flavour": "openshiftServiceMesh", "version": "2.6"}},
        ]))
        .expect("config");
        let catalog = mesh::Catalog::from_config(config, Vec::new()).expect("catalog");
        let read: BTreeSet<String> = catalog
            .environments()
            .flat_map(resources_for)
            .map(|r| format!("{}|{}", r.group, r.plural))
            .collect();
        assert_eq!(granted, read);
    }

    /// The demo's fixture reads as the cluster the demo describes.
    #[test]
    fn the_builtin_demo_fixture_reads_as_a_cluster() {
        let config: Vec<mesh::config::EnvironmentConfig> = serde_json::from_value(serde_json::json!([
            {"name": "dev", "hosts": ["api.dev.example.com"], "ingressGateway": "istio-ingress/public-gw",
             "mesh": {"flavour": "istio", "version": "1.24"}, "sidecar": {"registryOnly": true}},
        ]))
        .expect("config");
        let catalog = mesh::Catalog::from_config(config, Vec::new()).expect("catalog");
        let env = catalog.environment("dev").expect("dev");
        let text = builtin_fixture("builtin:demo").expect("compiled in");
        let objects = inventory::read_fixture("builtin:demo", text, &resources_for(env))
            .expect("the fixture parses");
        let observed = observe(env, &objects);
        let team_a: Vec<(&str, Vec<u16>)> = observed
            .services_in("team-a")
            .map(|(name, ports)| (name, ports.iter().map(|p| p.port).collect()))
            .collect();
        assert_eq!(
            team_a,
            [("orders", vec![8080, 9090]), ("payments", vec![8443])]
        );
        assert!(
            observed.namespaces["team-a"].in_mesh && observed.namespaces["team-a"].registry_only
        );
        assert!(
            observed.namespaces["team-b"].in_mesh && !observed.namespaces["team-b"].registry_only
        );
        assert!(!observed.namespaces["istio-system"].in_mesh);
        assert_eq!(
            observed.foreign_routes,
            [mesh::observed::ForeignRoute {
                object: "legacy/status-page".to_owned(),
                host: "api.dev.example.com".to_owned(),
                path: "/status".to_owned(),
                exact: false,
            }],
            "the generated Sidecar is not a foreign object, the hand-made route is"
        );
        assert_eq!(objects.of("Application").len(), 1);
        assert!(builtin_fixture("builtin:other").is_none());
    }
}
