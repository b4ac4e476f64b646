//! Raw configuration as the server's TOML file (or a JSON/YAML fixture) spells it.
//!
//! These types only give the config its shape: every string stays a string until
//! [`crate::Catalog::from_config`] parses it into the typed model, so a mistake is reported as a
//! [`crate::Problem`] with its full field path (`environments[1].mesh.version`) instead of a serde
//! message without context. Keys are camelCase, like the request format and the JSON API, and
//! unknown keys are refused so a typo never silently falls back to a default. Nothing here uses
//! untagged enums or YAML-only constructs, so TOML, JSON and YAML all deserialize the same way.
//!
//! An environment and a team in TOML (the server embeds `environments = [...]` and
//! `teams = [...]`):
//!
//! ```toml
//! [[environments]]
//! name = "prod"
//! hosts = ["api.prod.example.com"]
//! ingressGateway = "istio-ingress/public-gw"
//! mesh = { flavour = "openshiftServiceMesh", version = "2.6" }
//! egress = { mode = "gateway", gateway = "istio-egress/egress-gw" }
//! sidecar = { registryOnly = true }
//! policy = { reservedPrefixes = ["/admin"], allowedPorts = [443], allowedProtocols = ["TLS", "HTTPS"] }
//! approval = { approvalsRequired = 2, approverGroups = ["platform-approvers"] }
//!
//! [[teams]]
//! name = "team-a"
//! groups = ["oidc-team-a"]
//! namespaces = ["team-a"]
//! approverGroups = ["team-a-leads"]
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One environment (a cluster with its mesh and GitOps target), before parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnvironmentConfig {
    /// DNS label naming the environment, e.g. `prod`.
    pub name: String,
    /// The shared API host names teams lease paths on.
    pub hosts: Vec<String>,
    /// The ingress gateway the root VirtualServices bind to, `namespace/name`.
    pub ingress_gateway: String,
    /// Namespace of the root VirtualServices; defaults to the ingress gateway's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_namespace: Option<String>,
    /// Mesh flavour and version, which decide the Istio API version and the schemas.
    pub mesh: MeshConfig,
    /// Where generated files go in the GitOps repository.
    #[serde(default)]
    pub gitops: GitOpsConfig,
    /// How workloads reach external hosts.
    #[serde(default)]
    pub egress: EgressConfig,
    /// Whether each namespace with egress gets a REGISTRY_ONLY Sidecar.
    #[serde(default)]
    pub sidecar: SidecarConfig,
    /// What requests may ask for.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Who approves requests in this environment (carried along for the backend).
    #[serde(default)]
    pub approval: ApprovalConfig,
    /// Prefixes the platform serves itself on every shared host (e.g. `/.well-known`), ahead of
    /// the teams' routes in the root VirtualService; each prefix is reserved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platform_routes: Vec<PlatformRouteConfig>,
    /// The baseline of every team namespace: mesh membership, mTLS, and the egress NetworkPolicy.
    #[serde(default)]
    pub onboarding: OnboardingConfig,
    /// The environment's cluster, read-only (what it runs feeds the checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterConfig>,
    /// Where the environment's Kiali, Grafana, Jaeger and Prometheus answer.
    #[serde(default)]
    pub observability: ObservabilityConfig,
    /// The token issuers teams may require a JWT from.
    #[serde(default)]
    pub jwt: JwtConfig,
    /// Where traces go: the OpenTelemetry collector that tracing requests export to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingConfig>,
}

/// `jwt`: the issuers whose tokens a team may require (a `JwtAuthentication` request names one).
///
/// ```toml
/// jwt = { issuers = [{ issuer = "https://login.example.com/realms/main", jwksUri = "https://login.example.com/realms/main/protocol/openid-connect/certs" }] }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JwtConfig {
    /// Allowed issuers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issuers: Vec<JwtIssuerConfig>,
}

/// One allowed issuer: its `iss` and where its keys are (`jwksUri`, or the keys inline as `jwks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JwtIssuerConfig {
    /// The `iss` claim of its tokens.
    pub issuer: String,
    /// Where its signing keys are published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Its signing keys, inline (a JSON Web Key Set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
}

/// `tracing`: the OpenTelemetry collector of the environment.
///
/// ```toml
/// tracing = { collector = "observability/otel-collector", port = 4318, protocol = "http/protobuf" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TracingConfig {
    /// The collector's Service, `namespace/name`.
    pub collector: String,
    /// Its OTLP port: 4318 for `http/protobuf`, 4317 for `grpc`.
    pub port: i64,
    /// `http/protobuf` (default) or `grpc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// `observability`: base URLs of the environment's tools; each is optional.
///
/// ```toml
/// observability = { kiali = "https://kiali.dev.example.com", grafana = "https://grafana.dev.example.com",
///                   jaeger = "https://jaeger.dev.example.com", prometheus = "http://prometheus.istio-system:9090" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObservabilityConfig {
    /// Kiali: each grant links to its namespace's graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kiali: Option<String>,
    /// Grafana with Istio's dashboards: each grant links to the Istio service dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana: Option<String>,
    /// Jaeger: each route links to its service's traces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jaeger: Option<String>,
    /// Prometheus (queried by the server): a live route shows its last hour's request and
    /// success rates from `istio_requests_total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<String>,
}

/// `cluster`: how Signalbox reads an environment's cluster. Exactly one source:
///
/// ```toml
/// cluster = { inCluster = true }                                   # the pod's service account
/// cluster = { kubeconfig = "/etc/signalbox/prod.kubeconfig", context = "prod" }
/// cluster = { fixture = "config/demo-cluster.yaml" }               # objects from a file (demo)
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterConfig {
    /// Use the service account of the pod Signalbox runs in.
    #[serde(default)]
    pub in_cluster: bool,
    /// A kubeconfig file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context (default: its current context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// A YAML file of cluster objects read instead of a cluster (the demo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixture: Option<String>,
    /// The Argo CD Application (`namespace/name`) that syncs this environment's folder: a
    /// merged request waits for it to sync the merge commit before it looks for its objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
}

/// `onboarding`: how team namespaces join the mesh.
///
/// ```toml
/// onboarding = { mtls = "PERMISSIVE", controlPlane = "basic", revision = "1-24", dnsNamespace = "openshift-dns" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OnboardingConfig {
    /// `STRICT` (default) or `PERMISSIVE` while clients outside the mesh still call in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<String>,
    /// OpenShift Service Mesh 2.x: the ServiceMeshControlPlane's name (default `basic`), in
    /// `sidecar.controlPlaneNamespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<String>,
    /// Istio and OpenShift Service Mesh 3.x: the revision to label namespaces with
    /// (`istio.io/rev`); without it, `istio-injection: enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Where the cluster DNS runs, for the egress NetworkPolicy (default `kube-system`, and
    /// `openshift-dns` on OpenShift Service Mesh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_namespace: Option<String>,
}

/// A route the platform serves on every shared host of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlatformRouteConfig {
    /// The path prefix, e.g. `/.well-known`.
    pub prefix: String,
    /// The Service that answers it, e.g. `well-known.platform.svc.cluster.local`.
    pub service: String,
    /// The Service's port.
    pub port: i64,
}

/// Mesh flavour and version: `istio` with `1.20`–`1.30`, or `openshiftServiceMesh` with
/// `2.4`–`2.6`, `3.0`, `3.1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MeshConfig {
    /// `istio` or `openshiftServiceMesh`.
    pub flavour: String,
    /// `major.minor` or `major.minor.patch`, as a string (`"1.24"`, not the number 1.24).
    pub version: String,
}

/// GitOps target of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitOpsConfig {
    /// Path of each generated file; placeholders `<env>`, `<namespace>`, `<kind>`, `<name>`.
    /// Defaults to `<env>/<namespace>/<kind>-<name>.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_template: Option<String>,
    /// Repository the pull requests go to (carried along for the backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Branch the pull requests target (carried along for the backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_branch: Option<String>,
    /// Where pull requests go: `local` (a git repository on disk at `repository`; the demo's),
    /// `github`, `gitlab` or `gitea`. Unset: approved requests wait, undelivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge: Option<String>,
    /// The forge's API base URL, for self-hosted GitLab, Gitea/Forgejo or GitHub Enterprise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// Labels every pull request gets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Reviewers every pull request asks for (forge user names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviewers: Vec<String>,
    /// GitHub only: sign in as a GitHub App installation instead of with a token (the App's
    /// private key comes from the environment, never from this file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_app: Option<GitHubAppConfig>,
}

/// A GitHub App installation that pushes branches and opens pull requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitHubAppConfig {
    /// The App's id (GitHub shows it on the App's settings page).
    pub app_id: u64,
    /// The installation on the organisation or repository.
    pub installation_id: u64,
}

/// Egress of an environment: `direct` (sidecars reach external hosts themselves) or `gateway`
/// (an egress gateway exists and requests may route through it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EgressConfig {
    /// `direct` or `gateway`.
    pub mode: String,
    /// With `gateway`: the egress Gateway object Signalbox generates, `namespace/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// With `gateway`: the labels selecting the egress gateway pods; default `istio: egressgateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<BTreeMap<String, String>>,
    /// With `gateway`: the egress gateway Service host; default
    /// `istio-egressgateway.<gateway namespace>.svc.cluster.local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// With `gateway`: the port of the egress gateway Service that sidecars send TLS to, whatever
    /// port the external host listens on; default 443.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_port: Option<i64>,
    /// With `gateway`: every egress grant must go through the gateway (the only way to keep a
    /// workload that bypasses its sidecar from reaching the outside); default false (offered).
    #[serde(default)]
    pub required: bool,
    /// With `gateway`: the namespace the gateway's pods run in, which every Sidecar and grant
    /// through it must be visible to; default the namespace of `service`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_namespace: Option<String>,
    /// With `gateway`: the platform owns the Gateway object and the DestinationRule of the
    /// gateway Service (defining `subset`); Signalbox references them instead of generating a
    /// Gateway from the grants and a DestinationRule per namespace.
    #[serde(default)]
    pub platform_owned: bool,
    /// With `platformOwned`: the subset of the gateway Service the platform's DestinationRule
    /// defines; default `egress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
}

impl Default for EgressConfig {
    fn default() -> Self {
        Self {
            mode: "direct".to_owned(),
            gateway: None,
            selector: None,
            service: None,
            gateway_port: None,
            required: false,
            workload_namespace: None,
            platform_owned: false,
            subset: None,
        }
    }
}

/// Per-namespace Sidecar generation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SidecarConfig {
    /// Every team namespace gets a baseline Sidecar, whether or not it has egress grants; with
    /// this, its `outboundTrafficPolicy` is `REGISTRY_ONLY` (only registered hosts are reachable),
    /// else `ALLOW_ANY`.
    #[serde(default)]
    pub registry_only: bool,
    /// The namespace of the mesh control plane, which every Sidecar keeps reaching; default
    /// `istio-system` (OSSM 2.x often runs it elsewhere, e.g. `istio-system-prod`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_namespace: Option<String>,
    /// Egress hosts every such Sidecar keeps (`namespace/host`); default
    /// `["./*", "istio-system/*", "*/*.svc.cluster.local"]`: the namespace itself (and its egress
    /// grants), the control plane, and every in-cluster service exported to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_hosts: Option<Vec<String>>,
}

/// What requests may ask for in an environment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyConfig {
    /// Path prefixes owned by the platform that no team may lease, shadow or fall under.
    #[serde(default)]
    pub reserved_prefixes: Vec<String>,
    /// Extra denied egress host patterns (`host.example.com` or `*.suffix`), on top of the
    /// built-in cluster-internal ones.
    #[serde(default)]
    pub denied_hosts: Vec<String>,
    /// Egress ports allowed; default `[443]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_ports: Option<Vec<i64>>,
    /// Egress protocols allowed; default `["TLS", "HTTPS"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_protocols: Option<Vec<String>>,
    /// Whether egress may name `*.domain` wildcards (never `*` or public suffixes).
    #[serde(default)]
    pub allow_wildcard_hosts: bool,
}

/// Approval policy, carried along for the backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApprovalConfig {
    /// Approvals a request needs; default 1.
    #[serde(default = "one")]
    pub approvals_required: u8,
    /// OIDC groups whose members may approve in this environment.
    #[serde(default)]
    pub approver_groups: Vec<String>,
}

fn one() -> u8 {
    1
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        Self {
            approvals_required: 1,
            approver_groups: Vec::new(),
        }
    }
}

/// One team, before parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TeamConfig {
    /// DNS label naming the team, e.g. `team-a`.
    pub name: String,
    /// OIDC groups whose members act for the team.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Namespaces the team owns (each owned by at most one team).
    pub namespaces: Vec<String>,
    /// OIDC groups whose members approve the team's requests.
    #[serde(default)]
    pub approver_groups: Vec<String>,
    /// Egress hosts the team's Sidecars keep on top of the environment's (`namespace/host`), for
    /// a team that calls services the environment's list leaves out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecar_egress_hosts: Vec<String>,
}
