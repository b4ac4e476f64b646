//! Test support: `TestApp` starts the real server in-process on port 0 against a fresh database,
//! and `browser` drives headless Chromium through chromedriver.

pub mod browser;
pub mod database;
pub mod fake_forge;
pub mod fake_kube;
pub mod fake_oidc;
pub mod forge_fixtures;
pub mod oidc_provider;
pub mod portal;
pub mod smtp_sink;
pub mod test_app;

pub use test_app::TestApp;
