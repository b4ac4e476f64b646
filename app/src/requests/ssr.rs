//! The server side of the request server functions.

use leptos::prelude::*;
use mesh::Problem;
use time::OffsetDateTime;
use uuid::Uuid;

use backend::auth::CurrentUser;
use backend::requests::{self as workflow, Actor, Operation, Submission, WorkflowError};

use super::form::{self, ApiForm, EgressForm};
use super::{
    CheckView, ClaimView, DeliveryStatus, DeliveryView, FormStart, RequestPage, RequestRow,
    RequestView, StepOutcome, SubmitOutcome, TimelineEntry,
};
use crate::errors;
use crate::pages::preview::is_plain_form_post;

const PAGE_SIZE: i64 = 25;

fn actor(user: &CurrentUser) -> Actor<'_> {
    Actor {
        subject: &user.user.subject,
        name: &user.user.name,
        roles: &user.roles,
        origin: &user.origin,
    }
}

/// What a submission or approval is checked against: the catalog and what the clusters run.
pub fn checks<'a>(
    backend: &'a backend::Backend,
    observed: &'a mesh::observed::Observations,
) -> workflow::Checks<'a> {
    workflow::Checks {
        catalog: &backend.catalog,
        observed: Some(observed),
    }
}

pub fn backend() -> backend::Backend {
    expect_context::<backend::Backend>()
}

type SharedRead = futures_util::future::Shared<
    futures_util::future::BoxFuture<'static, Result<RequestPage, ServerFnError>>,
>;

/// The list reads of one page request, shared: the server builds a page's view twice while it
/// renders it (once to find its resources, once to render), so the same list would otherwise be
/// queried twice. Provided per request; without it (a server function called over HTTP) every
/// read runs on its own.
#[derive(Clone, Default)]
pub struct PageReads(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, SharedRead>>>,
);

impl PageReads {
    /// This request's shared reads (read it before the first await, like every context).
    pub fn current() -> Option<Self> {
        use_context::<PageReads>()
    }

    /// Runs `read` once per `key` in this request; later callers share its result.
    pub async fn once(
        reads: Option<Self>,
        key: String,
        read: impl std::future::Future<Output = Result<RequestPage, ServerFnError>> + Send + 'static,
    ) -> Result<RequestPage, ServerFnError> {
        use futures_util::FutureExt as _;
        let Some(reads) = reads else {
            return read.await;
        };
        let shared = reads
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key)
            .or_insert_with(|| read.boxed().shared())
            .clone();
        shared.await
    }
}

/// "in 12 seconds", "in 3 minutes", "now": when something due at `at` happens.
pub(crate) fn in_words(at: OffsetDateTime) -> String {
    let seconds = (at - OffsetDateTime::now_utc()).whole_seconds();
    match seconds {
        s if s <= 0 => "now".to_owned(),
        1 => "in a second".to_owned(),
        s if s < 120 => format!("in {s} seconds"),
        s => format!("in {} minutes", s / 60),
    }
}

/// "3 days ago", and the exact time for the hover.
pub(crate) fn when(at: OffsetDateTime) -> (String, String) {
    let seconds = (OffsetDateTime::now_utc() - at).whole_seconds().max(0);
    let age = match seconds {
        s if s < 60 => "just now".to_owned(),
        s if s < 120 => "a minute ago".to_owned(),
        s if s < 3600 => format!("{} minutes ago", s / 60),
        s if s < 7200 => "an hour ago".to_owned(),
        s if s < 86_400 => format!("{} hours ago", s / 3600),
        s if s < 172_800 => "yesterday".to_owned(),
        s => format!("{} days ago", s / 86_400),
    };
    let exact = format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    );
    (age, exact)
}

fn parse_id(id: &str) -> Option<Uuid> {
    id.trim().parse().ok()
}

fn blank_to_none(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// A workflow refusal as problems the page shows; anything unexpected as a reference id.
fn refusal(error: WorkflowError) -> Result<Vec<Problem>, ServerFnError> {
    match error {
        WorkflowError::Refused(problems) => Ok(problems),
        WorkflowError::NotAllowed(message) | WorkflowError::Stale(message) => {
            Ok(vec![Problem::policy("request", message)])
        }
        WorkflowError::NotFound => Ok(vec![Problem::invalid(
            "request",
            "there is no such request, or you may not see it",
        )]),
        other @ (WorkflowError::Database(_) | WorkflowError::Internal(_)) => {
            Err(errors::internal(other))
        }
    }
}

/// A refused form submitted without JavaScript: keep what was typed and the problems in a
/// draft, and send the browser back to the form that shows them.
async fn refused_form(
    backend: &backend::Backend,
    user: &CurrentUser,
    page: &str,
    body: serde_json::Value,
    problems: Vec<Problem>,
) -> Result<SubmitOutcome, ServerFnError> {
    if is_plain_form_post() {
        let mut body = body;
        body["problems"] = serde_json::to_value(&problems).map_err(errors::internal)?;
        let draft = backend::drafts::save(&backend.pool, &user.user.subject, &body.to_string())
            .await
            .map_err(errors::internal)?;
        let join = if page.contains('?') { '&' } else { '?' };
        leptos_axum::redirect(&format!("{page}{join}draft={draft}"));
    }
    Ok(SubmitOutcome::Refused { problems })
}

fn submitted(id: Uuid) -> SubmitOutcome {
    if is_plain_form_post() {
        leptos_axum::redirect(&format!("/requests/{id}"));
    }
    SubmitOutcome::Submitted { id: id.to_string() }
}

pub async fn form_setup(
    backend: &backend::Backend,
    user: &CurrentUser,
    draft: Option<String>,
    change: Option<String>,
) -> Result<FormStart, ServerFnError> {
    let mut setup = FormStart {
        key: Uuid::new_v4().to_string(),
        api: None,
        egress: None,
        problems: Vec::new(),
        change_of: None,
        claims: Vec::new(),
        observed: Default::default(),
    };
    for environment in backend.catalog.environments() {
        setup
            .claims
            .extend(environment_claims(backend, environment.name.as_str()).await?);
    }
    setup.observed = observed_for_forms(backend, &setup.claims);
    if let Some(id) = blank_to_none(change).as_deref().and_then(parse_id) {
        let detail = workflow::load_detail(&backend.pool, actor(user), id).await;
        match detail {
            Ok(detail) => {
                let request = mesh::Request::from_value(&detail.record.payload)
                    .map_err(|p| errors::internal(format!("stored request {id}: {p:?}")))?;
                setup.api = ApiForm::from_request(&request, "");
                setup.change_of = Some((id.to_string(), detail.record.summary));
            }
            Err(error) => setup.problems = refusal(error)?,
        }
    }
    if let Some(id) = blank_to_none(draft).as_deref().and_then(parse_id)
        && let Some(body) = backend::drafts::load(&backend.pool, id, &user.user.subject)
            .await
            .map_err(errors::internal)?
        && let Ok(value) = serde_json::from_str::<serde_json::Value>(&body)
    {
        setup.api = serde_json::from_value(value["api"].clone()).ok();
        setup.egress = serde_json::from_value(value["egress"].clone()).ok();
        setup.problems = serde_json::from_value(value["problems"].clone()).unwrap_or_default();
    }
    Ok(setup)
}

/// What the clusters run, cut to what the forms need: every namespace's membership, the Services
/// of the namespaces teams hold (configured or onboarded), and the hand-made routes.
fn observed_for_forms(
    backend: &backend::Backend,
    claims: &[ClaimView],
) -> mesh::observed::Observations {
    let mut observed = backend.observations();
    let configured: std::collections::BTreeSet<String> = backend
        .catalog
        .teams()
        .flat_map(|team| team.namespaces.iter().map(ToString::to_string))
        .collect();
    for (environment, cluster) in &mut observed {
        let onboarded: std::collections::BTreeSet<&str> = claims
            .iter()
            .filter(|c| {
                c.payload["kind"] == "Onboarding"
                    && c.payload["environment"] == environment.as_str()
            })
            .filter_map(|c| c.payload["namespace"].as_str())
            .collect();
        cluster.services.retain(|namespace, _| {
            configured.contains(namespace) || onboarded.contains(namespace.as_str())
        });
    }
    observed
}

pub async fn environment_claims(
    backend: &backend::Backend,
    environment: &str,
) -> Result<Vec<ClaimView>, ServerFnError> {
    let claims = workflow::existing_claims(&backend.pool, environment)
        .await
        .map_err(errors::internal)?;
    let view = |granted: bool| {
        move |claim: &workflow::StoredClaim| ClaimView {
            id: claim.id.to_string(),
            payload: claim.payload.clone(),
            granted,
        }
    };
    Ok(claims
        .granted
        .iter()
        .map(view(true))
        .chain(claims.pending.iter().map(view(false)))
        .collect())
}

pub async fn submit_api(
    backend: &backend::Backend,
    user: &CurrentUser,
    key: String,
    change_of: Option<String>,
    form: ApiForm,
) -> Result<SubmitOutcome, ServerFnError> {
    let change_of = blank_to_none(change_of);
    let page = match &change_of {
        Some(id) => format!(
            "/requests/new/api?change={}",
            crate::url::encode_component(id)
        ),
        None => "/requests/new/api".to_owned(),
    };
    let body = serde_json::json!({ "api": form });
    let Some(key) = parse_id(&key) else {
        return refused_form(backend, user, &page, body, vec![stale_form()]).await;
    };
    let request = match form::parse(form.to_value()) {
        Ok(request) => request,
        Err(problems) => return refused_form(backend, user, &page, body, problems).await,
    };
    let supersedes = change_of.as_deref().and_then(parse_id);
    let submission = Submission {
        request,
        justification: form.justification.clone(),
        key,
        operation: if supersedes.is_some() {
            Operation::Change
        } else {
            Operation::Create
        },
        supersedes,
    };
    let observed = backend.observations();
    match workflow::submit(
        &backend.pool,
        checks(backend, &observed),
        actor(user),
        submission,
    )
    .await
    {
        Ok(id) => Ok(submitted(id)),
        Err(error) => {
            let problems = refusal(error)?;
            refused_form(backend, user, &page, body, problems).await
        }
    }
}

fn stale_form() -> Problem {
    Problem::invalid(
        "request",
        "this form is missing its submission id; reload the page and submit again",
    )
}

pub async fn submit_egress(
    backend: &backend::Backend,
    user: &CurrentUser,
    key: String,
    form: EgressForm,
) -> Result<SubmitOutcome, ServerFnError> {
    let page = "/requests/new/egress";
    let body = serde_json::json!({ "egress": form });
    let Some(key) = parse_id(&key) else {
        return refused_form(backend, user, page, body, vec![stale_form()]).await;
    };
    let request = match form::parse(form.to_value()) {
        Ok(request) => request,
        Err(problems) => return refused_form(backend, user, page, body, problems).await,
    };
    let submission = Submission {
        request,
        justification: form.justification.clone(),
        key,
        operation: Operation::Create,
        supersedes: None,
    };
    let observed = backend.observations();
    match workflow::submit(
        &backend.pool,
        checks(backend, &observed),
        actor(user),
        submission,
    )
    .await
    {
        Ok(id) => Ok(submitted(id)),
        Err(error) => {
            let problems = refusal(error)?;
            refused_form(backend, user, page, body, problems).await
        }
    }
}

pub async fn remove_grant(
    backend: &backend::Backend,
    user: &CurrentUser,
    key: String,
    id: String,
    justification: String,
) -> Result<SubmitOutcome, ServerFnError> {
    let (Some(key), Some(grant)) = (parse_id(&key), parse_id(&id)) else {
        return Ok(SubmitOutcome::Refused {
            problems: vec![stale_form()],
        });
    };
    let outcome = async {
        let detail = workflow::load_detail(&backend.pool, actor(user), grant).await?;
        let request = mesh::Request::from_value(&detail.record.payload)
            .map_err(|p| WorkflowError::Internal(format!("stored request {grant}: {p:?}")))?;
        let observed = backend.observations();
        workflow::submit(
            &backend.pool,
            checks(backend, &observed),
            actor(user),
            Submission {
                request,
                justification,
                key,
                operation: Operation::Remove,
                supersedes: Some(grant),
            },
        )
        .await
    }
    .await;
    match outcome {
        Ok(id) => Ok(submitted(id)),
        Err(error) => {
            let problems = refusal(error)?;
            step_refused(backend, user, grant, problems)
                .await
                .map(|outcome| match outcome {
                    StepOutcome::Refused { problems } => SubmitOutcome::Refused { problems },
                    StepOutcome::Done { .. } => SubmitOutcome::Refused {
                        problems: Vec::new(),
                    },
                })
        }
    }
}

/// Without JavaScript, a step's outcome is shown on the request page it came from.
async fn step_note(
    backend: &backend::Backend,
    user: &CurrentUser,
    id: Uuid,
    message: &str,
) -> Result<(), ServerFnError> {
    if is_plain_form_post() {
        let body = serde_json::json!({ "note": message }).to_string();
        let draft = backend::drafts::save(&backend.pool, &user.user.subject, &body)
            .await
            .map_err(errors::internal)?;
        leptos_axum::redirect(&format!("/requests/{id}?note={draft}"));
    }
    Ok(())
}

async fn step_refused(
    backend: &backend::Backend,
    user: &CurrentUser,
    id: Uuid,
    problems: Vec<Problem>,
) -> Result<StepOutcome, ServerFnError> {
    let lines: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
    step_note(backend, user, id, &lines.join(" ")).await?;
    Ok(StepOutcome::Refused { problems })
}

async fn step_done(
    backend: &backend::Backend,
    user: &CurrentUser,
    id: Uuid,
    message: String,
) -> Result<StepOutcome, ServerFnError> {
    step_note(backend, user, id, &message).await?;
    Ok(StepOutcome::Done { message })
}

fn unknown_request() -> StepOutcome {
    StepOutcome::Refused {
        problems: vec![Problem::invalid(
            "request",
            "there is no such request, or you may not see it",
        )],
    }
}

pub async fn decide(
    backend: &backend::Backend,
    user: &CurrentUser,
    id: String,
    version: i32,
    decision: String,
    reason: String,
) -> Result<StepOutcome, ServerFnError> {
    let Some(id) = parse_id(&id) else {
        return Ok(unknown_request());
    };
    let decision = match decision.as_str() {
        "approve" => workflow::Decision::Approve,
        "reject" => workflow::Decision::Reject,
        _ => {
            return step_refused(
                backend,
                user,
                id,
                vec![Problem::invalid("decision", "choose Approve or Reject")],
            )
            .await;
        }
    };
    let observed = backend.observations();
    match workflow::decide(
        &backend.pool,
        checks(backend, &observed),
        actor(user),
        id,
        version,
        decision,
        &reason,
    )
    .await
    {
        Ok(state) => {
            let message = match (decision, state) {
                (workflow::Decision::Reject, _) => "You rejected this request.".to_owned(),
                (_, "approved") => "You approved this request; it is approved.".to_owned(),
                _ => "You approved this request; it waits for more approvals.".to_owned(),
            };
            step_done(backend, user, id, message).await
        }
        Err(error) => step_refused(backend, user, id, refusal(error)?).await,
    }
}

pub async fn withdraw(
    backend: &backend::Backend,
    user: &CurrentUser,
    id: String,
    version: i32,
) -> Result<StepOutcome, ServerFnError> {
    let Some(id) = parse_id(&id) else {
        return Ok(unknown_request());
    };
    match workflow::withdraw(&backend.pool, actor(user), id, version).await {
        Ok(()) => step_done(backend, user, id, "You withdrew this request.".to_owned()).await,
        Err(error) => step_refused(backend, user, id, refusal(error)?).await,
    }
}

pub async fn comment(
    backend: &backend::Backend,
    user: &CurrentUser,
    id: String,
    body: String,
) -> Result<StepOutcome, ServerFnError> {
    let Some(id) = parse_id(&id) else {
        return Ok(unknown_request());
    };
    match workflow::comment(&backend.pool, actor(user), id, &body).await {
        Ok(()) => step_done(backend, user, id, "Your comment was added.".to_owned()).await,
        Err(error) => step_refused(backend, user, id, refusal(error)?).await,
    }
}

pub async fn retry_delivery(
    backend: &backend::Backend,
    user: &CurrentUser,
    id: String,
    version: i32,
) -> Result<StepOutcome, ServerFnError> {
    let Some(id) = parse_id(&id) else {
        return Ok(unknown_request());
    };
    match backend::jobs::retry_delivery(&backend.pool, actor(user), id, version).await {
        Ok(()) => {
            step_done(
                backend,
                user,
                id,
                "Delivery starts again; this page shows the pull request once it is open."
                    .to_owned(),
            )
            .await
        }
        Err(error) => step_refused(backend, user, id, refusal(error)?).await,
    }
}

pub async fn delivery_status(
    backend: &backend::Backend,
    user: &CurrentUser,
    id: String,
) -> Result<DeliveryStatus, ServerFnError> {
    let not_found = || {
        ServerFnError::ServerError("There is no such request, or you may not see it.".to_owned())
    };
    let Some(id) = parse_id(&id) else {
        return Err(not_found());
    };
    match workflow::load_detail(&backend.pool, actor(user), id).await {
        Ok(detail) => Ok(status_of(backend, user, &detail)),
        Err(WorkflowError::NotFound) => Err(not_found()),
        Err(other) => Err(errors::internal(other)),
    }
}

fn status_of(
    backend: &backend::Backend,
    user: &CurrentUser,
    detail: &workflow::RequestDetail,
) -> DeliveryStatus {
    let record = &detail.record;
    let after_approval = workflow::is_granted(&record.state)
        || matches!(record.state.as_str(), "pr_closed" | "merged" | "live");
    DeliveryStatus {
        state: record.state.clone(),
        version: record.version,
        pull: detail.delivery.clone().map(delivery_view),
        problem: detail
            .delivery_problem
            .as_ref()
            .map(|problem| match problem.next_attempt {
                Some(next) => format!(
                    "Attempt {} failed: {}. Signalbox tries again {}.",
                    problem.attempts,
                    problem.reason,
                    in_words(next)
                ),
                None => format!("Delivery failed: {}", problem.reason),
            }),
        target: after_approval.then(|| delivery_target(&backend.catalog, &record.environment)),
        may_retry: record.state == "delivery_failed" && user.roles.platform_admin,
        configured: backend
            .catalog
            .environment(&record.environment)
            .is_some_and(|env| env.gitops.forge.is_some()),
    }
}

/// The delivery as the page shows it: the committed files with their diffs.
fn delivery_view(delivery: workflow::Delivery) -> DeliveryView {
    use backend::forge::FileStatus as Committed;
    use mesh::changes::{FileChange, FileStatus};
    let files = delivery
        .files
        .into_iter()
        .map(|file| {
            let status = match file.status {
                Committed::Added => FileStatus::Added,
                Committed::Modified => FileStatus::Modified,
                Committed::Deleted => FileStatus::Removed,
            };
            let old = file.previous.unwrap_or_default();
            let new = file.contents.unwrap_or_default();
            FileChange {
                lines: mesh::changes::diff_lines(&old, &new),
                path: file.path,
                status,
                contents: new,
            }
        })
        .collect();
    let (age, at) = when(delivery.updated_at);
    DeliveryView {
        forge: delivery.forge,
        repository: delivery.repository,
        base_branch: delivery.base_branch,
        branch: delivery.branch,
        number: delivery.number,
        url: delivery.url,
        head_sha: delivery.head_sha,
        merged_sha: delivery.merged_sha,
        files,
        age,
        at,
    }
}

/// "Approved requests of dev become pull requests in the local git repository .data/gitops",
/// or why they wait.
fn delivery_target(catalog: &mesh::Catalog, environment: &str) -> String {
    let Some(env) = catalog.environment(environment) else {
        return format!("{environment} is no longer configured; nothing is delivered.");
    };
    let repository = env.gitops.repository.as_deref().unwrap_or_default();
    let base = env.gitops.base_branch.as_deref().unwrap_or("main");
    match env.gitops.forge.as_deref() {
        Some("local") => format!(
            "Approved requests of {environment} become a branch in the local git repository {repository}, to merge into {base}."
        ),
        Some(forge) => format!(
            "Approved requests of {environment} become pull requests to {base} of {repository} on {forge}."
        ),
        None => format!(
            "{environment} has no GitOps forge configured (gitops.forge); approved requests wait until a platform admin configures one."
        ),
    }
}

fn row(listed: workflow::ListedRequest) -> RequestRow {
    let (age, at) = when(listed.created_at);
    RequestRow {
        id: listed.id.to_string(),
        kind: listed.kind,
        environment: listed.environment,
        team: listed.team,
        requester_name: listed.requester_name,
        summary: listed.summary,
        state: listed.state,
        operation: listed.operation,
        approvals: listed.approvals,
        age,
        at,
    }
}

fn page_of(rows: Vec<workflow::ListedRequest>) -> RequestPage {
    let mut rows: Vec<RequestRow> = rows.into_iter().map(row).collect();
    let next = if rows.len() > usize::try_from(PAGE_SIZE).unwrap_or(25) {
        rows.pop();
        rows.last().map(|row| row.id.clone())
    } else {
        None
    };
    RequestPage { rows, next }
}

pub async fn my_requests(
    backend: &backend::Backend,
    user: &CurrentUser,
    state: Option<String>,
    environment: Option<String>,
    before: Option<String>,
) -> Result<RequestPage, ServerFnError> {
    let filter = workflow::MineFilter {
        state: blank_to_none(state),
        environment: blank_to_none(environment),
        before: blank_to_none(before).as_deref().and_then(parse_id),
        limit: PAGE_SIZE + 1,
    };
    let rows = workflow::requests_of(&backend.pool, actor(user), &filter)
        .await
        .map_err(errors::internal)?;
    Ok(page_of(rows))
}

pub async fn approver_queue(
    backend: &backend::Backend,
    user: &CurrentUser,
    environment: Option<String>,
    team: Option<String>,
    kind: Option<String>,
    after: Option<String>,
) -> Result<RequestPage, ServerFnError> {
    let filter = workflow::QueueFilter {
        environment: blank_to_none(environment),
        team: blank_to_none(team),
        kind: blank_to_none(kind),
        after: blank_to_none(after).as_deref().and_then(parse_id),
        limit: PAGE_SIZE + 1,
    };
    let rows = workflow::queue(&backend.pool, actor(user), &filter)
        .await
        .map_err(errors::internal)?;
    Ok(page_of(rows))
}

pub async fn waiting_count(
    backend: &backend::Backend,
    user: &CurrentUser,
) -> Result<i64, ServerFnError> {
    workflow::waiting_count(&backend.pool, actor(user), 100)
        .await
        .map_err(errors::internal)
}

pub async fn load_request(
    backend: &backend::Backend,
    user: &CurrentUser,
    id: String,
    note: Option<String>,
    response: Option<leptos_axum::ResponseOptions>,
) -> Result<RequestView, ServerFnError> {
    let not_found = || {
        if let Some(response) = &response {
            response.set_status(http::StatusCode::NOT_FOUND);
        }
        ServerFnError::ServerError("There is no such request, or you may not see it.".to_owned())
    };
    let Some(id) = parse_id(&id) else {
        return Err(not_found());
    };
    let detail = match workflow::load_detail(&backend.pool, actor(user), id).await {
        Ok(detail) => detail,
        Err(WorkflowError::NotFound) => return Err(not_found()),
        Err(other) => return Err(errors::internal(other)),
    };
    let record = &detail.record;
    let request = mesh::Request::from_value(&record.payload)
        .map_err(|p| errors::internal(format!("stored request {id}: {p:?}")))?
        .with_origin(format!("request {id}"));
    let (files, problems, guidance) = files_changed(backend, record, &request).await?;
    let me = actor(user);
    let decide_block = if record.state != "submitted" {
        Some(String::new())
    } else if record.requester == user.user.subject {
        Some(format!(
            "You made this request; {} must decide.",
            workflow::deciders(&backend.catalog, &record.environment, &record.team).replacen(
                "someone in",
                "someone else in",
                1
            )
        ))
    } else if !me.may_decide(&record.environment, &record.team) {
        Some(format!(
            "{} decides this request.",
            capitalise(&workflow::deciders(
                &backend.catalog,
                &record.environment,
                &record.team
            ))
        ))
    } else if detail
        .approvals
        .iter()
        .any(|a| a.approver == user.user.subject)
    {
        Some("You approved this request; it waits for someone else's approval.".to_owned())
    } else {
        None
    };
    let in_force = workflow::is_granted(&record.state)
        && record.operation != "remove"
        && detail.replaced_by.is_none();
    // Changed or removed only once merged (see `is_delivered`).
    let granted = in_force && workflow::is_delivered(&record.state);
    let day2_waits = in_force && !granted && me.may_request_for(&record.team);
    let team_member = me.may_request_for(&record.team);
    let note = match blank_to_none(note).as_deref().and_then(parse_id) {
        Some(draft) => backend::drafts::load(&backend.pool, draft, &user.user.subject)
            .await
            .map_err(errors::internal)?
            .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|value| value["note"].as_str().map(str::to_owned)),
        None => None,
    };
    let (age, at) = when(record.created_at);
    let target =
        backend::audit::Target::of_request(id, &record.environment, &record.team, &record.payload);
    let history = match (&target.host, &target.path, target.external_hosts.first()) {
        (Some(host), Some(path), _) => Some(vec![("host", host.clone()), ("path", path.clone())]),
        (_, _, Some(external)) => Some(vec![("external_host", external.clone())]),
        _ => None,
    }
    .map(|mut query| {
        query.insert(0, ("environment", record.environment.clone()));
        let query: Vec<(String, String)> =
            query.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        crate::pages::requests::list::href_with("/audit/lineage", &query)
    })
    // A namespace's onboarding: every event about the namespace in its environment.
    .or_else(|| {
        matches!(
            record.kind.as_str(),
            "Onboarding"
                | "MutualTls"
                | "CircuitBreaker"
                | "Authorization"
                | "JwtAuthentication"
                | "Tracing"
        )
        .then_some(target.namespace.as_ref())
        .flatten()
        .map(|namespace| {
            crate::pages::requests::list::href_with(
                "/audit",
                &[
                    ("environment".to_owned(), record.environment.clone()),
                    ("namespace".to_owned(), namespace.clone()),
                ],
            )
        })
    });
    // Where to look at it once merged, and how a live route is doing.
    let granted_in_mesh = matches!(record.state.as_str(), "merged" | "live");
    let environment = backend.catalog.environment(&record.environment);
    let links = match environment {
        Some(env) if granted_in_mesh => backend::cluster::observability::links(env, &request)
            .into_iter()
            .map(|link| (link.label, link.url))
            .collect(),
        _ => Vec::new(),
    };
    let health = match (environment, request.kind()) {
        (Some(env), mesh::request::RequestKind::ApiRoute(route)) if record.state == "live" => Some(
            backend::cluster::observability::route_health(
                &backend.http,
                env,
                route.target().namespace().as_str(),
                route.target().service().as_str(),
            )
            .await
            .describe(),
        ),
        _ => None,
    };
    Ok(RequestView {
        history,
        links,
        health,
        id: id.to_string(),
        kind: record.kind.clone(),
        environment: record.environment.clone(),
        team: record.team.clone(),
        requester_name: record.requester_name.clone(),
        summary: record.summary.clone(),
        state: record.state.clone(),
        operation: record.operation.clone(),
        supersedes: record.supersedes.map(|id| id.to_string()),
        justification: record.justification.clone(),
        version: record.version,
        age,
        at,
        request_yaml: serde_norway::to_string(&request.to_value()).unwrap_or_default(),
        approvals: detail
            .approvals
            .iter()
            .map(|a| a.approver_name.clone())
            .collect(),
        approvals_required: workflow::approvals_required(&backend.catalog, &record.environment),
        deciders: workflow::deciders(&backend.catalog, &record.environment, &record.team),
        timeline: detail
            .events
            .iter()
            .map(|event| {
                let (age, at) = when(event.at);
                TimelineEntry {
                    actor_name: event.actor_name.clone(),
                    action: event.action.clone(),
                    to_state: event.to_state.clone(),
                    body: event.body.clone(),
                    age,
                    at,
                    check: event.checked.as_ref().map(|check| CheckView {
                        text: check.describe(&record.environment),
                        problems: check.problems.clone(),
                    }),
                }
            })
            .collect(),
        files,
        guidance,
        problems,
        decide_block,
        may_withdraw: record.state == "submitted"
            && (record.requester == user.user.subject || team_member),
        may_change: granted
            && team_member
            && record.kind == "ApiRoute"
            && detail.pending_day2.is_none(),
        may_remove: granted && team_member && detail.pending_day2.is_none(),
        pending_day2: detail.pending_day2.map(|id| id.to_string()),
        day2_waits,
        replaced_by: detail.replaced_by.map(|id| id.to_string()),
        removal_key: Uuid::new_v4().to_string(),
        note,
        delivery: status_of(backend, user, &detail),
    })
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// What the request's pull request changes: the repository's state with what is granted (the
/// grant it changes or removes included) against the state with this request applied, and what
/// its team does outside the pull request.
type Changed = (
    Vec<mesh::changes::FileChange>,
    Vec<Problem>,
    Vec<mesh::plan::Guidance>,
);

async fn files_changed(
    backend: &backend::Backend,
    record: &workflow::RequestRecord,
    request: &mesh::Request,
) -> Result<Changed, ServerFnError> {
    let claims = workflow::existing_claims(&backend.pool, &record.environment)
        .await
        .map_err(errors::internal)?;
    let mut base: Vec<mesh::Request> = Vec::new();
    for claim in &claims.granted {
        if claim.id == record.id || Some(claim.id) == record.supersedes {
            continue;
        }
        base.push(claim.parse().map_err(errors::internal)?);
    }
    let mut before = base.clone();
    if let Some(original) = record.supersedes {
        let payload = sqlx_payload(backend, original).await?;
        if let Some(payload) = payload
            && let Ok(original) = mesh::Request::from_value(&payload)
        {
            before.push(
                original.with_origin(format!("request {}", record.supersedes.unwrap_or_default())),
            );
        }
    }
    let mut after = base;
    if record.operation != "remove" {
        after.push(request.clone());
    }
    let catalog = &backend.catalog;
    match (
        mesh::render_state(catalog, &before),
        mesh::render_state(catalog, &after),
    ) {
        (Ok(before), Ok(after)) => {
            // This request's own, and then what its environment needs for them (no source).
            let mine = |g: &&mesh::plan::Guidance| {
                record.operation != "remove" && g.source.as_deref() == request.origin()
            };
            let guidance = if after.guidance.iter().any(|g| mine(&g)) {
                after
                    .guidance
                    .iter()
                    .filter(|g| mine(g) || g.source.is_none())
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            Ok((
                mesh::changes::changes(&before, &after),
                Vec::new(),
                guidance,
            ))
        }
        (Err(problems), _) | (_, Err(problems)) => Ok((Vec::new(), problems, Vec::new())),
    }
}

async fn sqlx_payload(
    backend: &backend::Backend,
    id: Uuid,
) -> Result<Option<serde_json::Value>, ServerFnError> {
    backend::requests::payload_of(&backend.pool, id)
        .await
        .map_err(errors::internal)
}
