//! "Your sessions": where the signed-in user is signed in, and a button that signs out every
//! other browser (a lost laptop, a shared machine left signed in).

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use crate::errors;

/// One of the user's sessions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    /// The session this browser is using.
    pub current: bool,
    /// "2 hours ago", and the exact time.
    pub signed_in: (String, String),
    /// "in 28 minutes" unless used before then.
    pub ends: String,
}

#[cfg(feature = "ssr")]
async fn signed_in() -> Result<
    (
        backend::Backend,
        backend::auth::CurrentUser,
        tower_sessions::Session,
    ),
    ServerFnError,
> {
    use backend::auth::{AuthRejection, MaybeUser};
    let backend = expect_context::<backend::Backend>();
    let response = use_context::<leptos_axum::ResponseOptions>();
    let MaybeUser(user) = crate::auth::maybe_user().await?;
    let Some(user) = user else {
        if let Some(response) = response {
            response.set_status(http::StatusCode::UNAUTHORIZED);
        }
        return Err(ServerFnError::ServerError(
            AuthRejection::NotSignedIn.to_string(),
        ));
    };
    let session = leptos_axum::extract::<tower_sessions::Session>()
        .await
        .map_err(errors::internal)?;
    Ok((backend, user, session))
}

#[server]
pub async fn my_sessions() -> Result<Vec<SessionRow>, ServerFnError> {
    let (backend, user, session) = signed_in().await?;
    let rows = backend::auth::sessions::sessions_of(
        &backend.pool,
        &user.user.subject,
        user.user.issuer.as_deref(),
        session.id().as_ref(),
    )
    .await
    .map_err(errors::internal)?;
    Ok(rows
        .into_iter()
        .map(|row| SessionRow {
            current: row.current,
            signed_in: crate::requests::ssr::when(row.created_at),
            ends: crate::requests::ssr::in_words(row.expires_at),
        })
        .collect())
}

#[server]
pub async fn end_other_sessions() -> Result<u64, ServerFnError> {
    let (backend, user, session) = signed_in().await?;
    // A session is saved (and given its id) on its first change; a signed-in one always has.
    let Some(current) = session.id() else {
        return Err(errors::internal("a signed-in session without an id"));
    };
    let ended = backend::auth::sessions::end_other_sessions(
        &backend.pool,
        &user.user.subject,
        user.user.issuer.as_deref(),
        &current,
    )
    .await
    .map_err(errors::internal)?;
    tracing::info!(subject = %user.user.subject, ended, "ended the user's other sessions");
    Ok(ended)
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let end = ServerAction::<EndOtherSessions>::new();
    let sessions = Resource::new(move || end.version().get(), |_| my_sessions());
    view! {
        <Title text="Your sessions" />
        <h1>"Your sessions"</h1>
        <p class="lead">
            "Every browser you are signed in with. Signing out everywhere else ends the others at \
             once; this one stays signed in."
        </p>
        {move || end.value().get().map(|outcome| match outcome {
            Ok(0) => view! { <p class="status info" role="status" id="sessions-outcome">"There were no other sessions to end."</p> }.into_any(),
            Ok(1) => view! { <p class="status ok" role="status" id="sessions-outcome">"Signed out 1 other session."</p> }.into_any(),
            Ok(n) => view! { <p class="status ok" role="status" id="sessions-outcome">{format!("Signed out {n} other sessions.")}</p> }.into_any(),
            Err(error) => view! { <p class="status bad" role="alert" id="sessions-outcome">{errors::describe(&error)}</p> }.into_any(),
        })}
        <Suspense fallback=|| view! { <p class="hint">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match sessions.await {
                    Ok(rows) => {
                        let others = rows.iter().filter(|row| !row.current).count();
                        view! {
                            <table class="sessions" id="sessions">
                                <thead>
                                    <tr><th scope="col">"Signed in"</th><th scope="col">"Ends if unused"</th><th scope="col"><span class="visually-hidden">"This browser"</span></th></tr>
                                </thead>
                                <tbody>
                                    {rows.into_iter().map(|row| view! {
                                        <tr class:current=row.current>
                                            <td><time title=row.signed_in.1.clone()>{row.signed_in.0.clone()}</time></td>
                                            <td>{row.ends.clone()}</td>
                                            <td>{row.current.then_some("This browser")}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <ActionForm action=end attr:class="end-sessions">
                                <button type="submit" id="end-other-sessions" class="secondary"
                                    disabled=move || end.pending().get() || others == 0>
                                    "Sign out everywhere else"
                                </button>
                            </ActionForm>
                        }
                        .into_any()
                    }
                    Err(error) => view! { <p class="status bad" role="alert">{errors::describe(&error)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}
