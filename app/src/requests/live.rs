//! The check that runs as the user types: parse, team scope, policy and conflicts against the
//! stored claims the page was sent, then the files the pull request would change. The browser
//! runs it on every keystroke (no round trip); the server runs it to render the page.

use mesh::Problem;
use mesh::changes::FileChange;
use serde_json::Value;

use super::ClaimView;
use super::form;
use crate::pages::preview::TeamScope;

/// What the page shows beside the form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveCheck {
    pub problems: Vec<Problem>,
    pub files: Vec<FileChange>,
}

/// The stored requests the form is checked against.
#[derive(Clone, Debug, Default)]
pub struct KnownClaims {
    /// Granted and pending claims, except the grant being changed: conflicts are found here.
    others: Vec<mesh::Request>,
    /// What is granted today: the files are a diff against it.
    granted: Vec<mesh::Request>,
    /// The origin (`request <id>`) of the grant a change replaces.
    replaced: Option<String>,
    /// What the clusters run, where they are read.
    observed: mesh::observed::Observations,
}

impl KnownClaims {
    /// Parses the claims the server sent; a claim that does not parse is left out (the server
    /// checks again on submit).
    pub fn new(
        views: &[ClaimView],
        replaced: Option<&str>,
        observed: mesh::observed::Observations,
    ) -> Self {
        let replaced = replaced.map(|id| format!("request {id}"));
        let mut claims = Self {
            replaced: replaced.clone(),
            observed,
            ..Self::default()
        };
        for view in views {
            let Ok(request) = mesh::Request::from_value(&view.payload) else {
                continue;
            };
            let request = request.with_origin(format!("request {}", view.id));
            if view.granted {
                claims.granted.push(request.clone());
            }
            if request.origin() != replaced.as_deref() {
                claims.others.push(request);
            }
        }
        claims
    }
}

/// Checks the form's request and works out the files it would change.
pub fn live_check(
    catalog: &mesh::Catalog,
    scope: &TeamScope,
    claims: &KnownClaims,
    value: (Value, Vec<Problem>),
) -> LiveCheck {
    let probe = path_probe(&value.0);
    let request = match form::parse(value) {
        Ok(request) => request,
        Err(mut problems) => {
            // Someone else's path is worth knowing before the rest of the form is filled in.
            if !problems
                .iter()
                .any(|p| PATH_FIELDS.contains(&p.field.as_str()))
                && let Some(probe) = probe
            {
                problems.extend(path_conflicts(catalog, claims, &probe));
            }
            return LiveCheck {
                problems,
                files: Vec::new(),
            };
        }
    };
    let problems = scope.problems(std::slice::from_ref(&request));
    if !problems.is_empty() {
        return LiveCheck {
            problems,
            files: Vec::new(),
        };
    }
    let plan = match mesh::plan_observed(
        catalog,
        Some(&claims.observed),
        &claims.others,
        std::slice::from_ref(&request),
    ) {
        Ok(plan) => plan,
        Err(problems) => {
            return LiveCheck {
                problems,
                files: Vec::new(),
            };
        }
    };
    let environment = request.environment().clone();
    let same_environment = |r: &&mesh::Request| *r.environment() == environment;
    let before: Vec<mesh::Request> = claims
        .granted
        .iter()
        .filter(same_environment)
        .cloned()
        .collect();
    let mut after: Vec<mesh::Request> = before
        .iter()
        .filter(|r| r.origin() != claims.replaced.as_deref())
        .cloned()
        .collect();
    after.push(request);
    let files = match (
        mesh::render_state(catalog, &before),
        mesh::render_state(catalog, &after),
    ) {
        (Ok(before), Ok(after)) => mesh::changes::changes(&before, &after),
        // What is granted no longer renders as a whole (a tightened policy): show the plan.
        _ => mesh::changes::changes(&mesh::Plan::default(), &plan),
    };
    LiveCheck {
        problems: Vec::new(),
        files,
    }
}

/// The fields that say which path is asked for.
const PATH_FIELDS: &[&str] = &["environment", "team", "host", "path", "match"];

/// A route with the form's path and a stand-in target, to check the path alone.
fn path_probe(value: &Value) -> Option<mesh::Request> {
    if value["kind"] != "ApiRoute" {
        return None;
    }
    let mut probe = value.clone();
    let object = probe.as_object_mut()?;
    object.remove("timeout");
    object.remove("retries");
    let target = object.get_mut("target")?.as_object_mut()?;
    target.insert("service".into(), Value::from("probe"));
    target.insert("port".into(), Value::from(1));
    mesh::Request::from_value(&probe).ok()
}

/// The conflicts of the probe's path with stored claims.
fn path_conflicts(
    catalog: &mesh::Catalog,
    claims: &KnownClaims,
    probe: &mesh::Request,
) -> Vec<Problem> {
    match mesh::plan_observed(
        catalog,
        Some(&claims.observed),
        &claims.others,
        std::slice::from_ref(probe),
    ) {
        Ok(_) => Vec::new(),
        Err(problems) => problems
            .into_iter()
            .filter(|p| {
                p.field == "path"
                    && matches!(
                        p.kind,
                        mesh::ProblemKind::Conflict | mesh::ProblemKind::AlreadyGranted
                    )
            })
            .collect(),
    }
}
