//! The hash chain: each event's hash is SHA-256 over the previous event's hash and the event's
//! canonical content, a JSON object with the fields in a fixed order. Whoever recomputes it
//! needs only the rows: `signalbox audit verify`, the admin page, or an auditor's own script.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

/// The previous hash of the first event.
pub const GENESIS: [u8; 32] = [0; 32];

/// An event as it is hashed: everything stored but the hashes themselves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Canonical<'a> {
    pub seq: i64,
    /// RFC 3339 in UTC with microseconds, as Postgres keeps it.
    pub at: String,
    pub actor: &'a str,
    pub actor_name: &'a str,
    pub action: &'a str,
    pub request_id: Option<Uuid>,
    pub environment: Option<&'a str>,
    pub team: Option<&'a str>,
    pub host: Option<&'a str>,
    pub path: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub external_hosts: &'a [String],
    pub before: Option<&'a Value>,
    pub after: Option<&'a Value>,
    pub detail: &'a str,
    pub source_address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub request_key: Option<&'a str>,
}

/// `at` as the chain hashes it.
pub fn timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

/// Postgres keeps microseconds: an event is hashed with the time it will read back.
pub fn truncate_to_micros(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(at.microsecond() * 1000).unwrap_or(at)
}

/// The hash of an event following `prev`.
pub fn hash(prev: &[u8], event: &Canonical<'_>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    // Serializing a struct of strings, numbers and JSON values cannot fail; JSON values keep
    // their keys sorted (serde_json's map), so a value read back from jsonb hashes the same.
    hasher.update(serde_json::to_vec(event).unwrap_or_default());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(seq: i64, hosts: &'a [String], after: &'a Value) -> Canonical<'a> {
        Canonical {
            seq,
            at: timestamp(OffsetDateTime::UNIX_EPOCH),
            actor: "alice",
            actor_name: "Alice",
            action: "submitted",
            request_id: None,
            environment: Some("prod"),
            team: Some("team-a"),
            host: None,
            path: None,
            namespace: Some("team-a"),
            external_hosts: hosts,
            before: None,
            after: Some(after),
            detail: "",
            source_address: None,
            user_agent: None,
            request_key: None,
        }
    }

    #[test]
    fn the_hash_covers_every_field_and_the_previous_hash() {
        let hosts = vec!["api.stripe.com".to_owned()];
        let after = serde_json::json!({"state": "submitted"});
        let first = hash(&GENESIS, &event(1, &hosts, &after));
        assert_eq!(first, hash(&GENESIS, &event(1, &hosts, &after)));
        assert_ne!(first, hash(&[1; 32], &event(1, &hosts, &after)));
        assert_ne!(first, hash(&GENESIS, &event(2, &hosts, &after)));
        let other = serde_json::json!({"state": "approved"});
        assert_ne!(first, hash(&GENESIS, &event(1, &hosts, &other)));
        assert_ne!(first, hash(&GENESIS, &event(1, &[], &after)));
    }

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        let at = OffsetDateTime::UNIX_EPOCH + time::Duration::nanoseconds(1_234_567_891);
        assert_eq!(timestamp(at), "1970-01-01T00:00:01.234567Z");
        assert_eq!(truncate_to_micros(at).nanosecond(), 234_567_000);
    }
}
