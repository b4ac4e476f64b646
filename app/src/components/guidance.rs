//! What people do outside the pull request for a request to work (a Rollout's traffic routing,
//! an Application's ignoreDifferences, a Deployment's annotations), each with its YAML.

use leptos::prelude::*;

/// The plan's guidance under the heading "Outside the pull request"; nothing when there is none.
#[component]
pub fn Guidance(
    /// The section's id (the heading's is `<id>-heading`).
    id: &'static str,
    items: Vec<mesh::plan::Guidance>,
) -> impl IntoView {
    let heading = format!("{id}-heading");
    (!items.is_empty()).then(|| {
        view! {
            <section class="guidance" id=id aria-labelledby=heading.clone()>
                <h2 id=heading.clone()>"Outside the pull request"</h2>
                {items.into_iter().map(|g| view! {
                    <article class="guidance-item">
                        <h3>{g.title}</h3>
                        <p>{g.text}</p>
                        {(!g.yaml.is_empty()).then(|| view! {
                            <pre class="output" tabindex="0"><code>{g.yaml.clone()}</code></pre>
                        })}
                    </article>
                }).collect_view()}
            </section>
        }
    })
}
