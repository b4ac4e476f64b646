//! The `x-kubernetes-validations` (CEL) rules of the vendored schemas, written out by hand.
//!
//! A CEL interpreter would dwarf the rest of the browser bundle, and the vendored schemas use a
//! small, fixed set of rules. Each rule text is normalized (whitespace removed, quotes unified)
//! and looked up here; a schema with a rule missing from this table does not compile, so
//! vendoring a new Istio version that adds rules fails the tests instead of skipping them.
//!
//! Implemented (every rule that appears in the Istio 1.20, 1.24 and 1.30 schemas of
//! VirtualService, ServiceEntry, Sidecar, Gateway and DestinationRule):
//! - `duration(self) >= duration('1ms')` (timeouts, intervals; Go duration syntax)
//! - `!self.contains('*')`, `self != '*'`, `self.all(key, !key.contains('*'))`,
//!   `self.all(key, key.size() != 0)` (selectors, hosts)
//! - `(has(self.a) ? 1 : 0) + (has(self.b) ? 1 : 0) <= 1` for any pair of fields
//! - `0 < self && self <= 65535` (ports)
//! - ServiceEntry: unique port numbers, CIDR addresses only with NONE/STATIC, no endpoints with
//!   NONE, at most one endpoint with DNS_ROUND_ROBIN (two spellings with different handling of an
//!   empty list, both kept exact), endpoint address or network required, Unix domain socket
//!   address rules, endpoint port names.
//! - PeerAuthentication: `portLevelMtls` only with a non-empty `selector.matchLabels` (two
//!   spellings), port keys between 1 and 65535.
//! - `(has(self.a) ? 1 : 0) + (has(self.b) ? 1 : 0) + (has(self.c) ? 1 : 0) <= 1` (selector or
//!   target references; JWKS sources)
//! - AuthorizationPolicy and RequestAuthentication: a `targetRef` to a Service, Gateway or
//!   ServiceEntry only, its `namespace` empty, service accounts never with principals or
//!   namespaces; `jwksUri` an http or https URL.

use serde_json::Value;

/// One hand-written rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rule {
    DurationAtLeastOneMillisecond,
    NoWildcardInString,
    NotLoneWildcard,
    MapKeysWithoutWildcard,
    MapKeysNotEmpty,
    AtMostOneOf(Vec<String>),
    /// `self.size() == 0`.
    Empty,
    /// `[self.group, self.kind] in [...]`: a policy target is a Service, Gateway or ServiceEntry.
    PolicyTargetKind,
    /// `serviceAccounts` and `notServiceAccounts` exclude principals and namespaces.
    ServiceAccountsAlone,
    /// `url(self).getScheme() in ["http", "https"]`.
    HttpUrl,
    PortInRange,
    UniquePortNumbers,
    CidrOnlyWithNoneOrStatic,
    NoEndpointsWithNone,
    /// `size(endpoints) == 1` when present: an empty list fails.
    DnsRoundRobinExactlyOneEndpointWhenSet,
    /// `size() <= 1`: an empty list passes.
    DnsRoundRobinAtMostOneEndpoint,
    AddressOrNetwork,
    UnixSocketWithoutPorts,
    UnixSocketAbsoluteOrAbstract,
    UnixSocketNotDirectory,
    PortNameKeys,
    /// PeerAuthentication: `portLevelMtls` needs a workload selector with labels.
    PortLevelMtlsNeedsSelector,
    /// Map keys are port numbers 1–65535.
    PortKeysInRange,
}

fn normalize(rule: &str) -> String {
    rule.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == '\'' { '"' } else { c })
        .collect()
}

impl Rule {
    /// Finds the implementation of a rule text, or `None` when it is not implemented.
    pub(crate) fn lookup(rule: &str) -> Option<Rule> {
        let n = normalize(rule);
        let rule = match n.as_str() {
            r#"duration(self)>=duration("1ms")"# => Rule::DurationAtLeastOneMillisecond,
            r#"!self.contains("*")"# => Rule::NoWildcardInString,
            r#"self!="*""# => Rule::NotLoneWildcard,
            r#"self.all(key,!key.contains("*"))"# => Rule::MapKeysWithoutWildcard,
            r#"self.all(key,key.size()!=0)"# => Rule::MapKeysNotEmpty,
            r#"0<self&&self<=65535"# => Rule::PortInRange,
            r#"self.all(l1,self.exists_one(l2,l1.number==l2.number))"# => Rule::UniquePortNumbers,
            r#"!(has(self.addresses)&&self.addresses.exists(k,k.contains("/"))&&(has(self.resolution)&&self.resolution!="STATIC"&&self.resolution!="NONE"))"#
            | r#"!((has(self.addresses)?self.addresses:[]).exists(k,k.contains("/"))&&!((has(self.resolution)?self.resolution:"NONE")in["STATIC","NONE"]))"# => {
                Rule::CidrOnlyWithNoneOrStatic
            }
            r#"(!has(self.resolution)||self.resolution=="NONE")?!has(self.endpoints):true"#
            | r#"((has(self.resolution)?self.resolution:"NONE")=="NONE")?!has(self.endpoints):true"# => {
                Rule::NoEndpointsWithNone
            }
            r#"(has(self.resolution)&&self.resolution=="DNS_ROUND_ROBIN")?(!has(self.endpoints)||size(self.endpoints)==1):true"# => {
                Rule::DnsRoundRobinExactlyOneEndpointWhenSet
            }
            r#"((has(self.resolution)?self.resolution:"")=="DNS_ROUND_ROBIN")?((has(self.endpoints)?self.endpoints:[]).size()<=1):true"# => {
                Rule::DnsRoundRobinAtMostOneEndpoint
            }
            r#"has(self.address)||has(self.network)"# => Rule::AddressOrNetwork,
            r#"(has(self.address)&&self.address.startsWith("unix://"))?!has(self.ports):true"#
            | r#"(has(self.address)?self.address:"").startsWith("unix://")?!has(self.ports):true"# => {
                Rule::UnixSocketWithoutPorts
            }
            r#"self.startsWith("unix://")?(self.substring(7,8)=="/"||self.substring(7,8)=="@"):true"# => {
                Rule::UnixSocketAbsoluteOrAbstract
            }
            r#"self.startsWith("unix://")?!self.endsWith("/"):true"# => {
                Rule::UnixSocketNotDirectory
            }
            r#"self.all(key,size(key)<63&&key.matches("^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$"))"# => {
                Rule::PortNameKeys
            }
            r#"(has(self.selector)&&has(self.selector.matchLabels)&&self.selector.matchLabels.size()>0)||!has(self.portLevelMtls)"#
            | r#"has(self.portLevelMtls)?(((has(self.selector)&&has(self.selector.matchLabels))?self.selector.matchLabels:{}).size()>0):true"# => {
                Rule::PortLevelMtlsNeedsSelector
            }
            r#"self.all(key,0<int(key)&&int(key)<=65535)"# => Rule::PortKeysInRange,
            r#"self.size()==0"# => Rule::Empty,
            r#"[self.group,self.kind]in[["core","Service"],["","Service"],["gateway.networking.k8s.io","Gateway"],["networking.istio.io","ServiceEntry"]]"# => {
                Rule::PolicyTargetKind
            }
            r#"(has(self.serviceAccounts)||has(self.notServiceAccounts))?(!has(self.principals)&&!has(self.notPrincipals)&&!has(self.namespaces)&&!has(self.notNamespaces)):true"# => {
                Rule::ServiceAccountsAlone
            }
            r#"url(self).getScheme()in["http","https"]"# => Rule::HttpUrl,
            other => return at_most_one_of(other),
        };
        Some(rule)
    }

    /// The error CEL raises evaluating the rule on `value`, if any (the API server reports it in
    /// place of the rule's message).
    pub(crate) fn runtime_error(&self, value: &Value) -> Option<String> {
        match self {
            Rule::PortKeysInRange => value.as_object().and_then(|m| {
                m.keys()
                    .find(|k| k.parse::<i64>().is_err())
                    .map(|k| format!("type conversion error from 'string' to 'int' ({k:?})"))
            }),
            _ => None,
        }
    }

    /// Evaluates the rule on `value`; `false` when it fails or cannot be evaluated (as a CEL
    /// runtime error fails the request in Kubernetes).
    pub(crate) fn holds(&self, value: &Value) -> bool {
        let has = |field: &str| value.get(field).is_some();
        let text = |field: &str| value.get(field).and_then(Value::as_str);
        match self {
            Rule::DurationAtLeastOneMillisecond => value
                .as_str()
                .and_then(parse_go_duration_nanos)
                .is_some_and(|nanos| nanos >= 1_000_000),
            Rule::NoWildcardInString => value.as_str().is_some_and(|s| !s.contains('*')),
            Rule::NotLoneWildcard => value.as_str().is_some_and(|s| s != "*"),
            Rule::MapKeysWithoutWildcard => value
                .as_object()
                .is_some_and(|m| m.keys().all(|k| !k.contains('*'))),
            Rule::MapKeysNotEmpty => value
                .as_object()
                .is_some_and(|m| m.keys().all(|k| !k.is_empty())),
            Rule::AtMostOneOf(fields) => fields.iter().filter(|f| has(f)).count() <= 1,
            Rule::Empty => match value {
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Object(m) => m.is_empty(),
                _ => false,
            },
            Rule::PolicyTargetKind => matches!(
                (text("group").unwrap_or(""), text("kind").unwrap_or("")),
                ("core" | "", "Service")
                    | ("gateway.networking.k8s.io", "Gateway")
                    | ("networking.istio.io", "ServiceEntry")
            ),
            Rule::ServiceAccountsAlone => {
                !(has("serviceAccounts") || has("notServiceAccounts"))
                    || !["principals", "notPrincipals", "namespaces", "notNamespaces"]
                        .iter()
                        .any(|f| has(f))
            }
            Rule::HttpUrl => value.as_str().is_some_and(|s| {
                s.split_once("://").is_some_and(|(scheme, rest)| {
                    matches!(scheme, "http" | "https") && !rest.is_empty()
                })
            }),
            Rule::PortInRange => value.as_i64().is_some_and(|n| 0 < n && n <= 65535),
            Rule::UniquePortNumbers => value.as_array().is_some_and(|items| {
                let numbers: Vec<Option<&Value>> = items.iter().map(|i| i.get("number")).collect();
                numbers.iter().all(Option::is_some)
                    && numbers
                        .iter()
                        .all(|n| numbers.iter().filter(|m| *m == n).count() == 1)
            }),
            Rule::CidrOnlyWithNoneOrStatic => {
                let has_cidr = value
                    .get("addresses")
                    .and_then(Value::as_array)
                    .is_some_and(|a| {
                        a.iter()
                            .any(|x| x.as_str().is_some_and(|s| s.contains('/')))
                    });
                let resolution = text("resolution").unwrap_or("NONE");
                !has_cidr || matches!(resolution, "STATIC" | "NONE")
            }
            Rule::NoEndpointsWithNone => {
                text("resolution").unwrap_or("NONE") != "NONE" || !has("endpoints")
            }
            Rule::DnsRoundRobinExactlyOneEndpointWhenSet => {
                text("resolution") != Some("DNS_ROUND_ROBIN")
                    || value
                        .get("endpoints")
                        .is_none_or(|e| e.as_array().is_some_and(|a| a.len() == 1))
            }
            Rule::DnsRoundRobinAtMostOneEndpoint => {
                text("resolution") != Some("DNS_ROUND_ROBIN")
                    || value
                        .get("endpoints")
                        .is_none_or(|e| e.as_array().is_some_and(|a| a.len() <= 1))
            }
            Rule::AddressOrNetwork => has("address") || has("network"),
            Rule::UnixSocketWithoutPorts => {
                !text("address").unwrap_or("").starts_with("unix://") || !has("ports")
            }
            Rule::UnixSocketAbsoluteOrAbstract => {
                value
                    .as_str()
                    .is_some_and(|s| match s.strip_prefix("unix://") {
                        None => true,
                        Some(rest) => rest.starts_with('/') || rest.starts_with('@'),
                    })
            }
            Rule::UnixSocketNotDirectory => value
                .as_str()
                .is_some_and(|s| !s.starts_with("unix://") || !s.ends_with('/')),
            Rule::PortLevelMtlsNeedsSelector => {
                !has("portLevelMtls")
                    || value
                        .pointer("/selector/matchLabels")
                        .and_then(Value::as_object)
                        .is_some_and(|labels| !labels.is_empty())
            }
            Rule::PortKeysInRange => value.as_object().is_some_and(|m| {
                m.keys()
                    .all(|k| k.parse::<i64>().is_ok_and(|n| 0 < n && n <= 65535))
            }),
            Rule::PortNameKeys => value.as_object().is_some_and(|m| {
                m.keys().all(|k| {
                    let b = k.as_bytes();
                    k.chars().count() < 63
                        && !b.is_empty()
                        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                        && b[0].is_ascii_alphanumeric()
                        && b[b.len() - 1].is_ascii_alphanumeric()
                })
            }),
        }
    }
}

/// `(has(self.a)?1:0)+(has(self.b)?1:0)<=1`, for any two or more field names.
fn at_most_one_of(normalized: &str) -> Option<Rule> {
    let rest = normalized.strip_prefix("(has(self.")?;
    let rest = rest.strip_suffix(")?1:0)<=1")?;
    let fields: Vec<&str> = rest.split(")?1:0)+(has(self.").collect();
    let field =
        |f: &&str| !f.is_empty() && f.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    (fields.len() >= 2 && fields.iter().all(field))
        .then(|| Rule::AtMostOneOf(fields.into_iter().map(str::to_owned).collect()))
}

/// Parses a Go duration (`300ms`, `1.5h`, `2h45m`, `-1s`, `0`) into nanoseconds, as CEL's
/// `duration()` does; `None` when it is not one.
pub(crate) fn parse_go_duration_nanos(text: &str) -> Option<i128> {
    let (negative, mut rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .bytes()
            .position(|c| !(c.is_ascii_digit() || c == b'.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let scale: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    if !total.is_finite() || total > 9.3e18 {
        return None;
    }
    let nanos = total.round() as i128;
    Some(if negative { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_durations_parse_like_time_parse_duration() {
        assert_eq!(parse_go_duration_nanos("1ms"), Some(1_000_000));
        assert_eq!(parse_go_duration_nanos("0.250s"), Some(250_000_000));
        assert_eq!(parse_go_duration_nanos("1h2m"), Some(3_720_000_000_000));
        assert_eq!(parse_go_duration_nanos("0"), Some(0));
        assert_eq!(parse_go_duration_nanos("5"), None);
        assert_eq!(parse_go_duration_nanos("s"), None);
        assert_eq!(parse_go_duration_nanos("1x"), None);
    }

    #[test]
    fn rule_spellings_that_differ_only_in_quotes_and_spaces_find_the_same_rule() {
        assert_eq!(
            Rule::lookup("duration(self) >= duration('1ms')"),
            Rule::lookup("duration(self)>=duration(\"1ms\")")
        );
        assert_eq!(
            Rule::lookup(
                "(has(self.tlsCertificates) ? 1 : 0) + (has(self.credentialNames) ? 1 : 0) <= 1"
            ),
            Some(Rule::AtMostOneOf(vec![
                "tlsCertificates".into(),
                "credentialNames".into()
            ]))
        );
        assert_eq!(Rule::lookup("self.size() > 3"), None);
    }

    #[test]
    fn duration_rule_refuses_below_one_millisecond_and_garbage() {
        let rule = Rule::DurationAtLeastOneMillisecond;
        assert!(rule.holds(&json!("1ms")));
        assert!(!rule.holds(&json!("0.0001s")));
        assert!(!rule.holds(&json!("soon")));
    }

    #[test]
    fn unique_port_numbers_rule_refuses_duplicates() {
        let rule = Rule::UniquePortNumbers;
        assert!(rule.holds(&json!([{"number": 1}, {"number": 2}])));
        assert!(!rule.holds(&json!([{"number": 1}, {"number": 1}])));
    }

    #[test]
    fn round_robin_spellings_differ_only_on_an_empty_endpoint_list() {
        let empty = json!({"resolution": "DNS_ROUND_ROBIN", "endpoints": []});
        assert!(!Rule::DnsRoundRobinExactlyOneEndpointWhenSet.holds(&empty));
        assert!(Rule::DnsRoundRobinAtMostOneEndpoint.holds(&empty));
    }

    #[test]
    fn unix_socket_address_needs_a_path_after_the_scheme() {
        let rule = Rule::UnixSocketAbsoluteOrAbstract;
        assert!(rule.holds(&json!("unix:///var/run/x.sock")));
        assert!(rule.holds(&json!("unix://@abstract")));
        assert!(!rule.holds(&json!("unix://")));
        assert!(!rule.holds(&json!("unix://relative")));
        assert!(rule.holds(&json!("10.0.0.1")));
    }
}
