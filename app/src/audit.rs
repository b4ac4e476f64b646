//! The audit history as the pages see it: one page of events for the filters in the URL, the
//! lineage of one route or external host, and the chain check for platform admins.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One event, ready to show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub seq: i64,
    /// "3 minutes ago", and the exact time.
    pub when: (String, String),
    pub actor: String,
    pub actor_name: String,
    pub action: String,
    pub action_label: String,
    pub request_id: Option<String>,
    pub environment: Option<String>,
    pub team: Option<String>,
    /// `api.prod.example.com/orders/v1`, or the external hosts.
    pub target: Option<String>,
    /// The lineage page of the route or external host, when there is one.
    pub lineage: Option<String>,
    pub change: Option<String>,
    pub detail: String,
    pub source: Option<String>,
}

/// One page of the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditPageData {
    pub rows: Vec<AuditRow>,
    /// The `before` of the next (older) page.
    pub older: Option<i64>,
    /// Filters that could not be used: (field, message).
    pub problems: Vec<(String, String)>,
    pub platform_admin: bool,
    /// Every action the history records, for the filter: (value, label).
    pub actions: Vec<(String, String)>,
}

/// The chain check, in words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChainCheck {
    pub intact: bool,
    pub message: String,
    pub broken_at: Option<i64>,
}

/// Events matching the filters (the page's query parameters), newest first, a page at a time.
#[server]
pub async fn audit_events(
    // No filter is no field at all in a form encoding.
    #[server(default)] params: Vec<(String, String)>,
    before: Option<i64>,
) -> Result<AuditPageData, ServerFnError> {
    let backend = expect_context::<backend::Backend>();
    let user = crate::auth::require_member().await?;
    ssr::page(&backend, &user, &params, before).await
}

/// The whole history of one route (`environment`, `host`, `path`) or one external host, oldest
/// first.
#[server]
pub async fn audit_lineage(
    environment: String,
    host: Option<String>,
    path: Option<String>,
    external_host: Option<String>,
) -> Result<Vec<AuditRow>, ServerFnError> {
    let backend = expect_context::<backend::Backend>();
    let user = crate::auth::require_member().await?;
    ssr::lineage(&backend, &user, environment, host, path, external_host).await
}

/// Recomputes the chain (platform admins only).
#[server]
pub async fn check_audit_chain() -> Result<ChainCheck, ServerFnError> {
    let backend = expect_context::<backend::Backend>();
    let response = use_context::<leptos_axum::ResponseOptions>();
    let user = crate::auth::require_member().await?;
    if !user.roles.platform_admin {
        if let Some(response) = response {
            response.set_status(http::StatusCode::FORBIDDEN);
        }
        return Err(ServerFnError::ServerError(
            "Only platform admins check the audit chain.".to_owned(),
        ));
    }
    let verdict = backend::audit::verify(&backend.pool)
        .await
        .map_err(crate::errors::internal)?;
    Ok(ChainCheck {
        intact: matches!(verdict, backend::audit::Verdict::Intact { .. }),
        broken_at: match verdict {
            backend::audit::Verdict::Broken { seq, .. } => Some(seq),
            backend::audit::Verdict::Intact { .. } => None,
        },
        message: verdict.to_string(),
    })
}

#[cfg(feature = "ssr")]
mod ssr {
    use backend::audit::{AuditEvent, Filter, Scope, search};
    use backend::auth::CurrentUser;
    use leptos::prelude::ServerFnError;

    use super::{AuditPageData, AuditRow};
    use crate::errors;

    const PAGE_SIZE: i64 = 50;
    const LINEAGE_LIMIT: i64 = 1000;

    pub async fn page(
        backend: &backend::Backend,
        user: &CurrentUser,
        params: &[(String, String)],
        before: Option<i64>,
    ) -> Result<AuditPageData, ServerFnError> {
        let filter =
            match search::parse_filter(params.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
                Ok(filter) => filter,
                Err(problems) => {
                    return Ok(AuditPageData {
                        rows: Vec::new(),
                        older: None,
                        problems,
                        platform_admin: user.roles.platform_admin,
                        actions: actions(),
                    });
                }
            };
        let scope = Scope::of(&user.user.subject, &user.roles);
        let mut events = search::page(&backend.pool, &scope, &filter, before, PAGE_SIZE + 1)
            .await
            .map_err(errors::internal)?;
        let older = (events.len() as i64 > PAGE_SIZE).then(|| {
            events.truncate(PAGE_SIZE as usize);
            events.last().map(|event| event.seq).unwrap_or_default()
        });
        Ok(AuditPageData {
            rows: events.iter().map(row).collect(),
            older,
            problems: Vec::new(),
            platform_admin: user.roles.platform_admin,
            actions: actions(),
        })
    }

    pub async fn lineage(
        backend: &backend::Backend,
        user: &CurrentUser,
        environment: String,
        host: Option<String>,
        path: Option<String>,
        external_host: Option<String>,
    ) -> Result<Vec<AuditRow>, ServerFnError> {
        let blank = |value: &Option<String>| value.as_deref().is_none_or(|v| v.trim().is_empty());
        if blank(&external_host) && (blank(&host) || blank(&path)) {
            return Err(ServerFnError::ServerError(
                "Name a route (host and path) or an external host to see its history.".to_owned(),
            ));
        }
        let filter = Filter {
            environment: Some(environment),
            host: if blank(&external_host) { host } else { None },
            path: if blank(&external_host) { path } else { None },
            external_host,
            ..Filter::default()
        };
        let scope = Scope::of(&user.user.subject, &user.roles);
        let events = search::all_ascending(&backend.pool, &scope, &filter, LINEAGE_LIMIT)
            .await
            .map_err(errors::internal)?;
        Ok(events.iter().map(row).collect())
    }

    fn actions() -> Vec<(String, String)> {
        search::ACTIONS
            .iter()
            .map(|(value, label)| ((*value).to_owned(), (*label).to_owned()))
            .collect()
    }

    fn link(base: &str, query: &[(&str, &str)]) -> String {
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        crate::pages::requests::list::href_with(base, &query)
    }

    fn row(event: &AuditEvent) -> AuditRow {
        let label = search::ACTIONS
            .iter()
            .find(|(action, _)| *action == event.action)
            .map(|(_, label)| (*label).to_owned())
            .unwrap_or_else(|| event.action.clone());
        let environment = event.environment.clone().unwrap_or_default();
        let (target, lineage) = match (&event.host, &event.path) {
            (Some(host), Some(path)) => (
                Some(format!("{host}{path}")),
                Some(link(
                    "/audit/lineage",
                    &[
                        ("environment", &environment),
                        ("host", host),
                        ("path", path),
                    ],
                )),
            ),
            _ if !event.external_hosts.is_empty() => (
                Some(event.external_hosts.join(", ")),
                Some(link(
                    "/audit/lineage",
                    &[
                        ("environment", &environment),
                        ("external_host", &event.external_hosts[0]),
                    ],
                )),
            ),
            _ => (None, None),
        };
        let state = |value: &Option<serde_json::Value>| {
            value
                .as_ref()
                .and_then(|value| value.get("state"))
                .and_then(|state| state.as_str())
                .map(str::to_owned)
        };
        let change = if event.action == "submitted" {
            // What was asked: a new grant, or a change or removal of one.
            match event
                .after
                .as_ref()
                .and_then(|after| after.get("operation"))
                .and_then(|operation| operation.as_str())
            {
                Some("change") => Some("a change".to_owned()),
                Some("remove") => Some("a removal".to_owned()),
                _ => None,
            }
        } else {
            match (state(&event.before), state(&event.after)) {
                (Some(before), Some(after)) => Some(format!("{before} → {after}")),
                (None, Some(after)) => Some(after),
                _ => None,
            }
        };
        AuditRow {
            seq: event.seq,
            when: crate::requests::ssr::when(event.at),
            actor: event.actor.clone(),
            actor_name: event.actor_name.clone(),
            action: event.action.clone(),
            action_label: label,
            request_id: event.request_id.map(|id| id.to_string()),
            environment: event.environment.clone(),
            team: event.team.clone(),
            target,
            lineage,
            change,
            detail: event.detail.clone(),
            source: event.source_address.clone(),
        }
    }
}
