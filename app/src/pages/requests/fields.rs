//! What both request forms share: when a field shows its messages (after the user leaves it
//! once, then as they type; all of them after a refused submit), the labelled inputs tied to
//! their messages, the files preview, and what happens after a submit.

use std::collections::BTreeSet;

use leptos::prelude::*;

use crate::components::problems::{FieldMessages, ProblemList};
use crate::requests::SubmitOutcome;
use crate::requests::form::field_of;
use crate::requests::live::LiveCheck;

/// Which fields show their messages, and what the server last said.
#[derive(Clone, Copy)]
pub struct FormState {
    touched: RwSignal<BTreeSet<String>>,
    submitted: RwSignal<bool>,
    /// Problems from the last refused submit; cleared when the user edits a field.
    server: RwSignal<Vec<mesh::Problem>>,
    pub live: Memo<LiveCheck>,
}

impl FormState {
    pub fn new(live: Memo<LiveCheck>, server_problems: Vec<mesh::Problem>) -> Self {
        Self {
            touched: RwSignal::new(BTreeSet::new()),
            submitted: RwSignal::new(!server_problems.is_empty()),
            server: RwSignal::new(server_problems),
            live,
        }
    }

    /// The user left `field`: from now on it shows its messages as they type.
    pub fn leave(&self, field: &str) {
        let field = field.to_owned();
        self.touched.update(|touched| {
            touched.insert(field);
        });
    }

    /// The user edited a field: what the server said before no longer applies.
    pub fn edited(&self) {
        if !self.server.with_untracked(Vec::is_empty) {
            self.server.set(Vec::new());
        }
    }

    fn shows(&self, field: &str) -> bool {
        self.submitted.get() || self.touched.with(|t| t.contains(field))
    }

    fn all_problems(&self) -> Vec<mesh::Problem> {
        let mut problems = self.server.get();
        for problem in self.live.get().problems {
            if !problems.contains(&problem) {
                problems.push(problem);
            }
        }
        problems
    }

    /// The messages under `field`.
    pub fn messages(self, field: &'static str) -> Signal<Vec<String>> {
        Signal::derive(move || {
            if !self.shows(field) {
                return Vec::new();
            }
            self.all_problems()
                .into_iter()
                .filter(|p| field_of(p).as_deref() == Some(field))
                .map(|p| p.message)
                .collect()
        })
    }

    /// The messages of one row of a list field (`hosts[1]`, `ports[0]`); call inside a reactive
    /// context.
    pub fn row_messages(&self, field: &str) -> Vec<String> {
        if !self.shows(field) {
            return Vec::new();
        }
        self.all_problems()
            .into_iter()
            .filter(|p| field_of(p).as_deref() == Some(field))
            .map(|p| p.message)
            .collect()
    }

    /// Problems that belong to no field of the form.
    pub fn general(self, fields: &'static [&'static str]) -> Signal<Vec<mesh::Problem>> {
        Signal::derive(move || {
            if !self.submitted.get() {
                return Vec::new();
            }
            self.all_problems()
                .into_iter()
                .filter(|p| {
                    field_of(p).is_none_or(|f| {
                        !fields.contains(&f.as_str())
                            && !f.starts_with("hosts[")
                            && !f.starts_with("ports[")
                    })
                })
                .collect()
        })
    }

    /// A submit came back: show its problems, move focus to the first field in error, or go to
    /// the new request's page.
    pub fn after_submit(self, outcome: Option<Result<SubmitOutcome, ServerFnError>>) {
        match outcome {
            Some(Ok(SubmitOutcome::Submitted { id })) => {
                let navigate = leptos_router::hooks::use_navigate();
                navigate(&format!("/requests/{id}"), Default::default());
            }
            Some(Ok(SubmitOutcome::Refused { problems })) => {
                self.submitted.set(true);
                let first = problems.iter().find_map(field_of);
                self.server.set(problems);
                if let Some(field) = first {
                    focus(&field);
                }
            }
            Some(Err(error)) => {
                self.submitted.set(true);
                self.server.set(vec![mesh::Problem::new(
                    mesh::ProblemKind::Internal,
                    "request",
                    crate::errors::describe(&error),
                )]);
            }
            None => {}
        }
    }

    /// Whether a field has a message showing (for `aria-invalid`).
    pub fn invalid(self, field: &'static str) -> Signal<bool> {
        let messages = self.messages(field);
        Signal::derive(move || !messages.get().is_empty())
    }
}

/// Moves keyboard focus to the field with this name (its id).
fn focus(field: &str) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast;
        let id = field.replace(['[', ']'], "-");
        if let Some(element) = document()
            .get_element_by_id(&id)
            .and_then(|e| e.dyn_into::<leptos::web_sys::HtmlElement>().ok())
        {
            element.focus().ok();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = field;
}

/// A labelled text input bound to `value`, with its hint and messages tied to it.
#[component]
pub fn TextField(
    field: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    state: FormState,
    #[prop(optional)] hint: &'static str,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] readonly: bool,
    /// Values to offer (value, label), e.g. what the cluster runs; any other text is accepted.
    #[prop(optional)]
    suggestions: Option<Signal<Vec<(String, String)>>>,
) -> impl IntoView {
    let messages_id = format!("{field}-messages");
    let hint_id = format!("{field}-hint");
    let list_id = suggestions.map(|_| format!("{field}-choices"));
    let described = if hint.is_empty() {
        messages_id.clone()
    } else {
        format!("{hint_id} {messages_id}")
    };
    view! {
        <div class="field" class:has-error=state.invalid(field)>
            <label for=field>{label}</label>
            {(!hint.is_empty()).then(|| view! { <p class="hint" id=hint_id.clone()>{hint}</p> })}
            // `change` fires when the user leaves a field they edited: the moment its messages
            // start to show (a delegated event, so it also works right after hydration).
            <input
                type="text"
                id=field
                name=format!("form[{field}]")
                value=value.get_untracked()
                prop:value=value
                placeholder=placeholder
                readonly=readonly
                list=list_id.clone()
                autocomplete="off"
                spellcheck="false"
                aria-describedby=described
                aria-invalid=move || state.invalid(field).get().to_string()
                on:input=move |event| {
                    value.set(event_target_value(&event));
                    state.edited();
                }
                on:change=move |_| state.leave(field)
            />
            {suggestions.map(|options| view! {
                <datalist id=list_id.clone()>
                    {move || options.get().into_iter().map(|(value, label)| view! {
                        <option value=value>{label}</option>
                    }).collect_view()}
                </datalist>
            })}
            <FieldMessages id=messages_id messages=state.messages(field) />
        </div>
    }
}

/// A labelled select bound to `value`; `options` are (value, label) pairs.
#[component]
pub fn SelectField(
    field: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    state: FormState,
    options: Signal<Vec<(String, String)>>,
    #[prop(optional)] hint: &'static str,
    #[prop(optional)] on_change: Option<Callback<String>>,
) -> impl IntoView {
    let messages_id = format!("{field}-messages");
    let hint_id = format!("{field}-hint");
    let described = if hint.is_empty() {
        messages_id.clone()
    } else {
        format!("{hint_id} {messages_id}")
    };
    view! {
        <div class="field" class:has-error=state.invalid(field)>
            <label for=field>{label}</label>
            {(!hint.is_empty()).then(|| view! { <p class="hint" id=hint_id.clone()>{hint}</p> })}
            <select
                id=field
                name=format!("form[{field}]")
                aria-describedby=described
                aria-invalid=move || state.invalid(field).get().to_string()
                on:change=move |event| {
                    let chosen = event_target_value(&event);
                    value.set(chosen.clone());
                    state.edited();
                    state.leave(field);
                    if let Some(callback) = on_change {
                        callback.run(chosen);
                    }
                }
            >
                {move || {
                    let current = value.get();
                    options
                        .get()
                        .into_iter()
                        .map(|(option, text)| {
                            let selected = option == current;
                            view! { <option value=option selected=selected>{text}</option> }
                        })
                        .collect_view()
                }}
            </select>
            <FieldMessages id=messages_id messages=state.messages(field) />
        </div>
    }
}

/// The justification, last: why the team needs this.
#[component]
pub fn JustificationField(value: RwSignal<String>, state: FormState) -> impl IntoView {
    view! {
        <div class="field" class:has-error=state.invalid("justification")>
            <label for="justification">"Why does your team need this?"</label>
            <p class="hint" id="justification-hint">"Approvers read this before they decide."</p>
            <textarea
                id="justification"
                name="form[justification]"
                class="short"
                aria-describedby="justification-hint justification-messages"
                aria-invalid=move || state.invalid("justification").get().to_string()
                prop:value=value
                on:input=move |event| {
                    value.set(event_target_value(&event));
                    state.edited();
                }
                on:change=move |_| state.leave("justification")
            >
                {value.get_untracked()}
            </textarea>
            <FieldMessages id="justification-messages".to_owned() messages=state.messages("justification") />
        </div>
    }
}

/// Problems that belong to no field, shown above the submit button.
#[component]
pub fn GeneralProblems(problems: Signal<Vec<mesh::Problem>>) -> impl IntoView {
    move || {
        let problems = problems.get();
        (!problems.is_empty()).then(|| {
            view! {
                <div role="alert" id="form-problems">
                    <p class="status bad">"The request was not sent:"</p>
                    <ProblemList problems />
                </div>
            }
        })
    }
}

/// The files the pull request would change, each with its diff, and a count on top.
#[component]
pub fn FilesPreview(state: FormState) -> impl IntoView {
    view! {
        <section class="files-preview" aria-labelledby="files-heading">
            <h2 id="files-heading">"What the pull request would change"</h2>
            {move || {
                let check = state.live.get();
                if !check.problems.is_empty() {
                    return view! {
                        <p class="status bad" id="preview-status">
                            {format!("Fix {} before this can be asked for.", count(check.problems.len(), "problem"))}
                        </p>
                    }.into_any();
                }
                view! {
                    <p class="status ok" id="preview-status">
                        {format!("{} would change.", count(check.files.len(), "file"))}
                    </p>
                    <FileDiffs files=check.files collapsed=false />
                }.into_any()
            }}
        </section>
    }
}

/// "1 file", "3 files".
pub fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Each changed file under its path, lines added and removed marked as in a pull request.
#[component]
pub fn FileDiffs(files: Vec<mesh::changes::FileChange>, collapsed: bool) -> impl IntoView {
    view! {
        <div class="file-diffs" id="preview-output">
            {files
                .into_iter()
                .map(|file| {
                    let lines = file
                        .lines
                        .into_iter()
                        .map(|line| {
                            let (class, mark) = match line.change {
                                mesh::changes::LineChange::Added => ("line added", "+"),
                                mesh::changes::LineChange::Removed => ("line removed", "-"),
                                mesh::changes::LineChange::Same => ("line", " "),
                            };
                            view! { <span class=class><span class="mark" aria-hidden="true">{mark}</span>{line.text}"\n"</span> }
                        })
                        .collect_view();
                    view! {
                        <details class="file" open=!collapsed>
                            <summary>
                                <code class="path">{file.path.clone()}</code>
                                <span class=format!("file-status {}", file.status.as_str())>{file.status.as_str()}</span>
                            </summary>
                            <pre class="diff" tabindex="0"><code>{lines}</code></pre>
                        </details>
                    }
                })
                .collect_view()}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_shows_its_messages_once_the_user_left_it() {
        let owner = Owner::new();
        owner.with(|| {
            let problem = mesh::Problem::invalid("path", "must start with '/'");
            let live = Memo::new(move |_| LiveCheck {
                problems: vec![problem.clone()],
                files: Vec::new(),
            });
            let state = FormState::new(live, Vec::new());
            let messages = state.messages("path");
            assert!(messages.get().is_empty(), "nothing before the user leaves");
            state.leave("path");
            assert_eq!(messages.get(), vec!["must start with '/'".to_owned()]);
        });
    }
}
