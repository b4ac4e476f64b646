//! Notifications: every notified timeline event (submitted, decided, withdrawn, pull request
//! opened, merged, closed, delivery failed) becomes a `notify` job in the same transaction as the
//! event, and a worker posts it as JSON to each configured webhook whose environments and teams
//! match, signed with HMAC SHA-256 (`X-Signalbox-Signature: sha256=<hex>`) so the receiver can
//! tell it came from us. Failed posts are retried like deliveries; a notification that keeps
//! failing is dropped after the last attempt (the request itself is not affected).

use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::Sha256;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::forge::ForgeError;

/// The timeline actions that are sent.
pub const NOTIFIED: [&str; 8] = [
    "submitted",
    "approved",
    "rejected",
    "withdrawn",
    "pr_opened",
    "merged",
    "pr_closed",
    "delivery_failed",
];

/// Queues the notification of one event inside the transaction that records it.
pub(crate) async fn enqueue(
    tx: &mut PgConnection,
    request: Uuid,
    action: &str,
    actor_name: &str,
    to_state: Option<&str>,
    body: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        insert into jobs (kind, request_id, payload)
        select 'notify', r.id, jsonb_build_object(
            'event', $2::text,
            'actor', $3::text,
            'message', $5::text,
            'at', now(),
            'request', jsonb_build_object(
                'id', r.id, 'kind', r.kind, 'operation', r.operation,
                'environment', r.environment, 'team', r.team, 'summary', r.summary,
                'requester', r.requester_name, 'state', coalesce($4::text, r.state)))
        from requests r where r.id = $1
        "#,
        request,
        action,
        actor_name,
        to_state,
        body
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// One webhook and what it wants to hear about.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    /// Only these environments (empty: every one).
    pub environments: Vec<String>,
    /// Only these teams (empty: every one).
    pub teams: Vec<String>,
}

impl Target {
    fn wants(&self, environment: &str, team: &str) -> bool {
        (self.environments.is_empty() || self.environments.iter().any(|e| e == environment))
            && (self.teams.is_empty() || self.teams.iter().any(|t| t == team))
    }
}

/// Sends notifications.
#[derive(Debug, Clone)]
pub struct Notifier {
    targets: Vec<Target>,
    secret: Option<SecretString>,
    http: reqwest::Client,
}

impl Default for Notifier {
    fn default() -> Self {
        Self::new(Vec::new(), None, Duration::from_secs(10))
    }
}

/// `sha256=<hex>` of the HMAC SHA-256 of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

impl Notifier {
    pub fn new(targets: Vec<Target>, secret: Option<SecretString>, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent("signalbox")
            .build()
            .expect("an HTTP client with default TLS builds");
        Self {
            targets,
            secret,
            http,
        }
    }

    /// Posts `payload` to every target that wants it; the first failure is returned (and the
    /// job retried), after the others were tried.
    pub async fn send(&self, payload: &Value) -> Result<(), ForgeError> {
        let request = &payload["request"];
        let environment = request["environment"].as_str().unwrap_or_default();
        let team = request["team"].as_str().unwrap_or_default();
        let body = serde_json::to_vec(payload).unwrap_or_default();
        let event = payload["event"].as_str().unwrap_or_default();
        let mut first_failure = None;
        for target in self.targets.iter().filter(|t| t.wants(environment, team)) {
            let mut post = self
                .http
                .post(&target.url)
                .header("content-type", "application/json")
                .header("x-signalbox-event", event)
                .body(body.clone());
            if let Some(secret) = &self.secret {
                post = post.header(
                    "x-signalbox-signature",
                    signature(secret.expose_secret().as_bytes(), &body),
                );
            }
            let failure = match post.send().await {
                Ok(response) if response.status().is_success() => continue,
                Ok(response) => {
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    ForgeError::Transient {
                        message: format!("notification webhook answered {}", response.status()),
                        retry_after,
                    }
                }
                Err(error) => ForgeError::transient(format!(
                    "notification webhook could not be reached: {error}"
                )),
            };
            first_failure.get_or_insert(failure);
        }
        first_failure.map_or(Ok(()), Err)
    }

    /// Whether any webhook is configured.
    pub fn is_configured(&self) -> bool {
        !self.targets.is_empty()
    }
}
