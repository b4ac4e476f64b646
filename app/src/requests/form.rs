//! The request forms' values, one string per field as the browser holds them, and how they
//! become a request in the public format. The browser and the server run the same conversion
//! and the same checks, so a message shown while typing is the message a submit gets.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use mesh::Problem;

/// "Expose an API": one field per value, in the order a person thinks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiForm {
    pub environment: String,
    pub host: String,
    pub team: String,
    pub path: String,
    pub path_match: String,
    pub namespace: String,
    pub service: String,
    pub port: String,
    pub timeout: String,
    pub retry_attempts: String,
    pub per_try_timeout: String,
    pub justification: String,
}

/// One port row of the egress form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortRow {
    pub number: String,
    pub protocol: String,
}

/// "Allow outbound traffic".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EgressForm {
    pub environment: String,
    pub team: String,
    pub namespace: String,
    pub hosts: Vec<String>,
    pub ports: Vec<PortRow>,
    /// External addresses for plain TCP, separated by commas or spaces.
    #[serde(default)]
    pub addresses: String,
    /// "on" when the checkbox is ticked (what a browser sends), anything else is off.
    pub via_egress_gateway: String,
    pub justification: String,
}

fn optional(value: &str) -> Option<&str> {
    let value = value.trim();
    (!value.is_empty()).then_some(value)
}

/// A whole number typed into a text field, or a problem naming the field.
fn number(field: &str, value: &str, what: &str, problems: &mut Vec<Problem>) -> Value {
    match value.trim().parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => {
            problems.push(Problem::invalid(
                field,
                if value.trim().is_empty() {
                    format!("is required: {what}")
                } else {
                    format!("{:?} is not a whole number; expected {what}", value.trim())
                },
            ));
            json!(0)
        }
    }
}

impl ApiForm {
    /// The request in the public format, and the problems of fields that are not numbers (the
    /// value then holds 0 there, so every other field is still checked).
    pub fn to_value(&self) -> (Value, Vec<Problem>) {
        let mut problems = Vec::new();
        let port = number(
            "target.port",
            &self.port,
            "the Service port, 1 to 65535",
            &mut problems,
        );
        let mut route = Map::new();
        route.insert("kind".into(), json!("ApiRoute"));
        route.insert("environment".into(), json!(self.environment.trim()));
        route.insert("team".into(), json!(self.team.trim()));
        route.insert("host".into(), json!(self.host.trim()));
        route.insert("path".into(), json!(self.path.trim()));
        route.insert(
            "match".into(),
            json!(optional(&self.path_match).unwrap_or("prefix")),
        );
        route.insert(
            "target".into(),
            json!({
                "namespace": self.namespace.trim(),
                "service": self.service.trim(),
                "port": port,
            }),
        );
        if let Some(timeout) = optional(&self.timeout) {
            route.insert("timeout".into(), json!(timeout));
        }
        let per_try = optional(&self.per_try_timeout);
        if optional(&self.retry_attempts).is_some() || per_try.is_some() {
            let attempts = number(
                "retries.attempts",
                &self.retry_attempts,
                "0 to 10 retries (0 turns retries off)",
                &mut problems,
            );
            let mut retries = Map::new();
            retries.insert("attempts".into(), attempts);
            if let Some(per_try) = per_try {
                retries.insert("perTryTimeout".into(), json!(per_try));
            }
            route.insert("retries".into(), Value::Object(retries));
        }
        (Value::Object(route), problems)
    }

    /// The form filled from a stored route (to change it).
    pub fn from_request(request: &mesh::Request, justification: &str) -> Option<Self> {
        let mesh::request::RequestKind::ApiRoute(route) = request.kind() else {
            return None;
        };
        let retries = route.retries();
        Some(Self {
            environment: route.environment().to_string(),
            host: route.host().to_string(),
            team: route.team().to_string(),
            path: route.path().to_string(),
            path_match: route.path_match().as_str().to_owned(),
            namespace: route.target().namespace().to_string(),
            service: route.target().service().to_string(),
            port: route.target().port().to_string(),
            timeout: route.timeout().map(|t| t.to_string()).unwrap_or_default(),
            retry_attempts: retries
                .map(|r| r.attempts().to_string())
                .unwrap_or_default(),
            per_try_timeout: retries
                .and_then(|r| r.per_try_timeout())
                .map(|t| t.to_string())
                .unwrap_or_default(),
            justification: justification.to_owned(),
        })
    }
}

impl EgressForm {
    /// The request in the public format, and the problems of fields that are not numbers.
    /// Empty rows are left out, so an extra blank row never blocks a submit.
    pub fn to_value(&self) -> (Value, Vec<Problem>) {
        let mut problems = Vec::new();
        let hosts: Vec<&str> = self
            .hosts
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
            .collect();
        let mut ports = Vec::new();
        for (i, row) in self.ports.iter().enumerate() {
            if row.number.trim().is_empty() && optional(&row.protocol).is_none() {
                continue;
            }
            let number = number(
                &format!("ports[{i}].number"),
                &row.number,
                "a port number, 1 to 65535",
                &mut problems,
            );
            ports.push(json!({ "number": number, "protocol": row.protocol.trim() }));
        }
        let value = json!({
            "kind": "Egress",
            "environment": self.environment.trim(),
            "team": self.team.trim(),
            "namespace": self.namespace.trim(),
            "hosts": hosts,
            "ports": ports,
            "addresses": self
                .addresses
                .split([',', ' ', '\n'])
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .collect::<Vec<_>>(),
            "viaEgressGateway": self.via_egress_gateway == "on",
        });
        (value, problems)
    }
}

/// Parses the form's request; problems name the form's fields. A field that is not a number
/// reports that, and every other field is checked as usual.
pub fn parse((value, not_numbers): (Value, Vec<Problem>)) -> Result<mesh::Request, Vec<Problem>> {
    let parsed = mesh::Request::from_value(&value);
    if not_numbers.is_empty() {
        return parsed;
    }
    let mut problems = not_numbers;
    if let Err(others) = parsed {
        for problem in others {
            if !problems.iter().any(|p| p.field == problem.field) {
                problems.push(problem);
            }
        }
    }
    Err(problems)
}

/// The form field a problem belongs to (`target.port` → `port`), or `None` for the whole form.
pub fn field_of(problem: &Problem) -> Option<String> {
    let field = problem.field.as_str();
    let name = match field {
        "environment" | "team" | "host" | "path" | "namespace" | "timeout" | "justification"
        | "reason" | "comment" => field,
        "match" => "path_match",
        "target.namespace" => "namespace",
        "target.service" => "service",
        "target.port" => "port",
        "rewrite" => "path",
        "retries" | "retries.attempts" => "retry_attempts",
        "retries.perTryTimeout" => "per_try_timeout",
        "viaEgressGateway" => "via_egress_gateway",
        "hosts" => "hosts",
        "ports" => "ports",
        other if other == "addresses" || other.starts_with("addresses[") => "addresses",
        other if other.starts_with("hosts[") => {
            return other.split(']').next().map(|s| format!("{s}]"));
        }
        other if other.starts_with("ports[") => {
            return other.split(']').next().map(|s| format!("{s}]"));
        }
        _ => return None,
    };
    Some(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled() -> ApiForm {
        ApiForm {
            environment: "dev".into(),
            host: "api.dev.example.com".into(),
            team: "team-a".into(),
            path: "/orders/v1".into(),
            path_match: "prefix".into(),
            namespace: "team-a".into(),
            service: "orders".into(),
            port: "8080".into(),
            ..ApiForm::default()
        }
    }

    #[test]
    fn a_filled_api_form_is_a_route_request() {
        let request = parse(filled().to_value()).expect("parses");
        assert_eq!(
            request.summary(),
            "api.dev.example.com/orders/v1 → team-a/orders:8080"
        );
    }

    #[test]
    fn a_port_that_is_not_a_number_is_a_message_under_the_port_field() {
        let form = ApiForm {
            port: "eighty".into(),
            ..filled()
        };
        let problems = parse(form.to_value()).expect_err("refused");
        assert_eq!(field_of(&problems[0]).as_deref(), Some("port"));
        assert!(problems[0].message.contains("not a whole number"));
    }

    #[test]
    fn an_empty_port_does_not_hide_the_other_fields_messages() {
        let form = ApiForm {
            port: String::new(),
            path: "/orders v1".into(),
            ..filled()
        };
        let problems = parse(form.to_value()).expect_err("refused");
        let fields: Vec<Option<String>> = problems.iter().map(field_of).collect();
        assert!(fields.contains(&Some("port".to_owned())), "{problems:?}");
        assert!(fields.contains(&Some("path".to_owned())), "{problems:?}");
    }

    #[test]
    fn a_bad_path_is_a_message_under_the_path_field() {
        let form = ApiForm {
            path: "/orders/../admin".into(),
            ..filled()
        };
        let problems = parse(form.to_value()).expect_err("refused");
        assert_eq!(field_of(&problems[0]).as_deref(), Some("path"));
    }

    #[test]
    fn tcp_addresses_are_read_from_one_field_and_their_problems_land_on_it() {
        let form = EgressForm {
            environment: "dev".into(),
            team: "team-a".into(),
            namespace: "team-a".into(),
            hosts: vec!["db.partner.com".into()],
            ports: vec![PortRow {
                number: "5432".into(),
                protocol: "TCP".into(),
            }],
            addresses: "203.0.113.10/32, 198.51.100.0/28".into(),
            ..EgressForm::default()
        };
        let (value, _) = form.to_value();
        assert_eq!(
            value["addresses"],
            serde_json::json!(["203.0.113.10/32", "198.51.100.0/28"])
        );
        let without = EgressForm {
            addresses: String::new(),
            ..form.clone()
        };
        let problems = parse(without.to_value()).expect_err("TCP needs addresses");
        assert_eq!(field_of(&problems[0]).as_deref(), Some("addresses"));
        let private = EgressForm {
            addresses: "10.0.0.1".into(),
            ..form
        };
        let problems = parse(private.to_value()).expect_err("private address");
        assert_eq!(field_of(&problems[0]).as_deref(), Some("addresses"));
    }

    #[test]
    fn blank_egress_rows_are_left_out() {
        let form = EgressForm {
            environment: "dev".into(),
            team: "team-a".into(),
            namespace: "team-a".into(),
            hosts: vec!["api.stripe.com".into(), " ".into()],
            ports: vec![
                PortRow {
                    number: "443".into(),
                    protocol: "TLS".into(),
                },
                PortRow::default(),
            ],
            ..EgressForm::default()
        };
        let request = parse(form.to_value()).expect("parses");
        assert_eq!(request.summary(), "team-a → api.stripe.com on 443/TLS");
    }
}
