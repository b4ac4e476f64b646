//! Finding events: the filters of the audit page, what each viewer may see, keyset pages newest
//! first, and the same filtered set streamed for export.

use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

use super::chain;
use crate::auth::roles::Roles;

/// One stored event.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: OffsetDateTime,
    pub actor: String,
    pub actor_name: String,
    pub action: String,
    pub request_id: Option<Uuid>,
    pub environment: Option<String>,
    pub team: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub namespace: Option<String>,
    pub external_hosts: Vec<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub detail: String,
    pub source_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_key: Option<String>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

const COLUMNS: &str = "seq, at, actor, actor_name, action, request_id, environment, team, host, \
     path, namespace, external_hosts, before, after, detail, source_address, user_agent, \
     request_key, prev_hash, hash";

pub(super) const SELECT_ALL_BY_SEQ: &str = "select seq, at, actor, actor_name, action, \
     request_id, environment, team, host, path, namespace, external_hosts, before, after, detail, \
     source_address, user_agent, request_key, prev_hash, hash from audit_events order by seq";

/// The columns of a CSV export, in order.
pub const CSV_HEADER: [&str; 20] = [
    "seq",
    "at",
    "actor",
    "actor_name",
    "action",
    "request_id",
    "environment",
    "team",
    "host",
    "path",
    "namespace",
    "external_hosts",
    "before",
    "after",
    "detail",
    "source_address",
    "user_agent",
    "request_key",
    "prev_hash",
    "hash",
];

impl AuditEvent {
    /// The content the chain hashes.
    pub fn canonical(&self) -> chain::Canonical<'_> {
        chain::Canonical {
            seq: self.seq,
            at: chain::timestamp(self.at),
            actor: &self.actor,
            actor_name: &self.actor_name,
            action: &self.action,
            request_id: self.request_id,
            environment: self.environment.as_deref(),
            team: self.team.as_deref(),
            host: self.host.as_deref(),
            path: self.path.as_deref(),
            namespace: self.namespace.as_deref(),
            external_hosts: &self.external_hosts,
            before: self.before.as_ref(),
            after: self.after.as_ref(),
            detail: &self.detail,
            source_address: self.source_address.as_deref(),
            user_agent: self.user_agent.as_deref(),
            request_key: self.request_key.as_deref(),
        }
    }

    /// The event as one CSV record (the columns of [`CSV_HEADER`]).
    pub fn csv_record(&self) -> [String; 20] {
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        let json = |value: &Option<Value>| value.as_ref().map(Value::to_string).unwrap_or_default();
        [
            self.seq.to_string(),
            chain::timestamp(self.at),
            self.actor.clone(),
            self.actor_name.clone(),
            self.action.clone(),
            self.request_id.map(|id| id.to_string()).unwrap_or_default(),
            text(&self.environment),
            text(&self.team),
            text(&self.host),
            text(&self.path),
            text(&self.namespace),
            self.external_hosts.join(" "),
            json(&self.before),
            json(&self.after),
            self.detail.clone(),
            text(&self.source_address),
            text(&self.user_agent),
            text(&self.request_key),
            hex(&self.prev_hash),
            hex(&self.hash),
        ]
    }

    /// The event as a JSON object (an element of a JSON export).
    pub fn to_json(&self) -> Value {
        json!({
            "seq": self.seq,
            "at": chain::timestamp(self.at),
            "actor": self.actor,
            "actorName": self.actor_name,
            "action": self.action,
            "requestId": self.request_id,
            "environment": self.environment,
            "team": self.team,
            "host": self.host,
            "path": self.path,
            "namespace": self.namespace,
            "externalHosts": self.external_hosts,
            "before": self.before,
            "after": self.after,
            "detail": self.detail,
            "sourceAddress": self.source_address,
            "userAgent": self.user_agent,
            "requestKey": self.request_key,
            "prevHash": hex(&self.prev_hash),
            "hash": hex(&self.hash),
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The audit page's filters; every one optional, all of them must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// The subject, or a display name (case-insensitive, as a prefix).
    pub actor: Option<String>,
    pub action: Option<String>,
    pub environment: Option<String>,
    pub team: Option<String>,
    pub host: Option<String>,
    /// Routes whose path starts with this.
    pub path_prefix: Option<String>,
    /// Exactly this route path (the lineage of one route).
    pub path: Option<String>,
    /// Egress grants that name this external host.
    pub external_host: Option<String>,
    /// Events about this namespace (routes to it, its egress, its onboarding).
    pub namespace: Option<String>,
    /// From this time on (inclusive).
    pub from: Option<OffsetDateTime>,
    /// Before this time (exclusive).
    pub until: Option<OffsetDateTime>,
    /// Anywhere in the actor, the target, the detail or the request (case-insensitive).
    pub text: Option<String>,
}

/// Which events a viewer may see: platform admins everything; everyone else the events they
/// caused, those of the teams they request or approve for, and those of the environments they
/// approve in.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    pub everything: bool,
    pub subject: String,
    pub teams: Vec<String>,
    pub environments: Vec<String>,
}

impl Scope {
    pub fn of(subject: &str, roles: &Roles) -> Self {
        let mut teams: Vec<String> = roles
            .requester_for
            .iter()
            .chain(&roles.approver_for_teams)
            .cloned()
            .collect();
        teams.sort();
        teams.dedup();
        Self {
            everything: roles.platform_admin,
            subject: subject.to_owned(),
            teams,
            environments: roles.approver_for_environments.iter().cloned().collect(),
        }
    }

    /// Everything (the CLI, the chain check).
    pub fn everything() -> Self {
        Self {
            everything: true,
            subject: String::new(),
            teams: Vec::new(),
            environments: Vec::new(),
        }
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern.
fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn non_blank(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// `select … from audit_events where <scope> and <filter>`; only the conditions that apply, so
/// each query gets the plan of its own indexes.
fn filtered<'a>(scope: &'a Scope, filter: &'a Filter) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(format!("select {COLUMNS} from audit_events where true"));
    if !scope.everything {
        query
            .push(" and (actor = ")
            .push_bind(&scope.subject)
            .push(" or team = any(")
            .push_bind(&scope.teams)
            .push(") or environment = any(")
            .push_bind(&scope.environments)
            .push("))");
    }
    if let Some(actor) = non_blank(&filter.actor) {
        query
            .push(" and (actor = ")
            .push_bind(actor.to_owned())
            .push(" or lower(actor_name) like ")
            .push_bind(format!("{}%", like_escape(&actor.to_lowercase())))
            .push(")");
    }
    if let Some(action) = non_blank(&filter.action) {
        query.push(" and action = ").push_bind(action.to_owned());
    }
    if let Some(environment) = non_blank(&filter.environment) {
        query
            .push(" and environment = ")
            .push_bind(environment.to_owned());
    }
    if let Some(team) = non_blank(&filter.team) {
        query.push(" and team = ").push_bind(team.to_owned());
    }
    if let Some(host) = non_blank(&filter.host) {
        query
            .push(" and host = ")
            .push_bind(host.to_ascii_lowercase());
    }
    if let Some(prefix) = non_blank(&filter.path_prefix) {
        query
            .push(" and path like ")
            .push_bind(format!("{}%", like_escape(prefix)));
    }
    if let Some(path) = non_blank(&filter.path) {
        query.push(" and path = ").push_bind(path.to_owned());
    }
    if let Some(external) = non_blank(&filter.external_host) {
        query
            .push(" and external_hosts @> array[")
            .push_bind(external.to_ascii_lowercase())
            .push("]::text[]");
    }
    if let Some(namespace) = non_blank(&filter.namespace) {
        query
            .push(" and namespace = ")
            .push_bind(namespace.to_ascii_lowercase());
    }
    if let Some(from) = filter.from {
        query.push(" and at >= ").push_bind(from);
    }
    if let Some(until) = filter.until {
        query.push(" and at < ").push_bind(until);
    }
    if let Some(text) = non_blank(&filter.text) {
        let pattern = format!("%{}%", like_escape(text));
        query
            .push(
                " and concat_ws(' ', actor, actor_name, action, environment, team, host, path, \
                 namespace, array_to_string(external_hosts, ' '), detail, request_id::text) ilike ",
            )
            .push_bind(pattern);
    }
    query
}

/// One page of matching events, newest first, strictly before `before` (a `seq`).
pub async fn page(
    pool: &PgPool,
    scope: &Scope,
    filter: &Filter,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<AuditEvent>> {
    let mut query = filtered(scope, filter);
    if let Some(before) = before {
        query.push(" and seq < ").push_bind(before);
    }
    query.push(" order by seq desc limit ").push_bind(limit);
    query.build_query_as::<AuditEvent>().fetch_all(pool).await
}

/// Every matching event, oldest first: the lineage of a route or an external host.
pub async fn all_ascending(
    pool: &PgPool,
    scope: &Scope,
    filter: &Filter,
    limit: i64,
) -> sqlx::Result<Vec<AuditEvent>> {
    let mut query = filtered(scope, filter);
    query.push(" order by seq limit ").push_bind(limit);
    query.build_query_as::<AuditEvent>().fetch_all(pool).await
}

/// Every matching event, newest first, as a stream: an export never holds the set in memory.
pub fn stream(
    pool: PgPool,
    scope: Scope,
    filter: Filter,
) -> impl Stream<Item = sqlx::Result<AuditEvent>> + Send + 'static {
    // The query borrows its binds and the pool: it runs in a task that owns them and hands rows
    // over a small channel, which also paces the database to the client.
    let (sender, receiver) = tokio::sync::mpsc::channel::<sqlx::Result<AuditEvent>>(256);
    tokio::spawn(async move {
        use futures_util::StreamExt as _;
        let mut query = filtered(&scope, &filter);
        query.push(" order by seq desc");
        let mut rows = query.build_query_as::<AuditEvent>().fetch(&pool);
        while let Some(row) = rows.next().await {
            let failed = row.is_err();
            if sender.send(row).await.is_err() || failed {
                break;
            }
        }
    });
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|row| (row, receiver))
    })
}

/// The actions the history records, with the words the page shows for them.
pub const ACTIONS: &[(&str, &str)] = &[
    ("submitted", "Submitted"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
    ("conflict_found", "Approval refused: conflict"),
    ("withdrawn", "Withdrawn"),
    ("commented", "Commented"),
    ("delivering", "Delivery started"),
    ("pr_opened", "Pull request opened"),
    ("pr_updated", "Pull request updated"),
    ("merged", "Merged"),
    ("pr_closed", "Pull request closed"),
    ("delivery_failed", "Delivery failed"),
    ("delivery_retried", "Delivery retried"),
    ("synced", "Synced by Argo CD"),
    ("live", "Live in the cluster"),
    ("drifted", "Drifted from Git"),
    ("drift_resolved", "Back in line with Git"),
    ("signed_in", "Signed in"),
    ("signed_out", "Signed out"),
    ("sign_in_failed", "Sign-in failed"),
    ("access_refused", "Access refused"),
];

/// Reads the filters from query parameters; a value that cannot be used is named with what
/// would be accepted.
pub fn parse_filter<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Filter, Vec<(String, String)>> {
    let mut filter = Filter::default();
    let mut problems = Vec::new();
    for (key, value) in params {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        if value.chars().count() > 256 {
            problems.push((key.to_owned(), "is longer than 256 characters".to_owned()));
            continue;
        }
        let text = Some(value.to_owned());
        match key {
            "actor" => filter.actor = text,
            "action" => {
                if ACTIONS.iter().any(|(action, _)| *action == value) {
                    filter.action = text;
                } else {
                    let known: Vec<&str> = ACTIONS.iter().map(|(action, _)| *action).collect();
                    problems.push((
                        key.to_owned(),
                        format!(
                            "{value:?} is not an action; use one of {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
            "environment" => filter.environment = text,
            "team" => filter.team = text,
            "host" => filter.host = text,
            "path" => {
                if value.starts_with('/') {
                    filter.path_prefix = text;
                } else {
                    problems.push((key.to_owned(), "must start with /, like /orders".to_owned()));
                }
            }
            "external_host" => filter.external_host = text,
            "namespace" => filter.namespace = text,
            "from" | "until" => match parse_day(value) {
                Some(day) => {
                    if key == "from" {
                        filter.from = Some(day);
                    } else {
                        // Until a day includes that day.
                        filter.until = Some(day + time::Duration::days(1));
                    }
                }
                None => problems.push((
                    key.to_owned(),
                    format!("{value:?} is not a date; use YYYY-MM-DD, like 2026-11-29"),
                )),
            },
            "q" => filter.text = text,
            _ => {}
        }
    }
    if let (Some(from), Some(until)) = (filter.from, filter.until)
        && until <= from
    {
        problems.push((
            "until".to_owned(),
            "is before from; choose a day on or after it".to_owned(),
        ));
    }
    if problems.is_empty() {
        Ok(filter)
    } else {
        Err(problems)
    }
}

/// Midnight UTC of a `YYYY-MM-DD` day.
fn parse_day(value: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &format)
        .ok()
        .map(|day| day.midnight().assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_read_and_bad_values_named() {
        let filter = parse_filter([
            ("actor", "alice"),
            ("from", "2026-11-01"),
            ("until", "2026-11-29"),
            ("path", "/orders"),
            ("q", " "),
        ])
        .expect("valid");
        assert_eq!(filter.actor.as_deref(), Some("alice"));
        assert_eq!(filter.path_prefix.as_deref(), Some("/orders"));
        assert_eq!(filter.text, None);
        assert_eq!(
            filter.until.map(|t| t.date().to_string()),
            Some("2026-11-30".to_owned())
        );
        let problems = parse_filter([("from", "yesterday"), ("action", "deleted"), ("path", "x")])
            .expect_err("invalid");
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["from", "action", "path"]);
        assert!(problems[0].1.contains("YYYY-MM-DD"));
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape("50%_a\\b"), "50\\%\\_a\\\\b");
    }
}
