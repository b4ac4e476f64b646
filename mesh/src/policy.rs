//! Policy: whether an environment lets a team ask for what a parsed request asks for.
//!
//! These are the rules that depend on the [`Catalog`] but not on other requests: the environment
//! and team exist, the team owns the namespace it targets, the host is one of the environment's
//! shared hosts, the path stays clear of reserved prefixes, egress hosts are not denied
//! (cluster-internal suffixes always are), wildcards only where allowed, ports and protocols from
//! the allowed lists, and the egress gateway only where the environment has one. Conflicts with
//! other requests are [`crate::plan`]'s job.

use crate::catalog::{Catalog, EgressMode, Environment, Team};
use crate::leases::relation;
use crate::names::{DnsLabel, EgressHost};
use crate::problem::Problem;
use crate::request::{
    ApiRoute, CircuitBreaker, Egress, JwtAuthentication, MutualTls, Onboarding, PathMatch, Request,
    RequestKind,
};

/// Checks a request against the catalog; every problem carries the request's origin.
pub fn check(catalog: &Catalog, request: &Request) -> Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    if let Some((env, team)) = lookup(catalog, request, &mut problems) {
        match request.kind() {
            RequestKind::ApiRoute(route) => check_route(env, team, route, &mut problems),
            RequestKind::Egress(egress) => check_egress(env, team, egress, &mut problems),
            RequestKind::Onboarding(onboarding) => {
                check_onboarding(env, team, onboarding, &mut problems)
            }
            RequestKind::MutualTls(mtls) => check_mtls(env, mtls, &mut problems),
            RequestKind::CircuitBreaker(breaker) => check_breaker(breaker, &mut problems),
            // A split is checked against its route, an authorization against the namespace's
            // mTLS and the team's paths: the plan knows them.
            RequestKind::TrafficSplit(_) | RequestKind::Authorization(_) => {}
            RequestKind::JwtAuthentication(jwt) => check_jwt(env, jwt, &mut problems),
            RequestKind::Tracing(tracing) => check_tracing(env, tracing, &mut problems),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems
            .into_iter()
            .map(|p| p.in_source(request.origin()))
            .collect())
    }
}

/// Finds the request's environment and team, reporting unknown ones.
pub(crate) fn lookup<'a>(
    catalog: &'a Catalog,
    request: &Request,
    problems: &mut Vec<Problem>,
) -> Option<(&'a Environment, &'a Team)> {
    let env = catalog.environment(request.environment().as_str());
    if env.is_none() {
        let known: Vec<String> = catalog.environments().map(|e| e.name.to_string()).collect();
        problems.push(Problem::policy(
            "environment",
            format!(
                "there is no environment {}; expected one of {}",
                request.environment(),
                known.join(", ")
            ),
        ));
    }
    let team = catalog.team(request.team().as_str());
    if team.is_none() {
        problems.push(Problem::policy(
            "team",
            format!(
                "there is no team {}; ask the platform team to add it",
                request.team()
            ),
        ));
    }
    Some((env?, team?))
}

/// Namespaces no team may onboard: Kubernetes' and OpenShift's own, and the default namespace.
fn is_system_namespace(namespace: &DnsLabel) -> bool {
    let name = namespace.as_str();
    name == "default"
        || name.starts_with("kube-")
        || name.starts_with("openshift")
        || name.starts_with("istio-")
}

fn check_onboarding(
    env: &Environment,
    _team: &Team,
    onboarding: &Onboarding,
    problems: &mut Vec<Problem>,
) {
    let namespace = onboarding.namespace();
    let platform = env.platform_namespaces();
    if platform.contains(&namespace)
        || *namespace == env.onboarding.control_plane_namespace
        || *namespace == env.onboarding.dns_namespace
    {
        problems.push(Problem::policy(
            "namespace",
            format!(
                "namespace {namespace} belongs to the platform in {}; choose a namespace of \
                 your team's own",
                env.name
            ),
        ));
    } else if is_system_namespace(namespace) {
        problems.push(Problem::policy(
            "namespace",
            format!(
                "namespace {namespace} is a system namespace (default, kube-*, openshift*, \
                 istio-*); choose a namespace of your team's own"
            ),
        ));
    }
}

fn check_mtls(env: &Environment, mtls: &MutualTls, problems: &mut Vec<Problem>) {
    let namespace = mtls.namespace();
    if *namespace == env.root_namespace || *namespace == env.onboarding.control_plane_namespace {
        problems.push(Problem::policy(
            "namespace",
            format!(
                "namespace {namespace} holds {}'s mesh-wide settings, which stay with the \
                 platform; ask for one of your team's namespaces",
                env.name
            ),
        ));
    }
}

fn check_jwt(env: &Environment, jwt: &JwtAuthentication, problems: &mut Vec<Problem>) {
    if *jwt.namespace() == *env.ingress_gateway.namespace() {
        problems.push(Problem::policy(
            "namespace",
            format!(
                "namespace {} runs the shared ingress gateway of {}, where a token requirement \
                 would apply to every team's routes; require the JWT on your workload",
                jwt.namespace(),
                env.name
            ),
        ));
    }
    if !env.jwt_issuers.iter().any(|i| i.issuer == jwt.issuer()) {
        let allowed: Vec<&str> = env.jwt_issuers.iter().map(|i| i.issuer.as_str()).collect();
        problems.push(Problem::policy(
            "issuer",
            if allowed.is_empty() {
                format!(
                    "{} is not an issuer {} allows; it allows none yet (the platform lists them \
                     in jwt.issuers)",
                    jwt.issuer(),
                    env.name
                )
            } else {
                format!(
                    "{} is not an issuer {} allows; expected one of {}",
                    jwt.issuer(),
                    env.name,
                    allowed.join(", ")
                )
            },
        ));
    }
}

fn check_tracing(
    env: &Environment,
    tracing: &crate::request::Tracing,
    problems: &mut Vec<Problem>,
) {
    let Some(collector) = &env.tracing else {
        problems.push(Problem::policy(
            "environment",
            format!(
                "{} has no OpenTelemetry collector to send traces to yet; the platform sets it \
                 in the environment's tracing (collector, port, protocol)",
                env.name
            ),
        ));
        return;
    };
    if collector.protocol == crate::catalog::OtlpProtocol::Grpc
        && !tracing.language().supports_grpc()
    {
        problems.push(Problem::policy(
            "language",
            format!(
                "{}'s collector takes OTLP over grpc (port {}), which the operator's {} \
                 instrumentation cannot send (it exports http/protobuf only); java and nodejs \
                 can, or the platform adds an http/protobuf collector port (4318)",
                env.name,
                collector.port,
                tracing.language().as_str()
            ),
        ));
    }
}

fn check_breaker(breaker: &CircuitBreaker, problems: &mut Vec<Problem>) {
    if breaker.service().as_str() == crate::render::EGRESS_DESTINATION_RULE {
        problems.push(Problem::policy(
            "service",
            format!(
                "{} is the name of the egress gateway's DestinationRule Signalbox keeps in team \
                 namespaces; a circuit breaker for a Service of that name cannot be generated",
                breaker.service()
            ),
        ));
    }
}

fn check_route(env: &Environment, _team: &Team, route: &ApiRoute, problems: &mut Vec<Problem>) {
    if !env.hosts.contains(route.host()) {
        let hosts: Vec<String> = env.hosts.iter().map(ToString::to_string).collect();
        problems.push(Problem::policy(
            "host",
            format!(
                "{} is not a shared host of environment {}; expected one of {}",
                route.host(),
                env.name,
                hosts.join(", ")
            ),
        ));
    }
    if route.path_match() == PathMatch::Prefix && route.path().is_root() {
        problems.push(Problem::policy(
            "path",
            "prefix / would take the whole host; lease a path below it such as /orders",
        ));
    }
    for reserved in &env.policy.reserved_prefixes {
        if relation(
            route.path(),
            route.path_match(),
            reserved,
            PathMatch::Prefix,
        )
        .is_some()
        {
            problems.push(Problem::policy(
                "path",
                format!(
                    "{} {} overlaps the platform's reserved prefix {reserved} in {}; choose a \
                     path outside it",
                    route.path_match(),
                    route.path(),
                    env.name
                ),
            ));
        }
    }
}

fn check_egress(env: &Environment, _team: &Team, egress: &Egress, problems: &mut Vec<Problem>) {
    let policy = &env.policy;
    let via_gateway = egress.via_egress_gateway();
    if via_gateway && matches!(env.egress, EgressMode::Direct) {
        problems.push(Problem::policy(
            "viaEgressGateway",
            format!(
                "environment {} has no egress gateway; set viaEgressGateway: false",
                env.name
            ),
        ));
    }
    if let EgressMode::Gateway(gw) = &env.egress
        && gw.required
        && !via_gateway
    {
        problems.push(Problem::policy(
            "viaEgressGateway",
            format!(
                "environment {} sends all egress through its egress gateway {}; set \
                 viaEgressGateway: true",
                env.name, gw.gateway
            ),
        ));
    }
    for (i, host) in egress.hosts().iter().enumerate() {
        let field = format!("hosts[{i}]");
        if let Some(pattern) = policy.denied_hosts.iter().find(|p| p.overlaps(host)) {
            problems.push(Problem::policy(
                &field,
                format!(
                    "{host} matches the denied pattern {pattern} in {}; only external hosts \
                     outside the cluster may be opened",
                    env.name
                ),
            ));
        }
        if env.hosts.iter().any(|shared| {
            host.is_within(shared.as_str())
                || matches!(host, EgressHost::Wildcard(w) if shared.is_within(w.suffix()))
        }) {
            problems.push(Problem::policy(
                &field,
                format!(
                    "{host} is a shared host of {}; call it through the mesh, not egress",
                    env.name
                ),
            ));
        }
        if let EgressHost::Wildcard(_) = host {
            if !policy.allow_wildcard_hosts {
                problems.push(Problem::policy(
                    &field,
                    format!(
                        "environment {} does not allow wildcard hosts; name each host",
                        env.name
                    ),
                ));
            } else if via_gateway {
                problems.push(Problem::policy(
                    &field,
                    "a wildcard host cannot go through the egress gateway (it routes on exact \
                     SNI names); name each host or set viaEgressGateway: false",
                ));
            }
        }
    }
    for (i, port) in egress.ports().iter().enumerate() {
        if !policy.allowed_ports.contains(&port.number()) {
            let allowed: Vec<String> = policy
                .allowed_ports
                .iter()
                .map(ToString::to_string)
                .collect();
            problems.push(Problem::policy(
                format!("ports[{i}].number"),
                format!(
                    "port {} is not allowed in {}; expected one of {}",
                    port.number(),
                    env.name,
                    allowed.join(", ")
                ),
            ));
        }
        if !policy.allowed_protocols.contains(&port.protocol()) {
            let allowed: Vec<&str> = policy
                .allowed_protocols
                .iter()
                .map(|p| p.as_str())
                .collect();
            problems.push(Problem::policy(
                format!("ports[{i}].protocol"),
                format!(
                    "protocol {} is not allowed in {}; expected one of {}",
                    port.protocol(),
                    env.name,
                    allowed.join(", ")
                ),
            ));
        } else if via_gateway && !port.protocol().is_tls_passthrough() {
            problems.push(Problem::policy(
                format!("ports[{i}].protocol"),
                format!(
                    "the egress gateway passes TLS through on SNI only; use TLS or HTTPS, or set \
                     viaEgressGateway: false (got {})",
                    port.protocol()
                ),
            ));
        }
    }
}
