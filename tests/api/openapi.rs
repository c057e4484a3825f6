//! The OpenAPI document tells the truth (issue 11, 6b): every error answer
//! with the envelope, the core's own limits in the schemas, the configured
//! providers, and a request body that is not an object refused as the
//! schema says. `.ci/schemathesis` fuzzes the whole document.

use chorus_actors::model::limits::NAME_CHARS;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{envelope, spawn_app};

async fn document() -> Value {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await.json().await.unwrap();
    app.stop().await;
    doc
}

fn operations(doc: &Value) -> impl Iterator<Item = (String, &Value)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .iter()
                .map(move |(method, op)| (format!("{} {path}", method.to_uppercase()), op))
        })
}

#[tokio::test]
async fn every_error_answer_is_listed_with_the_envelope() {
    let doc = document().await;
    for (name, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        for status in ["500", "503"] {
            assert!(responses.contains_key(status), "{name} lists no {status}");
        }
        let signed_in = op.get("security").is_some();
        if signed_in {
            for status in ["401", "429"] {
                assert!(responses.contains_key(status), "{name} lists no {status}");
            }
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "415", "422"] {
                assert!(responses.contains_key(status), "{name} lists no {status}");
            }
        }
        let envelope = if name.contains(" /v1/") {
            "#/components/schemas/OpenAiError"
        } else {
            "#/components/schemas/Error"
        };
        for (status, response) in responses {
            assert!(response["description"].is_string(), "{name} {status}");
            if status.as_str() >= "400" {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"], envelope,
                    "{name} {status}"
                );
            }
        }
    }
    let codes = &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"];
    assert!(
        codes["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("QUOTA_EXCEEDED"))
    );
}

#[tokio::test]
async fn the_schemas_carry_the_core_s_limits_and_the_configured_values() {
    let doc = document().await;
    let text = doc.to_string();
    assert!(!text.contains("x-schema") && !text.contains("x-configured"));
    let schemas = &doc["components"]["schemas"];
    let name = &schemas["NewKeyBody"]["properties"]["name"];
    assert_eq!(name["minLength"], 1);
    assert_eq!(name["maxLength"], NAME_CHARS);
    let provider = &schemas["ChatBody"]["properties"]["provider"];
    assert_eq!(provider["enum"], json!(["", "echo", null]));
    let username = &schemas["RegisterBody"]["properties"]["username"];
    assert_eq!(username["pattern"], "^[a-z0-9_-]{3,32}$");
    let limit = doc["paths"]["/api/v1/conversations"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(limit["schema"]["maximum"], 100);
    let jobs = schemas["JobBody"]["oneOf"].as_array().unwrap();
    let types: Vec<&Value> = jobs
        .iter()
        .map(|v| &v["properties"]["job_type"]["enum"][0])
        .collect();
    assert_eq!(
        types,
        [&json!("delay"), &json!("chat"), &json!("document.ingest")]
    );
    let id = &doc["paths"]["/api/v1/conversations/{id}"]["get"]["parameters"][0]["schema"];
    assert!(id["pattern"].as_str().unwrap().contains("urn:uuid:"));
}

#[tokio::test]
async fn a_patch_body_must_be_an_object() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let user = format!("/admin/users/{}", root.user_id);
    for path in ["/users/me", user.as_str()] {
        let r = app
            .send(
                Method::PATCH,
                path,
                Some(&root.access),
                Some(json!([null, null])),
            )
            .await;
        assert_eq!(r.status(), 422, "PATCH {path}");
        let body = envelope(r).await;
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"]["field"], "body");
    }
    let r = app
        .post_json(
            "/personas",
            Some(&root.access),
            json!({"name": "p", "model_settings": [null, null]}),
        )
        .await;
    assert_eq!(
        envelope(r).await["error"]["details"]["field"],
        "model_settings"
    );
}

#[tokio::test]
async fn an_integer_written_with_a_fraction_of_zero_is_an_integer() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    for (max_tokens, status) in [(json!(300.0), 201), (json!(300.5), 422)] {
        let body = json!({"name": "p", "model_settings": {"max_tokens": max_tokens}});
        let r = app.post_json("/personas", Some(&root.access), body).await;
        assert_eq!(r.status(), status, "max_tokens {max_tokens}");
        if status == 201 {
            let persona: Value = r.json().await.unwrap();
            assert_eq!(persona["model_settings"]["max_tokens"], 300);
        }
    }
}

/// utoipa names a component after its type and keeps only one of two types
/// of the same name, so one route's answer would be documented as another's
/// (the dashboard's stats as plugin-state stats, once). No two schema types
/// under `src/` may share a name.
#[test]
fn no_two_schema_types_share_a_name() {
    let mut seen: std::collections::HashMap<String, String> = Default::default();
    let mut clashes = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let mut derives_schema = false;
            for line in text.lines().map(str::trim) {
                if line.starts_with("#[derive(") {
                    derives_schema = line.contains("ToSchema");
                    continue;
                }
                let name = ["pub struct ", "struct ", "pub enum ", "enum "]
                    .iter()
                    .find_map(|p| line.strip_prefix(p));
                if let (true, Some(rest)) = (derives_schema, name) {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    let here = path.display().to_string();
                    if let Some(there) = seen.insert(name.clone(), here.clone()) {
                        clashes.push(format!("{name}: {there} and {here}"));
                    }
                }
                if !line.starts_with("#[") && !line.starts_with("///") {
                    derives_schema = false;
                }
            }
        }
    }
    assert!(clashes.is_empty(), "schema names used twice: {clashes:?}");
}
