//! Requests as the pages see them: the forms' model ([`form`]), the rows and the request page's
//! view, and the server functions behind them. Server functions only find the user, call the
//! backend's workflow and map its answer; every rule lives in `backend::requests`.

pub mod form;
pub mod live;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use form::{ApiForm, EgressForm};

/// One row of a request list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestRow {
    pub id: String,
    pub kind: String,
    pub environment: String,
    pub team: String,
    pub requester_name: String,
    pub summary: String,
    pub state: String,
    pub operation: String,
    pub approvals: i64,
    pub age: String,
    pub at: String,
}

/// One page of a list, and the cursor of the next page when there is one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestPage {
    pub rows: Vec<RequestRow>,
    pub next: Option<String>,
}

/// One entry of a request's conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub actor_name: String,
    pub action: String,
    pub to_state: Option<String>,
    pub body: String,
    pub age: String,
    pub at: String,
    /// The conflict check this step ran: what it compared the request with, and what it found.
    #[serde(default)]
    pub check: Option<CheckView>,
}

/// A recorded conflict check, as the timeline shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckView {
    /// "Compared with the 12 granted and 3 waiting requests of prod: no conflict."
    pub text: String,
    pub problems: Vec<mesh::Problem>,
}

/// Everything the request page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestView {
    /// The audit lineage of the route or external host this request concerns.
    pub history: Option<String>,
    /// Where to look at the grant in the environment's tools: (label, URL).
    #[serde(default)]
    pub links: Vec<(String, String)>,
    /// A live route's last hour, or why it cannot be shown.
    #[serde(default)]
    pub health: Option<String>,
    pub id: String,
    pub kind: String,
    pub environment: String,
    pub team: String,
    pub requester_name: String,
    pub summary: String,
    pub state: String,
    pub operation: String,
    pub supersedes: Option<String>,
    pub justification: String,
    pub version: i32,
    pub age: String,
    pub at: String,
    /// The request in the public format, as YAML.
    pub request_yaml: String,
    pub approvals: Vec<String>,
    pub approvals_required: usize,
    pub deciders: String,
    pub timeline: Vec<TimelineEntry>,
    /// The files the pull request changes, each with its diff.
    pub files: Vec<mesh::changes::FileChange>,
    /// What the team does outside the pull request (a Rollout's traffic routing, the
    /// annotations of a Deployment).
    #[serde(default)]
    pub guidance: Vec<mesh::plan::Guidance>,
    /// Problems found checking the request against what is granted now.
    pub problems: Vec<mesh::Problem>,
    /// Why the viewer may not decide, when they may not (`None`: the decision box shows).
    pub decide_block: Option<String>,
    pub may_withdraw: bool,
    pub may_change: bool,
    pub may_remove: bool,
    /// Granted, but not merged yet: changing or removing waits for the merge.
    pub day2_waits: bool,
    pub pending_day2: Option<String>,
    /// The approved change that replaced this grant.
    pub replaced_by: Option<String>,
    /// The submission key of the removal form.
    pub removal_key: String,
    /// A message for the viewer left by a step made without JavaScript.
    pub note: Option<String>,
    /// Where delivery stands; the page keeps it current while delivery is under way.
    pub delivery: DeliveryStatus,
}

/// Where a request's delivery stands: what the delivery panel shows and refreshes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryStatus {
    pub state: String,
    pub version: i32,
    /// Its pull request (or local branch), once delivery made one.
    pub pull: Option<DeliveryView>,
    /// Why delivery has not succeeded (yet).
    pub problem: Option<String>,
    /// Where approved requests of this environment go, or why they wait; `None` before approval.
    pub target: Option<String>,
    /// The viewer may retry a failed delivery (platform admins).
    pub may_retry: bool,
    /// The environment has a forge, so approved requests are delivered.
    pub configured: bool,
}

impl DeliveryStatus {
    /// Whether delivery is under way, so the page should look again soon.
    pub fn in_flight(&self) -> bool {
        self.configured && matches!(self.state.as_str(), "approved" | "delivering" | "pr_open")
    }
}

/// A request's pull request, as the page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    /// `local`, `github`, `gitlab` or `gitea`.
    pub forge: String,
    pub repository: String,
    pub base_branch: String,
    pub branch: String,
    pub number: Option<i64>,
    pub url: Option<String>,
    pub head_sha: String,
    pub merged_sha: Option<String>,
    /// The files as committed, each with its diff against the base branch.
    pub files: Vec<mesh::changes::FileChange>,
    pub age: String,
    pub at: String,
}

/// The answer to a submit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SubmitOutcome {
    Submitted { id: String },
    Refused { problems: Vec<mesh::Problem> },
}

/// The answer to a decision, withdrawal or comment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StepOutcome {
    Done { message: String },
    Refused { problems: Vec<mesh::Problem> },
}

/// What a form page starts from: a fresh submission key, and the values and problems of a
/// refused submit made without JavaScript, or of the grant being changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormStart {
    pub key: String,
    pub api: Option<ApiForm>,
    pub egress: Option<EgressForm>,
    pub problems: Vec<mesh::Problem>,
    /// The grant a change is about: its id and summary.
    pub change_of: Option<(String, String)>,
    /// Every stored claim, for the browser's own conflict check.
    pub claims: Vec<ClaimView>,
    /// What the environments' clusters run (their team namespaces' Services, mesh membership,
    /// hand-made routes on the shared hosts), for the same check and the Service and port
    /// choices; empty for an environment whose cluster is not read.
    #[serde(default)]
    pub observed: mesh::observed::Observations,
}

/// A stored request that holds a claim, for the browser's own conflict check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimView {
    pub id: String,
    pub payload: serde_json::Value,
    pub granted: bool,
}

/// How a state reads on a label.
pub fn state_label(state: &str) -> &'static str {
    match state {
        "submitted" => "Waiting for review",
        "approved" => "Approved",
        "rejected" => "Rejected",
        "withdrawn" => "Withdrawn",
        "delivering" => "Delivering",
        "pr_open" => "Pull request open",
        "pr_closed" => "Pull request closed",
        "delivery_failed" => "Delivery failed",
        "merged" => "Merged",
        "live" => "Live",
        _ => "Unknown",
    }
}

/// The colour class of a state label.
pub fn state_class(state: &str) -> &'static str {
    match state {
        "submitted" | "delivering" | "pr_open" => "label amber",
        "approved" | "merged" | "live" => "label green",
        "rejected" | "delivery_failed" | "pr_closed" => "label red",
        _ => "label grey",
    }
}

/// "Remove", "Change" or "" before a summary.
pub fn operation_prefix(operation: &str) -> &'static str {
    match operation {
        "change" => "Change: ",
        "remove" => "Remove: ",
        _ => "",
    }
}

#[server]
pub async fn form_setup(
    draft: Option<String>,
    change: Option<String>,
) -> Result<FormStart, ServerFnError> {
    // Contexts are read before the first await: a resource's later polls may run without them.
    let backend = ssr::backend();
    let user = crate::auth::require_member().await?;
    ssr::form_setup(&backend, &user, draft, change).await
}

#[server]
pub async fn submit_api(
    key: String,
    change_of: Option<String>,
    form: ApiForm,
) -> Result<SubmitOutcome, ServerFnError> {
    // Contexts are read before the first await: a resource's later polls may run without them.
    let backend = ssr::backend();
    let user = crate::auth::require_member().await?;
    ssr::submit_api(&backend, &user, key, change_of, form).await
}

#[server]
pub async fn submit_egress(key: String, form: EgressForm) -> Result<SubmitOutcome, ServerFnError> {
    // Contexts are read before the first await: a resource's later polls may run without them.
    let backend = ssr::backend();
    let user = crate::auth::require_member().await?;
    ssr::submit_egress(&backend, &user, key, form).await
}

#[server]
pub async fn remove_grant(
    key: String,
    id: String,
    justification: String,
) -> Result<SubmitOutcome, ServerFnError> {
    // Contexts are read before the first await: a resource's later polls may run without them.
    let backend = ssr::backend();
    let user = crate::auth::require_member().await?;
    ssr::remove_grant(&backend, &user, key, id, justification).await
}

#[server]
pub async fn decide_request(
    id: String,
    version: i32,
    decision: String,
    reason: String,
) -> Result<StepOutcome, ServerFnError> {
    // Contexts are read before the first await: a resource's later polls may run without them.
    let backend = ssr::backend();
    let user = crate::auth::require_member().await?;
    ssr::decide(&backend, &user, id, version, decision, reason).await
}

#[server]
pub async fn withdraw_request(id: String, version: i32) -> Result<StepOutcome, ServerFnError> {
    // Contexts are read before the first await: a resource's later polls may run without them.
    let backend = ssr::backend();
    let user = crate::auth::require_member().await?;
    ssr::withdraw(&backend, &user, id, version).await
}

#[server]
pub async fn comment_on_request(id: String, body: String) -> Result<StepOutcome, ServerFnError> {
    // Contexts are read before the first await: a resource's later polls may run without them.
    let backend = ssr::backend();
    let user = crate::auth::require_member().await?;
    ssr::comment(&backend, &user, id, body).await
}

#[server]
pub async fn retry_delivery(id: String, version: i32) -> Result<StepOutcome, ServerFnError> {
    // Contexts are read before the first await: a resource's later polls may run without them.
    let backend = ssr::backend();
    let user = crate::auth::require_member().await?;
    ssr::retry_delivery(&backend, &user, id, version).await
}

#[server]
pub async fn load_delivery(id: String) -> Result<DeliveryStatus, ServerFnError> {
    // Contexts are read before the first await: a resource's later polls may run without them.
    let backend = ssr::backend();
    let user = crate::auth::require_member().await?;
    ssr::delivery_status(&backend, &user, id).await
}

#[server]
pub async fn load_request(id: String, note: Option<String>) -> Result<RequestView, ServerFnError> {
    // Contexts are read before the first await: a resource's later polls may run without them.
    let backend = ssr::backend();
    let response = use_context::<leptos_axum::ResponseOptions>();
    let user = crate::auth::require_member().await?;
    ssr::load_request(&backend, &user, id, note, response).await
}

#[server]
pub async fn my_requests(
    state: Option<String>,
    environment: Option<String>,
    before: Option<String>,
) -> Result<RequestPage, ServerFnError> {
    // Contexts are read before the first await: a resource's later polls may run without them.
    let backend = ssr::backend();
    let reads = ssr::PageReads::current();
    let user = crate::auth::require_member().await?;
    let key = format!(
        "mine {} {state:?} {environment:?} {before:?}",
        user.user.subject
    );
    ssr::PageReads::once(reads, key, async move {
        ssr::my_requests(&backend, &user, state, environment, before).await
    })
    .await
}

#[server]
pub async fn approver_queue(
    environment: Option<String>,
    team: Option<String>,
    kind: Option<String>,
    after: Option<String>,
) -> Result<RequestPage, ServerFnError> {
    // Contexts are read before the first await: a resource's later polls may run without them.
    let backend = ssr::backend();
    let reads = ssr::PageReads::current();
    let user = crate::auth::require_member().await?;
    let key = format!(
        "queue {} {environment:?} {team:?} {kind:?} {after:?}",
        user.user.subject
    );
    ssr::PageReads::once(reads, key, async move {
        ssr::approver_queue(&backend, &user, environment, team, kind, after).await
    })
    .await
}

#[server]
pub async fn waiting_count() -> Result<i64, ServerFnError> {
    // Contexts are read before the first await: a resource's later polls may run without them.
    let backend = ssr::backend();
    let user = crate::auth::require_member().await?;
    ssr::waiting_count(&backend, &user).await
}

#[cfg(feature = "ssr")]
pub(crate) mod ssr;
#[cfg(feature = "ssr")]
pub use ssr::PageReads;
