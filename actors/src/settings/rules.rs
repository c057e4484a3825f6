//! The rules of a setting: what a definition may say, and whether a value
//! passes it. Pure functions; every failure is a `CoreError::Rule` naming
//! the field and the rule.

use regex::{Regex, RegexBuilder};
use serde_json::{Value, json};

use crate::error::CoreError;
use crate::model::{Scope, SettingRules, ValueType};

/// A definition id: 1-128 of `a-z 0-9 . _ -`, starting with a letter or digit.
pub const ID_CHARS: usize = 128;
/// A page id (of a setting or a plugin state): 1-255 characters, no control characters.
pub const PAGE_ID_CHARS: usize = 255;
/// The longest `pattern`, in characters.
pub const PATTERN_CHARS: usize = 1_000;
/// The most memory one compiled `pattern` may take (`RegexBuilder::size_limit`).
pub const PATTERN_BYTES: usize = 256 * 1024;
/// The longest value (and default), serialized: 32 KiB.
pub const VALUE_BYTES: usize = 32 * 1024;
/// The most values an `enum` may list.
pub const ENUM_ITEMS: usize = 100;

/// A failure of `rule` on `field`.
pub fn failed(
    field: impl Into<String>,
    rule: &'static str,
    limit: Option<Value>,
    message: impl Into<String>,
) -> CoreError {
    CoreError::Rule {
        field: field.into(),
        rule,
        limit,
        message: message.into(),
    }
}

/// `n` as JSON: a whole number without a fraction (`32`, not `32.0`).
pub fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

/// A definition id (`theme`, `ui.font_size`).
pub fn check_id(field: &str, id: &str) -> Result<(), CoreError> {
    let ok = !id.is_empty()
        && id.len() <= ID_CHARS
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !ok {
        return Err(CoreError::validation(
            field,
            format!("1-{ID_CHARS} of a-z 0-9 . _ -, starting with a letter or digit"),
        ));
    }
    Ok(())
}

/// A page id or state key: 1-255 characters, no control characters.
pub fn check_page_id(field: &str, id: &str) -> Result<(), CoreError> {
    let n = id.chars().count();
    if n == 0 || n > PAGE_ID_CHARS || id.chars().any(char::is_control) {
        return Err(CoreError::validation(
            field,
            format!("1-{PAGE_ID_CHARS} characters, no control characters"),
        ));
    }
    Ok(())
}

/// `pattern`, compiled within [`PATTERN_BYTES`].
pub fn compile(field: &str, pattern: &str) -> Result<Regex, CoreError> {
    if pattern.chars().count() > PATTERN_CHARS {
        return Err(failed(
            field,
            "max_length",
            Some(json!(PATTERN_CHARS)),
            format!("at most {PATTERN_CHARS} characters"),
        ));
    }
    RegexBuilder::new(pattern)
        .size_limit(PATTERN_BYTES)
        .dfa_size_limit(PATTERN_BYTES)
        .build()
        .map_err(|e| {
            let why = match e {
                regex::Error::CompiledTooBig(_) => "compiles too big".to_string(),
                _ => "not a valid regular expression".to_string(),
            };
            failed(field, "pattern", None, why)
        })
}

/// The scopes a definition allows: at least one, no repeats.
pub fn check_scopes(scopes: &[Scope]) -> Result<(), CoreError> {
    let repeated = scopes
        .iter()
        .enumerate()
        .any(|(i, s)| scopes[..i].contains(s));
    if scopes.is_empty() || repeated {
        return Err(CoreError::validation(
            "allowed_scopes",
            "one or more of system, user, page, each once",
        ));
    }
    Ok(())
}

/// Whether the rules fit the type: bounds finite and in order, `min` and
/// `max` only for numbers, strings and arrays (and at least 0 for the two
/// lengths), `pattern` only for strings and compiling, `enum` values of the type.
pub fn check_rules(value_type: ValueType, rules: &SettingRules) -> Result<(), CoreError> {
    let sized = matches!(value_type, ValueType::String | ValueType::Array);
    for (name, bound) in [("min", rules.min), ("max", rules.max)] {
        let Some(bound) = bound else { continue };
        let field = format!("validation.{name}");
        if !matches!(value_type, ValueType::Number) && !sized {
            return Err(CoreError::validation(
                field,
                "only for number, string and array settings",
            ));
        }
        if !bound.is_finite() || (sized && (bound < 0.0 || bound.fract() != 0.0)) {
            return Err(CoreError::validation(
                field,
                "a finite number (a whole number of 0 or more for a length)",
            ));
        }
    }
    if let (Some(min), Some(max)) = (rules.min, rules.max)
        && min > max
    {
        return Err(CoreError::validation("validation.min", "at most max"));
    }
    if let Some(pattern) = &rules.pattern {
        if value_type != ValueType::String {
            return Err(CoreError::validation(
                "validation.pattern",
                "only for string settings",
            ));
        }
        compile("validation.pattern", pattern)?;
    }
    if let Some(allowed) = &rules.allowed {
        let Value::Array(items) = allowed.parse()? else {
            return Err(CoreError::validation("validation.enum", "an array"));
        };
        if items.is_empty() || items.len() > ENUM_ITEMS {
            return Err(CoreError::validation(
                "validation.enum",
                format!("1-{ENUM_ITEMS} values"),
            ));
        }
        for (i, item) in items.iter().enumerate() {
            check_type(&format!("validation.enum[{i}]"), item, value_type)?;
        }
    }
    Ok(())
}

fn type_of(value: &Value) -> Option<ValueType> {
    match value {
        Value::String(_) => Some(ValueType::String),
        Value::Number(_) => Some(ValueType::Number),
        Value::Bool(_) => Some(ValueType::Boolean),
        Value::Object(_) => Some(ValueType::Object),
        Value::Array(_) => Some(ValueType::Array),
        Value::Null => None,
    }
}

fn check_type(field: &str, value: &Value, value_type: ValueType) -> Result<(), CoreError> {
    if type_of(value) != Some(value_type) {
        return Err(failed(
            field,
            "type",
            Some(json!(value_type.as_str())),
            format!("must be of type {}", value_type.as_str()),
        ));
    }
    Ok(())
}

/// Whether `value` passes the type and every rule; the first failure names its rule.
pub fn check_value(
    field: &str,
    value: &Value,
    value_type: ValueType,
    rules: &SettingRules,
) -> Result<(), CoreError> {
    check_type(field, value, value_type)?;
    let bytes = value.to_string().len();
    if bytes > VALUE_BYTES {
        return Err(failed(
            field,
            "max_bytes",
            Some(json!(VALUE_BYTES)),
            format!("at most {} KiB serialized", VALUE_BYTES / 1024),
        ));
    }
    let (measure, what) = match value {
        Value::Number(n) => (n.as_f64(), ""),
        Value::String(s) => (Some(s.chars().count() as f64), " characters"),
        Value::Array(a) => (Some(a.len() as f64), " items"),
        _ => (None, ""),
    };
    if let Some(measure) = measure {
        if let Some(min) = rules.min
            && measure < min
        {
            return Err(failed(
                field,
                "min",
                Some(number(min)),
                format!("at least {min}{what}"),
            ));
        }
        if let Some(max) = rules.max
            && measure > max
        {
            return Err(failed(
                field,
                "max",
                Some(number(max)),
                format!("at most {max}{what}"),
            ));
        }
    }
    if let (Some(pattern), Value::String(s)) = (&rules.pattern, value)
        && !compile(field, pattern)?.is_match(s)
    {
        return Err(failed(
            field,
            "pattern",
            Some(json!(pattern)),
            format!("must match {pattern}"),
        ));
    }
    if let Some(allowed) = &rules.allowed {
        let allowed = allowed.parse()?;
        if !allowed.as_array().is_some_and(|a| a.contains(value)) {
            return Err(failed(
                field,
                "enum",
                Some(allowed),
                "must be one of the enum values",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
