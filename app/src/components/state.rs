//! The state label: a coloured chip that carries its state in words too.

use leptos::prelude::*;

use crate::requests::{state_class, state_label};

#[component]
pub fn StateLabel(state: String) -> impl IntoView {
    view! { <span class=state_class(&state) data-state=state.clone()>{state_label(&state)}</span> }
}
