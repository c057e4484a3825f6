//! Stateless completions, analysis templates, providers, usage and query
//! logs (API.md 4.2, 2.3, 1 `/services`).

use serde_json::{Value, json};

use crate::helpers::{envelope, spawn_app, sse_events, until_done};

#[tokio::test]
async fn completions_answer_whole_or_streamed_and_count_as_usage() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let body = json!({"messages": [{"role": "user", "content": "red green blue"}]});
    let r = app
        .post_json("/ai/completions", Some(&ada.access), body.clone())
        .await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["content"], "red green blue");
    assert_eq!(
        (answer["provider"].as_str(), answer["model"].as_str()),
        (Some("echo"), Some("echo-1"))
    );
    assert_eq!(answer["usage"]["total_tokens"], 6);
    assert!(answer["latency_ms"].is_u64());

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let events = until_done(&mut sse_events(
        app.post_json("/ai/completions", Some(&ada.access), streamed)
            .await,
    ))
    .await;
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["token", "token", "token", "done"]);

    let r = app
        .post_json(
            "/ai/completions",
            Some(&ada.access),
            json!({"messages": []}),
        )
        .await;
    assert_eq!(envelope(r).await["error"]["details"]["field"], "messages");
    let r = app
        .post_json(
            "/ai/completions",
            Some(&ada.access),
            json!({"messages": [{"role": "user", "content": "x"}], "provider": "nope"}),
        )
        .await;
    assert_eq!(r.status(), 422, "a provider that is not configured");
    assert_eq!(envelope(r).await["error"]["details"]["field"], "provider");

    let usage: Value = app
        .get_as("/users/me/usage", &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(usage["ai_requests"], 2);
    assert_eq!(usage["total_tokens"], 12);
    let logs: Value = app
        .get_as("/query-logs?limit=10", &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(logs.as_array().unwrap().len(), 2);
    assert_eq!(logs[0]["kind"], "completion");
    assert_eq!(logs[0]["input_preview"], "red green blue");
    let breakdown: Value = app
        .get_as("/users/me/usage/breakdown", &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(breakdown["by_model"]["echo-1"], 12);
    let daily: Value = app
        .get_as("/users/me/usage/daily?days=3", &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(daily["data"].as_array().unwrap().len(), 3);
    assert_eq!(daily["total"], 12);
    assert_eq!(
        app.get_as("/users/me/usage/daily?days=91", &ada.access)
            .await
            .status(),
        422
    );
}

#[tokio::test]
async fn query_logs_of_another_user_are_for_admins_only() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    app.post_json(
        "/ai/completions",
        Some(&ada.access),
        json!({"messages": [{"role": "user", "content": "secret plan"}]}),
    )
    .await;
    let theirs = app
        .get_as(
            &format!("/query-logs?user_id={}", root.user_id),
            &ada.access,
        )
        .await;
    assert_eq!(theirs.status(), 403);
    let as_admin: Value = app
        .get_as(
            &format!("/query-logs?user_id={}", ada.user_id),
            &root.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(as_admin[0]["input_preview"], "secret plan");
}

#[tokio::test]
async fn process_runs_a_template_and_an_unknown_one_is_422() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let r = app
        .post_json(
            "/ai/process",
            Some(&ada.access),
            json!({"analysis_type": "seo", "user_input": "my landing page"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["analysis_type"], "seo");
    assert_eq!(answer["content"], "my landing page");
    assert!(
        answer["usage"]["prompt_tokens"].as_u64().unwrap() > 3,
        "the template's system prompt was sent"
    );
    let r = app
        .post_json(
            "/ai/process",
            Some(&ada.access),
            json!({"analysis_type": "horoscope", "user_input": "x"}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        envelope(r).await["error"]["details"]["field"],
        "analysis_type"
    );
}

#[tokio::test]
async fn providers_models_status_and_services_describe_the_registry() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let p: Value = app
        .get_as("/ai/providers", &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p["default_provider"], "echo");
    assert_eq!(p["providers"]["echo"]["kind"], "echo");
    assert!(
        p["providers"]["echo"]["label"]
            .as_str()
            .unwrap()
            .contains("test model")
    );
    let models: Value = app
        .get_as("/ai/providers/echo/models", &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(models, json!(["echo-1"]));
    assert_eq!(
        app.get_as("/ai/providers/nope/models", &ada.access)
            .await
            .status(),
        404
    );
    let status: Value = app
        .get_as("/ai/status", &ada.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["available"], true);
    assert_eq!(status["default_model"], "echo-1");
    let services: Value = app
        .client
        .get(app.url("/api/v1/services"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(services["providers"][0]["name"], "echo");
    assert_eq!(services["providers"][0]["healthy"], true);
}
