//! JSON kept as text inside a record: bincode cannot hold a
//! `serde_json::Value`, so free-form objects (metadata, job payloads and
//! results, event data, audit details) are stored serialized. They are
//! written from a `Value` and read back through [`JsonText::parse`] only,
//! where a corrupt record is an error that is logged, not an empty object.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::CoreError;

/// A JSON value, stored as its text (the same layout as a `String`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JsonText(String);

impl JsonText {
    /// The text of `value`.
    pub fn from_value(value: &Value) -> Self {
        JsonText(value.to_string())
    }

    /// `{}`.
    pub fn empty_object() -> Self {
        JsonText("{}".into())
    }

    /// The stored text (for length caps and for answers that pass it on as is).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value. Text that is not JSON means the record is corrupt: that
    /// is logged here and answered as an internal error.
    pub fn parse(&self) -> Result<Value, CoreError> {
        serde_json::from_str(&self.0).map_err(|e| {
            tracing::error!(error = %e, "a stored JSON field is corrupt");
            CoreError::Internal(format!("corrupt stored JSON: {e}"))
        })
    }
}

impl Default for JsonText {
    /// `{}`.
    fn default() -> Self {
        JsonText::empty_object()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_round_trips_and_corrupt_text_is_an_error_not_an_empty_object() {
        let v = serde_json::json!({"a": [1, "two"]});
        assert_eq!(JsonText::from_value(&v).parse().unwrap(), v);
        let corrupt: JsonText = serde_json::from_str(r#""{not json""#).unwrap();
        assert!(matches!(corrupt.parse(), Err(CoreError::Internal(_))));
    }

    #[test]
    fn it_is_stored_with_the_layout_of_a_string() {
        let text = JsonText::from_value(&serde_json::json!({"k": 1}));
        let as_string = crate::store::codec::encode(&text.as_str().to_string()).unwrap();
        assert_eq!(crate::store::codec::encode(&text).unwrap(), as_string);
    }
}
