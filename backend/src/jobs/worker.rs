//! A worker: takes due jobs one at a time until none is due, then sleeps until a job is queued
//! (LISTEN) or the polling interval ends, whichever comes first. Run as many as you like, in as
//! many replicas: `for update skip locked` and the job lease keep them from sharing a job.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use super::deliver::{self, Context, JobFailure};
use super::notify::Notifier;
use super::{CHANNEL, Job, JobKind, RetryPolicy, claim, complete, reschedule, retry_later};
use crate::forge::Forges;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Names the worker in `jobs.locked_by` and the logs.
    pub name: String,
    /// How long a job is held before another worker may take it over.
    pub lease: Duration,
    /// The longest sleep without a notification before looking for due jobs anyway.
    pub poll: Duration,
    /// How often an open pull request is looked at (forges without webhooks).
    pub follow_every: Duration,
    pub retry: RetryPolicy,
    /// Links in pull requests point here (`<public_url>/requests/<id>`).
    pub public_url: String,
    /// The environments' clusters, where merged requests are followed until live.
    pub clusters: crate::cluster::Clusters,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            name: format!("worker-{}", uuid::Uuid::new_v4().simple()),
            lease: Duration::from_secs(120),
            poll: Duration::from_secs(5),
            follow_every: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            public_url: "http://127.0.0.1:3000".to_owned(),
            clusters: crate::cluster::Clusters::default(),
        }
    }
}

/// One worker.
#[derive(Debug, Clone)]
pub struct Worker {
    pool: PgPool,
    catalog: Arc<mesh::Catalog>,
    forges: Arc<Forges>,
    notifier: Arc<Notifier>,
    settings: WorkerSettings,
}

impl Worker {
    pub fn new(
        pool: PgPool,
        catalog: Arc<mesh::Catalog>,
        forges: Arc<Forges>,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            pool,
            catalog,
            forges,
            notifier: Arc::new(Notifier::default()),
            settings,
        }
    }

    /// Sends notifications through `notifier` (without one, notify jobs end unsent).
    pub fn with_notifier(mut self, notifier: Arc<Notifier>) -> Self {
        self.notifier = notifier;
        self
    }

    /// Works until `shutdown` completes (the job in hand is finished first).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut listener = None;
        loop {
            if listener.is_none() {
                listener = match PgListener::connect_with(&self.pool).await {
                    Ok(mut l) => match l.listen(CHANNEL).await {
                        Ok(()) => Some(l),
                        Err(error) => {
                            tracing::warn!(%error, "listening for new jobs; polling instead");
                            None
                        }
                    },
                    Err(error) => {
                        tracing::warn!(%error, "listening for new jobs; polling instead");
                        None
                    }
                };
            }
            loop {
                match self.run_once().await {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(error) => {
                        tracing::warn!(%error, "taking a job");
                        break;
                    }
                }
            }
            let wake = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                woke = wake => if let Err(error) = woke {
                    tracing::warn!(%error, "the job notification connection dropped; reconnecting");
                    listener = None;
                },
                () = tokio::time::sleep(self.settings.poll) => {}
            }
        }
    }

    /// Takes one due job and works it; `false` when none was due.
    pub async fn run_once(&self) -> Result<bool, sqlx::Error> {
        let Some(job) = claim(&self.pool, &self.settings.name, self.settings.lease).await? else {
            return Ok(false);
        };
        let span = tracing::info_span!(
            "job",
            id = job.id,
            kind = job.kind.as_str(),
            request = %job.request_id,
            worker = %self.settings.name
        );
        let _entered = span.enter();
        let cx = Context {
            pool: &self.pool,
            catalog: &self.catalog,
            forges: &self.forges,
            public_url: &self.settings.public_url,
            follow_every: self.settings.follow_every,
            clusters: &self.settings.clusters,
        };
        let outcome = match job.kind {
            JobKind::Deliver => deliver::deliver(&cx, &job).await.map(|()| None),
            JobKind::Follow => deliver::follow(&cx, &job).await,
            JobKind::Notify => self.notify(&job).await.map(|()| None),
            JobKind::Observe => super::observe::observe(&cx, &job).await,
        };
        match outcome {
            Ok(None) => {}
            Ok(Some(again)) => reschedule(&self.pool, &job, again).await?,
            Err(failure) => self.failed(&job, failure).await?,
        }
        Ok(true)
    }

    async fn notify(&self, job: &Job) -> Result<(), JobFailure> {
        if let Some(payload) = &job.payload
            && self.notifier.is_configured()
        {
            self.notifier.send(payload).await?;
        }
        let mut tx = self.pool.begin().await?;
        complete(&mut tx, job).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn failed(&self, job: &Job, failure: JobFailure) -> Result<(), sqlx::Error> {
        let failures = u32::try_from(job.attempts).unwrap_or(0) + 1;
        let reason = failure.to_string();
        if failure.retryable() && !self.settings.retry.gives_up(failures) {
            let delay = self.settings.retry.delay(failures, failure.retry_after());
            tracing::warn!(%reason, failures, ?delay, "job failed; retrying later");
            return retry_later(&self.pool, job, &reason, delay).await;
        }
        tracing::error!(%reason, failures, "job failed for good");
        let reason = if failure.retryable() {
            format!("{reason} (gave up after {failures} attempts)")
        } else {
            reason
        };
        match job.kind {
            JobKind::Deliver => deliver::give_up(&self.pool, job, &reason).await,
            // A notification that keeps failing is dropped; the request is not affected.
            JobKind::Notify => super::drop_failed(&self.pool, job, &reason).await,
            // Following is only looking: keep looking, less often.
            JobKind::Follow | JobKind::Observe => {
                retry_later(&self.pool, job, &reason, self.settings.retry.cap).await
            }
        }
    }
}
