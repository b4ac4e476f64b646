//! The approver queue: requests waiting for a decision this user may make, oldest first (the
//! approver's debt), filtered by environment, team and kind.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::catalog::load_catalog_names;
use crate::errors;
use crate::pages::requests::list::{Chip, RequestRows, href_with};
use crate::requests::approver_queue;

#[component]
pub fn QueuePage() -> impl IntoView {
    let query = use_query_map();
    // A memo: after a client-side navigation the list is fetched again only when its filters
    // changed, not on every change of the URL's query.
    let params = Memo::new(move |_| {
        query.with(|q| {
            ["environment", "team", "kind", "after"]
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
            approver_queue(get("environment"), get("team"), get("kind"), get("after"))
        },
    );
    let catalog = Resource::new(|| (), |()| load_catalog_names());
    view! {
        <Title text="Review queue" />
        <h1>"Review queue"</h1>
        <p class="lead">"Requests waiting for your decision, oldest first."</p>
        <Suspense fallback=|| view! { <p class="hint">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let params = params.get();
                let (environments, teams) = catalog
                    .await
                    .map(|names| (names.environments, names.teams))
                    .unwrap_or_default();
                let chip = |key: &'static str, value: Option<String>, label: String| {
                    view! { <Chip base="/queue" params=params.clone() key value label /> }
                };
                let chips = view! {
                    <nav class="chips" aria-label="Filter by environment">
                        {chip("environment", None, "All environments".to_owned())}
                        {environments.iter().map(|e| chip("environment", Some(e.clone()), e.clone())).collect_view()}
                    </nav>
                    <nav class="chips" aria-label="Filter by team">
                        {chip("team", None, "All teams".to_owned())}
                        {teams.iter().map(|t| chip("team", Some(t.clone()), t.clone())).collect_view()}
                    </nav>
                    <nav class="chips" aria-label="Filter by kind">
                        {chip("kind", None, "All kinds".to_owned())}
                        {mesh::request::KIND_NAMES
                            .iter()
                            .map(|kind| chip("kind", Some((*kind).to_owned()), crate::pages::requests::list::kind_label(kind).to_owned()))
                            .collect_view()}
                    </nav>
                };
                let body = match page.await {
                    Ok(page) if page.rows.is_empty() => view! {
                        <p class="empty" id="queue-empty">
                            {if params.is_empty() {
                                "Nothing waits for you. Requests you may decide appear here, oldest first."
                            } else {
                                "Nothing waits for you with these filters."
                            }}
                        </p>
                    }.into_any(),
                    Ok(page) => {
                        let next = page.next.map(|id| {
                            let mut query: Vec<(String, String)> =
                                params.iter().filter(|(k, _)| k != "after").cloned().collect();
                            query.push(("after".to_owned(), id));
                            href_with("/queue", &query)
                        });
                        view! {
                            <div id="queue"><RequestRows rows=page.rows show_approvals=true /></div>
                            {next.map(|href| view! { <a class="more" rel="next" href=href>"Newer →"</a> })}
                        }.into_any()
                    }
                    Err(error) => view! { <p class="status bad">{errors::describe(&error)}</p> }.into_any(),
                };
                view! { {chips} {body} }
            })}
        </Suspense>
    }
}
