//! Planning: from granted requests plus new ones to every file of the pull request.
//!
//! [`plan`] checks each new request against the policy, the granted requests and the new
//! requests before it (path lease conflicts, duplicate egress), then renders the desired state
//! of everything the new requests touch — regenerated from the whole set, so a root
//! VirtualService always lists every lease of its host — validates every rendered object against
//! its environment's schemas and Istio's webhook rules, and returns the files in path order with
//! the `kustomization.yaml` of each directory touched. A rendered object that fails validation is
//! a Signalbox bug: it is reported as a [`ProblemKind::Internal`] problem and never returned.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, EgressMode, Environment, MtlsMode, Team};
use crate::leases::{Overlap, PathLeases};
use crate::names::{Cidr, DnsLabel, EgressHost, Fqdn, PathPrefix, Port, Protocol, ServiceName};
use crate::observed::{Observations, Observed, ObservedPort};
use crate::policy;
use crate::problem::{Problem, ProblemKind};
use crate::render::{self, HostGrant, IstioObject};
use crate::request::traffic_split::Backend;
use crate::request::{
    ApiRoute, Authorization, CircuitBreaker, Egress, JwtAuthentication, MutualTls, Onboarding,
    PathMatch, Request, RequestKind, Tracing, TrafficSplit,
};
use crate::validate::{Severity, validate_object};

/// One file of the pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedFile {
    /// Path in the GitOps repository.
    pub path: String,
    /// The file's contents (one YAML document).
    pub contents: String,
}

/// Every file a pull request for the new requests would contain, plus validation warnings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Plan {
    /// Files in path order.
    pub files: Vec<RenderedFile>,
    /// Warnings Istio would show on apply (accepted, but worth a look).
    pub warnings: Vec<Problem>,
    /// What people do outside the pull request for the requests to work (a Rollout's traffic
    /// routing, the annotations of a Deployment), shown with the request.
    #[serde(default)]
    pub guidance: Vec<Guidance>,
}

/// Something a person does outside the pull request, with the exact YAML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guidance {
    /// The request it is for (its origin), when it is for one.
    pub source: Option<String>,
    /// What to change, in a few words: `Argo Rollout orders in team-a`.
    pub title: String,
    /// Why and how.
    pub text: String,
    /// The YAML to apply or merge.
    pub yaml: String,
}

impl Plan {
    /// All files as one multi-document YAML text, each document preceded by `# file: PATH`.
    pub fn to_multi_document_yaml(&self) -> String {
        let mut out = String::new();
        for file in &self.files {
            out.push_str("---\n# file: ");
            out.push_str(&file.path);
            out.push('\n');
            out.push_str(&file.contents);
            if !file.contents.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}

/// Where a lease or grant came from: its request's origin, and whether it is new in this plan.
#[derive(Debug, Clone, Copy)]
struct Contribution<'a> {
    origin: Option<&'a str>,
    is_new: bool,
}

type HostKey = (DnsLabel, Fqdn);
type NamespaceKey = (DnsLabel, DnsLabel);
/// One external host granted to a namespace: the merged grant, and whether a new request adds to
/// it.
struct GrantEntry {
    grant: HostGrant,
    touched: bool,
}

/// What the baseline of a namespace needs to know about its egress grants.
#[derive(Debug, Clone, Copy, Default)]
struct NamespaceEgress {
    /// Some grant goes through the egress gateway.
    via_gateway: bool,
    /// A new request adds a grant.
    touched: bool,
}

#[derive(Default)]
struct Grants {
    /// (env, namespace) -> host -> grant, with whether any port of it is new.
    by_namespace: BTreeMap<NamespaceKey, BTreeMap<EgressHost, GrantEntry>>,
    /// (env, port) -> the addresses plain TCP is granted on there, and whose they are: a TCP
    /// listener is keyed by address and port, so two grants must not share both.
    tcp: BTreeMap<(DnsLabel, Port), Vec<(Cidr, String)>>,
}

struct State<'a> {
    catalog: &'a Catalog,
    /// Render every object as touched: the whole state of the repository.
    touch_all: bool,
    leases: BTreeMap<HostKey, PathLeases<(&'a ApiRoute, Contribution<'a>)>>,
    grants: Grants,
    /// Environments rendered whether or not a request names them (baseline objects).
    environments: BTreeSet<&'a DnsLabel>,
    /// Namespaces onboarded by requests (on top of those the catalog gives each team), with
    /// their team.
    onboarded: BTreeMap<NamespaceKey, (&'a DnsLabel, Contribution<'a>)>,
    /// What the environments' clusters run, where they could be read.
    observed: Option<&'a Observations>,
    /// Namespace-wide mTLS asked for by requests: one per namespace.
    mtls: BTreeMap<NamespaceKey, (&'a MutualTls, Contribution<'a>)>,
    /// Workload mTLS asked for by requests: one per workload.
    workload_mtls: BTreeMap<(DnsLabel, DnsLabel, DnsLabel), (&'a MutualTls, Contribution<'a>)>,
    /// Circuit breakers by (environment, namespace, Service): one per Service host.
    breakers: BTreeMap<(DnsLabel, DnsLabel, ServiceName), (&'a CircuitBreaker, Contribution<'a>)>,
    /// Traffic splits by (environment, host, path) of their route: one per route.
    splits: BTreeMap<(DnsLabel, Fqdn, PathPrefix), (&'a TrafficSplit, Contribution<'a>)>,
    /// Authorization by (environment, namespace, workload): one ALLOW policy per workload.
    authorizations: BTreeMap<WorkloadKey, (&'a Authorization, Contribution<'a>)>,
    /// JWT requirements by (environment, namespace, workload): one issuer per workload.
    jwts: BTreeMap<WorkloadKey, (&'a JwtAuthentication, Contribution<'a>)>,
    /// Tracing by namespace: one Instrumentation per namespace.
    tracings: BTreeMap<NamespaceKey, (&'a Tracing, Contribution<'a>)>,
}

/// (environment, namespace, workload).
type WorkloadKey = (DnsLabel, DnsLabel, DnsLabel);

/// The parts of a Service's one DestinationRule, from every request about the Service.
#[derive(Default)]
struct RuleParts<'a> {
    breaker: Option<&'a CircuitBreaker>,
    subsets: Vec<render::Subset>,
    callers: BTreeSet<&'a DnsLabel>,
    touched: bool,
}

/// Granted requests in the order they build on each other (see [`rank`]).
fn onboardings_first(granted: &[Request]) -> impl Iterator<Item = &Request> {
    (0..3).flat_map(move |n| granted.iter().filter(move |r| rank(r) == n))
}

/// Where a request comes in the order requests build on each other: onboardings (namespaces),
/// then routes, grants and settings, then what refers to them (splits of routes, policies that
/// need the namespace's mTLS and the team's paths).
fn rank(request: &Request) -> u8 {
    match request.kind() {
        RequestKind::Onboarding(_) => 0,
        RequestKind::TrafficSplit(_)
        | RequestKind::Authorization(_)
        | RequestKind::JwtAuthentication(_) => 2,
        _ => 1,
    }
}

/// Checks the new requests and renders the pull request for them.
///
/// `granted` are requests approved before (their policy is not re-checked: a tightened policy
/// must not break unrelated deliveries); `new` are checked in order, each against the granted
/// ones and the new ones before it. All problems are returned together.
pub fn plan(catalog: &Catalog, granted: &[Request], new: &[Request]) -> Result<Plan, Vec<Problem>> {
    plan_observed(catalog, None, granted, new)
}

/// [`plan`], with what the clusters run: new requests are also checked against the cluster of
/// their environment (the target Service and port exist, the namespace is in the mesh, no
/// VirtualService Signalbox did not generate serves the path). An environment missing from
/// `observed` is checked from stored state alone.
pub fn plan_observed(
    catalog: &Catalog,
    observed: Option<&Observations>,
    granted: &[Request],
    new: &[Request],
) -> Result<Plan, Vec<Problem>> {
    let mut state = State::new(catalog, false);
    state.observed = observed;
    let mut problems = Vec::new();
    for request in onboardings_first(granted) {
        let mut found = Vec::new();
        if policy::lookup(catalog, request, &mut found).is_some() {
            state.add(request, false, &mut found);
        }
        problems.extend(found.into_iter().map(|p| p.in_source(request.origin())));
    }
    let mut ordered: Vec<&Request> = new.iter().collect();
    ordered.sort_by_key(|r| rank(r));
    for request in ordered {
        let found = match policy::check(catalog, request) {
            Ok(()) => {
                let mut found = Vec::new();
                state.add(request, true, &mut found);
                found
            }
            Err(found) => found,
        };
        problems.extend(found.into_iter().map(|p| p.in_source(request.origin())));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    state.render()
}

/// Renders every file the given granted requests produce together: the state of the GitOps
/// repository once they are all delivered. Comparing two states (before and after a request) gives
/// the files a pull request changes, removals included. Policy is not re-checked, as in [`plan`].
pub fn render_state(catalog: &Catalog, granted: &[Request]) -> Result<Plan, Vec<Problem>> {
    let mut state = State::new(catalog, true);
    let mut problems = Vec::new();
    for request in onboardings_first(granted) {
        let mut found = Vec::new();
        if policy::lookup(catalog, request, &mut found).is_some() {
            state.add(request, true, &mut found);
        }
        problems.extend(found.into_iter().map(|p| p.in_source(request.origin())));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if state.planned_environments().is_empty() {
        return Ok(Plan::default());
    }
    state.render()
}

/// Renders everything Signalbox generates for one environment from its granted requests (other
/// environments' requests are ignored): what its folder in the GitOps repository holds once they
/// are delivered, baseline Sidecars of namespaces without grants included, with a
/// `kustomization.yaml` in every folder from the environment's root down, so the root builds
/// with kustomize and an Argo CD Application can point at it. Delivery writes exactly these
/// files under [`crate::catalog::PathTemplate::root`]. `None` for an unknown environment.
pub fn render_environment(
    catalog: &Catalog,
    environment: &str,
    granted: &[Request],
) -> Option<Result<Plan, Vec<Problem>>> {
    let env = catalog.environment(environment)?;
    let mut state = State::new(catalog, true);
    state.environments.insert(&env.name);
    let mut problems = Vec::new();
    for request in onboardings_first(granted).filter(|r| r.environment().as_str() == environment) {
        let mut found = Vec::new();
        if policy::lookup(catalog, request, &mut found).is_some() {
            state.add(request, true, &mut found);
        }
        problems.extend(found.into_iter().map(|p| p.in_source(request.origin())));
    }
    if !problems.is_empty() {
        return Some(Err(problems));
    }
    Some(state.render())
}

/// Whether folder `dir` is `root` or below it (every folder is below the empty root).
fn within(dir: &str, root: &str) -> bool {
    root.is_empty()
        || dir == root
        || dir
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// How a team came to hold a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holding {
    /// The catalog gives it to the team.
    Configured,
    /// A granted Onboarding request.
    Onboarded,
    /// A new Onboarding request of this plan.
    Requested,
}

fn list_or_none(namespaces: &[&DnsLabel]) -> String {
    if namespaces.is_empty() {
        "none yet".to_owned()
    } else {
        namespaces
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn describe_overlap(overlap: Overlap) -> &'static str {
    match overlap {
        Overlap::Equal => "is the same as",
        Overlap::Shadows => "would shadow",
        Overlap::FallsUnder => "falls under",
    }
}

impl<'a> State<'a> {
    fn new(catalog: &'a Catalog, touch_all: bool) -> Self {
        Self {
            catalog,
            touch_all,
            leases: BTreeMap::new(),
            grants: Grants::default(),
            environments: BTreeSet::new(),
            onboarded: BTreeMap::new(),
            observed: None,
            mtls: BTreeMap::new(),
            workload_mtls: BTreeMap::new(),
            breakers: BTreeMap::new(),
            splits: BTreeMap::new(),
            authorizations: BTreeMap::new(),
            jwts: BTreeMap::new(),
            tracings: BTreeMap::new(),
        }
    }

    fn add(&mut self, request: &'a Request, is_new: bool, problems: &mut Vec<Problem>) {
        let contribution = Contribution {
            origin: request.origin(),
            is_new,
        };
        match request.kind() {
            RequestKind::ApiRoute(route) => {
                if is_new {
                    self.check_held(request, "target.namespace", problems);
                    self.check_in_mesh(request, "target.namespace", problems);
                    self.check_observed_route(route, problems);
                }
                self.add_route(route, contribution, problems);
            }
            RequestKind::Egress(egress) => {
                if is_new {
                    self.check_held(request, "namespace", problems);
                    self.check_in_mesh(request, "namespace", problems);
                }
                self.add_egress(egress, contribution, problems);
            }
            RequestKind::Onboarding(onboarding) => {
                self.add_onboarding(onboarding, contribution, problems)
            }
            RequestKind::MutualTls(mtls) => {
                if is_new {
                    self.check_held(request, "namespace", problems);
                }
                self.add_mtls(mtls, contribution, problems);
            }
            RequestKind::CircuitBreaker(breaker) => {
                if is_new {
                    self.check_held(request, "namespace", problems);
                    self.check_in_mesh(request, "namespace", problems);
                    self.check_observed_service(
                        breaker.environment(),
                        breaker.namespace(),
                        breaker.service(),
                        "service",
                        problems,
                    );
                }
                self.add_breaker(breaker, contribution, problems);
            }
            RequestKind::TrafficSplit(split) => {
                if is_new {
                    self.check_held(request, "namespace", problems);
                    for (side, field) in [(split.stable(), "stable"), (split.canary(), "canary")] {
                        if let Backend::Service(service) = side.backend() {
                            self.check_observed_service(
                                split.environment(),
                                split.namespace(),
                                service,
                                &format!("{field}.service"),
                                problems,
                            );
                        }
                    }
                }
                self.add_split(split, contribution, problems);
            }
            RequestKind::Authorization(authz) => {
                if is_new {
                    self.check_held(request, "namespace", problems);
                    self.check_strict(
                        authz.environment(),
                        authz.namespace(),
                        authz.workload(),
                        problems,
                    );
                    self.check_rule_paths(authz, problems);
                }
                let key = (
                    authz.environment().clone(),
                    authz.namespace().clone(),
                    authz.workload().clone(),
                );
                if let Some((_, earlier)) = self.authorizations.get(&key) {
                    problems.push(Problem::new(
                        ProblemKind::Conflict,
                        "workload",
                        format!(
                            "workload {} in namespace {} already has its authorization in {} \
                             ({}); a workload has one ALLOW policy, so ask to remove that request \
                             first, then ask for all of its callers together",
                            authz.workload(),
                            authz.namespace(),
                            authz.environment(),
                            Self::held_by_request(earlier)
                        ),
                    ));
                } else {
                    self.authorizations.insert(key, (authz, contribution));
                }
            }
            RequestKind::Tracing(tracing) => {
                if is_new {
                    self.check_held(request, "namespace", problems);
                    self.check_in_mesh(request, "namespace", problems);
                }
                let key = (tracing.environment().clone(), tracing.namespace().clone());
                if let Some((_, earlier)) = self.tracings.get(&key) {
                    problems.push(Problem::new(
                        ProblemKind::Conflict,
                        "namespace",
                        format!(
                            "namespace {} is already traced in {} ({}); a namespace has one \
                             Instrumentation (several make the operator skip injection), so ask \
                             to remove that request first, then ask again with every Deployment",
                            tracing.namespace(),
                            tracing.environment(),
                            Self::held_by_request(earlier)
                        ),
                    ));
                } else {
                    self.tracings.insert(key, (tracing, contribution));
                }
            }
            RequestKind::JwtAuthentication(jwt) => {
                if is_new {
                    self.check_held(request, "namespace", problems);
                }
                let key = (
                    jwt.environment().clone(),
                    jwt.namespace().clone(),
                    jwt.workload().clone(),
                );
                if let Some((existing, earlier)) = self.jwts.get(&key) {
                    problems.push(Problem::new(
                        if existing == &jwt && !earlier.is_new {
                            ProblemKind::AlreadyGranted
                        } else {
                            ProblemKind::Conflict
                        },
                        "workload",
                        format!(
                            "workload {} in namespace {} already requires a JWT from {} in {} \
                             ({}); its calls carry one token, so ask to remove that request first",
                            jwt.workload(),
                            jwt.namespace(),
                            existing.issuer(),
                            jwt.environment(),
                            Self::held_by_request(earlier)
                        ),
                    ));
                } else {
                    self.jwts.insert(key, (jwt, contribution));
                }
            }
        }
    }

    /// The mTLS mode a workload accepts: its own setting, else its namespace's, else the
    /// environment's.
    fn effective_mtls(
        &self,
        env: &DnsLabel,
        namespace: &DnsLabel,
        workload: &DnsLabel,
    ) -> MtlsMode {
        if let Some((mtls, _)) =
            self.workload_mtls
                .get(&(env.clone(), namespace.clone(), workload.clone()))
        {
            return mtls.mode();
        }
        if let Some((mtls, _)) = self.mtls.get(&(env.clone(), namespace.clone())) {
            return mtls.mode();
        }
        self.environment(env).onboarding.mtls
    }

    /// Callers are known by their mTLS identity: an authorization needs a STRICT workload.
    fn check_strict(
        &self,
        env: &DnsLabel,
        namespace: &DnsLabel,
        workload: &DnsLabel,
        problems: &mut Vec<Problem>,
    ) {
        if self.effective_mtls(env, namespace, workload) != MtlsMode::Strict {
            problems.push(Problem::policy(
                "namespace",
                format!(
                    "workload {workload} in namespace {namespace} accepts plain text in {env} \
                     (mTLS PERMISSIVE), so callers without a mesh identity would pass unnamed; \
                     ask for mTLS STRICT first (kind MutualTls, mode: STRICT), then for the \
                     authorization"
                ),
            ));
        }
    }

    /// An authorization's paths fall within the team's own leased paths.
    fn check_rule_paths(&self, authz: &Authorization, problems: &mut Vec<Problem>) {
        let env = authz.environment();
        let mine: Vec<&crate::leases::Lease<(&ApiRoute, Contribution)>> = self
            .leases
            .iter()
            .filter(|((e, _), _)| e == env)
            .flat_map(|(_, leases)| leases.in_routing_order())
            .filter(|lease| lease.owner == *authz.team())
            .collect();
        for (i, rule) in authz.rules().iter().enumerate() {
            let Some(to) = &rule.to else { continue };
            for (j, path) in to.paths.iter().enumerate() {
                let within = mine.iter().any(|lease| {
                    crate::leases::serves(&lease.path, lease.path_match, path.path().as_str())
                        && (!path.below() || lease.path_match == PathMatch::Prefix)
                });
                if !within {
                    let leased: Vec<String> = mine
                        .iter()
                        .map(|l| format!("{} {}", l.path_match, l.path))
                        .collect();
                    problems.push(Problem::policy(
                        format!("rules[{i}].to.paths[{j}]"),
                        format!(
                            "{} is not within team {}'s leased paths in {env} ({}); \
                             authorization names the team's own paths",
                            path.to_istio(),
                            authz.team(),
                            if leased.is_empty() {
                                "none yet: leave paths out, or ask for a route first".to_owned()
                            } else {
                                leased.join(", ")
                            }
                        ),
                    ));
                }
            }
        }
    }

    fn add_split(
        &mut self,
        split: &'a TrafficSplit,
        contribution: Contribution<'a>,
        problems: &mut Vec<Problem>,
    ) {
        let (env, host, path) = (split.environment(), split.host(), split.path());
        let lease = self
            .leases
            .get(&(env.clone(), host.clone()))
            .and_then(|leases| {
                leases
                    .in_routing_order()
                    .into_iter()
                    .find(|lease| lease.path == *path)
            });
        let Some(lease) = lease else {
            // A granted split whose route was removed splits nothing: it renders nothing. (The
            // whole state renders every request as new.)
            if contribution.is_new && !self.touch_all {
                let mine: Vec<String> = self
                    .leases
                    .get(&(env.clone(), host.clone()))
                    .map(|leases| {
                        leases
                            .in_routing_order()
                            .into_iter()
                            .filter(|lease| lease.owner == *split.team())
                            .map(|lease| lease.path.to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                problems.push(Problem::policy(
                    "path",
                    format!(
                        "team {} has no route {host}{path} in {env} to split; {}",
                        split.team(),
                        if mine.is_empty() {
                            "ask for the route (kind ApiRoute) first".to_owned()
                        } else {
                            format!("its routes on {host} are {}", mine.join(", "))
                        }
                    ),
                ));
            }
            return;
        };
        let route = lease.value.0;
        if lease.owner != *split.team() {
            problems.push(Problem::policy(
                "path",
                format!(
                    "{host}{path} is team {}'s route in {env}; a team splits only its own routes",
                    lease.owner
                ),
            ));
            return;
        }
        let target = route.target();
        if target.namespace() != split.namespace() {
            problems.push(Problem::invalid(
                "namespace",
                format!(
                    "the route {host}{path} sends its traffic to namespace {}; give namespace: {}",
                    target.namespace(),
                    target.namespace()
                ),
            ));
            return;
        }
        let key = (env.clone(), host.clone(), path.clone());
        if let Some((_, earlier)) = self.splits.get(&key) {
            problems.push(Problem::new(
                ProblemKind::Conflict,
                "path",
                format!(
                    "the route {host}{path} is already split in {env} ({}); a route has one \
                     split, so ask to remove that request first, then ask for the new one",
                    Self::held_by_request(earlier)
                ),
            ));
            return;
        }
        if split.by_subset() {
            // Splits of other routes to the same Service share its DestinationRule: a subset
            // name means the same pods everywhere.
            let mine = render::split_subsets(split);
            for (other, earlier) in self.splits.values() {
                if other.environment() != env || !other.by_subset() {
                    continue;
                }
                let Some(other_route) = self
                    .leases
                    .get(&(env.clone(), other.host().clone()))
                    .and_then(|leases| {
                        leases
                            .in_routing_order()
                            .into_iter()
                            .find(|lease| lease.path == *other.path())
                            .map(|lease| lease.value.0)
                    })
                else {
                    continue;
                };
                if other_route.target().namespace() != target.namespace()
                    || other_route.target().service() != target.service()
                {
                    continue;
                }
                for theirs in render::split_subsets(other) {
                    if let Some(ours) = mine.iter().find(|s| s.name == theirs.name)
                        && ours.labels != theirs.labels
                    {
                        problems.push(Problem::new(
                            ProblemKind::Conflict,
                            "canary.subset",
                            format!(
                                "subset {} of Service {} already selects other labels ({}, \
                                 {}); use the same labels, or another subset name",
                                theirs.name,
                                target.service(),
                                other.summary_line(),
                                Self::held_by_request(earlier)
                            ),
                        ));
                        return;
                    }
                }
            }
        }
        self.splits.insert(key, (split, contribution));
    }

    /// How an earlier request holding the same setting is named in a conflict.
    fn held_by_request(contribution: &Contribution<'_>) -> String {
        match (contribution.is_new, contribution.origin) {
            (true, Some(origin)) => format!("asked for in {origin} too"),
            (true, None) => "asked for earlier in this batch".to_owned(),
            (false, Some(origin)) => format!("granted by {origin}"),
            (false, None) => "granted before".to_owned(),
        }
    }

    fn add_mtls(
        &mut self,
        mtls: &'a MutualTls,
        contribution: Contribution<'a>,
        problems: &mut Vec<Problem>,
    ) {
        let (env, namespace) = (mtls.environment().clone(), mtls.namespace().clone());
        let held = match mtls.workload() {
            None => self.mtls.get(&(env.clone(), namespace.clone())),
            Some(workload) => {
                self.workload_mtls
                    .get(&(env.clone(), namespace.clone(), workload.clone()))
            }
        };
        if let Some((existing, earlier)) = held {
            let subject = match mtls.workload() {
                None => format!("namespace {namespace}"),
                Some(workload) => format!("workload {workload} in namespace {namespace}"),
            };
            let same = existing.mode() == mtls.mode() && existing.port_level() == mtls.port_level();
            problems.push(Problem::new(
                if same && !earlier.is_new {
                    ProblemKind::AlreadyGranted
                } else {
                    ProblemKind::Conflict
                },
                "mode",
                format!(
                    "{subject} already has its mTLS setting ({}, {}) in {env}; it has one, so \
                     ask to remove that request first, then ask for {}",
                    existing.mode(),
                    Self::held_by_request(earlier),
                    mtls.mode()
                ),
            ));
            return;
        }
        if mtls.mode() == MtlsMode::Permissive && contribution.is_new && !self.touch_all {
            let relying: Vec<String> = self
                .authorizations
                .keys()
                .filter(|(e, ns, workload)| {
                    *e == env && *ns == namespace && mtls.workload().is_none_or(|w| w == workload)
                })
                .map(|(_, _, workload)| workload.to_string())
                .collect();
            if !relying.is_empty() {
                problems.push(Problem::new(
                    ProblemKind::Conflict,
                    "mode",
                    format!(
                        "the authorization of {} in namespace {namespace} names callers by their \
                         mTLS identity, which PERMISSIVE would let plain-text callers skip; \
                         remove the authorization first, or keep STRICT",
                        relying.join(", ")
                    ),
                ));
                return;
            }
        }
        match mtls.workload() {
            None => {
                self.mtls.insert((env, namespace), (mtls, contribution));
            }
            Some(workload) => {
                self.workload_mtls
                    .insert((env, namespace, workload.clone()), (mtls, contribution));
            }
        }
    }

    fn add_breaker(
        &mut self,
        breaker: &'a CircuitBreaker,
        contribution: Contribution<'a>,
        problems: &mut Vec<Problem>,
    ) {
        let key = (
            breaker.environment().clone(),
            breaker.namespace().clone(),
            breaker.service().clone(),
        );
        if let Some((_, earlier)) = self.breakers.get(&key) {
            problems.push(Problem::new(
                ProblemKind::Conflict,
                "service",
                format!(
                    "Service {} in namespace {} already has a circuit breaker in {} ({}); a \
                     Service has one DestinationRule, so ask to remove that request first, then \
                     ask for the new limits",
                    breaker.service(),
                    breaker.namespace(),
                    breaker.environment(),
                    Self::held_by_request(earlier)
                ),
            ));
            return;
        }
        self.breakers.insert(key, (breaker, contribution));
    }

    /// A Service a request names exists in the cluster, where it could be read.
    fn check_observed_service(
        &self,
        env: &DnsLabel,
        namespace: &DnsLabel,
        service: &ServiceName,
        field: &str,
        problems: &mut Vec<Problem>,
    ) {
        let Some(observed) = self.observed(env) else {
            return;
        };
        let namespace = namespace.as_str();
        if !observed.namespaces.contains_key(namespace) {
            return;
        }
        let services: Vec<&str> = observed
            .services_in(namespace)
            .map(|(name, _)| name)
            .collect();
        if !services.contains(&service.as_str()) {
            problems.push(Problem::policy(
                field,
                format!(
                    "there is no Service {service} in namespace {namespace} in {env}; {}",
                    if services.is_empty() {
                        "the namespace runs no Services yet".to_owned()
                    } else {
                        format!("it runs {}", services.join(", "))
                    }
                ),
            ));
        }
    }

    /// The team holding a namespace in an environment: from the catalog, or onboarded.
    fn holder(&self, env: &DnsLabel, namespace: &DnsLabel) -> Option<(&'a DnsLabel, Holding)> {
        if let Some(team) = self.catalog.namespace_owner(namespace) {
            return Some((&team.name, Holding::Configured));
        }
        self.onboarded
            .get(&(env.clone(), namespace.clone()))
            .map(|(team, contribution)| {
                (
                    *team,
                    if contribution.is_new {
                        Holding::Requested
                    } else {
                        Holding::Onboarded
                    },
                )
            })
    }

    /// The namespaces a team holds in an environment, configured ones first.
    fn held_by(&self, env: &DnsLabel, team: &DnsLabel) -> Vec<&DnsLabel> {
        let mut out: Vec<&DnsLabel> = self
            .catalog
            .team(team.as_str())
            .map(|t| t.namespaces.iter().collect())
            .unwrap_or_default();
        out.extend(
            self.onboarded
                .iter()
                .filter(|((e, _), (t, _))| e == env && *t == team)
                .map(|((_, namespace), _)| namespace),
        );
        out
    }

    /// A route or grant acts in a namespace its team holds in the environment.
    fn check_held(&self, request: &Request, field: &str, problems: &mut Vec<Problem>) {
        let (env, team, namespace) = (request.environment(), request.team(), request.namespace());
        match self.holder(env, namespace) {
            Some((holder, _)) if holder == team => {}
            Some((holder, _)) => problems.push(Problem::policy(
                field,
                format!(
                    "namespace {namespace} is held by team {holder} in {env}; choose one of \
                     team {team}'s namespaces ({})",
                    list_or_none(&self.held_by(env, team))
                ),
            )),
            None => problems.push(Problem::policy(
                field,
                format!(
                    "team {team} does not hold namespace {namespace} in {env}, so it is not \
                     onboarded to the mesh for the team; choose one of {}, or onboard \
                     {namespace} first with a request of kind Onboarding (environment: {env}, \
                     team: {team}, namespace: {namespace}), which gives it its baseline once \
                     approved",
                    list_or_none(&self.held_by(env, team))
                ),
            )),
        }
    }

    /// The cluster of the request's environment, when it could be read.
    fn observed(&self, env: &DnsLabel) -> Option<&'a Observed> {
        self.observed?.get(env.as_str())
    }

    /// A route or grant acts in a namespace the mesh covers (or whose onboarding by request brings
    /// its membership): elsewhere no sidecar would apply it.
    fn check_in_mesh(&self, request: &Request, field: &str, problems: &mut Vec<Problem>) {
        let (env, namespace) = (request.environment(), request.namespace());
        let Some(observed) = self.observed(env) else {
            return;
        };
        if self
            .onboarded
            .contains_key(&(env.clone(), namespace.clone()))
        {
            return;
        }
        let shown = match observed.namespaces.get(namespace.as_str()) {
            Some(seen) if seen.in_mesh => return,
            Some(_) => "without mesh membership (no injection label or ServiceMeshMember)",
            None => "no such namespace",
        };
        problems.push(Problem::policy(
            field,
            format!(
                "namespace {namespace} is outside the mesh in {env}: its cluster shows {shown}, \
                 so no sidecar there would apply this; onboard it first with a request of kind \
                 Onboarding (environment: {env}, team: {}, namespace: {namespace}), or, if the \
                 platform configured it for the team, wait until its baseline is live",
                request.team()
            ),
        ));
    }

    /// A route's Service and port exist in the cluster, and no VirtualService Signalbox did not
    /// generate serves its path on the shared host.
    fn check_observed_route(&self, route: &ApiRoute, problems: &mut Vec<Problem>) {
        let env = route.environment();
        let Some(observed) = self.observed(env) else {
            return;
        };
        let target = route.target();
        let namespace = target.namespace().as_str();
        if observed.namespaces.contains_key(namespace) {
            let services: Vec<(&str, &[ObservedPort])> = observed.services_in(namespace).collect();
            match services
                .iter()
                .find(|(name, _)| *name == target.service().as_str())
            {
                None => problems.push(Problem::policy(
                    "target.service",
                    format!(
                        "there is no Service {} in namespace {namespace} in {env}; {}",
                        target.service(),
                        if services.is_empty() {
                            "the namespace runs no Services yet".to_owned()
                        } else {
                            format!(
                                "it runs {}",
                                services
                                    .iter()
                                    .map(|(name, _)| *name)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    ),
                )),
                Some((name, ports)) if !ports.iter().any(|p| p.port == target.port().get()) => {
                    let exposed: Vec<String> = ports
                        .iter()
                        .map(|p| match &p.name {
                            Some(port_name) => format!("{} ({port_name})", p.port),
                            None => p.port.to_string(),
                        })
                        .collect();
                    problems.push(Problem::policy(
                        "target.port",
                        format!(
                            "Service {name} in namespace {namespace} exposes {}; {} is not one \
                             of its ports",
                            if exposed.is_empty() {
                                "no ports".to_owned()
                            } else {
                                exposed.join(", ")
                            },
                            target.port()
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        let exact = route.path_match() == PathMatch::Exact;
        let adopted = route.adopts().map(ToString::to_string);
        if let Some(adopted) = &adopted
            && !observed
                .routes_overlapping(route.host().as_str(), route.path().as_str(), exact)
                .any(|foreign| foreign.object == *adopted)
        {
            problems.push(Problem::policy(
                "adopts",
                format!(
                    "VirtualService {adopted} does not serve {} {} on {} in {env}; name the \
                     hand-made VirtualService that serves this path, or leave adopts out",
                    route.path_match(),
                    route.path(),
                    route.host()
                ),
            ));
        }
        for foreign in observed
            .routes_overlapping(route.host().as_str(), route.path().as_str(), exact)
            .filter(|foreign| Some(&foreign.object) != adopted.as_ref())
        {
            problems.push(Problem::new(
                ProblemKind::Conflict,
                "path",
                format!(
                    "{} {} overlaps {} {} served on {} in {env} by VirtualService {}, which \
                     Signalbox did not generate; choose a path outside it, or ask a platform \
                     admin to adopt that route",
                    route.path_match(),
                    route.path(),
                    if foreign.exact { "exact" } else { "prefix" },
                    foreign.path,
                    route.host(),
                    foreign.object
                ),
            ));
        }
    }

    fn add_onboarding(
        &mut self,
        onboarding: &'a Onboarding,
        contribution: Contribution<'a>,
        problems: &mut Vec<Problem>,
    ) {
        let (env, team, namespace) = (
            onboarding.environment(),
            onboarding.team(),
            onboarding.namespace(),
        );
        match self.holder(env, namespace) {
            None => {
                self.onboarded
                    .insert((env.clone(), namespace.clone()), (team, contribution));
            }
            Some((holder, holding)) if holder == team => {
                let (kind, how) = match holding {
                    Holding::Configured => (
                        ProblemKind::AlreadyGranted,
                        "the platform configured it for the team",
                    ),
                    Holding::Onboarded => (ProblemKind::AlreadyGranted, "it was onboarded before"),
                    Holding::Requested => (ProblemKind::Conflict, "it is asked for twice here"),
                };
                problems.push(Problem::new(
                    kind,
                    "namespace",
                    format!("namespace {namespace} is already team {team}'s in {env}: {how}"),
                ));
            }
            Some((holder, _)) => problems.push(Problem::new(
                ProblemKind::Conflict,
                "namespace",
                format!(
                    "namespace {namespace} is held by team {holder} in {env}; a namespace has \
                     one team, so choose another name"
                ),
            )),
        }
    }

    fn add_route(
        &mut self,
        route: &'a ApiRoute,
        contribution: Contribution<'a>,
        problems: &mut Vec<Problem>,
    ) {
        let key = (route.environment().clone(), route.host().clone());
        let leases = self.leases.entry(key).or_default();
        let conflicts = leases.conflicts(route.path(), route.path_match(), route.team());
        if conflicts.is_empty() {
            leases
                .insert(
                    route.path().clone(),
                    route.path_match(),
                    route.team().clone(),
                    (route, contribution),
                )
                .expect("no conflicts were found");
            return;
        }
        for conflict in conflicts {
            let lease = conflict.lease;
            let (_, existing) = &lease.value;
            let whose = if existing.is_new {
                format!(
                    "requested by team {} in {}",
                    lease.owner,
                    existing.origin.unwrap_or("this batch")
                )
            } else {
                match existing.origin {
                    Some(origin) => format!("leased to team {} by {origin}", lease.owner),
                    None => format!("leased to team {}", lease.owner),
                }
            };
            let same_team = &lease.owner == route.team();
            let kind = if conflict.overlap == Overlap::Equal && same_team && !existing.is_new {
                ProblemKind::AlreadyGranted
            } else {
                ProblemKind::Conflict
            };
            problems.push(Problem::new(
                kind,
                "path",
                format!(
                    "{} {} {} {} {} ({whose}) on {} in {}; choose a path outside it",
                    route.path_match(),
                    route.path(),
                    describe_overlap(conflict.overlap),
                    lease.path_match,
                    lease.path,
                    route.host(),
                    route.environment()
                ),
            ));
        }
    }

    fn add_egress(
        &mut self,
        egress: &'a Egress,
        contribution: Contribution<'a>,
        problems: &mut Vec<Problem>,
    ) {
        let key = (egress.environment().clone(), egress.namespace().clone());
        let hosts = self.grants.by_namespace.entry(key).or_default();
        let before = problems.len();
        // The egress gateway listens on one port and tells external hosts apart by name (SNI):
        // through it, a host is reached on one port.
        if egress.via_egress_gateway() && egress.ports().len() > 1 {
            problems.push(Problem::policy(
                "ports",
                "through the egress gateway each external host is reached on one port (the \
                 gateway tells hosts apart by name only); keep one port, or ask for the others \
                 without viaEgressGateway",
            ));
        }
        for (i, host) in egress.hosts().iter().enumerate() {
            let field = format!("hosts[{i}]");
            if let (true, Some(GrantEntry { grant, .. }), Some(port)) = (
                egress.via_egress_gateway(),
                hosts.get(host),
                egress.ports().first(),
            ) && grant.via_gateway
                && let Some(held) = grant.ports.keys().find(|p| **p != port.number())
            {
                problems.push(Problem::new(
                    ProblemKind::Conflict,
                    &field,
                    format!(
                        "{host} already goes through the egress gateway on port {held}; the \
                         gateway reaches one port per host, so ask for port {held}"
                    ),
                ));
                continue;
            }
            let Some(GrantEntry { grant, .. }) = hosts.get(host) else {
                continue;
            };
            if grant.via_gateway != egress.via_egress_gateway() {
                problems.push(Problem::new(
                    ProblemKind::Conflict,
                    &field,
                    format!(
                        "{host} is already reachable from namespace {} {} the egress gateway; \
                         keep viaEgressGateway: {}",
                        egress.namespace(),
                        if grant.via_gateway {
                            "through"
                        } else {
                            "without"
                        },
                        grant.via_gateway
                    ),
                ));
            }
            for port in egress.ports() {
                match grant.ports.get(&port.number()) {
                    Some(protocol) if *protocol == port.protocol() => problems.push(Problem::new(
                        ProblemKind::AlreadyGranted,
                        &field,
                        format!(
                            "{host} port {}/{} is already granted to namespace {} in {}",
                            port.number(),
                            port.protocol(),
                            egress.namespace(),
                            egress.environment()
                        ),
                    )),
                    Some(protocol) => problems.push(Problem::new(
                        ProblemKind::Conflict,
                        &field,
                        format!(
                            "{host} port {} is already granted with protocol {protocol} to namespace {}; one protocol per port",
                            port.number(),
                            egress.namespace()
                        ),
                    )),
                    None => {}
                }
            }
        }
        let whose = format!(
            "{}/{}{}",
            egress.namespace(),
            egress
                .hosts()
                .first()
                .map(ToString::to_string)
                .unwrap_or_default(),
            contribution
                .origin
                .map(|origin| format!(" ({origin})"))
                .unwrap_or_default()
        );
        let tcp_ports: Vec<Port> = egress
            .ports()
            .iter()
            .filter(|port| port.protocol() == Protocol::Tcp)
            .map(|port| port.number())
            .collect();
        for port in &tcp_ports {
            let claims = self
                .grants
                .tcp
                .get(&(egress.environment().clone(), *port))
                .map(Vec::as_slice)
                .unwrap_or_default();
            for (i, address) in egress.addresses().iter().enumerate() {
                if let Some((held, holder)) = claims.iter().find(|(held, _)| held.overlaps(address))
                {
                    problems.push(Problem::new(
                        ProblemKind::Conflict,
                        format!("addresses[{i}]"),
                        format!(
                            "TCP port {port} on {address} is already granted to {holder} ({held}); \
                             a plain TCP destination is known only by address and port, so the \
                             two grants would take each other's traffic"
                        ),
                    ));
                }
            }
        }
        if problems.len() > before {
            return;
        }
        for port in tcp_ports {
            let claims = self
                .grants
                .tcp
                .entry((egress.environment().clone(), port))
                .or_default();
            for address in egress.addresses() {
                claims.push((*address, whose.clone()));
            }
        }
        let hosts = self
            .grants
            .by_namespace
            .entry((egress.environment().clone(), egress.namespace().clone()))
            .or_default();
        for host in egress.hosts() {
            let entry = hosts.entry(host.clone()).or_insert_with(|| GrantEntry {
                grant: HostGrant {
                    ports: BTreeMap::new(),
                    addresses: BTreeSet::new(),
                    via_gateway: egress.via_egress_gateway(),
                },
                touched: false,
            });
            for port in egress.ports() {
                entry.grant.ports.insert(port.number(), port.protocol());
            }
            entry
                .grant
                .addresses
                .extend(egress.addresses().iter().copied());
            entry.touched |= contribution.is_new;
        }
    }

    /// The environments the plan touches: those with leases or grants, and those asked for.
    fn planned_environments(&self) -> BTreeSet<&DnsLabel> {
        self.leases
            .keys()
            .map(|(env, _)| env)
            .chain(self.grants.by_namespace.keys().map(|(env, _)| env))
            .chain(self.environments.iter().copied())
            .chain(self.onboarded.keys().map(|(env, _)| env))
            .chain(self.mtls.keys().map(|(env, _)| env))
            .chain(self.workload_mtls.keys().map(|(env, _, _)| env))
            .chain(self.breakers.keys().map(|(env, _, _)| env))
            .chain(self.splits.keys().map(|(env, _, _)| env))
            .chain(self.authorizations.keys().map(|(env, _, _)| env))
            .chain(self.jwts.keys().map(|(env, _, _)| env))
            .chain(self.tracings.keys().map(|(env, _)| env))
            .collect()
    }

    /// What a team does outside the pull request for a split under Argo Rollouts: its Rollout's
    /// traffic routing, and (once per plan) the environment's Argo CD Application.
    fn split_guidance(
        &self,
        env: &Environment,
        route: &ApiRoute,
        split: &TrafficSplit,
        contribution: &Contribution,
        guidance: &mut Vec<Guidance>,
    ) {
        let Some(rollout) = split.rollout() else {
            return;
        };
        if !(self.touch_all || contribution.is_new) {
            return;
        }
        let object = serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": rollout.to_string(), "namespace": split.namespace().to_string()},
            "spec": {"strategy": render::rollout_strategy(route, split)},
        });
        guidance.push(Guidance {
            source: contribution.origin.map(str::to_owned),
            title: format!("Argo Rollout {rollout} in {}", split.namespace()),
            text: format!(
                "Merge this strategy into the Rollout {rollout} your team deploys in {}: Argo \
                 Rollouts then moves the weights of the route {}{} in the team's delegate \
                 VirtualService during a release, and sets stable back to 100 when it ends. \
                 Signalbox keeps the route, {} and the subsets; the Rollout keeps its own pod \
                 template.",
                split.namespace(),
                split.host(),
                split.path(),
                if split.by_subset() {
                    "the DestinationRule"
                } else {
                    "the Services"
                }
            ),
            yaml: serde_norway::to_string(&object).expect("a Rollout serializes"),
        });
        let application = env
            .cluster
            .as_ref()
            .and_then(|c| c.application.clone())
            .unwrap_or_else(|| format!("the Argo CD Application of {}", env.name));
        if !guidance
            .iter()
            .any(|g| g.title.starts_with("Argo CD Application"))
        {
            guidance.push(Guidance {
                source: None,
                title: format!("Argo CD Application {application}"),
                text: "Argo Rollouts moves weights that the repository holds at stable 100: the \
                       environment's Application ignores the weights of the routes named \
                       *-rollout and respects that on sync, or each sync would undo a release in \
                       flight. The Applications in deploy/argocd carry this; merge it into yours \
                       once."
                    .to_owned(),
                yaml: serde_norway::to_string(&serde_json::json!({
                    "spec": render::application_ignore_differences()
                }))
                .expect("an Application fragment serializes"),
            });
        }
    }

    /// What a team does for tracing outside the pull request: annotate its Deployments (when it
    /// named them) and recreate the pods, which pick the agent up only when they start.
    fn tracing_guidance(
        &self,
        tracing: &Tracing,
        contribution: &Contribution,
        guidance: &mut Vec<Guidance>,
    ) {
        if !(self.touch_all || contribution.is_new) {
            return;
        }
        let namespace = tracing.namespace();
        if tracing.deployments().is_empty() {
            guidance.push(Guidance {
                source: contribution.origin.map(str::to_owned),
                title: format!("Restart the Deployments in {namespace}"),
                text: format!(
                    "The Namespace {namespace} names the Instrumentation {} for {} pods. Running \
                     pods pick the agent up only when they are recreated: once the pull request \
                     is live, restart them (kubectl -n {namespace} rollout restart deployment). \
                     The agent goes into each pod's first container; where the Istio sidecar \
                     starts first, name the Deployments and their containers instead.",
                    render::INSTRUMENTATION_NAME,
                    tracing.language().as_str()
                ),
                yaml: String::new(),
            });
            return;
        }
        let mut yaml = String::new();
        for target in tracing.deployments() {
            let patch = serde_json::json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": target.name.to_string(), "namespace": namespace.to_string()},
                "spec": {"template": {"metadata": {
                    "annotations": render::deployment_tracing_annotations(tracing, &target.container),
                }}},
            });
            yaml.push_str("---\n");
            yaml.push_str(&serde_norway::to_string(&patch).expect("a Deployment serializes"));
        }
        let names: Vec<String> = tracing
            .deployments()
            .iter()
            .map(|d| d.name.to_string())
            .collect();
        guidance.push(Guidance {
            source: contribution.origin.map(str::to_owned),
            title: format!("Annotate the Deployments in {namespace}"),
            text: format!(
                "Add these pod-template annotations to {} (they name the Instrumentation {} and \
                 the application container, so the agent never lands in the Istio sidecar). The \
                 change recreates the pods, which pick the agent up only when they start; pods \
                 already running stay uninstrumented until then.",
                names.join(", "),
                render::INSTRUMENTATION_NAME
            ),
            yaml,
        });
    }

    /// Renders every object of the state, marking those a new request contributes to.
    fn render(self) -> Result<Plan, Vec<Problem>> {
        let mut guidance: Vec<Guidance> = Vec::new();
        let mut objects: Vec<(&Environment, IstioObject, bool)> = Vec::new();
        // Namespaces whose delegate a new request changes: their folder's kustomization lists
        // the baseline Sidecar, so the pull request carries it too.
        let mut routed_namespaces: BTreeSet<(&DnsLabel, &DnsLabel)> = BTreeSet::new();
        for ((env_name, host), leases) in &self.leases {
            let env = self.environment(env_name);
            let ordered = leases.in_routing_order();
            let routes: Vec<&ApiRoute> = ordered.iter().map(|l| l.value.0).collect();
            let host_touched = ordered.iter().any(|l| l.value.1.is_new);
            objects.push((
                env,
                render::root_virtual_service(env, host, &routes),
                host_touched,
            ));
            let held = render::held_matches(routes.iter().copied());
            type Routed<'r> = (&'r ApiRoute, Option<&'r TrafficSplit>);
            let mut by_namespace: BTreeMap<&DnsLabel, (Vec<Routed>, bool)> = BTreeMap::new();
            for lease in &ordered {
                let route = lease.value.0;
                let split =
                    self.splits
                        .get(&(env_name.clone(), host.clone(), route.path().clone()));
                let entry = by_namespace.entry(route.target().namespace()).or_default();
                entry.0.push((route, split.map(|(split, _)| *split)));
                entry.1 |= lease.value.1.is_new || split.is_some_and(|(_, c)| c.is_new);
                if let Some((split, contribution)) = split {
                    self.split_guidance(env, route, split, contribution, &mut guidance);
                }
            }
            for (namespace, (routes, touched)) in by_namespace {
                if touched {
                    routed_namespaces.insert((env_name, namespace));
                }
                objects.push((
                    env,
                    render::delegate_virtual_service(env, host, namespace, &routes, &held),
                    touched,
                ));
            }
        }
        // A shared host without leases still gets its root when the environment routes platform
        // prefixes: those are served whether or not a team has a route there.
        for env_name in self.planned_environments() {
            let env = self.environment(env_name);
            if env.platform_routes.is_empty() {
                continue;
            }
            for host in &env.hosts {
                if !self.leases.contains_key(&(env_name.clone(), host.clone())) {
                    objects.push((
                        env,
                        render::root_virtual_service(env, host, &[]),
                        self.touch_all,
                    ));
                }
            }
        }
        // env -> every namespace/host routed through its egress gateway, touched
        let mut gateway_hosts: BTreeMap<&DnsLabel, (BTreeSet<String>, bool)> = BTreeMap::new();
        // (env, namespace) with grants -> (some grant goes through the gateway, touched)
        let mut egress_namespaces: BTreeMap<(&DnsLabel, &DnsLabel), NamespaceEgress> =
            BTreeMap::new();
        for ((env_name, namespace), hosts) in &self.grants.by_namespace {
            let env = self.environment(env_name);
            let gateway = match &env.egress {
                EgressMode::Gateway(gw) => Some(gw),
                EgressMode::Direct => None,
            };
            let namespace_touched = hosts.values().any(|entry| entry.touched);
            let mut via_gateway_in_namespace = false;
            for (host, GrantEntry { grant, touched }) in hosts {
                objects.push((
                    env,
                    render::service_entry(env, namespace, host, grant, gateway),
                    *touched,
                ));
                if let (true, Some(gw), EgressHost::Exact(fqdn)) =
                    (grant.via_gateway, gateway, host)
                {
                    via_gateway_in_namespace = true;
                    objects.push((
                        env,
                        render::egress_virtual_service(env, namespace, fqdn, grant, gw),
                        *touched,
                    ));
                    let entry = gateway_hosts.entry(env_name).or_default();
                    entry.1 |= *touched;
                    entry.0.insert(format!("{namespace}/{fqdn}"));
                }
            }
            // A platform-owned gateway comes with its own DestinationRule defining the subset.
            if via_gateway_in_namespace
                && let Some(gw) = gateway
                && !gw.platform_owned
            {
                objects.push((
                    env,
                    render::egress_destination_rule(env, namespace, gw),
                    namespace_touched,
                ));
            }
            egress_namespaces.insert(
                (env_name, namespace),
                NamespaceEgress {
                    via_gateway: via_gateway_in_namespace,
                    touched: namespace_touched,
                },
            );
        }
        // Every namespace a team holds in an environment of the plan gets its baseline, granted
        // or not: membership in the mesh, namespace-wide mTLS, the Sidecar (a first grant never
        // cuts the namespace off from the rest of the cluster, and a namespace without grants is
        // closed too) and, where all egress goes through the gateway, the NetworkPolicy that
        // keeps pods from leaving any other way.
        for env_name in self.planned_environments() {
            let env = self.environment(env_name);
            for (team, namespace, onboarding_touched) in self.baseline_namespaces(env_name) {
                let NamespaceEgress {
                    via_gateway,
                    touched: egress_touched,
                } = egress_namespaces
                    .get(&(env_name, namespace))
                    .copied()
                    .unwrap_or_default();
                let tracing = self.tracings.get(&(env_name.clone(), namespace.clone()));
                // A new tracing request brings the baseline's way to the collector along.
                let tracing_touched = tracing.is_some_and(|(_, c)| c.is_new);
                let touched = self.touch_all
                    || onboarding_touched
                    || egress_touched
                    || tracing_touched
                    || routed_namespaces.contains(&(env_name, namespace));
                let sidecar_gateway = match &env.egress {
                    EgressMode::Gateway(gw) if via_gateway => Some(gw),
                    _ => None,
                };
                let mtls = self.mtls.get(&(env_name.clone(), namespace.clone()));
                let mode: Option<MtlsMode> = mtls.map(|(m, _)| m.mode());
                let mtls_touched = mtls.is_some_and(|(_, c)| c.is_new);
                let mut member = render::membership(env, namespace);
                if let (Some((tracing, contribution)), Some(collector)) = (tracing, &env.tracing) {
                    objects.push((
                        env,
                        render::instrumentation(tracing, collector),
                        self.touch_all || contribution.is_new,
                    ));
                    self.tracing_guidance(tracing, contribution, &mut guidance);
                    if tracing.deployments().is_empty() {
                        let annotation = (
                            tracing.language().inject_annotation(),
                            render::INSTRUMENTATION_NAME.to_owned(),
                        );
                        if member.kind == "Namespace" {
                            member
                                .metadata
                                .annotations
                                .insert(annotation.0, annotation.1);
                        } else {
                            objects.push((
                                env,
                                render::annotated_namespace(namespace, &[annotation]),
                                touched,
                            ));
                        }
                    }
                }
                objects.push((env, member, touched));
                objects.push((
                    env,
                    render::peer_authentication(env, namespace, mode),
                    touched || mtls_touched,
                ));
                objects.push((
                    env,
                    render::sidecar(env, team, namespace, sidecar_gateway),
                    touched,
                ));
                if let EgressMode::Gateway(gw) = &env.egress
                    && gw.required
                {
                    objects.push((
                        env,
                        render::egress_network_policy(env, namespace, gw),
                        touched,
                    ));
                }
            }
        }
        for ((env_name, _, _), (mtls, contribution)) in &self.workload_mtls {
            let env = self.environment(env_name);
            if let Some(object) = render::workload_peer_authentication(env, mtls) {
                objects.push((env, object, self.touch_all || contribution.is_new));
            }
        }
        // Each Service's one DestinationRule: its circuit breaker and the subsets of the splits
        // of routes to it. The limits run in the callers' sidecars and the subsets are resolved
        // where the route is: the ingress gateway calls a Service one of the environment's
        // routes targets.
        let mut rules: BTreeMap<(&DnsLabel, &DnsLabel, &ServiceName), RuleParts> = BTreeMap::new();
        for ((env_name, _, _), (authz, contribution)) in &self.authorizations {
            let env = self.environment(env_name);
            objects.push((
                env,
                render::authorization_policy(env, authz),
                self.touch_all || contribution.is_new,
            ));
        }
        for ((env_name, _, _), (jwt, contribution)) in &self.jwts {
            let env = self.environment(env_name);
            // The issuer was checked against the environment when the request was new.
            if let Some(issuer) = env.jwt_issuers.iter().find(|i| i.issuer == jwt.issuer()) {
                for object in render::jwt_objects(env, jwt, issuer) {
                    objects.push((env, object, self.touch_all || contribution.is_new));
                }
            }
        }
        for ((env_name, namespace, service), (breaker, contribution)) in &self.breakers {
            let parts = rules.entry((env_name, namespace, service)).or_default();
            parts.breaker = Some(breaker);
            parts.callers.extend(breaker.callers());
            parts.touched |= contribution.is_new;
        }
        for ((env_name, _), leases) in &self.leases {
            for lease in leases.in_routing_order() {
                let (route, route_contribution) = &lease.value;
                let target = route.target();
                let split = self.splits.get(&(
                    env_name.clone(),
                    route.host().clone(),
                    route.path().clone(),
                ));
                let by_subset = split.filter(|(split, _)| split.by_subset());
                let key = (env_name, target.namespace(), target.service());
                if by_subset.is_none() && !rules.contains_key(&key) {
                    continue;
                }
                let gateway_namespace = self.environment(env_name).ingress_gateway.namespace();
                let parts = rules.entry(key).or_default();
                parts.callers.insert(gateway_namespace);
                parts.touched |= route_contribution.is_new;
                if let Some((split, contribution)) = by_subset {
                    for subset in render::split_subsets(split) {
                        if !parts.subsets.iter().any(|s| s.name == subset.name) {
                            parts.subsets.push(subset);
                        }
                    }
                    parts.touched |= contribution.is_new;
                }
            }
        }
        for ((env_name, namespace, service), mut parts) in rules {
            let env = self.environment(env_name);
            parts.subsets.sort_by(|a, b| a.name.cmp(&b.name));
            objects.push((
                env,
                render::service_destination_rule(
                    env,
                    namespace,
                    service,
                    parts.breaker.map(render::TrafficPolicy::of),
                    parts.subsets,
                    &parts.callers,
                ),
                self.touch_all || parts.touched,
            ));
        }
        for (env_name, (hosts, touched)) in gateway_hosts {
            let env = self.environment(env_name);
            if let EgressMode::Gateway(gw) = &env.egress
                && !gw.platform_owned
            {
                let hosts: Vec<String> = hosts.into_iter().collect();
                objects.push((env, render::egress_gateway(env, gw, &hosts), touched));
            }
        }
        // The whole state: every environment's root folder gets a kustomization listing its
        // subfolders, down to the folders of the objects.
        let roots: BTreeSet<String> = if self.touch_all {
            objects
                .iter()
                .map(|(env, _, _)| env.path_template.root(env.name.as_str()))
                .collect()
        } else {
            BTreeSet::new()
        };
        let mut plan = finish(objects, &roots)?;
        plan.guidance = guidance;
        Ok(plan)
    }

    /// Every namespace held in an environment, with its team and whether a new onboarding
    /// brings it: the catalog's, then the onboarded ones.
    fn baseline_namespaces(&self, env: &DnsLabel) -> Vec<(&'a Team, &DnsLabel, bool)> {
        let mut out: Vec<(&Team, &DnsLabel, bool)> = self
            .catalog
            .teams()
            .flat_map(|team| team.namespaces.iter().map(move |ns| (team, ns, false)))
            .collect();
        for ((e, namespace), (team, contribution)) in &self.onboarded {
            if e == env
                && let Some(team) = self.catalog.team(team.as_str())
            {
                out.push((team, namespace, contribution.is_new));
            }
        }
        out
    }

    fn environment(&self, name: &DnsLabel) -> &'a Environment {
        self.catalog
            .environment(name.as_str())
            .expect("requests in the state passed the environment lookup")
    }
}

/// Validates and serializes the touched objects; every directory holding one gets a
/// `kustomization.yaml` listing all of its files, touched or not, and every directory between
/// one of `roots` and those directories one listing its subdirectories.
fn finish(
    objects: Vec<(&Environment, IstioObject, bool)>,
    roots: &BTreeSet<String>,
) -> Result<Plan, Vec<Problem>> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut all_paths: BTreeSet<String> = BTreeSet::new();
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    // The whole state of each environment, touched or not, is analyzed together: most of what
    // breaks traffic is between objects (a delegate and its root, two entries of one host).
    let mut by_environment: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
    for (env, object, _) in &objects {
        by_environment
            .entry(env.name.as_str())
            .or_default()
            .push(serde_json::to_value(object).expect("rendered objects serialize to JSON"));
    }
    for (env, values) in by_environment {
        let findings = crate::analyze::analyze(&values);
        problems.extend(
            findings
                .errors
                .into_iter()
                .map(|p| p.in_source(Some(&format!("environment {env}")))),
        );
        warnings.extend(
            findings
                .warnings
                .into_iter()
                .map(|p| p.in_source(Some(&format!("environment {env}")))),
        );
    }
    for (env, object, touched) in objects {
        let path = env.path_template.render(
            env.name.as_str(),
            object.folder_namespace(),
            object.kind,
            &object.metadata.name,
        );
        if !all_paths.insert(path.clone()) {
            problems.push(
                Problem::new(
                    ProblemKind::Internal,
                    "pathTemplate",
                    format!(
                        "two objects render to the same path {path}; the path template of {} must tell them apart",
                        env.name
                    ),
                )
                .in_source(Some(&path)),
            );
        }
        if !touched {
            continue;
        }
        let contents =
            serde_norway::to_string(&object).expect("rendered objects serialize to YAML");
        // Validate what is shipped: the YAML text parsed back, which must equal the object.
        let value: serde_json::Value =
            serde_norway::from_str(&contents).expect("rendered YAML parses back");
        if value != serde_json::to_value(&object).expect("rendered objects serialize to JSON") {
            problems.push(
                Problem::new(
                    ProblemKind::Internal,
                    "document",
                    format!(
                        "{} {}/{} does not read back as written; this is a bug in Signalbox, please report it",
                        object.kind, object.metadata.namespace, object.metadata.name
                    ),
                )
                .in_source(Some(&path)),
            );
        }
        for finding in validate_object(env.mesh.schema_version(), &value) {
            let subject = format!(
                "{} {}/{}",
                object.kind, object.metadata.namespace, object.metadata.name
            );
            match finding.severity {
                Severity::Error => problems.push(
                    Problem::new(
                        ProblemKind::Internal,
                        finding.field,
                        format!(
                            "{subject} fails {} validation: {}; this is a bug in Signalbox, please report it",
                            env.mesh.schema_version(),
                            finding.message
                        ),
                    )
                    .in_source(Some(&path)),
                ),
                Severity::Warning => warnings.push(
                    Problem::new(ProblemKind::Policy, finding.field, format!("{subject}: {}", finding.message))
                        .in_source(Some(&path)),
                ),
            }
        }
        files.insert(path, contents);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let directory = |path: &str| {
        path.rsplit_once('/')
            .map_or(String::new(), |(dir, _)| dir.to_owned())
    };
    let touched_dirs: BTreeSet<String> = files.keys().map(|p| directory(p)).collect();
    // Folders between a root and the touched folders, each with its subfolders.
    let mut subfolders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for dir in &touched_dirs {
        let Some(root) = roots.iter().find(|root| within(dir, root)) else {
            continue;
        };
        let mut child = dir.clone();
        while child != *root {
            let parent = directory(&child);
            let name = child[parent.len()..].trim_start_matches('/').to_owned();
            subfolders.entry(parent.clone()).or_default().insert(name);
            child = parent;
        }
    }
    let all_dirs: BTreeSet<String> = touched_dirs
        .into_iter()
        .chain(subfolders.keys().cloned())
        .collect();
    for dir in all_dirs {
        let mut names: Vec<String> = all_paths
            .iter()
            .filter(|p| directory(p) == dir)
            .map(|p| p.rsplit_once('/').map_or(p.clone(), |(_, f)| f.to_owned()))
            .collect();
        names.extend(subfolders.get(&dir).into_iter().flatten().cloned());
        let path = if dir.is_empty() {
            "kustomization.yaml".to_owned()
        } else {
            format!("{dir}/kustomization.yaml")
        };
        files.insert(path, render::kustomization(&names));
    }
    Ok(Plan {
        files: files
            .into_iter()
            .map(|(path, contents)| RenderedFile { path, contents })
            .collect(),
        warnings,
        guidance: Vec::new(),
    })
}
