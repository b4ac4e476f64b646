//! The start page: which environments Signalbox serves, their shared hosts, mesh versions and
//! approval rules, and which teams own which namespaces.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use serde::{Deserialize, Serialize};

use crate::catalog::{CatalogConfig, load_catalog_config};
use crate::errors;

/// How an environment's cluster is read, and the egress hole it shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    pub environment: String,
    /// Where the inventory comes from; `None`: no cluster configured.
    pub source: Option<String>,
    /// A fixture file, not a live cluster.
    pub fixture: bool,
    /// Every essential resource is read: the checks use the cluster.
    pub complete: bool,
    /// Resources not read as they should be: (resource, what happened).
    pub trouble: Vec<(String, String)>,
    /// Held namespaces the cluster does not enrol in the mesh.
    pub outside_mesh: Vec<String>,
    /// Held namespaces without a namespace-wide REGISTRY_ONLY Sidecar (where asked for).
    pub without_registry_only: Vec<String>,
    /// Paths hand-made VirtualServices serve on the shared hosts: (host and path, object).
    #[serde(default)]
    pub foreign_routes: Vec<(String, String)>,
}

/// Every environment's cluster, for the overview.
#[server]
pub async fn cluster_overview() -> Result<Vec<ClusterView>, ServerFnError> {
    use backend::cluster::ResourceState;
    let backend = expect_context::<backend::Backend>();
    crate::auth::require_member().await?;
    let mut out = Vec::new();
    for env in backend.catalog.environments() {
        let name = env.name.to_string();
        let Some(cluster) = backend.clusters.get(&name) else {
            out.push(ClusterView {
                environment: name,
                source: None,
                fixture: false,
                complete: false,
                trouble: Vec::new(),
                outside_mesh: Vec::new(),
                without_registry_only: Vec::new(),
                foreign_routes: Vec::new(),
            });
            continue;
        };
        let status = cluster.status();
        let mut trouble: Vec<(String, String)> = status
            .resources
            .iter()
            .filter_map(|r| {
                let what = match &r.state {
                    ResourceState::Ready => return None,
                    ResourceState::Starting => "not listed yet".to_owned(),
                    ResourceState::Relisting => "listing again (the watch expired)".to_owned(),
                    ResourceState::NotServed => "not served by this cluster".to_owned(),
                    ResourceState::Forbidden(message) | ResourceState::Failing(message) => {
                        message.clone()
                    }
                };
                Some((r.resource.clone(), what))
            })
            .collect();
        if let Some(failure) = &status.failure {
            trouble.push(("cluster".to_owned(), failure.clone()));
        }
        let (mut outside_mesh, mut without_registry_only) = (Vec::new(), Vec::new());
        let mut foreign_routes = Vec::new();
        if let Some(observed) = cluster.observed(env) {
            foreign_routes = observed
                .foreign_routes
                .iter()
                .map(|r| {
                    (
                        format!(
                            "{} {}{}",
                            if r.exact { "exact" } else { "prefix" },
                            r.host,
                            r.path
                        ),
                        r.object.clone(),
                    )
                })
                .collect();
            // Only onboardings add namespaces; every route of the environment is not needed.
            let onboardings = ["Onboarding".to_owned()];
            let claims =
                backend::requests::existing_claims_of(&backend.pool, &name, Some(&onboardings))
                    .await
                    .map_err(errors::internal)?;
            let mut held: Vec<String> = backend
                .catalog
                .teams()
                .flat_map(|team| team.namespaces.iter().map(ToString::to_string))
                .collect();
            for request in claims.granted_requests(None).map_err(errors::internal)? {
                if request.kind_name() == "Onboarding" {
                    held.push(request.namespace().to_string());
                }
            }
            let holes = backend::cluster::inventory::egress_holes(env, &held, &observed);
            outside_mesh = holes.outside_mesh;
            without_registry_only = holes.without_registry_only;
        }
        out.push(ClusterView {
            environment: name,
            source: Some(status.source.describe()),
            fixture: matches!(status.source, backend::cluster::Source::Fixture { .. }),
            complete: status.complete,
            trouble,
            outside_mesh,
            without_registry_only,
            foreign_routes,
        });
    }
    Ok(out)
}

#[component]
pub fn HomePage() -> impl IntoView {
    let catalog = Resource::new(|| (), |()| load_catalog_config());
    let clusters = Resource::new(|| (), |()| cluster_overview());
    view! {
        <Title text="" />
        <Greeting />
        <h1>"Environments"</h1>
        <p class="lead">
            "Every team's APIs share one hostname per environment, path by path; outbound traffic \
             goes only to registered external hosts. "
            <A href="/preview">"Preview a request"</A>
            " to see exactly what configuration it would generate."
        </p>
        <Suspense fallback=|| view! { <p class="hint">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let loaded = catalog.await;
                // The clusters are extra: without them the overview still shows.
                let clusters = clusters.await.unwrap_or_default();
                match loaded {
                    Ok(config) => view! { <Overview config clusters /> }.into_any(),
                    Err(error) => view! { <p class="status bad">{errors::describe(&error)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// "Signed in as Alice Requester, requester for team-a."
#[component]
fn Greeting() -> impl IntoView {
    let session = crate::auth::use_session();
    move || {
        session.get().and_then(Result::ok).and_then(|info| info.viewer).map(|viewer| {
            view! {
                <p class="greeting" id="greeting">
                    "Signed in as " <strong>{viewer.name.clone()}</strong> ", " {viewer.describe_roles()} "."
                </p>
            }
        })
    }
}

/// The cluster part of an environment's card.
#[component]
fn ClusterFacts(view: ClusterView) -> impl IntoView {
    let ClusterView {
        source,
        fixture,
        complete,
        trouble,
        outside_mesh,
        without_registry_only,
        foreign_routes,
        ..
    } = view;
    let Some(source) = source else {
        return view! {
            <dt>"Cluster"</dt>
            <dd class="hint">"Not connected: checks use what Signalbox has stored."</dd>
        }
        .into_any();
    };
    let reading = match (complete, fixture) {
        (true, true) => "Demo data, not a live cluster",
        (true, false) => "Read",
        (false, _) => "Not completely read, so checks use what Signalbox has stored",
    };
    let holes = if !complete {
        None
    } else if outside_mesh.is_empty() && without_registry_only.is_empty() {
        Some(view! { <dd class="status good">"No egress hole: every team namespace is in the mesh and closed."</dd> }.into_any())
    } else {
        Some(view! {
            <dd class="status bad egress-holes">
                {(!outside_mesh.is_empty()).then(|| view! {
                    <p>"Outside the mesh (no sidecar holds their egress): " <strong>{outside_mesh.join(", ")}</strong></p>
                })}
                {(!without_registry_only.is_empty()).then(|| view! {
                    <p>"Without a REGISTRY_ONLY Sidecar: " <strong>{without_registry_only.join(", ")}</strong></p>
                })}
            </dd>
        }.into_any())
    };
    view! {
        <dt>"Cluster"</dt>
        <dd class="cluster-source">{format!("{reading}: {source}")}</dd>
        {(!trouble.is_empty()).then(|| view! {
            <dd class="status bad cluster-trouble">
                <ul>
                    {trouble.into_iter().map(|(resource, what)| view! {
                        <li><code>{resource}</code>": " {what}</li>
                    }).collect_view()}
                </ul>
            </dd>
        })}
        {holes.map(|holes| view! { <dt>"Egress"</dt> {holes} })}
        {(!foreign_routes.is_empty()).then(|| view! {
            <dt>"Made by hand"</dt>
            <dd class="foreign-routes">
                <ul>
                    {foreign_routes.into_iter().map(|(route, object)| view! {
                        <li><code>{route}</code>" by VirtualService " <code>{object}</code></li>
                    }).collect_view()}
                </ul>
                <p class="hint">
                    "These paths are taken: requests under them are refused. A platform admin adopts one by \
                     asking for the route with " <code>"adopts: namespace/name"</code> " in the YAML editor."
                </p>
            </dd>
        })}
    }
    .into_any()
}

#[component]
fn Overview(config: CatalogConfig, clusters: Vec<ClusterView>) -> impl IntoView {
    let environments = config
        .environments
        .into_iter()
        .map(|env| {
            let flavour = match env.mesh.flavour.as_str() {
                "openshiftServiceMesh" => "OpenShift Service Mesh",
                "istio" => "Istio",
                other => other,
            }
            .to_owned();
            let cluster = clusters.iter().find(|c| c.environment == env.name).cloned();
            let approvals = match env.approval.approvals_required {
                0 | 1 => "one approval".to_owned(),
                n => format!("{n} approvals"),
            };
            view! {
                <article class="card environment" data-environment=env.name.clone()>
                    <h2>{env.name.clone()}</h2>
                    <dl>
                        <dt>"Shared hosts"</dt>
                        <dd>{env.hosts.join(", ")}</dd>
                        <dt>"Ingress gateway"</dt>
                        <dd><code>{env.ingress_gateway.clone()}</code></dd>
                        <dt>"Mesh"</dt>
                        <dd>{format!("{flavour} {}", env.mesh.version)}</dd>
                        <dt>"Egress"</dt>
                        <dd>{if env.egress.mode == "gateway" { "through an egress gateway" } else { "direct from sidecars" }}</dd>
                        <dt>"Approval"</dt>
                        <dd>{approvals}</dd>
                        {cluster.map(|view| view! { <ClusterFacts view /> })}
                    </dl>
                </article>
            }
        })
        .collect_view();
    let teams = config
        .teams
        .into_iter()
        .map(|team| {
            view! {
                <tr>
                    <td>{team.name.clone()}</td>
                    <td>{team.namespaces.join(", ")}</td>
                    <td>{team.groups.join(", ")}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="cards">{environments}</div>
        <h2>"Teams"</h2>
        <table class="teams">
            <thead><tr><th>"Team"</th><th>"Namespaces"</th><th>"Sign-in groups"</th></tr></thead>
            <tbody>{teams}</tbody>
        </table>
    }
}
