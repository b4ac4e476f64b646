//! The public request format and its parsing into typed requests, one module per kind:
//! [`api_route`] (`ApiRoute`), [`egress`] (`Egress`), [`onboarding`] (`Onboarding`),
//! [`mutual_tls`] (`MutualTls`), [`circuit_breaker`] (`CircuitBreaker`), [`traffic_split`]
//! (`TrafficSplit`), [`authorization`] (`Authorization`), [`jwt`] (`JwtAuthentication`),
//! [`tracing`] (`Tracing`).
//!
//! The same shape arrives as YAML files (the CLI, the GitOps-minded user), as JSON from the API
//! and the browser form, and as stored JSON in the database. [`parse_documents`] accepts a
//! multi-document YAML text or a JSON document or array; each document is one request, or a list
//! of requests. Unknown fields are refused with their path, every value is parsed into its
//! newtype, and each problem names the source (`orders.yaml`, or `orders.yaml#2` for the second
//! of several requests) and the field.
//!
//! Parsing does not consult the environment's policy or other requests: see [`crate::policy`]
//! and [`crate::plan`].

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod api_route;
pub mod authorization;
pub mod circuit_breaker;
pub mod egress;
pub mod jwt;
pub mod mutual_tls;
pub mod onboarding;
pub mod tracing;
pub mod traffic_split;

pub use api_route::{ApiRoute, MAX_RETRY_ATTEMPTS, PathMatch, Retries, Target};
pub use authorization::Authorization;
pub use circuit_breaker::CircuitBreaker;
pub use egress::{Egress, EgressPort, MAX_EGRESS_ADDRESSES, MAX_EGRESS_HOSTS, MAX_EGRESS_PORTS};
pub use jwt::JwtAuthentication;
pub use mutual_tls::MutualTls;
pub use onboarding::Onboarding;
pub use tracing::Tracing;
pub use traffic_split::TrafficSplit;

use crate::names::{DnsLabel, ParseError};
use crate::problem::{Problem, quoted};

/// The largest request text accepted, in bytes (a form or file, not a bulk import).
pub const MAX_SOURCE_BYTES: usize = 1024 * 1024;
/// The most requests one source may hold.
pub const MAX_REQUESTS: usize = 100;

/// One kind of request: its typed form, its public (serde) form, and what every layer needs to
/// know about any request. A new kind is a module implementing this, plus one line in
/// [`request_kinds!`]; the policy, plan and render layers then each get one function for it.
pub(crate) trait Kind: Sized {
    /// The `kind:` value of the public format.
    const NAME: &'static str;
    /// The public format as serde sees it; strings stay strings until [`Kind::parse`].
    type Raw: Serialize + serde::de::DeserializeOwned;
    /// Parses the raw form, pushing each field's problem to `f`; `None` when any field failed.
    fn parse(f: &mut Fields, raw: Self::Raw) -> Option<Self>;
    /// The public format of a parsed request (round-trips through [`Kind::parse`]).
    fn to_raw(&self) -> Self::Raw;
    /// The environment the request is for.
    fn environment(&self) -> &DnsLabel;
    /// The team asking.
    fn team(&self) -> &DnsLabel;
    /// The team namespace the request acts in.
    fn namespace(&self) -> &DnsLabel;
    /// One line for lists and titles.
    fn summary(&self) -> String;
}

/// Declares the request kinds: the [`RequestKind`] enum and its dispatch to each kind's
/// [`Kind`] implementation, so nothing else lists the kinds.
macro_rules! request_kinds {
    ($($variant:ident($ty:ty)),+ $(,)?) => {
        /// What a request asks for.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum RequestKind {
            $(
                #[doc = concat!("`kind: ", stringify!($variant), "`.")]
                $variant($ty),
            )+
        }

        /// The `kind:` value of every request kind, in documentation order.
        pub const KIND_NAMES: &[&str] = &[$(<$ty as Kind>::NAME),+];

        impl RequestKind {
            fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => <$ty as Kind>::NAME,)+
                }
            }

            fn environment(&self) -> &DnsLabel {
                match self {
                    $(Self::$variant(k) => Kind::environment(k),)+
                }
            }

            fn team(&self) -> &DnsLabel {
                match self {
                    $(Self::$variant(k) => Kind::team(k),)+
                }
            }

            fn namespace(&self) -> &DnsLabel {
                match self {
                    $(Self::$variant(k) => Kind::namespace(k),)+
                }
            }

            fn summary(&self) -> String {
                match self {
                    $(Self::$variant(k) => k.summary(),)+
                }
            }

            fn to_value(&self) -> Value {
                match self {
                    $(Self::$variant(k) => tagged(<$ty as Kind>::NAME, &k.to_raw()),)+
                }
            }

            /// Parses the body (without `kind`) of a request of kind `name`; `None` for an
            /// unknown kind.
            fn parse_named(name: &str, body: Value) -> Option<Result<Self, Vec<Problem>>> {
                $(
                    if name == <$ty as Kind>::NAME {
                        return Some(parse_kind::<$ty>(body).map(Self::$variant));
                    }
                )+
                None
            }
        }
    };
}

request_kinds! {
    ApiRoute(ApiRoute),
    Egress(Egress),
    Onboarding(Onboarding),
    MutualTls(MutualTls),
    CircuitBreaker(CircuitBreaker),
    TrafficSplit(TrafficSplit),
    Authorization(Authorization),
    JwtAuthentication(JwtAuthentication),
    Tracing(Tracing),
}

/// `expected ApiRoute, Egress, Onboarding, MutualTls, CircuitBreaker, TrafficSplit, ...`.
fn expected_kinds() -> String {
    match KIND_NAMES.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The raw form as JSON with its `kind` first.
fn tagged<R: Serialize>(name: &str, raw: &R) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("kind".to_owned(), Value::String(name.to_owned()));
    if let Value::Object(fields) = serde_json::to_value(raw).expect("raw requests serialize") {
        map.extend(fields);
    }
    Value::Object(map)
}

fn parse_kind<K: Kind>(body: Value) -> Result<K, Vec<Problem>> {
    let raw = deserialize_at::<K::Raw>(body)?;
    let mut f = Fields {
        problems: Vec::new(),
    };
    match K::parse(&mut f, raw) {
        Some(kind) if f.problems.is_empty() => Ok(kind),
        _ => Err(f.problems),
    }
}

/// A parsed request, with where it came from (for problem messages; not serialized).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Request {
    kind: RequestKind,
    origin: Option<String>,
}

impl Request {
    /// What the request asks for.
    pub fn kind(&self) -> &RequestKind {
        &self.kind
    }

    /// The `kind:` value: `ApiRoute`, `Egress`, `Onboarding`.
    pub fn kind_name(&self) -> &'static str {
        self.kind.name()
    }

    /// The environment the request is for.
    pub fn environment(&self) -> &DnsLabel {
        self.kind.environment()
    }

    /// The team asking.
    pub fn team(&self) -> &DnsLabel {
        self.kind.team()
    }

    /// The team namespace the request acts in (a route's target namespace, the namespace given
    /// egress, the namespace onboarded).
    pub fn namespace(&self) -> &DnsLabel {
        self.kind.namespace()
    }

    /// One line for lists and titles: `api.prod.example.com/orders/v1 → team-a/orders:8080`, or
    /// `team-a → api.stripe.com on 443/TLS`.
    pub fn summary(&self) -> String {
        self.kind.summary()
    }

    /// The label problems about this request carry as their source (file name, `file#2`,
    /// `request 42`).
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// Sets the label problems about this request carry, e.g. `request 42` for a stored one.
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Parses one request from a JSON value of the public format.
    pub fn from_value(value: &Value) -> Result<Request, Vec<Problem>> {
        parse_value(value)
    }

    /// The request in the public format, as JSON.
    pub fn to_value(&self) -> Value {
        self.kind.to_value()
    }
}

impl Serialize for Request {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        parse_value(&value).map_err(|problems| serde::de::Error::custom(RequestError(problems)))
    }
}

/// Parses a multi-document YAML text, or a JSON document or array, of requests.
///
/// `source` names the text in problems (a file name, `form`); with several requests, each is
/// `source#N` (1-based). Empty documents are skipped; a text without any request is refused.
pub fn parse_documents(source: &str, text: &str) -> Result<Vec<Request>, Vec<Problem>> {
    let whole =
        |message: String| vec![Problem::invalid("document", message).in_source(Some(source))];
    if text.len() > MAX_SOURCE_BYTES {
        return Err(whole(format!(
            "is {} bytes; at most {MAX_SOURCE_BYTES} are accepted",
            text.len()
        )));
    }
    let mut values = Vec::new();
    for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = match Value::deserialize(document) {
            Ok(v) => v,
            Err(e) => {
                return Err(whole(format!(
                    "document {} is not valid YAML or JSON: {}",
                    index + 1,
                    e
                )));
            }
        };
        match value {
            Value::Null => {}
            Value::Array(items) => values.extend(items),
            other => values.push(other),
        }
        if values.len() > MAX_REQUESTS {
            return Err(whole(format!(
                "holds more than {MAX_REQUESTS} requests; split it"
            )));
        }
    }
    if values.is_empty() {
        return Err(whole(format!(
            "holds no request; expected a mapping with kind: {}",
            expected_kinds()
        )));
    }
    let several = values.len() > 1;
    let mut requests = Vec::new();
    let mut problems = Vec::new();
    for (index, value) in values.iter().enumerate() {
        let origin = if several {
            format!("{source}#{}", index + 1)
        } else {
            source.to_owned()
        };
        match parse_value(value) {
            Ok(request) => requests.push(request.with_origin(origin)),
            Err(found) => problems.extend(found.into_iter().map(|p| p.in_source(Some(&origin)))),
        }
    }
    if problems.is_empty() {
        Ok(requests)
    } else {
        Err(problems)
    }
}

fn parse_value(value: &Value) -> Result<Request, Vec<Problem>> {
    let Value::Object(map) = value else {
        return Err(vec![Problem::invalid(
            "document",
            format!("must be a mapping with kind: {}", expected_kinds()),
        )]);
    };
    let mut body = map.clone();
    let kind = match body.remove("kind") {
        Some(Value::String(name)) => name,
        Some(other) => {
            return Err(vec![Problem::invalid(
                "kind",
                format!(
                    "{other} is not a request kind; expected {}",
                    expected_kinds()
                ),
            )]);
        }
        None => {
            return Err(vec![Problem::invalid(
                "kind",
                format!("is required: {}", expected_kinds()),
            )]);
        }
    };
    match RequestKind::parse_named(&kind, Value::Object(body)) {
        Some(parsed) => parsed.map(|kind| Request { kind, origin: None }),
        None => Err(vec![Problem::invalid(
            "kind",
            format!(
                "{} is not a request kind; expected {}",
                quoted(&kind),
                expected_kinds()
            ),
        )]),
    }
}

/// Deserializes with the path of the failing field, turning serde's message into a problem
/// about that field.
fn deserialize_at<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Vec<Problem>> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let message = error.inner().to_string();
        let named = |prefix: &str| {
            message
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('`').next())
                .map(str::to_owned)
        };
        let (field, message) = if let Some(name) = named("unknown field `") {
            let expected = message
                .split_once(", expected")
                .map(|(_, e)| e.trim())
                .unwrap_or("");
            let field = if path == name || path.ends_with(&format!(".{name}")) {
                path
            } else {
                crate::problem::join_field(&path, &name)
            };
            (field, format!("is not a known field; expected {expected}"))
        } else if let Some(name) = named("missing field `") {
            (
                crate::problem::join_field(&path, &name),
                "is required".to_owned(),
            )
        } else {
            (
                if path.is_empty() {
                    "document".to_owned()
                } else {
                    path
                },
                message,
            )
        };
        vec![Problem::invalid(field, message)]
    })
}

/// Collects field problems while parsing one request.
pub(crate) struct Fields {
    pub(crate) problems: Vec<Problem>,
}

impl Fields {
    pub(crate) fn take<T>(&mut self, field: &str, result: Result<T, ParseError>) -> Option<T> {
        result
            .map_err(|e| self.problems.push(Problem::invalid(field, e.message())))
            .ok()
    }
}

/// An optional field that was given but did not parse (`Some(None)`) spoils the request; an
/// absent one (`None`) is fine.
pub(crate) fn present<T>(value: Option<Option<T>>) -> Option<Option<T>> {
    match value {
        None => Some(None),
        Some(None) => None,
        Some(Some(v)) => Some(Some(v)),
    }
}

/// Why a stored request no longer parses (serde's errors carry one value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError(pub Vec<Problem>);

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("; "))
    }
}

impl std::error::Error for RequestError {}
