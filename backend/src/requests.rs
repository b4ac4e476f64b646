//! Stored requests as the conflict check sees them: what is already granted in an environment,
//! and what is pending and so holds a tentative claim.

use serde_json::Value;
use sqlx::PgPool;

/// Requests of one environment that new requests must not conflict with, in the order they
/// were made (older claims win).
#[derive(Debug, Default)]
pub struct ExistingClaims {
    /// Approved and everything after it on the way to live.
    pub granted: Vec<Value>,
    /// Submitted and waiting for review.
    pub pending: Vec<Value>,
}

/// Loads the payloads that hold a claim in `environment`.
#[tracing::instrument(skip(pool), err)]
pub async fn existing_claims(
    pool: &PgPool,
    environment: &str,
) -> Result<ExistingClaims, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select state, payload
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
        if row.state == "submitted" {
            claims.pending.push(row.payload);
        } else {
            claims.granted.push(row.payload);
        }
    }
    Ok(claims)
}
