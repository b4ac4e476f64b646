//! The request page: what was asked and its state; the decision box for approvers (or the rule
//! that keeps them from deciding); the conversation (submitted, approvals, comments, every state
//! change); and the files the pull request changes, with their diff.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::delivery::DeliveryPanel;
use super::fields::{FileDiffs, count};
use crate::components::problems::{MessageText, ProblemList};
use crate::components::state::StateLabel;
use crate::errors;
use crate::requests::{
    CommentOnRequest, DecideRequest, RemoveGrant, RequestView, RetryDelivery, StepOutcome,
    SubmitOutcome, TimelineEntry, WithdrawRequest, load_request, operation_prefix,
};

#[component]
pub fn RequestPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let decide = ServerAction::<DecideRequest>::new();
    let withdraw = ServerAction::<WithdrawRequest>::new();
    let comment = ServerAction::<CommentOnRequest>::new();
    let remove = ServerAction::<RemoveGrant>::new();
    let retry = ServerAction::<RetryDelivery>::new();
    let version = RwSignal::new(0usize);
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let request = Resource::new(
        move || {
            (
                params.with(|p| p.get("id").unwrap_or_default()),
                query.with(|q| q.get("note")),
                version.get(),
            )
        },
        |(id, note, _)| load_request(id, note),
    );
    // A step made with JavaScript shows its outcome here and reloads the request.
    let message = RwSignal::new(None::<Result<String, Vec<mesh::Problem>>>);
    let step_done = move |outcome: Option<Result<StepOutcome, ServerFnError>>| match outcome {
        Some(Ok(StepOutcome::Done { message: text })) => {
            message.set(Some(Ok(text)));
            version.update(|v| *v += 1);
        }
        Some(Ok(StepOutcome::Refused { problems })) => {
            message.set(Some(Err(problems)));
            version.update(|v| *v += 1);
        }
        Some(Err(error)) => message.set(Some(Err(vec![mesh::Problem::new(
            mesh::ProblemKind::Internal,
            "request",
            errors::describe(&error),
        )]))),
        None => {}
    };
    Effect::new(move |_| step_done(decide.value().get()));
    Effect::new(move |_| step_done(withdraw.value().get()));
    Effect::new(move |_| step_done(comment.value().get()));
    Effect::new(move |_| step_done(retry.value().get()));
    Effect::new(move |_| match remove.value().get() {
        Some(Ok(SubmitOutcome::Submitted { id })) => {
            let navigate = leptos_router::hooks::use_navigate();
            navigate(&format!("/requests/{id}"), Default::default());
        }
        Some(Ok(SubmitOutcome::Refused { problems })) => message.set(Some(Err(problems))),
        Some(Err(error)) => message.set(Some(Err(vec![mesh::Problem::new(
            mesh::ProblemKind::Internal,
            "request",
            errors::describe(&error),
        )]))),
        None => {}
    });

    view! {
        <div data-hydrated=move || hydrated.get().to_string()>
        <Suspense fallback=|| view! { <p class="hint">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match request.await {
                    Ok(view) => view! {
                        <RequestBody view message decide withdraw comment remove retry />
                    }.into_any(),
                    Err(error) => view! {
                        <Title text="Request" />
                        <section class="not-found">
                            <h1>"Request not found"</h1>
                            <p class="status bad" id="request-error">{errors::describe(&error)}</p>
                            <p><a href="/requests">"See your requests"</a></p>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
        </div>
    }
}

#[component]
fn RequestBody(
    view: RequestView,
    message: RwSignal<Option<Result<String, Vec<mesh::Problem>>>>,
    decide: ServerAction<DecideRequest>,
    withdraw: ServerAction<WithdrawRequest>,
    comment: ServerAction<CommentOnRequest>,
    remove: ServerAction<RemoveGrant>,
    retry: ServerAction<RetryDelivery>,
) -> impl IntoView {
    // The delivery panel keeps the state current while delivery is under way.
    let live_state = RwSignal::new(None::<String>);
    let loaded_state = view.state.clone();
    let loaded_state = StoredValue::new(loaded_state);
    let shown_state = move || live_state.get().unwrap_or_else(|| loaded_state.get_value());
    let title = format!("{}{}", operation_prefix(&view.operation), view.summary);
    let decided = view.state != "submitted";
    let approvals_line = if view.approvals.is_empty() {
        format!("Needs {}.", count(view.approvals_required, "approval"))
    } else {
        format!(
            "{} of {} approvals: {}.",
            view.approvals.len(),
            view.approvals_required,
            view.approvals.join(", ")
        )
    };
    let waiting = (view.state == "submitted" && view.approvals.len() < view.approvals_required)
        .then(|| {
            let missing = view.approvals_required - view.approvals.len();
            format!(
                "Waits for {} from {}.",
                count(
                    missing,
                    if view.approvals.is_empty() {
                        "approval"
                    } else {
                        "more approval"
                    }
                ),
                view.deciders
            )
        });
    let id = view.id.clone();
    view! {
        <Title text=title.clone() />
        <article class="request" data-state=shown_state>
            <header class="request-head">
                <h1 id="request-summary">{title}</h1>
                <p class="meta">
                    {move || view! { <StateLabel state=shown_state() /> }}
                    " " <span>{view.environment.clone()}</span>
                    " · team " <span>{view.team.clone()}</span>
                    " · asked by " <span>{view.requester_name.clone()}</span>
                    " · " <time title=view.at.clone()>{view.age.clone()}</time>
                    {view.history.clone().map(|href| view! {
                        " · " <a href=href id="request-history">
                            {match view.kind.as_str() {
                                "Egress" => "History of this external host",
                                "Onboarding" | "MutualTls" | "CircuitBreaker" | "Authorization"
                                | "JwtAuthentication" | "Tracing" => "History of this namespace",
                                _ => "History of this route",
                            }}
                        </a>
                    })}
                </p>
                {(!view.links.is_empty() || view.health.is_some()).then(|| view! {
                    <section class="observability" id="observability" aria-label="In the mesh">
                        {view.health.clone().map(|health| view! { <p id="route-health">{health}</p> })}
                        {(!view.links.is_empty()).then(|| view! {
                            <ul class="links">
                                {view.links.clone().into_iter().map(|(label, url)| view! {
                                    <li><a href=url rel="noopener noreferrer" target="_blank">{label}</a></li>
                                }).collect_view()}
                            </ul>
                        })}
                    </section>
                })}
                {view.supersedes.clone().map(|original| view! {
                    <p class="hint">"Changes or removes " <a href=format!("/requests/{original}")>"the granted request"</a>"."</p>
                })}
                {view.replaced_by.clone().map(|change| view! {
                    <p class="status info" id="replaced-by">"Replaced by " <a href=format!("/requests/{change}")>"an approved change"</a>"; change or remove that one."</p>
                })}
                {view.pending_day2.clone().map(|pending| view! {
                    <p class="status info">"A " <a href=format!("/requests/{pending}")>"change or removal of this grant"</a>" waits for review."</p>
                })}
            </header>
            <StepMessage message note=view.note.clone() />
            <section class="approvals" aria-labelledby="approvals-heading">
                <h2 id="approvals-heading" class="visually-hidden">"Approvals"</h2>
                <p id="approval-progress">{approvals_line}</p>
                {waiting.map(|text| view! { <p class="hint" id="approval-waiting">{text}</p> })}
            </section>
            {(!view.problems.is_empty()).then(|| view! {
                <section class="conflicts" aria-labelledby="conflicts-heading">
                    <h2 id="conflicts-heading">"Conflicts with what is granted now"</h2>
                    <ProblemList problems=view.problems.clone() />
                </section>
            })}
            <DecisionBox view=view.clone() decide />
            {view! { <DeliveryPanel id=id.clone() initial=view.delivery.clone() live_state retry /> }.into_any()}
            <section class="timeline" aria-labelledby="timeline-heading">
                <h2 id="timeline-heading">"Conversation"</h2>
                <ol id="timeline">
                    {view.timeline.iter().cloned().map(|entry| view! { <TimelineItem entry /> }).collect_view()}
                </ol>
                <ActionForm action=comment attr:class="comment-form">
                    <input type="hidden" name="id" value=id.clone() />
                    <label for="comment">"Add a comment"</label>
                    <textarea id="comment" name="body" class="short"></textarea>
                    <div class="actions">
                        <button type="submit" class="secondary" id="comment-button" disabled=move || comment.pending().get()>"Comment"</button>
                    </div>
                </ActionForm>
            </section>
            <crate::components::guidance::Guidance id="guidance" items=view.guidance.clone() />
            <section class="files" aria-labelledby="files-heading">
                // Once delivered, the delivery panel shows the files as committed instead.
                {match view.delivery.pull.is_none() {
                    true => view! {
                        <h2 id="files-heading">{format!("Files the pull request changes ({})", view.files.len())}</h2>
                        <FileDiffs files=view.files.clone() collapsed=decided />
                    }
                    .into_any(),
                    false => view! { <h2 id="files-heading">"The request"</h2> }.into_any(),
                }}
                <details class="request-source">
                    <summary>"The request as submitted"</summary>
                    {(!view.justification.is_empty()).then(|| view! { <p class="justification">{view.justification.clone()}</p> })}
                    <pre class="output" tabindex="0"><code>{view.request_yaml.clone()}</code></pre>
                </details>
            </section>
            <OwnerActions view=view.clone() withdraw remove />
        </article>
    }
    .into_any()
}

#[component]
fn StepMessage(
    message: RwSignal<Option<Result<String, Vec<mesh::Problem>>>>,
    note: Option<String>,
) -> impl IntoView {
    move || {
        match message.get() {
        Some(Ok(text)) => view! { <p class="status ok" role="status" id="step-message">{text}</p> }.into_any(),
        Some(Err(problems)) => view! {
            <div role="alert" id="step-message" class="step-refused">
                <ProblemList problems />
            </div>
        }
        .into_any(),
        None => note
            .clone()
            .map(|text| view! { <p class="status info" role="status" id="step-message"><MessageText text /></p> })
            .into_any(),
    }
    }
}

#[component]
fn DecisionBox(view: RequestView, decide: ServerAction<DecideRequest>) -> impl IntoView {
    match view.decide_block {
        Some(reason) if reason.is_empty() => ().into_any(),
        Some(reason) => view! {
            <section class="decision blocked" aria-labelledby="decision-heading">
                <h2 id="decision-heading">"Decision"</h2>
                <p id="decision-blocked">{reason}</p>
            </section>
        }
        .into_any(),
        None => view! {
            <section class="decision" aria-labelledby="decision-heading">
                <h2 id="decision-heading">"Your decision"</h2>
                <ActionForm action=decide attr:id="decision-form">
                    <input type="hidden" name="id" value=view.id.clone() />
                    <input type="hidden" name="version" value=view.version.to_string() />
                    <fieldset>
                        <legend class="visually-hidden">"Decision"</legend>
                        <div class="choice">
                            <input type="radio" id="decision-approve" name="decision" value="approve" checked=true />
                            <label for="decision-approve">"Approve"</label>
                        </div>
                        <div class="choice">
                            <input type="radio" id="decision-reject" name="decision" value="reject" />
                            <label for="decision-reject">"Reject"</label>
                        </div>
                    </fieldset>
                    <label for="reason">"Reason"</label>
                    <p class="hint" id="reason-hint">"Required to reject; the requester reads it."</p>
                    <textarea id="reason" name="reason" class="short" aria-describedby="reason-hint"></textarea>
                    <div class="actions">
                        <button type="submit" id="decide-button" disabled=move || decide.pending().get()>"Submit decision"</button>
                    </div>
                </ActionForm>
            </section>
        }
        .into_any(),
    }
}

#[component]
fn OwnerActions(
    view: RequestView,
    withdraw: ServerAction<WithdrawRequest>,
    remove: ServerAction<RemoveGrant>,
) -> impl IntoView {
    let id = view.id.clone();
    let withdraw_form = view.may_withdraw.then(|| {
        let id = id.clone();
        view! {
            <ActionForm action=withdraw attr:class="withdraw-form">
                <input type="hidden" name="id" value=id />
                <input type="hidden" name="version" value=view.version.to_string() />
                <button type="submit" class="danger" id="withdraw-button" disabled=move || withdraw.pending().get()>"Withdraw request"</button>
                <span class="hint">"Nothing was delivered yet; withdrawing frees the path."</span>
            </ActionForm>
        }
    });
    let change_link = view.may_change.then(|| {
        view! { <a class="button secondary" id="change-link" href=format!("/requests/new/api?change={id}")>"Ask to change this route"</a> }
    });
    let remove_form = view.may_remove.then(|| {
        view! {
            <ActionForm action=remove attr:class="remove-form">
                <input type="hidden" name="key" value=view.removal_key.clone() />
                <input type="hidden" name="id" value=id.clone() />
                <label for="removal-justification">"Why remove it?"</label>
                <textarea id="removal-justification" name="justification" class="short"></textarea>
                <button type="submit" class="danger" id="remove-button" disabled=move || remove.pending().get()>"Ask to remove"</button>
                <span class="hint">"The same review applies; the path stays yours until the removal is delivered."</span>
            </ActionForm>
        }
    });
    let waits = view.day2_waits.then(|| {
        view! {
            <p class="hint" id="day2-waits">
                "Once its pull request is merged, your team can ask to change or remove it here."
            </p>
        }
    });
    (view.may_withdraw || view.may_change || view.may_remove || view.day2_waits).then(|| {
        view! {
            <section class="owner-actions" aria-labelledby="owner-heading">
                <h2 id="owner-heading">"Your team's request"</h2>
                {waits}
                {withdraw_form}
                {change_link}
                {remove_form}
            </section>
        }
    })
}

fn describe(entry: &TimelineEntry) -> String {
    match (entry.action.as_str(), entry.to_state.as_deref()) {
        ("submitted", _) => "asked for review".to_owned(),
        ("approved", Some("approved")) => "approved; the request is approved".to_owned(),
        ("approved", _) => "approved".to_owned(),
        ("rejected", _) => "rejected the request".to_owned(),
        ("withdrawn", _) => "withdrew the request".to_owned(),
        ("commented", _) => "commented".to_owned(),
        ("delivering", _) => "started delivering the request".to_owned(),
        ("pr_opened", _) => "opened the pull request".to_owned(),
        ("pr_updated", _) => "updated the pull request".to_owned(),
        ("merged", _) => "saw the pull request merged".to_owned(),
        ("pr_closed", _) => "saw the pull request closed".to_owned(),
        ("delivery_failed", _) => "could not deliver the request".to_owned(),
        ("delivery_retried", _) => "retried the delivery".to_owned(),
        ("conflict_found", _) => {
            "approved, but the request now conflicts with what is granted; the approval did not count"
                .to_owned()
        }
        (other, _) => other.to_owned(),
    }
}

#[component]
fn TimelineItem(entry: TimelineEntry) -> impl IntoView {
    let what = describe(&entry);
    view! {
        <li class=format!("event {}", entry.action) data-action=entry.action.clone()>
            <p>
                <strong>{entry.actor_name.clone()}</strong> " " {what} " · "
                <time title=entry.at.clone()>{entry.age.clone()}</time>
            </p>
            {(!entry.body.is_empty() && entry.action != "conflict_found")
                .then(|| view! { <blockquote>{entry.body.clone()}</blockquote> })}
            {entry.check.clone().map(|check| {
                let clear = check.problems.is_empty();
                view! {
                    <div class=if clear { "check clear" } else { "check found" }>
                        <p>{check.text}</p>
                        {(!clear).then(|| view! { <ProblemList problems=check.problems /> })}
                    </div>
                }
            })}
        </li>
    }
}
