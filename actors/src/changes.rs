//! The `changes` detail of an audit record of an update: the fields that
//! differ between a record's JSON before and after, each as `{"from","to"}`.

use serde_json::{Map, Value, json};

/// The top-level fields of `new` whose value differs in `old` (a field
/// missing from `old` counts as `null`), as `{field: {"from", "to"}}`.
pub fn changed_fields(old: &Value, new: &Value) -> Value {
    let mut out = Map::new();
    if let Some(new) = new.as_object() {
        for (field, to) in new {
            let from = old.get(field).cloned().unwrap_or(Value::Null);
            if &from != to {
                out.insert(field.clone(), json!({"from": from, "to": to}));
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_fields_that_differ_are_named() {
        let old = json!({"name": "a", "on": false, "same": 1});
        let new = json!({"name": "b", "on": false, "same": 1, "added": [1]});
        assert_eq!(
            changed_fields(&old, &new),
            json!({"name": {"from": "a", "to": "b"}, "added": {"from": null, "to": [1]}})
        );
        assert_eq!(changed_fields(&new, &new), json!({}));
    }
}
