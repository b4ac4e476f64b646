//! Notifications: every notified timeline event (submitted, decided, withdrawn, pull request
//! opened, merged, closed, delivery failed) becomes a `notify` job in the same transaction as the
//! event, and a worker posts it as JSON to each configured webhook whose environments and teams
//! match, signed with HMAC SHA-256 (`X-Signalbox-Signature: sha256=<hex>`) so the receiver can
//! tell it came from us, and, when an SMTP server is configured, mails it to the matching
//! recipients. Failed sends are retried like deliveries; a notification that keeps
//! failing is dropped after the last attempt (the request itself is not affected).

use std::time::Duration;

use hmac::{Hmac, Mac};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
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

/// Notification email: an SMTP server, the sender, and who gets which events.
#[derive(Clone)]
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    recipients: Vec<(Vec<Mailbox>, Target)>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the SMTP credentials: never printed.
        f.debug_struct("Email")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Email {
    /// `url` in lettre's form (`smtp://host:587?tls=required`, `smtps://user:pass@host`);
    /// `recipients`: addresses, and the environments and teams whose events they get (the
    /// target's `url` is unused).
    pub fn new(
        url: &str,
        from: &str,
        recipients: Vec<(Vec<String>, Target)>,
    ) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("the SMTP URL is not usable: {e}"))?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("the sender {from:?} is not an address: {e}"))?;
        let mut parsed = Vec::new();
        for (addresses, target) in recipients {
            let mut to = Vec::new();
            for address in addresses {
                to.push(
                    address
                        .parse::<Mailbox>()
                        .map_err(|e| format!("{address:?} is not an address: {e}"))?,
                );
            }
            parsed.push((to, target));
        }
        Ok(Self {
            transport,
            from,
            recipients: parsed,
        })
    }

    async fn send(
        &self,
        payload: &Value,
        environment: &str,
        team: &str,
        link: &str,
    ) -> Result<(), ForgeError> {
        let to: Vec<&Mailbox> = self
            .recipients
            .iter()
            .filter(|(_, target)| target.wants(environment, team))
            .flat_map(|(to, _)| to)
            .collect();
        if to.is_empty() {
            return Ok(());
        }
        let request = &payload["request"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let event = text(&payload["event"]).replace('_', " ");
        let subject = format!("[Signalbox] {event}: {}", text(&request["summary"]));
        let mut body = format!(
            "{} — {event}\n\nRequest: {}\nEnvironment: {environment}\nTeam: {team}\nAsked by: {}\nBy: {}\nState: {}\n",
            text(&request["summary"]),
            text(&request["id"]),
            text(&request["requester"]),
            text(&payload["actor"]),
            text(&request["state"]).replace('_', " "),
        );
        let message = text(&payload["message"]);
        if !message.is_empty() {
            body.push_str(&format!("\n{message}\n"));
        }
        body.push_str(&format!("\n{link}\n"));
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for mailbox in to {
            builder = builder.to(mailbox.clone());
        }
        let email = builder
            .body(body)
            .map_err(|e| ForgeError::Permanent(format!("the notification email: {e}")))?;
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(|e| ForgeError::transient(format!("sending the notification email: {e}")))
    }
}

/// Sends notifications.
#[derive(Debug, Clone)]
pub struct Notifier {
    targets: Vec<Target>,
    secret: Option<SecretString>,
    http: reqwest::Client,
    email: Option<Email>,
    /// Links in emails point here (`<public_url>/requests/<id>`).
    public_url: String,
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
            email: None,
            public_url: String::new(),
        }
    }

    /// Also sends email; links point at `public_url`.
    pub fn with_email(mut self, email: Email, public_url: &str) -> Self {
        self.email = Some(email);
        self.public_url = public_url.trim_end_matches('/').to_owned();
        self
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
        if let Some(email) = &self.email {
            let link = format!(
                "{}/requests/{}",
                self.public_url,
                request["id"].as_str().unwrap_or_default()
            );
            if let Err(failure) = email.send(payload, environment, team, &link).await {
                first_failure.get_or_insert(failure);
            }
        }
        first_failure.map_or(Ok(()), Err)
    }

    /// Whether any webhook or email is configured.
    pub fn is_configured(&self) -> bool {
        !self.targets.is_empty() || self.email.is_some()
    }
}
