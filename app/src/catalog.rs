//! The configured environments and teams as the pages see them. The server sends the raw
//! configuration once, inside the server-rendered page; the browser parses it with the same
//! `mesh` code the server uses.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The environments and teams, as configured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogConfig {
    pub environments: Vec<mesh::config::EnvironmentConfig>,
    pub teams: Vec<mesh::config::TeamConfig>,
}

#[server]
pub async fn load_catalog_config() -> Result<CatalogConfig, ServerFnError> {
    // Read before the first await: a resource's later polls may run without the context.
    let backend = expect_context::<backend::Backend>();
    crate::auth::require_member().await?;
    Ok(CatalogConfig {
        environments: backend.catalog_source.environments.clone(),
        teams: backend.catalog_source.teams.clone(),
    })
}

/// The names of the configured environments and teams: what the list pages' filters offer,
/// without the whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogNames {
    pub environments: Vec<String>,
    pub teams: Vec<String>,
}

#[server]
pub async fn load_catalog_names() -> Result<CatalogNames, ServerFnError> {
    let backend = expect_context::<backend::Backend>();
    crate::auth::require_member().await?;
    let source = &backend.catalog_source;
    Ok(CatalogNames {
        environments: source.environments.iter().map(|e| e.name.clone()).collect(),
        teams: source.teams.iter().map(|t| t.name.clone()).collect(),
    })
}
