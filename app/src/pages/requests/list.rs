//! The row every request list shows, like a pull-request list: the summary first, then the state
//! as a label, the environment, who and how long ago.

use leptos::prelude::*;

use crate::components::state::StateLabel;
use crate::requests::{RequestRow, operation_prefix};

#[component]
pub fn RequestRows(rows: Vec<RequestRow>, #[prop(optional)] show_approvals: bool) -> impl IntoView {
    view! {
        <ul class="request-list">
            {rows
                .into_iter()
                .map(|row| {
                    let summary = format!("{}{}", operation_prefix(&row.operation), row.summary);
                    view! {
                        <li class="request-row" data-id=row.id.clone()>
                            <a class="summary" href=format!("/requests/{}", row.id)>{summary}</a>
                            <StateLabel state=row.state.clone() />
                            <span class="meta">
                                <span class="kind">{kind_label(&row.kind)}</span> " · "
                                <span class="env">{row.environment.clone()}</span>
                                " · " {row.team.clone()} " · " {row.requester_name.clone()} " · "
                                <time title=row.at.clone()>{row.age.clone()}</time>
                                {(show_approvals && row.approvals > 0).then(|| format!(" · {} approved so far", count_approvals(row.approvals)))}
                            </span>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

/// A request kind in the user's words.
pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        "ApiRoute" => "API route",
        "Egress" => "Outbound traffic",
        "Onboarding" => "Namespace onboarding",
        "MutualTls" => "Mutual TLS",
        "CircuitBreaker" => "Circuit breaker",
        "TrafficSplit" => "Traffic split",
        "Authorization" => "Authorization",
        "JwtAuthentication" => "JWT requirement",
        "Tracing" => "Tracing",
        _ => "Request",
    }
}

fn count_approvals(n: i64) -> String {
    if n == 1 {
        "1 approval".to_owned()
    } else {
        format!("{n} approvals")
    }
}

/// A filter chip: a link that sets (or clears) one query parameter, keeping the others.
#[component]
pub fn Chip(
    base: &'static str,
    params: Vec<(String, String)>,
    key: &'static str,
    value: Option<String>,
    label: String,
) -> impl IntoView {
    let active = params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        == value;
    let mut query: Vec<(String, String)> = params
        .into_iter()
        .filter(|(k, _)| k != key && k != "before" && k != "after")
        .collect();
    if let Some(value) = value {
        query.push((key.to_owned(), value));
    }
    let href = href_with(base, &query);
    view! {
        <a class="chip" class:active=active aria-current=active.then_some("true") href=href>{label}</a>
    }
}

/// `base?k=v&…`, encoded.
pub fn href_with(base: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return base.to_owned();
    }
    let pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                crate::url::encode_component(k),
                crate::url::encode_component(v)
            )
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}
