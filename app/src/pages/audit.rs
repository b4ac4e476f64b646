//! The audit history: search every step by who, what, where and when, export exactly what the
//! filters select, follow one route or external host from its first request to its removal, and
//! (for platform admins) check that nothing was changed after it was written.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::audit::{AuditRow, audit_events, audit_lineage, check_audit_chain};
use crate::errors;
use crate::pages::requests::list::href_with;

/// The filters of the form, in order: (parameter, label, input type, hint).
const FIELDS: &[(&str, &str, &str, &str)] = &[
    ("actor", "Who", "text", "A subject, or the start of a name"),
    ("environment", "Environment", "text", "e.g. prod"),
    ("team", "Team", "text", "e.g. team-a"),
    ("host", "Host", "text", "e.g. api.prod.example.com"),
    ("path", "Path starts with", "text", "e.g. /orders"),
    (
        "external_host",
        "External host",
        "text",
        "e.g. api.stripe.com",
    ),
    ("namespace", "Namespace", "text", "e.g. team-a"),
    ("from", "From", "date", ""),
    ("until", "Until", "date", ""),
    (
        "q",
        "Text",
        "search",
        "Anywhere: names, hosts, comments, reasons",
    ),
];

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let params = move || {
        query.with(|q| {
            FIELDS
                .iter()
                .map(|(key, ..)| *key)
                .chain(["action"])
                .filter_map(|k| {
                    q.get(k)
                        .filter(|v| !v.trim().is_empty())
                        .map(|v| (k.to_owned(), v))
                })
                .collect::<Vec<_>>()
        })
    };
    let before = move || query.with(|q| q.get("before").and_then(|b| b.parse::<i64>().ok()));
    let page = Resource::new(
        move || (params(), before()),
        |(params, before)| audit_events(params, before),
    );
    view! {
        <Title text="Audit history" />
        <h1>"Audit history"</h1>
        <p class="lead">
            "Every step, newest first: requests, decisions, comments, deliveries and merges, sign-ins \
             and refused access. Each event is chained to the one before it by a hash, so a change \
             made afterwards shows. The exports hold exactly the events the filters select."
        </p>
        <Suspense fallback=|| view! { <p class="hint">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let params = params();
                match page.await {
                    Ok(data) => {
                        let value = |key: &str| {
                            params.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default()
                        };
                        let problem = |key: &str| {
                            data.problems.iter().find(|(k, _)| k == key).map(|(_, m)| m.clone())
                        };
                        let action = value("action");
                        let csv = href_with("/audit/export.csv", &params);
                        let json = href_with("/audit/export.json", &params);
                        let older = data.older.map(|seq| {
                            let mut query = params.clone();
                            query.push(("before".to_owned(), seq.to_string()));
                            href_with("/audit", &query)
                        });
                        let filtered = !params.is_empty();
                        view! {
                            <form method="get" action="/audit" class="audit-filters" id="audit-filters" role="search" aria-label="Filter the audit history">
                                {FIELDS.iter().map(|(key, label, kind, hint)| {
                                    let id = format!("audit-{key}");
                                    let error = problem(key);
                                    let invalid = error.is_some();
                                    let hint_id = format!("{id}-hint");
                                    let error_id = format!("{id}-error");
                                    let described = match (hint.is_empty(), error.is_some()) {
                                        (true, false) => None,
                                        (false, false) => Some(hint_id.clone()),
                                        (true, true) => Some(error_id.clone()),
                                        (false, true) => Some(format!("{hint_id} {error_id}")),
                                    };
                                    view! {
                                        <div class="field" class:has-error=invalid>
                                            <label for=id.clone()>{*label}</label>
                                            <input type=*kind id=id.clone() name=*key value=value(key)
                                                aria-invalid=invalid.then_some("true")
                                                aria-describedby=described />
                                            {(!hint.is_empty()).then(|| view! { <p class="hint" id=hint_id.clone()>{*hint}</p> })}
                                            {error.map(|message| view! { <p class="field-error" id=error_id.clone()>{message}</p> })}
                                        </div>
                                    }
                                }).collect_view()}
                                <div class="field" class:has-error=problem("action").is_some()>
                                    <label for="audit-action">"Action"</label>
                                    <select id="audit-action" name="action">
                                        <option value="" selected=action.is_empty()>"Any action"</option>
                                        {data.actions.iter().map(|(value, label)| view! {
                                            <option value=value.clone() selected=*value == action>{label.clone()}</option>
                                        }).collect_view()}
                                    </select>
                                    {problem("action").map(|message| view! { <p class="field-error">{message}</p> })}
                                </div>
                                <div class="actions">
                                    <button type="submit" id="audit-search">"Search"</button>
                                    {filtered.then(|| view! { <a class="button secondary" href="/audit">"Clear"</a> })}
                                </div>
                            </form>
                            <div class="audit-tools">
                                <span>"Export these events: "</span>
                                <a href=csv id="export-csv" download="">"CSV"</a>
                                " · "
                                <a href=json id="export-json" download="">"JSON"</a>
                                {data.platform_admin.then(|| view! {
                                    " · " <a href="/audit/chain" id="check-chain">"Check the chain"</a>
                                })}
                            </div>
                            {if data.rows.is_empty() {
                                view! {
                                    <p class="empty" id="audit-empty">
                                        {if data.problems.is_empty() { "No event matches these filters." } else { "Correct the filters marked above." }}
                                    </p>
                                }.into_any()
                            } else {
                                view! { <AuditTable rows=data.rows.clone() /> }.into_any()
                            }}
                            {older.map(|href| view! { <a class="more" rel="next" href=href id="audit-older">"Older events →"</a> })}
                        }
                        .into_any()
                    }
                    Err(error) => view! { <p class="status bad" role="alert">{errors::describe(&error)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The events as a table: when, who, what happened, to what, and from where.
#[component]
fn AuditTable(rows: Vec<AuditRow>) -> impl IntoView {
    view! {
        <div class="table-scroll" tabindex="0" role="region" aria-label="Audit events">
            <table class="audit" id="audit-events">
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Who"</th>
                        <th scope="col">"Action"</th>
                        <th scope="col">"Concerning"</th>
                        <th scope="col">"Detail"</th>
                        <th scope="col">"From"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|row| view! { <AuditRowView row /> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn AuditRowView(row: AuditRow) -> impl IntoView {
    let place = [row.environment.clone(), row.team.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
    view! {
        <tr data-seq=row.seq data-action=row.action.clone()>
            <td><time title=row.when.1.clone()>{row.when.0.clone()}</time></td>
            <td><span title=row.actor.clone()>{row.actor_name.clone()}</span></td>
            <td>
                {row.action_label.clone()}
                {row.change.clone().map(|change| view! { <span class="meta">" (" {change} ")"</span> })}
            </td>
            <td>
                {(!place.is_empty()).then(|| view! { <span class="meta">{place.clone()}</span> " " })}
                {row.target.clone().map(|target| match row.lineage.clone() {
                    Some(href) => view! { <a href=href title="Its whole history">{target}</a> }.into_any(),
                    None => view! { <span>{target}</span> }.into_any(),
                })}
                {row.request_id.clone().map(|id| view! {
                    " " <a class="meta" href=format!("/requests/{id}")>"request"</a>
                })}
            </td>
            <td class="detail">{row.detail.clone()}</td>
            <td class="meta">{row.source.clone().unwrap_or_default()}</td>
        </tr>
    }
}

/// The whole history of one route or external host, oldest first.
#[component]
pub fn LineagePage() -> impl IntoView {
    let query = use_query_map();
    let get = move |key: &str| query.with(|q| q.get(key).filter(|v| !v.trim().is_empty()));
    let events = Resource::new(
        move || {
            (
                get("environment"),
                get("host"),
                get("path"),
                get("external_host"),
            )
        },
        |(environment, host, path, external_host)| {
            audit_lineage(environment.unwrap_or_default(), host, path, external_host)
        },
    );
    let subject = move || match (get("external_host"), get("host"), get("path")) {
        (Some(external), _, _) => format!("outbound traffic to {external}"),
        (None, Some(host), Some(path)) => format!("{host}{path}"),
        _ => "a route".to_owned(),
    };
    let heading = move || {
        let environment = get("environment").unwrap_or_default();
        format!("History of {} in {environment}", subject())
    };
    view! {
        <Title text="History" />
        <h1 id="lineage-heading">{heading}</h1>
        <p class="lead">
            "Every request that asked for it, every decision, pull request and merge, every change \
             and the removal, oldest first."
        </p>
        <Suspense fallback=|| view! { <p class="hint">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match events.await {
                    Ok(rows) if rows.is_empty() => view! {
                        <p class="empty" id="lineage-empty">"Nothing has happened here that you may see."</p>
                    }.into_any(),
                    Ok(rows) => view! {
                        <ol class="timeline lineage" id="lineage">
                            {rows.into_iter().map(|row| view! {
                                <li data-action=row.action.clone()>
                                    <time title=row.when.1.clone()>{row.when.1.clone()}</time>
                                    " · " <strong>{row.actor_name.clone()}</strong> " · " {row.action_label.clone()}
                                    {row.change.clone().map(|change| view! { <span class="meta">" (" {change} ")"</span> })}
                                    {row.request_id.clone().map(|id| view! { " · " <a href=format!("/requests/{id}")>"request"</a> })}
                                    {(!row.detail.is_empty()).then(|| view! { <p class="detail">{row.detail.clone()}</p> })}
                                </li>
                            }).collect_view()}
                        </ol>
                    }.into_any(),
                    Err(error) => view! { <p class="status bad" role="alert">{errors::describe(&error)}</p> }.into_any(),
                }
            })}
        </Suspense>
        <p><a href="/audit">"← The whole audit history"</a></p>
    }
}

/// The chain check, for platform admins.
#[component]
pub fn ChainPage() -> impl IntoView {
    let check = Resource::new(|| (), |()| check_audit_chain());
    view! {
        <Title text="Audit chain" />
        <h1>"Audit chain"</h1>
        <p class="lead">
            "Every event's hash covers its content and the hash of the event before it. This \
             recomputes all of them, oldest first, and names the first event that no longer matches."
        </p>
        <Suspense fallback=|| view! { <p class="hint">"Checking every event…"</p> }>
            {move || Suspend::new(async move {
                match check.await {
                    Ok(result) => view! {
                        <p class=if result.intact { "status ok" } else { "status bad" } role="status" id="chain-result">
                            {result.message.clone()}
                        </p>
                        {result.broken_at.map(|seq| view! {
                            <p><a href=format!("/audit?before={}", seq + 1)>"Show the events around it"</a></p>
                        })}
                    }.into_any(),
                    Err(error) => view! { <p class="status bad" role="alert">{errors::describe(&error)}</p> }.into_any(),
                }
            })}
        </Suspense>
        <p><a href="/audit">"← The audit history"</a></p>
    }
}
