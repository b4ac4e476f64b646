//! Newtypes for every value a request or the config carries, each parsed once at the edge.
//!
//! After `parse` succeeds nothing downstream re-checks the string: rendering can put a
//! [`PathPrefix`] or an [`Fqdn`] into YAML and an Istio object without escaping worries beyond the
//! YAML serializer's own. Every [`ParseError`] says what would be accepted and quotes (escaped,
//! shortened) what was given; the field name is added by the caller, which knows it.
//!
//! Accepted forms, in short:
//! - [`DnsLabel`]: RFC 1123 label, 1–63 of `a-z 0-9 -`, alphanumeric at both ends (namespaces,
//!   object names, team and environment names). [`ServiceName`] additionally starts with a letter
//!   (RFC 1035, as Kubernetes requires for Services).
//! - [`Fqdn`]: lowercase ASCII host name of at least two labels, at most 253 characters, a TLD
//!   starting with a letter (so no IP literals), no trailing dot, no `ab--` labels other than
//!   `xn--` punycode (RFC 5891 reserves them; Signalbox uses `wc--` in generated names).
//! - [`WildcardHost`]: `*.` followed by an [`Fqdn`] that is not a public suffix (`*.com`,
//!   `*.co.uk` are refused); a lone `*` or partial wildcards such as `foo*.com` never parse.
//! - [`PathPrefix`]: see its documentation for the exact grammar and the trailing-slash rule.
//! - [`Port`]: 1–65535. [`Protocol`]: HTTP, HTTPS, HTTP2, GRPC, TLS, TCP (any letter case).
//! - [`Duration`]: `250ms`, `5s`, `1.5s`, `2m`, `1h`; millisecond precision; 1 ms to 24 h.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::problem::quoted;

/// Why a value did not parse; the message says what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(String);

impl ParseError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// The message, without a field name.
    pub fn message(&self) -> &str {
        &self.0
    }
}

/// Serde support through `parse`, so a newtype deserialized from JSON/TOML is as checked as one
/// built in code.
macro_rules! string_newtype_serde {
    ($ty:ident) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                $ty::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = ParseError;
            fn try_from(value: &str) -> Result<Self, Self::Error> {
                $ty::parse(value)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = ParseError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                $ty::parse(&value)
            }
        }
    };
}

/// Names the first character that is not plain ASCII, which is how look-alikes (Cyrillic `а`,
/// full-width `／`, zero-width spaces) are explained to the user.
fn non_ascii_hint(value: &str) -> Option<String> {
    value.chars().find(|c| !c.is_ascii()).map(|c| {
        format!(
            "contains the non-ASCII character {c:?} (U+{:04X}); only plain ASCII is accepted \
             (write internationalized names in punycode, xn--…)",
            c as u32
        )
    })
}

fn is_label_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'
}

/// Checks one RFC 1123 label and explains the first thing wrong with it.
fn check_label(label: &str, what: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if let Some(hint) = non_ascii_hint(label) {
        return Err(format!("{what} {} {hint}", quoted(label)));
    }
    if label.len() > 63 {
        return Err(format!(
            "{what} is {} characters long; at most 63 are accepted",
            label.len()
        ));
    }
    if label.bytes().any(|c| c.is_ascii_uppercase())
        && label.bytes().all(|c| is_label_char(c.to_ascii_lowercase()))
    {
        return Err(format!("{what} {} must be lowercase", quoted(label)));
    }
    if let Some(bad) = label
        .chars()
        .find(|&c| !is_label_char(c as u8) || !c.is_ascii())
    {
        return Err(format!(
            "{what} {} contains {bad:?}; only lowercase letters, digits and '-' are accepted",
            quoted(label)
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!(
            "{what} {} must start and end with a letter or digit",
            quoted(label)
        ));
    }
    Ok(())
}

/// An RFC 1123 DNS label: Kubernetes namespace and object names, team and environment names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsLabel(String);

impl DnsLabel {
    /// Parses a label: 1–63 of `a-z`, `0-9`, `-`, starting and ending with a letter or digit.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        check_label(value, "a DNS label (1-63 of a-z, 0-9, '-')").map_err(ParseError::new)?;
        Ok(Self(value.to_owned()))
    }

    /// The label as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(DnsLabel);

/// A Kubernetes Service name: an RFC 1035 label (like [`DnsLabel`], but starting with a letter).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceName(String);

impl ServiceName {
    /// Parses a Service name: 1–63 of `a-z`, `0-9`, `-`, starting with a letter.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let what = "a service name (RFC 1035 label: 1-63 of a-z, 0-9, '-', starting with a letter)";
        check_label(value, what).map_err(ParseError::new)?;
        if !value.as_bytes()[0].is_ascii_lowercase() {
            return Err(ParseError::new(format!(
                "{what} must start with a letter, not {}",
                quoted(value)
            )));
        }
        Ok(Self(value.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_serde!(ServiceName);

/// Labels that are public suffixes under which a wildcard would cover unrelated organisations.
/// Not the full Public Suffix List (too large for the browser bundle): the common second-level
/// suffixes. Single-label suffixes (`*.com`) are refused by rule, not by this list; environments
/// add their own patterns through `deniedHosts`.
const PUBLIC_SUFFIXES: &[&str] = &[
    "ac.uk",
    "co.uk",
    "gov.uk",
    "ltd.uk",
    "me.uk",
    "net.uk",
    "org.uk",
    "plc.uk",
    "com.au",
    "net.au",
    "org.au",
    "edu.au",
    "gov.au",
    "co.nz",
    "org.nz",
    "net.nz",
    "co.jp",
    "ne.jp",
    "or.jp",
    "ac.jp",
    "co.kr",
    "or.kr",
    "com.br",
    "net.br",
    "org.br",
    "com.cn",
    "net.cn",
    "org.cn",
    "gov.cn",
    "co.in",
    "net.in",
    "org.in",
    "co.za",
    "org.za",
    "com.mx",
    "com.ar",
    "com.tr",
    "com.tw",
    "com.hk",
    "com.sg",
    "com.my",
    "co.id",
    "co.il",
    "co.th",
    "com.ua",
    "com.pl",
    "com.es",
    "co.at",
    "or.at",
    "com.ru",
    "appspot.com",
    "azurewebsites.net",
    "cloudfront.net",
    "amazonaws.com",
    "github.io",
    "herokuapp.com",
    "netlify.app",
    "pages.dev",
    "vercel.app",
    "blogspot.com",
    "web.app",
    "firebaseapp.com",
    "workers.dev",
];

/// A fully qualified external host name (`api.stripe.com`): what egress and shared hosts name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fqdn(String);

impl Fqdn {
    /// The longest host name DNS allows.
    pub const MAX_LEN: usize = 253;

    /// Parses a lowercase host name of at least two labels (see the module docs for the rules).
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let accepted = "a fully qualified host name such as api.example.com (lowercase ASCII \
                        labels of a-z, 0-9, '-', separated by dots)";
        if value.is_empty() {
            return Err(ParseError::new(format!(
                "must not be empty; expected {accepted}"
            )));
        }
        if let Some(hint) = non_ascii_hint(value) {
            return Err(ParseError::new(format!("{} {hint}", quoted(value))));
        }
        if value.len() > Self::MAX_LEN {
            return Err(ParseError::new(format!(
                "is {} characters long; a host name has at most {}",
                value.len(),
                Self::MAX_LEN
            )));
        }
        if value.contains('*') {
            return Err(ParseError::new(format!(
                "{} is a wildcard; expected {accepted}",
                quoted(value)
            )));
        }
        if value.ends_with('.') {
            return Err(ParseError::new(format!(
                "{} ends with a dot; remove the trailing dot",
                quoted(value)
            )));
        }
        if value
            .bytes()
            .all(|c| c.is_ascii_digit() || c == b'.' || c == b':')
            || value.contains(':')
            || value.starts_with('[')
        {
            return Err(ParseError::new(format!(
                "{} looks like an IP address or has a port; expected {accepted}",
                quoted(value)
            )));
        }
        let labels: Vec<&str> = value.split('.').collect();
        if labels.len() < 2 {
            return Err(ParseError::new(format!(
                "{} is a single label; expected {accepted}",
                quoted(value)
            )));
        }
        for label in &labels {
            check_label(label, "each dot-separated label")
                .map_err(|m| ParseError::new(format!("{}: {m}", quoted(value))))?;
            if label.len() >= 4 && &label[2..4] == "--" && !label.starts_with("xn--") {
                return Err(ParseError::new(format!(
                    "{}: the label {} has '--' in positions 3-4, which only punycode (xn--) may use",
                    quoted(value),
                    quoted(label)
                )));
            }
        }
        let tld = labels[labels.len() - 1];
        if !tld.as_bytes()[0].is_ascii_lowercase() {
            return Err(ParseError::new(format!(
                "{}: the last label {} must start with a letter (IP addresses are not host names)",
                quoted(value),
                quoted(tld)
            )));
        }
        Ok(Self(value.to_owned()))
    }

    /// The host name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The labels from left to right.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }

    /// Whether this host is `suffix` itself or lies under it (`a.b.com` under `b.com`).
    pub fn is_within(&self, suffix: &str) -> bool {
        self.0 == suffix
            || (self.0.len() > suffix.len()
                && self.0.ends_with(suffix)
                && self.0.as_bytes()[self.0.len() - suffix.len() - 1] == b'.')
    }
}
string_newtype_serde!(Fqdn);

/// A wildcard host `*.example.com`: only where an environment's policy allows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WildcardHost(String);

impl WildcardHost {
    /// The longest wildcard accepted: `wc--any.` + the domain must fit a 253-character name.
    pub const MAX_LEN: usize = 247;

    /// Parses `*.` followed by a host name that is not a public suffix.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        if value == "*" {
            return Err(ParseError::new(
                "a lone \"*\" would match every host; name a domain such as *.example.com",
            ));
        }
        let Some(suffix) = value.strip_prefix("*.") else {
            return Err(ParseError::new(format!(
                "{}: a wildcard must be the whole leftmost label, as in *.example.com",
                quoted(value)
            )));
        };
        let suffix = Fqdn::parse(suffix).map_err(|e| {
            if !suffix.contains('.') && !suffix.contains('*') && !suffix.is_empty() {
                ParseError::new(format!(
                    "{} covers the public suffix .{suffix}; name a registrable domain such as \
                     *.example.com",
                    quoted(value)
                ))
            } else {
                ParseError::new(format!("after \"*.\": {e}"))
            }
        })?;
        if value.len() > Self::MAX_LEN {
            return Err(ParseError::new(format!(
                "is {} characters long; a wildcard host has at most {} (generated object names must fit)",
                value.len(),
                Self::MAX_LEN
            )));
        }
        if PUBLIC_SUFFIXES.contains(&suffix.as_str()) {
            return Err(ParseError::new(format!(
                "{} covers the public suffix .{}; name a registrable domain under it",
                quoted(value),
                suffix.as_str()
            )));
        }
        Ok(Self(value.to_owned()))
    }

    /// The pattern as text, `*.` included.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain under the wildcard (`example.com` for `*.example.com`).
    pub fn suffix(&self) -> &str {
        &self.0[2..]
    }
}
string_newtype_serde!(WildcardHost);

/// An external host a namespace may reach: a host name, or a wildcard where policy allows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EgressHost {
    /// One host, e.g. `api.stripe.com`.
    Exact(Fqdn),
    /// Every host under a domain, e.g. `*.stripe.com`.
    Wildcard(WildcardHost),
}

impl EgressHost {
    /// Parses a host name or a `*.domain` wildcard.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        if value.starts_with('*') {
            WildcardHost::parse(value).map(Self::Wildcard)
        } else {
            Fqdn::parse(value).map(Self::Exact)
        }
    }

    /// The host or pattern as text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Exact(host) => host.as_str(),
            Self::Wildcard(host) => host.as_str(),
        }
    }

    /// Whether the host is, or every host it matches lies, under `suffix`.
    pub fn is_within(&self, suffix: &str) -> bool {
        match self {
            Self::Exact(host) => host.is_within(suffix),
            Self::Wildcard(host) => {
                let own = host.suffix();
                own == suffix
                    || (own.len() > suffix.len()
                        && own.ends_with(suffix)
                        && own.as_bytes()[own.len() - suffix.len() - 1] == b'.')
            }
        }
    }
}
string_newtype_serde!(EgressHost);

/// A Kubernetes object reference `namespace/name`, e.g. the ingress gateway `istio-ingress/public-gw`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamespacedName {
    text: String,
    namespace: DnsLabel,
    name: DnsLabel,
}

impl NamespacedName {
    /// Parses `namespace/name`, both DNS labels.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let Some((namespace, name)) = value.split_once('/') else {
            return Err(ParseError::new(format!(
                "{} must be namespace/name, e.g. istio-ingress/public-gw",
                quoted(value)
            )));
        };
        let namespace = DnsLabel::parse(namespace)
            .map_err(|e| ParseError::new(format!("namespace part: {e}")))?;
        let name = DnsLabel::parse(name).map_err(|e| ParseError::new(format!("name part: {e}")))?;
        Ok(Self {
            text: value.to_owned(),
            namespace,
            name,
        })
    }

    /// The reference as written, `namespace/name`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The namespace part.
    pub fn namespace(&self) -> &DnsLabel {
        &self.namespace
    }

    /// The name part.
    pub fn name(&self) -> &DnsLabel {
        &self.name
    }
}
string_newtype_serde!(NamespacedName);

/// A URL path on a shared host, as leased by an `ApiRoute` or reserved by an environment.
///
/// Grammar: starts with `/`; at most [`PathPrefix::MAX_LEN`] bytes; segments separated by single
/// `/` (no `//`); no `.` or `..` segments; characters limited to RFC 3986 `pchar`
/// (`A-Z a-z 0-9 - . _ ~ ! $ & ' ( ) * + , ; = : @`) plus percent-encoding `%XX` with uppercase
/// hex, where encoding an unreserved character, `/`, `\`, or a control byte is refused (those
/// would give one path two spellings or smuggle traversal past the proxy); no query (`?`) or
/// fragment (`#`), no whitespace or control characters.
///
/// Trailing slash: one trailing `/` is allowed and is significant. As a prefix, `/orders` covers
/// `/orders` and everything below `/orders/`; `/orders/` covers only what is below it (including
/// `/orders/` itself) and not `/orders`. As an exact path, `/orders` and `/orders/` are different
/// paths. `/` alone is the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathPrefix(String);

impl PathPrefix {
    /// The longest path accepted, in bytes.
    pub const MAX_LEN: usize = 512;

    /// Parses a path following the grammar in the type documentation.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let accepted = "a path such as /orders/v1: starting with '/', made of RFC 3986 path \
                        characters, without '//', '.' or '..' segments, query or fragment";
        if value.is_empty() {
            return Err(ParseError::new(format!(
                "must not be empty; expected {accepted}"
            )));
        }
        if let Some(hint) = non_ascii_hint(value) {
            return Err(ParseError::new(format!("{} {hint}", quoted(value))));
        }
        if value.len() > Self::MAX_LEN {
            return Err(ParseError::new(format!(
                "is {} bytes long; at most {} are accepted",
                value.len(),
                Self::MAX_LEN
            )));
        }
        if !value.starts_with('/') {
            return Err(ParseError::new(format!(
                "{} must start with '/'",
                quoted(value)
            )));
        }
        let bytes = value.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            match c {
                b'?' => {
                    return Err(ParseError::new(format!(
                        "{} has a query ('?'); only the path is matched, expected {accepted}",
                        quoted(value)
                    )));
                }
                b'#' => {
                    return Err(ParseError::new(format!(
                        "{} has a fragment ('#'); expected {accepted}",
                        quoted(value)
                    )));
                }
                b'%' => {
                    let hex = bytes.get(i + 1..i + 3);
                    let decoded = hex.and_then(|h| {
                        let upper = |d: u8| matches!(d, b'0'..=b'9' | b'A'..=b'F');
                        if upper(h[0]) && upper(h[1]) {
                            u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
                        } else {
                            None
                        }
                    });
                    let Some(decoded) = decoded else {
                        return Err(ParseError::new(format!(
                            "{} has '%' not followed by two uppercase hex digits",
                            quoted(value)
                        )));
                    };
                    if decoded.is_ascii_alphanumeric()
                        || matches!(decoded, b'-' | b'.' | b'_' | b'~' | b'/' | b'\\')
                        || decoded.is_ascii_control()
                    {
                        return Err(ParseError::new(format!(
                            "{} percent-encodes {:?}; write unreserved characters as is, and \
                             '/', '\\' and control characters are not accepted encoded",
                            quoted(value),
                            decoded as char
                        )));
                    }
                    i += 3;
                    continue;
                }
                _ if c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&c) => {}
                _ if c.is_ascii_whitespace() || c.is_ascii_control() => {
                    return Err(ParseError::new(format!(
                        "{} contains whitespace or a control character; expected {accepted}",
                        quoted(value)
                    )));
                }
                _ => {
                    return Err(ParseError::new(format!(
                        "{} contains {:?}, which is not an RFC 3986 path character; expected \
                         {accepted}",
                        quoted(value),
                        c as char
                    )));
                }
            }
            i += 1;
        }
        let inner = &value[1..];
        if !inner.is_empty() {
            let segments: Vec<&str> = inner.split('/').collect();
            for (index, segment) in segments.iter().enumerate() {
                let last = index + 1 == segments.len();
                if segment.is_empty() && !last {
                    return Err(ParseError::new(format!(
                        "{} contains '//'; use single slashes",
                        quoted(value)
                    )));
                }
                if *segment == "." || *segment == ".." {
                    return Err(ParseError::new(format!(
                        "{} contains a {:?} segment; write the path without dot segments",
                        quoted(value),
                        segment
                    )));
                }
            }
        }
        Ok(Self(value.to_owned()))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the path ends with `/` (the root `/` does).
    pub fn has_trailing_slash(&self) -> bool {
        self.0.ends_with('/')
    }

    /// Whether this is the root path `/`.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The segments after the leading `/`; a trailing slash yields a final empty segment, so
    /// `/a/` is `["a", ""]`, `/a` is `["a"]` and `/` is `[""]`.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0[1..].split('/')
    }
}
string_newtype_serde!(PathPrefix);

/// External addresses, as a CIDR block (`203.0.113.0/24`) or one address (`203.0.113.10`, read
/// as `/32`): how Istio tells plain TCP destinations apart, since TCP carries no host name.
/// Private, loopback, link-local (cloud metadata) and other non-public ranges are refused, and so
/// are blocks wider than a /16 (IPv4) or a /48 (IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    address: std::net::IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `address` or `address/prefix`.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        use std::net::IpAddr;
        let value = value.trim();
        let (address, prefix) = match value.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (value, None),
        };
        let address: IpAddr = address.parse().map_err(|_| {
            ParseError::new(format!(
                "{} is not an IP address or CIDR block; expected e.g. 203.0.113.10 or 203.0.113.0/24",
                quoted(value)
            ))
        })?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(text) => match text.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => {
                    return Err(ParseError::new(format!(
                        "{} has no valid prefix length; expected 0 to {max} after the /",
                        quoted(value)
                    )));
                }
            },
        };
        let narrowest_allowed = if address.is_ipv4() { 16 } else { 48 };
        if prefix < narrowest_allowed {
            return Err(ParseError::new(format!(
                "{} opens more than a /{narrowest_allowed}; list the external service's own addresses",
                quoted(value)
            )));
        }
        let cidr = Self { address, prefix };
        if cidr.network() != cidr.bits() {
            return Err(ParseError::new(format!(
                "{} has host bits set; the block is {}",
                quoted(value),
                Self {
                    address: cidr.address_of(cidr.network()),
                    prefix
                }
            )));
        }
        if !is_public(address) {
            return Err(ParseError::new(format!(
                "{} is not a public address (private, loopback, link-local such as cloud metadata, \
                 or reserved); egress grants are for services outside the cluster's networks",
                quoted(value)
            )));
        }
        Ok(cidr)
    }

    fn bits(&self) -> u128 {
        match self.address {
            std::net::IpAddr::V4(v4) => u128::from(u32::from(v4)),
            std::net::IpAddr::V6(v6) => u128::from(v6),
        }
    }

    fn width(&self) -> u32 {
        if self.address.is_ipv4() { 32 } else { 128 }
    }

    fn mask(&self, prefix: u8) -> u128 {
        let width = self.width();
        let host_bits = width - u32::from(prefix);
        let all = if width == 128 {
            u128::MAX
        } else {
            (1u128 << width) - 1
        };
        if host_bits >= 128 {
            0
        } else {
            all & !((1u128 << host_bits) - 1)
        }
    }

    fn network(&self) -> u128 {
        self.bits() & self.mask(self.prefix)
    }

    fn address_of(&self, bits: u128) -> std::net::IpAddr {
        match self.address {
            std::net::IpAddr::V4(_) => std::net::IpAddr::V4(std::net::Ipv4Addr::from(bits as u32)),
            std::net::IpAddr::V6(_) => std::net::IpAddr::V6(std::net::Ipv6Addr::from(bits)),
        }
    }

    /// Whether the two blocks share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        if self.address.is_ipv4() != other.address.is_ipv4() {
            return false;
        }
        let shorter = self.prefix.min(other.prefix);
        self.bits() & self.mask(shorter) == other.bits() & other.mask(shorter)
    }
}

/// Whether an address is on the public internet (not private, loopback, link-local, shared,
/// documentation-excluded or otherwise special).
fn is_public(address: std::net::IpAddr) -> bool {
    match address {
        std::net::IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || a >= 240)
        }
        std::net::IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some())
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// A TCP port number, 1–65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Port(u16);

impl Port {
    /// Parses the decimal text of a port number.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let number: i64 = value.trim().parse().map_err(|_| {
            ParseError::new(format!(
                "{} is not a port number; expected 1 to 65535",
                quoted(value)
            ))
        })?;
        Self::try_from(number)
    }

    /// The port number.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<i64> for Port {
    type Error = ParseError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match u16::try_from(value) {
            Ok(port) if port > 0 => Ok(Self(port)),
            _ => Err(ParseError::new(format!(
                "{value} is not a port number; expected 1 to 65535"
            ))),
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Port {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.0)
    }
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = i64::deserialize(deserializer)?;
        Port::try_from(raw).map_err(serde::de::Error::custom)
    }
}

/// The protocols a route or an egress port may declare, as Istio names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// Plain HTTP/1.1.
    Http,
    /// HTTP over TLS originated by the application (passed through by the proxy).
    Https,
    /// HTTP/2 without TLS.
    Http2,
    /// gRPC.
    Grpc,
    /// TLS originated by the application, routed on SNI.
    Tls,
    /// Opaque TCP.
    Tcp,
}

impl Protocol {
    /// Every protocol, in a fixed order.
    pub const ALL: [Protocol; 6] = [
        Protocol::Http,
        Protocol::Https,
        Protocol::Http2,
        Protocol::Grpc,
        Protocol::Tls,
        Protocol::Tcp,
    ];

    /// Parses a protocol name in any letter case.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(value))
            .ok_or_else(|| {
                ParseError::new(format!(
                    "{} is not a protocol; expected one of HTTP, HTTPS, HTTP2, GRPC, TLS, TCP",
                    quoted(value)
                ))
            })
    }

    /// The Istio spelling (upper case).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "HTTP",
            Self::Https => "HTTPS",
            Self::Http2 => "HTTP2",
            Self::Grpc => "GRPC",
            Self::Tls => "TLS",
            Self::Tcp => "TCP",
        }
    }

    /// Whether the traffic is TLS originated by the application (routable on SNI only).
    pub fn is_tls_passthrough(self) -> bool {
        matches!(self, Self::Https | Self::Tls)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Protocol::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A timeout with millisecond precision, from 1 ms to 24 h (Istio refuses finer or smaller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Duration {
    millis: u64,
}

impl Duration {
    /// The longest duration accepted, in milliseconds (24 hours).
    pub const MAX_MILLIS: u64 = 24 * 60 * 60 * 1000;

    /// Parses `<number><unit>` with unit `ms`, `s`, `m` or `h`; seconds may have up to three
    /// decimals (`1.5s`).
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let accepted = "a duration such as 250ms, 5s, 1.5s, 2m or 1h (1 ms to 24 h, millisecond \
                        precision)";
        let invalid = || ParseError::new(format!("{} is not {accepted}", quoted(value)));
        let (number, unit_millis) = if let Some(n) = value.strip_suffix("ms") {
            (n, 1)
        } else if let Some(n) = value.strip_suffix('s') {
            (n, 1000)
        } else if let Some(n) = value.strip_suffix('m') {
            (n, 60_000)
        } else if let Some(n) = value.strip_suffix('h') {
            (n, 3_600_000)
        } else {
            return Err(invalid());
        };
        let (whole, fraction) = match number.split_once('.') {
            Some((w, f)) if unit_millis == 1000 => (w, f),
            Some(_) => return Err(invalid()),
            None => (number, ""),
        };
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 9 && s.bytes().all(|c| c.is_ascii_digit());
        if !digits(whole) || (number.contains('.') && (!digits(fraction) || fraction.len() > 3)) {
            if fraction.len() > 3 && digits(whole) {
                return Err(ParseError::new(format!(
                    "{} is finer than a millisecond; Istio accepts millisecond precision",
                    quoted(value)
                )));
            }
            return Err(invalid());
        }
        let whole: u64 = whole.parse().map_err(|_| invalid())?;
        let mut fraction_millis: u64 = 0;
        if !fraction.is_empty() {
            let padded = format!("{fraction:0<3}");
            fraction_millis = padded.parse().map_err(|_| invalid())?;
        }
        let millis = whole
            .checked_mul(unit_millis)
            .and_then(|m| m.checked_add(fraction_millis))
            .ok_or_else(invalid)?;
        Self::from_millis(millis).map_err(|e| ParseError::new(format!("{}: {e}", quoted(value))))
    }

    /// A duration of `millis` milliseconds, 1 to [`Duration::MAX_MILLIS`].
    pub fn from_millis(millis: u64) -> Result<Self, ParseError> {
        if millis == 0 {
            return Err(ParseError::new("must be at least 1ms"));
        }
        if millis > Self::MAX_MILLIS {
            return Err(ParseError::new("must be at most 24h"));
        }
        Ok(Self { millis })
    }

    /// The length in milliseconds.
    pub fn as_millis(self) -> u64 {
        self.millis
    }

    /// The Istio (protobuf JSON) spelling: whole seconds as `5s`, otherwise `0.250s`.
    pub fn to_istio(self) -> String {
        let (seconds, millis) = (self.millis / 1000, self.millis % 1000);
        if millis == 0 {
            format!("{seconds}s")
        } else {
            format!("{seconds}.{millis:03}s")
        }
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis.is_multiple_of(1000) {
            write!(f, "{}s", self.millis / 1000)
        } else {
            write!(f, "{}ms", self.millis)
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Duration::parse(&raw).map_err(serde::de::Error::custom)
    }
}
