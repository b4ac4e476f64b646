//! The typed environment and team model, parsed once from [`crate::config`].
//!
//! A [`Catalog`] is what every later layer consults: which environments exist, which hosts they
//! share, which Istio API version and schemas their mesh needs, where generated files go, what
//! their policy allows, and which team owns which namespace. Building it checks the config as a
//! whole (unique names, a namespace owned by one team only, teams not owning the platform's own
//! namespaces) and reports every problem at once with its config path.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::config::{EnvironmentConfig, TeamConfig};
use crate::names::{
    DnsLabel, EgressHost, Fqdn, NamespacedName, ParseError, PathPrefix, Port, Protocol,
};
use crate::problem::{Problem, quoted};
use crate::validate::SchemaVersion;

/// Which distribution of Istio an environment runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeshFlavour {
    /// Upstream Istio, versioned `1.x`.
    Istio,
    /// Red Hat OpenShift Service Mesh, versioned `2.x` / `3.x`.
    OpenShiftServiceMesh,
}

/// The Istio networking API version generated objects use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApiVersion {
    /// `networking.istio.io/v1beta1`: OpenShift Service Mesh 2.x and Istio up to 1.21.
    V1Beta1,
    /// `networking.istio.io/v1`: Istio 1.22 and later (and OpenShift Service Mesh 3.x).
    V1,
}

impl ApiVersion {
    /// The full `apiVersion` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1Beta1 => "networking.istio.io/v1beta1",
            Self::V1 => "networking.istio.io/v1",
        }
    }

    /// The `apiVersion` of `security.istio.io` objects (PeerAuthentication), which moved to `v1`
    /// in the same release.
    pub fn security(self) -> &'static str {
        match self {
            Self::V1Beta1 => "security.istio.io/v1beta1",
            Self::V1 => "security.istio.io/v1",
        }
    }

    /// The version part only (`v1beta1`, `v1`).
    pub fn version(self) -> &'static str {
        match self {
            Self::V1Beta1 => "v1beta1",
            Self::V1 => "v1",
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mesh flavour and version, with the Istio minor version it corresponds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MeshVersion {
    flavour: MeshFlavour,
    major: u32,
    minor: u32,
    istio_minor: u32,
}

impl MeshVersion {
    /// Parses a flavour (`istio`, `openshiftServiceMesh`) and a `major.minor[.patch]` version.
    ///
    /// Supported: Istio 1.20 to 1.30 (the vendored schema bundles cover them), OpenShift Service
    /// Mesh 2.4–2.6 (Istio 1.16–1.20, validated with the 1.20 schemas, the oldest vendored) and
    /// 3.0–3.1 (Istio 1.24 and 1.26). Anything newer needs its CRDs vendored first.
    pub fn parse(flavour: &str, version: &str) -> Result<Self, Problem> {
        let flavour = match flavour {
            "istio" => MeshFlavour::Istio,
            "openshiftServiceMesh" => MeshFlavour::OpenShiftServiceMesh,
            other => {
                return Err(Problem::invalid(
                    "flavour",
                    format!(
                        "{} is not a mesh flavour; expected istio or openshiftServiceMesh",
                        quoted(other)
                    ),
                ));
            }
        };
        let mut parts = version.split('.');
        let number = |p: Option<&str>| -> Option<u32> {
            let p = p?;
            if p.is_empty() || p.len() > 4 || !p.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        let (major, minor) = (number(parts.next()), number(parts.next()));
        let patch_ok = match parts.next() {
            None => true,
            Some(p) => number(Some(p)).is_some() && parts.next().is_none(),
        };
        let (Some(major), Some(minor), true) = (major, minor, patch_ok) else {
            return Err(Problem::invalid(
                "version",
                format!(
                    "{} is not a version; expected major.minor such as \"1.24\"",
                    quoted(version)
                ),
            ));
        };
        let istio_minor = match (flavour, major, minor) {
            (MeshFlavour::Istio, 1, m @ 20..=30) => m,
            (MeshFlavour::Istio, _, _) => {
                return Err(Problem::invalid(
                    "version",
                    format!(
                        "Istio {major}.{minor} is not supported; expected 1.20 to 1.30 (newer \
                         versions need their CRDs vendored with examples/vendor_schemas.rs)"
                    ),
                ));
            }
            (MeshFlavour::OpenShiftServiceMesh, 2, 4) => 16,
            (MeshFlavour::OpenShiftServiceMesh, 2, 5) => 18,
            (MeshFlavour::OpenShiftServiceMesh, 2, 6) => 20,
            (MeshFlavour::OpenShiftServiceMesh, 3, 0) => 24,
            (MeshFlavour::OpenShiftServiceMesh, 3, 1) => 26,
            (MeshFlavour::OpenShiftServiceMesh, _, _) => {
                return Err(Problem::invalid(
                    "version",
                    format!(
                        "OpenShift Service Mesh {major}.{minor} is not supported; expected 2.4, \
                         2.5, 2.6, 3.0 or 3.1"
                    ),
                ));
            }
        };
        Ok(Self {
            flavour,
            major,
            minor,
            istio_minor,
        })
    }

    /// The flavour.
    pub fn flavour(self) -> MeshFlavour {
        self.flavour
    }

    /// The Istio 1.x minor version this mesh runs.
    pub fn istio_minor(self) -> u32 {
        self.istio_minor
    }

    /// OSSM 2.x and Istio up to 1.21 serve `v1beta1` as newest; Istio 1.22 made `v1` stable.
    pub fn api_version(self) -> ApiVersion {
        if self.istio_minor <= 21 {
            ApiVersion::V1Beta1
        } else {
            ApiVersion::V1
        }
    }

    /// The vendored schema bundle to validate against: the newest bundle not newer than the mesh,
    /// except that Istio 1.22–1.23 use 1.24 (the oldest bundle serving `v1`; the fields Signalbox
    /// generates are the same there).
    pub fn schema_version(self) -> SchemaVersion {
        match self.istio_minor {
            30.. => SchemaVersion::Istio1_30,
            22..=29 => SchemaVersion::Istio1_24,
            _ => SchemaVersion::Istio1_20,
        }
    }
}

impl fmt::Display for MeshVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.flavour {
            MeshFlavour::Istio => write!(f, "Istio {}.{}", self.major, self.minor),
            MeshFlavour::OpenShiftServiceMesh => {
                write!(f, "OpenShift Service Mesh {}.{}", self.major, self.minor)
            }
        }
    }
}

/// Where a generated object's file goes: placeholders `<env>`, `<namespace>`, `<kind>` (lower
/// case, e.g. `virtualservice`) and `<name>`. `<namespace>`, `<kind>` and `<name>` are required so
/// no two objects of an environment share a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathTemplate(String);

impl PathTemplate {
    /// The default layout, one directory per environment and namespace.
    pub const DEFAULT: &'static str = "<env>/<namespace>/<kind>-<name>.yaml";

    /// Parses a relative path template ending in `.yaml`.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let accepted = "a relative path ending in .yaml with the placeholders <namespace>, <kind> \
                        and <name> (and optionally <env>), e.g. <env>/<namespace>/<kind>-<name>.yaml";
        let mut rest = value;
        let mut literal = String::new();
        while let Some(start) = rest.find('<') {
            literal.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('>') else {
                return Err(ParseError::new(format!(
                    "{} has an unclosed '<'; expected {accepted}",
                    quoted(value)
                )));
            };
            let placeholder = &rest[start..start + end + 1];
            if !["<env>", "<namespace>", "<kind>", "<name>"].contains(&placeholder) {
                return Err(ParseError::new(format!(
                    "{} uses the unknown placeholder {}; expected {accepted}",
                    quoted(value),
                    quoted(placeholder)
                )));
            }
            literal.push('x');
            rest = &rest[start + end + 1..];
        }
        literal.push_str(rest);
        let ok_chars = literal
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/'));
        let bad_segment = literal
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
        let required = ["<namespace>", "<kind>", "<name>"]
            .iter()
            .all(|p| value.contains(p));
        if !ok_chars || bad_segment || !required || !value.ends_with(".yaml") {
            return Err(ParseError::new(format!(
                "{} is not {accepted}",
                quoted(value)
            )));
        }
        Ok(Self(value.to_owned()))
    }

    /// The template text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The folder of the repository that holds everything generated for `env`: the template's
    /// directories up to the first placeholder other than `<env>` (`dev` for the default,
    /// `clusters/dev/mesh` for `clusters/<env>/mesh/<namespace>/<kind>-<name>.yaml`; empty when the
    /// template starts with a placeholder). Delivery regenerates this folder as a whole, and its
    /// `kustomization.yaml` is the one an Argo CD Application points at.
    pub fn root(&self, env: &str) -> String {
        let first = ["<namespace>", "<kind>", "<name>"]
            .iter()
            .filter_map(|p| self.0.find(p))
            .min()
            .unwrap_or(self.0.len());
        let fixed = &self.0[..first];
        let folder = fixed.rsplit_once('/').map_or("", |(dir, _)| dir);
        folder.replace("<env>", env)
    }

    /// Fills in the placeholders.
    pub fn render(&self, env: &str, namespace: &str, kind: &str, name: &str) -> String {
        self.0
            .replace("<env>", env)
            .replace("<namespace>", namespace)
            .replace("<kind>", &kind.to_ascii_lowercase())
            .replace("<name>", name)
    }
}

/// A denied egress host pattern: an exact host (`metadata.google.internal`) or every host under
/// a suffix (`*.internal`, `*.svc`; one label is enough here, unlike a requested wildcard).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPattern(String);

impl HostPattern {
    /// Hosts no environment may open egress to: names that resolve inside the cluster or the
    /// machine, where a `MESH_EXTERNAL` ServiceEntry would hijack internal traffic.
    pub const BUILT_IN: [&'static str; 5] = [
        "*.svc",
        "*.cluster.local",
        "*.local",
        "*.localhost",
        "*.internal",
    ];

    /// Parses `host` or `*.suffix`.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let body = value.strip_prefix("*.").unwrap_or(value);
        let well_formed = !body.is_empty()
            && body.len() <= Fqdn::MAX_LEN
            && body.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !well_formed {
            return Err(ParseError::new(format!(
                "{} is not a host pattern; expected a host such as metadata.example.com or a \
                 suffix pattern such as *.internal",
                quoted(value)
            )));
        }
        Ok(Self(value.to_owned()))
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the pattern and the requested host can name the same host.
    pub fn overlaps(&self, host: &EgressHost) -> bool {
        match (self.0.strip_prefix("*."), host) {
            (None, EgressHost::Exact(h)) => h.as_str() == self.0,
            (None, EgressHost::Wildcard(w)) => {
                self.0.len() > w.suffix().len() && self.0.ends_with(&w.as_str()[1..])
            }
            (Some(suffix), EgressHost::Exact(h)) => h.is_within(suffix) && h.as_str() != suffix,
            (Some(suffix), EgressHost::Wildcard(w)) => {
                host.is_within(suffix) || {
                    let own = w.suffix();
                    suffix.len() > own.len() && suffix.ends_with(&w.as_str()[1..])
                }
            }
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The egress gateway an environment offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressGateway {
    /// The Gateway object Signalbox generates, regenerated from every gateway-routed grant.
    pub gateway: NamespacedName,
    /// Labels selecting the egress gateway pods.
    pub selector: BTreeMap<String, String>,
    /// The egress gateway Service host.
    pub service: Fqdn,
    /// The Service port sidecars send TLS to; the gateway leaves on each grant's own port.
    pub port: Port,
    /// Every egress grant goes through the gateway.
    pub required: bool,
    /// The namespace the gateway's pods run in: as configured, else the namespace of the Service
    /// host `name.namespace.svc…`, else the Gateway object's namespace.
    pub workload_namespace: DnsLabel,
    /// The platform owns the Gateway object and the gateway Service's DestinationRule.
    pub platform_owned: bool,
    /// The subset of the gateway Service that sidecars route to.
    pub subset: String,
}

impl EgressGateway {
    /// The namespace the gateway's pods (and their Service) run in, which sidecars must see to
    /// reach them.
    pub fn workload_namespace(&self) -> &str {
        self.workload_namespace.as_str()
    }
}

/// How workloads reach external hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EgressMode {
    /// Sidecars connect to external hosts themselves.
    Direct,
    /// An egress gateway exists; a request may route through it (`viaEgressGateway: true`).
    Gateway(EgressGateway),
}

/// What a team namespace's baseline Sidecar lets it reach unless configured otherwise: itself
/// (and its egress grants), the control plane (its namespace put in place of `{control-plane}`),
/// and in-cluster services.
pub const DEFAULT_SIDECAR_HOSTS: &[&str] = &["./*", "{control-plane}/*", "*/*.svc.cluster.local"];

/// The control plane's namespace unless configured otherwise.
pub const DEFAULT_CONTROL_PLANE_NAMESPACE: &str = "istio-system";

/// Per-namespace Sidecar generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarPolicy {
    /// Whether the baseline Sidecars are `REGISTRY_ONLY` (else `ALLOW_ANY`).
    pub registry_only: bool,
    /// Egress hosts every generated Sidecar keeps, `namespace/host`.
    pub egress_hosts: Vec<String>,
}

/// What requests may ask for in an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Platform-owned path prefixes, on every shared host.
    pub reserved_prefixes: Vec<PathPrefix>,
    /// Denied egress host patterns, built-in ones first.
    pub denied_hosts: Vec<HostPattern>,
    /// Allowed egress ports.
    pub allowed_ports: Vec<Port>,
    /// Allowed egress protocols.
    pub allowed_protocols: Vec<Protocol>,
    /// Whether egress may name `*.domain` wildcards.
    pub allow_wildcard_hosts: bool,
}

/// Approval policy, carried along for the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalPolicy {
    /// Approvals a request needs.
    pub approvals_required: u8,
    /// OIDC groups whose members may approve.
    pub approver_groups: Vec<String>,
}

/// One environment, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// The environment's name.
    pub name: DnsLabel,
    /// Shared API hosts.
    pub hosts: Vec<Fqdn>,
    /// The ingress gateway root VirtualServices bind to.
    pub ingress_gateway: NamespacedName,
    /// Namespace of the root VirtualServices.
    pub root_namespace: DnsLabel,
    /// Mesh flavour and version.
    pub mesh: MeshVersion,
    /// File layout in the GitOps repository.
    pub path_template: PathTemplate,
    /// GitOps repository (carried along).
    pub repository: Option<String>,
    /// GitOps base branch (carried along).
    pub base_branch: Option<String>,
    /// Where the pull requests go, as configured (carried along for the backend).
    pub gitops: crate::config::GitOpsConfig,
    /// Egress mode.
    pub egress: EgressMode,
    /// Sidecar generation.
    pub sidecar: SidecarPolicy,
    /// Request policy.
    pub policy: Policy,
    /// Approval policy.
    pub approval: ApprovalPolicy,
    /// Prefixes the platform serves on every shared host, first in each root VirtualService.
    pub platform_routes: Vec<PlatformRoute>,
    /// How team namespaces join the mesh.
    pub onboarding: Onboarding,
    /// How the environment's cluster is read, as configured (carried along for the backend);
    /// `None`: checks use stored state alone.
    pub cluster: Option<crate::config::ClusterConfig>,
    /// Base URLs of Kiali, Grafana, Jaeger and Prometheus (carried along; each checked to be an
    /// http(s) URL).
    pub observability: crate::config::ObservabilityConfig,
    /// The token issuers teams may require a JWT from.
    pub jwt_issuers: Vec<JwtIssuer>,
    /// The OpenTelemetry collector traces go to, if the environment has one.
    pub tracing: Option<Tracing>,
}

/// An issuer whose tokens teams may require.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtIssuer {
    /// The `iss` claim.
    pub issuer: String,
    /// Where its keys are published, or the keys inline.
    pub keys: JwtKeys,
}

/// Where an issuer's signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtKeys {
    /// Published at this http(s) URL.
    Uri(String),
    /// Inline JSON Web Key Set.
    Inline(String),
}

/// OTLP over HTTP or gRPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OtlpProtocol {
    /// `http/protobuf`, port 4318.
    HttpProtobuf,
    /// `grpc`, port 4317.
    Grpc,
}

impl OtlpProtocol {
    /// As `OTEL_EXPORTER_OTLP_PROTOCOL` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpProtobuf => "http/protobuf",
            Self::Grpc => "grpc",
        }
    }

    /// The port OTLP uses with this protocol.
    pub fn port(self) -> u16 {
        match self {
            Self::HttpProtobuf => 4318,
            Self::Grpc => 4317,
        }
    }
}

/// The environment's OpenTelemetry collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracing {
    /// The collector's Service.
    pub collector: NamespacedName,
    /// Its OTLP port.
    pub port: Port,
    /// The protocol on that port.
    pub protocol: OtlpProtocol,
}

impl Tracing {
    /// The exporter endpoint: `http://<service>.<namespace>.svc.cluster.local:<port>`.
    pub fn endpoint(&self) -> String {
        format!(
            "http://{}.{}.svc.cluster.local:{}",
            self.collector.name(),
            self.collector.namespace(),
            self.port
        )
    }
}

/// Mutual TLS of team namespaces and workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MtlsMode {
    /// Only mTLS traffic is accepted.
    Strict,
    /// Plain text is accepted too, while clients outside the mesh move in.
    Permissive,
}

impl MtlsMode {
    /// `STRICT` or `PERMISSIVE`, as PeerAuthentication spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "STRICT",
            Self::Permissive => "PERMISSIVE",
        }
    }
}

impl std::fmt::Display for MtlsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a namespace becomes part of the mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    /// OpenShift Service Mesh 2.x: a ServiceMeshMember naming the control plane; the operator
    /// then labels the namespace `maistra.io/member-of: <control plane namespace>`.
    Member {
        /// The ServiceMeshControlPlane, `namespace/name`.
        control_plane: NamespacedName,
    },
    /// Istio and OpenShift Service Mesh 3.x: a label on the Namespace selects sidecar injection.
    Label {
        /// `istio-injection` or `istio.io/rev`.
        key: String,
        /// `enabled` or the revision.
        value: String,
    },
}

impl Membership {
    /// The label every member namespace carries, which the egress NetworkPolicy selects the mesh
    /// by.
    pub fn member_label(&self) -> (String, String) {
        match self {
            Self::Member { control_plane } => (
                "maistra.io/member-of".to_owned(),
                control_plane.namespace().to_string(),
            ),
            Self::Label { key, value } => (key.clone(), value.clone()),
        }
    }
}

/// The baseline every team namespace gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onboarding {
    /// Namespace-wide mTLS.
    pub mtls: MtlsMode,
    /// Mesh membership.
    pub membership: Membership,
    /// The control plane's namespace (istiod).
    pub control_plane_namespace: DnsLabel,
    /// The namespace of the cluster DNS.
    pub dns_namespace: DnsLabel,
}

/// A prefix the platform serves itself (its prefix is reserved for teams).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformRoute {
    /// The path prefix.
    pub prefix: PathPrefix,
    /// The Service that answers it.
    pub service: Fqdn,
    /// Its port.
    pub port: Port,
}

impl Environment {
    /// The API version of every object generated for this environment.
    pub fn api_version(&self) -> ApiVersion {
        self.mesh.api_version()
    }

    /// Namespaces the platform owns here (gateways, root VirtualServices); no team may own them.
    pub fn platform_namespaces(&self) -> Vec<&DnsLabel> {
        let mut out = vec![self.ingress_gateway.namespace(), &self.root_namespace];
        if let EgressMode::Gateway(gw) = &self.egress {
            out.push(gw.gateway.namespace());
            if gw.workload_namespace != *gw.gateway.namespace() {
                out.push(&gw.workload_namespace);
            }
        }
        out
    }
}

/// One team, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// The team's name.
    pub name: DnsLabel,
    /// OIDC groups whose members act for the team.
    pub groups: Vec<String>,
    /// Namespaces the team owns.
    pub namespaces: Vec<DnsLabel>,
    /// OIDC groups whose members approve the team's requests.
    pub approver_groups: Vec<String>,
    /// Egress hosts the team's Sidecars keep on top of the environment's.
    pub sidecar_egress_hosts: Vec<String>,
}

impl Team {
    /// Whether the team owns the namespace.
    pub fn owns(&self, namespace: &DnsLabel) -> bool {
        self.namespaces.contains(namespace)
    }
}

/// Every environment and team, parsed and cross-checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    environments: BTreeMap<DnsLabel, Environment>,
    teams: BTreeMap<DnsLabel, Team>,
}

/// The forges delivery knows (`gitops.forge`).
pub const FORGES: [&str; 4] = ["local", "github", "gitlab", "gitea"];

impl Catalog {
    /// Parses the raw config; every problem names its config path (`environments[0].hosts[1]`).
    pub fn from_config(
        environments: Vec<EnvironmentConfig>,
        teams: Vec<TeamConfig>,
    ) -> Result<Catalog, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut envs = BTreeMap::new();
        for (index, raw) in environments.iter().enumerate() {
            let at = format!("environments[{index}]");
            match parse_environment(raw) {
                Ok(env) => {
                    if envs.contains_key(&env.name) {
                        problems.push(
                            Problem::invalid(
                                "name",
                                format!("environment {} is defined twice", env.name),
                            )
                            .under(&at),
                        );
                    } else {
                        envs.insert(env.name.clone(), env);
                    }
                }
                Err(found) => problems.extend(found.into_iter().map(|p| p.under(&at))),
            }
        }
        // Delivery regenerates each environment's folder as a whole: two environments in one
        // repository must not share a folder, or one would delete the other's files.
        let mut seen = BTreeSet::new();
        let folders: Vec<(usize, &Environment, String)> = environments
            .iter()
            .enumerate()
            .filter_map(|(index, raw)| {
                let (_, env) = envs.iter().find(|(k, _)| k.as_str() == raw.name)?;
                seen.insert(raw.name.as_str())
                    .then(|| (index, env, env.path_template.root(env.name.as_str())))
            })
            .collect();
        for (i, (index, env, folder)) in folders.iter().enumerate() {
            for (_, other, other_folder) in &folders[..i] {
                let nested =
                    |a: &str, b: &str| a.is_empty() || a == b || b.starts_with(&format!("{a}/"));
                if env.repository == other.repository
                    && (nested(folder, other_folder) || nested(other_folder, folder))
                {
                    problems.push(Problem::invalid(
                        format!("environments[{index}].gitops.pathTemplate"),
                        format!(
                            "puts {} in the folder \"{folder}\", which overlaps {}'s \"{other_folder}\" in the same repository; \
                             include <env> in the path template, before <namespace>",
                            env.name, other.name
                        ),
                    ));
                }
            }
        }
        if environments.is_empty() {
            problems.push(Problem::invalid(
                "environments",
                "at least one environment is required",
            ));
        }
        let platform: BTreeMap<&DnsLabel, &DnsLabel> = envs
            .values()
            .flat_map(|e| {
                e.platform_namespaces()
                    .into_iter()
                    .map(move |ns| (ns, &e.name))
            })
            .collect();
        let mut parsed_teams = BTreeMap::new();
        let mut owner: BTreeMap<DnsLabel, DnsLabel> = BTreeMap::new();
        for (index, raw) in teams.iter().enumerate() {
            let at = format!("teams[{index}]");
            match parse_team(raw) {
                Ok(team) => {
                    let mut ok = true;
                    for (i, ns) in team.namespaces.iter().enumerate() {
                        let field = format!("{at}.namespaces[{i}]");
                        if let Some(env) = platform.get(ns) {
                            ok = false;
                            problems.push(Problem::invalid(
                                field,
                                format!("namespace {ns} belongs to the platform in environment {env}; a team cannot own it"),
                            ));
                        } else if let Some(other) = owner.get(ns) {
                            ok = false;
                            problems.push(Problem::invalid(
                                field,
                                format!("namespace {ns} is already owned by team {other}; a namespace has one owner"),
                            ));
                        } else {
                            owner.insert(ns.clone(), team.name.clone());
                        }
                    }
                    if parsed_teams.contains_key(&team.name) {
                        ok = false;
                        problems.push(Problem::invalid(
                            format!("{at}.name"),
                            format!("team {} is defined twice", team.name),
                        ));
                    }
                    if ok {
                        parsed_teams.insert(team.name.clone(), team);
                    }
                }
                Err(found) => problems.extend(found.into_iter().map(|p| p.under(&at))),
            }
        }
        if problems.is_empty() {
            Ok(Catalog {
                environments: envs,
                teams: parsed_teams,
            })
        } else {
            Err(problems)
        }
    }

    /// The environment of that name.
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v)
    }

    /// Every environment, by name.
    pub fn environments(&self) -> impl Iterator<Item = &Environment> {
        self.environments.values()
    }

    /// The team of that name.
    pub fn team(&self, name: &str) -> Option<&Team> {
        self.teams
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v)
    }

    /// Every team, by name.
    pub fn teams(&self) -> impl Iterator<Item = &Team> {
        self.teams.values()
    }

    /// The teams a user acts for, given the user's OIDC groups.
    pub fn teams_for_groups<'a>(&'a self, groups: &'a [String]) -> impl Iterator<Item = &'a Team> {
        self.teams
            .values()
            .filter(move |t| t.groups.iter().any(|g| groups.contains(g)))
    }

    /// The team owning a namespace, if any.
    pub fn namespace_owner(&self, namespace: &DnsLabel) -> Option<&Team> {
        self.teams.values().find(|t| t.owns(namespace))
    }
}

fn field<T>(problems: &mut Vec<Problem>, name: &str, result: Result<T, ParseError>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(Problem::invalid(name, e.message()));
            None
        }
    }
}

fn list<T>(
    problems: &mut Vec<Problem>,
    name: &str,
    items: &[String],
    parse: impl Fn(&str) -> Result<T, ParseError>,
) -> Vec<T> {
    items
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| field(problems, &format!("{name}[{i}]"), parse(raw)))
        .collect()
}

/// A Sidecar egress host `namespace/host` as the Sidecar webhook accepts it: namespace `*`, `.`,
/// `~` or a DNS label; host `*`, `*.suffix` or a host name.
fn parse_sidecar_host(value: &str) -> Result<String, ParseError> {
    let fail = || {
        ParseError::new(format!(
            "{} is not namespace/host; expected e.g. ./* or istio-system/* or ./api.example.com",
            quoted(value)
        ))
    };
    let (ns, host) = value.split_once('/').ok_or_else(fail)?;
    let ns_ok = matches!(ns, "*" | "." | "~") || DnsLabel::parse(ns).is_ok();
    let host_ok =
        host == "*" || EgressHost::parse(host).is_ok() || HostPattern::parse(host).is_ok();
    if ns_ok && host_ok {
        Ok(value.to_owned())
    } else {
        Err(fail())
    }
}

fn parse_environment(raw: &EnvironmentConfig) -> Result<Environment, Vec<Problem>> {
    let mut problems = Vec::new();
    let p = &mut problems;
    let name = field(p, "name", DnsLabel::parse(&raw.name));
    let hosts = list(p, "hosts", &raw.hosts, Fqdn::parse);
    if raw.hosts.is_empty() {
        p.push(Problem::invalid(
            "hosts",
            "at least one shared host is required",
        ));
    }
    for (i, host) in hosts.iter().enumerate() {
        if hosts[..i].contains(host) {
            p.push(Problem::invalid(
                format!("hosts[{i}]"),
                format!("{host} is listed twice"),
            ));
        } else if let Some(j) = hosts[..i]
            .iter()
            .position(|h| crate::render::host_stem(h) == crate::render::host_stem(host))
        {
            p.push(Problem::invalid(
                format!("hosts[{i}]"),
                format!(
                    "{host} and hosts[{j}] give the same object name {}; rename one",
                    crate::render::host_stem(host)
                ),
            ));
        }
        if crate::render::root_name(host).len() > 253 {
            p.push(Problem::invalid(
                format!("hosts[{i}]"),
                "is too long for the generated object names; a shared host has at most 248 characters",
            ));
        }
    }
    let ingress_gateway = field(
        p,
        "ingressGateway",
        NamespacedName::parse(&raw.ingress_gateway),
    );
    let root_namespace = match &raw.root_namespace {
        Some(ns) => field(p, "rootNamespace", DnsLabel::parse(ns)),
        None => ingress_gateway.as_ref().map(|g| g.namespace().clone()),
    };
    let mesh = match MeshVersion::parse(&raw.mesh.flavour, &raw.mesh.version) {
        Ok(m) => Some(m),
        Err(problem) => {
            p.push(problem.under("mesh"));
            None
        }
    };
    let path_template = field(
        p,
        "gitops.pathTemplate",
        PathTemplate::parse(
            raw.gitops
                .path_template
                .as_deref()
                .unwrap_or(PathTemplate::DEFAULT),
        ),
    );
    if let Some(forge) = &raw.gitops.forge
        && !FORGES.contains(&forge.as_str())
    {
        p.push(Problem::invalid(
            "gitops.forge",
            format!(
                "{} is not a forge Signalbox delivers to; accepted: {}",
                quoted(forge),
                FORGES.join(", ")
            ),
        ));
    }
    if raw.gitops.forge.is_some() && raw.gitops.repository.is_none() {
        p.push(Problem::invalid(
            "gitops.repository",
            "is required with a forge: owner/name on GitHub, GitLab and Gitea, a folder for local",
        ));
    }
    let egress = parse_egress(p, raw);
    let control_plane = match &raw.sidecar.control_plane_namespace {
        Some(namespace) => match DnsLabel::parse(namespace) {
            Ok(label) => label.to_string(),
            Err(error) => {
                p.push(Problem::invalid(
                    "sidecar.controlPlaneNamespace",
                    format!("{error}; a namespace name like istio-system"),
                ));
                DEFAULT_CONTROL_PLANE_NAMESPACE.to_owned()
            }
        },
        None => DEFAULT_CONTROL_PLANE_NAMESPACE.to_owned(),
    };
    let onboarding = parse_onboarding(p, &raw.onboarding, mesh, &control_plane);
    let jwt_issuers = parse_jwt(p, &raw.jwt);
    let tracing = parse_tracing(p, raw.tracing.as_ref());
    for (key, url) in [
        ("kiali", &raw.observability.kiali),
        ("grafana", &raw.observability.grafana),
        ("jaeger", &raw.observability.jaeger),
        ("prometheus", &raw.observability.prometheus),
    ] {
        if let Some(url) = url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            p.push(Problem::invalid(
                format!("observability.{key}"),
                format!(
                    "{} is not a URL; expected its base address such as https://{key}.example.com",
                    quoted(url)
                ),
            ));
        }
    }
    if let Some(cluster) = &raw.cluster {
        let sources = [
            cluster.in_cluster,
            cluster.kubeconfig.is_some(),
            cluster.fixture.is_some(),
        ];
        if sources.iter().filter(|set| **set).count() != 1 {
            p.push(Problem::invalid(
                "cluster",
                "needs exactly one source: inCluster = true, kubeconfig (with an optional \
                 context), or fixture",
            ));
        } else if cluster.context.is_some() && cluster.kubeconfig.is_none() {
            p.push(Problem::invalid(
                "cluster.context",
                "only applies with kubeconfig",
            ));
        }
        if let Some(application) = &cluster.application
            && NamespacedName::parse(application).is_err()
        {
            p.push(Problem::invalid(
                "cluster.application",
                format!(
                    "{} is not an Argo CD Application; expected namespace/name such as argocd/mesh-dev",
                    quoted(application)
                ),
            ));
        }
    }
    let sidecar = SidecarPolicy {
        registry_only: raw.sidecar.registry_only,
        egress_hosts: match &raw.sidecar.egress_hosts {
            Some(hosts) => list(p, "sidecar.egressHosts", hosts, parse_sidecar_host),
            None => DEFAULT_SIDECAR_HOSTS
                .iter()
                .map(|h| h.replace("{control-plane}", &control_plane))
                .collect(),
        },
    };
    let policy = &raw.policy;
    let mut denied_hosts: Vec<HostPattern> = HostPattern::BUILT_IN
        .iter()
        .map(|h| HostPattern(h.to_string()))
        .collect();
    denied_hosts.extend(list(
        p,
        "policy.deniedHosts",
        &policy.denied_hosts,
        HostPattern::parse,
    ));
    let allowed_ports = match &policy.allowed_ports {
        Some(ports) => ports
            .iter()
            .enumerate()
            .filter_map(|(i, n)| field(p, &format!("policy.allowedPorts[{i}]"), Port::try_from(*n)))
            .collect(),
        None => vec![Port::try_from(443).expect("443 is a port")],
    };
    let allowed_protocols = match &policy.allowed_protocols {
        Some(protocols) => list(p, "policy.allowedProtocols", protocols, Protocol::parse),
        None => vec![Protocol::Tls, Protocol::Https],
    };
    let mut reserved_prefixes = list(
        p,
        "policy.reservedPrefixes",
        &policy.reserved_prefixes,
        PathPrefix::parse,
    );
    let mut platform_routes = Vec::new();
    for (i, route) in raw.platform_routes.iter().enumerate() {
        let at = |field: &str| format!("platformRoutes[{i}].{field}");
        let prefix = field(p, &at("prefix"), PathPrefix::parse(&route.prefix));
        let service = field(p, &at("service"), Fqdn::parse(&route.service));
        let port = field(p, &at("port"), Port::try_from(route.port));
        if let Some(prefix) = &prefix
            && prefix.as_str() == "/"
        {
            p.push(Problem::invalid(
                at("prefix"),
                "the platform cannot take / (every path); name a prefix such as /.well-known",
            ));
            continue;
        }
        if let (Some(prefix), Some(service), Some(port)) = (prefix, service, port) {
            if platform_routes
                .iter()
                .any(|other: &PlatformRoute| other.prefix == prefix)
            {
                p.push(Problem::invalid(
                    at("prefix"),
                    format!("{prefix} is routed twice; keep one platform route per prefix"),
                ));
                continue;
            }
            // Served by the platform, so no team may lease it or anything under it.
            if !reserved_prefixes.contains(&prefix) {
                reserved_prefixes.push(prefix.clone());
            }
            platform_routes.push(PlatformRoute {
                prefix,
                service,
                port,
            });
        }
    }
    if raw.approval.approvals_required == 0 {
        p.push(Problem::invalid(
            "approval.approvalsRequired",
            "must be at least 1",
        ));
    }
    let (
        Some(name),
        Some(ingress_gateway),
        Some(root_namespace),
        Some(mesh),
        Some(path_template),
        Some(egress),
        Some(onboarding),
    ) = (
        name,
        ingress_gateway,
        root_namespace,
        mesh,
        path_template,
        egress,
        onboarding,
    )
    else {
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Environment {
        name,
        hosts,
        ingress_gateway,
        root_namespace,
        mesh,
        path_template,
        repository: raw.gitops.repository.clone(),
        base_branch: raw.gitops.base_branch.clone(),
        gitops: raw.gitops.clone(),
        egress,
        sidecar,
        policy: Policy {
            reserved_prefixes,
            denied_hosts,
            allowed_ports,
            allowed_protocols,
            allow_wildcard_hosts: policy.allow_wildcard_hosts,
        },
        approval: ApprovalPolicy {
            approvals_required: raw.approval.approvals_required,
            approver_groups: raw.approval.approver_groups.clone(),
        },
        platform_routes,
        onboarding,
        cluster: raw.cluster.clone(),
        observability: raw.observability.clone(),
        jwt_issuers,
        tracing,
    })
}

fn parse_jwt(p: &mut Vec<Problem>, raw: &crate::config::JwtConfig) -> Vec<JwtIssuer> {
    let mut out: Vec<JwtIssuer> = Vec::new();
    for (i, issuer) in raw.issuers.iter().enumerate() {
        let at = format!("jwt.issuers[{i}]");
        if issuer.issuer.trim().is_empty() {
            p.push(Problem::invalid(
                format!("{at}.issuer"),
                "is empty; the iss claim of the issuer's tokens, such as https://login.example.com",
            ));
            continue;
        }
        if out.iter().any(|known| known.issuer == issuer.issuer) {
            p.push(Problem::invalid(
                format!("{at}.issuer"),
                format!("{} is listed twice", quoted(&issuer.issuer)),
            ));
            continue;
        }
        let keys = match (&issuer.jwks_uri, &issuer.jwks) {
            (Some(uri), None) if uri.starts_with("https://") || uri.starts_with("http://") => {
                JwtKeys::Uri(uri.clone())
            }
            (Some(uri), None) => {
                p.push(Problem::invalid(
                    format!("{at}.jwksUri"),
                    format!("{} is not an http(s) URL", quoted(uri)),
                ));
                continue;
            }
            (None, Some(jwks))
                if serde_json::from_str::<serde_json::Value>(jwks)
                    .is_ok_and(|v| v["keys"].is_array()) =>
            {
                JwtKeys::Inline(jwks.clone())
            }
            (None, Some(_)) => {
                p.push(Problem::invalid(
                    format!("{at}.jwks"),
                    "is not a JSON Web Key Set; expected JSON with a keys list",
                ));
                continue;
            }
            _ => {
                p.push(Problem::invalid(
                    at,
                    "needs jwksUri (where the issuer publishes its keys) or jwks (the keys \
                     inline), one of them",
                ));
                continue;
            }
        };
        out.push(JwtIssuer {
            issuer: issuer.issuer.clone(),
            keys,
        });
    }
    out
}

fn parse_tracing(
    p: &mut Vec<Problem>,
    raw: Option<&crate::config::TracingConfig>,
) -> Option<Tracing> {
    let raw = raw?;
    let collector = NamespacedName::parse(&raw.collector)
        .map_err(|e| {
            p.push(Problem::invalid(
                "tracing.collector",
                format!("{}; the collector's Service as namespace/name", e.message()),
            ))
        })
        .ok();
    let protocol = match raw.protocol.as_deref() {
        None | Some("http/protobuf") => Some(OtlpProtocol::HttpProtobuf),
        Some("grpc") => Some(OtlpProtocol::Grpc),
        Some(other) => {
            p.push(Problem::invalid(
                "tracing.protocol",
                format!(
                    "{} is not an OTLP protocol; expected http/protobuf or grpc",
                    quoted(other)
                ),
            ));
            None
        }
    };
    let port = Port::try_from(raw.port)
        .map_err(|e| p.push(Problem::invalid("tracing.port", e.message())))
        .ok();
    let (collector, protocol, port) = (collector?, protocol?, port?);
    if port.get() != protocol.port() {
        p.push(Problem::invalid(
            "tracing.port",
            format!(
                "{port} does not go with {}: OTLP uses {} for it (and {} for {})",
                protocol.as_str(),
                protocol.port(),
                match protocol {
                    OtlpProtocol::Grpc => OtlpProtocol::HttpProtobuf.port(),
                    OtlpProtocol::HttpProtobuf => OtlpProtocol::Grpc.port(),
                },
                match protocol {
                    OtlpProtocol::Grpc => "http/protobuf",
                    OtlpProtocol::HttpProtobuf => "grpc",
                }
            ),
        ));
        return None;
    }
    Some(Tracing {
        collector,
        port,
        protocol,
    })
}

/// Istio's injection label without a revision.
pub const INJECTION_LABEL: (&str, &str) = ("istio-injection", "enabled");

/// The ServiceMeshControlPlane name OpenShift Service Mesh 2.x installs by default.
pub const DEFAULT_CONTROL_PLANE_NAME: &str = "basic";

fn parse_onboarding(
    p: &mut Vec<Problem>,
    raw: &crate::config::OnboardingConfig,
    mesh: Option<MeshVersion>,
    control_plane: &str,
) -> Option<Onboarding> {
    let mtls = match raw.mtls.as_deref() {
        None | Some("STRICT") => Some(MtlsMode::Strict),
        Some("PERMISSIVE") => Some(MtlsMode::Permissive),
        Some(other) => {
            p.push(Problem::invalid(
                "onboarding.mtls",
                format!(
                    "{} is not an mTLS mode; expected STRICT or PERMISSIVE",
                    quoted(other)
                ),
            ));
            None
        }
    };
    let mesh = mesh?;
    let control_plane_namespace = DnsLabel::parse(control_plane).ok()?;
    // OSSM 2.x enrols namespaces through ServiceMeshMember; its Istio is at most 1.20.
    let maistra = mesh.flavour() == MeshFlavour::OpenShiftServiceMesh && mesh.istio_minor() <= 20;
    let membership = if maistra {
        if raw.revision.is_some() {
            p.push(Problem::invalid(
                "onboarding.revision",
                "only applies to Istio and OpenShift Service Mesh 3.x; OpenShift Service Mesh 2.x \
                 enrols namespaces through a ServiceMeshMember (set onboarding.controlPlane)",
            ));
        }
        let name = raw
            .control_plane
            .as_deref()
            .unwrap_or(DEFAULT_CONTROL_PLANE_NAME);
        let name = field(
            p,
            "onboarding.controlPlane",
            DnsLabel::parse(name).map_err(|e| {
                ParseError::new(format!(
                    "{}; the ServiceMeshControlPlane's name, such as basic",
                    e.message()
                ))
            }),
        )?;
        Membership::Member {
            control_plane: NamespacedName::parse(&format!("{control_plane_namespace}/{name}"))
                .ok()?,
        }
    } else {
        if raw.control_plane.is_some() {
            p.push(Problem::invalid(
                "onboarding.controlPlane",
                "only applies to OpenShift Service Mesh 2.x; Istio enrols namespaces by label \
                 (set onboarding.revision for a revisioned control plane)",
            ));
        }
        match &raw.revision {
            Some(revision) if is_label_value(revision) && !revision.is_empty() => {
                Membership::Label {
                    key: "istio.io/rev".to_owned(),
                    value: revision.clone(),
                }
            }
            Some(revision) => {
                p.push(Problem::invalid(
                    "onboarding.revision",
                    format!(
                        "{} is not a revision name; expected a label value such as 1-24 or stable",
                        quoted(revision)
                    ),
                ));
                return None;
            }
            None => Membership::Label {
                key: INJECTION_LABEL.0.to_owned(),
                value: INJECTION_LABEL.1.to_owned(),
            },
        }
    };
    let default_dns = if mesh.flavour() == MeshFlavour::OpenShiftServiceMesh {
        "openshift-dns"
    } else {
        "kube-system"
    };
    let dns_namespace = field(
        p,
        "onboarding.dnsNamespace",
        DnsLabel::parse(raw.dns_namespace.as_deref().unwrap_or(default_dns)),
    )?;
    Some(Onboarding {
        mtls: mtls?,
        membership,
        control_plane_namespace,
        dns_namespace,
    })
}

fn parse_egress(p: &mut Vec<Problem>, raw: &EnvironmentConfig) -> Option<EgressMode> {
    let egress = &raw.egress;
    match egress.mode.as_str() {
        "direct" => {
            for (set, key) in [
                (egress.gateway.is_some(), "gateway"),
                (egress.selector.is_some(), "selector"),
                (egress.service.is_some(), "service"),
                (egress.gateway_port.is_some(), "gatewayPort"),
                (egress.required, "required"),
                (egress.workload_namespace.is_some(), "workloadNamespace"),
                (egress.platform_owned, "platformOwned"),
                (egress.subset.is_some(), "subset"),
            ] {
                if set {
                    p.push(Problem::invalid(
                        format!("egress.{key}"),
                        "only applies with mode = \"gateway\"",
                    ));
                }
            }
            Some(EgressMode::Direct)
        }
        "gateway" => {
            let Some(raw_gateway) = &egress.gateway else {
                p.push(Problem::invalid(
                    "egress.gateway",
                    "is required with mode = \"gateway\"; expected namespace/name such as istio-egress/egress-gw",
                ));
                return None;
            };
            let gateway = field(p, "egress.gateway", NamespacedName::parse(raw_gateway))?;
            let selector = egress.selector.clone().unwrap_or_else(|| {
                BTreeMap::from([("istio".to_owned(), "egressgateway".to_owned())])
            });
            let mut ok = !selector.is_empty();
            if !ok {
                p.push(Problem::invalid(
                    "egress.selector",
                    "must select the egress gateway pods with at least one label",
                ));
            }
            for (key, value) in &selector {
                if !is_label_key(key) || !is_label_value(value) {
                    ok = false;
                    p.push(Problem::invalid(
                        format!("egress.selector.{key}"),
                        format!(
                            "{}={} is not a Kubernetes label; expected e.g. istio=egressgateway",
                            quoted(key),
                            quoted(value)
                        ),
                    ));
                }
            }
            let service = match &egress.service {
                Some(s) => field(p, "egress.service", Fqdn::parse(s))?,
                None => Fqdn::parse(&format!(
                    "istio-egressgateway.{}.svc.cluster.local",
                    gateway.namespace()
                ))
                .expect("a DNS label namespace makes a valid host"),
            };
            let port = match egress.gateway_port {
                Some(port) => field(p, "egress.gatewayPort", Port::try_from(port))?,
                None => Port::try_from(443).expect("443 is a port"),
            };
            let workload_namespace = match &egress.workload_namespace {
                Some(namespace) => {
                    field(p, "egress.workloadNamespace", DnsLabel::parse(namespace))?
                }
                None => match service.as_str().split('.').collect::<Vec<_>>().as_slice() {
                    [_, namespace, "svc", ..] => {
                        DnsLabel::parse(namespace).unwrap_or_else(|_| gateway.namespace().clone())
                    }
                    _ => gateway.namespace().clone(),
                },
            };
            if egress.subset.is_some() && !egress.platform_owned {
                p.push(Problem::invalid(
                    "egress.subset",
                    "only applies with platformOwned = true (else Signalbox defines the subset)",
                ));
            }
            let subset = match &egress.subset {
                Some(subset) => field(p, "egress.subset", DnsLabel::parse(subset))?.to_string(),
                None => crate::render::EGRESS_SUBSET.to_owned(),
            };
            ok.then_some(EgressMode::Gateway(EgressGateway {
                gateway,
                selector,
                service,
                port,
                required: egress.required,
                workload_namespace,
                platform_owned: egress.platform_owned,
                subset,
            }))
        }
        other => {
            p.push(Problem::invalid(
                "egress.mode",
                format!(
                    "{} is not an egress mode; expected direct or gateway",
                    quoted(other)
                ),
            ));
            None
        }
    }
}

/// A Kubernetes label key: optional DNS-subdomain prefix and `/`, then a name of 1–63
/// alphanumerics, `-`, `_`, `.` with alphanumeric ends.
pub(crate) fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty() && p.len() <= 253 && p.split('.').all(|l| DnsLabel::parse(l).is_ok())
    });
    prefix_ok && !name.is_empty() && is_label_value(name)
}

/// A Kubernetes label value: empty, or 1–63 alphanumerics, `-`, `_`, `.` with alphanumeric ends.
pub(crate) fn is_label_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && value.as_bytes()[0].is_ascii_alphanumeric()
            && value.as_bytes()[value.len() - 1].is_ascii_alphanumeric())
}

fn parse_team(raw: &TeamConfig) -> Result<Team, Vec<Problem>> {
    let mut problems = Vec::new();
    let p = &mut problems;
    let name = field(p, "name", DnsLabel::parse(&raw.name));
    let namespaces = list(p, "namespaces", &raw.namespaces, DnsLabel::parse);
    if raw.namespaces.is_empty() {
        p.push(Problem::invalid(
            "namespaces",
            "a team owns at least one namespace",
        ));
    }
    for (i, ns) in namespaces.iter().enumerate() {
        if namespaces[..i].contains(ns) {
            p.push(Problem::invalid(
                format!("namespaces[{i}]"),
                format!("{ns} is listed twice"),
            ));
        }
    }
    for (key, groups) in [
        ("groups", &raw.groups),
        ("approverGroups", &raw.approver_groups),
    ] {
        for (i, group) in groups.iter().enumerate() {
            if group.trim().is_empty() || group.chars().any(char::is_control) || group.len() > 256 {
                p.push(Problem::invalid(
                    format!("{key}[{i}]"),
                    "must be a group name of 1 to 256 characters without control characters",
                ));
            }
        }
    }
    let sidecar_egress_hosts = list(
        p,
        "sidecarEgressHosts",
        &raw.sidecar_egress_hosts,
        parse_sidecar_host,
    );
    match name {
        Some(name) if problems.is_empty() => Ok(Team {
            name,
            groups: raw.groups.clone(),
            namespaces,
            approver_groups: raw.approver_groups.clone(),
            sidecar_egress_hosts,
        }),
        _ => Err(problems),
    }
}
