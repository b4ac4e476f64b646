//! Forge webhooks: a forge tells us at once that a pull request was merged or closed, instead of
//! waiting for the next poll. GitHub signs each delivery with HMAC SHA-256 over the raw body
//! (`X-Hub-Signature-256: sha256=<hex>`) using the secret configured on both sides
//! (`[delivery] webhook_secret`); anything unsigned or wrongly signed is refused and changes
//! nothing. The endpoint is public: the signature is its authentication.

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

/// `POST /webhooks/github`.
pub async fn github(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = &state.webhook_secret else {
        return answer(
            StatusCode::NOT_FOUND,
            "webhooks are not configured here: set [delivery] webhook_secret",
        );
    };
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !signature_matches(secret.expose_secret().as_bytes(), &body, signature) {
        tracing::warn!("a GitHub webhook with a missing or wrong signature was refused");
        return answer(
            StatusCode::UNAUTHORIZED,
            "the X-Hub-Signature-256 header does not match this body and the configured secret",
        );
    }
    let event = headers
        .get("x-github-event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if event != "pull_request" {
        return answer(StatusCode::OK, &format!("{event} events need no action"));
    }
    let event: PullRequestEvent = match serde_json::from_slice(&body) {
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
    match backend::jobs::pull_request_settled(
        &state.backend.pool,
        "github",
        &event.repository.full_name,
        &event.pull_request.head.branch,
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
            tracing::error!(%error, "recording a GitHub webhook");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "the event could not be recorded; GitHub will deliver it again",
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
