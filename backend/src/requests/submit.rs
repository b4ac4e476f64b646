//! Submitting a request: a new one, or a change or removal of something granted (day 2).

use mesh::request::RequestKind;
use mesh::{Problem, Request};
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    Actor, Checks, StepCheck, WorkflowError, check_text, claims, is_delivered, is_granted,
    record_checked_event,
};

/// What a submission asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Something new.
    Create,
    /// A new target, timeout or retries for a granted route.
    Change,
    /// Take a grant away.
    Remove,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Change => "change",
            Self::Remove => "remove",
        }
    }
}

/// A request as the user submits it.
#[derive(Debug, Clone)]
pub struct Submission {
    /// For a removal, the grant's own request (it is replaced by the stored payload).
    pub request: Request,
    pub justification: String,
    /// The id the form was rendered with: the same key twice (a double click) submits once.
    pub key: Uuid,
    pub operation: Operation,
    /// The granted request a change or removal is about.
    pub supersedes: Option<Uuid>,
}

/// Checks a submission again, whatever the browser showed, and stores it as waiting for review.
/// Submissions in one environment take turns (a transaction-scoped advisory lock), so of two
/// racing for overlapping paths exactly one is accepted and the other sees it as a conflict.
#[tracing::instrument(skip_all, fields(team = %submission.request.team(), key = %submission.key), err)]
pub async fn submit(
    pool: &PgPool,
    checks: impl Into<Checks<'_>>,
    actor: Actor<'_>,
    submission: Submission,
) -> Result<Uuid, WorkflowError> {
    let checks = checks.into();
    let request = &submission.request;
    let team = request.team().as_str();
    if !actor.may_request_for(team) {
        let yours: Vec<&str> = actor
            .roles
            .requester_for
            .iter()
            .map(String::as_str)
            .collect();
        return Err(WorkflowError::Refused(vec![Problem::policy(
            "team",
            format!(
                "you request for {}; ask a member of {team} to request this",
                if yours.is_empty() {
                    "no team".to_owned()
                } else {
                    yours.join(", ")
                }
            ),
        )]));
    }
    let justification = check_text(
        "justification",
        &submission.justification,
        Some("say why this is needed; approvers read it before they decide"),
    )?;

    let mut tx = pool.begin().await?;
    let id = submit_in(&mut tx, checks, &actor, &submission, &justification).await?;
    tx.commit().await?;
    super::queue_changed();
    Ok(id)
}

/// Several requests pasted together (the YAML editor), all or none: one transaction, each checked
/// against what is granted, what waits, and the requests before it. `key` identifies the form; a
/// second send of it returns the same requests. Problems name the document they concern.
#[tracing::instrument(skip_all, fields(requests = requests.len(), key = %key), err)]
pub async fn submit_all(
    pool: &PgPool,
    checks: impl Into<Checks<'_>>,
    actor: Actor<'_>,
    requests: Vec<Request>,
    justification: &str,
    key: Uuid,
) -> Result<Vec<Uuid>, WorkflowError> {
    let checks = checks.into();
    if requests.is_empty() {
        return Err(WorkflowError::Refused(vec![Problem::invalid(
            "request",
            "holds no request; write at least one document",
        )]));
    }
    let justification = check_text(
        "justification",
        justification,
        Some("say why this is needed; approvers read it before they decide"),
    )?;
    let mut problems = Vec::new();
    for request in &requests {
        let team = request.team().as_str();
        if !actor.may_request_for(team) {
            problems.push(
                Problem::policy(
                    "team",
                    format!(
                        "you do not request for {team}; ask a member of {team} to request this"
                    ),
                )
                .in_source(request.origin()),
            );
        }
    }
    if !problems.is_empty() {
        return Err(WorkflowError::Refused(problems));
    }
    let mut tx = pool.begin().await?;
    // Environment locks in one order, so two such submissions never wait on each other in turn.
    let environments: std::collections::BTreeSet<&str> =
        requests.iter().map(|r| r.environment().as_str()).collect();
    for environment in environments {
        lock_environment(&mut tx, environment).await?;
    }
    let mut ids = Vec::with_capacity(requests.len());
    for (index, request) in requests.into_iter().enumerate() {
        let origin = request.origin().map(str::to_owned);
        let submission = Submission {
            request,
            justification: justification.clone(),
            // One key per document, derived from the form's.
            key: Uuid::from_u128(key.as_u128() ^ (index as u128 + 1)),
            operation: Operation::Create,
            supersedes: None,
        };
        let id = submit_in(&mut tx, checks, &actor, &submission, &justification)
            .await
            .map_err(|error| match error {
                WorkflowError::Refused(problems) => WorkflowError::Refused(
                    problems
                        .into_iter()
                        .map(|p| p.in_source(origin.as_deref()))
                        .collect(),
                ),
                other => other,
            })?;
        ids.push(id);
    }
    tx.commit().await?;
    super::queue_changed();
    Ok(ids)
}

async fn lock_environment(
    tx: &mut sqlx::PgConnection,
    environment: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('signalbox.environment:' || $1, 0))",
        environment
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Stores one checked submission inside the caller's transaction (which holds its environment's
/// lock once this returns).
async fn submit_in(
    tx: &mut sqlx::PgConnection,
    checks: Checks<'_>,
    actor: &Actor<'_>,
    submission: &Submission,
    justification: &str,
) -> Result<Uuid, WorkflowError> {
    let request = &submission.request;
    let team = request.team().as_str();
    let environment = request.environment().as_str();
    lock_environment(&mut *tx, environment).await?;
    if let Some(existing) = sqlx::query!(
        "select id, requester from requests where submission = $1",
        submission.key
    )
    .fetch_optional(&mut *tx)
    .await?
    {
        // The same form sent twice: the first submission stands.
        if existing.requester == actor.subject {
            return Ok(existing.id);
        }
        return Err(WorkflowError::NotAllowed(
            "this form was already submitted by someone else; open a new form".to_owned(),
        ));
    }

    // Taking over a hand-made VirtualService's path is the platform's decision.
    if let mesh::request::RequestKind::ApiRoute(route) = request.kind()
        && let Some(adopted) = route.adopts()
        && !actor.roles.platform_admin
    {
        return Err(WorkflowError::Refused(vec![Problem::policy(
            "adopts",
            format!(
                "only platform admins may adopt a hand-made VirtualService; ask one to adopt \
                 {adopted}, or leave adopts out"
            ),
        )]));
    }
    let claims = claims::existing_claims(&mut *tx, environment).await?;
    // What the request was compared with, as its timeline shows it (a removal claims nothing
    // new, so it is compared with nothing).
    let compared = |except: Option<Uuid>| {
        let count = |list: &[claims::StoredClaim]| {
            list.iter().filter(|claim| Some(claim.id) != except).count()
        };
        StepCheck {
            granted: Some(count(&claims.granted)),
            pending: Some(count(&claims.pending)),
            ..StepCheck::default()
        }
    };
    let (payload, summary, checked) = match submission.operation {
        Operation::Create => {
            let existing = claims.requests(None).map_err(WorkflowError::Internal)?;
            checks.plan(&existing, request)?;
            (request.to_value(), request.summary(), Some(compared(None)))
        }
        Operation::Change | Operation::Remove => {
            let original_id = submission.supersedes.ok_or_else(|| {
                WorkflowError::Internal("a change or removal without its grant".to_owned())
            })?;
            let original = grant_to_change(&mut *tx, &claims, *actor, original_id).await?;
            if submission.operation == Operation::Remove {
                (original.to_value(), original.summary(), None)
            } else {
                check_change(&original, request)?;
                let existing = claims
                    .requests(Some(original_id))
                    .map_err(WorkflowError::Internal)?;
                checks.plan(&existing, request)?;
                (
                    request.to_value(),
                    request.summary(),
                    Some(compared(Some(original_id))),
                )
            }
        }
    };

    let id = Uuid::new_v4();
    let inserted = sqlx::query!(
        r#"
        insert into requests (id, kind, environment, team, requester, requester_name,
                              justification, payload, operation, supersedes, summary, submission)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        "#,
        id,
        request.kind_name(),
        environment,
        team,
        actor.subject,
        actor.name,
        justification,
        payload,
        submission.operation.as_str(),
        submission.supersedes,
        summary,
        submission.key
    )
    .execute(&mut *tx)
    .await;
    if let Err(sqlx::Error::Database(error)) = &inserted
        && error.constraint() == Some("requests_one_pending_day2")
    {
        return Err(WorkflowError::Stale(
            "a change or removal of this grant already waits for review; withdraw it first"
                .to_owned(),
        ));
    }
    inserted?;
    record_checked_event(
        &mut *tx,
        id,
        actor,
        "submitted",
        (None, Some("submitted")),
        justification,
        checked.as_ref(),
    )
    .await?;
    Ok(id)
}

/// The granted request a change or removal is about, checked: it exists, it is still in force,
/// and the actor requests for its team.
async fn grant_to_change(
    tx: &mut sqlx::PgConnection,
    claims: &claims::ExistingClaims,
    actor: Actor<'_>,
    id: Uuid,
) -> Result<Request, WorkflowError> {
    let row = sqlx::query!(
        "select team, state, operation from requests where id = $1",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(WorkflowError::NotFound)?;
    if !actor.may_request_for(&row.team) {
        return Err(WorkflowError::NotAllowed(format!(
            "only requesters of {} may change or remove what it was granted",
            row.team
        )));
    }
    let claim = claims
        .granted
        .iter()
        .find(|claim| claim.id == id)
        .filter(|_| is_granted(&row.state) && row.operation != "remove");
    let Some(claim) = claim else {
        return Err(WorkflowError::NotAllowed(
            "only a grant still in force can be changed or removed; this one was replaced, \
             removed, or never approved"
                .to_owned(),
        ));
    };
    if !is_delivered(&row.state) {
        return Err(WorkflowError::NotAllowed(format!(
            "its pull request is not merged yet ({}); change or remove it once it is merged, or \
             ask your platform team to close the pull request",
            state_words(&row.state)
        )));
    }
    claim.parse().map_err(WorkflowError::Internal)
}

fn state_words(state: &str) -> &'static str {
    match state {
        "approved" => "it waits to be delivered",
        "delivering" => "it is being delivered",
        "pr_open" => "its pull request is open",
        "delivery_failed" => "its delivery failed; retry it first",
        _ => "it is not delivered",
    }
}

/// A change keeps what identifies the grant (environment, team, host, path and match) and
/// changes something else.
fn check_change(original: &Request, changed: &Request) -> Result<(), WorkflowError> {
    let (RequestKind::ApiRoute(before), RequestKind::ApiRoute(after)) =
        (original.kind(), changed.kind())
    else {
        return Err(WorkflowError::Refused(vec![Problem::invalid(
            "kind",
            "only routes can be changed; remove an egress grant and ask for a new one",
        )]));
    };
    let mut problems = Vec::new();
    if before.environment() != after.environment() || before.team() != after.team() {
        problems.push(Problem::invalid(
            "environment",
            "a change stays in the grant's environment and team",
        ));
    }
    if before.host() != after.host()
        || before.path() != after.path()
        || before.path_match() != after.path_match()
    {
        problems.push(Problem::invalid(
            "path",
            format!(
                "a change keeps {}{} ({}); to move a route, ask for the new path and remove this one",
                before.host(),
                before.path(),
                before.path_match()
            ),
        ));
    }
    if problems.is_empty() && original.to_value() == changed.to_value() {
        problems.push(Problem::invalid(
            "target",
            "nothing would change; edit the target, timeout or retries",
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(WorkflowError::Refused(problems))
    }
}
