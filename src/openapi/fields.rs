//! The schemas of request fields the core validates, built from the core's
//! own limits (`model::limits`, `accounts::validate`, pagination), so the
//! document and the check cannot drift apart. Fields use them with
//! `#[schema(schema_with = fields::name)]` or `#[param(schema_with = ..)]`;
//! a `_or_null` variant is for an `Option` field, which also takes `null`.
//!
//! Lengths are in characters, as JSON Schema counts them. Prompts and
//! metadata are capped in UTF-8 bytes by the core: their `maxLength` is
//! the same number, exact for ASCII (the description says bytes).

use chorus_actors::accounts::validate;
use chorus_actors::documents::MAX_QUERY_CHARS;
use chorus_actors::model::{Role, limits};
use serde_json::{Value, json};
use utoipa::openapi::Schema;

pub use super::fill::raw;
use super::fill::{Configured, marker};
use crate::pagination;

/// The characters `char::is_whitespace` accepts (Unicode `White_Space`),
/// which `str::trim` removes.
const WHITE_SPACE: [(u32, u32); 10] = [
    (0x09, 0x0d),
    (0x20, 0x20),
    (0x85, 0x85),
    (0xa0, 0xa0),
    (0x1680, 0x1680),
    (0x2000, 0x200a),
    (0x2028, 0x2029),
    (0x202f, 0x202f),
    (0x205f, 0x205f),
    (0x3000, 0x3000),
];

/// The characters `char::is_control` accepts (Unicode `Cc`).
const CONTROL: [(u32, u32); 2] = [(0x00, 0x1f), (0x7f, 0x9f)];

/// A regular-expression class body listing `ranges` as `\uXXXX` escapes,
/// which ECMA-262 and Python's `re` read alike.
fn class(ranges: &[(u32, u32)]) -> String {
    ranges
        .iter()
        .map(|&(from, to)| {
            if from == to {
                format!("\\u{from:04x}")
            } else {
                format!("\\u{from:04x}-\\u{to:04x}")
            }
        })
        .collect()
}

/// A string holding at least one character `str::trim` keeps.
fn not_blank() -> String {
    format!("[^{}]", class(&WHITE_SPACE))
}

fn schema(value: Value) -> Schema {
    raw(value)
}

/// `value` that also takes `null`.
fn or_null(mut value: Value) -> Value {
    if let Some(kind) = value.get("type").cloned() {
        value["type"] = json!([kind, "null"]);
    }
    value
}

fn string(min: usize, max: usize, description: &str) -> Value {
    json!({"type": "string", "minLength": min, "maxLength": max, "description": description})
}

fn name_value() -> Value {
    let mut v = string(
        1,
        limits::NAME_CHARS,
        &format!("1-{} characters, not only white space.", limits::NAME_CHARS),
    );
    v["pattern"] = not_blank().into();
    v
}

/// A required name (`limits::name`).
pub fn name() -> Schema {
    schema(name_value())
}

/// An optional name (`limits::name` when given).
pub fn name_or_null() -> Schema {
    schema(or_null(name_value()))
}

/// A short optional label (`limits::chars` with `NAME_CHARS`).
pub fn label_or_null() -> Schema {
    let max = limits::NAME_CHARS;
    schema(or_null(string(
        0,
        max,
        &format!("At most {max} characters."),
    )))
}

/// Short prose (`limits::chars` with `TEXT_CHARS`).
pub fn text_or_null() -> Schema {
    let max = limits::TEXT_CHARS;
    schema(or_null(string(
        0,
        max,
        &format!("At most {max} characters."),
    )))
}

/// A link of a persona (`limits::chars` with `URL_CHARS`).
pub fn url_or_null() -> Schema {
    let max = limits::URL_CHARS;
    schema(or_null(string(
        0,
        max,
        &format!("At most {max} characters."),
    )))
}

/// A system prompt (`limits::prompt`).
pub fn prompt_or_null() -> Schema {
    let max = limits::PROMPT_BYTES;
    schema(or_null(string(
        0,
        max,
        &format!("At most {} KiB of UTF-8.", max / 1024),
    )))
}

/// A metadata object (`limits::metadata`).
pub fn metadata_or_null() -> Schema {
    schema(json!({
        "type": ["object", "null"],
        "description": format!("A JSON object of at most {} KiB serialized.", limits::METADATA_BYTES / 1024),
    }))
}

/// A list of names (`limits::names`).
pub fn names() -> Schema {
    schema(json!({
        "type": "array",
        "items": name_value(),
        "maxItems": limits::LIST_ITEMS,
        "description": format!("At most {} names.", limits::LIST_ITEMS),
    }))
}

/// A message's content (the core's `check_content`).
pub fn content() -> Schema {
    let max = limits::MESSAGE_CHARS;
    schema(string(1, max, &format!("1-{max} characters.")))
}

/// A message's role.
pub fn role() -> Schema {
    schema(json!({"type": "string", "enum": ["user", "assistant", "system"]}))
}

/// `validate::username`.
pub fn username() -> Schema {
    let (min, max) = validate::USERNAME_CHARS;
    let mut v = string(
        min,
        max,
        &format!("{min}-{max} characters of `a-z 0-9 _ -`."),
    );
    v["pattern"] = format!("^[a-z0-9_-]{{{min},{max}}}$").into();
    schema(v)
}

/// `validate::email`: one `@`, a dotted domain, no white space inside
/// (around it is trimmed).
pub fn email() -> Schema {
    let ws = class(&WHITE_SPACE);
    let part = format!("[^{ws}@]");
    let edge = format!("[^{ws}@.]");
    let max = validate::EMAIL_CHARS;
    let mut v = string(
        3,
        max,
        &format!("An email address of at most {max} characters; compared lower-cased."),
    );
    v["pattern"] = format!("^[{ws}]*{part}+@{edge}{part}*\\.{part}*{edge}[{ws}]*$").into();
    schema(v)
}

/// `validate::password`.
pub fn password() -> Schema {
    let (min, max) = validate::PASSWORD_CHARS;
    schema(string(min, max, &format!("{min}-{max} characters.")))
}

/// A full name (`validate::text` with `NAME_CHARS`).
pub fn full_name_or_null() -> Schema {
    label_or_null()
}

/// `validate::http_url`, or empty to remove the link.
pub fn avatar_url_or_null() -> Schema {
    let max = limits::URL_CHARS;
    let unsafe_chars = format!("{}{}", class(&WHITE_SPACE), class(&CONTROL));
    let mut v = string(
        0,
        max,
        &format!("An http(s) URL of at most {max} characters, or empty to remove it."),
    );
    v["pattern"] =
        format!("^$|^[hH][tT][tT][pP][sS]?://[^/{unsafe_chars}][^{unsafe_chars}]*$").into();
    schema(or_null(v))
}

/// A provider a request may name (`[providers]`), or empty for the default.
pub fn provider_or_null() -> Schema {
    let v = json!({"type": ["string", "null"], "description": "A configured provider; empty or absent for the default."});
    schema(marker(v, Configured::Provider))
}

/// A model of the provider, or empty for its default.
pub fn model_or_null() -> Schema {
    let v = json!({"type": ["string", "null"], "description": "A model the provider lists; empty or absent for its default."});
    schema(marker(v, Configured::Model))
}

/// `/v1`'s model: `<provider>/<model>`, or a model of the default provider.
pub fn openai_model() -> Schema {
    let v = json!({"type": "string", "description": "`<provider>/<model>`, or a model of the default provider."});
    schema(marker(v, Configured::OpenAiModel))
}

/// A template of `[templates]`.
pub fn analysis_type() -> Schema {
    let v = json!({"type": "string", "description": "A template of `[templates]` in the configuration."});
    schema(marker(v, Configured::AnalysisType))
}

/// An optional integer in `min..=max`, `default` when absent.
pub fn integer_or_null(min: i64, max: i64, default: i64) -> Schema {
    schema(json!({
        "type": ["integer", "null"], "format": "int64", "minimum": min, "maximum": max, "default": default,
    }))
}

/// A count of tokens (`u32`).
pub fn count_or_null() -> Schema {
    schema(json!({"type": ["integer", "null"], "minimum": 0, "maximum": u32::MAX}))
}

/// A monthly token allowance (`validate::allowance`); null for unlimited.
pub fn allowance_or_null() -> Schema {
    schema(json!({
        "type": ["integer", "null"], "format": "int64", "minimum": 0, "maximum": i64::MAX,
        "description": "Tokens per month; null for unlimited.",
    }))
}

/// One of `values`.
pub fn one_of<'a>(values: impl Iterator<Item = &'a str>) -> Schema {
    let values: Vec<Value> = values.map(Value::from).collect();
    schema(json!({"type": "string", "enum": values}))
}

/// Any value of the JSON `types`.
pub fn of_types(types: &[&str]) -> Schema {
    schema(json!({ "type": types }))
}

/// A document search (`Documents::search`): not only white space.
pub fn search_text() -> Schema {
    let max = MAX_QUERY_CHARS;
    let mut v = string(
        1,
        max,
        &format!("1-{max} characters, not only white space."),
    );
    v["pattern"] = not_blank().into();
    schema(v)
}

/// One of `values`, or null.
pub fn one_of_or_null<'a>(values: impl Iterator<Item = &'a str>) -> Schema {
    let values: Vec<Value> = values.map(Value::from).chain([Value::Null]).collect();
    schema(json!({"type": ["string", "null"], "enum": values}))
}

/// A user's role; admin roles, and admins' accounts, are changed by a
/// superadmin only.
pub fn user_role_or_null() -> Schema {
    one_of_or_null(
        [Role::User, Role::Admin, Role::Superadmin]
            .map(Role::as_str)
            .into_iter(),
    )
}

/// A message's text in a stateless call: at most `MESSAGE_CHARS`, may be empty.
pub fn message_text() -> Schema {
    let max = limits::MESSAGE_CHARS;
    schema(string(0, max, &format!("At most {max} characters.")))
}

/// Any JSON: a field the server reads leniently.
pub fn any() -> Schema {
    schema(json!({}))
}

/// `skip` of a page (API.md 0.2).
pub fn skip() -> Schema {
    schema(json!({"type": ["integer", "null"], "format": "int64", "minimum": 0, "default": 0}))
}

/// `limit` of a page (API.md 0.2).
pub fn limit() -> Schema {
    let (min, max) = pagination::LIMIT;
    schema(json!({
        "type": ["integer", "null"], "format": "int64", "minimum": min, "maximum": max,
        "default": pagination::DEFAULT_LIMIT,
    }))
}

/// A contact form's message (`contacts::MESSAGE_CHARS`, not only white space).
pub fn contact_message() -> Schema {
    let max = chorus_actors::contacts::MESSAGE_CHARS;
    let mut v = string(
        1,
        max,
        &format!("1-{max} characters, not only white space."),
    );
    v["pattern"] = not_blank().into();
    schema(v)
}

/// A contact form's phone number (`contacts::PHONE_CHARS`).
pub fn phone_or_null() -> Schema {
    let max = chorus_actors::contacts::PHONE_CHARS;
    schema(or_null(string(
        0,
        max,
        &format!("At most {max} characters."),
    )))
}

/// A contact form's `extra_fields` (`contacts::check_extra`).
pub fn extra_fields_or_null() -> Schema {
    use chorus_actors::contacts::{EXTRA_FIELDS_KEYS, EXTRA_KEY_CHARS, EXTRA_VALUE_CHARS};
    schema(json!({
        "type": ["object", "null"],
        "maxProperties": EXTRA_FIELDS_KEYS,
        "propertyNames": {"maxLength": EXTRA_KEY_CHARS},
        "additionalProperties": {"anyOf": [
            {"type": "string", "maxLength": EXTRA_VALUE_CHARS},
            {"type": ["number", "boolean", "null"]},
        ]},
        "description": format!(
            "At most {EXTRA_FIELDS_KEYS} keys of at most {EXTRA_KEY_CHARS} characters; each value a string of at most {EXTRA_VALUE_CHARS} characters, a number, a boolean or null."
        ),
    }))
}

/// An announced file size in bytes, up to `files.max_bytes` (filled in at start).
pub fn file_size() -> Schema {
    let v = json!({"type": "integer", "minimum": 0, "description": "Exact size in bytes."});
    schema(marker(v, Configured::FileSize))
}

/// A media type as `files` checks it: `type/subtype`, visible ASCII.
pub fn media_type() -> Schema {
    let mut v = string(3, limits::NAME_CHARS, "A media type such as text/markdown.");
    v["pattern"] = chorus_actors::files::MEDIA_TYPE_PATTERN.into();
    schema(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_ranges(ranges: &[(u32, u32)], c: char) -> bool {
        ranges
            .iter()
            .any(|&(from, to)| (from..=to).contains(&(c as u32)))
    }

    #[test]
    fn the_classes_are_the_ones_rust_uses() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            assert_eq!(c.is_whitespace(), in_ranges(&WHITE_SPACE, c), "{c:?}");
            assert_eq!(c.is_control(), in_ranges(&CONTROL, c), "{c:?}");
        }
    }
}
