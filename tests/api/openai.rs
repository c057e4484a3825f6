//! The OpenAI-compatible surface (API.md 9), spoken to by hand here; the
//! official Python SDK drives it in tests/clients.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn models_and_chat_completions_speak_openais_shapes() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let key: Value = app
        .post_json("/api-keys", Some(&ada.access), json!({"name": "sdk"}))
        .await
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_string();

    let models: Value = app
        .client
        .get(app.url("/v1/models"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"echo-1") && ids.contains(&"echo/echo-1"),
        "{ids:?}"
    );

    let r = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "echo/echo-1", "messages": [{"role": "user", "content": "ping pong"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["object"], "chat.completion");
    assert_eq!(c["choices"][0]["message"]["content"], "ping pong");
    assert_eq!(c["choices"][0]["finish_reason"], "stop");
    assert_eq!(c["usage"]["total_tokens"], 4);

    let text = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(
            &json!({"model": "echo-1", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "ping pong"}]}),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(*lines.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = lines[..lines.len() - 1]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "ping pong");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 4);
}

#[tokio::test]
async fn errors_on_v1_use_openais_error_shape() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth("ck_revoked_or_never_was")
        .json(&json!({"model": "echo-1", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error");
    assert!(body["error"]["message"].is_string());
    assert!(
        body.get("request_id").is_none(),
        "OpenAI's shape, not the envelope"
    );
}
