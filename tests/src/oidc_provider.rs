//! A real OpenID Connect provider for end-to-end sign-in: panva/oidc-provider run by Node.js from
//! `tests/oidc-provider` (scripts/test.sh installs it from the npm registry).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::test_app::workspace_root;

pub struct OidcProvider {
    pub issuer: String,
    process: Child,
}

pub const CLIENT_ID: &str = "signalbox";
pub const CLIENT_SECRET: &str = "signalbox-test-secret";

impl OidcProvider {
    /// Starts the provider with Signalbox at `app_url` registered as its one client.
    pub async fn start(app_url: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free port");
        let dir = workspace_root().join("tests/oidc-provider");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "oidc-provider is not installed: run scripts/test.sh (it runs npm ci in tests/oidc-provider)"
        );
        let process = Command::new("node")
            .arg("server.mjs")
            .current_dir(&dir)
            .env("PORT", port.to_string())
            .env("REDIRECT_URI", format!("{app_url}/auth/callback"))
            .env(
                "POST_LOGOUT_REDIRECT_URI",
                format!("{app_url}/sign-in?signed_out=1"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts the OpenID provider");
        let issuer = format!("http://127.0.0.1:{port}");
        let provider = Self { issuer, process };
        let discovery = format!("{}/.well-known/openid-configuration", provider.issuer);
        for _ in 0..100 {
            if reqwest::get(&discovery)
                .await
                .is_ok_and(|response| response.status().is_success())
            {
                return provider;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the OpenID provider did not start at {}", provider.issuer);
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
