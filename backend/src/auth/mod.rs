//! Who the user is and what they may do. Sign-in goes through the company's OpenID Connect
//! provider ([`oidc`]), or, on a loopback-only demo, through a choice of personas ([`demo`]).
//! Either way the session holds a [`SessionUser`]; roles are worked out from the user's groups
//! on every request ([`roles`]), so a change of configuration applies at once.

pub mod demo;
pub mod extract;
pub mod oidc;
pub mod roles;
pub mod sessions;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use extract::{AuthRejection, CurrentUser, MaybeUser};
pub use roles::{AccessPolicy, Roles};

/// The session key of the signed-in user.
pub const USER_KEY: &str = "signalbox.user";
/// The session key of the sign-ins that went to the provider and have not come back yet.
pub const PENDING_LOGIN_KEY: &str = "signalbox.pending_login";

/// How the user signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInMethod {
    Oidc,
    Demo,
}

/// The signed-in user as stored in the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    /// The provider's stable subject identifier (`sub`), or the demo persona's id.
    pub subject: String,
    pub name: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
    pub method: SignInMethod,
    /// The provider that signed the user in (none for the demo): a server accepts only the
    /// sessions its own provider made.
    #[serde(default)]
    pub issuer: Option<String>,
    /// When the user signed in; sessions end a fixed time after it, however active.
    #[serde(with = "time::serde::rfc3339")]
    pub signed_in_at: OffsetDateTime,
    /// The ID token, kept as the hint for the provider's sign-out endpoint.
    pub id_token: Option<String>,
}

/// Session lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// A session unused for this long ends.
    pub idle: time::Duration,
    /// A session ends this long after sign-in, however active.
    pub absolute: time::Duration,
}

/// A fresh reference id for an internal error: short enough to read out over the phone, unique
/// enough to find in the logs.
pub fn reference_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    id[..12].to_owned()
}

/// Where to send the user after sign-in: only a path on this site, never another origin.
/// Anything else (absolute URLs, `//host`, backslashes, control characters) becomes `/`.
pub fn safe_return_to(candidate: Option<&str>) -> String {
    let Some(path) = candidate else {
        return "/".to_owned();
    };
    let acceptable = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.contains('\\')
        // Visible ASCII only: anything else cannot go into a Location header unencoded.
        && path.bytes().all(|byte| byte.is_ascii_graphic())
        && path.len() <= 2048;
    if acceptable {
        path.to_owned()
    } else {
        "/".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn return_to_keeps_same_origin_paths() {
        assert_eq!(
            safe_return_to(Some("/preview?request=x")),
            "/preview?request=x"
        );
        assert_eq!(safe_return_to(None), "/");
    }

    #[test]
    fn return_to_refuses_other_origins() {
        for hostile in [
            "https://evil.example",
            "//evil.example/path",
            "/\\evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "/ok\r\nLocation: https://evil.example",
            "/ä",
            "/with space",
            "",
        ] {
            assert_eq!(safe_return_to(Some(hostile)), "/", "{hostile:?}");
        }
    }
}
