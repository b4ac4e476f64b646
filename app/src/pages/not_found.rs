//! The page for any path that matches no route: a real 404 with a way back.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    let location = leptos_router::hooks::use_location();
    view! {
        <Title text="Page not found" />
        <section class="not-found">
            <h1>"Page not found"</h1>
            <p>
                "There is no page at " <code>{move || location.pathname.get()}</code>
                ". It may have moved, or the link may be mistyped."
            </p>
            <ul>
                <li><A href="/">"See the environments and their shared hosts"</A></li>
                <li><A href="/preview">"Preview the configuration a request would generate"</A></li>
            </ul>
        </section>
    }
}
