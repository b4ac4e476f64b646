//! Security headers on every response. The Content-Security-Policy allows exactly what the page
//! needs: our own scripts and styles, the one inline hydration script by nonce, and
//! `'wasm-unsafe-eval'` so the browser may compile the wasm bundle. Nothing may frame the portal.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use rand::RngCore as _;

/// What the policy allows beyond this origin.
#[derive(Clone, Debug, Default)]
pub struct PolicyExtras {
    /// The identity provider's origin: signing out is a form post that redirects there.
    pub form_action_origin: Option<String>,
    /// Served over HTTPS: tell browsers never to use plain HTTP for it.
    pub hsts: bool,
}

/// Adds the headers; the per-response nonce is handed to the page renderer through the request
/// extensions so the hydration script carries the same value the policy names.
pub async fn headers(
    State(extras): State<PolicyExtras>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    let nonce = new_nonce();
    request
        .extensions_mut()
        .insert(app::CspNonce(nonce.clone()));
    let static_file = request.uri().path().starts_with("/pkg/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // Pages and server-function answers carry what one signed-in user may see: no cache, shared
    // or private, keeps them. The browser bundle and stylesheet may be cached.
    if !static_file {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static(PERMISSIONS_POLICY),
    );
    let policy = content_security_policy(&nonce, extras.form_action_origin.as_deref());
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    if extras.hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// No page of Signalbox needs a powerful browser feature: all of them are switched off.
pub const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), display-capture=(), \
     geolocation=(), gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), \
     publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=()";

/// Refuses a path with a `.` or `..` segment (also percent-encoded) before any routing: no
/// route has one, and a proxy or a file handler that normalises differently must never be
/// handed one.
pub async fn refuse_dot_segments(request: Request<Body>, next: Next) -> Response {
    let dotted = request.uri().path().split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    });
    if dotted {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            "Refused: the path has a \".\" or \"..\" segment; ask for the page by its own address.",
        )
            .into_response();
    }
    next.run(request).await
}

pub fn content_security_policy(nonce: &str, form_action_origin: Option<&str>) -> String {
    let form_action = match form_action_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'none'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
         form-action {form_action}; base-uri 'none'; frame-ancestors 'none'"
    )
}

fn new_nonce() -> String {
    let mut bytes = [0_u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_the_nonce_and_forbids_framing() {
        let policy = content_security_policy("abc123", None);
        assert!(policy.contains("'nonce-abc123'"));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(policy.contains("'wasm-unsafe-eval'"));
        assert!(!policy.contains("unsafe-inline"));
    }

    #[test]
    fn sign_out_may_continue_at_the_identity_provider() {
        let policy = content_security_policy("n", Some("https://sso.example.com"));
        assert!(
            policy.contains("form-action 'self' https://sso.example.com;"),
            "{policy}"
        );
    }

    #[test]
    fn nonces_differ_between_responses() {
        assert_ne!(new_nonce(), new_nonce());
    }
}
