//! What delivery does with a request: composes the environment's files as they will be once the
//! request is merged, publishes them through the environment's forge, records the pull request,
//! and follows it until it is merged or closed.
//!
//! Each pull request regenerates the environment's folder from what is *merged* plus this one
//! request, so two pull requests open at once are each correct on their own; when one merges,
//! the others are regenerated on top of it (never dropping its routes).

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Job, JobKind, complete, enqueue};
use crate::forge::{ChangeSet, Forge, ForgeError, Published, PullRef, PullState, branch_name};
use crate::requests::{
    Actor, StepCheck, WorkflowError, record_system_checked, record_system_event, state_words,
};

/// The states in which a request's change is in the repository's base branch.
const MERGED: [&str; 2] = ["merged", "live"];

/// The requests whose config the base branch of `environment` holds: merged creates and changes,
/// minus those a merged change or removal replaced. Oldest first.
pub async fn delivered_requests(
    executor: &mut PgConnection,
    environment: &str,
) -> Result<Vec<(Uuid, serde_json::Value)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select r.id, r.payload
        from requests r
        where r.environment = $1 and r.operation <> 'remove' and r.state = any($2)
          and not exists (
              select 1 from requests c
              where c.supersedes = r.id and c.state = any($2))
        order by r.created_at, r.id
        "#,
        environment,
        &MERGED.map(str::to_owned)
    )
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.payload)).collect())
}

/// The request a delivery job works on.
struct Delivering {
    id: Uuid,
    environment: String,
    team: String,
    state: String,
    operation: String,
    supersedes: Option<Uuid>,
    payload: serde_json::Value,
    summary: String,
    requester_name: String,
    justification: String,
}

async fn load(pool: &PgPool, id: Uuid) -> Result<Option<Delivering>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        select id, environment, team, state, operation, supersedes, payload, summary,
               requester_name, justification
        from requests where id = $1
        "#,
        id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Delivering {
        id: r.id,
        environment: r.environment,
        team: r.team,
        state: r.state,
        operation: r.operation,
        supersedes: r.supersedes,
        payload: r.payload,
        summary: r.summary,
        requester_name: r.requester_name,
        justification: r.justification,
    }))
}

/// Why a job's attempt failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum JobFailure {
    #[error("{0}")]
    Forge(#[from] ForgeError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A defect or a configuration problem: retrying cannot help.
    #[error("{0}")]
    Fatal(String),
}

impl JobFailure {
    pub(super) fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Forge(ForgeError::Transient { retry_after, .. }) => *retry_after,
            _ => None,
        }
    }

    pub(super) fn retryable(&self) -> bool {
        !matches!(self, Self::Forge(ForgeError::Permanent(_)) | Self::Fatal(_))
    }
}

/// What the worker needs to deliver.
pub(super) struct Context<'a> {
    pub pool: &'a PgPool,
    pub catalog: &'a mesh::Catalog,
    pub forges: &'a crate::forge::Forges,
    pub public_url: &'a str,
    pub follow_every: Duration,
    pub clusters: &'a crate::cluster::Clusters,
}

/// Delivers (or refreshes) one request's pull request.
pub(super) async fn deliver(cx: &Context<'_>, job: &Job) -> Result<(), JobFailure> {
    let Some(request) = load(cx.pool, job.request_id).await? else {
        return finish(cx.pool, job).await;
    };
    if !matches!(
        request.state.as_str(),
        "approved" | "delivering" | "pr_open"
    ) {
        return finish(cx.pool, job).await;
    }
    let forge = forge_of(cx, &request.environment)?;
    if request.state != "delivering" && request.state != "pr_open" {
        let mut tx = cx.pool.begin().await?;
        let moved = sqlx::query!(
            r#"
            update requests set state = 'delivering', version = version + 1, updated_at = now()
            where id = $1 and state = $2
            "#,
            request.id,
            request.state
        )
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 1 {
            let body = format!(
                "to {}",
                forge_words(forge.as_ref(), &request.environment, cx)
            );
            record_system_event(
                &mut tx,
                request.id,
                "delivering",
                Some(&request.state),
                Some("delivering"),
                &body,
            )
            .await?;
        }
        tx.commit().await?;
    }
    let (change, checked) = change_set(cx, &request).await?;
    let published = forge.publish(&change).await?;

    let mut tx = cx.pool.begin().await?;
    let current = sqlx::query_scalar!(
        "select state from requests where id = $1 for update",
        request.id
    )
    .fetch_one(&mut *tx)
    .await?;
    match published {
        Published::AlreadyThere { base_sha } => {
            sqlx::query!(
                r#"
                insert into deliveries (request_id, forge, repository, base_branch, branch,
                                        head_sha, files, merged_sha, finished_at)
                values ($1, $2, $3, $4, $5, $6, '[]', $6, now())
                on conflict (request_id) do update set head_sha = $6, merged_sha = $6,
                    finished_at = now(), updated_at = now()
                "#,
                request.id,
                forge.name(),
                change.repository,
                change.base_branch,
                change.branch,
                base_sha
            )
            .execute(&mut *tx)
            .await?;
            move_checked(
                &mut tx,
                request.id,
                (&current, "merged"),
                "merged",
                &format!(
                    "{} already holds exactly this configuration; there was nothing to merge",
                    change.base_branch
                ),
                Some(&checked),
            )
            .await?;
            refresh_others(&mut tx, &request.environment, request.id).await?;
        }
        Published::Pull(pull) => {
            let files = serde_json::to_value(&pull.files)
                .map_err(|e| JobFailure::Fatal(format!("committed files as JSON: {e}")))?;
            let previous = sqlx::query_scalar!(
                "select head_sha from deliveries where request_id = $1",
                request.id
            )
            .fetch_optional(&mut *tx)
            .await?;
            sqlx::query!(
                r#"
                insert into deliveries (request_id, forge, repository, base_branch, branch,
                                        number, url, head_sha, files)
                values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                on conflict (request_id) do update set number = $6, url = $7, head_sha = $8,
                    files = $9, updated_at = now()
                "#,
                request.id,
                forge.name(),
                change.repository,
                change.base_branch,
                change.branch,
                pull.number,
                pull.url,
                pull.head_sha,
                files
            )
            .execute(&mut *tx)
            .await?;
            let place = pull
                .url
                .clone()
                .unwrap_or_else(|| format!("branch {} ({})", change.branch, short(&pull.head_sha)));
            if current == "delivering" {
                move_checked(
                    &mut tx,
                    request.id,
                    (&current, "pr_open"),
                    "pr_opened",
                    &place,
                    Some(&checked),
                )
                .await?;
            } else if previous.as_deref() != Some(pull.head_sha.as_str()) && current == "pr_open" {
                record_system_checked(
                    &mut tx,
                    request.id,
                    "pr_updated",
                    (None, None),
                    &format!("regenerated on the newest {}: {place}", change.base_branch),
                    Some(&checked),
                )
                .await?;
            }
            enqueue(&mut tx, JobKind::Follow, request.id, cx.follow_every).await?;
        }
    }
    complete(&mut tx, job).await?;
    tx.commit().await?;
    Ok(())
}

/// Asks the forge about a request's pull request.
pub(super) async fn follow(cx: &Context<'_>, job: &Job) -> Result<Option<Duration>, JobFailure> {
    let row = sqlx::query!(
        r#"
        select r.environment, r.state, d.repository, d.base_branch, d.branch, d.number, d.head_sha
        from requests r join deliveries d on d.request_id = r.id
        where r.id = $1
        "#,
        job.request_id
    )
    .fetch_optional(cx.pool)
    .await?;
    let Some(row) = row.filter(|r| r.state == "pr_open") else {
        finish(cx.pool, job).await?;
        return Ok(None);
    };
    let forge = forge_of(cx, &row.environment)?;
    let pull = PullRef {
        repository: row.repository,
        base_branch: row.base_branch,
        branch: row.branch,
        number: row.number,
        head_sha: row.head_sha,
    };
    let state = forge.state(&pull).await?;
    let mut tx = cx.pool.begin().await?;
    let current = sqlx::query_scalar!(
        "select state from requests where id = $1 for update",
        job.request_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if current != "pr_open" {
        complete(&mut tx, job).await?;
        tx.commit().await?;
        return Ok(None);
    }
    match state {
        PullState::Open => {
            tx.rollback().await?;
            return Ok(Some(cx.follow_every));
        }
        finished => {
            settle(
                &mut tx,
                job.request_id,
                &row.environment,
                &pull.base_branch,
                &finished,
            )
            .await?;
        }
    }
    complete(&mut tx, job).await?;
    tx.commit().await?;
    Ok(None)
}

/// Records that a request's pull request was merged or closed (from a follow job or a forge's
/// webhook), in the caller's transaction, with the request row locked and `pr_open`.
async fn settle(
    tx: &mut PgConnection,
    id: Uuid,
    environment: &str,
    base_branch: &str,
    state: &PullState,
) -> Result<(), sqlx::Error> {
    match state {
        PullState::Open => {}
        PullState::Merged { sha } => {
            sqlx::query!(
                "update deliveries set merged_sha = $2, finished_at = now(), updated_at = now() where request_id = $1",
                id,
                sha.as_deref()
            )
            .execute(&mut *tx)
            .await?;
            let body = match sha {
                Some(sha) => format!("into {base_branch} at {}", short(sha)),
                None => format!("into {base_branch}"),
            };
            move_to(tx, id, "pr_open", "merged", "merged", &body).await?;
            super::observe::after_merge(tx, id).await?;
            refresh_others(tx, environment, id).await?;
        }
        PullState::Closed => {
            sqlx::query!(
                "update deliveries set finished_at = now(), updated_at = now() where request_id = $1",
                id
            )
            .execute(&mut *tx)
            .await?;
            move_to(
                tx,
                id,
                "pr_open",
                "pr_closed",
                "pr_closed",
                "the pull request was closed without merging; the request no longer holds its claim",
            )
            .await?;
        }
    }
    Ok(())
}

/// A forge told us (webhook) that the pull request on `branch` of `repository` was merged or
/// closed: the request it delivers is settled at once, and its follow job ends. `None` when no
/// open pull request of ours matches (another repository's, or already settled).
pub async fn pull_request_settled(
    pool: &PgPool,
    forge: &str,
    repository: &str,
    branch: &str,
    state: PullState,
) -> Result<Option<Uuid>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let found = sqlx::query!(
        r#"
        select r.id, r.environment, d.base_branch
        from deliveries d join requests r on r.id = d.request_id
        where d.forge = $1 and d.repository = $2 and d.branch = $3 and r.state = 'pr_open'
        for update of r
        "#,
        forge,
        repository,
        branch
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(found) = found else {
        return Ok(None);
    };
    if state == PullState::Open {
        return Ok(None);
    }
    settle(
        &mut tx,
        found.id,
        &found.environment,
        &found.base_branch,
        &state,
    )
    .await?;
    sqlx::query!(
        "update jobs set done_at = now(), locked_by = null, locked_until = null where request_id = $1 and kind = 'follow' and done_at is null",
        found.id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(found.id))
}

/// After the last failed attempt: the request shows `delivery_failed` and why.
pub(super) async fn give_up(pool: &PgPool, job: &Job, reason: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "update jobs set done_at = now(), last_error = $2, attempts = attempts + 1, locked_by = null, locked_until = null where id = $1",
        job.id,
        reason
    )
    .execute(&mut *tx)
    .await?;
    let current = sqlx::query_scalar!(
        "select state from requests where id = $1 for update",
        job.request_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if matches!(current.as_str(), "approved" | "delivering" | "pr_open") {
        move_to(
            &mut tx,
            job.request_id,
            &current,
            "delivery_failed",
            "delivery_failed",
            reason,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A platform admin asks for another delivery of a request whose delivery failed.
pub async fn retry_delivery(
    pool: &PgPool,
    actor: Actor<'_>,
    id: Uuid,
    version: i32,
) -> Result<(), WorkflowError> {
    if !actor.roles.platform_admin {
        return Err(WorkflowError::NotAllowed(
            "Only platform admins may retry a delivery".to_owned(),
        ));
    }
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        "select state, version from requests where id = $1 for update",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(WorkflowError::NotFound)?;
    if row.state != "delivery_failed" || row.version != version {
        return Err(WorkflowError::Stale(format!(
            "this request is {} now; only a failed delivery can be retried",
            state_words(&row.state)
        )));
    }
    sqlx::query!(
        "update requests set state = 'approved', version = version + 1, updated_at = now() where id = $1",
        id
    )
    .execute(&mut *tx)
    .await?;
    crate::requests::record_event(
        &mut tx,
        id,
        &actor,
        "delivery_retried",
        Some("delivery_failed"),
        Some("approved"),
        "",
    )
    .await?;
    enqueue(&mut tx, JobKind::Deliver, id, Duration::ZERO).await?;
    tx.commit().await?;
    Ok(())
}

/// Other open pull requests of the environment are regenerated on the new base.
async fn refresh_others(
    tx: &mut PgConnection,
    environment: &str,
    merged: Uuid,
) -> Result<(), sqlx::Error> {
    let open = sqlx::query_scalar!(
        "select id from requests where environment = $1 and state = 'pr_open' and id <> $2",
        environment,
        merged
    )
    .fetch_all(&mut *tx)
    .await?;
    for id in open {
        enqueue(tx, JobKind::Deliver, id, Duration::ZERO).await?;
    }
    Ok(())
}

async fn move_to(
    tx: &mut PgConnection,
    id: Uuid,
    from: &str,
    to: &str,
    action: &str,
    body: &str,
) -> Result<(), sqlx::Error> {
    move_checked(tx, id, (from, to), action, body, None).await
}

/// [`move_to`], recording the conflict check the step ran.
async fn move_checked(
    tx: &mut PgConnection,
    id: Uuid,
    (from, to): (&str, &str),
    action: &str,
    body: &str,
    checked: Option<&StepCheck>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update requests set state = $2, version = version + 1, updated_at = now() where id = $1",
        id,
        to
    )
    .execute(&mut *tx)
    .await?;
    record_system_checked(tx, id, action, (Some(from), Some(to)), body, checked).await
}

async fn finish(pool: &PgPool, job: &Job) -> Result<(), JobFailure> {
    let mut tx = pool.begin().await?;
    complete(&mut tx, job).await?;
    tx.commit().await?;
    Ok(())
}

fn forge_of<'a>(
    cx: &'a Context<'_>,
    environment: &str,
) -> Result<&'a std::sync::Arc<dyn Forge>, JobFailure> {
    cx.forges.get(environment).ok_or_else(|| {
        JobFailure::Fatal(format!(
            "environment {environment} has no forge configured (gitops.forge)"
        ))
    })
}

fn forge_words(forge: &dyn Forge, environment: &str, cx: &Context<'_>) -> String {
    let repository = cx
        .catalog
        .environment(environment)
        .and_then(|env| env.gitops.repository.clone())
        .unwrap_or_default();
    match forge.name() {
        "local" => format!("the local git repository {repository}"),
        name => format!("{repository} on {name}"),
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// The environment's files once this request is merged, and the pull request around them.
/// Rendering checks the request with everything merged: the check says with how many.
async fn change_set(
    cx: &Context<'_>,
    request: &Delivering,
) -> Result<(ChangeSet, StepCheck), JobFailure> {
    let env = cx
        .catalog
        .environment(&request.environment)
        .ok_or_else(|| {
            JobFailure::Fatal(format!(
                "environment {} is no longer configured",
                request.environment
            ))
        })?;
    let mut conn = cx.pool.acquire().await?;
    let delivered = delivered_requests(&mut conn, &request.environment).await?;
    let approvals = sqlx::query!(
        r#"
        select approver_name, reason, decided_at from request_approvals
        where request_id = $1 order by decided_at
        "#,
        request.id
    )
    .fetch_all(&mut *conn)
    .await?;
    drop(conn);

    let mut state: Vec<mesh::Request> = Vec::new();
    for (id, payload) in &delivered {
        if Some(*id) == request.supersedes || *id == request.id {
            continue;
        }
        state.push(parse(*id, payload)?);
    }
    let checked = StepCheck {
        merged: Some(state.len()),
        ..StepCheck::default()
    };
    if request.operation != "remove" {
        state.push(parse(request.id, &request.payload)?);
    }
    let plan = mesh::render_environment(cx.catalog, &request.environment, &state)
        .ok_or_else(|| JobFailure::Fatal(format!("environment {} is unknown", env.name)))?
        .map_err(|problems| {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            JobFailure::Fatal(format!(
                "the configuration does not render: {}",
                lines.join("; ")
            ))
        })?;

    let link = format!("{}/requests/{}", cx.public_url, request.id);
    let verb = match request.operation.as_str() {
        "remove" => "Remove",
        "change" => "Change",
        _ => "Add",
    };
    let title = format!(
        "{verb} {} for {} in {}",
        request.summary, request.team, request.environment
    );
    let mut body = String::new();
    body.push_str("| | |\n|---|---|\n");
    body.push_str(&format!("| Request | [{}]({link}) |\n", request.id));
    body.push_str(&format!("| Environment | {} |\n", request.environment));
    body.push_str(&format!("| Team | {} |\n", request.team));
    body.push_str(&format!(
        "| What | {} ({}) |\n",
        request.summary, request.operation
    ));
    body.push_str(&format!(
        "| Requested by | {} |\n",
        cell(&request.requester_name)
    ));
    for approval in &approvals {
        let reason = if approval.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", approval.reason)
        };
        body.push_str(&format!(
            "| Approved by | {}{} |\n",
            cell(&approval.approver_name),
            cell(&reason)
        ));
    }
    body.push_str("\n**Justification**\n\n");
    body.push_str(if request.justification.is_empty() {
        "(none given)"
    } else {
        &request.justification
    });
    body.push_str(&format!(
        "\n\nGenerated by Signalbox from the requests merged in {} plus this one; the folder `{}` is regenerated as a whole.\n",
        request.environment,
        env.path_template.root(env.name.as_str())
    ));
    let change = ChangeSet {
        repository: env.gitops.repository.clone().unwrap_or_default(),
        base_branch: env
            .gitops
            .base_branch
            .clone()
            .unwrap_or_else(|| "main".to_owned()),
        branch: branch_name(&request.environment, request.id),
        root: env.path_template.root(env.name.as_str()),
        files: plan.files,
        title,
        body,
        labels: env.gitops.labels.clone(),
        reviewers: env.gitops.reviewers.clone(),
    };
    Ok((change, checked))
}

fn parse(id: Uuid, payload: &serde_json::Value) -> Result<mesh::Request, JobFailure> {
    mesh::Request::from_value(payload)
        .map(|r| r.with_origin(format!("request {id}")))
        .map_err(|problems| {
            JobFailure::Fatal(format!("stored request {id} does not parse: {problems:?}"))
        })
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
