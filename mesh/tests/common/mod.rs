//! Helpers shared by the integration tests: the example catalog and request builders.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use mesh::config::{EnvironmentConfig, TeamConfig};
use mesh::{Catalog, Request};

#[derive(serde::Deserialize)]
pub struct CatalogFile {
    pub environments: Vec<EnvironmentConfig>,
    pub teams: Vec<TeamConfig>,
}

pub fn catalog_file() -> CatalogFile {
    let text = include_str!("../fixtures/catalog.json");
    serde_json::from_str(text).expect("catalog fixture deserializes")
}

pub fn catalog() -> Catalog {
    let file = catalog_file();
    Catalog::from_config(file.environments, file.teams).expect("catalog fixture is valid")
}

pub fn parse_one(text: &str) -> Request {
    let mut requests = mesh::parse_documents("test.yaml", text).unwrap_or_else(|p| panic!("{p:?}"));
    assert_eq!(requests.len(), 1);
    requests.remove(0)
}

/// An ApiRoute in `env` for `team` on the environment's host.
pub fn route(env: &str, team: &str, path: &str, path_match: &str) -> Request {
    parse_one(&format!(
        "kind: ApiRoute\nenvironment: {env}\nteam: {team}\nhost: api.{env}.example.com\npath: {path}\n\
         match: {path_match}\ntarget: {{namespace: {team}, service: svc, port: 8080}}\n"
    ))
    .with_origin(format!("{team}{path}"))
}

/// A direct egress of `team`'s namespace to `host` on 443/TLS.
pub fn egress(env: &str, team: &str, host: &str) -> Request {
    parse_one(&format!(
        "kind: Egress\nenvironment: {env}\nteam: {team}\nnamespace: {team}\nhosts: [\"{host}\"]\n\
         ports: [{{number: 443, protocol: TLS}}]\n"
    ))
}

/// An Onboarding of `namespace` for `team` in `env`.
pub fn onboarding(env: &str, team: &str, namespace: &str) -> Request {
    parse_one(&format!(
        "kind: Onboarding\nenvironment: {env}\nteam: {team}\nnamespace: {namespace}\n"
    ))
    .with_origin(format!("onboarding {namespace}"))
}

/// The objects of a plan's files, kustomizations left out.
pub fn objects_of(plan: &mesh::Plan) -> Vec<serde_json::Value> {
    plan.files
        .iter()
        .filter(|f| !f.path.ends_with("kustomization.yaml"))
        .map(|f| serde_norway::from_str(&f.contents).expect("rendered YAML parses"))
        .collect()
}

/// The problems of a text that does not parse, as (field, message).
pub fn refusal(text: &str) -> Vec<(String, String)> {
    mesh::parse_documents("refused.yaml", text)
        .expect_err("refused")
        .into_iter()
        .map(|p| (p.field, p.message))
        .collect()
}

/// The message of the problem about `field`.
pub fn message<'a>(problems: &'a [(String, String)], field: &str) -> &'a str {
    problems
        .iter()
        .find(|(f, _)| f == field)
        .map(|(_, m)| m.as_str())
        .unwrap_or_else(|| panic!("no problem for {field}: {problems:?}"))
}
