//! Extractors for axum handlers and server functions: [`CurrentUser`] refuses a request without
//! a signed-in user, [`MaybeUser`] lets it through with `None`. Both read the session and the
//! [`AuthContext`] the router puts in the request extensions, so they work with any router state
//! (and in `leptos_axum::extract`).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;
use tower_sessions::Session;

use super::{AccessPolicy, Roles, SessionLimits, SessionUser, SignInMethod, USER_KEY};

/// What the extractors need besides the session, shared through request extensions.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub policy: Arc<AccessPolicy>,
    pub limits: SessionLimits,
    /// True when the demo sign-in replaces the identity provider.
    pub demo: bool,
    /// The provider this server signs in with (none for the demo).
    pub issuer: Option<String>,
}

/// A signed-in user and what they may do.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: SessionUser,
    pub roles: Roles,
    /// Where this request came from, for the audit history.
    pub origin: crate::audit::Origin,
}

/// A signed-in user, if there is one.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<CurrentUser>);

/// Why a request has no usable user.
#[derive(Debug, thiserror::Error)]
pub enum AuthRejection {
    #[error("sign in first")]
    NotSignedIn,
    #[error("you are not in any group Signalbox knows; ask your platform team for access")]
    NoRole,
    #[error("the request passed no sign-in wiring (a routing bug)")]
    NotWired,
    #[error("the session store is unavailable")]
    SessionUnavailable,
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            Self::NotSignedIn => (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({ "error": self.to_string() })),
            )
                .into_response(),
            Self::NoRole => (
                StatusCode::FORBIDDEN,
                axum::Json(serde_json::json!({ "error": self.to_string() })),
            )
                .into_response(),
            Self::NotWired => {
                let reference = super::reference_id();
                tracing::error!(reference = %reference, "auth context missing from the request");
                let body = serde_json::json!({
                    "error": "Something went wrong on our side.",
                    "reference": reference,
                });
                (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
            }
            Self::SessionUnavailable => {
                let reference = super::reference_id();
                tracing::error!(reference = %reference, "the session store is unavailable");
                let body = serde_json::json!({
                    "error": "Something went wrong on our side; try again in a moment.",
                    "reference": reference,
                });
                (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let context = parts
            .extensions
            .get::<AuthContext>()
            .cloned()
            .ok_or(AuthRejection::NotWired)?;
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| AuthRejection::SessionUnavailable)?;
        let user: Option<SessionUser> = session.get(USER_KEY).await.map_err(|error| {
            tracing::error!(%error, "reading the session failed");
            AuthRejection::SessionUnavailable
        })?;
        let Some(user) = user else {
            return Ok(Self(None));
        };
        // A session made elsewhere (the demo, or another provider) on a shared database is not
        // a session here: the user signs in again, through this server's own sign-in.
        let ours = match user.method {
            SignInMethod::Demo => context.demo,
            SignInMethod::Oidc => !context.demo && user.issuer == context.issuer,
        };
        if !ours {
            tracing::warn!(subject = %user.subject, method = ?user.method, issuer = ?user.issuer,
                "a session made by another sign-in was refused");
            session
                .flush()
                .await
                .map_err(|_| AuthRejection::SessionUnavailable)?;
            return Ok(Self(None));
        }
        let now = OffsetDateTime::now_utc();
        if now - user.signed_in_at > context.limits.absolute {
            // Past the absolute lifetime: the user signs in again, however active they were.
            session
                .flush()
                .await
                .map_err(|_| AuthRejection::SessionUnavailable)?;
            return Ok(Self(None));
        }
        // The store only pushes the idle expiry forward when the session changes; touching it
        // at most once a minute keeps an active session alive without a write per request.
        let last_seen: Option<i64> = session.get(LAST_SEEN_KEY).await.ok().flatten();
        if needs_touch(last_seen, now) {
            session
                .insert(LAST_SEEN_KEY, now.unix_timestamp())
                .await
                .map_err(|_| AuthRejection::SessionUnavailable)?;
        }
        let roles = context.policy.roles(&user.groups);
        let origin = request_origin(parts);
        Ok(Self(Some(CurrentUser {
            user,
            roles,
            origin,
        })))
    }
}

/// Where a request came from, as an extractor (never fails).
#[derive(Debug, Clone)]
pub struct RequestOrigin(pub crate::audit::Origin);

impl<S: Send + Sync> FromRequestParts<S> for RequestOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(request_origin(parts)))
    }
}

/// The origin of a request: its headers, and the peer address when the server records it.
pub fn request_origin(parts: &Parts) -> crate::audit::Origin {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0);
    crate::audit::Origin::from_http(&parts.headers, peer)
}

/// The session key of the last time a request used the session (unix seconds).
const LAST_SEEN_KEY: &str = "signalbox.last_seen";

/// Whether a session last seen at `last_seen` should be touched now.
fn needs_touch(last_seen: Option<i64>, now: OffsetDateTime) -> bool {
    last_seen.is_none_or(|seen| now.unix_timestamp() - seen >= 60)
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        MaybeUser::from_request_parts(parts, state)
            .await?
            .0
            .ok_or(AuthRejection::NotSignedIn)
    }
}

#[cfg(test)]
mod tests {
    use super::needs_touch;
    use time::OffsetDateTime;

    #[test]
    fn an_active_session_is_touched_at_most_once_a_minute() {
        let now = OffsetDateTime::now_utc();
        let at = now.unix_timestamp();
        assert!(needs_touch(None, now), "a fresh session is touched");
        assert!(!needs_touch(Some(at - 59), now));
        assert!(needs_touch(Some(at - 60), now));
    }
}
