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

use super::{AccessPolicy, Roles, SessionLimits, SessionUser, USER_KEY};

/// What the extractors need besides the session, shared through request extensions.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub policy: Arc<AccessPolicy>,
    pub limits: SessionLimits,
    /// True when the demo sign-in replaces the identity provider.
    pub demo: bool,
}

/// A signed-in user and what they may do.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: SessionUser,
    pub roles: Roles,
}

/// A signed-in user, if there is one.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<CurrentUser>);

/// Why a request has no usable user.
#[derive(Debug, thiserror::Error)]
pub enum AuthRejection {
    #[error("sign in first")]
    NotSignedIn,
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
            Self::SessionUnavailable => {
                let reference = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
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
            .ok_or(AuthRejection::SessionUnavailable)?;
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
        if OffsetDateTime::now_utc() - user.signed_in_at > context.limits.absolute {
            // Past the absolute lifetime: the user signs in again, however active they were.
            session
                .flush()
                .await
                .map_err(|_| AuthRejection::SessionUnavailable)?;
            return Ok(Self(None));
        }
        let roles = context.policy.roles(&user.groups);
        Ok(Self(Some(CurrentUser { user, roles })))
    }
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
