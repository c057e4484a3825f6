//! The wire shapes of setting definitions (API.md 8) and the schemas the
//! settings' and plugin states' routes share (scopes, page ids, the
//! per-type validation), apart from their handlers in `settings.rs`.

use chorus_actors::model::{JsonText, Scope, SettingDefinition, SettingRules, ValueType};
use chorus_actors::settings::rules;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::object_or_null;
use crate::openapi::fields;
use crate::time::rfc3339_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SettingType {
    String,
    Number,
    Boolean,
    Object,
    Array,
}

impl From<SettingType> for ValueType {
    fn from(t: SettingType) -> Self {
        match t {
            SettingType::String => ValueType::String,
            SettingType::Number => ValueType::Number,
            SettingType::Boolean => ValueType::Boolean,
            SettingType::Object => ValueType::Object,
            SettingType::Array => ValueType::Array,
        }
    }
}

impl From<ValueType> for SettingType {
    fn from(t: ValueType) -> Self {
        match t {
            ValueType::String => SettingType::String,
            ValueType::Number => SettingType::Number,
            ValueType::Boolean => SettingType::Boolean,
            ValueType::Object => SettingType::Object,
            ValueType::Array => SettingType::Array,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScopeName {
    System,
    User,
    Page,
}

impl From<ScopeName> for Scope {
    fn from(s: ScopeName) -> Self {
        match s {
            ScopeName::System => Scope::System,
            ScopeName::User => Scope::User,
            ScopeName::Page => Scope::Page,
        }
    }
}

impl From<Scope> for ScopeName {
    fn from(s: Scope) -> Self {
        match s {
            Scope::System => ScopeName::System,
            Scope::User => ScopeName::User,
            Scope::Page => ScopeName::Page,
        }
    }
}

/// A page id: 1-255 characters, no control characters.
pub fn page_id_value() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": rules::PAGE_ID_CHARS,
        "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"})
}

/// [`page_id_value`] or null.
pub fn page_id_schema_or_null() -> utoipa::openapi::Schema {
    let mut v = page_id_value();
    v["type"] = json!(["string", "null"]);
    fields::raw(v)
}

/// `validation`: every value (the default included) must pass each rule given.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct Validation {
    /// Numbers: the smallest value; strings: fewest characters; arrays: fewest items.
    pub min: Option<f64>,
    /// Numbers: the largest value; strings: most characters; arrays: most items.
    pub max: Option<f64>,
    /// Strings: a regular expression (Rust `regex` syntax, unanchored unless
    /// it anchors itself), at most 1,000 characters.
    pub pattern: Option<String>,
    /// The values allowed (1-100, each of the setting's type).
    #[serde(rename = "enum")]
    pub allowed: Option<Vec<Value>>,
}

/// `validation` as stored (bounds without a fraction are written as integers).
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationView {
    #[schema(schema_with = number_or_null)]
    pub min: Option<Value>,
    #[schema(schema_with = number_or_null)]
    pub max: Option<Value>,
    pub pattern: Option<String>,
    #[serde(rename = "enum")]
    pub allowed: Option<Vec<Value>>,
}

fn number_or_null() -> utoipa::openapi::Schema {
    fields::of_types(&["number", "null"])
}

impl From<Validation> for SettingRules {
    fn from(v: Validation) -> Self {
        SettingRules {
            min: v.min,
            max: v.max,
            pattern: v.pattern,
            allowed: v.allowed.map(|a| JsonText::from_value(&Value::Array(a))),
        }
    }
}

/// The fields of a definition, as `PUT` replaces them.
#[derive(Debug, Deserialize)]
pub struct DefinitionFields {
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    #[serde(rename = "type")]
    pub value_type: SettingType,
    pub default_value: Value,
    pub allowed_scopes: Option<Vec<ScopeName>>,
    #[serde(default, deserialize_with = "object_or_null")]
    pub validation: Option<Validation>,
}

/// `POST /settings/definitions`: the fields and the client-chosen `id`
/// (spelled out: `serde(flatten)` would lose the field paths of errors).
#[derive(Debug, Deserialize)]
pub struct NewDefinition {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    #[serde(rename = "type")]
    pub value_type: SettingType,
    pub default_value: Value,
    pub allowed_scopes: Option<Vec<ScopeName>>,
    #[serde(default, deserialize_with = "object_or_null")]
    pub validation: Option<Validation>,
}

impl NewDefinition {
    pub(super) fn split(self) -> (String, DefinitionFields) {
        let fields = DefinitionFields {
            name: self.name,
            description: self.description,
            category: self.category,
            value_type: self.value_type,
            default_value: self.default_value,
            allowed_scopes: self.allowed_scopes,
            validation: self.validation,
        };
        (self.id, fields)
    }
}

/// One shape per `type`: `default_value` of that type (API.md 8).
fn definition_schema(with_id: bool) -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    let variants: Vec<Value> = ValueType::ALL
        .into_iter()
        .map(|t| {
            let mut required = vec!["name", "type", "default_value"];
            let mut properties = json!({
                "name": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "\\S"},
                "description": {"type": ["string", "null"], "maxLength": 2000},
                "category": {"type": ["string", "null"], "maxLength": 255},
                "type": {"type": "string", "enum": [t.as_str()]},
                "default_value": {"type": t.as_str(), "description": "Passes the definition's own validation."},
                "allowed_scopes": scopes_value(),
                "validation": validation_schema(t),
            });
            if with_id {
                required.insert(0, "id");
                properties["id"] = id_schema();
            }
            json!({"type": "object", "required": required, "properties": properties})
        })
        .collect();
    utoipa::openapi::RefOr::T(fields::raw(json!({ "oneOf": variants })))
}

fn validation_schema(t: ValueType) -> Value {
    let bound = match t {
        ValueType::Number => json!({"type": ["number", "null"]}),
        ValueType::String | ValueType::Array => json!({"type": ["integer", "null"], "minimum": 0}),
        _ => json!({"type": "null"}),
    };
    let pattern = match t {
        ValueType::String => json!({"type": ["string", "null"], "maxLength": rules::PATTERN_CHARS}),
        _ => json!({"type": "null"}),
    };
    json!({
        "type": ["object", "null"],
        "description": "min <= max; the default must pass every rule given.",
        "properties": {
            "min": bound, "max": bound, "pattern": pattern,
            "enum": {"type": ["array", "null"], "minItems": 1, "maxItems": rules::ENUM_ITEMS, "items": {"type": t.as_str()}},
        },
    })
}

/// `allowed_scopes`: one or more scopes, each once.
fn scopes_value() -> Value {
    json!({"type": ["array", "null"], "minItems": 1, "uniqueItems": true,
        "items": {"type": "string", "enum": ["system", "user", "page"]},
        "description": "Default: all three."})
}

pub(super) fn scopes_or_null() -> utoipa::openapi::Schema {
    fields::raw(scopes_value())
}

/// A definition id, or null.
pub fn id_or_null() -> utoipa::openapi::Schema {
    let mut v = id_schema();
    v["type"] = json!(["string", "null"]);
    fields::raw(v)
}

/// A definition id.
pub fn id_schema() -> Value {
    json!({"type": "string", "pattern": format!("^[a-z0-9][a-z0-9._-]{{0,{}}}$", rules::ID_CHARS - 1),
        "description": "1-128 of a-z 0-9 . _ -, starting with a letter or digit."})
}

impl ToSchema for NewDefinition {}
impl utoipa::PartialSchema for NewDefinition {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        definition_schema(true)
    }
}
impl ToSchema for DefinitionFields {}
impl utoipa::PartialSchema for DefinitionFields {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        definition_schema(false)
    }
}

pub(super) fn definition(id: String, f: DefinitionFields) -> SettingDefinition {
    let scopes = f
        .allowed_scopes
        .map(|s| s.into_iter().map(Scope::from).collect())
        .unwrap_or_else(|| Scope::ALL.to_vec());
    SettingDefinition {
        id,
        name: f.name,
        description: f.description,
        category: f.category,
        value_type: f.value_type.into(),
        default_value: JsonText::from_value(&f.default_value),
        allowed_scopes: scopes,
        rules: f.validation.unwrap_or_default().into(),
        created_at: 0,
        updated_at: 0,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DefinitionView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    #[serde(rename = "type")]
    pub value_type: SettingType,
    pub default_value: Value,
    pub allowed_scopes: Vec<ScopeName>,
    pub validation: ValidationView,
    pub created_at: String,
    pub updated_at: String,
}

impl TryFrom<SettingDefinition> for DefinitionView {
    type Error = ApiError;
    fn try_from(d: SettingDefinition) -> Result<Self, ApiError> {
        let allowed = match &d.rules.allowed {
            Some(text) => text.parse()?.as_array().cloned(),
            None => None,
        };
        Ok(Self {
            default_value: d.default_value.parse()?,
            id: d.id,
            name: d.name,
            description: d.description,
            category: d.category,
            value_type: d.value_type.into(),
            allowed_scopes: d.allowed_scopes.into_iter().map(Into::into).collect(),
            validation: ValidationView {
                min: d.rules.min.map(rules::number),
                max: d.rules.max.map(rules::number),
                pattern: d.rules.pattern,
                allowed,
            },
            created_at: rfc3339_ms(d.created_at),
            updated_at: rfc3339_ms(d.updated_at),
        })
    }
}
