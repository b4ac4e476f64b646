//! Drafts of request text kept for a "check with the server" made without JavaScript: the form
//! post stores the text and the browser is redirected to a page that shows it with the result.

use sqlx::PgPool;
use uuid::Uuid;

/// Stores `body` for `owner` and returns its id; drafts older than a day go at the same time.
#[tracing::instrument(skip(pool, body), err)]
pub async fn save(pool: &PgPool, owner: &str, body: &str) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    sqlx::query!("delete from preview_drafts where created_at < now() - interval '1 day'")
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "insert into preview_drafts (id, owner, body) values ($1, $2, $3)",
        id,
        owner,
        body
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The draft's text, if it exists and belongs to `owner`.
#[tracing::instrument(skip(pool), err)]
pub async fn load(pool: &PgPool, id: Uuid, owner: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select body from preview_drafts where id = $1 and owner = $2",
        id,
        owner
    )
    .fetch_optional(pool)
    .await
}
