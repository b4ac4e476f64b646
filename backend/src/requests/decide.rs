//! Decisions on a request (approve, reject), withdrawing it, and comments.

use sqlx::PgPool;
use uuid::Uuid;

use super::{
    Actor, Checks, StepCheck, WorkflowError, approvals_required, check_text, claims, deciders,
    record_checked_event, record_event, state_words,
};

/// What an approver decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// The request row a step locks and checks.
struct Locked {
    environment: String,
    team: String,
    requester: String,
    state: String,
    version: i32,
    operation: String,
    supersedes: Option<Uuid>,
    payload: serde_json::Value,
}

async fn lock(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<Option<Locked>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        select environment, team, requester, state, version, operation, supersedes, payload
        from requests where id = $1
        for update
        "#,
        id
    )
    .fetch_optional(tx)
    .await?;
    Ok(row.map(|r| Locked {
        environment: r.environment,
        team: r.team,
        requester: r.requester,
        state: r.state,
        version: r.version,
        operation: r.operation,
        supersedes: r.supersedes,
        payload: r.payload,
    }))
}

/// "Carol Approver approved this request 3 minutes ago; it is approved now": what happened since
/// the version the user saw.
async fn what_changed(
    tx: &mut sqlx::PgConnection,
    id: Uuid,
    state: &str,
) -> Result<String, sqlx::Error> {
    let last = sqlx::query!(
        r#"
        select actor_name, action, extract(epoch from now() - at)::bigint as "seconds!"
        from request_events
        where request_id = $1 and action in ('approved', 'rejected', 'withdrawn')
        order by id desc limit 1
        "#,
        id
    )
    .fetch_optional(tx)
    .await?;
    let now = format!("it is {} now", state_words(state));
    Ok(match last {
        Some(event) => format!(
            "{} {} this request {} after you opened it; {now}. Look again before you decide",
            event.actor_name,
            event.action,
            ago(event.seconds)
        ),
        None => format!("this request changed after you opened it; {now}"),
    })
}

fn ago(seconds: i64) -> String {
    match seconds {
        s if s < 60 => "moments ago".to_owned(),
        s if s < 120 => "a minute ago".to_owned(),
        s if s < 3600 => format!("{} minutes ago", s / 60),
        s => format!("{} hours ago", s / 3600),
    }
}

/// "in dev and for team-b": where an approver decides, or `None` for someone who approves nowhere.
fn approver_scope(actor: &Actor<'_>) -> Option<String> {
    let mut parts = Vec::new();
    let environments: Vec<&str> = actor
        .roles
        .approver_for_environments
        .iter()
        .map(String::as_str)
        .collect();
    if !environments.is_empty() {
        parts.push(format!("in {}", environments.join(", ")));
    }
    let teams: Vec<&str> = actor
        .roles
        .approver_for_teams
        .iter()
        .map(String::as_str)
        .collect();
    if !teams.is_empty() {
        parts.push(format!("for {}", teams.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join(" and "))
}

/// "someone else in platform-approvers".
fn others(catalog: &mesh::Catalog, environment: &str, team: &str) -> String {
    deciders(catalog, environment, team).replacen("someone in", "someone else in", 1)
}

/// Approves or rejects `id` as seen at `version`. One rejection ends the request; the
/// environment's `approvalsRequired` distinct approvals approve it, after the conflicts are
/// checked again (what was granted meanwhile counts). Of concurrent decisions on one version,
/// exactly one applies; the others are told who decided first.
#[tracing::instrument(skip(pool, checks, actor, reason), fields(approver = actor.subject), err)]
pub async fn decide(
    pool: &PgPool,
    checks: impl Into<Checks<'_>>,
    actor: Actor<'_>,
    id: Uuid,
    version: i32,
    decision: Decision,
    reason: &str,
) -> Result<&'static str, WorkflowError> {
    let checks = checks.into();
    let catalog = checks.catalog;
    let reason = match decision {
        Decision::Reject => check_text(
            "reason",
            reason,
            Some("say why you reject it; the requester reads it to fix the request"),
        )?,
        Decision::Approve => check_text("reason", reason, None)?,
    };
    let mut tx = pool.begin().await?;
    let Some(row) = lock(&mut tx, id).await? else {
        return Err(WorkflowError::NotFound);
    };
    if row.requester == actor.subject {
        return Err(WorkflowError::NotAllowed(format!(
            "You made this request; {} must decide",
            others(catalog, &row.environment, &row.team)
        )));
    }
    if !actor.may_decide(&row.environment, &row.team) {
        let deciders = deciders(catalog, &row.environment, &row.team);
        if let Some(scope) = approver_scope(&actor) {
            return Err(WorkflowError::NotAllowed(format!(
                "You approve {scope}; requests of {} in {} are decided by {deciders}",
                row.team, row.environment
            )));
        }
        if actor.may_request_for(&row.team) {
            return Err(WorkflowError::NotAllowed(format!(
                "You do not approve in {} or for {}; {deciders} must decide",
                row.environment, row.team
            )));
        }
        return Err(WorkflowError::NotFound);
    }
    if row.state != "submitted" || row.version != version {
        return Err(WorkflowError::Stale(
            what_changed(&mut tx, id, &row.state).await?,
        ));
    }
    let required = approvals_required(catalog, &row.environment);
    let approved_by_me = sqlx::query_scalar!(
        r#"select exists (select 1 from request_approvals where request_id = $1 and approver = $2) as "found!""#,
        id,
        actor.subject
    )
    .fetch_one(&mut *tx)
    .await?;
    if approved_by_me {
        return Err(WorkflowError::NotAllowed(format!(
            "You already approved this request; it needs {required} approvals from different people, \
             so {} must approve it too",
            others(catalog, &row.environment, &row.team)
        )));
    }

    let mut checked = None;
    let new_state = match decision {
        Decision::Reject => "rejected",
        Decision::Approve => {
            // Approvals in one environment take turns with submissions, so the check below and
            // the state change see the same world.
            sqlx::query!(
                "select pg_advisory_xact_lock(hashtextextended('signalbox.environment:' || $1, 0))",
                row.environment
            )
            .execute(&mut *tx)
            .await?;
            match recheck_conflicts(&mut tx, checks, &row).await? {
                Ok(check) => checked = check,
                Err(check) => {
                    // The refusal is a step of its own: the requester and the other approvers
                    // see on the timeline why this approval did not count. Nothing was written
                    // yet, and the row and environment locks are still held: it is recorded in
                    // this transaction, on the request as it was checked.
                    let body = check
                        .problems
                        .iter()
                        .map(|problem| problem.message.as_str())
                        .collect::<Vec<_>>()
                        .join("; ");
                    record_checked_event(
                        &mut tx,
                        id,
                        &actor,
                        "conflict_found",
                        (Some("submitted"), None),
                        &body,
                        Some(&check),
                    )
                    .await?;
                    tx.commit().await?;
                    // The approver is told what to do about it; the timeline keeps the facts.
                    let problems = check
                        .problems
                        .into_iter()
                        .map(|mut problem| {
                            problem.message = format!(
                                "{} (granted since this request was submitted; reject it, or \
                                 ask the requester to withdraw it)",
                                problem.message
                            );
                            problem
                        })
                        .collect();
                    return Err(WorkflowError::Refused(problems));
                }
            }
            sqlx::query!(
                r#"
                insert into request_approvals (request_id, approver, approver_name, reason)
                values ($1, $2, $3, $4)
                "#,
                id,
                actor.subject,
                actor.name,
                reason
            )
            .execute(&mut *tx)
            .await?;
            let approvals = sqlx::query_scalar!(
                r#"select count(*) as "count!" from request_approvals where request_id = $1"#,
                id
            )
            .fetch_one(&mut *tx)
            .await?;
            if usize::try_from(approvals).unwrap_or(0) >= required {
                "approved"
            } else {
                "submitted"
            }
        }
    };
    let updated = sqlx::query!(
        r#"
        update requests set state = $3, version = version + 1, updated_at = now()
        where id = $1 and version = $2
        "#,
        id,
        version,
        new_state
    )
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(WorkflowError::Internal(format!(
            "request {id} changed under its row lock"
        )));
    }
    let action = match decision {
        Decision::Approve => "approved",
        Decision::Reject => "rejected",
    };
    // The delivery job commits with the approval: no approved request is ever left without one.
    if new_state == "approved"
        && catalog
            .environment(&row.environment)
            .is_some_and(|env| env.gitops.forge.is_some())
    {
        crate::jobs::enqueue(
            &mut tx,
            crate::jobs::JobKind::Deliver,
            id,
            std::time::Duration::ZERO,
        )
        .await?;
    }
    let to_state = (new_state != "submitted").then_some(new_state);
    record_checked_event(
        &mut tx,
        id,
        &actor,
        action,
        (Some("submitted"), to_state),
        &reason,
        checked.as_ref(),
    )
    .await?;
    tx.commit().await?;
    super::queue_changed();
    Ok(new_state)
}

/// The conflicts of an approval: the request against everything granted now. The check as
/// recorded, `Err` with the problems when the request now conflicts (`None`: a removal, which
/// claims nothing new).
async fn recheck_conflicts(
    tx: &mut sqlx::PgConnection,
    checks: Checks<'_>,
    row: &Locked,
) -> Result<Result<Option<StepCheck>, StepCheck>, WorkflowError> {
    if row.operation == "remove" {
        return Ok(Ok(None));
    }
    let request = mesh::Request::from_value(&row.payload)
        .map_err(|problems| WorkflowError::Internal(format!("stored payload: {problems:?}")))?;
    let claims = claims::existing_claims(&mut *tx, &row.environment).await?;
    let granted = claims
        .granted_requests(row.supersedes)
        .map_err(WorkflowError::Internal)?;
    let mut check = StepCheck {
        granted: Some(granted.len()),
        ..StepCheck::default()
    };
    match mesh::plan_observed(
        checks.catalog,
        checks.observed,
        &granted,
        std::slice::from_ref(&request),
    ) {
        Ok(_) => Ok(Ok(Some(check))),
        Err(problems) => {
            check.problems = problems;
            Ok(Err(check))
        }
    }
}

/// Withdraws a request still waiting for review: its requester, or another requester of its
/// team, may.
#[tracing::instrument(skip(pool, actor), fields(actor = actor.subject), err)]
pub async fn withdraw(
    pool: &PgPool,
    actor: Actor<'_>,
    id: Uuid,
    version: i32,
) -> Result<(), WorkflowError> {
    let mut tx = pool.begin().await?;
    let Some(row) = lock(&mut tx, id).await? else {
        return Err(WorkflowError::NotFound);
    };
    if row.requester != actor.subject && !actor.may_request_for(&row.team) {
        if actor.may_decide(&row.environment, &row.team) {
            return Err(WorkflowError::NotAllowed(
                "Only the requester or their team may withdraw a request; reject it instead"
                    .to_owned(),
            ));
        }
        return Err(WorkflowError::NotFound);
    }
    if row.state != "submitted" || row.version != version {
        return Err(WorkflowError::Stale(
            what_changed(&mut tx, id, &row.state).await?,
        ));
    }
    sqlx::query!(
        "update requests set state = 'withdrawn', version = version + 1, updated_at = now() where id = $1",
        id
    )
    .execute(&mut *tx)
    .await?;
    record_event(
        &mut tx,
        id,
        &actor,
        "withdrawn",
        Some("submitted"),
        Some("withdrawn"),
        "",
    )
    .await?;
    tx.commit().await?;
    super::queue_changed();
    Ok(())
}

/// Adds a comment to a request's conversation; anyone who may see the request may comment.
#[tracing::instrument(skip(pool, actor, body), fields(actor = actor.subject), err)]
pub async fn comment(
    pool: &PgPool,
    actor: Actor<'_>,
    id: Uuid,
    body: &str,
) -> Result<(), WorkflowError> {
    let body = check_text(
        "comment",
        body,
        Some("write something; an empty comment says nothing"),
    )?;
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        "select environment, team, requester from requests where id = $1 for share",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(WorkflowError::NotFound)?;
    if row.requester != actor.subject
        && !actor.may_request_for(&row.team)
        && !actor.may_decide(&row.environment, &row.team)
    {
        return Err(WorkflowError::NotFound);
    }
    record_event(&mut tx, id, &actor, "commented", None, None, &body).await?;
    tx.commit().await?;
    Ok(())
}
