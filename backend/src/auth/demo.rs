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
            signed_in_at: OffsetDateTime::now_utc(),
            id_token: None,
        }
    }
}
