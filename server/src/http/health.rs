//! Probes for the orchestrator: `/healthz` says the process is alive, `/readyz` says it can do
//! its job (database reachable, schema current).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "alive" }))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match backend::db::readiness(&state.backend.pool).await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(reason) => {
            // The full reason (with the driver's error) goes to the log; the probe says only
            // which condition failed.
            tracing::warn!(%reason, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not ready", "reason": reason.summary() })),
            )
        }
    }
}
