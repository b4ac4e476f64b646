//! Signalbox's user interface: the HTML shell, the router and the pages. Pages render on the
//! server and hydrate in the browser; every mutation is a server function behind an
//! `<ActionForm>`, so forms also work before (and without) the wasm bundle.

pub mod audit;
pub mod auth;
pub mod catalog;
pub mod components;
pub mod errors;
pub mod pages;
pub mod requests;
pub mod url;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::{SsrMode, StaticSegment, path};

/// The Content-Security-Policy nonce of the current response; the server's security layer puts
/// it in the request extensions and the shell hands it to the hydration script.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

// Every page renders in full before it is sent (`SsrMode::Async`): without JavaScript, streamed
// out-of-order fragments would never be put in place, and every page must work without it.

/// Whether a page loads the browser bundle: only the pages that do something in the browser
/// (the request forms and the YAML editor check as the user types; the request page follows its
/// delivery). Every other page (sign-in, the overview, lists, audit, account) is complete as the
/// server renders it, links and forms included, so it downloads no wasm at all; a page reached
/// from a hydrated one by a client-side link renders in the browser as before.
pub fn hydrates(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    path == "/preview"
        || path.starts_with("/requests/new/")
        || path
            .strip_prefix("/requests/")
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
}

/// The whole HTML document; only ever rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    use_csp_nonce();
    #[cfg(feature = "ssr")]
    let hydrate =
        use_context::<http::request::Parts>().is_none_or(|parts| hydrates(parts.uri.path()));
    #[cfg(not(feature = "ssr"))]
    let hydrate = true;
    // A page that never hydrates needs none of its resources serialized for the browser: the
    // rendered HTML is all it sends.
    if !hydrate && let Some(shared) = Owner::current_shared_context() {
        shared.set_is_hydrating(false);
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                // No icon file: an empty one spares every page a request that would 404.
                <link rel="icon" href="data:," />
                {hydrate.then(|| view! { <HydrationScripts options /> })}
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[cfg(feature = "ssr")]
fn use_csp_nonce() {
    let nonce = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CspNonce>().cloned());
    if let Some(CspNonce(value)) = nonce {
        provide_context(leptos::nonce::Nonce::from_value(value));
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let session: auth::SessionResource = Resource::new(|| (), |()| auth::load_session());
    provide_context(session);
    view! {
        <Stylesheet id="signalbox" href="/pkg/signalbox.css" />
        <Title formatter=|page: String| {
            if page.is_empty() { "Signalbox".to_owned() } else { format!("{page} · Signalbox") }
        } />
        <Router>
            <auth::DemoBanner />
            <header class="topbar">
                <A href="/" attr:class="brand">"Signalbox"</A>
                <nav aria-label="Main">
                    <A href="/">"Environments"</A>
                    <A href="/requests" exact=true>"My requests"</A>
                    <A href="/requests/new/api">"Expose an API"</A>
                    <A href="/requests/new/egress">"Allow outbound traffic"</A>
                    <QueueLink />
                    <A href="/preview">"YAML"</A>
                    <A href="/audit" exact=true>"Audit"</A>
                </nav>
                <auth::UserMenu />
            </header>
            <main class="page">
                <Routes fallback=|| view! { <auth::RequireAccess><pages::not_found::NotFound /></auth::RequireAccess> }>
                    <Route path=StaticSegment("sign-in") view=auth::SignInPage ssr=SsrMode::Async />
                    <Route
                        path=StaticSegment("")
                        ssr=SsrMode::Async
                        view=|| view! { <auth::RequireAccess><pages::home::HomePage /></auth::RequireAccess> }
                    />
                    <Route
                        path=path!("/requests")
                        ssr=SsrMode::Async
                        view=|| view! { <auth::RequireAccess><pages::requests::mine::MyRequestsPage /></auth::RequireAccess> }
                    />
                    <Route
                        path=path!("/requests/new/api")
                        ssr=SsrMode::Async
                        view=|| view! { <auth::RequireAccess><pages::requests::new_api::NewApiPage /></auth::RequireAccess> }
                    />
                    <Route
                        path=path!("/requests/new/egress")
                        ssr=SsrMode::Async
                        view=|| view! { <auth::RequireAccess><pages::requests::new_egress::NewEgressPage /></auth::RequireAccess> }
                    />
                    <Route
                        path=path!("/requests/:id")
                        ssr=SsrMode::Async
                        view=|| view! { <auth::RequireAccess><pages::requests::detail::RequestPage /></auth::RequireAccess> }
                    />
                    <Route
                        path=path!("/queue")
                        ssr=SsrMode::Async
                        view=|| view! { <auth::RequireAccess><pages::queue::QueuePage /></auth::RequireAccess> }
                    />
                    <Route
                        path=path!("/audit")
                        ssr=SsrMode::Async
                        view=|| view! { <auth::RequireAccess><pages::audit::AuditPage /></auth::RequireAccess> }
                    />
                    <Route
                        path=path!("/audit/lineage")
                        ssr=SsrMode::Async
                        view=|| view! { <auth::RequireAccess><pages::audit::LineagePage /></auth::RequireAccess> }
                    />
                    <Route
                        path=path!("/audit/chain")
                        ssr=SsrMode::Async
                        view=|| view! { <auth::RequireAccess><pages::audit::ChainPage /></auth::RequireAccess> }
                    />
                    <Route
                        path=StaticSegment("account")
                        ssr=SsrMode::Async
                        view=pages::account::AccountPage
                    />
                    <Route
                        path=StaticSegment("preview")
                        ssr=SsrMode::Async
                        view=|| view! { <auth::RequireAccess><pages::preview::PreviewPage /></auth::RequireAccess> }
                    />
                </Routes>
            </main>
        </Router>
    }
}

/// "Review queue (3)" for people who decide requests; nothing for everyone else.
#[component]
fn QueueLink() -> impl IntoView {
    let session = auth::use_session();
    let approver = move || {
        session
            .get()
            .and_then(Result::ok)
            .and_then(|info| info.viewer)
            .is_some_and(|viewer| {
                viewer.platform_admin
                    || !viewer.approver_for_environments.is_empty()
                    || !viewer.approver_for_teams.is_empty()
            })
    };
    // Only approvers ask: anyone else would get a refusal (and a 401 on the sign-in page).
    let waiting = Resource::new(approver, |approver| async move {
        if approver {
            requests::waiting_count().await
        } else {
            Ok(0)
        }
    });
    view! {
        <Suspense fallback=|| ()>
            {move || {
                approver().then(|| {
                    let count = waiting.get().and_then(Result::ok).unwrap_or(0);
                    view! {
                        <A href="/queue">
                            "Review queue"
                            {(count > 0).then(|| view! {
                                " " <span class="count" id="queue-count" aria-label=format!("{count} waiting")>{count}</span>
                            })}
                        </A>
                    }
                })
            }}
        </Suspense>
    }
}
