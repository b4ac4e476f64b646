//! The job queue, in Postgres: delivery (`deliver`: make or refresh a request's pull request) and
//! following (`follow`: ask the forge whether it was merged or closed).
//!
//! A job is inserted in the same transaction as the step that needs it, so an approval never
//! commits without its delivery job. Workers (any number, in any replica) take one due job at a
//! time with `for update skip locked` and a lease: a worker that dies, or loses its connection,
//! only delays the job until the lease ends, when another worker takes it. Failures are retried
//! with exponential backoff and full jitter (or the forge's `Retry-After`); after the last
//! attempt the request is marked `delivery_failed` with the reason. A trigger notifies
//! `signalbox_jobs` on every insert, which wakes sleeping workers; polling is only the fallback.

mod deliver;
pub mod notify;
pub mod observe;
mod worker;

use std::time::Duration;

use rand::Rng;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub use deliver::{delivered_requests, pull_request_settled, retry_delivery};
pub use worker::{Worker, WorkerSettings};

/// The channel workers listen on.
pub const CHANNEL: &str = "signalbox_jobs";

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Commit the request's files on its branch and open (or refresh) its pull request.
    Deliver,
    /// Ask the forge whether the pull request was merged or closed.
    Follow,
    /// Send one timeline event to the configured notification webhooks.
    Notify,
    /// After the merge: follow the environment's Argo CD Application and the generated objects in
    /// the cluster until they are live, then keep looking for drift.
    Observe,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deliver => "deliver",
            Self::Follow => "follow",
            Self::Notify => "notify",
            Self::Observe => "observe",
        }
    }

    fn parse(kind: &str) -> Option<Self> {
        match kind {
            "deliver" => Some(Self::Deliver),
            "follow" => Some(Self::Follow),
            "notify" => Some(Self::Notify),
            "observe" => Some(Self::Observe),
            _ => None,
        }
    }
}

/// A job a worker holds.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub kind: JobKind,
    pub request_id: Uuid,
    /// Failed attempts before this one.
    pub attempts: i32,
    /// What a notify job sends.
    pub payload: Option<serde_json::Value>,
}

/// Queues a job inside the caller's transaction, due after `delay`. If the request already has
/// an open job of that kind, it is made due no later than this one would be.
pub async fn enqueue(
    tx: &mut PgConnection,
    kind: JobKind,
    request: Uuid,
    delay: Duration,
) -> Result<(), sqlx::Error> {
    let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    sqlx::query!(
        r#"
        insert into jobs (kind, request_id, run_after)
        values ($1, $2, now() + make_interval(secs => $3::bigint / 1000.0))
        on conflict (request_id, kind) where done_at is null and kind <> 'notify'
        do update set run_after = least(jobs.run_after, excluded.run_after)
        "#,
        kind.as_str(),
        request,
        delay_ms
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Takes the oldest due job nobody holds, for `lease`.
pub async fn claim(
    pool: &PgPool,
    worker: &str,
    lease: Duration,
) -> Result<Option<Job>, sqlx::Error> {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let row = sqlx::query!(
        r#"
        update jobs set locked_by = $1,
                        locked_until = now() + make_interval(secs => $2::bigint / 1000.0)
        where id = (
            select id from jobs
            where done_at is null and run_after <= now()
              and (locked_until is null or locked_until < now())
            order by run_after, id
            for update skip locked
            limit 1
        )
        returning id, kind, request_id, attempts, payload
        "#,
        worker,
        lease_ms
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|r| {
        Some(Job {
            id: r.id,
            kind: JobKind::parse(&r.kind)?,
            request_id: r.request_id,
            attempts: r.attempts,
            payload: r.payload,
        })
    }))
}

/// Marks the job done, inside the transaction that records its outcome.
pub async fn complete(tx: &mut PgConnection, job: &Job) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update jobs set done_at = now(), locked_by = null, locked_until = null where id = $1",
        job.id
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Runs the job again after `delay` (a follow job that found the pull request still open):
/// not a failure, so the failure count starts over.
pub async fn reschedule(pool: &PgPool, job: &Job, delay: Duration) -> Result<(), sqlx::Error> {
    let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    sqlx::query!(
        r#"
        update jobs set attempts = 0, last_error = null, locked_by = null, locked_until = null,
                        run_after = now() + make_interval(secs => $2::bigint / 1000.0)
        where id = $1
        "#,
        job.id,
        delay_ms
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a failed attempt and when to try again.
pub async fn retry_later(
    pool: &PgPool,
    job: &Job,
    error: &str,
    delay: Duration,
) -> Result<(), sqlx::Error> {
    let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    sqlx::query!(
        r#"
        update jobs set attempts = attempts + 1, last_error = $2, locked_by = null,
                        locked_until = null,
                        run_after = now() + make_interval(secs => $3::bigint / 1000.0)
        where id = $1
        "#,
        job.id,
        error,
        delay_ms
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Ends a job that failed for good without touching its request (notifications).
pub async fn drop_failed(pool: &PgPool, job: &Job, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        update jobs set done_at = now(), attempts = attempts + 1, last_error = $2,
                        locked_by = null, locked_until = null
        where id = $1
        "#,
        job.id,
        error
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// How failed attempts are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first retry waits up to this long; each further one up to twice as long.
    pub base: Duration,
    /// No retry waits longer (a `Retry-After` too).
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base: Duration::from_secs(2),
            cap: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Whether a job that failed `failures` times (this one included) gets another attempt.
    pub fn gives_up(&self, failures: u32) -> bool {
        failures >= self.max_attempts
    }

    /// The wait before the next attempt after `failures` failures: "full jitter", a uniform draw
    /// from zero to the exponential bound, so retries of many jobs spread out; a forge's
    /// `Retry-After` is honoured as the least wait.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = failures.saturating_sub(1).min(20);
        let bound = self.base.saturating_mul(1 << exponent).min(self.cap);
        let drawn = rand::rng().random_range(0.0..=1.0) * bound.as_secs_f64();
        let jittered = Duration::from_secs_f64(drawn);
        match retry_after {
            Some(wait) => wait.min(self.cap).max(jittered),
            None => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(10),
        };
        for _ in 0..100 {
            assert!(policy.delay(1, None) <= Duration::from_secs(1));
            assert!(policy.delay(3, None) <= Duration::from_secs(4));
            assert!(policy.delay(30, None) <= Duration::from_secs(10));
        }
        let spread: std::collections::BTreeSet<u128> =
            (0..50).map(|_| policy.delay(4, None).as_millis()).collect();
        assert!(spread.len() > 10, "jitter spreads retries: {spread:?}");
    }

    #[test]
    fn retry_after_is_the_least_wait_but_never_beyond_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(10),
            cap: Duration::from_secs(60),
        };
        assert!(policy.delay(1, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(60)
        );
        assert!(!policy.gives_up(4));
        assert!(policy.gives_up(5));
    }
}
