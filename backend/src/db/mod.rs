//! The Postgres connection pool, embedded migrations and the readiness probe.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

/// Migrations compiled into the binary, so a deployment never depends on files next to it.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A connection idle longer than this is checked (a round trip) before it is used again: after
/// a database restart or a dropped idle connection the request gets a working one. A connection
/// in steady use is not checked: one round trip less for every statement a page runs.
const CHECK_IF_IDLE_FOR: Duration = Duration::from_secs(10);

/// The pool settings Signalbox uses: at most `max_connections`, waiting at most five seconds
/// for one, and checking only connections that sat idle.
pub fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_IF_IDLE_FOR {
                    sqlx::Connection::ping(connection).await?;
                }
                Ok(true)
            })
        })
}

/// Opens a pool lazily: the server starts (and answers `/healthz`) even while the database is
/// still coming up, and `/readyz` says when it is reachable.
pub fn connect_lazy(options: PgConnectOptions, max_connections: u32) -> PgPool {
    pool_options(max_connections)
        .connect_lazy_with(options.log_statements(tracing::log::LevelFilter::Debug))
}

/// Applies every embedded migration that the database has not seen yet.
#[tracing::instrument(skip_all, err)]
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await?;
    // Timelines written before the audit history existed join it once, in order.
    crate::audit::backfill(pool)
        .await
        .map_err(sqlx::migrate::MigrateError::Execute)?;
    Ok(())
}

/// Why the service is not ready to take traffic.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("the database cannot be reached: {0}")]
    Unreachable(#[source] sqlx::Error),
    #[error("the database schema is at version {applied:?}, this build needs {expected}")]
    MigrationsPending { applied: Option<i64>, expected: i64 },
}

impl NotReady {
    /// The reason without driver details, for an unauthenticated probe.
    pub fn summary(&self) -> String {
        match self {
            Self::Unreachable(_) => "the database cannot be reached".to_owned(),
            Self::MigrationsPending { .. } => self.to_string(),
        }
    }
}

/// Ready means: the database answers and every migration this build carries has been applied.
pub async fn readiness(pool: &PgPool) -> Result<(), NotReady> {
    let expected = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied = sqlx::query_scalar!(
        r#"select max(version) as "version" from _sqlx_migrations where success"#
    )
    .fetch_one(pool)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => {
            NotReady::MigrationsPending {
                applied: None,
                expected,
            }
        }
        _ => NotReady::Unreachable(error),
    })?;
    if applied.unwrap_or(0) < expected {
        return Err(NotReady::MigrationsPending { applied, expected });
    }
    Ok(())
}

/// Creates `database` on the server behind `admin` unless it exists; used by the demo so a fresh
/// machine needs no manual `createdb`.
#[tracing::instrument(skip(admin), err)]
pub async fn ensure_database(admin: &PgConnectOptions, database: &str) -> Result<(), sqlx::Error> {
    let mut conn = admin.clone().database("postgres").connect().await?;
    let exists: bool = sqlx::query_scalar!(
        r#"select exists(select 1 from pg_database where datname = $1) as "exists!""#,
        database
    )
    .fetch_one(&mut conn)
    .await?;
    if !exists {
        // Identifiers cannot be bound as parameters; quote it the way Postgres does.
        let quoted = format!("\"{}\"", database.replace('"', "\"\""));
        sqlx::raw_sql(&format!("create database {quoted}"))
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}
