//! The one integration test binary: black-box tests against the real server, a fresh database
//! each, and browser tests in headless Chromium.

mod audit;
mod cluster;
mod cluster_browser;
mod delivery;
mod demo;
mod forge_gitea;
mod forge_github;
mod forge_gitlab;
mod hardening;
mod health;
mod hydration;
mod migrate;
mod pages;
mod render_cli;
mod requests;
mod requests_browser;
mod requests_concurrency;
mod sign_in;
mod sign_in_browser;
