//! The user as the pages see them: who is signed in, what they may do, and whether this is the
//! demo sign-in. Also the sign-in page and the "ask for access" page.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

/// Set by the server: true when demo personas replace the identity provider.
#[derive(Clone, Copy, Debug)]
pub struct SignInMode {
    pub demo: bool,
}

/// What the pages know about the signed-in user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Viewer {
    pub name: String,
    pub email: Option<String>,
    pub requester_for: Vec<String>,
    pub approver_for_environments: Vec<String>,
    pub approver_for_teams: Vec<String>,
    pub platform_admin: bool,
}

impl Viewer {
    pub fn has_any_role(&self) -> bool {
        !self.requester_for.is_empty()
            || !self.approver_for_environments.is_empty()
            || !self.approver_for_teams.is_empty()
            || self.platform_admin
    }

    /// "requester for team-a · approver in prod", for the header and the start page.
    pub fn describe_roles(&self) -> String {
        let mut parts = Vec::new();
        if !self.requester_for.is_empty() {
            parts.push(format!("requester for {}", self.requester_for.join(", ")));
        }
        if !self.approver_for_environments.is_empty() {
            parts.push(format!(
                "approver in {}",
                self.approver_for_environments.join(", ")
            ));
        }
        if !self.approver_for_teams.is_empty() {
            parts.push(format!(
                "approver for {}",
                self.approver_for_teams.join(", ")
            ));
        }
        if self.platform_admin {
            parts.push("platform admin".to_owned());
        }
        parts.join(" · ")
    }
}

/// A demo persona as the sign-in page offers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonaChoice {
    pub id: String,
    pub name: String,
    pub description: String,
}

/// Who is signed in (if anyone) and how signing in works here. Public: the sign-in page needs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub viewer: Option<Viewer>,
    pub demo: bool,
    pub personas: Vec<PersonaChoice>,
    /// Why no persona is offered to this browser (not on this machine, or behind a proxy).
    pub demo_refusal: Option<String>,
}

/// The signed-in user of one page render, read once: the shell, the navigation and the page's
/// own reads all ask for it. Provided per page request; a server function called over HTTP
/// reads the user itself.
#[cfg(feature = "ssr")]
#[derive(Clone, Default)]
pub struct PageUser(std::sync::Arc<std::sync::Mutex<Option<UserRead>>>);

#[cfg(feature = "ssr")]
type UserRead = futures_util::future::Shared<
    futures_util::future::BoxFuture<'static, Result<backend::auth::MaybeUser, String>>,
>;

/// Who is signed in, if anyone: read once per page render (see [`PageUser`]).
#[cfg(feature = "ssr")]
pub async fn maybe_user() -> Result<backend::auth::MaybeUser, ServerFnError> {
    use futures_util::FutureExt as _;
    let read = async {
        leptos_axum::extract::<backend::auth::MaybeUser>()
            .await
            .map_err(|error| error.to_string())
    };
    // Contexts are read before the first await: a resource's later polls may run without them.
    let Some(page) = use_context::<PageUser>() else {
        return read.await.map_err(crate::errors::internal);
    };
    let shared = page
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get_or_insert_with(|| read.boxed().shared())
        .clone();
    shared.await.map_err(crate::errors::internal)
}

#[server(endpoint = "session")]
pub async fn load_session() -> Result<SessionInfo, ServerFnError> {
    let mode = expect_context::<SignInMode>();
    let user = maybe_user().await?;
    let viewer = user.0.map(|current| Viewer {
        name: current.user.name,
        email: current.user.email,
        requester_for: current.roles.requester_for.into_iter().collect(),
        approver_for_environments: current
            .roles
            .approver_for_environments
            .into_iter()
            .collect(),
        approver_for_teams: current.roles.approver_for_teams.into_iter().collect(),
        platform_admin: current.roles.platform_admin,
    });
    // Personas only for a browser on this machine that reached us directly.
    let headers: http::HeaderMap = leptos_axum::extract().await?;
    let demo_refusal = mode
        .demo
        .then(|| backend::auth::demo::refusal(&headers))
        .flatten();
    let personas = if mode.demo && demo_refusal.is_none() {
        backend::auth::demo::PERSONAS
            .iter()
            .map(|persona| PersonaChoice {
                id: persona.id.to_owned(),
                name: persona.name.to_owned(),
                description: persona.description.to_owned(),
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(SessionInfo {
        viewer,
        demo: mode.demo,
        personas,
        demo_refusal: demo_refusal.map(str::to_owned),
    })
}

/// The signed-in user with a role, for server functions: anyone else gets 401 (not signed in) or
/// 403 (no role) and a message saying what to do.
#[cfg(feature = "ssr")]
pub async fn require_member() -> Result<backend::auth::CurrentUser, ServerFnError> {
    use backend::auth::{AuthRejection, MaybeUser};
    let backend = use_context::<backend::Backend>();
    let response = use_context::<leptos_axum::ResponseOptions>();
    let path = use_context::<http::request::Parts>().map(|parts| parts.uri.path().to_owned());
    let MaybeUser(user) = maybe_user().await?;
    let (status, rejection) = match user {
        Some(user) if !user.roles.is_empty() => return Ok(user),
        Some(user) => {
            // Signed in, but in no group Signalbox knows: recorded, so access reviews see it.
            if let Some(backend) = backend {
                let detail = format!(
                    "{} refused: in no group Signalbox knows (groups: {})",
                    path.as_deref().unwrap_or("a server function"),
                    user.user.groups.join(", ")
                );
                let entry = backend::audit::Entry {
                    actor: &user.user.subject,
                    actor_name: &user.user.name,
                    action: "access_refused",
                    target: backend::audit::Target::default(),
                    before: None,
                    after: None,
                    detail: &detail,
                    origin: &user.origin,
                };
                if let Err(error) = backend::audit::record_alone(&backend.pool, &entry).await {
                    tracing::error!(%error, "could not write the audit event");
                }
            }
            (http::StatusCode::FORBIDDEN, AuthRejection::NoRole)
        }
        None => (http::StatusCode::UNAUTHORIZED, AuthRejection::NotSignedIn),
    };
    if let Some(response) = response {
        response.set_status(status);
    }
    Err(ServerFnError::ServerError(rejection.to_string()))
}

/// The session, loaded once per page render and shared through context.
pub type SessionResource = Resource<Result<SessionInfo, ServerFnError>>;

pub fn use_session() -> SessionResource {
    expect_context::<SessionResource>()
}

/// The top bar's right side: the user's name and roles, and the sign-out button.
#[component]
pub fn UserMenu() -> impl IntoView {
    let session = use_session();
    view! {
        <Suspense fallback=|| ()>
            {move || session.get().and_then(Result::ok).and_then(|info| info.viewer).map(|viewer| view! {
                <div class="user-menu">
                    <a class="user-name" id="user-name" href="/account" title="Your sessions">{viewer.name.clone()}</a>
                    <span class="user-roles">{viewer.describe_roles()}</span>
                    <form method="post" action="/auth/logout">
                        <button type="submit" class="link-button">"Sign out"</button>
                    </form>
                </div>
            })}
        </Suspense>
    }
}

/// The banner every page shows while the demo sign-in is in use.
#[component]
pub fn DemoBanner() -> impl IntoView {
    let session = use_session();
    view! {
        <Suspense fallback=|| ()>
            {move || session.get().and_then(Result::ok).filter(|info| info.demo).map(|_| view! {
                <div class="demo-banner" role="region" aria-label="Demo sign-in" id="demo-banner">
                    "Demo sign-in: anyone on this machine can act as any persona. \
                     Configure an OpenID Connect provider before real use."
                </div>
            })}
        </Suspense>
    }
}

/// Shows `children` to users with at least one role; everyone else sees whom to ask.
#[component]
pub fn RequireAccess(children: ChildrenFn) -> impl IntoView {
    let session = use_session();
    view! {
        <Suspense fallback=|| view! { <p class="hint">"Loading…"</p> }>
            {move || {
                let viewer = session.get().and_then(Result::ok).and_then(|info| info.viewer);
                match viewer {
                    Some(viewer) if viewer.has_any_role() => children().into_any(),
                    Some(viewer) => view! { <NoAccess name=viewer.name /> }.into_any(),
                    None => view! {
                        <p class="status info">
                            <a href="/sign-in">"Sign in"</a>" to continue."
                        </p>
                    }.into_any(),
                }
            }}
        </Suspense>
    }
}

#[component]
fn NoAccess(name: String) -> impl IntoView {
    view! {
        <Title text="Ask for access" />
        <section class="no-access" id="no-access">
            <h1>"Ask your platform team for access"</h1>
            <p>
                {format!("You are signed in as {name}, but you are not in any group that Signalbox \
                          knows: no team you request for, no environment you approve in.")}
            </p>
            <p>
                "Ask your platform team to add you to your team's group in the identity provider, \
                 then sign out and sign in again."
            </p>
        </section>
    }
}

/// The sign-in page: the provider's button, or the demo personas.
#[component]
pub fn SignInPage() -> impl IntoView {
    let session = use_session();
    let query = use_query_map();
    let return_to = move || {
        query
            .with(|q| q.get("return_to"))
            .unwrap_or_else(|| "/".to_owned())
    };
    let signed_out = move || query.with(|q| q.get("signed_out")).is_some();
    view! {
        <Title text="Sign in" />
        <section class="sign-in">
            <h1>"Sign in to Signalbox"</h1>
            <Show when=signed_out>
                <p class="status ok" id="signed-out">"You are signed out."</p>
            </Show>
            <Suspense fallback=|| view! { <p class="hint">"Loading…"</p> }>
                {move || session.get().map(|loaded| match loaded {
                    Ok(info) if info.demo => view! {
                        <p class="lead">"No identity provider is configured, so this demo lets you pick who you are."</p>
                        {info.demo_refusal.clone().map(|refusal| view! {
                            <p class="status bad" role="alert" id="demo-refused">{refusal}</p>
                        })}
                        <div class="cards personas">
                            {info.personas.into_iter().map(|persona| view! {
                                <form method="post" action="/auth/demo" class="card persona">
                                    <input type="hidden" name="persona" value=persona.id.clone() />
                                    <input type="hidden" name="return_to" value=return_to />
                                    <h2>{persona.name.clone()}</h2>
                                    <p>{persona.description.clone()}</p>
                                    <button type="submit" id=format!("persona-{}", persona.id)>
                                        {format!("Continue as {}", persona.name)}
                                    </button>
                                </form>
                            }).collect_view()}
                        </div>
                    }.into_any(),
                    Ok(_) => view! {
                        <p class="lead">"Signalbox uses your company account."</p>
                        <a class="button" id="sign-in-link" rel="external"
                            href=move || format!("/auth/login?return_to={}", crate::url::encode_component(&return_to()))>
                            "Sign in with your company account"
                        </a>
                    }.into_any(),
                    Err(error) => view! { <p class="status bad">{crate::errors::describe(&error)}</p> }.into_any(),
                })}
            </Suspense>
        </section>
    }
}
