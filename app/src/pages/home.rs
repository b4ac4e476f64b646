//! The start page: which environments Signalbox serves, their shared hosts, mesh versions and
//! approval rules, and which teams own which namespaces.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::catalog::{CatalogConfig, load_catalog_config};
use crate::errors;

#[component]
pub fn HomePage() -> impl IntoView {
    let catalog = Resource::new(|| (), |()| load_catalog_config());
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
            {move || catalog.get().map(|loaded| match loaded {
                Ok(config) => view! { <Overview config /> }.into_any(),
                Err(error) => view! { <p class="status bad">{errors::describe(&error)}</p> }.into_any(),
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

#[component]
fn Overview(config: CatalogConfig) -> impl IntoView {
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
