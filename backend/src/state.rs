//! The state every request handler and server function shares. Cloning is cheap: everything in
//! it is reference-counted.

use std::sync::Arc;

use mesh::config::{EnvironmentConfig, TeamConfig};
use sqlx::PgPool;

/// Handles to the outside world, passed in through context, never global.
#[derive(Clone, Debug)]
pub struct Backend {
    pub pool: PgPool,
    /// The parsed environment and team model every check runs against.
    pub catalog: Arc<mesh::Catalog>,
    /// The same environments and teams as configured; the browser builds its own catalog from
    /// them for the live preview.
    pub catalog_source: Arc<CatalogSource>,
    /// Each environment's cluster, read-only: what it runs feeds the checks.
    pub clusters: crate::cluster::Clusters,
    /// For the environments' tools (Prometheus).
    pub http: reqwest::Client,
}

impl Backend {
    /// What the clusters run now, for the checks of a request being submitted or approved.
    pub fn observations(&self) -> mesh::observed::Observations {
        self.clusters.observations(&self.catalog)
    }
}

#[derive(Clone, Debug)]
pub struct CatalogSource {
    pub environments: Vec<EnvironmentConfig>,
    pub teams: Vec<TeamConfig>,
}
