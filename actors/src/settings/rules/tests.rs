//! Unit tests of the setting rules: each rule fails with its own name.

use super::*;
use crate::model::JsonText;

fn rule_of(e: CoreError) -> (String, &'static str, Option<Value>) {
    match e {
        CoreError::Rule {
            field, rule, limit, ..
        } => (field, rule, limit),
        other => panic!("not a rule failure: {other:?}"),
    }
}

fn rules(min: Option<f64>, max: Option<f64>) -> SettingRules {
    SettingRules {
        min,
        max,
        ..Default::default()
    }
}

#[test]
fn numbers_are_bounded_by_value_and_strings_and_arrays_by_length() {
    let r = rules(Some(1.0), Some(10.0));
    assert!(check_value("value", &json!(10), ValueType::Number, &r).is_ok());
    let (field, rule, limit) =
        rule_of(check_value("value", &json!(11), ValueType::Number, &r).unwrap_err());
    assert_eq!(
        (field.as_str(), rule, limit),
        ("value", "max", Some(json!(10)))
    );
    assert_eq!(
        rule_of(check_value("v", &json!(0.5), ValueType::Number, &r).unwrap_err()).1,
        "min"
    );
    assert_eq!(
        rule_of(check_value("v", &json!("é".repeat(11)), ValueType::String, &r).unwrap_err()).1,
        "max"
    );
    assert!(check_value("v", &json!("é".repeat(10)), ValueType::String, &r).is_ok());
    assert_eq!(
        rule_of(check_value("v", &json!([]), ValueType::Array, &r).unwrap_err()).1,
        "min"
    );
}

#[test]
fn a_value_of_another_type_fails_the_type_rule() {
    let r = SettingRules::default();
    for (value, t) in [
        (json!("1"), ValueType::Number),
        (json!(null), ValueType::String),
        (json!([]), ValueType::Object),
        (json!(1), ValueType::Boolean),
    ] {
        assert_eq!(
            rule_of(check_value("v", &value, t, &r).unwrap_err()).1,
            "type"
        );
    }
}

#[test]
fn pattern_and_enum_are_checked_and_a_huge_pattern_is_refused() {
    let r = SettingRules {
        pattern: Some("^[a-z]+$".into()),
        allowed: Some(JsonText::from_value(&json!(["dark", "light", "Dark"]))),
        ..Default::default()
    };
    assert!(check_value("v", &json!("dark"), ValueType::String, &r).is_ok());
    assert_eq!(
        rule_of(check_value("v", &json!("Dark"), ValueType::String, &r).unwrap_err()).1,
        "pattern"
    );
    assert_eq!(
        rule_of(check_value("v", &json!("blue"), ValueType::String, &r).unwrap_err()).1,
        "enum"
    );
    assert_eq!(rule_of(compile("p", "(").unwrap_err()).1, "pattern");
    assert_eq!(
        rule_of(compile("p", r"\w{1000}\w{1000}").unwrap_err()).1,
        "pattern"
    );
}

#[test]
fn rules_must_fit_the_type() {
    assert!(check_rules(ValueType::Boolean, &rules(Some(1.0), None)).is_err());
    assert!(check_rules(ValueType::String, &rules(Some(-1.0), None)).is_err());
    assert!(check_rules(ValueType::Number, &rules(Some(5.0), Some(1.0))).is_err());
    assert!(check_rules(ValueType::Number, &rules(Some(-5.5), Some(1.0))).is_ok());
    let pattern_on_number = SettingRules {
        pattern: Some("x".into()),
        ..Default::default()
    };
    assert!(check_rules(ValueType::Number, &pattern_on_number).is_err());
    let mixed_enum = SettingRules {
        allowed: Some(JsonText::from_value(&json!([1, "two"]))),
        ..Default::default()
    };
    assert!(check_rules(ValueType::Number, &mixed_enum).is_err());
}

#[test]
fn ids_are_slugs() {
    for ok in ["theme", "ui.font_size", "a-b", "9lives"] {
        assert!(check_id("id", ok).is_ok(), "{ok}");
    }
    for bad in ["", "Theme", ".x", "a b", "a\0b", &"a".repeat(129)] {
        assert!(check_id("id", bad).is_err(), "{bad:?}");
    }
    assert!(check_page_id("page_id", "home/1").is_ok());
    assert!(check_page_id("page_id", "a\nb").is_err());
}
