//! `kind: JwtAuthentication`: a team's workload accepts only calls with a valid token from an
//! issuer its environment allows.
//!
//! ```yaml
//! kind: JwtAuthentication
//! environment: prod
//! team: team-a
//! namespace: team-a
//! workload: orders                 # the pods labelled app: orders
//! issuer: https://login.example.com/realms/main   # one of the environment's jwt.issuers
//! audiences: [orders-api]
//! ```
//!
//! It renders a RequestAuthentication (issuer, the issuer's `jwksUri` or `jwks` from the
//! environment, audiences) and, always with it, an AuthorizationPolicy that denies calls without
//! a request principal of that issuer: a RequestAuthentication alone rejects bad tokens but lets
//! calls without any token through. Never on the shared ingress gateway, where it would apply to
//! every team's routes.

use serde::{Deserialize, Serialize};

use super::{Fields, Kind};
use crate::names::{DnsLabel, ParseError};
use crate::problem::{Problem, quoted};

/// The most audiences one request may list.
pub const MAX_AUDIENCES: usize = 16;

/// Require a JWT from an allowed issuer on a team's workload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JwtAuthentication {
    environment: DnsLabel,
    team: DnsLabel,
    namespace: DnsLabel,
    workload: DnsLabel,
    issuer: String,
    audiences: Vec<String>,
}

impl JwtAuthentication {
    /// The environment.
    pub fn environment(&self) -> &DnsLabel {
        &self.environment
    }
    /// The team asking.
    pub fn team(&self) -> &DnsLabel {
        &self.team
    }
    /// The workload's namespace.
    pub fn namespace(&self) -> &DnsLabel {
        &self.namespace
    }
    /// The workload (`app` label of its pods).
    pub fn workload(&self) -> &DnsLabel {
        &self.workload
    }
    /// The issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// Accepted audiences (any when empty).
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawJwtAuthentication {
    environment: String,
    team: String,
    namespace: String,
    workload: String,
    issuer: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    audiences: Vec<String>,
}

impl Kind for JwtAuthentication {
    const NAME: &'static str = "JwtAuthentication";
    type Raw = RawJwtAuthentication;

    fn parse(f: &mut Fields, raw: RawJwtAuthentication) -> Option<Self> {
        let environment = f.take("environment", DnsLabel::parse(&raw.environment));
        let team = f.take("team", DnsLabel::parse(&raw.team));
        let namespace = f.take("namespace", DnsLabel::parse(&raw.namespace));
        let workload = f.take(
            "workload",
            DnsLabel::parse(&raw.workload).map_err(|e| {
                ParseError::new(format!(
                    "{}; the workload is the app label of its pods",
                    e.message()
                ))
            }),
        );
        let mut ok = true;
        if raw.issuer.trim().is_empty() || raw.issuer.chars().any(char::is_whitespace) {
            f.problems.push(Problem::invalid(
                "issuer",
                format!(
                    "{} is not an issuer; expected the iss claim of the tokens, one of the \
                     environment's jwt.issuers",
                    quoted(&raw.issuer)
                ),
            ));
            ok = false;
        }
        if raw.audiences.len() > MAX_AUDIENCES {
            f.problems.push(Problem::invalid(
                "audiences",
                format!(
                    "has {} audiences; at most {MAX_AUDIENCES}",
                    raw.audiences.len()
                ),
            ));
            ok = false;
        }
        for (i, audience) in raw.audiences.iter().enumerate() {
            if audience.is_empty()
                || audience.len() > 253
                || audience.chars().any(char::is_whitespace)
            {
                f.problems.push(Problem::invalid(
                    format!("audiences[{i}]"),
                    format!(
                        "{} is not an audience; expected the aud value the tokens carry, such as \
                         orders-api",
                        quoted(audience)
                    ),
                ));
                ok = false;
            }
        }
        let mut audiences = raw.audiences;
        audiences.sort();
        audiences.dedup();
        if !ok {
            return None;
        }
        Some(Self {
            environment: environment?,
            team: team?,
            namespace: namespace?,
            workload: workload?,
            issuer: raw.issuer,
            audiences,
        })
    }

    fn to_raw(&self) -> RawJwtAuthentication {
        RawJwtAuthentication {
            environment: self.environment.to_string(),
            team: self.team.to_string(),
            namespace: self.namespace.to_string(),
            workload: self.workload.to_string(),
            issuer: self.issuer.clone(),
            audiences: self.audiences.clone(),
        }
    }

    fn environment(&self) -> &DnsLabel {
        &self.environment
    }

    fn team(&self) -> &DnsLabel {
        &self.team
    }

    fn namespace(&self) -> &DnsLabel {
        &self.namespace
    }

    fn summary(&self) -> String {
        format!(
            "require a JWT from {} on {}/{}",
            self.issuer, self.namespace, self.workload
        )
    }
}
