//! One typed configuration, layered: the embedded defaults, then an optional TOML file, then
//! `SIGNALBOX_*` environment variables (`SIGNALBOX_DATABASE__URL` sets `database.url`).
//! Secrets are `SecretString`s: they print as `[REDACTED]` in `Debug` and never reach the logs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The configuration the demo runs on when nothing else is given: two environments and two teams.
pub const EMBEDDED_DEFAULTS: &str = include_str!("../../config/signalbox.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    #[serde(default)]
    pub delivery: DeliverySettings,
    #[serde(default)]
    pub notifications: NotificationSettings,
    #[serde(default)]
    pub environments: Vec<mesh::config::EnvironmentConfig>,
    #[serde(default)]
    pub teams: Vec<mesh::config::TeamConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Where to listen; port 0 picks a free port (tests do this).
    pub address: SocketAddr,
    /// `pretty` for people, `json` for log collectors.
    #[serde(default)]
    pub log_format: LogFormat,
    /// The folder holding `pkg/` with the browser bundle and stylesheet.
    pub site_root: PathBuf,
    /// The URL people reach Signalbox at (behind the OpenShift Route, say); the sign-in callback
    /// is `<public_url>/auth/callback`. Default: `http://<address>`.
    #[serde(default)]
    pub public_url: Option<String>,
}

/// Sign-in. Without `issuer`, the demo sign-in is used, and only on a loopback address.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The OpenID provider's issuer URL, e.g. `https://sso.example.com/realms/company`.
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    pub scopes: Vec<String>,
    /// The ID token (or userinfo) claim that lists the user's groups.
    pub groups_claim: String,
    /// ID token signature algorithms accepted; `none` and HMAC are never accepted.
    pub allowed_algorithms: Vec<String>,
    /// Also read groups and profile from the userinfo endpoint.
    pub use_userinfo: bool,
    /// Groups whose members administer the portal.
    pub admin_groups: Vec<String>,
    /// A session unused for this long ends.
    pub idle_timeout_minutes: u32,
    /// A session ends this long after sign-in, however active.
    pub absolute_timeout_hours: u32,
    /// A session read from the database is used this long before it is read again: a session
    /// ended through another replica keeps working at most this long (0: read on every request).
    pub session_recheck_seconds: u32,
    /// Send the session cookie only over HTTPS. Default: on, except when listening on loopback.
    /// Turning it off is refused unless the server listens on loopback only.
    #[serde(default)]
    pub secure_cookie: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// A `postgres://` URL. When absent, Signalbox uses `postgres@127.0.0.1:<embedded.port>`,
    /// and the demo starts a throwaway cluster there if nothing is listening.
    pub url: Option<SecretString>,
    /// Database name used with the default URL.
    pub name: String,
    pub max_connections: u32,
    pub embedded: EmbeddedSettings,
    /// Let `signalbox demo` use a database that is not on this machine. Off by default: demo
    /// personas on a shared database would be sessions anyone on this machine can mint.
    #[serde(default)]
    pub allow_demo_on_remote: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedSettings {
    pub port: u16,
    pub data_dir: PathBuf,
}

/// Delivery of approved requests as pull requests (see each environment's `gitops`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// Workers in this process taking delivery jobs (0: this replica delivers nothing).
    pub workers: u16,
    /// Where relative `local` repository paths start; default: the working directory.
    pub base_dir: Option<PathBuf>,
    /// Seconds between two looks at an open pull request (forges without webhooks).
    pub follow_interval_seconds: u64,
    /// Seconds a worker sleeps at most without a job notification before looking anyway.
    pub poll_interval_seconds: u64,
    /// Attempts of one delivery before the request is marked `delivery_failed`.
    pub max_attempts: u32,
    /// Milliseconds the first retry waits at most; each further retry doubles it (with jitter).
    pub backoff_base_ms: u64,
    /// The secret forge webhooks are signed with (`POST /webhooks/github`); set it through
    /// SIGNALBOX_DELIVERY__WEBHOOK_SECRET. Without it, only polling follows pull requests.
    #[serde(default)]
    pub webhook_secret: Option<SecretString>,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            workers: 1,
            base_dir: None,
            follow_interval_seconds: 10,
            poll_interval_seconds: 5,
            max_attempts: 8,
            backoff_base_ms: 2000,
            webhook_secret: None,
        }
    }
}

/// Where request events are sent: signed JSON webhooks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// Signs every notification (`X-Signalbox-Signature: sha256=<hex>`); set it through
    /// SIGNALBOX_NOTIFICATIONS__SECRET.
    #[serde(default)]
    pub secret: Option<SecretString>,
    #[serde(default)]
    pub webhooks: Vec<WebhookSettings>,
    /// Notification email through an SMTP server.
    #[serde(default)]
    pub email: Option<EmailSettings>,
}

/// Notification email.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// The SMTP server in lettre's URL form, credentials included
    /// (`smtp://user:pass@mail.example.com:587?tls=required`, `smtps://…`); set it through
    /// SIGNALBOX_NOTIFICATIONS__EMAIL__URL.
    pub url: SecretString,
    /// The sender, e.g. `Signalbox <signalbox@example.com>`.
    pub from: String,
    #[serde(default)]
    pub recipients: Vec<RecipientSettings>,
}

/// Who gets which events by email.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientSettings {
    pub to: Vec<String>,
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub teams: Vec<String>,
}

/// One notification webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// `https://…` (or `http://` on a trusted network).
    pub url: String,
    /// Only events of these environments (empty: all).
    #[serde(default)]
    pub environments: Vec<String>,
    /// Only events of these teams' requests (empty: all).
    #[serde(default)]
    pub teams: Vec<String>,
}

impl DatabaseSettings {
    /// The URL to connect to when one is configured.
    pub fn configured_url(&self) -> Option<&str> {
        self.url.as_ref().map(|url| url.expose_secret())
    }
}

impl Settings {
    /// Loads the defaults, then `file` when given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Toml::string(EMBEDDED_DEFAULTS));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            // Only `SECTION__KEY` variables are settings; others with the prefix (SIGNALBOX_CONFIG,
            // the test suite's SIGNALBOX_TEST_*) are not.
            .merge(
                Env::prefixed("SIGNALBOX_")
                    .filter(|key| key.as_str().contains("__"))
                    .split("__"),
            )
            .extract()
            .map_err(Box::new)
    }

    /// Values that parse but are outside what Signalbox accepts, checked when `serve` or `demo`
    /// starts: session timeouts (ASVS L2: idle 30 minutes, absolute 12 hours).
    pub fn check_ranges(&self) -> anyhow::Result<()> {
        let auth = &self.auth;
        anyhow::ensure!(
            auth.session_recheck_seconds <= 60,
            "auth.session_recheck_seconds is {}; accepted: 0 to 60 (0 reads the session on every \
             request)",
            auth.session_recheck_seconds
        );
        anyhow::ensure!(
            (1..=480).contains(&auth.idle_timeout_minutes),
            "auth.idle_timeout_minutes is {}; accepted: 1 to 480 (ASVS L2 recommends 30)",
            auth.idle_timeout_minutes
        );
        anyhow::ensure!(
            (1..=24).contains(&auth.absolute_timeout_hours),
            "auth.absolute_timeout_hours is {}; accepted: 1 to 24 (ASVS L2 recommends 12)",
            auth.absolute_timeout_hours
        );
        Ok(())
    }

    /// The typed environment model; configuration mistakes are listed one per line.
    pub fn catalog(&self) -> anyhow::Result<mesh::Catalog> {
        mesh::Catalog::from_config(self.environments.clone(), self.teams.clone()).map_err(
            |problems| {
                let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
                anyhow::anyhow!("the configuration has problems:\n{}", lines.join("\n"))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_load_and_describe_two_environments() {
        let settings = Settings::load(None).expect("defaults load");
        let names: Vec<_> = settings
            .environments
            .iter()
            .map(|env| env.name.clone())
            .collect();
        assert_eq!(names, ["dev", "prod"]);
        settings.catalog().expect("defaults are a valid catalog");
    }

    #[test]
    fn database_url_is_redacted_in_debug_output() {
        let settings: DatabaseSettings = Figment::from(Toml::string(
            r#"
            url = "postgres://signalbox:hunter2@db/signalbox"
            name = "signalbox"
            max_connections = 5
            embedded = { port = 5432, data_dir = ".data" }
            "#,
        ))
        .extract()
        .expect("parses");
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert_eq!(
            settings.configured_url(),
            Some("postgres://signalbox:hunter2@db/signalbox")
        );
    }
}
