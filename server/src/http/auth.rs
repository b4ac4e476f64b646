//! Sign-in, sign-out and the rules every request passes: a session is required except on a short
//! public list, and a state-changing request from another site is refused.
//!
//! Cross-site request forgery is stopped by checking where a request comes from rather than by
//! tokens: browsers send `Sec-Fetch-Site` (and `Origin`) with every POST, which a page on another
//! site cannot forge, and the session cookie is `SameSite=Lax` on top. This keeps every
//! `<ActionForm>` working without JavaScript and without a token in each form.

use axum::Form;
use axum::body::Body;
use axum::extract::{FromRequestParts as _, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use backend::auth::extract::{AuthContext, RequestOrigin};
use backend::auth::oidc::{OidcClient, PendingLogins, SignInError};
use backend::auth::{MaybeUser, PENDING_LOGIN_KEY, SessionUser, USER_KEY, demo, safe_return_to};

use super::AppState;
use super::errors::reference_id;

/// How people sign in on this server.
#[derive(Clone, Debug)]
pub enum SignIn {
    /// The company's OpenID Connect provider.
    Oidc(Box<OidcClient>),
    /// Demo personas; only ever on a server bound to loopback.
    Demo,
}

/// Paths anyone may reach without a session. Everything else needs one.
pub const PUBLIC_PATHS: &[&str] = &[
    "/healthz",
    "/readyz",
    "/sign-in",
    "/auth/login",
    "/auth/callback",
    "/auth/logout",
    "/auth/demo",
    // Authenticated by their signatures, not by a session.
    "/webhooks/github",
    "/webhooks/gitlab",
    "/webhooks/gitea",
    <app::auth::LoadSession as leptos::server_fn::ServerFn>::PATH,
    "/favicon.ico",
];
/// Path prefixes anyone may reach: the browser bundle and stylesheet.
pub const PUBLIC_PREFIXES: &[&str] = &["/pkg/"];

pub fn is_public(path: &str) -> bool {
    PUBLIC_PATHS.contains(&path)
        || PUBLIC_PREFIXES
            .iter()
            .any(|prefix| path.starts_with(prefix))
}

/// Sends anyone without a session to the sign-in page (browsers) or answers 401 (everything
/// else). Public paths pass without touching the session store at all.
pub async fn require_session(request: Request, next: Next) -> Response {
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let user = match MaybeUser::from_request_parts(&mut parts, &()).await {
        Ok(user) => user,
        Err(rejection) => return rejection.into_response(),
    };
    if user.0.is_some() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let accepts_html = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if accepts_html {
        // A page, or a plain form post whose session ended: sign in, then come back.
        let return_to = if parts.method == Method::GET {
            parts
                .uri
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or("/")
        } else {
            "/"
        };
        let target = format!(
            "/sign-in?return_to={}",
            app::url::encode_component(return_to)
        );
        return Redirect::to(&target).into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({ "error": "sign in first: this needs a signed-in user" })),
    )
        .into_response()
}

/// How long a session started by `/auth/login` lives before the user comes back signed in.
pub const PENDING_SIGN_IN_LIFETIME: time::Duration = time::Duration::minutes(10);

/// Which origin a state-changing request must come from.
#[derive(Clone, Debug)]
pub struct OriginPolicy {
    /// `scheme://host[:port]` of `server.public_url`.
    pub public_origin: String,
    /// Signing in through a provider (`serve`): the origin must be exactly the public one. The
    /// demo accepts any loopback name it is reached at, with the public URL's scheme.
    pub strict: bool,
}

impl OriginPolicy {
    pub fn new(public_url: &str, strict: bool) -> Self {
        let public_origin = url::Url::parse(public_url)
            .map(|url| url.origin().ascii_serialization())
            .unwrap_or_else(|_| public_url.trim_end_matches('/').to_owned());
        Self {
            public_origin,
            strict,
        }
    }

    /// Whether `url` (a `Referer`) is one of our own pages: the public origin exactly, or on
    /// the demo any loopback name it was reached at (`Host`) with the public URL's scheme.
    pub fn is_own_url(&self, url: &str, headers: &HeaderMap) -> bool {
        let Ok(url) = url::Url::parse(url) else {
            return false;
        };
        let origin = url.origin().ascii_serialization();
        if origin == self.public_origin {
            return true;
        }
        !self.strict
            && headers
                .get(header::HOST)
                .and_then(|host| host.to_str().ok())
                .is_some_and(|host| origin == format!("{}://{host}", self.scheme()))
    }

    fn scheme(&self) -> &str {
        self.public_origin.split("://").next().unwrap_or("http")
    }
}

/// Refuses state-changing requests that a browser says come from another site.
pub async fn refuse_cross_site(
    State(policy): State<OriginPolicy>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    if let Some(reason) = cross_site_reason(&policy, request.headers()) {
        tracing::warn!(reason, path = %request.uri().path(), "cross-site request refused");
        return (
            StatusCode::FORBIDDEN,
            "Refused: this request came from another site. Changes in Signalbox can only be made \
             from Signalbox's own pages.",
        )
            .into_response();
    }
    next.run(request).await
}

fn cross_site_reason(policy: &OriginPolicy, headers: &HeaderMap) -> Option<&'static str> {
    let value = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(site) = value("sec-fetch-site") {
        // `none` is a user typing a URL or using a bookmark, which cannot carry a POST body from
        // another page; `same-site` would trust sibling subdomains, which we do not.
        return (!matches!(site, "same-origin" | "none"))
            .then_some("Sec-Fetch-Site is not same-origin");
    }
    if let Some(origin) = value("origin") {
        let Some(host) = value("host") else {
            return Some("Origin without Host");
        };
        if origin == "null" {
            return Some("Origin is null");
        }
        if policy.strict {
            return (origin != policy.public_origin)
                .then_some("Origin is not the public URL's scheme, host and port");
        }
        let expected = format!("{}://{host}", policy.scheme());
        return (origin != expected).then_some("Origin does not match the scheme and Host");
    }
    // Neither header: not a browser (browsers send Origin with every POST), so not forgery.
    None
}

#[derive(Debug, Deserialize)]
pub struct ReturnTo {
    return_to: Option<String>,
}

/// Starts a sign-in at the provider (or shows the personas on the demo).
pub async fn login(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ReturnTo>,
) -> Response {
    let return_to = safe_return_to(query.return_to.as_deref());
    match &state.sign_in {
        SignIn::Demo => Redirect::to(&format!(
            "/sign-in?return_to={}",
            app::url::encode_component(&return_to)
        ))
        .into_response(),
        SignIn::Oidc(client) => {
            let (url, login) = client.begin(return_to);
            let mut pending: PendingLogins = match session.get(PENDING_LOGIN_KEY).await {
                Ok(pending) => pending.unwrap_or_default(),
                Err(error) => return internal_error(error),
            };
            pending.add(login);
            // Nobody is signed in yet: such a session ends within minutes, so a flood of
            // anonymous sign-in starts cannot fill the session table.
            session.set_expiry(Some(tower_sessions::Expiry::OnInactivity(
                PENDING_SIGN_IN_LIFETIME,
            )));
            if let Err(error) = session.insert(PENDING_LOGIN_KEY, pending).await {
                return internal_error(error);
            }
            Redirect::to(url.as_str()).into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider sends the browser back here with a code, or with an error.
pub async fn callback(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    Query(callback): Query<Callback>,
) -> Response {
    let SignIn::Oidc(client) = &state.sign_in else {
        return Redirect::to("/sign-in").into_response();
    };
    let mut pending: PendingLogins = match session.get(PENDING_LOGIN_KEY).await {
        Ok(pending) => pending.unwrap_or_default(),
        Err(error) => return internal_error(error),
    };
    // The sign-in this callback answers is used up whatever happens next, so a replayed callback
    // finds nothing; sign-ins started in other tabs stay pending.
    let login = callback
        .state
        .as_deref()
        .and_then(|state| pending.take(state));
    let saved = if pending.is_empty() {
        session.remove_value(PENDING_LOGIN_KEY).await.map(|_| ())
    } else {
        session.insert(PENDING_LOGIN_KEY, &pending).await
    };
    if let Err(error) = saved {
        return internal_error(error);
    }
    let result = async {
        // Only an answer to a sign-in this browser started is read at all.
        let pending = match login {
            Some(login) => login,
            None if pending.is_empty() => return Err(SignInError::NoPendingLogin),
            None => return Err(SignInError::StateMismatch),
        };
        if let Some(error) = callback.error {
            // The description is the provider's (or an attacker's) free text: never shown.
            let _ = callback.error_description;
            return Err(SignInError::ProviderRefused(
                backend::auth::oidc::provider_error_words(&error),
            ));
        }
        let (Some(code), Some(returned_state)) = (callback.code, callback.state) else {
            return Err(SignInError::Invalid(
                "the callback carries no code or no state".to_owned(),
            ));
        };
        let return_to = pending.return_to.clone();
        let user = client.complete(pending, &code, &returned_state).await?;
        Ok((user, return_to))
    }
    .await;
    match result {
        Ok((user, return_to)) => match start_session(&state, &session, &user, &origin).await {
            Ok(()) => Redirect::to(&return_to).into_response(),
            Err(error) => internal_error(error),
        },
        Err(error) => {
            // A callback nobody started here is noise anyone can make: only failures of a sign-in
            // this browser began are recorded.
            if !matches!(error, SignInError::NoPendingLogin) {
                audit(
                    &state,
                    "sign_in_failed",
                    ("anonymous", "(not signed in)"),
                    &error.to_string(),
                    &origin,
                )
                .await;
            }
            sign_in_failed(&error)
        }
    }
}

/// Appends a sign-in event; a failure to write it is logged, and does not stop the sign-in.
async fn audit(
    state: &AppState,
    action: &str,
    (actor, actor_name): (&str, &str),
    detail: &str,
    origin: &backend::audit::Origin,
) {
    let entry = backend::audit::Entry {
        actor,
        actor_name,
        action,
        target: backend::audit::Target::default(),
        before: None,
        after: None,
        detail,
        origin,
    };
    if let Err(error) = backend::audit::record_alone(&state.backend.pool, &entry).await {
        tracing::error!(%error, action, "could not write the audit event");
    }
}

#[derive(Debug, Deserialize)]
pub struct DemoChoice {
    persona: String,
    return_to: Option<String>,
}

/// The demo sign-in: signs in as the chosen persona.
pub async fn demo_sign_in(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    RequestOrigin(origin): RequestOrigin,
    Form(choice): Form<DemoChoice>,
) -> Response {
    if !matches!(state.sign_in, SignIn::Demo) {
        return (
            StatusCode::NOT_FOUND,
            "The demo sign-in is off: this server signs in through its identity provider.",
        )
            .into_response();
    }
    if let Some(refusal) = demo::refusal(&headers) {
        tracing::warn!(refusal, "demo sign-in refused");
        return (StatusCode::FORBIDDEN, refusal).into_response();
    }
    let Some(persona) = demo::persona(&choice.persona) else {
        let known: Vec<&str> = demo::PERSONAS.iter().map(|persona| persona.id).collect();
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "persona: {:?} is not a demo persona; choose one of {}",
                choice.persona,
                known.join(", ")
            ),
        )
            .into_response();
    };
    match start_session(&state, &session, &persona.session_user(), &origin).await {
        Ok(()) => Redirect::to(&safe_return_to(choice.return_to.as_deref())).into_response(),
        Err(error) => internal_error(error),
    }
}

/// Signs out here and, when the provider offers it, at the provider too.
pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
) -> Response {
    let user: Option<SessionUser> = session.get(USER_KEY).await.ok().flatten();
    if let Err(error) = session.flush().await {
        return internal_error(error);
    }
    if let Some(user) = &user {
        audit(
            &state,
            "signed_out",
            (&user.subject, &user.name),
            "",
            &origin,
        )
        .await;
    }
    let signed_out = format!(
        "{}/sign-in?signed_out=1",
        state.public_url.trim_end_matches('/')
    );
    if let (SignIn::Oidc(client), Some(user)) = (&state.sign_in, user)
        && let Some(url) = client.sign_out_url(user.id_token.as_deref(), &signed_out)
    {
        return Redirect::to(url.as_str()).into_response();
    }
    Redirect::to("/sign-in?signed_out=1").into_response()
}

/// Rotates the session id (no session fixation) and stores the user.
async fn start_session(
    state: &AppState,
    session: &Session,
    user: &SessionUser,
    origin: &backend::audit::Origin,
) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    // A pending sign-in lived for minutes; a signed-in session lives for the idle timeout.
    session.set_expiry(Some(tower_sessions::Expiry::OnInactivity(
        state.auth.limits.idle,
    )));
    session.insert(USER_KEY, user).await?;
    tracing::info!(subject = %user.subject, method = ?user.method, "signed in");
    let how = match &user.issuer {
        Some(issuer) => format!("through {issuer}"),
        None => "as a demo persona".to_owned(),
    };
    audit(
        state,
        "signed_in",
        (&user.subject, &user.name),
        &how,
        origin,
    )
    .await;
    Ok(())
}

fn sign_in_failed(error: &SignInError) -> Response {
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in failed · Signalbox</title>\
         <link rel=\"stylesheet\" href=\"/pkg/signalbox.css\"></head><body><main class=\"page error-page\">\
         <h1>Sign-in failed</h1><p class=\"status bad\" id=\"sign-in-error\">{}</p>\
         <p><a href=\"/auth/login\">Start the sign-in again</a></p></main></body></html>",
        html_escape(&error.to_string())
    );
    let status = match error {
        SignInError::Unreachable => StatusCode::BAD_GATEWAY,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, Html(page)).into_response()
}

fn internal_error(error: impl std::fmt::Display) -> Response {
    let reference = reference_id();
    tracing::error!(reference = %reference, %error, "sign-in step failed");
    super::errors::internal_error_page(&reference)
}

pub(crate) fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Hands the auth context to the extractors of every request.
pub async fn provide_auth_context(
    State(context): State<AuthContext>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    request.extensions_mut().insert(context);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn demo() -> OriginPolicy {
        OriginPolicy::new("http://127.0.0.1:3000", false)
    }

    #[test]
    fn same_origin_requests_pass() {
        assert_eq!(
            cross_site_reason(&demo(), &headers(&[("sec-fetch-site", "same-origin")])),
            None
        );
        assert_eq!(
            cross_site_reason(
                &demo(),
                &headers(&[
                    ("origin", "http://127.0.0.1:3000"),
                    ("host", "127.0.0.1:3000")
                ])
            ),
            None
        );
        assert_eq!(
            cross_site_reason(&demo(), &headers(&[])),
            None,
            "non-browser clients send neither"
        );
    }

    #[test]
    fn cross_site_requests_are_refused() {
        assert!(
            cross_site_reason(&demo(), &headers(&[("sec-fetch-site", "cross-site")])).is_some()
        );
        assert!(cross_site_reason(&demo(), &headers(&[("sec-fetch-site", "same-site")])).is_some());
        assert!(
            cross_site_reason(
                &demo(),
                &headers(&[
                    ("origin", "https://evil.example"),
                    ("host", "127.0.0.1:3000")
                ])
            )
            .is_some()
        );
        assert!(
            cross_site_reason(
                &demo(),
                &headers(&[("origin", "null"), ("host", "127.0.0.1:3000")])
            )
            .is_some()
        );
    }

    #[test]
    fn the_public_list_is_short_and_exact() {
        assert!(is_public("/healthz"));
        assert!(is_public("/pkg/signalbox.js"));
        assert!(!is_public("/"));
        assert!(!is_public("/preview"));
        assert!(!is_public("/healthz/../preview"));
    }
}
