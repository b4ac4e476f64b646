//! The one error type every layer of `mesh` reports to its callers.
//!
//! A [`Problem`] names where it happened (the request file or config section, then a field path
//! such as `target.port` or `hosts[1]`) and says what would be accepted. The web UI shows it next
//! to the field, the CLI prints it as one line, and the JSON API returns it as is, so it is
//! serializable and its `Display` never spans lines, whatever the user typed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of refusal a problem is, so callers can map it once (for example to an HTTP status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ProblemKind {
    /// The input does not parse: wrong shape, unknown field, value outside what is accepted.
    Invalid,
    /// The input parses but the environment's policy or team ownership refuses it.
    Policy,
    /// The input collides with something already granted or requested before it.
    Conflict,
    /// Exactly this was granted before; nothing new would be delivered.
    AlreadyGranted,
    /// Signalbox produced something invalid: a bug to report, never the user's fault.
    Internal,
}

/// One refusal, with the field it is about and what would be accepted instead.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// The request file, config section or object the problem was found in, when there is one.
    pub source: Option<String>,
    /// Path of the field inside the source, e.g. `target.port`, `hosts[1]`, `environments[0].mesh`.
    pub field: String,
    /// What is wrong and what would be accepted.
    pub message: String,
    /// How callers should treat the problem.
    pub kind: ProblemKind,
}

impl Problem {
    /// A problem of the given kind; `source` is filled in later with [`Problem::in_source`].
    pub fn new(kind: ProblemKind, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            source: None,
            field: field.into(),
            message: message.into(),
            kind,
        }
    }

    /// An input that does not parse.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ProblemKind::Invalid, field, message)
    }

    /// An input the policy refuses.
    pub fn policy(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ProblemKind::Policy, field, message)
    }

    /// Attaches the source (request file name, config section) unless one is already set.
    pub fn in_source(mut self, source: Option<&str>) -> Self {
        if self.source.is_none() {
            self.source = source.map(str::to_owned);
        }
        self
    }

    /// Prefixes the field path, e.g. `port` inside `target` becomes `target.port`.
    pub fn under(mut self, parent: &str) -> Self {
        self.field = join_field(parent, &self.field);
        self
    }
}

/// Joins a parent field path and a child path (`a` + `b` = `a.b`, `a` + `[0]` = `a[0]`).
pub(crate) fn join_field(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else if child.is_empty() {
        parent.to_owned()
    } else if child.starts_with('[') {
        format!("{parent}{child}")
    } else {
        format!("{parent}.{child}")
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(source) = &self.source {
            write!(f, "{}: ", one_line(source))?;
        }
        write!(f, "{}: {}", one_line(&self.field), one_line(&self.message))
    }
}

impl std::error::Error for Problem {}

/// Escapes line breaks and other control characters so one problem is always one line.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Quotes a user-supplied value for a message: escaped, and cut short when very long.
pub(crate) fn quoted(value: &str) -> String {
    const LIMIT: usize = 64;
    let mut shown: String = value.chars().take(LIMIT).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_source_field_message_on_one_line() {
        let problem =
            Problem::invalid("target.port", "must be 1 to 65535\nnot 0").in_source(Some("a.yaml"));
        assert_eq!(
            problem.to_string(),
            "a.yaml: target.port: must be 1 to 65535\\nnot 0"
        );
    }

    #[test]
    fn display_without_source_starts_with_the_field() {
        assert_eq!(
            Problem::policy("hosts[1]", "denied").to_string(),
            "hosts[1]: denied"
        );
    }

    #[test]
    fn nested_fields_join_with_dots_and_brackets() {
        let problem = Problem::invalid("[2]", "x").under("hosts").under("spec");
        assert_eq!(problem.field, "spec.hosts[2]");
    }

    #[test]
    fn quoted_values_are_escaped_and_shortened() {
        assert_eq!(quoted("a\nb"), "\"a\\nb\"");
        let long = "x".repeat(500);
        assert!(quoted(&long).chars().count() < 80);
    }

    #[test]
    fn problems_serialize_with_camel_case_kind() {
        let json = serde_json::to_value(Problem::new(ProblemKind::AlreadyGranted, "hosts[0]", "m"))
            .expect("serializes");
        assert_eq!(json["kind"], "alreadyGranted");
        assert_eq!(json["source"], serde_json::Value::Null);
    }
}
