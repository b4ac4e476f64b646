//! The request workflow: submit, decide, withdraw, comment, change and remove, one transaction
//! each, with the timeline event that records it written inside the same transaction; and the
//! reads the pages need (my requests, the approver queue, one request with its history).
//!
//! Every rule is enforced here, on the server, whatever the browser showed: who may request for
//! a team, who may decide in an environment, that nobody decides their own request, that a
//! decision applies to the version the approver saw, and that conflicts are checked again at
//! submission and at approval.

pub mod claims;
mod decide;
mod read;
mod submit;

use std::fmt;

use mesh::Problem;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::Roles;

pub use claims::{ExistingClaims, StoredClaim, existing_claims, existing_claims_of};
pub use decide::{Decision, comment, decide, withdraw};
use read::queue_changed;
pub use read::{
    Delivery, DeliveryProblem, ListedRequest, MineFilter, QueueFilter, RequestDetail, load_detail,
    payload_of, queue, queue_count, requests_of, waiting_count,
};
pub use submit::{Operation, Submission, submit, submit_all};

/// The most characters a justification, reason or comment may have.
pub const MAX_TEXT: usize = 4000;

/// Who acts: the signed-in user and their roles.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub subject: &'a str,
    pub name: &'a str,
    pub roles: &'a Roles,
    /// Where the step came from, for the audit history.
    pub origin: &'a crate::audit::Origin,
}

impl Actor<'_> {
    /// Requesters of a team (and platform admins) may ask on its behalf.
    pub fn may_request_for(&self, team: &str) -> bool {
        self.roles.platform_admin || self.roles.requester_for.contains(team)
    }

    /// Approvers of the environment or of the team (and platform admins) may decide.
    pub fn may_decide(&self, environment: &str, team: &str) -> bool {
        self.roles.platform_admin
            || self.roles.approver_for_environments.contains(environment)
            || self.roles.approver_for_teams.contains(team)
    }

    /// Who may see a request: its requester, its team, and whoever may decide it.
    pub fn may_view(&self, record: &RequestRecord) -> bool {
        record.requester == self.subject
            || self.may_request_for(&record.team)
            || self.may_decide(&record.environment, &record.team)
    }
}

/// A stored request.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub id: Uuid,
    pub kind: String,
    pub environment: String,
    pub team: String,
    pub requester: String,
    pub requester_name: String,
    pub justification: String,
    pub payload: serde_json::Value,
    pub state: String,
    pub version: i32,
    pub operation: String,
    pub supersedes: Option<Uuid>,
    pub summary: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// One approval of a request.
#[derive(Debug, Clone)]
pub struct Approval {
    pub approver: String,
    pub approver_name: String,
    pub reason: String,
    pub decided_at: OffsetDateTime,
}

/// One entry of a request's timeline.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor: String,
    pub actor_name: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub body: String,
    /// The conflict check this step ran, when it ran one.
    pub checked: Option<StepCheck>,
}

/// A conflict check as the step that ran it recorded it: how many stored requests of the
/// environment the request was compared with, and what was found (nothing: no conflict).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepCheck {
    /// Granted requests (approved up to live) compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted: Option<usize>,
    /// Requests waiting for review compared with (a submission only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<usize>,
    /// Requests merged into the GitOps repository rendered with (delivery only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<usize>,
    /// The conflicts found; empty when there were none.
    #[serde(default)]
    pub problems: Vec<Problem>,
}

impl StepCheck {
    /// The check as a sentence: "Compared with 12 granted requests and 3 waiting requests in
    /// prod: no conflict."
    pub fn describe(&self, environment: &str) -> String {
        let plural =
            |n: usize, what: &str| format!("{n} {what} request{}", if n == 1 { "" } else { "s" });
        let compared = match (self.granted, self.pending, self.merged) {
            (Some(0), Some(0), None) => {
                format!("No other request is granted or waiting in {environment}")
            }
            (Some(0), None, None) => {
                format!("Checked again; no request is granted in {environment}")
            }
            (_, _, Some(0)) => format!("Rendered; nothing is merged in {environment} yet"),
            (_, _, Some(merged)) => format!(
                "Rendered with {} in {environment}",
                plural(merged, "merged")
            ),
            (Some(granted), Some(pending), None) => format!(
                "Compared with {} and {} in {environment}",
                plural(granted, "granted"),
                plural(pending, "waiting")
            ),
            (Some(granted), None, None) => format!(
                "Checked again against {} in {environment}",
                plural(granted, "granted")
            ),
            _ => format!("Checked in {environment}"),
        };
        match self.problems.len() {
            0 => format!("{compared}: no conflict."),
            1 => format!("{compared}: 1 conflict."),
            n => format!("{compared}: {n} conflicts."),
        }
    }
}

/// What a request is checked against: the environments and teams, and what the clusters run
/// where they could be read (`None`: stored state alone).
#[derive(Debug, Clone, Copy)]
pub struct Checks<'a> {
    pub catalog: &'a mesh::Catalog,
    pub observed: Option<&'a mesh::observed::Observations>,
}

impl Checks<'_> {
    /// Plans `request` against `existing` (granted and pending), refusing it with every problem.
    pub fn plan(
        &self,
        existing: &[mesh::Request],
        request: &mesh::Request,
    ) -> Result<mesh::Plan, WorkflowError> {
        mesh::plan_observed(
            self.catalog,
            self.observed,
            existing,
            std::slice::from_ref(request),
        )
        .map_err(WorkflowError::Refused)
    }
}

impl<'a> From<&'a mesh::Catalog> for Checks<'a> {
    fn from(catalog: &'a mesh::Catalog) -> Self {
        Self {
            catalog,
            observed: None,
        }
    }
}

impl<'a> From<&'a std::sync::Arc<mesh::Catalog>> for Checks<'a> {
    fn from(catalog: &'a std::sync::Arc<mesh::Catalog>) -> Self {
        Self {
            catalog,
            observed: None,
        }
    }
}

/// Why a workflow step was refused. Each message is what the user sees.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// What the user entered is refused, field by field.
    #[error("{}", describe_problems(.0))]
    Refused(Vec<Problem>),
    /// A rule forbids this user this step.
    #[error("{0}")]
    NotAllowed(String),
    /// Someone else acted first; the message says who and what.
    #[error("{0}")]
    Stale(String),
    /// No such request, or not one this user may see (the same answer, so ids leak nothing).
    #[error("there is no such request, or you may not see it")]
    NotFound,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Internal(String),
}

fn describe_problems(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    lines.join("; ")
}

/// The states after approval in which a request's grant holds.
pub const GRANTED_STATES: &[&str] = &[
    "approved",
    "delivering",
    "pr_open",
    "delivery_failed",
    "merged",
    "live",
];

/// Whether `state` is one in which the grant holds.
pub fn is_granted(state: &str) -> bool {
    GRANTED_STATES.contains(&state)
}

/// Whether a grant is in the repository's base branch (its pull request merged): only then can
/// it be changed or removed. Before, a removal could merge first and the grant's own pull request
/// after it, bringing back what was removed.
pub fn is_delivered(state: &str) -> bool {
    matches!(state, "merged" | "live")
}

/// The groups that decide a request of `team` in `environment`, for messages: "someone in
/// platform-approvers or team-a-leads".
pub fn deciders(catalog: &mesh::Catalog, environment: &str, team: &str) -> String {
    let mut groups: Vec<String> = catalog
        .environment(environment)
        .map(|env| env.approval.approver_groups.clone())
        .unwrap_or_default();
    if let Some(team) = catalog.team(team) {
        groups.extend(team.approver_groups.iter().cloned());
    }
    groups.dedup();
    if groups.is_empty() {
        "a platform admin".to_owned()
    } else {
        format!("someone in {}", groups.join(" or "))
    }
}

/// Approvals an environment needs (at least one).
pub fn approvals_required(catalog: &mesh::Catalog, environment: &str) -> usize {
    catalog
        .environment(environment)
        .map_or(1, |env| usize::from(env.approval.approvals_required.max(1)))
}

/// A state as people say it.
pub fn state_words(state: &str) -> &'static str {
    match state {
        "submitted" => "waiting for review",
        "approved" => "approved",
        "rejected" => "rejected",
        "withdrawn" => "withdrawn",
        "delivering" => "being delivered",
        "pr_open" => "pull request open",
        "pr_closed" => "pull request closed",
        "delivery_failed" => "delivery failed",
        "merged" => "merged",
        "live" => "live",
        _ => "in an unknown state",
    }
}

/// The subject delivery and other background steps record their events under.
pub const SYSTEM_SUBJECT: &str = "signalbox";

/// Writes one timeline event of a background step (delivery) inside the caller's transaction.
pub(crate) async fn record_system_event(
    tx: &mut sqlx::PgConnection,
    request: Uuid,
    action: &str,
    from_state: Option<&str>,
    to_state: Option<&str>,
    body: &str,
) -> Result<(), sqlx::Error> {
    record_system_checked(tx, request, action, (from_state, to_state), body, None).await
}

/// [`record_system_event`] with the conflict check the step ran.
pub(crate) async fn record_system_checked(
    tx: &mut sqlx::PgConnection,
    request: Uuid,
    action: &str,
    states: (Option<&str>, Option<&str>),
    body: &str,
    checked: Option<&StepCheck>,
) -> Result<(), sqlx::Error> {
    let roles = Roles::default();
    let actor = Actor {
        subject: SYSTEM_SUBJECT,
        name: "Signalbox",
        roles: &roles,
        origin: &crate::audit::Origin::NONE,
    };
    record_checked_event(tx, request, &actor, action, states, body, checked).await
}

/// Writes one timeline event inside the caller's transaction.
pub(crate) async fn record_event(
    tx: &mut sqlx::PgConnection,
    request: Uuid,
    actor: &Actor<'_>,
    action: &str,
    from_state: Option<&str>,
    to_state: Option<&str>,
    body: &str,
) -> Result<(), sqlx::Error> {
    record_checked_event(
        tx,
        request,
        actor,
        action,
        (from_state, to_state),
        body,
        None,
    )
    .await
}

/// Writes one timeline event, with the conflict check its step ran, inside the caller's
/// transaction.
pub(crate) async fn record_checked_event(
    tx: &mut sqlx::PgConnection,
    request: Uuid,
    actor: &Actor<'_>,
    action: &str,
    (from_state, to_state): (Option<&str>, Option<&str>),
    body: &str,
    checked: Option<&StepCheck>,
) -> Result<(), sqlx::Error> {
    let checked = checked
        .map(serde_json::to_value)
        .transpose()
        .map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    sqlx::query!(
        r#"
        insert into request_events (request_id, actor, actor_name, action, from_state, to_state,
                                    body, checked)
        values ($1, $2, $3, $4, $5, $6, $7, $8)
        "#,
        request,
        actor.subject,
        actor.name,
        action,
        from_state,
        to_state,
        body,
        checked
    )
    .execute(&mut *tx)
    .await?;
    crate::audit::record_request_step(
        tx,
        request,
        actor.subject,
        actor.name,
        action,
        from_state,
        to_state,
        body,
        actor.origin,
    )
    .await?;
    if crate::jobs::notify::NOTIFIED.contains(&action) {
        crate::jobs::notify::enqueue(tx, request, action, actor.name, to_state, body).await?;
    }
    Ok(())
}

/// Checks a free text field: trimmed, required when `required`, at most [`MAX_TEXT`] chars.
fn check_text(field: &str, text: &str, required: Option<&str>) -> Result<String, WorkflowError> {
    let text = text.trim();
    if let Some(why) = required
        && text.is_empty()
    {
        return Err(WorkflowError::Refused(vec![Problem::invalid(field, why)]));
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT {
        return Err(WorkflowError::Refused(vec![Problem::invalid(
            field,
            format!("is {chars} characters long; at most {MAX_TEXT} are accepted"),
        )]));
    }
    Ok(text.to_owned())
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(granted: Option<usize>, pending: Option<usize>, merged: Option<usize>) -> StepCheck {
        StepCheck {
            granted,
            pending,
            merged,
            problems: Vec::new(),
        }
    }

    #[test]
    fn a_check_reads_as_a_sentence_at_every_step() {
        let cases = [
            (
                check(Some(12), Some(1), None),
                "Compared with 12 granted requests and 1 waiting request in prod: no conflict.",
            ),
            (
                check(Some(0), Some(0), None),
                "No other request is granted or waiting in prod: no conflict.",
            ),
            (
                check(Some(1), None, None),
                "Checked again against 1 granted request in prod: no conflict.",
            ),
            (
                check(Some(0), None, None),
                "Checked again; no request is granted in prod: no conflict.",
            ),
            (
                check(None, None, Some(3)),
                "Rendered with 3 merged requests in prod: no conflict.",
            ),
            (
                check(None, None, Some(0)),
                "Rendered; nothing is merged in prod yet: no conflict.",
            ),
        ];
        for (check, sentence) in cases {
            assert_eq!(check.describe("prod"), sentence);
        }
        let mut found = check(Some(2), None, None);
        found.problems = vec![
            Problem::new(mesh::ProblemKind::Conflict, "path", "one"),
            Problem::new(mesh::ProblemKind::Conflict, "path", "two"),
        ];
        assert_eq!(
            found.describe("dev"),
            "Checked again against 2 granted requests in dev: 2 conflicts."
        );
    }

    #[test]
    fn a_recorded_check_keeps_only_what_was_compared() {
        let json = serde_json::to_value(check(None, None, Some(4))).expect("serializes");
        assert_eq!(json, serde_json::json!({"merged": 4, "problems": []}));
        let back: StepCheck = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, check(None, None, Some(4)));
    }
}
