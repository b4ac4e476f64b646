//! The request page's delivery panel: where the approved request goes, its pull request (or local
//! branch) with the files as committed, and why delivery failed. While delivery is under way the
//! panel asks the server again every few seconds, by itself, so the requester sees the pull
//! request appear and merge without reloading; the rest of the page (and anything typed in it)
//! stays as it is.

use std::time::Duration;

use leptos::form::ActionForm;
use leptos::prelude::*;

use super::fields::FileDiffs;
use crate::components::state::StateLabel;
use crate::requests::{DeliveryStatus, DeliveryView, RetryDelivery, load_delivery};

/// How long the panel waits before looking again: quickly while the pull request is being made,
/// less often while it waits for a merge.
fn next_look(status: &DeliveryStatus) -> Option<Duration> {
    if !status.in_flight() {
        return None;
    }
    Some(if status.state == "pr_open" {
        Duration::from_secs(5)
    } else {
        Duration::from_millis(1000)
    })
}

/// The panel, starting from what the page loaded; `live_state` follows the newest state so the
/// page header can show it too.
#[component]
pub fn DeliveryPanel(
    id: String,
    initial: DeliveryStatus,
    live_state: RwSignal<Option<String>>,
    retry: ServerAction<RetryDelivery>,
) -> impl IntoView {
    let status = RwSignal::new(initial);
    let looks = RwSignal::new(0u32);
    let fetch_id = id.clone();
    let fetched = LocalResource::new(move || {
        let look = looks.get();
        let id = fetch_id.clone();
        async move {
            if look == 0 {
                None
            } else {
                Some(load_delivery(id).await)
            }
        }
    });
    // Take each answer; then, while delivery is under way, look again later (a failed look is
    // tried again at the same pace).
    Effect::new(move |_| {
        let Some(answer) = fetched.get() else {
            return;
        };
        if let Some(Ok(newer)) = answer {
            live_state.set(Some(newer.state.clone()));
            status.set(newer);
        }
        if let Some(wait) = status.with_untracked(next_look) {
            set_timeout(move || looks.update(|n| *n += 1), wait);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = retry.value().get() {
            looks.update(|n| *n += 1);
        }
    });

    let id = StoredValue::new(id);
    move || {
        let current = status.get();
        current.target.clone().map(|target| {
            let pull = current.pull.clone();
            let waiting = pull.is_none() && current.in_flight();
            view! {
                <section class="delivery" aria-labelledby="delivery-heading" id="delivery" data-state=current.state.clone()>
                    <h2 id="delivery-heading">"Delivery"</h2>
                    <p class="hint" id="delivery-target">{target}</p>
                    {waiting.then(|| view! {
                        <p class="status info" role="status" id="delivery-waiting">
                            "Preparing the pull request… this panel updates by itself."
                        </p>
                    })}
                    {current.problem.clone().map(|problem| view! {
                        <p class="status bad" role="alert" id="delivery-problem">{problem}</p>
                    })}
                    {current.may_retry.then(|| view! {
                        <ActionForm action=retry attr:class="retry-form">
                            <input type="hidden" name="id" value=id.get_value() />
                            <input type="hidden" name="version" value=current.version.to_string() />
                            <button type="submit" id="retry-delivery" disabled=move || retry.pending().get()>"Retry delivery"</button>
                        </ActionForm>
                    })}
                    {pull.map(|pull| view! { <PullRequestView pull state=current.state.clone() /> }.into_any())}
                </section>
            }
            .into_any()
        })
    }
}

#[component]
fn PullRequestView(pull: DeliveryView, state: String) -> impl IntoView {
    let short = |sha: &str| sha.chars().take(12).collect::<String>();
    let head = short(&pull.head_sha);
    let place = match (&pull.url, pull.number) {
        (Some(url), Some(number)) => view! {
            <a href=url.clone() id="pull-link" rel="noopener" target="_blank">{format!("Pull request #{number}")}</a>
        }
        .into_any(),
        (Some(url), None) => view! {
            <a href=url.clone() id="pull-link" rel="noopener" target="_blank">"Pull request"</a>
        }
        .into_any(),
        _ => view! { <span id="pull-branch">"Branch " <code>{pull.branch.clone()}</code></span> }
            .into_any(),
    };
    let merge_hint = (pull.forge == "local" && state == "pr_open").then(|| {
        view! {
            <p class="hint" id="merge-hint">
                "To merge it: " <code>{format!("git -C {} merge {}", pull.repository, pull.branch)}</code>
                " (into " {pull.base_branch.clone()} "). Signalbox notices within seconds."
            </p>
        }
    });
    let merged = pull.merged_sha.clone().map(|sha| {
        view! { <p id="merged-at">"Merged into " {pull.base_branch.clone()} " at " <code>{short(&sha)}</code> "."</p> }
    });
    let count = pull.files.len();
    view! {
        <div class="pull">
            <p class="meta">
                <StateLabel state=state.clone() />
                " " {place}
                " · commit " <code id="pull-commit" title=pull.head_sha.clone()>{head}</code>
                " in " <span>{pull.repository.clone()}</span>
                " · " <time title=pull.at.clone()>{pull.age.clone()}</time>
            </p>
            {merged}
            {merge_hint}
            <h3 id="committed-heading">{format!("Files as committed ({count})")}</h3>
            <FileDiffs files=pull.files.clone() collapsed=true />
        </div>
    }
    .into_any()
}
