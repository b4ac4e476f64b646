//! Headless Chromium for end-to-end tests, driven over WebDriver by `fantoccini` through
//! Debian's `chromium-driver`. One chromedriver (and so one fresh browser profile) per test;
//! dropping the `Browser` ends both.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

pub struct Browser {
    pub client: Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

/// Whether the page may run scripts; with JavaScript off, only server-rendered HTML and plain
/// form posts work, which is what progressive enhancement promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripts {
    Enabled,
    Disabled,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    pub async fn start(scripts: Scripts) -> Self {
        let port = free_port();
        let driver_path =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned());
        // Owned by a guard from the start, so a failed start does not leave it running.
        let driver = Driver(
            Command::new(&driver_path)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| {
                    panic!(
                        "starting {driver_path} (scripts/test.sh installs chromium-driver): {error}"
                    )
                }),
        );
        let profile = tempfile::tempdir().expect("a temporary profile folder");
        let mut prefs = serde_json::Map::new();
        if scripts == Scripts::Disabled {
            prefs.insert(
                "profile.managed_default_content_settings.javascript".into(),
                json!(2),
            );
        }
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--no-first-run", "--disable-sync", "--disable-quic",
                    format!("--user-data-dir={}", profile.path().display()),
                    "--window-size=1280,900",
                ],
                "prefs": prefs,
            }
        });
        let capabilities = capabilities.as_object().cloned().expect("an object");
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = None;
        for _ in 0..100 {
            // chromedriver speaks plain HTTP on loopback: no TLS stack needed.
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        _driver: driver,
                        _profile: profile,
                    };
                }
                Err(error) => last_error = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not accept a session: {last_error:?}");
    }

    /// Signs in through the demo sign-in page as `persona` and lands on `path`.
    pub async fn sign_in_as(&self, base_url: &str, persona: &str, path: &str) {
        let url = format!(
            "{base_url}/sign-in?return_to={}",
            app::url::encode_component(path)
        );
        self.client
            .goto(&url)
            .await
            .expect("opens the sign-in page");
        self.client
            .wait()
            .for_element(fantoccini::Locator::Id(&format!("persona-{persona}")))
            .await
            .expect("the persona is offered")
            .click()
            .await
            .expect("signs in");
        for _ in 0..100 {
            if self
                .client
                .current_url()
                .await
                .is_ok_and(|url| url.path() == path)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("signing in as {persona} did not land on {path}");
    }

    /// Waits (up to 15 s) for the element `css` selects.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("{css} never appeared: {error}"))
    }

    /// Waits for `css`, then clicks it.
    pub async fn click(&self, css: &str) {
        self.wait_for(css)
            .await
            .click()
            .await
            .unwrap_or_else(|error| panic!("clicking {css}: {error}"));
    }

    /// Waits until the element `css` selects contains `needle`, and returns its text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let mut last = String::new();
        for _ in 0..150 {
            if let Ok(element) = self.client.find(fantoccini::Locator::Css(css)).await {
                last = element.text().await.unwrap_or_default();
                if last.contains(needle) {
                    return last;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let url = self
            .client
            .current_url()
            .await
            .map(|url| url.to_string())
            .unwrap_or_default();
        panic!("{css} never contained {needle:?} (last text {last:?}, at {url})");
    }

    /// Runs axe-core (from `tests/axe`, installed by scripts/test.sh) on the current page and
    /// returns its violations, one line each: rule, impact, and the first offending element.
    pub async fn accessibility_violations(&self) -> Vec<String> {
        let axe =
            crate::test_app::workspace_root().join("tests/axe/node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&axe).unwrap_or_else(|error| {
            panic!(
                "reading {} (scripts/test.sh installs it): {error}",
                axe.display()
            )
        });
        self.client
            .execute(&source, vec![])
            .await
            .expect("axe-core loads into the page");
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                    .then(r => done(r.violations.map(v =>
                        v.id + ' (' + v.impact + '): ' + v.help + ' at ' +
                        v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', '))))
                    .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .expect("axe-core runs");
        serde_json::from_value(result).expect("a list of violations")
    }

    /// The current path.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|url| url.path().to_owned())
            .unwrap_or_default()
    }

    /// Opens `url` and waits until the page has hydrated (`[data-hydrated=true]`).
    pub async fn open_hydrated(&self, url: &str) {
        self.client.goto(url).await.expect("opens the page");
        self.wait_for("[data-hydrated=true]").await;
    }

    /// Types `text` into the field `css` after clearing it.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.expect("clears");
        field.send_keys(text).await.expect("types");
    }

    /// Chooses the option with `value` in the select `css`.
    pub async fn choose(&self, css: &str, value: &str) {
        self.wait_for(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|error| panic!("choosing {value} in {css}: {error}"));
    }

    /// Waits until `css` holds no text (a message went away).
    pub async fn wait_until_empty(&self, css: &str) {
        let mut last = String::new();
        for _ in 0..150 {
            if let Ok(element) = self.client.find(fantoccini::Locator::Css(css)).await {
                last = element.text().await.unwrap_or_default();
                if last.trim().is_empty() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} still says {last:?}");
    }

    /// Ends the WebDriver session (closing Chromium) and the driver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// The chromedriver process, ended when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
