//! The HTTP surface: the router with the Leptos pages and server functions, sign-in, health
//! probes, and the layers every response passes through.

pub mod api;
pub mod audit;
pub mod auth;
pub mod errors;
pub mod health;
pub mod security;
pub mod webhooks;

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{MethodRouter, get, post};
use backend::auth::sessions::HashedPostgresStore;
use leptos::prelude::*;
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::SessionManagerLayer;

use backend::Backend;
use backend::auth::extract::AuthContext;

/// What axum handlers share; Leptos reads its options from it through `FromRef`.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub backend: Backend,
    pub auth: AuthContext,
    pub sign_in: auth::SignIn,
    /// The URL people reach Signalbox at, without a trailing slash.
    pub public_url: String,
    pub csp: security::PolicyExtras,
    /// The secret forge webhooks are signed with; without it, webhooks are refused.
    pub webhook_secret: Option<secrecy::SecretString>,
}

/// The full application router. `sessions` carries the cookie policy chosen at start-up.
pub fn router(state: AppState, sessions: SessionManagerLayer<HashedPostgresStore>) -> Router {
    let routes = page_routes();
    let context = {
        let backend = state.backend.clone();
        let demo = state.auth.demo;
        move || {
            provide_context(backend.clone());
            provide_context(app::auth::SignInMode { demo });
            provide_context(app::requests::PageReads::default());
            provide_context(app::auth::PageUser::default());
        }
    };
    let shell = {
        let options = state.leptos_options.clone();
        move || app::shell(options.clone())
    };
    let mut router = Router::new();
    for (_, path, handler) in handler_routes() {
        router = router.route(path, handler);
    }
    router
        .leptos_routes_with_context(&state, routes, context.clone(), shell)
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, app::shell))
        .layer(axum::middleware::from_fn(auth::require_session))
        .layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            auth::provide_auth_context,
        ))
        .layer(sessions)
        .layer(axum::middleware::from_fn_with_state(
            auth::OriginPolicy::new(&state.public_url, !state.auth.demo),
            api::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            auth::OriginPolicy::new(&state.public_url, !state.auth.demo),
            auth::refuse_cross_site,
        ))
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(CatchPanicLayer::custom(errors::panic_response))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(errors::request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::from_fn(errors::drop_unusable_request_id))
        .layer(axum::middleware::from_fn(security::refuse_dot_segments))
        // Outermost, so panics and timeouts answer with the same headers as everything else.
        .layer(axum::middleware::from_fn_with_state(
            state.csp.clone(),
            security::headers,
        ))
        .with_state(state)
}

/// The Leptos pages. Generating the list renders the app once with resource loading switched
/// off for the whole process, so it happens exactly once, before the first page is served, and
/// never beside a render (several servers share one process in the tests).
fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}

/// The routes served by plain axum handlers, in one table that both the router and the route
/// inventory read.
fn handler_routes() -> Vec<(axum::http::Method, &'static str, MethodRouter<AppState>)> {
    use axum::http::Method;
    vec![
        (Method::GET, "/healthz", get(health::healthz)),
        (Method::GET, "/readyz", get(health::readyz)),
        (Method::GET, "/auth/login", get(auth::login)),
        (Method::GET, "/auth/callback", get(auth::callback)),
        (Method::POST, "/auth/logout", post(auth::logout)),
        (Method::POST, "/auth/demo", post(auth::demo_sign_in)),
        (Method::GET, "/audit/export.csv", get(audit::export_csv)),
        (Method::GET, "/audit/export.json", get(audit::export_json)),
        (Method::POST, "/webhooks/github", post(webhooks::github)),
        (Method::POST, "/webhooks/gitlab", post(webhooks::gitlab)),
        (Method::POST, "/webhooks/gitea", post(webhooks::gitea)),
    ]
}

/// Every (method, path) the router answers besides static files: the handler routes, the
/// Leptos pages and the server functions. The test of the public list walks it, so a new route
/// is covered the day it is added.
pub fn route_inventory() -> Vec<(axum::http::Method, String)> {
    use axum::http::Method;
    let mut routes: Vec<(Method, String)> = handler_routes()
        .into_iter()
        .map(|(method, path, _)| (method, path.to_owned()))
        .collect();
    for listing in page_routes() {
        for method in listing.methods() {
            let method = match method {
                leptos_router::Method::Get => Method::GET,
                leptos_router::Method::Post => Method::POST,
                leptos_router::Method::Put => Method::PUT,
                leptos_router::Method::Delete => Method::DELETE,
                leptos_router::Method::Patch => Method::PATCH,
            };
            routes.push((method, listing.path().to_owned()));
        }
    }
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        routes.push((method, path.to_owned()));
    }
    routes.sort_by(|a, b| (a.1.as_str(), a.0.as_str()).cmp(&(b.1.as_str(), b.0.as_str())));
    routes.dedup();
    routes
}
