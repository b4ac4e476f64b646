//! Stored requests as the conflict check sees them: what is already granted in an environment,
//! and what is pending and so holds a tentative claim.

use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// One stored request that holds a claim: its id (to name it in a conflict) and its payload in
/// the public request format.
#[derive(Debug, Clone)]
pub struct StoredClaim {
    pub id: Uuid,
    pub payload: Value,
}

/// Requests of one environment that new requests must not conflict with, in the order they
/// were made (older claims win).
#[derive(Debug, Default)]
pub struct ExistingClaims {
    /// Approved and everything after it on the way to live.
    pub granted: Vec<StoredClaim>,
    /// Submitted and waiting for review.
    pub pending: Vec<StoredClaim>,
}

/// Loads the payloads that hold a claim in `environment`.
#[tracing::instrument(skip(pool), err)]
pub async fn existing_claims(
    pool: &PgPool,
    environment: &str,
) -> Result<ExistingClaims, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select id, state, payload
        from requests
        where environment = $1
          and state in ('submitted', 'approved', 'delivering', 'pr_open', 'pr_closed',
                        'delivery_failed', 'merged', 'live')
        order by created_at, id
        "#,
        environment
    )
    .fetch_all(pool)
    .await?;
    let mut claims = ExistingClaims::default();
    for row in rows {
        let claim = StoredClaim {
            id: row.id,
            payload: row.payload,
        };
        if row.state == "submitted" {
            claims.pending.push(claim);
        } else {
            claims.granted.push(claim);
        }
    }
    Ok(claims)
}
