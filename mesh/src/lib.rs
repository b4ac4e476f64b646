//! Pure domain core of Signalbox: what teams may ask of the service mesh, and the Istio config
//! that delivers it.
//!
//! The pipeline, one layer per module: [`request`] parses the public request format into typed
//! requests ([`names`] holds the newtypes), [`policy`] checks a request against the environment
//! and team model of [`catalog`] (built from [`config`]), [`leases`] finds path conflicts, and
//! [`plan`] renders ([`render`]) and validates ([`validate`]) every file of the pull request.
//! Every layer reports [`Problem`]s that name the field and what would be accepted.
//!
//! No IO, no async, no randomness: the crate builds for `wasm32-unknown-unknown` so the browser
//! runs the very same checks for the live preview, and the output is byte-for-byte deterministic.

pub mod analyze;
pub mod catalog;
pub mod changes;
pub mod config;
pub mod leases;
pub mod names;
pub mod observed;
pub mod plan;
pub mod policy;
pub mod problem;
pub mod render;
pub mod request;
pub mod validate;

pub use catalog::Catalog;
pub use plan::{Plan, RenderedFile, plan, plan_observed, render_environment, render_state};
pub use problem::{Problem, ProblemKind};
pub use request::{Request, parse_documents};
