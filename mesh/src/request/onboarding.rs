//! `kind: Onboarding`: a team brings a further namespace into the mesh in one environment.
//!
//! ```yaml
//! kind: Onboarding
//! environment: prod
//! team: team-a
//! namespace: team-a-batch
//! ```
//!
//! Once granted, the namespace is the team's in that environment like the ones the platform
//! configured for it: routes and egress may name it, and it gets its baseline (mesh membership,
//! PeerAuthentication, Sidecar and, where all egress goes through the gateway, a NetworkPolicy).

use serde::{Deserialize, Serialize};

use super::{Fields, Kind};
use crate::names::DnsLabel;

/// Onboard a namespace for a team in an environment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Onboarding {
    environment: DnsLabel,
    team: DnsLabel,
    namespace: DnsLabel,
}

impl Onboarding {
    /// The environment.
    pub fn environment(&self) -> &DnsLabel {
        &self.environment
    }
    /// The team asking.
    pub fn team(&self) -> &DnsLabel {
        &self.team
    }
    /// The namespace to onboard.
    pub fn namespace(&self) -> &DnsLabel {
        &self.namespace
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawOnboarding {
    environment: String,
    team: String,
    namespace: String,
}

impl Kind for Onboarding {
    const NAME: &'static str = "Onboarding";
    type Raw = RawOnboarding;

    fn parse(f: &mut Fields, raw: RawOnboarding) -> Option<Self> {
        let environment = f.take("environment", DnsLabel::parse(&raw.environment));
        let team = f.take("team", DnsLabel::parse(&raw.team));
        let namespace = f.take("namespace", DnsLabel::parse(&raw.namespace));
        Some(Self {
            environment: environment?,
            team: team?,
            namespace: namespace?,
        })
    }

    fn to_raw(&self) -> RawOnboarding {
        RawOnboarding {
            environment: self.environment.to_string(),
            team: self.team.to_string(),
            namespace: self.namespace.to_string(),
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
            "onboard namespace {} for team {}",
            self.namespace, self.team
        )
    }
}
