//! `TestApp`: the real server, in-process, on a free port, with its own database.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use server::config::Settings;
use server::startup::{Application, Mode};
use tokio::sync::oneshot;

use crate::database::TestDatabase;

pub struct TestApp {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub address: String,
    pub client: reqwest::Client,
    /// The client's cookies, to look at the session cookie.
    pub cookies: std::sync::Arc<reqwest::cookie::Jar>,
    pub pool: sqlx::PgPool,
    /// The environments and teams the server runs with.
    pub catalog: std::sync::Arc<mesh::Catalog>,
    /// The environments' clusters the server reads (none unless a test configures one).
    pub clusters: backend::cluster::Clusters,
    pub database: TestDatabase,
    /// Where relative local GitOps repositories live (the demo's `.data/gitops` is in here).
    pub gitops: tempfile::TempDir,
    /// What the server was started with; a restart keeps it.
    settings: Settings,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// The repository root, where `target/site` holds the browser bundle built by scripts/build.sh.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The settings every test starts from: embedded defaults, port 0, the given database.
pub fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings::load(None).expect("embedded defaults load");
    settings.server.address = "127.0.0.1:0".parse().expect("valid address");
    settings.server.site_root = workspace_root().join("target/site");
    settings.database.url = Some(SecretString::from(database_url.to_owned()));
    settings.database.max_connections = 5;
    // Tests that deliver start their own workers (or turn these on), so no other test races a
    // worker for a request's state.
    settings.delivery.workers = 0;
    // Tests read no cluster unless they configure one: the demo's fixture would otherwise decide
    // which Services and paths their requests may name.
    for environment in &mut settings.environments {
        environment.cluster = None;
    }
    settings
}

/// One running server: where it listens and how to stop it.
struct Running {
    address: String,
    pool: sqlx::PgPool,
    catalog: std::sync::Arc<mesh::Catalog>,
    clusters: backend::cluster::Clusters,
    shutdown: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(settings: &Settings) -> Running {
    let app = Application::build(settings, Mode::Demo)
        .await
        .expect("the application builds");
    let address = format!("http://{}", app.local_addr());
    let pool = app.backend().pool.clone();
    let catalog = app.backend().catalog.clone();
    let clusters = app.backend().clusters.clone();
    let (shutdown, stopped) = oneshot::channel();
    let server = tokio::spawn(app.run_until(async move {
        stopped.await.ok();
    }));
    Running {
        address,
        pool,
        catalog,
        clusters,
        shutdown,
        server,
    }
}

impl TestApp {
    /// Starts the server with default test settings and waits until it is ready.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Like [`TestApp::spawn`], with a chance to change the settings first.
    pub async fn spawn_with(customise: impl FnOnce(&mut Settings)) -> Self {
        let database = TestDatabase::create().await;
        let gitops = tempfile::tempdir().expect("a folder for the GitOps repository");
        let mut settings = test_settings(&database.url());
        settings.delivery.base_dir = Some(gitops.path().to_path_buf());
        customise(&mut settings);
        let running = start(&settings).await;
        let cookies = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(cookies.clone())
            .build()
            .expect("client builds");
        let app = Self {
            address: running.address,
            client,
            cookies,
            pool: running.pool,
            catalog: running.catalog,
            clusters: running.clusters,
            database,
            gitops,
            settings,
            shutdown: Some(running.shutdown),
            server: Some(running.server),
        };
        app.wait_until_ready().await;
        app
    }

    async fn wait_until_ready(&self) {
        for _ in 0..200 {
            if let Ok(response) = self.client.get(self.url("/readyz")).send().await
                && response.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the test server did not become ready within 10 seconds");
    }

    /// Signs the test client in through the demo sign-in as `persona` (alice, bob, carol, dave).
    pub async fn sign_in_as(&self, persona: &str) {
        let response = self
            .client
            .post(self.url("/auth/demo"))
            .form(&[("persona", persona), ("return_to", "/")])
            .send()
            .await
            .expect("sign-in request sent");
        assert_eq!(
            response.status(),
            303,
            "demo sign-in as {persona} redirects home"
        );
    }

    /// Stops this server and starts a new one on the same database, keeping the client (and so
    /// its cookies): what a deploy or a crash looks like from a browser.
    pub async fn restart(mut self) -> Self {
        self.shut_down().await;
        let running = start(&self.settings).await;
        self.address = running.address;
        self.pool = running.pool;
        self.clusters = running.clusters;
        self.shutdown = Some(running.shutdown);
        self.server = Some(running.server);
        self.wait_until_ready().await;
        self
    }

    /// Stops the server gracefully and waits for it to finish.
    async fn shut_down(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            shutdown.send(()).ok();
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task joins")
                .expect("server stops cleanly");
        }
    }

    /// The session cookie's value, if the client holds one.
    pub fn session_cookie(&self) -> Option<String> {
        use reqwest::cookie::CookieStore as _;
        let url = self.address.parse().expect("valid url");
        let header = self.cookies.cookies(&url)?;
        header
            .to_str()
            .ok()?
            .split("; ")
            .find_map(|pair| pair.strip_prefix("signalbox_session=").map(str::to_owned))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// Stops the server gracefully, waits for it, and closes the pool.
    pub async fn stop(mut self) {
        self.shut_down().await;
        self.pool.close().await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            shutdown.send(()).ok();
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
