//! `kind: Authorization`: who may call a team's workload, and how, enforced by its sidecar (an
//! AuthorizationPolicy with `action: ALLOW`).
//!
//! ```yaml
//! kind: Authorization
//! environment: prod
//! team: team-a
//! namespace: team-a
//! workload: orders                     # the pods labelled app: orders
//! rules:
//! - from:
//!     namespaces: [team-b]             # any workload of these namespaces
//!     serviceAccounts: [team-c/billing]  # namespace/name
//!     ingressGateway: true             # north-south: calls through the shared host
//!   to:
//!     methods: [GET, POST]
//!     paths: [/orders/v1, /orders/v1/*]  # within the team's own leased paths
//! ```
//!
//! Callers are known by their mTLS identity, so the namespace must be `STRICT` (a `PERMISSIVE`
//! namespace lets plain-text callers through without one). Once a workload has an ALLOW policy,
//! everything else is denied: a rule without `from` or `to`, or an empty list in them, is refused
//! as it would say nothing (or everything); a policy without rules denies every call and is only
//! accepted as an explicit `denyAll: true`.

use serde::{Deserialize, Serialize};

use super::{Fields, Kind};
use crate::names::{DnsLabel, ParseError, PathPrefix};
use crate::problem::{Problem, quoted};

/// The most rules one request may hold.
pub const MAX_RULES: usize = 16;
/// The most entries of one list in a rule.
pub const MAX_ENTRIES: usize = 32;

/// HTTP methods a rule may name.
pub const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

/// A path a rule allows: one exact path, or every path below a prefix (`/p/*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RulePath {
    path: PathPrefix,
    below: bool,
}

impl RulePath {
    /// The path, or the prefix before `/*`.
    pub fn path(&self) -> &PathPrefix {
        &self.path
    }
    /// Whether every path below [`RulePath::path`] is meant.
    pub fn below(&self) -> bool {
        self.below
    }
    /// As Istio spells it: `/p` or `/p/*`.
    pub fn to_istio(&self) -> String {
        if self.below {
            format!("{}/*", self.path.as_str().trim_end_matches('/'))
        } else {
            self.path.to_string()
        }
    }

    fn parse(text: &str) -> Result<Self, ParseError> {
        let (path, below) = match text.strip_suffix("/*") {
            Some("") => ("/", true),
            Some(prefix) => (prefix, true),
            None => (text, false),
        };
        if path.contains('*') {
            return Err(ParseError::new(format!(
                "{} is not accepted; a path is exact (/orders/v1) or ends with /* for every path \
                 below it (/orders/v1/*)",
                quoted(text)
            )));
        }
        Ok(Self {
            path: PathPrefix::parse(path)?,
            below,
        })
    }
}

/// Who may call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Callers {
    /// Any workload of these namespaces.
    pub namespaces: Vec<DnsLabel>,
    /// These service accounts, `(namespace, name)`.
    pub service_accounts: Vec<(DnsLabel, DnsLabel)>,
    /// The environment's ingress gateway (calls through the shared host).
    pub ingress_gateway: bool,
}

/// What they may do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Operations {
    /// HTTP methods (any when empty).
    pub methods: Vec<String>,
    /// Paths (any of the team's when empty).
    pub paths: Vec<RulePath>,
}

/// One rule: callers and operations (either may be left out, not both).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Who (`None`: anyone with a mesh identity allowed by another rule part).
    pub from: Option<Callers>,
    /// What (`None`: any operation).
    pub to: Option<Operations>,
}

/// Allow callers to reach a team's workload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Authorization {
    environment: DnsLabel,
    team: DnsLabel,
    namespace: DnsLabel,
    workload: DnsLabel,
    rules: Vec<Rule>,
}

impl Authorization {
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
    /// The rules; empty for an explicit deny-all.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
    /// Whether this is the explicit "deny every call" policy.
    pub fn deny_all(&self) -> bool {
        self.rules.is_empty()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawCallers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespaces: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service_accounts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    ingress_gateway: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawOperations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    methods: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    paths: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<RawCallers>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<RawOperations>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawAuthorization {
    environment: String,
    team: String,
    namespace: String,
    workload: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rules: Option<Vec<RawRule>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    deny_all: bool,
}

/// A list that is absent, or present with 1 to [`MAX_ENTRIES`] entries.
fn entries<'r>(f: &mut Fields, field: &str, list: &'r Option<Vec<String>>) -> Option<&'r [String]> {
    let list = list.as_deref()?;
    if list.is_empty() {
        f.problems.push(Problem::invalid(
            field,
            "is empty; leave it out, or name at least one (an empty list would match nothing \
             or everything, depending on where it is)",
        ));
        return None;
    }
    if list.len() > MAX_ENTRIES {
        f.problems.push(Problem::invalid(
            field,
            format!("has {} entries; at most {MAX_ENTRIES}", list.len()),
        ));
        return None;
    }
    Some(list)
}

fn parse_callers(f: &mut Fields, at: &str, raw: RawCallers) -> Option<Callers> {
    let mut ok = true;
    let mut callers = Callers {
        ingress_gateway: raw.ingress_gateway,
        ..Callers::default()
    };
    if let Some(list) = entries(f, &format!("{at}.namespaces"), &raw.namespaces) {
        for (i, namespace) in list.iter().enumerate() {
            match f.take(&format!("{at}.namespaces[{i}]"), DnsLabel::parse(namespace)) {
                Some(namespace) => callers.namespaces.push(namespace),
                None => ok = false,
            }
        }
    }
    if let Some(list) = entries(f, &format!("{at}.serviceAccounts"), &raw.service_accounts) {
        for (i, account) in list.iter().enumerate() {
            let field = format!("{at}.serviceAccounts[{i}]");
            let parsed = account
                .split_once('/')
                .ok_or_else(|| {
                    ParseError::new(format!(
                        "{} is not namespace/name; name the service account with its namespace, \
                         such as team-b/checkout",
                        quoted(account)
                    ))
                })
                .and_then(|(ns, name)| Ok((DnsLabel::parse(ns)?, DnsLabel::parse(name)?)));
            match f.take(&field, parsed) {
                Some(account) => callers.service_accounts.push(account),
                None => ok = false,
            }
        }
    }
    if raw.namespaces.as_ref().is_some_and(Vec::is_empty)
        || raw.service_accounts.as_ref().is_some_and(Vec::is_empty)
    {
        ok = false;
    }
    if ok
        && callers.namespaces.is_empty()
        && callers.service_accounts.is_empty()
        && !callers.ingress_gateway
    {
        f.problems.push(Problem::invalid(
            at,
            "names no caller; give namespaces, serviceAccounts or ingressGateway: true, or leave \
             from out",
        ));
        ok = false;
    }
    callers.namespaces.sort();
    callers.namespaces.dedup();
    callers.service_accounts.sort();
    callers.service_accounts.dedup();
    ok.then_some(callers)
}

fn parse_operations(f: &mut Fields, at: &str, raw: RawOperations) -> Option<Operations> {
    let mut ok = !(raw.methods.as_ref().is_some_and(Vec::is_empty)
        || raw.paths.as_ref().is_some_and(Vec::is_empty));
    let mut operations = Operations::default();
    if let Some(list) = entries(f, &format!("{at}.methods"), &raw.methods) {
        for (i, method) in list.iter().enumerate() {
            if METHODS.contains(&method.as_str()) {
                operations.methods.push(method.clone());
            } else {
                f.problems.push(Problem::invalid(
                    format!("{at}.methods[{i}]"),
                    format!(
                        "{} is not an HTTP method; expected one of {}",
                        quoted(method),
                        METHODS.join(", ")
                    ),
                ));
                ok = false;
            }
        }
    }
    if let Some(list) = entries(f, &format!("{at}.paths"), &raw.paths) {
        for (i, path) in list.iter().enumerate() {
            match f.take(&format!("{at}.paths[{i}]"), RulePath::parse(path)) {
                Some(path) => operations.paths.push(path),
                None => ok = false,
            }
        }
    }
    if ok && operations.methods.is_empty() && operations.paths.is_empty() {
        f.problems.push(Problem::invalid(
            at,
            "names no operation; give methods or paths, or leave to out",
        ));
        ok = false;
    }
    operations.methods.sort();
    operations.methods.dedup();
    operations.paths.sort();
    operations.paths.dedup();
    ok.then_some(operations)
}

impl Kind for Authorization {
    const NAME: &'static str = "Authorization";
    type Raw = RawAuthorization;

    fn parse(f: &mut Fields, raw: RawAuthorization) -> Option<Self> {
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
        let mut rules = Vec::new();
        let mut ok = true;
        match (&raw.rules, raw.deny_all) {
            (Some(list), true) if !list.is_empty() => {
                f.problems.push(Problem::invalid(
                    "denyAll",
                    "cannot go with rules: denyAll refuses every call; leave one of them out",
                ));
                ok = false;
            }
            (None, false) | (Some(_), false) if raw.rules.as_ref().is_none_or(Vec::is_empty) => {
                f.problems.push(Problem::invalid(
                    "rules",
                    "are required: an ALLOW policy without rules denies every call to the \
                     workload; give the callers and operations to allow, or ask for that on \
                     purpose with denyAll: true",
                ));
                ok = false;
            }
            _ => {}
        }
        if let Some(list) = raw.rules.filter(|_| ok) {
            if list.len() > MAX_RULES {
                f.problems.push(Problem::invalid(
                    "rules",
                    format!("has {} rules; at most {MAX_RULES}", list.len()),
                ));
                ok = false;
            }
            for (i, rule) in list.into_iter().enumerate() {
                let at = format!("rules[{i}]");
                if rule.from.is_none() && rule.to.is_none() {
                    f.problems.push(Problem::invalid(
                        &at,
                        "allows every call (no from, no to); name the callers (from) or the \
                         operations (to)",
                    ));
                    ok = false;
                    continue;
                }
                let from = rule
                    .from
                    .map(|from| parse_callers(f, &format!("{at}.from"), from));
                let to = rule
                    .to
                    .map(|to| parse_operations(f, &format!("{at}.to"), to));
                match (super::present(from), super::present(to)) {
                    (Some(from), Some(to)) => rules.push(Rule { from, to }),
                    _ => ok = false,
                }
            }
        }
        Some(Self {
            environment: environment?,
            team: team?,
            namespace: namespace?,
            workload: workload?,
            rules: ok.then_some(rules)?,
        })
    }

    fn to_raw(&self) -> RawAuthorization {
        let list = |items: Vec<String>| (!items.is_empty()).then_some(items);
        RawAuthorization {
            environment: self.environment.to_string(),
            team: self.team.to_string(),
            namespace: self.namespace.to_string(),
            workload: self.workload.to_string(),
            rules: (!self.rules.is_empty()).then(|| {
                self.rules
                    .iter()
                    .map(|rule| RawRule {
                        from: rule.from.as_ref().map(|from| RawCallers {
                            namespaces: list(
                                from.namespaces.iter().map(ToString::to_string).collect(),
                            ),
                            service_accounts: list(
                                from.service_accounts
                                    .iter()
                                    .map(|(ns, name)| format!("{ns}/{name}"))
                                    .collect(),
                            ),
                            ingress_gateway: from.ingress_gateway,
                        }),
                        to: rule.to.as_ref().map(|to| RawOperations {
                            methods: list(to.methods.clone()),
                            paths: list(to.paths.iter().map(RulePath::to_istio).collect()),
                        }),
                    })
                    .collect()
            }),
            deny_all: self.rules.is_empty(),
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
        if self.rules.is_empty() {
            return format!("deny every call to {}/{}", self.namespace, self.workload);
        }
        let mut callers: Vec<String> = Vec::new();
        for from in self.rules.iter().filter_map(|r| r.from.as_ref()) {
            callers.extend(from.namespaces.iter().map(|ns| format!("namespace {ns}")));
            callers.extend(
                from.service_accounts
                    .iter()
                    .map(|(ns, name)| format!("{ns}/{name}")),
            );
            if from.ingress_gateway {
                callers.push("the ingress gateway".to_owned());
            }
        }
        callers.dedup();
        format!(
            "allow {} to call {}/{}",
            if callers.is_empty() {
                "mesh callers".to_owned()
            } else {
                callers.join(", ")
            },
            self.namespace,
            self.workload
        )
    }
}
