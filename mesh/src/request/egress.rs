//! `kind: Egress`: let a namespace reach external hosts on some ports.
//!
//! ```yaml
//! kind: Egress
//! environment: prod
//! team: team-a
//! namespace: team-a
//! hosts: [api.stripe.com]
//! ports: [{ number: 443, protocol: TLS }]
//! addresses: [203.0.113.10/32]   # required for plain TCP only
//! viaEgressGateway: true         # optional
//! ```

use serde::{Deserialize, Serialize};

use super::{Fields, Kind};
use crate::names::{Cidr, DnsLabel, EgressHost, Port, Protocol};
use crate::problem::Problem;

/// The most hosts one egress request may name.
pub const MAX_EGRESS_HOSTS: usize = 16;
/// The most ports one egress request may name.
pub const MAX_EGRESS_PORTS: usize = 8;
/// At most this many address blocks per egress request.
pub const MAX_EGRESS_ADDRESSES: usize = 16;

/// One port an egress request opens, with the protocol the application speaks on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EgressPort {
    number: Port,
    protocol: Protocol,
}

impl EgressPort {
    /// A port and protocol pair.
    pub fn new(number: Port, protocol: Protocol) -> Self {
        Self { number, protocol }
    }
    /// The port number.
    pub fn number(&self) -> Port {
        self.number
    }
    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }
}

/// Let a namespace reach external hosts on some ports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Egress {
    environment: DnsLabel,
    team: DnsLabel,
    namespace: DnsLabel,
    hosts: Vec<EgressHost>,
    ports: Vec<EgressPort>,
    addresses: Vec<Cidr>,
    via_egress_gateway: bool,
}

impl Egress {
    /// The environment.
    pub fn environment(&self) -> &DnsLabel {
        &self.environment
    }
    /// The requesting team.
    pub fn team(&self) -> &DnsLabel {
        &self.team
    }
    /// The namespace whose workloads get egress.
    pub fn namespace(&self) -> &DnsLabel {
        &self.namespace
    }
    /// The external hosts, without duplicates, in the order given.
    pub fn hosts(&self) -> &[EgressHost] {
        &self.hosts
    }
    /// The ports, with unique numbers, in the order given.
    pub fn ports(&self) -> &[EgressPort] {
        &self.ports
    }
    /// Whether traffic goes through the environment's egress gateway.
    pub fn via_egress_gateway(&self) -> bool {
        self.via_egress_gateway
    }
    /// The external addresses plain TCP is matched on (empty unless a port is TCP).
    pub fn addresses(&self) -> &[Cidr] {
        &self.addresses
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawEgress {
    environment: String,
    team: String,
    namespace: String,
    hosts: Vec<String>,
    ports: Vec<RawEgressPort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    via_egress_gateway: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawEgressPort {
    number: i64,
    protocol: String,
}

fn parse_egress(f: &mut Fields, raw: RawEgress) -> Option<Egress> {
    let environment = f.take("environment", DnsLabel::parse(&raw.environment));
    let team = f.take("team", DnsLabel::parse(&raw.team));
    let namespace = f.take("namespace", DnsLabel::parse(&raw.namespace));
    if raw.hosts.is_empty() || raw.hosts.len() > MAX_EGRESS_HOSTS {
        f.problems.push(Problem::invalid(
            "hosts",
            format!(
                "must name 1 to {MAX_EGRESS_HOSTS} hosts, not {}",
                raw.hosts.len()
            ),
        ));
    }
    let mut hosts: Vec<EgressHost> = Vec::new();
    for (i, raw_host) in raw.hosts.iter().enumerate() {
        let field = format!("hosts[{i}]");
        if let Some(host) = f.take(&field, EgressHost::parse(raw_host)) {
            if let Some(first) = hosts.iter().position(|h| *h == host) {
                f.problems.push(Problem::invalid(
                    field,
                    format!("repeats hosts[{first}] ({host})"),
                ));
            } else {
                hosts.push(host);
            }
        }
    }
    if raw.ports.is_empty() || raw.ports.len() > MAX_EGRESS_PORTS {
        f.problems.push(Problem::invalid(
            "ports",
            format!(
                "must name 1 to {MAX_EGRESS_PORTS} ports, not {}",
                raw.ports.len()
            ),
        ));
    }
    let mut ports: Vec<EgressPort> = Vec::new();
    for (i, raw_port) in raw.ports.iter().enumerate() {
        let number = f.take(
            &format!("ports[{i}].number"),
            Port::try_from(raw_port.number),
        );
        let protocol = f.take(
            &format!("ports[{i}].protocol"),
            Protocol::parse(&raw_port.protocol),
        );
        if let (Some(number), Some(protocol)) = (number, protocol) {
            if let Some(first) = ports.iter().position(|p| p.number == number) {
                f.problems.push(Problem::invalid(
                    format!("ports[{i}].number"),
                    format!("repeats ports[{first}] ({number}); one protocol per port"),
                ));
            } else {
                ports.push(EgressPort { number, protocol });
            }
        }
    }
    if raw.addresses.len() > MAX_EGRESS_ADDRESSES {
        f.problems.push(Problem::invalid(
            "addresses",
            format!(
                "must name at most {MAX_EGRESS_ADDRESSES} address blocks, not {}",
                raw.addresses.len()
            ),
        ));
    }
    let mut addresses: Vec<Cidr> = Vec::new();
    for (i, raw_address) in raw.addresses.iter().enumerate() {
        let field = format!("addresses[{i}]");
        if let Some(address) = f.take(&field, Cidr::parse(raw_address)) {
            if let Some(first) = addresses.iter().position(|a| a.overlaps(&address)) {
                f.problems.push(Problem::invalid(
                    field,
                    format!("overlaps addresses[{first}] ({})", addresses[first]),
                ));
            } else {
                addresses.push(address);
            }
        }
    }
    let via_egress_gateway = raw.via_egress_gateway.unwrap_or(false);
    // Plain TCP carries no host name: Istio can only tell TCP destinations apart by address.
    if let Some(tcp) = ports.iter().position(|p| p.protocol == Protocol::Tcp) {
        if raw.addresses.is_empty() {
            f.problems.push(Problem::invalid(
                "addresses",
                format!(
                    "are required for plain TCP (ports[{tcp}]): TCP carries no host name, so the \
                     sidecar can only match it by address; list the external service's addresses \
                     (CIDR, e.g. 203.0.113.10/32), or use TLS"
                ),
            ));
        }
        for (i, host) in hosts.iter().enumerate() {
            if let EgressHost::Wildcard(_) = host {
                f.problems.push(Problem::invalid(
                    format!("hosts[{i}]"),
                    format!(
                        "{host} is a wildcard, which plain TCP cannot be matched on; name the \
                         host, or use TLS"
                    ),
                ));
            }
        }
        if hosts.len() > 1 {
            f.problems.push(Problem::invalid(
                "hosts",
                "plain TCP takes one host per request, with its addresses; ask for the other \
                 hosts in requests of their own",
            ));
        }
        if via_egress_gateway {
            f.problems.push(Problem::invalid(
                "viaEgressGateway",
                "plain TCP cannot go through the egress gateway, which routes on the TLS server \
                 name; use TLS, or leave viaEgressGateway out",
            ));
        }
    }
    Some(Egress {
        environment: environment?,
        team: team?,
        namespace: namespace?,
        hosts,
        ports,
        addresses,
        via_egress_gateway,
    })
}

impl Kind for Egress {
    const NAME: &'static str = "Egress";
    type Raw = RawEgress;

    fn parse(f: &mut Fields, raw: RawEgress) -> Option<Self> {
        parse_egress(f, raw)
    }

    fn to_raw(&self) -> RawEgress {
        RawEgress {
            environment: self.environment.to_string(),
            team: self.team.to_string(),
            namespace: self.namespace.to_string(),
            hosts: self.hosts.iter().map(ToString::to_string).collect(),
            ports: self
                .ports
                .iter()
                .map(|p| RawEgressPort {
                    number: i64::from(p.number.get()),
                    protocol: p.protocol.to_string(),
                })
                .collect(),
            addresses: self.addresses.iter().map(ToString::to_string).collect(),
            via_egress_gateway: Some(self.via_egress_gateway),
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
        let hosts: Vec<String> = self.hosts.iter().map(ToString::to_string).collect();
        let ports: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("{}/{}", p.number, p.protocol))
            .collect();
        format!(
            "{} → {} on {}",
            self.namespace,
            hosts.join(", "),
            ports.join(", ")
        )
    }
}
