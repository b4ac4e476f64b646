//! How server functions report failure. Input problems travel as data next to the fields they
//! concern; anything unexpected is logged with a reference id and the user sees only that id.

use leptos::prelude::ServerFnError;

/// Logs `error` with a fresh reference id and returns the message the user sees.
#[cfg(feature = "ssr")]
pub fn internal(error: impl std::fmt::Display) -> ServerFnError {
    let reference = backend::auth::reference_id();
    tracing::error!(reference = %reference, error = %error, "server function failed");
    ServerFnError::new(internal_message(&reference))
}

/// The user-facing text for an internal error.
pub fn internal_message(reference: &str) -> String {
    format!(
        "Something went wrong on our side. Nothing you entered was lost; try again, and if it \
         keeps happening give your platform team this reference: {reference}"
    )
}

/// The text of a server function error without the framework's prefix.
pub fn describe(error: &ServerFnError) -> String {
    match error {
        ServerFnError::ServerError(message) => message.clone(),
        other => format!(
            "The request did not reach the server ({other}). Nothing you entered was lost; try again."
        ),
    }
}
