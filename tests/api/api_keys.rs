//! API keys (API.md 2.4).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_401, spawn_app};

#[tokio::test]
async fn a_key_is_shown_once_works_as_bearer_and_dies_when_deleted() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let r = app
        .post_json("/api-keys", Some(&ada.access), json!({"name": "ci"}))
        .await;
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    let key = made["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("ck_") && key.len() >= 43);
    assert!(key.starts_with(made["prefix"].as_str().unwrap()));

    let list: Value = app
        .get_as("/api-keys", &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("key").is_none(), "the key is never shown again");

    let me: Value = app.get_as("/auth/me", &key).await.json().await.unwrap();
    assert_eq!(me["username"], "ada");

    let id = made["id"].as_str().unwrap();
    let r = app
        .send(
            Method::DELETE,
            &format!("/api-keys/{id}"),
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_401(app.get_as("/auth/me", &key).await, "invalid").await;
}

#[tokio::test]
async fn another_users_key_is_404_and_bad_input_is_422() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let made: Value = app
        .post_json("/api-keys", Some(&ada.access), json!({"name": "mine"}))
        .await
        .json()
        .await
        .unwrap();
    let id = made["id"].as_str().unwrap();
    let r = app
        .send(
            Method::DELETE,
            &format!("/api-keys/{id}"),
            Some(&bob.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = app
        .post_json("/api-keys", Some(&ada.access), json!({"name": ""}))
        .await;
    assert_eq!(r.status(), 422);
    let r = app
        .post_json(
            "/api-keys",
            Some(&ada.access),
            json!({"name": "old", "expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status(), 422);
}
