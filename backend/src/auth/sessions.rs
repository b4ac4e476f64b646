//! Where sign-in sessions live: Postgres, keyed by a SHA-256 hash of the id the cookie carries,
//! so a copy of the table (a backup, a replica, a curious administrator) holds nothing a browser
//! could present. The session data is jsonb, and the subject it belongs to is a column, so a
//! user can see their sessions and end the others.
//!
//! tower-sessions owns the cookie, rotation and expiry; this is its store, the extension point
//! the crate documents for exactly this.
//!
//! Every page reads the session; a session read from the table is trusted for a few seconds
//! (`auth.session_recheck_seconds`, [`DEFAULT_TRUST`]) before it is read again, so a page runs
//! only its own statements. A session ended through this process (sign-out, ending the others)
//! stops working at once; one ended through another replica stops within that time.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

use crate::recent::Recent;

/// The session store: one row per session, in the `sessions` table.
#[derive(Clone, Debug)]
pub struct HashedPostgresStore {
    pool: PgPool,
    /// How long a session read or written here is used without reading it again.
    trust: Duration,
}

/// How long a session read from the table is used before it is read again, by default.
pub const DEFAULT_TRUST: Duration = Duration::from_secs(5);
/// Beyond this many sessions, those no longer trusted are dropped from memory.
const KEPT: usize = 10_000;

/// Bumped whenever sessions end: a read that started before is not remembered.
static ENDINGS: AtomicU64 = AtomicU64::new(0);

fn sessions_ended() {
    ENDINGS.fetch_add(1, Ordering::Release);
}

/// Sessions read or written lately, by id hash.
static RECENT: LazyLock<Recent<Vec<u8>, Record>> = LazyLock::new(|| Recent::new(KEPT));

/// Remembers `record` as the table holds it now, for `trust`.
fn remember(trust: Duration, hash: Vec<u8>, record: &Record) {
    if !trust.is_zero() {
        RECENT.put(hash, record.clone(), trust);
    }
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
        Self {
            pool,
            trust: DEFAULT_TRUST,
        }
    }

    /// Uses a session read from the table for `trust` before reading it again (zero: every
    /// request reads it).
    pub fn trusting_for(mut self, trust: Duration) -> Self {
        self.trust = trust;
        self
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
                remember(self.trust, id_hash(&record.id), record);
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    /// Updates a session that still exists. tower-sessions creates new and rotated ids with
    /// [`SessionStore::create`], so a save that finds no row is of a session ended meanwhile
    /// (signed out, here or on another replica): it stays ended, never written back.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let hash = id_hash(&record.id);
        let updated = sqlx::query!(
            "update sessions set data = $2, expiry_date = $3 \
             where id_hash = $1 and expiry_date > now()",
            hash,
            Self::data(record)?,
            record.expiry_date,
        )
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if updated.rows_affected() == 1 {
            remember(self.trust, hash, record);
        } else {
            RECENT.remove(&hash);
        }
        Ok(())
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let hash = id_hash(session_id);
        let endings = ENDINGS.load(Ordering::Acquire);
        let unexpired = |record: &Record| record.expiry_date > OffsetDateTime::now_utc();
        if let Some(record) = RECENT.get(&hash, self.trust, unexpired) {
            return Ok(Some(record));
        }
        let row = sqlx::query!(
            "select data, expiry_date from sessions where id_hash = $1 and expiry_date > now()",
            hash,
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            RECENT.remove(&hash);
            return Ok(None);
        };
        let record = Record {
            id: *session_id,
            data: serde_json::from_value(row.data)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
            expiry_date: row.expiry_date,
        };
        // A session ended while this read ran is not remembered: the read may predate the end.
        if ENDINGS.load(Ordering::Acquire) == endings {
            remember(self.trust, hash, &record);
        }
        Ok(Some(record))
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        let hash = id_hash(session_id);
        RECENT.remove(&hash);
        sqlx::query!("delete from sessions where id_hash = $1", hash)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        sessions_ended();
        // Again: a read that raced the delete may have remembered it meanwhile.
        RECENT.remove(&hash);
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
    // Their hashes are not known here: every remembered session is read again.
    sessions_ended();
    RECENT.clear();
    Ok(ended.rows_affected())
}
