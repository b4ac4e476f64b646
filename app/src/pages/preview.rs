//! "Preview a request": paste or write a request in the public YAML format and see, as you type,
//! the exact files its pull request would contain, or what is wrong and where. The live preview
//! runs the `mesh` crate in the browser (no round trip); "Check with the server" also checks
//! against everything already granted or pending in the database.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::catalog::load_catalog_config;
use crate::components::problems::ProblemList;
use crate::errors;

/// What a newcomer sees first: a valid request they can edit.
pub const EXAMPLE_REQUEST: &str = "\
kind: ApiRoute
environment: dev
team: team-a
host: api.dev.example.com
path: /orders/v1
match: prefix
target: {namespace: team-a, service: orders, port: 8080}
timeout: 5s
";

/// The outcome of checking request text: either the generated files or the problems.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Rendered {
        yaml: String,
        files: usize,
        /// What people do outside the pull request (a Rollout's traffic routing, annotations).
        #[serde(default)]
        guidance: Vec<mesh::plan::Guidance>,
    },
    Refused {
        problems: Vec<mesh::Problem>,
    },
}

/// Which teams the user may request for: platform admins for any, everyone else for their own.
#[derive(Clone, Debug, PartialEq)]
pub enum TeamScope {
    Any,
    Only(Vec<String>),
}

impl TeamScope {
    pub fn of(viewer: &crate::auth::Viewer) -> Self {
        Self::from_roles(viewer.platform_admin, &viewer.requester_for)
    }

    pub fn from_roles<'a>(
        platform_admin: bool,
        teams: impl IntoIterator<Item = &'a String>,
    ) -> Self {
        if platform_admin {
            Self::Any
        } else {
            Self::Only(teams.into_iter().cloned().collect())
        }
    }

    pub fn problems(&self, requests: &[mesh::Request]) -> Vec<mesh::Problem> {
        let Self::Only(teams) = self else {
            return Vec::new();
        };
        requests
            .iter()
            .filter(|request| !teams.iter().any(|team| team == request.team().as_str()))
            .map(|request| {
                let yours = if teams.is_empty() {
                    "no team".to_owned()
                } else {
                    teams.join(", ")
                };
                mesh::Problem::policy(
                    "team",
                    format!(
                        "you request for {yours}; ask a member of {} to request this",
                        request.team().as_str()
                    ),
                )
                .in_source(request.origin())
            })
            .collect()
    }
}

/// Parses and plans `text` against `granted`; the same function runs in the browser and on the
/// server, so the preview and the check cannot disagree about the rules.
pub fn check_text(
    catalog: &mesh::Catalog,
    granted: &[mesh::request::Request],
    scope: &TeamScope,
    text: &str,
) -> Outcome {
    let requests = match mesh::request::parse_documents("request", text) {
        Ok(requests) => requests,
        Err(problems) => return Outcome::Refused { problems },
    };
    let not_yours = scope.problems(&requests);
    if !not_yours.is_empty() {
        return Outcome::Refused {
            problems: not_yours,
        };
    }
    match mesh::plan(catalog, granted, &requests) {
        Ok(plan) => Outcome::Rendered {
            yaml: plan.to_multi_document_yaml(),
            files: plan.files.len(),
            guidance: plan.guidance,
        },
        Err(problems) => Outcome::Refused { problems },
    }
}

/// Checks the request against the catalog and against every granted or pending request of its
/// environments. A plain form post (no JavaScript) is answered with a redirect to the preview
/// page carrying the text, which renders the same check on the server.
#[server]
pub async fn check_request(request: String) -> Result<Outcome, ServerFnError> {
    const MAX_LEN: usize = 16 * 1024;
    let user = crate::auth::require_member().await?;
    if request.len() > MAX_LEN {
        return Ok(Outcome::Refused {
            problems: vec![mesh::Problem::invalid(
                "request",
                format!(
                    "is {} bytes long; at most {MAX_LEN} bytes are accepted",
                    request.len()
                ),
            )],
        });
    }
    let backend = expect_context::<backend::Backend>();
    if is_plain_form_post() {
        // Without JavaScript: keep the text server-side and show it with the result on a page.
        let draft = backend::drafts::save(&backend.pool, &user.user.subject, &request)
            .await
            .map_err(errors::internal)?;
        leptos_axum::redirect(&format!("/preview?draft={draft}"));
        return Ok(Outcome::Refused {
            problems: Vec::new(),
        });
    }
    let scope = TeamScope::from_roles(user.roles.platform_admin, &user.roles.requester_for);
    check_against_database(&backend, &scope, &request).await
}

/// What "Ask for review" from the editor did: every request stored, or none and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum YamlSubmitOutcome {
    Submitted { ids: Vec<String> },
    Refused { problems: Vec<mesh::Problem> },
}

/// A fresh id for the editor's submission: sending the same form twice stores its requests once.
#[server]
pub async fn yaml_submission_key() -> Result<String, ServerFnError> {
    crate::auth::require_member().await?;
    Ok(uuid::Uuid::new_v4().to_string())
}

/// Asks for review of every request in the text, all or none, with one justification: the
/// advanced way to ask, for several requests at once or kinds the forms do not offer yet.
#[server]
pub async fn submit_yaml(
    key: String,
    request: String,
    justification: String,
) -> Result<YamlSubmitOutcome, ServerFnError> {
    let backend = expect_context::<backend::Backend>();
    let user = crate::auth::require_member().await?;
    let outcome = submit_yaml_checked(&backend, &user, key, &request, &justification).await?;
    if is_plain_form_post()
        && let YamlSubmitOutcome::Refused { .. } = outcome
    {
        // Without JavaScript: back to the editor with the text, checked on the server.
        let draft = backend::drafts::save(&backend.pool, &user.user.subject, &request)
            .await
            .map_err(errors::internal)?;
        leptos_axum::redirect(&format!("/preview?draft={draft}"));
    }
    Ok(outcome)
}

#[cfg(feature = "ssr")]
async fn submit_yaml_checked(
    backend: &backend::Backend,
    user: &backend::auth::CurrentUser,
    key: String,
    request: &str,
    justification: &str,
) -> Result<YamlSubmitOutcome, ServerFnError> {
    const MAX_LEN: usize = 16 * 1024;
    let refused = |problems| Ok(YamlSubmitOutcome::Refused { problems });
    if request.len() > MAX_LEN {
        return refused(vec![mesh::Problem::invalid(
            "request",
            format!(
                "is {} bytes long; at most {MAX_LEN} bytes are accepted",
                request.len()
            ),
        )]);
    }
    let Ok(key) = key.trim().parse::<uuid::Uuid>() else {
        return refused(vec![mesh::Problem::invalid(
            "request",
            "this form is missing its submission id; reload the page and submit again",
        )]);
    };
    let requests = match mesh::parse_documents("request", request) {
        Ok(requests) => requests,
        Err(problems) => return refused(problems),
    };
    let actor = backend::requests::Actor {
        subject: &user.user.subject,
        name: &user.user.name,
        roles: &user.roles,
        origin: &user.origin,
    };
    let observed = backend.observations();
    match backend::requests::submit_all(
        &backend.pool,
        crate::requests::ssr::checks(backend, &observed),
        actor,
        requests,
        justification,
        key,
    )
    .await
    {
        Ok(ids) => {
            if is_plain_form_post() {
                // Without JavaScript: the request itself, or the list when there are several.
                match ids.as_slice() {
                    [id] => leptos_axum::redirect(&format!("/requests/{id}")),
                    _ => leptos_axum::redirect("/requests"),
                }
            }
            Ok(YamlSubmitOutcome::Submitted {
                ids: ids.iter().map(ToString::to_string).collect(),
            })
        }
        Err(backend::requests::WorkflowError::Refused(problems)) => refused(problems),
        Err(
            backend::requests::WorkflowError::NotAllowed(message)
            | backend::requests::WorkflowError::Stale(message),
        ) => refused(vec![mesh::Problem::policy("request", message)]),
        Err(error) => Err(errors::internal(error)),
    }
}

/// A draft opened by its owner: the text and the server's check of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub text: String,
    pub outcome: Outcome,
}

/// Opens a draft stored by a check made without JavaScript; `None` when it is gone (drafts are
/// kept for a day) or belongs to someone else.
#[server]
pub async fn open_draft(id: String) -> Result<Option<Draft>, ServerFnError> {
    let user = crate::auth::require_member().await?;
    let Ok(id) = id.parse::<uuid::Uuid>() else {
        return Ok(None);
    };
    let backend = expect_context::<backend::Backend>();
    let Some(text) = backend::drafts::load(&backend.pool, id, &user.user.subject)
        .await
        .map_err(errors::internal)?
    else {
        return Ok(None);
    };
    let scope = TeamScope::from_roles(user.roles.platform_admin, &user.roles.requester_for);
    let outcome = check_against_database(&backend, &scope, &text).await?;
    Ok(Some(Draft { text, outcome }))
}

#[cfg(feature = "ssr")]
async fn check_against_database(
    backend: &backend::Backend,
    scope: &TeamScope,
    text: &str,
) -> Result<Outcome, ServerFnError> {
    let requests = match mesh::request::parse_documents("request", text) {
        Ok(requests) => requests,
        Err(problems) => return Ok(Outcome::Refused { problems }),
    };
    let environments: std::collections::BTreeSet<String> = requests
        .iter()
        .map(|request| request.environment().to_string())
        .collect();
    let mut granted = Vec::new();
    for environment in environments {
        let claims = backend::requests::existing_claims(&backend.pool, &environment)
            .await
            .map_err(errors::internal)?;
        // Conflicts then name the stored request they collide with.
        granted.extend(claims.requests(None).map_err(errors::internal)?);
    }
    Ok(check_text(&backend.catalog, &granted, scope, text))
}

#[cfg(feature = "ssr")]
pub(crate) fn is_plain_form_post() -> bool {
    use_context::<http::request::Parts>().is_some_and(|parts| {
        parts.method == http::Method::POST
            && parts
                .headers
                .get(http::header::ACCEPT)
                .and_then(|accept| accept.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html"))
    })
}

#[component]
pub fn PreviewPage() -> impl IntoView {
    let query = use_query_map();
    // Without JavaScript a check arrives here as `?draft=<id>`; the server renders its result.
    let draft = Resource::new(
        move || query.with(|q| q.get("draft")),
        |id| async move {
            match id {
                Some(id) => open_draft(id).await.map(|draft| Some(draft.ok_or(()))),
                None => Ok(None),
            }
        },
    );
    // Created here, outside the suspended editor, so server and browser create resources in the
    // same order and hydration finds what the server rendered.
    let submission_key = Resource::new(|| (), |()| yaml_submission_key());
    let catalog_config = Resource::new(|| (), |()| load_catalog_config());
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    view! {
        <Title text="Preview a request" />
        <section class="preview" data-hydrated=move || hydrated.get().to_string()>
            <h1>"Preview a request"</h1>
            <p class="lead">
                "Write a request in Signalbox's request format. The preview below shows the exact \
                 files its pull request would contain, or what is wrong and where, as you type."
            </p>
            <Suspense fallback=|| view! { <p class="hint">"Loading…"</p> }>
                {move || draft.get().map(|loaded| match loaded {
                    Ok(Some(Ok(draft))) => view! {
                        <Editor initial=draft.text page_result=Some(Ok(draft.outcome)) catalog_config submission_key />
                    }.into_any(),
                    Ok(Some(Err(()))) => view! {
                        <p class="status info" id="draft-gone">
                            "That check is no longer available (checks are kept for a day). \
                             Here is the example to start again."
                        </p>
                        <Editor initial=EXAMPLE_REQUEST.to_owned() page_result=None catalog_config submission_key />
                    }.into_any(),
                    Ok(None) => view! {
                        <Editor initial=EXAMPLE_REQUEST.to_owned() page_result=None catalog_config submission_key />
                    }.into_any(),
                    Err(error) => view! {
                        <Editor initial=EXAMPLE_REQUEST.to_owned() page_result=Some(Err(error)) catalog_config submission_key />
                    }.into_any(),
                })}
            </Suspense>
        </section>
    }
}

/// The request editor, the server check and the live preview, starting from `initial`.
#[component]
fn Editor(
    initial: String,
    page_result: Option<Result<Outcome, ServerFnError>>,
    catalog_config: Resource<Result<crate::catalog::CatalogConfig, ServerFnError>>,
    submission_key: Resource<Result<String, ServerFnError>>,
) -> impl IntoView {
    let text = RwSignal::new(initial);
    let session = crate::auth::use_session();
    let check = ServerAction::<CheckRequest>::new();
    view! {
            <div class="split">
                <div>
                    <ActionForm action=check>
                        <label for="request">"Request (YAML)"</label>
                        <textarea
                            id="request"
                            name="request"
                            spellcheck="false"
                            prop:value=move || text.get()
                            on:input=move |event| text.set(event_target_value(&event))
                        >
                            {text.get_untracked()}
                        </textarea>
                        <div class="actions">
                            <button type="submit" id="check-request" disabled=move || check.pending().get()>
                                "Check with the server"
                            </button>
                            <span class="hint">
                                "Also checks against requests already granted or waiting for review."
                            </span>
                        </div>
                    </ActionForm>
                    <ServerCheck result=Signal::derive(move || check.value().get().or_else(|| page_result.clone())) />
                    <AskForReview text submission_key />
                </div>
                <div>
                    <h2>"Live preview"</h2>
                    <Suspense fallback=|| view! { <p class="hint">"Loading the environments…"</p> }>
                        {move || {
                            catalog_config
                                .get()
                                .map(|loaded| match loaded {
                                    Ok(config) => {
                                        match mesh::Catalog::from_config(config.environments, config.teams) {
                                            Ok(catalog) => {
                                                let scope = session
                                                    .get()
                                                    .and_then(Result::ok)
                                                    .and_then(|info| info.viewer)
                                                    .map(|viewer| TeamScope::of(&viewer))
                                                    .unwrap_or(TeamScope::Only(Vec::new()));
                                                let outcome = Memo::new(move |_| check_text(&catalog, &[], &scope, &text.get()));
                                                view! { <OutcomeView outcome=Signal::from(outcome) /> }.into_any()
                                            }
                                            Err(problems) => view! {
                                                <OutcomeView outcome=Signal::stored(Outcome::Refused { problems }) />
                                            }.into_any(),
                                        }
                                    }
                                    Err(error) => view! {
                                        <p class="status bad">{errors::describe(&error)}</p>
                                    }.into_any(),
                                })
                        }}
                    </Suspense>
                </div>
            </div>
    }
}

/// "Ask for review" of everything in the editor, with a justification.
#[component]
fn AskForReview(
    text: RwSignal<String>,
    submission_key: Resource<Result<String, ServerFnError>>,
) -> impl IntoView {
    let submit = ServerAction::<SubmitYaml>::new();
    view! {
        <section class="yaml-submit" aria-labelledby="yaml-submit-heading">
            <h2 id="yaml-submit-heading">"Ask for review"</h2>
            <p class="hint">
                "Every request above goes to review together: all are stored, or none. The forms \
                 are easier for one route or one external host."
            </p>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move { match submission_key.await {
                    Ok(key) => view! {
                        <ActionForm action=submit>
                            <input type="hidden" name="key" value=key />
                            <input type="hidden" name="request" value=text.get_untracked() prop:value=move || text.get() />
                            <label for="yaml-justification">"Why does your team need this?"</label>
                            <textarea id="yaml-justification" name="justification" class="short"
                                aria-describedby="yaml-submit-result"></textarea>
                            <div class="actions">
                                <button type="submit" id="submit-yaml" disabled=move || submit.pending().get()>
                                    "Ask for review"
                                </button>
                            </div>
                        </ActionForm>
                    }.into_any(),
                    Err(error) => view! { <p class="status bad">{errors::describe(&error)}</p> }.into_any(),
                }})}
            </Suspense>
            <div id="yaml-submit-result" aria-live="polite">
                {move || submit.value().get().map(|outcome| match outcome {
                    Ok(YamlSubmitOutcome::Submitted { ids }) => view! {
                        <div class="status ok" role="status">
                            <p>{if ids.len() == 1 { "Submitted for review:".to_owned() } else { format!("{} requests submitted for review:", ids.len()) }}</p>
                            <ul>
                                {ids.into_iter().map(|id| view! {
                                    <li><a href=format!("/requests/{id}")>{format!("request {id}")}</a></li>
                                }).collect_view()}
                            </ul>
                        </div>
                    }.into_any(),
                    Ok(YamlSubmitOutcome::Refused { problems }) => view! {
                        <div class="status bad" role="alert">
                            <p>"Nothing was submitted:"</p>
                            <ProblemList problems />
                        </div>
                    }.into_any(),
                    Err(error) => view! { <p class="status bad" role="alert">{errors::describe(&error)}</p> }.into_any(),
                })}
            </div>
        </section>
    }
}

/// The result of "Check with the server", from the action (with JavaScript) or from the draft
/// the page opened (without).
#[component]
fn ServerCheck(result: Signal<Option<Result<Outcome, ServerFnError>>>) -> impl IntoView {
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let result = result.get();
                result.map(|result| match result {
                    Ok(Outcome::Rendered { files, .. }) => view! {
                        <p class="status ok" role="status" id="server-check">
                            {format!("The server accepts this request: {} would change.", files_changed(files))}
                        </p>
                    }.into_any(),
                    Ok(Outcome::Refused { problems }) => view! {
                        <div role="alert" id="server-check">
                            <p class="status bad">"The server refuses this request:"</p>
                            <ProblemList problems />
                        </div>
                    }.into_any(),
                    Err(error) => view! {
                        <p class="status bad" role="alert" id="server-check">{errors::describe(&error)}</p>
                    }.into_any(),
                })
            }}
        </Suspense>
    }
}

#[component]
fn OutcomeView(outcome: Signal<Outcome>) -> impl IntoView {
    move || {
        match outcome.get() {
        Outcome::Rendered { yaml, files, guidance } => view! {
            <p class="status ok" id="preview-status">{format!("{} would change.", files_changed(files))}</p>
            <pre class="output" id="preview-output" tabindex="0"><code>{yaml}</code></pre>
            <crate::components::guidance::Guidance id="preview-guidance" items=guidance />
        }
        .into_any(),
        Outcome::Refused { problems } => view! {
            <p class="status bad" id="preview-status">"This request cannot be granted as written:"</p>
            <ProblemList problems />
        }
        .into_any(),
    }
    }
}

fn files_changed(files: usize) -> String {
    if files == 1 {
        "1 file".to_owned()
    } else {
        format!("{files} files")
    }
}
