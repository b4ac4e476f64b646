//! After the merge: merged → synced → live, and drift.
//!
//! An observe job follows a merged request in its environment's cluster. Where the environment
//! names its Argo CD Application, the job first waits until the Application has synced the merge
//! commit and is healthy (`synced`); then it looks for every object the pull request added or
//! changed, and the request becomes `live` once the cluster holds each of them as generated
//! (every field Signalbox wrote has the value it wrote; fields the API server or a controller
//! adds are not compared). A live request keeps being looked at, less often: an object edited in
//! the cluster (or deleted) is recorded as drift, naming the object and field, and its return
//! to what Git says is recorded too. An environment without a cluster leaves the request merged.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;

use super::deliver::{Context, JobFailure};
use super::{Job, complete};
use crate::requests::record_system_event;

/// How much less often a live request is looked at than a merged one.
const LIVE_SLOWDOWN: u32 = 6;

/// One object that differs from what Git says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    /// `VirtualService team-a/api-dev-example-com`.
    pub object: String,
    /// The first field that differs (`spec.http[0].timeout`), or empty when the object is gone.
    pub field: String,
    /// What Git says and what the cluster has.
    pub detail: String,
}

/// What the cluster shows for a request's objects.
struct Seen {
    /// Objects found.
    present: usize,
    /// Objects not in the cluster.
    missing: Vec<Drift>,
    /// Objects found but not as generated.
    changed: Vec<Drift>,
}

impl Seen {
    /// While merged, missing objects are still on their way; once live, they are drift.
    fn verdict(self, live: bool) -> Verdict {
        if !live && !self.missing.is_empty() {
            return Verdict::Waiting(self.missing.len());
        }
        let mut drift = self.missing;
        drift.extend(self.changed);
        if drift.is_empty() {
            Verdict::AsGenerated(self.present)
        } else {
            Verdict::Drifted(drift)
        }
    }
}

enum Verdict {
    Waiting(usize),
    AsGenerated(usize),
    Drifted(Vec<Drift>),
}

pub(super) async fn observe(cx: &Context<'_>, job: &Job) -> Result<Option<Duration>, JobFailure> {
    let row = sqlx::query!(
        r#"
        select r.environment, r.state, d.files, d.merged_sha, d.synced_revision, d.drift
        from requests r join deliveries d on d.request_id = r.id
        where r.id = $1
        "#,
        job.request_id
    )
    .fetch_optional(cx.pool)
    .await?;
    let Some(row) = row.filter(|r| r.state == "merged" || r.state == "live") else {
        return done(cx, job).await;
    };
    let (Some(cluster), Some(env)) = (
        cx.clusters.get(&row.environment),
        cx.catalog.environment(&row.environment),
    ) else {
        return done(cx, job).await;
    };
    if !cluster.complete() {
        return Ok(Some(cx.follow_every));
    }
    let objects = cluster.objects();
    let mut tx = cx.pool.begin().await?;
    let current = sqlx::query_scalar!(
        "select state from requests where id = $1 for update",
        job.request_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if current != "merged" && current != "live" {
        complete(&mut tx, job).await?;
        tx.commit().await?;
        return Ok(None);
    }

    // The Argo CD Application first: its sync status, health and revision.
    if let Some(application) = env.cluster.as_ref().and_then(|c| c.application.as_deref())
        && row.synced_revision.is_none()
    {
        let (namespace, name) = application.split_once('/').unwrap_or(("", application));
        let found = objects.of("Application").iter().find(|a| {
            a.metadata.namespace.as_deref() == Some(namespace)
                && a.metadata.name.as_deref() == Some(name)
        });
        let Some(app) = found else {
            tx.rollback().await?;
            return Ok(Some(cx.follow_every));
        };
        let text = |pointer: &str| {
            app.data
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        let (sync, revision, health) = (
            text("/status/sync/status"),
            text("/status/sync/revision"),
            text("/status/health/status"),
        );
        let at_merge = match row.merged_sha.as_deref() {
            Some(sha) => revision == sha,
            None => true,
        };
        if sync != "Synced" || !at_merge || health != "Healthy" {
            tx.rollback().await?;
            return Ok(Some(cx.follow_every));
        }
        sqlx::query!(
            "update deliveries set synced_revision = $2, updated_at = now() where request_id = $1",
            job.request_id,
            revision
        )
        .execute(&mut *tx)
        .await?;
        record_system_event(
            &mut tx,
            job.request_id,
            "synced",
            None,
            None,
            &format!(
                "Argo CD Application {application} synced {} and is healthy",
                short(revision)
            ),
        )
        .await?;
    }

    let files: Vec<crate::forge::ChangedFile> =
        serde_json::from_value(row.files).unwrap_or_default();
    let seen = compare(&files, &objects);
    let recorded: Option<Vec<Drift>> = row.drift.and_then(|d| serde_json::from_value(d).ok());
    let again = match seen.verdict(current == "live") {
        Verdict::Waiting(missing) => {
            tracing::debug!(request = %job.request_id, missing, "not in the cluster yet");
            cx.follow_every
        }
        Verdict::AsGenerated(count) => {
            if current == "merged" {
                sqlx::query!(
                    "update deliveries set live_at = now(), drift = null, updated_at = now() where request_id = $1",
                    job.request_id
                )
                .execute(&mut *tx)
                .await?;
                sqlx::query!(
                    "update requests set state = 'live', version = version + 1, updated_at = now() where id = $1",
                    job.request_id
                )
                .execute(&mut *tx)
                .await?;
                record_system_event(
                    &mut tx,
                    job.request_id,
                    "live",
                    Some("merged"),
                    Some("live"),
                    &format!(
                        "the cluster holds {count} object{} as generated",
                        if count == 1 { "" } else { "s" }
                    ),
                )
                .await?;
            } else if recorded.is_some() {
                sqlx::query!(
                    "update deliveries set drift = null, updated_at = now() where request_id = $1",
                    job.request_id
                )
                .execute(&mut *tx)
                .await?;
                record_system_event(
                    &mut tx,
                    job.request_id,
                    "drift_resolved",
                    None,
                    None,
                    "every object is as generated again",
                )
                .await?;
            }
            cx.follow_every * LIVE_SLOWDOWN
        }
        Verdict::Drifted(drift) => {
            if recorded.as_ref() != Some(&drift) {
                let lines: Vec<String> = drift
                    .iter()
                    .map(|d| {
                        if d.field.is_empty() {
                            format!("{}: {}", d.object, d.detail)
                        } else {
                            format!("{} {}: {}", d.object, d.field, d.detail)
                        }
                    })
                    .collect();
                sqlx::query!(
                    "update deliveries set drift = $2, updated_at = now() where request_id = $1",
                    job.request_id,
                    serde_json::to_value(&drift).unwrap_or(Value::Null)
                )
                .execute(&mut *tx)
                .await?;
                record_system_event(
                    &mut tx,
                    job.request_id,
                    "drifted",
                    None,
                    None,
                    &format!("the cluster differs from Git: {}", lines.join("; ")),
                )
                .await?;
            }
            cx.follow_every * LIVE_SLOWDOWN
        }
    };
    tx.commit().await?;
    Ok(Some(again))
}

async fn done(cx: &Context<'_>, job: &Job) -> Result<Option<Duration>, JobFailure> {
    let mut tx = cx.pool.begin().await?;
    complete(&mut tx, job).await?;
    tx.commit().await?;
    Ok(None)
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// The request's objects (every added or changed file but the kustomizations) against the
/// cluster's.
fn compare(files: &[crate::forge::ChangedFile], objects: &crate::cluster::Objects) -> Seen {
    let mut seen = Seen {
        present: 0,
        missing: Vec::new(),
        changed: Vec::new(),
    };
    for file in files {
        if file.path.ends_with("kustomization.yaml") {
            continue;
        }
        let Some(contents) = &file.contents else {
            continue;
        };
        let Ok(desired) = serde_norway::from_str::<Value>(contents) else {
            continue;
        };
        let kind = desired["kind"].as_str().unwrap_or_default();
        let name = desired["metadata"]["name"].as_str().unwrap_or_default();
        let namespace = desired["metadata"]["namespace"].as_str();
        let label = match namespace {
            Some(ns) => format!("{kind} {ns}/{name}"),
            None => format!("{kind} {name}"),
        };
        let live = objects.of(kind).iter().find(|o| {
            o.metadata.name.as_deref() == Some(name) && o.metadata.namespace.as_deref() == namespace
        });
        let Some(live) = live else {
            seen.missing.push(Drift {
                object: label,
                field: String::new(),
                detail: "not in the cluster".to_owned(),
            });
            continue;
        };
        seen.present += 1;
        let live = serde_json::to_value(&**live).unwrap_or(Value::Null);
        for part in ["spec", "metadata/labels", "metadata/annotations"] {
            let pointer = format!("/{part}");
            let Some(want) = desired.pointer(&pointer) else {
                continue;
            };
            let have = live.pointer(&pointer).unwrap_or(&Value::Null);
            if let Some((field, detail)) = first_difference(want, have, &part.replace('/', ".")) {
                seen.changed.push(Drift {
                    object: label.clone(),
                    field,
                    detail,
                });
                break;
            }
        }
    }
    seen
}

/// The first field of `want` that `have` does not hold with the same value (fields only `have`
/// has are defaults and status, not compared).
fn first_difference(want: &Value, have: &Value, at: &str) -> Option<(String, String)> {
    match (want, have) {
        (Value::Object(want), Value::Object(have)) => want.iter().find_map(|(key, value)| {
            first_difference(
                value,
                have.get(key).unwrap_or(&Value::Null),
                &format!("{at}.{key}"),
            )
        }),
        (Value::Array(want), Value::Array(have)) if want.len() == have.len() => want
            .iter()
            .zip(have)
            .enumerate()
            .find_map(|(i, (w, h))| first_difference(w, h, &format!("{at}[{i}]"))),
        (Value::Number(w), Value::Number(h)) if w.as_f64() == h.as_f64() => None,
        (w, h) if w == h => None,
        (w, h) => Some((
            at.to_owned(),
            format!("Git says {}, the cluster has {}", compact(w), compact(h)),
        )),
    }
}

fn compact(value: &Value) -> String {
    let text = if value.is_null() {
        "nothing".to_owned()
    } else {
        value.to_string()
    };
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

/// Queues the observe job of a request just merged.
pub(super) async fn after_merge(
    tx: &mut PgConnection,
    request: uuid::Uuid,
) -> Result<(), sqlx::Error> {
    super::enqueue(tx, super::JobKind::Observe, request, Duration::ZERO).await
}
