//! The demo sign-in: when no OpenID provider is configured, a person trying Signalbox on their
//! own machine picks a persona instead. It is refused unless the server listens on loopback
//! only, and every page says it is in use.

use serde::Serialize;
use time::OffsetDateTime;

use super::{SessionUser, SignInMethod};

/// A made-up user with the groups of the embedded example configuration.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Persona {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub groups: &'static [&'static str],
}

pub const PERSONAS: &[Persona] = &[
    Persona {
        id: "alice",
        name: "Alice Requester",
        description: "requests routes and egress for team-a",
        groups: &["team-a"],
    },
    Persona {
        id: "bob",
        name: "Bob Requester",
        description: "requests routes and egress for team-b",
        groups: &["team-b"],
    },
    Persona {
        id: "carol",
        name: "Carol Approver",
        description: "approves requests in dev and prod",
        groups: &["platform-approvers"],
    },
    Persona {
        id: "dave",
        name: "Dave Admin",
        description: "administers the portal",
        groups: &["platform-admins"],
    },
];

pub fn persona(id: &str) -> Option<&'static Persona> {
    PERSONAS.iter().find(|persona| persona.id == id)
}

impl Persona {
    pub fn session_user(&self) -> SessionUser {
        SessionUser {
            subject: format!("demo:{}", self.id),
            name: self.name.to_owned(),
            email: Some(format!("{}@demo.invalid", self.id)),
            groups: self
                .groups
                .iter()
                .map(|group| (*group).to_owned())
                .collect(),
            method: SignInMethod::Demo,
            issuer: None,
            signed_in_at: OffsetDateTime::now_utc(),
            id_token: None,
        }
    }
}

/// Why the demo sign-in is refused for a request with these headers, or `None` when the request
/// reached Signalbox directly on this machine: its `Host` is a loopback name or address and no
/// proxy header (`Forwarded`, `X-Forwarded-*`) says it came through a proxy. Checked on every
/// demo sign-in, so neither a proxy in front nor DNS rebinding (a foreign name that resolves to
/// 127.0.0.1) can reach the personas.
pub fn refusal(headers: &axum::http::HeaderMap) -> Option<&'static str> {
    let proxied = headers.keys().any(|name| {
        let name = name.as_str();
        name == "forwarded" || name.starts_with("x-forwarded-")
    });
    if proxied {
        return Some(
            "The demo sign-in is only offered to a browser on this machine; this request came \
             through a proxy. Configure an OpenID Connect provider to sign in from elsewhere.",
        );
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if host_is_loopback(host) {
        None
    } else {
        Some(
            "The demo sign-in is only offered at a loopback address (localhost, 127.0.0.1, \
             [::1]); open Signalbox there, or configure an OpenID Connect provider.",
        )
    }
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn host_is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod loopback_tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_count() {
        for host in [
            "localhost",
            "localhost:3000",
            "127.0.0.1:8080",
            "127.1.2.3",
            "[::1]:3000",
            "LOCALHOST",
        ] {
            assert!(host_is_loopback(host), "{host}");
        }
        for host in [
            "rebind.evil.example:3000",
            "10.0.0.1",
            "",
            "localhost.evil.example",
            "[::2]:80",
            "0.0.0.0",
        ] {
            assert!(!host_is_loopback(host), "{host}");
        }
    }
}
