//! Two-tier settings (API.md 8): definitions an admin writes, and the
//! values (instances) users and admins set for them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::JsonText;

/// The JSON type a setting's values must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueType {
    /// A JSON string.
    String,
    /// A JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
}

impl ValueType {
    /// Every type, in the order API.md lists them.
    pub const ALL: [ValueType; 5] = [
        ValueType::String,
        ValueType::Number,
        ValueType::Boolean,
        ValueType::Object,
        ValueType::Array,
    ];

    /// The name of the type in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Number => "number",
            ValueType::Boolean => "boolean",
            ValueType::Object => "object",
            ValueType::Array => "array",
        }
    }

    /// The type named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// Where a setting's value applies, from the narrowest: one page of one
/// user, one user, everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Everyone; written by admins only.
    System,
    /// One user, every page.
    User,
    /// One page of one user.
    Page,
}

impl Scope {
    /// Every scope, widest first.
    pub const ALL: [Scope; 3] = [Scope::System, Scope::User, Scope::Page];

    /// The name of the scope in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::System => "system",
            Scope::User => "user",
            Scope::Page => "page",
        }
    }

    /// The scope named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// The rules every value of a definition must pass (its default included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SettingRules {
    /// Numbers: the smallest value; strings: the fewest characters;
    /// arrays: the fewest items.
    pub min: Option<f64>,
    /// Numbers: the largest value; strings: the most characters; arrays:
    /// the most items.
    pub max: Option<f64>,
    /// Strings: a regular expression (`regex` crate syntax) the whole
    /// value must match somewhere (unanchored unless it anchors itself).
    pub pattern: Option<String>,
    /// The values allowed, as a JSON array; `None` for any.
    pub allowed: Option<JsonText>,
}

/// A setting an admin defined: its type, default, scopes and rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettingDefinition {
    /// A client-chosen slug (`theme`, `ui.font_size`): the primary key.
    pub id: String,
    /// Shown in settings screens; 1-255 characters.
    pub name: String,
    /// Help text, at most 2,000 characters.
    pub description: Option<String>,
    /// A group for settings screens, at most 255 characters.
    pub category: Option<String>,
    /// The JSON type of every value.
    pub value_type: ValueType,
    /// The value when no instance applies; passes the rules.
    pub default_value: JsonText,
    /// The scopes instances may have; at least one.
    pub allowed_scopes: Vec<Scope>,
    /// What every value must pass.
    pub rules: SettingRules,
    /// Unix ms when it was created.
    pub created_at: i64,
    /// Unix ms of the last change.
    pub updated_at: i64,
}

/// One value of a setting: a user's (scope `user` or `page`) or everyone's
/// (scope `system`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettingInstance {
    /// Primary key.
    pub id: Uuid,
    /// The owner; the nil id for a system instance, which belongs to no one.
    pub user_id: Uuid,
    /// The definition it sets.
    pub definition_id: String,
    /// Where it applies.
    pub scope: Scope,
    /// The page it applies to; set exactly when `scope` is `page`.
    pub page_id: Option<String>,
    /// The value, valid for the definition when it was written.
    pub value: JsonText,
    /// Unix ms when it was created.
    pub created_at: i64,
    /// Unix ms of the last change.
    pub updated_at: i64,
}
