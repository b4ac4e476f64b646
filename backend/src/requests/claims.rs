//! Stored requests as the conflict check sees them: what is granted in an environment (the
//! effective version of each grant, after approved changes) and what is pending and so holds a
//! tentative claim.

use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

/// One stored request that holds a claim: its id (to name it in a conflict) and its payload in
/// the public request format.
#[derive(Debug, Clone)]
pub struct StoredClaim {
    pub id: Uuid,
    pub payload: Value,
}

/// Requests of one environment that new requests must not conflict with, in the order they
/// were made (older claims win).
#[derive(Debug, Default)]
pub struct ExistingClaims {
    /// Approved and everything after it on the way to live, as changed by approved changes, and
    /// until an approved removal is delivered. A closed pull request frees its claim.
    pub granted: Vec<StoredClaim>,
    /// Submitted and waiting for review (new requests only: a pending change or removal claims
    /// nothing its grant does not already hold).
    pub pending: Vec<StoredClaim>,
}

impl ExistingClaims {
    /// Granted and pending claims, older first, each labelled `request <id>` so a conflict names
    /// the request that holds the path; `except` (a grant being changed) is left out.
    pub fn requests(&self, except: Option<Uuid>) -> Result<Vec<mesh::Request>, String> {
        self.granted
            .iter()
            .chain(&self.pending)
            .filter(|claim| Some(claim.id) != except)
            .map(|claim| claim.parse())
            .collect()
    }

    /// Granted claims only, as [`ExistingClaims::requests`].
    pub fn granted_requests(&self, except: Option<Uuid>) -> Result<Vec<mesh::Request>, String> {
        self.granted
            .iter()
            .filter(|claim| Some(claim.id) != except)
            .map(|claim| claim.parse())
            .collect()
    }
}

impl StoredClaim {
    /// The stored payload as a request whose problems name it.
    pub fn parse(&self) -> Result<mesh::Request, String> {
        mesh::Request::from_value(&self.payload)
            .map(|request| request.with_origin(format!("request {}", self.id)))
            .map_err(|problems| format!("stored request {} does not parse: {problems:?}", self.id))
    }
}

/// Loads the payloads that hold a claim in `environment`.
pub async fn existing_claims(
    executor: impl PgExecutor<'_>,
    environment: &str,
) -> Result<ExistingClaims, sqlx::Error> {
    existing_claims_of(executor, environment, None).await
}

/// [`existing_claims`] of the given request kinds only (`None`: every kind), for the pages that
/// need one kind of claim (the overview's onboarded namespaces) without reading every route.
#[tracing::instrument(skip(executor), err)]
pub async fn existing_claims_of(
    executor: impl PgExecutor<'_>,
    environment: &str,
    kinds: Option<&[String]>,
) -> Result<ExistingClaims, sqlx::Error> {
    // A grant stops counting once an approved change replaces it, or once its removal is
    // delivered; removals themselves and pending changes hold no claim of their own.
    let rows = sqlx::query!(
        r#"
        select r.id, r.state, r.payload
        from requests r
        where r.environment = $1
          and ($2::text[] is null or r.kind = any($2))
          and r.operation <> 'remove'
          and (r.state in ('approved', 'delivering', 'pr_open', 'delivery_failed', 'merged',
                           'live')
               or (r.state = 'submitted' and r.operation = 'create'))
          and not exists (
              select 1 from requests c
              where c.supersedes = r.id
                and ((c.operation = 'change'
                      and c.state in ('approved', 'delivering', 'pr_open', 'delivery_failed',
                                      'merged', 'live'))
                  or (c.operation = 'remove' and c.state in ('merged', 'live'))))
        order by r.created_at, r.id
        "#,
        environment,
        kinds
    )
    .fetch_all(executor)
    .await?;
    let mut claims = ExistingClaims::default();
    for row in rows {
        let claim = StoredClaim {
            id: row.id,
            payload: row.payload,
        };
        if row.state == "submitted" {
            claims.pending.push(claim);
        } else {
            claims.granted.push(claim);
        }
    }
    Ok(claims)
}
