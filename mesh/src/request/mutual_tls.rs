//! `kind: MutualTls`: how a team namespace, or one workload in it, accepts traffic: mTLS only
//! (`STRICT`) or plain text too (`PERMISSIVE`, while callers outside the mesh move in).
//!
//! ```yaml
//! kind: MutualTls
//! environment: prod
//! team: team-a
//! namespace: team-a
//! mode: STRICT
//! ```
//!
//! Namespace-wide, it sets the mode of the namespace's one PeerAuthentication (`default`, part of
//! the baseline, which otherwise carries the environment's `onboarding.mtls`); a namespace has one
//! namespace-wide setting, so a second request for it is refused. For one workload (the pods
//! labelled `app: <workload>`), it may also set ports apart:
//!
//! ```yaml
//! kind: MutualTls
//! environment: prod
//! team: team-a
//! namespace: team-a
//! workload: legacy-billing
//! mode: STRICT
//! portLevelMtls: { "9090": PERMISSIVE }   # a metrics port scraped from outside the mesh
//! ```
//!
//! Mesh-wide settings (the control plane's root namespace) stay with the platform: only a
//! namespace the team holds is accepted.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{Fields, Kind, present};
use crate::catalog::MtlsMode;
use crate::names::{DnsLabel, ParseError, Port};
use crate::problem::{Problem, quoted};

/// The most ports one workload may set apart.
pub const MAX_PORT_LEVEL: usize = 16;

/// Parses a requested mode: `STRICT` or `PERMISSIVE`.
fn parse_mode(value: &str) -> Result<MtlsMode, ParseError> {
    match value {
        "STRICT" => Ok(MtlsMode::Strict),
        "PERMISSIVE" => Ok(MtlsMode::Permissive),
        "DISABLE" => Err(ParseError::new(
            "DISABLE is not accepted: traffic between workloads stays encrypted; use \
             PERMISSIVE while callers outside the mesh move in",
        )),
        other => Err(ParseError::new(format!(
            "{} is not an mTLS mode; expected STRICT or PERMISSIVE",
            quoted(other)
        ))),
    }
}

/// Set the mTLS mode of a team namespace, or of one workload in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MutualTls {
    environment: DnsLabel,
    team: DnsLabel,
    namespace: DnsLabel,
    workload: Option<DnsLabel>,
    mode: MtlsMode,
    port_level: BTreeMap<Port, MtlsMode>,
}

impl MutualTls {
    /// The environment.
    pub fn environment(&self) -> &DnsLabel {
        &self.environment
    }
    /// The team asking.
    pub fn team(&self) -> &DnsLabel {
        &self.team
    }
    /// The team namespace.
    pub fn namespace(&self) -> &DnsLabel {
        &self.namespace
    }
    /// The workload (`app` label) the setting is for; `None` for the whole namespace.
    pub fn workload(&self) -> Option<&DnsLabel> {
        self.workload.as_ref()
    }
    /// The mode.
    pub fn mode(&self) -> MtlsMode {
        self.mode
    }
    /// Ports of the workload with a mode of their own.
    pub fn port_level(&self) -> &BTreeMap<Port, MtlsMode> {
        &self.port_level
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawMutualTls {
    environment: String,
    team: String,
    namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workload: Option<String>,
    mode: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    port_level_mtls: BTreeMap<String, String>,
}

impl Kind for MutualTls {
    const NAME: &'static str = "MutualTls";
    type Raw = RawMutualTls;

    fn parse(f: &mut Fields, raw: RawMutualTls) -> Option<Self> {
        let environment = f.take("environment", DnsLabel::parse(&raw.environment));
        let team = f.take("team", DnsLabel::parse(&raw.team));
        let namespace = f.take("namespace", DnsLabel::parse(&raw.namespace));
        let workload = raw.workload.as_deref().map(|w| {
            f.take(
                "workload",
                DnsLabel::parse(w).map_err(|e| {
                    ParseError::new(format!(
                        "{}; the workload is the app label of its pods",
                        e.message()
                    ))
                }),
            )
        });
        let mode = f.take("mode", parse_mode(&raw.mode));
        let mut port_level = BTreeMap::new();
        let mut ports_ok = true;
        if !raw.port_level_mtls.is_empty() && workload.is_none() {
            f.problems.push(Problem::invalid(
                "portLevelMtls",
                "needs a workload: ports are set apart for the pods of one workload, never \
                 namespace-wide (Istio ignores portLevelMtls without a selector); add workload: \
                 <app label>",
            ));
            ports_ok = false;
        }
        if raw.port_level_mtls.len() > MAX_PORT_LEVEL {
            f.problems.push(Problem::invalid(
                "portLevelMtls",
                format!(
                    "sets {} ports apart; at most {MAX_PORT_LEVEL} are accepted",
                    raw.port_level_mtls.len()
                ),
            ));
            ports_ok = false;
        }
        for (port, port_mode) in &raw.port_level_mtls {
            let field = format!("portLevelMtls.{port}");
            let number = port
                .parse::<i64>()
                .map_err(|_| {
                    ParseError::new(format!(
                        "{} is not a port number (1 to 65535)",
                        quoted(port)
                    ))
                })
                .and_then(Port::try_from);
            let number = f.take(&field, number);
            let port_mode = f.take(&field, parse_mode(port_mode));
            match (number, port_mode) {
                (Some(number), Some(port_mode)) => {
                    port_level.insert(number, port_mode);
                }
                _ => ports_ok = false,
            }
        }
        if let (Some(mode), true) = (mode, ports_ok)
            && !port_level.is_empty()
            && port_level.values().all(|m| *m == mode)
        {
            f.problems.push(Problem::invalid(
                "portLevelMtls",
                format!("sets every port to {mode}, the workload's mode already; leave portLevelMtls out"),
            ));
            ports_ok = false;
        }
        Some(Self {
            environment: environment?,
            team: team?,
            namespace: namespace?,
            workload: present(workload)?,
            mode: mode?,
            port_level: ports_ok.then_some(port_level)?,
        })
    }

    fn to_raw(&self) -> RawMutualTls {
        RawMutualTls {
            environment: self.environment.to_string(),
            team: self.team.to_string(),
            namespace: self.namespace.to_string(),
            workload: self.workload.as_ref().map(ToString::to_string),
            mode: self.mode.as_str().to_owned(),
            port_level_mtls: self
                .port_level
                .iter()
                .map(|(port, mode)| (port.to_string(), mode.as_str().to_owned()))
                .collect(),
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
        match &self.workload {
            Some(workload) => format!("mTLS {} for {}/{workload}", self.mode, self.namespace),
            None => format!("mTLS {} for namespace {}", self.mode, self.namespace),
        }
    }
}
