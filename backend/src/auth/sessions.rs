//! Where sign-in sessions live: Postgres, keyed by a SHA-256 hash of the id the cookie carries,
//! so a copy of the table (a backup, a replica, a curious administrator) holds nothing a browser
//! could present. The session data is jsonb, and the subject it belongs to is a column, so a
//! user can see their sessions and end the others.
//!
//! tower-sessions owns the cookie, rotation and expiry; this is its store, the extension point
//! the crate documents for exactly this.

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

/// The session store: one row per session, in the `sessions` table.
#[derive(Clone, Debug)]
pub struct HashedPostgresStore {
    pool: PgPool,
}

/// The hash a session id is stored under.
pub fn id_hash(id: &Id) -> Vec<u8> {
    Sha256::digest(id.to_string().as_bytes()).to_vec()
}

fn backend(error: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(error.to_string())
}

impl HashedPostgresStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    fn data(record: &Record) -> session_store::Result<serde_json::Value> {
        serde_json::to_value(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))
    }
}

#[async_trait]
impl SessionStore for HashedPostgresStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = Self::data(record)?;
        // A fresh random 128-bit id practically never collides; when it does, draw another
        // rather than overwrite someone else's session.
        loop {
            let inserted = sqlx::query!(
                "insert into sessions (id_hash, data, expiry_date) values ($1, $2, $3) \
                 on conflict (id_hash) do nothing",
                id_hash(&record.id),
                data,
                record.expiry_date,
            )
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            if inserted.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        sqlx::query!(
            "insert into sessions (id_hash, data, expiry_date) values ($1, $2, $3) \
             on conflict (id_hash) do update set data = excluded.data, expiry_date = excluded.expiry_date",
            id_hash(&record.id),
            Self::data(record)?,
            record.expiry_date,
        )
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let row = sqlx::query!(
            "select data, expiry_date from sessions where id_hash = $1 and expiry_date > now()",
            id_hash(session_id),
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|row| {
            Ok(Record {
                id: *session_id,
                data: serde_json::from_value(row.data)
                    .map_err(|e| session_store::Error::Decode(e.to_string()))?,
                expiry_date: row.expiry_date,
            })
        })
        .transpose()
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        sqlx::query!(
            "delete from sessions where id_hash = $1",
            id_hash(session_id)
        )
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for HashedPostgresStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        sqlx::query!("delete from sessions where expiry_date < now()")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// One of a user's sessions, as the account page lists them.
#[derive(Clone, Debug)]
pub struct SessionSummary {
    /// The session this page was asked from.
    pub current: bool,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// The live sessions of `subject` signed in through `issuer` (none: the demo), newest first.
pub async fn sessions_of(
    pool: &PgPool,
    subject: &str,
    issuer: Option<&str>,
    current: Option<&Id>,
) -> sqlx::Result<Vec<SessionSummary>> {
    let current = current.map(id_hash);
    let rows = sqlx::query!(
        "select id_hash, created_at, expiry_date from sessions \
         where subject = $1 and issuer is not distinct from $2 and expiry_date > now() \
         order by created_at desc",
        subject,
        issuer,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| SessionSummary {
            current: current.as_deref() == Some(row.id_hash.as_slice()),
            created_at: row.created_at,
            expires_at: row.expiry_date,
        })
        .collect())
}

/// Ends every session of `subject` (through `issuer`) but `keep`; returns how many ended.
pub async fn end_other_sessions(
    pool: &PgPool,
    subject: &str,
    issuer: Option<&str>,
    keep: &Id,
) -> sqlx::Result<u64> {
    let ended = sqlx::query!(
        "delete from sessions where subject = $1 and issuer is not distinct from $2 and id_hash <> $3",
        subject,
        issuer,
        id_hash(keep),
    )
    .execute(pool)
    .await?;
    Ok(ended.rows_affected())
}
