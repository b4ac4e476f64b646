//! The `mesh` core on its own, compiled to wasm32: one exported function that runs the whole
//! pure pipeline (catalog, parsing, policy, conflicts, rendering, validation). The test script
//! builds it to prove `mesh` stays browser-ready and prints its size; the portal's own bundle
//! (the `frontend` crate) carries the same code.

use wasm_bindgen::prelude::wasm_bindgen;

/// Renders `requests` (request YAML) against the environments and teams in `catalog_json`
/// (`{"environments": [...], "teams": [...]}`): the pull request's files as multi-document
/// YAML, or one problem per line.
#[wasm_bindgen]
pub fn render(catalog_json: &str, requests: &str) -> String {
    #[derive(serde::Deserialize)]
    struct CatalogDocument {
        environments: Vec<mesh::config::EnvironmentConfig>,
        teams: Vec<mesh::config::TeamConfig>,
    }
    let problems = |problems: Vec<mesh::Problem>| {
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let document: CatalogDocument = match serde_json::from_str(catalog_json) {
        Ok(document) => document,
        Err(error) => return format!("catalog: {error}"),
    };
    let catalog = match mesh::Catalog::from_config(document.environments, document.teams) {
        Ok(catalog) => catalog,
        Err(found) => return problems(found),
    };
    let parsed = match mesh::parse_documents("request", requests) {
        Ok(parsed) => parsed,
        Err(found) => return problems(found),
    };
    match mesh::plan(&catalog, &[], &parsed) {
        Ok(plan) => plan.to_multi_document_yaml(),
        Err(found) => problems(found),
    }
}
