//! The audit history: an append-only, hash-chained record of every step: requests submitted,
//! decided, withdrawn, commented, changed and removed; deliveries, pull requests, merges; sign-ins,
//! sign-outs and refused access. Workflow steps write their event in the same transaction as the
//! change they record.

pub mod chain;
pub mod search;

use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

pub use search::{AuditEvent, Filter, Scope};

/// The advisory lock every writer holds while it appends (until its transaction ends), so the
/// chain has exactly one head: "SIGNALBX" in ASCII.
const CHAIN_LOCK: i64 = 0x5349_474e_414c_4258;

/// Where a step came from: the client's address (and the addresses a proxy says it forwarded
/// for), its user agent, and the id of the HTTP request in our logs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origin {
    pub source_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_key: Option<String>,
}

impl Origin {
    /// A step with no HTTP request behind it (background work, tests).
    pub const NONE: Origin = Origin {
        source_address: None,
        user_agent: None,
        request_key: None,
    };

    /// Reads the origin of an HTTP request; `peer` is the address the connection came from.
    pub fn from_http(headers: &http::HeaderMap, peer: Option<std::net::SocketAddr>) -> Self {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(|value| value.chars().take(512).collect::<String>())
        };
        let forwarded = header("x-forwarded-for").or_else(|| header("forwarded"));
        let source_address = match (peer.map(|peer| peer.ip().to_string()), forwarded) {
            (Some(peer), Some(forwarded)) => Some(format!("{peer} (forwarded for {forwarded})")),
            (Some(peer), None) => Some(peer),
            (None, forwarded) => forwarded,
        };
        Self {
            source_address,
            user_agent: header("user-agent"),
            request_key: header("x-request-id"),
        }
    }
}

/// What an event concerns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Target {
    pub request_id: Option<Uuid>,
    pub environment: Option<String>,
    pub team: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub namespace: Option<String>,
    pub external_hosts: Vec<String>,
}

impl Target {
    /// The target of a request in the public request format (`payload`).
    pub fn of_request(id: Uuid, environment: &str, team: &str, payload: &Value) -> Self {
        let mut target = Self {
            request_id: Some(id),
            environment: Some(environment.to_owned()),
            team: Some(team.to_owned()),
            ..Self::default()
        };
        // Stored requests always parse; should one not, the event still names the request.
        if let Ok(request) = mesh::Request::from_value(payload) {
            target.namespace = Some(request.namespace().as_str().to_owned());
            match request.kind() {
                mesh::request::RequestKind::ApiRoute(route) => {
                    target.host = Some(route.host().as_str().to_owned());
                    target.path = Some(route.path().as_str().to_owned());
                }
                // A split belongs to its route's history.
                mesh::request::RequestKind::TrafficSplit(split) => {
                    target.host = Some(split.host().as_str().to_owned());
                    target.path = Some(split.path().as_str().to_owned());
                }
                mesh::request::RequestKind::Egress(egress) => {
                    target.external_hosts = egress
                        .hosts()
                        .iter()
                        .map(|host| host.as_str().to_owned())
                        .collect();
                }
                _ => {}
            }
        }
        target
    }
}

/// One event to append.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub actor: &'a str,
    pub actor_name: &'a str,
    pub action: &'a str,
    pub target: Target,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub detail: &'a str,
    pub origin: &'a Origin,
}

/// Appends `entry` inside the caller's transaction (the chain's lock is held until it ends);
/// returns its sequence number.
pub async fn record(tx: &mut PgConnection, entry: &Entry<'_>) -> sqlx::Result<i64> {
    record_at(tx, entry, OffsetDateTime::now_utc()).await
}

async fn record_at(
    tx: &mut PgConnection,
    entry: &Entry<'_>,
    at: OffsetDateTime,
) -> sqlx::Result<i64> {
    sqlx::query!("select pg_advisory_xact_lock($1)", CHAIN_LOCK)
        .execute(&mut *tx)
        .await?;
    let head = sqlx::query!("select seq, hash from audit_events order by seq desc limit 1")
        .fetch_optional(&mut *tx)
        .await?;
    let (seq, prev) = match head {
        Some(head) => (head.seq + 1, head.hash),
        None => (1, chain::GENESIS.to_vec()),
    };
    let at = chain::truncate_to_micros(at);
    let target = &entry.target;
    let canonical = chain::Canonical {
        seq,
        at: chain::timestamp(at),
        actor: entry.actor,
        actor_name: entry.actor_name,
        action: entry.action,
        request_id: target.request_id,
        environment: target.environment.as_deref(),
        team: target.team.as_deref(),
        host: target.host.as_deref(),
        path: target.path.as_deref(),
        namespace: target.namespace.as_deref(),
        external_hosts: &target.external_hosts,
        before: entry.before.as_ref(),
        after: entry.after.as_ref(),
        detail: entry.detail,
        source_address: entry.origin.source_address.as_deref(),
        user_agent: entry.origin.user_agent.as_deref(),
        request_key: entry.origin.request_key.as_deref(),
    };
    let hash = chain::hash(&prev, &canonical);
    sqlx::query!(
        r#"
        insert into audit_events (seq, at, actor, actor_name, action, request_id, environment, team,
            host, path, namespace, external_hosts, before, after, detail, source_address,
            user_agent, request_key, prev_hash, hash)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
        "#,
        seq,
        at,
        entry.actor,
        entry.actor_name,
        entry.action,
        target.request_id,
        target.environment,
        target.team,
        target.host,
        target.path,
        target.namespace,
        &target.external_hosts,
        entry.before,
        entry.after,
        entry.detail,
        entry.origin.source_address,
        entry.origin.user_agent,
        entry.origin.request_key,
        &prev,
        &hash[..],
    )
    .execute(&mut *tx)
    .await?;
    Ok(seq)
}

/// Appends `entry` in a transaction of its own (sign-ins and other steps that change nothing
/// else in the database).
pub async fn record_alone(pool: &PgPool, entry: &Entry<'_>) -> sqlx::Result<i64> {
    let mut tx = pool.begin().await?;
    let seq = record(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(seq)
}

/// The event of a request's timeline step, with the request's target; `before`/`after` carry the
/// state, and for a submission the request itself (and the grant a change replaces).
#[allow(clippy::too_many_arguments)]
pub async fn record_request_step(
    tx: &mut PgConnection,
    request: Uuid,
    actor: &str,
    actor_name: &str,
    action: &str,
    from_state: Option<&str>,
    to_state: Option<&str>,
    detail: &str,
    origin: &Origin,
) -> sqlx::Result<i64> {
    let row = sqlx::query!(
        r#"
        select r.environment, r.team, r.payload, r.operation, s.payload as "superseded?"
        from requests r left join requests s on s.id = r.supersedes
        where r.id = $1
        "#,
        request
    )
    .fetch_one(&mut *tx)
    .await?;
    let target = Target::of_request(request, &row.environment, &row.team, &row.payload);
    let state = |state: Option<&str>| state.map(|state| json!({ "state": state }));
    let (before, after) = if action == "submitted" {
        (
            row.superseded.map(|grant| json!({ "grant": grant })),
            Some(json!({ "state": to_state, "operation": row.operation, "request": row.payload })),
        )
    } else {
        (state(from_state), state(to_state))
    };
    record(
        tx,
        &Entry {
            actor,
            actor_name,
            action,
            target,
            before,
            after,
            detail,
            origin,
        },
    )
    .await
}

/// What verification found.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every link holds.
    Intact { events: i64 },
    /// The first event whose link does not hold, and why.
    Broken {
        seq: i64,
        at: OffsetDateTime,
        action: String,
        reason: String,
        /// Events before it, which hold.
        intact_before: i64,
    },
}

/// Recomputes the whole chain, oldest first, and reports the first broken link.
pub async fn verify(pool: &PgPool) -> sqlx::Result<Verdict> {
    use futures_util::TryStreamExt as _;
    let mut rows = sqlx::query_as::<_, AuditEvent>(search::SELECT_ALL_BY_SEQ).fetch(pool);
    let mut prev = chain::GENESIS.to_vec();
    let mut expected = 1_i64;
    while let Some(event) = rows.try_next().await? {
        let broken = |reason: String| Verdict::Broken {
            seq: event.seq,
            at: event.at,
            action: event.action.clone(),
            reason,
            intact_before: expected - 1,
        };
        if event.seq != expected {
            return Ok(broken(format!(
                "events {expected} to {} are missing",
                event.seq - 1
            )));
        }
        if event.prev_hash != prev {
            return Ok(broken(
                "its previous-hash does not match the event before it".to_owned(),
            ));
        }
        let hash = chain::hash(&prev, &event.canonical());
        if event.hash != hash {
            return Ok(broken(
                "its content does not match its hash: it was changed after it was written"
                    .to_owned(),
            ));
        }
        prev = event.hash;
        expected += 1;
    }
    Ok(Verdict::Intact {
        events: expected - 1,
    })
}

/// Carries the timeline of requests made before the audit history existed into it, once, in the
/// order it happened (their origin is unknown).
pub async fn backfill(pool: &PgPool) -> sqlx::Result<u64> {
    let mut tx = pool.begin().await?;
    sqlx::query!("select pg_advisory_xact_lock($1)", CHAIN_LOCK)
        .execute(&mut *tx)
        .await?;
    let empty =
        sqlx::query_scalar!(r#"select not exists (select 1 from audit_events) as "empty!""#)
            .fetch_one(&mut *tx)
            .await?;
    if !empty {
        return Ok(0);
    }
    let steps = sqlx::query!(
        "select request_id, at, actor, actor_name, action, from_state, to_state, body \
         from request_events order by id"
    )
    .fetch_all(&mut *tx)
    .await?;
    let origin = Origin::default();
    for step in &steps {
        let row = sqlx::query!(
            "select environment, team, payload from requests where id = $1",
            step.request_id
        )
        .fetch_one(&mut *tx)
        .await?;
        let state = |state: &Option<String>| state.as_ref().map(|state| json!({ "state": state }));
        let entry = Entry {
            actor: &step.actor,
            actor_name: &step.actor_name,
            action: &step.action,
            target: Target::of_request(step.request_id, &row.environment, &row.team, &row.payload),
            before: state(&step.from_state),
            after: state(&step.to_state),
            detail: &step.body,
            origin: &origin,
        };
        record_at(&mut tx, &entry, step.at).await?;
    }
    tx.commit().await?;
    Ok(steps.len() as u64)
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Intact { events: 0 } => write!(f, "The audit history is empty."),
            Self::Intact { events } => write!(
                f,
                "The audit chain is intact: {events} events, each linked to the one before it."
            ),
            Self::Broken {
                seq,
                at,
                action,
                reason,
                intact_before,
            } => write!(
                f,
                "The audit chain is broken at event {seq} ({action}, {}): {reason}. The {intact_before} events before it are intact.",
                chain::timestamp(*at)
            ),
        }
    }
}
