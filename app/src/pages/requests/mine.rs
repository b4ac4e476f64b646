//! "My requests": what the user and their teams asked for, newest first, filtered by state and
//! environment (in the URL, so a filtered list can be shared), a page at a time.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::list::{Chip, RequestRows, href_with};
use crate::catalog::load_catalog_names;
use crate::errors;
use crate::requests::my_requests;

const STATES: &[(&str, &str)] = &[
    ("submitted", "Waiting for review"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
    ("withdrawn", "Withdrawn"),
];

#[component]
pub fn MyRequestsPage() -> impl IntoView {
    let query = use_query_map();
    // A memo: after a client-side navigation the list is fetched again only when its filters
    // changed, not on every change of the URL's query.
    let params = Memo::new(move |_| {
        query.with(|q| {
            ["state", "environment", "before"]
                .into_iter()
                .filter_map(|k| {
                    q.get(k)
                        .filter(|v| !v.is_empty())
                        .map(|v| (k.to_owned(), v))
                })
                .collect::<Vec<_>>()
        })
    });
    let page = Resource::new(
        move || params.get(),
        |params| {
            let get = |k: &str| params.iter().find(|(p, _)| p == k).map(|(_, v)| v.clone());
            my_requests(get("state"), get("environment"), get("before"))
        },
    );
    let catalog = Resource::new(|| (), |()| load_catalog_names());
    view! {
        <Title text="My requests" />
        <div class="page-head">
            <h1>"My requests"</h1>
            <div class="actions">
                <a class="button" href="/requests/new/api">"Expose an API"</a>
                <a class="button secondary" href="/requests/new/egress">"Allow outbound traffic"</a>
            </div>
        </div>
        <p class="lead">"Requests you made, and those of your teams."</p>
        <Suspense fallback=|| view! { <p class="hint">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let params = params.get();
                let environments: Vec<String> = catalog
                    .await
                    .map(|names| names.environments)
                    .unwrap_or_default();
                let chips = view! {
                    <nav class="chips" aria-label="Filter by state">
                        <Chip base="/requests" params=params.clone() key="state" value=None label="All states".to_owned() />
                        {STATES.iter().map(|(value, label)| view! {
                            <Chip base="/requests" params=params.clone() key="state" value=Some((*value).to_owned()) label=(*label).to_owned() />
                        }).collect_view()}
                    </nav>
                    <nav class="chips" aria-label="Filter by environment">
                        <Chip base="/requests" params=params.clone() key="environment" value=None label="All environments".to_owned() />
                        {environments.into_iter().map(|env| view! {
                            <Chip base="/requests" params=params.clone() key="environment" value=Some(env.clone()) label=env />
                        }).collect_view()}
                    </nav>
                };
                let body = match page.await {
                    Ok(page) if page.rows.is_empty() => view! {
                        <p class="empty" id="requests-empty">
                            {if params.is_empty() {
                                "You have no requests yet. Ask to expose an API or to reach an external host; \
                                 they appear here while they are reviewed and delivered."
                            } else {
                                "No request matches these filters."
                            }}
                        </p>
                    }.into_any(),
                    Ok(page) => {
                        let next = page.next.map(|id| {
                            let mut query: Vec<(String, String)> =
                                params.iter().filter(|(k, _)| k != "before").cloned().collect();
                            query.push(("before".to_owned(), id));
                            href_with("/requests", &query)
                        });
                        view! {
                            <div id="my-requests"><RequestRows rows=page.rows /></div>
                            {next.map(|href| view! { <a class="more" rel="next" href=href>"Older →"</a> })}
                        }.into_any()
                    }
                    Err(error) => view! { <p class="status bad">{errors::describe(&error)}</p> }.into_any(),
                };
                view! { {chips} {body} }
            })}
        </Suspense>
    }
}
