//! Personas and tags (API.md 3).

use reqwest::Method;
use serde_json::{Value, json};

use crate::fake_llm::{Behaviour, FakeLlm};
use crate::helpers::{spawn_app, spawn_app_with, sse_events, until_done};

#[tokio::test]
async fn a_persona_gives_a_conversation_its_system_prompt_and_settings() {
    let fake = FakeLlm::start(Behaviour::Answer).await;
    let app = spawn_app_with(|c| fake.configure(c), axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let r = app
        .post_json(
            "/personas",
            Some(&ada.access),
            json!({"name": "Pirate", "system_prompt": "Talk like a pirate.",
              "model_settings": {"temperature": 0.25, "max_tokens": 64}, "tags": ["fun", "sea"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let persona: Value = r.json().await.unwrap();
    let conv = app
        .conversation(
            &ada.access,
            json!({"persona_id": persona["id"], "provider": "fake"}),
        )
        .await;
    until_done(&mut sse_events(app.chat(&ada.access, &conv, "ahoy").await)).await;
    let sent = fake.last_body.lock().unwrap().clone().unwrap();
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Talk like a pirate."})
    );
    assert_eq!(sent["temperature"], 0.25);
    assert_eq!(sent["max_tokens"], 64);

    let tags: Value = app
        .get_as("/personas/tags", &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tags, json!(["fun", "sea"]));
    let page: Value = app
        .get_as("/personas", &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
    let id = persona["id"].as_str().unwrap();
    let r = app
        .send(
            Method::PUT,
            &format!("/personas/{id}"),
            Some(&ada.access),
            Some(json!({"name": "Captain"})),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "Captain");
    let bob = app.sign_up("bob").await;
    assert_eq!(
        app.get_as(&format!("/personas/{id}"), &bob.access)
            .await
            .status(),
        404
    );
    let r = app
        .send(
            Method::DELETE,
            &format!("/personas/{id}"),
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn tags_are_unique_per_user_and_label_conversations() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let r = app
        .post_json(
            "/tags",
            Some(&ada.access),
            json!({"name": "Work", "color": "#f00"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let tag: Value = r.json().await.unwrap();
    let tag_id = tag["id"].as_str().unwrap().to_string();
    let dup = app
        .post_json("/tags", Some(&ada.access), json!({"name": "work"}))
        .await;
    assert_eq!(dup.status(), 409);
    let bobs = app
        .post_json("/tags", Some(&bob.access), json!({"name": "Work"}))
        .await;
    assert_eq!(bobs.status(), 201, "names are unique per user only");

    let tagged = app
        .conversation(&ada.access, json!({"title": "tagged"}))
        .await;
    app.conversation(&ada.access, json!({"title": "plain"}))
        .await;
    let r = app
        .post_json(
            &format!("/conversations/{tagged}/tags"),
            Some(&ada.access),
            json!({"tag_id": tag_id}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let conv: Value = app
        .get_as(&format!("/conversations/{tagged}"), &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(conv["tags"][0]["name"], "Work");
    let filtered: Value = app
        .get_as(&format!("/conversations?tag_id={tag_id}"), &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["total"], 1);
    assert_eq!(
        filtered["items"][0]["tags"][0]["name"], "Work",
        "the list shows tags too"
    );
    let listed: Value = app.get_as("/tags", &ada.access).await.json().await.unwrap();
    assert_eq!(listed["total"], 1);
    let by_tag: Value = app
        .get_as(&format!("/tags/{tag_id}/conversations"), &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_tag["items"][0]["title"], "tagged");
    let r = app
        .post_json(
            &format!("/conversations/{tagged}/tags"),
            Some(&bob.access),
            json!({"tag_id": tag_id}),
        )
        .await;
    assert_eq!(r.status(), 404);

    let r = app
        .send(
            Method::DELETE,
            &format!("/conversations/{tagged}/tags/{tag_id}"),
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let conv: Value = app
        .get_as(&format!("/conversations/{tagged}"), &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(conv["tags"], json!([]));
    let r = app
        .send(
            Method::PUT,
            &format!("/tags/{tag_id}"),
            Some(&ada.access),
            Some(json!({"name": "Job"})),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "Job");
    let r = app
        .post_json("/tags", Some(&ada.access), json!({"name": "Work"}))
        .await;
    assert_eq!(r.status(), 201, "the old name is free after the rename");
}
