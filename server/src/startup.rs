//! Building and running the server: database choice (configured, local default, or a throwaway
//! cluster for the demo), migrations, the router, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use leptos::config::LeptosOptions;
use sqlx::postgres::PgConnectOptions;
use tokio::net::TcpListener;

use backend::Backend;
use backend::auth::extract::AuthContext;
use backend::auth::oidc::{OidcClient, OidcSettings};
use backend::auth::sessions::HashedPostgresStore;
use backend::auth::{AccessPolicy, SessionLimits};
use backend::embedded_postgres::{self, EmbeddedPostgres};
use backend::state::CatalogSource;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::config::Settings;
use crate::http::auth::SignIn;
use crate::http::{self, AppState};

/// What Signalbox may do for itself when parts are not configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `serve`: use the configured (or local default) database and wait for it; an identity
    /// provider is required.
    Production,
    /// `demo`: start a throwaway database when none is configured or listening, and offer demo
    /// personas when no identity provider is configured, on loopback only.
    Demo,
}

/// A bound, not yet serving, Signalbox.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    sessions: SessionManagerLayer<HashedPostgresStore>,
    embedded: Option<EmbeddedPostgres>,
    workers: Vec<backend::jobs::Worker>,
}

impl Application {
    /// Binds the listener (port 0 picks a free one), connects the pool and prepares the router.
    pub async fn build(settings: &Settings, mode: Mode) -> anyhow::Result<Self> {
        let catalog = Arc::new(settings.catalog()?);
        let (connect, embedded) = database(settings, mode).await?;
        let pool = backend::db::connect_lazy(connect, settings.database.max_connections);
        let listener = TcpListener::bind(settings.server.address)
            .await
            .with_context(|| format!("binding {}", settings.server.address))?;
        let address = listener.local_addr()?;
        let leptos_options = LeptosOptions::builder()
            .output_name("signalbox")
            .site_root(settings.server.site_root.to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .site_addr(address)
            .build();
        let catalog_source = Arc::new(CatalogSource {
            environments: settings.environments.clone(),
            teams: settings.teams.clone(),
        });
        let public_url = settings
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{address}"))
            .trim_end_matches('/')
            .to_owned();
        // Only on loopback, and only reached on loopback: a proxy in front would expose it.
        let loopback = address.ip().is_loopback() && url_host_is_loopback(&public_url);
        let auth_settings = &settings.auth;
        // Listening where other machines reach it: sign-in must run over TLS end to end.
        if mode == Mode::Production && !address.ip().is_loopback() {
            anyhow::ensure!(
                public_url.starts_with("https://"),
                "server.public_url is {public_url}, but Signalbox listens on {address}, \
                 reachable from other machines: set server.public_url to the https:// address \
                 people use (TLS may end at a proxy)"
            );
            if let Some(issuer) = &auth_settings.issuer {
                anyhow::ensure!(
                    issuer.starts_with("https://"),
                    "auth.issuer is {issuer}, but Signalbox listens on {address}, reachable from \
                     other machines: the OpenID provider must be reached over https://"
                );
            }
        }
        let sign_in = sign_in(settings, mode, &public_url, loopback).await?;
        let limits = SessionLimits {
            idle: time::Duration::minutes(i64::from(auth_settings.idle_timeout_minutes)),
            absolute: time::Duration::hours(i64::from(auth_settings.absolute_timeout_hours)),
        };
        let auth = AuthContext {
            policy: Arc::new(AccessPolicy::new(
                &catalog_source,
                &auth_settings.admin_groups,
            )),
            limits,
            demo: matches!(sign_in, SignIn::Demo),
            issuer: match &sign_in {
                SignIn::Oidc(client) => Some(client.issuer().to_owned()),
                SignIn::Demo => None,
            },
        };
        let https = public_url.starts_with("https://");
        let secure = match auth_settings.secure_cookie {
            Some(false) if !loopback => anyhow::bail!(
                "auth.secure_cookie = false is only allowed while listening on, and reached at, a \
                 loopback address; {address} ({public_url}) is reachable from other machines"
            ),
            Some(secure) => secure,
            None => https || !loopback,
        };
        let store = HashedPostgresStore::new(pool.clone()).trusting_for(
            std::time::Duration::from_secs(u64::from(auth_settings.session_recheck_seconds)),
        );
        let sessions = SessionManagerLayer::new(store)
            .with_name(session_cookie_name(secure))
            .with_http_only(true)
            .with_secure(secure)
            .with_same_site(SameSite::Lax)
            .with_path("/")
            .with_expiry(Expiry::OnInactivity(limits.idle));
        // Relative paths in the configuration (kubeconfig, fixture) are read from the working
        // directory, as the local forge's are.
        let base_dir = match &settings.delivery.base_dir {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().context("the working directory")?,
        };
        let clusters = backend::cluster::Clusters::connect(&catalog, &base_dir).await;
        let backend = Backend {
            pool,
            catalog,
            catalog_source,
            clusters,
            http: backend::reqwest::Client::new(),
        };
        let csp = crate::http::security::PolicyExtras {
            // Signing out posts to us and is redirected to the provider's end-session endpoint.
            form_action_origin: match &sign_in {
                SignIn::Oidc(client) => client.end_session_origin(),
                SignIn::Demo => None,
            },
            hsts: https,
        };
        let workers = delivery_workers(settings, &backend, &public_url)?;
        let state = AppState {
            leptos_options,
            backend,
            auth,
            sign_in,
            public_url,
            csp,
            webhook_secret: settings.delivery.webhook_secret.clone(),
        };
        Ok(Self {
            listener,
            state,
            sessions,
            embedded,
            workers,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn backend(&self) -> &Backend {
        &self.state.backend
    }

    /// Applies migrations (retrying until the database answers), then serves until `shutdown`
    /// completes; in-flight requests finish, the throwaway database (if any) is stopped.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            state,
            sessions,
            mut embedded,
            workers,
        } = self;
        tokio::spawn(migrate_until_done(state.backend.pool.clone()));
        tokio::spawn(delete_expired_sessions(state.backend.pool.clone()));
        // Workers hold each job under a lease: stopping them mid-job only delays that job.
        let workers: Vec<_> = workers
            .into_iter()
            .map(|worker| tokio::spawn(worker.run(std::future::pending())))
            .collect();
        tracing::info!(address = %listener.local_addr()?, "Signalbox is listening");
        // The peer address goes into the audit history.
        let served = axum::serve(
            listener,
            http::router(state, sessions)
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        for worker in workers {
            worker.abort();
        }
        if let Some(cluster) = embedded.as_mut() {
            cluster.stop()?;
        }
        served.context("serving HTTP")
    }
}

/// The delivery workers of this process, with the forge of each environment.
fn delivery_workers(
    settings: &Settings,
    backend: &Backend,
    public_url: &str,
) -> anyhow::Result<Vec<backend::jobs::Worker>> {
    let delivery = &settings.delivery;
    let base_dir = match &delivery.base_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().context("the working directory")?,
    };
    let forges = Arc::new(backend::forge::Forges::from_catalog(
        &backend.catalog,
        &base_dir,
    )?);
    let mut targets = Vec::new();
    for (i, hook) in settings.notifications.webhooks.iter().enumerate() {
        anyhow::ensure!(
            hook.url.starts_with("https://") || hook.url.starts_with("http://"),
            "notifications.webhooks[{i}].url must start with https:// (or http://), not {:?}",
            hook.url
        );
        targets.push(backend::jobs::notify::Target {
            url: hook.url.clone(),
            environments: hook.environments.clone(),
            teams: hook.teams.clone(),
        });
    }
    let mut notifier = backend::jobs::notify::Notifier::new(
        targets,
        settings.notifications.secret.clone(),
        Duration::from_secs(10),
    );
    if let Some(email) = &settings.notifications.email {
        let recipients = email
            .recipients
            .iter()
            .map(|r| {
                (
                    r.to.clone(),
                    backend::jobs::notify::Target {
                        url: String::new(),
                        environments: r.environments.clone(),
                        teams: r.teams.clone(),
                    },
                )
            })
            .collect();
        let sender = backend::jobs::notify::Email::new(
            secrecy::ExposeSecret::expose_secret(&email.url),
            &email.from,
            recipients,
        )
        .map_err(|problem| anyhow::anyhow!("notifications.email: {problem}"))?;
        notifier = notifier.with_email(sender, public_url);
    }
    let notifier = Arc::new(notifier);
    let retry = backend::jobs::RetryPolicy {
        max_attempts: delivery.max_attempts.max(1),
        base: Duration::from_millis(delivery.backoff_base_ms),
        ..backend::jobs::RetryPolicy::default()
    };
    Ok((0..delivery.workers)
        .map(|i| {
            backend::jobs::Worker::new(
                backend.pool.clone(),
                backend.catalog.clone(),
                forges.clone(),
                backend::jobs::WorkerSettings {
                    name: format!("{}-{i}", std::process::id()),
                    follow_every: Duration::from_secs(delivery.follow_interval_seconds.max(1)),
                    poll: Duration::from_secs(delivery.poll_interval_seconds.max(1)),
                    retry,
                    public_url: public_url.to_owned(),
                    clusters: backend.clusters.clone(),
                    ..backend::jobs::WorkerSettings::default()
                },
            )
            .with_notifier(notifier.clone())
        })
        .collect())
}

/// The session cookie's name: with `Secure`, the `__Host-` prefix makes browsers refuse the same
/// cookie set by a sibling host (other apps under the same wildcard domain).
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-signalbox_session"
    } else {
        "signalbox_session"
    }
}

fn url_host_is_loopback(url: &str) -> bool {
    match url::Url::parse(url)
        .ok()
        .and_then(|url| url.host().map(|host| host.to_owned()))
    {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// How people sign in: the configured provider, or the demo personas on loopback only.
async fn sign_in(
    settings: &Settings,
    mode: Mode,
    public_url: &str,
    loopback: bool,
) -> anyhow::Result<SignIn> {
    let auth = &settings.auth;
    let Some(issuer) = &auth.issuer else {
        if mode == Mode::Production {
            anyhow::bail!(
                "no OpenID provider is configured: set auth.issuer, auth.client_id and \
                 auth.client_secret (`signalbox demo` offers demo personas on a loopback address)"
            );
        }
        if !loopback {
            anyhow::bail!(
                "no OpenID provider is configured (auth.issuer) and the demo sign-in is only \
                 allowed while listening on a loopback address; set auth.issuer, auth.client_id \
                 and auth.client_secret, or listen on 127.0.0.1"
            );
        }
        tracing::warn!("no OpenID provider configured: using the demo sign-in (loopback only)");
        return Ok(SignIn::Demo);
    };
    let client_id = auth
        .client_id
        .clone()
        .context("auth.client_id is required with auth.issuer")?;
    let oidc = OidcSettings {
        issuer: issuer.clone(),
        client_id,
        client_secret: auth.client_secret.clone(),
        redirect_url: format!("{public_url}/auth/callback"),
        scopes: auth.scopes.clone(),
        groups_claim: auth.groups_claim.clone(),
        allowed_algorithms: auth.allowed_algorithms.clone(),
        use_userinfo: auth.use_userinfo,
    };
    let client = OidcClient::discover(&oidc).await?;
    Ok(SignIn::Oidc(Box::new(client)))
}

/// Sessions past their expiry are removed every few minutes; every replica runs this, and a
/// delete of rows another replica already removed is harmless.
async fn delete_expired_sessions(pool: sqlx::PgPool) {
    use tower_sessions::ExpiredDeletion as _;
    let store = HashedPostgresStore::new(pool);
    loop {
        // An error is the database away, or not migrated yet: try again next round.
        if let Err(error) = store.delete_expired().await {
            tracing::debug!(%error, "expired-session cleanup paused");
        }
        tokio::time::sleep(Duration::from_secs(300)).await;
    }
}

async fn migrate_until_done(pool: sqlx::PgPool) {
    let mut delay = Duration::from_millis(200);
    loop {
        match backend::db::migrate(&pool).await {
            Ok(()) => {
                tracing::info!("database schema is current");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, retry_in = ?delay, "migrations not applied yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Where the database is when nothing is started for it: `database.url`, or the local default
/// (`postgres@127.0.0.1:<embedded.port>/<name>`).
pub fn connect_options(settings: &Settings) -> anyhow::Result<PgConnectOptions> {
    let db = &settings.database;
    match db.configured_url() {
        Some(url) => url
            .parse()
            .context("database.url is not a valid postgres:// URL"),
        None => Ok(local_admin_options(settings).database(&db.name)),
    }
}

fn local_admin_options(settings: &Settings) -> PgConnectOptions {
    PgConnectOptions::new()
        .host("127.0.0.1")
        .port(settings.database.embedded.port)
        .username("postgres")
}

async fn database(
    settings: &Settings,
    mode: Mode,
) -> anyhow::Result<(PgConnectOptions, Option<EmbeddedPostgres>)> {
    let db = &settings.database;
    if let (Mode::Demo, Some(url)) = (mode, db.configured_url()) {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_default();
        let local = host.is_empty()
            || host == "localhost"
            || host.starts_with('/')
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        anyhow::ensure!(
            local || db.allow_demo_on_remote,
            "the demo lets anyone here sign in as any persona, so it refuses a database that is \
             not on this machine ({host}); use a local database, or set \
             database.allow_demo_on_remote = true to use this one anyway"
        );
    }
    if db.configured_url().is_some() || mode == Mode::Production {
        return Ok((connect_options(settings)?, None));
    }
    let address = SocketAddr::from(([127, 0, 0, 1], db.embedded.port));
    let admin = local_admin_options(settings);
    let embedded = if !embedded_postgres::is_listening(address) {
        let data_dir = db.embedded.data_dir.clone();
        let port = db.embedded.port;
        Some(tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&data_dir, port)).await??)
    } else {
        None
    };
    backend::db::ensure_database(&admin, &db.name).await?;
    Ok((admin.database(&db.name), embedded))
}

/// Completes on Ctrl-C or SIGTERM, whichever comes first.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
