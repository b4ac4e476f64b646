//! Plain TCP egress: only with the external addresses it is matched on, never to a wildcard, one
//! host per request, never through the (SNI-routing) egress gateway, and never two grants on the
//! same address and port. Each refusal names the field and what would be accepted.

mod common;

use common::parse_one;
use mesh::names::Cidr;
use mesh::plan;

/// The example catalog with plain TCP on port 5432 allowed in dev.
fn catalog() -> mesh::Catalog {
    let mut file = common::catalog_file();
    let dev = &mut file.environments[0];
    dev.policy.allowed_ports = Some(vec![443, 5432]);
    dev.policy.allowed_protocols = Some(vec!["TLS".to_owned(), "TCP".to_owned()]);
    mesh::Catalog::from_config(file.environments, file.teams).expect("valid")
}

fn tcp(team: &str, host: &str, addresses: &str) -> String {
    format!(
        "kind: Egress\nenvironment: dev\nteam: {team}\nnamespace: {team}\nhosts: [{host}]\n\
         ports: [{{number: 5432, protocol: TCP}}]\naddresses: [{addresses}]\n"
    )
}

fn problems_of(text: &str) -> Vec<mesh::Problem> {
    match mesh::parse_documents("tcp.yaml", text) {
        Ok(requests) => match plan(&catalog(), &[], &requests) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(problems) => problems,
        },
        Err(problems) => problems,
    }
}

fn message_at(problems: &[mesh::Problem], field: &str) -> String {
    problems
        .iter()
        .find(|p| p.field == field)
        .map(|p| p.message.clone())
        .unwrap_or_else(|| panic!("no problem at {field}: {problems:?}"))
}

#[test]
fn tcp_with_addresses_renders_a_service_entry_matched_on_them() {
    let request = parse_one(&tcp(
        "team-a",
        "db.partner.com",
        "203.0.113.10, 198.51.100.0/28",
    ));
    let plan = plan(&catalog(), &[], &[request]).expect("plans");
    let entry = plan
        .files
        .iter()
        .find(|f| f.path.contains("serviceentry-"))
        .expect("a ServiceEntry");
    let value: serde_json::Value = serde_norway::from_str(&entry.contents).expect("yaml");
    assert_eq!(
        value["spec"]["addresses"],
        serde_json::json!(["198.51.100.0/28", "203.0.113.10/32"])
    );
    assert_eq!(
        value["spec"]["resolution"], "NONE",
        "CIDR addresses need NONE"
    );
    assert_eq!(value["spec"]["ports"][0]["protocol"], "TCP");
}

#[test]
fn tcp_without_addresses_is_refused_with_how_to_fix_it() {
    let text = "kind: Egress\nenvironment: dev\nteam: team-a\nnamespace: team-a\nhosts: [db.partner.com]\nports: [{number: 5432, protocol: TCP}]\n";
    let message = message_at(&problems_of(text), "addresses");
    assert!(message.contains("required for plain TCP"), "{message}");
    assert!(message.contains("203.0.113.10/32"), "{message}");
}

#[test]
fn tcp_refuses_wildcards_several_hosts_and_the_egress_gateway() {
    let wildcard = problems_of(&tcp("team-a", "'*.partner.com'", "203.0.113.10"));
    assert!(message_at(&wildcard, "hosts[0]").contains("wildcard"));
    let several = problems_of(&tcp(
        "team-a",
        "db.partner.com, db2.partner.com",
        "203.0.113.10",
    ));
    assert!(message_at(&several, "hosts").contains("one host per request"));
    let gateway = problems_of(&format!(
        "{}viaEgressGateway: true\n",
        tcp("team-a", "db.partner.com", "203.0.113.10")
    ));
    assert!(message_at(&gateway, "viaEgressGateway").contains("TLS server name"));
}

#[test]
fn two_tcp_grants_on_the_same_address_and_port_are_refused_naming_the_first() {
    let granted = parse_one(&tcp("team-a", "db.partner.com", "203.0.113.0/28"))
        .with_origin("request 1111".to_owned());
    let second = parse_one(&tcp("team-b", "db-replica.partner.com", "203.0.113.8/29"));
    let problems =
        plan(&catalog(), std::slice::from_ref(&granted), &[second]).expect_err("refused");
    let message = message_at(&problems, "addresses[0]");
    assert!(
        message.contains("team-a/db.partner.com (request 1111)")
            && message.contains("203.0.113.0/28"),
        "{message}"
    );
    // Other addresses on the same port are fine.
    let apart = parse_one(&tcp("team-b", "db-replica.partner.com", "203.0.113.64/28"));
    plan(&catalog(), &[granted], &[apart]).expect("no overlap, no conflict");
}

#[test]
fn addresses_must_be_public_narrow_and_well_formed() {
    for (address, needle) in [
        ("10.0.0.5", "not a public address"),
        ("169.254.169.254", "not a public address"),
        ("127.0.0.1", "not a public address"),
        ("fd00::1", "not a public address"),
        ("0.0.0.0/0", "more than a /16"),
        (
            "203.0.113.5/24",
            "host bits set; the block is 203.0.113.0/24",
        ),
        ("203.0.113.300", "not an IP address"),
        ("203.0.113.0/33", "prefix length"),
    ] {
        let error = Cidr::parse(address).expect_err(address);
        assert!(
            error.message().contains(needle),
            "{address}: {}",
            error.message()
        );
    }
    assert_eq!(
        Cidr::parse("2001:db8:1::/64").map(|c| c.to_string()).ok(),
        Some("2001:db8:1::/64".to_owned())
    );
    let overlapping = problems_of(&tcp(
        "team-a",
        "db.partner.com",
        "203.0.113.0/28, 203.0.113.4",
    ));
    assert!(message_at(&overlapping, "addresses[1]").contains("overlaps addresses[0]"));
}
