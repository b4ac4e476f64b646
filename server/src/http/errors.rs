//! How failures look from outside: a request id on every log line, and for anything unexpected a
//! plain page with a reference id the user can quote, never a stack trace.

use std::any::Any;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use tracing::Span;

/// One span per request, carrying the id that `SetRequestIdLayer` assigned.
pub fn request_span(request: &Request<Body>) -> Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        uri = %request.uri().path(),
        request_id = %request_id,
    )
}

pub use backend::auth::reference_id;

/// Drops an incoming `x-request-id` that is not a short token (letters, digits, `-`, `_`, `.`),
/// so a client cannot put arbitrary text into every log line; a fresh id is assigned instead.
pub async fn drop_unusable_request_id(
    mut request: Request<Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let usable = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    if !usable {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

/// Turns a handler panic into a 500 page; the panic message goes to the log only.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let reference = reference_id();
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(reference = %reference, panic = %message, "request handler panicked");
    internal_error_page(&reference)
}

/// The page shown for an internal error.
pub fn internal_error_page(reference: &str) -> Response<Body> {
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Something went wrong · Signalbox</title>\
         <link rel=\"stylesheet\" href=\"/pkg/signalbox.css\"></head><body><main class=\"page error-page\">\
         <h1>Something went wrong on our side</h1>\
         <p>Nothing you entered was lost. Please try again; if it keeps happening, give your platform team this reference:</p>\
         <p class=\"reference\"><code>{reference}</code></p><p><a href=\"/\">Back to the start page</a></p></main></body></html>"
    );
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}
