//! A validator for Kubernetes structural schemas, the subset of OpenAPI v3 CRDs use.
//!
//! Why not a general JSON-schema crate: the API server does not apply JSON Schema as such. It
//! refuses fields not declared under `properties` (strict field validation) unless
//! `x-kubernetes-preserve-unknown-fields` is set, reads `x-kubernetes-int-or-string`,
//! `x-kubernetes-list-type` and CEL `x-kubernetes-validations`, and reports errors in its own
//! wording (`spec.hosts: Required value`). Emulating that on top of a JSON-schema crate would need
//! the same amount of code, plus the crate's regex and format machinery in the browser bundle.
//!
//! Supported keywords: `type`, `nullable`, `properties`, `additionalProperties`, `required`,
//! `items`, `enum`, `minimum`, `maximum`, `minItems`, `maxItems`, `minLength`, `maxLength`,
//! `minProperties`, `maxProperties`, `format` (`byte` and `date-time` are checked; numeric formats
//! such as `int32`/`double` are advisory in Kubernetes and only the type is checked), `pattern`
//! (the patterns the vendored schemas use, each implemented in [`Pattern`]; no regex engine in
//! the browser bundle, and an unknown pattern fails compilation like an unknown CEL rule), `oneOf`,
//! `anyOf`, `allOf`, `not`, and the `x-kubernetes-*` extensions above; `default` and
//! `x-kubernetes-map-type` are read and ignored (they never refuse a value). Any other keyword makes
//! compilation fail, so a newly vendored schema cannot be half understood. Unknown fields are
//! refused on structural nodes (`type: object` without `x-kubernetes-preserve-unknown-fields`);
//! the branches of `oneOf`/`anyOf`/`allOf`/`not` only constrain values, as in Kubernetes.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::cel::Rule;
use super::{Finding, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListType {
    Atomic,
    Set,
    Map,
}

/// One compiled schema node.
#[derive(Debug, Clone, Default)]
pub(crate) struct Schema {
    json_type: Option<JsonType>,
    nullable: bool,
    properties: BTreeMap<String, Schema>,
    additional: Option<Box<Schema>>,
    preserve_unknown: bool,
    int_or_string: bool,
    required: Vec<String>,
    items: Option<Box<Schema>>,
    enum_values: Vec<Value>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    min_properties: Option<usize>,
    max_properties: Option<usize>,
    format: Option<String>,
    pattern: Option<Pattern>,
    one_of: Vec<Schema>,
    any_of: Vec<Schema>,
    all_of: Vec<Schema>,
    not: Option<Box<Schema>>,
    rules: Vec<(Rule, String)>,
    list_type: Option<ListType>,
    list_map_keys: Vec<String>,
}

fn count(value: &Value, at: &str) -> Result<usize, String> {
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("{at}: expected a count"))
}

impl Schema {
    /// Compiles a schema node; `at` is the schema path for messages.
    pub(crate) fn compile(value: &Value, at: &str) -> Result<Schema, String> {
        let Value::Object(map) = value else {
            return Err(format!("{at}: a schema must be an object"));
        };
        let mut s = Schema::default();
        for (key, v) in map {
            let here = format!("{at}.{key}");
            match key.as_str() {
                "description" | "title" => {}
                "type" => {
                    s.json_type = Some(match v.as_str() {
                        Some("object") => JsonType::Object,
                        Some("array") => JsonType::Array,
                        Some("string") => JsonType::String,
                        Some("integer") => JsonType::Integer,
                        Some("number") => JsonType::Number,
                        Some("boolean") => JsonType::Boolean,
                        _ => return Err(format!("{here}: unknown type {v}")),
                    })
                }
                "nullable" => {
                    s.nullable = v.as_bool().ok_or(format!("{here}: expected a boolean"))?
                }
                "properties" => {
                    let props = v.as_object().ok_or(format!("{here}: expected an object"))?;
                    for (name, child) in props {
                        s.properties.insert(
                            name.clone(),
                            Schema::compile(child, &format!("{here}.{name}"))?,
                        );
                    }
                }
                "additionalProperties" => match v {
                    Value::Bool(true) => s.additional = Some(Box::default()),
                    Value::Bool(false) => {}
                    other => s.additional = Some(Box::new(Schema::compile(other, &here)?)),
                },
                "x-kubernetes-preserve-unknown-fields" => {
                    s.preserve_unknown = v.as_bool() == Some(true)
                }
                "x-kubernetes-int-or-string" => s.int_or_string = v.as_bool() == Some(true),
                "required" => {
                    s.required = v
                        .as_array()
                        .ok_or(format!("{here}: expected a list"))?
                        .iter()
                        .map(|r| {
                            r.as_str()
                                .map(str::to_owned)
                                .ok_or(format!("{here}: expected names"))
                        })
                        .collect::<Result<_, _>>()?
                }
                "items" => s.items = Some(Box::new(Schema::compile(v, &here)?)),
                "enum" => {
                    s.enum_values = v
                        .as_array()
                        .ok_or(format!("{here}: expected a list"))?
                        .clone()
                }
                "minimum" => {
                    s.minimum = Some(v.as_f64().ok_or(format!("{here}: expected a number"))?)
                }
                "maximum" => {
                    s.maximum = Some(v.as_f64().ok_or(format!("{here}: expected a number"))?)
                }
                "minItems" => s.min_items = Some(count(v, &here)?),
                "maxItems" => s.max_items = Some(count(v, &here)?),
                "minLength" => s.min_length = Some(count(v, &here)?),
                "maxLength" => s.max_length = Some(count(v, &here)?),
                "minProperties" => s.min_properties = Some(count(v, &here)?),
                "maxProperties" => s.max_properties = Some(count(v, &here)?),
                // Defaults are applied by the API server on write, and the map type only changes
                // how server-side apply merges: neither refuses a value.
                "default" | "x-kubernetes-map-type" => {}
                "pattern" => {
                    let text = v.as_str().ok_or(format!("{here}: expected a string"))?;
                    s.pattern = Some(Pattern::lookup(text).ok_or_else(|| {
                        format!("{here}: the pattern {text:?} has no implementation in validate::schema::Pattern")
                    })?);
                }
                "format" => {
                    s.format = Some(
                        v.as_str()
                            .ok_or(format!("{here}: expected a string"))?
                            .to_owned(),
                    )
                }
                "oneOf" | "anyOf" | "allOf" => {
                    let list = v
                        .as_array()
                        .ok_or(format!("{here}: expected a list"))?
                        .iter()
                        .enumerate()
                        .map(|(i, x)| Schema::compile(x, &format!("{here}[{i}]")))
                        .collect::<Result<Vec<_>, _>>()?;
                    match key.as_str() {
                        "oneOf" => s.one_of = list,
                        "anyOf" => s.any_of = list,
                        _ => s.all_of = list,
                    }
                }
                "not" => s.not = Some(Box::new(Schema::compile(v, &here)?)),
                "x-kubernetes-validations" => {
                    for (i, rule) in v
                        .as_array()
                        .ok_or(format!("{here}: expected a list"))?
                        .iter()
                        .enumerate()
                    {
                        let text = rule["rule"]
                            .as_str()
                            .ok_or(format!("{here}[{i}]: no rule"))?;
                        let implemented = Rule::lookup(text)
                            .ok_or_else(|| format!("{here}[{i}]: the CEL rule {text:?} has no implementation in validate::cel"))?;
                        let message = rule["message"].as_str().unwrap_or(text).to_owned();
                        s.rules.push((implemented, message));
                    }
                }
                "x-kubernetes-list-type" => {
                    s.list_type = Some(match v.as_str() {
                        Some("atomic") => ListType::Atomic,
                        Some("set") => ListType::Set,
                        Some("map") => ListType::Map,
                        _ => return Err(format!("{here}: unknown list type {v}")),
                    })
                }
                "x-kubernetes-list-map-keys" => {
                    s.list_map_keys = v
                        .as_array()
                        .ok_or(format!("{here}: expected a list"))?
                        .iter()
                        .filter_map(|k| k.as_str().map(str::to_owned))
                        .collect()
                }
                other => return Err(format!("{at}: unsupported schema keyword {other:?}")),
            }
        }
        Ok(s)
    }

    /// Validates `value`, appending Kubernetes-style findings under the field path `path`.
    pub(crate) fn validate(&self, value: &Value, path: &str, out: &mut Vec<Finding>) {
        let mut push = |message: String| out.push(Finding::new(Severity::Error, path, message));
        if value.is_null() {
            if !self.nullable {
                push(match self.json_type {
                    Some(t) => format!(
                        "Invalid value: \"null\": {path} in body must be of type {}: \"null\"",
                        type_name(t)
                    ),
                    None => "Invalid value: null: must not be null".to_owned(),
                });
            }
            return;
        }
        if self.int_or_string {
            if !(is_integer(value) || value.is_string()) {
                push(format!(
                    "Invalid value: {}: must be an integer or a string",
                    short(value)
                ));
                return;
            }
        } else if let Some(expected) = self.json_type {
            let ok = match expected {
                JsonType::Object => value.is_object(),
                JsonType::Array => value.is_array(),
                JsonType::String => value.is_string(),
                JsonType::Integer => is_integer(value),
                JsonType::Number => value.is_number(),
                JsonType::Boolean => value.is_boolean(),
            };
            if !ok {
                push(format!(
                    "Invalid value: {}: must be of type {}",
                    short(value),
                    type_name(expected)
                ));
                return;
            }
        }
        if !self.enum_values.is_empty() && !self.enum_values.contains(value) {
            let supported: Vec<String> = self.enum_values.iter().map(Value::to_string).collect();
            push(format!(
                "Unsupported value: {}: supported values: {}",
                short(value),
                supported.join(", ")
            ));
        }
        match value {
            Value::Object(map) => self.validate_object(map, path, out),
            Value::Array(items) => self.validate_array(items, path, out),
            Value::String(text) => self.validate_string(text, path, out),
            Value::Number(_) => self.validate_number(value, path, out),
            _ => {}
        }
        self.validate_combinators(value, path, out);
        if out
            .iter()
            .any(|f| f.field == path && f.severity == Severity::Error)
        {
            return;
        }
        for (rule, message) in &self.rules {
            if let Some(error) = rule.runtime_error(value) {
                // CEL stops at the error; Kubernetes reports it instead of the rule's message.
                out.push(Finding::new(
                    Severity::Error,
                    path,
                    format!("Invalid value: {}: {error}", kind_word(value)),
                ));
            } else if !rule.holds(value) {
                out.push(Finding::new(
                    Severity::Error,
                    path,
                    format!("Invalid value: {}: {message}", kind_word(value)),
                ));
            }
        }
    }

    fn validate_object(&self, map: &Map<String, Value>, path: &str, out: &mut Vec<Finding>) {
        for name in &self.required {
            if !map.contains_key(name) {
                out.push(Finding::new(
                    Severity::Error,
                    &child(path, name),
                    "Required value",
                ));
            }
        }
        if let Some(max) = self.max_properties
            && map.len() > max
        {
            out.push(Finding::new(
                Severity::Error,
                path,
                format!("Too many: {}: must have at most {max} items", map.len()),
            ));
        }
        if let Some(min) = self.min_properties
            && map.len() < min
        {
            out.push(Finding::new(
                Severity::Error,
                path,
                format!(
                    "Invalid value: {}: {path} in body should have at least {min} properties",
                    map.len()
                ),
            ));
        }
        for (key, v) in map {
            let here = child(path, key);
            if let Some(schema) = self.properties.get(key) {
                schema.validate(v, &here, out);
            } else if let Some(schema) = &self.additional {
                schema.validate(v, &here, out);
            } else if !self.preserve_unknown && self.json_type == Some(JsonType::Object) {
                out.push(Finding::new(
                    Severity::Error,
                    &here,
                    format!("unknown field {here:?}"),
                ));
            }
        }
    }

    fn validate_array(&self, items: &[Value], path: &str, out: &mut Vec<Finding>) {
        if let Some(max) = self.max_items
            && items.len() > max
        {
            out.push(Finding::new(
                Severity::Error,
                path,
                format!("Too many: {}: must have at most {max} items", items.len()),
            ));
        }
        if let Some(min) = self.min_items
            && items.len() < min
        {
            out.push(Finding::new(
                Severity::Error,
                path,
                format!(
                    "Invalid value: {}: must have at least {min} items",
                    items.len()
                ),
            ));
        }
        if let Some(schema) = &self.items {
            for (i, item) in items.iter().enumerate() {
                schema.validate(item, &format!("{path}[{i}]"), out);
            }
        }
        match self.list_type {
            Some(ListType::Set) => {
                for (i, item) in items.iter().enumerate() {
                    if items[..i].contains(item) {
                        out.push(Finding::new(
                            Severity::Error,
                            &format!("{path}[{i}]"),
                            format!("Duplicate value: {}", short(item)),
                        ));
                    }
                }
            }
            Some(ListType::Map) => {
                let key_of = |item: &Value| -> Vec<Value> {
                    self.list_map_keys
                        .iter()
                        .map(|k| item.get(k).cloned().unwrap_or(Value::Null))
                        .collect()
                };
                for (i, item) in items.iter().enumerate() {
                    let key = key_of(item);
                    if items[..i].iter().any(|other| key_of(other) == key) {
                        let shown: Vec<String> = self
                            .list_map_keys
                            .iter()
                            .zip(&key)
                            .map(|(k, v)| format!("{k:?}:{v}"))
                            .collect();
                        out.push(Finding::new(
                            Severity::Error,
                            &format!("{path}[{i}]"),
                            format!("Duplicate value: {{{}}}", shown.join(",")),
                        ));
                    }
                }
            }
            Some(ListType::Atomic) | None => {}
        }
    }

    fn validate_string(&self, text: &str, path: &str, out: &mut Vec<Finding>) {
        if let Some(pattern) = self.pattern
            && !pattern.matches(text)
        {
            out.push(Finding::new(
                Severity::Error,
                path,
                format!(
                    "Invalid value: {text:?}: {path} in body should match '{}'",
                    pattern.source()
                ),
            ));
        }
        let length = text.chars().count();
        if let Some(max) = self.max_length
            && length > max
        {
            out.push(Finding::new(
                Severity::Error,
                path,
                format!("Too long: may not be more than {max} bytes"),
            ));
        }
        if let Some(min) = self.min_length
            && length < min
        {
            out.push(Finding::new(
                Severity::Error,
                path,
                format!(
                    "Invalid value: {text:?}: {path} in body should be at least {min} chars long"
                ),
            ));
        }
        let format_ok = match self.format.as_deref() {
            Some("byte") => is_base64(text),
            Some("date-time") => is_date_time(text),
            _ => true,
        };
        if !format_ok {
            out.push(Finding::new(
                Severity::Error,
                path,
                format!(
                    "Invalid value: {}: must be of format {}",
                    short(&Value::String(text.to_owned())),
                    self.format.as_deref().unwrap_or("")
                ),
            ));
        }
    }

    fn validate_number(&self, value: &Value, path: &str, out: &mut Vec<Finding>) {
        let Some(n) = value.as_f64() else { return };
        if let Some(max) = self.maximum
            && n > max
        {
            out.push(Finding::new(
                Severity::Error,
                path,
                format!(
                    "Invalid value: {value}: must be less than or equal to {}",
                    number(max)
                ),
            ));
        }
        if let Some(min) = self.minimum
            && n < min
        {
            out.push(Finding::new(
                Severity::Error,
                path,
                format!(
                    "Invalid value: {value}: must be greater than or equal to {}",
                    number(min)
                ),
            ));
        }
    }

    fn matches(&self, value: &Value) -> bool {
        let mut scratch = Vec::new();
        self.validate(value, "", &mut scratch);
        scratch.is_empty()
    }

    fn validate_combinators(&self, value: &Value, path: &str, out: &mut Vec<Finding>) {
        for schema in &self.all_of {
            schema.validate(value, path, out);
        }
        if !self.any_of.is_empty() && !self.any_of.iter().any(|s| s.matches(value)) {
            out.push(Finding::new(
                Severity::Error,
                path,
                format!(
                    "Invalid value: {}: must validate at least one schema (anyOf)",
                    kind_word(value)
                ),
            ));
        }
        if !self.one_of.is_empty() && self.one_of.iter().filter(|s| s.matches(value)).count() != 1 {
            let set: Vec<&str> = self
                .one_of
                .iter()
                .flat_map(|s| s.required.iter().map(String::as_str))
                .collect();
            out.push(Finding::new(
                Severity::Error,
                path,
                format!(
                    "Invalid value: {}: must validate one and only one schema (oneOf){}",
                    kind_word(value),
                    if set.is_empty() {
                        String::new()
                    } else {
                        format!("; set at most one of {}", set.join(", "))
                    }
                ),
            ));
        }
        if let Some(not) = &self.not
            && not.matches(value)
        {
            out.push(Finding::new(
                Severity::Error,
                path,
                format!(
                    "Invalid value: {}: must not validate the schema (not)",
                    kind_word(value)
                ),
            ));
        }
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn is_integer(value: &Value) -> bool {
    value.is_i64()
        || value.is_u64()
        || value
            .as_f64()
            .is_some_and(|f| f.fract() == 0.0 && f.is_finite())
}

fn type_name(t: JsonType) -> &'static str {
    match t {
        JsonType::Object => "object",
        JsonType::Array => "array",
        JsonType::String => "string",
        JsonType::Integer => "integer",
        JsonType::Number => "number",
        JsonType::Boolean => "boolean",
    }
}

fn kind_word(value: &Value) -> String {
    match value {
        Value::Object(_) => "\"object\"".to_owned(),
        Value::Array(_) => "\"array\"".to_owned(),
        other => short(other),
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(80).collect();
        format!("{cut}…")
    } else {
        text
    }
}

fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

fn is_base64(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len().is_multiple_of(4)
        && bytes.iter().enumerate().all(|(i, c)| {
            c.is_ascii_alphanumeric()
                || *c == b'+'
                || *c == b'/'
                || (*c == b'=' && i + 2 >= bytes.len())
        })
}

/// RFC 3339 date-time, the shape Kubernetes accepts (`2024-01-02T03:04:05Z`, fractions and
/// offsets allowed).
fn is_date_time(text: &str) -> bool {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
    {
        return false;
    }
    if !matches!(b[10], b'T' | b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// The `pattern`s of the vendored schemas, each matched by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// `^[-_A-Za-z0-9]+$`
    Token,
    /// `^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`
    Rfc1035Label,
    /// `^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
    EmptyOrSubdomain,
    /// `^[A-Za-z0-9._/-]*$`
    PathLike,
    /// A Kubernetes resource quantity (`500m`, `1Gi`, `1e3`).
    Quantity,
}

const QUANTITY: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

impl Pattern {
    const ALL: [(Pattern, &'static str); 5] = [
        (Pattern::Token, "^[-_A-Za-z0-9]+$"),
        (
            Pattern::Rfc1035Label,
            "^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$",
        ),
        (
            Pattern::EmptyOrSubdomain,
            r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ),
        (Pattern::PathLike, "^[A-Za-z0-9._/-]*$"),
        (Pattern::Quantity, QUANTITY),
    ];

    pub(crate) fn lookup(source: &str) -> Option<Pattern> {
        Self::ALL
            .iter()
            .find(|(_, text)| *text == source)
            .map(|(pattern, _)| *pattern)
    }

    fn source(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(pattern, _)| *pattern == self)
            .map(|(_, text)| *text)
            .unwrap_or_default()
    }

    pub(crate) fn matches(self, text: &str) -> bool {
        let lower_label = |label: &str| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && bytes
                    .iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && bytes[0] != b'-'
                && bytes[bytes.len() - 1] != b'-'
        };
        match self {
            Pattern::Token => {
                !text.is_empty()
                    && text
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            }
            Pattern::Rfc1035Label => {
                let bytes = text.as_bytes();
                !bytes.is_empty()
                    && bytes[0].is_ascii_alphabetic()
                    && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                    && bytes
                        .iter()
                        .all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            }
            Pattern::EmptyOrSubdomain => text.is_empty() || text.split('.').all(lower_label),
            Pattern::PathLike => text
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'/' | b'-')),
            Pattern::Quantity => is_quantity(text),
        }
    }
}

/// `(\+|-)?` then a decimal (`1`, `1.`, `1.5`, `.5`), then an optional suffix: a binary (`Ki`…
/// `Ei`) or decimal (`n u m k M G T P E`) one, or an exponent `e`/`E` with a signed decimal.
fn is_quantity(text: &str) -> bool {
    fn decimal(s: &str) -> Option<&str> {
        let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
        let whole = digits(s);
        let rest = &s[whole..];
        if let Some(after) = rest.strip_prefix('.') {
            let fraction = digits(after);
            if whole == 0 && fraction == 0 {
                return None;
            }
            Some(&after[fraction..])
        } else if whole > 0 {
            Some(rest)
        } else {
            None
        }
    }
    let unsigned = text
        .strip_prefix('+')
        .or_else(|| text.strip_prefix('-'))
        .unwrap_or(text);
    let Some(suffix) = decimal(unsigned) else {
        return false;
    };
    match suffix {
        "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "n" | "u" | "m" | "k" | "M" | "G" | "T"
        | "P" | "E" => true,
        _ => suffix
            .strip_prefix(['e', 'E'])
            .map(|exp| {
                exp.strip_prefix('+')
                    .or_else(|| exp.strip_prefix('-'))
                    .unwrap_or(exp)
            })
            .and_then(decimal)
            .is_some_and(str::is_empty),
    }
}

#[cfg(test)]
mod pattern_tests {
    use super::{Pattern, is_quantity};

    #[test]
    fn patterns_match_like_their_regular_expressions() {
        assert!(Pattern::Token.matches("a-b_C9"));
        assert!(!Pattern::Token.matches(""));
        assert!(!Pattern::Token.matches("a.b"));
        assert!(Pattern::Rfc1035Label.matches("Gateway"));
        assert!(Pattern::Rfc1035Label.matches("a"));
        assert!(!Pattern::Rfc1035Label.matches("9a"));
        assert!(!Pattern::Rfc1035Label.matches("a-"));
        assert!(Pattern::EmptyOrSubdomain.matches(""));
        assert!(Pattern::EmptyOrSubdomain.matches("gateway.networking.k8s.io"));
        assert!(!Pattern::EmptyOrSubdomain.matches("Gateway.io"));
        assert!(!Pattern::EmptyOrSubdomain.matches("a..b"));
        assert!(!Pattern::EmptyOrSubdomain.matches("-a.b"));
        assert!(Pattern::PathLike.matches("/otel-auto/java.jar"));
        assert!(!Pattern::PathLike.matches("a b"));
        for ok in [
            "1", "500m", "1Gi", "1.5", ".5", "1.", "-1", "+2k", "1e3", "1E-3", "2.5e+10",
        ] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", ".", "m", "1Zi", "1e", "1.5.5", "1 Gi", "e3", "1Mi5"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }
}
