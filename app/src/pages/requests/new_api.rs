//! "Expose an API": where (environment, host) → what (path, match) → to which service
//! (namespace, service, port) → how (timeout, retries) → why. Also the form that changes a
//! granted route (`?change=<id>`): where and what stay as granted, the rest can change.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::fields::{
    FilesPreview, FormState, GeneralProblems, JustificationField, SelectField, TextField,
};
use crate::catalog::{CatalogConfig, load_catalog_config};
use crate::errors;
use crate::pages::preview::TeamScope;
use crate::requests::form::ApiForm;
use crate::requests::live::{KnownClaims, live_check};
use crate::requests::{FormStart, SubmitApi, form_setup};

const FIELDS: &[&str] = &[
    "environment",
    "host",
    "team",
    "path",
    "path_match",
    "namespace",
    "service",
    "port",
    "timeout",
    "retry_attempts",
    "per_try_timeout",
    "justification",
];

#[component]
pub fn NewApiPage() -> impl IntoView {
    let query = use_query_map();
    let setup = Resource::new(
        move || query.with(|q| (q.get("draft"), q.get("change"))),
        |(draft, change)| form_setup(draft, change),
    );
    let catalog = Resource::new(|| (), |()| load_catalog_config());
    view! {
        <Suspense fallback=|| view! { <p class="hint">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match (setup.await, catalog.await) {
                    (Ok(setup), Ok(config)) => view! { <ApiRequestForm setup config /> }.into_any(),
                    (Err(error), _) | (_, Err(error)) => view! {
                        <Title text="Expose an API" />
                        <h1>"Expose an API"</h1>
                        <p class="status bad">{errors::describe(&error)}</p>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The values a fresh form starts with: the first environment, its first host, the user's
/// first team and that team's first namespace.
fn defaults(config: &CatalogConfig, scope: &TeamScope) -> ApiForm {
    let environment = config.environments.first();
    let team = match scope {
        TeamScope::Only(teams) => teams.first().cloned(),
        TeamScope::Any => config.teams.first().map(|t| t.name.clone()),
    }
    .unwrap_or_default();
    ApiForm {
        environment: environment.map(|e| e.name.clone()).unwrap_or_default(),
        host: environment
            .and_then(|e| e.hosts.first().cloned())
            .unwrap_or_default(),
        namespace: first_namespace(config, &team),
        team,
        path_match: "prefix".to_owned(),
        ..ApiForm::default()
    }
}

pub(super) fn first_namespace(config: &CatalogConfig, team: &str) -> String {
    config
        .teams
        .iter()
        .find(|t| t.name == team)
        .and_then(|t| t.namespaces.first().cloned())
        .unwrap_or_default()
}

pub(super) fn team_options(config: &CatalogConfig, scope: &TeamScope) -> Vec<(String, String)> {
    config
        .teams
        .iter()
        .filter(|team| match scope {
            TeamScope::Any => true,
            TeamScope::Only(teams) => teams.contains(&team.name),
        })
        .map(|team| (team.name.clone(), team.name.clone()))
        .collect()
}

/// The namespaces a team may name in an environment: those the configuration gives it, then
/// those onboarded by request there (granted, or waiting for review: the server checks again).
pub(super) fn namespace_options(
    config: &CatalogConfig,
    claims: &[crate::requests::ClaimView],
    environment: &str,
    team: &str,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = config
        .teams
        .iter()
        .find(|t| t.name == team)
        .map(|t| {
            t.namespaces
                .iter()
                .map(|n| (n.clone(), n.clone()))
                .collect()
        })
        .unwrap_or_default();
    for claim in claims {
        let payload = &claim.payload;
        if payload["kind"] == "Onboarding"
            && payload["environment"] == environment
            && payload["team"] == team
            && let Some(namespace) = payload["namespace"].as_str()
            && !out.iter().any(|(n, _)| n == namespace)
        {
            let label = if claim.granted {
                namespace.to_owned()
            } else {
                format!("{namespace} (onboarding waits for review)")
            };
            out.push((namespace.to_owned(), label));
        }
    }
    out
}

pub(super) fn environment_options(config: &CatalogConfig) -> Vec<(String, String)> {
    config
        .environments
        .iter()
        .map(|e| (e.name.clone(), e.name.clone()))
        .collect()
}

/// The viewer's team scope, from the session the shell loaded.
pub(super) fn viewer_scope() -> TeamScope {
    crate::auth::use_session()
        .get_untracked()
        .and_then(Result::ok)
        .and_then(|info| info.viewer)
        .map(|viewer| TeamScope::of(&viewer))
        .unwrap_or(TeamScope::Only(Vec::new()))
}

#[component]
fn ApiRequestForm(setup: FormStart, config: CatalogConfig) -> impl IntoView {
    let scope = viewer_scope();
    let changing = setup.change_of.clone();
    let initial = setup
        .api
        .clone()
        .unwrap_or_else(|| defaults(&config, &scope));
    let environment = RwSignal::new(initial.environment);
    let host = RwSignal::new(initial.host);
    let team = RwSignal::new(initial.team);
    let path = RwSignal::new(initial.path);
    let path_match = RwSignal::new(initial.path_match);
    let namespace = RwSignal::new(initial.namespace);
    let service = RwSignal::new(initial.service);
    let port = RwSignal::new(initial.port);
    let timeout = RwSignal::new(initial.timeout);
    let retry_attempts = RwSignal::new(initial.retry_attempts);
    let per_try_timeout = RwSignal::new(initial.per_try_timeout);
    let justification = RwSignal::new(initial.justification);

    let catalog = mesh::Catalog::from_config(config.environments.clone(), config.teams.clone());
    let claims = KnownClaims::new(
        &setup.claims,
        changing.as_ref().map(|(id, _)| id.as_str()),
        setup.observed.clone(),
    );
    let live = {
        let scope = scope.clone();
        Memo::new(move |_| {
            let form = ApiForm {
                environment: environment.get(),
                host: host.get(),
                team: team.get(),
                path: path.get(),
                path_match: path_match.get(),
                namespace: namespace.get(),
                service: service.get(),
                port: port.get(),
                timeout: timeout.get(),
                retry_attempts: retry_attempts.get(),
                per_try_timeout: per_try_timeout.get(),
                justification: String::new(),
            };
            match &catalog {
                Ok(catalog) => live_check(catalog, &scope, &claims, form.to_value()),
                Err(problems) => crate::requests::live::LiveCheck {
                    problems: problems.clone(),
                    files: Vec::new(),
                },
            }
        })
    };
    let state = FormState::new(live, setup.problems.clone());
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let submit = ServerAction::<SubmitApi>::new();
    Effect::new(move |_| state.after_submit(submit.value().get()));

    let config = StoredValue::new(config);
    let hosts = Signal::derive(move || {
        let env = environment.get();
        config.with_value(|c| {
            c.environments
                .iter()
                .find(|e| e.name == env)
                .map(|e| e.hosts.iter().map(|h| (h.clone(), h.clone())).collect())
                .unwrap_or_default()
        })
    });
    let environments = Signal::derive(move || config.with_value(environment_options));
    let teams = {
        let scope = scope.clone();
        Signal::derive(move || config.with_value(|c| team_options(c, &scope)))
    };
    let claim_views = StoredValue::new(setup.claims.clone());
    let namespaces = Signal::derive(move || {
        let (env, team) = (environment.get(), team.get());
        config.with_value(|c| {
            claim_views.with_value(|claims| namespace_options(c, claims, &env, &team))
        })
    });
    // What the namespace runs, where the environment's cluster is read.
    let observed = StoredValue::new(setup.observed.clone());
    let services = Signal::derive(move || {
        let (env, ns) = (environment.get(), namespace.get());
        observed.with_value(|o| {
            o.get(&env)
                .map(|cluster| {
                    cluster
                        .services_in(&ns)
                        .map(|(name, ports)| {
                            let ports: Vec<String> =
                                ports.iter().map(|p| p.port.to_string()).collect();
                            (
                                name.to_owned(),
                                format!("{name} (ports {})", ports.join(", ")),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
    });
    let ports = Signal::derive(move || {
        let (env, ns, svc) = (environment.get(), namespace.get(), service.get());
        observed.with_value(|o| {
            o.get(&env)
                .and_then(|cluster| {
                    cluster
                        .services_in(&ns)
                        .find(|(name, _)| *name == svc.trim())
                        .map(|(_, ports)| {
                            ports
                                .iter()
                                .map(|p| {
                                    let label = match &p.name {
                                        Some(name) => format!("{} ({name})", p.port),
                                        None => p.port.to_string(),
                                    };
                                    (p.port.to_string(), label)
                                })
                                .collect()
                        })
                })
                .unwrap_or_default()
        })
    });
    let matches = Signal::stored(vec![
        (
            "prefix".to_owned(),
            "this path and everything below it".to_owned(),
        ),
        ("exact".to_owned(), "exactly this path".to_owned()),
    ]);
    let on_environment = Callback::new(move |env: String| {
        let first = config.with_value(|c| {
            c.environments
                .iter()
                .find(|e| e.name == env)
                .and_then(|e| e.hosts.first().cloned())
                .unwrap_or_default()
        });
        host.set(first);
    });
    let on_team = Callback::new(move |team: String| {
        namespace.set(config.with_value(|c| first_namespace(c, &team)));
    });
    let is_change = changing.is_some();
    let title = if is_change {
        "Change an API route"
    } else {
        "Expose an API"
    };
    let change_id = changing
        .as_ref()
        .map(|(id, _)| id.clone())
        .unwrap_or_default();

    view! {
        <Title text=title />
        <h1>{title}</h1>
        {match changing.clone() {
            Some((id, summary)) => view! {
                <p class="lead">
                    "You are changing " <a href=format!("/requests/{id}")>{summary}</a>
                    ". The host and path stay as granted; change where the traffic goes, the \
                     timeout or the retries. The same review applies."
                </p>
            }.into_any(),
            None => view! {
                <p class="lead">
                    "Expose a path of your environment's shared host to a service of your team. \
                     Each field is checked as you go; the files the pull request would change \
                     appear beside the form."
                </p>
            }.into_any(),
        }}
        <div class="split form-split" data-hydrated=move || hydrated.get().to_string()>
            <ActionForm action=submit attr:id="request-form" attr:novalidate=true>
                <input type="hidden" name="key" value=setup.key.clone() />
                <input type="hidden" name="change_of" value=change_id />
                <fieldset>
                    <legend>"Where"</legend>
                    {if is_change {
                        view! {
                            <input type="hidden" name="form[environment]" value=environment.get_untracked() />
                            <input type="hidden" name="form[host]" value=host.get_untracked() />
                            <input type="hidden" name="form[team]" value=team.get_untracked() />
                            <p class="fixed">
                                <strong>{environment.get_untracked()}</strong>" · "
                                <code>{host.get_untracked()}</code>" · team "
                                <strong>{team.get_untracked()}</strong>
                            </p>
                        }.into_any()
                    } else {
                        view! {
                            <SelectField field="environment" label="Environment" value=environment state
                                options=environments on_change=on_environment />
                            <SelectField field="host" label="Shared host" value=host state options=hosts />
                            <SelectField field="team" label="Team" value=team state options=teams
                                on_change=on_team hint="The team that will own the path." />
                        }.into_any()
                    }}
                </fieldset>
                <fieldset>
                    <legend>"What"</legend>
                    <TextField field="path" label="Path" value=path state readonly=is_change
                        placeholder="/orders/v1"
                        hint="Starts with /; segments of letters, digits, - . _ ~" />
                    {if is_change {
                        view! { <input type="hidden" name="form[path_match]" value=path_match.get_untracked() /> }.into_any()
                    } else {
                        view! { <SelectField field="path_match" label="Match" value=path_match state options=matches /> }.into_any()
                    }}
                </fieldset>
                <fieldset>
                    <legend>"To which service"</legend>
                    <SelectField field="namespace" label="Namespace" value=namespace state options=namespaces />
                    <TextField field="service" label="Service" value=service state placeholder="orders"
                        hint="The Kubernetes Service in that namespace." suggestions=services />
                    <TextField field="port" label="Port" value=port state placeholder="8080"
                        hint="The Service port, 1 to 65535." suggestions=ports />
                </fieldset>
                <fieldset>
                    <legend>"How (optional)"</legend>
                    <TextField field="timeout" label="Timeout" value=timeout state placeholder="5s"
                        hint="Like 500ms, 5s or 1m; empty keeps the mesh default." />
                    <TextField field="retry_attempts" label="Retries" value=retry_attempts state placeholder="2"
                        hint="0 to 10; 0 turns retries off, empty keeps the mesh default." />
                    <TextField field="per_try_timeout" label="Timeout per try" value=per_try_timeout state
                        placeholder="2s" />
                </fieldset>
                <JustificationField value=justification state />
                <GeneralProblems problems=state.general(FIELDS) />
                <div class="actions">
                    <button type="submit" id="ask-for-review" disabled=move || submit.pending().get()>
                        "Ask for review"
                    </button>
                    <span class="hint">"Approvers are told; nothing changes in the mesh until they approve."</span>
                </div>
            </ActionForm>
            <FilesPreview state />
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::ClaimView;
    use serde_json::json;

    fn claim(id: &str, granted: bool, env: &str, team: &str, namespace: &str) -> ClaimView {
        ClaimView {
            id: id.to_owned(),
            payload: json!({"kind": "Onboarding", "environment": env, "team": team, "namespace": namespace}),
            granted,
        }
    }

    #[test]
    fn onboarded_namespaces_are_offered_in_their_environment_after_the_configured_ones() {
        let config: CatalogConfig = serde_json::from_value(json!({
            "environments": [],
            "teams": [{"name": "team-a", "namespaces": ["team-a"]}, {"name": "team-b", "namespaces": ["team-b"]}],
        }))
        .expect("config");
        let claims = [
            claim("1", true, "dev", "team-a", "team-a-batch"),
            claim("2", false, "dev", "team-a", "team-a-jobs"),
            claim("3", true, "prod", "team-a", "team-a-prod-only"),
            claim("4", true, "dev", "team-b", "team-b-batch"),
            claim("5", true, "dev", "team-a", "team-a"),
        ];
        assert_eq!(
            namespace_options(&config, &claims, "dev", "team-a"),
            [
                ("team-a".to_owned(), "team-a".to_owned()),
                ("team-a-batch".to_owned(), "team-a-batch".to_owned()),
                (
                    "team-a-jobs".to_owned(),
                    "team-a-jobs (onboarding waits for review)".to_owned()
                ),
            ]
        );
    }
}
