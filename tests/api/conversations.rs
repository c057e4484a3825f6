//! Conversation and message CRUD (API.md 3).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{envelope, spawn_app};

#[tokio::test]
async fn conversations_are_created_listed_by_recency_searched_patched_and_deleted() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let first = app
        .conversation(
            &ada.access,
            json!({"title": "Rust questions", "metadata": {"k": 1}}),
        )
        .await;
    let second = app
        .conversation(&ada.access, json!({"title": "Recipes"}))
        .await;

    let list: Value = app
        .get_as("/conversations", &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"][0]["id"], second.as_str(), "newest first");
    // A new message moves a conversation to the top.
    let r = app
        .post_json(
            &format!("/conversations/{first}/messages"),
            Some(&ada.access),
            json!({"role": "user", "content": "hello"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let list: Value = app
        .get_as("/conversations", &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["id"], first.as_str());
    assert_eq!(list["items"][0]["message_count"], 1);
    assert_eq!(list["items"][0]["metadata"], json!({"k": 1}));

    let found: Value = app
        .get_as("/conversations?search=RUST", &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 1);

    let r = app
        .send(
            Method::PATCH,
            &format!("/conversations/{first}"),
            Some(&ada.access),
            Some(json!({"title": "Rust", "system_prompt": "be terse"})),
        )
        .await;
    let patched: Value = r.json().await.unwrap();
    assert_eq!(patched["title"], "Rust");
    assert_eq!(patched["system_prompt"], "be terse");

    let r = app
        .send(
            Method::DELETE,
            &format!("/conversations/{first}"),
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.get_as(&format!("/conversations/{first}"), &ada.access)
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get_as(&format!("/conversations/{first}/messages"), &ada.access)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn messages_page_oldest_first_and_bad_input_is_422() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let conv = app.conversation(&ada.access, json!({})).await;
    for i in 0..5 {
        let r = app
            .post_json(
                &format!("/conversations/{conv}/messages"),
                Some(&ada.access),
                json!({"role": "user", "content": format!("m{i}")}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let page: Value = app
        .get_as(
            &format!("/conversations/{conv}/messages?skip=1&limit=2"),
            &ada.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 5);
    let contents: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["m1", "m2"]);

    for (body, field) in [
        (json!({"role": "user", "content": ""}), "content"),
        (json!({"role": "robot", "content": "x"}), "role"),
        (
            json!({"role": "user", "content": "x".repeat(100_001)}),
            "content",
        ),
        (
            json!({"role": "user", "content": "x", "metadata": [1]}),
            "metadata",
        ),
    ] {
        let r = app
            .post_json(
                &format!("/conversations/{conv}/messages"),
                Some(&ada.access),
                body,
            )
            .await;
        assert_eq!(r.status(), 422, "{field}");
        assert_eq!(envelope(r).await["error"]["details"]["field"], field);
    }
    let r = app
        .post_json("/conversations", Some(&ada.access), json!({"title": ""}))
        .await;
    assert_eq!(r.status(), 422);
}
