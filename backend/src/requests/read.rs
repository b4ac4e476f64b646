//! What the pages read: a user's and their teams' requests, the approver queue, and one request
//! with its approvals and timeline. Lists page by keyset (the last row's id), never by offset.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Actor, Approval, Event, RequestRecord, WorkflowError};
use crate::auth::Roles;
use crate::recent::Recent;

/// One row of a list.
#[derive(Debug, Clone)]
pub struct ListedRequest {
    pub id: Uuid,
    pub kind: String,
    pub environment: String,
    pub team: String,
    pub requester_name: String,
    pub summary: String,
    pub state: String,
    pub operation: String,
    pub approvals: i64,
    pub created_at: OffsetDateTime,
}

/// Filters of "my requests".
#[derive(Debug, Clone, Default)]
pub struct MineFilter {
    pub state: Option<String>,
    pub environment: Option<String>,
    /// Rows older than this request.
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// The actor's own requests and their teams', newest first.
#[tracing::instrument(skip(pool, actor), fields(actor = actor.subject), err)]
pub async fn requests_of(
    pool: &PgPool,
    actor: Actor<'_>,
    filter: &MineFilter,
) -> Result<Vec<ListedRequest>, sqlx::Error> {
    let teams: Vec<String> = actor.roles.requester_for.iter().cloned().collect();
    // Ordered index scans (by requester, and one per team), each cut at the page size, merged: an
    // OR over both columns, or `team = any(...)`, would sort every row of the teams first.
    let rows = sqlx::query_as!(
        ListedRequest,
        r#"
        with cursor as (select c.created_at, c.id from requests c where c.id = $5),
        mine as (
            (select r.id, r.created_at from requests r
             where r.requester = $1
               and ($3::text is null or r.state = $3)
               and ($4::text is null or r.environment = $4)
               and ($5::uuid is null or (r.created_at, r.id) < (select * from cursor))
             order by r.requester, r.created_at desc, r.id desc
             limit $6)
            union
            (select t.id, t.created_at
             from unnest($2::text[]) as teams(team)
             cross join lateral (
                 select r.id, r.created_at from requests r
                 where r.team = teams.team
                   and ($3::text is null or r.state = $3)
                   and ($4::text is null or r.environment = $4)
                   and ($5::uuid is null or (r.created_at, r.id) < (select * from cursor))
                 order by r.created_at desc, r.id desc
                 limit $6) t)
        )
        select r.id, r.kind, r.environment, r.team, r.requester_name, r.summary, r.state,
               r.operation, r.created_at,
               (select count(*) from request_approvals a where a.request_id = r.id) as "approvals!"
        from mine m join requests r on r.id = m.id
        order by m.created_at desc, m.id desc
        limit $6
        "#,
        actor.subject,
        &teams,
        filter.state,
        filter.environment,
        filter.before,
        filter.limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Filters of the approver queue.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub environment: Option<String>,
    pub team: Option<String>,
    pub kind: Option<String>,
    /// Rows newer than this request (the queue runs oldest first).
    pub after: Option<Uuid>,
    pub limit: i64,
}

/// Requests waiting for a decision the actor may make: in their scope, not their own, not
/// already approved by them; oldest first.
#[tracing::instrument(skip(pool, actor), fields(actor = actor.subject), err)]
pub async fn queue(
    pool: &PgPool,
    actor: Actor<'_>,
    filter: &QueueFilter,
) -> Result<Vec<ListedRequest>, sqlx::Error> {
    let environments: Vec<String> = actor
        .roles
        .approver_for_environments
        .iter()
        .cloned()
        .collect();
    let teams: Vec<String> = actor.roles.approver_for_teams.iter().cloned().collect();
    let rows = sqlx::query_as!(
        ListedRequest,
        r#"
        select r.id, r.kind, r.environment, r.team, r.requester_name, r.summary, r.state,
               r.operation, r.created_at,
               (select count(*) from request_approvals a where a.request_id = r.id) as "approvals!"
        from requests r
        where r.state = 'submitted'
          and r.requester <> $1
          and ($2 or r.environment = any($3) or r.team = any($4))
          and not exists (select 1 from request_approvals a
                          where a.request_id = r.id and a.approver = $1)
          and ($5::text is null or r.environment = $5)
          and ($6::text is null or r.team = $6)
          and ($7::text is null or r.kind = $7)
          and ($8::uuid is null
               or (r.created_at, r.id) > (select c.created_at, c.id from requests c where c.id = $8))
        order by r.created_at, r.id
        limit $9
        "#,
        actor.subject,
        actor.roles.platform_admin,
        &environments,
        &teams,
        filter.environment,
        filter.team,
        filter.kind,
        filter.after,
        filter.limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// How long a navigation count is shown before it is counted again, when nothing changed in
/// this process: steps taken through another replica show within this time.
const WAITING_FRESH: Duration = Duration::from_secs(5);
/// Beyond this many approvers, counts that are no longer fresh are dropped.
const WAITING_KEPT: usize = 10_000;

/// Bumped by every step that changes what waits for review (submit, decide, withdraw): a count
/// taken before it is counted again.
static QUEUE_CHANGES: AtomicU64 = AtomicU64::new(0);

/// The navigation count of each approver, by database and subject (one process may serve
/// several databases: the integration tests run a server per database).
static WAITING: LazyLock<Recent<String, Waiting>> = LazyLock::new(|| Recent::new(WAITING_KEPT));

/// A count, and what it was counted for.
#[derive(Clone)]
struct Waiting {
    roles: Roles,
    cap: i64,
    changes: u64,
    count: i64,
}

/// Tells the navigation counts that what waits for review changed.
pub(crate) fn queue_changed() {
    QUEUE_CHANGES.fetch_add(1, Ordering::Release);
}

/// [`queue_count`] as every page's navigation shows it: counted again when a step changed the
/// queue in this process, or after [`WAITING_FRESH`]; in between, the last count of the same
/// user with the same roles.
pub async fn waiting_count(pool: &PgPool, actor: Actor<'_>, cap: i64) -> Result<i64, sqlx::Error> {
    let changes = QUEUE_CHANGES.load(Ordering::Acquire);
    let options = pool.connect_options();
    let key = format!(
        "{}:{}/{} {}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default(),
        actor.subject
    );
    let same = |entry: &Waiting| {
        entry.changes == changes && entry.cap == cap && entry.roles == *actor.roles
    };
    if let Some(entry) = WAITING.get(&key, WAITING_FRESH, same) {
        return Ok(entry.count);
    }
    let count = queue_count(pool, actor, cap).await?;
    let entry = Waiting {
        roles: actor.roles.clone(),
        cap,
        changes,
        count,
    };
    WAITING.put(key, entry, WAITING_FRESH);
    Ok(count)
}

/// How many requests wait for the actor (the count in the navigation), up to `cap`.
#[tracing::instrument(skip(pool, actor), fields(actor = actor.subject), err)]
pub async fn queue_count(pool: &PgPool, actor: Actor<'_>, cap: i64) -> Result<i64, sqlx::Error> {
    if !actor.roles.platform_admin
        && actor.roles.approver_for_environments.is_empty()
        && actor.roles.approver_for_teams.is_empty()
    {
        return Ok(0);
    }
    let environments: Vec<String> = actor
        .roles
        .approver_for_environments
        .iter()
        .cloned()
        .collect();
    let teams: Vec<String> = actor.roles.approver_for_teams.iter().cloned().collect();
    sqlx::query_scalar!(
        r#"
        select count(*) as "count!" from (
            select 1 from requests r
            where r.state = 'submitted'
              and r.requester <> $1
              and ($2 or r.environment = any($3) or r.team = any($4))
              and not exists (select 1 from request_approvals a
                              where a.request_id = r.id and a.approver = $1)
            limit $5
        ) waiting
        "#,
        actor.subject,
        actor.roles.platform_admin,
        &environments,
        &teams,
        cap
    )
    .fetch_one(pool)
    .await
}

/// One request with everything its page shows.
#[derive(Debug, Clone)]
pub struct RequestDetail {
    pub record: RequestRecord,
    pub approvals: Vec<Approval>,
    pub events: Vec<Event>,
    /// A change or removal of this grant waiting for review, if any.
    pub pending_day2: Option<Uuid>,
    /// The approved change that replaced this grant, if any.
    pub replaced_by: Option<Uuid>,
    /// Its pull request (or local branch), once delivery made one.
    pub delivery: Option<Delivery>,
    /// The last failed delivery attempt while retries go on, or the reason it failed for good.
    pub delivery_problem: Option<DeliveryProblem>,
}

/// A request's pull request as recorded.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub forge: String,
    pub repository: String,
    pub base_branch: String,
    pub branch: String,
    pub number: Option<i64>,
    pub url: Option<String>,
    pub head_sha: String,
    pub files: Vec<crate::forge::ChangedFile>,
    pub merged_sha: Option<String>,
    pub opened_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Why delivery has not succeeded yet.
#[derive(Debug, Clone)]
pub struct DeliveryProblem {
    pub reason: String,
    pub attempts: i32,
    /// When the next attempt runs; none once delivery gave up.
    pub next_attempt: Option<OffsetDateTime>,
}

/// Loads a request the actor may see.
#[tracing::instrument(skip(pool, actor), fields(actor = actor.subject), err)]
pub async fn load_detail(
    pool: &PgPool,
    actor: Actor<'_>,
    id: Uuid,
) -> Result<RequestDetail, WorkflowError> {
    let row = sqlx::query!(
        r#"
        select id, kind, environment, team, requester, requester_name, justification, payload,
               state, version, operation, supersedes, summary, created_at, updated_at
        from requests where id = $1
        "#,
        id
    )
    .fetch_optional(pool)
    .await?
    .ok_or(WorkflowError::NotFound)?;
    let record = RequestRecord {
        id: row.id,
        kind: row.kind,
        environment: row.environment,
        team: row.team,
        requester: row.requester,
        requester_name: row.requester_name,
        justification: row.justification,
        payload: row.payload,
        state: row.state,
        version: row.version,
        operation: row.operation,
        supersedes: row.supersedes,
        summary: row.summary,
        created_at: row.created_at,
        updated_at: row.updated_at,
    };
    if !actor.may_view(&record) {
        return Err(WorkflowError::NotFound);
    }
    let approvals = sqlx::query!(
        r#"
        select approver, approver_name, reason, decided_at
        from request_approvals where request_id = $1 order by decided_at
        "#,
        id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| Approval {
        approver: r.approver,
        approver_name: r.approver_name,
        reason: r.reason,
        decided_at: r.decided_at,
    })
    .collect();
    let events = sqlx::query!(
        r#"
        select id, at, actor, actor_name, action, from_state, to_state, body, checked
        from request_events where request_id = $1 order by id
        "#,
        id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| Event {
        id: r.id,
        at: r.at,
        actor: r.actor,
        actor_name: r.actor_name,
        action: r.action,
        from_state: r.from_state,
        to_state: r.to_state,
        body: r.body,
        // A check this version cannot read is left out rather than failing the page.
        checked: r
            .checked
            .and_then(|value| serde_json::from_value(value).ok()),
    })
    .collect();
    let pending_day2 = sqlx::query_scalar!(
        "select id from requests where supersedes = $1 and state = 'submitted'",
        id
    )
    .fetch_optional(pool)
    .await?;
    let replaced_by = sqlx::query_scalar!(
        r#"
        select id from requests
        where supersedes = $1 and operation = 'change'
          and state in ('approved', 'delivering', 'pr_open', 'delivery_failed', 'merged', 'live')
        order by created_at desc
        limit 1
        "#,
        id
    )
    .fetch_optional(pool)
    .await?;
    let delivery = sqlx::query!(
        r#"
        select forge, repository, base_branch, branch, number, url, head_sha, files, merged_sha,
               opened_at, updated_at
        from deliveries where request_id = $1
        "#,
        id
    )
    .fetch_optional(pool)
    .await?
    .map(|d| Delivery {
        forge: d.forge,
        repository: d.repository,
        base_branch: d.base_branch,
        branch: d.branch,
        number: d.number,
        url: d.url,
        head_sha: d.head_sha,
        files: serde_json::from_value(d.files).unwrap_or_default(),
        merged_sha: d.merged_sha,
        opened_at: d.opened_at,
        updated_at: d.updated_at,
    });
    let delivery_problem = sqlx::query!(
        r#"
        select last_error as "last_error!", attempts, run_after, done_at
        from jobs
        where request_id = $1 and kind = 'deliver' and last_error is not null
        order by id desc
        limit 1
        "#,
        id
    )
    .fetch_optional(pool)
    .await?
    .filter(|job| job.done_at.is_none() || record.state == "delivery_failed")
    .map(|job| DeliveryProblem {
        reason: job.last_error,
        attempts: job.attempts,
        next_attempt: job.done_at.is_none().then_some(job.run_after),
    });
    Ok(RequestDetail {
        record,
        approvals,
        events,
        pending_day2,
        replaced_by,
        delivery,
        delivery_problem,
    })
}

/// The stored payload of a request, whoever may see it (the caller checked access to the
/// request that names it).
#[tracing::instrument(skip(pool), err)]
pub async fn payload_of(pool: &PgPool, id: Uuid) -> Result<Option<serde_json::Value>, sqlx::Error> {
    sqlx::query_scalar!("select payload from requests where id = $1", id)
        .fetch_optional(pool)
        .await
}
