//! Forge webhooks: a forge tells us at once that a pull request was merged or closed, instead of
//! waiting for the next poll. GitHub and Gitea/Forgejo sign each delivery with HMAC SHA-256 over
//! the raw body, GitLab sends the secret token itself; both use the secret configured on both
//! sides (`[delivery] webhook_secret`). Anything unsigned or wrongly signed is refused and changes
//! nothing. The endpoints are public: the signature is their authentication.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::Sha256;

use backend::forge::PullState;

use super::AppState;

#[derive(Deserialize)]
struct PullRequestEvent {
    action: String,
    pull_request: PullRequestPayload,
    repository: Repository,
}

#[derive(Deserialize)]
struct PullRequestPayload {
    #[serde(default)]
    merged: bool,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    head: Head,
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "ref")]
    branch: String,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

fn answer(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "message": message })),
    )
        .into_response()
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC SHA-256 of `body` under `secret`, compared
/// in constant time.
pub fn signature_matches(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `POST /webhooks/github`: `X-Hub-Signature-256: sha256=<hex>`, event in `X-GitHub-Event`.
pub async fn github(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let signature = header("x-hub-signature-256");
    let event = header("x-github-event");
    pull_request_hook(
        &state,
        "github",
        "X-Hub-Signature-256",
        &body,
        &event,
        |secret| signature_matches(secret, &body, &signature),
    )
    .await
}

/// `POST /webhooks/gitea` (Forgejo too): `X-Gitea-Signature: <hex>` (Forgejo also sends
/// `X-Forgejo-Signature`), event in `X-Gitea-Event`; the payload is shaped like GitHub's.
pub async fn gitea(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let signature = match header("x-gitea-signature") {
        s if s.is_empty() => header("x-forgejo-signature"),
        s => s,
    };
    let mut event = header("x-gitea-event");
    if event.is_empty() {
        event = header("x-forgejo-event");
    }
    pull_request_hook(
        &state,
        "gitea",
        "X-Gitea-Signature",
        &body,
        &event,
        |secret| signature_matches(secret, &body, &format!("sha256={signature}")),
    )
    .await
}

/// `POST /webhooks/gitlab`: GitLab sends the secret itself in `X-Gitlab-Token` (compared in
/// constant time); merge request events carry `object_attributes`.
pub async fn gitlab(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = &state.webhook_secret else {
        return not_configured();
    };
    let token = headers
        .get("x-gitlab-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !constant_time_eq(token.as_bytes(), secret.expose_secret().as_bytes()) {
        return refused("the X-Gitlab-Token header does not match the configured secret");
    }
    #[derive(Deserialize)]
    struct Hook {
        object_kind: String,
        object_attributes: Attributes,
        project: Project,
    }
    #[derive(Deserialize)]
    struct Attributes {
        #[serde(default)]
        action: String,
        source_branch: String,
        #[serde(default)]
        merge_commit_sha: Option<String>,
    }
    #[derive(Deserialize)]
    struct Project {
        path_with_namespace: String,
    }
    let hook: Hook = match serde_json::from_slice(&body) {
        Ok(hook) => hook,
        Err(error) => {
            return answer(
                StatusCode::OK,
                &format!("not a merge request event; nothing to do ({error})"),
            );
        }
    };
    let settled = match (
        hook.object_kind.as_str(),
        hook.object_attributes.action.as_str(),
    ) {
        ("merge_request", "merge") => PullState::Merged {
            sha: hook.object_attributes.merge_commit_sha,
        },
        ("merge_request", "close") => PullState::Closed,
        _ => {
            return answer(
                StatusCode::OK,
                "only merged or closed merge requests need action",
            );
        }
    };
    settle(
        &state,
        "gitlab",
        &hook.project.path_with_namespace,
        &hook.object_attributes.source_branch,
        settled,
    )
    .await
}

fn not_configured() -> Response {
    answer(
        StatusCode::NOT_FOUND,
        "webhooks are not configured here: set [delivery] webhook_secret",
    )
}

fn refused(message: &str) -> Response {
    tracing::warn!(message, "a forge webhook was refused");
    answer(StatusCode::UNAUTHORIZED, message)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The GitHub-shaped `pull_request` event (GitHub, Gitea, Forgejo), once `verify` accepted the
/// signature under the configured secret.
async fn pull_request_hook(
    state: &AppState,
    forge: &str,
    signature_header: &str,
    body: &[u8],
    event: &str,
    verify: impl FnOnce(&[u8]) -> bool,
) -> Response {
    let Some(secret) = &state.webhook_secret else {
        return not_configured();
    };
    if !verify(secret.expose_secret().as_bytes()) {
        return refused(&format!(
            "the {signature_header} header does not match this body and the configured secret"
        ));
    }
    if event != "pull_request" {
        return answer(StatusCode::OK, &format!("{event} events need no action"));
    }
    let event: PullRequestEvent = match serde_json::from_slice(body) {
        Ok(event) => event,
        Err(error) => {
            return answer(
                StatusCode::BAD_REQUEST,
                &format!("not a pull_request event body: {error}"),
            );
        }
    };
    if event.action != "closed" {
        return answer(StatusCode::OK, "only closed pull requests need action");
    }
    let settled = if event.pull_request.merged {
        PullState::Merged {
            sha: event.pull_request.merge_commit_sha,
        }
    } else {
        PullState::Closed
    };
    settle(
        state,
        forge,
        &event.repository.full_name,
        &event.pull_request.head.branch,
        settled,
    )
    .await
}

async fn settle(
    state: &AppState,
    forge: &str,
    repository: &str,
    branch: &str,
    settled: PullState,
) -> Response {
    match backend::jobs::pull_request_settled(
        &state.backend.pool,
        forge,
        repository,
        branch,
        settled,
    )
    .await
    {
        Ok(Some(id)) => answer(StatusCode::OK, &format!("request {id} updated")),
        Ok(None) => answer(
            StatusCode::OK,
            "no open pull request of Signalbox's matches",
        ),
        Err(error) => {
            tracing::error!(%error, forge, "recording a forge webhook");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "the event could not be recorded; the forge will deliver it again",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_githubs_example() {
        // GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
        let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(signature_matches(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            signature
        ));
        assert!(!signature_matches(
            b"another secret",
            b"Hello, World!",
            signature
        ));
        assert!(!signature_matches(
            b"It's a Secret to Everybody",
            b"Hello, World?",
            signature
        ));
        assert!(!signature_matches(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            "sha1=00"
        ));
        assert!(!signature_matches(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            ""
        ));
    }
}
